/* queue.c - the worker's side of the Redis contract: take a payload, run it,
 * end it, heartbeat, give payloads back, reap dead workers. Each call is one
 * script (queue_scripts.c) and one round trip, except a reserve that waits. */
#include "queue_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void queue_job_clear(queue_job *job)
{
    free(job->payload);
    memset(job, 0, sizeof *job);
}

/* The dead list's bounds, the last two arguments of every script that may
 * add a dead entry: entries, age in ms. */
static void dead_bounds_args(qcmd *c, const queue *q)
{
    qcmd_int(c, q->dead_max);
    qcmd_int(c, (long long)q->dead_max_age_s * 1000);
}

/* Fills *job from a payload and start_job's {decision, id, attempts,
 * checkpoint frames} (elements `first`.. of the reply r). */
static int fill_job(queue *q, queue_job *job, const char *payload, size_t len, const redisReply *r, size_t first,
                    char *err, size_t errlen)
{
    static const queue_take_decision decisions[] = {QUEUE_TAKE_RUN, QUEUE_TAKE_NOT_A_JOB, QUEUE_TAKE_ENDED,
                                                    QUEUE_TAKE_CANCELLED, QUEUE_TAKE_LOST,
                                                    QUEUE_TAKE_DUPLICATE};
    long long decision, attempts, frames;
    if (queue_reply_elem_int(r, first, &decision) != 0 || decision < 0 || decision > 5 ||
        r->elements != first + 4 || r->element[first + 1]->type != REDIS_REPLY_STRING ||
        r->element[first + 1]->len > PROTOCOL_ID_MAX || queue_reply_elem_int(r, first + 2, &attempts) != 0 ||
        queue_reply_elem_int(r, first + 3, &frames) != 0)
        return queue_bad_reply(q, "taking a job", err, errlen);
    job->payload = malloc(len + 1);
    if (!job->payload) {
        snprintf(err, errlen, "queue: out of memory for a %zu-byte payload", len);
        return -1;
    }
    memcpy(job->payload, payload, len);
    job->payload[len] = '\0';
    job->payload_len = len;
    memcpy(job->id, r->element[first + 1]->str, r->element[first + 1]->len);
    job->id[r->element[first + 1]->len] = '\0';
    job->decision = decisions[decision];
    job->attempts = attempts;
    job->checkpoint_frames = frames;
    return 1;
}

/* Starts the job of a payload that BLMOVE moved into the in-flight list. */
static int start_moved(queue *q, const redisReply *moved, queue_job *job, char *err, size_t errlen)
{
    qcmd c;
    redisReply *r;
    qcmd_script(&c, q, QS_START, 1);
    qcmd_arg(&c, q->k_inflight);
    qcmd_arg(&c, q->tag);
    qcmd_argb(&c, moved->str, moved->len);
    qcmd_arg(&c, q->worker_id);
    qcmd_int(&c, q->result_ttl_s);
    qcmd_int(&c, q->max_attempts);
    dead_bounds_args(&c, q);
    if (queue_call(q, &c, "starting a job", NULL, &r, err, errlen) != 0) return -1;
    int rc = fill_job(q, job, moved->str, moved->len, r, 0, err, errlen);
    freeReplyObject(r);
    return rc;
}

