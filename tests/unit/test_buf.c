/* test_buf.c - common/buf: appends across growth, printf of long strings,
 * the sticky failure, and what reset, detach and free leave behind.
 *
 * The failure path needs no failing malloc: a request larger than half the
 * address space is refused before anything is allocated, and a format that
 * vsnprintf cannot convert fails the same way, so both are real failures of
 * the real code. */
#include "buf.h"
#include "check.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <wchar.h>

TEST(starts_empty)
{
    buf b = BUF_INIT;
    CHECK(b.data == NULL && b.len == 0 && b.cap == 0 && !buf_failed(&b), "BUF_INIT is not empty");
    size_t len = 99;
    char *s = buf_detach(&b, &len);
    CHECK(s && s[0] == '\0' && len == 0, "an empty buffer detaches as an allocated \"\"");
    free(s);
    buf_free(&b);
}

TEST(appends_across_growth)
{
    buf b = BUF_INIT;
    char expected[20000];
    size_t n = 0;
    for (size_t step = 1; n + step < sizeof expected; step = step % 37 + 1) {
        char piece[40];
        for (size_t i = 0; i < step; i++) piece[i] = (char)('a' + (n + i) % 26);
        REQUIRE(buf_append(&b, piece, step) == 0, "append of %zu bytes at %zu failed", step, n);
        memcpy(expected + n, piece, step);
        n += step;
        CHECK(b.len == n && b.cap > b.len && b.data[b.len] == '\0', "at %zu: len %zu cap %zu", n, b.len,
              b.cap);
    }
    CHECK(memcmp(b.data, expected, n) == 0, "the bytes differ from what was appended");
    buf_free(&b);
}

TEST(puts_putc_and_binary_bytes)
{
    buf b = BUF_INIT;
    buf_puts(&b, "ab");
    buf_putc(&b, '\0');
    buf_putc(&b, 'c');
    buf_puts(&b, "");
    CHECK(b.len == 4 && memcmp(b.data, "ab\0c", 5) == 0, "len %zu", b.len);
    buf_free(&b);
}

/* printf results on both sides of the 256-byte stack buffer, and far past it. */
TEST(printf_of_long_strings)
{
    static char big[10001];
    memset(big, 'x', sizeof big - 1);
    size_t sizes[] = {0, 1, 254, 255, 256, 257, 1000, 10000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        buf b = BUF_INIT;
        buf_puts(&b, "head:");
        REQUIRE(buf_printf(&b, "[%.*s|%d]", (int)sizes[i], big, 42) == 0, "printf of %zu failed", sizes[i]);
        char expected[10100];
        int n = snprintf(expected, sizeof expected, "head:[%.*s|%d]", (int)sizes[i], big, 42);
        CHECK(b.len == (size_t)n && strcmp(b.data, expected) == 0, "%zu chars: got %zu bytes", sizes[i],
              b.len);
        buf_free(&b);
    }
}

TEST(failure_is_sticky)
{
    buf b = BUF_INIT;
    buf_puts(&b, "kept");
    CHECK(buf_reserve(&b, SIZE_MAX) == -1 && buf_failed(&b), "a request for SIZE_MAX bytes succeeded");
    CHECK(buf_append(&b, "x", 1) == -1, "an append after a failure succeeded");
    CHECK(buf_puts(&b, "y") == -1 && buf_putc(&b, 'z') == -1, "puts/putc after a failure succeeded");
    CHECK(buf_printf(&b, "%d", 1) == -1, "printf after a failure succeeded");
    CHECK(buf_grow_zero(&b, 100) == -1, "grow_zero after a failure succeeded");
    CHECK(b.len == 4 && buf_failed(&b), "len %zu after failed calls", b.len);
    size_t len = 99;
    CHECK(buf_detach(&b, &len) == NULL && len == 0, "a failed buffer detached its bytes");
    CHECK(b.data == NULL && b.len == 0 && !buf_failed(&b), "detach of a failed buffer left it not empty");
    CHECK(buf_puts(&b, "again") == 0 && strcmp(b.data, "again") == 0, "the buffer is not reusable");
    buf_free(&b);
}

