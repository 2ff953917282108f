/* test_http_tokens.c - the HTTP API's token table (worker/http_tokens.c:
 * names, rights, constant-time lookup, rate buckets, the tokens file) and its
 * address rules (worker/http_host.c: loopback listeners, Host headers). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "http_host.h"
#include "http_tokens.h"

static const char *find(struct http_tokens *t, const char *given)
{
    const struct http_caller *c = http_tokens_find(t, given, strlen(given));
    return c ? c->name : NULL;
}

TEST(an_empty_table_is_the_anonymous_caller)
{
    struct http_tokens *t = http_tokens_new(0);
    REQUIRE(t, "new");
    const struct http_caller *c = http_tokens_find(t, NULL, 0);
    CHECK(c && strcmp(c->name, "") == 0 && c->may_prioritize, "anonymous");
    CHECK(http_tokens_count(t) == 0, "count");
    http_tokens_free(t);
}

TEST(tokens_are_found_by_their_whole_secret)
{
    struct http_tokens *t = http_tokens_new(0);
    char err[200];
    REQUIRE(http_tokens_add(t, "studio", "secret-of-the-studio", 0, true, err, sizeof err) == 0, "%s", err);
    REQUIRE(http_tokens_add(t, "public", "secret-of-the-public", 5, false, err, sizeof err) == 0, "%s", err);
    CHECK(find(t, "secret-of-the-studio") && strcmp(find(t, "secret-of-the-studio"), "studio") == 0, "studio");
    CHECK(find(t, "secret-of-the-public") && strcmp(find(t, "secret-of-the-public"), "public") == 0, "public");
    const char *wrong[] = { "", "secret-of-the-studi", "secret-of-the-studioX", "SECRET-OF-THE-STUDIO",
                            "secret-of-the-studio " };
    for (size_t i = 0; i < sizeof wrong / sizeof *wrong; i++)
        CHECK(!find(t, wrong[i]), "'%s' matched", wrong[i]);
    CHECK(!http_tokens_find(t, NULL, 0), "no token at all");
    CHECK(http_tokens_find(t, "secret-of-the-studio", 20)->may_prioritize, "studio's rights");
    CHECK(!http_tokens_find(t, "secret-of-the-public", 20)->may_prioritize, "public's rights");
    CHECK(http_tokens_add(t, "studio", "another-secret-here", 0, false, err, sizeof err) != 0, "a name twice");
    CHECK(http_tokens_add(t, "other", "secret-of-the-public", 0, false, err, sizeof err) != 0, "a secret twice");
    CHECK(!strstr(err, "secret-of"), "the message shows no secret: %s", err);
    CHECK(http_tokens_add(t, "bad name", "some-secret-value", 0, false, err, sizeof err) != 0, "name");
    CHECK(http_tokens_add(t, "spaced", "a secret with spaces", 0, false, err, sizeof err) != 0, "spaces");
    http_tokens_free(t);
}

TEST(rates_are_buckets_per_token)
{
    struct http_tokens *t = http_tokens_new(0);
    char err[200];
    http_tokens_add(t, "slow", "slow-secret-value", 6, false, err, sizeof err); /* one every 10 s */
    http_tokens_add(t, "free", "free-secret-value", 0, false, err, sizeof err);
    const struct http_caller *slow = http_tokens_find(t, "slow-secret-value", 17);
    const struct http_caller *free_ = http_tokens_find(t, "free-secret-value", 17);
    int retry = 0, allowed = 0;
    for (int i = 0; i < 10; i++)
        allowed += http_tokens_take(t, slow, 1000, &retry);
    CHECK(allowed == 6, "a full bucket lets 6 through at once, not %d", allowed);
    CHECK(retry >= 9 && retry <= 10, "retry after %d s", retry);
    CHECK(!http_tokens_take(t, slow, 5000, &retry), "4 s later: still empty");
    CHECK(http_tokens_take(t, slow, 11000, &retry), "10 s later: one more");
    for (int i = 0; i < 1000; i++)
        CHECK(http_tokens_take(t, free_, 1000, &retry), "rate 0: no limit");
    http_tokens_free(t);
    t = http_tokens_new(2);
    const struct http_caller *anon = http_tokens_find(t, NULL, 0);
    allowed = 0;
    for (int i = 0; i < 5; i++)
        allowed += http_tokens_take(t, anon, 0, &retry);
    CHECK(allowed == 2, "the anonymous caller has the default rate: %d", allowed);
    http_tokens_free(t);
}

