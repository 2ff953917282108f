/* test_continuation.c - continuation from given codes (jen1_request's
 * prompt_codes) against the reference's golden outputs in
 * tests/fixtures/musicgen-continuation (Hugging Face generate with
 * decoder_input_ids = BOS + prompt codes, on the musicgen-tiny model), at
 * the tolerances its README recommends: codes and decoder grids exact,
 * scores within 5e-4, waveforms within 1e-5, for the four cases. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "jen1_stages.h"
#include "npy.h"
#include "fixture.h"

static jen1_model *model;
enum { B = 2, K = 4, V = 64, P = 12, N = 30, F = P + N, L = 1 + P + N + K - 1, STEPS = N + K - 1 };
static const char *texts[B] = {"calm solo piano, slow tempo", "upbeat electronic dance track with heavy bass"};
static const char *new_texts[B] = {"dark ambient drone with distant choir and deep reverb",
                                   "funky disco groove with slap bass and brass stabs"};

static int golden(const char *name, npy_array *a)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/../musicgen-continuation", check_fixture_dir());
    return fixture_golden(dir, name, a);
}

static int64_t count_differences(const int64_t *a, const int64_t *b, int64_t n)
{
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) bad += a[i] != b[i];
    return bad;
}

static void check_case(const char *tag, const char *const *case_texts, const char *prompt_file, float guidance)
{
    char name[128], err[512];
    npy_array prompt, want_codes, want_grid, want_scores, want_audio;
    REQUIRE(golden(prompt_file, &prompt) == 0, "%s", prompt_file);
    snprintf(name, sizeof name, "cont_%s_audio_codes.npy", tag);
    REQUIRE(golden(name, &want_codes) == 0, "%s", name);
    snprintf(name, sizeof name, "cont_%s_decoder_ids.npy", tag);
    REQUIRE(golden(name, &want_grid) == 0, "%s", name);
    snprintf(name, sizeof name, "cont_%s_scores.npy", tag);
    REQUIRE(golden(name, &want_scores) == 0, "%s", name);
    snprintf(name, sizeof name, "cont_%s_audio_values.npy", tag);
    REQUIRE(golden(name, &want_audio) == 0, "%s", name);

    jen1_request reqs[B] = {{0}};
    for (int b = 0; b < B; b++) {
        reqs[b].prompt = case_texts[b];
        reqs[b].n_frames = F;
        reqs[b].prompt_codes = (const int64_t *)prompt.data + (size_t)b * K * P;
        reqs[b].n_prompt_frames = P;
    }
    jen1_generate_params p = jen1_generate_default_params(model);
    p.sampling.greedy = 1;
    p.sampling.guidance_scale = guidance;
    jen1_output *out = NULL;
    jen1_tensor scores = {0}, grid = {0};
    REQUIRE(jen1_generate_traced(model, reqs, B, &p, &out, &scores, &grid, err, sizeof err) == JEN1_OK, "%s: %s",
            tag, err);

    /* One forward pass per score entry: the prompt went in as one prefill. */
    CHECK(scores.ndim == 3 && scores.shape[0] == STEPS && scores.shape[1] == B * K && scores.shape[2] == V,
          "%s: scores [%lld, %lld, %lld], want [%d, %d, %d]", tag, (long long)scores.shape[0],
          (long long)scores.shape[1], (long long)scores.shape[2], STEPS, B * K, V);
    CHECK(grid.ndim == 2 && grid.shape[0] == B * K && grid.shape[1] == L, "%s: grid shape", tag);
    if (grid.ndim == 2 && jen1_tensor_numel(&grid) == npy_numel(&want_grid)) {
        int64_t bad = count_differences(grid.data, want_grid.data, npy_numel(&want_grid));
        CHECK(bad == 0, "%s: %lld decoder grid cells differ", tag, (long long)bad);
    }
    /* Every cell, the forced ones (prompt codes, padding) included: they are
     * computed all the same. */
    if (jen1_tensor_numel(&scores) == npy_numel(&want_scores)) {
        double worst = fixture_max_abs_diff(scores.data, want_scores.data, npy_numel(&want_scores));
        CHECK(worst <= 5e-4, "%s: scores: max abs diff %.3g", tag, worst);
        printf("     cont_%s: scores max abs diff %.3g\n", tag, worst);
    }

    double worst_audio = 0;
    for (int b = 0; b < B; b++) {
        const jen1_output_item *it = &out->items[b];
        CHECK(it->n_frames == F && it->n_codebooks == K, "%s item %d: %d frames", tag, b, it->n_frames);
        int64_t bad = count_differences(it->codes, (int64_t *)want_codes.data + (size_t)b * K * F, (int64_t)K * F);
        CHECK(bad == 0, "%s item %d: %lld codes differ", tag, b, (long long)bad);
        CHECK(it->n_windows == 1 && it->windows[0].start_frame == P && it->windows[0].end_frame == F &&
                  it->windows[0].context_frames == P,
              "%s item %d: the window is not [%d, %d) after %d frames of context", tag, b, P, F, P);
        CHECK(it->n_samples == want_audio.shape[2], "%s item %d: %lld samples", tag, b, (long long)it->n_samples);
        if (it->n_samples == want_audio.shape[2])
            worst_audio = fmax(worst_audio, fixture_max_abs_diff(it->audio, (float *)want_audio.data + (size_t)b * it->n_samples,
                                                         it->n_samples));
    }
    CHECK(worst_audio <= 1e-5, "%s audio: max abs diff %.3g", tag, worst_audio);
    printf("     cont_%s: audio max abs diff %.3g\n", tag, worst_audio);

    jen1_output_free(out);
    jen1_tensor_free(&scores);
    jen1_tensor_free(&grid);
    npy_free(&prompt);
    npy_free(&want_codes);
    npy_free(&want_grid);
    npy_free(&want_scores);
    npy_free(&want_audio);
}

