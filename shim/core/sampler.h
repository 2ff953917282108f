/* sampler.h - choosing the next token of one codebook from its logits:
 * argmax, or temperature, top-k and top-p (nucleus) filtering followed by a
 * draw from the softmax, in the order transformers applies them. Each
 * request owns a seeded random stream, so a request's song does not depend
 * on what else shares its batch. Plain C, no LibTorch. */
#ifndef JEN1_SAMPLER_H
#define JEN1_SAMPLER_H

#include <stdint.h>

#include "jen1.h"

#ifdef __cplusplus
extern "C" {
#endif

/* xoshiro256** seeded through splitmix64. */
typedef struct jen1_rng { uint64_t s[4]; } jen1_rng;

void jen1_rng_seed(jen1_rng *rng, uint64_t seed);
uint64_t jen1_rng_next(jen1_rng *rng);
/* Uniform in [0, 1) with 53 random bits. */
double jen1_rng_uniform(jen1_rng *rng);

/* Index of the largest value; the first one on ties (as torch.argmax). */
int jen1_argmax(const float *x, int n);

/* Picks a token from logits[0..n) with params' greedy, top_k (0 or >= n: no
 * filter), top_p (>= 1: none) and temperature; guidance_scale is the
 * caller's business. `scratch` must hold 2 * n floats' worth (n floats and n
 * ints). Greedy ignores rng. */
int jen1_sample(const float *logits, int n, const jen1_sampling *params, jen1_rng *rng,
                void *scratch);

#ifdef __cplusplus
}
#endif
#endif
