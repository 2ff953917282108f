/* engine.h - the worker's side of the engine: one loaded model per worker
 * process and one call that renders a prompt to audio. The job loop talks
 * only to this, so serving several jobs per engine call (batching) later is
 * a change here, not in the loop.
 *
 * JEN1_ENGINE=none replaces the model by silence of the right length: a
 * switch for benchmarks and tests of the queue path, never for production. */
#ifndef JEN1_WORKER_ENGINE_H
#define JEN1_WORKER_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "jen1.h" /* the public types: jen1_device, jen1_sampling */
#include "job.h"

typedef struct engine engine;

typedef struct engine_options {
    const char *model_dir;
    int use_torch;        /* 0: the silent engine */
    int threads;
    jen1_device device;
    int bf16;
    double none_pace;     /* the silent engine's wall seconds per second of
                             audio (0: instant), so that tests can cancel,
                             time out or kill a job in the middle */
} engine_options;

typedef struct engine_request {
    const char *prompt;
    double duration;      /* seconds */
    uint64_t seed;
    job_sampling sampling; /* the job's; the model's defaults for the rest */
    /* Called with the fraction done; return nonzero from should_stop to abort. */
    void (*progress)(float done, void *user);
    int (*should_stop)(void *user);
    void *user;
} engine_request;

typedef struct engine_result {
    float *audio;         /* mono PCM; engine_result_free releases it */
    void (*free_audio)(void *); /* how audio is released: the engine's allocator or ours */
    int64_t n_samples;
    int sample_rate;
    double seconds_text, seconds_decoder, seconds_audio;
    jen1_sampling sampling; /* what was actually used: the GeneratedSong's */
} engine_result;

typedef enum {
    ENGINE_OK = 0,
    ENGINE_ABORTED,      /* should_stop said so */
    ENGINE_TOO_LONG,     /* longer than the model can generate: permanent */
    ENGINE_INVALID,      /* a parameter out of range: permanent */
    ENGINE_FAILED        /* anything else (out of memory, device): may pass */
} engine_status;

/* Loads the model (or sets up the silent engine). Returns NULL with a message. */
engine *engine_open(const engine_options *options, char *err, size_t errlen);
void engine_close(engine *e);

/* The model's name (its directory's last component), device, limits. */
const char *engine_model_name(const engine *e);
const char *engine_device(const engine *e);
double engine_max_duration(const engine *e);

/* The runtime as one JSON object, for GET /debug/torch: LibTorch's version,
 * CUDA, the device, threads and the model; {"engine":"none"} for the silent
 * engine. Returns 0, or -1 when buf (len bytes) is too small. */
int engine_runtime_json(const engine *e, char *buf, size_t len);

/* Renders one request. On ENGINE_OK, *out holds audio to free with
 * engine_result_free. */
engine_status engine_render(engine *e, const engine_request *req, engine_result *out, char *err,
                            size_t errlen);
void engine_result_free(engine_result *r);

#endif
