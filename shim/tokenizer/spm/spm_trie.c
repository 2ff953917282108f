/* spm_trie.c - see spm_trie.h. */
#include "spm_trie.h"

#include <stdlib.h>

static uint64_t edge_key(uint32_t node, uint8_t byte)
{
    return ((uint64_t)node << 8 | byte) + 1;
}

static size_t edge_slot(const spm_trie *trie, uint64_t key)
{
    return (size_t)((key * 0x9e3779b97f4a7c15ull) >> trie->edge_shift);
}

int spm_trie_init(spm_trie *trie, size_t total_key_bytes)
{
    *trie = (spm_trie){ 0 };
    /* Every node but the root ends one key byte; edges = nodes - 1. */
    if (total_key_bytes >= SPM_TRIE_NONE / 4)
        return -1;
    size_t table = 16;
    unsigned bits = 4;
    while (table < 2 * total_key_bytes) {  /* load factor <= 1/2 */
        table *= 2;
        bits++;
    }
    trie->max_nodes = (uint32_t)total_key_bytes + 1;
    trie->values = malloc(trie->max_nodes * sizeof *trie->values);
    trie->edge_keys = calloc(table, sizeof *trie->edge_keys);
    trie->edge_children = malloc(table * sizeof *trie->edge_children);
    if (!trie->values || !trie->edge_keys || !trie->edge_children) {
        spm_trie_free(trie);
        return -1;
    }
    trie->edge_mask = table - 1;
    trie->edge_shift = 64 - bits;
    trie->values[0] = -1;
    trie->n_nodes = 1;
    return 0;
}

void spm_trie_free(spm_trie *trie)
{
    free(trie->values);
    free(trie->edge_keys);
    free(trie->edge_children);
    *trie = (spm_trie){ 0 };
}

uint32_t spm_trie_child(const spm_trie *trie, uint32_t node, uint8_t byte)
{
    uint64_t key = edge_key(node, byte);
    for (size_t slot = edge_slot(trie, key);; slot = (slot + 1) & trie->edge_mask) {
        if (trie->edge_keys[slot] == key)
            return trie->edge_children[slot];
        if (trie->edge_keys[slot] == 0)
            return SPM_TRIE_NONE;
    }
}

int spm_trie_insert(spm_trie *trie, const char *key, size_t len, int32_t value,
                    int32_t *existing)
{
    uint32_t node = 0;
    for (size_t i = 0; i < len; i++) {
        uint64_t ek = edge_key(node, (uint8_t)key[i]);
        size_t slot = edge_slot(trie, ek);
        while (trie->edge_keys[slot] != 0 && trie->edge_keys[slot] != ek)
            slot = (slot + 1) & trie->edge_mask;
        if (trie->edge_keys[slot] == 0) {
            if (trie->n_nodes == trie->max_nodes)
                return -1;
            trie->values[trie->n_nodes] = -1;
            trie->edge_keys[slot] = ek;
            trie->edge_children[slot] = trie->n_nodes++;
        }
        node = trie->edge_children[slot];
    }
    if (trie->values[node] >= 0) {
        *existing = trie->values[node];
        return 1;
    }
    trie->values[node] = value;
    return 0;
}

int32_t spm_trie_find(const spm_trie *trie, const char *key, size_t len)
{
    uint32_t node = spm_trie_root(trie);
    for (size_t i = 0; i < len && node != SPM_TRIE_NONE; i++)
        node = spm_trie_child(trie, node, (uint8_t)key[i]);
    return node == SPM_TRIE_NONE ? -1 : trie->values[node];
}

size_t spm_trie_longest_prefix(const spm_trie *trie, const char *text, size_t len)
{
    size_t longest = 0;
    uint32_t node = spm_trie_root(trie);
    for (size_t i = 0; i < len && node != SPM_TRIE_NONE; i++) {
        node = spm_trie_child(trie, node, (uint8_t)text[i]);
        if (node != SPM_TRIE_NONE && trie->values[node] >= 0)
            longest = i + 1;
    }
    return longest;
}
