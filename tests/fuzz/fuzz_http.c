/* fuzz_http.c - worker/http.c's request handling, driven as a client drives
 * it: the input is the raw bytes a client sends on one connection (request
 * line, headers, body, maybe several pipelined requests).
 *
 * The real server runs in this process on a loopback port with a fake
 * backend, on an event loop this thread turns. For each input a socket
 * connects, sends the bytes and half-closes (so an incomplete request ends at
 * once instead of at the server's timeout), then reads until the server
 * closes. An input that asks to ?wait= is given 30 ms to be answered before
 * the half-close, so that the waiting code runs too (the fake's jobs end
 * within a poll or two).
 *
 * The first letter of a job id picks what the fake backend does: submit
 * refuses 'i' (invalid), 'c' (conflict) and 'd' (Redis down); the status of
 * 'u' is unknown, 'x' unavailable, 'q' queued, 'r' running, 'f' failed, 'k'
 * cancelled, 'n' succeeded without a result, 'w' running until the server is
 * told it ended (http_server_job_finished); any other succeeded.
 *
 * Beyond "no crash, no leak, no hang":
 *   - the backend only ever sees valid job ids (nothing like "../x" reaches
 *     it) and jobs that are JSON objects with a valid id;
 *   - a job is submitted only by a request that carried the token;
 *   - the first answer has a status the API documents (or one of evhttp's
 *     own refusals), never a 500;
 *   - every log line the server writes is one valid JSON object. */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"
#include "fuzz.h"
#include "log.h"

#define TOKEN "fuzz-token"
#define WAIT_FOR_ANSWER_MS 30
#define SERVER_CLOSE_MS 2000 /* the server's own timeout is 1 s */

static struct event_base *base;
static struct http_server *server;
static int port;
static int log_pipe[2];

/* The input being run, for the checks made inside the backend. */
static const uint8_t *input;
static size_t input_size;

/* ---- The fake backend ------------------------------------------------------------- */

/* docs/protocol.md's rule, written again here so that it checks http.c's. */
static bool id_is_valid(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > 128 || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

/* The server makes 32 random hex digits for a job without an id; those jobs
 * always succeed, so that the run does not depend on the random draw. */
static bool is_generated(const char *id)
{
    return strlen(id) == 32 && strspn(id, "0123456789abcdef") == 32;
}

/* The first character of a given id picks what the fake does with it. */
static char behaviour(const char *id)
{
    return is_generated(id) ? 's' : id[0];
}

/* A job whose id starts with 'w' runs until the daemon hears that it ended
 * (from the {jen1}:events channel), which the event below stands for. */
static char ending_id[129], finished_id[129];

static void on_job_finished(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    memcpy(finished_id, ending_id, sizeof finished_id);
    http_server_job_finished(server, finished_id);
}

static enum http_submit_status fake_submit(void *ctx, const char *job, size_t len,
                                           struct http_error *err)
{
    (void)ctx;
    FUZZ_ASSERT(memmem(input, input_size, TOKEN, strlen(TOKEN)) != NULL,
                "a job was submitted by a request without the token");
    FUZZ_ASSERT(job[len] == '\0', "the job is not NUL-terminated at its length");
    json_t *doc = json_loadb(job, len, JSON_REJECT_DUPLICATES, NULL);
    FUZZ_ASSERT(json_is_object(doc), "the backend got a job that is not a JSON object: %.200s",
                job);
    const char *id = json_string_value(json_object_get(doc, "id"));
    FUZZ_ASSERT(id && id_is_valid(id), "the backend got a job without a valid id: %.200s", job);
    enum http_submit_status st = HTTP_SUBMIT_OK;
    switch (behaviour(id)) {
    case 'i':
        snprintf(err->code, sizeof err->code, "invalid_job");
        snprintf(err->message, sizeof err->message, "narrative is required");
        st = HTTP_SUBMIT_INVALID;
        break;
    case 'c':
        snprintf(err->message, sizeof err->message, "job %s exists", id);
        st = HTTP_SUBMIT_CONFLICT;
        break;
    case 'd':
        st = HTTP_SUBMIT_UNAVAILABLE;
        break;
    case 'w':
        snprintf(ending_id, sizeof ending_id, "%s", id);
        event_base_once(base, -1, EV_TIMEOUT, on_job_finished, NULL, &(struct timeval){ 0, 0 });
        break;
    }
    json_decref(doc);
    return st;
}

static char *status_document(const char *id, const char *status)
{
    json_t *doc = json_pack("{s:s, s:s}", "id", id, "status", status);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return text;
}

static enum http_job_state fake_job_status(void *ctx, const char *id, char **status_json,
                                           char **result_json)
{
    (void)ctx;
    FUZZ_ASSERT(id_is_valid(id), "the backend was asked about job id '%s'", id);
    static const struct {
        char key;
        enum http_job_state state;
        const char *name;
    } states[] = {
        { 'u', HTTP_JOB_UNKNOWN, NULL },       { 'x', HTTP_JOB_UNAVAILABLE, NULL },
        { 'q', HTTP_JOB_QUEUED, "queued" },    { 'r', HTTP_JOB_RUNNING, "running" },
        { 'f', HTTP_JOB_FAILED, "failed" },    { 'k', HTTP_JOB_CANCELLED, "cancelled" },
        { 'n', HTTP_JOB_SUCCEEDED, "succeeded" }, /* but no result document */
    };
    if (behaviour(id) == 'w' && strcmp(id, finished_id) != 0) {
        *status_json = status_document(id, "running");
        return HTTP_JOB_RUNNING;
    }
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++) {
        if (states[i].key != behaviour(id))
            continue;
        if (states[i].name)
            *status_json = status_document(id, states[i].name);
        return states[i].state;
    }
    *status_json = status_document(id, "succeeded");
    if (result_json)
        *result_json = strdup("{\"title\":\"A Song\",\"sections\":[]}");
    return HTTP_JOB_SUCCEEDED;
}

