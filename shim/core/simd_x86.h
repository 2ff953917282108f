/* simd_x86.h - the vector pieces the CPU kernels share (matvec.c,
 * attention.c): loading fp32 or bf16 elements as fp32 lanes, and a lane sum.
 *
 * Each function carries its own target attribute, so a file including this
 * builds with plain -O2 and chooses its kernels at run time (matvec.h's
 * jen1_matvec_isa). Only for x86 with GCC or Clang: JEN1_SIMD_X86 says so. */
#ifndef JEN1_SIMD_X86_H
#define JEN1_SIMD_X86_H

#include <stddef.h>
#include <stdint.h>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define JEN1_SIMD_X86 1
#include <immintrin.h>

#define JEN1_ALWAYS_INLINE static inline __attribute__((always_inline))
#define JEN1_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma")))
#define JEN1_AVX2 __attribute__((target("avx2,fma")))
/* AVX-512 with the integer dot products (vpdpwssd): matvec's int8 kernel. */
#define JEN1_AVX512_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")))

/* 16 elements of an fp32 or bf16 array from element `at` on, as fp32. */
JEN1_ALWAYS_INLINE JEN1_AVX512 __m512 jen1_avx512_load(const void *a, size_t at, int is_bf16)
{
    if (!is_bf16)
        return _mm512_loadu_ps((const float *)a + at);
    __m256i h = _mm256_loadu_si256((const __m256i *)((const uint16_t *)a + at));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* 8 elements, as above. */
JEN1_ALWAYS_INLINE JEN1_AVX2 __m256 jen1_avx2_load(const void *a, size_t at, int is_bf16)
{
    if (!is_bf16)
        return _mm256_loadu_ps((const float *)a + at);
    __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)a + at));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

/* The sum of 8 lanes. */
JEN1_ALWAYS_INLINE JEN1_AVX2 float jen1_avx2_sum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
#endif

#endif
