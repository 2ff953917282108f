/* test_bpe.c - shim/tokenizer/bpe on the qwen2-tiny fixture: every golden
 * tokenisation and decoding of golden/index.json, loaded from tokenizer.json
 * and from vocab.json + merges.txt; special tokens, near-misses, invalid
 * UTF-8, the id budget, the \s of the pre-tokenisation regex; hostile
 * tokenizer files (written broken into a scratch directory), each a clear
 * error naming its file; concurrent encoding; and the speed of pathological
 * pieces. */
#include "bpe.h"
#include "bpe_internal.h"
#include "bpe_merge.h"
#include "bpe_pretok.h"
#include "buf.h"
#include "check.h"
#include "util.h"

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static char err[1024];
static bpe_tokenizer *tok;   /* from tokenizer.json, loaded once by main */
static json_t *golden;       /* golden/index.json */

static const char *qwen_dir(void)
{
    const char *d = getenv("JEN1_QWEN2_FIXTURES");
    return d ? d : "tests/fixtures/qwen2-tiny";
}

static const char *model_dir(void)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/model", qwen_dir());
    return path;
}

static const char *scratch_dir(const char *name)
{
    const char *path = check_scratch_path("test_bpe", name);
    mkdir(path, 0755);
    return path;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int copy_file(const char *from_dir, const char *to_dir, const char *name)
{
    char from[1024], to[1024];
    snprintf(from, sizeof from, "%s/%s", from_dir, name);
    snprintf(to, sizeof to, "%s/%s", to_dir, name);
    FILE *in = fopen(from, "rb");
    if (!in)
        return -1;
    buf data = BUF_INIT;
    int rc = buf_read_stream(&data, in, (size_t)1 << 26);
    fclose(in);
    FILE *out = rc == 0 ? fopen(to, "wb") : NULL;
    if (out) {
        rc = fwrite(data.data, 1, data.len, out) == data.len ? 0 : -1;
        rc |= fclose(out);
    } else
        rc = -1;
    buf_free(&data);
    return rc;
}

static int write_text(const char *dir, const char *name, const char *text, size_t len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t put = fwrite(text, 1, len, f);
    return fclose(f) == 0 && put == len ? 0 : -1;
}

static void remove_file(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    remove(path);
}

/* Encodes text into a malloc'd array; NULL (and err) on failure. */
static int64_t *encode(const bpe_tokenizer *t, const char *text, size_t len, int parse_special, int *n)
{
    int64_t *ids = malloc((len * 2 + 16) * sizeof *ids);
    if (!ids)
        return NULL;
    if (bpe_encode(t, text, len, parse_special, ids, (int)(len * 2 + 16), n, err, sizeof err) != 0) {
        free(ids);
        return NULL;
    }
    return ids;
}

/* Whether ids equal a JSON array of ints; prints both when not. */
static int same_ids(const int64_t *ids, int n, json_t *want, const char *what)
{
    int same = (size_t)n == json_array_size(want);
    for (int i = 0; same && i < n; i++)
        same = ids[i] == json_integer_value(json_array_get(want, (size_t)i));
    if (!same) {
        fprintf(stderr, "  %s: got %d ids:", what, n);
        for (int i = 0; i < n; i++)
            fprintf(stderr, " %lld", (long long)ids[i]);
        fprintf(stderr, "\n  wanted %zu:", json_array_size(want));
        for (size_t i = 0; i < json_array_size(want); i++)
            fprintf(stderr, " %lld", (long long)json_integer_value(json_array_get(want, i)));
        fputc('\n', stderr);
    }
    return same;
}

static int same_hex(const char *bytes, size_t len, const char *want_hex)
{
    char *hex = malloc(len * 2 + 1);
    if (!hex)
        return 0;
    hex_encode(bytes, len, hex);
    int same = strcmp(hex, want_hex) == 0;
    if (!same)
        fprintf(stderr, "  got bytes %s\n  wanted    %s\n", hex, want_hex);
    free(hex);
    return same;
}

/* Every golden string encodes to its ids (special tokens parsed, as the
 * reference's tokenizer(text) does). */
static void check_tokenization(const bpe_tokenizer *t, const char *source)
{
    json_t *cases = json_object_get(golden, "tokenization");
    REQUIRE(json_array_size(cases) == 164, "%zu tokenization cases", json_array_size(cases));
    size_t i;
    json_t *c;
    int failures = 0;
    json_array_foreach(cases, i, c) {
        json_t *text = json_object_get(c, "text");
        const char *s = json_string_value(text);
        size_t len = json_string_length(text);
        CHECK(same_hex(s, len, json_string_value(json_object_get(c, "utf8_hex"))), "case %zu: index.json's text", i);
        int n;
        int64_t *ids = encode(t, s, len, 1, &n);
        CHECK(ids, "%s: case %zu: %s", source, i, err);
        if (ids && !same_ids(ids, n, json_object_get(c, "ids"), source)) {
            fprintf(stderr, "  (case %zu, utf8 %s)\n", i, json_string_value(json_object_get(c, "utf8_hex")));
            failures++;
        }
        free(ids);
    }
    CHECK(failures == 0, "%s: %d of 164 strings encode differently", source, failures);
}

TEST(golden_tokenization_from_tokenizer_json) { check_tokenization(tok, "tokenizer.json"); }

TEST(golden_tokenization_from_vocab_and_merges)
{
    const char *dir = scratch_dir("slow-files");
    REQUIRE(copy_file(model_dir(), dir, "vocab.json") == 0, "copy vocab.json");
    REQUIRE(copy_file(model_dir(), dir, "merges.txt") == 0, "copy merges.txt");
    REQUIRE(copy_file(model_dir(), dir, "tokenizer_config.json") == 0, "copy tokenizer_config.json");
    remove_file(dir, "tokenizer.json");
    bpe_tokenizer *slow;
    REQUIRE(bpe_load(dir, &slow, err, sizeof err) == 0, "%s", err);
    CHECK(bpe_n_tokens(slow) == 759, "%d tokens", bpe_n_tokens(slow));
    CHECK(bpe_is_special(slow, 758), "<|im_end|> is special");
    check_tokenization(slow, "vocab.json + merges.txt");
    bpe_free(slow);
}

TEST(golden_decoding)
{
    json_t *cases = json_object_get(golden, "decode");
    REQUIRE(json_array_size(cases) == 12, "%zu decode cases", json_array_size(cases));
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        json_t *jids = json_object_get(c, "ids");
        int n = (int)json_array_size(jids);
        int64_t ids[64];
        REQUIRE(n <= 64, "case %zu: %d ids", i, n);
        for (int k = 0; k < n; k++)
            ids[k] = json_integer_value(json_array_get(jids, (size_t)k));
        for (int skip = 0; skip < 2; skip++) {
            buf out = BUF_INIT;
            int rc = bpe_decode(tok, ids, n, skip, &out, err, sizeof err);
            CHECK(rc == 0, "case %zu: %s", i, err);
            const char *want = json_string_value(json_object_get(c, skip ? "utf8_hex_skip_special" : "utf8_hex"));
            CHECK(rc == 0 && same_hex(out.data ? out.data : "", out.len, want), "case %zu (%s), skip_special %d",
                  i, json_string_value(json_object_get(c, "note")), skip);
            buf_free(&out);
        }
    }
}

