/* test_log.c - JSON-lines logging (common/log.c), read back through a pipe
 * put in place of stderr: one valid JSON object per line, escaping, levels,
 * the worker and job fields, typed fields, redaction, and whole lines when
 * several processes share the pipe. */
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "check.h"
#include "log.h"

static int saved_stderr = -1, pipe_read = -1;

/* Points fd 2 at a fresh pipe; capture_end reads what was written. */
static int capture_begin(void)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    saved_stderr = dup(2);
    dup2(fds[1], 2);
    close(fds[1]);
    pipe_read = fds[0];
    return 0;
}

/* Everything the captured stderr received, NUL-terminated (closes the pipe). */
static char *read_pipe_to_end(void)
{
    FILE *in = fdopen(pipe_read, "r");
    buf text = BUF_INIT;
    buf_read_stream(&text, in, (size_t)-1 / 4);
    fclose(in);
    return buf_detach(&text, NULL);
}

static char *capture_end(void)
{
    dup2(saved_stderr, 2);
    close(saved_stderr);
    return read_pipe_to_end();
}

static int count_lines(const char *text)
{
    int n = 0;
    for (const char *p = text; *p; p++)
        n += *p == '\n';
    return n;
}

/* The first line of text as a JSON object (NULL when it is not one). */
static json_t *first_line(const char *text)
{
    const char *nl = strchr(text, '\n');
    if (!nl)
        return NULL;
    json_t *doc = json_loadb(text, (size_t)(nl - text), 0, NULL);
    if (doc && !json_is_object(doc)) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

static const char *str(json_t *doc, const char *key)
{
    const char *s = json_string_value(json_object_get(doc, key));
    return s ? s : "(missing)";
}

static void reset(void)
{
    log_set_level(LOG_INFO);
    log_set_worker(NULL);
    log_set_job(NULL);
    log_clear_secrets();
}

TEST(a_line_is_one_json_object)
{
    reset();
    REQUIRE(capture_begin() == 0, "pipe");
    log_info("took job %s after %d ms", "song-42", 12);
    char *out = capture_end();
    CHECK(count_lines(out) == 1, "%d lines: %s", count_lines(out), out);
    json_t *doc = first_line(out);
    REQUIRE(doc, "not JSON: %s", out);
    CHECK(strcmp(str(doc, "level"), "info") == 0, "%s", out);
    CHECK(strcmp(str(doc, "msg"), "took job song-42 after 12 ms") == 0, "%s", out);
    const char *ts = str(doc, "ts");
    int y, mo, d, h, mi, s, ms;
    char z = 0;
    CHECK(strlen(ts) == 24 &&
              sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &h, &mi, &s, &ms, &z) == 8 &&
              z == 'Z' && y >= 2024,
          "ts %s", ts);
    CHECK(strncmp(out, "{\"ts\":", 6) == 0, "ts is not first: %s", out);
    CHECK(!json_object_get(doc, "worker") && !json_object_get(doc, "job"), "%s", out);
    json_decref(doc);
    free(out);
}

TEST(levels_below_the_threshold_are_dropped)
{
    reset();
    enum log_level level;
    CHECK(log_level_parse("warning", &level) == 0 && level == LOG_WARN, "warning");
    CHECK(log_level_parse("debug", &level) == 0 && level == LOG_DEBUG, "debug");
    CHECK(log_level_parse("verbose", &level) == -1, "verbose was accepted");
    log_set_level(LOG_WARN);
    REQUIRE(capture_begin() == 0, "pipe");
    log_debug("d");
    log_info("i");
    log_warn("w");
    log_error("e");
    char *out = capture_end();
    CHECK(count_lines(out) == 2, "%s", out);
    CHECK(strstr(out, "\"level\":\"warn\",\"msg\":\"w\"") &&
              strstr(out, "\"level\":\"error\",\"msg\":\"e\""),
          "%s", out);
    CHECK(!log_enabled(LOG_INFO) && log_enabled(LOG_ERROR), "log_enabled");
    free(out);
}

TEST(text_is_escaped)
{
    reset();
    const char *msg = "quote \" backslash \\ newline \n tab \t bell \x01 del \x7f caf\xc3\xa9 "
                      "\xe2\x99\xaa emoji \xf0\x9f\x8e\xb5 bad \xff \xc3 end";
    const char *expected = "quote \" backslash \\ newline \n tab \t bell \x01 del \x7f caf\xc3\xa9 "
                           "\xe2\x99\xaa emoji \xf0\x9f\x8e\xb5 bad \xef\xbf\xbd \xef\xbf\xbd end";
    REQUIRE(capture_begin() == 0, "pipe");
    log_kv(LOG_INFO, msg, LOG_STR("we\"ird\nkey", "v\\"));
    log_kv(LOG_INFO, "overlong", LOG_STR("v", "\xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80"));
    char *out = capture_end();
    CHECK(count_lines(out) == 2, "a newline escaped the line: %s", out);
    json_t *doc = first_line(out);
    REQUIRE(doc, "not JSON: %s", out);
    CHECK(strcmp(str(doc, "msg"), expected) == 0, "msg %s", str(doc, "msg"));
    CHECK(strcmp(str(doc, "we\"ird\nkey"), "v\\") == 0, "%s", out);
    json_decref(doc);
    doc = first_line(strchr(out, '\n') + 1);
    REQUIRE(doc, "overlong forms made invalid JSON: %s", out);
    CHECK(strcmp(str(doc, "v"),
                 "\xef\xbf\xbd\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd "
                 "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd") == 0,
          "%s", out);
    json_decref(doc);
    free(out);
}

