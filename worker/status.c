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

void pool_status_set_torch_info(struct pool_status *s, unsigned slot, const char *json)
{
    struct slot_status *st = &s->slots[slot];
    atomic_fetch_add(&st->torch_info_seq, 1);
    snprintf(st->torch_info, sizeof st->torch_info, "%s", json);
    atomic_fetch_add(&st->torch_info_seq, 1);
}

int pool_status_torch_info(const struct pool_status *s, char *buf, size_t len)
{
    for (unsigned i = 0; i < s->n_slots; i++) {
        const struct slot_status *st = &s->slots[i];
        int before = atomic_load(&st->torch_info_seq);
        if (before == 0 || before % 2) continue;
        snprintf(buf, len, "%s", st->torch_info);
        if (atomic_load(&st->torch_info_seq) == before) return 0;
    }
    return -1;
}
