/* attention.h - one decoder step's attention over a bf16 (or fp32) key/value cache.
 *
 * A decode step attends with one new query per head over every cached
 * position. Late in a long song's window that is ~1,500 positions: with an
 * fp32 cache the keys and values read per step outweigh the bf16 weights
 * (musicgen-small, guidance: 32 heads x 1,500 x 64 x 8 bytes = 24 MB a layer),
 * and the step is bound by memory bandwidth. Keeping the cache in bf16 halves
 * that traffic. The two halves of the step are split so that the softmax
 * between them runs vectorised in LibTorch:
 *
 *     jen1_attn_scores_bf16(q, k, len, hd, scores);   // scores = q . k_j
 *     softmax(scores)                                 // the caller
 *     jen1_attn_mix_bf16(p, v, len, hd, out);         // out = sum_j p_j v_j
 *
 * k and v are [len][hd] bf16 (the top 16 bits of an fp32), rows contiguous;
 * accumulation is fp32. Single-threaded and reentrant: the caller spreads the
 * heads over threads. The ISA (AVX-512, AVX2 or portable C) is the one
 * jen1_matvec_isa() reports, so jen1_matvec_force_isa() selects it too. */
#ifndef JEN1_ATTENTION_H
#define JEN1_ATTENTION_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* scores[j] = sum_t q[t] * k[j][t] for j < len. */
void jen1_attn_scores_bf16(const float *q, const uint16_t *k, int len, int hd, float *scores);

/* out[t] = sum_j p[j] * v[j][t] for t < hd (out is overwritten). */
void jen1_attn_mix_bf16(const float *p, const uint16_t *v, int len, int hd, float *out);

/* The same over an fp32 cache. LibTorch's batched matmul copies a cache
 * view that is not contiguous (the cache is allocated for the whole window)
 * at every step; these read it in place. */
void jen1_attn_scores_f32(const float *q, const float *k, int len, int hd, float *scores);
void jen1_attn_mix_f32(const float *p, const float *v, int len, int hd, float *out);

#ifdef __cplusplus
}
#endif
#endif
