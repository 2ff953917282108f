/* bpe_internal.h - the loaded tokenizer, shared by bpe_load.c (which builds
 * it), bpe.c (encoding) and bpe_decode.c. */
#ifndef JEN1_BPE_INTERNAL_H
#define JEN1_BPE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "bpe.h"
#include "bpe_map.h"
#include "bpe_pretok.h"
#include "buf.h"

enum { BPE_ADDED = 1, BPE_SPECIAL = 2 };

typedef struct bpe_added {
    const char *text;   /* into the tokenizer's texts */
    size_t len;
    int32_t id;
} bpe_added;

struct bpe_tokenizer {
    int n_tokens;
    buf texts;              /* every token's text and a NUL, by id */
    size_t *text_off;       /* [n_tokens + 1] */
    buf bytes;              /* what each token decodes to, by id */
    size_t *bytes_off;      /* [n_tokens + 1] */
    unsigned char *flags;   /* [n_tokens]: BPE_ADDED, BPE_SPECIAL */
    bpe_map vocab;          /* text -> id */
    bpe_map merges;         /* bpe_merge_key(left, right) -> rank << 32 | result */
    int32_t byte_id[256];   /* the token of each single byte */
    bpe_added *added;       /* longest first */
    int n_added;
    bpe_pretok *pretok;
    int nfc;
};

#endif
