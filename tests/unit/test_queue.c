/* test_queue.c - the Redis contract (docs/protocol.md) through common/queue/queue.h,
 * against a private redis-server. What the queue writes is read back with
 * plain commands on a second connection, as an operator would with redis-cli. */
#include "check.h"
#include "queue.h"
#include "redis_server.h"
#include "redis_url.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <string.h>
#include <sys/time.h>

static redis_server server;
static redisContext *raw;   /* the operator's connection */
static char err[1024];

/* ---- Helpers ---------------------------------------------------------------- */

static long long now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static redisReply *cmd(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(raw, fmt, ap);
    va_end(ap);
    if (!r) {
        fprintf(stderr, "raw redis command failed: %s\n", raw->errstr);
        exit(2);
    }
    return r;
}

static long long cmd_int(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(raw, fmt, ap);
    va_end(ap);
    long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -999;
    if (r) freeReplyObject(r);
    return v;
}

/* A string reply as a static string ("(nil)" for nil). */
static const char *cmd_str(const char *fmt, ...)
{
    static char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(raw, fmt, ap);
    va_end(ap);
    if (r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS))
        snprintf(buf, sizeof buf, "%.*s", (int)r->len, r->str);
    else
        snprintf(buf, sizeof buf, "(nil)");
    if (r) freeReplyObject(r);
    return buf;
}

static const char *hget(const char *id, const char *field)
{
    return cmd_str("HGET {jen1}:job:%s %s", id, field);
}

static void flush_all(void)
{
    freeReplyObject(cmd("FLUSHALL"));
}

static queue_config config(const char *worker)
{
    queue_config cfg = {0};
    cfg.url = server.url;
    cfg.worker_id = worker;
    return cfg;
}

static queue *open_queue_with(queue_config cfg)
{
    queue *q = queue_new(&cfg, err, sizeof err);
    if (!q) {
        fprintf(stderr, "  queue_new: %s\n", err);
        return NULL;
    }
    if (queue_connect(q, err, sizeof err) != 0) {
        fprintf(stderr, "  queue_connect: %s\n", err);
        queue_free(q);
        return NULL;
    }
    return q;
}

static queue *open_queue(const char *worker)
{
    return open_queue_with(config(worker));
}

static void job_payload(char *buf, size_t len, const char *id)
{
    snprintf(buf, len, "{\"id\":\"%s\",\"narrative\":\"A lighthouse keeper\",\"duration\":8}", id);
}

static int enqueue(queue *q, const char *id)
{
    char payload[256];
    job_payload(payload, sizeof payload, id);
    return queue_enqueue(q, payload, NULL, err, sizeof err);
}

/* Reserves without waiting; 0 when a job came to run. */
static int take_and_start(queue *q, queue_job *job)
{
    int rc = queue_reserve(q, 0, job, err, sizeof err);
    if (rc == 1 && job->decision != QUEUE_TAKE_RUN)
        snprintf(err, sizeof err, "decision %d, expected RUN", job->decision);
    if (rc == 0) snprintf(err, sizeof err, "nothing to take");
    return rc == 1 && job->decision == QUEUE_TAKE_RUN ? 0 : -1;
}

/* ---- The happy path, key by key -------------------------------------------- */

TEST(happy_path_keys_and_fields)
{
    flush_all();
    queue *q = open_queue("w1");
    REQUIRE(q, "connect");
    long long t0 = now_ms();

    REQUIRE(enqueue(q, "song-42") == 0, "%s", err);
    CHECK(cmd_int("LLEN {jen1}:queue") == 1, "the job is on {jen1}:queue");
    CHECK(strcmp(hget("song-42", "status"), "queued") == 0, "status %s", hget("song-42", "status"));
    CHECK(strcmp(hget("song-42", "attempts"), "0") == 0, "attempts");
    long long created = atoll(hget("song-42", "created_at"));
    CHECK(created >= t0 - 1000 && created <= now_ms() + 1000, "created_at %lld is Unix ms", created);
    char payload[256];
    job_payload(payload, sizeof payload, "song-42");
    CHECK(strcmp(hget("song-42", "request"), payload) == 0, "request %s", hget("song-42", "request"));

    REQUIRE(queue_heartbeat(q, "{\"host\":\"h\",\"pid\":1}", err, sizeof err) == 0, "%s", err);
    CHECK(strcmp(cmd_str("GET {jen1}:worker:w1"), "{\"host\":\"h\",\"pid\":1}") == 0, "heartbeat value");
    long long pttl = cmd_int("PTTL {jen1}:worker:w1");
    CHECK(pttl > 14000 && pttl <= 15000, "heartbeat TTL %lld ms (default 15 s)", pttl);
    long long score = atoll(cmd_str("ZSCORE {jen1}:workers w1"));
    CHECK(score >= t0 - 1000 && score <= now_ms() + 1000, "worker score %lld is the heartbeat time", score);

    queue_job job;
    REQUIRE(queue_reserve(q, 0, &job, err, sizeof err) == 1, "%s", err);
    CHECK(strcmp(job.id, "song-42") == 0, "id %s", job.id);
    CHECK(job.payload_len == strlen(payload) && strcmp(job.payload, payload) == 0, "payload verbatim");
    CHECK(cmd_int("LLEN {jen1}:queue") == 0, "taken off the queue");
    CHECK(strcmp(cmd_str("LINDEX {jen1}:inflight:w1 0"), payload) == 0, "in {jen1}:inflight:w1");
    CHECK(job.decision == QUEUE_TAKE_RUN && job.attempts == 1, "decision %d attempts %lld", job.decision,
          job.attempts);
    CHECK(strcmp(hget("song-42", "status"), "running") == 0, "running");
    CHECK(strcmp(hget("song-42", "worker"), "w1") == 0, "worker");
    CHECK(strcmp(hget("song-42", "stage"), "planning") == 0, "stage");
    CHECK(strcmp(hget("song-42", "attempts"), "1") == 0, "attempts 1");
    CHECK(atoll(hget("song-42", "started_at")) >= created, "started_at");

    bool stop = true;
    REQUIRE(queue_progress(q, &job, 0.5, "generating", &stop, err, sizeof err) == 0, "%s", err);
    CHECK(!stop, "nobody asked to stop");
    CHECK(strcmp(hget("song-42", "progress"), "0.5") == 0, "progress %s", hget("song-42", "progress"));
    CHECK(strcmp(hget("song-42", "stage"), "generating") == 0, "stage generating");
    REQUIRE(queue_progress(q, &job, 0.75, NULL, &stop, err, sizeof err) == 0, "%s", err);
    CHECK(strcmp(hget("song-42", "stage"), "generating") == 0, "a NULL stage keeps it");

    /* Someone waits on the events channel. */
    redisContext *sub = redisConnect("127.0.0.1", server.port);
    REQUIRE(sub && !sub->err, "subscriber");
    struct timeval two_s = {2, 0};
    redisSetTimeout(sub, two_s);
    redisReply *r = redisCommand(sub, "SUBSCRIBE {jen1}:events");
    REQUIRE(r, "subscribe");
    freeReplyObject(r);

    bool written = false;
    REQUIRE(queue_finish(q, &job, "{\"title\":\"T\"}", "file:///blobs/song-42.wav", &written, err, sizeof err) == 0,
            "%s", err);
    CHECK(written, "the first finish writes");
    CHECK(strcmp(hget("song-42", "status"), "succeeded") == 0, "succeeded");
    CHECK(strcmp(hget("song-42", "progress"), "1") == 0, "progress 1");
    CHECK(strcmp(hget("song-42", "stage"), "done") == 0, "stage done");
    CHECK(strcmp(hget("song-42", "result"), "{\"title\":\"T\"}") == 0, "result");
    CHECK(strcmp(hget("song-42", "audio_url"), "file:///blobs/song-42.wav") == 0, "audio_url");
    CHECK(atoll(hget("song-42", "finished_at")) >= atoll(hget("song-42", "started_at")), "finished_at");
    long long ttl = cmd_int("TTL {jen1}:job:song-42");
    CHECK(ttl > 7 * 24 * 3600 - 10 && ttl <= 7 * 24 * 3600, "job TTL %lld (7 days)", ttl);
    CHECK(cmd_int("LLEN {jen1}:done:song-42") == 1, "one done entry");
    CHECK(strstr(cmd_str("LINDEX {jen1}:done:song-42 0"), "\"status\":\"succeeded\"") != NULL, "done entry %s",
          cmd_str("LINDEX {jen1}:done:song-42 0"));
    CHECK(cmd_int("TTL {jen1}:done:song-42") > 0, "the done list expires too");
    CHECK(cmd_int("LLEN {jen1}:inflight:w1") == 0, "in-flight entry removed");

    void *msg = NULL;
    REQUIRE(redisGetReply(sub, &msg) == REDIS_OK && msg, "an event within 2 s");
    r = msg;
    CHECK(r->type == REDIS_REPLY_ARRAY && r->elements == 3 && strcmp(r->element[1]->str, "{jen1}:events") == 0,
          "a message on {jen1}:events");
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 3) {
        json_t *ev = json_loads(r->element[2]->str, 0, NULL);
        CHECK(ev && strcmp(json_string_value(json_object_get(ev, "id")), "song-42") == 0, "event id");
        CHECK(ev && strcmp(json_string_value(json_object_get(ev, "status")), "succeeded") == 0, "event status");
        CHECK(ev && strcmp(json_string_value(json_object_get(ev, "audio_url")), "file:///blobs/song-42.wav") == 0,
              "event audio_url");
        json_decref(ev);
    }
    freeReplyObject(r);
    redisFree(sub);

    /* The typed view. */
    json_t *got = NULL;
    REQUIRE(queue_job_get(q, "song-42", &got, err, sizeof err) == 1, "%s", err);
    CHECK(json_real_value(json_object_get(got, "progress")) == 1.0, "progress is a number");
    CHECK(json_integer_value(json_object_get(got, "attempts")) == 1, "attempts is an integer");
    CHECK(json_integer_value(json_object_get(got, "created_at")) == created, "created_at is an integer");
    CHECK(json_is_object(json_object_get(got, "result")), "result is the JSON it holds");
    CHECK(strcmp(json_string_value(json_object_get(json_object_get(got, "request"), "narrative")),
                 "A lighthouse keeper") == 0, "request is the JSON it holds");
    json_decref(got);
    CHECK(queue_job_get(q, "nope", &got, err, sizeof err) == 0 && got == NULL, "an unknown job: 0");

    queue_job_clear(&job);
    queue_free(q);
}

