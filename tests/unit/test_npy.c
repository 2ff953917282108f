/* test_npy.c - every golden .npy against golden/index.json, values that
 * tie golden files together, byte-exact rewrites, and malformed files. */
#include "check.h"
#include "fixture.h"
#include "npy.h"

#include <jansson.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char err[1024];

static void golden_path(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/golden/%s", check_fixture_dir(), name);
}

static const char *scratch_path(const char *name) { return check_scratch_path("test_npy", name); }

static int read_golden(const char *name, npy_array *a)
{
    char path[512];
    golden_path(path, sizeof path, name);
    if (npy_read(path, a, err, sizeof err) != 0) {
        fprintf(stderr, "  %s\n", err);
        return -1;
    }
    return 0;
}

static int shape_is(const npy_array *a, int ndim, const int64_t *shape)
{
    if (a->ndim != ndim)
        return 0;
    for (int i = 0; i < ndim; i++)
        if (a->shape[i] != shape[i])
            return 0;
    return 1;
}

static void spit(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(buf, 1, len, f);
        fclose(f);
    }
}

/* ----------------------------------------------------------- golden files */

TEST(every_golden_file_matches_the_index)
{
    char index_path[512];
    golden_path(index_path, sizeof index_path, "index.json");
    json_error_t jerr;
    json_t *index = json_load_file(index_path, 0, &jerr);
    REQUIRE(index, "%s: %s", index_path, jerr.text);
    json_t *files = json_object_get(index, "files");
    CHECK(json_array_size(files) == 23, "index lists %zu files", json_array_size(files));
    size_t i;
    json_t *entry;
    json_array_foreach(files, i, entry) {
        const char *name = json_string_value(json_object_get(entry, "file"));
        const char *dtype = json_string_value(json_object_get(entry, "dtype"));
        json_t *shape = json_object_get(entry, "shape");
        npy_array a;
        if (!name || read_golden(name, &a) != 0) {
            CHECK(0, "cannot read '%s'", name ? name : "(null)");
            continue;
        }
        npy_dtype want = dtype && strcmp(dtype, "float32") == 0 ? NPY_F32 : NPY_I64;
        CHECK(dtype && a.dtype == want, "%s dtype (index says %s)", name, dtype ? dtype : "?");
        int same = (size_t)a.ndim == json_array_size(shape);
        for (int d = 0; same && d < a.ndim; d++)
            same = a.shape[d] == json_integer_value(json_array_get(shape, (size_t)d));
        CHECK(same, "%s shape differs from the index", name);
        npy_free(&a);
        CHECK(a.data == NULL, "npy_free clears");
    }
    json_decref(index);
}

TEST(token_ids_and_mask_have_known_values)
{
    npy_array ids, mask;
    REQUIRE(read_golden("input_ids.npy", &ids) == 0, "input_ids");
    if (read_golden("attention_mask.npy", &mask) != 0) {
        CHECK(0, "attention_mask");
        npy_free(&ids);
        return;
    }
    CHECK(ids.dtype == NPY_I64 && shape_is(&ids, 2, (int64_t[]){3, 16}), "input_ids [3,16] int64");
    CHECK(npy_numel(&ids) == 48, "numel %lld", (long long)npy_numel(&ids));
    const int64_t *id = ids.data;
    static const int64_t row0[16] = {167, 39, 186, 165, 116, 41, 92, 3, 11, 7, 3, 141, 72, 12, 89, 1};
    static const int64_t row1[10] = {27, 145, 6, 15, 78, 5, 25, 122, 31, 1};
    CHECK(memcmp(id, row0, sizeof row0) == 0, "row 0 starts %lld, %lld", (long long)id[0],
          (long long)id[1]);
    CHECK(memcmp(id + 16, row1, sizeof row1) == 0 && id[26] == 0 && id[31] == 0, "row 1");
    CHECK(id[32] == 1 && id[33] == 0 && id[47] == 0, "row 2 is just </s>");
    const int64_t *m = mask.data;
    int64_t sums[3] = {0, 0, 0};
    for (int i = 0; i < 48; i++)
        sums[i / 16] += m[i];
    CHECK(sums[0] == 16 && sums[1] == 10 && sums[2] == 1, "mask sums %lld %lld %lld",
          (long long)sums[0], (long long)sums[1], (long long)sums[2]);
    npy_free(&ids);
    npy_free(&mask);

    npy_array logits;
    REQUIRE(read_golden("tf_logits.npy", &logits) == 0, "tf_logits");
    CHECK(logits.dtype == NPY_F32 && shape_is(&logits, 3, (int64_t[]){12, 20, 64}), "tf_logits shape");
    npy_free(&logits);
}

