/* worker.c - one worker process and the life of a job.
 *
 * A job reads top to bottom in run_job():
 *
 *   queue_reserve (takes and starts it) -> job_parse -> the stages, each one
 *   reported, timed and observed by run_stage():
 *     planning (plan_song) -> generating (engine_render of the plan's
 *     sections, window by window, resumed from the job's checkpoint when an
 *     earlier attempt left one; progress -> queue_progress, each window ->
 *     a checkpoint and queue_checkpoint, abort <- cancel, timeout, shutdown)
 *     -> encoding (loudness_normalise, audio_encode) -> uploading (blob_put: the audio and the
 *     song's codes); a words-only job ("audio": false) skips from planning to the end
 *   -> song_to_string -> queue_finish
 *
 * A stage that does not succeed ends the job in one place (end_job), with a
 * code of the protocol's vocabulary; whether a failure is retried is that
 * code's kind (protocol_error_transient), never a flag chosen at the call.
 *
 * The payload sits in this worker's in-flight list in Redis from reserve to
 * finish, so a crash anywhere loses nothing: the reaper gives it to another
 * worker. The heartbeat thread (heartbeat.h) keeps this worker alive in
 * Redis's eyes whatever the job loop is doing.
 *
 * Redis going away is survived: every queue call that fails for lack of
 * Redis is retried after a reconnect with backoff, and the job at hand
 * carries on from where it was. */
#include "worker.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "audio.h"
#include "blob.h"
#include "engine.h"
#include "engine_writer.h"
#include "heartbeat.h"
#include "job.h"
#include "log.h"
#include "loudness.h"
#include "lyrics.h"
#include "planner.h"
#include "protocol.h"
#include "queue.h"
#include "reconnect.h"
#include "song.h"
#include "song_codes.h"
#include "util.h"

/* Set from signal handlers. */
static volatile sig_atomic_t stop_taking; /* SIGTERM: no new jobs */
static volatile sig_atomic_t stop_now;    /* SIGUSR1, or the grace period is over */

typedef struct worker {
    const struct jen1_config *cfg;
    unsigned slot;
    struct jen1_metrics *metrics;
    struct pool_status *status;
    engine *engine;
    writer *writer;             /* the language model writing the words, or NULL: the rules */
    char writer_missing[512];   /* why there is none (for /ready) */
    blob_store *blobs;
    queue *q;
    heartbeat *heartbeat;
    char id[QUEUE_WORKER_ID_MAX + 1]; /* the pool's id and the slot: stable across restarts */
    job_limits limits;
    double stop_deadline;       /* when SIGTERM's grace period ends */
    atomic_int in_job;          /* inside run_job: what the grace period is for */
} worker;

/* A job in hand, from stage to stage. Large (the plan): the caller's. */
typedef struct job_run {
    worker *w;
    const queue_job *job;
    job_request req;
    song_plan plan;
    engine_section sections[PLAN_MAX_SECTIONS]; /* the plan's, for the engine */
    npy_array resume;           /* the checkpoint this attempt resumed from */
    bool has_checkpoint;        /* the job may have a checkpoint object: remove it when the job ends */
    int n_windows;              /* the song's windows: one needs no checkpoint */
    engine_result audio;
    int normalised;             /* loudness holds what normalisation did */
    loudness_report loudness;
    unsigned char *encoded;
    size_t encoded_len;
    char url[BLOB_URL_MAX];
    char codes_url[BLOB_URL_MAX];
    song_timings timings;
    double started;
    double deadline;            /* JEN1_JOB_TIMEOUT */
    double last_report;
    int cancelled;              /* someone asked to cancel (or it ended elsewhere) */
    int timed_out;
    char err[1024];             /* why the last stage did not succeed */
} job_run;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !stop_now) {}
}

static void on_sigterm(int sig) { (void)sig; stop_taking = 1; }
static void on_sigusr1(int sig) { (void)sig; stop_taking = stop_now = 1; }