TEST(greedy_continuation_without_guidance)
{
    check_case("greedy_cfg1", texts, "prompt_codes.npy", 1.0f);
}
TEST(greedy_continuation_with_guidance)
{
    check_case("greedy_cfg3", texts, "prompt_codes.npy", 3.0f);
}
TEST(greedy_continuation_under_a_new_text)
{
    check_case("newtext_greedy_cfg3", new_texts, "prompt_codes.npy", 3.0f);
}
TEST(greedy_continuation_of_random_codes)
{
    check_case("randprompt_greedy_cfg3", texts, "rand_prompt_codes.npy", 3.0f);
}

/* The new texts tokenise to the reference's ids. */
TEST(new_texts_tokenise_as_the_reference)
{
    jen1_tensor ids = {0}, mask = {0};
    char err[512];
    REQUIRE(jen1_encode_text(model, new_texts, B, &ids, &mask, NULL, NULL, err, sizeof err) == JEN1_OK, "%s", err);
    npy_array want_ids, want_mask;
    REQUIRE(golden("new_text_input_ids.npy", &want_ids) == 0 && golden("new_text_attention_mask.npy", &want_mask) == 0,
            "new text ids");
    CHECK(jen1_tensor_numel(&ids) == npy_numel(&want_ids), "ids shape");
    if (jen1_tensor_numel(&ids) == npy_numel(&want_ids)) {
        CHECK(count_differences(ids.data, want_ids.data, npy_numel(&want_ids)) == 0, "input ids differ");
        CHECK(count_differences(mask.data, want_mask.data, npy_numel(&want_mask)) == 0, "attention masks differ");
    }
    jen1_tensor_free(&ids);
    jen1_tensor_free(&mask);
    npy_free(&want_ids);
    npy_free(&want_mask);
}

/* The guided case's raw logits: a teacher-forced pass over the golden grid,
 * with and without text (the prompt conditions both halves). */
TEST(raw_logits_of_the_guided_case)
{
    npy_array grid, raw;
    REQUIRE(golden("cont_greedy_cfg3_decoder_ids.npy", &grid) == 0, "decoder ids");
    REQUIRE(golden("cont_greedy_cfg3_raw_logits.npy", &raw) == 0, "raw logits");
    enum { COLS = L - 1, ROWS = B * K };
    int64_t ids[ROWS * COLS];
    for (int r = 0; r < ROWS; r++)
        for (int t = 0; t < COLS; t++) ids[r * COLS + t] = ((int64_t *)grid.data)[r * L + t];
    jen1_tensor cond = {0}, uncond = {0};
    char err[512];
    REQUIRE(jen1_decoder_forward(model, texts, B, ids, COLS, &cond, NULL, err, sizeof err) == JEN1_OK, "%s", err);
    REQUIRE(jen1_decoder_forward(model, NULL, B, ids, COLS, &uncond, NULL, err, sizeof err) == JEN1_OK, "%s", err);
    double worst = 0;
    for (int s = 0; s < STEPS; s++)
        for (int r = 0; r < ROWS; r++) {
            const float *c = (float *)cond.data + ((size_t)r * COLS + P + s) * V;
            const float *u = (float *)uncond.data + ((size_t)r * COLS + P + s) * V;
            const float *rc = (float *)raw.data + ((size_t)s * 2 * ROWS + r) * V;
            const float *ru = (float *)raw.data + ((size_t)s * 2 * ROWS + ROWS + r) * V;
            worst = fmax(worst, fmax(fixture_max_abs_diff(c, rc, V), fixture_max_abs_diff(u, ru, V)));
        }
    CHECK(worst <= 5e-4, "raw logits: max abs diff %.3g", worst);
    printf("     cont_greedy_cfg3_raw_logits: max abs diff %.3g\n", worst);
    jen1_tensor_free(&cond);
    jen1_tensor_free(&uncond);
    npy_free(&grid);
    npy_free(&raw);
}

int main(void)
{
    model = fixture_model_load("test_continuation");
    if (!model) return 1;
    RUN(greedy_continuation_without_guidance);
    RUN(greedy_continuation_with_guidance);
    RUN(greedy_continuation_under_a_new_text);
    RUN(greedy_continuation_of_random_codes);
    RUN(new_texts_tokenise_as_the_reference);
    RUN(raw_logits_of_the_guided_case);
    jen1_model_free(model);
    return check_summary("test_continuation");
}