TEST(enqueue_refuses_a_taken_id_and_bad_jobs)
{
    flush_all();
    queue *q = open_queue(NULL);
    REQUIRE(q, "connect");
    REQUIRE(enqueue(q, "dup") == 0, "%s", err);
    char status[16] = "";
    CHECK(queue_enqueue(q, "{\"id\":\"dup\"}", status, err, sizeof err) == 1, "a second job with this id");
    CHECK(strcmp(status, "queued") == 0, "its status: %s", status);
    CHECK(cmd_int("LLEN {jen1}:queue") == 1, "nothing pushed the second time");
    CHECK(queue_enqueue(q, "[1,2]", NULL, err, sizeof err) == -1 && !queue_unavailable(q), "not an object");
    CHECK(queue_enqueue(q, "{\"id\":\"../x\"}", NULL, err, sizeof err) == -1, "a bad id");
    CHECK(queue_enqueue(q, "{\"narrative\":\"x\"}", NULL, err, sizeof err) == -1, "no id");
    CHECK(strstr(err, "id") != NULL, "message: %s", err);
    queue_free(q);
}

/* ---- Taking ------------------------------------------------------------------- */

TEST(bare_lpush_job_is_taken)
{
    flush_all();
    queue *q = open_queue("w1");
    REQUIRE(q, "connect");
    const char *payload = "{\"id\":\"bare-1\",\"narrative\":\"x\",\"duration\":4,\"extra\":[1]}";
    freeReplyObject(cmd("LPUSH {jen1}:queue %s", payload));
    CHECK(cmd_int("EXISTS {jen1}:job:bare-1") == 0, "no hash before a worker takes it");
    queue_job job;
    REQUIRE(queue_reserve(q, 0, &job, err, sizeof err) == 1, "%s", err);
    CHECK(strcmp(job.id, "bare-1") == 0, "id %s", job.id);
    CHECK(job.decision == QUEUE_TAKE_RUN, "run");
    CHECK(strcmp(hget("bare-1", "request"), payload) == 0, "request recorded at start");
    CHECK(atoll(hget("bare-1", "created_at")) > 0, "created_at recorded at start");
    CHECK(strcmp(hget("bare-1", "status"), "running") == 0, "running");
    queue_job_clear(&job);
    queue_free(q);
}

/* A job whose attempts all died mid-way (it crashes its workers, or they keep
 * being stopped) fails at the next take instead of killing worker after
 * worker: too_many_attempts, in the dead list, announced. */
TEST(a_job_started_max_attempts_times_without_ending_fails)
{
    flush_all();
    queue_config cfg = config("w1");
    cfg.max_attempts = 2;
    queue *q = open_queue_with(cfg);
    REQUIRE(q, "connect");
    REQUIRE(enqueue(q, "poison") == 0, "%s", err);
    for (int attempt = 1; attempt <= 2; attempt++) {
        queue_job job;
        REQUIRE(take_and_start(q, &job) == 0, "attempt %d: %s", attempt, err);
        CHECK(job.attempts == attempt, "attempt %lld", job.attempts);
        /* The worker dies: its in-flight payload goes back, as the reaper does. */
        CHECK(queue_release(q, NULL, 0, NULL, err, sizeof err) == 0, "%s", err);
        queue_job_clear(&job);
    }
    queue_job job;
    REQUIRE(queue_reserve(q, 0, &job, err, sizeof err) == 1, "%s", err);
    CHECK(job.decision == QUEUE_TAKE_ENDED, "decision %d", job.decision);
    CHECK(strcmp(hget("poison", "status"), "failed") == 0, "status %s", hget("poison", "status"));
    CHECK(strcmp(hget("poison", "error"), "too_many_attempts") == 0, "error %s", hget("poison", "error"));
    CHECK(cmd_int("LLEN {jen1}:dead") == 1, "one dead entry");
    CHECK(cmd_int("LLEN {jen1}:done:poison") == 1, "announced once");
    CHECK(cmd_int("LLEN {jen1}:inflight:w1") == 0, "nothing left in flight");
    queue_job_clear(&job);
    queue_free(q);
}

/* A long song checkpoints after each window. An attempt whose worker died
 * after advancing the job's checkpoint is not the job's fault: however many
 * such attempts it takes, the job is never too_many_attempts, and each take
 * tells the worker how far the checkpoint went. */
TEST(attempts_that_advance_the_checkpoint_are_never_too_many)
{
    flush_all();
    queue_config cfg = config("w1");
    cfg.max_attempts = 2;
    queue *q = open_queue_with(cfg);
    REQUIRE(q, "connect");
    REQUIRE(enqueue(q, "long-song") == 0, "%s", err);
    for (int attempt = 1; attempt <= 6; attempt++) {
        queue_job job;
        REQUIRE(take_and_start(q, &job) == 0, "attempt %d: %s", attempt, err);
        CHECK(job.attempts == attempt, "attempt %lld", job.attempts);
        CHECK(job.checkpoint_frames == 900 * (attempt - 1), "attempt %d: checkpoint %lld frames", attempt,
              job.checkpoint_frames);
        CHECK(atoll(hget("long-song", "stalled_attempts")) == 0, "attempt %d: %s stalled", attempt,
              hget("long-song", "stalled_attempts"));
        bool stop = true;
        REQUIRE(queue_checkpoint(q, &job, 900 * attempt, &stop, err, sizeof err) == 0, "%s", err);
        CHECK(!stop, "a running job goes on");
        CHECK(atoll(hget("long-song", "checkpoint_frames")) == 900 * attempt, "checkpoint_frames %s",
              hget("long-song", "checkpoint_frames"));
        CHECK(atoll(hget("long-song", "progress_attempt")) == attempt, "progress_attempt %s",
              hget("long-song", "progress_attempt"));
        /* The worker dies (preempted): its payload goes back, as the reaper does. */
        REQUIRE(queue_release(q, NULL, 0, NULL, err, sizeof err) == 0, "%s", err);
        queue_job_clear(&job);
    }
    queue_job job;
    REQUIRE(take_and_start(q, &job) == 0, "the last attempt: %s", err);
    REQUIRE(queue_finish(q, &job, "{}", NULL, NULL, err, sizeof err) == 0, "%s", err);
    CHECK(strcmp(hget("long-song", "status"), "succeeded") == 0, "succeeded after 7 attempts");
    CHECK(cmd_int("LLEN {jen1}:dead") == 0, "nothing dead");
    json_t *doc = NULL;
    REQUIRE(queue_job_get(q, "long-song", &doc, err, sizeof err) == 1, "%s", err);
    CHECK(json_integer_value(json_object_get(doc, "checkpoint_frames")) == 5400 &&
              json_integer_value(json_object_get(doc, "progress_attempt")) == 6 &&
              json_integer_value(json_object_get(doc, "stalled_attempts")) == 0,
          "typed fields");
    json_decref(doc);
    queue_job_clear(&job);
    queue_free(q);
}

/* A job that kills its worker at the same spot every time: the first attempt
 * gets as far as a checkpoint, the next ones write none that advances it
 * (the same frames again, or none), so after max_attempts attempts without
 * progress it fails too_many_attempts and goes to the dead list. A
 * checkpoint reported by another worker, or by an earlier attempt of the
 * job, is no progress of the attempt running now. */
