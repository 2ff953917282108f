/* queue_internal.h - what queue.c (the worker's calls) and queue_admin.c (the
 * producer's and operator's) share: the handle, and commands sent through
 * queue_conn.c, which turns every failure into a message and tells a lost
 * connection from the rest. Not part of the API. */
#ifndef JEN1_QUEUE_INTERNAL_H
#define JEN1_QUEUE_INTERNAL_H

#include "queue.h"
#include "queue_scripts.h"
#include "redis_url.h"

#include <hiredis/hiredis.h>
#include <stdbool.h>

#define QUEUE_KEY_MAX 320 /* "{prefix}:inflight:" + a worker id, or ":job:" + a job id */

struct queue {
    redis_url url;
    char server[300];                    /* the URL without credentials */
    char tag[QUEUE_PREFIX_MAX + 3];      /* "{jen1}" */
    char worker_id[QUEUE_WORKER_ID_MAX + 1];
    int heartbeat_ttl_ms, result_ttl_s, max_attempts, retry_base_ms;
    int connect_timeout_ms, command_timeout_ms;
    int max_queued, queued_ttl_s, dead_max, dead_max_age_s; /* admission and the dead list's bounds */
    redisContext *c;                     /* NULL when not connected */
    bool unavailable;
    bool guard_sigpipe;                  /* SIGPIPE would kill: block it around I/O */
    char sha[QS_COUNT][41];              /* from SCRIPT LOAD at connect */
    char k_queue[QUEUE_KEY_MAX], k_high[QUEUE_KEY_MAX], k_dead[QUEUE_KEY_MAX];
    char k_events[QUEUE_KEY_MAX], k_workers[QUEUE_KEY_MAX], k_scheduled[QUEUE_KEY_MAX];
    char k_inflight[QUEUE_KEY_MAX], k_worker[QUEUE_KEY_MAX]; /* this worker's */
};

/* One command's arguments, binary-safe. The strings must outlive the call;
 * numbers are formatted into the command's own storage. */
#define QCMD_MAX_ARGS 24
typedef struct qcmd {
    int argc;
    bool overflow;
    int script; /* a queue_script, or -1 for a plain command */
    const char *argv[QCMD_MAX_ARGS];
    size_t len[QCMD_MAX_ARGS];
    char num[QCMD_MAX_ARGS][32];
} qcmd;

void qcmd_init(qcmd *c, const char *name);
/* EVALSHA <sha> <nkeys>: then add the keys, then the arguments. */
void qcmd_script(qcmd *c, const queue *q, queue_script s, int nkeys);
void qcmd_arg(qcmd *c, const char *s);
void qcmd_argb(qcmd *c, const char *s, size_t n);
void qcmd_int(qcmd *c, long long v);
void qcmd_fmt(qcmd *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sends one command and reads its reply (*reply, to freeReplyObject).
 * A script the server does not know (NOSCRIPT) is sent again in full.
 * `what` and `job` (may be NULL) name the operation in messages. An error
 * reply is a failure. Returns 0 or -1 (with queue_unavailable() set right). */
int queue_call(queue *q, qcmd *c, const char *what, const char *job, redisReply **reply, char *err,
               size_t errlen);

/* The same for a blocking command that may wait up to wait_ms on the server:
 * the socket's timeout is stretched past it for this call. */
int queue_call_blocking(queue *q, qcmd *c, int wait_ms, const char *what, redisReply **reply, char *err,
                        size_t errlen);

/* Sends n plain commands at once and reads their n replies (one round trip). */
int queue_pipeline(queue *q, qcmd *cmds, int n, const char *what, redisReply **replies, char *err,
                   size_t errlen);
void queue_free_replies(redisReply **replies, int n);

/* "{p}:job:ID" and "{p}:done:ID" into buf (QUEUE_KEY_MAX). */
const char *queue_job_key(const queue *q, const char *id, char *buf);
const char *queue_done_key(const queue *q, const char *id, char *buf);

/* Integer reply (or integer element i of an array reply). -1 on a wrong shape. */
int queue_reply_int(const redisReply *r, long long *out);
int queue_reply_elem_int(const redisReply *r, size_t i, long long *out);

/* A message for a reply that is not what a script or command promises. */
int queue_bad_reply(const queue *q, const char *what, char *err, size_t errlen);

/* Fails a worker-side call made on a handle without a worker id. */
int queue_need_worker(const queue *q, const char *what, char *err, size_t errlen);

#endif