TEST(the_tokens_file_is_read_line_by_line)
{
    char path[] = "/tmp/test_http_tokens_XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0, "mkstemp");
    const char text[] = "# name secret rights\n\n"
                        "studio  studio-secret-0123456789 rate=0 priority   # the studio\n"
                        "public\tpublic-secret-0123456789\trate=10\r\n"
                        "plain   plain-secret-0123456789\n";
    REQUIRE(write(fd, text, sizeof text - 1) == (ssize_t)(sizeof text - 1), "write");
    close(fd);
    struct http_tokens *t = http_tokens_new(60);
    char err[300] = "";
    REQUIRE(http_tokens_load_file(t, path, err, sizeof err) == 0, "%s", err);
    CHECK(http_tokens_count(t) == 3, "%zu tokens", http_tokens_count(t));
    const struct http_caller *c = http_tokens_find(t, "studio-secret-0123456789", 24);
    CHECK(c && c->may_prioritize, "studio may prioritise");
    c = http_tokens_find(t, "plain-secret-0123456789", 23);
    CHECK(c && !c->may_prioritize, "plain may not");
    int retry, allowed = 0;
    for (int i = 0; i < 100; i++)
        allowed += http_tokens_take(t, c, 0, &retry);
    CHECK(allowed == 60, "plain has the default rate: %d", allowed);
    http_tokens_free(t);

    const char *bad[] = { "lonely\n", "x short-secret\n", "x long-enough-secret-123 rate=abc\n",
                          "x long-enough-secret-123 admin\n", "# nothing\n" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        FILE *f = fopen(path, "w");
        fputs(bad[i], f);
        fclose(f);
        t = http_tokens_new(0);
        CHECK(http_tokens_load_file(t, path, err, sizeof err) != 0, "'%s' accepted", bad[i]);
        CHECK(!strstr(err, "secret-"), "the message shows no secret: %s", err);
        http_tokens_free(t);
    }
    unlink(path);
    t = http_tokens_new(0);
    CHECK(http_tokens_load_file(t, "/nonexistent/tokens", err, sizeof err) != 0, "a missing file");
    http_tokens_free(t);
}

TEST(loopback_listeners_are_told_apart)
{
    const char *loop[] = { "127.0.0.1", "127.1.2.3", "::1", "localhost" };
    for (size_t i = 0; i < sizeof loop / sizeof *loop; i++)
        CHECK(http_host_is_loopback(loop[i]), "%s", loop[i]);
    const char *open[] = { "0.0.0.0", "::", "10.0.0.1", "192.168.1.1", "", "no-such-host.invalid" };
    for (size_t i = 0; i < sizeof open / sizeof *open; i++)
        CHECK(!http_host_is_loopback(open[i]), "%s", open[i]);
}

TEST(host_headers_are_checked_against_the_listener)
{
    CHECK(http_host_allowed(NULL, true, NULL), "no Host (HTTP/1.0)");
    const char *ok[] = { "localhost", "localhost:4001", "LOCALHOST:4001", "127.0.0.1:4001", "127.9.9.9",
                         "[::1]:4001", "[::1]" };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        CHECK(http_host_allowed(ok[i], true, NULL), "%s", ok[i]);
    const char *foreign[] = { "evil.example", "evil.example:4001", "localhost.evil.example", "", ":4001",
                              "[::1", "127.0.0.1:1:2", "[::2]:4001", "128.0.0.1" };
    for (size_t i = 0; i < sizeof foreign / sizeof *foreign; i++)
        CHECK(!http_host_allowed(foreign[i], true, NULL), "'%s' allowed", foreign[i]);
    CHECK(http_host_allowed("pool.example:443", true, "a.example, pool.example"), "listed");
    CHECK(!http_host_allowed("other.example", true, "a.example, pool.example"), "not listed");
    CHECK(http_host_allowed("anything.example", false, NULL), "non-loopback, no list: any");
    CHECK(!http_host_allowed("anything.example", false, "pool.example"), "non-loopback with a list");
    CHECK(!http_host_allowed("localhost", false, "pool.example"), "loopback names only on loopback");
    CHECK(http_host_allowed("x.example", false, "*"), "*");
}

int main(void)
{
    RUN(an_empty_table_is_the_anonymous_caller);
    RUN(tokens_are_found_by_their_whole_secret);
    RUN(rates_are_buckets_per_token);
    RUN(the_tokens_file_is_read_line_by_line);
    RUN(loopback_listeners_are_told_apart);
    RUN(host_headers_are_checked_against_the_listener);
    return check_summary("test_http_tokens");
}
