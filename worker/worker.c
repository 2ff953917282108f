/* worker.c - one worker process: loads the models, opens its connections,
 * and runs the pipeline of job_run.h (intake and finisher threads beside
 * the decode loop on this thread) until told to stop; then whatever is
 * still in its in-flight list goes back to the queue.
 *
 * Stopping: SIGTERM stops the intake at once and gives the jobs in hand the
 * grace period (JEN1_GRACE_PERIOD) to end, after which they stop where they
 * are and return to the queue (their checkpoints, if any, kept); SIGUSR1 (the
 * supervisor is gone) skips the grace period. Redis going away is survived:
 * each thread reconnects its own handle with backoff, and the jobs in hand
 * carry on from where they were. */
#include "worker.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "job_run.h"
#include "log.h"
#include "util.h"

/* Set from signal handlers. */
static volatile sig_atomic_t stop_taking; /* SIGTERM: no new jobs */
static volatile sig_atomic_t stop_now;    /* SIGUSR1 */

static void on_sigterm(int sig) { (void)sig; stop_taking = 1; }
static void on_sigusr1(int sig) { (void)sig; stop_taking = stop_now = 1; }

bool worker_draining(void) { return stop_taking; }

void worker_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !stop_now) {}
}

/* After SIGTERM, the jobs in hand may run for the grace period; with no job
 * in hand (say, waiting for Redis to come back) there is nothing to wait for. */
bool worker_stopping_now(worker *w)
{
    if (stop_now) return true;
    if (!stop_taking) return false;
    if (worker_hand_count(w) == 0) return true;
    pthread_mutex_lock(&w->stop_lock);
    if (w->stop_deadline == 0) w->stop_deadline = clock_monotonic_s() + w->cfg->grace_s;
    bool over = clock_monotonic_s() >= w->stop_deadline;
    pthread_mutex_unlock(&w->stop_lock);
    return over;
}

/* ---- The jobs in hand ------------------------------------------------------------ */

int worker_hand_count(worker *w)
{
    pthread_mutex_lock(&w->hand_lock);
    int n = w->n_hand;
    pthread_mutex_unlock(&w->hand_lock);
    return n;
}

/* The heartbeat names them; call with hand_lock held. */
static void publish_hand(worker *w)
{
    const char *ids[WORKER_MAX_IN_HAND];
    for (int i = 0; i < w->n_hand; i++) ids[i] = w->hand[i]->job.id;
    heartbeat_set_jobs(w->heartbeat, ids, w->n_hand);
}

void worker_hand_add(worker *w, job_run *run)
{
    pthread_mutex_lock(&w->hand_lock);
    if (w->n_hand < WORKER_MAX_IN_HAND) w->hand[w->n_hand++] = run; /* worker_wait_room keeps it well under */
    run->decoding = true;
    w->decoding++;
    publish_hand(w);
    pthread_mutex_unlock(&w->hand_lock);
    metrics_add(w->metrics->registry, w->metrics->inflight, 1);
}

/* Call with hand_lock held; the caller signals `room`. */
static void leave_batch_locked(worker *w, job_run *run)
{
    if (!run->decoding) return;
    run->decoding = false;
    w->decoding--;
}

void worker_leave_batch(worker *w, job_run *run)
{
    pthread_mutex_lock(&w->hand_lock);
    leave_batch_locked(w, run);
    pthread_cond_signal(&w->room);
    pthread_mutex_unlock(&w->hand_lock);
}

bool worker_wait_room(worker *w, int wait_ms)
{
    struct timespec until = clock_cond_deadline(wait_ms);
    pthread_mutex_lock(&w->hand_lock);
    bool room;
    while (!(room = w->decoding < w->batch && w->n_hand < 2 * w->batch) &&
           pthread_cond_timedwait(&w->room, &w->hand_lock, &until) == 0) {}
    pthread_mutex_unlock(&w->hand_lock);
    return room;
}

void worker_hand_free(worker *w, job_run *run)
{
    pthread_mutex_lock(&w->hand_lock);
    for (int i = 0; i < w->n_hand; i++)
        if (w->hand[i] == run) {
            w->hand[i] = w->hand[--w->n_hand];
            break;
        }
    leave_batch_locked(w, run);
    pthread_cond_signal(&w->room);
    publish_hand(w);
    pthread_mutex_unlock(&w->hand_lock);
    metrics_add(w->metrics->registry, w->metrics->inflight, -1);
    free(run->encoded);
    engine_result_free(&run->audio);
    npy_free(&run->resume);
    job_request_free(&run->req);
    queue_job_clear(&run->job);
    free(run);
}

/* Under hand_lock, so that no job in the keep list ends (and frees its
 * payload) during the call. */
