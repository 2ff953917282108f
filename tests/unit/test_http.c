/* test_http.c - the daemon's HTTP server (worker/http.c) on real loopback
 * sockets: libcurl for ordinary requests, raw sockets where a client must
 * misbehave (half a request, a path curl would clean up, hanging up).
 *
 * Three servers share one event loop in a second thread, all backed by a fake
 * backend: `open` (no token, /debug/torch on, 100 ms polls), `guarded` (a
 * bearer token, /debug/torch off, a 1 s timeout, one ?wait slot, a 4 KiB body
 * limit) and `slow_poll` (5 s polls). Job ids tell the fake how to behave:
 * "after-N" succeeds N ms after it was submitted, "never-..." stays queued,
 * "fail-..." fails, "down-..." finds Redis unreachable, "dup-..." is refused
 * as a duplicate, "notify-1" ends 200 ms after it was submitted and says so
 * through http_server_job_finished. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "util.h"
#include "check.h"

static const char *const TOKEN = "s3cret-token-42";

/* ---- The fake backend (runs on the server thread) ---------------------------------- */

struct submitted {
    char id[129];
    int64_t at_ms;
};

struct fake {
    pthread_mutex_t mu;
    struct submitted jobs[64];
    int n_jobs;
    char last_job[80000];
    bool model_loaded, redis_ok;
    atomic_int status_calls_never_hangup;
};

static struct fake fake = { .mu = PTHREAD_MUTEX_INITIALIZER };

static struct event_base *base;
static struct http_server *open_srv, *guarded_srv, *slow_poll_srv, *default_wait_srv;
static struct http_server *minted_srv; /* mints every id: a body's "id" is refused */
static atomic_bool notified_job_done;

/* 200 ms after "notify-1" is submitted, it ends and the server is told so. */
static void on_notify(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    notified_job_done = true;
    http_server_job_finished(slow_poll_srv, "notify-1");
}


static enum http_submit_status fake_submit(void *ctx, const char *job, size_t len,
                                           struct http_error *err)
{
    (void)ctx;
    json_t *doc = json_loadb(job, len, 0, NULL);
    const char *id = json_string_value(json_object_get(doc, "id"));
    enum http_submit_status st = HTTP_SUBMIT_OK;
    if (!id) {
        snprintf(err->code, sizeof err->code, "invalid_job");
        snprintf(err->message, sizeof err->message, "the fake saw no id");
        st = HTTP_SUBMIT_INVALID;
    } else if (!json_object_get(doc, "narrative")) {
        snprintf(err->code, sizeof err->code, "invalid_job");
        snprintf(err->message, sizeof err->message, "narrative is required");
        st = HTTP_SUBMIT_INVALID;
    } else if (strncmp(id, "down-", 5) == 0) {
        st = HTTP_SUBMIT_UNAVAILABLE;
    } else if (strcmp(id, "notify-1") == 0) {
        struct timeval tv = { 0, 200 * 1000 };
        event_base_once(base, -1, EV_TIMEOUT, on_notify, NULL, &tv);
    } else if (json_object_get(doc, "full")) {
        snprintf(err->code, sizeof err->code, "queue_full");
        snprintf(err->message, sizeof err->message, "the queue is full");
        st = HTTP_SUBMIT_FULL;
    } else if (strncmp(id, "dup-", 4) == 0) {
        snprintf(err->code, sizeof err->code, "duplicate_id");
        snprintf(err->message, sizeof err->message, "job %s exists", id);
        st = HTTP_SUBMIT_CONFLICT;
    }
    pthread_mutex_lock(&fake.mu);
    snprintf(fake.last_job, sizeof fake.last_job, "%.*s", (int)len, job);
    if (st == HTTP_SUBMIT_OK && fake.n_jobs < 64) {
        snprintf(fake.jobs[fake.n_jobs].id, sizeof fake.jobs[0].id, "%s", id);
        fake.jobs[fake.n_jobs++].at_ms = clock_monotonic_ms();
    }
    pthread_mutex_unlock(&fake.mu);
    json_decref(doc);
    return st;
}

static int64_t submitted_at(const char *id)
{
    int64_t at = -1;
    pthread_mutex_lock(&fake.mu);
    for (int i = 0; i < fake.n_jobs; i++)
        if (strcmp(fake.jobs[i].id, id) == 0)
            at = fake.jobs[i].at_ms;
    pthread_mutex_unlock(&fake.mu);
    return at;
}

static char *status_doc(const char *id, const char *status)
{
    char buf[400];
    snprintf(buf, sizeof buf, "{\"id\":\"%s\",\"status\":\"%s\"}", id, status);
    return strdup(buf);
}

static enum http_job_state fake_job_status(void *ctx, const char *id, char **status_json,
                                           char **result_json)
{
    (void)ctx;
    if (strncmp(id, "never-hangup", 12) == 0)
        fake.status_calls_never_hangup++;
    if (strncmp(id, "down-", 5) == 0)
        return HTTP_JOB_UNAVAILABLE;
    if (strncmp(id, "fail-", 5) == 0) {
        *status_json = status_doc(id, "failed");
        return HTTP_JOB_FAILED;
    }
    if (strcmp(id, "notify-1") == 0 && notified_job_done) {
        *status_json = status_doc(id, "succeeded");
        if (result_json)
            *result_json = strdup("{\"title\":\"Notified\"}");
        return HTTP_JOB_SUCCEEDED;
    }
    if (strcmp(id, "done-job") == 0 || strncmp(id, "after-", 6) == 0) {
        int64_t at = submitted_at(id);
        bool done = strcmp(id, "done-job") == 0 ||
                    (at >= 0 && clock_monotonic_ms() - at >= strtol(id + 6, NULL, 10));
        if (!done && at < 0)
            return HTTP_JOB_UNKNOWN;
        *status_json = status_doc(id, done ? "succeeded" : "running");
        if (done && result_json)
            *result_json = strdup("{\"title\":\"A Song\",\"sections\":[]}");
        return done ? HTTP_JOB_SUCCEEDED : HTTP_JOB_RUNNING;
    }
    if (submitted_at(id) >= 0 || strncmp(id, "never-", 6) == 0) {
        *status_json = status_doc(id, "queued");
        return HTTP_JOB_QUEUED;
    }
    return HTTP_JOB_UNKNOWN;
}

