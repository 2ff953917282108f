/* bpe_merge.c - see bpe_merge.h. */
#include "bpe_merge.h"

#include <stdlib.h>
#include <string.h>

typedef struct symbol {
    int32_t id;      /* -1: merged into its left neighbour */
    int32_t next;    /* index of the next live symbol, or -1 */
    int32_t prev;
} symbol;

typedef struct candidate {
    uint32_t rank;
    int32_t pos;     /* the left symbol */
    int32_t left, right, result;
} candidate;

typedef struct heap {
    candidate *items;
    size_t len;
} heap;

static int before(const candidate *a, const candidate *b)
{
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static void heap_push(heap *h, candidate c)
{
    size_t i = h->len++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(&c, &h->items[parent]))
            break;
        h->items[i] = h->items[parent];
        i = parent;
    }
    h->items[i] = c;
}

static candidate heap_pop(heap *h)
{
    candidate top = h->items[0], last = h->items[--h->len];
    size_t i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->len)
            break;
        if (child + 1 < h->len && before(&h->items[child + 1], &h->items[child]))
            child++;
        if (!before(&h->items[child], &last))
            break;
        h->items[i] = h->items[child];
        i = child;
    }
    if (h->len > 0)
        h->items[i] = last;
    return top;
}

void bpe_merge_key(int32_t left, int32_t right, unsigned char key[8])
{
    memcpy(key, &left, 4);
    memcpy(key + 4, &right, 4);
}

void bpe_merge_scratch_free(bpe_merge_scratch *s)
{
    free(s->mem);
    s->mem = NULL;
    s->cap = 0;
}

static void push_pair(heap *h, const bpe_map *merges, const symbol *sym, int32_t pos)
{
    if (pos < 0 || sym[pos].next < 0)
        return;
    int32_t left = sym[pos].id, right = sym[sym[pos].next].id;
    unsigned char key[8];
    bpe_merge_key(left, right, key);
    int64_t v;
    if (bpe_map_get(merges, key, sizeof key, &v))
        heap_push(h, (candidate){(uint32_t)(v >> 32), pos, left, right, (int32_t)(v & 0xffffffff)});
}

int bpe_merge(const bpe_map *merges, int32_t *ids, size_t n, size_t *n_out, bpe_merge_scratch *s)
{
    *n_out = n;
    if (n < 2)
        return 0;
    if (n > INT32_MAX / 4)
        return -1;
    /* Each merge adds at most two candidates to the n - 1 initial ones, and
     * a batch of one rank is at most n long. */
    size_t need = n * sizeof(symbol) + 3 * n * sizeof(candidate) + n * sizeof(candidate);
    if (s->cap < need) {
        void *mem = realloc(s->mem, need);
        if (!mem)
            return -1;
        s->mem = mem;
        s->cap = need;
    }
    symbol *sym = s->mem;
    heap h = {(candidate *)(sym + n), 0};
    candidate *batch = h.items + 3 * n;
    for (size_t i = 0; i < n; i++)
        sym[i] = (symbol){ids[i], i + 1 < n ? (int32_t)i + 1 : -1, (int32_t)i - 1};
    for (size_t i = 0; i + 1 < n; i++)
        push_pair(&h, merges, sym, (int32_t)i);

    while (h.len > 0) {
        size_t n_batch = 0;
        uint32_t rank = h.items[0].rank;
        while (h.len > 0 && h.items[0].rank == rank)
            batch[n_batch++] = heap_pop(&h);
        for (size_t b = 0; b < n_batch; b++) {
            const candidate *c = &batch[b];
            symbol *left = &sym[c->pos];
            /* Stale when either symbol was merged away since it was queued. */
            if (left->id != c->left || left->next < 0 || sym[left->next].id != c->right)
                continue;
            symbol *right = &sym[left->next];
            left->id = c->result;
            right->id = -1;
            left->next = right->next;
            if (right->next >= 0)
                sym[right->next].prev = c->pos;
            push_pair(&h, merges, sym, left->prev);
            push_pair(&h, merges, sym, c->pos);
        }
    }
    size_t out = 0;
    for (int32_t i = 0; i >= 0; i = sym[i].next)
        ids[out++] = sym[i].id;
    *n_out = out;
    return 0;
}
