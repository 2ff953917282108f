/* test_safetensors.c - the fixture checkpoint, write/read round trips, and a
 * corpus of malformed files that must each be refused with a clear message. */
#include "check.h"
#include "npy.h"
#include "safetensors.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char err[1024];

static void path_join(char *out, size_t len, const char *dir, const char *name)
{
    snprintf(out, len, "%s/%s", dir, name);
}

/* check_tmp_dir()/<name>, created if needed. */
static const char *scratch_dir(const char *name)
{
    static char dir[512];
    mkdir(check_tmp_dir(), 0755);
    path_join(dir, sizeof dir, check_tmp_dir(), name);
    mkdir(dir, 0755);
    return dir;
}

static const safetensors_tensor *require_tensor(const safetensors_file *f, const char *name)
{
    const safetensors_tensor *t = safetensors_find(f, name);
    CHECK(t != NULL, "tensor '%s' not found", name);
    return t;
}

static int shape_is(const safetensors_tensor *t, int ndim, const int64_t *shape)
{
    if (!t || t->ndim != ndim)
        return 0;
    for (int i = 0; i < ndim; i++)
        if (t->shape[i] != shape[i])
            return 0;
    return 1;
}

/* ------------------------------------------------------ the fixture file */

TEST(fixture_matches_its_index)
{
    char path[512], index_path[512];
    path_join(path, sizeof path, check_fixture_dir(), "model/model.safetensors");
    path_join(index_path, sizeof index_path, check_fixture_dir(), "golden/index.json");
    safetensors_file *f;
    REQUIRE(safetensors_open(path, &f, err, sizeof err) == 0, "%s", err);
    CHECK(safetensors_count(f) == 180, "count %zu", safetensors_count(f));
    CHECK(strcmp(safetensors_path(f), path) == 0, "path %s", safetensors_path(f));
    const char *format = safetensors_metadata(f, "format");
    CHECK(format && strcmp(format, "pt") == 0, "format %s", format ? format : "(null)");
    CHECK(safetensors_metadata(f, "nope") == NULL, "unexpected metadata");

    const safetensors_tensor *t = require_tensor(f, "text_encoder.shared.weight");
    CHECK(shape_is(t, 2, (int64_t[]){512, 32}), "shared.weight shape");
    CHECK(t && t->dtype == SAFETENSORS_F32 && t->nbytes == 512 * 32 * 4, "shared.weight size");
    t = require_tensor(f, "audio_encoder.decoder.layers.3.conv.weight_v");
    CHECK(shape_is(t, 3, (int64_t[]){64, 32, 16}), "layers.3 weight_v shape");
    t = require_tensor(f, "enc_to_dec_proj.weight");
    CHECK(shape_is(t, 2, (int64_t[]){64, 32}), "enc_to_dec_proj shape");
    CHECK(t && safetensors_numel(t) == 64 * 32, "numel");
    CHECK(safetensors_find(f, "text_encoder.encoder.embed_tokens.weight") == NULL,
          "the tied duplicate is not stored");
    CHECK(safetensors_find(f, "") == NULL && safetensors_find(f, "zzz") == NULL, "absent names");
    CHECK(safetensors_at(f, 180) == NULL, "index past the end");

    for (size_t i = 1; i < safetensors_count(f); i++)
        CHECK(strcmp(safetensors_at(f, i - 1)->name, safetensors_at(f, i)->name) < 0,
              "not sorted by name at %zu", i);

    /* Every tensor against the list the generator recorded. */
    json_error_t jerr;
    json_t *index = json_load_file(index_path, 0, &jerr);
    REQUIRE(index, "%s: %s", index_path, jerr.text);
    json_t *list = json_object_get(index, "safetensors_tensors");
    CHECK(json_array_size(list) == safetensors_count(f), "index lists %zu", json_array_size(list));
    size_t i;
    json_t *entry;
    json_array_foreach(list, i, entry) {
        const char *name = json_string_value(json_object_get(entry, "name"));
        const char *dtype = json_string_value(json_object_get(entry, "dtype"));
        json_t *shape = json_object_get(entry, "shape");
        const safetensors_tensor *st = name ? safetensors_find(f, name) : NULL;
        if (!st) {
            CHECK(0, "index tensor '%s' missing", name ? name : "(null)");
            continue;
        }
        CHECK(dtype && strcmp(dtype, safetensors_dtype_name(st->dtype)) == 0, "%s dtype", name);
        int same = (size_t)st->ndim == json_array_size(shape);
        for (int d = 0; same && d < st->ndim; d++)
            same = st->shape[d] == json_integer_value(json_array_get(shape, (size_t)d));
        CHECK(same, "%s shape differs from the index", name);
    }
    json_decref(index);
    safetensors_close(f);
}

