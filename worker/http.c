/* http.c - the daemon's HTTP API on evhttp; see http.h. */
#include "http.h"

#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "http_conns.h"
#include "http_host.h"
#include "http_offload.h"
#include "http_prefer.h"
#include "http_tokens.h"
#include "util.h"
#include "log.h"
#include "protocol.h"

enum {
    DEFAULT_MAX_BODY = 64 * 1024,
    DEFAULT_MAX_HEADERS = 8 * 1024,
    DEFAULT_TIMEOUT_S = 30,
    DEFAULT_POLL_MS = 100,
    DEFAULT_MAX_WAITERS = 1024,
    DEFAULT_MAX_CONNS = 512,
};

/* How long a POST /generate waits for its job, and which of its Prefer
 * preferences that honours (for Preference-Applied). */
struct wait_plan {
    int wait_s;        /* 0: answer 202 at once */
    bool prefer_wait;  /* the wait is the request's Prefer: wait */
    bool prefer_async; /* the request prefers respond-async and ?wait= did not overrule it */
};

/* A POST /generate?wait=N held open until its job ends or the wait is over. */
struct waiter {
    struct http_server *server;
    struct evhttp_request *req;
    struct evhttp_connection *conn;
    struct event *timer;
    struct event *hangup; /* watches the socket for the client going away */
    int64_t deadline_ms; /* CLOCK_MONOTONIC */
    struct wait_plan plan;
    char id[PROTOCOL_ID_MAX + 1];
    struct waiter *prev, *next;
    /* A look at the job is on the offload thread: its answer lands here. */
    bool busy, recheck, gone; /* gone: unlinked while busy; the answer frees it */
    enum http_job_state state;
    char *status, *result;
};

struct http_server {
    struct event_base *base;
    struct evhttp *http;
    struct http_backend backend;
    struct http_tokens *tokens; /* empty: no token needed (loopback only) */
    struct http_conns *conns;
    struct http_offload *offload; /* NULL: the backend runs inline */
    char *allowed_hosts;
    bool loopback;
    bool debug_torch;
    bool client_ids; /* POST /generate may choose ids (http_options.client_ids) */
    int poll_ms, max_waiters, n_waiters, port, default_wait_s;
    struct waiter *waiters;
};

static const char *method_name(enum evhttp_cmd_type m)
{
    switch (m) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_PATCH: return "PATCH";
    default: return "OTHER";
    }
}

/* ---- Replies ------------------------------------------------------------------ */

static void reply(struct evhttp_request *req, int code, const char *content_type,
                  const char *body, size_t len)
{
    struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
    evhttp_add_header(headers, "Content-Type", content_type);
    evhttp_add_header(headers, "Cache-Control", "no-store");
    evhttp_add_header(headers, "X-Content-Type-Options", "nosniff");
    evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
    if (log_enabled(LOG_DEBUG))
        log_kv(LOG_DEBUG, "http request",
               LOG_STR("method", method_name(evhttp_request_get_command(req))),
               LOG_STR("uri", evhttp_request_get_uri(req)), LOG_INT("status", code));
    evhttp_send_reply(req, code, NULL, NULL);
}

static void reply_json_text(struct evhttp_request *req, int code, const char *json)
{
    reply(req, code, "application/json", json, strlen(json));
}

/* Sends `doc` and releases it. */
static void reply_json(struct evhttp_request *req, int code, json_t *doc)
{
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!text) {
        reply_json_text(req, 500, "{\"error\":\"internal\",\"message\":\"out of memory\"}");
        return;
    }
    reply_json_text(req, code, text);
    free(text);
}

static void reply_error(struct evhttp_request *req, int code, const char *error, const char *fmt,
                        ...) __attribute__((format(printf, 4, 5)));

