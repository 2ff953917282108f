/* test_parity.c - the engine against the reference implementation's golden
 * outputs in tests/fixtures/musicgen-tiny/golden, at the tolerances its
 * README recommends, through the public C API. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "jen1_stages.h"
#include "npy.h"
#include "fixture.h"

static jen1_model *model;
static const char *prompts[3] = {"upbeat electronic dance track with heavy bass", "calm solo piano, slow tempo", ""};
enum { K = 4, V = 64 };

static int golden(const char *name, npy_array *a)
{
    return fixture_golden(check_fixture_dir(), name, a);
}

/* Compares a float tensor with a golden file of the same element count. */
static void check_close(const jen1_tensor *t, const char *name, double tol)
{
    npy_array g;
    REQUIRE(golden(name, &g) == 0, "cannot read %s", name);
    CHECK(t->dtype == JEN1_F32 && jen1_tensor_numel(t) == npy_numel(&g), "%s: %lld elements, golden has %lld", name,
          (long long)jen1_tensor_numel(t), (long long)npy_numel(&g));
    if (jen1_tensor_numel(t) == npy_numel(&g)) {
        double d = fixture_max_abs_diff(t->data, g.data, npy_numel(&g));
        CHECK(d <= tol, "%s: max abs diff %.3g > %.3g", name, d, tol);
        printf("     %s: max abs diff %.3g\n", name, d);
    }
    npy_free(&g);
}

static void check_equal_i64(const int64_t *a, const int64_t *b, int64_t n, const char *name)
{
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) bad += a[i] != b[i];
    CHECK(bad == 0, "%s: %lld of %lld ids differ", name, (long long)bad, (long long)n);
}

TEST(tokenizer_matches_reference_ids)
{
    npy_array ids;
    REQUIRE(golden("input_ids.npy", &ids) == 0, "input_ids.npy");
    const int64_t S = ids.shape[1];
    for (int b = 0; b < 3; b++) {
        int64_t got[64];
        int n = 0;
        char err[256];
        REQUIRE(jen1_tokenize(model, prompts[b], got, 64, &n, err, sizeof err) == JEN1_OK, "%s", err);
        const int64_t *want = (const int64_t *)ids.data + b * S;
        int want_n = 0;
        while (want_n < S && want[want_n] != 0) want_n++;
        CHECK(n == want_n, "prompt %d: %d ids, reference %d", b, n, want_n);
        if (n == want_n) check_equal_i64(got, want, n, prompts[b]);
    }
    npy_free(&ids);
}

TEST(text_encoder_matches_reference)
{
    jen1_tensor ids = {0}, mask = {0}, hidden = {0}, projected = {0};
    char err[512];
    REQUIRE(jen1_encode_text(model, prompts, 3, &ids, &mask, &hidden, &projected, err, sizeof err) == JEN1_OK,
            "%s", err);
    npy_array g_ids, g_mask;
    if (golden("input_ids.npy", &g_ids) == 0 && golden("attention_mask.npy", &g_mask) == 0) {
        CHECK(ids.ndim == 2 && ids.shape[0] == 3 && ids.shape[1] == g_ids.shape[1], "input_ids shape");
        if (jen1_tensor_numel(&ids) == npy_numel(&g_ids)) {
            check_equal_i64(ids.data, g_ids.data, npy_numel(&g_ids), "input_ids");
            check_equal_i64(mask.data, g_mask.data, npy_numel(&g_mask), "attention_mask");
        }
        npy_free(&g_ids);
        npy_free(&g_mask);
    }
    check_close(&hidden, "t5_hidden_states.npy", 1e-4);
    /* The last hidden state is the last entry of the stack. */
    jen1_tensor last = hidden;
    int64_t per = jen1_tensor_numel(&hidden) / hidden.shape[0];
    last.data = (float *)hidden.data + per * (hidden.shape[0] - 1);
    last.ndim = 3;
    last.shape[0] = hidden.shape[1];
    last.shape[1] = hidden.shape[2];
    last.shape[2] = hidden.shape[3];
    check_close(&last, "t5_last_hidden_state.npy", 1e-4);
    check_close(&projected, "encoder_hidden_states.npy", 1e-4);
    jen1_tensor_free(&ids);
    jen1_tensor_free(&mask);
    jen1_tensor_free(&hidden);
    jen1_tensor_free(&projected);
}