static void fake_readiness(void *ctx, bool *model_loaded, bool *redis_ok)
{
    (void)ctx;
    static unsigned calls;
    calls++;
    *model_loaded = calls & 1;
    *redis_ok = calls & 2;
}

static char *fake_torch_info(void *ctx)
{
    (void)ctx;
    return strdup("{\"libtorch\":\"1.13.1\",\"cuda\":false}");
}

static char *fake_metrics(void *ctx, size_t *len)
{
    (void)ctx;
    static const char text[] = "# TYPE jen1_up gauge\njen1_up 1\n";
    *len = sizeof text - 1;
    return strdup(text);
}

/* ---- Set-up --------------------------------------------------------------------- */

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN); /* the client resets connections the server still writes to */

    /* The server's log lines go to a pipe this harness reads and checks. */
    if (pipe2(log_pipe, O_NONBLOCK) != 0) {
        perror("fuzz_http: pipe");
        exit(1);
    }
    fcntl(log_pipe[1], F_SETPIPE_SZ, 1 << 20);
    log_set_fd(log_pipe[1]);
    log_set_level(LOG_DEBUG);

    static const struct http_backend backend = {
        .submit = fake_submit,
        .job_status = fake_job_status,
        .readiness = fake_readiness,
        .torch_info = fake_torch_info,
        .metrics_text = fake_metrics,
    };
    const struct http_options options = {
        .host = "127.0.0.1",
        .api_token = TOKEN,
        .debug_torch = true,
        .max_body_bytes = 4096,
        .max_header_bytes = 2048,
        .timeout_s = 1,
        .poll_ms = 1,
        .max_waiters = 4,
    };
    char err[256];
    base = event_base_new();
    server = base ? http_server_start(base, &options, &backend, err, sizeof err) : NULL;
    if (!server) {
        fprintf(stderr, "fuzz_http: %s\n", base ? err : "no event base");
        exit(1);
    }
    port = http_server_port(server);
    return 0;
}

/* ---- One client ------------------------------------------------------------------- */

struct client {
    int fd;
    struct event *ev;
    bool half_closed, done;
    char head[24]; /* the start of the answer: "HTTP/1.1 200 OK" */
    size_t head_len;
};

static void half_close(struct client *c)
{
    shutdown(c->fd, SHUT_WR);
    c->half_closed = true;
    struct timeval tv = { SERVER_CLOSE_MS / 1000, 0 };
    event_add(c->ev, &tv);
}

static void on_client_event(evutil_socket_t fd, short what, void *arg)
{
    struct client *c = arg;
    if (what & EV_TIMEOUT) {
        if (c->half_closed)
            c->done = true; /* the server kept the connection: give up on it */
        else
            half_close(c);
        return;
    }
    char buf[4096];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n > 0) {
            size_t take = sizeof c->head - 1 - c->head_len;
            take = (size_t)n < take ? (size_t)n : take;
            memcpy(c->head + c->head_len, buf, take);
            c->head_len += take;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        c->done = true; /* closed or reset */
        return;
    }
    if (!c->half_closed)
        half_close(c); /* an answer has started: the request was complete */
}