int worker_release_lost(lane *l, char *err, size_t errlen)
{
    worker *w = l->w;
    const queue_job *keep[WORKER_MAX_IN_HAND];
    pthread_mutex_lock(&w->hand_lock);
    for (int i = 0; i < w->n_hand; i++) keep[i] = &w->hand[i]->job;
    long long released = 0;
    int rc = queue_release(l->q, keep, w->n_hand, &released, err, errlen);
    pthread_mutex_unlock(&w->hand_lock);
    if (rc == 0 && released)
        log_kv(LOG_INFO, "returned payloads whose take was lost to the queue", LOG_INT("jobs", released));
    return rc;
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

/* A planner posted a model call: the decode loop stops waiting for jobs. */
static void wake_decode_loop(void *to_decode) { handoff_kick(to_decode); }

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
    /* The decode loop runs the text model between its steps (writer_turn):
     * the two models take turns on one OpenMP team. */
    writer_options wo = {.model_dir = cfg->text_model_dir, .threads = cfg->threads, .device = cfg->device,
                         .weights = cfg->weights, .turned_by_owner = 1, .wake = wake_decode_loop,
                         .wake_user = &w->to_decode};
    w->writer = writer_open(&wo, err, sizeof err);
    if (!w->writer) {
        snprintf(w->writer_missing, sizeof w->writer_missing, "%s", err);
        log_kv(LOG_WARN, "the text model did not load: the rules write the words", LOG_STR("error", err));
        return;
    }
    log_kv(LOG_INFO, "text model loaded", LOG_STR("model", writer_model_name(w->writer)),
           LOG_STR("device", writer_device(w->writer)), LOG_NUM("seconds", clock_monotonic_s() - t));
}

static void lane_close(lane *l)
{
    queue_free(l->q);
    blob_close(l->blobs);
    l->q = NULL;
    l->blobs = NULL;
}

/* A thread's lane: its own queue handle (connected, or reconnected with
 * backoff) and blob store. Returns 0, or -1 with the reason logged. */
static int lane_open(worker *w, lane *l, const char *name, const queue_config *qc)
{
    char err[1024];
    *l = (lane){.w = w, .name = name};
    l->q = queue_new(qc, err, sizeof err);
    if (!l->q) {
        log_kv(LOG_ERROR, "bad queue configuration", LOG_STR("error", err));
        return -1;
    }
    if (blob_open(w->cfg->blob_url, &w->cfg->s3, &l->blobs, err, sizeof err) != BLOB_OK) {
        log_kv(LOG_ERROR, "cannot open the blob store", LOG_STR("error", err));
        lane_close(l);
        return -1;
    }
    if (queue_connect(l->q, err, sizeof err) != 0 && lane_reconnect(l) != 0) {
        lane_close(l);
        return -1;
    }
    return 0;
}

/* Runs the pipeline until it has drained: the intake and finisher threads
 * beside the decode loop on this thread. */
static void run_pipeline(lane *lanes, engine_batch *batch)
{
    pthread_t intake, finisher;
    if (pthread_create(&intake, NULL, intake_main, &lanes[0]) != 0) {
        log_error("cannot start the intake thread");
        return;
    }
    if (pthread_create(&finisher, NULL, finisher_main, &lanes[2]) != 0) {
        log_error("cannot start the finisher thread");
        stop_taking = stop_now = 1;
        pthread_join(intake, NULL);
        return;
    }
    decode_loop(&lanes[1], batch);
    pthread_join(intake, NULL);
    pthread_join(finisher, NULL);
}

int worker_main(const struct jen1_config *cfg, unsigned slot, struct jen1_metrics *metrics,
                struct pool_status *status)
{
    install_signals();
    if (getppid() == 1) return 0; /* the supervisor died before we got here */
    metrics_use_slot(metrics->registry, slot + 1);
    metrics_clear_gauges(metrics->registry, slot + 1);
    char err[1024];
    static worker w; /* large (the registry of jobs in hand); one per process */
    w = (worker){.cfg = cfg, .slot = slot, .metrics = metrics, .status = status};
    pthread_mutex_init(&w.hand_lock, NULL);
    clock_cond_init(&w.room);
    pthread_mutex_init(&w.stop_lock, NULL);
    handoff_init(&w.to_plan);
    handoff_init(&w.to_decode);
    handoff_init(&w.to_finish);
    snprintf(w.id, sizeof w.id, "%.100s-%u", cfg->worker_id, slot);
    log_set_worker(w.id);
    atomic_store(&status->slots[slot].pid, (int)getpid());

