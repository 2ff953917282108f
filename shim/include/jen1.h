/* jen1.h - the jen1 music-generation engine: a plain-C API over LibTorch.
 *
 * This is the engine's production surface, the only shim/ header a program
 * that makes songs includes (jen1_stages.h adds the stage-by-stage functions
 * that tools, checks and tests use). It describes a MusicGen-architecture
 * model (T5 text encoder, transformer decoder over EnCodec codebooks with the
 * delay pattern and classifier-free guidance, EnCodec audio decoder) loaded
 * from a Hugging Face checkpoint directory laid out like facebook/musicgen-small.
 *
 * Usage:
 *
 *     char err[512];
 *     jen1_model *model;
 *     jen1_model_params mp = jen1_model_default_params();
 *     mp.n_threads = 2;
 *     if (jen1_model_load("/var/lib/jen1/models/musicgen-small", &mp, &model,
 *                         err, sizeof err) != JEN1_OK) {
 *         fprintf(stderr, "%s\n", err);
 *         return 1;
 *     }
 *     jen1_request req = { .prompt = "calm solo piano, slow tempo",
 *                          .n_frames = 8 * jen1_model_frame_rate(model),
 *                          .seed = 42 };
 *     jen1_generate_params gp = jen1_generate_default_params(model);
 *     jen1_output *out;
 *     if (jen1_generate(model, &req, 1, &gp, &out, err, sizeof err) != JEN1_OK) ...
 *     // out->items[0].audio: out->items[0].n_samples mono floats at
 *     // jen1_model_sample_rate(model) Hz; out->items[0].codes: the audio codes.
 *     jen1_output_free(out);   // frees the items, their codes, audio and windows
 *
 * A song of several minutes in sections, checkpointed after every window:
 *
 *     const int fps = jen1_model_frame_rate(model);
 *     jen1_section sections[] = { {0, "calm piano intro"},
 *                                 {45 * fps, "full band chorus, driving drums"} };
 *     jen1_request song = { .sections = sections, .n_sections = 2,
 *                           .n_frames = 180 * fps, .seed = 42 };
 *     gp.on_window = save_checkpoint;   // int save_checkpoint(const jen1_window *w,
 *     gp.window_user_data = job;        //   const int64_t *codes, int K, int F, void *job)
 *     jen1_generate(model, &song, 1, &gp, &out, err, sizeof err);
 *     // After a crash: the same request with .resume_codes/.n_resume_frames
 *     // set to the last checkpoint gives the same song, bit for bit.
 *     // out->items[0].windows: what was rendered (span, context, section).
 *     jen1_model_free(model);
 *
 * Errors: every function that can fail returns a jen1_status and writes a
 * human-readable, NUL-terminated message into the caller's err buffer (which
 * may be NULL when errlen is 0). No C++ exception ever crosses this header;
 * no function aborts the process on bad input.
 *
 * Threads: a loaded jen1_model is read-only. Any number of threads may call
 * jen1_generate() and the other functions taking a const jen1_model * at the
 * same time; each call keeps its own state (KV caches, RNG) and frees it
 * before returning. jen1_model_load/jen1_model_free must not race with other
 * calls on the same model. Intra-op parallelism is LibTorch's, set by
 * jen1_model_params.n_threads (process-wide). The callbacks (progress, abort,
 * on_window) run on the calling thread, between decoder steps.
 *
 * Ownership: what a function hands out belongs to the caller until it gives
 * it back to the function named for it: a jen1_model to jen1_model_free, a
 * jen1_output (with everything it points to) to jen1_output_free. A caller may
 * keep an item's audio, codes or windows past jen1_output_free: take the
 * pointer, set the field to NULL (jen1_output_free skips NULLs), and release
 * the buffer later with jen1_free, never with free() or delete: which
 * allocator the engine uses is not part of this API. What the engine hands a
 * callback (on_window's window and codes) is the engine's, valid during the
 * call only; what a caller passes in (requests, sections, prompt and resume
 * codes) stays the caller's and is not kept after jen1_generate returns.
 *
 * Symbols: every function here is marked JEN1_API. The engine is compiled
 * with hidden visibility, so a shared build (make shared: build/lib/libjen1.so)
 * exports these and nothing else. On Windows define JEN1_SHARED to use a DLL
 * build, and JEN1_BUILD as well to build one.
 *
 * Memory: the weights file is memory-mapped read-only, so several processes
 * that load the same checkpoint share one copy of the weights in the page
 * cache. Derived tensors (EnCodec's weight-normalised convolutions, dtype
 * conversions, GPU copies) are private to the process.
 */
