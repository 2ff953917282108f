/* mkmodel.h - the parts of jen1-mkmodel (main.c has the overview and the
 * command line):
 *
 *   layout.c      the MusicGen architectures (tiny, small) and the tensor
 *                 list: every name, shape and initialisation of the checkpoint
 *   qwen_layout.c the Qwen2 architecture (qwen2.5-0.5b) and its tensor list
 *   weights.c     the random values, and model.safetensors
 *   hf_json.c     MusicGen's config.json, generation_config.json and the
 *                 tokenizer / preprocessor side files, as transformers writes them
 *   qwen_json.c   Qwen2's config.json and generation_config.json
 *   bpe_files.c   the --tokenizer-from files (vocab.json, merges.txt,
 *                 tokenizer.json, tokenizer_config.json), checked and renumbered
 *   spiece.c      the --spiece file, checked with shim/tokenizer/spm
 *   outdir.c      the output directory: staged next to --out, renamed into place
 *
 * Errors are values: -1 with a message in err, as everywhere in jen1. */
#ifndef JEN1_MKMODEL_H
#define JEN1_MKMODEL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "buf.h"
#include "safetensors.h"

#define TOOL "jen1-mkmodel"
#define T5_EXTRA_IDS 100 /* <extra_id_0..99>, appended after the spm pieces */
#define AUDIO_CHANNELS 1 /* mono, as every MusicGen checkpoint jen1 serves */

/* ---- layout.c: architectures and the tensor list ----------------------------- */

typedef struct model_dims {
    const char *name;
    /* T5 text encoder */
    int t5_vocab, t5_d_model, t5_d_kv, t5_heads, t5_d_ff, t5_layers;
    int t5_buckets, t5_max_distance;
    /* MusicGen decoder */
    int dec_vocab, dec_hidden, dec_layers, dec_heads, dec_ffn, dec_codebooks, dec_positions;
    /* EnCodec */
    int ec_sampling_rate, ec_filters, ec_hidden, ec_codebook_dim, ec_codebook_size;
    int ec_n_ratios, ec_ratios[4];
    double ec_bandwidth;
    int ec_kernel, ec_last_kernel, ec_residual_kernel, ec_dilation_growth;
    int ec_residual_layers, ec_lstm_layers, ec_compress;
    /* generation_config.json */
    int gen_max_length;
    const char *transformers_version;
} model_dims;

/* "tiny" or "small"; NULL for another name. */
const model_dims *model_dims_named(const char *name);

typedef enum fill_kind {
    FILL_NORMAL,   /* mean + scale * N(0,1) */
    FILL_UNIFORM,  /* U(-scale, scale) */
    FILL_CONSTANT, /* mean */
    FILL_SINUSOID, /* MusicGen's sinusoidal position table */
    FILL_WEIGHT_G, /* per row of `source` (a weight_v): U(0.5,1.5) * ||row|| */
    FILL_COPY,     /* the values of `source` */
    FILL_ROWS      /* scale * N(0,1) in rows [rows[0], rows[1]) and [rows[2], rows[3]), 0 elsewhere */
} fill_kind;

typedef struct fill {
    fill_kind kind;
    double mean, scale;
    size_t source;
    int64_t rows[4];
} fill;

typedef struct shape {
    int ndim;
    int64_t dim[3];
} shape;

typedef struct tensor_spec {
    char name[128];
    shape shape;
    fill fill;
    float *data;     /* the values; freed once converted to bf16 */
    uint16_t *bf16;  /* the values in bf16, when the checkpoint stores BF16 */
} tensor_spec;

typedef struct tensor_list {
    tensor_spec *items;
    size_t n, cap;
    int failed; /* an allocation failed or a name did not fit */
} tensor_list;


/* Every tensor of the checkpoint in state_dict() order; sources (weight_v,
 * embed) precede the tensors derived from them. 0, or -1 with a message. */
int tensor_list_build(tensor_list *l, const model_dims *d, char *err, size_t errlen);
void tensor_list_free(tensor_list *l);

/* Appends a tensor named by the printf-style fmt and returns its index. On
 * failure sets l->failed (checked once the list is complete). */
