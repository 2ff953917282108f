/* test_spm.c - shim/tokenizer/spm/spm.c on the fixture's spiece.model: the README's
 * prompts and golden/input_ids.npy, pieces and special ids, malformed text,
 * user-defined symbols and byte fallback (models built by appending protobuf
 * fields to the fixture), hostile model files, concurrent encoding and
 * speed. (tests/cli/test_spm_parity.sh compares with the real library.) */
#include "buf.h"
#include "check.h"
#include "fixture.h"
#include "npy.h"
#include "spm.h"
#include "util.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static char err[1024];
static spm_model *fixture;       /* loaded once by main */
static unsigned char *fixture_bytes;
static size_t fixture_len;

static void fixture_path(char *out, size_t len, const char *rel)
{
    snprintf(out, len, "%s/%s", check_fixture_dir(), rel);
}

static const char *scratch_path(const char *name) { return check_scratch_path("test_spm", name); }

static int write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t put = fwrite(data, 1, len, f);
    return fclose(f) == 0 && put == len ? 0 : -1;
}

/* Encodes and compares with the expected ids; reports what came out. */
static int encodes_to(const spm_model *m, const char *text, size_t len, const int32_t *want,
                      size_t n_want)
{
    int32_t *ids;
    size_t n;
    if (spm_encode(m, text, len, &ids, &n, err, sizeof err) != 0) {
        fprintf(stderr, "  encode failed: %s\n", err);
        return 0;
    }
    int same = n == n_want && (n == 0 || memcmp(ids, want, n * sizeof *ids) == 0);
    if (!same) {
        fprintf(stderr, "  got %zu ids:", n);
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, " %d", ids[i]);
        fputc('\n', stderr);
    }
    free(ids);
    return same;
}

#define ENCODES_TO(m, text, ...)                                                         \
    encodes_to(m, text, sizeof(text) - 1, (const int32_t[]){ __VA_ARGS__ },              \
               sizeof((const int32_t[]){ __VA_ARGS__ }) / sizeof(int32_t))

/* The fixture with extra protobuf bytes appended; protobuf merges them in
 * (a piece appended gets the next id, 384). */
static buf fixture_plus(const void *extra, size_t len)
{
    buf b = BUF_INIT;
    buf_append(&b, fixture_bytes, fixture_len);
    buf_append(&b, extra, len);
    return b;
}

/* Appends pieces { piece: text score: score type: type } (len < 100). */
static void mb_append_piece_n(buf *b, const char *text, size_t len, float score,
                              int type)
{
    unsigned char bytes[128];
    size_t n = 0;
    bytes[n++] = 0x0a;
    bytes[n++] = (unsigned char)(2 + len + 5 + 2);
    bytes[n++] = 0x0a;
    bytes[n++] = (unsigned char)len;
    memcpy(bytes + n, text, len);
    n += len;
    bytes[n++] = 0x15;
    memcpy(bytes + n, &score, 4);   /* little-endian host, as the format */
    n += 4;
    bytes[n++] = 0x18;
    bytes[n++] = (unsigned char)type;
    buf_append(b, bytes, n);
}

static void mb_append_piece(buf *b, const char *text, float score, int type)
{
    mb_append_piece_n(b, text, strlen(text), score, type);
}

TEST(fixture_readme_prompts)
{
    REQUIRE(fixture, "fixture not loaded");
    CHECK(ENCODES_TO(fixture, "upbeat electronic dance track with heavy bass", 167, 39, 186,
                     165, 116, 41, 92, 3, 11, 7, 3, 141, 72, 12, 89),
          "prompt 1");
    CHECK(ENCODES_TO(fixture, "calm solo piano, slow tempo", 27, 145, 6, 15, 78, 5, 25, 122, 31),
          "prompt 2");

    int32_t *ids = (int32_t *)1;
    size_t n = 99;
    CHECK(spm_encode(fixture, "", 0, &ids, &n, err, sizeof err) == 0, "%s", err);
    CHECK(n == 0 && ids == NULL, "empty prompt gave %zu ids", n);
    CHECK(spm_encode(fixture, "   \t\n ", 6, &ids, &n, err, sizeof err) == 0, "%s", err);
    CHECK(n == 0 && ids == NULL, "whitespace-only prompt gave %zu ids", n);
}

