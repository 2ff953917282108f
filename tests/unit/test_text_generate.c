/* test_text_generate.c - jen1_text_generate's promises beyond parity, on the
 * qwen2-tiny model with the golden prompts' ids (no tokenizer needed):
 * seeded sampling that does not depend on the batch, budgets and the
 * position table, the special-token ban, abort, argument checks, option
 * scoring against the forward pass, and bf16 weights. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "jen1_text_stages.h"
#include "npy.h"
#include "fixture.h"

static jen1_text_model *model;
static npy_array input_ids, attention_mask;
static char model_dir[512];
enum { B = 3 };

static const char *fixture_dir(void)
{
    const char *d = getenv("JEN1_TEXT_FIXTURES");
    return d ? d : "tests/fixtures/qwen2-tiny";
}

/* Golden prompt b (a rendered chat) without its left padding. */
static jen1_text_request request(int b, uint64_t seed)
{
    const int64_t T = input_ids.shape[1];
    const int64_t *mask = (const int64_t *)attention_mask.data + b * T;
    int off = 0;
    while (off < T && mask[off] == 0) off++;
    return (jen1_text_request){(const int64_t *)input_ids.data + b * T + off, (int)(T - off), seed};
}

static jen1_text_output *generate(const jen1_text_request *reqs, int n, const jen1_text_generate_params *p)
{
    char err[512];
    jen1_text_output *out = NULL;
    jen1_status st = jen1_text_generate(model, reqs, n, p, &out, err, sizeof err);
    CHECK(st == JEN1_OK && out && out->n_items == n, "generate: %s", err);
    return st == JEN1_OK ? out : NULL;
}

static int same_ids(const jen1_text_output_item *a, const jen1_text_output_item *b)
{
    return a->n_ids == b->n_ids && memcmp(a->ids, b->ids, (size_t)a->n_ids * sizeof(int64_t)) == 0;
}

TEST(a_seed_gives_the_same_tokens_alone_or_in_any_batch)
{
    jen1_text_generate_params p = jen1_text_generate_default_params(model);
    CHECK(!p.sampling.greedy, "the fixture samples by default");
    p.max_new_tokens = 32;
    jen1_text_request alone = request(1, 42);
    jen1_text_request batch[B] = {request(0, 7), request(1, 42), request(2, 9)};
    jen1_text_request other_seed = request(1, 43);
    jen1_text_output *a = generate(&alone, 1, &p), *a2 = generate(&alone, 1, &p), *b = generate(batch, B, &p),
                     *c = generate(&other_seed, 1, &p);
    if (a && a2 && b && c) {
        CHECK(same_ids(&a->items[0], &a2->items[0]), "the same request twice gave different tokens");
        CHECK(same_ids(&a->items[0], &b->items[1]), "the request in a batch gave other tokens than alone");
        CHECK(!same_ids(&a->items[0], &c->items[0]), "seeds 42 and 43 gave the same %d tokens", a->items[0].n_ids);
        printf("     seed 42: %d tokens, finish %d\n", a->items[0].n_ids, a->items[0].finish);
    }
    jen1_text_output_free(a);
    jen1_text_output_free(a2);
    jen1_text_output_free(b);
    jen1_text_output_free(c);
}

TEST(budgets_and_the_position_table_end_generation)
{
    jen1_text_generate_params p = jen1_text_generate_default_params(model);
    p.sampling.greedy = 1;
    p.max_new_tokens = 5;
    jen1_text_request r = request(1, 0);  /* greedy: 48 tokens without EOS */
    jen1_text_output *out = generate(&r, 1, &p);
    if (out) CHECK(out->items[0].n_ids == 5 && out->items[0].finish == JEN1_TEXT_FINISH_LENGTH, "budget of 5");
    jen1_text_output_free(out);

    /* A prompt 3 positions short of the table gets 3 tokens. */
    const int max_pos = jen1_text_model_max_positions(model);
    int64_t *long_prompt = malloc(sizeof(int64_t) * (size_t)max_pos);
    for (int i = 0; i < max_pos; i++) long_prompt[i] = r.prompt_ids[i % r.n_prompt_ids];
    jen1_text_request lr = {long_prompt, max_pos - 3, 0};
    p.max_new_tokens = 48;
    out = generate(&lr, 1, &p);
    if (out)
        CHECK(out->items[0].n_ids <= 3 && (out->items[0].finish == JEN1_TEXT_FINISH_LENGTH || out->items[0].n_ids < 3),
              "%d tokens past the table", out->items[0].n_ids);
    jen1_text_output_free(out);
    char err[512];
    lr.n_prompt_ids = max_pos;
    out = (jen1_text_output *)1;
    CHECK(jen1_text_generate(model, &lr, 1, &p, &out, err, sizeof err) == JEN1_ERR_TOO_LONG && out == NULL,
          "a prompt filling the table: %s", err);
    free(long_prompt);
}