static void fake_readiness(void *ctx, bool *model_loaded, bool *redis_ok)
{
    (void)ctx;
    pthread_mutex_lock(&fake.mu);
    *model_loaded = fake.model_loaded;
    *redis_ok = fake.redis_ok;
    pthread_mutex_unlock(&fake.mu);
}

static char *fake_torch_info(void *ctx)
{
    (void)ctx;
    return strdup("{\"libtorch\":\"1.13.1\",\"cuda\":false,\"device\":\"cpu\"}");
}

static const char METRICS[] = "# HELP jen1_up Up\n# TYPE jen1_up gauge\njen1_up 1\n";

static char *fake_metrics(void *ctx, size_t *len)
{
    (void)ctx;
    *len = sizeof METRICS - 1;
    return strdup(METRICS);
}

static const struct http_backend backend = {
    .submit = fake_submit,
    .job_status = fake_job_status,
    .readiness = fake_readiness,
    .torch_info = fake_torch_info,
    .metrics_text = fake_metrics,
};

/* ---- The servers' thread ------------------------------------------------------------- */

static int open_port, guarded_port, slow_poll_port, default_wait_port, minted_port;
static int stop_pipe[2];
static struct event *stop_event;
static pthread_t loop_thread;

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

static void *run_loop(void *arg)
{
    (void)arg;
    event_base_dispatch(base);
    return NULL;
}

static int start_servers(void)
{
    char err[256];
    base = event_base_new();
    struct http_options open_opt = { .host = "127.0.0.1", .port = 0, .debug_torch = true,
                                     .client_ids = true };
    struct http_options guarded_opt = { .host = "127.0.0.1", .port = 0, .api_token = TOKEN, .client_ids = true,
                                        .timeout_s = 1, .max_waiters = 1,
                                        .max_body_bytes = 4096 };
    open_srv = http_server_start(base, &open_opt, &backend, err, sizeof err);
    if (!open_srv) {
        fprintf(stderr, "open server: %s\n", err);
        return -1;
    }
    guarded_srv = http_server_start(base, &guarded_opt, &backend, err, sizeof err);
    if (!guarded_srv) {
        fprintf(stderr, "guarded server: %s\n", err);
        return -1;
    }
    struct http_options slow_poll_opt = { .host = "127.0.0.1", .port = 0, .poll_ms = 5000,
                                          .client_ids = true };
    slow_poll_srv = http_server_start(base, &slow_poll_opt, &backend, err, sizeof err);
    if (!slow_poll_srv) {
        fprintf(stderr, "slow-poll server: %s\n", err);
        return -1;
    }
    struct http_options default_wait_opt = { .host = "127.0.0.1", .port = 0, .default_wait_s = 3,
                                             .client_ids = true };
    default_wait_srv = http_server_start(base, &default_wait_opt, &backend, err, sizeof err);
    if (!default_wait_srv) {
        fprintf(stderr, "default-wait server: %s\n", err);
        return -1;
    }
    struct http_options minted_opt = { .host = "127.0.0.1", .port = 0 };
    minted_srv = http_server_start(base, &minted_opt, &backend, err, sizeof err);
    if (!minted_srv) {
        fprintf(stderr, "minted server: %s\n", err);
        return -1;
    }
    minted_port = http_server_port(minted_srv);
    default_wait_port = http_server_port(default_wait_srv);
    slow_poll_port = http_server_port(slow_poll_srv);
    open_port = http_server_port(open_srv);
    guarded_port = http_server_port(guarded_srv);
    if (pipe(stop_pipe) != 0)
        return -1;
    stop_event = event_new(base, stop_pipe[0], EV_READ, on_stop, base);
    event_add(stop_event, NULL);
    return pthread_create(&loop_thread, NULL, run_loop, NULL) == 0 ? 0 : -1;
}

/* ---- Clients ------------------------------------------------------------------------- */

struct response {
    long status;
    char body[80000];
    size_t body_len;
    char content_type[128], allow[64], location[200], www_authenticate[64], preference_applied[64];
    char retry_after[32];
    double seconds;
};

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct response *r = arg;
    size_t len = size * n, room = sizeof r->body - 1 - r->body_len;
    memcpy(r->body + r->body_len, data, len < room ? len : room);
    r->body_len += len < room ? len : room;
    r->body[r->body_len] = '\0';
    return len;
}

static void copy_header(char *dst, size_t size, const char *line, size_t len, const char *name)
{
    size_t n = strlen(name);
    if (len <= n || strncasecmp(line, name, n) != 0)
        return;
    const char *v = line + n;
    size_t vlen = len - n;
    while (vlen && (*v == ' '))
        v++, vlen--;
    while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n'))
        vlen--;
    snprintf(dst, size, "%.*s", (int)vlen, v);
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    struct response *r = arg;
    size_t len = size * n;
    copy_header(r->content_type, sizeof r->content_type, data, len, "Content-Type:");
    copy_header(r->allow, sizeof r->allow, data, len, "Allow:");
    copy_header(r->location, sizeof r->location, data, len, "Location:");
    copy_header(r->www_authenticate, sizeof r->www_authenticate, data, len, "WWW-Authenticate:");
    copy_header(r->preference_applied, sizeof r->preference_applied, data, len, "Preference-Applied:");
    copy_header(r->retry_after, sizeof r->retry_after, data, len, "Retry-After:");
    return len;
}

