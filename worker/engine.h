/* engine.h - the worker's side of the engine: one loaded model per worker
 * process and one call that renders a song to audio. The job loop talks
 * only to this, so serving several jobs per engine call (batching) later is
 * a change here, not in the loop.
 *
 * A song is rendered in windows (jen1.h's jen1_plan_windows): the first
 * generates up to a window of frames, each later one is primed with the
 * last frames so far as context and generates a stride more, and a section
 * change always starts a window's new part, under that section's prompt.
 * After each window on_window sees the codes so far (the worker checkpoints
 * them); a request with resume_codes continues after them, and, because the
 * random stream of each window is derived from the seed and the window's
 * index, ends with the same codes as an uninterrupted run.
 *
 * JEN1_ENGINE=none replaces the model by silence of the right length: a
 * switch for benchmarks and tests of the queue path, never for production.
 * It follows the same window schedule and makes deterministic pseudo-random
 * codes from the seed and each window's index (and its context), so the
 * checkpoint and resume path can be tested without a model. */
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
    jen1_weight_type weights;
    double none_pace;     /* the silent engine's wall seconds per second of
                             audio (0: instant), so that tests can cancel,
                             time out or kill a job in the middle */
    double window_s;      /* the window's length in seconds (0: the model's
                             default, 30 s, within its position table) */
    double stride_s;      /* new seconds per later window (0: the default, 18 s) */
} engine_options;

/* A timed prompt: from `start` seconds on, new audio is generated under it. */
typedef struct engine_section {
    double start;         /* seconds; the first section starts at 0 */
    const char *prompt;
} engine_section;

/* One window as rendered: context_frames frames before start_frame primed
 * the decoder, which generated [start_frame, end_frame) under the prompt of
 * the request's sections[section] (0 when the request gave one prompt). */
typedef struct engine_window {
    int index;
    int start_frame, end_frame;
    int context_frames;
    int section;
} engine_window;

typedef struct engine_request {
    const char *prompt;   /* the one prompt, when there are no sections */
    const engine_section *sections; /* in order of start; the prompt is ignored then */
    int n_sections;
    double duration;      /* seconds */
    uint64_t seed;
    job_sampling sampling; /* the job's; the model's defaults for the rest */
    /* A checkpoint: the song's first n_resume_frames frames as an earlier
     * render of this same request made them ([n_codebooks][n_resume_frames],
     * row-major); engine_check_resume says whether they can be used. */
    const int64_t *resume_codes;
    int n_resume_frames;
    /* Called with the fraction of the whole song done (a resumed render
     * starts at its resumed fraction); return nonzero from should_stop to
     * abort: it is polled between decoder steps. */
    void (*progress)(float done, void *user);
    int (*should_stop)(void *user);
    /* Called after each window with the song's codes so far
     * ([n_codebooks][n_frames], n_frames == w->end_frame; the engine's
     * memory, valid during the call). May be NULL. */
    void (*on_window)(const engine_window *w, const int64_t *codes, int n_codebooks, int n_frames, void *user);
    void *user;
} engine_request;

typedef struct engine_result {
    float *audio;         /* mono PCM; engine_result_free releases it */
    void (*free_audio)(void *); /* how audio is released: the engine's allocator or ours */
    int64_t n_samples;
    int sample_rate;
    double seconds_text, seconds_decoder, seconds_audio;
    jen1_sampling sampling; /* what was actually used: the GeneratedSong's */
    int64_t *codes;       /* the whole song's codes, [n_codebooks][n_frames] */
    void (*free_codes)(void *);
    int n_codebooks, n_frames;
    int frame_rate;       /* frames per second */
    engine_window *windows; /* the windows rendered, resumed ones included */
    int n_windows;
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

/* The model's name (its directory's last component), device, limits. A
 * windowed engine renders any length: the job's limit is the operator's
 * (JEN1_MAX_DURATION). */
const char *engine_model_name(const engine *e);
const char *engine_device(const engine *e);
double engine_max_duration(const engine *e);

/* The sampling a song of this job is rendered with (engine_result's
 * sampling): the job's fields over the model's defaults. Renders nothing. */
jen1_sampling engine_sampling(const engine *e, const job_sampling *job);

/* Whether codes ([n_codebooks][n_frames]) are a checkpoint this request can
 * resume from: the model's codebooks, values in its codebook, and n_frames
 * the end of a window of the request's schedule (< the whole song is not
 * required: a finished song's codes resume to its decode alone). Returns 0,
 * or -1 with the reason. */
int engine_check_resume(const engine *e, const engine_request *req, const int64_t *codes, int n_codebooks,
                        int n_frames, char *err, size_t errlen);

/* The runtime as one JSON object, for GET /debug/torch: LibTorch's version,
 * CUDA, the device, threads and the model; {"engine":"none"} for the silent
 * engine. Returns 0, or -1 when buf (len bytes) is too small. */
int engine_runtime_json(const engine *e, char *buf, size_t len);

/* How many windows the request's song takes, or -1 when its schedule
 * cannot be made. */
int engine_count_windows(const engine *e, const engine_request *req);

/* Renders one request. On ENGINE_OK, *out holds the audio, codes and
 * windows, to free with engine_result_free. Resume codes that
 * engine_check_resume refuses are ENGINE_INVALID. */
engine_status engine_render(engine *e, const engine_request *req, engine_result *out, char *err,
                            size_t errlen);
void engine_result_free(engine_result *r);

#endif
