/* test_model_load.c - loading real and broken checkpoint directories: each
 * broken one must be refused with a message that names the file (and the
 * tensor), never crash; the alternative spellings a real checkpoint may use
 * must load and give the same audio. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "fixture.h"
#include "jen1_stages.h"
#include "matvec.h"
#include "safetensors.h"

static char fixture_model[512];

/* A fresh copy of the fixture model directory under the test's scratch dir. */
static const char *copy_model(const char *name) { return fixture_copy_dir(fixture_model, "models", name); }

static void write_text(const char *dir, const char *file, const char *text)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* Loads `dir`, expecting failure with `status` and every needle in the message. */
static void expect_refusal(const char *dir, jen1_status status, const char *needle1, const char *needle2)
{
    char err[1024] = "";
    jen1_model *m = NULL;
    jen1_status st = jen1_model_load(dir, NULL, &m, err, sizeof err);
    printf("     refused (%s): %s\n", jen1_status_name(st), err);
    CHECK(st == status, "status %s, expected %s (%s)", jen1_status_name(st), jen1_status_name(status), err);
    CHECK(m == NULL, "a model came back with an error");
    CHECK(needle1 == NULL || strstr(err, needle1), "message lacks '%s': %s", needle1, err);
    CHECK(needle2 == NULL || strstr(err, needle2), "message lacks '%s': %s", needle2, err);
    jen1_model_free(m);
}

/* Rewrites dir/model.safetensors through `edit`, which may rename, reshape
 * or drop tensors (returning 0 to drop). */
typedef int (*tensor_edit)(safetensors_tensor *t);

