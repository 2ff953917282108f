/* supervisor.c - the pool: forks the worker processes, restarts one that
 * dies (with backoff), serves HTTP for the host, and drains on SIGTERM.
 *
 * The supervisor holds no job and never loads the model (see status.h); it
 * talks to Redis only for what HTTP asks (enqueue, job status) and for the
 * queue-depth gauge. Everything runs on one libevent loop but those Redis
 * calls, which run on one helper thread (http_offload.h): a slow or stuck
 * Redis never delays /health, the signals or the workers' restarts. */
#include "supervisor.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "http_offload.h"
#include "job.h"
#include "log.h"
#include "protocol.h"
#include "queue.h"
#include "worker.h"

#define RESTART_MAX_DELAY_S 30
#define HEALTHY_RUN_S 60 /* a worker that lived this long restarts without delay */

typedef struct slot {
    pid_t pid;
    time_t started;
    int failures;          /* consecutive short lives */
    struct event *restart; /* pending restart timer */
} slot;

typedef struct supervisor {
    const struct jen1_config *cfg;
    struct jen1_metrics *metrics;
    struct pool_status *status;
    struct event_base *base;
    struct http_server *http;
    struct http_offload *offload; /* the thread that makes every Redis call */
    queue *q;                     /* used on that thread only (after the start) */
    atomic_int redis_ok;          /* set there, read by /ready on the loop */
    bool tick_busy;               /* a tick's Redis calls are still on the thread */
    long long depth;
    int stopping;
    int exit_code;
    char model_name[256];
    slot slots[POOL_MAX_SLOTS];
} supervisor;

/* ---- Workers ------------------------------------------------------------------ */

static int alive(const supervisor *s)
{
    int n = 0;
    for (int i = 0; i < s->cfg->workers; i++) n += s->slots[i].pid > 0;
    return n;
}

static void start_worker(supervisor *s, int i)
{
    fflush(NULL);
    http_offload_hold(s->offload); /* no Redis call mid-way in the child's copy */
    pid_t pid = fork();
    if (pid != 0) http_offload_resume(s->offload);
    if (pid < 0) {
        log_kv(LOG_ERROR, "fork failed", LOG_STR("error", strerror(errno)));
        return;
    }
    if (pid == 0) {
        /* The child keeps stderr and the shared mappings, nothing else: not
         * the HTTP listener, not the supervisor's Redis connection. */
        close_range(3, ~0U, 0);
        signal(SIGCHLD, SIG_DFL);
        _exit(worker_main(s->cfg, (unsigned)i, s->metrics, s->status));
    }
    s->slots[i].pid = pid;
    s->slots[i].started = time(NULL);
    log_kv(LOG_INFO, "worker started", LOG_INT("slot", i), LOG_INT("pid", pid));
    metrics_set(s->metrics->registry, s->metrics->workers_alive, alive(s));
}

static void on_restart_due(evutil_socket_t fd, short what, void *arg);

typedef struct restart_arg {
    supervisor *s;
    int slot;
} restart_arg;

static restart_arg restart_args[POOL_MAX_SLOTS];

static void schedule_restart(supervisor *s, int i)
{
    slot *sl = &s->slots[i];
    int lived = (int)(time(NULL) - sl->started);
    sl->failures = lived >= HEALTHY_RUN_S ? 0 : sl->failures + 1;
    int delay = sl->failures == 0 ? 0 : 1 << (sl->failures - 1 < 5 ? sl->failures - 1 : 5);
    if (delay > RESTART_MAX_DELAY_S) delay = RESTART_MAX_DELAY_S;
    restart_args[i] = (restart_arg){s, i};
    if (!sl->restart) sl->restart = evtimer_new(s->base, on_restart_due, &restart_args[i]);
    struct timeval tv = {delay, 0};
    evtimer_add(sl->restart, &tv);
    log_kv(LOG_WARN, "restarting worker", LOG_INT("slot", i), LOG_INT("delay_s", delay));
    metrics_add(s->metrics->registry, s->metrics->worker_restarts, 1);
}

static void on_restart_due(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    restart_arg *r = arg;
    if (!r->s->stopping) start_worker(r->s, r->slot);
}

