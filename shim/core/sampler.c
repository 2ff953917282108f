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

int jen1_sample(const float *logits, int n, const jen1_sampling *p, jen1_rng *rng, void *scratch)
{
    if (p->greedy || n == 1) return jen1_argmax(logits, n);

    candidate *c = scratch;
    for (int i = 0; i < n; i++) {
        c[i].score = logits[i] / p->temperature;
        c[i].index = i;
    }
    qsort(c, (size_t)n, sizeof *c, by_score_desc);

    /* Top-k keeps every candidate that ties the k-th score, like the
     * reference's "remove what is below the k-th largest". */
    int keep = n;
    if (p->top_k > 0 && p->top_k < n) {
        keep = p->top_k;
        while (keep < n && c[keep].score == c[keep - 1].score) keep++;
    }

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
