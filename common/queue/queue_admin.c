/* queue_admin.c - the producer's and the operator's side of the Redis
 * contract: enqueue, cancel, retry from the dead list, and the read-only
 * views (a job, the lists, counts). */
#include "queue_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_LIST_LIMIT 100

/* A JSON string of n bytes; bytes that are not UTF-8 (a payload can be any
 * bytes) become '?' rather than failing. */
static json_t *json_text(const char *s, size_t n)
{
    json_t *v = json_stringn(s, n);
    if (v) return v;
    char *copy = malloc(n + 1);
    if (!copy) return NULL;
    for (size_t i = 0; i < n; i++) copy[i] = (unsigned char)s[i] < 0x80 && s[i] ? s[i] : '?';
    v = json_stringn(copy, n);
    free(copy);
    return v;
}

/* The "id" of a payload that is a JSON object with a valid one, else null. */
static json_t *payload_id_json(const char *payload, size_t len)
{
    json_t *root = json_loadb(payload, len, 0, NULL);
    const char *id = json_string_value(json_object_get(root, "id"));
    json_t *out = protocol_id_valid_str(id) ? json_string(id) : json_null();
    json_decref(root);
    return out;
}

static void copy_status(char out[16], const redisReply *r)
{
    if (!out) return;
    snprintf(out, 16, "%.*s", r && r->type == REDIS_REPLY_STRING ? (int)r->len : 0, r ? r->str : "");
}

int queue_enqueue(queue *q, const char *payload, char existing_status[16], char *err, size_t errlen)
{
    if (existing_status) existing_status[0] = '\0';
    size_t len = payload ? strlen(payload) : 0;
    if (payload && !protocol_json_depth_ok(payload, len, PROTOCOL_JSON_MAX_DEPTH)) {
        snprintf(err, errlen, "queue: enqueue: the job nests deeper than %d levels of arrays and objects",
                 PROTOCOL_JSON_MAX_DEPTH);
        return -1;
    }
    json_error_t jerr;
    json_t *root = payload ? json_loadb(payload, len, 0, &jerr) : NULL;
    if (!json_is_object(root)) {
        snprintf(err, errlen, "queue: enqueue: the job is not a JSON object");
        json_decref(root);
        return -1;
    }
    const char *id = json_string_value(json_object_get(root, "id"));
    if (!protocol_id_valid_str(id)) {
        snprintf(err, errlen, "queue: enqueue: the job has no valid \"id\" ([A-Za-z0-9_.-]{1,%d})",
                 PROTOCOL_ID_MAX);
        json_decref(root);
        return -1;
    }
    json_t *priority = json_object_get(root, "priority");
    bool high = json_is_number(priority) && json_number_value(priority) > 0;
    char job_key[QUEUE_KEY_MAX];
    qcmd c;
    redisReply *r;
    qcmd_script(&c, q, QS_ENQUEUE, 4);
    qcmd_arg(&c, queue_job_key(q, id, job_key));
    qcmd_arg(&c, high ? q->k_high : q->k_queue);
    qcmd_arg(&c, q->k_queue);
    qcmd_arg(&c, q->k_high);
    qcmd_argb(&c, payload, len);
    qcmd_arg(&c, id);
    qcmd_int(&c, q->max_queued);
    qcmd_int(&c, q->queued_ttl_s);
    int rc = queue_call(q, &c, "enqueueing", id, &r, err, errlen);
    if (rc != 0) {
        json_decref(root);
        return -1;
    }
    long long outcome, waiting;
    if (queue_reply_elem_int(r, 0, &outcome) != 0 || outcome < 0 || outcome > 3) {
        rc = queue_bad_reply(q, "enqueueing", err, errlen);
    } else if (outcome == 1 && r->elements == 2) {
        copy_status(existing_status, r->element[1]);
        rc = QUEUE_ENQUEUE_EXISTS;
    } else if (outcome == 2 && queue_reply_elem_int(r, 1, &waiting) == 0) {
        snprintf(err, errlen, "the queue is full: %lld jobs wait, at most %d may (JEN1_MAX_QUEUED); try again later",
                 waiting, q->max_queued);
        rc = QUEUE_ENQUEUE_FULL;
    } else if (outcome == 3) {
        snprintf(err, errlen, "queue: enqueue: Redis's JSON reader does not read the job's id back from it");
        rc = -1;
    } else if (outcome != 0) {
        rc = queue_bad_reply(q, "enqueueing", err, errlen);
    }
    json_decref(root);
    freeReplyObject(r);
    return rc;
}