int queue_reserve(queue *q, int timeout_ms, queue_job *job, char *err, size_t errlen)
{
    memset(job, 0, sizeof *job);
    if (queue_need_worker(q, "reserve", err, errlen) != 0) return -1;
    qcmd c;
    redisReply *r;
    qcmd_script(&c, q, QS_TAKE, 3);
    qcmd_arg(&c, q->k_high);
    qcmd_arg(&c, q->k_queue);
    qcmd_arg(&c, q->k_inflight);
    qcmd_arg(&c, q->tag);
    qcmd_arg(&c, q->worker_id);
    qcmd_int(&c, q->result_ttl_s);
    qcmd_int(&c, q->max_attempts);
    dead_bounds_args(&c, q);
    if (queue_call(q, &c, "taking a job", NULL, &r, err, errlen) != 0) return -1;
    int rc;
    if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 && r->element[0]->type == REDIS_REPLY_STRING) {
        rc = fill_job(q, job, r->element[0]->str, r->element[0]->len, r, 1, err, errlen);
    } else if (r->type != REDIS_REPLY_NIL) {
        rc = queue_bad_reply(q, "taking a job", err, errlen);
    } else if (timeout_ms <= 0) {
        rc = 0;
    } else {
        freeReplyObject(r);
        qcmd_init(&c, "BLMOVE");
        qcmd_arg(&c, q->k_queue);
        qcmd_arg(&c, q->k_inflight);
        qcmd_arg(&c, "RIGHT");
        qcmd_arg(&c, "LEFT");
        qcmd_fmt(&c, "%d.%03d", timeout_ms / 1000, timeout_ms % 1000);
        if (queue_call_blocking(q, &c, timeout_ms, "waiting for a job", &r, err, errlen) != 0) return -1;
        if (r->type == REDIS_REPLY_NIL) rc = 0;
        else if (r->type == REDIS_REPLY_STRING) rc = start_moved(q, r, job, err, errlen);
        else rc = queue_bad_reply(q, "waiting for a job", err, errlen);
    }
    freeReplyObject(r);
    if (rc < 0) queue_job_clear(job);
    return rc;
}

/* The checks every call on a held job makes. */
static int check_job(const queue *q, const queue_job *job, const char *what, char *err, size_t errlen)
{
    if (queue_need_worker(q, what, err, errlen) != 0) return -1;
    if (!job->payload || !protocol_id_valid_str(job->id)) {
        snprintf(err, errlen, "queue: %s: the job has no payload or no valid id", what);
        return -1;
    }
    return 0;
}

/* EVALSHA s N job inflight done events: the start of the scripts that end a
 * job. Keys go into the caller's buffers. */
static void job_script(qcmd *c, const queue *q, queue_script s, int nkeys, const queue_job *job,
                       char *job_key, char *done_key)
{
    qcmd_script(c, q, s, nkeys);
    qcmd_arg(c, queue_job_key(q, job->id, job_key));
    qcmd_arg(c, q->k_inflight);
    qcmd_arg(c, queue_done_key(q, job->id, done_key));
    qcmd_arg(c, q->k_events);
}

static void job_args(qcmd *c, const queue_job *job)
{
    qcmd_argb(c, job->payload, job->payload_len);
    qcmd_arg(c, job->id);
}

int queue_progress(queue *q, const queue_job *job, double progress, const char *stage, bool *stop,
                   char *err, size_t errlen)
{
    if (check_job(q, job, "progress", err, errlen) != 0) return -1;
    if (!(progress >= 0)) progress = 0; /* NaN too */
    if (progress > 1) progress = 1;
    char job_key[QUEUE_KEY_MAX];
    qcmd c;
    redisReply *r;
    qcmd_script(&c, q, QS_PROGRESS, 1);
    qcmd_arg(&c, queue_job_key(q, job->id, job_key));
    qcmd_fmt(&c, "%.4g", progress);
    qcmd_arg(&c, stage ? stage : "");
    if (queue_call(q, &c, "reporting progress", job->id, &r, err, errlen) != 0) return -1;
    long long v;
    int rc = queue_reply_int(r, &v) == 0 ? 0 : queue_bad_reply(q, "reporting progress", err, errlen);
    if (rc == 0) *stop = v != 0;
    freeReplyObject(r);
    return rc;
}

int queue_checkpoint(queue *q, const queue_job *job, long long frames, bool *stop, char *err, size_t errlen)
{
    if (check_job(q, job, "checkpoint", err, errlen) != 0) return -1;
    char job_key[QUEUE_KEY_MAX];
    qcmd c;
    redisReply *r;
    qcmd_script(&c, q, QS_CHECKPOINT, 1);
    qcmd_arg(&c, queue_job_key(q, job->id, job_key));
    qcmd_arg(&c, q->worker_id);
    qcmd_int(&c, job->attempts);
    qcmd_int(&c, frames);
    if (queue_call(q, &c, "recording a checkpoint", job->id, &r, err, errlen) != 0) return -1;
    long long v;
    int rc = queue_reply_int(r, &v) == 0 ? 0 : queue_bad_reply(q, "recording a checkpoint", err, errlen);
    if (rc == 0) *stop = v != 0;
    freeReplyObject(r);
    return rc;
}