/* After SIGTERM, the job at hand may run for the grace period; with no job in
 * hand (say, waiting for Redis to come back) there is nothing to wait for. */
static bool should_stop_now(void *arg)
{
    worker *w = arg;
    if (stop_now) return true;
    if (!stop_taking) return false;
    if (!atomic_load(&w->in_job)) return true;
    if (w->stop_deadline == 0) w->stop_deadline = clock_monotonic_s() + w->cfg->grace_s;
    return clock_monotonic_s() >= w->stop_deadline;
}

/* ---- Redis, survived -------------------------------------------------------- */

static int reconnect(worker *w)
{
    return reconnect_with_backoff(w->q, "worker", should_stop_now, w);
}

/* Runs a queue call into rc; while it fails because Redis is away,
 * reconnects and runs it again. */
#define REDIS_CALL(w, rc, call)                                                         \
    do {                                                                                \
        while (((rc) = (call)) < 0 && queue_unavailable((w)->q) && reconnect(w) == 0) {} \
    } while (0)

static void set_current_job(worker *w, const char *id)
{
    heartbeat_set_job(w->heartbeat, id);
    log_set_job(id);
}

static void count_outcome(worker *w, enum jen1_outcome outcome)
{
    metrics_add(w->metrics->registry, w->metrics->jobs[outcome], 1);
}

/* ---- How a job ends ------------------------------------------------------------ */

/* How a stage ended: PROTOCOL_OK (go on), PROTOCOL_CANCELLED (the job ends
 * cancelled), another code (the job fails with it), or STAGE_LEFT: the worker
 * is stopping, and the payload goes back to the queue with the rest of its
 * in-flight list. */
typedef int stage_end;
enum { STAGE_LEFT = PROTOCOL_N_CODES };

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

/* The blob store's statuses as stage ends. */
static stage_end blob_end(blob_status bs)
{
    return bs == BLOB_OK ? PROTOCOL_OK : bs == BLOB_UNAVAILABLE ? PROTOCOL_BLOB_UNAVAILABLE : PROTOCOL_BLOB_REJECTED;
}

/* Ends the attempt with an error; transient codes are retried by the queue.
 * Returns whether the job ended for good: failed at once, or ended
 * elsewhere (not waiting for a retry, nor in the dead list for one). */
static bool fail_job(worker *w, const queue_job *job, protocol_error code, const char *message)
{
    char err[512];
    const char *name = protocol_error_name(code);
    bool transient = protocol_error_transient(code);
    queue_fail_outcome outcome = QUEUE_FAIL_FAILED;
    log_kv(transient ? LOG_WARN : LOG_ERROR, "job failed", LOG_STR("error", name), LOG_STR("detail", message),
           LOG_BOOL("transient", transient));
    int rc;
    REDIS_CALL(w, rc, queue_fail(w->q, job, name, message, transient, &outcome, err, sizeof err));
    if (rc != 0) {
        log_kv(LOG_ERROR, "could not record the failure", LOG_STR("error", err));
        return false;
    }
    count_outcome(w, outcome == QUEUE_FAIL_RETRY ? JEN1_OUTCOME_RETRIED : JEN1_OUTCOME_FAILED);
    return outcome == QUEUE_FAIL_FAILED || outcome == QUEUE_FAIL_ENDED;
}

static void end_cancelled(worker *w, const queue_job *job)
{
    char err[512];
    log_info("job cancelled");
    int rc;
    REDIS_CALL(w, rc, queue_cancelled(w->q, job, err, sizeof err));
    if (rc == 0) count_outcome(w, JEN1_OUTCOME_CANCELLED);
}

/* A job that has ended needs its checkpoint no more. A failed removal
 * leaves an object no attempt will read (a new job of the same id ignores it). */
static void remove_checkpoint(job_run *run)
{
    if (!run->has_checkpoint) return;
    char key[BLOB_KEY_MAX + 1], err[512];
    song_codes_key(run->job->id, SONG_CODES_CHECKPOINT, key);
    if (blob_delete(run->w->blobs, key, err, sizeof err) != BLOB_OK)
        log_kv(LOG_WARN, "could not remove the checkpoint", LOG_STR("error", err));
}