TEST(ban_special_never_samples_other_special_tokens)
{
    jen1_text_generate_params p = jen1_text_generate_default_params(model);
    p.ban_special = 1;
    p.max_new_tokens = 48;
    p.sampling.temperature = 5.0f;  /* flat: every token has a chance */
    p.sampling.top_k = 0;
    p.sampling.top_p = 1.0f;
    int seen = 0;
    for (uint64_t seed = 0; seed < 8; seed++) {
        jen1_text_request r = request((int)seed % B, seed);
        jen1_text_output *out = generate(&r, 1, &p);
        for (int i = 0; out && i < out->items[0].n_ids; i++) {
            int64_t id = out->items[0].ids[i];
            seen++;
            CHECK(id < 756 || id == 756 || id == 758, "seed %llu: banned id %lld", (unsigned long long)seed,
                  (long long)id);
        }
        jen1_text_output_free(out);
    }
    CHECK(seen > 0, "nothing generated");
}

static int abort_now(void *user)
{
    return ++*(int *)user >= 3;
}

TEST(abort_and_bad_arguments_are_errors)
{
    char err[512];
    int polls = 0;
    jen1_text_generate_params p = jen1_text_generate_default_params(model);
    p.abort = abort_now;
    p.abort_user_data = &polls;
    jen1_text_request r = request(0, 1);
    jen1_text_output *out = (jen1_text_output *)1;
    CHECK(jen1_text_generate(model, &r, 1, &p, &out, err, sizeof err) == JEN1_ERR_ABORTED && out == NULL,
          "abort: %s", err);
    CHECK(polls == 3, "polled %d times", polls);

    p = jen1_text_generate_default_params(model);
    int64_t bad[2] = {1, 768};
    jen1_text_request bad_ids = {bad, 2, 0};
    CHECK(jen1_text_generate(model, &bad_ids, 1, &p, &out, err, sizeof err) == JEN1_ERR_INVALID_ARGUMENT, "id 768");
    CHECK(strstr(err, "768") != NULL, "message: %s", err);
    CHECK(jen1_text_generate(model, &r, 0, &p, &out, err, sizeof err) == JEN1_ERR_INVALID_ARGUMENT, "no requests");
    p.sampling.temperature = 0;
    CHECK(jen1_text_generate(model, &r, 1, &p, &out, err, sizeof err) == JEN1_ERR_INVALID_ARGUMENT, "temperature 0");
    p = jen1_text_generate_default_params(model);
    p.max_new_tokens = 0;
    CHECK(jen1_text_generate(model, &r, 1, &p, &out, err, sizeof err) == JEN1_ERR_INVALID_ARGUMENT, "no budget");
    p.max_new_tokens = 4;
    const char *stops[] = {""};
    p.stop_strings = stops;
    p.n_stop_strings = 1;
    CHECK(jen1_text_generate(model, &r, 1, &p, &out, err, sizeof err) == JEN1_ERR_INVALID_ARGUMENT, "empty stop");
}

/* log p(option | prompt) from a teacher-forced forward pass of one row. */
static double reference_logprob(const jen1_text_request *prompt, const int64_t *option, int n_option)
{
    const int n = prompt->n_prompt_ids + n_option;
    int64_t *ids = malloc(sizeof(int64_t) * (size_t)n), *mask = malloc(sizeof(int64_t) * (size_t)n);
    memcpy(ids, prompt->prompt_ids, sizeof(int64_t) * (size_t)prompt->n_prompt_ids);
    memcpy(ids + prompt->n_prompt_ids, option, sizeof(int64_t) * (size_t)n_option);
    for (int i = 0; i < n; i++) mask[i] = 1;
    jen1_tensor logits = {0};
    char err[512];
    double total = NAN;
    if (jen1_text_forward(model, ids, mask, 1, n, NULL, NULL, &logits, err, sizeof err) == JEN1_OK) {
        const int64_t V = logits.shape[2];
        total = 0;
        for (int t = prompt->n_prompt_ids - 1; t < n - 1; t++) {
            const float *row = (const float *)logits.data + t * V;
            double max = row[0], sum = 0;
            for (int64_t v = 1; v < V; v++) max = fmax(max, row[v]);
            for (int64_t v = 0; v < V; v++) sum += exp(row[v] - max);
            total += row[ids[t + 1]] - max - log(sum);
        }
    }
    jen1_tensor_free(&logits);
    free(ids);
    free(mask);
    return total;
}