/* One request; headers is NULL-terminated. Returns 0 when an answer came. */
static int http(int port, const char *method, const char *path, const char *const *headers,
                const char *body, struct response *r)
{
    memset(r, 0, sizeof *r);
    CURL *c = curl_easy_init();
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    struct curl_slist *list = NULL;
    for (const char *const *h = headers; h && *h; h++)
        list = curl_slist_append(list, *h);
    list = curl_slist_append(list, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    int64_t t0 = clock_monotonic_ms();
    CURLcode rc = curl_easy_perform(c);
    r->seconds = (double)(clock_monotonic_ms() - t0) / 1000;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(list);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK)
        fprintf(stderr, "    curl %s %s: %s\n", method, path, curl_easy_strerror(rc));
    return rc == CURLE_OK ? 0 : -1;
}

static const char *const JSON[] = { "Content-Type: application/json", NULL };

static int post_json(int port, const char *path, const char *body, struct response *r)
{
    return http(port, "POST", path, JSON, body, r);
}

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

/* The "error" member of a JSON error answer ("" when there is none). */
static const char *error_code(const struct response *r)
{
    static char code[64];
    json_t *doc = json_loads(r->body, 0, NULL);
    snprintf(code, sizeof code, "%s", or_empty(json_string_value(json_object_get(doc, "error"))));
    json_decref(doc);
    return code;
}

static int connect_raw(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* Reads until the server closes or timeout_ms passes; returns the bytes read. */
static size_t read_until_close(int fd, char *buf, size_t size, int timeout_ms, bool *closed)
{
    size_t len = 0;
    int64_t deadline = clock_monotonic_ms() + timeout_ms;
    *closed = false;
    while (len + 1 < size) {
        int left = (int)(deadline - clock_monotonic_ms());
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (left <= 0 || poll(&p, 1, left) <= 0)
            break;
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n <= 0) {
            *closed = true;
            break;
        }
        len += (size_t)n;
    }
    buf[len] = '\0';
    return len;
}

/* Sends raw bytes, returns the status code of the answer (0 when none). */
static int raw_status(int port, const char *request)
{
    int fd = connect_raw(port);
    if (fd < 0)
        return 0;
    if (write(fd, request, strlen(request)) < 0) {
        close(fd);
        return 0;
    }
    char buf[4096];
    bool closed;
    read_until_close(fd, buf, sizeof buf, 2000, &closed);
    close(fd);
    int status = 0;
    sscanf(buf, "HTTP/1.%*d %d", &status);
    return status;
}

/* ---- Tests --------------------------------------------------------------------------- */

TEST(health_answers_ok)
{
    struct response r;
    REQUIRE(http(open_port, "GET", "/health", NULL, NULL, &r) == 0, "no answer");
    CHECK(r.status == 200, "status %ld", r.status);
    CHECK(strcmp(r.body, "{\"status\":\"ok\"}") == 0, "body %s", r.body);
    CHECK(strncmp(r.content_type, "application/json", 16) == 0, "type %s", r.content_type);
    REQUIRE(http(open_port, "HEAD", "/health", NULL, NULL, &r) == 0, "no answer to HEAD");
    CHECK(r.status == 200 && r.body_len == 0, "HEAD: %ld with %zu bytes", r.status, r.body_len);
}

TEST(ready_says_what_is_missing)
{
    struct response r;
    fake.model_loaded = false;
    fake.redis_ok = true;
    REQUIRE(http(open_port, "GET", "/ready", NULL, NULL, &r) == 0, "no answer");
    CHECK(r.status == 503, "status %ld", r.status);
    CHECK(strstr(r.body, "\"missing\":[\"model\"]") != NULL, "body %s", r.body);
    fake.redis_ok = false;
    http(open_port, "GET", "/ready", NULL, NULL, &r);
    CHECK(r.status == 503 && strstr(r.body, "[\"model\",\"redis\"]"), "%ld %s", r.status, r.body);
    fake.model_loaded = true;
    fake.redis_ok = true;
    http(open_port, "GET", "/ready", NULL, NULL, &r);
    CHECK(r.status == 200 && strstr(r.body, "\"status\":\"ready\""), "%ld %s", r.status, r.body);
    CHECK(!strstr(r.body, "missing"), "body %s", r.body);
}

TEST(metrics_are_prometheus_text)
{
    struct response r;
    REQUIRE(http(open_port, "GET", "/metrics", NULL, NULL, &r) == 0, "no answer");
    CHECK(r.status == 200, "status %ld", r.status);
    CHECK(strncmp(r.content_type, "text/plain; version=0.0.4", 25) == 0, "type %s",
          r.content_type);
    CHECK(strcmp(r.body, METRICS) == 0, "body %s", r.body);
}

TEST(debug_torch_only_when_enabled)
{
    struct response r;
    http(open_port, "GET", "/debug/torch", NULL, NULL, &r);
    CHECK(r.status == 200 && strstr(r.body, "\"libtorch\""), "%ld %s", r.status, r.body);
    http(guarded_port, "GET", "/debug/torch", NULL, NULL, &r);
    CHECK(r.status == 404, "disabled: status %ld", r.status);
    CHECK(strcmp(error_code(&r), "not_found") == 0, "body %s", r.body);
}

TEST(unknown_paths_are_404_and_wrong_methods_405)
{
    struct response r;
    http(open_port, "GET", "/nope", NULL, NULL, &r);
    CHECK(r.status == 404 && strcmp(error_code(&r), "not_found") == 0, "%ld %s", r.status, r.body);
    http(open_port, "GET", "/health/", NULL, NULL, &r);
    CHECK(r.status == 404, "/health/: %ld", r.status);
    http(open_port, "GET", "/jobs", NULL, NULL, &r);
    CHECK(r.status == 404, "/jobs: %ld", r.status);
    http(open_port, "GET", "/generate", NULL, NULL, &r);
    CHECK(r.status == 405 && strcmp(r.allow, "POST") == 0, "%ld Allow: %s", r.status, r.allow);
    CHECK(strcmp(error_code(&r), "method_not_allowed") == 0, "body %s", r.body);
    http(open_port, "DELETE", "/health", NULL, NULL, &r);
    CHECK(r.status == 405 && strcmp(r.allow, "GET, HEAD") == 0, "%ld Allow: %s", r.status,
          r.allow);
    http(open_port, "POST", "/jobs/done-job", JSON, "{}", &r);
    CHECK(r.status == 405, "POST /jobs/ID: %ld", r.status);
}

