/* bpe_map.c - see bpe_map.h. Linear probing over a power-of-two table. */
#include "bpe_map.h"

#include <stdlib.h>
#include <string.h>

#include "text.h"

static int alloc_slots(bpe_map *m, size_t n)
{
    m->slots = malloc(n * sizeof *m->slots);
    if (!m->slots)
        return -1;
    for (size_t i = 0; i < n; i++)
        m->slots[i].key_off = SIZE_MAX;
    m->mask = n - 1;
    return 0;
}

int bpe_map_init(bpe_map *m, size_t expected)
{
    memset(m, 0, sizeof *m);
    size_t n = 16;
    while (n < expected * 2 + 2)
        n *= 2;
    return alloc_slots(m, n);
}

void bpe_map_free(bpe_map *m)
{
    if (!m)
        return;
    free(m->slots);
    buf_free(&m->keys);
    memset(m, 0, sizeof *m);
}

/* The slot holding key, or the empty slot where it would go. */
static bpe_map_slot *find_slot(const bpe_map *m, uint64_t hash, const void *key, size_t len)
{
    for (size_t i = (size_t)hash & m->mask;; i = (i + 1) & m->mask) {
        bpe_map_slot *s = &m->slots[i];
        if (s->key_off == SIZE_MAX)
            return s;
        if (s->hash == hash && s->key_len == len && memcmp(m->keys.data + s->key_off, key, len) == 0)
            return s;
    }
}

static int grow(bpe_map *m)
{
    bpe_map_slot *old = m->slots;
    size_t old_n = m->mask + 1;
    if (alloc_slots(m, old_n * 2) != 0) {
        m->slots = old;
        return -1;
    }
    for (size_t i = 0; i < old_n; i++) {
        if (old[i].key_off == SIZE_MAX)
            continue;
        size_t j = (size_t)old[i].hash & m->mask;
        while (m->slots[j].key_off != SIZE_MAX)
            j = (j + 1) & m->mask;
        m->slots[j] = old[i];
    }
    free(old);
    return 0;
}

int bpe_map_put(bpe_map *m, const void *key, size_t len, int64_t value, int64_t *old)
{
    uint64_t hash = text_hash(key, len);
    bpe_map_slot *s = find_slot(m, hash, key, len);
    if (s->key_off != SIZE_MAX) {
        if (old)
            *old = s->value;
        s->value = value;
        return 1;
    }
    if ((m->count + 1) * 2 > m->mask + 1) {
        if (grow(m) != 0)
            return -1;
        s = find_slot(m, hash, key, len);
    }
    size_t off = m->keys.len;
    if (buf_append(&m->keys, key, len) != 0)
        return -1;
    s->hash = hash;
    s->key_off = off;
    s->key_len = len;
    s->value = value;
    m->count++;
    return 0;
}

int bpe_map_get(const bpe_map *m, const void *key, size_t len, int64_t *value)
{
    if (!m->slots)
        return 0;
    const bpe_map_slot *s = find_slot(m, text_hash(key, len), key, len);
    if (s->key_off == SIZE_MAX)
        return 0;
    *value = s->value;
    return 1;
}
