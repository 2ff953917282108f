/* test_http_prefer.c - worker/http_prefer: RFC 7240's Prefer header as
 * clients write it (lists, parameters, whitespace, case, quoted values,
 * repeated headers) and as they break it (malformed preferences are
 * ignored, never an error). */
#include "http_prefer.h"
#include "check.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The preferences of the header lines given, up to NULL. */
static struct http_prefer parse(const char *first, ...)
{
    struct http_prefer p;
    http_prefer_init(&p);
    va_list ap;
    va_start(ap, first);
    for (const char *line = first; line; line = va_arg(ap, const char *))
        http_prefer_parse(&p, line);
    va_end(ap);
    return p;
}

/* A header line and the preferences it should give. */
struct prefer_case {
    const char *header;
    int wait;
    bool async;
};

static void expect_cases(const struct prefer_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct http_prefer p = parse(cases[i].header, NULL);
        CHECK(p.wait_s == cases[i].wait && p.respond_async == cases[i].async, "'%s': wait %d async %d",
              cases[i].header, p.wait_s, p.respond_async);
    }
}

TEST(nothing_prefers_nothing)
{
    struct http_prefer p = parse("", NULL);
    CHECK(p.wait_s == -1 && !p.respond_async, "empty: wait %d async %d", p.wait_s, p.respond_async);
    p = parse("return=minimal, handling=lenient", NULL);
    CHECK(p.wait_s == -1 && !p.respond_async, "others: wait %d async %d", p.wait_s, p.respond_async);
}

TEST(well_formed_preferences_are_read)
{
    static const struct prefer_case cases[] = {
        { "wait=10", 10, false },
        { "respond-async", -1, true },
        { "respond-async, wait=100", 100, true },
        { "wait=0", 0, false },
        { "  WAIT = 7 ", 7, false },
        { "Respond-Async", -1, true },
        { "wait=\"15\"", 15, false },
        { "wait=5;foo=bar", 5, false },
        { "wait=5 ; foo = \"a, b; c\" ; flag, respond-async", 5, true },
        { "handling=strict, return=\"x,wait=9\", wait=3", 3, false },
        { ",, , wait=4 ,,", 4, false },
        { "\twait=8\t,\trespond-async\t", 8, true },
        { "respond-async=\"\"", -1, true },  /* an empty value is no value */
        { "respond-async=", -1, true },
        { "wait=300", 300, false },
        { "wait=301", 301, false },          /* the server caps, not the parser */
        { "wait=99999999999999999999999", INT_MAX, false },
        { "wait=0010", 10, false },
    };
    expect_cases(cases, sizeof cases / sizeof cases[0]);
}

TEST(malformed_preferences_are_ignored)
{
    static const struct prefer_case cases[] = {
        { "wait=soon", -1, false },
        { "wait=-1", -1, false },
        { "wait=1.5", -1, false },
        { "wait=", -1, false },
        { "wait=\"\"", -1, false },
        { "wait=5x", -1, false },
        { "wait=5 6", -1, false },
        { "wait=\"5", -1, false },            /* an unclosed quote runs to the end */
        { "wait=\"5, respond-async", -1, false },
        { "wait==5", -1, false },
        { "=5, respond-async", -1, true },    /* one broken element spares the others */
        { "wait=5;=x, respond-async", -1, true },
        { "respond-async=yes", -1, false },   /* respond-async takes no value */
        { "wait=soon, wait=6", 6, false },    /* the first well-formed instance counts */
        { "w\xc3\xa4it=5, wait=2", 2, false },
        { "\"wait=5\"", -1, false },
        { "wait=5\x01", -1, false },
        { "waiting=5, wai=5", -1, false },
    };
    expect_cases(cases, sizeof cases / sizeof cases[0]);
}

TEST(the_first_wait_counts_across_headers)
{
    struct http_prefer p = parse("wait=5, wait=9", NULL);
    CHECK(p.wait_s == 5, "one line: %d", p.wait_s);
    p = parse("wait=7", "wait=1, respond-async", NULL);
    CHECK(p.wait_s == 7 && p.respond_async, "two lines: wait %d async %d", p.wait_s, p.respond_async);
    p = parse("wait=bad", "", "wait=12", NULL);
    CHECK(p.wait_s == 12 && !p.respond_async, "a broken first: wait %d", p.wait_s);
}

TEST(long_and_odd_inputs_end)
{
    char line[8192];
    memset(line, ',', sizeof line - 1);
    line[sizeof line - 1] = '\0';
    struct http_prefer p = parse(line, NULL);
    CHECK(p.wait_s == -1, "commas: %d", p.wait_s);
    memset(line, '"', sizeof line - 1);
    p = parse(line, NULL);
    CHECK(p.wait_s == -1, "quotes: %d", p.wait_s);
    snprintf(line, sizeof line, "a=\"\\\"\\\\\", b=\"\\");
    p = parse(line, "wait=3", NULL);
    CHECK(p.wait_s == 3, "escapes: %d", p.wait_s);
}

int main(void)
{
    RUN(nothing_prefers_nothing);
    RUN(well_formed_preferences_are_read);
    RUN(malformed_preferences_are_ignored);
    RUN(the_first_wait_counts_across_headers);
    RUN(long_and_odd_inputs_end);
    return check_summary("test_http_prefer");
}
