/* test_attention.c - the decode-step attention kernels (bf16 and fp32 caches) against a double-precision
 * reference, on every kernel this CPU can run: every head width's vector and
 * scalar columns, one to many positions, nothing read past the cache's last
 * row or written past the output. */
#include "attention.h"
#include "check.h"
#include "matvec.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

static const char *const all_isas[] = {"generic", "avx2", "avx512"};

static uint32_t rng_state = 777;

static float rng_float(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)(rng_state >> 8) / (float)(1u << 23) - 1.0f;
}

static int is_nan_guard(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    return bits == 0x7fc00000u;
}

/* One head: query, len cached rows of keys and values, probabilities. The row
 * after the last is NaN (bf16 0x7fc0), so a kernel reading it poisons its
 * result; the outputs carry a NaN guard past their end. */
struct head {
    int len, hd;
    float *q, *p, *scores, *out;
    uint16_t *k, *v;
    float *k32, *v32;   /* the same cache widened: the fp32 kernels' input */
};

static int head_alloc(struct head *h, int len, int hd)
{
    h->len = len;
    h->hd = hd;
    size_t cells = (size_t)(len + 1) * hd;
    h->q = malloc(sizeof(float) * hd);
    h->p = malloc(sizeof(float) * len);
    h->scores = malloc(sizeof(float) * (len + 1));
    h->out = malloc(sizeof(float) * (hd + 1));
    h->k = malloc(sizeof(uint16_t) * cells);
    h->v = malloc(sizeof(uint16_t) * cells);
    h->k32 = malloc(sizeof(float) * cells);
    h->v32 = malloc(sizeof(float) * cells);
    if (!h->q || !h->p || !h->scores || !h->out || !h->k || !h->v || !h->k32 || !h->v32)
        return -1;
    float *tmp = calloc(cells, sizeof(float));
    if (!tmp)
        return -1;
    for (int t = 0; t < hd; t++)
        h->q[t] = rng_float();
    for (size_t e = 0; e < cells; e++)
        tmp[e] = e < (size_t)len * hd ? rng_float() : NAN;
    jen1_f32_to_bf16(tmp, h->k, cells);
    for (size_t e = 0; e < cells; e++)
        tmp[e] = e < (size_t)len * hd ? rng_float() : NAN;
    jen1_f32_to_bf16(tmp, h->v, cells);
    free(tmp);
    for (size_t e = 0; e < cells; e++) {
        h->k32[e] = jen1_bf16_to_f32(h->k[e]);
        h->v32[e] = jen1_bf16_to_f32(h->v[e]);
    }
    double total = 0;
    for (int j = 0; j < len; j++)
        total += h->p[j] = (float)(rng_float() + 1.5);
    for (int j = 0; j < len; j++)
        h->p[j] = (float)(h->p[j] / total);
    return 0;
}

static void head_free(struct head *h)
{
    free(h->q);
    free(h->p);
    free(h->scores);
    free(h->out);
    free(h->k);
    free(h->v);
    free(h->k32);
    free(h->v32);
}

/* Runs both kernels on one head with the current ISA, over the bf16 cache or
 * its fp32 widening (the same values); returns bad entries. */
