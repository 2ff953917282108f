/* util.h - the small jobs every module needs once: a clock, a digest, a
 * directory path. One helper each, so that no module grows its own copy. */
#ifndef JEN1_UTIL_H
#define JEN1_UTIL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Seconds on the monotonic clock: for durations and deadlines. */
double clock_monotonic_s(void);

/* The same clock in whole milliseconds: for deadlines kept as integers
 * (timer intervals, poll budgets). */
int64_t clock_monotonic_ms(void);

/* A condition variable that waits on the monotonic clock (so that a change
 * of the wall clock never stretches a wait), and the deadline `ms` from now
 * that pthread_cond_timedwait then takes. Returns pthread_cond_init's status. */
int clock_cond_init(pthread_cond_t *cond);
struct timespec clock_cond_deadline(int ms);

/* Milliseconds since the Unix epoch (the wall clock): for timestamps. */
int64_t clock_unix_ms(void);

/* SHA-256 of data as 64 lowercase hex digits and a NUL. */
void sha256_hex(const void *data, size_t len, char out[65]);

/* n bytes as 2n lowercase hex digits and a NUL (out holds 2n + 1). */
void hex_encode(const void *bytes, size_t n, char *out);

/* The element count of a tensor shape (ndim dimensions; 1 for ndim 0), or
 * -1 when a dimension is negative or the product does not fit in int64. */
int64_t shape_numel(const int64_t *shape, int ndim);

/* The same times element_size: the tensor's size in bytes, or -1. Every
 * partial product must fit, so a hostile header cannot wrap around to a
 * small size behind a zero dimension. */
int64_t shape_bytes(const int64_t *shape, int ndim, size_t element_size);

/* mkdir -p: creates `dir` and every missing folder above it with `mode`.
 * Returns 0 (also when it exists), or -1 with errno set. */
int path_mkdirs(const char *dir, mode_t mode);

/* The whole of s as a base-10 integer in [min, max], or as a finite number
 * (what a command-line flag takes). Return 0 and set *out, or -1 (*out
 * untouched) for anything else: empty, trailing text, out of range. */
int parse_long_in(const char *s, long min, long max, long *out);
int parse_finite_double(const char *s, double *out);

#ifdef __cplusplus
}
#endif
#endif