int queue_cancel(queue *q, const char *id, queue_cancel_outcome *outcome, bool *known,
                 char ended_status[16], char *err, size_t errlen)
{
    if (!protocol_id_valid_str(id)) {
        snprintf(err, errlen, "queue: cancel: not a valid job id");
        return -1;
    }
    char job_key[QUEUE_KEY_MAX], done_key[QUEUE_KEY_MAX];
    qcmd c;
    redisReply *r;
    qcmd_script(&c, q, QS_CANCEL, 3);
    qcmd_arg(&c, queue_job_key(q, id, job_key));
    qcmd_arg(&c, queue_done_key(q, id, done_key));
    qcmd_arg(&c, q->k_events);
    qcmd_arg(&c, id);
    qcmd_int(&c, q->result_ttl_s);
    if (queue_call(q, &c, "cancelling", id, &r, err, errlen) != 0) return -1;
    long long code, existed;
    int rc = 0;
    if (queue_reply_elem_int(r, 0, &code) != 0 || code < 0 || code > 2 || r->elements != 3 ||
        r->element[1]->type != REDIS_REPLY_STRING || queue_reply_elem_int(r, 2, &existed) != 0) {
        rc = queue_bad_reply(q, "cancelling", err, errlen);
    } else {
        static const queue_cancel_outcome outcomes[] = {QUEUE_CANCEL_DONE, QUEUE_CANCEL_REQUESTED,
                                                        QUEUE_CANCEL_TOO_LATE};
        *outcome = outcomes[code];
        if (known) *known = existed != 0;
        if (ended_status) ended_status[0] = '\0';
        if (*outcome == QUEUE_CANCEL_TOO_LATE) copy_status(ended_status, r->element[1]);
    }
    freeReplyObject(r);
    return rc;
}

int queue_retry_dead(queue *q, const char *id, long long *moved, char *err, size_t errlen)
{
    if (id && !protocol_id_valid_str(id)) {
        snprintf(err, errlen, "queue: retry: not a valid job id");
        return -1;
    }
    qcmd c;
    redisReply *r;
    qcmd_script(&c, q, QS_RETRY_DEAD, 3);
    qcmd_arg(&c, q->k_dead);
    qcmd_arg(&c, q->k_queue);
    qcmd_arg(&c, q->k_high);
    qcmd_arg(&c, q->tag);
    qcmd_arg(&c, id ? id : "");
    if (queue_call(q, &c, "retrying dead jobs", id, &r, err, errlen) != 0) return -1;
    long long n;
    int rc = queue_reply_int(r, &n) == 0 ? 0 : queue_bad_reply(q, "retrying dead jobs", err, errlen);
    if (rc == 0) *moved = n;
    freeReplyObject(r);
    return rc;
}

/* One field of the job hash as the JSON value queue_job_get promises. */
static json_t *typed_field(const char *name, const char *v, size_t n)
{
    if (strcmp(name, "progress") == 0) return json_real(strtod(v, NULL));
    size_t len = strlen(name);
    if (strcmp(name, "attempts") == 0 || strcmp(name, "stalled_attempts") == 0 ||
        strcmp(name, "progress_attempt") == 0 || strcmp(name, "checkpoint_frames") == 0 ||
        (len > 3 && strcmp(name + len - 3, "_at") == 0))
        return json_integer(strtoll(v, NULL, 10));
    if (strcmp(name, "cancel") == 0) return json_boolean(strcmp(v, "1") == 0);
    if (strcmp(name, "request") == 0 || strcmp(name, "result") == 0) {
        json_t *parsed = json_loadb(v, n, JSON_DECODE_ANY, NULL);
        if (parsed) return parsed;
    }
    return json_text(v, n);
}