/* T5's hidden_states[0] is the embedding lookup, so the golden rows must be
 * rows of text_encoder.shared.weight: a check on the data offsets. */
TEST(fixture_data_matches_golden_embeddings)
{
    char path[512], ids_path[512], hidden_path[512];
    path_join(path, sizeof path, check_fixture_dir(), "model/model.safetensors");
    path_join(ids_path, sizeof ids_path, check_fixture_dir(), "golden/input_ids.npy");
    path_join(hidden_path, sizeof hidden_path, check_fixture_dir(), "golden/t5_hidden_states.npy");
    safetensors_file *f;
    REQUIRE(safetensors_open(path, &f, err, sizeof err) == 0, "%s", err);
    npy_array ids, hidden;
    if (npy_read(ids_path, &ids, err, sizeof err) != 0) {
        CHECK(0, "%s", err);
        safetensors_close(f);
        return;
    }
    if (npy_read(hidden_path, &hidden, err, sizeof err) != 0) {
        CHECK(0, "%s", err);
        npy_free(&ids);
        safetensors_close(f);
        return;
    }
    const safetensors_tensor *shared = safetensors_find(f, "text_encoder.shared.weight");
    CHECK(shared && hidden.ndim == 4 && hidden.shape[3] == 32 && ids.ndim == 2, "shapes");
    if (shared && hidden.ndim == 4 && ids.ndim == 2) {
        const int64_t *id = ids.data;
        const float *emb = hidden.data;   /* [layer][batch][pos][32], layer 0 first */
        int64_t rows = ids.shape[0] * ids.shape[1];
        int mismatches = 0;
        for (int64_t r = 0; r < rows; r++) {
            const float *want = (const float *)shared->data + id[r] * 32;
            mismatches += memcmp(want, emb + r * 32, 32 * sizeof(float)) != 0;
        }
        CHECK(mismatches == 0, "%d of %lld embedding rows differ", mismatches, (long long)rows);
    }
    npy_free(&ids);
    npy_free(&hidden);
    safetensors_close(f);
}

/* ------------------------------------------------------------ round trip */