/* A conversion vsnprintf refuses (a wide character the C locale cannot
 * encode) fails the buffer the same way, where the libc refuses it. */
TEST(printf_failure)
{
    const wchar_t wide[] = {0x20ac, 0};
    char probe[16];
    if (snprintf(probe, sizeof probe, "%ls", wide) >= 0) {
        printf("     (this libc encodes U+20AC in the C locale: nothing to check)\n");
        return;
    }
    buf b = BUF_INIT;
    CHECK(buf_printf(&b, "%ls", wide) == -1 && buf_failed(&b), "a refused conversion did not fail");
    buf_free(&b);
}

TEST(reset_keeps_memory_and_clears_failure)
{
    buf b = BUF_INIT;
    buf_printf(&b, "%0100d", 7);
    size_t cap = b.cap;
    buf_reserve(&b, SIZE_MAX);
    buf_reset(&b);
    CHECK(b.len == 0 && b.cap == cap && b.data && b.data[0] == '\0' && !buf_failed(&b),
          "len %zu cap %zu/%zu", b.len, b.cap, cap);
    CHECK(buf_puts(&b, "ok") == 0 && strcmp(b.data, "ok") == 0, "an append after reset failed");
    buf_free(&b);
}

TEST(detach_hands_over)
{
    buf b = BUF_INIT;
    buf_puts(&b, "hello");
    size_t len = 0;
    char *s = buf_detach(&b, &len);
    CHECK(s && strcmp(s, "hello") == 0 && len == 5, "detached '%s' (%zu)", s ? s : "(null)", len);
    CHECK(b.data == NULL && b.len == 0 && b.cap == 0, "the buffer still holds memory");
    free(s);
    s = buf_detach(&b, NULL);
    CHECK(s && s[0] == '\0', "detach with a NULL len");
    free(s);
}

TEST(free_twice_is_harmless)
{
    buf b = BUF_INIT;
    buf_puts(&b, "x");
    buf_free(&b);
    CHECK(b.data == NULL && b.len == 0 && b.cap == 0 && !buf_failed(&b), "free left a value");
    buf_free(&b);
}

TEST(grow_zero_and_truncate)
{
    buf b = BUF_INIT;
    buf_puts(&b, "ab");
    REQUIRE(buf_grow_zero(&b, 5) == 0, "grow_zero failed");
    CHECK(b.len == 5 && memcmp(b.data, "ab\0\0\0", 6) == 0, "len %zu", b.len);
    CHECK(buf_grow_zero(&b, 3) == 0 && b.len == 5, "grow_zero shrank the buffer");
    buf_truncate(&b, 1);
    CHECK(b.len == 1 && strcmp(b.data, "a") == 0, "truncate: len %zu", b.len);
    buf_truncate(&b, 10);
    CHECK(b.len == 1, "truncate grew the buffer");
    buf_free(&b);
    /* from nothing: the whole buffer is the gap */
    CHECK(buf_grow_zero(&b, 3) == 0 && b.len == 3 && memcmp(b.data, "\0\0\0", 4) == 0, "from empty");
    buf_free(&b);
}

/* A writer may fill the reserved room itself (as fread or an encoder does). */
TEST(writing_into_reserved_room)
{
    buf b = BUF_INIT;
    buf_puts(&b, "n=");
    REQUIRE(buf_reserve(&b, 3) == 0, "reserve failed");
    memcpy(b.data + b.len, "123", 3);
    b.len += 3;
    b.data[b.len] = '\0';
    buf_puts(&b, ";");
    CHECK(strcmp(b.data, "n=123;") == 0, "got '%s'", b.data);
    buf_free(&b);
}

int main(void)
{
    RUN(starts_empty);
    RUN(appends_across_growth);
    RUN(puts_putc_and_binary_bytes);
    RUN(printf_of_long_strings);
    RUN(failure_is_sticky);
    RUN(printf_failure);
    RUN(reset_keeps_memory_and_clears_failure);
    RUN(detach_hands_over);
    RUN(free_twice_is_harmless);
    RUN(grow_zero_and_truncate);
    RUN(writing_into_reserved_room);
    return check_summary("test_buf");
}