int queue_job_get(queue *q, const char *id, json_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!protocol_id_valid_str(id)) {
        snprintf(err, errlen, "queue: job: not a valid job id");
        return -1;
    }
    char job_key[QUEUE_KEY_MAX];
    qcmd c;
    redisReply *r;
    qcmd_init(&c, "HGETALL");
    qcmd_arg(&c, queue_job_key(q, id, job_key));
    if (queue_call(q, &c, "reading", id, &r, err, errlen) != 0) return -1;
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2) {
        freeReplyObject(r);
        return queue_bad_reply(q, "reading a job", err, errlen);
    }
    if (r->elements == 0) {
        freeReplyObject(r);
        return 0;
    }
    json_t *obj = json_object();
    for (size_t i = 0; obj && i < r->elements; i += 2) {
        const redisReply *k = r->element[i], *v = r->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) continue;
        json_object_set_new(obj, k->str, typed_field(k->str, v->str, v->len));
    }
    freeReplyObject(r);
    if (!obj) {
        snprintf(err, errlen, "queue: out of memory");
        return -1;
    }
    *out = obj;
    return 1;
}

static json_t *queued_entry(const redisReply *payload, const char *where)
{
    return json_pack("{s:o, s:s, s:o}", "id", payload_id_json(payload->str, payload->len), "queue", where,
                     "payload", json_text(payload->str, payload->len));
}

/* The consumer end of a list is its right: the next taken is the last element. */
static int list_queued(queue *q, int limit, json_t *out, char *err, size_t errlen)
{
    qcmd cmds[3];
    redisReply *r[3];
    const char *lists[2] = {q->k_high, q->k_queue};
    for (int i = 0; i < 2; i++) {
        qcmd_init(&cmds[i], "LRANGE");
        qcmd_arg(&cmds[i], lists[i]);
        qcmd_int(&cmds[i], -(long long)limit);
        qcmd_int(&cmds[i], -1);
    }
    qcmd_init(&cmds[2], "ZRANGE");
    qcmd_arg(&cmds[2], q->k_scheduled);
    qcmd_int(&cmds[2], 0);
    qcmd_int(&cmds[2], limit - 1);
    qcmd_arg(&cmds[2], "WITHSCORES");
    if (queue_pipeline(q, cmds, 3, "listing queued jobs", r, err, errlen) != 0) return -1;
    static const char *const names[2] = {"high", "main"};
    for (int i = 0; i < 2; i++) {
        for (size_t j = r[i]->elements; j-- > 0 && json_array_size(out) < (size_t)limit;)
            json_array_append_new(out, queued_entry(r[i]->element[j], names[i]));
    }
    for (size_t j = 0; j + 1 < r[2]->elements && json_array_size(out) < (size_t)limit; j += 2) {
        json_t *e = queued_entry(r[2]->element[j], "scheduled");
        json_object_set_new(e, "due_at", json_integer(strtoll(r[2]->element[j + 1]->str, NULL, 10)));
        json_array_append_new(out, e);
    }
    queue_free_replies(r, 3);
    return 0;
}

static int list_running(queue *q, int limit, json_t *out, char *err, size_t errlen)
{
    qcmd c;
    redisReply *r;
    qcmd_script(&c, q, QS_LIST_RUNNING, 1);
    qcmd_arg(&c, q->k_workers);
    qcmd_arg(&c, q->tag);
    qcmd_int(&c, limit);
    if (queue_call(q, &c, "listing running jobs", NULL, &r, err, errlen) != 0) return -1;
    if (r->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(r);
        return queue_bad_reply(q, "listing running jobs", err, errlen);
    }
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *w = r->element[i], *p = r->element[i + 1];
        json_array_append_new(out, json_pack("{s:o, s:s#, s:o}", "id", payload_id_json(p->str, p->len),
                                             "worker", w->str, (int)w->len, "payload",
                                             json_text(p->str, p->len)));
    }
    freeReplyObject(r);
    return 0;
}

