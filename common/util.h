/* util.h - the small jobs every module needs once: a clock, a digest, a
 * directory path. One helper each, so that no module grows its own copy. */
#ifndef JEN1_UTIL_H
#define JEN1_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Seconds on the monotonic clock: for durations and deadlines. */
double clock_monotonic_s(void);

/* Milliseconds since the Unix epoch (the wall clock): for timestamps. */
int64_t clock_unix_ms(void);

/* SHA-256 of data as 64 lowercase hex digits and a NUL. */
void sha256_hex(const void *data, size_t len, char out[65]);

/* mkdir -p: creates `dir` and every missing folder above it with `mode`.
 * Returns 0 (also when it exists), or -1 with errno set. */
int path_mkdirs(const char *dir, mode_t mode);

#ifdef __cplusplus
}
#endif
#endif
