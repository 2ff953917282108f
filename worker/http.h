/* http.h - the daemon's HTTP API, served with libevent's evhttp inside the
 * supervisor's event loop.
 *
 *   GET  /health        200 {"status":"ok"} while the process lives
 *   GET  /ready         200 when the model is loaded and Redis answers, else
 *                       503 naming what is missing
 *   GET  /metrics       Prometheus text (text/plain; version=0.0.4)
 *   GET  /debug/torch   only when enabled (USE_TORCH=1), else 404
 *   POST /generate      a job as JSON ({"narrative", "duration", ...}; an "id"
 *                       is generated when absent): 202 {"id", "status":"queued",
 *                       "status_url"} with Location: /jobs/ID. Waiting for it
 *                       (up to HTTP_MAX_WAIT_S): ?wait=SECONDS (1..300) wins, then
 *                       RFC 7240's Prefer: wait=N (capped) or respond-async (no
 *                       wait), then http_options.default_wait_s. A wait answers
 *                       200 with the GeneratedSong when the job succeeds in time
 *                       (200 with its status document when it failed or was
 *                       cancelled), else 202 with its status document and
 *                       Location. Preference-Applied names the Prefer
 *                       preferences honoured (wait=N; respond-async on a 202).
 *   GET  /jobs/ID       200 the job's status document, 404 unknown, 400 bad id
 *
 * Every route but /health needs a known bearer token when tokens are set
 * (http_tokens.h) and a Host it answers to (http_host.h); /health answers
 * anyone, always, without touching the backend's blocking calls.
 *
 * Errors are JSON, {"error":"code","message":"..."}: 400 (bad JSON, invalid
 * job, bad id, bad query; id_not_allowed: an "id" without
 * http_options.client_ids), 401 (no or an unknown bearer token, with
 * WWW-Authenticate: Bearer), 403 (priority_not_allowed: a token without the
 * priority right), 404, 405 (with Allow), 409 (the backend refuses a
 * duplicate id), 415 (POST without application/json), 421 unknown_host (a
 * Host the server does not answer for), 429 (rate_limited: the token's rate;
 * queue_full: the queue's cap; both with Retry-After), 503 (Redis
 * unreachable; "busy" when every connection is taken). Bodies over the limit
 * get evhttp's own 413; a request that has not arrived whole within the
 * timeout is disconnected (http_conns.h).
 *
 * The server never talks to Redis or the engine: everything goes through a
 * struct http_backend the daemon provides. submit and job_status run on
 * http_options.offload's thread when one is given (they may block), else
 * inline; readiness, models, torch_info and metrics_text run on the loop and
 * must not block. */
#ifndef JEN1_HTTP_H
#define JEN1_HTTP_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct http_offload;

/* The longest a POST /generate waits for its job (?wait=, Prefer: wait,
 * JEN1_HTTP_DEFAULT_WAIT), seconds. */
#define HTTP_MAX_WAIT_S 300

enum http_job_state {
    HTTP_JOB_UNAVAILABLE = -1, /* the backend cannot tell now (Redis unreachable) */
    HTTP_JOB_UNKNOWN = 0,      /* no such job */
    HTTP_JOB_QUEUED,
    HTTP_JOB_RUNNING,
    HTTP_JOB_SUCCEEDED,
    HTTP_JOB_FAILED,
    HTTP_JOB_CANCELLED,
};

enum http_submit_status {
    HTTP_SUBMIT_OK,          /* 202 */
    HTTP_SUBMIT_INVALID,     /* 400: the job breaks docs/protocol.md's rules */
    HTTP_SUBMIT_CONFLICT,    /* 409: e.g. a job with this id exists */
    HTTP_SUBMIT_UNAVAILABLE, /* 503: Redis unreachable */
    HTTP_SUBMIT_FULL,        /* 429 queue_full with Retry-After: the queue's cap is reached */
};

