/* matvec.c - skinny matrix products (see matvec.h), one kernel per ISA.
 *
 * Every kernel walks the output columns in tiles of a few weight rows and, for
 * each tile, a chunk of at most a few input rows: the tile's weight rows
 * stream through once per chunk while the chunk x tile accumulators stay in
 * registers, so for m up to the chunk size each weight byte is read exactly
 * once, and further chunks find the tile's weights still in L1/L2. While a
 * tile is computed, the next one is prefetched into L2.
 *
 * Three weight layouts share the kernels (enum weight_kind): fp32, bf16
 * (widened by a shift) and int8 (widened by a sign extension and a
 * conversion, both exact); products and sums are fp32 for all three, and an
 * int8 row's scale multiplies its finished sum once. On AVX512-VNNI CPUs int8
 * has a kernel of its own instead, with int16 activations and integer dot
 * products (below the AVX2 one).
 *
 * The vector kernels are compiled with per-function target attributes and
 * chosen at run time, so the file builds with plain -O2 on any compiler that
 * knows the attributes, and on other architectures only the portable C
 * kernel is compiled. */
#include "matvec.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "simd_x86.h"

#define ALWAYS_INLINE JEN1_ALWAYS_INLINE

typedef void matvec_fn(const float *x, int m, int k, int ldx, const void *w, const float *scale,
                       const float *bias, float *y, int ldy, int j0, int j1);

enum weight_kind { W_F32, W_BF16, W_I8 };

static const size_t weight_bytes[] = {4, 2, 1};

/* Element `at` of the weights as fp32 (exact for every kind). */
ALWAYS_INLINE float weight_at(const void *w, size_t at, int kind)
{
    if (kind == W_I8)
        return (float)((const int8_t *)w)[at];
    return jen1_f32_or_bf16_at(w, at, kind == W_BF16);
}

/* Output column j from its finished dot product: scaled (int8), biased. */
ALWAYS_INLINE float column_out(float sum, const float *scale, const float *bias, int j)
{
    return (scale ? sum * scale[j] : sum) + (bias ? bias[j] : 0.0f);
}

/* ------------------------------------------------------------------------ */
/* Portable C. Each accumulator is GENERIC_LANES independent partial sums,
 * which keeps the summation well conditioned and lets a compiler map the
 * lane loop onto whatever SIMD unit the target has. */

#define GENERIC_MR 2
#define GENERIC_NJ 4
#define GENERIC_LANES 8

ALWAYS_INLINE void generic_tile(const float *x, int ldx, int k, const void *w,
                                int kind, const float *scale, const float *bias,
                                float *y, int ldy, int j, int mr, int nj)
{
    float acc[GENERIC_MR][GENERIC_NJ][GENERIC_LANES];
    memset(acc, 0, sizeof acc);
    size_t row0 = (size_t)j * (size_t)k;
    int t = 0;
    for (; t + GENERIC_LANES <= k; t += GENERIC_LANES)
        for (int c = 0; c < nj; c++) {
            float wv[GENERIC_LANES];
            for (int l = 0; l < GENERIC_LANES; l++)
                wv[l] = weight_at(w, row0 + (size_t)c * k + t + l, kind);
            for (int r = 0; r < mr; r++)
                for (int l = 0; l < GENERIC_LANES; l++)
                    acc[r][c][l] += x[(size_t)r * ldx + t + l] * wv[l];
        }
    for (; t < k; t++)
        for (int c = 0; c < nj; c++) {
            float wt = weight_at(w, row0 + (size_t)c * k + t, kind);
            for (int r = 0; r < mr; r++)
                acc[r][c][0] += x[(size_t)r * ldx + t] * wt;
        }
    for (int r = 0; r < mr; r++)
        for (int c = 0; c < nj; c++) {
            float sum = 0.0f;
            for (int l = 0; l < GENERIC_LANES; l++)
                sum += acc[r][c][l];
            y[(size_t)r * ldy + j + c] = column_out(sum, scale, bias, j + c);
        }
}

