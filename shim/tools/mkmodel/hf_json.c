/* hf_json.c - the JSON files of a Hugging Face MusicGen directory, with the
 * keys and values transformers' save_pretrained writes for
 * facebook/musicgen-small (config.json and its three sub-configs,
 * generation_config.json) and the T5Tokenizer / EncodecFeatureExtractor side
 * files. See mkmodel.h. */
#include "mkmodel.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "errbuf.h"

typedef struct json_field {
    const char *key;
    char type; /* 'n' null, 'b' boolean, 'i' integer, 'r' real, 's' string */
    double number;
    const char *text;
} json_field;

#define F_NULL(k) {(k), 'n', 0, NULL}
#define F_BOOL(k, v) {(k), 'b', (v), NULL}
#define F_INT(k, v) {(k), 'i', (v), NULL}
#define F_REAL(k, v) {(k), 'r', (v), NULL}
#define F_STR(k, s) {(k), 's', 0, (s)}
#define N_FIELDS(a) (sizeof(a) / sizeof *(a))

static int put_fields(json_t *obj, const json_field *fields, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const json_field *f = &fields[i];
        json_t *value = f->type == 'b' ? json_boolean(f->number != 0)
                      : f->type == 'i' ? json_integer((json_int_t)f->number)
                      : f->type == 'r' ? json_real(f->number)
                      : f->type == 's' ? json_string(f->text)
                                       : json_null();
        if (json_object_set_new(obj, f->key, value) != 0)
            return -1;
    }
    return 0;
}

/* The keys transformers' PretrainedConfig.to_dict gives every sub-config,
 * with its defaults; the sub-configs then override some. */
static const json_field pretrained_config_fields[] = {
    F_STR("_name_or_path", ""), F_BOOL("add_cross_attention", 0), F_NULL("bad_words_ids"),
    F_NULL("begin_suppress_tokens"), F_NULL("bos_token_id"), F_INT("chunk_size_feed_forward", 0),
    F_NULL("cross_attention_hidden_size"), F_NULL("decoder_start_token_id"),
    F_REAL("diversity_penalty", 0.0), F_BOOL("do_sample", 0), F_BOOL("early_stopping", 0),
    F_INT("encoder_no_repeat_ngram_size", 0), F_NULL("eos_token_id"),
    F_NULL("exponential_decay_length_penalty"), F_NULL("finetuning_task"),
    F_NULL("forced_bos_token_id"), F_NULL("forced_eos_token_id"), F_BOOL("is_decoder", 0),
    F_BOOL("is_encoder_decoder", 0), F_REAL("length_penalty", 1.0), F_INT("max_length", 20),
    F_INT("min_length", 0), F_INT("no_repeat_ngram_size", 0), F_INT("num_beam_groups", 1),
    F_INT("num_beams", 1), F_INT("num_return_sequences", 1), F_BOOL("output_attentions", 0),
    F_BOOL("output_hidden_states", 0), F_BOOL("output_scores", 0), F_NULL("pad_token_id"),
    F_NULL("prefix"), F_NULL("problem_type"), F_BOOL("remove_invalid_values", 0),
    F_REAL("repetition_penalty", 1.0), F_BOOL("return_dict", 1), F_BOOL("return_dict_in_generate", 0),
    F_NULL("sep_token_id"), F_NULL("suppress_tokens"), F_NULL("task_specific_params"),
    F_REAL("temperature", 1.0), F_BOOL("tf_legacy_loss", 0), F_BOOL("tie_encoder_decoder", 0),
    F_BOOL("tie_word_embeddings", 1), F_NULL("tokenizer_class"), F_INT("top_k", 50),
    F_REAL("top_p", 1.0), F_NULL("torch_dtype"), F_BOOL("torchscript", 0), F_REAL("typical_p", 1.0),
    F_BOOL("use_bfloat16", 0),
};

