/* queue_conn.c - the handle and its connection: configuration, connecting
 * (AUTH, SELECT, SCRIPT LOAD), and sending commands with errors sorted into
 * "Redis is unavailable" and the rest. */
#include "queue_internal.h"
#include "redis_tls.h"

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- Commands ------------------------------------------------------------ */


/* Frees a hiredis context; over rediss:// also ends its relay (redis_tls.h). */
static void conn_free(redisContext *c)
{
    redis_tls *relay = redis_tls_take(c->fd);
    redisFree(c);
    redis_tls_join(relay);
}

static void qcmd_push(qcmd *c, const char *s, size_t n)
{
    if (c->argc >= QCMD_MAX_ARGS) {
        c->overflow = true;
        return;
    }
    c->argv[c->argc] = s;
    c->len[c->argc] = n;
    c->argc++;
}

void qcmd_init(qcmd *c, const char *name)
{
    c->argc = 0;
    c->overflow = false;
    c->script = -1;
    qcmd_arg(c, name);
}

void qcmd_script(qcmd *c, const queue *q, queue_script s, int nkeys)
{
    qcmd_init(c, "EVALSHA");
    c->script = (int)s;
    qcmd_arg(c, q->sha[s]);
    qcmd_int(c, nkeys);
}

void qcmd_arg(qcmd *c, const char *s)
{
    qcmd_push(c, s, strlen(s));
}

void qcmd_argb(qcmd *c, const char *s, size_t n)
{
    qcmd_push(c, s, n);
}

void qcmd_int(qcmd *c, long long v)
{
    qcmd_fmt(c, "%lld", v);
}

void qcmd_fmt(qcmd *c, const char *fmt, ...)
{
    if (c->argc >= QCMD_MAX_ARGS) {
        c->overflow = true;
        return;
    }
    char *buf = c->num[c->argc];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof c->num[0], fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof c->num[0]) c->overflow = true;
    else qcmd_push(c, buf, (size_t)n);
}

/* ---- SIGPIPE ----------------------------------------------------------------
 * hiredis writes with write(2): a write to a connection the server closed
 * raises SIGPIPE, which kills a process that left the signal at its default.
 * Such a process gets it blocked in this thread around each exchange, and
 * one raised meanwhile is taken off the pending set. A process that ignores
 * or handles SIGPIPE (as a daemon should) is spared those system calls. */

typedef struct {
    bool active;
    sigset_t old;
} sigpipe_guard;

static bool sigpipe_is_fatal(void)
{
    struct sigaction sa;
    return sigaction(SIGPIPE, NULL, &sa) != 0 || sa.sa_handler == SIG_DFL;
}

static void sigpipe_block(const queue *q, sigpipe_guard *g)
{
    g->active = q->guard_sigpipe;
    if (!g->active) return;
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &g->old);
}

static void sigpipe_restore(sigpipe_guard *g, bool io_failed)
{
    if (!g->active) return;
    if (io_failed && !sigismember(&g->old, SIGPIPE)) {
        sigset_t pending, pipe_set;
        sigemptyset(&pipe_set);
        sigaddset(&pipe_set, SIGPIPE);
        if (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE)) {
            const struct timespec no_wait = {0, 0};
            sigtimedwait(&pipe_set, NULL, &no_wait);
        }
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* ---- Errors ---------------------------------------------------------------- */

static void describe(const queue *q, const char *what, const char *job, char *buf, size_t len)
{
    if (job && *job)
        snprintf(buf, len, "redis %s: %s (job %s)", q->server, what, job);
    else
        snprintf(buf, len, "redis %s: %s", q->server, what);
}

/* The connection is gone (or unusable): drop it; the caller reconnects. */
static int connection_lost(queue *q, const char *what, const char *job, char *err, size_t errlen)
{
    char where[512];
    describe(q, what, job, where, sizeof where);
    if (!q->c)
        snprintf(err, errlen, "%s: not connected", where);
    else if (q->c->err == REDIS_ERR_IO && strstr(q->c->errstr, "temporarily unavailable"))
        snprintf(err, errlen, "%s: no reply within the timeout, connection dropped", where);
    else
        snprintf(err, errlen, "%s: connection lost: %s", where, q->c->errstr);
    if (q->c) {
        conn_free(q->c);
        q->c = NULL;
    }
    q->unavailable = true;
    return -1;
}

/* Replies that say "not now" rather than "wrong": the server is loading its
 * data, is a replica after a failover, runs a script that is too slow, is
 * out of memory or cannot persist, ... */
static bool transient_reply(const char *s)
{
    static const char *const prefixes[] = {"LOADING", "READONLY", "MASTERDOWN", "BUSY ", "TRYAGAIN",
                                           "CLUSTERDOWN", "NOREPLICAS", "MISCONF", "OOM "};
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++)
        if (strncmp(s, prefixes[i], strlen(prefixes[i])) == 0) return true;
    return false;
}