static int list_dead(queue *q, int limit, json_t *out, char *err, size_t errlen)
{
    qcmd c;
    redisReply *r;
    qcmd_init(&c, "LRANGE");
    qcmd_arg(&c, q->k_dead);
    qcmd_int(&c, 0);
    qcmd_int(&c, limit - 1);
    if (queue_call(q, &c, "listing dead jobs", NULL, &r, err, errlen) != 0) return -1;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        json_t *entry = json_loadb(e->str, e->len, 0, NULL);
        if (!json_is_object(entry)) {
            json_decref(entry);
            entry = json_pack("{s:n, s:o}", "id", "payload", json_text(e->str, e->len));
        }
        json_array_append_new(out, entry);
    }
    freeReplyObject(r);
    return 0;
}

int queue_list(queue *q, queue_list_kind kind, int limit, json_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (limit <= 0) limit = DEFAULT_LIST_LIMIT;
    json_t *array = json_array();
    if (!array) {
        snprintf(err, errlen, "queue: out of memory");
        return -1;
    }
    int rc;
    switch (kind) {
    case QUEUE_LIST_QUEUED: rc = list_queued(q, limit, array, err, errlen); break;
    case QUEUE_LIST_RUNNING: rc = list_running(q, limit, array, err, errlen); break;
    case QUEUE_LIST_DEAD: rc = list_dead(q, limit, array, err, errlen); break;
    default:
        snprintf(err, errlen, "queue: list: unknown kind %d", (int)kind);
        rc = -1;
    }
    if (rc != 0) {
        json_decref(array);
        return -1;
    }
    *out = array;
    return 0;
}

int queue_stats(queue *q, json_t **out, char *err, size_t errlen)
{
    *out = NULL;
    qcmd c;
    redisReply *r;
    qcmd_script(&c, q, QS_STATS, 5);
    qcmd_arg(&c, q->k_queue);
    qcmd_arg(&c, q->k_high);
    qcmd_arg(&c, q->k_scheduled);
    qcmd_arg(&c, q->k_dead);
    qcmd_arg(&c, q->k_workers);
    qcmd_arg(&c, q->tag);
    if (queue_call(q, &c, "reading the counts", NULL, &r, err, errlen) != 0) return -1;
    long long v[7];
    for (size_t i = 0; i < 7; i++) {
        if (queue_reply_elem_int(r, i, &v[i]) != 0) {
            freeReplyObject(r);
            return queue_bad_reply(q, "reading the counts", err, errlen);
        }
    }
    freeReplyObject(r);
    *out = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "queued", (json_int_t)v[0], "queued_high",
                     (json_int_t)v[1], "scheduled", (json_int_t)v[2], "dead", (json_int_t)v[3], "workers",
                     (json_int_t)v[4], "workers_alive", (json_int_t)v[5], "in_flight", (json_int_t)v[6]);
    if (!*out) {
        snprintf(err, errlen, "queue: out of memory");
        return -1;
    }
    return 0;
}

int queue_depth(queue *q, long long *main_queue, long long *high, char *err, size_t errlen)
{
    qcmd cmds[2];
    redisReply *r[2];
    qcmd_init(&cmds[0], "LLEN");
    qcmd_arg(&cmds[0], q->k_queue);
    qcmd_init(&cmds[1], "LLEN");
    qcmd_arg(&cmds[1], q->k_high);
    if (queue_pipeline(q, cmds, 2, "reading the queue depth", r, err, errlen) != 0) return -1;
    int rc = 0;
    if (queue_reply_int(r[0], main_queue) != 0 || queue_reply_int(r[1], high) != 0)
        rc = queue_bad_reply(q, "reading the queue depth", err, errlen);
    queue_free_replies(r, 2);
    return rc;
}
