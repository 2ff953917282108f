/* model_config.h - the parts of a Hugging Face MusicGen checkpoint's
 * config.json (and generation_config.json) that jen1 needs, with
 * transformers' defaults for keys a checkpoint leaves out.
 * Plain C (jansson), no LibTorch. */
#ifndef JEN1_MODEL_CONFIG_H
#define JEN1_MODEL_CONFIG_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define JEN1_MAX_RATIOS 8

typedef enum { JEN1_ACT_RELU, JEN1_ACT_GELU, JEN1_ACT_GELU_NEW, JEN1_ACT_SILU } jen1_activation;

typedef struct jen1_t5_config {          /* config.json "text_encoder" (T5Config) */
    int vocab_size;                      /* default 32128 */
    int d_model;                         /* 512 */
    int d_kv;                            /* 64 */
    int d_ff;                            /* 2048 */
    int num_layers;                      /* 6 */
    int num_heads;                       /* 8 */
    int relative_attention_num_buckets;  /* 32 */
    int relative_attention_max_distance; /* 128 */
    float layer_norm_epsilon;            /* 1e-6 */
    int is_gated_act;                    /* from feed_forward_proj "gated-gelu" etc. */
    jen1_activation dense_act_fn;        /* from feed_forward_proj: relu / gelu_new ("gated-gelu" -> gelu_new) */
    int pad_token_id;                    /* 0 */
    int eos_token_id;                    /* 1 */
} jen1_t5_config;

typedef struct jen1_decoder_config {     /* config.json "decoder" (MusicgenDecoderConfig) */
    int vocab_size;                      /* 2048 */
    int hidden_size;                     /* 1024 */
    int num_hidden_layers;               /* 24 */
    int num_attention_heads;             /* 16 */
    int ffn_dim;                         /* 4096 */
    int num_codebooks;                   /* 4 */
    int max_position_embeddings;         /* 2048 */
    int scale_embedding;                 /* false */
    int audio_channels;                  /* 1; 2 (stereo) is refused as unsupported */
    jen1_activation activation_function; /* "gelu" */
    int pad_token_id;                    /* 2048 */
    int bos_token_id;                    /* 2048 */
} jen1_decoder_config;

typedef struct jen1_encodec_config {     /* config.json "audio_encoder" (EncodecConfig) */
    int sampling_rate;                   /* 24000 */
    int audio_channels;                  /* 1 */
    int num_filters;                     /* 32 */
    int hidden_size;                     /* 128 */
    int codebook_size;                   /* 1024 */
    int codebook_dim;                    /* hidden_size when absent/null */
    int n_ratios;
    int upsampling_ratios[JEN1_MAX_RATIOS]; /* [8,5,4,2] */
    int kernel_size;                     /* 7 */
    int last_kernel_size;                /* 7 */
    int residual_kernel_size;            /* 3 */
    int dilation_growth_rate;            /* 2 */
    int num_residual_layers;             /* 1 */
    int num_lstm_layers;                 /* 2 */
    int compress;                        /* 2 */
    int use_causal_conv;                 /* true */
    int pad_mode_reflect;                /* pad_mode "reflect" (1) or "constant" (0) */
    int norm_weight;                     /* norm_type "weight_norm" (1) or "time_group_norm" (0, unsupported) */
    int use_conv_shortcut;               /* true */
    float trim_right_ratio;              /* 1.0 */
    int normalize;                       /* false */
    int hop_length;                      /* product of upsampling_ratios */
    int frame_rate;                      /* ceil(sampling_rate / hop_length) */
} jen1_encodec_config;

typedef struct jen1_generation_config {  /* generation_config.json, GenerationConfig defaults */
    int do_sample;                       /* false */
    int top_k;                           /* 50; 0 (null in the file) = no top-k filter */
    float top_p;                         /* 1.0 */
    float temperature;                   /* 1.0 */
    float guidance_scale;                /* absent -> 1.0 (no guidance) */
    int max_length;                      /* 20 */
    int has_file;                        /* generation_config.json was present */
} jen1_generation_config;

typedef struct jen1_model_config {
    jen1_t5_config t5;
    jen1_decoder_config decoder;
    jen1_encodec_config encodec;
    jen1_generation_config generation;
} jen1_model_config;

/* Parses `config_path` (required) and `generation_path` (may be NULL or name a
 * missing file: defaults then). Checks types and ranges (positive sizes,
 * hidden divisible by heads, ...). Returns 0, or -1 with a message naming the
 * file and key in err. */
int jen1_model_config_load(const char *config_path, const char *generation_path,
                           jen1_model_config *out, char *err, size_t errlen);

/* Same from JSON text already in memory (for tests and fuzzing). gen_json may be NULL. */
int jen1_model_config_parse(const char *config_json, const char *gen_json, const char *label,
                            jen1_model_config *out, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
