/* fuzz.h - what the libFuzzer targets share: the entry point's declaration
 * and the invariant check. A broken invariant aborts, which libFuzzer reports
 * as a crash and saves the input that caused it. */
#ifndef JEN1_FUZZ_H
#define JEN1_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* jansson seeds its hash tables from /dev/urandom, which changes the order in
 * which an object's keys are visited and so the coverage a run sees. A fixed
 * seed (where jansson is linked at all) makes `tests/fuzz/run --fixed` give
 * the same run every time; ASLR is turned off there for the same reason. */
void json_object_seed(size_t seed) __attribute__((weak));
__attribute__((constructor)) static void fuzz_fixed_hash_seed(void)
{
    if (json_object_seed) json_object_seed(1);
}

#define FUZZ_ASSERT(cond, ...)                                                  \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "fuzz invariant broken at %s:%d: %s: ", __FILE__,   \
                    __LINE__, #cond);                                           \
            fprintf(stderr, __VA_ARGS__);                                       \
            fputc('\n', stderr);                                                \
            abort();                                                            \
        }                                                                       \
    } while (0)

/* An error message the code under test wrote into a cap-byte buffer: it
 * must say something and end inside the buffer. */
static inline int fuzz_message_ok(const char *msg, size_t cap)
{
    size_t n = strnlen(msg, cap);
    return n > 0 && n < cap;
}

/* The input as a NUL-terminated string (the parsers that take C strings);
 * NULL when out of memory. The caller frees it. */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s) {
        memcpy(s, data, size);
        s[size] = '\0';
    }
    return s;
}

#endif