/* Non-blocking from the start: libFuzzer's timer signal would interrupt a
 * blocking connect (EINTR). On loopback the connection is made at once or a
 * moment later. */
static int connect_loopback(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    FUZZ_ASSERT(fd >= 0, "socket: %s", strerror(errno));
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        FUZZ_ASSERT(errno == EINPROGRESS, "connect: %s", strerror(errno));
        struct pollfd p = { .fd = fd, .events = POLLOUT };
        while (poll(&p, 1, -1) < 0)
            FUZZ_ASSERT(errno == EINTR, "poll: %s", strerror(errno));
        int error = 0;
        socklen_t len = sizeof error;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len);
        FUZZ_ASSERT(error == 0, "connect: %s", strerror(error));
    }
    return fd;
}

/* Sends everything, letting the server read whenever the socket is full. */
static void send_all(int fd, const uint8_t *data, size_t size)
{
    while (size > 0) {
        ssize_t n = send(fd, data, size, MSG_NOSIGNAL);
        if (n > 0) {
            data += n;
            size -= (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            event_base_loop(base, EVLOOP_ONCE);
        } else {
            return; /* the server has already closed: what it read is what counts */
        }
    }
}

/* A reset rather than a FIN: no TIME_WAIT left behind by the client. */
static void close_with_reset(int fd)
{
    struct linger linger = { .l_onoff = 1, .l_linger = 0 };
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, sizeof linger);
    close(fd);
}

static bool documented_status(int code)
{
    /* the API's answers, then evhttp's own: 100 Continue, 413 for a body or
     * headers over the limit, 417 for an unknown Expect, 501 for methods it
     * is not told to accept, 505 for an unknown HTTP version */
    static const int codes[] = { 200, 202, 400, 401, 404, 405, 409, 415, 421, 429, 503,
                                 100, 413, 417, 501, 505 };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (codes[i] == code)
            return true;
    return false;
}

static void check_answer(const struct client *c)
{
    if (c->head_len < 12)
        return; /* nothing, or cut short: the server may refuse without a word */
    /* evhttp answers in the version the client spoke, "HTTP/0.1" included */
    int code = 0;
    FUZZ_ASSERT(sscanf(c->head, "HTTP/%*d.%*d %d", &code) == 1, "the answer starts '%s'",
                c->head);
    FUZZ_ASSERT(documented_status(code), "status %d ('%s')", code, c->head);
}

/* Every line logged since the last input must be one JSON object. */
static void check_log_lines(void)
{
    static char pending[1 << 16];
    static size_t used;
    for (;;) {
        ssize_t n = read(log_pipe[0], pending + used, sizeof pending - 1 - used);
        if (n <= 0)
            break;
        used += (size_t)n;
        char *line = pending, *nl;
        while ((nl = memchr(line, '\n', used - (size_t)(line - pending)))) {
            json_error_t jerr;
            json_t *doc = json_loadb(line, (size_t)(nl - line), 0, &jerr);
            FUZZ_ASSERT(json_is_object(doc), "a log line is not a JSON object (%s): %.*s",
                        jerr.text, (int)(nl - line), line);
            json_decref(doc);
            line = nl + 1;
        }
        used -= (size_t)(line - pending);
        memmove(pending, line, used);
        FUZZ_ASSERT(used < sizeof pending - 1, "a log line longer than %zu bytes",
                    sizeof pending);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    input = data;
    input_size = size;
    struct client c = { .fd = connect_loopback() };
    c.ev = event_new(base, c.fd, EV_READ | EV_PERSIST, on_client_event, &c);
    FUZZ_ASSERT(c.ev != NULL, "event_new failed");
    send_all(c.fd, data, size);
    if (memmem(data, size, "wait=", 5)) {
        struct timeval tv = { 0, WAIT_FOR_ANSWER_MS * 1000 };
        event_add(c.ev, &tv);
    } else {
        half_close(&c);
    }
    while (!c.done)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(c.ev);
    close_with_reset(c.fd);
    if (getenv("JEN1_FUZZ_HTTP_VERBOSE")) /* shows what each input was answered */
        fprintf(stderr, "fuzz_http: answer '%.*s'\n", (int)strcspn(c.head, "\r\n"), c.head);
    check_answer(&c);

    /* Let the server see the reset and free the connection. */
    for (int i = 0; i < 4; i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
    check_log_lines();
    input = NULL;
    input_size = 0;
    return 0;
}