#ifndef JEN1_H
#define JEN1_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#  if defined(JEN1_SHARED) && defined(JEN1_BUILD)
#    define JEN1_API __declspec(dllexport)
#  elif defined(JEN1_SHARED)
#    define JEN1_API __declspec(dllimport)
#  else
#    define JEN1_API
#  endif
#elif defined(__GNUC__) || defined(__clang__)
#  define JEN1_API __attribute__((visibility("default")))
#else
#  define JEN1_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef enum jen1_status {
    JEN1_OK = 0,
    JEN1_ERR_INVALID_ARGUMENT = 1, /* a parameter or request is out of range */
    JEN1_ERR_IO = 2,               /* a file could not be opened or read */
    JEN1_ERR_FORMAT = 3,           /* a model file is malformed or inconsistent */
    JEN1_ERR_UNSUPPORTED = 4,      /* a valid model feature jen1 does not implement */
    JEN1_ERR_TOO_LONG = 5,         /* a request exceeds the model's position table */
    JEN1_ERR_ABORTED = 6,          /* the abort callback asked to stop */
    JEN1_ERR_NO_MEMORY = 7,        /* an allocation failed */
    JEN1_ERR_DEVICE = 8,           /* CUDA was asked for but is unavailable or failed */
    JEN1_ERR_INTERNAL = 9          /* a LibTorch error; the message says which */
} jen1_status;

/* A short stable name for a status ("ok", "invalid_argument", ...). */
JEN1_API const char *jen1_status_name(jen1_status status);

/* ---- The model ---------------------------------------------------------- */

typedef struct jen1_model jen1_model;

typedef enum jen1_device {
    JEN1_DEVICE_AUTO = 0, /* CUDA when LibTorch sees a GPU, otherwise CPU */
    JEN1_DEVICE_CPU = 1,
    JEN1_DEVICE_CUDA = 2  /* fail with JEN1_ERR_DEVICE when there is none */
} jen1_device;

typedef enum jen1_weight_type {
    JEN1_WEIGHTS_F32 = 0,  /* decoder matmuls in fp32 (exact parity) */
    JEN1_WEIGHTS_BF16 = 1, /* decoder linear weights stored as bf16, fp32
                              accumulate: half the bytes per step, private
                              (unshared) memory, small numeric drift */
    JEN1_WEIGHTS_INT8 = 2  /* decoder linear weights quantised at load to int8
                              with an fp32 scale per output channel; on CPUs
                              with AVX512-VNNI the activations are rounded
                              per row to int16 (integer dot products),
                              elsewhere they stay fp32; fp32 accumulation: a
                              quarter of the bytes per step, private memory
                              (a quarter of the fp32 size, beside the shared
                              mapping), more drift than bf16 (BENCHMARKS.md).
                              The text engine takes it as BF16. */
} jen1_weight_type;

/* "f32", "bf16", "int8" ("unknown" for other values), and back: 0 and *out
 * set, or -1 for any other name. */
JEN1_API const char *jen1_weight_type_name(jen1_weight_type type);
JEN1_API int jen1_weight_type_parse(const char *name, jen1_weight_type *out);

typedef struct jen1_model_params {
    jen1_device device;
    int n_threads;           /* intra-op threads; <= 0 means all cores */
    jen1_weight_type decoder_weights;
    int cuda_graphs;         /* nonzero: on CUDA a session's decoder step is captured
                                once as a CUDA graph and replayed while its slots stay
                                the same (captured again when they change); 0: op by op */
} jen1_model_params;

/* Defaults: JEN1_DEVICE_AUTO, all cores, fp32 weights, CUDA graphs on. */
JEN1_API jen1_model_params jen1_model_default_params(void);

/* Loads the checkpoint directory `dir` (config.json, model.safetensors,
 * spiece.model, and generation_config.json when present). Returns JEN1_OK and
 * sets *out, or an error status with a message naming the file (and tensor)
 * at fault; *out is then NULL. */
JEN1_API jen1_status jen1_model_load(const char *dir, const jen1_model_params *params,
                                     jen1_model **out, char *err, size_t errlen);

/* Frees a model loaded by jen1_model_load. NULL is allowed. */
JEN1_API void jen1_model_free(jen1_model *model);