static void reply_error(struct evhttp_request *req, int code, const char *error, const char *fmt,
                        ...)
{
    char message[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    reply_json(req, code, json_pack("{s:s, s:s}", "error", error, "message", message));
}

/* ---- Request checks --------------------------------------------------------------- */

/* The caller the request's bearer token names, or NULL when it names none
 * (with no token configured, the anonymous caller). */
static const struct http_caller *authorize(struct http_server *s, struct evhttp_request *req)
{
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return http_tokens_find(s->tokens, NULL, 0);
    h += 7;
    while (*h == ' ')
        h++;
    size_t len = strlen(h);
    while (len > 0 && h[len - 1] == ' ')
        len--;
    return http_tokens_find(s->tokens, h, len);
}

static const char *skip_spaces(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* application/json, optionally with parameters; a charset must be UTF-8. */
static bool is_json_content_type(const char *ct)
{
    static const char media[] = "application/json";
    if (!ct)
        return false;
    const char *p = skip_spaces(ct);
    if (strncasecmp(p, media, sizeof media - 1) != 0)
        return false;
    p = skip_spaces(p + sizeof media - 1);
    while (*p == ';') {
        p = skip_spaces(p + 1);
        size_t name_len = strcspn(p, "=;");
        if (p[name_len] != '=')
            return false;
        const char *value = p + name_len + 1;
        size_t value_len = strcspn(value, ";");
        while (value_len > 0 && (value[value_len - 1] == ' ' || value[value_len - 1] == '\t'))
            value_len--;
        if (value_len >= 2 && value[0] == '"' && value[value_len - 1] == '"') {
            value++;
            value_len -= 2;
        }
        if (name_len == 7 && strncasecmp(p, "charset", 7) == 0 &&
            !((value_len == 5 && strncasecmp(value, "utf-8", 5) == 0) ||
              (value_len == 4 && strncasecmp(value, "utf8", 4) == 0)))
            return false;
        p = skip_spaces(value + strcspn(value, ";"));
    }
    return *p == '\0';
}

/* ?wait=N: 0 when absent, N in 1..300, or -1 when malformed. */
static int parse_wait(struct evhttp_request *req)
{
    const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    if (!query)
        return 0;
    struct evkeyvalq params; /* evhttp_parse_query_str initialises it, and clears it on failure */
    if (evhttp_parse_query_str(query, &params) != 0)
        return -1;
    int wait = 0;
    const char *v = evhttp_find_header(&params, "wait");
    if (v) {
        char *end;
        long n = strtol(v, &end, 10);
        wait = isdigit((unsigned char)v[0]) && !*end && n >= 1 && n <= HTTP_MAX_WAIT_S ? (int)n : -1;
    }
    evhttp_clear_headers(&params);
    return wait;
}

/* Every Prefer header of the request, in order (RFC 7240 allows several). */
static struct http_prefer read_prefer(struct evhttp_request *req)
{
    struct http_prefer p;
    http_prefer_init(&p);
    struct evkeyvalq *headers = evhttp_request_get_input_headers(req);
    for (struct evkeyval *h = headers->tqh_first; h; h = h->next.tqe_next)
        if (strcasecmp(h->key, "Prefer") == 0)
            http_prefer_parse(&p, h->value);
    return p;
}

/* ?wait= (query_wait_s > 0) wins; then Prefer: wait=N; then respond-async
 * (no wait); then the operator's default. Every wait is capped. */
static struct wait_plan plan_wait(const struct http_server *s, struct evhttp_request *req,
                                  int query_wait_s)
{
    struct http_prefer pref = read_prefer(req);
    struct wait_plan plan = { .wait_s = s->default_wait_s };
    if (query_wait_s > 0) {
        plan.wait_s = query_wait_s;
        return plan;
    }
    plan.prefer_async = pref.respond_async;
    if (pref.wait_s >= 0) {
        plan.wait_s = pref.wait_s < HTTP_MAX_WAIT_S ? pref.wait_s : HTTP_MAX_WAIT_S;
        plan.prefer_wait = true;
    } else if (pref.respond_async) {
        plan.wait_s = 0;
    }
    return plan;
}

/* Preference-Applied on an answer with `code`: the wait when it came from
 * Prefer, respond-async when the answer is the asynchronous one. */
static void add_preference_applied(struct evhttp_request *req, const struct wait_plan *plan,
                                   int code)
{
    char value[64] = "";
    bool async = plan->prefer_async && code == 202;
    if (async)
        snprintf(value, sizeof value, "respond-async");
    if (plan->prefer_wait)
        snprintf(value + strlen(value), sizeof value - strlen(value), "%swait=%d",
                 async ? ", " : "", plan->wait_s);
    if (value[0])
        evhttp_add_header(evhttp_request_get_output_headers(req), "Preference-Applied", value);
}

static int random_hex_id(char out[33])
{
    unsigned char bytes[16];
    size_t got = 0;
    while (got < sizeof bytes) {
        ssize_t n = getrandom(bytes + got, sizeof bytes - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    for (size_t i = 0; i < sizeof bytes; i++)
        snprintf(out + 2 * i, 3, "%02x", bytes[i]);
    return 0;
}

/* The body with "id" inserted first, keeping the client's text otherwise
 * byte for byte (re-serialising would reformat its numbers). */
static char *insert_id(const char *body, size_t len, const char *id, bool empty_object,
                       size_t *out_len)
{
    const char *brace = memchr(body, '{', len);
    size_t head = (size_t)(brace - body) + 1;
    buf out = BUF_INIT;
    buf_append(&out, body, head);
    buf_printf(&out, "\"id\":\"%s\"%s", id, empty_object ? "" : ",");
    buf_append(&out, body + head, len - head);
    return buf_detach(&out, out_len);
}

/* ---- Waiting for a job ------------------------------------------------------------- */

static void waiter_unlink(struct waiter *w)
{
    struct http_server *s = w->server;
    if (w->prev)
        w->prev->next = w->next;
    else
        s->waiters = w->next;
    if (w->next)
        w->next->prev = w->prev;
    s->n_waiters--;
    event_free(w->timer);
    if (w->hangup)
        event_free(w->hangup);
}

/* Frees a waiter that was unlinked, now or, when a look at its job is on the
 * offload thread, once the look is back. */
static void waiter_release(struct waiter *w)
{
    if (w->busy) {
        w->gone = true;
        return;
    }
    free(w->status);
    free(w->result);
    free(w);
}

static void waiter_finish(struct waiter *w, int code, const char *json)
{
    waiter_unlink(w);
    evhttp_connection_set_closecb(w->conn, NULL, NULL);
    add_preference_applied(w->req, &w->plan, code);
    reply_json_text(w->req, code, json);
    waiter_release(w);
}

static void queued_document(const char *id, char *buf, size_t len)
{
    snprintf(buf, len, "{\"id\":\"%s\",\"status\":\"queued\",\"status_url\":\"/jobs/%s\"}", id,
             id);
}

static void waiter_check(struct waiter *w);

/* On the offload thread (or inline): the job's state, for waiter_judge. */
static void waiter_look(void *arg)
{
    struct waiter *w = arg;
    w->state = w->server->backend.job_status(w->server->backend.ctx, w->id, &w->status, &w->result);
}

static void waiter_judge(void *arg, bool cancelled);

/* Looks at the job (off the loop when there is an offload thread). */
static void waiter_check(struct waiter *w)
{
    if (w->busy) {
        w->recheck = true;
        return;
    }
    w->busy = true;
    w->recheck = false;
    if (http_offload_run(w->server->offload, waiter_look, waiter_judge, w) != 0) {
        w->busy = false;
        struct timeval tv = { .tv_sec = 1 };
        evtimer_add(w->timer, &tv);
    }
}

/* Answers when the job has ended or the wait is over; otherwise polls again. */
static void waiter_judge(void *arg, bool cancelled)
{
    struct waiter *w = arg;
    struct http_server *s = w->server;
    char *status = w->status, *result = w->result;
    enum http_job_state state = w->state;
    w->status = w->result = NULL;
    w->busy = false;
    if (cancelled || w->gone) {
        free(status);
        free(result);
        if (w->gone)
            free(w);
        return;
    }
    int64_t left = w->deadline_ms - clock_monotonic_ms();
    if (state == HTTP_JOB_SUCCEEDED && result) {
        waiter_finish(w, 200, result);
    } else if ((state == HTTP_JOB_SUCCEEDED || state == HTTP_JOB_FAILED ||
                state == HTTP_JOB_CANCELLED) && status) {
        waiter_finish(w, 200, status);
    } else if (left <= 0) {
        char queued[400];
        queued_document(w->id, queued, sizeof queued);
        waiter_finish(w, 202, status ? status : queued);
    } else {
        int64_t delay = w->recheck ? 0 : left < s->poll_ms ? left : s->poll_ms;
        struct timeval tv = { .tv_sec = delay / 1000, .tv_usec = (delay % 1000) * 1000 };
        evtimer_add(w->timer, &tv);
    }
    free(status);
    free(result);
}

static void on_waiter_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    waiter_check(arg);
}

/* The client went away. When evhttp has already detached the request from
 * the dying connection, it is ours to free; otherwise the connection frees it. */
static void on_waiter_closed(struct evhttp_connection *conn, void *arg)
{
    (void)conn;
    struct waiter *w = arg;
    waiter_unlink(w);
    if (!evhttp_request_get_connection(w->req))
        evhttp_request_free(w->req);
    waiter_release(w);
}

/* evhttp stops reading a connection while its request is being answered, so
 * it would notice a client that hung up only when the answer fails to go out.
 * Peeking at the socket notices it now and frees the slot. Bytes that arrive
 * instead (a pipelined request) are left for evhttp, and the watch ends. */
static void on_waiter_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct waiter *w = arg;
    char byte;
    ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n > 0) {
        event_del(w->hangup);
        return;
    }
    struct evhttp_connection *conn = w->conn;
    log_kv(LOG_DEBUG, "http client left before its job ended", LOG_STR("id", w->id));
    waiter_unlink(w);
    evhttp_connection_set_closecb(conn, NULL, NULL);
    evhttp_connection_free(conn); /* and the request with it */
    waiter_release(w);
}

static void start_waiting(struct http_server *s, struct evhttp_request *req, const char *id,
                          const struct wait_plan *plan, const char *queued)
{
    struct waiter *w = s->n_waiters < s->max_waiters ? calloc(1, sizeof *w) : NULL;
    if (w)
        w->timer = evtimer_new(s->base, on_waiter_timer, w);
    if (!w || !w->timer) {
        free(w);
        struct wait_plan unwaited = *plan; /* too many waiting: answer now */
        unwaited.prefer_wait = false;
        add_preference_applied(req, &unwaited, 202);
        reply_json_text(req, 202, queued);
        return;
    }
    w->server = s;
    w->req = req;
    w->conn = evhttp_request_get_connection(req);
    w->plan = *plan;
    w->deadline_ms = clock_monotonic_ms() + (int64_t)plan->wait_s * 1000;
    snprintf(w->id, sizeof w->id, "%s", id);
    w->next = s->waiters;
    if (s->waiters)
        s->waiters->prev = w;
    s->waiters = w;
    s->n_waiters++;
    evhttp_connection_set_closecb(w->conn, on_waiter_closed, w);
    evutil_socket_t fd = bufferevent_getfd(evhttp_connection_get_bufferevent(w->conn));
    w->hangup = event_new(s->base, fd, EV_READ | EV_PERSIST, on_waiter_readable, w);
    if (w->hangup)
        event_add(w->hangup, NULL);
    struct timeval tv = { .tv_sec = s->poll_ms / 1000, .tv_usec = (s->poll_ms % 1000) * 1000 };
    evtimer_add(w->timer, &tv);
}

void http_server_job_finished(struct http_server *s, const char *id)
{
    for (struct waiter *w = s->waiters; w; w = w->next)
        if (strcmp(w->id, id) == 0)
            event_active(w->timer, EV_TIMEOUT, 0);
}

/* ---- Routes ----------------------------------------------------------------------- */

static void handle_health(struct http_server *s, struct evhttp_request *req,
                           const struct http_caller *caller, const char *rest)
{
    (void)caller;
    (void)s;
    (void)rest;
    reply_json_text(req, 200, "{\"status\":\"ok\"}");
}

static void handle_ready(struct http_server *s, struct evhttp_request *req,
                          const struct http_caller *caller, const char *rest)
{
    (void)caller;
    (void)rest;
    bool model = false, redis = false;
    s->backend.readiness(s->backend.ctx, &model, &redis);
    json_t *missing = json_array();
    if (!model)
        json_array_append_new(missing, json_string("model"));
    if (!redis)
        json_array_append_new(missing, json_string("redis"));
    bool ready = model && redis;
    json_t *doc = json_pack("{s:s, s:b, s:b}", "status", ready ? "ready" : "not_ready",
                            "model_loaded", model, "redis", redis);
    if (doc && !ready)
        json_object_set(doc, "missing", missing);
    json_decref(missing);
    char *models = s->backend.models ? s->backend.models(s->backend.ctx) : NULL;
    json_t *m = models ? json_loads(models, 0, NULL) : NULL;
    if (doc && json_is_object(m))
        json_object_set(doc, "models", m);
    json_decref(m);
    free(models);
    reply_json(req, ready ? 200 : 503, doc);
}

static void handle_metrics(struct http_server *s, struct evhttp_request *req,
                            const struct http_caller *caller, const char *rest)
{
    (void)caller;
    (void)rest;
    size_t len = 0;
    char *text = s->backend.metrics_text ? s->backend.metrics_text(s->backend.ctx, &len) : NULL;
    if (!text) {
        reply_error(req, 500, "internal", "the metrics could not be rendered");
        return;
    }
    reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
}

static void handle_torch(struct http_server *s, struct evhttp_request *req,
                          const struct http_caller *caller, const char *rest)
{
    (void)caller;
    (void)rest;
    char *json = s->backend.torch_info ? s->backend.torch_info(s->backend.ctx) : NULL;
    if (!json) {
        reply_error(req, 500, "internal", "LibTorch could not be queried");
        return;
    }
    reply_json_text(req, 200, json);
    free(json);
}

/* GET /jobs/ID, whose look at the job store runs off the loop. */
struct job_lookup {
    struct http_server *s;
    struct evhttp_request *req;
    char *id, *status;
    enum http_job_state state;
};

static void job_lookup_run(void *arg)
{
    struct job_lookup *l = arg;
    l->state = l->s->backend.job_status(l->s->backend.ctx, l->id, &l->status, NULL);
}

static void job_lookup_answer(void *arg, bool cancelled)
{
    struct job_lookup *l = arg;
    if (!cancelled) {
        if (l->state == HTTP_JOB_UNAVAILABLE)
            reply_error(l->req, 503, protocol_error_name(PROTOCOL_REDIS_UNAVAILABLE),
                        "the job store cannot be reached; try again");
        else if (l->state == HTTP_JOB_UNKNOWN || !l->status)
            reply_error(l->req, 404, "not_found", "no job %s", l->id);
        else
            reply_json_text(l->req, 200, l->status);
    }
    free(l->status);
    free(l->id);
    free(l);
}

static void handle_job(struct http_server *s, struct evhttp_request *req,
                        const struct http_caller *caller, const char *rest)
{
    (void)caller;
    /* `rest` is still percent-encoded: decode, then judge what the client meant
     * (so "%2e%2e" is refused like ".."). */
    size_t len = 0;
    char *id = evhttp_uridecode(rest, 0, &len);
    if (!id || !protocol_id_valid(id, len)) {
        free(id);
        reply_error(req, 400, "invalid_id",
                    "a job id is 1 to %d of A-Z a-z 0-9 _ . - (and not . or ..)", PROTOCOL_ID_MAX);
        return;
    }
    struct job_lookup *l = calloc(1, sizeof *l);
    if (!l) {
        free(id);
        reply_error(req, 500, "internal", "out of memory");
        return;
    }
    *l = (struct job_lookup){ .s = s, .req = req, .id = id };
    if (http_offload_run(s->offload, job_lookup_run, job_lookup_answer, l) != 0) {
        job_lookup_answer(l, true);
        reply_error(req, 500, "internal", "out of memory");
    }
}

/* One POST /generate whose enqueue runs off the loop. */
struct submission {
    struct http_server *s;
    struct evhttp_request *req;
    struct wait_plan plan;
    char id[PROTOCOL_ID_MAX + 1];
    char *job;
    size_t len;
    enum http_submit_status st;
    struct http_error err;
};

static void submission_run(void *arg)
{
    struct submission *sub = arg;
    sub->st = sub->s->backend.submit(sub->s->backend.ctx, sub->job, sub->len, &sub->err);
}

static void submission_answer(void *arg, bool cancelled);

/* Hands the job (taken over: a malloc'd copy) to the backend. */
static void submit_async(struct http_server *s, struct evhttp_request *req,
                         const struct wait_plan *plan, const char *id, char *job, size_t len)
{
    struct submission *sub = job ? calloc(1, sizeof *sub) : NULL;
    if (!sub) {
        free(job);
        reply_error(req, 500, "internal", "out of memory");
        return;
    }
    *sub = (struct submission){ .s = s, .req = req, .plan = *plan, .job = job, .len = len,
                                .err = { "", "" } };
    snprintf(sub->id, sizeof sub->id, "%s", id);
    if (http_offload_run(s->offload, submission_run, submission_answer, sub) != 0) {
        submission_answer(sub, true);
        reply_error(req, 500, "internal", "out of memory");
    }
}

/* How long a client refused for a full queue is told to wait (Retry-After). */
#define QUEUE_FULL_RETRY_AFTER_S 10

static void submit_job(struct http_server *s, struct evhttp_request *req,
                       const struct http_caller *caller, const struct wait_plan *plan,
                       const char *body, size_t len)
{
    json_error_t jerr;
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        reply_error(req, 400, protocol_error_name(PROTOCOL_INVALID_JSON),
                    "the body is not valid JSON: %s (line %d, column %d)",
                    jerr.text, jerr.line, jerr.column);
        return;
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        reply_error(req, 400, protocol_error_name(PROTOCOL_INVALID_JSON), "the body must be a JSON object");
        return;
    }
    json_t *priority = json_object_get(doc, "priority");
    if (json_is_number(priority) && json_number_value(priority) > 0 && !caller->may_prioritize) {
        json_decref(doc);
        reply_error(req, 403, "priority_not_allowed", "this token may not set priority above 0");
        return;
    }
    char id[PROTOCOL_ID_MAX + 1];
    char *job = NULL;
    size_t job_len = len;
    json_t *given = json_object_get(doc, "id");
    if (given) {
        const char *v = json_string_value(given);
        if (!v || !protocol_id_valid(v, json_string_length(given))) {
            json_decref(doc);
            reply_error(req, 400, protocol_error_name(PROTOCOL_INVALID_JOB),
                        "id must be a string of 1 to %d of A-Z a-z 0-9 _ . - (not . or ..)", PROTOCOL_ID_MAX);
            return;
        }
        if (!s->client_ids) {
            json_decref(doc);
            reply_error(req, 400, "id_not_allowed",
                        "job ids are minted by the server over HTTP: leave \"id\" out and use the one answered");
            return;
        }
        snprintf(id, sizeof id, "%s", v);
    } else {
        if (random_hex_id(id) != 0 ||
            !(job = insert_id(body, len, id, json_object_size(doc) == 0, &job_len))) {
            json_decref(doc);
            reply_error(req, 500, "internal", "could not make a job id");
            return;
        }
    }
    json_decref(doc);
    if (!job)
        job = strndup(body, len);
    submit_async(s, req, plan, id, job, job_len);
}

