/* engine.h - the worker's side of the engine: one loaded model per worker
 * process, and the batches in which it decodes songs (see "Batches" below).
 * The worker talks to the engine only through this.
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

#include <stdbool.h>
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
    int cuda_graph;       /* on a GPU, steps replay a captured CUDA graph */
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
     * abort: it is polled before each decoder step. */
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
    jen1_audio_decode *decoding; /* engine_result_decode_audio_step's work in progress */
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

/* ---- Batches: many songs in one decoder pass ----------------------------------
 *
 * A batch decodes up to n_slots requests together (jen1.h's session): a
 * request joins between steps (its text encoded and its first window
 * prefilled then), each step advances every running request by one decoder
 * pass, and a finished one leaves with its codes and windows. Its audio is
 * made apart, by engine_result_decode_audio: on a GPU on another thread, so
 * that EnCodec never holds up the others' steps; on a CPU between steps
 * (engine_audio_with_batch says which). A song does not
 * depend on its batch-mates (the same codes alone or batched, on the CPU).
 *
 *     engine_batch *b = engine_batch_new(e, 4, err, sizeof err);
 *     engine_batch_join(b, &req, &slot, err, sizeof err);   (between steps)
 *     while (engine_batch_running(b) > 0) {
 *         engine_batch_step(b, err, sizeof err);
 *         for each slot with engine_batch_done(b, slot) == 1:
 *             status = engine_batch_leave(b, slot, &result, err, sizeof err);
 *             engine_result_decode_audio(e, &result, err, sizeof err);  (any thread)
 *     }
 *     engine_batch_free(b);
 *
 * Threads: a batch is used by one thread, and the requests' callbacks run on
 * it, inside join and step. The request's strings, sections and resume codes
 * are read during join only; its callbacks' user data must live until leave.
 * The silent engine batches too: each request takes none_pace wall seconds
 * per second of audio whatever its batch-mates, in steps of 20 ms. */
typedef struct engine_batch engine_batch;

/* A batch of n_slots slots (1 to 64). NULL with a message. */
engine_batch *engine_batch_new(engine *e, int n_slots, char *err, size_t errlen);
/* Frees the batch and whatever its slots hold (running requests are dropped). */
void engine_batch_free(engine_batch *b);

/* Puts a request in a free slot (*slot). Returns ENGINE_OK; ENGINE_INVALID
 * for parameters or resume codes the engine refuses (engine_check_resume's
 * reasons); ENGINE_TOO_LONG; ENGINE_FAILED, also when every slot is taken
 * (the caller joins only into a free slot: not the request's fault). */
engine_status engine_batch_join(engine_batch *b, const engine_request *req, int *slot, char *err, size_t errlen);

/* Advances every running request by one decoder step (each one's should_stop
 * polled first). Returns ENGINE_OK, or ENGINE_FAILED with a message when the
 * shared pass failed: the requests in it are then done, each with that
 * failure as its outcome. */
engine_status engine_batch_step(engine_batch *b, char *err, size_t errlen);

/* Requests joined and not yet done. */
int engine_batch_running(const engine_batch *b);
/* 1: the slot's request is done and waits to be left; 0: running; -1: free. */
int engine_batch_done(const engine_batch *b, int slot);

/* Frees the slot and returns its request's outcome: ENGINE_OK with *out
 * holding the codes, windows, sampling and timings (no audio yet: see
 * engine_result_decode_audio; free with engine_result_free), or the status it
 * ended with and its message. Leaving a running request abandons it
 * (ENGINE_ABORTED). */
engine_status engine_batch_leave(engine_batch *b, int slot, engine_result *out, char *err, size_t errlen);

/* Where EnCodec should run: on a CPU (true), on the batch's own thread
 * between steps; on a GPU (false), on any other thread. On a CPU the two
 * would share the same cores anyway, and a second thread doing engine work
 * gives LibTorch a second OpenMP team: with more OpenMP threads than cores,
 * libgomp stops spinning at its barriers and every parallel region of every
 * later step pays a wake-up (measured: after the first song's EnCodec on a
 * thread of its own, each later batch-1 song decoded in 24 s instead of
 * 15.5 s; BENCHMARKS.md, "Many jobs in one worker"). */
bool engine_audio_with_batch(const engine *e);

/* The audio of a result engine_batch_leave gave (EnCodec over its codes; the
 * silent engine's silence), into out->audio, out->n_samples and
 * out->seconds_audio. Safe on another thread than the batch's, while it
 * steps. Returns ENGINE_OK, or ENGINE_FAILED with a message. */
engine_status engine_result_decode_audio(engine *e, engine_result *out, char *err, size_t errlen);

/* The same a chunk at a time (5 s of audio a call; the silent engine's
 * silence at once), for the batch's thread to run between steps: *done once
 * out->audio, n_samples and seconds_audio (the chunks' time, summed) are set.
 * Returns ENGINE_OK, or ENGINE_FAILED with a message (the result then has no
 * audio and no work in progress). engine_result_free drops work in progress. */
engine_status engine_result_decode_audio_step(engine *e, engine_result *out, bool *done, char *err, size_t errlen);

void engine_result_free(engine_result *r);

#endif
