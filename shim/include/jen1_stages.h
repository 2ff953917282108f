/* jen1_stages.h - the engine one stage at a time, for tools, checks and tests.
 *
 * jen1.h is the production surface: a program that makes songs needs nothing
 * else. These functions expose the stages jen1_generate chains - tokenizer,
 * text encoder, a teacher-forced decoder pass, EnCodec - so that jen1-gen can
 * dump them and the parity tests can compare each one with the reference
 * implementation's tensors. Their errors, threads and ownership rules are
 * jen1.h's; what they hand out is a jen1_tensor, freed by jen1_tensor_free.
 */
#ifndef JEN1_STAGES_H
#define JEN1_STAGES_H

#include "jen1.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A dense CPU tensor handed to the caller: float32 or int64, row-major. */
typedef enum jen1_dtype { JEN1_F32 = 0, JEN1_I64 = 1 } jen1_dtype;
typedef struct jen1_tensor {
    jen1_dtype dtype;
    int ndim;
    int64_t shape[6];
    void *data;
} jen1_tensor;

JEN1_API int64_t jen1_tensor_numel(const jen1_tensor *t);
/* Frees t->data and zeroes *t. A caller may instead take t->data and
 * release it later with jen1_free. */
JEN1_API void jen1_tensor_free(jen1_tensor *t);

/* Tokenises `text` with the model's SentencePiece model and appends </s>.
 * Writes at most max_ids ids; *n_ids receives the full count. */
JEN1_API jen1_status jen1_tokenize(const jen1_model *model, const char *text,
                                   int64_t *ids, int max_ids, int *n_ids,
                                   char *err, size_t errlen);

/* Runs the text side for a batch of prompts (right-padded). Any output
 * pointer may be NULL. input_ids/attention_mask: [B, S] int64;
 * t5_hidden_states: [L+1, B, S, d_model] (embeddings, each block's input,
 * final norm output); encoder_hidden_states: [B, S, hidden], the projected,
 * masked states the decoder cross-attends to. */
JEN1_API jen1_status jen1_encode_text(const jen1_model *model, const char *const *prompts,
                                      int n_prompts, jen1_tensor *input_ids,
                                      jen1_tensor *attention_mask,
                                      jen1_tensor *t5_hidden_states,
                                      jen1_tensor *encoder_hidden_states,
                                      char *err, size_t errlen);

/* Teacher-forced decoder pass: decoder_ids is [B*K, T] int64 (the delayed
 * grid, rows batch-major), conditioned on the prompts. logits: [B*K, T, V];
 * hidden_states: [layers+1, B, T, hidden]. Either may be NULL. */
JEN1_API jen1_status jen1_decoder_forward(const jen1_model *model,
                                          const char *const *prompts, int n_prompts,
                                          const int64_t *decoder_ids, int n_steps,
                                          jen1_tensor *logits, jen1_tensor *hidden_states,
                                          char *err, size_t errlen);

/* EnCodec: codes [B, K, F] int64 -> quantised embeddings [B, D, F] and/or
 * audio [B, F * hop] float32. Either output may be NULL. */
JEN1_API jen1_status jen1_decode_codes(const jen1_model *model, const int64_t *codes,
                                       int batch, int n_codebooks, int n_frames,
                                       jen1_tensor *quantized, jen1_tensor *audio,
                                       char *err, size_t errlen);

/* The same decode of one item (codes [n_codebooks][n_frames]) as jen1_generate
 * runs it: chunk_frames frames of audio at a time, in memory bounded by a
 * chunk (see jen1_generate). audio: [1, n_frames * hop] float32. */
JEN1_API jen1_status jen1_decode_codes_chunked(const jen1_model *model, const int64_t *codes,
                                               int n_codebooks, int n_frames, int chunk_frames,
                                               jen1_tensor *audio, char *err, size_t errlen);

/* jen1_generate, also returning what the reference's generate(output_scores=True)
 * does, for requests that each fit one window (prompt_codes allowed; no
 * sections longer than the window, no resume_codes):
 *   scores      [steps, n_requests * K, V] float32: one entry per decoder
 *               forward pass, the logits after guidance (before temperature,
 *               top-k, top-p) at the fed column predicting the next. The
 *               first pass is the prefill over BOS and the shortest prompt,
 *               so steps = longest n_frames + K - 1 - shortest n_prompt_frames.
 *   decoder_ids [n_requests * K, longest n_frames + K] int64: the final
 *               delayed grid (BOS/pad = the model's pad id), rows b * K + k.
 * Either may be NULL. On error both are left empty. */
JEN1_API jen1_status jen1_generate_traced(const jen1_model *model, const jen1_request *requests,
                                          int n_requests, const jen1_generate_params *params,
                                          jen1_output **out, jen1_tensor *scores,
                                          jen1_tensor *decoder_ids, char *err, size_t errlen);

/* For tests: the CPU takes the decoder step a GPU takes (static shapes, each
 * cache attended over its whole capacity under a mask: what a CUDA graph
 * replays), so that its arithmetic can be checked where there is no GPU.
 * Call before any generation or session starts on the model. */
JEN1_API void jen1_model_use_static_step(jen1_model *model, int on);

#ifdef __cplusplus
}
#endif
#endif /* JEN1_STAGES_H */