int queue_finish(queue *q, const queue_job *job, const char *result_json, const char *audio_url,
                 bool *written, char *err, size_t errlen)
{
    if (check_job(q, job, "finish", err, errlen) != 0) return -1;
    if (!result_json) {
        snprintf(err, errlen, "queue: finish (job %s): no result", job->id);
        return -1;
    }
    char job_key[QUEUE_KEY_MAX], done_key[QUEUE_KEY_MAX];
    qcmd c;
    redisReply *r;
    job_script(&c, q, QS_FINISH, 4, job, job_key, done_key);
    job_args(&c, job);
    qcmd_arg(&c, result_json);
    qcmd_arg(&c, audio_url ? audio_url : "");
    qcmd_int(&c, q->result_ttl_s);
    if (queue_call(q, &c, "finishing", job->id, &r, err, errlen) != 0) return -1;
    long long v;
    int rc = queue_reply_int(r, &v) == 0 ? 0 : queue_bad_reply(q, "finishing a job", err, errlen);
    if (rc == 0 && written) *written = v == 1;
    freeReplyObject(r);
    return rc;
}

int queue_fail(queue *q, const queue_job *job, const char *code, const char *message, bool transient,
               queue_fail_outcome *outcome, char *err, size_t errlen)
{
    if (check_job(q, job, "fail", err, errlen) != 0) return -1;
    if (!code || !*code) {
        snprintf(err, errlen, "queue: fail (job %s): no error code", job->id);
        return -1;
    }
    char job_key[QUEUE_KEY_MAX], done_key[QUEUE_KEY_MAX];
    qcmd c;
    redisReply *r;
    job_script(&c, q, QS_FAIL, 6, job, job_key, done_key);
    qcmd_arg(&c, q->k_scheduled);
    qcmd_arg(&c, q->k_dead);
    job_args(&c, job);
    qcmd_arg(&c, code);
    qcmd_arg(&c, message ? message : "");
    qcmd_arg(&c, transient ? "1" : "0");
    qcmd_int(&c, q->max_attempts);
    qcmd_int(&c, q->retry_base_ms);
    qcmd_int(&c, q->result_ttl_s);
    dead_bounds_args(&c, q);
    if (queue_call(q, &c, "recording a failure", job->id, &r, err, errlen) != 0) return -1;
    long long v;
    int rc = 0;
    if (queue_reply_elem_int(r, 0, &v) != 0 || v < 0 || v > 3) {
        rc = queue_bad_reply(q, "recording a failure", err, errlen);
    } else if (outcome) {
        static const queue_fail_outcome outcomes[] = {QUEUE_FAIL_RETRY, QUEUE_FAIL_FAILED, QUEUE_FAIL_DEAD,
                                                      QUEUE_FAIL_ENDED};
        *outcome = outcomes[v];
    }
    freeReplyObject(r);
    return rc;
}

int queue_cancelled(queue *q, const queue_job *job, char *err, size_t errlen)
{
    if (check_job(q, job, "cancelled", err, errlen) != 0) return -1;
    char job_key[QUEUE_KEY_MAX], done_key[QUEUE_KEY_MAX];
    qcmd c;
    redisReply *r;
    job_script(&c, q, QS_CANCELLED, 4, job, job_key, done_key);
    job_args(&c, job);
    qcmd_int(&c, q->result_ttl_s);
    if (queue_call(q, &c, "ending as cancelled", job->id, &r, err, errlen) != 0) return -1;
    freeReplyObject(r);
    return 0;
}