JEN1_API int jen1_model_sample_rate(const jen1_model *model);  /* Hz, e.g. 32000 */
JEN1_API int jen1_model_frame_rate(const jen1_model *model);   /* codes per second, e.g. 50 */
JEN1_API int jen1_model_num_codebooks(const jen1_model *model);
JEN1_API int jen1_model_codebook_size(const jen1_model *model); /* decoder vocab, e.g. 2048 */
/* The longest window in frames: the position table less the delay. A
 * request longer than this renders in windows (see jen1_generate); a
 * continuation from prompt_codes must fit in it. */
JEN1_API int jen1_model_max_frames(const jen1_model *model);
/* "cpu" or "cuda:N". */
JEN1_API const char *jen1_model_device(const jen1_model *model);

/* ---- Generation --------------------------------------------------------- */

/* Called after each decoder step with the fraction done in [0, 1]. */
typedef void (*jen1_progress_callback)(float progress, void *user_data);
/* Polled between decoder steps; returning nonzero stops the call with
 * JEN1_ERR_ABORTED. */
typedef int (*jen1_abort_callback)(void *user_data);

/* How each next code is chosen: the one sampling type from a job to its
 * song (the worker's job, its engine adapter and the GeneratedSong's "model"
 * object carry this struct, in the precision the engine samples with). */
typedef struct jen1_sampling {
    int greedy;             /* nonzero: argmax, ignoring top_k/top_p/temperature */
    int top_k;              /* 0 = no top-k filter */
    float top_p;            /* 1.0 = no nucleus filter */
    float temperature;      /* > 0 */
    float guidance_scale;   /* classifier-free guidance; <= 1 disables it */
} jen1_sampling;

/* ---- Long songs: windows and sections ---------------------------------- */

/* A timed prompt: from start_frame on, new audio is generated under `prompt`. */
typedef struct jen1_section {
    int start_frame;          /* sections[0].start_frame == 0; strictly increasing */
    const char *prompt;       /* UTF-8 text, not NULL */
} jen1_section;

/* One window of a long song: the decoder primed with context_frames frames
 * (the song's frames [start_frame - context_frames, start_frame)) generates
 * the new frames [start_frame, end_frame) under sections[section].prompt. */
typedef struct jen1_window {
    int index;
    int start_frame, end_frame;
    int context_frames;       /* 0 for the first window */
    int section;              /* index into the request's sections (0 without) */
} jen1_window;

/* Called after each window with the song's codes so far ([n_codebooks][n_frames],
 * row-major, n_frames == w->end_frame; valid during the call only). Nonzero
 * stops the call with JEN1_ERR_ABORTED. */
typedef int (*jen1_window_callback)(const jen1_window *w, const int64_t *codes, int n_codebooks,
                                    int n_frames, void *user_data);

/* The window schedule of a song, a pure function (no model): windows of at most
 * window_frames frames; the first generates min(window_frames, n_frames, next section
 * start) frames; each later one is primed with min(T, window_frames - stride_frames)
 * frames of context (T = frames so far) and generates min(stride_frames, n_frames - T,
 * next section start - T) new frames, so that a section change always starts a
 * window's new part. Sections starting at or after n_frames are never reached;
 * n_sections 0 means one section (sections may then be NULL). Returns the number
 * of windows (writing at most max_out; out may be NULL when max_out is 0), or -1
 * with a message for bad arguments (n_frames < 1, stride_frames not in
 * [1, window_frames), sections not starting at 0 or not strictly increasing). */
JEN1_API int jen1_plan_windows(int n_frames, const jen1_section *sections, int n_sections,
                               int window_frames, int stride_frames,
                               jen1_window *out, int max_out, char *err, size_t errlen);

typedef struct jen1_generate_params {
    jen1_sampling sampling;
    int decode_audio;       /* nonzero: run EnCodec and fill audio */
    jen1_progress_callback progress;
    void *progress_user_data;
    jen1_abort_callback abort;
    void *abort_user_data;
    /* Windowed rendering of requests longer than one window. 0 takes
     * jen1_model_default_window's value; window_frames may not exceed
     * jen1_model_max_frames (JEN1_ERR_TOO_LONG), stride_frames must be
     * in [1, window_frames). */
    int window_frames;
    int stride_frames;
    /* After each window (for checkpoints). Only with a single request per
     * call: the callback does not say which request a window belongs to. */
    jen1_window_callback on_window;
    void *window_user_data;
} jen1_generate_params;

/* The model's default window and stride in frames: 30 s and 18 s (audiocraft's
 * extend_stride), the window capped by the position table (jen1_model_max_frames);
 * when the cap makes the window no longer than 18 s, the stride keeps
 * audiocraft's ratio (3/5 of the window). */
