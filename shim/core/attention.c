/* attention.c - a decode step's attention over a bf16 cache (see attention.h).
 *
 * Both halves stream the cache once. The scores hold the query in registers
 * and reduce one key row at a time; the mix keeps a block of 64 output
 * columns in registers and walks every value row for it (one block for the
 * 64-wide heads of every MusicGen size). Columns past the last full vector go
 * through scalar code. Vector kernels use per-function target attributes, as
 * matvec.c does, and the same run-time choice. */
#include "attention.h"

#include <string.h>

#include "matvec.h"

#include "simd_x86.h"

#define ALWAYS_INLINE JEN1_ALWAYS_INLINE

/* Portable C. */

static void generic_scores(const float *q, const void *k, int len, int hd, float *scores, int is_bf16)
{
    for (int j = 0; j < len; j++) {
        size_t row = (size_t)j * hd;
        float sum = 0;
        for (int t = 0; t < hd; t++)
            sum += q[t] * jen1_f32_or_bf16_at(k, row + t, is_bf16);
        scores[j] = sum;
    }
}

/* Columns [t0, hd) of the mix. */
static void generic_mix_columns(const float *p, const void *v, int len, int hd, int t0, float *out, int is_bf16)
{
    for (int t = t0; t < hd; t++)
        out[t] = 0;
    for (int j = 0; j < len; j++) {
        size_t row = (size_t)j * hd;
        for (int t = t0; t < hd; t++)
            out[t] += p[j] * jen1_f32_or_bf16_at(v, row + t, is_bf16);
    }
}

#ifdef JEN1_SIMD_X86
/* ------------------------------------------------------------------------ */
/* AVX-512: 16 lanes. */

#define AVX512 JEN1_AVX512
#define AVX512_QV 8   /* the query in registers: heads up to 128 wide */
#define AVX512_MIX 4  /* output vectors per pass of the mix: 64 columns */

ALWAYS_INLINE AVX512 void avx512_scores_n(const float *q, const void *k, int len, int hd,
                                          float *scores, const int nv, const int is_bf16)
{
    __m512 qv[AVX512_QV];
    _Pragma("GCC unroll 8")
    for (int c = 0; c < nv; c++)
        qv[c] = _mm512_loadu_ps(q + 16 * c);
    for (int j = 0; j < len; j++) {
        size_t row = (size_t)j * hd;
        __m512 acc = _mm512_mul_ps(qv[0], jen1_avx512_load(k, row, is_bf16));
        _Pragma("GCC unroll 8")
        for (int c = 1; c < nv; c++)
            acc = _mm512_fmadd_ps(qv[c], jen1_avx512_load(k, row + 16 * c, is_bf16), acc);
        float sum = _mm512_reduce_add_ps(acc);
        for (int t = 16 * nv; t < hd; t++)
            sum += q[t] * jen1_f32_or_bf16_at(k, row + t, is_bf16);
        scores[j] = sum;
    }
}

#define AVX512_SCORES(is_bf16)                                                               \
    switch (hd / 16) {                                                                       \
    case 1: avx512_scores_n(q, k, len, hd, scores, 1, is_bf16); break;                       \
    case 2: avx512_scores_n(q, k, len, hd, scores, 2, is_bf16); break;                       \
    case 3: avx512_scores_n(q, k, len, hd, scores, 3, is_bf16); break;                       \
    case 4: avx512_scores_n(q, k, len, hd, scores, 4, is_bf16); break;                       \
    case 5: avx512_scores_n(q, k, len, hd, scores, 5, is_bf16); break;                       \
    case 6: avx512_scores_n(q, k, len, hd, scores, 6, is_bf16); break;                       \
    case 7: avx512_scores_n(q, k, len, hd, scores, 7, is_bf16); break;                       \
    case 8: avx512_scores_n(q, k, len, hd, scores, 8, is_bf16); break;                       \
    default: generic_scores(q, k, len, hd, scores, is_bf16); break;                          \
    }

static AVX512 void avx512_scores_bf16(const float *q, const void *k, int len, int hd, float *scores)
{
    AVX512_SCORES(1)
}

static AVX512 void avx512_scores_f32(const float *q, const void *k, int len, int hd, float *scores)
{
    AVX512_SCORES(0)
}

/* Columns [t0, t0 + 16 nv) of the mix. */
ALWAYS_INLINE AVX512 void avx512_mix_block(const float *p, const void *v, int len, int hd, int t0,
                                           float *out, const int nv, const int is_bf16)
{
    __m512 acc[AVX512_MIX];
    _Pragma("GCC unroll 4")
    for (int c = 0; c < nv; c++)
        acc[c] = _mm512_setzero_ps();
    for (int j = 0; j < len; j++) {
        size_t row = (size_t)j * hd + t0;
        __m512 pj = _mm512_set1_ps(p[j]);
        _Pragma("GCC unroll 4")
        for (int c = 0; c < nv; c++)
            acc[c] = _mm512_fmadd_ps(pj, jen1_avx512_load(v, row + 16 * c, is_bf16), acc[c]);
    }
    _Pragma("GCC unroll 4")
    for (int c = 0; c < nv; c++)
        _mm512_storeu_ps(out + t0 + 16 * c, acc[c]);
}

