/* buf.c - see buf.h. */
#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int buf_reserve(buf *b, size_t extra)
{
    if (b->failed) return -1;
    if (extra > (size_t)-1 / 2 - b->len) {
        b->failed = true;
        return -1;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->failed = true;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

int buf_append(buf *b, const void *data, size_t n)
{
    if (buf_reserve(b, n) != 0) return -1;
    if (n) memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int buf_puts(buf *b, const char *s) { return buf_append(b, s, strlen(s)); }

int buf_putc(buf *b, char c) { return buf_append(b, &c, 1); }

int buf_grow_zero(buf *b, size_t len)
{
    if (len <= b->len) return b->failed ? -1 : 0;
    if (buf_reserve(b, len - b->len) != 0) return -1;
    memset(b->data + b->len, 0, len - b->len + 1);
    b->len = len;
    return 0;
}

void buf_truncate(buf *b, size_t len)
{
    if (len >= b->len) return;
    b->len = len;
    b->data[len] = '\0';
}

int buf_vprintf(buf *b, const char *fmt, va_list ap)
{
    if (b->failed) return -1;
    va_list copy;
    va_copy(copy, ap);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, copy);
    va_end(copy);
    if (n < 0) {
        b->failed = true;
        return -1;
    }
    if ((size_t)n < sizeof small) return buf_append(b, small, (size_t)n);
    if (buf_reserve(b, (size_t)n) != 0) return -1;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int buf_printf(buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void buf_reset(buf *b)
{
    b->len = 0;
    b->failed = false;
    if (b->data) b->data[0] = '\0';
}

char *buf_detach(buf *b, size_t *len)
{
    if (!b->failed && !b->data) buf_reserve(b, 0);
    if (b->failed) {
        buf_free(b);
        if (len) *len = 0;
        return NULL;
    }
    b->data[b->len] = '\0';
    char *p = b->data;
    if (len) *len = b->len;
    *b = (buf)BUF_INIT;
    return p;
}

void buf_free(buf *b)
{
    free(b->data);
    *b = (buf)BUF_INIT;
}

int buf_read_stream(buf *b, FILE *f, size_t max)
{
    enum { CHUNK = 64 * 1024 };
    for (;;) {
        if (b->len >= max) {
            /* Full: more than max only if the stream still has a byte. */
            int c = fgetc(f);
            if (c == EOF) return ferror(f) ? -1 : 0;
            return 1;
        }
        size_t want = max - b->len < CHUNK ? max - b->len : CHUNK;
        if (buf_reserve(b, want) != 0) return -1;
        size_t got = fread(b->data + b->len, 1, want, f);
        b->len += got;
        b->data[b->len] = '\0';
        if (got < want) return ferror(f) ? -1 : 0;
    }
}
