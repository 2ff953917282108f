/* test_text_parity.c - the text engine against the reference implementation's
 * goldens in tests/fixtures/qwen2-tiny/golden, at the tolerances its README
 * gives (ids exact; floats max|d| <= 1e-5 * max|golden| + 1e-5 over valid
 * positions; -inf sets exact): the forward pass of a left-padded batch,
 * greedy generation alone and batched, with and without the repetition
 * penalty (through the API and the traced stage), and the sampling filters.
 * Uses the golden ids only, so it needs no tokenizer. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "jen1_text_stages.h"
#include "npy.h"
#include "fixture.h"

static jen1_text_model *model;
static npy_array input_ids, attention_mask;  /* fwd_*: the three prompts, left-padded */
enum { B = 3, MAX_NEW = 48 };

static const char *fixture_dir(void)
{
    const char *d = getenv("JEN1_TEXT_FIXTURES");
    return d ? d : "tests/fixtures/qwen2-tiny";
}

static int golden(const char *name, npy_array *a)
{
    return fixture_golden(fixture_dir(), name, a);
}

static int64_t T(void) { return input_ids.shape[1]; }

/* Prompt b without its left padding. */
static const int64_t *prompt(int b, int *n)
{
    const int64_t *mask = (const int64_t *)attention_mask.data + b * T();
    int off = 0;
    while (off < T() && mask[off] == 0) off++;
    *n = (int)(T() - off);
    return (const int64_t *)input_ids.data + b * T() + off;
}

/* Compares n_rows rows of `width` floats where valid(row) holds, at the
 * README's tolerance; -inf must match -inf exactly. */
static void check_rows(const char *name, const float *got, const float *want, int64_t n_rows, int64_t width,
                       int (*valid)(int64_t row, void *ctx), void *ctx)
{
    double max_golden = 0, worst = 0;
    int64_t inf_mismatch = 0;
    for (int64_t r = 0; r < n_rows; r++)
        for (int64_t i = 0; valid(r, ctx) && i < width; i++)
            if (isfinite(want[r * width + i])) max_golden = fmax(max_golden, fabs(want[r * width + i]));
    for (int64_t r = 0; r < n_rows; r++) {
        if (!valid(r, ctx)) continue;
        for (int64_t i = 0; i < width; i++) {
            float g = got[r * width + i], w = want[r * width + i];
            if (isinf(w) || isinf(g)) {
                inf_mismatch += !(isinf(w) && isinf(g) && (w < 0) == (g < 0));
                continue;
            }
            double d = fabs((double)g - w);
            worst = isnan(d) ? INFINITY : fmax(worst, d);
        }
    }
    const double tol = 1e-5 * max_golden + 1e-5;
    printf("     %s: max abs diff %.3g (tolerance %.3g)\n", name, worst, tol);
    CHECK(worst <= tol, "%s: max abs diff %.3g > %.3g", name, worst, tol);
    CHECK(inf_mismatch == 0, "%s: %lld -inf entries differ", name, (long long)inf_mismatch);
}

/* Rows of [..., B, T, width] tensors: valid where the token is not padding. */
static int token_row(int64_t row, void *ctx)
{
    (void)ctx;
    return ((const int64_t *)attention_mask.data)[row % (B * T())] == 1;
}

static int every_row(int64_t row, void *ctx)
{
    (void)row, (void)ctx;
    return 1;
}

static void check_tensor(const char *name, const jen1_tensor *t)
{
    npy_array g;
    REQUIRE(golden(name, &g) == 0, "cannot read %s", name);
    const int64_t width = g.shape[g.ndim - 1];
    CHECK(jen1_tensor_numel(t) == npy_numel(&g), "%s: %lld values, golden %lld", name,
          (long long)jen1_tensor_numel(t), (long long)npy_numel(&g));
    if (jen1_tensor_numel(t) == npy_numel(&g))
        check_rows(name, t->data, g.data, npy_numel(&g) / width, width, token_row, NULL);
    npy_free(&g);
}