TEST(teacher_forced_logits_match_reference)
{
    npy_array ids;
    REQUIRE(golden("tf_decoder_input_ids.npy", &ids) == 0, "tf_decoder_input_ids.npy");
    jen1_tensor logits = {0}, hidden = {0};
    char err[512];
    REQUIRE(jen1_decoder_forward(model, prompts, 3, ids.data, (int)ids.shape[1], &logits, &hidden, err,
                                 sizeof err) == JEN1_OK,
            "%s", err);
    check_close(&logits, "tf_logits.npy", 5e-4);
    check_close(&hidden, "tf_decoder_hidden_states.npy", 5e-4);
    jen1_tensor_free(&logits);
    jen1_tensor_free(&hidden);
    npy_free(&ids);
}

/* The reference's per-step raw logits of guided greedy generation: the
 * conditional half is a teacher-forced pass over the final grid, the
 * unconditional half the same pass without text. The guided scores follow. */
TEST(guided_step_logits_match_reference)
{
    npy_array grid, raw, scores;
    REQUIRE(golden("gen_greedy_cfg3_decoder_ids.npy", &grid) == 0, "decoder ids");
    REQUIRE(golden("gen_greedy_cfg3_raw_logits.npy", &raw) == 0, "raw logits");
    REQUIRE(golden("gen_greedy_cfg3_scores.npy", &scores) == 0, "scores");
    const int rows = 12, steps = 40, L = (int)grid.shape[1];
    int64_t ids[12 * 40];
    for (int r = 0; r < rows; r++)
        for (int t = 0; t < steps; t++) ids[r * steps + t] = ((int64_t *)grid.data)[r * L + t];

    jen1_tensor cond = {0}, uncond = {0};
    char err[512];
    REQUIRE(jen1_decoder_forward(model, prompts, 3, ids, steps, &cond, NULL, err, sizeof err) == JEN1_OK, "%s", err);
    REQUIRE(jen1_decoder_forward(model, NULL, 3, ids, steps, &uncond, NULL, err, sizeof err) == JEN1_OK, "%s", err);
    double worst_raw = 0, worst_scores = 0;
    for (int t = 0; t < steps; t++)
        for (int r = 0; r < rows; r++)
            for (int v = 0; v < V; v++) {
                float c = ((float *)cond.data)[((size_t)r * steps + t) * V + v];
                float u = ((float *)uncond.data)[((size_t)r * steps + t) * V + v];
                float rc = ((float *)raw.data)[((size_t)t * 2 * rows + r) * V + v];
                float ru = ((float *)raw.data)[((size_t)t * 2 * rows + rows + r) * V + v];
                float rs = ((float *)scores.data)[((size_t)t * rows + r) * V + v];
                worst_raw = fmax(worst_raw, fmax(fabs(c - rc), fabs(u - ru)));
                worst_scores = fmax(worst_scores, fabs(u + (c - u) * 3.0f - rs));
            }
    CHECK(worst_raw <= 5e-4, "raw logits: max abs diff %.3g", worst_raw);
    CHECK(worst_scores <= 5e-4, "guided scores: max abs diff %.3g", worst_scores);
    printf("     gen_greedy_cfg3_raw_logits: max abs diff %.3g, scores %.3g\n", worst_raw, worst_scores);
    jen1_tensor_free(&cond);
    jen1_tensor_free(&uncond);
    npy_free(&grid);
    npy_free(&raw);
    npy_free(&scores);
}

