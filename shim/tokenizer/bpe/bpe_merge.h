/* bpe_merge.h - the BPE merge loop over one pre-tokenised piece.
 *
 * The reference (GPT-2's bpe()) repeatedly takes the lowest-ranked adjacent
 * pair and merges all its occurrences left to right. Rescanning the word each
 * round is quadratic in a long piece (a run of one character), so this keeps
 * the symbols in a linked list and the candidate pairs in a heap ordered by
 * (rank, position): every occurrence of the lowest rank is taken, leftmost
 * first, before any pair the merges create, which gives the reference's
 * result in O(n log n). */
#ifndef JEN1_BPE_MERGE_H
#define JEN1_BPE_MERGE_H

#include <stddef.h>
#include <stdint.h>

#include "bpe_map.h"

/* The key of the merge of left and right in a merges map; the value is
 * (rank << 32) | result id. */
void bpe_merge_key(int32_t left, int32_t right, unsigned char key[8]);

/* Per-call working memory, reused across the pieces of one encode call. */
typedef struct bpe_merge_scratch {
    void *mem;
    size_t cap;   /* bytes */
} bpe_merge_scratch;

void bpe_merge_scratch_free(bpe_merge_scratch *s);

/* Merges the n symbol ids in ids (in place) by merges; *n_out is what is
 * left. Returns 0, or -1 when memory runs out. */
int bpe_merge(const bpe_map *merges, int32_t *ids, size_t n, size_t *n_out, bpe_merge_scratch *s);

#endif