/* decode(encode(text)) gives the text back, NFC-normalised. */
TEST(round_trip)
{
    json_t *cases = json_object_get(golden, "tokenization");
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        if (json_is_true(json_object_get(c, "nfc_changes")))
            continue;
        json_t *text = json_object_get(c, "text");
        int n;
        int64_t *ids = encode(tok, json_string_value(text), json_string_length(text), 1, &n);
        REQUIRE(ids, "case %zu: %s", i, err);
        buf out = BUF_INIT;
        CHECK(bpe_decode(tok, ids, n, 0, &out, err, sizeof err) == 0, "%s", err);
        CHECK(out.len == json_string_length(text) && (out.len == 0 || memcmp(out.data, json_string_value(text), out.len) == 0),
              "case %zu comes back different", i);
        buf_free(&out);
        free(ids);
    }
}

TEST(lookups)
{
    CHECK(bpe_n_tokens(tok) == 759, "%d tokens", bpe_n_tokens(tok));
    CHECK(bpe_token_id(tok, "<|endoftext|>") == 756, "endoftext");
    CHECK(bpe_token_id(tok, "<|im_start|>") == 757, "im_start");
    CHECK(bpe_token_id(tok, "<|im_end|>") == 758, "im_end");
    CHECK(bpe_token_id(tok, "!") == 0, "!");
    CHECK(bpe_token_id(tok, "Ġ") >= 0, "the space byte");
    CHECK(bpe_token_id(tok, "no such token") == -1, "unknown");
    CHECK(bpe_token_id(tok, NULL) == -1, "NULL");
    CHECK(bpe_is_special(tok, 756) && bpe_is_special(tok, 757) && bpe_is_special(tok, 758), "specials");
    CHECK(!bpe_is_special(tok, 0) && !bpe_is_special(tok, -1) && !bpe_is_special(tok, 759), "not specials");
    CHECK(bpe_n_tokens(NULL) == 0, "NULL tokenizer");
}