TEST(forward_matches_reference)
{
    jen1_tensor hidden = {0}, layers = {0}, logits = {0};
    char err[512];
    REQUIRE(jen1_text_forward(model, input_ids.data, attention_mask.data, B, (int)T(), &hidden, &layers, &logits,
                              err, sizeof err) == JEN1_OK,
            "%s", err);
    check_tensor("fwd_hidden_states.npy", &hidden);
    check_tensor("fwd_layer_outputs.npy", &layers);
    check_tensor("fwd_logits.npy", &logits);
    jen1_tensor_free(&hidden);
    jen1_tensor_free(&layers);
    jen1_tensor_free(&logits);
}

/* Steps of a [B, 48, V] score trace that count: before the row's length. */
typedef struct { const int64_t *lengths; } steps_ctx;

static int scored_step(int64_t row, void *ctx)
{
    const steps_ctx *c = ctx;
    return row % MAX_NEW < c->lengths[row / MAX_NEW];
}

/* Greedy generation of the golden run `run` ("gen_a", ...): each prompt
 * alone or the three as one batch; tokens and lengths exact, scores (when
 * the golden has them) at tolerance, sequences exact for batches. */
static void check_generation(const char *run, float penalty, int batched)
{
    char name[128], err[512];
    npy_array g_tokens, g_lengths;
    snprintf(name, sizeof name, "%s_tokens.npy", run);
    REQUIRE(golden(name, &g_tokens) == 0, "%s", name);
    snprintf(name, sizeof name, "%s_lengths.npy", run);
    REQUIRE(golden(name, &g_lengths) == 0, "%s", name);
    const int64_t *want_tokens = g_tokens.data, *want_len = g_lengths.data;

    jen1_text_generate_params p = jen1_text_generate_default_params(model);
    p.sampling.greedy = 1;
    p.sampling.repetition_penalty = penalty;
    p.max_new_tokens = MAX_NEW;
    jen1_text_request reqs[B];
    for (int b = 0; b < B; b++) {
        int n;
        const int64_t *ids = prompt(b, &n);
        reqs[b] = (jen1_text_request){.prompt_ids = ids, .n_prompt_ids = n, .seed = 1};
    }

    /* [B][48][V] processed scores, gathered from one traced run per call. */
    const int V = jen1_text_model_vocab_size(model);
    float *scores = calloc((size_t)B * MAX_NEW * V, sizeof(float));
    jen1_text_output *outs[B] = {0};
    for (int call = 0; call < (batched ? 1 : B); call++) {
        jen1_tensor s = {0};
        int first = batched ? 0 : call, count = batched ? B : 1;
        jen1_status st = jen1_text_generate_traced(model, reqs + first, count, &p, &outs[call], &s, err, sizeof err);
        CHECK(st == JEN1_OK, "%s: %s", run, err);
        if (st != JEN1_OK) continue;
        for (int i = 0; i < count; i++)
            for (int64_t t = 0; t < s.shape[1] && t < MAX_NEW; t++)
                memcpy(scores + ((size_t)(first + i) * MAX_NEW + t) * V,
                       (float *)s.data + ((size_t)i * s.shape[1] + t) * V, (size_t)V * sizeof(float));
        jen1_tensor_free(&s);
    }

    /* The same run through jen1_text_generate must give the same ids. */
    jen1_text_output *plain = NULL;
    CHECK(jen1_text_generate(model, reqs, B, &p, &plain, err, sizeof err) == JEN1_OK, "%s", err);
    int64_t *seq = calloc((size_t)B * (T() + MAX_NEW), sizeof(int64_t));
    for (int b = 0; b < B; b++) {
        const jen1_text_output *o = outs[batched ? 0 : b];
        const jen1_text_output_item *it = o ? &o->items[batched ? b : 0] : NULL;
        if (!it) continue;
        CHECK(it->n_ids == want_len[b], "%s row %d: %d tokens, golden %lld", run, b, it->n_ids, (long long)want_len[b]);
        int bad = 0;
        for (int t = 0; t < it->n_ids && t < MAX_NEW; t++) bad += it->ids[t] != want_tokens[b * MAX_NEW + t];
        CHECK(bad == 0, "%s row %d: %d of %d tokens differ", run, b, bad, it->n_ids);
        CHECK(it->finish == (it->n_ids < MAX_NEW ? JEN1_TEXT_FINISH_EOS : JEN1_TEXT_FINISH_LENGTH),
              "%s row %d: finish %d", run, b, it->finish);
        if (batched && plain) {
            const jen1_text_output_item *q = &plain->items[b];
            CHECK(q->n_ids == it->n_ids && memcmp(q->ids, it->ids, (size_t)q->n_ids * 8) == 0,
                  "%s row %d: jen1_text_generate differs from the traced run", run, b);
        }
        /* The reference's sequence: padding, prompt, new tokens, pad after EOS. */
        int64_t *row = seq + b * (T() + MAX_NEW);
        memcpy(row, (const int64_t *)input_ids.data + b * T(), (size_t)T() * 8);
        for (int t = 0; t < MAX_NEW; t++) row[T() + t] = t < it->n_ids ? it->ids[t] : 756;
    }

    snprintf(name, sizeof name, "%s_scores.npy", run);
    npy_array g_scores;
    snprintf(err, sizeof err, "%s/golden/%s", fixture_dir(), name);
    FILE *exists = fopen(err, "rb");
    if (exists && (fclose(exists), golden(name, &g_scores) == 0)) {
        steps_ctx ctx = {want_len};
        check_rows(name, scores, g_scores.data, (int64_t)B * MAX_NEW, V, scored_step, &ctx);
        npy_free(&g_scores);
    }
    snprintf(name, sizeof name, "%s_sequences.npy", run);
    npy_array g_seq;
    if (batched && golden(name, &g_seq) == 0) {
        int64_t bad = 0;
        for (int64_t i = 0; i < npy_numel(&g_seq); i++) bad += seq[i] != ((int64_t *)g_seq.data)[i];
        CHECK(npy_numel(&g_seq) == B * (T() + MAX_NEW) && bad == 0, "%s: %lld ids differ", name, (long long)bad);
        npy_free(&g_seq);
    }
    for (int b = 0; b < B; b++) jen1_text_output_free(outs[b]);
    jen1_text_output_free(plain);
    free(seq);
    free(scores);
    npy_free(&g_tokens);
    npy_free(&g_lengths);
}

