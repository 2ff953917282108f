/* sampler.c - see sampler.h. */
#include "sampler.h"

#include <math.h>
#include <stdlib.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void jen1_rng_seed(jen1_rng *rng, uint64_t seed)
{
    for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t jen1_rng_next(jen1_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double jen1_rng_uniform(jen1_rng *rng)
{
    return (double)(jen1_rng_next(rng) >> 11) * 0x1.0p-53;
}

int jen1_argmax(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best] || (isnan(x[i]) && !isnan(x[best]))) best = i;
    return best;
}

/* Candidates are (score, index) pairs sorted by descending score. */
typedef struct { float score; int index; } candidate;

static int by_score_desc(const void *a, const void *b)
{
    const candidate *x = a, *y = b;
    if (x->score > y->score) return -1;
    if (x->score < y->score) return 1;
    return x->index - y->index;
}

static int comes_before(const candidate *x, const candidate *y)
{
    return x->score > y->score || (x->score == y->score && x->index < y->index);
}

static void swap_candidates(candidate *c, int i, int j)
{
    candidate t = c[i];
    c[i] = c[j];
    c[j] = t;
}

/* Rearranges c[0, n) so that its first k (0 < k < n) are the k first in
 * by_score_desc's order, in no particular order themselves (quickselect
 * with a median-of-three pivot; no NaN among the scores). */
static void select_first(candidate *c, int n, int k)
{
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (comes_before(&c[mid], &c[lo])) swap_candidates(c, mid, lo);
        if (comes_before(&c[hi], &c[lo])) swap_candidates(c, hi, lo);
        if (comes_before(&c[hi], &c[mid])) swap_candidates(c, hi, mid);
        candidate pivot = c[mid];
        int i = lo, j = hi;
        while (i <= j) {
            while (comes_before(&c[i], &pivot)) i++;
            while (comes_before(&pivot, &c[j])) j--;
            if (i <= j) swap_candidates(c, i++, j--);
        }
        if (k - 1 <= j) hi = j;
        else if (k - 1 >= i) lo = i;
        else return;
    }
}

/* Top-k keeps every candidate that ties the k-th score, like the reference's
 * "remove what is below the k-th largest". Returns how many candidates are
 * kept, those first in c and sorted as by_score_desc sorts them (any_nan:
 * some score is NaN). Only the
 * kept ones are sorted (a selection, then a sort of ~k): sorting all of a
 * 2048-code vocabulary took 0.2 ms a draw, 6 ms of each step of 8 guided
 * songs. The kept prefix is the one a sort of everything gives: the order
 * is total (ties broken by index). */
static int keep_top_k(candidate *c, int n, int top_k, int any_nan)
{
    if (top_k <= 0 || top_k >= n || any_nan) { /* NaN has no place in a selection: sort it all as before */
        qsort(c, (size_t)n, sizeof *c, by_score_desc);
        int keep = n;
        if (top_k > 0 && top_k < n) {
            keep = top_k;
            while (keep < n && c[keep].score == c[keep - 1].score) keep++;
        }
        return keep;
    }
    select_first(c, n, top_k);
    float kth = c[0].score;
    for (int i = 1; i < top_k; i++)
        if (c[i].score < kth) kth = c[i].score;
    int keep = top_k;
    for (int i = top_k; i < n; i++)
        if (c[i].score == kth) swap_candidates(c, keep++, i);
    qsort(c, (size_t)keep, sizeof *c, by_score_desc);
    return keep;
}

int jen1_sample(const float *logits, int n, const jen1_sampling *p, jen1_rng *rng, void *scratch)
{
    if (p->greedy || n == 1) return jen1_argmax(logits, n);

    candidate *c = scratch;
    int any_nan = 0;
    for (int i = 0; i < n; i++) {
        c[i].score = logits[i] / p->temperature;
        c[i].index = i;
        any_nan |= isnan(c[i].score);
    }
    int keep = keep_top_k(c, n, p->top_k, any_nan);

    /* Softmax over what top-k kept. */
    double total = 0;
    const float max = c[0].score;
    for (int i = 0; i < keep; i++) total += exp((double)c[i].score - max);

    /* Top-p drops the least likely tokens whose cumulative probability,
     * counted from the least likely up, stays within 1 - top_p; the most
     * likely token always stays. */
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