ALWAYS_INLINE void generic_matvec(const float *x, int m, int k, int ldx,
                                  const void *w, int kind, const float *scale,
                                  const float *bias, float *y, int ldy, int j0, int j1)
{
    for (int j = j0; j < j1;) {
        int nj = j1 - j < GENERIC_NJ ? j1 - j : GENERIC_NJ;
        for (int r0 = 0; r0 < m; r0 += GENERIC_MR) {
            int mr = m - r0 < GENERIC_MR ? m - r0 : GENERIC_MR;
            generic_tile(x + (size_t)r0 * ldx, ldx, k, w, kind, scale, bias,
                         y + (size_t)r0 * ldy, ldy, j, mr, nj);
        }
        j += nj;
    }
}

/* One entry point per ISA and weight kind, for the dispatch tables. */
#define MATVEC_ENTRY(attr, isa, name, kind)                                              \
    static attr void isa##_##name(const float *x, int m, int k, int ldx, const void *w,  \
                                  const float *scale, const float *bias, float *y,       \
                                  int ldy, int j0, int j1)                               \
    {                                                                                    \
        isa##_matvec(x, m, k, ldx, w, kind, scale, bias, y, ldy, j0, j1);                \
    }

MATVEC_ENTRY(, generic, f32, W_F32)
MATVEC_ENTRY(, generic, bf16, W_BF16)
MATVEC_ENTRY(, generic, i8, W_I8)

#ifdef JEN1_SIMD_X86
/* The hardware prefetcher follows each weight row only after it has started,
 * and rows of 2-4 KB end soon after: streaming into L2 the same place of the
 * next tile's rows, one tile ahead, measured 1.2-2x faster for k = 1024. A
 * prefetch never faults, so running past the matrix's end is harmless. */
ALWAYS_INLINE void prefetch_next_tile(const void *w, size_t at, int kind)
{
    uintptr_t address = (uintptr_t)w + at * weight_bytes[kind];
    _mm_prefetch((const char *)address, _MM_HINT_T1);
}

/* ------------------------------------------------------------------------ */
/* AVX-512. A tile of mr input rows x nj weight rows keeps mr * nj
 * accumulators, the mr x vectors and one weight vector in the 32 zmm
 * registers: up to 3 rows take 8 weight rows at a time (more concurrent
 * weight streams measured ~15% faster than 4 on the memory-bound small m),
 * more rows go in chunks of 4 over 6 weight rows, which needs fewer loads
 * per FMA once the product is bound by arithmetic. */

#define AVX512 JEN1_AVX512
#define AVX512_MAX_MR 4
#define AVX512_MAX_NJ 8

/* 16 weights from element `at` on as fp32; int8 widened here (the
 * avx512vnni kernel below rounds the activations to int16 instead). */
ALWAYS_INLINE AVX512 __m512 avx512_weights(const void *w, size_t at, int kind)
{
    if (kind != W_I8)
        return jen1_avx512_load(w, at, kind == W_BF16);
    __m128i q = _mm_loadu_si128((const __m128i *)((const int8_t *)w + at));
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q));
}

/* The last k % 16 elements; masked-off lanes read nothing and are zero. */
ALWAYS_INLINE AVX512 __m512 avx512_weights_tail(const void *w, size_t at,
                                                __mmask16 mask, int kind)
{
    if (kind == W_F32)
        return _mm512_maskz_loadu_ps(mask, (const float *)w + at);
    if (kind == W_I8)
        return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(mask, (const int8_t *)w + at)));
    __m256i h = _mm256_maskz_loadu_epi16(mask, (const uint16_t *)w + at);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* The accumulators stay in registers only when mr and nj are constants and
 * the loops over them are unrolled away. */