TEST(special_tokens_only_when_asked)
{
    const char *text = "<|im_start|>user\nhi<|im_end|>";
    int n;
    int64_t *ids = encode(tok, text, strlen(text), 1, &n);
    REQUIRE(ids, "%s", err);
    CHECK(n >= 3 && ids[0] == 757 && ids[n - 1] == 758, "specials parsed: %d ids, first %lld", n, (long long)ids[0]);
    free(ids);
    ids = encode(tok, text, strlen(text), 0, &n);
    REQUIRE(ids, "%s", err);
    for (int i = 0; i < n; i++)
        CHECK(ids[i] < 756, "plain text gave special id %lld", (long long)ids[i]);
    buf out = BUF_INIT;
    CHECK(bpe_decode(tok, ids, n, 1, &out, err, sizeof err) == 0 && out.len == strlen(text) &&
              memcmp(out.data, text, out.len) == 0, "plain text decodes back to the literal");
    buf_free(&out);
    free(ids);
    /* Adjacent and overlapping candidates: the leftmost wins. */
    text = "<|im_end|><|im_end|><|im_end";
    ids = encode(tok, text, strlen(text), 1, &n);
    REQUIRE(ids, "%s", err);
    CHECK(n > 2 && ids[0] == 758 && ids[1] == 758 && ids[2] != 758, "two then a near-miss");
    free(ids);
}

TEST(bad_input_and_budget)
{
    int64_t ids[4];
    int n = -1;
    CHECK(bpe_encode(tok, "a\xff", 2, 1, ids, 4, &n, err, sizeof err) == -1 && strstr(err, "UTF-8"),
          "invalid UTF-8: %s", err);
    CHECK(bpe_encode(tok, "\xed\xa0\x80", 3, 1, ids, 4, &n, err, sizeof err) == -1, "a surrogate");
    CHECK(bpe_encode(tok, "", 0, 1, ids, 4, &n, err, sizeof err) == 0 && n == 0, "empty text");
    CHECK(bpe_encode(tok, NULL, 0, 1, NULL, 0, &n, err, sizeof err) == 0 && n == 0, "NULL empty text");
    const char *text = "one two three four five six";
    CHECK(bpe_encode(tok, text, strlen(text), 1, ids, 2, &n, err, sizeof err) == 0 && n > 4,
          "the full count past the room: %d", n);
    int64_t *all = encode(tok, text, strlen(text), 1, &n);
    REQUIRE(all, "%s", err);
    CHECK(ids[0] == all[0] && ids[1] == all[1], "the first ids are written");
    free(all);
    CHECK(bpe_encode(tok, text, strlen(text), 1, NULL, 0, &n, err, sizeof err) == 0 && n > 4, "count only");
    buf out = BUF_INIT;
    int64_t bad[] = {1, 759};
    CHECK(bpe_decode(tok, bad, 2, 0, &out, err, sizeof err) == -1 && strstr(err, "759"), "unknown id: %s", err);
    bad[1] = -1;
    CHECK(bpe_decode(tok, bad, 2, 0, &out, err, sizeof err) == -1, "negative id");
    CHECK(out.len == 0, "nothing appended on error");
    buf_free(&out);
}

