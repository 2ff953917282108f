/* job_end.c - how a job's stages are run and reported, and every way a job
 * ends but success (finisher.c): cancelled, failed (retried or not, by the
 * error code's kind: protocol_error_transient, never a flag chosen at the
 * call), left to the queue when the worker stops, or dead-lettered. */
#include <stdio.h>

#include "job_run.h"
#include "log.h"
#include "reconnect.h"
#include "song_codes.h"
#include "util.h"

static bool lane_gives_up(void *arg)
{
    lane *l = arg;
    return worker_stopping_now(l->w);
}

int lane_reconnect(lane *l)
{
    return reconnect_with_backoff(l->q, l->name, lane_gives_up, l);
}

void lane_hold(lane *l, job_run *run)
{
    run->lane = l;
    log_set_job(run->job.id);
}

void count_outcome(worker *w, enum jen1_outcome outcome)
{
    metrics_add(w->metrics->registry, w->metrics->jobs[outcome], 1);
}

bool fail_job(lane *l, const queue_job *job, protocol_error code, const char *message)
{
    char err[512];
    const char *name = protocol_error_name(code);
    bool transient = protocol_error_transient(code);
    queue_fail_outcome outcome = QUEUE_FAIL_FAILED;
    log_kv(transient ? LOG_WARN : LOG_ERROR, "job failed", LOG_STR("error", name), LOG_STR("detail", message),
           LOG_BOOL("transient", transient));
    int rc;
    LANE_CALL(l, rc, queue_fail(l->q, job, name, message, transient, &outcome, err, sizeof err));
    if (rc != 0) {
        log_kv(LOG_ERROR, "could not record the failure", LOG_STR("error", err));
        return false;
    }
    count_outcome(l->w, outcome == QUEUE_FAIL_RETRY ? JEN1_OUTCOME_RETRIED : JEN1_OUTCOME_FAILED);
    return outcome == QUEUE_FAIL_FAILED || outcome == QUEUE_FAIL_ENDED;
}

static void end_cancelled(lane *l, const queue_job *job)
{
    char err[512];
    log_info("job cancelled");
    int rc;
    LANE_CALL(l, rc, queue_cancelled(l->q, job, err, sizeof err));
    if (rc == 0) count_outcome(l->w, JEN1_OUTCOME_CANCELLED);
}

/* A failed removal leaves an object no attempt will read (a new job of the
 * same id ignores it). */
void remove_checkpoint(job_run *run)
{
    if (!run->has_checkpoint) return;
    char key[BLOB_KEY_MAX + 1], err[512];
    song_codes_key(run->job.id, SONG_CODES_CHECKPOINT, key);
    if (blob_delete(run->lane->blobs, key, err, sizeof err) != BLOB_OK)
        log_kv(LOG_WARN, "could not remove the checkpoint", LOG_STR("error", err));
}

/* The checkpoint stays for a retry, another worker, or jen1ctl retry of a dead job. */
void end_job(job_run *run, stage_end end)
{
    if (end == PROTOCOL_CANCELLED) {
        end_cancelled(run->lane, &run->job);
        remove_checkpoint(run);
    } else if (end == STAGE_LEFT) {
        log_info("job interrupted by shutdown; returning it to the queue");
    } else if (fail_job(run->lane, &run->job, (protocol_error)end, run->err)) {
        remove_checkpoint(run);
    }
}

void send_to_dead(lane *l, const queue_job *job, job_status parsed, const job_error *jerr)
{
    char err[512];
    const char *code = protocol_error_name(parsed == JOB_INVALID_JSON ? PROTOCOL_INVALID_JSON : PROTOCOL_INVALID_JOB);
    const char *why = parsed == JOB_OK ? "the payload has no valid id" : jerr->message;
    log_kv(LOG_WARN, "not a job: sent to the dead list", LOG_STR("error", code), LOG_STR("detail", why));
    int rc;
    LANE_CALL(l, rc, queue_dead_payload(l->q, job, code, why, err, sizeof err));
    if (rc == 0) count_outcome(l->w, JEN1_OUTCOME_FAILED);
}

int report_stage(job_run *run, enum jen1_stage id, double progress)
{
    lane *l = run->lane;
    bool stop = false;
    char err[256];
    int rc;
    LANE_CALL(l, rc, queue_progress(l->q, &run->job, progress, jen1_stage_name(id), &stop, err, sizeof err));
    if (rc == 0 && stop) run->cancelled = 1;
    if (!run->cancelled) return 0;
    end_job(run, PROTOCOL_CANCELLED);
    return -1;
}

int run_stage(job_run *run, const stage *st, double *seconds)
{
    if (st->progress > 0 && report_stage(run, st->id, st->progress) != 0) return -1;
    double t = clock_monotonic_s();
    stage_end end = st->run(run);
    double elapsed = clock_monotonic_s() - t;
    metrics_observe(run->w->metrics->registry, run->w->metrics->stage_duration[st->id], elapsed);
    if (seconds) *seconds = elapsed;
    if (end == PROTOCOL_OK) return 0;
    end_job(run, end);
    return -1;
}

int job_should_stop(void *user)
{
    job_run *run = user;
    if (run->cancelled || worker_stopping_now(run->w)) return 1;
    if (clock_monotonic_s() > run->deadline) {
        run->timed_out = 1;
        return 1;
    }
    return 0;
}