ALWAYS_INLINE AVX512 void avx512_tile(const float *x, int ldx, int k,
                                      const void *w, int kind, const float *scale,
                                      const float *bias, float *y, int ldy,
                                      int j, const int mr, const int nj)
{
    __m512 acc[AVX512_MAX_MR][AVX512_MAX_NJ];
    __m512 xv[AVX512_MAX_MR];
    _Pragma("GCC unroll 8")
    for (int r = 0; r < mr; r++)
        _Pragma("GCC unroll 8")
        for (int c = 0; c < nj; c++)
            acc[r][c] = _mm512_setzero_ps();
    size_t row0 = (size_t)j * (size_t)k;
    int t = 0;
    for (; t + 16 <= k; t += 16) {
        _Pragma("GCC unroll 8")
        for (int r = 0; r < mr; r++)
            xv[r] = _mm512_loadu_ps(x + (size_t)r * ldx + t);
        _Pragma("GCC unroll 8")
        for (int c = 0; c < nj; c++) {
            /* int8: 16 weights are a quarter line, so one hint per line. */
            if (kind != W_I8 || t % 64 == 0)
                prefetch_next_tile(w, row0 + (size_t)(c + nj) * k + t, kind);
            if (kind == W_BF16) /* a second hint for the same line measured ~10% faster */
                prefetch_next_tile(w, row0 + (size_t)(c + nj) * k + t + 8, kind);
            __m512 wv = avx512_weights(w, row0 + (size_t)c * k + t, kind);
            _Pragma("GCC unroll 8")
            for (int r = 0; r < mr; r++)
                acc[r][c] = _mm512_fmadd_ps(xv[r], wv, acc[r][c]);
        }
    }
    if (t < k) {
        __mmask16 mask = (__mmask16)((1u << (k - t)) - 1);
        _Pragma("GCC unroll 8")
        for (int r = 0; r < mr; r++)
            xv[r] = _mm512_maskz_loadu_ps(mask, x + (size_t)r * ldx + t);
        _Pragma("GCC unroll 8")
        for (int c = 0; c < nj; c++) {
            __m512 wv = avx512_weights_tail(w, row0 + (size_t)c * k + t, mask, kind);
            _Pragma("GCC unroll 8")
            for (int r = 0; r < mr; r++)
                acc[r][c] = _mm512_fmadd_ps(xv[r], wv, acc[r][c]);
        }
    }
    _Pragma("GCC unroll 8")
    for (int r = 0; r < mr; r++)
        _Pragma("GCC unroll 8")
        for (int c = 0; c < nj; c++)
            y[(size_t)r * ldy + j + c] = column_out(_mm512_reduce_add_ps(acc[r][c]), scale, bias, j + c);
}

/* The tile schedule of the AVX-512 kernels (this one and the VNNI int8
 * one): columns [j0, j1) in tiles of tile_nj (the last (j1 - j0) % tile_nj
 * one at a time), rows in chunks; tile(r0, j, rows, cols) runs one tile with
 * rows and cols constants, one case for every (rows, cols) the loops make. */
#define AVX512_TILES(m, j0, j1, tile)                                                   \
    do {                                                                                \
        int chunk_ = (m) <= 3 ? (m) : 4, tile_nj_ = (m) <= 3 ? 8 : 6;                   \
        for (int j_ = (j0); j_ < (j1);) {                                               \
            int nj_ = (j1) - j_ >= tile_nj_ ? tile_nj_ : 1;                             \
            for (int r0_ = 0; r0_ < (m); r0_ += chunk_) {                               \
                int mr_ = (m) - r0_ < chunk_ ? (m) - r0_ : chunk_;                      \
                switch (mr_ * 16 + nj_) {                                               \
                case 1 * 16 + 8: tile(r0_, j_, 1, 8); break;                            \
                case 2 * 16 + 8: tile(r0_, j_, 2, 8); break;                            \
                case 3 * 16 + 8: tile(r0_, j_, 3, 8); break;                            \
                case 1 * 16 + 6: tile(r0_, j_, 1, 6); break;                            \
                case 2 * 16 + 6: tile(r0_, j_, 2, 6); break;                            \
                case 3 * 16 + 6: tile(r0_, j_, 3, 6); break;                            \
                case 4 * 16 + 6: tile(r0_, j_, 4, 6); break;                            \
                case 1 * 16 + 1: tile(r0_, j_, 1, 1); break;                            \
                case 2 * 16 + 1: tile(r0_, j_, 2, 1); break;                            \
                case 3 * 16 + 1: tile(r0_, j_, 3, 1); break;                            \
                case 4 * 16 + 1: tile(r0_, j_, 4, 1); break;                            \
                }                                                                       \
            }                                                                           \
            j_ += nj_;                                                                  \
        }                                                                               \
    } while (0)

ALWAYS_INLINE AVX512 void avx512_matvec(const float *x, int m, int k, int ldx,
                                        const void *w, int kind, const float *scale,
                                        const float *bias, float *y, int ldy,
                                        int j0, int j1)
{
#define AVX512_TILE(r0, j, rows, cols)                                                  \
    avx512_tile(x + (size_t)(r0) * ldx, ldx, k, w, kind, scale, bias,                   \
                y + (size_t)(r0) * ldy, ldy, j, rows, cols)
    AVX512_TILES(m, j0, j1, AVX512_TILE);
#undef AVX512_TILE
}

