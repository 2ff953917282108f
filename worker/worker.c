/* worker.c - one worker process and the life of a job.
 *
 * A job reads top to bottom in run_job():
 *
 *   queue_reserve (takes and starts it) -> job_parse -> plan_song -> engine_render
 *   (progress -> queue_progress; abort <- cancel, timeout, shutdown)
 *   -> audio_encode -> blob_put -> song_to_string -> queue_finish
 *
 * The payload sits in this worker's in-flight list in Redis from reserve to
 * finish, so a crash anywhere loses nothing: the reaper gives it to another
 * worker. A heartbeat thread with its own connection keeps this worker's
 * heartbeat alive whatever the job loop is doing (a long EnCodec pass, a slow
 * upload) and runs the reaper for the whole pool.
 *
 * Redis going away is survived: every queue call that fails for lack of
 * Redis is retried after a reconnect with backoff, and the job at hand
 * carries on from where it was. */
#include "worker.h"

#include <errno.h>
#include <math.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "audio.h"
#include "blob.h"
#include "engine.h"
#include "jen1.h"
#include "job.h"
#include "log.h"
#include "lyrics.h"
#include "planner.h"
#include "queue.h"
#include "song.h"

/* Set from signal handlers. */
static volatile sig_atomic_t stop_taking; /* SIGTERM: no new jobs */
static volatile sig_atomic_t stop_now;    /* SIGUSR1, or the grace period is over */

typedef struct worker {
    const struct jen1_config *cfg;
    unsigned slot;
    struct jen1_metrics *metrics;
    struct pool_status *status;
    engine *engine;
    blob_store *blobs;
    queue *q;
    char id[QUEUE_WORKER_ID_MAX + 1]; /* the pool's id and the slot: stable across restarts */
    job_limits limits;
    double stop_deadline;       /* when SIGTERM's grace period ends */
    atomic_int in_job;          /* inside run_job: what the grace period is for */

    /* The heartbeat thread's view of the job at hand. */
    pthread_t heartbeat;
    pthread_mutex_t lock;
    char current_job[QUEUE_ID_MAX + 1];
    atomic_int heartbeat_running;
} worker;

/* What the engine's callbacks need while a job renders. */
typedef struct job_run {
    worker *w;
    const queue_job *job;
    double started;
    double deadline;            /* JEN1_JOB_TIMEOUT */
    double last_report;
    int cancelled;              /* someone asked to cancel (or it ended elsewhere) */
    int timed_out;
} job_run;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !stop_now) {}
}

static void on_sigterm(int sig) { (void)sig; stop_taking = 1; }
static void on_sigusr1(int sig) { (void)sig; stop_taking = stop_now = 1; }

/* After SIGTERM, the job at hand may run for the grace period; with no job in
 * hand (say, waiting for Redis to come back) there is nothing to wait for. */
static int should_stop_now(worker *w)
{
    if (stop_now) return 1;
    if (!stop_taking) return 0;
    if (!atomic_load(&w->in_job)) return 1;
    if (w->stop_deadline == 0) w->stop_deadline = now_s() + w->cfg->grace_s;
    return now_s() >= w->stop_deadline;
}

/* ---- Redis, survived -------------------------------------------------------- */

/* Reconnects with exponential backoff until Redis answers or the worker must
 * stop now. Returns 0 when connected. */
static int reconnect(worker *w, queue *q, const char *who)
{
    int delay = 100;
    char err[512];
    for (;;) {
        if (queue_connect(q, err, sizeof err) == 0) {
            log_kv(LOG_INFO, "redis reconnected", LOG_STR("by", who), LOG_STR("server", queue_server(q)));
            return 0;
        }
        if (!queue_unavailable(q)) {
            log_kv(LOG_ERROR, "redis refused the connection", LOG_STR("error", err));
        } else {
            log_kv(LOG_WARN, "redis unreachable, retrying", LOG_STR("by", who), LOG_STR("error", err),
                   LOG_INT("retry_ms", delay));
        }
        if (should_stop_now(w)) return -1;
        sleep_ms(delay);
        delay = delay < 5000 ? delay * 2 : 5000;
    }
}

/* Runs a queue call into rc; while it fails because Redis is away,
 * reconnects and runs it again. */
#define REDIS_CALL(w, rc, call)                                                     \
    do {                                                                            \
        while (((rc) = (call)) < 0 && queue_unavailable((w)->q) &&                  \
               reconnect((w), (w)->q, "worker") == 0) {}                            \
    } while (0)