TEST(attempts_that_die_at_the_same_spot_end_dead)
{
    flush_all();
    queue_config cfg = config("w1");
    cfg.max_attempts = 3;
    queue *q = open_queue_with(cfg), *other = open_queue("w2");
    REQUIRE(q && other, "connect");
    REQUIRE(enqueue(q, "stuck") == 0, "%s", err);
    queue_job first;
    REQUIRE(take_and_start(q, &first) == 0, "%s", err);
    bool stop;
    REQUIRE(queue_checkpoint(q, &first, 1500, &stop, err, sizeof err) == 0, "%s", err);
    REQUIRE(queue_release(q, NULL, 0, NULL, err, sizeof err) == 0, "%s", err);
    for (int attempt = 2; attempt <= 4; attempt++) {
        queue_job job;
        REQUIRE(take_and_start(q, &job) == 0, "attempt %d: %s", attempt, err);
        CHECK(job.checkpoint_frames == 1500, "resumes from 1500 frames, not %lld", job.checkpoint_frames);
        CHECK(atoll(hget("stuck", "stalled_attempts")) == attempt - 2, "attempt %d: %s stalled", attempt,
              hget("stuck", "stalled_attempts"));
        REQUIRE(queue_checkpoint(q, &job, 1500, &stop, err, sizeof err) == 0, "%s", err); /* no advance */
        queue_job stale = first, foreign = job;
        foreign.payload = job.payload;
        REQUIRE(queue_checkpoint(q, &stale, 2400, &stop, err, sizeof err) == 0, "%s", err);
        REQUIRE(queue_checkpoint(other, &foreign, 2400, &stop, err, sizeof err) == 0, "%s", err);
        CHECK(atoll(hget("stuck", "checkpoint_frames")) == 1500, "checkpoint_frames %s", hget("stuck", "checkpoint_frames"));
        REQUIRE(queue_release(q, NULL, 0, NULL, err, sizeof err) == 0, "%s", err);
        queue_job_clear(&job);
    }
    queue_job_clear(&first);
    queue_job job;
    REQUIRE(queue_reserve(q, 0, &job, err, sizeof err) == 1, "%s", err);
    CHECK(job.decision == QUEUE_TAKE_ENDED, "decision %d", job.decision);
    CHECK(strcmp(hget("stuck", "error"), "too_many_attempts") == 0, "error %s", hget("stuck", "error"));
    CHECK(strstr(hget("stuck", "error_message"), "3 of them ending without progress") != NULL, "message %s",
          hget("stuck", "error_message"));
    CHECK(cmd_int("LLEN {jen1}:dead") == 1, "in the dead list");
    queue_job_clear(&job);

    /* jen1ctl retry: a fresh count; the checkpoint stays to resume from. */
    long long moved = 0;
    REQUIRE(queue_retry_dead(q, "stuck", &moved, err, sizeof err) == 0 && moved == 1, "%s", err);
    CHECK(strcmp(hget("stuck", "stalled_attempts"), "(nil)") == 0 && strcmp(hget("stuck", "progress_attempt"), "(nil)") == 0,
          "the count is reset");
    REQUIRE(take_and_start(q, &job) == 0, "%s", err);
    CHECK(job.attempts == 1 && job.checkpoint_frames == 1500, "attempt %lld from %lld frames", job.attempts,
          job.checkpoint_frames);
    queue_job_clear(&job);
    queue_free(q);
    queue_free(other);
}

/* A transient failure (say the blob store is down at the upload) after an
 * attempt that advanced the checkpoint is retried even past max_attempts
 * attempts; one without progress counts as before. A checkpoint on a job
 * that was cancelled or has ended says stop. */
TEST(transient_failures_after_progress_are_retried)
{
    flush_all();
    queue_config cfg = config("w1");
    cfg.max_attempts = 1;
    cfg.retry_base_ms = 1;
    queue *q = open_queue_with(cfg);
    REQUIRE(q, "connect");
    REQUIRE(enqueue(q, "upload-flaky") == 0, "%s", err);
    for (int attempt = 1; attempt <= 3; attempt++) {
        queue_job job;
        REQUIRE(take_and_start(q, &job) == 0, "attempt %d: %s", attempt, err);
        bool stop;
        queue_fail_outcome outcome;
        REQUIRE(queue_checkpoint(q, &job, 100 * attempt, &stop, err, sizeof err) == 0, "%s", err);
        REQUIRE(queue_fail(q, &job, "blob_unavailable", "down", true, &outcome, err, sizeof err) == 0, "%s", err);
        CHECK(outcome == QUEUE_FAIL_RETRY, "attempt %d: outcome %d", attempt, outcome);
        queue_job_clear(&job);
        redis_server_sleep_ms(20);
        long long reaped, due;
        REQUIRE(queue_reap(q, &reaped, &due, err, sizeof err) == 0 && due == 1, "due: %s", err);
    }
    queue_job job;
    queue_fail_outcome outcome;
    REQUIRE(take_and_start(q, &job) == 0, "%s", err);
    REQUIRE(queue_fail(q, &job, "blob_unavailable", "down", true, &outcome, err, sizeof err) == 0, "%s", err);
    CHECK(outcome == QUEUE_FAIL_DEAD, "no progress this time: outcome %d", outcome);
    queue_job_clear(&job);

    REQUIRE(enqueue(q, "ckpt-cancel") == 0, "%s", err);
    REQUIRE(take_and_start(q, &job) == 0, "%s", err);
    queue_cancel_outcome co;
    REQUIRE(queue_cancel(q, "ckpt-cancel", &co, NULL, NULL, err, sizeof err) == 0, "%s", err);
    bool stop = false;
    REQUIRE(queue_checkpoint(q, &job, 100, &stop, err, sizeof err) == 0, "%s", err);
    CHECK(stop, "a cancel asked: stop");
    REQUIRE(queue_cancelled(q, &job, err, sizeof err) == 0, "%s", err);
    stop = false;
    REQUIRE(queue_checkpoint(q, &job, 200, &stop, err, sizeof err) == 0, "%s", err);
    CHECK(stop && strcmp(hget("ckpt-cancel", "checkpoint_frames"), "100") == 0, "ended: stop, nothing written");
    queue_job_clear(&job);
    queue_free(q);
}

TEST(priority_queue_is_taken_first_and_fifo_within)
{
    flush_all();
    queue *q = open_queue("w1");
    REQUIRE(q, "connect");
    REQUIRE(enqueue(q, "n1") == 0, "%s", err);
    REQUIRE(queue_enqueue(q, "{\"id\":\"h1\",\"priority\":5}", NULL, err, sizeof err) == 0, "%s", err);
    CHECK(cmd_int("LLEN {jen1}:queue:high") == 1, "priority > 0 goes to {jen1}:queue:high");
    REQUIRE(enqueue(q, "n2") == 0, "%s", err);
    freeReplyObject(cmd("LPUSH {jen1}:queue %s", "{\"id\":\"n3\"}"));
    freeReplyObject(cmd("LPUSH {jen1}:queue:high %s", "{\"id\":\"h2\"}"));
    const char *expected[] = {"h1", "h2", "n1", "n2", "n3"};
    for (int i = 0; i < 5; i++) {
        queue_job job;
        REQUIRE(queue_reserve(q, 0, &job, err, sizeof err) == 1, "%s", err);
        CHECK(strcmp(job.id, expected[i]) == 0, "take %d: %s, expected %s", i, job.id, expected[i]);
        queue_job_clear(&job);
    }
    queue_job job;
    CHECK(queue_reserve(q, 0, &job, err, sizeof err) == 0, "then nothing");
    CHECK(cmd_int("LLEN {jen1}:inflight:w1") == 5, "all five in flight");
    queue_free(q);
}

/* Pushes a job 200 ms from now, on a connection of its own. */
static void *push_later(void *arg)
{
    (void)arg;
    redis_server_sleep_ms(200);
    redisContext *c = redisConnect("127.0.0.1", server.port);
    if (c && !c->err) freeReplyObject(redisCommand(c, "LPUSH {jen1}:queue %s", "{\"id\":\"late\"}"));
    if (c) redisFree(c);
    return NULL;
}

TEST(reserve_times_out_without_dropping_the_connection)
{
    flush_all();
    queue_config cfg = config("w1");
    cfg.command_timeout_ms = 100; /* shorter than the wait: the socket timeout must be stretched */
    queue *q = open_queue_with(cfg);
    REQUIRE(q, "connect");
    queue_job job;
    long long t0 = now_ms();
    int rc = queue_reserve(q, 600, &job, err, sizeof err);
    long long took = now_ms() - t0;
    CHECK(rc == 0, "timeout: %d %s", rc, rc < 0 ? err : "");
    CHECK(took >= 550 && took < 2000, "waited %lld ms for 600", took);
    CHECK(queue_ping(q, err, sizeof err) == 0, "still connected: %s", err);

    /* A job pushed during the wait is taken at once. */
    pthread_t pusher;
    pthread_create(&pusher, NULL, push_later, NULL);
    t0 = now_ms();
    rc = queue_reserve(q, 3000, &job, err, sizeof err);
    took = now_ms() - t0;
    pthread_join(pusher, NULL);
    CHECK(rc == 1 && strcmp(job.id, "late") == 0, "got the pushed job: %d", rc);
    CHECK(job.decision == QUEUE_TAKE_RUN && job.attempts == 1, "and started it: %d", job.decision);
    CHECK(strcmp(hget("late", "status"), "running") == 0 && strcmp(hget("late", "worker"), "w1") == 0,
          "running on w1");
    CHECK(took >= 150 && took < 1500, "when it was pushed (%lld ms), not at the timeout", took);
    queue_job_clear(&job);
    queue_free(q);
}

#define RACE_JOBS 400

typedef struct {
    const char *worker;
    int taken;
    int taken_jobs[RACE_JOBS]; /* the n of job "rN" */
} race_worker;

static void *race_run(void *arg)
{
    race_worker *w = arg;
    char e[512];
    queue_config cfg = config(w->worker);
    queue *q = queue_new(&cfg, e, sizeof e);
    if (!q || queue_connect(q, e, sizeof e) != 0) return NULL;
    queue_job job;
    while (w->taken < RACE_JOBS && queue_reserve(q, 0, &job, e, sizeof e) == 1) {
        w->taken_jobs[w->taken++] = atoi(job.id + 1);
        queue_job_clear(&job);
    }
    queue_free(q);
    return NULL;
}