/* The last T5 hidden state is stored twice; the copies must agree bit for bit. */
TEST(golden_files_agree_with_each_other)
{
    npy_array all, last;
    REQUIRE(read_golden("t5_hidden_states.npy", &all) == 0, "t5_hidden_states");
    if (read_golden("t5_last_hidden_state.npy", &last) != 0) {
        CHECK(0, "t5_last_hidden_state");
        npy_free(&all);
        return;
    }
    size_t layer = (size_t)npy_numel(&last);
    CHECK(all.shape[0] == 3 && (size_t)npy_numel(&all) == 3 * layer, "sizes");
    if ((size_t)npy_numel(&all) == 3 * layer)
        CHECK(memcmp((float *)all.data + 2 * layer, last.data, layer * sizeof(float)) == 0,
              "hidden_states[2] != last_hidden_state");
    npy_free(&all);
    npy_free(&last);

    /* The audio codes are the decoder grid with the delay pattern undone:
     * row b*K+k of the grid, from position k+1, holds codes[0][b][k][...]. */
    npy_array grid, codes;
    REQUIRE(read_golden("gen_greedy_cfg1_decoder_ids.npy", &grid) == 0, "decoder ids");
    if (read_golden("gen_greedy_cfg1_audio_codes.npy", &codes) != 0) {
        CHECK(0, "audio codes");
        npy_free(&grid);
        return;
    }
    CHECK(shape_is(&grid, 2, (int64_t[]){12, 41}) && shape_is(&codes, 4, (int64_t[]){1, 3, 4, 37}),
          "grid/codes shapes");
    if (shape_is(&grid, 2, (int64_t[]){12, 41}) && shape_is(&codes, 4, (int64_t[]){1, 3, 4, 37})) {
        const int64_t *g = grid.data, *c = codes.data;
        int bad = 0;
        for (int row = 0; row < 12; row++)
            for (int t = 0; t < 37; t++)
                bad += g[row * 41 + (row % 4) + 1 + t] != c[row * 37 + t];
        CHECK(bad == 0, "%d codes differ from the undelayed grid", bad);
    }
    npy_free(&grid);
    npy_free(&codes);
}

/* ---------------------------------------------------------------- writing */

TEST(rewriting_golden_files_reproduces_their_bytes)
{
    static const char *names[] = {"input_ids.npy", "tf_logits.npy", "t5_hidden_states.npy",
                                  "gen_greedy_cfg1_audio_codes.npy", "encodec_audio_values.npy"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        npy_array a;
        if (read_golden(names[i], &a) != 0) {
            CHECK(0, "read %s", names[i]);
            continue;
        }
        const char *out = scratch_path(names[i]);
        CHECK(npy_write(out, &a, err, sizeof err) == 0, "%s", err);
        npy_free(&a);
        char orig_path[512];
        golden_path(orig_path, sizeof orig_path, names[i]);
        size_t n_orig = 0, n_new = 0;
        unsigned char *orig = fixture_read_file(orig_path, &n_orig), *mine = fixture_read_file(out, &n_new);
        CHECK(orig && mine && n_orig == n_new && memcmp(orig, mine, n_orig) == 0,
              "%s: rewritten file differs (%zu vs %zu bytes)", names[i], n_new, n_orig);
        free(orig);
        free(mine);
    }
}

/* numpy's own headers for shapes the golden files lack. */
static int header_is(const char *path, const char *dict)
{
    size_t len;
    unsigned char *buf = fixture_read_file(path, &len);
    int ok = buf && len >= 128 && buf[8] == 118 && buf[9] == 0 &&
             memcmp(buf + 10, dict, strlen(dict)) == 0 && buf[127] == '\n';
    for (size_t i = 10 + strlen(dict); ok && i < 127; i++)
        ok = buf[i] == ' ';
    free(buf);
    return ok;
}