MATVEC_ENTRY(AVX512, avx512, f32, W_F32)
MATVEC_ENTRY(AVX512, avx512, bf16, W_BF16)
MATVEC_ENTRY(AVX512, avx512, i8, W_I8)

/* ------------------------------------------------------------------------ */
/* AVX2: tiles as for AVX-512, sized for 16 ymm registers: 1 row x 8 weight
 * rows, 2 x 6, larger m in chunks of 3 rows x 4. The last k % 8 elements go
 * through scalar code: AVX2 has no 16-bit masked load for bf16. */

#define AVX2 JEN1_AVX2
#define AVX2_MAX_MR 3
#define AVX2_MAX_NJ 8

/* 8 weights from element `at` on as fp32. */
ALWAYS_INLINE AVX2 __m256 avx2_weights(const void *w, size_t at, int kind)
{
    if (kind != W_I8)
        return jen1_avx2_load(w, at, kind == W_BF16);
    __m128i q = _mm_loadl_epi64((const __m128i *)((const int8_t *)w + at));
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q));
}

ALWAYS_INLINE AVX2 void avx2_tile(const float *x, int ldx, int k, const void *w,
                                  int kind, const float *scale, const float *bias,
                                  float *y, int ldy, int j, const int mr, const int nj)
{
    __m256 acc[AVX2_MAX_MR][AVX2_MAX_NJ];
    __m256 xv[AVX2_MAX_MR];
    _Pragma("GCC unroll 8")
    for (int r = 0; r < mr; r++)
        _Pragma("GCC unroll 8")
        for (int c = 0; c < nj; c++)
            acc[r][c] = _mm256_setzero_ps();
    size_t row0 = (size_t)j * (size_t)k;
    int t = 0;
    for (; t + 8 <= k; t += 8) {
        _Pragma("GCC unroll 8")
        for (int r = 0; r < mr; r++)
            xv[r] = _mm256_loadu_ps(x + (size_t)r * ldx + t);
        _Pragma("GCC unroll 8")
        for (int c = 0; c < nj; c++) {
            if (kind != W_I8 || t % 64 == 0)
                prefetch_next_tile(w, row0 + (size_t)(c + nj) * k + t, kind);
            __m256 wv = avx2_weights(w, row0 + (size_t)c * k + t, kind);
            _Pragma("GCC unroll 8")
            for (int r = 0; r < mr; r++)
                acc[r][c] = _mm256_fmadd_ps(xv[r], wv, acc[r][c]);
        }
    }
    _Pragma("GCC unroll 8")
    for (int r = 0; r < mr; r++)
        _Pragma("GCC unroll 8")
        for (int c = 0; c < nj; c++) {
            float sum = jen1_avx2_sum(acc[r][c]);
            for (int u = t; u < k; u++)
                sum += x[(size_t)r * ldx + u] * weight_at(w, row0 + (size_t)c * k + u, kind);
            y[(size_t)r * ldy + j + c] = column_out(sum, scale, bias, j + c);
        }
}

ALWAYS_INLINE AVX2 void avx2_matvec(const float *x, int m, int k, int ldx,
                                    const void *w, int kind, const float *scale,
                                    const float *bias, float *y, int ldy, int j0, int j1)
{
    int chunk = m <= 2 ? m : 3, tile_nj = m == 1 ? 8 : m == 2 ? 6 : 4;
    for (int j = j0; j < j1;) {
        /* The last (j1 - j0) % tile_nj columns go one at a time. */
        int nj = j1 - j >= tile_nj ? tile_nj : 1;
        for (int r0 = 0; r0 < m; r0 += chunk) {
            int mr = m - r0 < chunk ? m - r0 : chunk;
            const float *xr = x + (size_t)r0 * ldx;
            float *yr = y + (size_t)r0 * ldy;
#define AVX2_TILE(rows, cols)                                                       \
    case rows * 16 + cols:                                                          \
        avx2_tile(xr, ldx, k, w, kind, scale, bias, yr, ldy, j, rows, cols);        \
        break
            switch (mr * 16 + nj) { /* every (mr, nj) the loops make */
            AVX2_TILE(1, 8); AVX2_TILE(2, 6);
            AVX2_TILE(1, 4); AVX2_TILE(2, 4); AVX2_TILE(3, 4);
            AVX2_TILE(1, 1); AVX2_TILE(2, 1); AVX2_TILE(3, 1);
            }
#undef AVX2_TILE
        }
        j += nj;
    }
}