static int error_reply(queue *q, const char *what, const char *job, const redisReply *r, char *err,
                       size_t errlen)
{
    char where[512];
    describe(q, what, job, where, sizeof where);
    snprintf(err, errlen, "%s: %.*s", where, (int)r->len, r->str);
    q->unavailable = transient_reply(r->str);
    if (q->unavailable && q->c) {
        conn_free(q->c);
        q->c = NULL;
    }
    return -1;
}

int queue_bad_reply(const queue *q, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "redis %s: %s: unexpected reply", q->server, what);
    return -1;
}

int queue_need_worker(const queue *q, const char *what, char *err, size_t errlen)
{
    if (q->worker_id[0]) return 0;
    snprintf(err, errlen, "queue: %s needs a worker id (queue_config.worker_id)", what);
    return -1;
}

/* ---- Sending --------------------------------------------------------------- */

static redisReply *exchange(queue *q, qcmd *c)
{
    sigpipe_guard g;
    sigpipe_block(q, &g);
    redisReply *r = redisCommandArgv(q->c, c->argc, c->argv, c->len);
    sigpipe_restore(&g, r == NULL);
    return r;
}

int queue_call(queue *q, qcmd *c, const char *what, const char *job, redisReply **reply, char *err,
               size_t errlen)
{
    *reply = NULL;
    if (c->overflow) {
        snprintf(err, errlen, "queue: %s: too many arguments (a bug)", what);
        q->unavailable = false;
        return -1;
    }
    if (!q->c) return connection_lost(q, what, job, err, errlen);
    redisReply *r = exchange(q, c);
    if (!r) return connection_lost(q, what, job, err, errlen);
    if (r->type == REDIS_REPLY_ERROR && c->script >= 0 && strncmp(r->str, "NOSCRIPT", 8) == 0) {
        /* The server lost its script cache (SCRIPT FLUSH, a failover): EVAL
         * sends the source and caches it again under the same SHA. */
        freeReplyObject(r);
        const char *source = queue_script_source((queue_script)c->script);
        qcmd full = *c;
        full.argv[0] = "EVAL";
        full.len[0] = 4;
        full.argv[1] = source;
        full.len[1] = strlen(source);
        r = exchange(q, &full);
        if (!r) return connection_lost(q, what, job, err, errlen);
    }
    if (r->type == REDIS_REPLY_ERROR) {
        int rc = error_reply(q, what, job, r, err, errlen);
        freeReplyObject(r);
        return rc;
    }
    q->unavailable = false;
    *reply = r;
    return 0;
}

static struct timeval ms_timeval(long long ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    return tv;
}

int queue_call_blocking(queue *q, qcmd *c, int wait_ms, const char *what, redisReply **reply, char *err,
                        size_t errlen)
{
    if (!q->c) return connection_lost(q, what, NULL, err, errlen);
    /* hiredis 0.14 applies the socket's timeout to blocking commands too: it
     * must outlast the server-side wait or the connection would be dropped. */
    redisSetTimeout(q->c, ms_timeval((long long)wait_ms + q->command_timeout_ms));
    int rc = queue_call(q, c, what, NULL, reply, err, errlen);
    if (q->c) redisSetTimeout(q->c, ms_timeval(q->command_timeout_ms));
    return rc;
}

int queue_pipeline(queue *q, qcmd *cmds, int n, const char *what, redisReply **replies, char *err,
                   size_t errlen)
{
    for (int i = 0; i < n; i++) replies[i] = NULL;
    if (!q->c) return connection_lost(q, what, NULL, err, errlen);
    for (int i = 0; i < n; i++) {
        if (cmds[i].overflow) {
            snprintf(err, errlen, "queue: %s: too many arguments (a bug)", what);
            q->unavailable = false;
            return -1;
        }
    }
    sigpipe_guard g;
    sigpipe_block(q, &g);
    int ok = 1;
    for (int i = 0; i < n && ok; i++)
        ok = redisAppendCommandArgv(q->c, cmds[i].argc, cmds[i].argv, cmds[i].len) == REDIS_OK;
    for (int i = 0; i < n && ok; i++) {
        void *r = NULL;
        ok = redisGetReply(q->c, &r) == REDIS_OK;
        replies[i] = r;
    }
    sigpipe_restore(&g, !ok);
    if (!ok) {
        queue_free_replies(replies, n);
        return connection_lost(q, what, NULL, err, errlen);
    }
    for (int i = 0; i < n; i++) {
        if (replies[i]->type == REDIS_REPLY_ERROR) {
            error_reply(q, what, NULL, replies[i], err, errlen);
            queue_free_replies(replies, n);
            return -1;
        }
    }
    q->unavailable = false;
    return 0;
}

