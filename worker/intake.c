/* intake.c - the intake thread: takes a job whenever the worker can serve
 * one, reads it, plans the song (the words: the language model's, or the
 * rules'), and hands it on: to the decode batch, or, for a words-only job
 * ("audio": false), straight to the finisher. With a language model the
 * planning is done by planner threads that this thread starts and ends, so
 * that several jobs' words are written at once. See job_run.h for the whole
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
           LOG_INT("generations", wj.generations), LOG_INT("batch_rows", wj.most_rows), LOG_INT("tokens", wj.tokens),
           LOG_INT("failures", wj.failures),
           LOG_INT("fields", run->plan.words_fields), LOG_INT("fields_from_rules", run->plan.words_from_rules),
           LOG_NUM("seconds", wj.seconds));
    return PROTOCOL_OK;
}

static const stage kPlanning = {JEN1_STAGE_PLANNING, 0, stage_planning};

/* Plans a parsed job and hands it on: to the decode batch, or, words only,
 * to the finisher. */
static void plan_and_hand_on(job_run *run)
{
    worker *w = run->w;
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

/* A payload the take script said to run: read, then planned here or by a
 * planner. The run owns the payload from here (worker_hand_free releases
 * both). */
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
    if (w->n_planners > 0) handoff_push(&w->to_plan, run);
    else plan_and_hand_on(run);
}

/* A planner: plans what the intake hands it, one job at a time, until the
 * intake takes no more and nothing is left to plan. Its model calls block
 * until the decode loop has run them, beside the other planners'
 * (writer_turn, engine_writer_batch.h). */
static void *planner_main(void *arg)
{
    lane *l = arg;
    worker *w = l->w;
    for (;;) {
        job_run *run = handoff_pop(&w->to_plan, 250);
        if (run) {
            lane_hold(l, run);
            plan_and_hand_on(run);
            log_set_job(NULL);
        } else if (atomic_load(&w->taking_done) && handoff_count(&w->to_plan) == 0) {
            return NULL;
        }
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
    pthread_t planners[WORKER_MAX_PLANNERS];
    int started = 0;
    while (started < w->n_planners &&
           pthread_create(&planners[started], NULL, planner_main, &w->plan_lanes[started]) == 0)
        started++;
    if (started < w->n_planners)
        log_kv(LOG_WARN, "fewer planner threads started than asked", LOG_INT("asked", w->n_planners),
               LOG_INT("started", started));
    w->n_planners = started; /* none: the intake plans, one job at a time */
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
    atomic_store(&w->taking_done, true);
    for (int i = 0; i < started; i++) pthread_join(planners[i], NULL);
    atomic_store(&w->intake_done, true);
    return NULL;
}
