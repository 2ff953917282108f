/* queue.h - jen1's Redis contract (docs/protocol.md) over hiredis: producers
 * enqueue, cancel and inspect jobs; workers take, run and end them.
 *
 * Every change of a job's state is one Lua script (EVALSHA), so it is atomic
 * and costs one round trip: a job costs a worker two (reserve-and-start,
 * finish) and one per progress report. Timestamps come from the Redis server's
 * clock, so hosts with skewed clocks agree.
 *
 * Errors. Every call returns -1 on failure with a message in err (never a
 * password). queue_unavailable() then says whether Redis was unreachable,
 * the connection was lost, or the server cannot serve for now (loading,
 * read-only replica, busy script): the handle is then unusable until
 * queue_connect() succeeds again - reconnect with backoff and retry. Any
 * other failure (a bad argument, an unexpected reply) is not worth retrying
 * as is. Calls are safe to repeat after a lost reply: ending a job twice
 * changes nothing the second time.
 *
 * A handle is one connection and is not thread-safe: a heartbeat thread
 * opens its own handle with the same worker id. A lost connection never
 * kills the process with SIGPIPE: when, at queue_connect(), that signal is
 * left at its default, the calls block it around their I/O (a daemon that
 * ignores SIGPIPE spares them those two system calls per call).
 *
 * The worker's loop, in outline:
 *
 *   queue_heartbeat(q, info)                  first, then every ttl/3
 *   queue_reap(q, ...)                        every few seconds
 *   if (queue_reserve(q, 1000, &job) == 1) {      (it starts the job too)
 *       NOT_A_JOB: queue_dead_payload(q, &job, "invalid_json", why)
 *       anything else but RUN: nothing to do
 *       RUN, invalid job: queue_fail(q, &job, "invalid_job", why, false, NULL)
 *       RUN: ... queue_progress(q, &job, p, stage, &stop); on stop: queue_cancelled
 *            after each window: queue_checkpoint(q, &job, frames, &stop)
 *       queue_finish(q, &job, result, url) or queue_fail(...)
 *       queue_job_clear(&job)
 *   }
 *   on shutdown: queue_release(q, NULL, 0, ...)
 */
#ifndef JEN1_QUEUE_H
#define JEN1_QUEUE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "protocol.h" /* the job-id rule: protocol_id_valid, PROTOCOL_ID_MAX */

#define QUEUE_WORKER_ID_MAX 128 /* a worker id: [A-Za-z0-9_.:-]{1,128} */
#define QUEUE_PREFIX_MAX 64

typedef struct queue queue;

/* Zero (or NULL) in any field means its default. */
typedef struct queue_config {
    const char *url;         /* redis_url.h's forms; default redis://127.0.0.1:6379 */
    const char *prefix;      /* default "jen1": keys are "{jen1}:..." */
    const char *worker_id;   /* needed by the worker-side calls only */
    int heartbeat_ttl_ms;    /* default 15000: a worker silent this long is reaped */
    int result_ttl_s;        /* default 604800 (7 days): how long ended jobs are kept */
    int max_attempts;        /* default 3 */
    int retry_base_ms;       /* default 1000: transient retries wait base * 2^(attempt-1), at most 60 s */
    int connect_timeout_ms;  /* default 2000 */
    int command_timeout_ms;  /* default 5000: a reply slower than this counts as a lost connection */
    int max_queued;          /* default 1000: queue_enqueue refuses a job while this many wait
                                (main and high queues together); the enqueue script checks it */
    int queued_ttl_s;        /* default 604800 (7 days): a queued job's hash expires after this
                                unless a worker starts it (then it lasts until it ends) */
    int dead_max;            /* default 10000: the dead list keeps this many entries, newest */
    int dead_max_age_s;      /* default 2592000 (30 days): older dead entries are dropped */
} queue_config;