static void *log_from_thread(void *arg)
{
    (void)arg;
    log_info("from another thread");
    log_set_job("job-b");
    log_info("thread with its own job");
    return NULL;
}

TEST(worker_and_job_fields)
{
    reset();
    log_set_worker("host-1");
    log_set_job("song-42");
    REQUIRE(capture_begin() == 0, "pipe");
    log_info("main");
    pthread_t t;
    pthread_create(&t, NULL, log_from_thread, NULL);
    pthread_join(t, NULL);
    log_info("main again");
    log_set_job(NULL);
    log_info("no job");
    char *out = capture_end();
    REQUIRE(count_lines(out) == 5, "%s", out);
    const char *line = out;
    const char *expect_job[] = { "song-42", NULL, "job-b", "song-42", NULL };
    for (int i = 0; i < 5; i++, line = strchr(line, '\n') + 1) {
        json_t *doc = first_line(line);
        REQUIRE(doc, "line %d: %s", i, line);
        CHECK(strcmp(str(doc, "worker"), "host-1") == 0, "line %d: %s", i, line);
        json_t *job = json_object_get(doc, "job");
        if (expect_job[i])
            CHECK(job && strcmp(json_string_value(job), expect_job[i]) == 0, "line %d: %s", i,
                  line);
        else
            CHECK(!job, "line %d has a job: %s", i, line);
        json_decref(doc);
    }
    CHECK(strcmp(log_job(), "") == 0, "log_job %s", log_job());
    free(out);
}

TEST(typed_fields)
{
    reset();
    REQUIRE(capture_begin() == 0, "pipe");
    log_kv(LOG_WARN, "job finished", LOG_STR("stage", "encoding"), LOG_INT("ms", -812),
           LOG_NUM("rtf", 0.1), LOG_NUM("nan", 0.0 / 0.0), LOG_BOOL("cached", 1),
           LOG_JSON("config", "{\"workers\":2,\"list\":[1,\"a\"]}"), LOG_STR("none", NULL),
           LOG_INT("big", 9007199254740993LL));
    char *out = capture_end();
    json_t *doc = first_line(out);
    REQUIRE(doc, "not JSON: %s", out);
    CHECK(strcmp(str(doc, "stage"), "encoding") == 0, "%s", out);
    CHECK(json_integer_value(json_object_get(doc, "ms")) == -812, "%s", out);
    CHECK(json_real_value(json_object_get(doc, "rtf")) == 0.1 && strstr(out, "\"rtf\":0.1,"),
          "%s", out);
    CHECK(json_is_null(json_object_get(doc, "nan")), "%s", out);
    CHECK(json_is_true(json_object_get(doc, "cached")), "%s", out);
    CHECK(json_integer_value(json_object_get(json_object_get(doc, "config"), "workers")) == 2,
          "%s", out);
    CHECK(json_is_null(json_object_get(doc, "none")), "%s", out);
    CHECK(strstr(out, "\"big\":9007199254740993"), "%s", out);
    json_decref(doc);
    free(out);
}

TEST(secrets_never_appear)
{
    reset();
    CHECK(log_add_secret("") == -1, "an empty secret was accepted");
    CHECK(log_add_secret("hunter2") == 0, "add");
    CHECK(log_add_secret("pa\"ss\\word") == 0, "add");
    REQUIRE(capture_begin() == 0, "pipe");
    log_info("connecting with hunter2 and hunter2hunter2");
    log_kv(LOG_INFO, "url", LOG_STR("redis", "redis://:hunter2@host"),
           LOG_STR("other", "pa\"ss\\word!"), LOG_JSON("raw", "{\"p\":\"hunter2\"}"),
           LOG_STR("hunter2", "in a key"));
    char *out = capture_end();
    CHECK(!strstr(out, "hunter2") && !strstr(out, "ss\\\\word"), "a secret shows: %s", out);
    json_t *doc = first_line(out);
    REQUIRE(doc, "not JSON: %s", out);
    CHECK(strcmp(str(doc, "msg"), "connecting with *** and ******") == 0, "%s", out);
    json_decref(doc);
    doc = first_line(strchr(out, '\n') + 1);
    REQUIRE(doc, "not JSON: %s", out);
    CHECK(strcmp(str(doc, "redis"), "redis://:***@host") == 0, "%s", out);
    CHECK(strcmp(str(doc, "other"), "***!") == 0, "%s", out);
    CHECK(strcmp(str(json_object_get(doc, "raw"), "p"), "***") == 0, "%s", out);
    json_decref(doc);
    free(out);
    log_clear_secrets();
}