static int rewrite_weights(const char *dir, tensor_edit edit)
{
    char path[2048], err[512];
    snprintf(path, sizeof path, "%s/model.safetensors", fixture_model);
    safetensors_file *f;
    if (safetensors_open(path, &f, err, sizeof err) != 0) return -1;
    size_t n = safetensors_count(f), kept = 0;
    safetensors_tensor *ts = calloc(n, sizeof *ts);
    char (*names)[256] = calloc(n, 256);
    for (size_t i = 0; i < n; i++) {
        safetensors_tensor t = *safetensors_at(f, i);
        snprintf(names[kept], 256, "%s", t.name);
        t.name = names[kept];
        if (edit(&t)) ts[kept++] = t;
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    const char *meta[] = {"format", "pt"};
    int rc = safetensors_write(path, ts, kept, meta, 1, err, sizeof err);
    if (rc) fprintf(stderr, "  %s\n", err);
    safetensors_close(f);
    free(ts);
    free(names);
    return rc;
}

static int drop_fc1(safetensors_tensor *t)
{
    return strcmp(t->name, "decoder.model.decoder.layers.1.fc1.weight") != 0;
}

static int reshape_lm_head(safetensors_tensor *t)
{
    if (strcmp(t->name, "decoder.lm_heads.2.weight") == 0) {
        t->shape[0] = 32; /* [64, 64] -> [32, 128]: same bytes, wrong shape */
        t->shape[1] = 128;
    }
    return 1;
}

static int parametrizations_spelling(safetensors_tensor *t)
{
    char *g = strstr(t->name, ".weight_g"), *v = strstr(t->name, ".weight_v");
    if (g) strcpy(g, ".parametrizations.weight.original0");
    if (v) strcpy(v, ".parametrizations.weight.original1");
    return 1;
}

static int keep_all(safetensors_tensor *t)
{
    (void)t;
    return 1;
}

TEST(fixture_loads_and_reports_its_shape)
{
    char err[512];
    jen1_model *m;
    REQUIRE(jen1_model_load(fixture_model, NULL, &m, err, sizeof err) == JEN1_OK, "%s", err);
    CHECK(jen1_model_sample_rate(m) == 32000, "rate %d", jen1_model_sample_rate(m));
    CHECK(jen1_model_frame_rate(m) == 50, "frame rate %d", jen1_model_frame_rate(m));
    CHECK(jen1_model_num_codebooks(m) == 4, "codebooks %d", jen1_model_num_codebooks(m));
    CHECK(jen1_model_codebook_size(m) == 64, "codebook size %d", jen1_model_codebook_size(m));
    CHECK(jen1_model_max_frames(m) == 252, "max frames %d", jen1_model_max_frames(m));
    jen1_generate_params p = jen1_generate_default_params(m);
    const jen1_sampling *s = &p.sampling;
    CHECK(!s->greedy && s->top_k == 50 && s->guidance_scale == 3.0f && s->temperature == 1.0f,
          "defaults from generation_config.json: greedy %d top_k %d guidance %g", s->greedy, s->top_k,
          s->guidance_scale);
    jen1_model_free(m);
}

TEST(missing_directory_and_files)
{
    expect_refusal("/nonexistent/jen1-model", JEN1_ERR_IO, "config.json", "not found");
    const char *dir = copy_model("no-tokenizer");
    REQUIRE(dir, "copy failed");
    char path[2048];
    snprintf(path, sizeof path, "%s/spiece.model", dir);
    unlink(path);
    expect_refusal(dir, JEN1_ERR_IO, "spiece.model", "not found");

    dir = copy_model("no-weights");
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    unlink(path);
    expect_refusal(dir, JEN1_ERR_IO, "model.safetensors", NULL);
}

TEST(bad_config_json)
{
    const char *dir = copy_model("bad-json");
    REQUIRE(dir, "copy failed");
    write_text(dir, "config.json", "{\"decoder\": {\"hidden_size\": 64,");
    expect_refusal(dir, JEN1_ERR_FORMAT, "config.json", NULL);

    dir = copy_model("no-decoder");
    write_text(dir, "config.json", "{\"text_encoder\": {}, \"audio_encoder\": {}}");
    expect_refusal(dir, JEN1_ERR_FORMAT, "config.json", "decoder");
}

TEST(missing_tensor_is_named)
{
    const char *dir = copy_model("missing-tensor");
    REQUIRE(dir && rewrite_weights(dir, drop_fc1) == 0, "rewrite failed");
    expect_refusal(dir, JEN1_ERR_FORMAT, "decoder.model.decoder.layers.1.fc1.weight", "model.safetensors");
}

TEST(wrong_shape_is_named)
{
    const char *dir = copy_model("wrong-shape");
    REQUIRE(dir && rewrite_weights(dir, reshape_lm_head) == 0, "rewrite failed");
    expect_refusal(dir, JEN1_ERR_FORMAT, "decoder.lm_heads.2.weight", "[64, 64]");
}

TEST(config_disagreeing_with_weights)
{
    const char *dir = copy_model("config-mismatch");
    REQUIRE(dir, "copy failed");
    char path[2048], cmd[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    /* Claim a bigger FFN than the weights have. */
    snprintf(cmd, sizeof cmd, "sed -i 's/\"ffn_dim\": 128/\"ffn_dim\": 256/' '%s'", path);
    REQUIRE(system(cmd) == 0, "sed failed");
    expect_refusal(dir, JEN1_ERR_FORMAT, "fc1.weight", "[256, 64]");
}

static void truncate_weights(const char *dir, off_t keep)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    CHECK(truncate(path, keep) == 0, "truncate failed");
}

TEST(truncated_and_corrupt_weights)
{
    const char *dir = copy_model("truncated");
    REQUIRE(dir, "copy failed");
    truncate_weights(dir, 1000000);
    expect_refusal(dir, JEN1_ERR_FORMAT, "model.safetensors", NULL);

    dir = copy_model("empty-weights");
    truncate_weights(dir, 0);
    expect_refusal(dir, JEN1_ERR_FORMAT, "model.safetensors", NULL);

    /* A header length pointing far past the end of the file. */
    dir = copy_model("header-past-end");
    char path[2048];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    int fd = open(path, O_WRONLY);
    REQUIRE(fd >= 0, "open failed");
    unsigned char huge[8] = {0xff, 0xff, 0xff, 0x00, 0, 0, 0, 0};
    CHECK(pwrite(fd, huge, 8, 0) == 8, "pwrite failed");
    close(fd);
    expect_refusal(dir, JEN1_ERR_FORMAT, "model.safetensors", NULL);

    /* Offsets past the end: rewrite the header's first data_offsets. */
    dir = copy_model("offsets-past-end");
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/env perl -0pi -e 's/\"data_offsets\":\\[(\\d+),(\\d+)\\]/\"data_offsets\":[$1,9$2]/' '%s'",
             path);
    if (system(cmd) == 0) expect_refusal(dir, JEN1_ERR_FORMAT, "model.safetensors", NULL);
}