/* The answer to a submitted job: 202 (or a wait), or the backend's refusal. */
static void answer_submitted(struct http_server *s, struct evhttp_request *req,
                             const struct wait_plan *plan, const char *id,
                             enum http_submit_status st, struct http_error err)
{
    switch (st) {
    case HTTP_SUBMIT_OK:
        break;
    case HTTP_SUBMIT_INVALID:
        reply_error(req, 400, err.code[0] ? err.code : protocol_error_name(PROTOCOL_INVALID_JOB), "%s", err.message);
        return;
    case HTTP_SUBMIT_CONFLICT:
        reply_error(req, 409, err.code[0] ? err.code : "conflict", "%s", err.message);
        return;
    case HTTP_SUBMIT_FULL:
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After",
                          PROTOCOL_STR(QUEUE_FULL_RETRY_AFTER_S));
        reply_error(req, 429, "queue_full", "%s", err.message[0] ? err.message : "the queue is full; try again later");
        return;
    default:
        reply_error(req, 503, err.code[0] ? err.code : protocol_error_name(PROTOCOL_REDIS_UNAVAILABLE), "%s",
                    err.message[0] ? err.message : "the job store cannot be reached; try again");
        return;
    }

    char location[PROTOCOL_ID_MAX + 8], queued[400];
    snprintf(location, sizeof location, "/jobs/%s", id);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Location", location);
    queued_document(id, queued, sizeof queued);
    if (plan->wait_s > 0) {
        start_waiting(s, req, id, plan, queued);
    } else {
        add_preference_applied(req, plan, 202);
        reply_json_text(req, 202, queued);
    }
}

