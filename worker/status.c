/* status.c - see status.h. */
#include "status.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

struct pool_status *pool_status_create(unsigned n_slots)
{
    if (n_slots == 0 || n_slots > POOL_MAX_SLOTS) return NULL;
    struct pool_status *s =
        mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED) return NULL;
    memset(s, 0, sizeof *s);
    s->n_slots = n_slots;
    return s;
}

void pool_status_free(struct pool_status *s)
{
    if (s) munmap(s, sizeof *s);
}

int pool_status_loaded(const struct pool_status *s)
{
    int n = 0;
    for (unsigned i = 0; i < s->n_slots; i++) n += atomic_load(&s->slots[i].model_loaded) != 0;
    return n;
}

/* A seqlock per document: the writer makes seq odd while it writes, and a
 * reader keeps a copy only when seq was even and unchanged around it. */
static void publish(char *field, size_t cap, atomic_int *seq, const char *json)
{
    atomic_fetch_add(seq, 1);
    snprintf(field, cap, "%s", json);
    atomic_fetch_add(seq, 1);
}

static int copy_published(const char *field, const atomic_int *seq, char *buf, size_t len)
{
    int before = atomic_load(seq);
    if (before == 0 || before % 2) return -1;
    snprintf(buf, len, "%s", field);
    return atomic_load(seq) == before ? 0 : -1;
}

void pool_status_set_torch_info(struct pool_status *s, unsigned slot, const char *json)
{
    struct slot_status *st = &s->slots[slot];
    publish(st->torch_info, sizeof st->torch_info, &st->torch_info_seq, json);
}

int pool_status_torch_info(const struct pool_status *s, char *buf, size_t len)
{
    for (unsigned i = 0; i < s->n_slots; i++)
        if (copy_published(s->slots[i].torch_info, &s->slots[i].torch_info_seq, buf, len) == 0) return 0;
    return -1;
}

void pool_status_set_models(struct pool_status *s, unsigned slot, const char *json)
{
    struct slot_status *st = &s->slots[slot];
    publish(st->models, sizeof st->models, &st->models_seq, json);
}

int pool_status_models(const struct pool_status *s, char *buf, size_t len)
{
    for (unsigned i = 0; i < s->n_slots; i++)
        if (copy_published(s->slots[i].models, &s->slots[i].models_seq, buf, len) == 0) return 0;
    return -1;
}
