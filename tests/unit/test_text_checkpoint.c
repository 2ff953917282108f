/* test_text_checkpoint.c - checkpoints as Hugging Face publishes big and
 * recent models: sharded (model.safetensors.index.json naming the shard of
 * every tensor) and in BF16. The fixture is rewritten both ways here: two
 * shards must compute exactly what one file does; a BF16 checkpoint in bf16
 * mode (its mapped weights used directly, no private copy) must compute what
 * fp32 mode computes from the same weights, up to bf16 rounding; a
 * hostile index is refused with a message, never followed out of the
 * directory. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fixture.h"
#include "jen1_text.h"
#include "jen1_text_stages.h"
#include "matvec.h"
#include "safetensors.h"

static char source[512];
/* More than JEN1_MATVEC_MAX_ROWS tokens: fp32 mode takes an fp32 GEMM, bf16
 * mode without fp32 weights a bf16 one. */
enum { ROWS = 2, T = 10 };
static const int64_t ids[ROWS * T] = {0, 0, 17, 42, 99, 7, 31, 8, 250, 6, 5, 64, 128, 3, 200, 11, 9, 77, 4, 300};
static const int64_t mask[ROWS * T] = {0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};

static const char *model_copy(const char *name) { return fixture_copy_dir(source, "text_checkpoints", name); }

static int write_text(const char *dir, const char *file, const char *text)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