/* Ends the job as a stage that did not succeed says. The checkpoint stays
 * for a retry, another worker, or jen1ctl retry of a dead job. */
static void end_job(job_run *run, stage_end end)
{
    if (end == PROTOCOL_CANCELLED) {
        end_cancelled(run->w, run->job);
        remove_checkpoint(run);
    } else if (end == STAGE_LEFT) {
        log_info("job interrupted by shutdown; returning it to the queue");
    } else if (fail_job(run->w, run->job, (protocol_error)end, run->err)) {
        remove_checkpoint(run);
    }
}

/* A payload that is no job (no JSON object with a valid id): to the dead list, raw. */
static void send_to_dead(worker *w, const queue_job *job, job_status parsed, const job_error *jerr)
{
    char err[512];
    const char *code = protocol_error_name(parsed == JOB_INVALID_JSON ? PROTOCOL_INVALID_JSON : PROTOCOL_INVALID_JOB);
    const char *why = parsed == JOB_OK ? "the payload has no valid id" : jerr->message;
    log_kv(LOG_WARN, "not a job: sent to the dead list", LOG_STR("error", code), LOG_STR("detail", why));
    int rc;
    REDIS_CALL(w, rc, queue_dead_payload(w->q, job, code, why, err, sizeof err));
    if (rc == 0) count_outcome(w, JEN1_OUTCOME_FAILED);
}

/* ---- Engine callbacks ------------------------------------------------------- */

/* Reports progress at most every 250 ms; learns about cancels from the reply. */
static void on_progress(float done, void *user)
{
    job_run *run = user;
    double t = clock_monotonic_s();
    if (done < 1.0f && t - run->last_report < 0.25) return;
    run->last_report = t;
    bool stop = false;
    char err[256];
    /* Not REDIS_CALL: a missed progress report is harmless; the engine must
     * not stall on a reconnect loop here. */
    if (queue_progress(run->w->q, run->job, 0.05 + 0.85 * done, "generating", &stop, err, sizeof err) == 0) {
        if (stop) run->cancelled = 1;
    }
}

/* After each window of a song of several: the codes so far go to the blob
 * store (whole), then Redis learns of the progress. Neither failing stops
 * the song: a missed checkpoint only means a crash would cost more. */
static void on_window(const engine_window *win, const int64_t *codes, int n_codebooks, int n_frames, void *user)
{
    job_run *run = user;
    if (run->n_windows < 2) return;
    char key[BLOB_KEY_MAX + 1], err[512];
    song_codes_key(run->job->id, SONG_CODES_CHECKPOINT, key);
    run->has_checkpoint = true;
    blob_status bs = song_codes_put(run->w->blobs, key, codes, n_codebooks, n_frames, NULL, 0, err, sizeof err);
    if (bs != BLOB_OK) {
        log_kv(LOG_WARN, "checkpoint not written", LOG_INT("window", win->index), LOG_STR("error", err));
        return;
    }
    bool stop = false;
    /* Not REDIS_CALL, as for progress: the engine must not stall here. */
    if (queue_checkpoint(run->w->q, run->job, n_frames, &stop, err, sizeof err) == 0 && stop) run->cancelled = 1;
    log_kv(LOG_DEBUG, "checkpoint written", LOG_INT("window", win->index), LOG_INT("frames", n_frames));
}

static int on_should_stop(void *user)
{
    job_run *run = user;
    if (run->cancelled || should_stop_now(run->w)) return 1;
    if (clock_monotonic_s() > run->deadline) {
        run->timed_out = 1;
        return 1;
    }
    return 0;
}