#define AVX512_MIX_ALL(is_bf16)                                                              \
    int t0 = 0;                                                                              \
    for (; t0 + 16 * AVX512_MIX <= hd; t0 += 16 * AVX512_MIX)                                \
        avx512_mix_block(p, v, len, hd, t0, out, AVX512_MIX, is_bf16);                       \
    switch ((hd - t0) / 16) {                                                                \
    case 1: avx512_mix_block(p, v, len, hd, t0, out, 1, is_bf16); t0 += 16; break;           \
    case 2: avx512_mix_block(p, v, len, hd, t0, out, 2, is_bf16); t0 += 32; break;           \
    case 3: avx512_mix_block(p, v, len, hd, t0, out, 3, is_bf16); t0 += 48; break;           \
    default: break;                                                                          \
    }                                                                                        \
    if (t0 < hd)                                                                             \
        generic_mix_columns(p, v, len, hd, t0, out, is_bf16);

static AVX512 void avx512_mix_bf16(const float *p, const void *v, int len, int hd, float *out)
{
    AVX512_MIX_ALL(1)
}

static AVX512 void avx512_mix_f32(const float *p, const void *v, int len, int hd, float *out)
{
    AVX512_MIX_ALL(0)
}

/* ------------------------------------------------------------------------ */
/* AVX2: 8 lanes. */

#define AVX2 JEN1_AVX2
#define AVX2_QV 8   /* heads up to 64 wide in registers */
#define AVX2_MIX 8  /* 64 columns per pass of the mix */

ALWAYS_INLINE AVX2 void avx2_scores_n(const float *q, const void *k, int len, int hd, float *scores,
                                      const int nv, const int is_bf16)
{
    __m256 qv[AVX2_QV];
    _Pragma("GCC unroll 8")
    for (int c = 0; c < nv; c++)
        qv[c] = _mm256_loadu_ps(q + 8 * c);
    for (int j = 0; j < len; j++) {
        size_t row = (size_t)j * hd;
        __m256 acc = _mm256_mul_ps(qv[0], jen1_avx2_load(k, row, is_bf16));
        _Pragma("GCC unroll 8")
        for (int c = 1; c < nv; c++)
            acc = _mm256_fmadd_ps(qv[c], jen1_avx2_load(k, row + 8 * c, is_bf16), acc);
        float sum = jen1_avx2_sum(acc);
        for (int t = 8 * nv; t < hd; t++)
            sum += q[t] * jen1_f32_or_bf16_at(k, row + t, is_bf16);
        scores[j] = sum;
    }
}

#define AVX2_SCORES(is_bf16)                                                                 \
    switch (hd / 8) {                                                                        \
    case 1: avx2_scores_n(q, k, len, hd, scores, 1, is_bf16); break;                         \
    case 2: avx2_scores_n(q, k, len, hd, scores, 2, is_bf16); break;                         \
    case 3: avx2_scores_n(q, k, len, hd, scores, 3, is_bf16); break;                         \
    case 4: avx2_scores_n(q, k, len, hd, scores, 4, is_bf16); break;                         \
    case 5: avx2_scores_n(q, k, len, hd, scores, 5, is_bf16); break;                         \
    case 6: avx2_scores_n(q, k, len, hd, scores, 6, is_bf16); break;                         \
    case 7: avx2_scores_n(q, k, len, hd, scores, 7, is_bf16); break;                         \
    case 8: avx2_scores_n(q, k, len, hd, scores, 8, is_bf16); break;                         \
    default: generic_scores(q, k, len, hd, scores, is_bf16); break;                          \
    }

static AVX2 void avx2_scores_bf16(const float *q, const void *k, int len, int hd, float *scores)
{
    AVX2_SCORES(1)
}

static AVX2 void avx2_scores_f32(const float *q, const void *k, int len, int hd, float *scores)
{
    AVX2_SCORES(0)
}

ALWAYS_INLINE AVX2 void avx2_mix_block(const float *p, const void *v, int len, int hd, int t0,
                                       float *out, const int nv, const int is_bf16)
{
    __m256 acc[AVX2_MIX];
    _Pragma("GCC unroll 8")
    for (int c = 0; c < nv; c++)
        acc[c] = _mm256_setzero_ps();
    for (int j = 0; j < len; j++) {
        size_t row = (size_t)j * hd + t0;
        __m256 pj = _mm256_set1_ps(p[j]);
        _Pragma("GCC unroll 8")
        for (int c = 0; c < nv; c++)
            acc[c] = _mm256_fmadd_ps(pj, jen1_avx2_load(v, row + 8 * c, is_bf16), acc[c]);
    }
    _Pragma("GCC unroll 8")
    for (int c = 0; c < nv; c++)
        _mm256_storeu_ps(out + t0 + 8 * c, acc[c]);
}

