/* buf.h - the project's one growable byte buffer, in the spirit of Redis's
 * sds: every module that builds text or bytes of unknown length (log lines,
 * metrics pages, canonical requests, encoded audio, HTTP bodies, command
 * output) uses this, not a private copy.
 *
 *     buf b = BUF_INIT;
 *     buf_printf(&b, "%s=%d\n", key, value);
 *     buf_append(&b, bytes, n);
 *     if (buf_failed(&b)) ...            // one allocation failed: b is unusable
 *     use(b.data, b.len);                // always NUL-terminated when len > 0
 *     buf_free(&b);
 *
 * Errors are sticky: after the first failed allocation every call is a no-op
 * and buf_failed() says so, so a writer checks once at the end instead of
 * after every append. Not thread-safe: one buffer, one thread. */
#ifndef JEN1_BUF_H
#define JEN1_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct buf {
    char *data;   /* NUL-terminated bytes (NULL until the first write) */
    size_t len;   /* bytes used, without the NUL */
    size_t cap;   /* bytes allocated */
    bool failed;  /* an allocation failed; the contents are incomplete */
} buf;

#define BUF_INIT {NULL, 0, 0, false}

/* Makes room for `extra` more bytes (and the NUL). Returns 0, or -1 (and
 * marks the buffer failed) when memory runs out. A writer that fills
 * data + len itself (fread, an encoder) then adds what it wrote to len and
 * keeps data[len] a NUL. */
int buf_reserve(buf *b, size_t extra);

/* Appends n bytes / a NUL-terminated string / one byte. Return 0 or -1. */
int buf_append(buf *b, const void *data, size_t n);
int buf_puts(buf *b, const char *s);
int buf_putc(buf *b, char c);

/* Appends printf-formatted text. Returns 0 or -1. */
int buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(buf *b, const char *fmt, va_list ap);

/* Grows the buffer to `len` bytes, the new ones zero (a writer that seeks
 * past the end leaves a zero-filled gap, as a file does); no-op when it is
 * that long already. Returns 0 or -1. */
int buf_grow_zero(buf *b, size_t len);

/* Shortens the buffer to `len` bytes; no-op when it is that short already. */
void buf_truncate(buf *b, size_t len);

/* Appends what is left of stream f, at most `max` bytes in all (counting
 * what the buffer already holds). Returns 0 at the end of the stream; 1 when
 * the stream holds more than that (the bytes up to max are kept); -1 on a
 * read error or when memory runs out (buf_failed() says which). */
int buf_read_stream(buf *b, FILE *f, size_t max);

/* Whether an allocation failed since the buffer was made or reset. */
static inline bool buf_failed(const buf *b) { return b->failed; }

/* Empties the buffer, keeping its memory, and clears the failure. */
void buf_reset(buf *b);

/* Hands the bytes to the caller (free() them; "" is returned as an allocated
 * empty string) and leaves the buffer empty. NULL when the buffer failed or
 * memory runs out. *len (may be NULL) receives the length. */
char *buf_detach(buf *b, size_t *len);

/* Frees the memory and leaves an empty buffer. */
void buf_free(buf *b);

#ifdef __cplusplus
}
#endif
#endif
