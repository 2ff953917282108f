/* check.h - the project's minimal test harness.
 *
 *   TEST(parses_header) { CHECK(x == 1, "x was %d", x); }
 *   int main(void) { RUN(parses_header); return check_summary("test_safetensors"); }
 *
 * A test case fails when any CHECK in it fails; every failure prints its file,
 * line and message. check_summary prints "RESULT <suite> passed=N failed=M",
 * which tests/run adds up into the closing "N passed, N failed" line, and
 * returns the exit status (0 only when nothing failed). */
#ifndef JEN1_CHECK_H
#define JEN1_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static int check_cases_passed, check_cases_failed, check_case_failures;

#define TEST(name) static void name(void)

/* Records a failed condition: file, line, the condition and the message. */
#define CHECK_FAILURE_(cond, ...)                                            \
    do {                                                                     \
        check_case_failures++;                                               \
        fprintf(stderr, "  FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);    \
        fprintf(stderr, __VA_ARGS__);                                        \
        fputc('\n', stderr);                                                 \
    } while (0)

#define CHECK(cond, ...)                                                     \
    do {                                                                     \
        if (!(cond)) CHECK_FAILURE_(cond, __VA_ARGS__);                      \
    } while (0)

/* Stops the current test case (after recording the failure). `cond` is
 * evaluated once: it is often a call such as an open or a read. */
#define REQUIRE(cond, ...)                                                   \
    do {                                                                     \
        if (!(cond)) {                                                       \
            CHECK_FAILURE_(cond, __VA_ARGS__);                               \
            return;                                                          \
        }                                                                    \
    } while (0)

#define RUN(name)                                                            \
    do {                                                                     \
        check_case_failures = 0;                                             \
        name();                                                              \
        if (check_case_failures == 0) {                                      \
            check_cases_passed++;                                            \
            printf("ok   %s\n", #name);                                      \
        } else {                                                             \
            check_cases_failed++;                                            \
            printf("FAIL %s\n", #name);                                      \
        }                                                                    \
        fflush(stdout);                                                      \
    } while (0)

static inline int check_summary(const char *suite)
{
    printf("RESULT %s passed=%d failed=%d\n", suite, check_cases_passed,
           check_cases_failed);
    return check_cases_failed ? 1 : 0;
}

/* Where the fixtures and scratch space are, overridable for out-of-tree runs. */
static inline const char *check_fixture_dir(void)
{
    const char *d = getenv("JEN1_FIXTURES");
    return d ? d : "tests/fixtures/musicgen-tiny";
}

static inline const char *check_tmp_dir(void)
{
    const char *d = getenv("JEN1_TEST_TMP");
    return d ? d : "build/tmp";
}

/* BUILD/tmp/<suite>/<name>: a scratch file of one suite, its folder made. */
static inline const char *check_scratch_path(const char *suite, const char *name)
{
    static char path[512];
    mkdir(check_tmp_dir(), 0755);
    snprintf(path, sizeof path, "%s/%s", check_tmp_dir(), suite);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", check_tmp_dir(), suite, name);
    return path;
}

#endif