static json_t *sub_config(const char *architecture, const json_field *fields, size_t n)
{
    json_t *c = json_pack("{s:[s], s:{s:s, s:s}, s:{s:i, s:i}, s:{}}", "architectures", architecture,
                          "id2label", "0", "LABEL_0", "1", "LABEL_1",
                          "label2id", "LABEL_0", 0, "LABEL_1", 1, "pruned_heads");
    if (!c || put_fields(c, pretrained_config_fields, N_FIELDS(pretrained_config_fields)) != 0
        || put_fields(c, fields, n) != 0) {
        json_decref(c);
        return NULL;
    }
    return c;
}

static json_t *text_encoder_config(const model_dims *d)
{
    const json_field fields[] = {
        F_REAL("classifier_dropout", 0.0), F_INT("d_ff", d->t5_d_ff), F_INT("d_kv", d->t5_d_kv),
        F_INT("d_model", d->t5_d_model), F_INT("decoder_start_token_id", 0), F_STR("dense_act_fn", "relu"),
        F_REAL("dropout_rate", 0.1), F_INT("eos_token_id", 1), F_STR("feed_forward_proj", "relu"),
        F_REAL("initializer_factor", 1.0), F_BOOL("is_encoder_decoder", 1), F_BOOL("is_gated_act", 0),
        F_REAL("layer_norm_epsilon", 1e-6), F_STR("model_type", "t5"), F_INT("n_positions", 512),
        F_INT("num_decoder_layers", d->t5_layers), F_INT("num_heads", d->t5_heads),
        F_INT("num_layers", d->t5_layers), F_BOOL("output_past", 1), F_INT("pad_token_id", 0),
        F_INT("relative_attention_max_distance", d->t5_max_distance),
        F_INT("relative_attention_num_buckets", d->t5_buckets), F_BOOL("use_cache", 1),
        F_INT("vocab_size", d->t5_vocab),
    };
    return sub_config("T5ForConditionalGeneration", fields, N_FIELDS(fields));
}

static json_t *audio_encoder_config(const model_dims *d)
{
    const json_field fields[] = {
        F_INT("audio_channels", AUDIO_CHANNELS), F_NULL("chunk_length_s"),
        F_INT("codebook_dim", d->ec_codebook_dim), F_INT("codebook_size", d->ec_codebook_size),
        F_INT("compress", d->ec_compress), F_INT("dilation_growth_rate", d->ec_dilation_growth),
        F_INT("hidden_size", d->ec_hidden), F_INT("kernel_size", d->ec_kernel),
        F_INT("last_kernel_size", d->ec_last_kernel), F_STR("model_type", "encodec"),
        F_STR("norm_type", "weight_norm"), F_BOOL("normalize", 0), F_INT("num_filters", d->ec_filters),
        F_INT("num_lstm_layers", d->ec_lstm_layers), F_INT("num_residual_layers", d->ec_residual_layers),
        F_NULL("overlap"), F_STR("pad_mode", "reflect"), F_INT("residual_kernel_size", d->ec_residual_kernel),
        F_INT("sampling_rate", d->ec_sampling_rate), F_REAL("trim_right_ratio", 1.0),
        F_BOOL("use_causal_conv", 0), F_BOOL("use_conv_shortcut", 0),
    };
    json_t *c = sub_config("EncodecModel", fields, N_FIELDS(fields));
    json_t *ratios = json_array();
    for (int i = 0; ratios && i < d->ec_n_ratios; i++)
        if (json_array_append_new(ratios, json_integer(d->ec_ratios[i])) != 0) {
            json_decref(ratios);
            ratios = NULL;
        }
    /* "o" hands `ratios` over, also when packing fails */
    json_t *lists = json_pack("{s:o, s:[f]}", "upsampling_ratios", ratios, "target_bandwidths",
                              d->ec_bandwidth);
    if (!c || !lists || json_object_update(c, lists) != 0) {
        json_decref(c);
        json_decref(lists);
        return NULL;
    }
    json_decref(lists);
    return c;
}