MATVEC_ENTRY(AVX2, avx2, f32, W_F32)
MATVEC_ENTRY(AVX2, avx2, bf16, W_BF16)
MATVEC_ENTRY(AVX2, avx2, i8, W_I8)

/* ------------------------------------------------------------------------ */
/* AVX512-VNNI, int8 weights only. With fp32 activations each 16 int8 weights
 * cost a widening, a conversion and an FMA per row, which made the int8
 * kernel bound by arithmetic. Here the activations are rounded per row to
 * int16 once per call, 32 weights are sign-extended to int16 once
 * (vpmovsxbw) for all the rows of the tile, and one vpdpwssd per row
 * multiplies and sums pairs into 16 int32 lanes: the stream is bound by
 * memory again.
 *
 * The activations: row r's scale is s_r = max_t |x[r][t]| / 32767 and
 * q[r][t] = round(x[r][t] / s_r) in [-32767, 32767] (nearest, ties to even);
 * a zero row stays zero (s_r = 0), and a row holding an infinity or a NaN
 * gives NaN outputs (s_r = NaN). Each row's codes and scale depend on that
 * row alone, and each output's operations are the same whatever the tile or
 * the number of rows in the call: a row's results are bit-identical alone or
 * batched (the session engine relies on it).
 *
 * The flush bound: one vpdpwssd adds to a lane two products of at most
 * 32767 x 128 = 4,194,176 in magnitude (int8 weights reach -128), so 256 of
 * them add at most 256 x 2 x 4,194,176 = 2,147,418,112 < 2^31 - 1 = 2,147,483,647:
 * a lane stays exact for 256 chunks of 32 weights (k = 8192), after which its
 * 16 lanes are converted to fp32, summed, and added to the output's fp32
 * sum. musicgen-small's k (1024, 4096) never flushes before the end. */

#define VNNI JEN1_AVX512_VNNI
#define VNNI_CHUNK 32            /* weights per vpdpwssd */
#define VNNI_FLUSH_CHUNKS 256    /* chunks an int32 lane sums exactly (above) */
/* The int16 activations of one call live on the stack: 64 KB holds 16 rows
 * of k = 2048 or 8 of k = 4096; more rows go in groups that fit, each group
 * streaming the weights again. Rows longer than this buffer (k > 32768) use
 * the fp32-activation kernel. */
#define VNNI_X_CODES 32768

/* Row r of x as int16 codes in xq[r * kpad ...] (zero up to kpad, a multiple
 * of VNNI_CHUNK) and its scale in xscale[r]. */
ALWAYS_INLINE VNNI void vnni_quantize_rows(const float *x, int rows, int k, int ldx, int kpad,
                                           int16_t *xq, float *xscale)
{
    const __m512 largest = _mm512_set1_ps(3.40282347e38f);
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * ldx;
        int16_t *qr = xq + (size_t)r * kpad;
        __m512 amax = _mm512_setzero_ps();
        __mmask16 non_finite = 0;
        for (int t = 0; t < k; t += 16) {
            __mmask16 mask = k - t >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (k - t)) - 1);
            __m512 a = _mm512_abs_ps(_mm512_maskz_loadu_ps(mask, xr + t));
            non_finite |= _mm512_cmp_ps_mask(a, largest, _CMP_NLE_UQ); /* inf or NaN */
            amax = _mm512_max_ps(amax, a);
        }
        float top = _mm512_reduce_max_ps(amax);
        memset(qr, 0, sizeof *qr * (size_t)kpad);
        xscale[r] = non_finite ? NAN : top / 32767.0f;
        if (non_finite || top == 0.0f)
            continue;
        /* |x| <= top, so |x * inverse| <= 32767 within a few ulps: the
         * nearest integer is at most 32767, and the saturating narrowing
         * (vpmovsdw) is only a guard. */
        const __m512 inverse = _mm512_set1_ps(32767.0f / top);
        for (int t = 0; t < k; t += 16) {
            __mmask16 mask = k - t >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (k - t)) - 1);
            __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, xr + t), inverse);
            __m512i q = _mm512_cvt_roundps_epi32(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            _mm256_mask_storeu_epi16(qr + t, mask, _mm512_cvtsepi32_epi16(q));
        }
    }
}