TEST(gen_a_greedy_alone) { check_generation("gen_a", 1.0f, 0); }
TEST(gen_b_greedy_batched) { check_generation("gen_b", 1.0f, 1); }
TEST(gen_c_penalty_alone) { check_generation("gen_c", 1.05f, 0); }
TEST(gen_c_batch_penalty_batched) { check_generation("gen_c_batch", 1.05f, 1); }

/* The context ids of sampling row r: its prompt's first *n tokens. */
static const int64_t *sampling_context(json_t *rows, int64_t r, int *n)
{
    json_t *row = json_array_get(rows, (size_t)r);
    int len;
    const int64_t *ids = prompt((int)json_integer_value(json_object_get(row, "prompt")), &len);
    *n = (int)json_integer_value(json_object_get(row, "context_ids_len"));
    CHECK(*n <= len, "row %lld: context longer than the prompt", (long long)r);
    if (*n > len) *n = len;
    return ids;
}

/* samp_*: the processors on the golden logits of index.json's sampling_rows,
 * with generation_config.json's parameters (penalty 1.0, then 1.05). */
static void check_sampling(const char *prefix, float penalty)
{
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/golden/index.json", fixture_dir());
    json_error_t jerr;
    json_t *index = json_load_file(path, JSON_ALLOW_NUL, &jerr);
    REQUIRE(index, "%s: %s", path, jerr.text);
    json_t *rows = json_object_get(index, "sampling_rows");
    npy_array logits, want[4];
    const char *stages[4] = {"temperature", "topk", "topp", "probs"};
    REQUIRE(golden("samp_logits.npy", &logits) == 0, "samp_logits.npy");
    for (int s = 0; s < 4; s++) {
        char name[128];
        snprintf(name, sizeof name, "%s%s.npy", prefix, stages[s]);
        REQUIRE(golden(name, &want[s]) == 0, "%s", name);
    }
    const int64_t n_rows = logits.shape[0], V = logits.shape[1];
    float *got[4];
    for (int s = 0; s < 4; s++) got[s] = calloc((size_t)(n_rows * V), sizeof(float));
    jen1_text_sampling smp = jen1_text_generate_default_params(model).sampling;
    smp.greedy = 0;
    smp.repetition_penalty = penalty;
    CHECK(smp.temperature == 0.7f && smp.top_k == 20 && smp.top_p == 0.8f, "generation_config.json defaults");
    for (int64_t r = 0; r < n_rows; r++) {
        int ctx;
        const int64_t *ids = sampling_context(rows, r, &ctx);
        CHECK(jen1_text_process_scores((float *)logits.data + r * V, (int)V, ids, ctx, &smp, NULL, got[0] + r * V,
                                       got[1] + r * V, got[2] + r * V, got[3] + r * V, err, sizeof err) == JEN1_OK,
              "%s", err);
    }
    for (int s = 0; s < 4; s++) {
        char name[128];
        snprintf(name, sizeof name, "%s%s", prefix, stages[s]);
        check_rows(name, got[s], want[s].data, n_rows, V, every_row, NULL);
        free(got[s]);
        npy_free(&want[s]);
    }
    if (penalty != 1.0f) {  /* the penalty alone */
        npy_array pen;
        float *p = calloc((size_t)(n_rows * V), sizeof(float));
        REQUIRE(golden("samp_rep_penalized.npy", &pen) == 0, "samp_rep_penalized.npy");
        for (int64_t r = 0; r < n_rows; r++) {
            int ctx;
            const int64_t *ids = sampling_context(rows, r, &ctx);
            jen1_text_process_scores((float *)logits.data + r * V, (int)V, ids, ctx, &smp, p + r * V, NULL, NULL,
                                     NULL, NULL, err, sizeof err);
        }
        check_rows("samp_rep_penalized", p, pen.data, n_rows, V, every_row, NULL);
        npy_free(&pen);
        free(p);
    }
    npy_free(&logits);
    json_decref(index);
}

TEST(samp_filters_match_reference) { check_sampling("samp_", 1.0f); }
TEST(samp_rep_filters_match_reference) { check_sampling("samp_rep_", 1.05f); }

int main(void)
{
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/model", fixture_dir());
    if (jen1_text_model_load(path, NULL, &model, err, sizeof err) != JEN1_OK) {
        fprintf(stderr, "cannot load %s: %s\n", path, err);
        return check_summary("test_text_parity") | 1;
    }
    if (golden("fwd_input_ids.npy", &input_ids) != 0 || golden("fwd_attention_mask.npy", &attention_mask) != 0)
        return check_summary("test_text_parity") | 1;
    RUN(forward_matches_reference);
    RUN(gen_a_greedy_alone);
    RUN(gen_b_greedy_batched);
    RUN(gen_c_penalty_alone);
    RUN(gen_c_batch_penalty_batched);
    RUN(samp_filters_match_reference);
    RUN(samp_rep_filters_match_reference);
    npy_free(&input_ids);
    npy_free(&attention_mask);
    jen1_text_model_free(model);
    return check_summary("test_text_parity");
}