static size_t count_entries_with_prefix(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

TEST(write_then_read_round_trip)
{
    const char *dir = scratch_dir("test_safetensors");
    char path[512];
    path_join(path, sizeof path, dir, "round_trip.safetensors");

    float f32[6] = {1.5f, -2.25f, 0.0f, 3e-8f, 1e30f, -0.0f};
    uint16_t half[3] = {0x3c00, 0xc000, 0x7bff};
    uint16_t bf16[2] = {0x3f80, 0xbf80};
    double f64[2] = {3.141592653589793, -1e300};
    int64_t i64[3] = {INT64_MIN, -1, INT64_MAX};
    int32_t i32[4] = {1, -2, 3, INT32_MIN};
    int16_t i16[1] = {-32768};
    int8_t i8[5] = {-128, -1, 0, 1, 127};
    uint8_t u8[3] = {0, 128, 255};
    uint8_t flags[2] = {1, 0};
    float scalar = 42.0f;
    safetensors_tensor in[] = {
        {"weights.f32", SAFETENSORS_F32, 2, {2, 3}, f32, sizeof f32},
        {"half", SAFETENSORS_F16, 1, {3}, half, sizeof half},
        {"brain", SAFETENSORS_BF16, 2, {1, 2}, bf16, sizeof bf16},
        {"double", SAFETENSORS_F64, 1, {2}, f64, sizeof f64},
        {"ids", SAFETENSORS_I64, 1, {3}, i64, sizeof i64},
        {"i32", SAFETENSORS_I32, 3, {2, 1, 2}, i32, sizeof i32},
        {"i16", SAFETENSORS_I16, 1, {1}, i16, sizeof i16},
        {"bytes.i8", SAFETENSORS_I8, 1, {5}, i8, sizeof i8},
        {"bytes.u8", SAFETENSORS_U8, 1, {3}, u8, sizeof u8},
        {"mask", SAFETENSORS_BOOL, 1, {2}, flags, sizeof flags},
        {"scalar", SAFETENSORS_F32, 0, {0}, &scalar, sizeof scalar},
        {"empty", SAFETENSORS_F32, 2, {0, 7}, NULL, 0},
        {"d\xc3\xa9j\xc3\xa0 \"quoted\"", SAFETENSORS_U8, 1, {1}, u8, 1},
    };
    size_t n = sizeof in / sizeof in[0];
    const char *meta[] = {"format", "pt", "note", "caf\xc3\xa9 {json} \"q\""};
    REQUIRE(safetensors_write(path, in, n, meta, 2, err, sizeof err) == 0, "%s", err);
    /* A second write replaces the file in place. */
    REQUIRE(safetensors_write(path, in, n, meta, 2, err, sizeof err) == 0, "%s", err);
    CHECK(count_entries_with_prefix(dir, "round_trip.safetensors.tmp") == 0, "temp file left");

    safetensors_file *f;
    REQUIRE(safetensors_open(path, &f, err, sizeof err) == 0, "%s", err);
    CHECK(safetensors_count(f) == n, "count %zu", safetensors_count(f));
    CHECK(safetensors_metadata(f, "format") && strcmp(safetensors_metadata(f, "format"), "pt") == 0,
          "format metadata");
    CHECK(safetensors_metadata(f, "note") &&
              strcmp(safetensors_metadata(f, "note"), meta[3]) == 0, "note metadata");
    for (size_t i = 0; i < n; i++) {
        const safetensors_tensor *t = safetensors_find(f, in[i].name);
        if (!t) {
            CHECK(0, "'%s' missing after the round trip", in[i].name);
            continue;
        }
        CHECK(t->dtype == in[i].dtype, "%s dtype", in[i].name);
        CHECK(shape_is(t, in[i].ndim, in[i].shape), "%s shape", in[i].name);
        CHECK(t->nbytes == in[i].nbytes, "%s nbytes %zu", in[i].name, t->nbytes);
        CHECK(in[i].nbytes == 0 || memcmp(t->data, in[i].data, in[i].nbytes) == 0, "%s data",
              in[i].name);
    }

    /* Layout: data 64-byte aligned; each tensor aligned to its element size;
     * no gaps, and the last tensor ends the file (what the reference reader
     * demands). */
    FILE *raw = fopen(path, "rb");
    REQUIRE(raw, "reopen %s", path);
    unsigned char prefix[8];
    size_t got = fread(prefix, 1, 8, raw);
    fseek(raw, 0, SEEK_END);
    long file_size = ftell(raw);
    fclose(raw);
    REQUIRE(got == 8, "short file");
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--)
        header_len = header_len << 8 | prefix[i];
    CHECK((8 + header_len) % 64 == 0, "data starts at %llu", (unsigned long long)(8 + header_len));
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += in[i].nbytes;
    CHECK((uint64_t)file_size == 8 + header_len + total, "file %ld bytes, expected %llu", file_size,
          (unsigned long long)(8 + header_len + total));
    const unsigned char *data_start = (const unsigned char *)safetensors_find(f, "ids")->data;
    for (size_t i = 0; i < safetensors_count(f); i++) {
        const safetensors_tensor *t = safetensors_at(f, i);
        size_t offset = (size_t)((const unsigned char *)t->data - data_start);
        CHECK(offset % safetensors_dtype_size(t->dtype) == 0, "%s at offset %zu", t->name, offset);
    }
    safetensors_close(f);
}