/* What a worker is to do with a payload it took. */
typedef enum {
    QUEUE_TAKE_RUN,        /* run it: its job is started (running, attempts counted) */
    QUEUE_TAKE_NOT_A_JOB,  /* no JSON object with a valid id: queue_dead_payload() it */
    QUEUE_TAKE_ENDED,      /* its job had ended (a redelivery): already dropped */
    QUEUE_TAKE_CANCELLED,  /* its job was cancelled: now ended as cancelled, dropped */
    QUEUE_TAKE_LOST,       /* reaped from this (stalled) worker before it could start:
                            * another worker has it; leave it */
    QUEUE_TAKE_DUPLICATE,  /* its id belongs to another job (a different request):
                            * already in the dead list as duplicate_id; leave it */
} queue_take_decision;

/* A payload a worker holds. queue_reserve fills it; queue_job_clear frees it. */
typedef struct queue_job {
    char *payload;      /* the bytes as taken, verbatim (NUL-terminated too): the */
    size_t payload_len; /* in-flight entry is removed by exact value */
    char id[PROTOCOL_ID_MAX + 1]; /* "" with QUEUE_TAKE_NOT_A_JOB */
    queue_take_decision decision;
    long long attempts; /* with QUEUE_TAKE_RUN: this is attempt number N */
    long long checkpoint_frames; /* with QUEUE_TAKE_RUN: the frames of the job's
                                    checkpoint an earlier attempt recorded
                                    (queue_checkpoint), 0 when none */
} queue_job;

/* ---- Connection ------------------------------------------------------------ */

/* Checks the configuration and parses the URL; does not connect. Returns
 * NULL with a message on a bad configuration. */
queue *queue_new(const queue_config *cfg, char *err, size_t errlen);

/* Connects (again, dropping any previous connection): TCP or unix socket,
 * AUTH, SELECT, then loads the scripts. Returns 0 or -1; after -1,
 * queue_unavailable() tells an unreachable server from a refused login. */
int queue_connect(queue *q, char *err, size_t errlen);

/* PING. Returns 0 when Redis answers, else -1. */
int queue_ping(queue *q, char *err, size_t errlen);

/* After a -1: was it Redis being unreachable or the connection lost? */
bool queue_unavailable(const queue *q);

/* The server as "host:port/db" (never the credentials), for logs. */
const char *queue_server(const queue *q);

/* The full name of a key: queue_key(q, "queue") is "{jen1}:queue". Into buf. */
const char *queue_key(const queue *q, const char *name, char *buf, size_t len);

/* Closes the connection and frees the handle (NULL is fine). */
void queue_free(queue *q);

/* ---- Producer and operator side (jen1ctl, POST /generate) -------------------- */

/* queue_enqueue's answers besides 0 (enqueued) and -1 (an error). */
#define QUEUE_ENQUEUE_EXISTS 1 /* a job with this id exists: nothing changed */
#define QUEUE_ENQUEUE_FULL 2   /* cfg.max_queued jobs wait already: nothing changed */

/* Enqueues a job: `payload` must be a JSON object with a valid "id", nested
 * at most PROTOCOL_JSON_MAX_DEPTH deep; a "priority" > 0 sends it to
 * {p}:queue:high. Creates the job hash (queued, request, created_at, expiring
 * after cfg.queued_ttl_s) and LPUSHes the payload, atomically - unless the
 * queues hold cfg.max_queued jobs already (QUEUE_ENQUEUE_FULL, with a message
 * in err), or a job with this id exists (QUEUE_ENQUEUE_EXISTS; its status in
 * *existing_status if not NULL, e.g. "running"). The script reads the payload
 * as the worker's take will (Redis's cjson) and refuses one it cannot read
 * back the same id from, so an enqueued job always ends. Returns 0, 1, 2 or -1. */
int queue_enqueue(queue *q, const char *payload, char existing_status[16], char *err, size_t errlen);

typedef enum {
    QUEUE_CANCEL_DONE,        /* it was queued (or unknown): now cancelled, announced */
    QUEUE_CANCEL_REQUESTED,   /* it is running: its worker stops it at its next progress report */
    QUEUE_CANCEL_TOO_LATE,    /* it had ended already: nothing changed */
} queue_cancel_outcome;