TEST(two_workers_never_get_the_same_job)
{
    flush_all();
    redisReply *r;
    for (int i = 0; i < RACE_JOBS; i++) redisAppendCommand(raw, "LPUSH {jen1}:queue {\"id\":\"r%d\"}", i);
    for (int i = 0; i < RACE_JOBS; i++) {
        REQUIRE(redisGetReply(raw, (void **)&r) == REDIS_OK, "push");
        freeReplyObject(r);
    }
    static race_worker a = {.worker = "wa"}, b = {.worker = "wb"};
    a.taken = b.taken = 0;
    pthread_t ta, tb;
    pthread_create(&ta, NULL, race_run, &a);
    pthread_create(&tb, NULL, race_run, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK(a.taken + b.taken == RACE_JOBS, "%d + %d jobs taken", a.taken, b.taken);
    static char seen[RACE_JOBS];
    memset(seen, 0, sizeof seen);
    int dups = 0;
    race_worker *ws[2] = {&a, &b};
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < ws[k]->taken; i++) {
            int n = ws[k]->taken_jobs[i];
            if (n >= 0 && n < RACE_JOBS && seen[n]++) dups++;
        }
    }
    CHECK(dups == 0, "%d jobs taken twice", dups);
    CHECK(cmd_int("LLEN {jen1}:inflight:wa") == a.taken && cmd_int("LLEN {jen1}:inflight:wb") == b.taken,
          "each worker's in-flight list holds what it took");
    printf("     (the two workers took %d and %d)\n", a.taken, b.taken);
}

/* ---- Workers that die -------------------------------------------------------------- */

TEST(dead_worker_jobs_are_reaped_and_taken_once)
{
    flush_all();
    queue_config cfg = config("dying");
    cfg.heartbeat_ttl_ms = 200;
    queue *dying = open_queue_with(cfg);
    queue *live = open_queue("live");
    REQUIRE(dying && live, "connect");
    REQUIRE(enqueue(live, "orphan") == 0, "%s", err);
    REQUIRE(enqueue(live, "other") == 0, "%s", err);
    REQUIRE(queue_heartbeat(dying, NULL, err, sizeof err) == 0, "%s", err);
    REQUIRE(queue_heartbeat(live, NULL, err, sizeof err) == 0, "%s", err);
    queue_job job;
    REQUIRE(take_and_start(dying, &job) == 0, "%s", err);
    char payload[256];
    snprintf(payload, sizeof payload, "%s", job.payload);

    long long reaped = -1, due = -1;
    REQUIRE(queue_reap(live, &reaped, &due, err, sizeof err) == 0, "%s", err);
    CHECK(reaped == 0 && due == 0, "a live worker is left alone (%lld)", reaped);
    CHECK(cmd_int("LLEN {jen1}:inflight:dying") == 1, "still in flight");

    redis_server_sleep_ms(300); /* "dying" stops heartbeating: its key expires */
    REQUIRE(queue_reap(live, &reaped, &due, err, sizeof err) == 0, "%s", err);
    CHECK(reaped == 1, "reaped %lld", reaped);
    CHECK(cmd_int("EXISTS {jen1}:inflight:dying") == 0, "its in-flight list is gone");
    CHECK(strcmp(cmd_str("ZSCORE {jen1}:workers dying"), "(nil)") == 0, "it is forgotten");
    CHECK(strcmp(hget("orphan", "status"), "queued") == 0, "back to queued: %s", hget("orphan", "status"));
    CHECK(strcmp(cmd_str("LINDEX {jen1}:queue -1"), payload) == 0, "at the consumer end of the queue");
    REQUIRE(queue_reap(live, &reaped, &due, err, sizeof err) == 0 && reaped == 0, "reaped once only");

    queue_job again;
    REQUIRE(take_and_start(live, &again) == 0, "%s", err);
    CHECK(strcmp(again.id, "orphan") == 0, "the orphan is taken next: %s", again.id);
    CHECK(again.attempts == 2, "attempt %lld", again.attempts);
    CHECK(strcmp(hget("orphan", "worker"), "live") == 0, "by the live worker");
    REQUIRE(queue_finish(live, &again, "{\"by\":\"live\"}", NULL, NULL, err, sizeof err) == 0, "%s", err);

    /* The stalled worker wakes up and finishes too: nothing changes. */
    bool written = true;
    REQUIRE(queue_finish(dying, &job, "{\"by\":\"dying\"}", NULL, &written, err, sizeof err) == 0, "%s", err);
    CHECK(!written && strcmp(hget("orphan", "result"), "{\"by\":\"live\"}") == 0, "the first result stays");
    CHECK(cmd_int("LLEN {jen1}:done:orphan") == 1, "announced once");
    queue_job_clear(&job);
    queue_job_clear(&again);
    queue_free(dying);
    queue_free(live);
}

TEST(finishing_twice_writes_once)
{
    flush_all();
    queue *w1 = open_queue("w1"), *w2 = open_queue("w2");
    REQUIRE(w1 && w2, "connect");
    REQUIRE(enqueue(w1, "twice") == 0, "%s", err);
    queue_job a, b;
    REQUIRE(take_and_start(w1, &a) == 0, "%s", err);
    /* A redelivery: the same payload once more (as after a reap of a stalled worker). */
    freeReplyObject(cmd("RPUSH {jen1}:queue %b", a.payload, a.payload_len));
    REQUIRE(take_and_start(w2, &b) == 0, "%s", err);
    CHECK(b.attempts == 2, "second attempt %lld", b.attempts);

    bool written = false;
    REQUIRE(queue_finish(w1, &a, "{\"n\":1}", "file:///a", &written, err, sizeof err) == 0, "%s", err);
    CHECK(written, "the first finish writes");
    REQUIRE(queue_finish(w2, &b, "{\"n\":2}", "file:///b", &written, err, sizeof err) == 0, "%s", err);
    CHECK(!written, "the second does not");
    CHECK(strcmp(hget("twice", "result"), "{\"n\":1}") == 0, "the first result stays: %s", hget("twice", "result"));
    CHECK(cmd_int("LLEN {jen1}:done:twice") == 1, "one done entry");
    CHECK(cmd_int("LLEN {jen1}:inflight:w1") == 0 && cmd_int("LLEN {jen1}:inflight:w2") == 0,
          "both in-flight entries gone");
    /* A finish repeated after a lost reply changes nothing either. */
    REQUIRE(queue_finish(w1, &a, "{\"n\":3}", NULL, &written, err, sizeof err) == 0 && !written, "repeat");
    queue_job_clear(&a);
    queue_job_clear(&b);
    queue_free(w1);
    queue_free(w2);
}

/* ---- Failures ------------------------------------------------------------------------- */

TEST(transient_failures_back_off_then_die_then_retry)
{
    flush_all();
    queue_config cfg = config("w1");
    cfg.retry_base_ms = 100;
    cfg.result_ttl_s = 1000;
    queue *q = open_queue_with(cfg);
    REQUIRE(q, "connect");
    REQUIRE(enqueue(q, "flaky") == 0, "%s", err);
    long long backoff[2] = {100, 200};
    for (int attempt = 1; attempt <= 3; attempt++) {
        queue_job job;
        REQUIRE(take_and_start(q, &job) == 0, "attempt %d: %s", attempt, err);
        CHECK(job.attempts == attempt, "attempt %lld, expected %d", job.attempts, attempt);
        queue_fail_outcome outcome;
        REQUIRE(queue_fail(q, &job, "blob_unavailable", "the blob store said 503", true, &outcome, err, sizeof err) == 0,
                "%s", err);
        CHECK(cmd_int("LLEN {jen1}:inflight:w1") == 0, "in-flight entry removed");
        if (attempt < 3) {
            CHECK(outcome == QUEUE_FAIL_RETRY, "attempt %d: outcome %d", attempt, outcome);
            CHECK(strcmp(hget("flaky", "status"), "queued") == 0, "queued for a retry");
            CHECK(strcmp(hget("flaky", "error"), "blob_unavailable") == 0, "the error stays visible");
            long long wait = atoll(hget("flaky", "retry_at")) - atoll(hget("flaky", "updated_at"));
            CHECK(wait == backoff[attempt - 1], "backoff %lld ms, expected %lld", wait, backoff[attempt - 1]);
            CHECK(atoll(cmd_str("ZSCORE {jen1}:scheduled %b", job.payload, job.payload_len)) ==
                      atoll(hget("flaky", "retry_at")),
                  "in {jen1}:scheduled at retry_at");
            long long reaped, due;
            REQUIRE(queue_reap(q, &reaped, &due, err, sizeof err) == 0, "%s", err);
            CHECK(due == 0, "not due yet");
            queue_job none;
            CHECK(queue_reserve(q, 0, &none, err, sizeof err) == 0, "nothing to take before the retry is due");
            redis_server_sleep_ms((int)backoff[attempt - 1] + 50);
            REQUIRE(queue_reap(q, &reaped, &due, err, sizeof err) == 0, "%s", err);
            CHECK(due == 1, "due now (%lld)", due);
            CHECK(cmd_int("ZCARD {jen1}:scheduled") == 0, "left the schedule");
        } else {
            CHECK(outcome == QUEUE_FAIL_DEAD, "exhausted: outcome %d", outcome);
            CHECK(strcmp(hget("flaky", "status"), "failed") == 0, "failed");
            CHECK(strcmp(hget("flaky", "error_message"), "the blob store said 503") == 0, "message");
            CHECK(strstr(cmd_str("LINDEX {jen1}:done:flaky 0"), "\"status\":\"failed\"") != NULL, "announced");
            long long ttl = cmd_int("TTL {jen1}:job:flaky");
            CHECK(ttl > 990 && ttl <= 1000, "the result TTL applies: %lld", ttl);
            json_t *dead = json_loads(cmd_str("LINDEX {jen1}:dead 0"), 0, NULL);
            REQUIRE(dead, "a dead entry: %s", cmd_str("LINDEX {jen1}:dead 0"));
            CHECK(strcmp(json_string_value(json_object_get(dead, "id")), "flaky") == 0, "dead id");
            CHECK(strcmp(json_string_value(json_object_get(dead, "payload")), job.payload) == 0, "dead payload");
            CHECK(strcmp(json_string_value(json_object_get(dead, "error")), "blob_unavailable") == 0, "dead error");
            CHECK(strcmp(json_string_value(json_object_get(dead, "error_message")), "the blob store said 503") == 0,
                  "dead message");
            CHECK(json_integer_value(json_object_get(dead, "attempts")) == 3, "dead attempts");
            CHECK(json_integer_value(json_object_get(dead, "at")) > 0, "dead at");
            json_decref(dead);
        }
        queue_job_clear(&job);
    }

    /* jen1ctl retry flaky */
    long long moved = 0;
    REQUIRE(queue_retry_dead(q, "flaky", &moved, err, sizeof err) == 0, "%s", err);
    CHECK(moved == 1, "moved %lld", moved);
    CHECK(cmd_int("LLEN {jen1}:dead") == 0, "off the dead list");
    CHECK(strcmp(hget("flaky", "status"), "queued") == 0, "queued again");
    CHECK(strcmp(hget("flaky", "attempts"), "0") == 0, "attempts reset");
    CHECK(cmd_int("TTL {jen1}:job:flaky") == -1, "no expiry while queued");
    CHECK(cmd_int("EXISTS {jen1}:done:flaky") == 0, "the old announcement is gone");
    queue_job job;
    REQUIRE(take_and_start(q, &job) == 0, "%s", err);
    CHECK(job.attempts == 1, "a fresh attempt %lld", job.attempts);
    REQUIRE(queue_finish(q, &job, "{}", NULL, NULL, err, sizeof err) == 0, "%s", err);
    CHECK(strcmp(hget("flaky", "status"), "succeeded") == 0, "succeeded after the retry");
    CHECK(strcmp(hget("flaky", "error"), "(nil)") == 0, "the old error is cleared on success");
    queue_job_clear(&job);
    CHECK(queue_retry_dead(q, "flaky", &moved, err, sizeof err) == 0 && moved == 0, "nothing more to retry");
    queue_free(q);
}