TEST(generate_makes_an_id_and_keeps_the_body)
{
    struct response r;
    const char *body = "  {\"narrative\":\"A lighthouse\",\"duration\":8.50,\"x\":{\"k\":[1,2]}}";
    REQUIRE(post_json(open_port, "/generate", body, &r) == 0, "no answer");
    CHECK(r.status == 202, "status %ld: %s", r.status, r.body);
    json_t *doc = json_loads(r.body, 0, NULL);
    const char *id = json_string_value(json_object_get(doc, "id"));
    REQUIRE(id, "no id in %s", r.body);
    CHECK(strlen(id) == 32 && strspn(id, "0123456789abcdef") == 32, "id %s", id);
    CHECK(strcmp(json_string_value(json_object_get(doc, "status")), "queued") == 0, "%s", r.body);
    char url[64], expected[256];
    snprintf(url, sizeof url, "/jobs/%s", id);
    CHECK(strcmp(or_empty(json_string_value(json_object_get(doc, "status_url"))), url) == 0, "%s",
          r.body);
    CHECK(strcmp(r.location, url) == 0, "Location %s", r.location);
    snprintf(expected, sizeof expected,
             "  {\"id\":\"%s\",\"narrative\":\"A lighthouse\",\"duration\":8.50,"
             "\"x\":{\"k\":[1,2]}}", id);
    pthread_mutex_lock(&fake.mu);
    CHECK(strcmp(fake.last_job, expected) == 0, "backend got %s", fake.last_job);
    pthread_mutex_unlock(&fake.mu);

    char second[64];
    snprintf(second, sizeof second, "%s", id);
    json_decref(doc);
    post_json(open_port, "/generate", body, &r);
    doc = json_loads(r.body, 0, NULL);
    CHECK(strcmp(or_empty(json_string_value(json_object_get(doc, "id"))), second) != 0,
          "two jobs got the id %s", second);
    json_decref(doc);
}

TEST(generate_keeps_a_given_id)
{
    struct response r;
    const char *body = "{\"id\":\"song-42\",\"narrative\":\"n\",\"duration\":3}";
    post_json(open_port, "/generate", body, &r);
    CHECK(r.status == 202 && strstr(r.body, "\"id\":\"song-42\""), "%ld %s", r.status, r.body);
    pthread_mutex_lock(&fake.mu);
    CHECK(strcmp(fake.last_job, body) == 0, "backend got %s", fake.last_job);
    pthread_mutex_unlock(&fake.mu);
    post_json(open_port, "/generate", "{}", &r);
    CHECK(r.status == 400 && strcmp(error_code(&r), "invalid_job") == 0, "{}: %ld %s", r.status,
          r.body);
    CHECK(strstr(r.body, "narrative is required") != NULL, "message: %s", r.body);
}

/* Issue 10: over HTTP the server mints ids unless told otherwise (the
 * other servers here are), so that no caller can claim an id a producer
 * will use. */
TEST(generate_refuses_a_given_id_when_ids_are_minted)
{
    struct response r;
    post_json(minted_port, "/generate", "{\"id\":\"song-77\",\"narrative\":\"n\"}", &r);
    CHECK(r.status == 400 && strcmp(error_code(&r), "id_not_allowed") == 0, "%ld %s", r.status, r.body);
    post_json(minted_port, "/generate", "{\"narrative\":\"n\"}", &r);
    CHECK(r.status == 202 && !strstr(r.body, "song-77"), "%ld %s", r.status, r.body);
}

/* Issue 10: a full queue is 429 queue_full with Retry-After. */
TEST(generate_answers_429_when_the_queue_is_full)
{
    struct response r;
    post_json(open_port, "/generate", "{\"narrative\":\"n\",\"full\":true}", &r);
    CHECK(r.status == 429 && strcmp(error_code(&r), "queue_full") == 0, "%ld %s", r.status, r.body);
    CHECK(strcmp(r.retry_after, "10") == 0, "Retry-After: '%s'", r.retry_after);
}