void queue_free_replies(redisReply **replies, int n)
{
    for (int i = 0; i < n; i++) {
        if (replies[i]) freeReplyObject(replies[i]);
        replies[i] = NULL;
    }
}

int queue_reply_int(const redisReply *r, long long *out)
{
    if (!r || r->type != REDIS_REPLY_INTEGER) return -1;
    *out = r->integer;
    return 0;
}

int queue_reply_elem_int(const redisReply *r, size_t i, long long *out)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || i >= r->elements) return -1;
    return queue_reply_int(r->element[i], out);
}

/* ---- Keys ---------------------------------------------------------------- */

const char *queue_key(const queue *q, const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "%s:%s", q->tag, name);
    return buf;
}

const char *queue_job_key(const queue *q, const char *id, char *buf)
{
    snprintf(buf, QUEUE_KEY_MAX, "%s:job:%s", q->tag, id);
    return buf;
}

const char *queue_done_key(const queue *q, const char *id, char *buf)
{
    snprintf(buf, QUEUE_KEY_MAX, "%s:done:%s", q->tag, id);
    return buf;
}

/* ---- The handle ------------------------------------------------------------ */

static bool name_valid(const char *s, size_t max, const char *extra)
{
    size_t n = strlen(s);
    if (n == 0 || n > max) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                  c == '.' || c == '-' || strchr(extra, c);
        if (!ok) return false;
    }
    return true;
}

static int or_default(int v, int def)
{
    return v > 0 ? v : def;
}

queue *queue_new(const queue_config *cfg, char *err, size_t errlen)
{
    const char *prefix = cfg->prefix ? cfg->prefix : "jen1";
    if (!name_valid(prefix, QUEUE_PREFIX_MAX, ":")) {
        snprintf(err, errlen, "queue: the prefix must be 1 to %d of [A-Za-z0-9_.:-]", QUEUE_PREFIX_MAX);
        return NULL;
    }
    if (cfg->worker_id && !name_valid(cfg->worker_id, QUEUE_WORKER_ID_MAX, ":")) {
        snprintf(err, errlen, "queue: the worker id must be 1 to %d of [A-Za-z0-9_.:-]",
                 QUEUE_WORKER_ID_MAX);
        return NULL;
    }
    queue *q = calloc(1, sizeof *q);
    if (!q) {
        snprintf(err, errlen, "queue: out of memory");
        return NULL;
    }
    if (redis_url_parse(cfg->url ? cfg->url : "redis://127.0.0.1:6379", &q->url, err, errlen) != 0) {
        free(q);
        return NULL;
    }
    if (q->url.user[0] && !q->url.password[0]) {
        /* Not a reason to retry: no server will take it. */
        snprintf(err, errlen, "redis URL: the user '%s' has no password (give one in the URL or in "
                 "JEN1_REDIS_PASSWORD_FILE)", q->url.user);
        free(q);
        return NULL;
    }
    redis_url_describe(&q->url, q->server, sizeof q->server);
    snprintf(q->tag, sizeof q->tag, "{%s}", prefix);
    if (cfg->worker_id) snprintf(q->worker_id, sizeof q->worker_id, "%s", cfg->worker_id);
    q->heartbeat_ttl_ms = or_default(cfg->heartbeat_ttl_ms, 15000);
    q->result_ttl_s = or_default(cfg->result_ttl_s, 7 * 24 * 3600);
    q->max_attempts = or_default(cfg->max_attempts, 3);
    q->retry_base_ms = or_default(cfg->retry_base_ms, 1000);
    q->connect_timeout_ms = or_default(cfg->connect_timeout_ms, 2000);
    q->command_timeout_ms = or_default(cfg->command_timeout_ms, 5000);
    q->max_queued = or_default(cfg->max_queued, 1000);
    q->queued_ttl_s = or_default(cfg->queued_ttl_s, 7 * 24 * 3600);
    q->dead_max = or_default(cfg->dead_max, 10000);
    q->dead_max_age_s = or_default(cfg->dead_max_age_s, 30 * 24 * 3600);
    q->unavailable = true;

    queue_key(q, "queue", q->k_queue, sizeof q->k_queue);
    queue_key(q, "queue:high", q->k_high, sizeof q->k_high);
    queue_key(q, "dead", q->k_dead, sizeof q->k_dead);
    queue_key(q, "events", q->k_events, sizeof q->k_events);
    queue_key(q, "workers", q->k_workers, sizeof q->k_workers);
    queue_key(q, "scheduled", q->k_scheduled, sizeof q->k_scheduled);
    if (q->worker_id[0]) {
        snprintf(q->k_inflight, sizeof q->k_inflight, "%s:inflight:%s", q->tag, q->worker_id);
        snprintf(q->k_worker, sizeof q->k_worker, "%s:worker:%s", q->tag, q->worker_id);
    }
    return q;
}