TEST(encodec_matches_reference)
{
    npy_array codes;
    REQUIRE(golden("encodec_codes.npy", &codes) == 0, "encodec_codes.npy");
    jen1_tensor quantized = {0}, audio = {0};
    char err[512];
    REQUIRE(jen1_decode_codes(model, codes.data, (int)codes.shape[1], (int)codes.shape[2], (int)codes.shape[3],
                              &quantized, &audio, err, sizeof err) == JEN1_OK,
            "%s", err);
    check_close(&quantized, "encodec_quantized.npy", 1e-5);
    check_close(&audio, "encodec_audio_values.npy", 1e-5);
    jen1_tensor_free(&quantized);
    jen1_tensor_free(&audio);
    npy_free(&codes);
}

/* The delayed grid of one request's codes, as the reference lays it out:
 * row k holds BOS/pad at 0..k, frames from k+1, pad in the last K-1-k. */
static void delay_grid(const int64_t *codes, int frames, int64_t *grid)
{
    const int L = frames + K;
    for (int k = 0; k < K; k++)
        for (int t = 0; t < L; t++) {
            int f = t - k - 1;
            grid[k * L + t] = f >= 0 && f < frames ? codes[k * frames + f] : V;
        }
}

static void check_greedy_generation(float guidance, const char *tag)
{
    char name[128], err[512];
    npy_array want_codes, want_grid, want_audio;
    snprintf(name, sizeof name, "gen_greedy_%s_audio_codes.npy", tag);
    REQUIRE(golden(name, &want_codes) == 0, "%s", name);
    snprintf(name, sizeof name, "gen_greedy_%s_decoder_ids.npy", tag);
    REQUIRE(golden(name, &want_grid) == 0, "%s", name);
    snprintf(name, sizeof name, "gen_greedy_%s_audio_values.npy", tag);
    REQUIRE(golden(name, &want_audio) == 0, "%s", name);

    const int frames = (int)want_codes.shape[3];
    jen1_request reqs[3] = {{0}};
    for (int b = 0; b < 3; b++) {
        reqs[b].prompt = prompts[b];
        reqs[b].n_frames = frames;
    }
    jen1_generate_params p = jen1_generate_default_params(model);
    p.sampling.greedy = 1;
    p.sampling.guidance_scale = guidance;
    jen1_output *out;
    REQUIRE(jen1_generate(model, reqs, 3, &p, &out, err, sizeof err) == JEN1_OK, "%s", err);
    const int L = frames + K;
    for (int b = 0; b < 3; b++) {
        const jen1_output_item *it = &out->items[b];
        CHECK(it->n_frames == frames && it->n_codebooks == K, "item %d shape", b);
        check_equal_i64(it->codes, (int64_t *)want_codes.data + (size_t)b * K * frames, (int64_t)K * frames,
                        "audio codes");
        int64_t grid[K * 64];
        delay_grid(it->codes, frames, grid);
        check_equal_i64(grid, (int64_t *)want_grid.data + (size_t)b * K * L, (int64_t)K * L, "decoder grid");
        CHECK(it->n_samples == want_audio.shape[2], "item %d: %lld samples", b, (long long)it->n_samples);
        if (it->n_samples == want_audio.shape[2]) {
            double d = fixture_max_abs_diff(it->audio, (float *)want_audio.data + (size_t)b * it->n_samples, it->n_samples);
            CHECK(d <= 1e-5, "item %d audio: max abs diff %.3g", b, d);
        }
    }
    jen1_output_free(out);
    npy_free(&want_codes);
    npy_free(&want_grid);
    npy_free(&want_audio);
}

TEST(greedy_generation_without_guidance_matches_reference) { check_greedy_generation(1.0f, "cfg1"); }
TEST(greedy_generation_with_guidance_matches_reference) { check_greedy_generation(3.0f, "cfg3"); }