static void submission_answer(void *arg, bool cancelled)
{
    struct submission *sub = arg;
    if (!cancelled)
        answer_submitted(sub->s, sub->req, &sub->plan, sub->id, sub->st, sub->err);
    free(sub->job);
    free(sub);
}

static void handle_generate(struct http_server *s, struct evhttp_request *req,
                             const struct http_caller *caller, const char *rest)
{
    (void)rest;
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    if (!is_json_content_type(ct)) {
        reply_error(req, 415, "unsupported_media_type",
                    "send the job as Content-Type: application/json");
        return;
    }
    int query_wait_s = parse_wait(req);
    if (query_wait_s < 0) {
        reply_error(req, 400, "invalid_query", "wait must be a whole number of seconds, 1 to %d",
                    HTTP_MAX_WAIT_S);
        return;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    char *body = malloc(len + 1);
    if (!body) {
        reply_error(req, 500, "internal", "out of memory");
        return;
    }
    evbuffer_copyout(in, body, len);
    body[len] = '\0';
    struct wait_plan plan = plan_wait(s, req, query_wait_s);
    submit_job(s, req, caller, &plan, body, len);
    free(body);
}

typedef void (*route_handler)(struct http_server *s, struct evhttp_request *req,
                              const struct http_caller *caller, const char *rest);

struct route {
    const char *path;
    bool is_prefix; /* path ends with "/" and takes one more segment */
    int methods;
    const char *allow;
    route_handler handle;
};

#define GET_OR_HEAD (EVHTTP_REQ_GET | EVHTTP_REQ_HEAD)

static const struct route routes[] = {
    { "/health", false, GET_OR_HEAD, "GET, HEAD", handle_health },
    { "/ready", false, GET_OR_HEAD, "GET, HEAD", handle_ready },
    { "/metrics", false, GET_OR_HEAD, "GET, HEAD", handle_metrics },
    { "/debug/torch", false, GET_OR_HEAD, "GET, HEAD", handle_torch },
    { "/generate", false, EVHTTP_REQ_POST, "POST", handle_generate },
    { "/jobs/", true, GET_OR_HEAD, "GET, HEAD", handle_job },
};

/* Every route but /health: a Host this server answers to (DNS rebinding), a
 * token it knows, and for POST /generate, the token's rate. Answers the
 * refusal itself and returns false. */
static bool admitted(struct http_server *s, struct evhttp_request *req, const struct route *r,
                     const struct http_caller **caller)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    const char *host = evhttp_find_header(evhttp_request_get_input_headers(req), "Host");
    if (!http_host_allowed(host, s->loopback, s->allowed_hosts)) {
        reply_error(req, 421, "unknown_host",
                    "this server does not answer for that Host (see JEN1_HTTP_ALLOWED_HOSTS)");
        return false;
    }
    if (!(*caller = authorize(s, req))) {
        evhttp_add_header(out, "WWW-Authenticate", "Bearer realm=\"jen1\"");
        reply_error(req, 401, "unauthorized", "%s needs Authorization: Bearer <token>", r->path);
        return false;
    }
    int retry_after_s;
    if (r->handle == handle_generate &&
        !http_tokens_take(s->tokens, *caller, clock_monotonic_ms(), &retry_after_s)) {
        char value[16];
        snprintf(value, sizeof value, "%d", retry_after_s);
        evhttp_add_header(out, "Retry-After", value);
        reply_error(req, 429, "rate_limited", "over this token's rate of jobs; retry in %d s",
                    retry_after_s);
        return false;
    }
    return true;
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct http_server *s = arg;
    if (s->conns)
        http_conns_request_read(s->conns, req);
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    if (!path)
        path = "";
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        const struct route *r = &routes[i];
        size_t n = strlen(r->path);
        bool match = r->is_prefix ? strncmp(path, r->path, n) == 0 : strcmp(path, r->path) == 0;
        if (!match || (r->handle == handle_torch && !s->debug_torch))
            continue;
        if (!(evhttp_request_get_command(req) & r->methods)) {
            evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", r->allow);
            reply_error(req, 405, "method_not_allowed", "%s takes %s", r->path, r->allow);
            return;
        }
        const struct http_caller *caller = NULL;
        if (r->handle != handle_health && !admitted(s, req, r, &caller))
            return;
        r->handle(s, req, caller, path + n);
        return;
    }
    reply_error(req, 404, "not_found", "no such endpoint");
}