size_t tensor_list_add(tensor_list *l, shape s, fill f, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define SHAPE1(a) ((shape){1, {(a), 0, 0}})
#define SHAPE2(a, b) ((shape){2, {(a), (b), 0}})
#define SHAPE3(a, b, c) ((shape){3, {(a), (b), (c)}})

/* ---- qwen_layout.c: Qwen2 architectures ---------------------------------------- */

/* Qwen2.5's special tokens sit right after the 151643 regular tokens, at
 * these ids; the embedding has rows up to QWEN_VOCAB_ROWS - 1. */
#define QWEN_FIRST_ADDED_ID 151643
#define QWEN_VOCAB_ROWS 151936

typedef struct qwen_dims {
    const char *name;
    int hidden, layers, heads, kv_heads, intermediate, vocab_rows, max_positions;
    int max_window_layers, sliding_window, model_max_length;
    double rope_theta, rms_norm_eps, repetition_penalty;
    const char *transformers_version, *generation_transformers_version;
} qwen_dims;

/* "qwen2.5-0.5b"; NULL for another name. */
const qwen_dims *qwen_dims_named(const char *name);

/* Every tensor of Qwen2ForCausalLM's state_dict() but the tied lm_head.
 * Embedding rows no token has (ids n_regular..151642 and from 151643 +
 * n_added on) are zero. 0, or -1 with a message. */
int qwen_tensor_list_build(tensor_list *l, const qwen_dims *d, long n_regular, long n_added,
                           char *err, size_t errlen);

/* Whether the tensor is a registered buffer (the codebooks), not a parameter. */
int tensor_is_buffer(const tensor_spec *t);

/* ---- weights.c: values and model.safetensors --------------------------------- */

typedef struct model_stats {
    size_t tensors;
    int64_t parameters, buffer_values;
    off_t file_bytes;
} model_stats;

/* Generates every tensor of the list for `seed`, stores it as `dtype` (F32,
 * or BF16 for a list without FILL_COPY / FILL_WEIGHT_G) and writes
 * dir/model.safetensors. */
int weights_write(const char *dir, tensor_list *list, safetensors_dtype dtype, uint64_t seed,
                  model_stats *stats, char *err, size_t errlen);

/* ---- hf_json.c: the Hugging Face JSON files ------------------------------------ */

/* Writes config.json, generation_config.json, added_tokens.json,
 * special_tokens_map.json, tokenizer_config.json and preprocessor_config.json
 * into dir; n_pieces numbers the <extra_id_N> tokens. */
int hf_write_json_files(const char *dir, const model_dims *d, long n_pieces, char *err, size_t errlen);

/* Writes `json` (a reference this call takes over; NULL means building it ran
 * out of memory) as dir/name, indented by 2, keys sorted like transformers'
 * save_pretrained when sort_keys, else in their order. */
int hf_write_json(const char *dir, const char *name, json_t *json, int sort_keys, char *err, size_t errlen);

/* ---- qwen_json.c: Qwen2's JSON files --------------------------------------------- */

/* Writes config.json and generation_config.json as Qwen2.5-Instruct's. */
int qwen_write_json_files(const char *dir, const qwen_dims *d, char *err, size_t errlen);

/* ---- bpe_files.c: the byte-level BPE tokenizer files ------------------------------ */

typedef struct bpe_files {
    buf vocab_json, merges_txt;     /* copied as read; vocab.json with the placeholders below */
    json_t *tokenizer, *tokenizer_config; /* renumbered */
    long n_regular, n_added, n_merges;
} bpe_files;

/* Reads and checks dir's vocab.json, merges.txt, tokenizer.json and
 * tokenizer_config.json (a byte-level BPE whose first added tokens are
 * <|endoftext|>, <|im_start|>, <|im_end|>), and moves the added tokens to
 * ids 151643 on; tokenizer_config.json gets model_max_length. A vocabulary
 * smaller than Qwen2.5's (the fixture's 756 tokens) gets placeholder tokens
 * "<|unused_ID|>" for the ids up to 151642, in vocab.json and tokenizer.json,
 * so that its ids run without a gap as a real one's do (no merge makes them,
 * no text encodes to them; their embedding rows are zero). 0, or -1 with a
 * message naming --tokenizer-from. */
int bpe_files_load(const char *dir, long model_max_length, bpe_files *out, char *err, size_t errlen);

/* Writes the four files into dir. */
int bpe_files_write(const char *dir, const bpe_files *f, char *err, size_t errlen);
void bpe_files_free(bpe_files *f);

/* ---- spiece.c: the SentencePiece model ---------------------------------------- */

typedef struct spiece {
    unsigned char *bytes; /* the file, malloc'd: copied into the model as is */
    size_t len;
    long n_pieces;
} spiece;

/* Reads the --spiece file and checks it with jen1's own SentencePiece
 * reader. 0, or -1 with a message naming --spiece. */
int spiece_load(const char *path, spiece *out, char *err, size_t errlen);
void spiece_free(spiece *s);

/* ---- outdir.c: files and the output directory ---------------------------------- */

/* dir/name into buf; -1 when it does not fit. */
int outdir_path(char *buf, size_t len, const char *dir, const char *name);

/* Creates dir/name (which must not exist) holding `len` bytes, fsynced. */
int outdir_write_file(const char *dir, const char *name, const void *data, size_t len,
                      char *err, size_t errlen);

/* Checks --out (absent, or an empty directory), creates the folders above it
 * and the staging directory out.tmp-XXXXXX next to it, whose path goes to
 * staging (staging_len bytes). */
int outdir_begin(const char *out, char *staging, size_t staging_len, char *err, size_t errlen);

/* Renames the complete staging directory to --out, durably. */
int outdir_commit(const char *staging, const char *out, char *err, size_t errlen);

/* Removes a staging directory and the files in it. */
void outdir_abandon(const char *staging);

#endif
