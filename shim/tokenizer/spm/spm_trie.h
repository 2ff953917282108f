/* spm_trie.h - a byte trie mapping strings to ids, for the sentencepiece
 * pieces (shim/tokenizer/spm/spm.c) and user-defined symbols (shim/tokenizer/spm/spm_normalize.c).
 *
 * The edges live in one open-addressing hash table keyed by (node, byte), so
 * building needs no sorting (a 32000-piece vocabulary loads in a few ms) and
 * a step is one hash probe. Sized once, up front, from the total key length;
 * read-only once built, so lookups may run concurrently. */
#ifndef JEN1_SPM_TRIE_H
#define JEN1_SPM_TRIE_H

#include <stddef.h>
#include <stdint.h>

#define SPM_TRIE_NONE UINT32_MAX

typedef struct spm_trie {
    int32_t *values;       /* per node; -1 when no key ends there */
    uint32_t n_nodes, max_nodes;
    uint64_t *edge_keys;   /* (node << 8 | byte) + 1; 0 marks a free slot */
    uint32_t *edge_children;
    size_t edge_mask;      /* table size - 1 (a power of two) */
    unsigned edge_shift;   /* 64 - log2(table size) */
} spm_trie;

/* Prepares an empty trie for keys of at most `total_key_bytes` bytes in all.
 * 0, or -1 when out of memory (or absurdly large). */
int spm_trie_init(spm_trie *trie, size_t total_key_bytes);

/* Adds key -> value (value >= 0). Returns 0 when added, 1 when the key was
 * already there (its value in *existing, the trie unchanged), -1 when the
 * key would exceed the size given to spm_trie_init. */
int spm_trie_insert(spm_trie *trie, const char *key, size_t len, int32_t value,
                    int32_t *existing);

void spm_trie_free(spm_trie *trie);

/* The root, or SPM_TRIE_NONE for a trie without nodes. */
static inline uint32_t spm_trie_root(const spm_trie *trie)
{
    return trie->n_nodes ? 0 : SPM_TRIE_NONE;
}

/* The child of `node` along `byte`, or SPM_TRIE_NONE. */
uint32_t spm_trie_child(const spm_trie *trie, uint32_t node, uint8_t byte);

/* The value of the key equal to key[0..len), or -1. */
int32_t spm_trie_find(const spm_trie *trie, const char *key, size_t len);

/* The length of the longest key that is a prefix of text[0..len), or 0. */
size_t spm_trie_longest_prefix(const spm_trie *trie, const char *text, size_t len);

#endif