typedef struct pieces {
    char text[256];   /* the pieces joined with '|' */
    size_t len;
} pieces;

static int collect_piece(void *ctx, const char *s, size_t n)
{
    pieces *p = ctx;
    if (p->len + n + 2 > sizeof p->text)
        return 1;
    if (p->len)
        p->text[p->len++] = '|';
    memcpy(p->text + p->len, s, n);
    p->len += n;
    p->text[p->len] = '\0';
    return 0;
}

static int splits_as(const bpe_pretok *re, const char *text, const char *want)
{
    pieces p = {"", 0};
    if (bpe_pretok_split(re, text, strlen(text), collect_piece, &p, err, sizeof err) != 0)
        return 0;
    if (strcmp(p.text, want) != 0)
        fprintf(stderr, "  \"%s\" split as \"%s\", not \"%s\"\n", text, p.text, want);
    return strcmp(p.text, want) == 0;
}

/* Qwen2's regex as Python's `regex` runs it: \s is Unicode White_Space.
 * PCRE2 10.42's \s also takes U+180E (white space before Unicode 6.3, a
 * format character since), which must not split like a space. */
TEST(pre_tokenisation)
{
    bpe_pretok *re;
    REQUIRE(bpe_pretok_compile(BPE_QWEN2_PATTERN, &re, err, sizeof err) == 0, "%s", err);
    CHECK(splits_as(re, "Hello world  it's 1999!\n\n", "Hello| world| | it|'s| |1|9|9|9|!\n\n"), "a sentence");
    CHECK(splits_as(re, "a\xc2\x85\xc2\x85" "b", "a|\xc2\x85|\xc2\x85" "b"), "NEL is white space");
    CHECK(splits_as(re, "a\xe1\xa0\x8e\xe1\xa0\x8e" "b", "a|\xe1\xa0\x8e\xe1\xa0\x8e|b"), "U+180E is not");
    CHECK(splits_as(re, "x \xe3\x80\x80y", "x| |\xe3\x80\x80y"), "the last white space goes with the word");
    CHECK(splits_as(re, "WE'LL 'M", "WE|'LL| '|M"), "contractions ignore case");
    bpe_pretok_free(re);
    /* A pattern that leaves text unmatched and matches empty: the gaps are
     * pieces too (Split, Isolated), and an empty match covers nothing. */
    REQUIRE(bpe_pretok_compile("[0-9]+|x*", &re, err, sizeof err) == 0, "%s", err);
    CHECK(splits_as(re, "ab12cd3", "ab|12|cd|3"), "gaps between matches");
    CHECK(splits_as(re, "xxa", "xx|a"), "an empty match after a real one");
    bpe_pretok_free(re);
    CHECK(bpe_pretok_compile("(unclosed", &re, err, sizeof err) == -1 && re == NULL, "a bad pattern");
}

/* The reference's loop, word by word: the lowest-ranked pair, all its
 * occurrences left to right, again. Quadratic, for comparison only. */
static size_t naive_merge(const bpe_map *merges, int32_t *ids, size_t n)
{
    for (;;) {
        int64_t best = -1;
        for (size_t i = 0; i + 1 < n; i++) {
            unsigned char key[8];
            int64_t v;
            bpe_merge_key(ids[i], ids[i + 1], key);
            if (bpe_map_get(merges, key, 8, &v) && (best < 0 || (v >> 32) < (best >> 32)))
                best = v;
        }
        if (best < 0)
            return n;
        size_t out = 0;
        for (size_t i = 0; i < n; i++) {
            unsigned char key[8];
            int64_t v;
            if (i + 1 < n) {
                bpe_merge_key(ids[i], ids[i + 1], key);
                if (bpe_map_get(merges, key, 8, &v) && v == best) {
                    ids[out++] = (int32_t)(best & 0xffffffff);
                    i++;
                    continue;
                }
            }
            ids[out++] = ids[i];
        }
        n = out;
    }
}

