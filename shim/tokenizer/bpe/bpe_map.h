/* bpe_map.h - an open-addressing hash table from byte strings to int64
 * values, for the tokenizer's vocabulary (token text -> id) and its merges
 * ((left id, right id) -> rank and result). Keys are copied into the table.
 * Sized up front from the expected count and grown at half load, so a lookup
 * is a probe or two. Read-only use from many threads is safe. */
#ifndef JEN1_BPE_MAP_H
#define JEN1_BPE_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

typedef struct bpe_map_slot {
    uint64_t hash;
    size_t key_off;      /* into keys; SIZE_MAX marks an empty slot */
    size_t key_len;
    int64_t value;
} bpe_map_slot;

typedef struct bpe_map {
    bpe_map_slot *slots;
    size_t mask;         /* slot count - 1 (a power of two) */
    size_t count;
    buf keys;            /* every key's bytes, back to back */
} bpe_map;

/* An empty map with room for `expected` keys. Returns 0, or -1 (no memory). */
int bpe_map_init(bpe_map *m, size_t expected);

void bpe_map_free(bpe_map *m);

/* Sets key's value. Returns 0 when the key is new, 1 when it was there (its
 * old value goes to *old when old is not NULL, and is replaced), -1 when
 * memory runs out. */
int bpe_map_put(bpe_map *m, const void *key, size_t len, int64_t value, int64_t *old);

/* 1 and *value when key is in the map, else 0. */
int bpe_map_get(const bpe_map *m, const void *key, size_t len, int64_t *value);

#endif