/* The step a GPU takes (decoder_graph.cpp: static shapes for a CUDA graph,
 * the caches attended over their whole capacity under a mask), run on the
 * CPU: the same greedy songs as the reference, guided or not. */
static void traced_guided_scores(jen1_tensor *scores)
{
    char err[512];
    jen1_request req = {.prompt = prompts[1], .n_frames = 40};
    jen1_generate_params p = jen1_generate_default_params(model);
    p.sampling.greedy = 1;
    p.sampling.guidance_scale = 3.0f;
    jen1_output *out = NULL;
    jen1_tensor grid = {0};
    CHECK(jen1_generate_traced(model, &req, 1, &p, &out, scores, &grid, err, sizeof err) == JEN1_OK, "%s", err);
    jen1_tensor_free(&grid);
    jen1_output_free(out);
}

TEST(the_static_step_matches_reference)
{
    jen1_tensor kernels = {0}, fixed = {0};
    traced_guided_scores(&kernels);
    jen1_model_use_static_step(model, 1);
    check_greedy_generation(1.0f, "cfg1");
    check_greedy_generation(3.0f, "cfg3");
    traced_guided_scores(&fixed);
    jen1_model_use_static_step(model, 0);
    /* Its own arithmetic (so it did run), within float noise of the kernels'. */
    int64_t n = 1;
    for (int i = 0; i < kernels.ndim; i++) n *= kernels.shape[i];
    double d = fixed.data && kernels.data ? fixture_max_abs_diff(fixed.data, kernels.data, n) : -1;
    printf("     static step vs the CPU kernels: scores max abs diff %.3g\n", d);
    CHECK(d > 0 && d < 1e-4, "scores differ by %.3g", d);
    jen1_tensor_free(&kernels);
    jen1_tensor_free(&fixed);
}

/* bf16 (and int8) weights keep the decoder's cache in bf16, and decode steps
 * attend over it with their own kernels: 250 guided steps of such a model
 * follow the fp32 model teacher-forced over the same grid, to within the
 * weights' precision. With prompt_frames > 0 the request continues that many
 * given frames, so the first pass and the cache every later step attends
 * over come from a prefill (the GEMM path of the reduced weights). */
static void check_reduced_steps_follow_fp32(jen1_weight_type weights, int prompt_frames)
{
    char dir[4096], err[512];
    snprintf(dir, sizeof dir, "%s/model", check_fixture_dir());
    jen1_model_params mp = jen1_model_default_params();
    mp.decoder_weights = weights;
    jen1_model *bf16;
    REQUIRE(jen1_model_load(dir, &mp, &bf16, err, sizeof err) == JEN1_OK, "%s", err);

    enum { FRAMES = 250, STEPS = FRAMES + K - 1 };
    static int64_t given[K * FRAMES];
    for (int k = 0; k < K; k++)
        for (int f = 0; f < prompt_frames; f++) given[k * prompt_frames + f] = (k * 311 + f * 7919) % V;
    jen1_request req = {.prompt = prompts[1], .n_frames = FRAMES};
    if (prompt_frames > 0) {
        req.prompt_codes = given;
        req.n_prompt_frames = prompt_frames;
    }
    const int passes = STEPS - prompt_frames; /* scores[i] predicts from column prompt_frames + i */
    jen1_generate_params p = jen1_generate_default_params(bf16);
    p.sampling.greedy = 1;
    p.sampling.guidance_scale = 3.0f;
    jen1_output *out = NULL;
    jen1_tensor scores = {0}, grid = {0}, cond = {0}, uncond = {0};
    REQUIRE(jen1_generate_traced(bf16, &req, 1, &p, &out, &scores, &grid, err, sizeof err) == JEN1_OK, "%s", err);
    REQUIRE(scores.shape[0] == passes && grid.shape[1] >= STEPS, "scores %lld passes, grid %lld columns",
            (long long)scores.shape[0], (long long)grid.shape[1]);

    static int64_t ids[K * STEPS];
    for (int k = 0; k < K; k++)
        for (int t = 0; t < STEPS; t++) ids[k * STEPS + t] = ((int64_t *)grid.data)[k * grid.shape[1] + t];
    REQUIRE(jen1_decoder_forward(model, &prompts[1], 1, ids, STEPS, &cond, NULL, err, sizeof err) == JEN1_OK, "%s",
            err);
    REQUIRE(jen1_decoder_forward(model, NULL, 1, ids, STEPS, &uncond, NULL, err, sizeof err) == JEN1_OK, "%s", err);
    double worst = 0, largest = 0;
    for (int i = 0; i < passes; i++)
        for (int k = 0; k < K; k++)
            for (int v = 0; v < V; v++) {
                const int t = prompt_frames + i;
                float c = ((float *)cond.data)[((size_t)k * STEPS + t) * V + v];
                float u = ((float *)uncond.data)[((size_t)k * STEPS + t) * V + v];
                double want = u + (c - u) * 3.0f, got = ((float *)scores.data)[((size_t)i * K + k) * V + v];
                worst = fmax(worst, fabs(got - want));
                largest = fmax(largest, fabs(want));
            }
    printf("     %s vs fp32 teacher-forced, %d prompt frames, %d passes: max abs diff %.3g (values up to %.3g)\n",
           jen1_weight_type_name(weights), prompt_frames, passes, worst, largest);
    CHECK(worst > 0 && worst < 0.05 * largest, "max diff %.3g of %.3g", worst, largest);
    jen1_tensor_free(&scores);
    jen1_tensor_free(&grid);
    jen1_tensor_free(&cond);
    jen1_tensor_free(&uncond);
    jen1_output_free(out);
    jen1_model_free(bf16);
}