JEN1_API void jen1_model_default_window(const jen1_model *model, int *window_frames, int *stride_frames);

/* Defaults from the model's generation_config.json where present
 * (guidance_scale, top_k, top_p, temperature, do_sample), otherwise
 * transformers' defaults (top_k 50, top_p 1, temperature 1, guidance 3). */
JEN1_API jen1_generate_params jen1_generate_default_params(const jen1_model *model);

typedef struct jen1_request {
    const char *prompt;          /* UTF-8 text; "" is a valid (empty) prompt;
                                    ignored (may be NULL) when sections are given */
    int n_frames;                /* audio frames to produce, >= 1, prompt
                                    frames included; any length (longer than
                                    one window renders in windows) */
    uint64_t seed;               /* this request's own random stream: the same
                                    seed gives the same song, whatever else
                                    shares the batch. Window w of a long song
                                    draws from a stream derived from (seed, w);
                                    window 0 from the seed itself. */
    /* Optional continuation, the reference's generate(decoder_input_ids=...):
     * the first n_prompt_frames frames of the result are these codes
     * ([num_codebooks][n_prompt_frames], row-major, values in
     * [0, codebook_size)); the model continues from them, consuming them in
     * one forward pass. Such a request is one window: n_frames may not exceed
     * jen1_model_max_frames (JEN1_ERR_TOO_LONG), and it takes no sections or
     * resume_codes. */
    const int64_t *prompt_codes;
    int n_prompt_frames;
    /* Optional timed prompts (see jen1_section); when n_sections > 0,
     * `prompt` is ignored. */
    const jen1_section *sections;
    int n_sections;
    /* Optional checkpoint: the song's first n_resume_frames frames
     * ([num_codebooks][n_resume_frames], row-major) as an earlier call with
     * the same request and parameters produced them. n_resume_frames must be
     * the end_frame of a window of the schedule (else
     * JEN1_ERR_INVALID_ARGUMENT); the call continues with the next window and
     * its result equals the uninterrupted one bit for bit (same device and
     * thread count). 0 = none. */
    const int64_t *resume_codes;
    int n_resume_frames;
} jen1_request;

/* codes and audio belong to the jen1_output holding the item; a caller may
 * take either (set the field to NULL, release it with jen1_free). */
typedef struct jen1_output_item {
    int64_t *codes;       /* [num_codebooks][n_frames], row-major */
    int n_codebooks;
    int n_frames;
    float *audio;         /* mono PCM in [-1, 1]-ish, NULL if not decoded */
    int64_t n_samples;    /* n_frames * samples per frame */
    jen1_window *windows; /* the schedule that rendered it (resumed windows
                             included); one window for a one-window request */
    int n_windows;
} jen1_output_item;

typedef struct jen1_output {
    int n_items;                 /* one per request, same order */
    jen1_output_item *items;
    int sample_rate;
    double seconds_text;         /* wall time per stage */
    double seconds_decoder;
    double seconds_audio;
} jen1_output;

/* Generates audio codes (and audio when params->decode_audio) for n requests.
 * Durations may differ; each request's result is what it would be alone
 * (bit for bit on the CPU). All requests run together as the slots of one
 * session (see jen1_session); a request longer than one window (or resumed)
 * renders window by window in its slot: the schedule of jen1_plan_windows with
 * params' window and stride, each window's new part generated under its
 * section's prompt (each section's text encoded once), primed by a prefill
 * over its context frames. Memory is bounded by one window (its KV cache)
 * plus the song's codes and audio: the final audio is one EnCodec decode of
 * the whole song's codes, run in chunks whose seams are exact (so no seam is
 * heard between windows). Progress runs 0 -> 1 once over the whole call (a
 * resumed song starts where its checkpoint ends); abort is polled before
 * every decoder step. Returns JEN1_OK and sets *out, or JEN1_ERR_TOO_LONG
 * when the window (or a continuation from prompt_codes) needs more positions
 * than the model has, JEN1_ERR_INVALID_ARGUMENT for a bad parameter,
 * JEN1_ERR_ABORTED when the abort or on_window callback stopped it. */
JEN1_API jen1_status jen1_generate(const jen1_model *model, const jen1_request *requests,
                                   int n_requests, const jen1_generate_params *params,
                                   jen1_output **out, char *err, size_t errlen);