TEST(permanent_failure_fails_at_once)
{
    flush_all();
    queue *q = open_queue("w1");
    REQUIRE(q, "connect");
    REQUIRE(enqueue(q, "bad") == 0, "%s", err);
    queue_job job;
    REQUIRE(take_and_start(q, &job) == 0, "%s", err);
    queue_fail_outcome outcome;
    REQUIRE(queue_fail(q, &job, "invalid_job", "duration: must be 1 to 30", false, &outcome, err, sizeof err) == 0,
            "%s", err);
    CHECK(outcome == QUEUE_FAIL_FAILED, "outcome %d", outcome);
    CHECK(strcmp(hget("bad", "status"), "failed") == 0, "failed");
    CHECK(strcmp(hget("bad", "error"), "invalid_job") == 0, "code");
    CHECK(strcmp(hget("bad", "error_message"), "duration: must be 1 to 30") == 0, "message");
    CHECK(cmd_int("LLEN {jen1}:dead") == 0, "a permanent failure is not dead-listed");
    CHECK(cmd_int("ZCARD {jen1}:scheduled") == 0, "nor retried");
    CHECK(strstr(cmd_str("LINDEX {jen1}:done:bad 0"), "\"error\":\"invalid_job\"") != NULL, "announced with its code");
    CHECK(cmd_int("LLEN {jen1}:inflight:w1") == 0, "in-flight entry removed");
    queue_job_clear(&job);
    queue_free(q);
}

TEST(non_json_payload_goes_to_dead_raw)
{
    flush_all();
    queue *q = open_queue("w1");
    REQUIRE(q, "connect");
    const char *garbage = "not json {\"id\":";
    freeReplyObject(cmd("LPUSH {jen1}:queue %s", garbage));
    queue_job job;
    REQUIRE(queue_reserve(q, 0, &job, err, sizeof err) == 1, "%s", err);
    CHECK(job.decision == QUEUE_TAKE_NOT_A_JOB && job.id[0] == '\0', "not a job: %d", job.decision);
    REQUIRE(queue_dead_payload(q, &job, "invalid_json", "not a JSON object", err, sizeof err) == 0, "%s", err);
    json_t *dead = json_loads(cmd_str("LINDEX {jen1}:dead 0"), 0, NULL);
    REQUIRE(dead, "dead entry");
    CHECK(json_is_null(json_object_get(dead, "id")), "id null");
    CHECK(strcmp(json_string_value(json_object_get(dead, "payload")), garbage) == 0, "the raw payload is kept");
    CHECK(strcmp(json_string_value(json_object_get(dead, "error")), "invalid_json") == 0, "code");
    json_decref(dead);
    CHECK(cmd_int("LLEN {jen1}:inflight:w1") == 0, "in-flight entry removed");
    queue_job_clear(&job);

    /* A payload that names an id but is no job: the waiting client learns too. */
    freeReplyObject(cmd("LPUSH {jen1}:queue %s", "{\"id\":\"half\",\"narrative\":"));
    REQUIRE(queue_reserve(q, 0, &job, err, sizeof err) == 1, "%s", err);
    CHECK(job.decision == QUEUE_TAKE_NOT_A_JOB, "unparsable: not a job");
    CHECK(cmd_int("EXISTS {jen1}:job:half") == 0, "and no hash for it");
    queue_job_clear(&job);
    const char *not_jobs[] = {"[\"id\"]", "{\"id\":\"../x\"}", "{\"id\":7}", "\"id\"", ""};
    for (size_t i = 0; i < sizeof not_jobs / sizeof *not_jobs; i++) {
        freeReplyObject(cmd("LPUSH {jen1}:queue %s", not_jobs[i]));
        REQUIRE(queue_reserve(q, 0, &job, err, sizeof err) == 1, "%s", err);
        CHECK(job.decision == QUEUE_TAKE_NOT_A_JOB, "'%s' is not a job", not_jobs[i]);
        queue_job_clear(&job);
    }
    freeReplyObject(cmd("DEL {jen1}:inflight:w1"));
    freeReplyObject(cmd("LPUSH {jen1}:queue %s", "{\"id\":\"named\",\"narrative\":42}"));
    REQUIRE(queue_reserve(q, 0, &job, err, sizeof err) == 1 && strcmp(job.id, "named") == 0, "named");
    REQUIRE(queue_dead_payload(q, &job, "invalid_job", "narrative: not a string", err, sizeof err) == 0, "%s", err);
    CHECK(strcmp(hget("named", "status"), "failed") == 0, "its hash says failed");
    CHECK(cmd_int("LLEN {jen1}:done:named") == 1, "announced");
    CHECK(cmd_int("LLEN {jen1}:dead") == 2, "two dead entries");
    queue_job_clear(&job);

    /* retry --all moves jobs, not the garbage. */
    long long moved = -1;
    REQUIRE(queue_retry_dead(q, NULL, &moved, err, sizeof err) == 0, "%s", err);
    CHECK(moved == 1 && cmd_int("LLEN {jen1}:dead") == 1, "moved %lld, garbage stays", moved);
    queue_free(q);
}

/* ---- Cancel -------------------------------------------------------------------------------- */

TEST(cancel_a_queued_job)
{
    flush_all();
    queue *q = open_queue("w1");
    REQUIRE(q, "connect");
    REQUIRE(enqueue(q, "c1") == 0, "%s", err);
    queue_cancel_outcome outcome;
    bool known = false;
    REQUIRE(queue_cancel(q, "c1", &outcome, &known, NULL, err, sizeof err) == 0, "%s", err);
    CHECK(outcome == QUEUE_CANCEL_DONE && known, "outcome %d known %d", outcome, known);
    CHECK(strcmp(hget("c1", "status"), "cancelled") == 0, "cancelled");
    CHECK(strcmp(hget("c1", "cancel"), "1") == 0, "cancel flag");
    CHECK(strstr(cmd_str("LINDEX {jen1}:done:c1 0"), "cancelled") != NULL, "announced");
    CHECK(cmd_int("TTL {jen1}:job:c1") > 0, "expires");
    queue_job job;
    REQUIRE(queue_reserve(q, 0, &job, err, sizeof err) == 1, "the payload is still queued");
    CHECK(job.decision == QUEUE_TAKE_ENDED, "the worker drops it: %d", job.decision);
    CHECK(cmd_int("LLEN {jen1}:inflight:w1") == 0, "dropped from in-flight");
    CHECK(strcmp(hget("c1", "attempts"), "0") == 0, "never started");
    queue_job_clear(&job);

    /* An id no hash knows (a bare LPUSH not taken yet): cancelled when taken. */
    REQUIRE(queue_cancel(q, "c2", &outcome, &known, NULL, err, sizeof err) == 0, "%s", err);
    CHECK(outcome == QUEUE_CANCEL_DONE && !known, "unknown: outcome %d known %d", outcome, known);
    freeReplyObject(cmd("LPUSH {jen1}:queue %s", "{\"id\":\"c2\"}"));
    REQUIRE(queue_reserve(q, 0, &job, err, sizeof err) == 1, "%s", err);
    CHECK(job.decision == QUEUE_TAKE_ENDED, "dropped: %d", job.decision);
    CHECK(cmd_int("LLEN {jen1}:inflight:w1") == 0, "dropped from in-flight");
    queue_job_clear(&job);

    /* Cancelled twice: too late the second time. */
    char ended[16];
    REQUIRE(queue_cancel(q, "c1", &outcome, &known, ended, err, sizeof err) == 0, "%s", err);
    CHECK(outcome == QUEUE_CANCEL_TOO_LATE && strcmp(ended, "cancelled") == 0, "outcome %d %s", outcome, ended);
    CHECK(cmd_int("LLEN {jen1}:done:c1") == 1, "announced once");
    queue_free(q);
}