/* The heap-based loop gives the reference's result on random words drawn
 * from letters the fixture's merges use a lot. */
TEST(merge_matches_the_reference_loop)
{
    static const char alphabet[] = "aeinorsth ";
    unsigned seed = 12345;
    bpe_merge_scratch scratch = {NULL, 0};
    int mismatches = 0;
    for (int round = 0; round < 3000; round++) {
        int32_t a[64], b[64];
        size_t n = 1 + (seed = seed * 1103515245u + 12345u) % 40;
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            a[i] = tok->byte_id[(unsigned char)alphabet[(seed >> 16) % 10]];
        }
        memcpy(b, a, n * sizeof *a);
        size_t na, nb = naive_merge(&tok->merges, b, n);
        REQUIRE(bpe_merge(&tok->merges, a, n, &na, &scratch) == 0, "no memory");
        if (na != nb || memcmp(a, b, na * sizeof *a) != 0)
            mismatches++;
    }
    bpe_merge_scratch_free(&scratch);
    CHECK(mismatches == 0, "%d of 3000 words merge differently", mismatches);
}

/* The merge loop is not quadratic: a 100 kB piece of one letter, of one
 * two-letter pair, and 100 kB of spaces, each well under a second. */
TEST(long_pieces_are_fast)
{
    static const char *const units[] = {"a", "ab", " ", "\xe9\x9b\xa8", "1"};
    size_t len = 100000;
    char *text = malloc(len + 4);
    REQUIRE(text, "no memory");
    for (size_t u = 0; u < sizeof units / sizeof *units; u++) {
        size_t k = strlen(units[u]), n = 0;
        while (n + k <= len) {
            memcpy(text + n, units[u], k);
            n += k;
        }
        int count;
        double t0 = now_s();
        int64_t *ids = encode(tok, text, n, 1, &count);
        double dt = now_s() - t0;
        CHECK(ids && count > 0, "unit %zu: %s", u, err);
        CHECK(dt < 1.0, "unit %zu: %zu bytes took %.2f s", u, n, dt);
        buf out = BUF_INIT;
        CHECK(ids && bpe_decode(tok, ids, count, 0, &out, err, sizeof err) == 0 && out.len == n &&
                  memcmp(out.data, text, n) == 0, "unit %zu round trip", u);
        buf_free(&out);
        free(ids);
    }
    free(text);
}

typedef struct worker_arg {
    int failures;
} worker_arg;

static void *encode_all_goldens(void *p)
{
    worker_arg *arg = p;
    json_t *cases = json_object_get(golden, "tokenization");
    char local_err[256];
    for (int round = 0; round < 20; round++) {
        size_t i;
        json_t *c;
        json_array_foreach(cases, i, c) {
            json_t *text = json_object_get(c, "text"), *want = json_object_get(c, "ids");
            int64_t ids[256];
            int n;
            if (bpe_encode(tok, json_string_value(text), json_string_length(text), 1, ids, 256, &n, local_err,
                           sizeof local_err) != 0 || (size_t)n != json_array_size(want)) {
                arg->failures++;
                continue;
            }
            for (int k = 0; k < n; k++)
                if (ids[k] != json_integer_value(json_array_get(want, (size_t)k))) {
                    arg->failures++;
                    break;
                }
        }
    }
    return NULL;
}

TEST(concurrent_encoding)
{
    pthread_t threads[4];
    worker_arg args[4] = {{0}, {0}, {0}, {0}};
    for (int i = 0; i < 4; i++)
        REQUIRE(pthread_create(&threads[i], NULL, encode_all_goldens, &args[i]) == 0, "thread %d", i);
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        CHECK(args[i].failures == 0, "thread %d: %d wrong encodings", i, args[i].failures);
    }
}