/* golden/input_ids.npy = ids + </s>, right-padded with <pad>. */
TEST(matches_golden_input_ids)
{
    static const char *prompts[] = { "upbeat electronic dance track with heavy bass",
                                      "calm solo piano, slow tempo", "" };
    char path[512];
    npy_array golden;
    fixture_path(path, sizeof path, "golden/input_ids.npy");
    REQUIRE(npy_read(path, &golden, err, sizeof err) == 0, "%s", err);
    REQUIRE(golden.dtype == NPY_I64 && golden.ndim == 2 && golden.shape[0] == 3,
            "unexpected input_ids layout");
    const int64_t *want = golden.data;
    int64_t width = golden.shape[1];
    for (int b = 0; b < 3; b++) {
        int32_t *ids;
        size_t n;
        REQUIRE(spm_encode(fixture, prompts[b], strlen(prompts[b]), &ids, &n, err,
                           sizeof err) == 0, "%s", err);
        CHECK((int64_t)n + 1 <= width, "prompt %d: %zu ids do not fit", b, n);
        for (int64_t t = 0; t < width && (int64_t)n + 1 <= width; t++) {
            int64_t got = t < (int64_t)n ? ids[t]
                          : t == (int64_t)n ? spm_eos_id(fixture) : spm_pad_id(fixture);
            CHECK(got == want[b * width + t], "prompt %d position %lld: %lld, golden %lld", b,
                  (long long)t, (long long)got, (long long)want[b * width + t]);
        }
        free(ids);
    }
    npy_free(&golden);
}

TEST(pieces_and_special_ids)
{
    CHECK(spm_piece_count(fixture) == 384, "%d pieces", spm_piece_count(fixture));
    CHECK(spm_pad_id(fixture) == 0 && spm_eos_id(fixture) == 1 && spm_unk_id(fixture) == 2,
          "pad %d eos %d unk %d", spm_pad_id(fixture), spm_eos_id(fixture), spm_unk_id(fixture));
    CHECK(strcmp(spm_id_to_piece(fixture, 0), "<pad>") == 0, "id 0");
    CHECK(strcmp(spm_id_to_piece(fixture, 1), "</s>") == 0, "id 1");
    CHECK(strcmp(spm_id_to_piece(fixture, 2), "<unk>") == 0, "id 2");
    CHECK(strcmp(spm_id_to_piece(fixture, 3), "\xe2\x96\x81") == 0, "id 3 is U+2581");
    CHECK(strcmp(spm_id_to_piece(fixture, 4), "\xe2\x96\x81" "a") == 0, "id 4");
    CHECK(spm_id_to_piece(fixture, -1) == NULL && spm_id_to_piece(fixture, 384) == NULL,
          "out of range ids give NULL");

    /* The pieces of an encoding spell the normalised text. */
    const char *text = "calm solo piano, slow tempo";
    int32_t *ids;
    size_t n;
    REQUIRE(spm_encode(fixture, text, strlen(text), &ids, &n, err, sizeof err) == 0, "%s", err);
    char joined[256] = "";
    for (size_t i = 0; i < n; i++)
        strncat(joined, spm_id_to_piece(fixture, ids[i]), sizeof joined - strlen(joined) - 1);
    CHECK(strcmp(joined, "\xe2\x96\x81" "calm\xe2\x96\x81" "solo\xe2\x96\x81" "piano,"
                         "\xe2\x96\x81" "slow\xe2\x96\x81" "tempo") == 0, "joined: %s", joined);
    free(ids);
}

