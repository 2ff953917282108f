/* mkmodel.h - the parts of jen1-mkmodel (main.c has the overview and the
 * command line):
 *
 *   layout.c   the architectures (tiny, small) and the tensor list: every
 *              name, shape and initialisation of the checkpoint
 *   weights.c  the random values, and model.safetensors
 *   hf_json.c  config.json, generation_config.json and the tokenizer /
 *              preprocessor side files, as transformers writes them
 *   spiece.c   the --spiece file, checked with shim/tokenizer/spm
 *   outdir.c   the output directory: staged next to --out, renamed into place
 *
 * Errors are values: -1 with a message in err, as everywhere in jen1. */
#ifndef JEN1_MKMODEL_H
#define JEN1_MKMODEL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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
    FILL_COPY      /* the values of `source` */
} fill_kind;

typedef struct fill {
    fill_kind kind;
    double mean, scale;
    size_t source;
} fill;

typedef struct shape {
    int ndim;
    int64_t dim[3];
} shape;

typedef struct tensor_spec {
    char name[128];
    shape shape;
    fill fill;
    float *data;
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

/* Whether the tensor is a registered buffer (the codebooks), not a parameter. */
int tensor_is_buffer(const tensor_spec *t);

/* ---- weights.c: values and model.safetensors --------------------------------- */

typedef struct model_stats {
    size_t tensors;
    int64_t parameters, buffer_values;
    off_t file_bytes;
} model_stats;

/* Generates every tensor for `seed` and writes dir/model.safetensors. */
int weights_write(const char *dir, const model_dims *d, uint64_t seed, model_stats *stats,
                  char *err, size_t errlen);

/* ---- hf_json.c: the Hugging Face JSON files ------------------------------------ */

/* Writes config.json, generation_config.json, added_tokens.json,
 * special_tokens_map.json, tokenizer_config.json and preprocessor_config.json
 * into dir; n_pieces numbers the <extra_id_N> tokens. */
int hf_write_json_files(const char *dir, const model_dims *d, long n_pieces, char *err, size_t errlen);

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
