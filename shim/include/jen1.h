/* jen1.h - the jen1 music-generation engine: a plain-C API over LibTorch.
 *
 * This is the only header C code includes from shim/. It describes a
 * MusicGen-architecture model (T5 text encoder, transformer decoder over
 * EnCodec codebooks with the delay pattern and classifier-free guidance,
 * EnCodec audio decoder) loaded from a Hugging Face checkpoint directory
 * laid out like facebook/musicgen-small.
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
 *     jen1_output_free(out);
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
 * jen1_model_params.n_threads (process-wide).
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
const char *jen1_status_name(jen1_status status);

/* ---- The model ---------------------------------------------------------- */

typedef struct jen1_model jen1_model;

typedef enum jen1_device {
    JEN1_DEVICE_AUTO = 0, /* CUDA when LibTorch sees a GPU, otherwise CPU */
    JEN1_DEVICE_CPU = 1,
    JEN1_DEVICE_CUDA = 2  /* fail with JEN1_ERR_DEVICE when there is none */
} jen1_device;

typedef enum jen1_weight_type {
    JEN1_WEIGHTS_F32 = 0,  /* decoder matmuls in fp32 (exact parity) */
    JEN1_WEIGHTS_BF16 = 1  /* decoder linear weights stored as bf16, fp32
                              accumulate: half the bytes per step, private
                              (unshared) memory, small numeric drift */
} jen1_weight_type;

typedef struct jen1_model_params {
    jen1_device device;
    int n_threads;           /* intra-op threads; <= 0 means all cores */
    jen1_weight_type decoder_weights;
} jen1_model_params;

/* Defaults: JEN1_DEVICE_AUTO, all cores, fp32 weights. */
jen1_model_params jen1_model_default_params(void);

/* Loads the checkpoint directory `dir` (config.json, model.safetensors,
 * spiece.model, and generation_config.json when present). Returns JEN1_OK and
 * sets *out, or an error status with a message naming the file (and tensor)
 * at fault; *out is then NULL. */
jen1_status jen1_model_load(const char *dir, const jen1_model_params *params,
                            jen1_model **out, char *err, size_t errlen);

/* Frees a model loaded by jen1_model_load. NULL is allowed. */
void jen1_model_free(jen1_model *model);

int jen1_model_sample_rate(const jen1_model *model);  /* Hz, e.g. 32000 */
int jen1_model_frame_rate(const jen1_model *model);   /* codes per second, e.g. 50 */
int jen1_model_num_codebooks(const jen1_model *model);
int jen1_model_codebook_size(const jen1_model *model); /* decoder vocab, e.g. 2048 */
/* The longest request in frames: the position table less the delay. */
int jen1_model_max_frames(const jen1_model *model);
/* "cpu" or "cuda:N". */
const char *jen1_model_device(const jen1_model *model);

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

typedef struct jen1_generate_params {
    jen1_sampling sampling;
    int decode_audio;       /* nonzero: run EnCodec and fill audio */
    jen1_progress_callback progress;
    void *progress_user_data;
    jen1_abort_callback abort;
    void *abort_user_data;
} jen1_generate_params;

/* Defaults from the model's generation_config.json where present
 * (guidance_scale, top_k, top_p, temperature, do_sample), otherwise
 * transformers' defaults (top_k 50, top_p 1, temperature 1, guidance 3). */
jen1_generate_params jen1_generate_default_params(const jen1_model *model);

typedef struct jen1_request {
    const char *prompt;          /* UTF-8 text; "" is a valid (empty) prompt */
    int n_frames;                /* audio frames to produce, >= 1 */
    uint64_t seed;               /* this request's own random stream: the same
                                    seed gives the same song, whatever else
                                    shares the batch */
    /* Optional continuation: the first n_prompt_frames frames of the result
     * are these codes ([num_codebooks][n_prompt_frames], row-major, values in
     * [0, codebook_size)); the model continues from them. */
    const int64_t *prompt_codes;
    int n_prompt_frames;
} jen1_request;