static void on_sigchld(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    supervisor *s = arg;
    int wstatus;
    pid_t pid;
    while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0) {
        for (int i = 0; i < s->cfg->workers; i++) {
            if (s->slots[i].pid != pid) continue;
            s->slots[i].pid = 0;
            atomic_store(&s->status->slots[i].model_loaded, 0);
            metrics_clear_gauges(s->metrics->registry, (unsigned)i + 1);
            if (WIFSIGNALED(wstatus))
                log_kv(s->stopping ? LOG_INFO : LOG_WARN, "worker killed", LOG_INT("slot", i), LOG_INT("pid", pid),
                       LOG_INT("signal", WTERMSIG(wstatus)));
            else
                log_kv(WEXITSTATUS(wstatus) && !s->stopping ? LOG_WARN : LOG_INFO, "worker exited",
                       LOG_INT("slot", i), LOG_INT("pid", pid), LOG_INT("status", WEXITSTATUS(wstatus)));
            if (!s->stopping) schedule_restart(s, i);
        }
    }
    metrics_set(s->metrics->registry, s->metrics->workers_alive, alive(s));
    if (s->stopping && alive(s) == 0) event_base_loopexit(s->base, NULL);
}

/* ---- Drain -------------------------------------------------------------------- */

static void on_grace_over(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    supervisor *s = arg;
    for (int i = 0; i < s->cfg->workers; i++)
        if (s->slots[i].pid > 0) {
            log_kv(LOG_WARN, "worker did not stop in time; killing it", LOG_INT("slot", i));
            kill(s->slots[i].pid, SIGKILL);
        }
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    supervisor *s = arg;
    if (s->stopping) return;
    s->stopping = 1;
    log_kv(LOG_INFO, "stopping: draining the workers", LOG_INT("signal", sig), LOG_INT("grace_s", s->cfg->grace_s));
    for (int i = 0; i < s->cfg->workers; i++) {
        if (s->slots[i].restart) evtimer_del(s->slots[i].restart);
        if (s->slots[i].pid > 0) kill(s->slots[i].pid, SIGTERM);
    }
    /* Workers stop their job at the end of the grace period and return it
     * to the queue; this is the backstop if one hangs. */
    struct timeval tv = {s->cfg->grace_s + 10, 0};
    event_base_once(s->base, -1, EV_TIMEOUT, on_grace_over, s, &tv);
    if (alive(s) == 0) event_base_loopexit(s->base, NULL);
}

/* ---- Redis, for HTTP and the gauges ------------------------------------------- */

static int ensure_redis(supervisor *s)
{
    char err[512];
    if (s->redis_ok) return 0;
    if (queue_connect(s->q, err, sizeof err) != 0) return -1;
    s->redis_ok = 1;
    return 0;
}

/* After a failed call: a lost connection is reconnected on the next tick. */
static void note_redis_error(supervisor *s)
{
    if (queue_unavailable(s->q)) s->redis_ok = 0;
}

/* On the offload thread: the queue's depth, which also tells whether Redis
 * answers (for /ready and the gauges). */
static void tick_redis(void *arg)
{
    supervisor *s = arg;
    long long main_q = 0, high = 0;
    char err[512];
    if (ensure_redis(s) == 0 && queue_depth(s->q, &main_q, &high, err, sizeof err) != 0) note_redis_error(s);
    s->depth = main_q + high;
}

static void tick_done(void *arg, bool cancelled)
{
    supervisor *s = arg;
    s->tick_busy = false;
    if (cancelled) return;
    metrics_set(s->metrics->registry, s->metrics->redis_up, s->redis_ok);
    if (s->redis_ok) metrics_set(s->metrics->registry, s->metrics->queue_depth, (double)s->depth);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    supervisor *s = arg;
    if (s->tick_busy) return; /* Redis is slow: one look at a time */
    s->tick_busy = http_offload_run(s->offload, tick_redis, tick_done, s) == 0;
}

/* ---- The HTTP backend ----------------------------------------------------------- */

