/* text_config.h - the parts of a Hugging Face causal-LM checkpoint's
 * config.json and generation_config.json that the text engine needs, with
 * transformers 4.44.2's defaults for absent keys (Qwen2Config,
 * GenerationConfig). Plain C (jansson), no LibTorch.
 *
 * The decoder is described by sizes and flags, not by family: Qwen2 (q/k/v
 * biases), Qwen3 (per-head q/k RMSNorm, explicit head_dim) and Llama (no
 * biases) differ only in those. Only the families listed in text_config.c
 * load; the others are refused as unsupported. */
#ifndef JEN1_TEXT_CONFIG_H
#define JEN1_TEXT_CONFIG_H

#include <stddef.h>

#include "jen1.h"

#ifdef __cplusplus
extern "C" {
#endif

#define JEN1_TEXT_MAX_EOS 8

typedef struct jen1_text_generation_config {  /* generation_config.json */
    int do_sample;            /* false */
    float temperature;        /* 1.0 */
    int top_k;                /* 50; null: 0 (off) */
    float top_p;              /* 1.0 */
    float repetition_penalty; /* 1.0 */
    int n_eos;                /* eos_token_id (int or list); config.json's when absent */
    int eos_token_ids[JEN1_TEXT_MAX_EOS];
    int pad_token_id;         /* absent: the first EOS id, as transformers does */
    int has_file;
} jen1_text_generation_config;

typedef struct jen1_text_config {
    char model_type[32];           /* "qwen2" */
    char architecture[64];         /* "Qwen2ForCausalLM" */
    int vocab_size;
    int hidden_size;
    int intermediate_size;
    int num_hidden_layers;
    int num_attention_heads;
    int num_key_value_heads;       /* default num_attention_heads */
    int head_dim;                  /* default hidden_size / num_attention_heads */
    float rms_norm_eps;            /* 1e-6 */
    double rope_theta;             /* 10000 */
    int max_position_embeddings;   /* 32768 */
    int tie_word_embeddings;       /* false */
    int attention_bias;            /* q/k/v carry biases (Qwen2: always) */
    int bos_token_id;              /* -1 when null or absent */
    int n_eos;                     /* config.json's eos_token_id (int or list) */
    int eos_token_ids[JEN1_TEXT_MAX_EOS];
    jen1_text_generation_config generation;
} jen1_text_config;

/* Parses config.json at config_path and generation_config.json at
 * generation_path (NULL or a missing file: defaults). Returns JEN1_OK;
 * JEN1_ERR_IO (config.json unreadable), JEN1_ERR_FORMAT (bad JSON, a field of
 * the wrong type or out of range) or JEN1_ERR_UNSUPPORTED (an architecture or
 * feature jen1 does not run: rope_scaling, a sliding window, another
 * activation), with a message naming the file and the key in err. */
jen1_status jen1_text_config_load(const char *config_path, const char *generation_path,
                                  jen1_text_config *out, char *err, size_t errlen);

/* The same from JSON text in memory (tests, fuzzing); gen_json may be NULL. */
jen1_status jen1_text_config_parse(const char *config_json, const char *gen_json,
                                   jen1_text_config *out, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