TEST(score_options_is_the_log_likelihood_of_each_option)
{
    jen1_text_request prompt = request(0, 0);
    const int64_t o1[] = {100}, o2[] = {200, 201, 202}, o3[] = {758, 5};
    const int64_t *options[] = {o1, o2, o3};
    const int lens[] = {1, 3, 2};
    double lp[3], again[3];
    char err[512];
    REQUIRE(jen1_text_score_options(model, NULL, prompt.prompt_ids, prompt.n_prompt_ids, options, lens, 3, lp, err,
                                    sizeof err) == JEN1_OK,
            "%s", err);
    REQUIRE(jen1_text_score_options(model, NULL, prompt.prompt_ids, prompt.n_prompt_ids, options, lens, 3, again, err,
                                    sizeof err) == JEN1_OK,
            "%s", err);
    for (int i = 0; i < 3; i++) {
        double want = reference_logprob(&prompt, options[i], lens[i]);
        printf("     option %d: %.6f (forward pass: %.6f)\n", i, lp[i], want);
        CHECK(lp[i] < 0 && fabs(lp[i] - want) < 1e-3, "option %d: %.6f vs %.6f", i, lp[i], want);
        CHECK(lp[i] == again[i], "option %d: not deterministic", i);
    }
    const int empty[] = {1, 0, 2};
    CHECK(jen1_text_score_options(model, NULL, prompt.prompt_ids, prompt.n_prompt_ids, options, empty, 3, lp, err,
                                  sizeof err) == JEN1_ERR_INVALID_ARGUMENT,
          "an empty option");
}

TEST(bf16_weights_follow_fp32)
{
    jen1_text_model_params mp = jen1_text_model_default_params();
    mp.weights = JEN1_WEIGHTS_BF16;
    jen1_text_model *bf16;
    char err[512];
    REQUIRE(jen1_text_model_load(model_dir, &mp, &bf16, err, sizeof err) == JEN1_OK, "%s", err);
    jen1_text_generate_params p = jen1_text_generate_default_params(model);
    p.sampling.greedy = 1;
    p.sampling.repetition_penalty = 1.0f;
    p.max_new_tokens = 8;
    jen1_text_request r = request(0, 0);
    jen1_text_output *out32 = NULL, *out16 = NULL;
    jen1_tensor s32 = {0}, s16 = {0};
    REQUIRE(jen1_text_generate_traced(model, &r, 1, &p, &out32, &s32, err, sizeof err) == JEN1_OK, "%s", err);
    REQUIRE(jen1_text_generate_traced(bf16, &r, 1, &p, &out16, &s16, err, sizeof err) == JEN1_OK, "%s", err);
    /* Compare the steps while both followed the same tokens. */
    int64_t same = 0;
    while (same < out32->items[0].n_ids && same < out16->items[0].n_ids &&
           out32->items[0].ids[same] == out16->items[0].ids[same])
        same++;
    const int64_t V = s32.shape[2], steps = same < s16.shape[1] ? same + 1 : same;
    double d = fixture_max_abs_diff(s32.data, s16.data, steps * V);
    printf("     bf16 vs fp32: %lld steps alike, scores max abs diff %.3g\n", (long long)same, d);
    CHECK(same >= 4, "bf16 diverged after %lld tokens", (long long)same);
    CHECK(d > 0 && d < 0.25, "bf16 scores differ by %.3g", d);
    jen1_tensor_free(&s32);
    jen1_tensor_free(&s16);
    jen1_text_output_free(out32);
    jen1_text_output_free(out16);
    jen1_text_model_free(bf16);
}

int main(void)
{
    char err[512];
    snprintf(model_dir, sizeof model_dir, "%s/model", fixture_dir());
    if (jen1_text_model_load(model_dir, NULL, &model, err, sizeof err) != JEN1_OK) {
        fprintf(stderr, "cannot load %s: %s\n", model_dir, err);
        return check_summary("test_text_generate") | 1;
    }
    if (fixture_golden(fixture_dir(), "fwd_input_ids.npy", &input_ids) != 0 ||
        fixture_golden(fixture_dir(), "fwd_attention_mask.npy", &attention_mask) != 0)
        return check_summary("test_text_generate") | 1;
    RUN(a_seed_gives_the_same_tokens_alone_or_in_any_batch);
    RUN(budgets_and_the_position_table_end_generation);
    RUN(ban_special_never_samples_other_special_tokens);
    RUN(abort_and_bad_arguments_are_errors);
    RUN(score_options_is_the_log_likelihood_of_each_option);
    RUN(bf16_weights_follow_fp32);
    npy_free(&input_ids);
    npy_free(&attention_mask);
    jen1_text_model_free(model);
    return check_summary("test_text_generate");
}