/* ---- The stages ------------------------------------------------------------- */

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
    lyric_source src = writer_source(run->w->writer, run->req.seed, on_should_stop, run, &wj);
    int planned = plan_song(&run->req, &src, &run->plan, run->err, sizeof run->err);
    writer_job_end(&wj);
    if (planned != 0) return PROTOCOL_INVALID_JOB;
    log_kv(LOG_INFO, "words written", LOG_STR("model", writer_model_name(run->w->writer)),
           LOG_INT("generations", wj.generations), LOG_INT("tokens", wj.tokens), LOG_INT("failures", wj.failures),
           LOG_INT("fields", run->plan.words_fields), LOG_INT("fields_from_rules", run->plan.words_from_rules),
           LOG_NUM("seconds", wj.seconds));
    return PROTOCOL_OK;
}

/* The checkpoint an earlier attempt of this job left, when the take script
 * says there is one and it fits this song: the engine then resumes after
 * it. Anything wrong with it is logged and the song starts over: a
 * checkpoint never fails a job. */
static void load_checkpoint(job_run *run, engine_request *er)
{
    if (run->job->checkpoint_frames <= 0) return;
    run->has_checkpoint = true;
    char key[BLOB_KEY_MAX + 1], why[512];
    song_codes_key(run->job->id, SONG_CODES_CHECKPOINT, key);
    npy_array *c = &run->resume;
    blob_status bs = song_codes_get(run->w->blobs, key, c, why, sizeof why);
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

static stage_end stage_generating(job_run *run)
{
    const song_plan *plan = &run->plan;
    for (int i = 0; i < plan->n_sections; i++)
        run->sections[i] = (engine_section){.start = plan_seconds(plan->sections[i].start_ms),
                                            .prompt = plan->sections[i].prompt};
    engine_request er = {.prompt = plan->model_prompt, .sections = run->sections, .n_sections = plan->n_sections,
                         .duration = run->req.duration, .seed = run->req.seed, .sampling = run->req.sampling,
                         .progress = on_progress, .should_stop = on_should_stop, .on_window = on_window,
                         .user = run};
    run->n_windows = engine_count_windows(run->w->engine, &er);
    load_checkpoint(run, &er);
    engine_status es = engine_render(run->w->engine, &er, &run->audio, run->err, sizeof run->err);
    if (es == ENGINE_INVALID && er.resume_codes) {
        /* The engine refused what engine_check_resume let through: still not the job's fault. */
        log_kv(LOG_WARN, "checkpoint not used: the song starts over", LOG_STR("detail", run->err));
        er.resume_codes = NULL;
        er.n_resume_frames = 0;
        es = engine_render(run->w->engine, &er, &run->audio, run->err, sizeof run->err);
    }
    if (es == ENGINE_ABORTED && run->timed_out)
        snprintf(run->err, sizeof run->err, "the job ran past its %d s time limit and was stopped",
                 run->w->cfg->job_timeout_s);
    run->timings.text_s = run->audio.seconds_text;
    run->timings.decoder_s = run->audio.seconds_decoder;
    run->timings.audio_s = run->audio.seconds_audio;
    return engine_end(run, es);
}

static stage_end stage_encoding(job_run *run)
{
    engine_result *a = &run->audio;
    double lufs;
    run->normalised = job_loudness_target(&run->req, run->w->cfg->loudness_lufs, &lufs);
    if (run->normalised && loudness_normalise(a->audio, a->n_samples, a->sample_rate, lufs, &run->loudness, run->err,
                                              sizeof run->err) != 0)
        return PROTOCOL_ENGINE_ERROR;
    if (audio_encode(a->audio, a->n_samples, a->sample_rate, run->req.format, &run->encoded, &run->encoded_len,
                     run->err, sizeof run->err) != 0)
        return PROTOCOL_ENGINE_ERROR;
    return PROTOCOL_OK;
}

/* The objects' names are the job's, so every attempt writes the same ones:
 * the audio, then the song's codes. */
static stage_end stage_uploading(job_run *run)
{
    char key[BLOB_KEY_MAX + 1];
    audio_format format = run->req.format;
    snprintf(key, sizeof key, "%s.%s", run->job->id, audio_format_name(format));
    stage_end end = blob_end(blob_put(run->w->blobs, key, run->encoded, run->encoded_len, audio_format_mime(format),
                                      run->url, sizeof run->url, run->err, sizeof run->err));
    if (end != PROTOCOL_OK) return end;
    const engine_result *a = &run->audio;
    song_codes_key(run->job->id, SONG_CODES_FINAL, key);
    return blob_end(song_codes_put(run->w->blobs, key, a->codes, a->n_codebooks, a->n_frames, run->codes_url,
                                   sizeof run->codes_url, run->err, sizeof run->err));
}

typedef struct stage {
    enum jen1_stage id;         /* its histogram, and its name in the job hash */
    double progress;            /* reported as it begins; 0: not reported (the
                                   take script began the job in "planning") */
    stage_end (*run)(job_run *run);
} stage;

static const stage kPlanning = {JEN1_STAGE_PLANNING, 0, stage_planning};
static const stage kGenerating = {JEN1_STAGE_GENERATING, 0.05, stage_generating};
static const stage kEncoding = {JEN1_STAGE_ENCODING, 0.92, stage_encoding};
static const stage kUploading = {JEN1_STAGE_UPLOADING, 0.95, stage_uploading};

/* Runs one stage: tells Redis it begins (a cancel learnt there ends the job),
 * times it into *seconds (when not NULL) and its histogram, and ends the job
 * when it does not succeed. Returns 0 to go on, -1 when the job has ended. */
static int run_stage(job_run *run, const stage *st, double *seconds)
{
    worker *w = run->w;
    if (st->progress > 0) {
        bool stop = false;
        char err[256];
        int rc;
        REDIS_CALL(w, rc, queue_progress(w->q, run->job, st->progress, jen1_stage_name(st->id), &stop, err,
                                         sizeof err));
        if (rc == 0 && stop) run->cancelled = 1;
        if (run->cancelled) {
            end_job(run, PROTOCOL_CANCELLED);
            return -1;
        }
    }
    double t = clock_monotonic_s();
    stage_end end = st->run(run);
    double elapsed = clock_monotonic_s() - t;
    metrics_observe(w->metrics->registry, w->metrics->stage_duration[st->id], elapsed);
    if (seconds) *seconds = elapsed;
    if (end == PROTOCOL_OK) return 0;
    end_job(run, end);
    return -1;
}

/* What the engine rendered, as the GeneratedSong reports it: the windows
 * in seconds (into windows, the engine's count of them), and the codes. */
static song_render rendered(const job_run *run, song_window *windows)
{
    const engine_result *a = &run->audio;
    double rate = a->frame_rate;
    for (int i = 0; i < a->n_windows; i++) {
        const engine_window *w = &a->windows[i];
        windows[i] = (song_window){.start = w->start_frame / rate, .end = w->end_frame / rate,
                                   .context = w->context_frames / rate, .section = w->section};
    }
    return (song_render){.windows = windows, .n_windows = a->n_windows, .codes_url = run->codes_url,
                         .n_codebooks = a->n_codebooks, .n_frames = a->n_frames, .frame_rate = a->frame_rate};
}

/* The song, and the end of the job. A words-only job ("audio": false) has
 * no render and no audio: its sampling is what a render would use. */
static void finish(job_run *run)
{
    worker *w = run->w;
    const engine_result *a = &run->audio;
    bool audio = run->req.audio;
    song_audio sa = {0};
    song_render sr = {0};
    song_window *windows = NULL;
    if (audio) {
        sa = (song_audio){.url = run->url, .format = run->req.format, .sample_rate = a->sample_rate, .channels = 1,
                          .duration = (double)a->n_samples / a->sample_rate, .bytes = run->encoded_len,
                          .loudness = run->normalised ? &run->loudness : NULL};
        sha256_hex(run->encoded, run->encoded_len, sa.sha256);
        windows = calloc((size_t)(a->n_windows > 0 ? a->n_windows : 1), sizeof *windows);
        if (!windows) {
            snprintf(run->err, sizeof run->err, "out of memory for the song's windows");
            end_job(run, PROTOCOL_ENGINE_ERROR);
            return;
        }
        sr = rendered(run, windows);
    }
    song_model sm = {.name = engine_model_name(w->engine), .seed = run->req.seed,
                     .sampling = audio ? a->sampling : engine_sampling(w->engine, &run->req.sampling),
                     .device = engine_device(w->engine)};
    run->timings.total_s = clock_monotonic_s() - run->started;
    char *song = song_to_string(&run->plan, audio ? &sr : NULL, audio ? &sa : NULL, &sm, &run->timings,
                                clock_unix_ms(), 0, run->err, sizeof run->err);
    free(windows);
    if (!song) {
        end_job(run, PROTOCOL_ENGINE_ERROR);
        return;
    }
    bool written = false;
    char err[512];
    int rc;
    REDIS_CALL(w, rc, queue_finish(w->q, run->job, song, audio ? run->url : NULL, &written, err, sizeof err));
    if (rc == 0) {
        log_kv(LOG_INFO, "job succeeded", LOG_STR("audio_url", run->url), LOG_BOOL("audio", audio),
               LOG_NUM("seconds", run->timings.total_s), LOG_BOOL("first_result", written));
        count_outcome(w, JEN1_OUTCOME_SUCCEEDED);
        if (audio) metrics_add(w->metrics->registry, w->metrics->audio_seconds, sa.duration);
        metrics_observe(w->metrics->registry, w->metrics->job_duration, run->timings.total_s);
        remove_checkpoint(run);
    } else {
        log_kv(LOG_ERROR, "could not record the result", LOG_STR("error", err));
    }
    free(song);
}

/* ---- One job ---------------------------------------------------------------- */

static void run_job(worker *w, queue_job *job, job_run *run)
{
    /* The take script already decided whether this payload is ours to run. */
    if (job->decision == QUEUE_TAKE_ENDED || job->decision == QUEUE_TAKE_LOST) return;
    if (job->decision == QUEUE_TAKE_DUPLICATE) {
        log_kv(LOG_WARN, "a payload reused another job's id: dead-lettered as duplicate_id",
               LOG_STR("id", job->id));
        return;
    }
    if (job->decision == QUEUE_TAKE_CANCELLED) {
        count_outcome(w, JEN1_OUTCOME_CANCELLED);
        return;
    }
    memset(run, 0, sizeof *run);
    run->w = w;
    run->job = job;
    run->started = clock_monotonic_s();
    run->deadline = run->started + w->cfg->job_timeout_s;
    job_error jerr;
    job_status parsed = job_parse(job->payload, job->payload_len, &w->limits, &run->req, &jerr);
    if (job->decision == QUEUE_TAKE_NOT_A_JOB) {
        if (parsed == JOB_OK) job_request_free(&run->req);
        send_to_dead(w, job, parsed, &jerr);
        return;
    }
    set_current_job(w, job->id);
    if (parsed != JOB_OK) {
        fail_job(w, job, (protocol_error)parsed, jerr.message); /* job_status is protocol_error's subset */
        set_current_job(w, NULL);
        return;
    }
    log_kv(LOG_INFO, "job started", LOG_INT("attempt", job->attempts), LOG_NUM("duration", run->req.duration));
    metrics_add(w->metrics->registry, w->metrics->inflight, 1);

    /* A words-only job ends after planning: no engine render, no blob store. */
    if (run_stage(run, &kPlanning, &run->timings.plan_s) == 0 &&
        (!run->req.audio ||
         (run_stage(run, &kGenerating, NULL) == 0 && run_stage(run, &kEncoding, &run->timings.encode_s) == 0 &&
          run_stage(run, &kUploading, &run->timings.upload_s) == 0)))
        finish(run);

    metrics_add(w->metrics->registry, w->metrics->inflight, -1);
    free(run->encoded);
    engine_result_free(&run->audio);
    npy_free(&run->resume);
    job_request_free(&run->req);
    set_current_job(w, NULL);
}

/* ---- The process -------------------------------------------------------------- */

static void install_signals(void)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_sigterm;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_sigusr1;
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    /* The supervisor gone (even by kill -9) means stop at once: a worker
     * never outlives its pool. */
    prctl(PR_SET_PDEATHSIG, SIGUSR1);
}

