/* job_run.h - what the threads of a worker process share: the process
 * (worker), each thread's own connections (lane), and a job in hand
 * (job_run), which travels from thread to thread through handoffs.
 *
 * A worker process runs a pipeline of three threads (and the heartbeat's):
 *
 *   intake   (intake.c)       queue_reserve -> job_parse -> planning (the
 *                             words) -> to_decode; a words-only job goes
 *                             straight to to_finish. With a language model
 *                             the planning is the planners' (to_plan): up to
 *                             JEN1_BATCH jobs are planned at once, each on a
 *                             planner thread, their model calls decoded
 *                             together by the writer's one thread
 *                             (engine_writer_batch.h)
 *   decode   (decode_loop.c)  the batch: joins what to_decode brings while a
 *                             slot is free, steps every song in it together,
 *                             and hands each finished one to to_finish
 *   finish   (finisher.c)     EnCodec, loudness and encoding, upload, the
 *                             GeneratedSong -> queue_finish
 *
 * so that planning a job, or encoding and uploading another, never holds up
 * the decoder steps of the rest. The intake takes a job only while fewer
 * than JEN1_BATCH audio jobs are planned or decoding (and fewer than twice
 * that are in hand at all), so a worker holds what it can serve.
 *
 * Every job a process has taken sits in its one in-flight list in Redis
 * (the worker id is the process's) from reserve to its end, whichever
 * thread holds it: a crash anywhere returns all of them to the queue. A
 * queue handle and a blob store serve one thread each, so each thread has
 * its own (a lane); a job's Redis and blob calls go through the lane of the
 * thread that holds it (run->lane). */
#ifndef JEN1_WORKER_JOB_RUN_H
#define JEN1_WORKER_JOB_RUN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "blob.h"
#include "config.h"
#include "engine.h"
#include "engine_writer.h"
#include "heartbeat.h"
#include "job.h"
#include "loudness.h"
#include "metrics.h"
#include "npy.h"
#include "planner.h"
#include "protocol.h"
#include "queue.h"
#include "song.h"
#include "status.h"

typedef struct job_run job_run;

/* A queue of jobs from one thread to another (first in, first out). */
typedef struct handoff {
    pthread_mutex_t lock;
    pthread_cond_t ready;
    job_run *head, *tail;
    int n;
    int kicked;  /* handoff_kick: the next (or current) wait ends at once */
} handoff;

void handoff_init(handoff *h);
void handoff_destroy(handoff *h);
void handoff_push(handoff *h, job_run *run);
/* The oldest job, waiting up to wait_ms for one; NULL when none came, or
 * when the wait was kicked. */
job_run *handoff_pop(handoff *h, int wait_ms);
/* Ends the popping thread's wait (now, or its next one) without a job: it
 * has other work (the writer's calls, for the decode loop). */
void handoff_kick(handoff *h);
int handoff_count(handoff *h);

/* The most jobs a process holds at once: JEN1_BATCH decoding or planned,
 * as many again being finished. */
#define WORKER_MAX_IN_HAND (2 * 64)
/* The most planner threads (each with its own lane): jobs whose words a
 * language model writes at once. */
#define WORKER_MAX_PLANNERS 8

typedef struct worker {
    const struct jen1_config *cfg;
    unsigned slot;              /* in the pool */
    struct jen1_metrics *metrics;
    struct pool_status *status;
    engine *engine;
    writer *writer;             /* the language model writing the words, or NULL: the rules */
    char writer_missing[512];   /* why there is none (for /ready) */
    heartbeat *heartbeat;
    char id[QUEUE_WORKER_ID_MAX + 1]; /* the pool's id and the slot: stable across restarts */
    job_limits limits;
    int batch;                  /* JEN1_BATCH, resolved for the device */
    handoff to_plan, to_decode, to_finish;
    int n_planners;             /* planner threads (0: the intake plans, with the rules) */
    struct lane *plan_lanes;    /* theirs */
    atomic_bool taking_done;    /* the intake takes no more jobs: planners end when to_plan is empty */
    atomic_bool intake_done, decode_done; /* each thread says when it has stopped (the intake's
                                             planners with it) */
    /* The jobs in hand, for the heartbeat and for queue_release's keep list,
     * and how many of them are planned or decoding (a slot of the batch
     * each); `room` is signalled whenever either count drops. */
    pthread_mutex_t hand_lock;
    pthread_cond_t room;
    job_run *hand[WORKER_MAX_IN_HAND];
    int n_hand;
    int decoding;
    pthread_mutex_t stop_lock;  /* guards stop_deadline */
    double stop_deadline;       /* when SIGTERM's grace period ends */
} worker;

/* One thread's own connections. */
typedef struct lane lane;
struct lane {
    worker *w;
    const char *name;           /* "intake", "decode", "finish": in logs */
    queue *q;
    blob_store *blobs;
};