    engine_options eo = {.model_dir = cfg->model_dir, .use_torch = cfg->engine == CONFIG_ENGINE_TORCH,
                         .threads = cfg->threads, .device = cfg->device, .weights = cfg->weights,
                         .cuda_graph = cfg->cuda_graph,
                         .none_pace = cfg->none_pace, .window_s = cfg->window_s, .stride_s = cfg->stride_s};
    double t = clock_monotonic_s();
    w.engine = engine_open(&eo, err, sizeof err);
    if (!w.engine) {
        log_kv(LOG_ERROR, "cannot load the model", LOG_STR("error", err));
        return 1;
    }
    w.batch = cfg->batch > 0 ? cfg->batch : config_default_batch(engine_device(w.engine));
    log_kv(LOG_INFO, "model loaded", LOG_STR("model", engine_model_name(w.engine)),
           LOG_STR("device", engine_device(w.engine)), LOG_INT("batch", w.batch),
           LOG_NUM("seconds", clock_monotonic_s() - t));
    engine_batch *batch = engine_batch_new(w.engine, w.batch, err, sizeof err);
    if (!batch) {
        log_kv(LOG_ERROR, "cannot make the decode batch", LOG_STR("error", err));
        engine_close(w.engine);
        return 1;
    }
    open_writer(&w);
    publish_runtime(&w);

    w.limits = job_limits_default();
    double model_max = engine_max_duration(w.engine);
    w.limits.max_duration = cfg->max_duration_s < model_max ? cfg->max_duration_s : model_max;
    w.limits.model_name = engine_model_name(w.engine);

    queue_config qc = {.url = cfg->redis_url, .prefix = cfg->prefix, .worker_id = w.id,
                       .heartbeat_ttl_ms = cfg->heartbeat_ttl_ms, .result_ttl_s = cfg->result_ttl_s,
                       .max_attempts = cfg->max_attempts, .retry_base_ms = cfg->retry_base_ms,
                       .dead_max = cfg->dead_max, .dead_max_age_s = cfg->dead_max_age_s};
    /* intake, decode, finish, and a planner per job planned at once when a
     * language model writes the words (job_run.h). */
    enum { FIXED_LANES = 3 };
    static lane lanes[FIXED_LANES + WORKER_MAX_PLANNERS];
    static char names[FIXED_LANES + WORKER_MAX_PLANNERS][16] = {"intake", "decode", "finish"};
    w.n_planners = !w.writer ? 0 : w.batch < WORKER_MAX_PLANNERS ? w.batch : WORKER_MAX_PLANNERS;
    w.plan_lanes = &lanes[FIXED_LANES];
    const int n_lanes = FIXED_LANES + w.n_planners;
    for (int i = FIXED_LANES; i < n_lanes; i++) snprintf(names[i], sizeof names[i], "plan-%d", i - FIXED_LANES + 1);
    int opened = 0;
    while (opened < n_lanes && lane_open(&w, &lanes[opened], names[opened], &qc) == 0) opened++;
    int exit_status = 0;
    if (opened < n_lanes) {
        exit_status = worker_stopping_now(&w) ? 0 : 1;
        goto close;
    }
    atomic_store(&status->slots[slot].model_loaded, 1);
    metrics_set(metrics->registry, metrics->model_loaded, 1);

    w.heartbeat = heartbeat_start(&qc, slot, cfg->heartbeat_ms, err, sizeof err);
    if (!w.heartbeat) {
        log_kv(LOG_ERROR, "cannot start the heartbeat", LOG_STR("error", err));
        exit_status = 1;
        goto close;
    }

    /* A payload whose reserve reply was lost before a restart with the same
     * worker id would wait in our in-flight list: give it back first. */
    int rc;
    LANE_CALL(&lanes[0], rc, queue_release(lanes[0].q, NULL, 0, NULL, err, sizeof err));

    run_pipeline(lanes, batch);

    /* Whatever is still ours goes back to the queue for another worker. */
    long long released = 0;
    if (queue_release(lanes[0].q, NULL, 0, &released, err, sizeof err) == 0 && released)
        log_kv(LOG_INFO, "returned unfinished jobs to the queue", LOG_INT("jobs", released));
    heartbeat_stop(w.heartbeat);
    atomic_store(&status->slots[slot].model_loaded, 0);
    metrics_set(metrics->registry, metrics->model_loaded, 0);
close:
    for (int i = 0; i < opened; i++) lane_close(&lanes[i]);
    engine_batch_free(batch);
    writer_close(w.writer);
    engine_close(w.engine);
    handoff_destroy(&w.to_plan);
    handoff_destroy(&w.to_decode);
    handoff_destroy(&w.to_finish);
    pthread_cond_destroy(&w.room);
    log_info("worker stopped");
    return exit_status;
}