/* The text model as /ready and /debug/torch describe it. */
static json_t *text_model_json(const worker *w)
{
    if (!w->writer) return json_pack("{s:b, s:s}", "loaded", 0, "reason", w->writer_missing);
    return json_pack("{s:b, s:s, s:s}", "loaded", 1, "name", writer_model_name(w->writer), "device",
                     writer_device(w->writer));
}

static void publish_json(worker *w, json_t *doc, void (*set)(struct pool_status *, unsigned, const char *))
{
    char *s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    set(w->status, w->slot, s ? s : "{}");
    free(s);
    json_decref(doc);
}

/* /debug/torch: the engine's runtime with the text model; /ready: the models. */
static void publish_runtime(worker *w)
{
    char json[1024];
    if (engine_runtime_json(w->engine, json, sizeof json) != 0) snprintf(json, sizeof json, "{}");
    json_t *runtime = json_loads(json, 0, NULL);
    if (json_is_object(runtime)) json_object_set_new(runtime, "text_model", text_model_json(w));
    publish_json(w, runtime, pool_status_set_torch_info);
    publish_json(w, json_pack("{s:{s:b, s:s, s:s}, s:o}", "music", "loaded", 1, "name", engine_model_name(w->engine),
                              "device", engine_device(w->engine), "text", text_model_json(w)),
                 pool_status_set_models);
}