/* AUTH, SELECT, then a PING that proves the login (NOAUTH otherwise). */
static int handshake(queue *q, char *err, size_t errlen)
{
    redisReply *r;
    qcmd c;
    if (q->url.password[0]) {
        qcmd_init(&c, "AUTH");
        if (q->url.user[0]) qcmd_arg(&c, q->url.user);
        qcmd_arg(&c, q->url.password);
        if (queue_call(q, &c, "authentication failed", NULL, &r, err, errlen) != 0) return -1;
        freeReplyObject(r);
    }
    if (q->url.db != 0) {
        qcmd_init(&c, "SELECT");
        qcmd_int(&c, q->url.db);
        if (queue_call(q, &c, "selecting the database", NULL, &r, err, errlen) != 0) return -1;
        freeReplyObject(r);
    }
    qcmd_init(&c, "PING");
    if (queue_call(q, &c, "PING after connecting", NULL, &r, err, errlen) != 0) {
        if (strstr(err, "NOAUTH")) {
            size_t n = strlen(err);
            snprintf(err + n, errlen - n, " (the server wants a password: redis://:PASSWORD@host)");
        }
        return -1;
    }
    freeReplyObject(r);
    return 0;
}

static int load_scripts(queue *q, char *err, size_t errlen)
{
    qcmd cmds[QS_COUNT];
    redisReply *replies[QS_COUNT];
    for (int s = 0; s < QS_COUNT; s++) {
        qcmd_init(&cmds[s], "SCRIPT");
        qcmd_arg(&cmds[s], "LOAD");
        qcmd_arg(&cmds[s], queue_script_source((queue_script)s));
    }
    if (queue_pipeline(q, cmds, QS_COUNT, "loading the scripts", replies, err, errlen) != 0) return -1;
    int rc = 0;
    for (int s = 0; s < QS_COUNT; s++) {
        if (replies[s]->type != REDIS_REPLY_STRING || replies[s]->len != 40) {
            rc = queue_bad_reply(q, "loading the scripts", err, errlen);
            break;
        }
        memcpy(q->sha[s], replies[s]->str, 40);
        q->sha[s][40] = '\0';
    }
    queue_free_replies(replies, QS_COUNT);
    return rc;
}

int queue_connect(queue *q, char *err, size_t errlen)
{
    if (q->c) conn_free(q->c);
    q->c = NULL;
    q->unavailable = true;
    q->guard_sigpipe = sigpipe_is_fatal();
    redisContext *c = NULL;
    if (q->url.tls) {
        char why[256];
        int fd = redis_tls_connect(q->url.host, q->url.port, q->connect_timeout_ms, why, sizeof why);
        if (fd < 0) {
            snprintf(err, errlen, "redis %s: %s", q->server, why);
            return -1;
        }
        c = redisConnectFd(fd);
        if (!c) {
            redis_tls *relay = redis_tls_take(fd);
            close(fd);
            redis_tls_join(relay);
        }
    } else {
        struct timeval timeout = ms_timeval(q->connect_timeout_ms);
        c = q->url.is_unix ? redisConnectUnixWithTimeout(q->url.path, timeout)
                           : redisConnectWithTimeout(q->url.host, q->url.port, timeout);
    }
    if (!c || c->err) {
        snprintf(err, errlen, "redis %s: cannot connect: %s", q->server, c ? c->errstr : "out of memory");
        if (c) conn_free(c);
        return -1;
    }
    redisSetTimeout(c, ms_timeval(q->command_timeout_ms));
    if (!q->url.is_unix && !q->url.tls) redisEnableKeepAlive(c); /* the relay keeps its TCP alive */
    q->c = c;
    if (handshake(q, err, errlen) != 0 || load_scripts(q, err, errlen) != 0) {
        if (q->c) conn_free(q->c);
        q->c = NULL;
        return -1;
    }
    return 0;
}

int queue_ping(queue *q, char *err, size_t errlen)
{
    qcmd c;
    redisReply *r;
    qcmd_init(&c, "PING");
    if (queue_call(q, &c, "PING", NULL, &r, err, errlen) != 0) return -1;
    freeReplyObject(r);
    return 0;
}

bool queue_unavailable(const queue *q)
{
    return q->unavailable;
}

const char *queue_server(const queue *q)
{
    return q->server;
}

void queue_free(queue *q)
{
    if (!q) return;
    if (q->c) conn_free(q->c);
    memset(q->url.password, 0, sizeof q->url.password);
    free(q);
}