int queue_dead_payload(queue *q, const queue_job *job, const char *code, const char *message, char *err,
                       size_t errlen)
{
    if (queue_need_worker(q, "dead_payload", err, errlen) != 0) return -1;
    if (!job->payload || !code || !*code) {
        snprintf(err, errlen, "queue: dead_payload: no payload or no error code");
        return -1;
    }
    bool has_id = protocol_id_valid_str(job->id);
    char job_key[QUEUE_KEY_MAX], done_key[QUEUE_KEY_MAX];
    qcmd c;
    redisReply *r;
    qcmd_script(&c, q, QS_DEAD_PAYLOAD, has_id ? 5 : 2);
    qcmd_arg(&c, q->k_dead);
    qcmd_arg(&c, q->k_inflight);
    if (has_id) {
        qcmd_arg(&c, queue_job_key(q, job->id, job_key));
        qcmd_arg(&c, queue_done_key(q, job->id, done_key));
        qcmd_arg(&c, q->k_events);
    }
    qcmd_argb(&c, job->payload, job->payload_len);
    qcmd_arg(&c, code);
    qcmd_arg(&c, message ? message : "");
    qcmd_arg(&c, has_id ? job->id : "");
    qcmd_int(&c, q->result_ttl_s);
    dead_bounds_args(&c, q);
    if (queue_call(q, &c, "sending a payload to the dead list", has_id ? job->id : NULL, &r, err, errlen) != 0)
        return -1;
    freeReplyObject(r);
    return 0;
}

int queue_heartbeat(queue *q, const char *info_json, char *err, size_t errlen)
{
    if (queue_need_worker(q, "heartbeat", err, errlen) != 0) return -1;
    qcmd c;
    redisReply *r;
    qcmd_script(&c, q, QS_HEARTBEAT, 2);
    qcmd_arg(&c, q->k_worker);
    qcmd_arg(&c, q->k_workers);
    qcmd_arg(&c, q->worker_id);
    qcmd_arg(&c, info_json ? info_json : "{}");
    qcmd_int(&c, q->heartbeat_ttl_ms);
    if (queue_call(q, &c, "heartbeat", NULL, &r, err, errlen) != 0) return -1;
    freeReplyObject(r);
    return 0;
}

int queue_release(queue *q, const queue_job *const *keep, int n_keep, long long *released, char *err,
                  size_t errlen)
{
    if (queue_need_worker(q, "release", err, errlen) != 0) return -1;
    int kept = 0;
    for (int i = 0; i < n_keep; i++) kept += keep[i] && keep[i]->payload;
    qcmd c;
    redisReply *r;
    qcmd_script(&c, q, QS_RELEASE, 3);
    qcmd_arg(&c, q->k_inflight);
    qcmd_arg(&c, q->k_queue);
    qcmd_arg(&c, q->k_high);
    qcmd_arg(&c, q->tag);
    qcmd_arg(&c, q->worker_id);
    qcmd_int(&c, kept);
    for (int i = 0; i < n_keep; i++)
        if (keep[i] && keep[i]->payload) qcmd_argb(&c, keep[i]->payload, keep[i]->payload_len);
    if (queue_call(q, &c, "releasing in-flight jobs", NULL, &r, err, errlen) != 0) return -1;
    long long n;
    int rc = queue_reply_int(r, &n) == 0 ? 0 : queue_bad_reply(q, "releasing in-flight jobs", err, errlen);
    if (rc == 0 && released) *released = n;
    freeReplyObject(r);
    return rc;
}

int queue_reap(queue *q, long long *reaped, long long *rescheduled, char *err, size_t errlen)
{
    qcmd c;
    redisReply *r;
    qcmd_script(&c, q, QS_REAP, 5);
    qcmd_arg(&c, q->k_workers);
    qcmd_arg(&c, q->k_scheduled);
    qcmd_arg(&c, q->k_queue);
    qcmd_arg(&c, q->k_high);
    qcmd_arg(&c, q->k_dead);
    qcmd_arg(&c, q->tag);
    qcmd_int(&c, (long long)q->dead_max_age_s * 1000);
    if (queue_call(q, &c, "reaping", NULL, &r, err, errlen) != 0) return -1;
    long long a, b;
    int rc = 0;
    if (queue_reply_elem_int(r, 0, &a) != 0 || queue_reply_elem_int(r, 1, &b) != 0) {
        rc = queue_bad_reply(q, "reaping", err, errlen);
    } else {
        if (reaped) *reaped = a;
        if (rescheduled) *rescheduled = b;
    }
    freeReplyObject(r);
    return rc;
}