/* ---- The heartbeat thread ---------------------------------------------------- */

static void *heartbeat_main(void *arg)
{
    worker *w = arg;
    char err[512], info[512], host[128] = "";
    gethostname(host, sizeof host - 1);
    queue_config qc = {.url = w->cfg->redis_url, .prefix = w->cfg->prefix, .worker_id = w->id,
                       .heartbeat_ttl_ms = w->cfg->heartbeat_ttl_ms, .result_ttl_s = w->cfg->result_ttl_s,
                       .max_attempts = w->cfg->max_attempts, .retry_base_ms = w->cfg->retry_base_ms};
    queue *q = queue_new(&qc, err, sizeof err);
    if (!q) {
        log_kv(LOG_ERROR, "heartbeat: bad queue configuration", LOG_STR("error", err));
        return NULL;
    }
    int connected = queue_connect(q, err, sizeof err) == 0;
    double next_reap = 0;
    while (atomic_load(&w->heartbeat_running)) {
        if (!connected) connected = reconnect(w, q, "heartbeat") == 0;
        if (connected) {
            pthread_mutex_lock(&w->lock);
            snprintf(info, sizeof info, "{\"host\":\"%s\",\"pid\":%d,\"slot\":%u,\"job\":\"%s\"}", host,
                     (int)getpid(), w->slot, w->current_job);
            pthread_mutex_unlock(&w->lock);
            if (queue_heartbeat(q, info, err, sizeof err) != 0) connected = !queue_unavailable(q);
            long long reaped = 0, rescheduled = 0;
            if (connected && now_s() >= next_reap) {
                if (queue_reap(q, &reaped, &rescheduled, err, sizeof err) != 0) {
                    connected = !queue_unavailable(q);
                } else if (reaped || rescheduled) {
                    log_kv(LOG_INFO, "reaper returned jobs to the queue", LOG_INT("from_dead_workers", reaped),
                           LOG_INT("retries_due", rescheduled));
                }
                next_reap = now_s() + 1.0;
            }
        }
        /* Sleep a heartbeat period in small steps, to stop promptly. */
        for (int waited = 0; waited < w->cfg->heartbeat_ms && atomic_load(&w->heartbeat_running); waited += 50)
            sleep_ms(50);
    }
    queue_free(q);
    return NULL;
}

static void set_current_job(worker *w, const char *id)
{
    pthread_mutex_lock(&w->lock);
    snprintf(w->current_job, sizeof w->current_job, "%s", id ? id : "");
    pthread_mutex_unlock(&w->lock);
    log_set_job(id);
}

/* ---- Engine callbacks ------------------------------------------------------- */

/* Reports progress at most every 250 ms; learns about cancels from the reply. */
static void on_progress(float done, void *user)
{
    job_run *run = user;
    double t = now_s();
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

static int on_should_stop(void *user)
{
    job_run *run = user;
    if (run->cancelled || should_stop_now(run->w)) return 1;
    if (now_s() > run->deadline) {
        run->timed_out = 1;
        return 1;
    }
    return 0;
}

/* ---- One job ---------------------------------------------------------------- */

static void sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++) sprintf(out + 2 * i, "%02x", md[i]);
}

static void count_outcome(worker *w, enum jen1_outcome outcome)
{
    metrics_add(w->metrics->registry, w->metrics->jobs[outcome], 1);
}

/* Ends the attempt with an error; transient ones are retried by the queue. */
static void fail_job(worker *w, const queue_job *job, const char *code, const char *message, bool transient)
{
    char err[512];
    queue_fail_outcome outcome = QUEUE_FAIL_FAILED;
    log_kv(transient ? LOG_WARN : LOG_ERROR, "job failed", LOG_STR("error", code), LOG_STR("detail", message),
           LOG_BOOL("transient", transient));
    int rc;
    REDIS_CALL(w, rc, queue_fail(w->q, job, code, message, transient, &outcome, err, sizeof err));
    if (rc != 0) {
        log_kv(LOG_ERROR, "could not record the failure", LOG_STR("error", err));
        return;
    }
    count_outcome(w, outcome == QUEUE_FAIL_RETRY ? JEN1_OUTCOME_RETRIED : JEN1_OUTCOME_FAILED);
}

static int report_stage(worker *w, job_run *run, double progress, const char *stage)
{
    bool stop = false;
    char err[256];
    int rc;
    REDIS_CALL(w, rc, queue_progress(w->q, run->job, progress, stage, &stop, err, sizeof err));
    if (rc == 0 && stop) run->cancelled = 1;
    return run->cancelled ? -1 : 0;
}