/* ---- hostile tokenizer files ---------------------------------------------- */

/* A scratch directory holding the fixture's tokenizer.json changed by edit
 * (NULL: as is) and nothing else. */
static const char *dir_with_tokenizer_json(const char *name, void (*edit)(json_t *root))
{
    const char *dir = scratch_dir(name);
    char path[1024];
    snprintf(path, sizeof path, "%s/tokenizer.json", model_dir());
    json_t *root = json_load_file(path, 0, NULL);
    if (!root)
        return NULL;
    if (edit)
        edit(root);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    int rc = json_dump_file(root, path, JSON_COMPACT);
    json_decref(root);
    return rc == 0 ? dir : NULL;
}

static json_t *vocab_of(json_t *root) { return json_object_get(json_object_get(root, "model"), "vocab"); }
static json_t *merges_of(json_t *root) { return json_object_get(json_object_get(root, "model"), "merges"); }

static void edit_merge_unknown_part(json_t *root) { json_array_append_new(merges_of(root), json_string("Ġ notatoken")); }
static void edit_merge_unknown_result(json_t *root) { json_array_append_new(merges_of(root), json_string("@ @")); }
static void edit_merge_not_a_pair(json_t *root) { json_array_append_new(merges_of(root), json_string("abc")); }
static void edit_merge_number(json_t *root) { json_array_append_new(merges_of(root), json_integer(7)); }
static void edit_duplicate_id(json_t *root) { json_object_set_new(vocab_of(root), "!", json_integer(1)); }
static void edit_id_gap(json_t *root) { json_object_del(vocab_of(root), "nd"); }
static void edit_not_byte_level(json_t *root)
{
    json_object_del(vocab_of(root), "nd");
    json_object_set_new(vocab_of(root), "n\xe2\x82\xac", json_integer(300));
}
static void edit_byte_missing(json_t *root)
{
    json_object_del(vocab_of(root), "!");
    json_object_set_new(vocab_of(root), "@@", json_integer(0));
}
static void edit_huge_id(json_t *root) { json_object_set_new(vocab_of(root), "@@", json_integer(2000000000)); }
static void edit_id_not_integer(json_t *root) { json_object_set_new(vocab_of(root), "@@", json_string("5")); }
static void edit_pre_tokenizer(json_t *root)
{
    json_object_set_new(root, "pre_tokenizer", json_pack("{s:s}", "type", "Whitespace"));
}
static void edit_bad_regex(json_t *root)
{
    json_object_set_new(root, "pre_tokenizer",
                        json_pack("{s:s, s:{s:s}, s:s}", "type", "Split", "pattern", "Regex", "(\\p{L}+",
                                  "behavior", "Isolated"));
}
static void edit_model_type(json_t *root) { json_object_set_new(json_object_get(root, "model"), "type", json_string("WordPiece")); }
static void edit_normalizer(json_t *root) { json_object_set_new(root, "normalizer", json_pack("{s:s}", "type", "NFKC")); }
static void edit_added_lstrip(json_t *root)
{
    json_object_set_new(json_array_get(json_object_get(root, "added_tokens"), 0), "lstrip", json_true());
}
static void edit_added_clash(json_t *root)
{
    json_object_set_new(json_array_get(json_object_get(root, "added_tokens"), 0), "content", json_string("!"));
}
static void edit_no_merges(json_t *root) { json_object_del(json_object_get(root, "model"), "merges"); }

static void expect_load_error(const char *name, void (*edit)(json_t *), const char *file, const char *words)
{
    const char *dir = dir_with_tokenizer_json(name, edit);
    REQUIRE(dir, "%s: cannot write the scratch files", name);
    bpe_tokenizer *t = (bpe_tokenizer *)&t;
    err[0] = '\0';
    CHECK(bpe_load(dir, &t, err, sizeof err) == -1, "%s: loads", name);
    CHECK(t == NULL, "%s: *out is not NULL", name);
    CHECK(strstr(err, file) && strstr(err, words), "%s: the message \"%s\" lacks \"%s\" or \"%s\"", name, err,
          file, words);
    bpe_free(t == (bpe_tokenizer *)&t ? NULL : t);
}