/* The language model, when one is configured; without it (or when it will
 * not load) the rules write the words and the worker serves all the same. */
static void open_writer(worker *w)
{
    const struct jen1_config *cfg = w->cfg;
    if (!cfg->text_model_dir[0]) {
        snprintf(w->writer_missing, sizeof w->writer_missing, "JEN1_TEXT_MODEL_DIR is not set");
        log_info("no text model (JEN1_TEXT_MODEL_DIR is not set): the rules write the words");
        return;
    }
    char err[512];
    double t = clock_monotonic_s();
    writer_options wo = {.model_dir = cfg->text_model_dir, .threads = cfg->threads, .device = cfg->device,
                         .weights = cfg->weights};
    w->writer = writer_open(&wo, err, sizeof err);
    if (!w->writer) {
        snprintf(w->writer_missing, sizeof w->writer_missing, "%s", err);
        log_kv(LOG_WARN, "the text model did not load: the rules write the words", LOG_STR("error", err));
        return;
    }
    log_kv(LOG_INFO, "text model loaded", LOG_STR("model", writer_model_name(w->writer)),
           LOG_STR("device", writer_device(w->writer)), LOG_NUM("seconds", clock_monotonic_s() - t));
}

/* Takes jobs until told to stop. */
static void job_loop(worker *w)
{
    char err[1024];
    int rc;
    job_run *run = malloc(sizeof *run);
    if (!run) {
        log_error("out of memory for the job in hand");
        return;
    }
    while (!stop_now) {
        if (stop_taking) {
            log_info("draining: no new jobs");
            break;
        }
        queue_job job = {0};
        int got = queue_reserve(w->q, 1000, &job, err, sizeof err);
        if (got < 0) {
            if (queue_unavailable(w->q)) {
                if (reconnect(w) == 0) REDIS_CALL(w, rc, queue_release(w->q, NULL, NULL, err, sizeof err));
            } else {
                log_kv(LOG_ERROR, "reserve failed", LOG_STR("error", err));
                sleep_ms(1000);
            }
            continue;
        }
        if (got == 0) continue;
        atomic_store(&w->in_job, 1);
        run_job(w, &job, run);
        atomic_store(&w->in_job, 0);
        queue_job_clear(&job);
    }
    free(run);
}