/* Expected ids from libsentencepiece 0.1.97 (build/spm-oracle). */
TEST(normalisation_and_unknowns)
{
    /* NFKC (full width, ligature, circled digit), ideographic space, extra spaces. */
    CHECK(ENCODES_TO(fixture, "  \xef\xbc\xa8\xef\xbd\x85\xef\xbd\x8c\xef\xbd\x8c\xef\xbd\x8f"
                              "\xe3\x80\x80\xef\xac\x81ne\xe2\x91\xa0  ",
                     225, 264, 15, 8, 220, 382),
          "Ｈｅｌｌｏ　ﬁne①");
    /* A control character vanishes; a malformed byte is U+FFFD, unknown here. */
    CHECK(ENCODES_TO(fixture, "\t a\x01" "b\xff" "c  ", 4, 267, 2, 226), "controls, bad byte");
    CHECK(ENCODES_TO(fixture, "\xff", 3, 2), "lone 0xff");
    CHECK(ENCODES_TO(fixture, "\x00", 3, 2), "NUL is a character");
    /* Consecutive unknown characters make one <unk>. */
    CHECK(ENCODES_TO(fixture, "\xc5\xa7\xc5\xa7\xc5\xa7", 3, 2), "ŧŧŧ");
    CHECK(ENCODES_TO(fixture, "\xc5\xa7" "a\xc5\xa7", 3, 2, 32, 2), "ŧaŧ");
}

TEST(user_defined_symbol)
{
    buf b = fixture_plus(NULL, 0);
    mb_append_piece(&b, "xyz", 0.0f, 4 /* USER_DEFINED */);
    spm_model *m;
    REQUIRE(spm_load_memory(b.data, b.len, "xyz-model", &m, err, sizeof err) == 0, "%s", err);
    free(b.data);   /* the model keeps no reference to the buffer */
    CHECK(ENCODES_TO(m, "axyzb", 4, 384, 267), "axyzb");
    CHECK(ENCODES_TO(m, "xyz", 3, 384), "xyz");
    spm_free(m);
}

TEST(byte_fallback)
{
    static const unsigned char byte_fallback_on[] = { 0x12, 0x03, 0x98, 0x02, 0x01 };
    buf b = fixture_plus(byte_fallback_on, sizeof byte_fallback_on);
    for (int byte = 0; byte < 256; byte++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", byte);
        mb_append_piece(&b, name, 0.0f, 6 /* BYTE */);
    }
    spm_model *m;
    REQUIRE(spm_load_memory(b.data, b.len, "byte-model", &m, err, sizeof err) == 0, "%s", err);
    /* Unknowns become their UTF-8 bytes (ids 384 + byte), unmerged; a
     * malformed byte is U+FFFD's bytes. */
    CHECK(ENCODES_TO(m, "\xc5\xa7\xc5\xa7 a", 3, 384 + 0xc5, 384 + 0xa7, 384 + 0xc5, 384 + 0xa7,
                     4), "ŧŧ a");
    CHECK(ENCODES_TO(m, "\xff", 3, 384 + 0xef, 384 + 0xbf, 384 + 0xbd), "0xff");
    CHECK(ENCODES_TO(m, "calm", 27, 145), "known text unchanged");
    spm_free(m);

    /* Byte fallback with a byte piece missing is refused. */
    b.len -= 17;   /* the last piece, <0xFF> */
    CHECK(spm_load_memory(b.data, b.len, "byte-model", &m, err, sizeof err) == -1 &&
          strstr(err, "byte-model") && strstr(err, "<0xFF>"), "err: %s", err);
    free(b.data);
}

/* Loads `data` from a file and expects a refusal mentioning the file and `what`. */
static int refused(const char *name, const void *data, size_t len, const char *what)
{
    const char *path = scratch_path(name);
    spm_model *m = (spm_model *)1;
    if (write_file(path, data, len) != 0) {
        fprintf(stderr, "  cannot write %s\n", path);
        return 0;
    }
    int rc = spm_load(path, &m, err, sizeof err);
    int ok = rc == -1 && m == NULL && strstr(err, path) && strstr(err, what);
    if (!ok)
        fprintf(stderr, "  %s: rc %d, err: %s\n", name, rc, rc ? err : "(loaded)");
    if (rc == 0)
        spm_free(m);
    return ok;
}