TEST(cancel_a_running_job)
{
    flush_all();
    queue *q = open_queue("w1"), *ctl = open_queue(NULL);
    REQUIRE(q && ctl, "connect");
    REQUIRE(enqueue(ctl, "c3") == 0, "%s", err);
    queue_job job;
    REQUIRE(take_and_start(q, &job) == 0, "%s", err);
    queue_cancel_outcome outcome;
    REQUIRE(queue_cancel(ctl, "c3", &outcome, NULL, NULL, err, sizeof err) == 0, "%s", err);
    CHECK(outcome == QUEUE_CANCEL_REQUESTED, "outcome %d", outcome);
    CHECK(strcmp(hget("c3", "status"), "running") == 0, "still running until the worker stops");
    bool stop = false;
    REQUIRE(queue_progress(q, &job, 0.3, "generating", &stop, err, sizeof err) == 0, "%s", err);
    CHECK(stop, "progress says stop");
    REQUIRE(queue_cancelled(q, &job, err, sizeof err) == 0, "%s", err);
    CHECK(strcmp(hget("c3", "status"), "cancelled") == 0, "cancelled");
    CHECK(strstr(cmd_str("LINDEX {jen1}:done:c3 0"), "cancelled") != NULL, "announced");
    CHECK(cmd_int("LLEN {jen1}:inflight:w1") == 0, "in-flight entry removed");
    queue_job_clear(&job);

    /* A job reaped with its cancel pending ends cancelled when taken again. */
    REQUIRE(enqueue(ctl, "c4") == 0, "%s", err);
    REQUIRE(take_and_start(q, &job) == 0, "%s", err);
    REQUIRE(queue_cancel(ctl, "c4", &outcome, NULL, NULL, err, sizeof err) == 0, "%s", err);
    REQUIRE(queue_release(q, NULL, 0, NULL, err, sizeof err) == 0, "%s", err);
    queue_job_clear(&job);
    REQUIRE(queue_reserve(q, 0, &job, err, sizeof err) == 1, "%s", err);
    CHECK(job.decision == QUEUE_TAKE_CANCELLED, "decision %d", job.decision);
    CHECK(cmd_int("LLEN {jen1}:inflight:w1") == 0, "dropped from in-flight");
    CHECK(strcmp(hget("c4", "status"), "cancelled") == 0, "cancelled");
    CHECK(cmd_int("LLEN {jen1}:done:c4") == 1, "announced");
    queue_job_clear(&job);
    queue_free(q);
    queue_free(ctl);
}

TEST(cancel_a_finished_job_changes_nothing)
{
    flush_all();
    queue *q = open_queue("w1");
    REQUIRE(q, "connect");
    REQUIRE(enqueue(q, "c5") == 0, "%s", err);
    queue_job job;
    REQUIRE(take_and_start(q, &job) == 0, "%s", err);
    REQUIRE(queue_finish(q, &job, "{}", NULL, NULL, err, sizeof err) == 0, "%s", err);
    queue_cancel_outcome outcome;
    char ended[16] = "";
    REQUIRE(queue_cancel(q, "c5", &outcome, NULL, ended, err, sizeof err) == 0, "%s", err);
    CHECK(outcome == QUEUE_CANCEL_TOO_LATE && strcmp(ended, "succeeded") == 0, "outcome %d %s", outcome, ended);
    CHECK(strcmp(hget("c5", "status"), "succeeded") == 0, "still succeeded");
    CHECK(strcmp(hget("c5", "cancel"), "(nil)") == 0, "no cancel flag");
    /* A stale attempt reporting progress on an ended job is told to stop and writes nothing. */
    bool stop = false;
    REQUIRE(queue_progress(q, &job, 0.2, "generating", &stop, err, sizeof err) == 0, "%s", err);
    CHECK(stop && strcmp(hget("c5", "stage"), "done") == 0, "stop, stage untouched");
    queue_job_clear(&job);
    queue_free(q);
}

/* ---- Shutdown ------------------------------------------------------------------------------ */

TEST(release_on_shutdown)
{
    flush_all();
    queue *q = open_queue("w1");
    REQUIRE(q, "connect");
    REQUIRE(enqueue(q, "r1") == 0 && enqueue(q, "r2") == 0 && enqueue(q, "r3") == 0, "%s", err);
    queue_job a, b, c;
    REQUIRE(take_and_start(q, &a) == 0 && take_and_start(q, &b) == 0 && take_and_start(q, &c) == 0, "%s", err);
    long long released = 0;
    const queue_job *keep[] = {&b};
    REQUIRE(queue_release(q, keep, 1, &released, err, sizeof err) == 0, "%s", err);
    CHECK(released == 2, "released %lld (keeping one)", released);
    CHECK(cmd_int("LLEN {jen1}:inflight:w1") == 1 && strcmp(cmd_str("LINDEX {jen1}:inflight:w1 0"), b.payload) == 0,
          "the kept job stays in flight");
    CHECK(strcmp(hget("r1", "status"), "queued") == 0 && strcmp(hget("r3", "status"), "queued") == 0,
          "r1 and r3 queued again");
    CHECK(strcmp(hget("r2", "status"), "running") == 0, "r2 (kept) still running");
    REQUIRE(queue_release(q, NULL, 0, &released, err, sizeof err) == 0 && released == 1, "then the rest");
    CHECK(cmd_int("EXISTS {jen1}:inflight:w1") == 0, "nothing in flight");
    /* The first release put r1 at the consumer end, then r3 behind it; the
     * second put r2 in front of both. */
    const char *expected[] = {"r2", "r1", "r3"};
    for (int i = 0; i < 3; i++) {
        queue_job j;
        REQUIRE(queue_reserve(q, 0, &j, err, sizeof err) == 1, "%s", err);
        CHECK(strcmp(j.id, expected[i]) == 0, "take %d: %s", i, j.id);
        queue_job_clear(&j);
    }
    queue_job_clear(&a);
    queue_job_clear(&b);
    queue_job_clear(&c);
    queue_free(q);
}

/* A worker decoding a batch keeps every job it is still working on when it
 * releases the rest (after a reconnect that may have lost a reserve's reply). */
TEST(release_keeps_a_batch)
{
    flush_all();
    queue *q = open_queue("w1");
    REQUIRE(q, "connect");
    const char *ids[] = {"k1", "k2", "k3", "k4", "k5"};
    queue_job jobs[5];
    for (int i = 0; i < 5; i++) REQUIRE(enqueue(q, ids[i]) == 0, "%s", err);
    for (int i = 0; i < 5; i++) REQUIRE(take_and_start(q, &jobs[i]) == 0, "%s", err);
    const queue_job *keep[] = {&jobs[0], NULL, &jobs[2], &jobs[4]};
    long long released = 0;
    REQUIRE(queue_release(q, keep, 4, &released, err, sizeof err) == 0, "%s", err);
    CHECK(released == 2, "released %lld (keeping three)", released);
    CHECK(cmd_int("LLEN {jen1}:inflight:w1") == 3, "three stay in flight");
    CHECK(strcmp(hget("k1", "status"), "running") == 0 && strcmp(hget("k3", "status"), "running") == 0 &&
              strcmp(hget("k5", "status"), "running") == 0,
          "the kept jobs still run");
    CHECK(strcmp(hget("k2", "status"), "queued") == 0 && strcmp(hget("k4", "status"), "queued") == 0,
          "the others are queued again");
    /* The kept ones still end normally. */
    REQUIRE(queue_finish(q, &jobs[2], "{}", NULL, NULL, err, sizeof err) == 0, "%s", err);
    CHECK(cmd_int("LLEN {jen1}:inflight:w1") == 2, "a kept job finishes out of the in-flight list");
    for (int i = 0; i < 5; i++) queue_job_clear(&jobs[i]);
    queue_free(q);
}

/* ---- Views ------------------------------------------------------------------------------------ */