static json_t *decoder_config(const model_dims *d)
{
    const json_field fields[] = {
        F_REAL("activation_dropout", 0.0), F_STR("activation_function", "gelu"),
        F_REAL("attention_dropout", 0.0), F_INT("audio_channels", AUDIO_CHANNELS),
        F_INT("bos_token_id", d->dec_vocab), F_REAL("dropout", 0.1), F_INT("ffn_dim", d->dec_ffn),
        F_INT("hidden_size", d->dec_hidden), F_REAL("initializer_factor", 0.02), F_REAL("layerdrop", 0.0),
        F_INT("max_position_embeddings", d->dec_positions), F_STR("model_type", "musicgen_decoder"),
        F_INT("num_attention_heads", d->dec_heads), F_INT("num_codebooks", d->dec_codebooks),
        F_INT("num_hidden_layers", d->dec_layers), F_INT("pad_token_id", d->dec_vocab),
        F_BOOL("scale_embedding", 0), F_BOOL("tie_word_embeddings", 0), F_BOOL("use_cache", 1),
        F_INT("vocab_size", d->dec_vocab),
    };
    return sub_config("MusicgenForCausalLM", fields, N_FIELDS(fields));
}

static json_t *model_config(const model_dims *d)
{
    json_t *text = text_encoder_config(d), *audio = audio_encoder_config(d), *decoder = decoder_config(d);
    if (!text || !audio || !decoder) {
        json_decref(text);
        json_decref(audio);
        json_decref(decoder);
        return NULL;
    }
    /* "o" hands the three references to the new object, also when packing fails */
    return json_pack("{s:[s], s:o, s:o, s:b, s:s, s:o, s:s, s:s}",
                     "architectures", "MusicgenForConditionalGeneration", "audio_encoder", audio,
                     "decoder", decoder, "is_encoder_decoder", 1, "model_type", "musicgen",
                     "text_encoder", text, "torch_dtype", "float32",
                     "transformers_version", d->transformers_version);
}

static json_t *generation_config(const model_dims *d)
{
    return json_pack("{s:b, s:i, s:i, s:b, s:f, s:i, s:i, s:s}", "_from_model_config", 1,
                     "bos_token_id", d->dec_vocab, "decoder_start_token_id", d->dec_vocab,
                     "do_sample", 1, "guidance_scale", 3.0, "max_length", d->gen_max_length,
                     "pad_token_id", d->dec_vocab, "transformers_version", d->transformers_version);
}

static json_t *preprocessor_config(const model_dims *d)
{
    return json_pack("{s:n, s:s, s:i, s:n, s:s, s:f, s:s, s:b, s:i}", "chunk_length_s",
                     "feature_extractor_type", "EncodecFeatureExtractor", "feature_size", AUDIO_CHANNELS,
                     "overlap", "padding_side", "left", "padding_value", 0.0,
                     "processor_class", "MusicgenProcessor", "return_attention_mask", 1,
                     "sampling_rate", d->ec_sampling_rate);
}

/* T5Tokenizer numbers <extra_id_N> downwards from the last id:
 * <extra_id_0> = pieces + 99, ..., <extra_id_99> = pieces. */
static long extra_id_token(long n_pieces, int n)
{
    return n_pieces + T5_EXTRA_IDS - 1 - n;
}

static json_t *added_tokens(long n_pieces)
{
    json_t *tokens = json_object();
    for (int n = 0; tokens && n < T5_EXTRA_IDS; n++) {
        char name[32];
        snprintf(name, sizeof name, "<extra_id_%d>", n);
        if (json_object_set_new(tokens, name, json_integer(extra_id_token(n_pieces, n))) != 0) {
            json_decref(tokens);
            return NULL;
        }
    }
    return tokens;
}

static json_t *extra_id_names(void)
{
    json_t *names = json_array();
    for (int n = 0; names && n < T5_EXTRA_IDS; n++) {
        char name[32];
        snprintf(name, sizeof name, "<extra_id_%d>", n);
        if (json_array_append_new(names, json_string(name)) != 0) {
            json_decref(names);
            return NULL;
        }
    }
    return names;
}

/* An AddedToken as the tokenizer files spell it; the extra ids strip the
 * spaces around them, the three T5 specials do not. */