/* Cancels job `id`. An id with no job hash (a bare LPUSH not taken yet, or a
 * mistake) gets a cancelled hash anyway, so a payload still queued is
 * dropped when taken; *known says whether the job existed (may be NULL).
 * With TOO_LATE, *ended_status (may be NULL) is "succeeded", "failed" or
 * "cancelled". Returns 0 or -1. */
int queue_cancel(queue *q, const char *id, queue_cancel_outcome *outcome, bool *known,
                 char ended_status[16], char *err, size_t errlen);

/* Moves dead entries back to the queue (behind the waiting jobs): the one(s)
 * of job `id`, or with id NULL every entry that names a job (payloads that
 * were not jobs stay, and so do duplicate_id entries whose id another job's
 * hash holds). Their hashes go back to queued with 0 attempts, no expiry and
 * an empty done list. One pass over the list, however long. *moved: how many
 * jobs. Returns 0 or -1. */
int queue_retry_dead(queue *q, const char *id, long long *moved, char *err, size_t errlen);

/* The job hash as a JSON object (*out, new reference), typed: progress a
 * real; attempts, stalled_attempts, progress_attempt, checkpoint_frames
 * and the *_at times integers; cancel a boolean; request and
 * result the JSON they hold (a string when they hold no valid JSON); every
 * other field a string. Returns 1 found, 0 no such job (*out NULL), -1 error. */
int queue_job_get(queue *q, const char *id, json_t **out, char *err, size_t errlen);

typedef enum { QUEUE_LIST_QUEUED, QUEUE_LIST_RUNNING, QUEUE_LIST_DEAD } queue_list_kind;

/* Up to `limit` (<= 0: 100) entries as a JSON array (*out, new reference):
 *  QUEUED  in the order they will be taken: {"id", "queue": "high"|"main",
 *          "payload"}, then those waiting for a retry: {"id", "queue":
 *          "scheduled", "due_at", "payload"};
 *  RUNNING {"id", "worker", "payload"} for every in-flight payload;
 *  DEAD    the dead entries, newest first: {"id", "payload", "error",
 *          "error_message", "attempts", "at"}.
 * "id" is null when a payload has none. Returns 0 or -1. */
int queue_list(queue *q, queue_list_kind kind, int limit, json_t **out, char *err, size_t errlen);

/* A snapshot (*out, new reference): {"queued", "queued_high", "scheduled",
 * "in_flight", "dead", "workers", "workers_alive"} (all integers). "queued"
 * counts the main queue only. Returns 0 or -1. */
int queue_stats(queue *q, json_t **out, char *err, size_t errlen);

/* Jobs waiting in the main and the high-priority queue. Returns 0 or -1. */
int queue_depth(queue *q, long long *main_queue, long long *high, char *err, size_t errlen);

/* ---- Worker side (need cfg.worker_id) ------------------------------------------ */

/* Registers the worker as alive for heartbeat_ttl_ms: SET {p}:worker:W
 * `info_json` (NULL: "{}") PX ttl, and its score in {p}:workers. Call it
 * before the first reserve (the reaper only knows workers that registered),
 * then at least every third of the TTL. Returns 0 or -1. */
int queue_heartbeat(queue *q, const char *info_json, char *err, size_t errlen);

/* Takes the next payload into this worker's in-flight list - from
 * {p}:queue:high if any, else from {p}:queue, waiting up to timeout_ms for
 * one (0: no wait) - and starts its job (status running, stage planning,
 * worker, started_at, attempts + 1, request if the hash has none) unless
 * job->decision says otherwise. One round trip when a job is waiting, two
 * when it had to wait. While it waits only the main queue is watched: a
 * high-priority job pushed meanwhile is seen at the next call. After a -1
 * the payload may be in flight already: queue_release() after reconnecting
 * gives it back. *job is overwritten (clear the previous one first).
 * Returns 1 with a payload in *job, 0 when none came in time, -1 on error. */