TEST(hostile_files)
{
    spm_model *m = (spm_model *)1;
    CHECK(spm_load("/nonexistent/spiece.model", &m, err, sizeof err) == -1 && m == NULL &&
          strstr(err, "/nonexistent/spiece.model"), "err: %s", err);

    CHECK(refused("empty.model", "", 0, "UNKNOWN"), "empty file");
    CHECK(refused("varint.model", "\x0a\x80\x80", 3, "truncated varint"), "truncated varint");
    CHECK(refused("tag.model", "\x98", 1, "truncated varint"), "truncated tag");
    CHECK(refused("past-end.model", "\x0a\x10\x0a\x03xyz", 7, "claims 16 bytes"),
          "length past the end");
    CHECK(refused("absurd.model", "\x0a\xff\xff\xff\xff\x0f", 6, "claims 4294967295"),
          "piece with absurd length");
    CHECK(refused("absurd-text.model", "\x0a\x06\x0a\xff\xff\xff\xff\x0f", 8,
                  "claims 4294967295"), "piece text with absurd length");
    CHECK(refused("overlong.model", "\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12,
                  "varint longer"), "11-byte varint");
    CHECK(refused("wiretype.model", "\x0f", 1, "wire type"), "wire type 7");
    CHECK(refused("group.model", "\x0b\x08\x01", 3, "unterminated group"), "open group");

    /* Whole-file truncations of the fixture. */
    size_t cuts[] = { 1, 2, 3, 100, 5000, fixture_len / 2, fixture_len - 1 };
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        char name[64];
        snprintf(name, sizeof name, "cut-%zu.model", cuts[i]);
        CHECK(refused(name, fixture_bytes, cuts[i], ""), "cut at %zu", cuts[i]);
    }

    buf b = fixture_plus("\x12\x02\x18\x02", 4);     /* model_type: BPE */
    CHECK(refused("bpe.model", b.data, b.len, "BPE is not supported"), "BPE");
    free(b.data);
    b = fixture_plus("\x12\x02\x18\x03", 4);                  /* model_type: WORD */
    CHECK(refused("word.model", b.data, b.len, "WORD is not supported"), "WORD");
    free(b.data);
    b = fixture_plus("\x1a\x04\x12\x02\x01\x02", 6);          /* 2-byte charsmap */
    CHECK(refused("charsmap.model", b.data, b.len, "charsmap is broken"), "short charsmap");
    free(b.data);
    /* Found by tests/fuzz/fuzz_spm.c: a trie size of 6 in an 8-byte charsmap
     * passed the check (6 < 8) though only 4 bytes follow the size, and the
     * string table's length wrapped around. */
    b = fixture_plus("\x1a\x0a\x12\x08\x06\x00\x00\x00\xaa\xbb\xcc\xdd", 12);
    CHECK(refused("charsmap-trie.model", b.data, b.len, "charsmap is broken"),
          "trie size past the blob");
    free(b.data);
    b = fixture_plus(NULL, 0);
    mb_append_piece(&b, "\xe2\x96\x81" "a", 0.0f, 1);         /* "▁a" again */
    CHECK(refused("dup.model", b.data, b.len, "already defined"), "duplicate piece");
    free(b.data);
    b = fixture_plus(NULL, 0);
    mb_append_piece_n(&b, "a\0b", 3, 0.0f, 1);
    CHECK(refused("nul.model", b.data, b.len, "NUL"), "piece with a NUL byte");
    free(b.data);
}

/* A charsmap whose double array is garbage (the string table kept) must not
 * crash encoding: every jump is bounds-checked. Rewrites the blob in place. */