TEST(garbage_tokenizer)
{
    const char *dir = copy_model("garbage-tokenizer");
    REQUIRE(dir, "copy failed");
    write_text(dir, "spiece.model", "this is not a sentencepiece model");
    expect_refusal(dir, JEN1_ERR_FORMAT, "spiece.model", NULL);
}

/* transformers >= 4.45 on torch >= 2.1 saves EnCodec's weight-normalised
 * convolutions under parametrizations.weight.original0/1: same audio. */
TEST(parametrized_weight_norm_spelling_gives_the_same_audio)
{
    const char *dir = copy_model("parametrizations");
    REQUIRE(dir && rewrite_weights(dir, parametrizations_spelling) == 0, "rewrite failed");
    char err[512];
    jen1_model *a, *b;
    REQUIRE(jen1_model_load(fixture_model, NULL, &a, err, sizeof err) == JEN1_OK, "%s", err);
    REQUIRE(jen1_model_load(dir, NULL, &b, err, sizeof err) == JEN1_OK, "%s", err);
    int64_t codes[4 * 10];
    for (int i = 0; i < 40; i++) codes[i] = (i * 7) % 64;
    jen1_tensor x = {0}, y = {0};
    CHECK(jen1_decode_codes(a, codes, 1, 4, 10, NULL, &x, err, sizeof err) == JEN1_OK, "%s", err);
    CHECK(jen1_decode_codes(b, codes, 1, 4, 10, NULL, &y, err, sizeof err) == JEN1_OK, "%s", err);
    CHECK(x.data && y.data && jen1_tensor_numel(&x) == jen1_tensor_numel(&y) &&
              memcmp(x.data, y.data, sizeof(float) * jen1_tensor_numel(&x)) == 0,
          "audio differs between the two spellings");
    jen1_tensor_free(&x);
    jen1_tensor_free(&y);
    jen1_model_free(a);
    jen1_model_free(b);
}

/* The writer and the reader agree: a rewritten copy loads. */
TEST(rewritten_copy_loads)
{
    const char *dir = copy_model("rewritten");
    REQUIRE(dir && rewrite_weights(dir, keep_all) == 0, "rewrite failed");
    char err[512];
    jen1_model *m;
    CHECK(jen1_model_load(dir, NULL, &m, err, sizeof err) == JEN1_OK, "%s", err);
    jen1_model_free(m);
}

/* Teacher-forced logits of 4 steps of made-up decoder ids for `m`: 12 rows,
 * few enough for the matvec path that the bf16 weights serve. */
static int tf_logits(jen1_model *m, jen1_tensor *out)
{
    int64_t ids[3 * 4 * 4];
    for (int i = 0; i < 3 * 4 * 4; i++) ids[i] = (i * 37) % 65;
    const char *prompts[3] = {"calm solo piano", "", "heavy bass"};
    char err[512];
    return jen1_decoder_forward(m, prompts, 3, ids, 4, out, NULL, err, sizeof err) == JEN1_OK ? 0 : -1;
}

static double max_diff(const jen1_tensor *a, const jen1_tensor *b, double *max_ref)
{
    double worst = 0;
    *max_ref = 0;
    for (int64_t i = 0; i < jen1_tensor_numel(a); i++) {
        double x = ((float *)a->data)[i], y = ((float *)b->data)[i];
        if (x - y > worst || y - x > worst) worst = x > y ? x - y : y - x;
        if (x > *max_ref || -x > *max_ref) *max_ref = x > 0 ? x : -x;
    }
    return worst;
}