TEST(hostile_tokenizer_json)
{
    /* The unchanged copy loads: the edits alone make the errors. */
    bpe_tokenizer *t;
    const char *dir = dir_with_tokenizer_json("unchanged", NULL);
    REQUIRE(dir && bpe_load(dir, &t, err, sizeof err) == 0, "the unchanged copy: %s", err);
    bpe_free(t);
    expect_load_error("merge-unknown-part", edit_merge_unknown_part, "tokenizer.json", "right part is not in the vocabulary");
    expect_load_error("merge-unknown-result", edit_merge_unknown_result, "tokenizer.json", "result is not in the vocabulary");
    expect_load_error("merge-not-a-pair", edit_merge_not_a_pair, "tokenizer.json", "merge 500");
    expect_load_error("merge-number", edit_merge_number, "tokenizer.json", "merge 500");
    expect_load_error("duplicate-id", edit_duplicate_id, "tokenizer.json", "id 1 is given to two tokens");
    expect_load_error("id-gap", edit_id_gap, "tokenizer.json", "no token has id 300");
    expect_load_error("not-byte-level", edit_not_byte_level, "tokenizer.json", "not byte-level");
    expect_load_error("byte-missing", edit_byte_missing, "tokenizer.json", "no token for byte 0x21");
    expect_load_error("huge-id", edit_huge_id, "tokenizer.json", "outside");
    expect_load_error("id-not-integer", edit_id_not_integer, "tokenizer.json", "not an integer");
    expect_load_error("pre-tokenizer", edit_pre_tokenizer, "tokenizer.json", "Whitespace is not supported");
    expect_load_error("bad-regex", edit_bad_regex, "tokenizer.json", "pre_tokenizer");
    expect_load_error("model-type", edit_model_type, "tokenizer.json", "not a BPE model");
    expect_load_error("normalizer", edit_normalizer, "tokenizer.json", "NFKC is not supported");
    expect_load_error("added-lstrip", edit_added_lstrip, "tokenizer.json", "lstrip is not supported");
    expect_load_error("added-clash", edit_added_clash, "tokenizer.json", "two");
    expect_load_error("no-merges", edit_no_merges, "tokenizer.json", "merges is not an array");
}

TEST(broken_and_truncated_json)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tokenizer.json", model_dir());
    size_t len;
    FILE *f = fopen(path, "rb");
    REQUIRE(f, "open %s", path);
    buf data = BUF_INIT;
    REQUIRE(buf_read_stream(&data, f, (size_t)1 << 26) == 0, "read");
    fclose(f);
    len = data.len;
    static const size_t cuts[] = {0, 1, 100, 5000, 12000, 23000};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        const char *dir = scratch_dir("truncated");
        REQUIRE(write_text(dir, "tokenizer.json", data.data, cuts[i] < len ? cuts[i] : len - 1) == 0, "write");
        bpe_tokenizer *t;
        CHECK(bpe_load(dir, &t, err, sizeof err) == -1 && t == NULL && strstr(err, "tokenizer.json"),
              "cut at %zu: %s", cuts[i], err);
    }
    const char *dir = scratch_dir("not-an-object");
    REQUIRE(write_text(dir, "tokenizer.json", "[1, 2]", 6) == 0, "write");
    bpe_tokenizer *t;
    CHECK(bpe_load(dir, &t, err, sizeof err) == -1 && strstr(err, "not a JSON object"), "%s", err);
    buf_free(&data);
}