#define AVX2_MIX_ALL(is_bf16)                                                                \
    int t0 = 0;                                                                              \
    for (; t0 + 8 * AVX2_MIX <= hd; t0 += 8 * AVX2_MIX)                                      \
        avx2_mix_block(p, v, len, hd, t0, out, AVX2_MIX, is_bf16);                           \
    switch ((hd - t0) / 8) {                                                                 \
    case 1: avx2_mix_block(p, v, len, hd, t0, out, 1, is_bf16); t0 += 8; break;              \
    case 2: avx2_mix_block(p, v, len, hd, t0, out, 2, is_bf16); t0 += 16; break;             \
    case 3: avx2_mix_block(p, v, len, hd, t0, out, 3, is_bf16); t0 += 24; break;             \
    case 4: avx2_mix_block(p, v, len, hd, t0, out, 4, is_bf16); t0 += 32; break;             \
    case 5: avx2_mix_block(p, v, len, hd, t0, out, 5, is_bf16); t0 += 40; break;             \
    case 6: avx2_mix_block(p, v, len, hd, t0, out, 6, is_bf16); t0 += 48; break;             \
    case 7: avx2_mix_block(p, v, len, hd, t0, out, 7, is_bf16); t0 += 56; break;             \
    default: break;                                                                          \
    }                                                                                        \
    if (t0 < hd)                                                                             \
        generic_mix_columns(p, v, len, hd, t0, out, is_bf16);

static AVX2 void avx2_mix_bf16(const float *p, const void *v, int len, int hd, float *out)
{
    AVX2_MIX_ALL(1)
}

static AVX2 void avx2_mix_f32(const float *p, const void *v, int len, int hd, float *out)
{
    AVX2_MIX_ALL(0)
}
#endif /* JEN1_SIMD_X86 */

/* ------------------------------------------------------------------------ */

typedef void scores_fn(const float *q, const void *k, int len, int hd, float *scores);
typedef void mix_fn(const float *p, const void *v, int len, int hd, float *out);

static void generic_scores_bf16(const float *q, const void *k, int len, int hd, float *scores)
{
    generic_scores(q, k, len, hd, scores, 1);
}

static void generic_scores_f32(const float *q, const void *k, int len, int hd, float *scores)
{
    generic_scores(q, k, len, hd, scores, 0);
}

static void generic_mix_bf16(const float *p, const void *v, int len, int hd, float *out)
{
    generic_mix_columns(p, v, len, hd, 0, out, 1);
}

static void generic_mix_f32(const float *p, const void *v, int len, int hd, float *out)
{
    generic_mix_columns(p, v, len, hd, 0, out, 0);
}

/* The kernels of the ISA jen1_matvec_isa() names: [is_bf16]. */
static void pick(scores_fn **scores, mix_fn **mix, int is_bf16)
{
#ifdef JEN1_SIMD_X86
    const char *isa = jen1_matvec_isa();
    if (strncmp(isa, "avx512", 6) == 0) { /* avx512vnni too: it changes only matvec's int8 */
        *scores = is_bf16 ? avx512_scores_bf16 : avx512_scores_f32;
        *mix = is_bf16 ? avx512_mix_bf16 : avx512_mix_f32;
        return;
    }
    if (strcmp(isa, "avx2") == 0) {
        *scores = is_bf16 ? avx2_scores_bf16 : avx2_scores_f32;
        *mix = is_bf16 ? avx2_mix_bf16 : avx2_mix_f32;
        return;
    }
#endif
    *scores = is_bf16 ? generic_scores_bf16 : generic_scores_f32;
    *mix = is_bf16 ? generic_mix_bf16 : generic_mix_f32;
}

static void run_scores(const float *q, const void *k, int len, int hd, float *scores, int is_bf16)
{
    scores_fn *f;
    mix_fn *unused;
    if (len <= 0 || hd <= 0)
        return;
    pick(&f, &unused, is_bf16);
    f(q, k, len, hd, scores);
}

static void run_mix(const float *p, const void *v, int len, int hd, float *out, int is_bf16)
{
    scores_fn *unused;
    mix_fn *f;
    if (hd <= 0)
        return;
    pick(&unused, &f, is_bf16);
    f(p, v, len < 0 ? 0 : len, hd, out);
}

void jen1_attn_scores_bf16(const float *q, const uint16_t *k, int len, int hd, float *scores)
{
    run_scores(q, k, len, hd, scores, 1);
}

void jen1_attn_mix_bf16(const float *p, const uint16_t *v, int len, int hd, float *out)
{
    run_mix(p, v, len, hd, out, 1);
}

void jen1_attn_scores_f32(const float *q, const float *k, int len, int hd, float *scores)
{
    run_scores(q, k, len, hd, scores, 0);
}

void jen1_attn_mix_f32(const float *p, const float *v, int len, int hd, float *out)
{
    run_mix(p, v, len, hd, out, 0);
}