TEST(bf16_decode_steps_follow_fp32) { check_reduced_steps_follow_fp32(JEN1_WEIGHTS_BF16, 0); }

/* int8 weights (per-channel scales, bf16 cache): the same, within int8's
 * precision (BENCHMARKS.md has the drift on musicgen-small's shapes). */
TEST(int8_decode_steps_follow_fp32) { check_reduced_steps_follow_fp32(JEN1_WEIGHTS_INT8, 0); }

/* A continuation's prefill runs a GEMM over the reduced weights (bf16 over
 * the int8 codes with the row scales applied after): the steps that follow
 * it, and its own last column, stay as close to fp32. */
TEST(bf16_prefill_follows_fp32) { check_reduced_steps_follow_fp32(JEN1_WEIGHTS_BF16, 120); }
TEST(int8_prefill_follows_fp32) { check_reduced_steps_follow_fp32(JEN1_WEIGHTS_INT8, 120); }

int main(int argc, char **argv)
{
    /* test_parity --device cpu|cuda|auto: scripts/gpu-check runs it with cuda. */
    if (argc == 3 && strcmp(argv[1], "--device") == 0) setenv("JEN1_TEST_DEVICE", argv[2], 1);
    else if (argc != 1) {
        fprintf(stderr, "usage: test_parity [--device cpu|cuda|auto]\n");
        printf("RESULT test_parity passed=0 failed=1\n");
        return 2;
    }
    model = fixture_model_load("test_parity");
    if (!model) return 1;
    RUN(tokenizer_matches_reference_ids);
    RUN(text_encoder_matches_reference);
    RUN(teacher_forced_logits_match_reference);
    RUN(guided_step_logits_match_reference);
    RUN(encodec_matches_reference);
    RUN(greedy_generation_without_guidance_matches_reference);
    RUN(greedy_generation_with_guidance_matches_reference);
    RUN(the_static_step_matches_reference);
    RUN(bf16_decode_steps_follow_fp32);
    RUN(int8_decode_steps_follow_fp32);
    RUN(bf16_prefill_follows_fp32);
    RUN(int8_prefill_follows_fp32);
    jen1_model_free(model);
    return check_summary("test_parity");
}