typedef struct jen1_output_item {
    int64_t *codes;       /* [num_codebooks][n_frames], row-major */
    int n_codebooks;
    int n_frames;
    float *audio;         /* mono PCM in [-1, 1]-ish, NULL if not decoded */
    int64_t n_samples;    /* n_frames * samples per frame */
} jen1_output_item;

typedef struct jen1_output {
    int n_items;                 /* one per request, same order */
    jen1_output_item *items;
    int sample_rate;
    double seconds_text;         /* wall time per stage */
    double seconds_decoder;
    double seconds_audio;
} jen1_output;

/* Generates audio codes (and audio when params->decode_audio) for n requests
 * as one batch. Durations may differ; each request's result is what it would
 * be alone, up to floating-point noise. Returns JEN1_OK and sets *out, or
 * JEN1_ERR_TOO_LONG when a request needs more positions than the model has,
 * JEN1_ERR_INVALID_ARGUMENT for a bad parameter, JEN1_ERR_ABORTED when the
 * abort callback stopped it. */
jen1_status jen1_generate(const jen1_model *model, const jen1_request *requests,
                          int n_requests, const jen1_generate_params *params,
                          jen1_output **out, char *err, size_t errlen);

void jen1_output_free(jen1_output *out);

/* ---- The stages, one at a time (for tools, checks and tests) ----------- */

/* A dense CPU tensor handed to the caller: float32 or int64, row-major. */
typedef enum jen1_dtype { JEN1_F32 = 0, JEN1_I64 = 1 } jen1_dtype;
typedef struct jen1_tensor {
    jen1_dtype dtype;
    int ndim;
    int64_t shape[6];
    void *data;
} jen1_tensor;

int64_t jen1_tensor_numel(const jen1_tensor *t);
/* Frees t->data and zeroes *t. */
void jen1_tensor_free(jen1_tensor *t);

/* Tokenises `text` with the model's SentencePiece model and appends </s>.
 * Writes at most max_ids ids; *n_ids receives the full count. */
jen1_status jen1_tokenize(const jen1_model *model, const char *text,
                          int64_t *ids, int max_ids, int *n_ids,
                          char *err, size_t errlen);

/* Runs the text side for a batch of prompts (right-padded). Any output
 * pointer may be NULL. input_ids/attention_mask: [B, S] int64;
 * t5_hidden_states: [L+1, B, S, d_model] (embeddings, each block's input,
 * final norm output); encoder_hidden_states: [B, S, hidden], the projected,
 * masked states the decoder cross-attends to. */
jen1_status jen1_encode_text(const jen1_model *model, const char *const *prompts,
                             int n_prompts, jen1_tensor *input_ids,
                             jen1_tensor *attention_mask,
                             jen1_tensor *t5_hidden_states,
                             jen1_tensor *encoder_hidden_states,
                             char *err, size_t errlen);

/* Teacher-forced decoder pass: decoder_ids is [B*K, T] int64 (the delayed
 * grid, rows batch-major), conditioned on the prompts. logits: [B*K, T, V];
 * hidden_states: [layers+1, B, T, hidden]. Either may be NULL. */
jen1_status jen1_decoder_forward(const jen1_model *model,
                                 const char *const *prompts, int n_prompts,
                                 const int64_t *decoder_ids, int n_steps,
                                 jen1_tensor *logits, jen1_tensor *hidden_states,
                                 char *err, size_t errlen);

/* EnCodec: codes [B, K, F] int64 -> quantised embeddings [B, D, F] and/or
 * audio [B, F * hop] float32. Either output may be NULL. */
jen1_status jen1_decode_codes(const jen1_model *model, const int64_t *codes,
                              int batch, int n_codebooks, int n_frames,
                              jen1_tensor *quantized, jen1_tensor *audio,
                              char *err, size_t errlen);

/* ---- Runtime ------------------------------------------------------------ */

typedef struct jen1_torch_info {
    char torch_version[32];
    int cuda_built;       /* LibTorch was built with CUDA */
    int cuda_available;   /* and a device is usable now */
    int cuda_device_count;
    char device_name[128];  /* of device 0, or the CPU's capability */
    int n_threads;
} jen1_torch_info;

void jen1_torch_info_get(jen1_torch_info *info);

#ifdef __cplusplus
}
#endif
#endif /* JEN1_H */