TEST(write_refuses_bad_tensors_and_keeps_the_old_file)
{
    const char *dir = scratch_dir("test_safetensors");
    char path[512];
    path_join(path, sizeof path, dir, "keep.safetensors");
    float x[4] = {1, 2, 3, 4};
    safetensors_tensor good = {"x", SAFETENSORS_F32, 1, {4}, x, sizeof x};
    REQUIRE(safetensors_write(path, &good, 1, NULL, 0, err, sizeof err) == 0, "%s", err);

    safetensors_tensor twice[] = {good, good};
    CHECK(safetensors_write(path, twice, 2, NULL, 0, err, sizeof err) != 0 &&
              strstr(err, "'x' given twice"), "duplicate: %s", err);
    safetensors_tensor wrong_size = {"x", SAFETENSORS_F32, 1, {5}, x, sizeof x};
    CHECK(safetensors_write(path, &wrong_size, 1, NULL, 0, err, sizeof err) != 0 &&
              strstr(err, "'x' has 16 bytes but F32 [5] needs 20"), "size: %s", err);
    safetensors_tensor negative = {"x", SAFETENSORS_F32, 1, {-4}, x, sizeof x};
    CHECK(safetensors_write(path, &negative, 1, NULL, 0, err, sizeof err) != 0 &&
              strstr(err, "negative"), "negative: %s", err);
    safetensors_tensor reserved = {"__metadata__", SAFETENSORS_F32, 1, {4}, x, sizeof x};
    CHECK(safetensors_write(path, &reserved, 1, NULL, 0, err, sizeof err) != 0 &&
              strstr(err, "reserved"), "reserved: %s", err);
    safetensors_tensor bad_utf8 = {"\xff\xfe", SAFETENSORS_F32, 1, {4}, x, sizeof x};
    CHECK(safetensors_write(path, &bad_utf8, 1, NULL, 0, err, sizeof err) != 0 &&
              strstr(err, "UTF-8"), "utf8: %s", err);
    const char *meta_twice[] = {"k", "a", "k", "b"};
    CHECK(safetensors_write(path, &good, 1, meta_twice, 2, err, sizeof err) != 0 &&
              strstr(err, "'k' given twice"), "metadata twice: %s", err);
    CHECK(safetensors_write("build/no/such/dir/x.safetensors", &good, 1, NULL, 0, err,
                            sizeof err) != 0 && strstr(err, "build/no/such/dir/x.safetensors"),
          "missing dir: %s", err);

    safetensors_file *f;
    REQUIRE(safetensors_open(path, &f, err, sizeof err) == 0, "%s", err);
    const safetensors_tensor *t = safetensors_find(f, "x");
    CHECK(t && t->nbytes == sizeof x && memcmp(t->data, x, sizeof x) == 0, "old file intact");
    CHECK(count_entries_with_prefix(dir, "keep.safetensors.tmp") == 0, "temp file left");
    safetensors_close(f);
}

/* ---------------------------------------------------------- hostile input */

/* An image of a file: 8-byte length, header, then data_len zero bytes. */
static unsigned char *make_image(const char *header, size_t data_len, size_t *len)
{
    size_t n = strlen(header);
    *len = 8 + n + data_len;
    unsigned char *buf = calloc(1, *len);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)((uint64_t)n >> (8 * i));
    memcpy(buf + 8, header, n);
    return buf;
}

/* Opens the image and expects failure with `expected` in the message. */
static int refused_with(const char *header, size_t data_len, const char *expected)
{
    size_t len;
    unsigned char *buf = make_image(header, data_len, &len);
    safetensors_file *f = NULL;
    err[0] = '\0';
    int status = safetensors_open_memory(buf, len, "model.safetensors", &f, err, sizeof err);
    safetensors_close(f);
    free(buf);
    if (status == 0) {
        fprintf(stderr, "  accepted: %s\n", header);
        return 0;
    }
    if (!strstr(err, expected) || strncmp(err, "model.safetensors: ", 19) != 0) {
        fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", err, expected);
        return 0;
    }
    return 1;
}

