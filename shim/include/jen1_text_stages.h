/* jen1_text_stages.h - the text engine one stage at a time, for tools, checks
 * and tests (jen1_text.h is the production surface). These expose what
 * jen1_text_generate chains - a teacher-forced forward pass, the logits
 * processors, a traced generation - so that the parity tests and jen1-write
 * can compare each with the reference implementation's tensors. Errors,
 * threads and ownership are jen1.h's; tensors are jen1_stages.h's
 * jen1_tensor, freed with jen1_tensor_free. */
#ifndef JEN1_TEXT_STAGES_H
#define JEN1_TEXT_STAGES_H

#include "jen1_stages.h"
#include "jen1_text.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A forward pass without generation over ids [batch, T] (int64) with
 * attention_mask [batch, T] (1: a token, 0: left padding), position ids
 * cumsum(mask) - 1 as the reference's batched generation uses them. Any
 * output may be NULL:
 *   hidden_states  [layers + 1, batch, T, hidden]: the embeddings, the
 *                  output of layers 0 .. layers-2, and the final norm's
 *                  output (the reference's output_hidden_states);
 *   layer_outputs  [layers, batch, T, hidden]: each layer's output, before
 *                  the final norm;
 *   logits         [batch, T, vocab].
 * Values at padding positions are meaningless. */
JEN1_API jen1_status jen1_text_forward(const jen1_text_model *model, const int64_t *ids,
                                       const int64_t *attention_mask, int batch, int n_tokens,
                                       jen1_tensor *hidden_states, jen1_tensor *layer_outputs,
                                       jen1_tensor *logits, char *err, size_t errlen);

/* The logits processors of jen1_text_generate on one row of n scores, each
 * stage written out where its pointer is not NULL (n floats each):
 * penalized (the repetition penalty over context[0..n_context)), then, unless
 * s->greedy, after temperature, after top-k, after top-p (-inf where
 * filtered), and probs, the softmax of the last. */
JEN1_API jen1_status jen1_text_process_scores(const float *logits, int n, const int64_t *context,
                                              int n_context, const jen1_text_sampling *s,
                                              float *penalized, float *temperature, float *top_k,
                                              float *top_p, float *probs, char *err, size_t errlen);

/* jen1_text_generate, also returning the processed scores of every step
 * (after the processors and the special-token ban: what the next token was
 * chosen from), as the reference's generate(output_scores=True):
 * scores [n_requests, steps, vocab] float32, zero after a row finished. */
JEN1_API jen1_status jen1_text_generate_traced(const jen1_text_model *model,
                                               const jen1_text_request *requests, int n_requests,
                                               const jen1_text_generate_params *params,
                                               jen1_text_output **out, jen1_tensor *scores,
                                               char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif /* JEN1_TEXT_STAGES_H */
