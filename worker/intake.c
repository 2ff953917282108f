/* intake.c - the intake thread: takes a job whenever the worker can serve
 * one, reads it, plans the song (the words: the language model's, or the
 * rules'), and hands it on: to the decode batch, or, for a words-only job
 * ("audio": false), straight to the finisher. See job_run.h for the whole
 * pipeline. */
#include <stdlib.h>
#include <string.h>

#include "job_run.h"
#include "log.h"
#include "lyrics.h"
#include "util.h"

/* The words are the language model's when the worker has one (a field it
 * cannot write is the rules', never a failed job), else the rules'. */
static stage_end stage_planning(job_run *run)
{
    if (!run->w->writer) {
        if (plan_song(&run->req, lyrics_rules(), &run->plan, run->err, sizeof run->err) != 0)
            return PROTOCOL_INVALID_JOB;
        return PROTOCOL_OK;
    }
    writer_job wj;
    lyric_source src = writer_source(run->w->writer, run->req.seed, job_should_stop, run, &wj);
    int planned = plan_song(&run->req, &src, &run->plan, run->err, sizeof run->err);
    writer_job_end(&wj);
    if (planned != 0) return PROTOCOL_INVALID_JOB;
    log_kv(LOG_INFO, "words written", LOG_STR("model", writer_model_name(run->w->writer)),
           LOG_INT("generations", wj.generations), LOG_INT("tokens", wj.tokens), LOG_INT("failures", wj.failures),
           LOG_INT("fields", run->plan.words_fields), LOG_INT("fields_from_rules", run->plan.words_from_rules),
           LOG_NUM("seconds", wj.seconds));
    return PROTOCOL_OK;
}

static const stage kPlanning = {JEN1_STAGE_PLANNING, 0, stage_planning};

/* A payload the take script said to run: read, planned, handed on. The run
 * owns the payload from here (worker_hand_free releases both). */
static void start_job(lane *l, job_run *run)
{
    worker *w = l->w;
    job_error jerr;
    job_status parsed = job_parse(run->job.payload, run->job.payload_len, &w->limits, &run->req, &jerr);
    if (parsed != JOB_OK) {
        fail_job(l, &run->job, (protocol_error)parsed, jerr.message); /* job_status is protocol_error's subset */
        worker_hand_free(w, run);
        return;
    }
    log_kv(LOG_INFO, "job started", LOG_INT("attempt", run->job.attempts), LOG_NUM("duration", run->req.duration),
           LOG_BOOL("audio", run->req.audio));
    if (run_stage(run, &kPlanning, &run->timings.plan_s) != 0) {
        worker_hand_free(w, run);
        return;
    }
    if (!run->req.audio) {
        worker_leave_batch(w, run); /* a words-only job needs no slot */
        handoff_push(&w->to_finish, run);
    } else {
        handoff_push(&w->to_decode, run);
    }
}

/* The take script already decided whether this payload is ours to run. */
static void take(lane *l, queue_job *job)
{
    worker *w = l->w;
    switch (job->decision) {
    case QUEUE_TAKE_RUN: break;
    case QUEUE_TAKE_NOT_A_JOB: {
        job_request req;
        job_error jerr;
        job_status parsed = job_parse(job->payload, job->payload_len, &w->limits, &req, &jerr);
        if (parsed == JOB_OK) job_request_free(&req);
        send_to_dead(l, job, parsed, &jerr);
        queue_job_clear(job);
        return;
    }
    case QUEUE_TAKE_DUPLICATE:
        log_kv(LOG_WARN, "a payload reused another job's id: dead-lettered as duplicate_id", LOG_STR("id", job->id));
        queue_job_clear(job);
        return;
    case QUEUE_TAKE_CANCELLED: count_outcome(w, JEN1_OUTCOME_CANCELLED); /* fall through */
    case QUEUE_TAKE_ENDED:
    case QUEUE_TAKE_LOST: queue_job_clear(job); return;
    }
    job_run *run = calloc(1, sizeof *run);
    if (!run) {
        /* Left in flight: released to the queue when the worker stops. */
        log_kv(LOG_ERROR, "out of memory for a job: left in flight", LOG_STR("id", job->id));
        queue_job_clear(job);
        return;
    }
    run->w = w;
    run->job = *job; /* the run owns the payload now */
    memset(job, 0, sizeof *job);
    run->batch_slot = -1;
    run->started = clock_monotonic_s();
    run->deadline = run->started + w->cfg->job_timeout_s;
    worker_hand_add(w, run);
    lane_hold(l, run);
    start_job(l, run);
    log_set_job(NULL);
}

void *intake_main(void *arg)
{
    lane *l = arg;
    worker *w = l->w;
    char err[1024];
    /* A text model plans here while the decode loop steps: one thread, not a
     * second OpenMP team (jen1.h says what that costs every later step). */
    jen1_thread_set_cpu_threads(1);
    while (!worker_draining()) {
        /* Room is signalled as jobs leave; the timeout only rereads the stop flags. */
        if (!worker_wait_room(w, 250)) continue;
        /* With jobs in hand, short waits: a stop is noticed at once, and the
         * process need not wait for this thread to end them. */
        queue_job job = {0};
        int got = queue_reserve(l->q, worker_hand_count(w) == 0 ? 1000 : 100, &job, err, sizeof err);
        if (got < 0) {
            if (queue_unavailable(l->q)) {
                if (lane_reconnect(l) == 0) {
                    int rc;
                    LANE_CALL(l, rc, worker_release_lost(l, err, sizeof err));
                }
            } else {
                log_kv(LOG_ERROR, "reserve failed", LOG_STR("error", err));
                worker_sleep_ms(1000);
            }
            continue;
        }
        if (got == 1) take(l, &job);
        queue_job_clear(&job);
    }
    log_info("draining: no new jobs");
    atomic_store(&w->intake_done, true);
    return NULL;
}