/* 32 weights from element `at` on, sign-extended to int16; the last chunk of
 * a row (k % 32 weights) reads only those, the other lanes are zero. */
ALWAYS_INLINE VNNI __m512i vnni_weights(const int8_t *w, size_t at, __mmask32 mask)
{
    if (mask == (__mmask32)0xffffffffu) /* a plain load folds into vpmovsxbw */
        return _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(w + at)));
    return _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(mask, w + at));
}

/* acc += the pairwise products of a and b (int16) summed into int32 lanes.
 * GCC 12 gives _mm512_dpwssd_epi32 a fresh result register and copies it
 * back, which spilled the 4 x 6 and 3 x 8 tiles' accumulators to the stack
 * (1.7x slower than the fp32-activation kernel at m = 16); the asm updates
 * the accumulator in place. */
ALWAYS_INLINE VNNI void vnni_dot_add(__m512i *acc, __m512i a, __m512i b)
{
#if defined(__GNUC__) && !defined(__clang__)
    __asm__("vpdpwssd %2, %1, %0" : "+v"(*acc) : "v"(a), "v"(b));
#else
    *acc = _mm512_dpwssd_epi32(*acc, a, b);
#endif
}

/* 32 weights of each of the tile's nj rows from element t on, times the
 * codes of its mr input rows. */
ALWAYS_INLINE VNNI void vnni_chunk(const int16_t *xq, int kpad, int k, const int8_t *w,
                                   size_t row0, int t, __mmask32 mask,
                                   __m512i acc[AVX512_MAX_MR][AVX512_MAX_NJ], const int mr, const int nj)
{
    __m512i xv[AVX512_MAX_MR];
    _Pragma("GCC unroll 8")
    for (int r = 0; r < mr; r++)
        xv[r] = _mm512_load_si512((const void *)(xq + (size_t)r * kpad + t));
    _Pragma("GCC unroll 8")
    for (int c = 0; c < nj; c++) {
        if (t % 64 == 0) /* 32 weights are half a line: one hint per line */
            prefetch_next_tile(w, row0 + (size_t)(c + nj) * k + t, W_I8);
        __m512i wv = vnni_weights(w, row0 + (size_t)c * k + t, mask);
        _Pragma("GCC unroll 8")
        for (int r = 0; r < mr; r++)
            vnni_dot_add(&acc[r][c], xv[r], wv);
    }
}

/* Chunks [c0, c1) of a tile (at most VNNI_FLUSH_CHUNKS: the int32 lanes stay
 * exact), added to the tile's fp32 sums. The last, partial chunk goes
 * apart: a mask chosen inside the loop made GCC keep the accumulators on the
 * stack. */
ALWAYS_INLINE VNNI void vnni_block(const int16_t *xq, int kpad, int k, const int8_t *w,
                                   size_t row0, int c0, int c1,
                                   float sum[AVX512_MAX_MR][AVX512_MAX_NJ], const int mr, const int nj)
{
    __m512i acc[AVX512_MAX_MR][AVX512_MAX_NJ];
    _Pragma("GCC unroll 8")
    for (int r = 0; r < mr; r++)
        _Pragma("GCC unroll 8")
        for (int c = 0; c < nj; c++)
            acc[r][c] = _mm512_setzero_si512();
    int full = k / VNNI_CHUNK < c1 ? k / VNNI_CHUNK : c1;
    for (int ch = c0; ch < full; ch++)
        vnni_chunk(xq, kpad, k, w, row0, ch * VNNI_CHUNK, (__mmask32)0xffffffffu, acc, mr, nj);
    if (full < c1) /* the last k % 32 weights */
        vnni_chunk(xq, kpad, k, w, row0, full * VNNI_CHUNK,
                   (__mmask32)((1u << (k - full * VNNI_CHUNK)) - 1), acc, mr, nj);
    _Pragma("GCC unroll 8")
    for (int r = 0; r < mr; r++)
        _Pragma("GCC unroll 8")
        for (int c = 0; c < nj; c++)
            sum[r][c] += _mm512_reduce_add_ps(_mm512_cvtepi32_ps(acc[r][c]));
}