/* A job in hand, from stage to stage and thread to thread. Large (the plan). */
struct job_run {
    worker *w;
    lane *lane;                 /* the thread that holds it now */
    job_run *next;              /* in a handoff */
    queue_job job;              /* the payload: the run's own */
    job_request req;
    song_plan plan;
    engine_section sections[PLAN_MAX_SECTIONS]; /* the plan's, for the engine */
    npy_array resume;           /* the checkpoint this attempt resumed from */
    bool has_checkpoint;        /* the job may have a checkpoint object: remove it when the job ends */
    bool decoding;              /* counted in worker.decoding: it holds a slot */
    int n_windows;              /* the song's windows: one needs no checkpoint */
    int batch_slot;             /* its slot in the batch while it decodes, else -1 */
    double generating_since;    /* when it joined the batch */
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
};

/* ---- The process (worker.c) ---------------------------------------------------- */

/* Whether the job at hand must stop now: SIGUSR1, or SIGTERM's grace period
 * is over (at once when no job is in hand). Any thread. */
bool worker_stopping_now(worker *w);
/* Whether the worker takes no new jobs (SIGTERM or SIGUSR1). */
bool worker_draining(void);
/* Sleeps, cut short by a stop. */
void worker_sleep_ms(int ms);

/* The registry of jobs in hand (any thread). A job added holds a slot of
 * the batch until worker_leave_batch (or until it is freed). */
int worker_hand_count(worker *w);
void worker_hand_add(worker *w, job_run *run);
/* The job no longer holds a slot: done decoding, or words only. */
void worker_leave_batch(worker *w, job_run *run);
/* Waits up to wait_ms until the worker can take another job: fewer than
 * JEN1_BATCH jobs hold a slot, and fewer than twice that are in hand.
 * Returns whether it can. */
bool worker_wait_room(worker *w, int wait_ms);
/* Removes the run from the registry and frees it with what it holds. */
void worker_hand_free(worker *w, job_run *run);
/* queue_release on the lane's handle keeping every job in hand: after a
 * reconnect, gives back a payload whose reserve reply was lost. */
int worker_release_lost(lane *l, char *err, size_t errlen);

/* ---- The ends of a job (job_end.c) ---------------------------------------------- */

/* Reconnects the lane's queue handle with backoff. 0, or -1 when told to stop. */
int lane_reconnect(lane *l);

/* Runs a queue call into rc; while it fails because Redis is away,
 * reconnects the lane and runs it again. */
#define LANE_CALL(l, rc, call)                                                              \
    do {                                                                                    \
        while (((rc) = (call)) < 0 && queue_unavailable((l)->q) && lane_reconnect(l) == 0) {} \
    } while (0)

/* The thread now holding the run: its calls go through l, its logs name it. */
void lane_hold(lane *l, job_run *run);

void count_outcome(worker *w, enum jen1_outcome outcome);

/* The engine's and the writer's abort callback (user: the job_run): a
 * cancel learnt from Redis, the worker stopping, or the job's time limit
 * (which sets run->timed_out). */
int job_should_stop(void *user);

/* How a stage ended: PROTOCOL_OK (go on), PROTOCOL_CANCELLED (the job ends
 * cancelled), another code (the job fails with it), or STAGE_LEFT: the worker
 * is stopping, and the payload goes back to the queue with the rest of its
 * in-flight list. */
typedef int stage_end;
enum { STAGE_LEFT = PROTOCOL_N_CODES };

/* Ends the job as a stage that did not succeed says (the checkpoint stays
 * for a retry). */
void end_job(job_run *run, stage_end end);
/* Ends the attempt with an error code; transient codes are retried by the
 * queue. Returns whether the job ended for good. */
bool fail_job(lane *l, const queue_job *job, protocol_error code, const char *message);
/* A payload that is no job (no JSON object with a valid id): to the dead list, raw. */
void send_to_dead(lane *l, const queue_job *job, job_status parsed, const job_error *jerr);
/* Removes the job's checkpoint object, if it may have one. */
void remove_checkpoint(job_run *run);

typedef struct stage {
    enum jen1_stage id;         /* its histogram, and its name in the job hash */
    double progress;            /* reported as it begins; 0: not reported */
    stage_end (*run)(job_run *run);
} stage;

/* Runs one stage: tells Redis it begins (a cancel learnt there ends the job),
 * times it into *seconds (when not NULL) and its histogram, and ends the job
 * when it does not succeed. Returns 0 to go on, -1 when the job has ended. */
int run_stage(job_run *run, const stage *st, double *seconds);
/* Tells Redis the stage begins; returns -1 (the job ended cancelled) when a
 * cancel was learnt there. */
int report_stage(job_run *run, enum jen1_stage id, double progress);

/* ---- The threads ------------------------------------------------------------------ */

void *intake_main(void *lane);     /* intake.c */
void decode_loop(lane *l, engine_batch *batch); /* decode_loop.c: on the process's main thread */
void *finisher_main(void *lane);   /* finisher.c */

#endif