TEST(write_then_read_round_trip)
{
    float values[24];
    for (int i = 0; i < 24; i++)
        values[i] = (float)i * 0.25f - 3.0f;
    npy_array f = {NPY_F32, 3, {2, 3, 4}, values};
    const char *path = scratch_path("f32.npy");
    REQUIRE(npy_write(path, &f, err, sizeof err) == 0, "%s", err);
    npy_array back;
    REQUIRE(npy_read(path, &back, err, sizeof err) == 0, "%s", err);
    CHECK(back.dtype == NPY_F32 && shape_is(&back, 3, f.shape), "shape");
    CHECK(memcmp(back.data, values, sizeof values) == 0, "values");
    npy_free(&back);

    int64_t ids[5] = {INT64_MIN, -1, 0, 1, INT64_MAX};
    npy_array v = {NPY_I64, 1, {5}, ids};
    path = scratch_path("i64.npy");
    REQUIRE(npy_write(path, &v, err, sizeof err) == 0, "%s", err);
    CHECK(header_is(path, "{'descr': '<i8', 'fortran_order': False, 'shape': (5,), }"),
          "1-d header differs from numpy's");
    REQUIRE(npy_read(path, &back, err, sizeof err) == 0, "%s", err);
    CHECK(back.dtype == NPY_I64 && shape_is(&back, 1, v.shape) &&
              memcmp(back.data, ids, sizeof ids) == 0, "i64 round trip");
    npy_free(&back);

    float one = 7.5f;
    npy_array scalar = {NPY_F32, 0, {0}, &one};
    path = scratch_path("scalar.npy");
    REQUIRE(npy_write(path, &scalar, err, sizeof err) == 0, "%s", err);
    CHECK(header_is(path, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }"),
          "0-d header differs from numpy's");
    REQUIRE(npy_read(path, &back, err, sizeof err) == 0, "%s", err);
    CHECK(back.ndim == 0 && npy_numel(&back) == 1 && *(float *)back.data == 7.5f, "scalar");
    npy_free(&back);

    npy_array empty = {NPY_F32, 2, {0, 7}, NULL};
    path = scratch_path("empty.npy");
    REQUIRE(npy_write(path, &empty, err, sizeof err) == 0, "%s", err);
    CHECK(header_is(path, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 7), }"),
          "empty header differs from numpy's");
    REQUIRE(npy_read(path, &back, err, sizeof err) == 0, "%s", err);
    CHECK(shape_is(&back, 2, empty.shape) && npy_numel(&back) == 0, "empty array");
    npy_free(&back);

    npy_array bad = {NPY_F32, 1, {-2}, values};
    CHECK(npy_write(scratch_path("bad.npy"), &bad, err, sizeof err) != 0 && strstr(err, "negative"),
          "negative shape: %s", err);
    CHECK(npy_write("build/no/such/dir/x.npy", &f, err, sizeof err) != 0 &&
              strstr(err, "build/no/such/dir/x.npy"), "missing dir: %s", err);
}

/* A version 2.0 file (u32 header length), built by hand. */
TEST(reads_version_2)
{
    const char dict[] = "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }";
    unsigned char buf[256] = "\x93NUMPY\x02\x00";
    size_t header_len = 64 - 12 + 64;   /* data starts at 128 */
    buf[8] = (unsigned char)header_len;
    memset(buf + 12, ' ', header_len);
    memcpy(buf + 12, dict, strlen(dict));
    buf[12 + header_len - 1] = '\n';
    int64_t data[2] = {-5, 123456789012345};
    memcpy(buf + 128, data, sizeof data);
    const char *path = scratch_path("v2.npy");
    spit(path, buf, 128 + sizeof data);
    npy_array a;
    REQUIRE(npy_read(path, &a, err, sizeof err) == 0, "%s", err);
    CHECK(a.dtype == NPY_I64 && shape_is(&a, 1, (int64_t[]){2}) &&
              memcmp(a.data, data, sizeof data) == 0, "v2 contents");
    npy_free(&a);
}

/* ------------------------------------------------------------- malformed */