static void end_cancelled(worker *w, const queue_job *job)
{
    char err[512];
    log_info("job cancelled");
    int rc;
    REDIS_CALL(w, rc, queue_cancelled(w->q, job, err, sizeof err));
    if (rc == 0) count_outcome(w, JEN1_OUTCOME_CANCELLED);
}

static void run_job(worker *w, queue_job *job)
{
    char err[1024];
    job_error jerr;
    job_request req;
    double t0 = now_s();

    /* The take script already decided whether this payload is ours to run. */
    if (job->decision == QUEUE_TAKE_ENDED || job->decision == QUEUE_TAKE_LOST) return;
    if (job->decision == QUEUE_TAKE_CANCELLED) {
        count_outcome(w, JEN1_OUTCOME_CANCELLED);
        return;
    }
    job_status parsed = job_parse(job->payload, job->payload_len, &w->limits, &req, &jerr);
    if (job->decision == QUEUE_TAKE_NOT_A_JOB) {
        /* No JSON object with a valid id: to the dead list, raw. */
        if (parsed == JOB_OK) job_request_free(&req);
        const char *code = parsed == JOB_INVALID_JSON ? "invalid_json" : "invalid_job";
        const char *why = parsed == JOB_OK ? "the payload has no valid id" : jerr.message;
        log_kv(LOG_WARN, "not a job: sent to the dead list", LOG_STR("error", code), LOG_STR("detail", why));
        int rc;
        REDIS_CALL(w, rc, queue_dead_payload(w->q, job, code, why, err, sizeof err));
        if (rc == 0) count_outcome(w, JEN1_OUTCOME_FAILED);
        return;
    }
    set_current_job(w, job->id);
    if (parsed != JOB_OK) {
        fail_job(w, job, jerr.code, jerr.message, false);
        set_current_job(w, NULL);
        return;
    }
    int rc;
    log_kv(LOG_INFO, "job started", LOG_INT("attempt", job->attempts), LOG_NUM("duration", req.duration));
    metrics_add(w->metrics->registry, w->metrics->inflight, 1);

    job_run run = {.w = w, .job = job, .started = t0, .deadline = t0 + w->cfg->job_timeout_s};
    song_timings timings = {0};

    /* Plan. */
    static song_plan plan; /* large; one job at a time per process */
    double t = now_s();
    if (plan_song(&req, lyrics_rules(), &plan, err, sizeof err) != 0) {
        fail_job(w, job, "invalid_job", err, false);
        goto running_done;
    }
    timings.plan_s = now_s() - t;
    metrics_observe(w->metrics->registry, w->metrics->stage_duration[JEN1_STAGE_PLANNING], timings.plan_s);
    if (report_stage(w, &run, 0.05, "generating") != 0) {
        end_cancelled(w, job);
        goto running_done;
    }

    /* Generate. */
    engine_request er = {.prompt = plan.model_prompt, .duration = req.duration, .seed = req.seed,
                         .guidance = req.has_guidance ? (float)req.guidance : 0,
                         .top_k = req.has_top_k ? req.top_k : 0,
                         .temperature = req.has_temperature ? (float)req.temperature : 0,
                         .progress = on_progress, .should_stop = on_should_stop, .user = &run};
    engine_result audio;
    t = now_s();
    engine_status es = engine_render(w->engine, &er, &audio, err, sizeof err);
    double generate_s = now_s() - t;
    metrics_observe(w->metrics->registry, w->metrics->stage_duration[JEN1_STAGE_GENERATING], generate_s);
    if (es != ENGINE_OK) {
        if (es == ENGINE_ABORTED && run.cancelled) end_cancelled(w, job);
        else if (es == ENGINE_ABORTED && run.timed_out) {
            snprintf(err, sizeof err, "the job ran past its %d s time limit and was stopped", w->cfg->job_timeout_s);
            fail_job(w, job, "timeout", err, false);
        } else if (es == ENGINE_ABORTED) {
            /* Shutting down: the payload goes back to the queue with the
             * rest of this worker's in-flight list. */
            log_info("job interrupted by shutdown; returning it to the queue");
        } else if (es == ENGINE_TOO_LONG) {
            fail_job(w, job, "too_long", err, false);
        } else if (es == ENGINE_INVALID) {
            fail_job(w, job, "invalid_job", err, false);
        } else {
            fail_job(w, job, "engine_error", err, true);
        }
        goto running_done;
    }
    timings.text_s = audio.seconds_text;
    timings.decoder_s = audio.seconds_decoder;
    timings.audio_s = audio.seconds_audio;

    /* Encode. */
    if (report_stage(w, &run, 0.92, "encoding") != 0) {
        end_cancelled(w, job);
        engine_result_free(&audio);
        goto running_done;
    }
    unsigned char *encoded = NULL;
    size_t encoded_len = 0;
    t = now_s();
    int enc = audio_encode(audio.audio, audio.n_samples, audio.sample_rate, req.format, &encoded, &encoded_len, err,
                           sizeof err);
    timings.encode_s = now_s() - t;
    metrics_observe(w->metrics->registry, w->metrics->stage_duration[JEN1_STAGE_ENCODING], timings.encode_s);
    if (enc != 0) {
        fail_job(w, job, "engine_error", err, true);
        engine_result_free(&audio);
        goto running_done;
    }

    /* Upload: the object's name is the job's, so every attempt writes the same one. */
    char key[BLOB_KEY_MAX + 1], url[BLOB_URL_MAX];
    snprintf(key, sizeof key, "%s.%s", job->id, audio_format_name(req.format));
    if (report_stage(w, &run, 0.95, "uploading") != 0) {
        end_cancelled(w, job);
        goto audio_done;
    }
    t = now_s();
    blob_status bs = blob_put(w->blobs, key, encoded, encoded_len, audio_format_mime(req.format), url, sizeof url, err,
                              sizeof err);
    timings.upload_s = now_s() - t;
    metrics_observe(w->metrics->registry, w->metrics->stage_duration[JEN1_STAGE_UPLOADING], timings.upload_s);
    if (bs != BLOB_OK) {
        fail_job(w, job, bs == BLOB_UNAVAILABLE ? "blob_unavailable" : "blob_rejected", err, bs == BLOB_UNAVAILABLE);
        goto audio_done;
    }

    /* The song, and the end of the job. */
    song_audio sa = {.url = url, .format = req.format, .sample_rate = audio.sample_rate, .channels = 1,
                     .duration = (double)audio.n_samples / audio.sample_rate, .bytes = encoded_len};
    sha256_hex(encoded, encoded_len, sa.sha256);
    song_model sm = {.name = engine_model_name(w->engine), .seed = req.seed, .guidance = audio.guidance,
                     .top_k = audio.top_k, .top_p = audio.top_p, .temperature = audio.temperature,
                     .greedy = audio.greedy, .device = engine_device(w->engine)};
    timings.total_s = now_s() - t0;
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    char *song = song_to_string(&plan, &sa, &sm, &timings, (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000, 0,
                                err, sizeof err);
    if (!song) {
        fail_job(w, job, "engine_error", err, true);
        goto audio_done;
    }
    bool written = false;
    REDIS_CALL(w, rc, queue_finish(w->q, job, song, url, &written, err, sizeof err));
    if (rc == 0) {
        log_kv(LOG_INFO, "job succeeded", LOG_STR("audio_url", url), LOG_NUM("seconds", timings.total_s),
               LOG_BOOL("first_result", written));
        count_outcome(w, JEN1_OUTCOME_SUCCEEDED);
        metrics_add(w->metrics->registry, w->metrics->audio_seconds, sa.duration);
        metrics_observe(w->metrics->registry, w->metrics->job_duration, timings.total_s);
    } else {
        log_kv(LOG_ERROR, "could not record the result", LOG_STR("error", err));
    }
    free(song);
audio_done:
    free(encoded);
    engine_result_free(&audio);
running_done:
    metrics_add(w->metrics->registry, w->metrics->inflight, -1);
    job_request_free(&req);
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

static void publish_torch_info(worker *w)
{
    jen1_torch_info info;
    char json[1024];
    if (w->cfg->engine == CONFIG_ENGINE_NONE) {
        snprintf(json, sizeof json, "{\"engine\":\"none\"}");
    } else {
        jen1_torch_info_get(&info);
        snprintf(json, sizeof json,
                 "{\"torch_version\":\"%s\",\"cuda_built\":%s,\"cuda_available\":%s,\"cuda_device_count\":%d,"
                 "\"device_name\":\"%s\",\"device\":\"%s\",\"threads\":%d,\"model\":\"%s\"}",
                 info.torch_version, info.cuda_built ? "true" : "false", info.cuda_available ? "true" : "false",
                 info.cuda_device_count, info.device_name, engine_device(w->engine), info.n_threads,
                 engine_model_name(w->engine));
    }
    pool_status_set_torch_info(w->status, w->slot, json);
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
    pthread_mutex_init(&w.lock, NULL);
    atomic_store(&status->slots[slot].pid, (int)getpid());

    engine_options eo = {.model_dir = cfg->model_dir, .use_torch = cfg->engine == CONFIG_ENGINE_TORCH,
                         .threads = cfg->threads, .bf16 = cfg->bf16, .none_pace = cfg->none_pace,
                         .device = cfg->device == CONFIG_DEVICE_CUDA ? "cuda"
                                   : cfg->device == CONFIG_DEVICE_CPU ? "cpu"
                                                                      : "auto"};
    double t = now_s();
    w.engine = engine_open(&eo, err, sizeof err);
    if (!w.engine) {
        log_kv(LOG_ERROR, "cannot load the model", LOG_STR("error", err));
        return 1;
    }
    log_kv(LOG_INFO, "model loaded", LOG_STR("model", engine_model_name(w.engine)),
           LOG_STR("device", engine_device(w.engine)), LOG_NUM("seconds", now_s() - t));
    publish_torch_info(&w);

    blob_options bo;
    blob_options_init(&bo);
    if (blob_options_from_env(&bo, err, sizeof err) != BLOB_OK ||
        blob_open(cfg->blob_url, &bo, &w.blobs, err, sizeof err) != BLOB_OK) {
        log_kv(LOG_ERROR, "cannot open the blob store", LOG_STR("error", err));
        blob_options_clear(&bo);
        engine_close(w.engine);
        return 1;
    }
    blob_options_clear(&bo);

    w.limits = job_limits_default();
    double model_max = engine_max_duration(w.engine);
    w.limits.max_duration = cfg->max_duration_s < model_max ? cfg->max_duration_s : model_max;
    w.limits.model_name = engine_model_name(w.engine);

    queue_config qc = {.url = cfg->redis_url, .prefix = cfg->prefix, .worker_id = w.id,
                       .heartbeat_ttl_ms = cfg->heartbeat_ttl_ms, .result_ttl_s = cfg->result_ttl_s,
                       .max_attempts = cfg->max_attempts, .retry_base_ms = cfg->retry_base_ms};
    w.q = queue_new(&qc, err, sizeof err);
    if (!w.q) {
        log_kv(LOG_ERROR, "bad queue configuration", LOG_STR("error", err));
        return 1;
    }
    if (queue_connect(w.q, err, sizeof err) != 0 && reconnect(&w, w.q, "worker") != 0) return 0;
    atomic_store(&status->slots[slot].model_loaded, 1);
    metrics_set(metrics->registry, metrics->model_loaded, 1);

    atomic_store(&w.heartbeat_running, 1);
    pthread_create(&w.heartbeat, NULL, heartbeat_main, &w);

    /* A payload whose reserve reply was lost before a restart with the same
     * worker id would wait in our in-flight list: give it back first. */
    int rc;
    REDIS_CALL(&w, rc, queue_release(w.q, NULL, NULL, err, sizeof err));

    while (!stop_now) {
        if (stop_taking) {
            log_info("draining: no new jobs");
            break;
        }
        queue_job job = {0};
        int got = queue_reserve(w.q, 1000, &job, err, sizeof err);
        if (got < 0) {
            if (queue_unavailable(w.q)) {
                if (reconnect(&w, w.q, "worker") == 0)
                    REDIS_CALL(&w, rc, queue_release(w.q, NULL, NULL, err, sizeof err));
            } else {
                log_kv(LOG_ERROR, "reserve failed", LOG_STR("error", err));
                sleep_ms(1000);
            }
            continue;
        }
        if (got == 0) continue;
        atomic_store(&w.in_job, 1);
        run_job(&w, &job);
        atomic_store(&w.in_job, 0);
        queue_job_clear(&job);
    }

    /* Whatever is still ours goes back to the queue for another worker. */
    long long released = 0;
    if (queue_release(w.q, NULL, &released, err, sizeof err) == 0 && released)
        log_kv(LOG_INFO, "returned unfinished jobs to the queue", LOG_INT("jobs", released));
    atomic_store(&w.heartbeat_running, 0);
    pthread_join(w.heartbeat, NULL);
    atomic_store(&status->slots[slot].model_loaded, 0);
    metrics_set(metrics->registry, metrics->model_loaded, 0);
    queue_free(w.q);
    blob_close(w.blobs);
    engine_close(w.engine);
    log_info("worker stopped");
    return 0;
}