TEST(garbage_charsmap_does_not_crash)
{
    /* normalizer_spec is the fixture's last field: 1a <len> 0a 08 "nmt_nfkc"
     * 12 <len> <blob>...; find the blob by its name. */
    const unsigned char *spec = NULL;
    for (size_t i = 0; i + 10 < fixture_len; i++)
        if (memcmp(fixture_bytes + i, "\x0a\x08nmt_nfkc\x12", 11) == 0)
            spec = fixture_bytes + i + 11;
    REQUIRE(spec, "no charsmap in the fixture");
    size_t offset = (size_t)(spec - fixture_bytes);
    while (fixture_bytes[offset] & 0x80)   /* skip the blob's length varint */
        offset++;
    offset++;
    uint32_t trie_size;
    memcpy(&trie_size, fixture_bytes + offset, 4);
    REQUIRE(trie_size > 1024 && offset + 4 + trie_size < fixture_len, "trie size %u", trie_size);

    const char *texts[] = { "upbeat electronic dance track", "\xef\xbd\x86\xef\xbd\x95ll ①",
                            "caf\xc3\xa9 \xe9\x9f\xb3\xe6\xa5\xbd \xff\xfe", "\x01\x02\x7f" };
    unsigned char *copy = malloc(fixture_len);
    uint32_t state = 12345;
    int loaded = 0, encoded = 0;
    for (int round = 0; round < 40; round++) {
        memcpy(copy, fixture_bytes, fixture_len);
        /* Round 0 zeroes the trie; the others scribble on part of it. */
        for (uint32_t i = 0; i < trie_size; i++) {
            state = state * 1103515245u + 12345u;
            if (round == 0)
                copy[offset + 4 + i] = 0;
            else if ((state >> 16) % 8 < (uint32_t)(round % 8) + 1)
                copy[offset + 4 + i] = (unsigned char)(state >> 24);
        }
        spm_model *m;
        if (spm_load_memory(copy, fixture_len, "garbage", &m, err, sizeof err) != 0)
            continue;
        loaded++;
        for (size_t t = 0; t < sizeof texts / sizeof *texts; t++) {
            int32_t *ids;
            size_t n;
            if (spm_encode(m, texts[t], strlen(texts[t]), &ids, &n, err, sizeof err) != 0) {
                CHECK(strstr(err, "garbage") && strstr(err, "charsmap"), "err: %s", err);
                continue;
            }
            encoded++;
            for (size_t i = 0; i < n; i++)
                CHECK(ids[i] >= 0 && ids[i] < spm_piece_count(m), "id %d", ids[i]);
            free(ids);
        }
        spm_free(m);
    }
    free(copy);
    CHECK(loaded == 40 && encoded > 0, "loaded %d, encoded %d", loaded, encoded);
}

/* Random byte flips all over the fixture: each load either fails cleanly or
 * gives a model that encodes. */
TEST(mutated_files_do_not_crash)
{
    unsigned char *copy = malloc(fixture_len);
    uint32_t state = 777;
    int refused_count = 0, loaded = 0;
    for (int round = 0; round < 300; round++) {
        memcpy(copy, fixture_bytes, fixture_len);
        int flips = 1 + round % 8;
        for (int f = 0; f < flips; f++) {
            state = state * 1103515245u + 12345u;
            /* Mostly in the pieces (the first 5 kB), where the structure is dense. */
            size_t at = (state >> 8) % (round % 3 ? 5200 : fixture_len);
            state = state * 1103515245u + 12345u;
            copy[at] = (unsigned char)(state >> 24);
        }
        spm_model *m;
        if (spm_load_memory(copy, fixture_len, "mutant", &m, err, sizeof err) != 0) {
            CHECK(strncmp(err, "mutant: ", 8) == 0, "err: %s", err);
            refused_count++;
            continue;
        }
        loaded++;
        int32_t *ids;
        size_t n;
        const char *text = "upbeat electronic dance track with heavy bass \xff \xe9\x9f\xb3";
        if (spm_encode(m, text, strlen(text), &ids, &n, err, sizeof err) == 0) {
            for (size_t i = 0; i < n; i++)
                CHECK(ids[i] >= 0 && ids[i] < spm_piece_count(m), "id %d", ids[i]);
            free(ids);
        }
        spm_free(m);
    }
    free(copy);
    CHECK(refused_count > 0 && loaded > 0, "refused %d, loaded %d", refused_count, loaded);
}

typedef struct encode_job {
    const char *text;
    int32_t *want;
    size_t n_want;
    int mismatches;
} encode_job;

static void *encode_repeatedly(void *arg)
{
    encode_job *job = arg;
    char thread_err[256];
    for (int r = 0; r < 200; r++) {
        int32_t *ids;
        size_t n;
        if (spm_encode(fixture, job->text, strlen(job->text), &ids, &n, thread_err,
                       sizeof thread_err) != 0 ||
            n != job->n_want || memcmp(ids, job->want, n * sizeof *ids) != 0)
            job->mismatches++;
        free(ids);
    }
    return NULL;
}

