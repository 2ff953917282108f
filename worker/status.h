/* status.h - what the worker processes tell their supervisor, through a
 * shared anonymous mapping created before the first fork: whether each slot
 * has its model loaded, the engine's runtime facts for /debug/torch, and
 * which models it loaded (or why not) for /ready.
 * (The supervisor itself never touches LibTorch: OpenMP's thread pool does
 * not survive fork, so a supervisor that had used it could not start
 * healthy workers.) */
#ifndef JEN1_WORKER_STATUS_H
#define JEN1_WORKER_STATUS_H

#include <stdatomic.h>
#include <stddef.h>

#define POOL_MAX_SLOTS 64

struct slot_status {
    atomic_int model_loaded;
    atomic_int pid;
    char torch_info[2048];     /* JSON, written once after load (seq below) */
    atomic_int torch_info_seq; /* odd while being written */
    char models[2048];         /* JSON: the models loaded, or why not (/ready) */
    atomic_int models_seq;
};

struct pool_status {
    unsigned n_slots;
    struct slot_status slots[POOL_MAX_SLOTS];
};

/* Returns a zeroed shared mapping for n_slots, or NULL. */
struct pool_status *pool_status_create(unsigned n_slots);
void pool_status_free(struct pool_status *s);

/* How many slots have their model loaded. */
int pool_status_loaded(const struct pool_status *s);

/* Publishes / copies a slot's torch info JSON. pool_status_torch_info
 * returns 0 with a copy from the first slot that has one, -1 if none. */
void pool_status_set_torch_info(struct pool_status *s, unsigned slot, const char *json);
int pool_status_torch_info(const struct pool_status *s, char *buf, size_t len);

/* The same for a slot's models document: {"music": {...}, "text": {...}}. */
void pool_status_set_models(struct pool_status *s, unsigned slot, const char *json);
int pool_status_models(const struct pool_status *s, char *buf, size_t len);

#endif