int worker_main(const struct jen1_config *cfg, unsigned slot, struct jen1_metrics *metrics,
                struct pool_status *status)
{
    install_signals();
    if (getppid() == 1) return 0; /* the supervisor died before we got here */
    metrics_use_slot(metrics->registry, slot + 1);
    metrics_clear_gauges(metrics->registry, slot + 1);
    char err[1024];
    worker w = {.cfg = cfg, .slot = slot, .metrics = metrics, .status = status};
    snprintf(w.id, sizeof w.id, "%.100s-%u", cfg->worker_id, slot);
    log_set_worker(w.id);
    atomic_store(&status->slots[slot].pid, (int)getpid());

    engine_options eo = {.model_dir = cfg->model_dir, .use_torch = cfg->engine == CONFIG_ENGINE_TORCH,
                         .threads = cfg->threads, .device = cfg->device, .weights = cfg->weights,
                         .none_pace = cfg->none_pace, .window_s = cfg->window_s, .stride_s = cfg->stride_s};
    double t = clock_monotonic_s();
    w.engine = engine_open(&eo, err, sizeof err);
    if (!w.engine) {
        log_kv(LOG_ERROR, "cannot load the model", LOG_STR("error", err));
        return 1;
    }
    log_kv(LOG_INFO, "model loaded", LOG_STR("model", engine_model_name(w.engine)),
           LOG_STR("device", engine_device(w.engine)), LOG_NUM("seconds", clock_monotonic_s() - t));
    open_writer(&w);
    publish_runtime(&w);

