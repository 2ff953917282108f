/* decode_loop.c - the decode thread: the worker's batch. Between decoder
 * steps it joins the jobs the intake has planned while a slot is free (each
 * resumed from its checkpoint when an earlier attempt left one), then steps
 * every song in the batch by one decoder pass, and hands each finished song
 * to the finisher (on a CPU once its EnCodec is done here, a chunk between
 * steps). A job that is cancelled, times out or fails leaves the batch
 * alone; the others go on. With a language model it also runs the
 * planners' model calls, a turn between steps (writer_turn): the two
 * models share the cores as one OpenMP team, and the words of jobs planned
 * at once are decoded together.
 *
 * The engine calls back on this thread, for each job: progress (to Redis
 * at most every 250 ms, where a cancel is learnt), each window of a long
 * song (a checkpoint to the blob store), and before each step whether to
 * stop (job_should_stop). None of them retries Redis in a loop: a missed
 * report costs nothing, a stalled loop costs every job in the batch. */
#include <stdio.h>
#include <string.h>

#include "job_run.h"
#include "log.h"
#include "reconnect.h"
#include "song_codes.h"
#include "util.h"

/* ---- Engine callbacks ----------------------------------------------------------- */

static void on_progress(float done, void *user)
{
    job_run *run = user;
    double t = clock_monotonic_s();
    if (done < 1.0f && t - run->last_report < 0.25) return;
    run->last_report = t;
    bool stop = false;
    char err[256];
    log_set_job(run->job.id);
    if (queue_progress(run->lane->q, &run->job, 0.05 + 0.85 * done, "generating", &stop, err, sizeof err) == 0 &&
        stop)
        run->cancelled = 1;
    log_set_job(NULL);
}

/* After each window of a song of several: the codes so far go to the blob
 * store (whole), then Redis learns of the progress. Neither failing stops
 * the song: a missed checkpoint only means a crash would cost more. */
static void on_window(const engine_window *win, const int64_t *codes, int n_codebooks, int n_frames, void *user)
{
    job_run *run = user;
    if (run->n_windows < 2) return;
    log_set_job(run->job.id);
    char key[BLOB_KEY_MAX + 1], err[512];
    song_codes_key(run->job.id, SONG_CODES_CHECKPOINT, key);
    run->has_checkpoint = true;
    blob_status bs = song_codes_put(run->lane->blobs, key, codes, n_codebooks, n_frames, NULL, 0, err, sizeof err);
    if (bs != BLOB_OK) {
        log_kv(LOG_WARN, "checkpoint not written", LOG_INT("window", win->index), LOG_STR("error", err));
    } else {
        bool stop = false;
        if (queue_checkpoint(run->lane->q, &run->job, n_frames, &stop, err, sizeof err) == 0 && stop)
            run->cancelled = 1;
        log_kv(LOG_DEBUG, "checkpoint written", LOG_INT("window", win->index), LOG_INT("frames", n_frames));
    }
    log_set_job(NULL);
}

/* ---- Joining ---------------------------------------------------------------------- */

/* The engine's statuses as stage ends. An abort is whoever asked for it: a
 * cancel, the time limit, or the worker stopping. */
static stage_end engine_end(const job_run *run, engine_status es)
{
    switch (es) {
    case ENGINE_OK: return PROTOCOL_OK;
    case ENGINE_ABORTED: return run->cancelled ? PROTOCOL_CANCELLED : run->timed_out ? PROTOCOL_TIMEOUT : STAGE_LEFT;
    case ENGINE_TOO_LONG: return PROTOCOL_TOO_LONG;
    case ENGINE_INVALID: return PROTOCOL_INVALID_JOB;
    case ENGINE_FAILED: break;
    }
    return PROTOCOL_ENGINE_ERROR;
}

/* The checkpoint an earlier attempt of this job left, when the take script
 * says there is one and it fits this song: the engine then resumes after
 * it. Anything wrong with it is logged and the song starts over: a
 * checkpoint never fails a job. */
static void load_checkpoint(job_run *run, engine_request *er)
{
    if (run->job.checkpoint_frames <= 0) return;
    run->has_checkpoint = true;
    char key[BLOB_KEY_MAX + 1], why[512];
    song_codes_key(run->job.id, SONG_CODES_CHECKPOINT, key);
    npy_array *c = &run->resume;
    blob_status bs = song_codes_get(run->lane->blobs, key, c, why, sizeof why);
    if (bs == BLOB_OK && engine_check_resume(run->w->engine, er, c->data, (int)c->shape[0], (int)c->shape[1], why,
                                             sizeof why) == 0) {
        er->resume_codes = c->data;
        er->n_resume_frames = (int)c->shape[1];
        log_kv(LOG_INFO, "resuming from a checkpoint", LOG_INT("frames", c->shape[1]));
        return;
    }
    if (bs == BLOB_NOT_FOUND) snprintf(why, sizeof why, "%s is missing", key);
    log_kv(LOG_WARN, "checkpoint not used: the song starts over", LOG_STR("detail", why));
    npy_free(c);
}