static uint16_t *bf16_store;
static int decoder_to_bf16(safetensors_tensor *t)
{
    if (strncmp(t->name, "decoder.", 8) == 0 && t->dtype == SAFETENSORS_F32) {
        size_t n = t->nbytes / 4;
        uint16_t *dst = bf16_store;
        bf16_store += n;
        jen1_f32_to_bf16(t->data, dst, n);
        t->data = dst;
        t->dtype = SAFETENSORS_BF16;
        t->nbytes = n * 2;
    }
    return 1;
}

/* Checkpoints stored in bf16 load (converted to fp32), and so does the
 * bf16-weights option on an fp32 checkpoint; both stay close to fp32. */
TEST(bf16_checkpoints_and_bf16_weights)
{
    static uint16_t store[1 << 20];
    bf16_store = store;
    const char *dir = copy_model("bf16");
    REQUIRE(dir && rewrite_weights(dir, decoder_to_bf16) == 0, "rewrite failed");
    char err[512];
    jen1_model *f32, *stored, *converted;
    jen1_model_params p = jen1_model_default_params();
    REQUIRE(jen1_model_load(fixture_model, &p, &f32, err, sizeof err) == JEN1_OK, "%s", err);
    REQUIRE(jen1_model_load(dir, &p, &stored, err, sizeof err) == JEN1_OK, "%s", err);
    p.decoder_weights = JEN1_WEIGHTS_BF16;
    REQUIRE(jen1_model_load(fixture_model, &p, &converted, err, sizeof err) == JEN1_OK, "%s", err);
    jen1_tensor a = {0}, b = {0}, c = {0};
    REQUIRE(tf_logits(f32, &a) == 0 && tf_logits(stored, &b) == 0 && tf_logits(converted, &c) == 0,
            "decoder_forward failed");
    double ref, d_stored = max_diff(&a, &b, &ref), d_converted = max_diff(&a, &c, &ref);
    printf("     bf16 vs f32 logits: stored %.3g, converted %.3g (values up to %.3g)\n", d_stored, d_converted,
           ref);
    CHECK(d_stored > 0 && d_stored < 0.05 * ref, "bf16 checkpoint: max diff %g of %g", d_stored, ref);
    CHECK(d_converted > 0 && d_converted < 0.05 * ref, "bf16 weights: max diff %g of %g", d_converted, ref);
    jen1_tensor_free(&a);
    jen1_tensor_free(&b);
    jen1_tensor_free(&c);
    jen1_model_free(f32);
    jen1_model_free(stored);
    jen1_model_free(converted);
}

/* Asking for CUDA where LibTorch sees no GPU is an error, not a silent CPU run. */
TEST(cuda_request_follows_the_runtime)
{
    jen1_torch_info info;
    jen1_torch_info_get(&info);
    jen1_model_params p = jen1_model_default_params();
    p.device = JEN1_DEVICE_CUDA;
    char err[512];
    jen1_model *m = NULL;
    jen1_status st = jen1_model_load(fixture_model, &p, &m, err, sizeof err);
    if (info.cuda_available) {
        CHECK(st == JEN1_OK && strcmp(jen1_model_device(m), "cuda:0") == 0, "%s", err);
    } else {
        CHECK(st == JEN1_ERR_DEVICE && strstr(err, "CUDA"), "status %s: %s", jen1_status_name(st), err);
        CHECK(m == NULL, "a model came back with an error");
    }
    jen1_model_free(m);
}

int main(void)
{
    snprintf(fixture_model, sizeof fixture_model, "%s/model", check_fixture_dir());
    RUN(fixture_loads_and_reports_its_shape);
    RUN(missing_directory_and_files);
    RUN(bad_config_json);
    RUN(missing_tensor_is_named);
    RUN(wrong_shape_is_named);
    RUN(config_disagreeing_with_weights);
    RUN(truncated_and_corrupt_weights);
    RUN(garbage_tokenizer);
    RUN(parametrized_weight_norm_spelling_gives_the_same_audio);
    RUN(rewritten_copy_loads);
    RUN(cuda_request_follows_the_runtime);
    RUN(bf16_checkpoints_and_bf16_weights);
    return check_summary("test_model_load");
}