static int head_check(struct head *h, const char *isa, int fp32)
{
    int bad = 0;
    const float guard = jen1_bf16_to_f32(0x7fc0);
    for (int j = 0; j <= h->len; j++)
        h->scores[j] = guard;
    for (int t = 0; t <= h->hd; t++)
        h->out[t] = guard;
    if (fp32) {
        jen1_attn_scores_f32(h->q, h->k32, h->len, h->hd, h->scores);
        jen1_attn_mix_f32(h->p, h->v32, h->len, h->hd, h->out);
    } else {
        jen1_attn_scores_bf16(h->q, h->k, h->len, h->hd, h->scores);
        jen1_attn_mix_bf16(h->p, h->v, h->len, h->hd, h->out);
    }
    if (!is_nan_guard(h->scores[h->len]) || !is_nan_guard(h->out[h->hd])) {
        fprintf(stderr, "  [%s len=%d hd=%d] wrote past the end\n", isa, h->len, h->hd);
        bad++;
    }
    for (int j = 0; j < h->len; j++) {
        double want = 0, magnitude = 0;
        for (int t = 0; t < h->hd; t++) {
            double term = (double)h->q[t] * jen1_bf16_to_f32(h->k[(size_t)j * h->hd + t]);
            want += term;
            magnitude += fabs(term);
        }
        double bound = (h->hd + 16.0) * FLT_EPSILON * magnitude + 1e-30;
        if (!(fabs(h->scores[j] - want) <= bound) && bad++ < 3)
            fprintf(stderr, "  [%s len=%d hd=%d] score %d = %.9g, want %.9g\n", isa, h->len, h->hd, j,
                    h->scores[j], want);
    }
    for (int t = 0; t < h->hd; t++) {
        double want = 0, magnitude = 0;
        for (int j = 0; j < h->len; j++) {
            double term = (double)h->p[j] * jen1_bf16_to_f32(h->v[(size_t)j * h->hd + t]);
            want += term;
            magnitude += fabs(term);
        }
        /* One running sum per column: len roundings. */
        double bound = (h->len + 16.0) * FLT_EPSILON * magnitude + 1e-30;
        if (!(fabs(h->out[t] - want) <= bound) && bad++ < 3)
            fprintf(stderr, "  [%s len=%d hd=%d] out %d = %.9g, want %.9g\n", isa, h->len, h->hd, t, h->out[t],
                    want);
    }
    return bad;
}

TEST(every_head_width_and_length)
{
    static const int hds[] = {1, 7, 8, 9, 15, 16, 17, 24, 40, 64, 72, 80, 128, 136, 200};
    static const int lens[] = {1, 2, 5, 33, 600};
    int bad = 0, cases = 0, isas = 0;
    for (size_t i = 0; i < sizeof all_isas / sizeof all_isas[0]; i++) {
        if (jen1_matvec_force_isa(all_isas[i]) != 0)
            continue;
        isas++;
        for (size_t a = 0; a < sizeof hds / sizeof hds[0]; a++)
            for (size_t b = 0; b < sizeof lens / sizeof lens[0]; b++, cases++) {
                struct head h = {0};
                REQUIRE(head_alloc(&h, lens[b], hds[a]) == 0, "out of memory");
                bad += head_check(&h, all_isas[i], 0) + head_check(&h, all_isas[i], 1);
                head_free(&h);
            }
    }
    jen1_matvec_force_isa(NULL);
    CHECK(isas >= 1, "no kernel ran");
    CHECK(bad == 0, "%d wrong outputs over %d cases", bad, cases);
}

/* A window's worth of positions at MusicGen's head width. */
TEST(a_full_window_of_positions)
{
    int bad = 0;
    for (size_t i = 0; i < sizeof all_isas / sizeof all_isas[0]; i++) {
        if (jen1_matvec_force_isa(all_isas[i]) != 0)
            continue;
        struct head h = {0};
        REQUIRE(head_alloc(&h, 1500, 64) == 0, "out of memory");
        bad += head_check(&h, all_isas[i], 0) + head_check(&h, all_isas[i], 1);
        head_free(&h);
    }
    jen1_matvec_force_isa(NULL);
    CHECK(bad == 0, "%d wrong outputs", bad);
}

/* No positions: no scores, and the mix is all zeros. */
TEST(empty_cache)
{
    float q[16] = {1}, p[1] = {1}, scores[1] = {7}, out[16];
    uint16_t cache[16] = {0x3f80};
    for (size_t i = 0; i < sizeof all_isas / sizeof all_isas[0]; i++) {
        if (jen1_matvec_force_isa(all_isas[i]) != 0)
            continue;
        for (int t = 0; t < 16; t++)
            out[t] = 7;
        jen1_attn_scores_bf16(q, cache, 0, 16, scores);
        jen1_attn_mix_bf16(p, cache, 0, 16, out);
        int zeros = 0;
        for (int t = 0; t < 16; t++)
            zeros += out[t] == 0.0f;
        CHECK(scores[0] == 7 && zeros == 16, "[%s] empty cache: score %g, %d zeros", all_isas[i], scores[0],
              zeros);
    }
    jen1_matvec_force_isa(NULL);
}

int main(void)
{
    RUN(every_head_width_and_length);
    RUN(a_full_window_of_positions);
    RUN(empty_cache);
    return check_summary("test_attention");
}