/* ---- Life cycle ------------------------------------------------------------------ */

/* The token table: api_token as "default", then the tokens file's. Every
 * secret is registered with the log's redaction. */
static int load_tokens(struct http_server *s, const struct http_options *opt, char *err,
                       size_t errlen)
{
    err[0] = '\0';
    if (!(s->tokens = http_tokens_new(opt->rate_per_min)))
        return -1;
    if (opt->api_token && *opt->api_token &&
        http_tokens_add(s->tokens, "default", opt->api_token, opt->rate_per_min, true, err,
                        errlen) != 0)
        return -1;
    if (opt->tokens_file && *opt->tokens_file &&
        http_tokens_load_file(s->tokens, opt->tokens_file, err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < http_tokens_count(s->tokens); i++)
        log_add_secret(http_tokens_secret(s->tokens, i));
    return 0;
}

struct http_server *http_server_start(struct event_base *base, const struct http_options *opt,
                                      const struct http_backend *backend, char *err,
                                      size_t errlen)
{
    if (!backend->submit || !backend->job_status || !backend->readiness) {
        snprintf(err, errlen, "http: the backend lacks submit, job_status or readiness");
        return NULL;
    }
    if (opt->port < 0 || opt->port > 65535) {
        snprintf(err, errlen, "http: port %d is not from 0 to 65535", opt->port);
        return NULL;
    }
    struct http_server *s = calloc(1, sizeof *s);
    if (!s || !(s->http = evhttp_new(base))) {
        free(s);
        snprintf(err, errlen, "http: out of memory");
        return NULL;
    }
    s->base = base;
    s->backend = *backend;
    s->debug_torch = opt->debug_torch;
    s->client_ids = opt->client_ids;
    s->poll_ms = opt->poll_ms > 0 ? opt->poll_ms : DEFAULT_POLL_MS;
    s->max_waiters = opt->max_waiters > 0 ? opt->max_waiters : DEFAULT_MAX_WAITERS;
    s->default_wait_s = opt->default_wait_s < 0               ? 0
                        : opt->default_wait_s > HTTP_MAX_WAIT_S ? HTTP_MAX_WAIT_S
                                                                : opt->default_wait_s;
    s->offload = opt->offload;
    const char *host = opt->host && *opt->host ? opt->host : "127.0.0.1";
    s->loopback = http_host_is_loopback(host);
    if (load_tokens(s, opt, err, errlen) != 0 ||
        (opt->allowed_hosts && *opt->allowed_hosts && !(s->allowed_hosts = strdup(opt->allowed_hosts)))) {
        if (!*err)
            snprintf(err, errlen, "http: out of memory");
        http_server_free(s);
        return NULL;
    }
    if (!s->loopback && http_tokens_count(s->tokens) == 0) {
        if (!opt->allow_open) {
            snprintf(err, errlen,
                     "http: %s is not a loopback address and no API token is set: set JEN1_API_TOKEN "
                     "or JEN1_API_TOKENS_FILE (or JEN1_HTTP_INSECURE_OPEN=1 to serve anyone)", host);
            http_server_free(s);
            return NULL;
        }
        log_kv(LOG_WARN, "INSECURE: serving HTTP on a non-loopback address without a token; anyone "
               "who reaches it may enqueue jobs", LOG_STR("host", host));
    }
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_max_body_size(s->http, (ev_ssize_t)(opt->max_body_bytes ? opt->max_body_bytes
                                                                        : DEFAULT_MAX_BODY));
    evhttp_set_max_headers_size(s->http, (ev_ssize_t)(opt->max_header_bytes
                                                          ? opt->max_header_bytes
                                                          : DEFAULT_MAX_HEADERS));
    evhttp_set_timeout(s->http, opt->timeout_s > 0 ? opt->timeout_s : DEFAULT_TIMEOUT_S);
    evhttp_set_default_content_type(s->http, "application/json");
    evhttp_set_gencb(s->http, on_request, s);

    errno = 0;
    struct evhttp_bound_socket *bound =
        evhttp_bind_socket_with_handle(s->http, host, (ev_uint16_t)opt->port);
    if (!bound) {
        snprintf(err, errlen, "http: cannot listen on %s port %d: %s", host, opt->port,
                 errno ? strerror(errno) : "address not usable");
        http_server_free(s);
        return NULL;
    }
    s->conns = http_conns_new(s->http, bound, opt->max_conns > 0 ? opt->max_conns : DEFAULT_MAX_CONNS,
                              opt->timeout_s > 0 ? opt->timeout_s : DEFAULT_TIMEOUT_S);
    if (!s->conns) {
        snprintf(err, errlen, "http: out of memory");
        http_server_free(s);
        return NULL;
    }
    struct sockaddr_storage addr;
    socklen_t addr_len = sizeof addr;
    if (getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&addr, &addr_len) == 0)
        s->port = ntohs(addr.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&addr)->sin6_port
                                                   : ((struct sockaddr_in *)&addr)->sin_port);
    return s;
}

int http_server_port(const struct http_server *s) { return s->port; }

void http_server_free(struct http_server *s)
{
    if (!s)
        return;
    /* The connections free the requests held by waiters. */
    while (s->waiters) {
        struct waiter *w = s->waiters;
        waiter_unlink(w);
        evhttp_connection_set_closecb(w->conn, NULL, NULL);
        waiter_release(w);
    }
    if (s->http)
        evhttp_free(s->http);
    http_conns_free(s->conns);
    http_tokens_free(s->tokens);
    free(s->allowed_hosts);
    free(s);
}
