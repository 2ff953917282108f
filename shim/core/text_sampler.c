/* text_sampler.c - see text_sampler.h. */
#include "text_sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A finite score and its token, for top-p's sort. */
typedef struct { float score; int index; } scored;

size_t jen1_text_scratch_bytes(int n)
{
    return (size_t)(n > 0 ? n : 1) * sizeof(scored);
}

void jen1_text_repetition_penalty(float *scores, int n, const int64_t *context, int n_context, float penalty,
                                  void *scratch)
{
    if (penalty == 1.0f) return;
    /* The reference gathers, penalises and scatters: a repeated id is
     * penalised once. */
    unsigned char *seen = scratch;
    memset(seen, 0, (size_t)n);
    for (int i = 0; i < n_context; i++) {
        int64_t id = context[i];
        if (id < 0 || id >= n || seen[id]) continue;
        seen[id] = 1;
        scores[id] = scores[id] < 0 ? scores[id] * penalty : scores[id] / penalty;
    }
}

void jen1_text_temperature(float *scores, int n, float temperature)
{
    for (int i = 0; i < n; i++) scores[i] /= temperature;
}

/* The k-th largest (1-based) of a[0..n), reordering a (Hoare's selection). */
static float kth_largest(float *a, int n, int k)
{
    int lo = 0, hi = n - 1;
    const int target = k - 1;
    while (lo < hi) {
        float pivot = a[lo + (hi - lo) / 2];
        int i = lo, j = hi;
        while (i <= j) {
            while (a[i] > pivot) i++;
            while (a[j] < pivot) j--;
            if (i <= j) {
                float t = a[i];
                a[i++] = a[j];
                a[j--] = t;
            }
        }
        if (target <= j)
            hi = j;
        else if (target >= i)
            lo = i;
        else
            break;  /* a[j+1..i-1] all equal the pivot */
    }
    return a[target];
}

void jen1_text_top_k(float *scores, int n, int k, void *scratch)
{
    if (k <= 0 || k >= n) return;
    float *copy = scratch;
    for (int i = 0; i < n; i++) {
        if (isnan(scores[i])) return;  /* no order to select by */
        copy[i] = scores[i];
    }
    const float threshold = kth_largest(copy, n, k);
    for (int i = 0; i < n; i++)
        if (scores[i] < threshold) scores[i] = -INFINITY;
}

static int by_score_asc(const void *a, const void *b)
{
    const scored *x = a, *y = b;
    if (x->score < y->score) return -1;
    if (x->score > y->score) return 1;
    return x->index - y->index;
}

void jen1_text_top_p(float *scores, int n, float top_p, void *scratch)
{
    if (top_p >= 1.0f) return;
    /* -inf tokens have probability 0 and are already removed: only the
     * finite ones are sorted (after top-k, a handful). */
    scored *c = scratch;
    int m = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(scores[i])) c[m++] = (scored){scores[i], i};
    if (m <= 1) return;
    qsort(c, (size_t)m, sizeof *c, by_score_asc);

    /* As the reference: float probabilities, their running sum kept in
     * double (ATen's CPU cumsum), compared in float with 1 - top_p. */
    const float max = c[m - 1].score;
    double total = 0;
    for (int i = 0; i < m; i++) total += exp((double)c[i].score - max);
    const float limit = (float)(1.0 - (double)top_p);
    double cumulative = 0;
    for (int i = 0; i < m - 1; i++) {
        cumulative += (float)(exp((double)c[i].score - max) / total);
        if ((float)cumulative > limit) break;
        scores[c[i].index] = -INFINITY;
    }
}

void jen1_text_process(float *scores, int n, const int64_t *context, int n_context, const jen1_text_sampling *s,
                       void *scratch)
{
    jen1_text_repetition_penalty(scores, n, context, n_context, s->repetition_penalty, scratch);
    if (s->greedy) return;
    jen1_text_temperature(scores, n, s->temperature);
    jen1_text_top_k(scores, n, s->top_k, scratch);
    jen1_text_top_p(scores, n, s->top_p, scratch);
}

int jen1_text_pick(const float *scores, int n, int greedy, jen1_rng *rng)
{
    int best = jen1_argmax(scores, n);
    if (greedy || !isfinite(scores[best])) return best;
    const float max = scores[best];
    double total = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(scores[i])) total += exp((double)scores[i] - max);
    double u = jen1_rng_uniform(rng) * total;
    int last = best;
    for (int i = 0; i < n; i++) {
        if (!isfinite(scores[i])) continue;
        last = i;
        u -= exp((double)scores[i] - max);
        if (u < 0) return i;
    }
    return last;
}