int queue_reserve(queue *q, int timeout_ms, queue_job *job, char *err, size_t errlen);

/* Records progress (clamped to 0..1) and, unless NULL, the stage, while the
 * job is running. *stop becomes true when someone asked to cancel it, or when it
 * ended elsewhere (another attempt finished it): stop the engine and call
 * queue_cancelled. Returns 0 or -1. */
int queue_progress(queue *q, const queue_job *job, double progress, const char *stage, bool *stop,
                   char *err, size_t errlen);

/* Records that this attempt wrote a checkpoint of `frames` frames (the
 * song's codes so far, in the blob store). One that advances the job's
 * checkpoint (checkpoint_frames) marks the attempt as having made progress
 * (progress_attempt): should its worker die, the next take does not count it
 * against JEN1_MAX_ATTEMPTS (docs/protocol.md). *stop as queue_progress's.
 * Returns 0 or -1. */
int queue_checkpoint(queue *q, const queue_job *job, long long frames, bool *stop, char *err, size_t errlen);

/* Ends a job as succeeded: result (the GeneratedSong JSON), audio_url (may be
 * NULL), progress 1, stage done, the expiry, the done list and the event -
 * unless it had ended already, when only the in-flight entry goes. *written
 * (may be NULL): whether this call wrote the result. Returns 0 or -1. */
int queue_finish(queue *q, const queue_job *job, const char *result_json, const char *audio_url,
                 bool *written, char *err, size_t errlen);

typedef enum {
    QUEUE_FAIL_RETRY,   /* transient, attempts left: scheduled, status queued */
    QUEUE_FAIL_FAILED,  /* permanent: status failed, announced */
    QUEUE_FAIL_DEAD,    /* transient but no attempts left: failed, and in {p}:dead */
    QUEUE_FAIL_ENDED,   /* it had ended already: only the in-flight entry went */
} queue_fail_outcome;

/* Ends an attempt with error `code` (docs/protocol.md) and `message`. A
 * transient failure with attempts left is retried after the backoff (the
 * error stays visible in the hash meanwhile); otherwise the job fails.
 * *outcome may be NULL. Returns 0 or -1. */
int queue_fail(queue *q, const queue_job *job, const char *code, const char *message, bool transient,
               queue_fail_outcome *outcome, char *err, size_t errlen);

/* Ends a job stopped because queue_progress said stop: status cancelled
 * (unless it had ended already), announced, in-flight entry removed.
 * Returns 0 or -1. */
int queue_cancelled(queue *q, const queue_job *job, char *err, size_t errlen);

/* Sends a payload that is not a job at all to {p}:dead, raw, with `code` and
 * `message`, and drops it from in-flight. When job->id is set, the job hash
 * also ends failed (announced), so whoever waits for it learns. Returns 0 or -1. */
int queue_dead_payload(queue *q, const queue_job *job, const char *code, const char *message,
                       char *err, size_t errlen);

/* Puts this worker's in-flight payloads back at the consumer end of their
 * queue (taken next) and their running jobs back to queued - on shutdown,
 * or after a reconnect to recover a payload whose reserve reply was lost.
 * keep[0..n_keep) (keep may be NULL when n_keep is 0; NULL entries are
 * skipped): jobs still being worked on, left in place. *released (may be
 * NULL): how many went back. Returns 0 or -1. */
int queue_release(queue *q, const queue_job *const *keep, int n_keep, long long *released, char *err,
                  size_t errlen);

/* The reaper, which any worker runs every few seconds: for each worker in
 * {p}:workers whose heartbeat key has expired, its in-flight payloads go back
 * to the consumer end of their queue, its running jobs back to queued, and
 * it is forgotten; then retries that are due move from {p}:scheduled to the
 * queue. *reaped and *rescheduled (may be NULL) count payloads. Returns 0 or -1. */
int queue_reap(queue *q, long long *reaped, long long *rescheduled, char *err, size_t errlen);

/* Frees job->payload and resets *job. */
void queue_job_clear(queue_job *job);

#endif