/* Rewrites dir/model.safetensors with every F32 tensor as BF16. */
static int to_bf16(const char *dir)
{
    char path[2048], err[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    safetensors_file *f;
    if (safetensors_open(path, &f, err, sizeof err) != 0) return -1;
    size_t n = safetensors_count(f);
    safetensors_tensor *ts = calloc(n, sizeof *ts);
    for (size_t i = 0; i < n; i++) {
        ts[i] = *safetensors_at(f, i);
        if (ts[i].dtype != SAFETENSORS_F32) continue;
        size_t numel = ts[i].nbytes / 4;
        uint16_t *bits = malloc(numel * 2 + 1);
        jen1_f32_to_bf16(ts[i].data, bits, numel);
        ts[i].dtype = SAFETENSORS_BF16;
        ts[i].data = bits;
        ts[i].nbytes = numel * 2;
    }
    int rc = safetensors_write(path, ts, n, NULL, 0, err, sizeof err);
    for (size_t i = 0; i < n; i++)
        if (ts[i].data != safetensors_at(f, i)->data) free((void *)ts[i].data);
    free(ts);
    safetensors_close(f);
    return rc;
}

/* Splits dir/model.safetensors into a.safetensors (the first half of its
 * tensors) and b.safetensors, with the index naming them. */
static int to_shards(const char *dir)
{
    char path[2048], err[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    safetensors_file *f;
    if (safetensors_open(path, &f, err, sizeof err) != 0) return -1;
    size_t n = safetensors_count(f), half = n / 2;
    safetensors_tensor *ts = calloc(n, sizeof *ts);
    buf index = BUF_INIT;
    buf_printf(&index, "{\"metadata\": {\"total_size\": 0}, \"weight_map\": {");
    for (size_t i = 0; i < n; i++) {
        ts[i] = *safetensors_at(f, i);
        buf_printf(&index, "%s\"%s\": \"%s\"", i ? ", " : "", ts[i].name, i < half ? "a.safetensors" : "b.safetensors");
    }
    buf_printf(&index, "}}\n");
    char a[2048], b[2048];
    snprintf(a, sizeof a, "%s/a.safetensors", dir);
    snprintf(b, sizeof b, "%s/b.safetensors", dir);
    int rc = safetensors_write(a, ts, half, NULL, 0, err, sizeof err) ||
             safetensors_write(b, ts + half, n - half, NULL, 0, err, sizeof err) ||
             write_text(dir, "model.safetensors.index.json", index.data);
    buf_free(&index);
    free(ts);
    safetensors_close(f);
    return rc || remove(path) != 0 ? -1 : 0;
}

static jen1_text_model *load(const char *dir, jen1_weight_type weights)
{
    jen1_text_model_params p = jen1_text_model_default_params();
    p.weights = weights;
    jen1_text_model *m = NULL;
    char err[1024];
    if (jen1_text_model_load(dir, &p, &m, err, sizeof err) != JEN1_OK) printf("     load %s: %s\n", dir, err);
    return m;
}

static int logits_of(const jen1_text_model *m, jen1_tensor *logits)
{
    char err[512];
    memset(logits, 0, sizeof *logits);
    return jen1_text_forward(m, ids, mask, ROWS, T, NULL, NULL, logits, err, sizeof err) == JEN1_OK ? 0 : -1;
}

/* max |a - b| of the two models' logits over the valid positions, relative
 * to max |a|; -1 when a forward pass fails. */
static double logits_diff(const jen1_text_model *ma, const jen1_text_model *mb)
{
    jen1_tensor a = {0}, b = {0};
    double d = -1, top = 0;
    if (logits_of(ma, &a) == 0 && logits_of(mb, &b) == 0 && a.shape[2] == b.shape[2]) {
        const int64_t V = a.shape[2];
        const float *x = a.data, *y = b.data;
        d = 0;
        for (int64_t p = 0; p < ROWS * T; p++)
            for (int64_t v = 0; mask[p] && v < V; v++) {
                d = fmax(d, fabs((double)x[p * V + v] - y[p * V + v]));
                top = fmax(top, fabs((double)x[p * V + v]));
            }
        d /= top > 0 ? top : 1;
    }
    jen1_tensor_free(&a);
    jen1_tensor_free(&b);
    return d;
}

TEST(two_shards_compute_what_one_file_does)
{
    const char *dir = model_copy("sharded");
    REQUIRE(dir && to_shards(dir) == 0, "sharding the fixture");
    jen1_text_model *one = load(source, JEN1_WEIGHTS_F32), *two = load(dir, JEN1_WEIGHTS_F32);
    REQUIRE(one && two, "loading");
    CHECK(logits_diff(one, two) == 0, "the shards compute otherwise");
    jen1_text_model_free(one);
    jen1_text_model_free(two);
}

TEST(a_bf16_checkpoint_in_bf16_mode_uses_its_weights_as_mapped)
{
    const char *dir = model_copy("bf16");
    REQUIRE(dir && to_bf16(dir) == 0, "converting the fixture");
    jen1_text_model *f32 = load(dir, JEN1_WEIGHTS_F32), *b16 = load(dir, JEN1_WEIGHTS_BF16);
    REQUIRE(f32 && b16, "loading");
    double d = logits_diff(f32, b16);
    printf("     bf16 mode vs fp32 mode, same BF16 weights: max relative diff %.3g\n", d);
    /* The many-row product rounds its input to bf16 (a bf16 GEMM): ~1 %. */
    CHECK(d >= 0 && d < 0.03, "the mapped bf16 weights compute otherwise: %.3g", d);

    /* Sharded too, and generating: the same greedy tokens. */
    REQUIRE(to_shards(dir) == 0, "sharding");
    jen1_text_model *sharded = load(dir, JEN1_WEIGHTS_BF16);
    REQUIRE(sharded, "loading the bf16 shards");
    jen1_text_generate_params p = jen1_text_generate_default_params(f32);
    p.sampling.greedy = 1;
    p.max_new_tokens = 12;
    jen1_text_request r = {.prompt_ids = ids + T, .n_prompt_ids = T, .seed = 1};
    jen1_text_output *o32 = NULL, *o16 = NULL;
    char err[512];
    REQUIRE(jen1_text_generate(f32, &r, 1, &p, &o32, err, sizeof err) == JEN1_OK, "%s", err);
    REQUIRE(jen1_text_generate(sharded, &r, 1, &p, &o16, err, sizeof err) == JEN1_OK, "%s", err);
    CHECK(o32->items[0].n_ids == o16->items[0].n_ids &&
              !memcmp(o32->items[0].ids, o16->items[0].ids, sizeof(int64_t) * (size_t)o32->items[0].n_ids),
          "bf16 shards generated other tokens");
    jen1_text_output_free(o32);
    jen1_text_output_free(o16);
    jen1_text_model_free(f32);
    jen1_text_model_free(b16);
    jen1_text_model_free(sharded);
}

/* A sharded copy whose index is `index` must be refused with `needle`. */
static void expect_index_refused(const char *name, const char *index, const char *needle)
{
    const char *dir = model_copy(name);
    REQUIRE(dir && to_shards(dir) == 0 && write_text(dir, "model.safetensors.index.json", index) == 0, "setup");
    char err[1024] = "";
    jen1_text_model *m = NULL;
    jen1_status st = jen1_text_model_load(dir, NULL, &m, err, sizeof err);
    printf("     %s: %s: %s\n", name, jen1_status_name(st), err);
    CHECK(st == JEN1_ERR_FORMAT && !m, "%s: status %s", name, jen1_status_name(st));
    CHECK(strstr(err, needle) != NULL, "%s: message lacks '%s': %s", name, needle, err);
    jen1_text_model_free(m);
}

TEST(hostile_indexes_are_refused)
{
    expect_index_refused("bad-json", "{\"weight_map\": {", "bad JSON");
    expect_index_refused("no-map", "{\"metadata\": {}}", "no weight_map");
    expect_index_refused("empty-map", "{\"weight_map\": {}}", "no weight_map");
    expect_index_refused("not-a-string", "{\"weight_map\": {\"model.norm.weight\": 3}}", "must be the name of a file");
    expect_index_refused("escapes", "{\"weight_map\": {\"model.norm.weight\": \"../model/model.safetensors\"}}",
                         "must be the name of a file");
    expect_index_refused("dot-dot", "{\"weight_map\": {\"model.norm.weight\": \"..\"}}", "must be the name of a file");
    expect_index_refused("absent-shard", "{\"weight_map\": {\"model.norm.weight\": \"c.safetensors\"}}",
                         "c.safetensors");
    expect_index_refused("wrong-shard",
                         "{\"weight_map\": {\"model.norm.weight\": \"a.safetensors\", "
                         "\"model.embed_tokens.weight\": \"b.safetensors\"}}",
                         "where weight_map puts it");
    expect_index_refused("partial-map", "{\"weight_map\": {\"model.embed_tokens.weight\": \"a.safetensors\"}}",
                         "not in weight_map");
}

TEST(neither_weights_file_is_an_io_error)
{
    const char *dir = model_copy("no-weights");
    char path[2048];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    REQUIRE(dir && remove(path) == 0, "remove");
    char err[1024] = "";
    jen1_text_model *m = NULL;
    jen1_status st = jen1_text_model_load(dir, NULL, &m, err, sizeof err);
    CHECK(st == JEN1_ERR_IO && strstr(err, "model.safetensors.index.json"), "%s: %s", jen1_status_name(st), err);
    jen1_text_model_free(m);
}

int main(void)
{
    const char *fixtures = getenv("JEN1_TEXT_FIXTURES");
    snprintf(source, sizeof source, "%s/model", fixtures ? fixtures : "tests/fixtures/qwen2-tiny");
    RUN(two_shards_compute_what_one_file_does);
    RUN(a_bf16_checkpoint_in_bf16_mode_uses_its_weights_as_mapped);
    RUN(hostile_indexes_are_refused);
    RUN(neither_weights_file_is_an_io_error);
    return check_summary("test_text_checkpoint");
}