/* Frees an output of jen1_generate with its items and every codes and audio
 * buffer still in them (a field a caller set to NULL is skipped). NULL is
 * allowed. */
JEN1_API void jen1_output_free(jen1_output *out);

/* Releases a buffer taken out of a jen1_output (an item's codes or audio,
 * see "Ownership" above). NULL is allowed. */
JEN1_API void jen1_free(void *buffer);

/* ---- Sessions: many requests, one pass ---------------------------------- */

/* A session decodes several requests together, each in a slot of its own,
 * and lets them come and go between decoder steps (continuous batching):
 * every weight read of a step serves every running request. jen1_generate
 * is a loop over a session.
 *
 *     jen1_session *s;
 *     jen1_session_new(model, 8, &s, err, sizeof err);          // 8 slots
 *     int slot;
 *     jen1_generate_params gp = jen1_generate_default_params(model);
 *     gp.abort = job_cancelled;  gp.abort_user_data = job;     // per slot
 *     if (jen1_session_join(s, &req, &gp, &slot, err, sizeof err) != JEN1_OK) ...
 *     while (jen1_session_running(s) > 0) {
 *         if (jen1_session_step(s, err, sizeof err) != JEN1_OK) ...  // the pass failed
 *         // ... join new requests here as slots free up ...
 *         for (int i = 0; i < 8; i++)
 *             if (jen1_session_slot_done(s, i) == 1) {
 *                 jen1_output *out;   // one item; audio when gp.decode_audio
 *                 jen1_status st = jen1_session_leave(s, i, &out, err, sizeof err);
 *                 ...                 // st: the request's own outcome
 *                 jen1_output_free(out);
 *             }
 *     }
 *     jen1_session_free(s);
 *
 * A joined request has its own KV cache, position, window schedule (a long
 * song renders window by window inside its slot, sections and resume codes
 * included), sampling parameters (guided or not), random stream, progress,
 * abort and on_window (all from the jen1_generate_params given at join;
 * progress runs 0 -> 1 over the request's own passes). Its codes do not
 * depend on its batch-mates: on the CPU they are bit for bit what it gets in a
 * session alone (each step's batch is cut into passes of at most 16 rows, 8
 * guided requests, so that every row goes through the same kernels); on CUDA,
 * up to floating-point noise. A request that is aborted, cancelled (left
 * while running) or fails ends alone; the others go on.
 *
 * Threads: a session is used by one thread at a time (any number of sessions
 * may share a model). Callbacks run on that thread, inside join and step. */
typedef struct jen1_session jen1_session;

/* A session of max_slots slots (1 to 64) over a loaded model, which must
 * outlive it. */
JEN1_API jen1_status jen1_session_new(const jen1_model *model, int max_slots, jen1_session **out, char *err,
                                      size_t errlen);
/* Frees a session with whatever its slots still hold. NULL is allowed. */
JEN1_API void jen1_session_free(jen1_session *session);
/* Checks a request (as jen1_generate does, with params' sampling and window),
 * encodes its text and prefills its first window, and puts it in a free slot
 * (*slot; -1 on error). JEN1_ERR_INVALID_ARGUMENT when every slot is taken;
 * the request and params are copied (the caller's strings and codes are not
 * kept); the callbacks and their user data must live until the slot is left. */
JEN1_API jen1_status jen1_session_join(jen1_session *session, const jen1_request *request,
                                       const jen1_generate_params *params, int *slot, char *err, size_t errlen);
/* Advances every running slot by one decoder pass (polling each one's abort
 * first). A slot whose own callback or text fails ends done with that status;
 * an error returned here is a failure of the shared pass, and ends the slots
 * that were in it. */
JEN1_API jen1_status jen1_session_step(jen1_session *session, char *err, size_t errlen);
/* Slots joined and still running. */
JEN1_API int jen1_session_running(const jen1_session *session);
/* 1: the slot's request is done (well or not) and waits to be left; 0: it is
 * running; -1: the slot holds nothing. */
JEN1_API int jen1_session_slot_done(const jen1_session *session, int slot);
/* Frees the slot and gives its request's outcome: JEN1_OK and *out (one item,
 * with audio when its params asked: EnCodec runs here), or the status it ended
 * with (*out NULL). Leaving a running slot cancels it: JEN1_ERR_ABORTED. out
 * may be NULL to discard the result. */
JEN1_API jen1_status jen1_session_leave(jen1_session *session, int slot, jen1_output **out, char *err,
                                        size_t errlen);