ALWAYS_INLINE VNNI void vnni_tile(const int16_t *xq, int kpad, int k, const int8_t *w,
                                  const float *xscale, const float *scale, const float *bias,
                                  float *y, int ldy, int j, const int mr, const int nj)
{
    float sum[AVX512_MAX_MR][AVX512_MAX_NJ] = {{0.0f}};
    size_t row0 = (size_t)j * (size_t)k;
    int chunks = kpad / VNNI_CHUNK;
    for (int c0 = 0; c0 < chunks; c0 += VNNI_FLUSH_CHUNKS)
        vnni_block(xq, kpad, k, w, row0, c0, chunks - c0 < VNNI_FLUSH_CHUNKS ? chunks : c0 + VNNI_FLUSH_CHUNKS,
                   sum, mr, nj);
    _Pragma("GCC unroll 8")
    for (int r = 0; r < mr; r++)
        _Pragma("GCC unroll 8")
        for (int c = 0; c < nj; c++)
            y[(size_t)r * ldy + j + c] = column_out(sum[r][c] * xscale[r], scale, bias, j + c);
}

/* Rows [0, m) of one group whose codes are in xq, in avx512_matvec's tiles. */
ALWAYS_INLINE VNNI void vnni_columns(const int16_t *xq, const float *xscale, int m, int k,
                                     int kpad, const int8_t *w, const float *scale,
                                     const float *bias, float *y, int ldy, int j0, int j1)
{
#define VNNI_TILE(r0, j, rows, cols)                                                    \
    vnni_tile(xq + (size_t)(r0) * kpad, kpad, k, w, xscale + (r0), scale, bias,          \
              y + (size_t)(r0) * ldy, ldy, j, rows, cols)
    AVX512_TILES(m, j0, j1, VNNI_TILE);
#undef VNNI_TILE
}

static VNNI void avx512vnni_i8(const float *x, int m, int k, int ldx, const void *w,
                               const float *scale, const float *bias, float *y, int ldy,
                               int j0, int j1)
{
    int kpad = (k + VNNI_CHUNK - 1) / VNNI_CHUNK * VNNI_CHUNK;
    if (kpad > VNNI_X_CODES) {
        avx512_i8(x, m, k, ldx, w, scale, bias, y, ldy, j0, j1);
        return;
    }
    _Alignas(64) int16_t xq[VNNI_X_CODES];
    float xscale[JEN1_MATVEC_MAX_ROWS];
    int group = kpad == 0 ? m : VNNI_X_CODES / kpad;
    for (int r0 = 0; r0 < m; r0 += group) {
        int rows = m - r0 < group ? m - r0 : group;
        vnni_quantize_rows(x + (size_t)r0 * ldx, rows, k, ldx, kpad, xq, xscale);
        vnni_columns(xq, xscale, rows, k, kpad, w, scale, bias, y + (size_t)r0 * ldy, ldy, j0, j1);
    }
}

#endif /* JEN1_SIMD_X86 */


/* ------------------------------------------------------------------------ */
/* Dispatch. */

/* avx512vnni differs from avx512 in its int8 kernel alone (int16
 * activations); fp32 and bf16 weights run the same AVX-512 kernels. */
enum matvec_isa { ISA_UNKNOWN = -1, ISA_GENERIC, ISA_AVX2, ISA_AVX512, ISA_AVX512_VNNI, ISA_COUNT };

static const char *const isa_names[ISA_COUNT] = {"generic", "avx2", "avx512", "avx512vnni"};

static matvec_fn *const f32_kernels[ISA_COUNT] = {
    generic_f32,
#ifdef JEN1_SIMD_X86
    avx2_f32, avx512_f32, avx512_f32,
#endif
};

static matvec_fn *const bf16_kernels[ISA_COUNT] = {
    generic_bf16,
#ifdef JEN1_SIMD_X86
    avx2_bf16, avx512_bf16, avx512_bf16,
#endif
};

static matvec_fn *const i8_kernels[ISA_COUNT] = {
    generic_i8,
#ifdef JEN1_SIMD_X86
    avx2_i8, avx512_i8, avx512vnni_i8,
#endif
};