static json_t *added_token(const char *content, int strip, int with_special_flag)
{
    json_t *t = json_pack("{s:s, s:b, s:b, s:b, s:b}", "content", content, "lstrip", strip,
                          "normalized", 0, "rstrip", strip, "single_word", 0);
    if (t && with_special_flag && json_object_set_new(t, "special", json_true()) != 0) {
        json_decref(t);
        return NULL;
    }
    return t;
}

static json_t *special_tokens_map(void)
{
    return json_pack("{s:o, s:o, s:o, s:o}", "additional_special_tokens", extra_id_names(),
                     "eos_token", added_token("</s>", 0, 0), "pad_token", added_token("<pad>", 0, 0),
                     "unk_token", added_token("<unk>", 0, 0));
}

static json_t *tokenizer_config(long n_pieces)
{
    static const char *const specials[] = {"<pad>", "</s>", "<unk>"}; /* ids 0, 1, 2 */
    json_t *decoder = json_object();
    for (int id = 0; decoder && id < 3; id++) {
        char key[24];
        snprintf(key, sizeof key, "%d", id);
        if (json_object_set_new(decoder, key, added_token(specials[id], 0, 1)) != 0) {
            json_decref(decoder);
            decoder = NULL;
        }
    }
    for (int n = 0; decoder && n < T5_EXTRA_IDS; n++) {
        char key[24], name[32];
        snprintf(key, sizeof key, "%ld", extra_id_token(n_pieces, n));
        snprintf(name, sizeof name, "<extra_id_%d>", n);
        if (json_object_set_new(decoder, key, added_token(name, 1, 1)) != 0) {
            json_decref(decoder);
            decoder = NULL;
        }
    }
    json_t *names = extra_id_names();
    if (!decoder || !names) {
        json_decref(decoder);
        json_decref(names);
        return NULL;
    }
    return json_pack("{s:b, s:o, s:o, s:b, s:s, s:i, s:b, s:i, s:s, s:s, s:{}, s:s, s:s}",
                     "add_prefix_space", 1, "added_tokens_decoder", decoder,
                     "additional_special_tokens", names, "clean_up_tokenization_spaces", 1,
                     "eos_token", "</s>", "extra_ids", T5_EXTRA_IDS, "legacy", 1,
                     "model_max_length", 512, "pad_token", "<pad>", "processor_class", "MusicgenProcessor",
                     "sp_model_kwargs", "tokenizer_class", "T5Tokenizer", "unk_token", "<unk>");
}

int hf_write_json(const char *dir, const char *name, json_t *json, int sort_keys, char *err, size_t errlen)
{
    if (!json) {
        errbuf_printf(err, errlen, "%s: out of memory building the JSON", name);
        return -1;
    }
    char *text = json_dumps(json, JSON_INDENT(2) | (sort_keys ? JSON_SORT_KEYS : 0) | JSON_REAL_PRECISION(15));
    json_decref(json);
    if (!text) {
        errbuf_printf(err, errlen, "%s: out of memory formatting the JSON", name);
        return -1;
    }
    buf file = BUF_INIT;
    buf_puts(&file, text);
    buf_putc(&file, '\n');
    free(text);
    if (buf_failed(&file)) {
        errbuf_printf(err, errlen, "%s: out of memory formatting the JSON", name);
        return -1;
    }
    int status = outdir_write_file(dir, name, file.data, file.len, err, errlen);
    buf_free(&file);
    return status;
}

int hf_write_json_files(const char *dir, const model_dims *d, long n_pieces, char *err, size_t errlen)
{
    if (hf_write_json(dir, "config.json", model_config(d), 1, err, errlen) != 0
        || hf_write_json(dir, "generation_config.json", generation_config(d), 1, err, errlen) != 0
        || hf_write_json(dir, "added_tokens.json", added_tokens(n_pieces), 1, err, errlen) != 0
        || hf_write_json(dir, "special_tokens_map.json", special_tokens_map(), 1, err, errlen) != 0
        || hf_write_json(dir, "tokenizer_config.json", tokenizer_config(n_pieces), 1, err, errlen) != 0
        || hf_write_json(dir, "preprocessor_config.json", preprocessor_config(d), 1, err, errlen) != 0)
        return -1;
    return 0;
}