/* A v1.0 file with the given dict (padded to 64) and data_len bytes. */
static const char *make_file(const char *name, const char *dict, size_t data_len)
{
    size_t n = strlen(dict);
    size_t header_len = (10 + n + 1 + 63) / 64 * 64 - 10;
    size_t len = 10 + header_len + data_len;
    unsigned char *buf = calloc(1, len);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)(header_len & 0xff);
    buf[9] = (unsigned char)(header_len >> 8);
    memset(buf + 10, ' ', header_len);
    memcpy(buf + 10, dict, n);
    buf[10 + header_len - 1] = '\n';
    const char *path = scratch_path(name);
    spit(path, buf, len);
    free(buf);
    return path;
}

static int refused_with(const char *path, const char *expected)
{
    npy_array a;
    err[0] = '\0';
    if (npy_read(path, &a, err, sizeof err) == 0) {
        npy_free(&a);
        fprintf(stderr, "  %s was accepted\n", path);
        return 0;
    }
    if (a.data != NULL || !strstr(err, path) || !strstr(err, expected)) {
        fprintf(stderr, "  message \"%s\" lacks the path or \"%s\"\n", err, expected);
        return 0;
    }
    return 1;
}

TEST(malformed_files_are_refused)
{
#define DICT(descr, order, shape) "{'descr': '" descr "', 'fortran_order': " order ", 'shape': " shape ", }"
    npy_array control;
    CHECK(npy_read(make_file("ok.npy", DICT("<f4", "False", "(2, 2)"), 16), &control, err,
                   sizeof err) == 0, "the well-formed control file must load: %s", err);
    npy_free(&control);
    CHECK(refused_with(make_file("fortran.npy", DICT("<f4", "True", "(2, 2)"), 16), "Fortran"),
          "fortran order");
    CHECK(refused_with(make_file("big_endian.npy", DICT(">f4", "False", "(2,)"), 8),
                       "unsupported dtype '>f4'"), "big-endian");
    CHECK(refused_with(make_file("f8.npy", DICT("<f8", "False", "(2,)"), 16),
                       "unsupported dtype '<f8'"), "float64");
    CHECK(refused_with(make_file("u1.npy", DICT("|u1", "False", "(2,)"), 2),
                       "unsupported dtype '|u1'"), "uint8");
    CHECK(refused_with(make_file("truncated.npy", DICT("<f4", "False", "(3, 16)"), 100),
                       "truncated: <f4 data needs 192 bytes, the file has 100"), "truncated data");
    CHECK(refused_with(make_file("trailing.npy", DICT("<i8", "False", "(2,)"), 17),
                       "unexpected data after the array (1 bytes)"), "trailing bytes");
    CHECK(refused_with(make_file("negative.npy", DICT("<f4", "False", "(-3, 2)"), 0),
                       "shape entry 0 is not a non-negative integer"), "negative dim");
    CHECK(refused_with(make_file("overflow.npy",
                                 DICT("<f4", "False", "(4611686018427387904, 4)"), 0),
                       "too large"), "size overflow");
    CHECK(refused_with(make_file("dimbig.npy",
                                 DICT("<f4", "False", "(99999999999999999999,)"), 0),
                       "shape entry 0"), "dim beyond int64");
    CHECK(refused_with(make_file("ninedims.npy",
                                 DICT("<f4", "False", "(1, 1, 1, 1, 1, 1, 1, 1, 1)"), 4),
                       "more than 8 dimensions"), "too many dims");
    CHECK(refused_with(make_file("noshape.npy", "{'descr': '<f4', 'fortran_order': False, }", 4),
                       "lacks 'shape'"), "missing shape");
    CHECK(refused_with(make_file("extra.npy",
                                 "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), "
                                 "'extra': 1, }", 4),
                       "unexpected or repeated header key 'extra'"), "extra key");
    CHECK(refused_with(make_file("notdict.npy", "['<f4', False, (1,)]", 4), "not a dict"),
          "not a dict");
    CHECK(refused_with(make_file("unclosed.npy", "{'descr': '<f4', 'fortran_order': False, "
                                 "'shape': (1,", 4), "shape entry 1"), "unclosed tuple");
    CHECK(refused_with(make_file("order.npy", DICT("<f4", "0", "(1,)"), 4), "True or False"),
          "fortran_order not a bool");

    const char *path = scratch_path("magic.npy");
    spit(path, "\x93NUMPZ\x01\x00\x10\x00{}              ", 26);
    CHECK(refused_with(path, "bad magic"), "bad magic");
    path = scratch_path("version.npy");
    spit(path, "\x93NUMPY\x09\x00\x10\x00{}              ", 26);
    CHECK(refused_with(path, "version 9.0"), "unknown version");
    path = scratch_path("short_header.npy");
    spit(path, "\x93NUMPY\x01\x00\x76\x00{'descr'", 17);
    CHECK(refused_with(path, "truncated .npy header"), "truncated header");
    path = scratch_path("tiny.npy");
    spit(path, "\x93NU", 3);
    CHECK(refused_with(path, "not a .npy file"), "3-byte file");
    path = scratch_path("absent.npy");
    unlink(path);
    CHECK(refused_with(path, "No such file"), "missing file");
#undef DICT
}