static enum http_submit_status backend_submit(void *ctx, const char *body, size_t len, struct http_error *e)
{
    supervisor *s = ctx;
    job_limits limits = job_limits_default();
    limits.max_duration = s->cfg->max_duration_s;
    limits.model_name = s->model_name;
    job_request req;
    job_error je;
    if (job_parse(body, len, &limits, &req, &je) != JOB_OK) {
        snprintf(e->code, sizeof e->code, "%s", je.code);
        snprintf(e->message, sizeof e->message, "%s", je.message);
        return HTTP_SUBMIT_INVALID;
    }
    job_request_free(&req);
    char err[512], existing[16] = "";
    if (ensure_redis(s) != 0) {
        snprintf(e->code, sizeof e->code, "%s", protocol_error_name(PROTOCOL_REDIS_UNAVAILABLE));
        snprintf(e->message, sizeof e->message, "Redis is unreachable; try again");
        return HTTP_SUBMIT_UNAVAILABLE;
    }
    int rc = queue_enqueue(s->q, body, existing, err, sizeof err);
    if (rc < 0 && !queue_unavailable(s->q)) { /* refused, not lost: the job's fault */
        snprintf(e->code, sizeof e->code, "%s", protocol_error_name(PROTOCOL_INVALID_JOB));
        snprintf(e->message, sizeof e->message, "%s", err);
        return HTTP_SUBMIT_INVALID;
    }
    if (rc < 0) {
        note_redis_error(s);
        snprintf(e->code, sizeof e->code, "%s", protocol_error_name(PROTOCOL_REDIS_UNAVAILABLE));
        snprintf(e->message, sizeof e->message, "%s", err);
        return HTTP_SUBMIT_UNAVAILABLE;
    }
    if (rc == QUEUE_ENQUEUE_FULL) {
        snprintf(e->code, sizeof e->code, "queue_full");
        snprintf(e->message, sizeof e->message, "%s", err);
        return HTTP_SUBMIT_FULL;
    }
    if (rc == QUEUE_ENQUEUE_EXISTS) {
        snprintf(e->code, sizeof e->code, "conflict");
        snprintf(e->message, sizeof e->message, "a job with this id exists already (status %s)", existing);
        return HTTP_SUBMIT_CONFLICT;
    }
    return HTTP_SUBMIT_OK;
}

static enum http_job_state backend_job_status(void *ctx, const char *id, char **status_json, char **result_json)
{
    supervisor *s = ctx;
    json_t *job = NULL;
    char err[512];
    if (ensure_redis(s) != 0) return HTTP_JOB_UNAVAILABLE;
    int rc = queue_job_get(s->q, id, &job, err, sizeof err);
    if (rc < 0) {
        note_redis_error(s);
        return HTTP_JOB_UNAVAILABLE;
    }
    if (rc == 0) return HTTP_JOB_UNKNOWN;
    const char *status = json_string_value(json_object_get(job, "status"));
    enum http_job_state state = !status                            ? HTTP_JOB_QUEUED
                                : strcmp(status, "running") == 0   ? HTTP_JOB_RUNNING
                                : strcmp(status, "succeeded") == 0 ? HTTP_JOB_SUCCEEDED
                                : strcmp(status, "failed") == 0    ? HTTP_JOB_FAILED
                                : strcmp(status, "cancelled") == 0 ? HTTP_JOB_CANCELLED
                                                                   : HTTP_JOB_QUEUED;
    if (result_json && state == HTTP_JOB_SUCCEEDED) {
        json_t *result = json_object_get(job, "result");
        *result_json = result ? json_dumps(result, JSON_COMPACT) : NULL;
    }
    json_object_set_new(job, "id", json_string(id));
    *status_json = json_dumps(job, JSON_COMPACT);
    json_decref(job);
    return state;
}

static void backend_readiness(void *ctx, bool *model_loaded, bool *redis_ok)
{
    supervisor *s = ctx;
    *model_loaded = pool_status_loaded(s->status) > 0;
    *redis_ok = s->redis_ok; /* as the last tick found it (a second ago at most) */
}

static char *backend_torch_info(void *ctx)
{
    supervisor *s = ctx;
    char buf[sizeof s->status->slots[0].torch_info];
    if (pool_status_torch_info(s->status, buf, sizeof buf) != 0) return NULL;
    return strdup(buf);
}

static char *backend_models(void *ctx)
{
    supervisor *s = ctx;
    char buf[sizeof s->status->slots[0].models];
    if (pool_status_models(s->status, buf, sizeof buf) != 0) return NULL;
    return strdup(buf);
}

static char *backend_metrics(void *ctx, size_t *len)
{
    supervisor *s = ctx;
    return metrics_render(s->metrics->registry, len);
}

/* ---- The pool ------------------------------------------------------------------ */