/* What a refused submit tells the client. */
struct http_error {
    char code[48];     /* a stable code: "invalid_job", "model_mismatch", ... */
    char message[512]; /* for a person */
};

struct http_backend {
    void *ctx; /* passed to every callback */

    /* Validates and enqueues one job. `job` is the request body, a JSON object
     * (NUL-terminated, len bytes), with an "id" added when it had none. On
     * anything but HTTP_SUBMIT_OK, fills err. */
    enum http_submit_status (*submit)(void *ctx, const char *job, size_t len,
                                      struct http_error *err);

    /* The job's state; for a known job also its status document
     * (*status_json: a malloc'd JSON object) and, when result_json is not NULL
     * and the job succeeded, its GeneratedSong (*result_json, malloc'd). The
     * server frees both. UNKNOWN and UNAVAILABLE leave them NULL. */
    enum http_job_state (*job_status)(void *ctx, const char *id, char **status_json,
                                      char **result_json);

    /* Whether the model is loaded and Redis reachable, for /ready: from state
     * the daemon keeps, never a blocking call. */
    void (*readiness)(void *ctx, bool *model_loaded, bool *redis_ok);

    /* Which models a worker loaded, for /ready's "models" (a malloc'd JSON
     * object: {"music": {...}, "text": {...}}), or NULL when none has said
     * yet. May be NULL. */
    char *(*models)(void *ctx);

    /* The /debug/torch document (malloc'd JSON) or NULL on failure. Only
     * called when http_options.debug_torch is set; may be NULL otherwise. */
    char *(*torch_info)(void *ctx);

    /* The /metrics text (malloc'd, *len bytes) or NULL on failure. */
    char *(*metrics_text)(void *ctx, size_t *len);
};

struct http_options {
    const char *host;        /* "127.0.0.1", "::1", "0.0.0.0", a name */
    int port;                /* 0: the kernel picks one (see http_server_port) */
    const char *api_token;   /* the token "default" (may set priority); NULL or "": none */
    const char *tokens_file; /* more tokens (http_tokens.h's format); NULL or "": none */
    int rate_per_min;        /* POST /generate per token (and anonymous) a minute; 0: no limit */
    bool allow_open;         /* serve a non-loopback address with no token (loudly) */
    const char *allowed_hosts; /* Host names answered besides loopback's (http_host.h) */
    int max_conns;           /* connections held at once; 0: 512 */
    bool debug_torch;        /* serve /debug/torch */
    size_t max_body_bytes;   /* 0: 64 KiB */
    size_t max_header_bytes; /* 0: 8 KiB */
    int timeout_s;           /* a whole request must arrive in it (and each write); 0: 30 */
    int poll_ms;             /* how often a ?wait request looks at its job; 0: 100 */
    int max_waiters;         /* ?wait requests held at once (more get 202 at once); 0: 1024 */
    int default_wait_s;      /* the wait of a request that asks none; 0: 202 at once;
                                capped at HTTP_MAX_WAIT_S */
    struct http_offload *offload; /* runs submit and job_status; NULL: inline. Free it
                                     before the server (http_offload.h) */
    bool client_ids;         /* a POST may choose its job's "id"; false: the server
                                mints every id, and a body with one gets 400 id_not_allowed */
};

struct http_server;

/* Listens and registers the routes on `base`. The backend struct is copied;
 * its ctx must outlive the server. NULL with a message when the address
 * cannot be bound. */
struct http_server *http_server_start(struct event_base *base, const struct http_options *opt,
                                      const struct http_backend *backend, char *err,
                                      size_t errlen);

/* The port actually bound (useful with port 0). */
int http_server_port(const struct http_server *s);

/* Tells the server a job has ended, so that ?wait requests for it answer now
 * rather than at their next poll (e.g. from the {jen1}:events channel). */
void http_server_job_finished(struct http_server *s, const char *id);

/* Drops pending ?wait requests, closes every connection and the listener. */
void http_server_free(struct http_server *s);

#endif