TEST(stats_and_lists)
{
    flush_all();
    queue *q = open_queue("w1"), *ctl = open_queue(NULL);
    REQUIRE(q && ctl, "connect");
    REQUIRE(queue_heartbeat(q, NULL, err, sizeof err) == 0, "%s", err);
    REQUIRE(enqueue(ctl, "s1") == 0 && enqueue(ctl, "s2") == 0 && enqueue(ctl, "s3") == 0, "%s", err);
    REQUIRE(queue_enqueue(ctl, "{\"id\":\"s4\",\"priority\":1}", NULL, err, sizeof err) == 0, "%s", err);
    queue_job running, failing;
    REQUIRE(take_and_start(q, &running) == 0, "%s", err);   /* s4 (high) */
    REQUIRE(take_and_start(q, &failing) == 0, "%s", err);   /* s1 */
    REQUIRE(queue_fail(q, &failing, "engine_error", "oom", true, NULL, err, sizeof err) == 0, "%s", err);
    freeReplyObject(cmd("LPUSH {jen1}:dead %s", "{\"id\":\"old\",\"payload\":\"{}\",\"error\":\"x\"}"));

    json_t *stats = NULL;
    REQUIRE(queue_stats(ctl, &stats, err, sizeof err) == 0, "%s", err);
    CHECK(json_integer_value(json_object_get(stats, "queued")) == 2, "queued");
    CHECK(json_integer_value(json_object_get(stats, "queued_high")) == 0, "queued_high");
    CHECK(json_integer_value(json_object_get(stats, "scheduled")) == 1, "scheduled");
    CHECK(json_integer_value(json_object_get(stats, "in_flight")) == 1, "in_flight");
    CHECK(json_integer_value(json_object_get(stats, "dead")) == 1, "dead");
    CHECK(json_integer_value(json_object_get(stats, "workers")) == 1, "workers");
    CHECK(json_integer_value(json_object_get(stats, "workers_alive")) == 1, "workers_alive");
    json_decref(stats);

    long long depth, high;
    REQUIRE(queue_depth(ctl, &depth, &high, err, sizeof err) == 0, "%s", err);
    CHECK(depth == 2 && high == 0, "depth %lld high %lld", depth, high);

    json_t *list = NULL;
    REQUIRE(queue_list(ctl, QUEUE_LIST_QUEUED, 10, &list, err, sizeof err) == 0, "%s", err);
    CHECK(json_array_size(list) == 3, "two queued and one scheduled: %zu", json_array_size(list));
    const char *order[] = {"s2", "s3", "s1"};
    for (size_t i = 0; i < json_array_size(list) && i < 3; i++) {
        json_t *e = json_array_get(list, i);
        CHECK(strcmp(json_string_value(json_object_get(e, "id")), order[i]) == 0, "queued %zu: %s", i,
              json_string_value(json_object_get(e, "id")));
    }
    CHECK(strcmp(json_string_value(json_object_get(json_array_get(list, 2), "queue")), "scheduled") == 0 &&
              json_integer_value(json_object_get(json_array_get(list, 2), "due_at")) > 0,
          "the retry is listed with its due time");
    json_decref(list);
    REQUIRE(queue_list(ctl, QUEUE_LIST_QUEUED, 1, &list, err, sizeof err) == 0, "%s", err);
    CHECK(json_array_size(list) == 1, "limit");
    json_decref(list);

    REQUIRE(queue_list(ctl, QUEUE_LIST_RUNNING, 10, &list, err, sizeof err) == 0, "%s", err);
    CHECK(json_array_size(list) == 1 &&
              strcmp(json_string_value(json_object_get(json_array_get(list, 0), "id")), "s4") == 0 &&
              strcmp(json_string_value(json_object_get(json_array_get(list, 0), "worker")), "w1") == 0,
          "s4 runs on w1");
    json_decref(list);

    REQUIRE(queue_list(ctl, QUEUE_LIST_DEAD, 10, &list, err, sizeof err) == 0, "%s", err);
    CHECK(json_array_size(list) == 1 &&
              strcmp(json_string_value(json_object_get(json_array_get(list, 0), "id")), "old") == 0,
          "the dead entry");
    json_decref(list);
    queue_job_clear(&running);
    queue_job_clear(&failing);
    queue_free(q);
    queue_free(ctl);
}

TEST(scripts_survive_a_script_flush)
{
    flush_all();
    queue *q = open_queue("w1");
    REQUIRE(q, "connect");
    freeReplyObject(cmd("SCRIPT FLUSH"));
    CHECK(enqueue(q, "f1") == 0, "enqueue after SCRIPT FLUSH: %s", err);
    queue_job job;
    CHECK(take_and_start(q, &job) == 0, "and the rest: %s", err);
    queue_job_clear(&job);
    queue_free(q);
}

TEST(prefix_and_result_ttl_are_configurable)
{
    flush_all();
    queue_config cfg = config("w1");
    cfg.prefix = "studio";
    cfg.result_ttl_s = 100;
    queue *q = open_queue_with(cfg);
    REQUIRE(q, "connect");
    REQUIRE(enqueue(q, "p1") == 0, "%s", err);
    CHECK(cmd_int("LLEN {studio}:queue") == 1, "{studio}:queue");
    queue_job job;
    REQUIRE(take_and_start(q, &job) == 0, "%s", err);
    REQUIRE(queue_finish(q, &job, "{}", NULL, NULL, err, sizeof err) == 0, "%s", err);
    long long ttl = cmd_int("TTL {studio}:job:p1"), done_ttl = cmd_int("TTL {studio}:done:p1");
    CHECK(ttl > 90 && ttl <= 100 && done_ttl > 90 && done_ttl <= 100, "TTLs %lld %lld", ttl, done_ttl);
    char key[128];
    CHECK(strcmp(queue_key(q, "dead", key, sizeof key), "{studio}:dead") == 0, "queue_key");
    queue_job_clear(&job);
    queue_free(q);

    cfg.prefix = "bad{tag}";
    CHECK(queue_new(&cfg, err, sizeof err) == NULL, "a prefix with braces is refused");
    cfg.prefix = NULL;
    cfg.worker_id = "has space";
    CHECK(queue_new(&cfg, err, sizeof err) == NULL, "a worker id with a space is refused");
}

TEST(unix_socket_url)
{
    flush_all();
    char url[400];
    snprintf(url, sizeof url, "unix://%s", server.socket);
    queue_config cfg = config("w1");
    cfg.url = url;
    queue *q = open_queue_with(cfg);
    REQUIRE(q, "connect over %s", url);
    CHECK(enqueue(q, "u1") == 0, "%s", err);
    CHECK(cmd_int("LLEN {jen1}:queue") == 1, "same server");
    CHECK(strncmp(queue_server(q), "unix:", 5) == 0, "server %s", queue_server(q));
    queue_free(q);
}

/* ---- Redis going away ------------------------------------------------------------------------------ */

TEST(connection_loss_and_reconnect_lose_nothing)
{
    redis_server rs;
    const char *persist[] = {"--appendonly", "yes", NULL};
    REQUIRE(redis_server_start(&rs, persist) == 0, "a second server");
    queue_config cfg = config("w1");
    cfg.url = rs.url;
    cfg.connect_timeout_ms = 500;
    queue *q = open_queue_with(cfg);
    REQUIRE(q, "connect");
    REQUIRE(queue_heartbeat(q, NULL, err, sizeof err) == 0, "%s", err);
    REQUIRE(enqueue(q, "k1") == 0 && enqueue(q, "k2") == 0, "%s", err);
    queue_job job;
    REQUIRE(take_and_start(q, &job) == 0, "%s", err);

    redis_server_stop(&rs);
    bool stop;
    CHECK(queue_progress(q, &job, 0.5, "generating", &stop, err, sizeof err) == -1, "fails while down");
    CHECK(queue_unavailable(q), "flagged unavailable: %s", err);
    CHECK(strstr(err, "127.0.0.1") != NULL, "the message names the server: %s", err);
    CHECK(queue_finish(q, &job, "{}", NULL, NULL, err, sizeof err) == -1 && queue_unavailable(q),
          "still down: %s", err);
    CHECK(queue_connect(q, err, sizeof err) == -1 && queue_unavailable(q), "reconnect fails while down: %s", err);

    REQUIRE(redis_server_restart(&rs) == 0, "restart on port %d", rs.port);
    REQUIRE(queue_connect(q, err, sizeof err) == 0, "reconnect: %s", err);
    CHECK(!queue_unavailable(q), "available again");
    redisContext *c = redisConnect("127.0.0.1", rs.port);
    REQUIRE(c && !c->err, "raw connection");
    redisReply *r = redisCommand(c, "LRANGE {jen1}:inflight:w1 0 -1");
    CHECK(r && r->elements == 1 && strcmp(r->element[0]->str, job.payload) == 0, "the in-flight job survived");
    freeReplyObject(r);
    r = redisCommand(c, "LLEN {jen1}:queue");
    CHECK(r && r->integer == 1, "the queued job survived");
    freeReplyObject(r);
    bool written = false;
    REQUIRE(queue_finish(q, &job, "{}", NULL, &written, err, sizeof err) == 0 && written, "finish after: %s", err);
    r = redisCommand(c, "HGET {jen1}:job:k1 status");
    CHECK(r && r->str && strcmp(r->str, "succeeded") == 0, "succeeded");
    freeReplyObject(r);
    redisFree(c);
    queue_job_clear(&job);
    queue_free(q);
    redis_server_cleanup(&rs);
}

TEST(unreachable_server)
{
    queue_config cfg = config("w1");
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", redis_server_free_port());
    cfg.url = url;
    queue *q = queue_new(&cfg, err, sizeof err);
    REQUIRE(q, "%s", err);
    CHECK(queue_connect(q, err, sizeof err) == -1 && queue_unavailable(q), "refused: %s", err);
    CHECK(strstr(err, "cannot connect") != NULL, "message: %s", err);
    queue_job job;
    CHECK(queue_reserve(q, 0, &job, err, sizeof err) == -1 && queue_unavailable(q), "calls fail as unavailable");
    queue_free(q);
}