    if (blob_open(cfg->blob_url, &cfg->s3, &w.blobs, err, sizeof err) != BLOB_OK) {
        log_kv(LOG_ERROR, "cannot open the blob store", LOG_STR("error", err));
        writer_close(w.writer);
        engine_close(w.engine);
        return 1;
    }

    w.limits = job_limits_default();
    double model_max = engine_max_duration(w.engine);
    w.limits.max_duration = cfg->max_duration_s < model_max ? cfg->max_duration_s : model_max;
    w.limits.model_name = engine_model_name(w.engine);

    queue_config qc = {.url = cfg->redis_url, .prefix = cfg->prefix, .worker_id = w.id,
                       .heartbeat_ttl_ms = cfg->heartbeat_ttl_ms, .result_ttl_s = cfg->result_ttl_s,
                       .max_attempts = cfg->max_attempts, .retry_base_ms = cfg->retry_base_ms,
                       .dead_max = cfg->dead_max, .dead_max_age_s = cfg->dead_max_age_s};
    w.q = queue_new(&qc, err, sizeof err);
    if (!w.q) {
        log_kv(LOG_ERROR, "bad queue configuration", LOG_STR("error", err));
        return 1;
    }
    if (queue_connect(w.q, err, sizeof err) != 0 && reconnect(&w) != 0) return 0;
    atomic_store(&status->slots[slot].model_loaded, 1);
    metrics_set(metrics->registry, metrics->model_loaded, 1);

    w.heartbeat = heartbeat_start(&qc, slot, cfg->heartbeat_ms, err, sizeof err);
    if (!w.heartbeat) {
        log_kv(LOG_ERROR, "cannot start the heartbeat", LOG_STR("error", err));
        return 1;
    }

    /* A payload whose reserve reply was lost before a restart with the same
     * worker id would wait in our in-flight list: give it back first. */
    int rc;
    REDIS_CALL(&w, rc, queue_release(w.q, NULL, NULL, err, sizeof err));

    job_loop(&w);

    /* Whatever is still ours goes back to the queue for another worker. */
    long long released = 0;
    if (queue_release(w.q, NULL, &released, err, sizeof err) == 0 && released)
        log_kv(LOG_INFO, "returned unfinished jobs to the queue", LOG_INT("jobs", released));
    heartbeat_stop(w.heartbeat);
    atomic_store(&status->slots[slot].model_loaded, 0);
    metrics_set(metrics->registry, metrics->model_loaded, 0);
    queue_free(w.q);
    blob_close(w.blobs);
    writer_close(w.writer);
    engine_close(w.engine);
    log_info("worker stopped");
    return 0;
}