/* The vocab.json + merges.txt route: each file broken in turn. */
TEST(hostile_vocab_and_merges)
{
    const char *dir = scratch_dir("slow-broken");
    remove_file(dir, "tokenizer.json");
    REQUIRE(copy_file(model_dir(), dir, "vocab.json") == 0 && copy_file(model_dir(), dir, "tokenizer_config.json") == 0,
            "copy");
    bpe_tokenizer *t;
    remove_file(dir, "merges.txt");
    CHECK(bpe_load(dir, &t, err, sizeof err) == -1 && strstr(err, "merges.txt"), "no merges.txt: %s", err);

    const char *bad_line = "#version: 0.2\nt h\nthree part line\n";
    REQUIRE(write_text(dir, "merges.txt", bad_line, strlen(bad_line)) == 0, "write");
    CHECK(bpe_load(dir, &t, err, sizeof err) == -1 && strstr(err, "merges.txt: line 3"), "a bad line: %s", err);
    const char *unknown = "#version: 0.2\nt h\nQ X\n";
    REQUIRE(write_text(dir, "merges.txt", unknown, strlen(unknown)) == 0, "write");
    CHECK(bpe_load(dir, &t, err, sizeof err) == -1 && strstr(err, "merges.txt: merge 2") && strstr(err, "result"),
          "a merge whose result is unknown: %s", err);
    const char *nul = "#version: 0.2\nt\0h\n";
    REQUIRE(write_text(dir, "merges.txt", nul, 18) == 0, "write");
    CHECK(bpe_load(dir, &t, err, sizeof err) == -1 && strstr(err, "NUL"), "a NUL byte: %s", err);

    REQUIRE(copy_file(model_dir(), dir, "merges.txt") == 0, "copy merges.txt");
    REQUIRE(bpe_load(dir, &t, err, sizeof err) == 0, "the good files load: %s", err);
    bpe_free(t);
    REQUIRE(write_text(dir, "vocab.json", "{\"a\": 0,", 8) == 0, "write");
    CHECK(bpe_load(dir, &t, err, sizeof err) == -1 && strstr(err, "vocab.json"), "bad vocab.json: %s", err);
    REQUIRE(copy_file(model_dir(), dir, "vocab.json") == 0, "copy vocab.json");
    const char *config = "{\"added_tokens_decoder\": {\"x\": {\"content\": \"<|a|>\"}}}";
    REQUIRE(write_text(dir, "tokenizer_config.json", config, strlen(config)) == 0, "write");
    CHECK(bpe_load(dir, &t, err, sizeof err) == -1 && strstr(err, "tokenizer_config.json") && strstr(err, "not an id"),
          "a bad added token key: %s", err);
    config = "{\"added_tokens_decoder\": {\"758\": {\"content\": \"<|a|>\"}}}";
    REQUIRE(write_text(dir, "tokenizer_config.json", config, strlen(config)) == 0, "write");
    CHECK(bpe_load(dir, &t, err, sizeof err) == -1 && strstr(err, "no token has id 756"), "a gap before it: %s", err);
    CHECK(bpe_load(scratch_dir("empty-dir"), &t, err, sizeof err) == -1 && strstr(err, "vocab.json"),
          "no files: %s", err);
    CHECK(bpe_load(NULL, &t, err, sizeof err) == -1 && t == NULL, "no directory");
}

int main(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/golden/index.json", qwen_dir());
    json_error_t jerr;
    golden = json_load_file(path, JSON_ALLOW_NUL, &jerr);
    if (!golden) {
        fprintf(stderr, "%s: %s\n", path, jerr.text);
        return 1;
    }
    if (bpe_load(model_dir(), &tok, err, sizeof err) != 0) {
        fprintf(stderr, "bpe_load: %s\n", err);
        return 1;
    }
    RUN(golden_tokenization_from_tokenizer_json);
    RUN(golden_tokenization_from_vocab_and_merges);
    RUN(golden_decoding);
    RUN(round_trip);
    RUN(lookups);
    RUN(special_tokens_only_when_asked);
    RUN(bad_input_and_budget);
    RUN(pre_tokenisation);
    RUN(merge_matches_the_reference_loop);
    RUN(long_pieces_are_fast);
    RUN(concurrent_encoding);
    RUN(hostile_tokenizer_json);
    RUN(broken_and_truncated_json);
    RUN(hostile_vocab_and_merges);
    bpe_free(tok);
    json_decref(golden);
    return check_summary("test_bpe");
}