/* A job that ends here, not in the finisher. */
static void end_here(job_run *run, stage_end end)
{
    end_job(run, end);
    worker_hand_free(run->w, run);
}

/* Returns the job's slot, or -1 when it ended instead (the run is freed then). */
static int join(lane *l, engine_batch *batch, job_run *run)
{
    worker *w = l->w;
    lane_hold(l, run);
    if (worker_stopping_now(w)) {
        end_here(run, STAGE_LEFT);
        return -1;
    }
    if (report_stage(run, JEN1_STAGE_GENERATING, 0.05) != 0) {
        worker_hand_free(w, run);
        return -1;
    }
    const song_plan *plan = &run->plan;
    for (int i = 0; i < plan->n_sections; i++)
        run->sections[i] = (engine_section){.start = plan_seconds(plan->sections[i].start_ms),
                                            .prompt = plan->sections[i].prompt};
    engine_request er = {.prompt = plan->model_prompt, .sections = run->sections, .n_sections = plan->n_sections,
                         .duration = run->req.duration, .seed = run->req.seed, .sampling = run->req.sampling,
                         .progress = on_progress, .should_stop = job_should_stop, .on_window = on_window,
                         .user = run};
    run->n_windows = engine_count_windows(w->engine, &er);
    load_checkpoint(run, &er);
    run->generating_since = clock_monotonic_s();
    engine_status es = engine_batch_join(batch, &er, &run->batch_slot, run->err, sizeof run->err);
    if (es == ENGINE_INVALID && er.resume_codes) {
        /* The engine refused what engine_check_resume let through: still not the job's fault. */
        log_kv(LOG_WARN, "checkpoint not used: the song starts over", LOG_STR("detail", run->err));
        er.resume_codes = NULL;
        er.n_resume_frames = 0;
        es = engine_batch_join(batch, &er, &run->batch_slot, run->err, sizeof run->err);
    }
    npy_free(&run->resume); /* read at join: the engine keeps its own copy */
    if (es != ENGINE_OK) {
        end_here(run, engine_end(run, es));
        log_set_job(NULL);
        return -1;
    }
    log_kv(LOG_DEBUG, "joined the batch", LOG_INT("slot", run->batch_slot));
    log_set_job(NULL);
    return run->batch_slot;
}

/* ---- Leaving ---------------------------------------------------------------------- */

/* On a CPU EnCodec runs on this thread (engine_audio_with_batch), a chunk
 * between steps, songs in the order they finished: a 5-minute song decoded
 * at once would hold its batch-mates' steps for 30-50 s; a chunk holds them
 * for 5 s of audio's worth (~0.5-0.8 s for musicgen-small on 2 cores). Every
 * job here is in hand (at most twice JEN1_BATCH). */
#define AUDIO_LINE_MAX (2 * 64)

typedef struct audio_line {
    job_run *runs[AUDIO_LINE_MAX];
    int n;
} audio_line;

/* An abort that was the job's time limit says so in the job's error. */
static void explain_timeout(const worker *w, job_run *run, engine_status es)
{
    if (es == ENGINE_ABORTED && run->timed_out)
        snprintf(run->err, sizeof run->err, "the job ran past its %d s time limit and was stopped",
                 w->cfg->job_timeout_s);
}

/* The song is out of the engine: on to the finisher. */
static void hand_on(worker *w, job_run *run)
{
    run->timings.text_s = run->audio.seconds_text;
    run->timings.decoder_s = run->audio.seconds_decoder;
    handoff_push(&w->to_finish, run);
}

static void leave(lane *l, engine_batch *batch, job_run **slots, int slot, audio_line *audio)
{
    job_run *run = slots[slot];
    worker *w = l->w;
    slots[slot] = NULL;
    lane_hold(l, run);
    engine_status es = engine_batch_leave(batch, slot, &run->audio, run->err, sizeof run->err);
    run->batch_slot = -1;
    double elapsed = clock_monotonic_s() - run->generating_since;
    metrics_observe(w->metrics->registry, w->metrics->stage_duration[JEN1_STAGE_GENERATING], elapsed);
    explain_timeout(w, run, es);
    if (es != ENGINE_OK) {
        end_here(run, engine_end(run, es));
    } else {
        worker_leave_batch(w, run); /* its slot is free for the next job, EnCodec or not */
        if (!engine_audio_with_batch(w->engine)) /* a GPU: EnCodec in the finisher */
            hand_on(w, run);
        else if (audio->n < AUDIO_LINE_MAX)
            audio->runs[audio->n++] = run;
        else if (engine_result_decode_audio(w->engine, &run->audio, run->err, sizeof run->err) == ENGINE_OK)
            hand_on(w, run); /* a full line, which jobs in hand (<= 2 x 64) cannot make: at once */
        else
            end_here(run, engine_end(run, ENGINE_FAILED));
    }
    log_set_job(NULL);
}