TEST(concurrent_encoding)
{
    static const char *texts[] = { "upbeat electronic dance track with heavy bass",
                                   "calm solo piano, slow tempo",
                                   "\xef\xbd\x86\xef\xbd\x95\xef\xbd\x8c\xef\xbd\x8c  caf\xc3\xa9 \xff",
                                   "lofi slow bpm electro chill with organic samples" };
    encode_job jobs[4];
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (encode_job){ .text = texts[i] };
        REQUIRE(spm_encode(fixture, texts[i], strlen(texts[i]), &jobs[i].want, &jobs[i].n_want,
                           err, sizeof err) == 0, "%s", err);
    }
    for (int i = 0; i < 4; i++)
        pthread_create(&threads[i], NULL, encode_repeatedly, &jobs[i]);
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        CHECK(jobs[i].mismatches == 0, "thread %d: %d mismatches", i, jobs[i].mismatches);
        free(jobs[i].want);
    }
}

static double now_ms(void) { return clock_monotonic_s() * 1e3; }

/* A T5-sized vocabulary (the fixture plus 31616 made-up pieces) must load in
 * well under 50 ms and encode 1 kB in well under 1 ms; the bounds checked
 * here are 5x looser so that sanitizer builds pass too. */
TEST(speed)
{
    buf b = fixture_plus(NULL, 0);
    uint32_t state = 99;
    char piece[32];
    for (int i = 0; i < 31616; i++) {
        size_t n = 0;
        if (i % 2)
            n += (size_t)snprintf(piece, sizeof piece, "\xe2\x96\x81");
        /* "Q" + base-26 digits of i: distinct, and not in the fixture */
        piece[n++] = 'Q';
        for (int v = i; v > 0 || n < 4; v /= 26)
            piece[n++] = (char)('a' + v % 26);
        piece[n] = '\0';
        state = state * 1103515245u + 12345u;
        mb_append_piece(&b, piece, -5.0f - (float)(state >> 16) / 6553.6f, 1);
    }
    spm_model *m = NULL;
    double t0 = now_ms();
    int rc = spm_load_memory(b.data, b.len, "t5-sized", &m, err, sizeof err);
    double load_ms = now_ms() - t0;
    free(b.data);
    REQUIRE(rc == 0, "%s", err);
    CHECK(spm_piece_count(m) == 32000, "%d pieces", spm_piece_count(m));

    char text[1024];
    for (size_t i = 0; i < sizeof text; i++) {
        state = state * 1103515245u + 12345u;
        text[i] = (state >> 16) % 6 == 0 ? ' ' : (char)('a' + (state >> 20) % 26);
    }
    const int reps = 200;
    t0 = now_ms();
    for (int r = 0; r < reps; r++) {
        int32_t *ids;
        size_t n;
        REQUIRE(spm_encode(m, text, sizeof text, &ids, &n, err, sizeof err) == 0, "%s", err);
        free(ids);
    }
    double encode_ms = (now_ms() - t0) / reps;
    printf("     32000-piece load %.1f ms, 1 kB encode %.3f ms\n", load_ms, encode_ms);
    CHECK(load_ms < 250.0, "load took %.1f ms", load_ms);
    CHECK(encode_ms < 5.0, "1 kB encode took %.3f ms", encode_ms);
    spm_free(m);
}

int main(void)
{
    char path[512];
    fixture_path(path, sizeof path, "model/spiece.model");
    fixture_bytes = fixture_read_file(path, &fixture_len);
    if (!fixture_bytes || spm_load(path, &fixture, err, sizeof err) != 0) {
        printf("FAIL load %s: %s\n", path, fixture_bytes ? err : "unreadable");
        check_cases_failed++;
        return check_summary("test_spm");
    }
    RUN(fixture_readme_prompts);
    RUN(matches_golden_input_ids);
    RUN(pieces_and_special_ids);
    RUN(normalisation_and_unknowns);
    RUN(user_defined_symbol);
    RUN(byte_fallback);
    RUN(hostile_files);
    RUN(garbage_charsmap_does_not_crash);
    RUN(mutated_files_do_not_crash);
    RUN(concurrent_encoding);
    RUN(speed);
    spm_free(fixture);
    free(fixture_bytes);
    return check_summary("test_spm");
}