static int cpu_runs(enum matvec_isa isa)
{
    if (isa == ISA_GENERIC)
        return 1;
#ifdef JEN1_SIMD_X86
    __builtin_cpu_init();
    if (isa == ISA_AVX2)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (isa == ISA_AVX512)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && cpu_runs(ISA_AVX2);
    if (isa == ISA_AVX512_VNNI)
        return __builtin_cpu_supports("avx512vnni") && cpu_runs(ISA_AVX512);
#endif
    return 0;
}

static enum matvec_isa best_isa(void)
{
    for (int isa = ISA_COUNT - 1; isa > ISA_GENERIC; isa--)
        if (cpu_runs((enum matvec_isa)isa))
            return (enum matvec_isa)isa;
    return ISA_GENERIC;
}

/* Chosen on first use; concurrent first uses all store the same value. */
static _Atomic int current_isa = ISA_UNKNOWN;

static enum matvec_isa active_isa(void)
{
    int isa = atomic_load_explicit(&current_isa, memory_order_relaxed);
    if (isa == ISA_UNKNOWN) {
        isa = best_isa();
        atomic_store_explicit(&current_isa, isa, memory_order_relaxed);
    }
    return (enum matvec_isa)isa;
}

const char *jen1_matvec_isa(void)
{
    return isa_names[active_isa()];
}

int jen1_matvec_force_isa(const char *isa)
{
    if (!isa) {
        atomic_store_explicit(&current_isa, best_isa(), memory_order_relaxed);
        return 0;
    }
    for (int i = 0; i < ISA_COUNT; i++)
        if (strcmp(isa, isa_names[i]) == 0) {
            if (!cpu_runs((enum matvec_isa)i))
                return -1;
            atomic_store_explicit(&current_isa, i, memory_order_relaxed);
            return 0;
        }
    return -1;
}

void jen1_matvec_f32(const float *x, int m, int k, int ldx, const float *w,
                     const float *bias, float *y, int ldy, int j0, int j1)
{
    if (m <= 0 || k < 0 || j0 < 0 || j1 <= j0)
        return;
    f32_kernels[active_isa()](x, m, k, ldx, w, NULL, bias, y, ldy, j0, j1);
}

void jen1_matvec_bf16(const float *x, int m, int k, int ldx, const uint16_t *w,
                      const float *bias, float *y, int ldy, int j0, int j1)
{
    if (m <= 0 || k < 0 || j0 < 0 || j1 <= j0)
        return;
    bf16_kernels[active_isa()](x, m, k, ldx, w, NULL, bias, y, ldy, j0, j1);
}

void jen1_matvec_i8(const float *x, int m, int k, int ldx, const int8_t *w,
                    const float *scale, const float *bias, float *y, int ldy, int j0, int j1)
{
    if (m <= 0 || k < 0 || j0 < 0 || j1 <= j0)
        return;
    i8_kernels[active_isa()](x, m, k, ldx, w, scale, bias, y, ldy, j0, j1);
}

/* ------------------------------------------------------------------------ */

void jen1_quantize_i8_rows(const float *src, size_t n, size_t k, int8_t *dst, float *scale)
{
    for (size_t j = 0; j < n; j++) {
        const float *row = src + j * k;
        float amax = 0.0f;
        for (size_t t = 0; t < k; t++)
            if (isfinite(row[t]))
                amax = fmaxf(amax, fabsf(row[t]));
        /* 127 levels each side: -128 would make the range lopsided. */
        scale[j] = amax / 127.0f;
        float inverse = amax > 0.0f ? 127.0f / amax : 0.0f;
        for (size_t t = 0; t < k; t++) {
            float q = isfinite(row[t]) ? nearbyintf(row[t] * inverse) : 0.0f;
            dst[j * k + t] = (int8_t)(q > 127.0f ? 127.0f : q < -127.0f ? -127.0f : q);
        }
    }
}

/* ------------------------------------------------------------------------ */

void jen1_f32_to_bf16(const float *src, uint16_t *dst, size_t n)
{
    /* Branch-free so that the loop vectorizes. */
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &src[i], sizeof bits);
        uint32_t rounded = (bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16;
        /* Truncating a NaN could clear every mantissa bit left: set the
         * quiet bit instead of rounding (which could carry into the sign). */
        uint32_t quiet_nan = (bits >> 16) | 0x0040u;
        dst[i] = (uint16_t)((bits & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded);
    }
}