/* One chunk of the first song's audio; the song goes on to the finisher
 * once its last chunk is done, or ends here when EnCodec fails or the job
 * must stop (a cancel, its time limit, the worker stopping now). */
static void decode_audio_chunk(worker *w, audio_line *audio)
{
    job_run *run = audio->runs[0];
    log_set_job(run->job.id);
    bool done = false;
    engine_status es = job_should_stop(run)
                           ? ENGINE_ABORTED
                           : engine_result_decode_audio_step(w->engine, &run->audio, &done, run->err, sizeof run->err);
    explain_timeout(w, run, es);
    if (es != ENGINE_OK || done) {
        memmove(audio->runs, audio->runs + 1, sizeof *audio->runs * (size_t)--audio->n);
        if (es != ENGINE_OK) end_here(run, engine_end(run, es));
        else hand_on(w, run);
    }
    log_set_job(NULL);
}

/* ---- The loop ---------------------------------------------------------------------- */

/* Steps per second, over the last second or so, for /metrics. */
typedef struct step_rate {
    double since;
    long steps;
} step_rate;

static void count_step(worker *w, step_rate *rate)
{
    double now = clock_monotonic_s();
    rate->steps++;
    metrics_add(w->metrics->registry, w->metrics->decode_steps, 1);
    if (now - rate->since >= 1.0) {
        metrics_set(w->metrics->registry, w->metrics->decode_steps_per_second, rate->steps / (now - rate->since));
        rate->since = now;
        rate->steps = 0;
    }
}

static int free_slot(job_run *const *slots, int n)
{
    for (int i = 0; i < n; i++)
        if (!slots[i]) return i;
    return -1;
}

void decode_loop(lane *l, engine_batch *batch)
{
    worker *w = l->w;
    char err[1024];
    job_run *slots[64] = {0}; /* the job in each slot of the batch */
    metrics_set(w->metrics->registry, w->metrics->batch_slots, w->batch);
    step_rate rate = {.since = clock_monotonic_s()};
    /* The callbacks' Redis calls never reconnect (they must not stall the
     * batch): the loop does, now and then, so that progress and cancels flow
     * again after Redis went away without waiting for a job to join or fail. */
    reconnect_pacer pacer = {0};
    audio_line audio = {.n = 0};
    int text_busy = 0; /* the writer's calls wait or run (writer_turn) */
    for (;;) {
        reconnect_paced(l->q, l->name, &pacer);
        /* Join what is planned while a slot is free; wait for work only when idle. */
        int running = engine_batch_running(batch);
        while (free_slot(slots, w->batch) >= 0) {
            job_run *run = handoff_pop(&w->to_decode, running > 0 || audio.n > 0 || text_busy ? 0 : 100);
            if (!run) break;
            int slot = join(l, batch, run);
            if (slot >= 0) slots[slot] = run;
            running = engine_batch_running(batch);
        }
        metrics_set(w->metrics->registry, w->metrics->batch_occupancy, running);
        if (running > 0) {
            if (engine_batch_step(batch, err, sizeof err) != ENGINE_OK)
                log_kv(LOG_ERROR, "a decoder step failed: the jobs in it end", LOG_STR("error", err));
            count_step(w, &rate);
        }
        for (int i = 0; i < w->batch; i++)
            if (slots[i] && engine_batch_done(batch, i) == 1) leave(l, batch, slots, i, &audio);
        if (audio.n > 0) decode_audio_chunk(w, &audio);
        /* The language model's turn: a planner's call started, or one step
         * of the jobs' words (one OpenMP team for both models). */
        if (w->writer) {
            int rows = 0;
            text_busy = writer_turn(w->writer, &rows);
            if (rows > 0) {
                metrics_add(w->metrics->registry, w->metrics->text_steps, 1);
                metrics_add(w->metrics->registry, w->metrics->text_step_rows, rows);
            }
        }
        if (engine_batch_running(batch) == 0 && audio.n == 0 && !text_busy && atomic_load(&w->intake_done) &&
            handoff_count(&w->to_decode) == 0)
            break;
    }
    metrics_set(w->metrics->registry, w->metrics->batch_occupancy, 0);
    metrics_set(w->metrics->registry, w->metrics->decode_steps_per_second, 0);
    atomic_store(&w->decode_done, true);
}