TEST(hostile_headers_are_refused)
{
#define T(json) "{\"decoder.x\":" json "}"
    CHECK(refused_with("{", 0, "not valid JSON"), "truncated JSON");
    CHECK(refused_with("not json", 0, "not valid JSON"), "garbage");
    CHECK(refused_with("[1, 2]", 0, "not a JSON object"), "array");
    CHECK(refused_with("\"text\"", 0, "not a JSON object"), "string");
    CHECK(refused_with(T("[1]"), 0, "'decoder.x' is not a JSON object"), "entry not object");
    CHECK(refused_with(T("{\"shape\":[1],\"data_offsets\":[0,4]}"), 4, "'decoder.x' has no dtype"),
          "no dtype");
    CHECK(refused_with(T("{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[0,1]}"), 1,
                       "'decoder.x' has unsupported dtype 'F8_E4M3'"), "unknown dtype");
    CHECK(refused_with(T("{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}"), 4, "no dtype"),
          "numeric dtype");
    CHECK(refused_with(T("{\"dtype\":\"F32\",\"data_offsets\":[0,4]}"), 4, "'decoder.x' has no shape"),
          "no shape");
    CHECK(refused_with(T("{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}"), 4,
                       "'decoder.x' shape[0] is not a non-negative integer"), "negative dim");
    CHECK(refused_with(T("{\"dtype\":\"F32\",\"shape\":[2, 1.5],\"data_offsets\":[0,4]}"), 4,
                       "'decoder.x' shape[1] is not a non-negative integer"), "float dim");
    CHECK(refused_with(T("{\"dtype\":\"F32\",\"shape\":[\"3\"],\"data_offsets\":[0,4]}"), 4,
                       "shape[0] is not a non-negative integer"), "string dim");
    CHECK(refused_with(T("{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,4]}"),
                       4, "not valid JSON"), "dim beyond int64");
    CHECK(refused_with(T("{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}"),
                       4, "9 dimensions"), "too many dims");
    CHECK(refused_with(T("{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}"),
                       4, "'decoder.x' shape [4294967296, 4294967296] is too large"), "numel overflow");
    CHECK(refused_with(T("{\"dtype\":\"U8\",\"shape\":[9223372036854775807,2],\"data_offsets\":[0,4]}"),
                       4, "too large"), "numel overflow by the product");
    CHECK(refused_with(T("{\"dtype\":\"F32\",\"shape\":[1]}"), 4, "'decoder.x' data_offsets is not"),
          "no offsets");
    CHECK(refused_with(T("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}"), 4,
                       "data_offsets is not an array of two"), "one offset");
    CHECK(refused_with(T("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}"), 4,
                       "non-negative"), "negative offset");
    CHECK(refused_with(T("{\"dtype\":\"F32\",\"shape\":[225],\"data_offsets\":[10,910]}"), 512,
                       "model.safetensors: tensor 'decoder.x' data_offsets [10, 910] run past the "
                       "end of the data (512 bytes)"), "offsets past the end");
    CHECK(refused_with(T("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}"), 16,
                       "'decoder.x' data_offsets [8, 4] end before begin"), "end < begin");
    CHECK(refused_with(T("{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}"), 16,
                       "'decoder.x' data_offsets [0, 8] hold 8 bytes but F32 [3] needs 12"),
          "size mismatch");
    CHECK(refused_with("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                       "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                       12, "tensors 'a' [0, 8] and 'b' [4, 12] overlap"), "overlap");
    CHECK(refused_with("{\"big\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                       "\"c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]},"
                       "\"in\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                       16, "overlap"), "nested overlap");
    CHECK(refused_with("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                       "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                       8, "duplicate"), "duplicate names");
    CHECK(refused_with("{\"__metadata__\":{\"format\":1}}", 0,
                       "__metadata__ value for 'format' is not a string"), "metadata not string");
    CHECK(refused_with("{\"__metadata__\":[\"pt\"]}", 0, "__metadata__ is not a JSON object"),
          "metadata not object");
#undef T
}

TEST(hostile_lengths_are_refused)
{
    safetensors_file *f = NULL;
    unsigned char seven[7] = {0};
    CHECK(safetensors_open_memory(seven, 0, "model.safetensors", &f, err, sizeof err) != 0 &&
              strstr(err, "too short"), "empty: %s", err);
    CHECK(safetensors_open_memory(seven, 7, "model.safetensors", &f, err, sizeof err) != 0 &&
              strstr(err, "7 bytes, too short"), "7 bytes: %s", err);

    unsigned char image[16] = {8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '};
    CHECK(safetensors_open_memory(image, 16, "m", &f, err, sizeof err) == 0, "minimal file: %s", err);
    CHECK(f && safetensors_count(f) == 0, "no tensors");
    safetensors_close(f);
    f = NULL;

    image[0] = 9;   /* one byte past the end */
    CHECK(safetensors_open_memory(image, 16, "m", &f, err, sizeof err) != 0 &&
              strstr(err, "m: header length 9 runs past the end of the file (16 bytes)"),
          "past end: %s", err);
    memset(image, 0xff, 8);
    CHECK(safetensors_open_memory(image, 16, "m", &f, err, sizeof err) != 0 &&
              strstr(err, "exceeds"), "huge: %s", err);
    uint64_t limit_plus_one = 100000001;
    for (int i = 0; i < 8; i++)
        image[i] = (unsigned char)(limit_plus_one >> (8 * i));
    CHECK(safetensors_open_memory(image, 16, "m", &f, err, sizeof err) != 0 &&
              strstr(err, "exceeds the 100000000-byte limit"), "over limit: %s", err);
    CHECK(f == NULL, "out stays NULL on failure");
}

TEST(open_refuses_missing_and_odd_files)
{
    safetensors_file *f = NULL;
    const char *dir = scratch_dir("test_safetensors");
    char path[512];
    path_join(path, sizeof path, dir, "absent.safetensors");
    unlink(path);
    CHECK(safetensors_open(path, &f, err, sizeof err) != 0 && strstr(err, path) &&
              strstr(err, "No such file"), "absent: %s", err);
    CHECK(safetensors_open(dir, &f, err, sizeof err) != 0 && strstr(err, "not a regular file"),
          "directory: %s", err);

    path_join(path, sizeof path, dir, "empty.safetensors");
    FILE *out = fopen(path, "wb");
    REQUIRE(out, "create %s", path);
    fclose(out);
    CHECK(safetensors_open(path, &f, err, sizeof err) != 0 && strstr(err, path) &&
              strstr(err, "too short"), "empty file: %s", err);
    CHECK(f == NULL, "out stays NULL");
}

/* Every prefix of the fixture must be refused (the header or the data is cut
 * short), and random byte corruption of its header must never crash. */
TEST(truncated_and_corrupted_fixture_never_crash)
{
    char path[512];
    path_join(path, sizeof path, check_fixture_dir(), "model/model.safetensors");
    FILE *in = fopen(path, "rb");
    REQUIRE(in, "open %s", path);
    fseek(in, 0, SEEK_END);
    long size = ftell(in);
    fseek(in, 0, SEEK_SET);
    unsigned char *image = malloc((size_t)size);
    size_t got = fread(image, 1, (size_t)size, in);
    fclose(in);
    REQUIRE(got == (size_t)size, "read %zu of %ld", got, size);

    safetensors_file *f = NULL;
    int accepted = 0;
    for (long cut = 0; cut < size; cut += cut < 20000 ? 97 : 4099) {
        if (safetensors_open_memory(image, (size_t)cut, "cut", &f, err, sizeof err) == 0) {
            accepted++;
            safetensors_close(f);
        }
    }
    CHECK(accepted == 0, "%d truncated images were accepted", accepted);

    uint64_t seed = 12345;
    unsigned char *copy = malloc((size_t)size);
    int opened = 0, refused_silently = 0;
    for (int round = 0; round < 300; round++) {
        memcpy(copy, image, (size_t)size);
        for (int k = 0; k < 4; k++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            size_t at = (size_t)(seed >> 33) % 20688;   /* inside prefix + header */
            copy[at] = (unsigned char)(seed >> 17);
        }
        err[0] = '\0';
        if (safetensors_open_memory(copy, (size_t)size, "fuzz", &f, err, sizeof err) == 0) {
            opened++;
            safetensors_close(f);
        } else if (strncmp(err, "fuzz: ", 6) != 0) {
            refused_silently++;
        }
    }
    CHECK(refused_silently == 0, "%d refusals without a message", refused_silently);
    free(copy);
    free(image);
}

int main(void)
{
    RUN(fixture_matches_its_index);
    RUN(fixture_data_matches_golden_embeddings);
    RUN(write_then_read_round_trip);
    RUN(write_refuses_bad_tensors_and_keeps_the_old_file);
    RUN(hostile_headers_are_refused);
    RUN(hostile_lengths_are_refused);
    RUN(open_refuses_missing_and_odd_files);
    RUN(truncated_and_corrupted_fixture_never_crash);
    return check_summary("test_safetensors");
}