/* Every prefix of a golden file is refused, never read. */
TEST(every_truncation_of_a_golden_file_is_refused)
{
    char path[512];
    golden_path(path, sizeof path, "tf_codes.npy");
    size_t len;
    unsigned char *buf = fixture_read_file(path, &len);
    REQUIRE(buf && len == 1664, "read %s", path);
    const char *cut_path = scratch_path("cut.npy");
    int accepted = 0;
    for (size_t cut = 0; cut < len; cut += cut < 140 ? 1 : 61) {
        spit(cut_path, buf, cut);
        npy_array a;
        if (npy_read(cut_path, &a, err, sizeof err) == 0) {
            accepted++;
            npy_free(&a);
        }
    }
    CHECK(accepted == 0, "%d truncated copies were accepted", accepted);
    free(buf);
}

/* In memory: encoding gives the bytes npy_write writes, decoding reads what
 * npy_read reads, and every truncation is refused there too. */
TEST(encode_and_decode_in_memory)
{
    static const char *names[] = {"tf_codes.npy", "tf_logits.npy", "gen_greedy_cfg1_audio_codes.npy"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[512];
        golden_path(path, sizeof path, names[i]);
        size_t len = 0;
        unsigned char *file = fixture_read_file(path, &len);
        npy_array a, b;
        if (!file || read_golden(names[i], &a) != 0) {
            CHECK(0, "read %s", names[i]);
            free(file);
            continue;
        }
        unsigned char *enc = NULL;
        size_t enc_len = 0;
        CHECK(npy_encode(&a, names[i], &enc, &enc_len, err, sizeof err) == 0, "%s", err);
        CHECK(enc && enc_len == len && memcmp(enc, file, len) == 0, "%s: encoded bytes differ", names[i]);
        CHECK(npy_decode(file, len, names[i], &b, err, sizeof err) == 0, "%s", err);
        int64_t n = npy_numel(&a);
        size_t el = a.dtype == NPY_F32 ? 4 : 8;
        CHECK(b.dtype == a.dtype && shape_is(&b, a.ndim, a.shape) && memcmp(a.data, b.data, (size_t)n * el) == 0,
              "%s: decoded array differs", names[i]);
        npy_free(&b);
        int accepted = 0;
        for (size_t cut = 0; cut < len; cut += cut < 140 ? 1 : 61) {
            if (npy_decode(file, cut, "cut", &b, err, sizeof err) == 0) {
                accepted++;
                npy_free(&b);
            }
        }
        CHECK(accepted == 0, "%s: %d truncated copies were accepted", names[i], accepted);
        CHECK(npy_decode(file, len, "named", &b, err, sizeof err) == 0 && (npy_free(&b), 1), "%s", err);
        file[0] = 'X';
        CHECK(npy_decode(file, len, "named", &b, err, sizeof err) != 0 && strstr(err, "named: not a .npy file"),
              "bad magic: %s", err);
        free(enc);
        free(file);
        npy_free(&a);
    }
}

int main(void)
{
    RUN(every_golden_file_matches_the_index);
    RUN(token_ids_and_mask_have_known_values);
    RUN(golden_files_agree_with_each_other);
    RUN(rewriting_golden_files_reproduces_their_bytes);
    RUN(write_then_read_round_trip);
    RUN(reads_version_2);
    RUN(malformed_files_are_refused);
    RUN(every_truncation_of_a_golden_file_is_refused);
    RUN(encode_and_decode_in_memory);
    return check_summary("test_npy");
}