int supervisor_run(const struct jen1_config *cfg, struct jen1_metrics *metrics, struct pool_status *status)
{
    supervisor s = {.cfg = cfg, .metrics = metrics, .status = status};
    char err[512];
    const char *name = strrchr(cfg->model_dir, '/');
    snprintf(s.model_name, sizeof s.model_name, "%.255s", name && name[1] ? name + 1 : cfg->model_dir);

    queue_config qc = {.url = cfg->redis_url, .prefix = cfg->prefix, .worker_id = cfg->worker_id,
                       .result_ttl_s = cfg->result_ttl_s, .connect_timeout_ms = 500, .command_timeout_ms = 2000,
                       .max_queued = cfg->max_queued, .queued_ttl_s = cfg->queued_ttl_s,
                       .dead_max = cfg->dead_max, .dead_max_age_s = cfg->dead_max_age_s};
    s.q = queue_new(&qc, err, sizeof err);
    if (!s.q) {
        log_kv(LOG_ERROR, "bad queue configuration", LOG_STR("error", err));
        return 2;
    }
    if (queue_connect(s.q, err, sizeof err) == 0) s.redis_ok = 1;
    else log_kv(LOG_WARN, "redis unreachable at start; workers will keep trying", LOG_STR("error", err));

    s.base = event_base_new();
    s.offload = s.base ? http_offload_new(s.base, err, sizeof err) : NULL;
    if (!s.offload) {
        log_kv(LOG_ERROR, "cannot start the Redis thread", LOG_STR("error", err));
        if (s.base) event_base_free(s.base);
        queue_free(s.q);
        return 1;
    }
    metrics_use_slot(metrics->registry, 0);
    struct event *sigterm = evsignal_new(s.base, SIGTERM, on_stop_signal, &s);
    struct event *sigint = evsignal_new(s.base, SIGINT, on_stop_signal, &s);
    struct event *sigchld = evsignal_new(s.base, SIGCHLD, on_sigchld, &s);
    struct event *tick = event_new(s.base, -1, EV_PERSIST, on_tick, &s);
    evsignal_add(sigterm, NULL);
    evsignal_add(sigint, NULL);
    evsignal_add(sigchld, NULL);
    struct timeval second = {1, 0};
    event_add(tick, &second);
    signal(SIGPIPE, SIG_IGN);

    if (cfg->http_enabled) {
        struct http_backend backend = {.ctx = &s, .submit = backend_submit, .job_status = backend_job_status,
                                       .readiness = backend_readiness, .models = backend_models,
                                       .torch_info = cfg->use_torch ? backend_torch_info : NULL,
                                       .metrics_text = backend_metrics};
        struct http_options ho = {.host = cfg->http_host, .port = cfg->http_port,
                                  .api_token = cfg->api_token, .tokens_file = cfg->api_tokens_file,
                                  .rate_per_min = cfg->api_rate_limit,
                                  .allow_open = cfg->http_insecure_open,
                                  .allowed_hosts = cfg->http_allowed_hosts,
                                  .max_conns = cfg->http_max_conns, .debug_torch = cfg->use_torch,
                                  .timeout_s = cfg->http_timeout_s,
                                  .default_wait_s = cfg->http_default_wait_s, .offload = s.offload,
                                  .client_ids = cfg->http_client_ids};
        s.http = http_server_start(s.base, &ho, &backend, err, sizeof err);
        if (!s.http) {
            log_kv(LOG_ERROR, "cannot serve HTTP", LOG_STR("addr", cfg->http_addr), LOG_STR("error", err));
            s.exit_code = 2;
            goto out;
        }
        log_kv(LOG_INFO, "serving HTTP", LOG_STR("host", cfg->http_host), LOG_INT("port", http_server_port(s.http)));
    }

    for (int i = 0; i < cfg->workers; i++) start_worker(&s, i);
    event_base_dispatch(s.base);
    log_info("pool stopped");

out:
    for (int i = 0; i < cfg->workers; i++)
        if (s.slots[i].restart) event_free(s.slots[i].restart);
    http_offload_free(s.offload); /* before the server: its calls hold requests */
    http_server_free(s.http);
    event_free(sigterm);
    event_free(sigint);
    event_free(sigchld);
    event_free(tick);
    event_base_free(s.base);
    queue_free(s.q);
    return s.exit_code;
}