TEST(generate_refuses_bad_bodies)
{
    static const struct {
        const char *body, *code;
    } cases[] = {
        { "{\"narrative\":", "invalid_json" },
        { "[1,2]", "invalid_json" },
        { "\"text\"", "invalid_json" },
        { "", "invalid_json" },
        { "{\"narrative\":\"a\",\"narrative\":\"b\"}", "invalid_json" },
        { "{\"narrative\":\"a\\u0000b\"}", "invalid_json" },
        { "{\"id\":\"../etc/passwd\",\"narrative\":\"a\"}", "invalid_job" },
        { "{\"id\":42,\"narrative\":\"a\"}", "invalid_job" },
        { "{\"id\":\"..\",\"narrative\":\"a\"}", "invalid_job" },
        { "{\"id\":\"\",\"narrative\":\"a\"}", "invalid_job" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct response r;
        post_json(open_port, "/generate", cases[i].body, &r);
        CHECK(r.status == 400 && strcmp(error_code(&r), cases[i].code) == 0,
              "%s: %ld %s", cases[i].body, r.status, r.body);
    }
    struct response r;
    http(open_port, "POST", "/generate", JSON, "{\"narrative\":\"\xff\xfe\"}", &r);
    CHECK(r.status == 400, "invalid UTF-8: %ld", r.status);
}

TEST(generate_checks_the_content_type)
{
    static const struct {
        const char *header;
        long status;
    } cases[] = {
        { "Content-Type: application/json", 202 },
        { "Content-Type: application/json; charset=utf-8", 202 },
        { "Content-Type: Application/JSON;charset=\"UTF-8\"", 202 },
        { "Content-Type: application/json; charset=latin1", 415 },
        { "Content-Type: text/plain", 415 },
        { "Content-Type: application/jsonx", 415 },
        { "Content-Type: application/x-www-form-urlencoded", 415 },
        { NULL, 415 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *headers[] = { cases[i].header ? cases[i].header : "Content-Type:", NULL };
        struct response r;
        http(open_port, "POST", "/generate", headers, "{\"narrative\":\"n\",\"duration\":2}", &r);
        CHECK(r.status == cases[i].status, "%s: %ld %s", headers[0], r.status, r.body);
        if (cases[i].status == 415)
            CHECK(strcmp(error_code(&r), "unsupported_media_type") == 0, "body %s", r.body);
    }
}

TEST(generate_needs_the_token_when_one_is_set)
{
    const char *body = "{\"narrative\":\"n\",\"duration\":2}";
    struct response r;
    post_json(guarded_port, "/generate", body, &r);
    CHECK(r.status == 401 && strcmp(error_code(&r), "unauthorized") == 0, "none: %ld %s",
          r.status, r.body);
    CHECK(strncmp(r.www_authenticate, "Bearer", 6) == 0, "WWW-Authenticate: %s",
          r.www_authenticate);
    static const struct {
        const char *auth;
        long status;
    } cases[] = {
        { "Authorization: Bearer s3cret-token-4", 401 },
        { "Authorization: Bearer s3cret-token-421", 401 },
        { "Authorization: Bearer S3CRET-TOKEN-42", 401 },
        { "Authorization: Basic s3cret-token-42", 401 },
        { "Authorization: s3cret-token-42", 401 },
        { "Authorization: Bearer ", 401 },
        { "Authorization: Bearer s3cret-token-42", 202 },
        { "Authorization: bearer s3cret-token-42", 202 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *headers[] = { "Content-Type: application/json", cases[i].auth, NULL };
        http(guarded_port, "POST", "/generate", headers, body, &r);
        CHECK(r.status == cases[i].status, "%s: %ld %s", cases[i].auth, r.status, r.body);
    }
    /* The token guards POST /generate only. */
    http(guarded_port, "GET", "/health", NULL, NULL, &r);
    CHECK(r.status == 200, "health: %ld", r.status);
}

TEST(generate_reports_backend_refusals)
{
    struct response r;
    post_json(open_port, "/generate", "{\"id\":\"down-1\",\"narrative\":\"n\"}", &r);
    CHECK(r.status == 503 && strcmp(error_code(&r), "redis_unavailable") == 0, "%ld %s",
          r.status, r.body);
    post_json(open_port, "/generate", "{\"id\":\"dup-1\",\"narrative\":\"n\"}", &r);
    CHECK(r.status == 409 && strcmp(error_code(&r), "duplicate_id") == 0, "%ld %s", r.status,
          r.body);
    CHECK(strstr(r.body, "job dup-1 exists") != NULL, "body %s", r.body);
}

TEST(wait_answers_with_the_song_when_it_is_done)
{
    struct response r;
    post_json(open_port, "/generate?wait=5", "{\"id\":\"after-300\",\"narrative\":\"n\"}", &r);
    CHECK(r.status == 200, "status %ld: %s", r.status, r.body);
    CHECK(strcmp(r.body, "{\"title\":\"A Song\",\"sections\":[]}") == 0, "body %s", r.body);
    CHECK(r.seconds >= 0.29 && r.seconds < 1.5, "took %.3f s", r.seconds);
    CHECK(strcmp(r.location, "/jobs/after-300") == 0, "Location %s", r.location);
}

TEST(wait_gives_up_with_202_and_the_status)
{
    struct response r;
    post_json(open_port, "/generate?wait=1", "{\"id\":\"never-1\",\"narrative\":\"n\"}", &r);
    CHECK(r.status == 202, "status %ld: %s", r.status, r.body);
    CHECK(strcmp(r.body, "{\"id\":\"never-1\",\"status\":\"queued\"}") == 0, "body %s", r.body);
    CHECK(r.seconds >= 0.95 && r.seconds < 2, "took %.3f s", r.seconds);
}

TEST(wait_returns_the_status_of_a_failed_job)
{
    struct response r;
    post_json(open_port, "/generate?wait=3", "{\"id\":\"fail-1\",\"narrative\":\"n\"}", &r);
    CHECK(r.status == 200 && strstr(r.body, "\"status\":\"failed\""), "%ld %s", r.status, r.body);
    CHECK(r.seconds < 1, "took %.3f s", r.seconds);
}

TEST(wait_checks_its_argument)
{
    static const char *const bad[] = { "0", "301", "-1", "abc", "5s", "" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char path[64];
        snprintf(path, sizeof path, "/generate?wait=%s", bad[i]);
        struct response r;
        post_json(open_port, path, "{\"narrative\":\"n\"}", &r);
        CHECK(r.status == 400 && strcmp(error_code(&r), "invalid_query") == 0, "wait=%s: %ld %s",
              bad[i], r.status, r.body);
    }
}

/* POST /generate with the given extra header lines (NULL-terminated) and
 * Content-Type: application/json. */
static void post_with(int port, const char *path, const char *const *extra, const char *body,
                      struct response *r)
{
    const char *headers[8] = { "Content-Type: application/json" };
    size_t n = 1;
    for (const char *const *h = extra; *h && n < 7; h++)
        headers[n++] = *h;
    http(port, "POST", path, headers, body, r);
}

/* The orchestrator's call: no ?wait=, no Prefer; the operator's default wait
 * answers with the song in one call. */
TEST(default_wait_answers_with_the_song)
{
    struct response r;
    const char *none[] = { NULL };
    post_with(default_wait_port, "/generate", none, "{\"id\":\"after-200\",\"narrative\":\"n\"}", &r);
    CHECK(r.status == 200 && strcmp(r.body, "{\"title\":\"A Song\",\"sections\":[]}") == 0, "%ld %s",
          r.status, r.body);
    CHECK(r.seconds >= 0.19 && r.seconds < 1.5, "took %.3f s", r.seconds);
    CHECK(r.preference_applied[0] == '\0', "Preference-Applied: %s", r.preference_applied);
    /* a malformed Prefer is ignored: the default still applies */
    const char *broken[] = { "Prefer: wait=soon", NULL };
    post_with(default_wait_port, "/generate", broken, "{\"id\":\"after-201\",\"narrative\":\"n\"}", &r);
    CHECK(r.status == 200 && r.preference_applied[0] == '\0', "%ld %s [%s]", r.status, r.body,
          r.preference_applied);
}

TEST(prefer_respond_async_answers_202_at_once)
{
    struct response r;
    const char *async[] = { "Prefer: respond-async", NULL };
    post_with(default_wait_port, "/generate", async, "{\"id\":\"after-202\",\"narrative\":\"n\"}", &r);
    CHECK(r.status == 202 && r.seconds < 0.5, "%ld after %.3f s: %s", r.status, r.seconds, r.body);
    CHECK(strcmp(r.location, "/jobs/after-202") == 0, "Location %s", r.location);
    CHECK(strcmp(r.preference_applied, "respond-async") == 0, "Preference-Applied: %s", r.preference_applied);
    CHECK(strstr(r.body, "\"status_url\":\"/jobs/after-202\""), "body %s", r.body);
}

TEST(prefer_wait_answers_with_the_song_or_202_when_it_runs_out)
{
    struct response r;
    const char *wait5[] = { "Prefer: wait=5", NULL };
    post_with(open_port, "/generate", wait5, "{\"id\":\"after-203\",\"narrative\":\"n\"}", &r);
    CHECK(r.status == 200 && strcmp(r.body, "{\"title\":\"A Song\",\"sections\":[]}") == 0, "%ld %s",
          r.status, r.body);
    CHECK(strcmp(r.preference_applied, "wait=5") == 0, "Preference-Applied: %s", r.preference_applied);

    const char *wait1[] = { "Prefer: handling=lenient", "prefer: WAIT=1; x=y", NULL }; /* two lines */
    post_with(open_port, "/generate", wait1, "{\"id\":\"never-p1\",\"narrative\":\"n\"}", &r);
    CHECK(r.status == 202 && r.seconds >= 0.95 && r.seconds < 2, "%ld after %.3f s", r.status, r.seconds);
    CHECK(strcmp(r.body, "{\"id\":\"never-p1\",\"status\":\"queued\"}") == 0, "body %s", r.body);
    CHECK(strcmp(r.location, "/jobs/never-p1") == 0, "Location %s", r.location);
    CHECK(strcmp(r.preference_applied, "wait=1") == 0, "Preference-Applied: %s", r.preference_applied);

    const char *both[] = { "Prefer: respond-async, wait=1", NULL };
    post_with(default_wait_port, "/generate", both, "{\"id\":\"never-p2\",\"narrative\":\"n\"}", &r);
    CHECK(r.status == 202 && r.seconds >= 0.95 && r.seconds < 2, "%ld after %.3f s", r.status, r.seconds);
    CHECK(strcmp(r.preference_applied, "respond-async, wait=1") == 0, "Preference-Applied: %s",
          r.preference_applied);

    const char *wait0[] = { "Prefer: wait=0", NULL };
    post_with(default_wait_port, "/generate", wait0, "{\"id\":\"never-p3\",\"narrative\":\"n\"}", &r);
    CHECK(r.status == 202 && r.seconds < 0.5, "%ld after %.3f s", r.status, r.seconds);
    CHECK(strcmp(r.preference_applied, "wait=0") == 0, "Preference-Applied: %s", r.preference_applied);
}

TEST(prefer_wait_is_capped)
{
    struct response r;
    const char *long_wait[] = { "Prefer: wait=100000", NULL };
    post_with(open_port, "/generate", long_wait, "{\"id\":\"after-204\",\"narrative\":\"n\"}", &r);
    CHECK(r.status == 200, "%ld %s", r.status, r.body);
    CHECK(strcmp(r.preference_applied, "wait=300") == 0, "Preference-Applied: %s", r.preference_applied);
}

/* ?wait= wins over Prefer, and then no preference is said to be applied. */
TEST(query_wait_wins_over_prefer)
{
    struct response r;
    const char *async[] = { "Prefer: respond-async, wait=60", NULL };
    post_with(default_wait_port, "/generate?wait=1", async, "{\"id\":\"never-p4\",\"narrative\":\"n\"}",
              &r);
    CHECK(r.status == 202 && r.seconds >= 0.95 && r.seconds < 2, "%ld after %.3f s", r.status, r.seconds);
    CHECK(r.preference_applied[0] == '\0', "Preference-Applied: %s", r.preference_applied);
    CHECK(strcmp(r.location, "/jobs/never-p4") == 0, "Location %s", r.location);
}

/* http_server_job_finished answers a wait now, not at its next poll (5 s away). */
TEST(a_finished_job_wakes_its_waiters)
{
    struct response r;
    post_json(slow_poll_port, "/generate?wait=10", "{\"id\":\"notify-1\",\"narrative\":\"n\"}",
              &r);
    CHECK(r.status == 200 && strcmp(r.body, "{\"title\":\"Notified\"}") == 0, "%ld %s",
          r.status, r.body);
    CHECK(r.seconds >= 0.19 && r.seconds < 1, "took %.3f s", r.seconds);
}

/* A pending ?wait must not hold up anything else on the loop. */
TEST(wait_does_not_block_the_loop)
{
    int fd = connect_raw(open_port);
    REQUIRE(fd >= 0, "connect");
    const char body[] = "{\"id\":\"after-1200\",\"narrative\":\"n\"}";
    char req[512];
    snprintf(req, sizeof req,
             "POST /generate?wait=10 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
             "Content-Type: application/json\r\n"
             "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
    REQUIRE(write(fd, req, strlen(req)) == (ssize_t)strlen(req), "write");
    usleep(100 * 1000);
    for (int i = 0; i < 5; i++) {
        struct response r;
        http(open_port, "GET", "/health", NULL, NULL, &r);
        CHECK(r.status == 200 && r.seconds < 0.2, "health during a wait: %ld in %.3f s", r.status,
              r.seconds);
    }
    char buf[2048];
    bool closed;
    int64_t t0 = clock_monotonic_ms();
    read_until_close(fd, buf, sizeof buf, 3000, &closed);
    close(fd);
    CHECK(strncmp(buf, "HTTP/1.1 200", 12) == 0, "answer %s", buf);
    CHECK(strstr(buf, "A Song") != NULL, "answer %s", buf);
    CHECK(clock_monotonic_ms() - t0 > 500, "the answer came before the job was done");
}

/* The guarded server times out idle reads after 1 s, but a wait of 3 s is
 * not reading: it must survive. */
TEST(wait_outlives_the_read_timeout)
{
    const char *headers[] = { "Content-Type: application/json",
                              "Authorization: Bearer s3cret-token-42", NULL };
    struct response r;
    http(guarded_port, "POST", "/generate?wait=5", headers,
         "{\"id\":\"after-2500\",\"narrative\":\"n\"}", &r);
    CHECK(r.status == 200 && strstr(r.body, "A Song"), "%ld %s", r.status, r.body);
    CHECK(r.seconds >= 2.4, "took %.3f s", r.seconds);
}

/* The guarded server holds one ?wait at a time; a second is answered at once. */
TEST(waits_beyond_the_limit_answer_at_once)
{
    int fd = connect_raw(guarded_port);
    REQUIRE(fd >= 0, "connect");
    const char body[] = "{\"id\":\"never-2\",\"narrative\":\"n\"}";
    char req[512];
    snprintf(req, sizeof req,
             "POST /generate?wait=2 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
             "Content-Type: application/json\r\n"
             "Authorization: Bearer %s\r\nContent-Length: %zu\r\n\r\n%s", TOKEN, strlen(body),
             body);
    REQUIRE(write(fd, req, strlen(req)) == (ssize_t)strlen(req), "write");
    usleep(150 * 1000);
    const char *headers[] = { "Content-Type: application/json",
                              "Authorization: Bearer s3cret-token-42", NULL };
    struct response r;
    http(guarded_port, "POST", "/generate?wait=2", headers,
         "{\"id\":\"never-3\",\"narrative\":\"n\"}", &r);
    CHECK(r.status == 202 && r.seconds < 0.5, "second wait: %ld after %.3f s", r.status,
          r.seconds);
    char buf[2048];
    bool closed;
    read_until_close(fd, buf, sizeof buf, 4000, &closed);
    close(fd);
    CHECK(strncmp(buf, "HTTP/1.1 202", 12) == 0, "first wait: %s", buf);
}

/* A client that hangs up during a wait frees its slot: its job is no longer polled. */
TEST(a_client_that_hangs_up_stops_the_polling)
{
    int fd = connect_raw(open_port);
    REQUIRE(fd >= 0, "connect");
    const char body[] = "{\"id\":\"never-hangup\",\"narrative\":\"n\"}";
    char req[512];
    snprintf(req, sizeof req,
             "POST /generate?wait=60 HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
    REQUIRE(write(fd, req, strlen(req)) == (ssize_t)strlen(req), "write");
    usleep(350 * 1000);
    int polled = fake.status_calls_never_hangup;
    CHECK(polled >= 2, "polled %d times in 350 ms", polled);
    close(fd);
    usleep(150 * 1000);
    int after_close = fake.status_calls_never_hangup;
    usleep(500 * 1000);
    CHECK(fake.status_calls_never_hangup == after_close,
          "still polled after the client left: %d -> %d", after_close,
          (int)fake.status_calls_never_hangup);
}

TEST(jobs_returns_the_status)
{
    struct response r;
    http(open_port, "GET", "/jobs/done-job", NULL, NULL, &r);
    CHECK(r.status == 200 && strcmp(r.body, "{\"id\":\"done-job\",\"status\":\"succeeded\"}") == 0,
          "%ld %s", r.status, r.body);
    http(open_port, "GET", "/jobs/song-42", NULL, NULL, &r);
    CHECK(r.status == 200 && strstr(r.body, "\"queued\""), "%ld %s", r.status, r.body);
    http(open_port, "GET", "/jobs/song%2D42", NULL, NULL, &r);
    CHECK(r.status == 200 && strstr(r.body, "\"song-42\""), "%%2D decoded: %ld %s", r.status,
          r.body);
    http(open_port, "GET", "/jobs/no-such-job", NULL, NULL, &r);
    CHECK(r.status == 404 && strcmp(error_code(&r), "not_found") == 0, "%ld %s", r.status, r.body);
    http(open_port, "GET", "/jobs/down-7", NULL, NULL, &r);
    CHECK(r.status == 503, "unavailable: %ld %s", r.status, r.body);
    char path[200] = "/jobs/";
    memset(path + 6, 'a', 128);
    path[134] = '\0';
    http(open_port, "GET", path, NULL, NULL, &r);
    CHECK(r.status == 404, "128 characters: %ld", r.status);
    strcat(path, "a");
    http(open_port, "GET", path, NULL, NULL, &r);
    CHECK(r.status == 400, "129 characters: %ld", r.status);
}

TEST(jobs_refuses_bad_ids_and_path_traversal)
{
    static const char *const bad[] = {
        "/jobs/", "/jobs/..", "/jobs/.", "/jobs/../x", "/jobs/%2e%2e", "/jobs/%2E%2E/x",
        "/jobs/a%2fb", "/jobs/a/b", "/jobs/a%00b", "/jobs/a%20b", "/jobs/%", "/jobs/caf%C3%A9",
        "/jobs/a;b",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char req[256];
        snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
                 bad[i]);
        int status = raw_status(open_port, req);
        CHECK(status == 400, "%s: %d", bad[i], status);
    }
}

TEST(oversized_bodies_get_413)
{
    static char big[8000];
    memset(big, ' ', sizeof big - 1);
    big[0] = '{';
    big[sizeof big - 2] = '}';
    struct response r;
    http(guarded_port, "POST", "/generate", JSON, big, &r);
    CHECK(r.status == 413, "8000 bytes over a 4096 limit: %ld", r.status);
    static char huge[70000];
    memset(huge, ' ', sizeof huge - 1);
    huge[0] = '{';
    huge[sizeof huge - 2] = '}';
    http(open_port, "POST", "/generate", JSON, huge, &r);
    CHECK(r.status == 413, "70000 bytes over the 64 KiB default: %ld", r.status);
    /* Announced by Content-Length alone, before any of it is sent. */
    int status = raw_status(open_port, "POST /generate HTTP/1.1\r\nHost: localhost\r\n"
                                       "Content-Type: application/json\r\n"
                                       "Content-Length: 100000000\r\n\r\n");
    CHECK(status == 413, "a 100 MB Content-Length: %d", status);
}

TEST(oversized_headers_are_refused)
{
    static char req[12000];
    int n = snprintf(req, sizeof req, "GET /health HTTP/1.1\r\nHost: localhost\r\nX-Big: ");
    memset(req + n, 'a', 10000);
    snprintf(req + n + 10000, sizeof req - (size_t)n - 10000, "\r\n\r\n");
    int status = raw_status(open_port, req);
    CHECK(status >= 400 && status < 500, "10 kB of headers: %d", status);
}

TEST(a_slow_client_is_dropped_after_the_timeout)
{
    int fd = connect_raw(guarded_port);
    REQUIRE(fd >= 0, "connect");
    const char half[] = "GET /health HTTP/1.1\r\nHost: localhost\r\n";
    REQUIRE(write(fd, half, strlen(half)) > 0, "write");
    int64_t t0 = clock_monotonic_ms();
    char buf[1024];
    bool closed;
    read_until_close(fd, buf, sizeof buf, 5000, &closed);
    int64_t took = clock_monotonic_ms() - t0;
    close(fd);
    CHECK(closed, "the connection was still open after 5 s");
    CHECK(took >= 800 && took < 3000, "dropped after %lld ms (timeout 1 s)", (long long)took);
}

TEST(many_requests_keep_memory_flat)
{
#ifdef __SANITIZE_ADDRESS__
    return; /* ASan's quarantine keeps freed memory: RSS says nothing there */
#endif
    long page = sysconf(_SC_PAGESIZE);
    long rss_before = 0, rss_after = 0;
    struct response r;
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 400; i++) {
            http(open_port, "GET", "/jobs/done-job", NULL, NULL, &r);
            post_json(open_port, "/generate", "{\"narrative\":\"n\",\"duration\":1}", &r);
            post_json(open_port, "/generate", "{bad", &r);
            http(open_port, "GET", "/metrics", NULL, NULL, &r);
        }
        FILE *f = fopen("/proc/self/statm", "r");
        long size, rss = 0;
        if (f && fscanf(f, "%ld %ld", &size, &rss) != 2)
            rss = 0;
        if (f)
            fclose(f);
        if (round == 0)
            rss_before = rss * page;
        else
            rss_after = rss * page;
    }
    CHECK(rss_after - rss_before < 1024 * 1024, "RSS grew by %ld bytes over 1600 requests",
          rss_after - rss_before);
}

TEST(a_taken_port_is_a_clear_error)
{
    char err[256] = "";
    struct http_options opt = { .host = "127.0.0.1", .port = open_port };
    struct event_base *b = event_base_new();
    struct http_server *s = http_server_start(b, &opt, &backend, err, sizeof err);
    CHECK(s == NULL, "a second server bound the same port");
    CHECK(strstr(err, "cannot listen on 127.0.0.1") && strstr(err, "in use"), "err: %s", err);
    http_server_free(s);
    event_base_free(b);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (start_servers() != 0) {
        printf("FAIL could not start the servers\n");
        return check_summary("test_http") | 1;
    }
    RUN(health_answers_ok);
    RUN(ready_says_what_is_missing);
    RUN(metrics_are_prometheus_text);
    RUN(debug_torch_only_when_enabled);
    RUN(unknown_paths_are_404_and_wrong_methods_405);
    RUN(generate_makes_an_id_and_keeps_the_body);
    RUN(generate_keeps_a_given_id);
    RUN(generate_refuses_a_given_id_when_ids_are_minted);
    RUN(generate_answers_429_when_the_queue_is_full);
    RUN(generate_refuses_bad_bodies);
    RUN(generate_checks_the_content_type);
    RUN(generate_needs_the_token_when_one_is_set);
    RUN(generate_reports_backend_refusals);
    RUN(wait_answers_with_the_song_when_it_is_done);
    RUN(wait_gives_up_with_202_and_the_status);
    RUN(wait_returns_the_status_of_a_failed_job);
    RUN(wait_checks_its_argument);
    RUN(a_finished_job_wakes_its_waiters);
    RUN(default_wait_answers_with_the_song);
    RUN(prefer_respond_async_answers_202_at_once);
    RUN(prefer_wait_answers_with_the_song_or_202_when_it_runs_out);
    RUN(prefer_wait_is_capped);
    RUN(query_wait_wins_over_prefer);
    RUN(wait_does_not_block_the_loop);
    RUN(wait_outlives_the_read_timeout);
    RUN(waits_beyond_the_limit_answer_at_once);
    RUN(a_client_that_hangs_up_stops_the_polling);
    RUN(jobs_returns_the_status);
    RUN(jobs_refuses_bad_ids_and_path_traversal);
    RUN(oversized_bodies_get_413);
    RUN(oversized_headers_are_refused);
    RUN(a_slow_client_is_dropped_after_the_timeout);
    RUN(many_requests_keep_memory_flat);
    RUN(a_taken_port_is_a_clear_error);

    if (write(stop_pipe[1], "x", 1) == 1)
        pthread_join(loop_thread, NULL);
    http_server_free(open_srv);
    http_server_free(guarded_srv);
    http_server_free(slow_poll_srv);
    http_server_free(default_wait_srv);
    http_server_free(minted_srv);
    event_free(stop_event);
    event_base_free(base);
    close(stop_pipe[0]);
    close(stop_pipe[1]);
    curl_global_cleanup();
    return check_summary("test_http");
}
