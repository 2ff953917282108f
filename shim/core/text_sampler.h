/* text_sampler.h - the language model's logits processors on one row of
 * scores, exactly as the reference (transformers 4.44.2) applies them:
 * repetition penalty over the row's context, then, when sampling,
 * temperature, top-k and top-p, and a draw from the softmax of what is left;
 * greedy takes the argmax of the penalised scores. A filtered score is -inf.
 * Plain C, no LibTorch; the random stream is sampler.h's jen1_rng. */
#ifndef JEN1_TEXT_SAMPLER_H
#define JEN1_TEXT_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "jen1_text.h"
#include "sampler.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes of scratch memory the functions below need for a row of n scores. */
size_t jen1_text_scratch_bytes(int n);

/* Each distinct id of context[0..n_context) (ids outside [0, n) are
 * skipped): s = s * penalty if s < 0 else s / penalty. */
void jen1_text_repetition_penalty(float *scores, int n, const int64_t *context, int n_context, float penalty,
                                  void *scratch);

/* s = s / temperature. */
void jen1_text_temperature(float *scores, int n, float temperature);

/* -inf for every score strictly below the k-th largest (ties at it stay).
 * k <= 0 or k >= n: nothing is filtered. */
void jen1_text_top_k(float *scores, int n, int k, void *scratch);

/* Sorted ascending, softmax, cumulative sum: -inf for every token whose
 * cumulative probability is <= 1 - top_p; the most likely always stays.
 * top_p >= 1: nothing is filtered. */
void jen1_text_top_p(float *scores, int n, float top_p, void *scratch);

/* The whole chain on one row: the penalty over context, then (unless
 * s->greedy) temperature, top-k and top-p. */
void jen1_text_process(float *scores, int n, const int64_t *context, int n_context, const jen1_text_sampling *s,
                       void *scratch);

/* The next token from processed scores: the argmax (first on ties) when
 * greedy, else a draw from their softmax with rng. */
int jen1_text_pick(const float *scores, int n, int greedy, jen1_rng *rng);

#ifdef __cplusplus
}
#endif
#endif
