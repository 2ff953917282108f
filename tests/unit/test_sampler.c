/* test_sampler.c - jen1_sample's draws against a reference sampler that sorts
 * the whole vocabulary (what jen1_sample did before it selected the top k):
 * the same seed must give the same token for every top-k, top-p and
 * temperature, with the ties a flat distribution has (top-k keeps every
 * candidate tied with the k-th), all scores equal, and NaN among them. */
#include "check.h"
#include "sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { VOCAB = 2048 };

typedef struct { float score; int index; } ref_candidate;

static int ref_order(const void *a, const void *b)
{
    const ref_candidate *x = a, *y = b;
    if (x->score > y->score) return -1;
    if (x->score < y->score) return 1;
    return x->index - y->index;
}

/* The reference: sort everything by score (ties by index), keep the top k
 * and its ties, top-p from the least likely up, draw. */
static int ref_sample(const float *logits, int n, const jen1_sampling *p, jen1_rng *rng)
{
    static ref_candidate c[VOCAB];
    for (int i = 0; i < n; i++) c[i] = (ref_candidate){logits[i] / p->temperature, i};
    qsort(c, (size_t)n, sizeof *c, ref_order);
    int keep = n;
    if (p->top_k > 0 && p->top_k < n) {
        keep = p->top_k;
        while (keep < n && c[keep].score == c[keep - 1].score) keep++;
    }
    double total = 0;
    const float max = c[0].score;
    for (int i = 0; i < keep; i++) total += exp((double)c[i].score - max);
    if (p->top_p < 1.0f) {
        double tail = 0, limit = 1.0 - (double)p->top_p;
        int i = keep - 1;
        while (i > 0) {
            double prob = exp((double)c[i].score - max) / total;
            if (tail + prob > limit) break;
            tail += prob;
            i--;
        }
        keep = i + 1;
        total = 0;
        for (int j = 0; j < keep; j++) total += exp((double)c[j].score - max);
    }
    double u = jen1_rng_uniform(rng) * total;
    for (int i = 0; i < keep; i++) {
        u -= exp((double)c[i].score - max);
        if (u < 0) return c[i].index;
    }
    return c[keep - 1].index;
}

static uint32_t lcg = 2024;

static uint32_t lcg_next(void)
{
    lcg = lcg * 1664525u + 1013904223u;
    return lcg >> 8;
}

/* Scores on `levels` distinct values (few levels: many ties), or continuous
 * when levels is 0. */
static void fill_scores(float *x, int n, int levels)
{
    for (int i = 0; i < n; i++) {
        uint32_t r = lcg_next();
        x[i] = levels ? (float)(r % (uint32_t)levels) * 0.25f - 2.0f : (float)r / (float)(1u << 24) * 8.0f - 4.0f;
    }
}

/* Draws `draws` tokens from each of `arrays` score arrays with both
 * samplers, the same seed each; returns how many differed. */
static int count_differences(int n, int levels, const jen1_sampling *p, int arrays, int draws)
{
    static float x[VOCAB];
    static char scratch[2 * VOCAB * sizeof(float)];
    int differ = 0;
    for (int a = 0; a < arrays; a++) {
        fill_scores(x, n, levels);
        for (int d = 0; d < draws; d++) {
            jen1_rng r1, r2;
            jen1_rng_seed(&r1, (uint64_t)(a * 1000 + d));
            jen1_rng_seed(&r2, (uint64_t)(a * 1000 + d));
            int got = jen1_sample(x, n, p, &r1, scratch), want = ref_sample(x, n, p, &r2);
            if (got != want) differ++;
        }
    }
    return differ;
}

TEST(draws_match_a_full_sort_for_every_filter)
{
    const int top_ks[] = {0, 1, 2, 7, 50, 250, 2047, 2048, 5000};
    const float top_ps[] = {1.0f, 0.9f, 0.3f};
    const float temperatures[] = {1.0f, 0.7f};
    const int levels[] = {0, 3, 16, 200};
    int cases = 0;
    for (size_t k = 0; k < sizeof top_ks / sizeof *top_ks; k++)
        for (size_t t = 0; t < sizeof top_ps / sizeof *top_ps; t++)
            for (size_t m = 0; m < sizeof temperatures / sizeof *temperatures; m++)
                for (size_t l = 0; l < sizeof levels / sizeof *levels; l++) {
                    jen1_sampling p = {.temperature = temperatures[m], .top_k = top_ks[k], .top_p = top_ps[t]};
                    int differ = count_differences(VOCAB, levels[l], &p, 3, 20);
                    CHECK(differ == 0, "top_k %d top_p %g temperature %g levels %d: %d of 60 draws differ",
                          top_ks[k], top_ps[t], temperatures[m], levels[l], differ);
                    cases++;
                }
    CHECK(cases == 216, "%d cases", cases);
}

TEST(short_vocabularies_match_too)
{
    for (int n = 2; n <= 70; n++) {
        jen1_sampling p = {.temperature = 1.0f, .top_k = n / 2 + 1, .top_p = 1.0f};
        CHECK(count_differences(n, 4, &p, 2, 10) == 0, "n %d", n);
    }
}

/* Every score equal: top-k's ties keep the whole vocabulary, so the draw is
 * uniform over it; both samplers must agree draw by draw. */
TEST(all_equal_scores_keep_everything)
{
    static float x[VOCAB];
    static char scratch[2 * VOCAB * sizeof(float)];
    for (int i = 0; i < VOCAB; i++) x[i] = 1.5f;
    jen1_sampling p = {.temperature = 1.0f, .top_k = 50, .top_p = 1.0f};
    int above_k = 0;
    for (int d = 0; d < 200; d++) {
        jen1_rng r1, r2;
        jen1_rng_seed(&r1, (uint64_t)d);
        jen1_rng_seed(&r2, (uint64_t)d);
        int got = jen1_sample(x, VOCAB, &p, &r1, scratch);
        CHECK(got == ref_sample(x, VOCAB, &p, &r2), "draw %d", d);
        above_k += got >= 50;
    }
    CHECK(above_k > 150, "only %d of 200 draws beyond index 50: the ties were not kept", above_k);
}

TEST(nan_scores_draw_as_the_full_sort_does)
{
    static float x[VOCAB];
    fill_scores(x, VOCAB, 0);
    x[17] = NAN;
    x[900] = NAN;
    jen1_sampling p = {.temperature = 1.0f, .top_k = 50, .top_p = 0.9f};
    static char scratch[2 * VOCAB * sizeof(float)];
    for (int d = 0; d < 50; d++) {
        jen1_rng r1, r2;
        jen1_rng_seed(&r1, (uint64_t)d);
        jen1_rng_seed(&r2, (uint64_t)d);
        CHECK(jen1_sample(x, VOCAB, &p, &r1, scratch) == ref_sample(x, VOCAB, &p, &r2), "draw %d", d);
    }
}

int main(void)
{
    RUN(draws_match_a_full_sort_for_every_filter);
    RUN(short_vocabularies_match_too);
    RUN(all_equal_scores_keep_everything);
    RUN(nan_scores_draw_as_the_full_sort_does);
    return check_summary("test_sampler");
}
