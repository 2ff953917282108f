/* qwen_json.c - config.json and generation_config.json of a Qwen2 checkpoint,
 * with the keys and values of Qwen/Qwen2.5-0.5B-Instruct's files (the
 * special ids are Qwen2.5's: <|endoftext|> 151643, <|im_end|> 151645).
 * See mkmodel.h. */
#include "mkmodel.h"

#define QWEN_ENDOFTEXT QWEN_FIRST_ADDED_ID
#define QWEN_IM_END (QWEN_FIRST_ADDED_ID + 2)

static json_t *qwen_config(const qwen_dims *d)
{
    return json_pack("{s:[s], s:f, s:i, s:i, s:s, s:i, s:f, s:i, s:i, s:i, s:s, s:i, s:i, s:i,"
                     " s:f, s:f, s:i, s:b, s:s, s:s, s:b, s:b, s:i}",
                     "architectures", "Qwen2ForCausalLM", "attention_dropout", 0.0,
                     "bos_token_id", QWEN_ENDOFTEXT, "eos_token_id", QWEN_IM_END, "hidden_act", "silu",
                     "hidden_size", d->hidden, "initializer_range", 0.02,
                     "intermediate_size", d->intermediate, "max_position_embeddings", d->max_positions,
                     "max_window_layers", d->max_window_layers, "model_type", "qwen2",
                     "num_attention_heads", d->heads, "num_hidden_layers", d->layers,
                     "num_key_value_heads", d->kv_heads, "rms_norm_eps", d->rms_norm_eps,
                     "rope_theta", d->rope_theta, "sliding_window", d->sliding_window,
                     "tie_word_embeddings", 1, "torch_dtype", "bfloat16",
                     "transformers_version", d->transformers_version, "use_cache", 1,
                     "use_sliding_window", 0, "vocab_size", d->vocab_rows);
}

static json_t *qwen_generation_config(const qwen_dims *d)
{
    return json_pack("{s:i, s:b, s:[i, i], s:i, s:f, s:f, s:i, s:f, s:s}",
                     "bos_token_id", QWEN_ENDOFTEXT, "do_sample", 1,
                     "eos_token_id", QWEN_IM_END, QWEN_ENDOFTEXT, "pad_token_id", QWEN_ENDOFTEXT,
                     "repetition_penalty", d->repetition_penalty, "temperature", 0.7, "top_k", 20,
                     "top_p", 0.8, "transformers_version", d->generation_transformers_version);
}

int qwen_write_json_files(const char *dir, const qwen_dims *d, char *err, size_t errlen)
{
    if (hf_write_json(dir, "config.json", qwen_config(d), 1, err, errlen) != 0
        || hf_write_json(dir, "generation_config.json", qwen_generation_config(d), 1, err, errlen) != 0)
        return -1;
    return 0;
}