TEST(password_and_acl_user)
{
    const char *secret = "s3cr3t-pw:@x";
    redis_server rs;
    const char *args[] = {"--requirepass", secret, NULL};
    REQUIRE(redis_server_start(&rs, args) == 0, "a server with a password");
    char url[256];
    queue_config cfg = config("w1");
    cfg.url = url;

    snprintf(url, sizeof url, "redis://:s3cr3t-pw%%3A%%40x@127.0.0.1:%d/2", rs.port);
    queue *q = queue_new(&cfg, err, sizeof err);
    REQUIRE(q, "%s", err);
    CHECK(queue_connect(q, err, sizeof err) == 0, "the right password, percent-encoded: %s", err);
    CHECK(strstr(queue_server(q), "s3cr3t") == NULL && strstr(queue_server(q), "/2") != NULL, "server %s",
          queue_server(q));
    CHECK(enqueue(q, "pw1") == 0, "%s", err);
    queue_free(q);

    redisContext *c = redisConnect("127.0.0.1", rs.port);
    REQUIRE(c && !c->err, "raw");
    redisReply *r = redisCommand(c, "AUTH %s", secret);
    freeReplyObject(r);
    r = redisCommand(c, "SELECT 2");
    freeReplyObject(r);
    r = redisCommand(c, "LLEN {jen1}:queue");
    CHECK(r && r->integer == 1, "the job is in database 2");
    freeReplyObject(r);
    r = redisCommand(c, "ACL SETUSER jen1 on >user-pw ~* &* +@all");
    CHECK(r && r->type == REDIS_REPLY_STATUS, "ACL user");
    freeReplyObject(r);
    redisFree(c);

    snprintf(url, sizeof url, "redis://jen1:user-pw@127.0.0.1:%d", rs.port);
    q = queue_new(&cfg, err, sizeof err);
    REQUIRE(q, "%s", err);
    CHECK(queue_connect(q, err, sizeof err) == 0, "an ACL user: %s", err);
    queue_free(q);

    snprintf(url, sizeof url, "redis://:wrong-password-123@127.0.0.1:%d", rs.port);
    q = queue_new(&cfg, err, sizeof err);
    REQUIRE(q, "%s", err);
    CHECK(queue_connect(q, err, sizeof err) == -1, "a wrong password fails");
    CHECK(!queue_unavailable(q), "and is not a reason to retry");
    CHECK(strstr(err, "authentication failed") != NULL, "clear message: %s", err);
    CHECK(strstr(err, "wrong-password") == NULL, "without the password: %s", err);
    queue_free(q);

    snprintf(url, sizeof url, "redis://127.0.0.1:%d", rs.port);
    q = queue_new(&cfg, err, sizeof err);
    REQUIRE(q, "%s", err);
    CHECK(queue_connect(q, err, sizeof err) == -1 && strstr(err, "password") != NULL, "no password: %s", err);
    queue_free(q);
    redis_server_cleanup(&rs);
}

/* A user without a password parses, but no queue is made of it: no server
 * would take it, and retrying would not help. */
static void cfg_url_user_only(void)
{
    queue_config cfg = {.url = "redis://jen1@127.0.0.1:1"};
    queue *q = queue_new(&cfg, err, sizeof err);
    CHECK(!q && strstr(err, "the user 'jen1' has no password"), "a user without a password: %s", err);
    queue_free(q);
}

TEST(redis_urls)
{
    redis_url u;
    REQUIRE(redis_url_parse("redis://localhost", &u, err, sizeof err) == 0, "%s", err);
    CHECK(!u.is_unix && strcmp(u.host, "localhost") == 0 && u.port == 6379 && u.db == 0 && !u.password[0], "defaults");
    REQUIRE(redis_url_parse("redis://:p%40ss@10.0.0.1:7000/3", &u, err, sizeof err) == 0, "%s", err);
    CHECK(strcmp(u.password, "p@ss") == 0 && !u.user[0] && u.port == 7000 && u.db == 3, "password, port, db");
    REQUIRE(redis_url_parse("redis://bob:a:b@c@h", &u, err, sizeof err) == 0, "%s", err);
    CHECK(strcmp(u.user, "bob") == 0 && strcmp(u.password, "a:b@c") == 0 && strcmp(u.host, "h") == 0,
          "user, and a password with ':' and '@' left unencoded: %s/%s/%s", u.user, u.password, u.host);
    REQUIRE(redis_url_parse("redis://[::1]:6380/", &u, err, sizeof err) == 0, "%s", err);
    CHECK(strcmp(u.host, "::1") == 0 && u.port == 6380, "IPv6");
    char desc[128];
    redis_url_describe(&u, desc, sizeof desc);
    CHECK(strcmp(desc, "[::1]:6380/0") == 0, "describe %s", desc);
    REQUIRE(redis_url_parse("unix://:pw@/run/redis.sock?db=4", &u, err, sizeof err) == 0, "%s", err);
    CHECK(u.is_unix && strcmp(u.path, "/run/redis.sock") == 0 && u.db == 4 && strcmp(u.password, "pw") == 0, "unix");

    /* rediss:// (TLS) and a user whose password comes from elsewhere
     * (JEN1_REDIS_PASSWORD_FILE) parse since issue 10. */
    REQUIRE(redis_url_parse("rediss://jen1@redis.example:6380/2", &u, err, sizeof err) == 0, "%s", err);
    CHECK(u.tls && strcmp(u.user, "jen1") == 0 && !u.password[0] && u.port == 6380 && u.db == 2, "rediss, user");
    redis_url_describe(&u, desc, sizeof desc);
    CHECK(strcmp(desc, "redis.example:6380/2 (TLS)") == 0, "describe %s", desc);
    REQUIRE(redis_url_parse("redis://h", &u, err, sizeof err) == 0 && !u.tls, "redis:// is not TLS");
    cfg_url_user_only();

    const char *bad[] = {"", "localhost:6379", "http://h", "rediss://", "redis://", "redis://h:0", "redis://h:99999",
                         "redis://h:x", "redis://h/x", "redis://:p%zz@h", "redis://[::1", "unix://relative",
                         "rediss://h?tls=1", "redis://h?timeout=1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK(redis_url_parse(bad[i], &u, err, sizeof err) == -1, "'%s' is refused", bad[i]);
        CHECK(strncmp(err, "redis URL: ", 11) == 0, "message for '%s': %s", bad[i], err);
    }
    CHECK(redis_url_parse("redis://:hunter2@h:x", &u, err, sizeof err) == -1 && !strstr(err, "hunter2"),
          "messages never repeat the password: %s", err);
}

/* ---- Throughput (printed, not asserted) ---------------------------------------------------------- */

/* N payloads through reserve (take + start), [progress,] finish; jobs/s or -1. */
static double jobs_per_second(queue *q, int n, bool with_progress)
{
    redisReply *r;
    for (int i = 0; i < n; i++)
        redisAppendCommand(raw, "LPUSH {jen1}:queue {\"id\":\"b%d-%d\",\"narrative\":\"x\",\"duration\":1}",
                           with_progress, i);
    for (int i = 0; i < n; i++) {
        if (redisGetReply(raw, (void **)&r) != REDIS_OK) return -1;
        freeReplyObject(r);
    }
    long long t0 = now_ms();
    for (int done = 0; done < n; done++) {
        queue_job job;
        bool stop;
        int ok = queue_reserve(q, 0, &job, err, sizeof err) == 1 && job.decision == QUEUE_TAKE_RUN &&
                 (!with_progress || queue_progress(q, &job, 0.5, "generating", &stop, err, sizeof err) == 0) &&
                 queue_finish(q, &job, "{\"title\":\"t\"}", "file:///x.wav", NULL, err, sizeof err) == 0;
        queue_job_clear(&job);
        if (!ok) return -1;
    }
    long long took = now_ms() - t0;
    return n * 1000.0 / (took > 0 ? took : 1);
}

TEST(throughput)
{
    flush_all();
    queue *q = open_queue("bench");
    REQUIRE(q, "connect");
    double bare = jobs_per_second(q, 5000, false);
    CHECK(bare > 0, "reserve+finish: %s", err);
    double with_progress = jobs_per_second(q, 5000, true);
    CHECK(with_progress > 0, "reserve+progress+finish: %s", err);
    printf("     throughput, one connection: %.0f jobs/s through reserve+finish, %.0f with one progress report\n",
           bare, with_progress);
    queue_free(q);
}

int main(void)
{
    if (redis_server_start(&server, NULL) != 0) {
        printf("RESULT test_queue passed=0 failed=1\n");
        return 1;
    }
    raw = redisConnect("127.0.0.1", server.port);
    if (!raw || raw->err) {
        fprintf(stderr, "cannot connect to the test redis-server\n");
        printf("RESULT test_queue passed=0 failed=1\n");
        return 1;
    }
    RUN(happy_path_keys_and_fields);
    RUN(enqueue_refuses_a_taken_id_and_bad_jobs);
    RUN(bare_lpush_job_is_taken);
    RUN(a_job_started_max_attempts_times_without_ending_fails);
    RUN(attempts_that_advance_the_checkpoint_are_never_too_many);
    RUN(attempts_that_die_at_the_same_spot_end_dead);
    RUN(transient_failures_after_progress_are_retried);
    RUN(priority_queue_is_taken_first_and_fifo_within);
    RUN(reserve_times_out_without_dropping_the_connection);
    RUN(two_workers_never_get_the_same_job);
    RUN(dead_worker_jobs_are_reaped_and_taken_once);
    RUN(finishing_twice_writes_once);
    RUN(transient_failures_back_off_then_die_then_retry);
    RUN(permanent_failure_fails_at_once);
    RUN(non_json_payload_goes_to_dead_raw);
    RUN(cancel_a_queued_job);
    RUN(cancel_a_running_job);
    RUN(cancel_a_finished_job_changes_nothing);
    RUN(release_on_shutdown);
    RUN(release_keeps_a_batch);
    RUN(stats_and_lists);
    RUN(scripts_survive_a_script_flush);
    RUN(prefix_and_result_ttl_are_configurable);
    RUN(unix_socket_url);
    RUN(connection_loss_and_reconnect_lose_nothing);
    RUN(unreachable_server);
    RUN(password_and_acl_user);
    RUN(redis_urls);
    RUN(throughput);
    redisFree(raw);
    redis_server_cleanup(&server);
    return check_summary("test_queue");
}
