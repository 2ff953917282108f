/* test_util.c - common/util: the element count of a shape (what npy,
 * safetensors, jen1_tensor_numel and jen1-mkmodel rely on), hex and
 * SHA-256 digests, the two readings of the monotonic clock, and condition
 * deadlines on it. */
#include "check.h"
#include "util.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

TEST(numel_of_ordinary_shapes)
{
    CHECK(shape_numel(NULL, 0) == 1, "a scalar has %lld elements", (long long)shape_numel(NULL, 0));
    const int64_t s3[] = {2, 3, 4};
    CHECK(shape_numel(s3, 3) == 24, "[2,3,4] has %lld", (long long)shape_numel(s3, 3));
    const int64_t empty[] = {5, 0, 7};
    CHECK(shape_numel(empty, 3) == 0, "[5,0,7] has %lld", (long long)shape_numel(empty, 3));
    CHECK(shape_bytes(s3, 3, 4) == 96, "[2,3,4] of f32 is %lld bytes", (long long)shape_bytes(s3, 3, 4));
    CHECK(shape_bytes(NULL, 0, 8) == 8, "an i64 scalar is %lld bytes", (long long)shape_bytes(NULL, 0, 8));
}

TEST(numel_refuses_negative_dimensions)
{
    const int64_t neg[] = {4, -1};
    CHECK(shape_numel(neg, 2) == -1, "[4,-1] gave %lld", (long long)shape_numel(neg, 2));
    const int64_t neg_after_zero[] = {0, -3};
    CHECK(shape_numel(neg_after_zero, 2) == -1, "[0,-3] was accepted");
    CHECK(shape_bytes(neg, 2, 4) == -1, "[4,-1] of f32 was accepted");
}

TEST(numel_refuses_overflow)
{
    const int64_t fits[] = {(int64_t)1 << 31, (int64_t)1 << 31};
    CHECK(shape_numel(fits, 2) == (int64_t)1 << 62, "2^31 * 2^31 gave %lld", (long long)shape_numel(fits, 2));
    const int64_t over[] = {(int64_t)1 << 32, (int64_t)1 << 31};
    CHECK(shape_numel(over, 2) == -1, "2^63 elements were accepted");
    const int64_t max2[] = {INT64_MAX, 2};
    CHECK(shape_numel(max2, 2) == -1, "INT64_MAX * 2 was accepted");
    const int64_t max1[] = {INT64_MAX, 1};
    CHECK(shape_numel(max1, 2) == INT64_MAX, "INT64_MAX * 1 was refused");

    /* bytes: the element size counts, and so does every partial product (a
     * hostile header cannot hide an overflow behind a zero dimension) */
    const int64_t big[] = {(int64_t)1 << 61};
    CHECK(shape_bytes(big, 1, 4) == -1, "2^61 f32 values (2^63 bytes) were accepted");
    CHECK(shape_bytes(big, 1, 2) == (int64_t)1 << 62, "2^61 f16 values were refused");
    const int64_t hidden[] = {(int64_t)1 << 62, 4, 0};
    CHECK(shape_bytes(hidden, 3, 1) == -1, "an overflow before a zero dimension was accepted");
    CHECK(shape_bytes(fits, 2, (size_t)-1) == -1, "an element size above INT64_MAX was accepted");
}

TEST(hex_and_sha256)
{
    char hex[16];
    const unsigned char bytes[] = {0x00, 0xab, 0xff, 0x10};
    hex_encode(bytes, sizeof bytes, hex);
    CHECK(strcmp(hex, "00abff10") == 0, "got %s", hex);
    hex_encode(bytes, 0, hex);
    CHECK(hex[0] == '\0', "no bytes gave '%s'", hex);

    char digest[65];
    sha256_hex("abc", 3, digest);
    CHECK(strcmp(digest, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0, "%s",
          digest);
}

TEST(monotonic_clock_in_seconds_and_milliseconds)
{
    double s0 = clock_monotonic_s();
    int64_t ms = clock_monotonic_ms();
    double s1 = clock_monotonic_s();
    CHECK(s1 >= s0, "the clock went back: %f then %f", s0, s1);
    /* one clock: the millisecond reading lies between the two second readings */
    CHECK((double)ms >= s0 * 1000.0 - 1.0 && (double)ms <= s1 * 1000.0 + 1.0, "%lld ms is not in [%f, %f] s",
          (long long)ms, s0, s1);
    CHECK(clock_monotonic_ms() >= ms, "the millisecond clock went back");
}

/* A condition on the monotonic clock times out at the deadline it was given. */
TEST(condition_deadlines_on_the_monotonic_clock)
{
    for (int ms = 0; ms <= 2500; ms += 999) {
        double now = clock_monotonic_s();
        struct timespec d = clock_cond_deadline(ms);
        double at = (double)d.tv_sec + d.tv_nsec * 1e-9;
        CHECK(d.tv_nsec >= 0 && d.tv_nsec < 1000000000L, "%d ms: tv_nsec %ld out of range", ms, d.tv_nsec);
        CHECK(at >= now + ms / 1000.0 - 0.001 && at <= now + ms / 1000.0 + 0.05, "%d ms: %f s, now %f s", ms, at, now);
    }
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t c;
    REQUIRE(clock_cond_init(&c) == 0, "clock_cond_init");
    double t0 = clock_monotonic_s();
    struct timespec d = clock_cond_deadline(30);
    pthread_mutex_lock(&m);
    int rc = 0;
    while (rc == 0) rc = pthread_cond_timedwait(&c, &m, &d);
    pthread_mutex_unlock(&m);
    double waited = clock_monotonic_s() - t0;
    CHECK(rc == ETIMEDOUT && waited >= 0.029, "timed out (%d) after %f s, not before 30 ms", rc, waited);
    pthread_cond_destroy(&c);
}

TEST(flag_numbers_are_whole_and_in_range)
{
    long n = 7;
    double d = 7;
    CHECK(parse_long_in("42", 1, 100, &n) == 0 && n == 42, "42 -> %ld", n);
    CHECK(parse_long_in("-3", -5, 5, &n) == 0 && n == -3, "-3 -> %ld", n);
    n = 7;
    CHECK(parse_long_in("101", 1, 100, &n) == -1 && n == 7, "above max accepted or written");
    CHECK(parse_long_in("0", 1, 100, &n) == -1, "below min accepted");
    CHECK(parse_long_in("12x", 1, 100, &n) == -1 && parse_long_in("", 1, 100, &n) == -1, "junk accepted");
    CHECK(parse_long_in("99999999999999999999999", 0, 100, &n) == -1, "overflow accepted");
    CHECK(parse_finite_double("0.25", &d) == 0 && d == 0.25, "0.25 -> %g", d);
    d = 7;
    CHECK(parse_finite_double("nan", &d) == -1 && parse_finite_double("inf", &d) == -1 && d == 7, "non-finite");
    CHECK(parse_finite_double("1e999", &d) == -1 && parse_finite_double("1.5s", &d) == -1, "overflow or junk");
}

int main(void)
{
    RUN(numel_of_ordinary_shapes);
    RUN(numel_refuses_negative_dimensions);
    RUN(numel_refuses_overflow);
    RUN(hex_and_sha256);
    RUN(monotonic_clock_in_seconds_and_milliseconds);
    RUN(condition_deadlines_on_the_monotonic_clock);
    RUN(flag_numbers_are_whole_and_in_range);
    return check_summary("test_util");
}
