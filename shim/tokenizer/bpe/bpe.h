/* bpe.h - byte-level BPE, as Qwen2 (and GPT-2 before it) tokenizes text.
 *
 * Loaded from a Hugging Face checkpoint directory: tokenizer.json (model.vocab,
 * model.merges, added_tokens), or where it is absent vocab.json + merges.txt
 * with tokenizer_config.json's added_tokens_decoder. Encoding splits off the
 * special (added) tokens first, NFC-normalises each remaining piece, splits it
 * with the checkpoint family's pre-tokenisation regex (PCRE2), maps its bytes
 * to GPT-2's printable alphabet and merges by rank. Decoding maps back and
 * replaces invalid UTF-8 as Python's errors="replace" does.
 *
 *     bpe_tokenizer *tok;
 *     if (bpe_load(dir, &tok, err, sizeof err) != 0) ...
 *     int n;
 *     bpe_encode(tok, text, strlen(text), 1, ids, max, &n, err, sizeof err);
 *     buf out = BUF_INIT;
 *     bpe_decode(tok, ids, n, 0, &out, err, sizeof err);
 *     bpe_free(tok);
 *
 * A loaded tokenizer is read-only: any number of threads may encode and
 * decode with it at once. Errors are values: -1 and a message in err. */
#ifndef JEN1_BPE_H
#define JEN1_BPE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bpe_tokenizer bpe_tokenizer;

/* Loads the tokenizer files of checkpoint directory dir. Returns 0 and sets
 * *out, or -1 with a message naming the file and what is wrong in it (bad
 * JSON, a merge naming an unknown token, a duplicate id, ...); *out NULL. */
int bpe_load(const char *dir, bpe_tokenizer **out, char *err, size_t errlen);

/* NULL is allowed. */
void bpe_free(bpe_tokenizer *tok);

/* Encodes len bytes of UTF-8 (invalid UTF-8: -1). parse_special: the added
 * tokens' literal texts become their ids; otherwise they are plain text.
 * Writes at most max_ids ids and sets *n_ids to the full count (which may
 * exceed max_ids: the caller retries with more room). Returns 0 or -1. */
int bpe_encode(const bpe_tokenizer *tok, const char *text, size_t len, int parse_special,
               int64_t *ids, int max_ids, int *n_ids, char *err, size_t errlen);

/* Appends the UTF-8 text of ids to out (skip_special: added tokens marked
 * special are left out). An id no token has: -1. Returns 0 or -1. */
int bpe_decode(const bpe_tokenizer *tok, const int64_t *ids, int n_ids, int skip_special,
               buf *out, char *err, size_t errlen);

/* One more than the largest id any token has (759 for qwen2-tiny). */
int bpe_n_tokens(const bpe_tokenizer *tok);

/* The id of a token's exact text ("<|im_end|>", "Ġthe"), or -1. */
int64_t bpe_token_id(const bpe_tokenizer *tok, const char *token);

/* Nonzero when id is an added token marked special. */
int bpe_is_special(const bpe_tokenizer *tok, int64_t id);

#ifdef __cplusplus
}
#endif
#endif
