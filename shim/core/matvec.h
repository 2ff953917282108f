/* matvec.h - skinny matrix products for the decoder's hot path.
 *
 * A guided decode step multiplies a handful of rows (2 per request with
 * classifier-free guidance) by every weight matrix of the decoder, so it is
 * bound by how fast the weights stream from memory, not by arithmetic. BLAS
 * libraries tune for square-ish shapes and stream such products at a fraction
 * of the bandwidth; these kernels read each weight row once, keep all the
 * input rows' accumulators in registers, and use AVX-512 or AVX2 (chosen at
 * run time) with a portable fallback.
 *
 * y[i][j] = sum_t x[i][t] * w[j][t] (+ bias[j]) for i < m, j in [j0, j1):
 * the layout of torch.nn.functional.linear (w is [n, k], row-major).
 * Single-threaded: the caller splits [0, n) across threads. */
#ifndef JEN1_MATVEC_H
#define JEN1_MATVEC_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define JEN1_MATVEC_MAX_ROWS 16  /* larger m: the caller uses a GEMM */

/* fp32 weights. x: [m][ldx], y: [m][ldy]; bias may be NULL. */
void jen1_matvec_f32(const float *x, int m, int k, int ldx,
                     const float *w, const float *bias,
                     float *y, int ldy, int j0, int j1);

/* bf16 weights (the top 16 bits of an fp32), fp32 accumulate. */
void jen1_matvec_bf16(const float *x, int m, int k, int ldx,
                      const uint16_t *w, const float *bias,
                      float *y, int ldy, int j0, int j1);

/* int8 weights with one fp32 scale per output row (w[j][t] * scale[j] is
 * the weight): the scale multiplies row j's finished sum, then the bias is
 * added. On CPUs with AVX512-VNNI ("avx512vnni") each input row is first
 * rounded to int16 with its own scale (max |x| / 32767, nearest) and the
 * products and partial sums are exact integers, flushed into fp32; elsewhere
 * the inputs, products and sums are fp32. Either way a row's outputs depend
 * on that row alone: bit-identical whatever m and the other rows are. */
void jen1_matvec_i8(const float *x, int m, int k, int ldx,
                    const int8_t *w, const float *scale, const float *bias,
                    float *y, int ldy, int j0, int j1);

/* Symmetric per-row quantisation of src [n][k]: scale[j] = max |src[j][t]| /
 * 127 and dst[j][t] = round(src[j][t] / scale[j]) in [-127, 127] (nearest,
 * ties to even). An all-zero row gets scale 0; non-finite values count as 0. */
void jen1_quantize_i8_rows(const float *src, size_t n, size_t k, int8_t *dst, float *scale);

/* Round-to-nearest-even conversion, NaN kept NaN. */
void jen1_f32_to_bf16(const float *src, uint16_t *dst, size_t n);

/* One bf16 value as fp32 (bf16 is the top half of an fp32: exact). */
static inline float jen1_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Element `at` of an fp32 or bf16 array, as fp32: the portable kernels'
 * (matvec's weights, attention's cache) one reader of either layout. */
static inline float jen1_f32_or_bf16_at(const void *a, size_t at, int is_bf16)
{
    return is_bf16 ? jen1_bf16_to_f32(((const uint16_t *)a)[at]) : ((const float *)a)[at];
}

/* "avx512vnni", "avx512", "avx2" or "generic": the kernels the CPU runs
 * (avx512vnni is avx512 with the int16-activation int8 kernel). */
const char *jen1_matvec_isa(void);

/* Tests and benchmarks: run the named kernels (one of the names above)
 * from now on, or the best one again for NULL. Returns 0, or -1 when the name
 * is unknown or this CPU cannot run it. Not for use while others compute. */
int jen1_matvec_force_isa(const char *isa);

#ifdef __cplusplus
}
#endif
#endif