TEST(long_messages)
{
    reset();
    static char big[20000];
    memset(big, 'x', sizeof big - 1);
    REQUIRE(capture_begin() == 0, "pipe");
    log_info("%.*s|", 600, big); /* longer than the formatting buffer on the stack */
    log_fields(LOG_INFO, big, NULL); /* longer than a value may be */
    char *out = capture_end();
    REQUIRE(count_lines(out) == 2, "%s", out);
    json_t *doc = first_line(out);
    REQUIRE(doc, "not JSON");
    CHECK(strlen(str(doc, "msg")) == 601 && str(doc, "msg")[600] == '|', "%zu",
          strlen(str(doc, "msg")));
    json_decref(doc);
    doc = first_line(strchr(out, '\n') + 1);
    REQUIRE(doc, "not JSON");
    const char *msg = str(doc, "msg");
    CHECK(strlen(msg) == 8192 + strlen("...(truncated)") && strstr(msg, "...(truncated)"), "%zu",
          strlen(msg));
    json_decref(doc);
    free(out);
}

/* Processes sharing one stderr pipe: every line arrives whole. */
TEST(processes_do_not_interleave_lines)
{
    reset();
    enum { CHILDREN = 4, LINES = 300 };
    REQUIRE(capture_begin() == 0, "pipe");
    pid_t pids[CHILDREN];
    for (int c = 0; c < CHILDREN; c++) {
        pids[c] = fork();
        if (pids[c] == 0) {
            close(pipe_read);
            char worker[16], filler[1500];
            snprintf(worker, sizeof worker, "w%d", c);
            memset(filler, 'a' + c, sizeof filler - 1);
            filler[sizeof filler - 1] = '\0';
            log_set_worker(worker);
            for (int i = 0; i < LINES; i++)
                log_kv(LOG_INFO, filler, LOG_INT("i", i));
            _exit(0);
        }
    }
    /* Read while they write: the pipe holds far less than they send. */
    dup2(saved_stderr, 2);
    close(saved_stderr);
    char *out = read_pipe_to_end();
    for (int c = 0; c < CHILDREN; c++)
        waitpid(pids[c], NULL, 0);

    int lines = 0, bad = 0, per_worker[CHILDREN] = { 0 };
    for (char *line = out, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
        lines++;
        json_t *doc = json_loadb(line, (size_t)(nl - line), 0, NULL);
        const char *w = doc ? str(doc, "worker") : "";
        const char *msg = doc ? str(doc, "msg") : "";
        int c = w[0] == 'w' ? w[1] - '0' : -1;
        char fill[2] = { (char)('a' + c), '\0' };
        if (c < 0 || c >= CHILDREN || strlen(msg) != 1499 || strspn(msg, fill) != 1499)
            bad++;
        else
            per_worker[c]++;
        json_decref(doc);
    }
    CHECK(lines == CHILDREN * LINES && bad == 0, "%d lines, %d broken", lines, bad);
    for (int c = 0; c < CHILDREN; c++)
        CHECK(per_worker[c] == LINES, "worker %d: %d lines", c, per_worker[c]);
    free(out);
}

/* A budget per second: the lines over it are counted, and the next line let
 * through says how many. */
TEST(a_limit_counts_what_it_drops)
{
    struct log_limit limit = { .per_second = 3 };
    int64_t dropped = -1;
    int allowed = 0;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (int i = 0; i < 1000; i++)
        allowed += log_limit_allow(&limit, &dropped);
    struct timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    if (end.tv_sec != start.tv_sec)
        return; /* the second turned meanwhile: the count is not known */
    CHECK(allowed == 3, "%d lines allowed in a second", allowed);
    limit.second -= 1; /* as if a second passed */
    CHECK(log_limit_allow(&limit, &dropped) && dropped == 997, "dropped %lld", (long long)dropped);
    CHECK(log_limit_allow(&limit, &dropped) && dropped == 0, "then %lld", (long long)dropped);
}

int main(void)
{
    RUN(a_line_is_one_json_object);
    RUN(levels_below_the_threshold_are_dropped);
    RUN(text_is_escaped);
    RUN(worker_and_job_fields);
    RUN(typed_fields);
    RUN(secrets_never_appear);
    RUN(long_messages);
    RUN(processes_do_not_interleave_lines);
    RUN(a_limit_counts_what_it_drops);
    reset();
    return check_summary("test_log");
}
