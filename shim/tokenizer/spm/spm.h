/* spm.h - SentencePiece tokenisation (unigram models) in plain C.
 *
 * Reads a sentencepiece `ModelProto` (e.g. T5's spiece.model) and turns text
 * into piece ids exactly as libsentencepiece 0.1.97's
 * SentencePieceProcessor::Encode does: the normaliser (precompiled charsmap,
 * whitespace rules, U+2581 escaping), user-defined symbols, the unigram
 * Viterbi search, merged unknowns and byte fallback. jen1 cannot link
 * libsentencepiece itself: it bundles a protobuf that clashes with LibTorch's.
 * tests/cli/test_spm_parity.sh compares this code with the real library.
 *
 * Only UNIGRAM models are supported; BPE, WORD and CHAR are refused at load.
 * A loaded model is immutable: spm_encode may run concurrently on one model.
 * Errors are returned as -1 with a message (naming the model) in `err`. */
#ifndef JEN1_SPM_H
#define JEN1_SPM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct spm_model spm_model;

/* Loads a serialized ModelProto from a file. 0 or -1. */
int spm_load(const char *path, spm_model **out, char *err, size_t errlen);

/* The same from memory; `label` names the model in error messages. The
 * buffer is copied, so the caller may free it afterwards. 0 or -1. */
int spm_load_memory(const void *buf, size_t len, const char *label,
                    spm_model **out, char *err, size_t errlen);

/* Piece ids of the UTF-8 text (`len` bytes; malformed UTF-8 is tolerated the
 * way sentencepiece tolerates it), no EOS appended. *ids is malloc'd (NULL
 * when *n_ids is 0) and the caller frees it. 0 or -1. */
int spm_encode(const spm_model *m, const char *text, size_t len,
               int32_t **ids, size_t *n_ids, char *err, size_t errlen);

int spm_piece_count(const spm_model *m);

/* The piece's text (NUL-terminated, owned by the model); NULL if out of range. */
const char *spm_id_to_piece(const spm_model *m, int id);

/* As SentencePieceProcessor::unk_id()/eos_id()/pad_id(): the id of the piece
 * named by the trainer spec (default "<unk>", "</s>", "<pad>") when it has
 * the right type (UNKNOWN, resp. CONTROL), otherwise -1. */
int spm_unk_id(const spm_model *m);
int spm_eos_id(const spm_model *m);
int spm_pad_id(const spm_model *m);

void spm_free(spm_model *m);

#ifdef __cplusplus
}
#endif

#endif