/* EnCodec over a song's codes ([n_codebooks][n_frames], row-major, values in
 * [0, codebook_size)): the audio jen1_session_leave and jen1_generate make
 * when asked (same chunked decode, bit for bit), for a caller that leaves a
 * slot without audio so that EnCodec runs off its decode loop. *audio (mono,
 * n_frames * samples per frame in *n_samples) is the caller's: release it
 * with jen1_free. Threads: may run on any thread, while other threads step
 * sessions over the same model. Returns JEN1_OK, or
 * JEN1_ERR_INVALID_ARGUMENT for the wrong codebook count, a code outside the
 * codebook or n_frames < 1. */
JEN1_API jen1_status jen1_codes_to_audio(const jen1_model *model, const int64_t *codes, int n_codebooks,
                                         int n_frames, float **audio, int64_t *n_samples, char *err,
                                         size_t errlen);

/* The same audio a chunk at a time (5 s of audio per call for musicgen's 50
 * frames per second), for a caller that interleaves EnCodec with the steps of
 * a session on one thread: on a CPU a second thread doing engine work costs
 * more than it saves (its own OpenMP team), and a whole 5-minute song decoded
 * at once would hold the other songs' steps for tens of seconds.
 *
 *     jen1_audio_decode *d;
 *     if (jen1_audio_decode_new(model, codes, K, F, &d, err, sizeof err) != JEN1_OK) { ... }
 *     int done = 0;
 *     while (!done) {
 *         if (jen1_audio_decode_next(d, &done, err, sizeof err) != JEN1_OK) { ... }
 *         jen1_session_step(session, err, sizeof err);   // the others go on
 *     }
 *     float *audio; int64_t n;
 *     jen1_audio_decode_take(d, &audio, &n, err, sizeof err);   // jen1_free(audio) later
 *     jen1_audio_decode_free(d);
 *
 * The audio equals jen1_codes_to_audio's bit for bit. A decoder is one
 * caller's at a time; different decoders may run on different threads.
 *
 * jen1_audio_decode_new copies the codes (the caller's may go) and returns
 * JEN1_OK with *out, or jen1_codes_to_audio's JEN1_ERR_INVALID_ARGUMENT
 * reasons, or JEN1_ERR_NO_MEMORY. jen1_audio_decode_next decodes the next
 * chunk and sets *done once none is left; after a failure the decoder only
 * frees (JEN1_ERR_INVALID_ARGUMENT from then on). jen1_audio_decode_take
 * hands over the audio once done (*audio is the caller's, jen1_free),
 * JEN1_ERR_INVALID_ARGUMENT before that or a second time.
 * jen1_audio_decode_free frees the decoder and any audio not taken (NULL is
 * allowed). */
typedef struct jen1_audio_decode jen1_audio_decode;
JEN1_API jen1_status jen1_audio_decode_new(const jen1_model *model, const int64_t *codes, int n_codebooks,
                                           int n_frames, jen1_audio_decode **out, char *err, size_t errlen);
JEN1_API jen1_status jen1_audio_decode_next(jen1_audio_decode *decode, int *done, char *err, size_t errlen);
JEN1_API jen1_status jen1_audio_decode_take(jen1_audio_decode *decode, float **audio, int64_t *n_samples,
                                            char *err, size_t errlen);
JEN1_API void jen1_audio_decode_free(jen1_audio_decode *decode);

/* ---- Runtime ------------------------------------------------------------ */

typedef struct jen1_torch_info {
    char torch_version[32];
    int cuda_built;       /* LibTorch was built with CUDA */
    int cuda_available;   /* and a device is usable now */
    int cuda_device_count;
    char device_name[128];  /* of device 0, or the CPU's capability */
    int n_threads;
} jen1_torch_info;

JEN1_API void jen1_torch_info_get(jen1_torch_info *info);

/* How many threads the engine's CPU work started from the calling thread
 * runs on (its OpenMP team), from now on; other threads keep theirs (the
 * model's n_threads, set at load). For a second thread that runs engine
 * work beside a busy decode loop, such as a text model planning the next
 * song: give it 1. With two teams of several threads on as many cores,
 * libgomp stops spinning at its barriers for the rest of the process and
 * every later step pays a wake-up at each parallel region (measured: songs
 * decoding 60% slower after a text model had planned on another thread).
 * n >= 1; a value below 1 is taken as 1. No effect on GPU kernels. */
JEN1_API void jen1_thread_set_cpu_threads(int n);

#ifdef __cplusplus
}
#endif
#endif /* JEN1_H */
