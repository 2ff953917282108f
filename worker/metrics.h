/* metrics.h - counters, gauges and histograms shared by the processes of a
 * pool, rendered in the Prometheus text exposition format (version 0.0.4).
 *
 * The values live in an anonymous MAP_SHARED mapping created by
 * metrics_create, so a registry made before fork() is shared by the
 * supervisor and every worker it forks. Each process writes into its own
 * slot (metrics_use_slot; slot 0 is the supervisor's, worker i takes slot
 * i + 1) with atomic updates; metrics_render adds the slots up, so /metrics
 * on the supervisor shows the pool's totals. When a worker dies, its
 * counters stay (they only ever grow) and metrics_clear_gauges zeroes its
 * gauges (the jobs it had in flight are no longer in flight).
 *
 * A gauge is either set by one process only (queue depth, by the supervisor)
 * or is a count that adds up across processes (jobs in flight).
 *
 *     struct metrics *m = metrics_create(1 + n_workers, err, sizeof err);
 *     int ok = metrics_counter(m, "jen1_jobs_total", "Jobs finished, by outcome",
 *                              "outcome", "succeeded", err, sizeof err);
 *     ...fork...
 *     metrics_use_slot(m, 1 + worker_index);     (in the child)
 *     metrics_add(m, ok, 1);
 *     char *text = metrics_render(m, &len);      (in the supervisor) ... free(text);
 *
 * Register every metric before forking: the names live in each process's own
 * memory, only the values are shared. Handles are small integers; -1 (what a
 * failed registration returns) is accepted everywhere and does nothing. */
#ifndef JEN1_METRICS_H
#define JEN1_METRICS_H

#include <stddef.h>

struct metrics;

/* Maps the shared values for n_slots processes (1 to 1024). NULL on failure. */
struct metrics *metrics_create(unsigned n_slots, char *err, size_t errlen);
/* Unmaps this process's view and frees its registry. */
void metrics_free(struct metrics *m);

/* Register one series; label_name/label_value may both be NULL. Registering
 * the same name again adds a series to that family (same type, same help,
 * same buckets). Names follow Prometheus rules ([a-zA-Z_:][a-zA-Z0-9_:]*).
 * Each returns the handle, or -1 with a message. */
int metrics_counter(struct metrics *m, const char *name, const char *help,
                    const char *label_name, const char *label_value, char *err, size_t errlen);
int metrics_gauge(struct metrics *m, const char *name, const char *help, const char *label_name,
                  const char *label_value, char *err, size_t errlen);
/* `bounds`: the buckets' upper bounds, strictly increasing (+Inf is implied). */
int metrics_histogram(struct metrics *m, const char *name, const char *help,
                      const char *label_name, const char *label_value, const double *bounds,
                      size_t n_bounds, char *err, size_t errlen);

/* Which slot this process writes into (default 0). */
void metrics_use_slot(struct metrics *m, unsigned slot);

void metrics_add(struct metrics *m, int handle, double v); /* counters (v >= 0), gauges */
void metrics_set(struct metrics *m, int handle, double v); /* gauges */
void metrics_observe(struct metrics *m, int handle, double v); /* histograms */

/* The value summed over slots (a histogram's: its sum); for tests and logs. */
double metrics_value(const struct metrics *m, int handle);

/* Zeroes every gauge of one slot (a worker that died). */
void metrics_clear_gauges(struct metrics *m, unsigned slot);

/* The exposition text (malloc'd, NUL-terminated, *len bytes); NULL when out of memory. */
char *metrics_render(const struct metrics *m, size_t *len);

/* ---- jen1's own metrics ----------------------------------------------------- */

enum jen1_outcome { JEN1_OUTCOME_SUCCEEDED, JEN1_OUTCOME_FAILED, JEN1_OUTCOME_CANCELLED,
                    JEN1_OUTCOME_RETRIED, JEN1_N_OUTCOMES };

/* The stages of docs/protocol.md that take time. */
enum jen1_stage { JEN1_STAGE_PLANNING, JEN1_STAGE_GENERATING, JEN1_STAGE_ENCODING,
                  JEN1_STAGE_UPLOADING, JEN1_N_STAGES };

struct jen1_metrics {
    struct metrics *registry;
    int jobs[JEN1_N_OUTCOMES];   /* jen1_jobs_total{outcome=...} */
    int job_duration;            /* jen1_job_duration_seconds */
    int stage_duration[JEN1_N_STAGES]; /* jen1_stage_duration_seconds{stage=...} */
    int audio_seconds;           /* jen1_audio_seconds_generated_total */
    int inflight;                /* jen1_inflight_jobs */
    int queue_depth;             /* jen1_queue_depth (supervisor, from Redis) */
    int worker_restarts;         /* jen1_worker_restarts_total (supervisor) */
    int workers_alive;           /* jen1_workers_alive (supervisor) */
    int model_loaded;            /* jen1_model_loaded: workers with the model loaded */
    int redis_up;                /* jen1_redis_up (supervisor) */
    int batch_slots;             /* jen1_batch_slots: JEN1_BATCH of each worker, summed */
    int batch_occupancy;         /* jen1_batch_occupancy: songs in the decode batches */
    int decode_steps;            /* jen1_decode_steps_total */
    int decode_steps_per_second; /* jen1_decode_steps_per_second (last second, per worker, summed) */
    int text_steps;              /* jen1_text_steps_total: the words model's decode steps */
    int text_step_rows;          /* jen1_text_step_rows_total: their rows, all jobs' together */
};

/* Creates the registry (n_slots = 1 + workers) and registers every metric above. */
int jen1_metrics_create(struct jen1_metrics *jm, unsigned n_slots, char *err, size_t errlen);
void jen1_metrics_free(struct jen1_metrics *jm);
const char *jen1_stage_name(enum jen1_stage stage);

#endif
