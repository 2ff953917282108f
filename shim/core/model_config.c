/* model_config.c - MusicGen config.json / generation_config.json into
 * jen1_model_config, with transformers 4.44.2's defaults for absent keys
 * (T5Config, MusicgenDecoderConfig, EncodecConfig, GenerationConfig). */
#include "buf.h"
#include "errbuf.h"
#include "model_config.h"

#include <errno.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Larger than any real size or vocabulary; keeps products in range. */
#define MAX_SIZE (1 << 24)
#define MAX_FILE_BYTES (64u << 20)


/* Where a value comes from, for messages: "<label>: <part>.<key> ...". */
typedef struct {
    const char *label;
    const char *part;
    json_t *obj;
    char *err;
    size_t errlen;
} section;

static void section_err(const section *s, const char *key, const char *fmt, ...)
{
    if (!s->err || s->errlen == 0)
        return;
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (s->part)
        snprintf(s->err, s->errlen, "%s: %s.%s %s", s->label, s->part, key, what);
    else
        snprintf(s->err, s->errlen, "%s: %s %s", s->label, key, what);
}

/* An integer in [min, max]; `def` when the key is absent. */
static int get_int(const section *s, const char *key, int def, int min, int max, int *out)
{
    json_t *v = json_object_get(s->obj, key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min) {
        if (min == 1)
            section_err(s, key, "must be a positive integer");
        else if (min == 0)
            section_err(s, key, "must be a non-negative integer");
        else
            section_err(s, key, "must be an integer >= %d", min);
        return -1;
    }
    if (json_integer_value(v) > max) {
        section_err(s, key, "is %lld, more than the supported %d",
                    (long long)json_integer_value(v), max);
        return -1;
    }
    *out = (int)json_integer_value(v);
    return 0;
}

static int get_size(const section *s, const char *key, int def, int *out)
{
    return get_int(s, key, def, 1, MAX_SIZE, out);
}

static int get_bool(const section *s, const char *key, int def, int *out)
{
    json_t *v = json_object_get(s->obj, key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!json_is_boolean(v)) {
        section_err(s, key, "must be true or false");
        return -1;
    }
    *out = json_is_true(v);
    return 0;
}

/* A finite number (integer or real) in [min, max], > min when min_exclusive. */
static int get_float(const section *s, const char *key, double def, double min, int min_exclusive,
                     double max, float *out)
{
    json_t *v = json_object_get(s->obj, key);
    if (!v) {
        *out = (float)def;
        return 0;
    }
    double x = json_number_value(v);
    /* The range holds for the float kept, too: 1e-50 would become 0, 1e39 infinity. */
    if (!json_is_number(v) || !isfinite(x) || fabs(x) > FLT_MAX || x < min ||
        (min_exclusive && (float)x <= min) || x > max) {
        if (max < HUGE_VAL)
            section_err(s, key, "must be a number in %c%g, %g]", min_exclusive ? '(' : '[', min, max);
        else
            section_err(s, key, "must be a number %s %g", min_exclusive ? ">" : ">=", min);
        return -1;
    }
    *out = (float)x;
    return 0;
}

/* A string, or `def` when absent. */
static int get_string(const section *s, const char *key, const char *def, const char **out)
{
    json_t *v = json_object_get(s->obj, key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!json_is_string(v)) {
        section_err(s, key, "must be a string");
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

static int activation_from_name(const char *name, jen1_activation *out)
{
    static const struct {
        const char *name;
        jen1_activation act;
    } known[] = {
        {"relu", JEN1_ACT_RELU},
        {"gelu", JEN1_ACT_GELU},
        {"gelu_new", JEN1_ACT_GELU_NEW},
        /* the same tanh approximation as gelu_new */
        {"gelu_pytorch_tanh", JEN1_ACT_GELU_NEW},
        {"silu", JEN1_ACT_SILU},
        {"swish", JEN1_ACT_SILU},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (strcmp(known[i].name, name) == 0) {
            *out = known[i].act;
            return 0;
        }
    }
    return -1;
}

static int get_activation(const section *s, const char *key, const char *name, jen1_activation *out)
{
    if (activation_from_name(name, out) != 0) {
        section_err(s, key, "'%s' is not a supported activation "
                    "(relu, gelu, gelu_new, gelu_pytorch_tanh, silu, swish)", name);
        return -1;
    }
    return 0;
}

/* A sub-config's "model_type", when given, must name the class we parse. */
static int check_model_type(const section *s, const char *expected)
{
    const char *type;
    if (get_string(s, "model_type", expected, &type) != 0)
        return -1;
    if (strcmp(type, expected) != 0) {
        section_err(s, "model_type", "is '%s'; only '%s' is supported", type, expected);
        return -1;
    }
    return 0;
}

/* --------------------------------------------------------------- T5Config */

/* feed_forward_proj is "ACT" or "gated-ACT"; "gated-gelu" means gelu_new.
 * Explicit dense_act_fn / is_gated_act keys win, as they do in transformers
 * (its kwargs are set on the config after __init__ derived them). */
static int parse_t5_activation(const section *s, jen1_t5_config *t5)
{
    const char *proj;
    if (get_string(s, "feed_forward_proj", "relu", &proj) != 0)
        return -1;
    const char *dash = strchr(proj, '-');
    const char *act_name = proj;
    t5->is_gated_act = 0;
    if (dash) {
        if ((size_t)(dash - proj) != strlen("gated") || strncmp(proj, "gated", 5) != 0 ||
            strchr(dash + 1, '-')) {
            section_err(s, "feed_forward_proj", "'%s' is not of the form 'ACT' or 'gated-ACT'",
                        proj);
            return -1;
        }
        t5->is_gated_act = 1;
        act_name = strcmp(proj, "gated-gelu") == 0 ? "gelu_new" : dash + 1;
    }
    if (get_activation(s, "feed_forward_proj", act_name, &t5->dense_act_fn) != 0)
        return -1;

    const char *dense_act_fn;
    if (get_string(s, "dense_act_fn", NULL, &dense_act_fn) != 0)
        return -1;
    if (dense_act_fn && get_activation(s, "dense_act_fn", dense_act_fn, &t5->dense_act_fn) != 0)
        return -1;
    return get_bool(s, "is_gated_act", t5->is_gated_act, &t5->is_gated_act);
}

static int parse_t5(const section *s, jen1_t5_config *t5)
{
    if (check_model_type(s, "t5") != 0 ||
        get_size(s, "vocab_size", 32128, &t5->vocab_size) != 0 ||
        get_size(s, "d_model", 512, &t5->d_model) != 0 ||
        get_size(s, "d_kv", 64, &t5->d_kv) != 0 ||
        get_size(s, "d_ff", 2048, &t5->d_ff) != 0 ||
        get_size(s, "num_layers", 6, &t5->num_layers) != 0 ||
        get_size(s, "num_heads", 8, &t5->num_heads) != 0 ||
        get_size(s, "relative_attention_num_buckets", 32, &t5->relative_attention_num_buckets) != 0 ||
        get_size(s, "relative_attention_max_distance", 128, &t5->relative_attention_max_distance) != 0 ||
        get_float(s, "layer_norm_epsilon", 1e-6, 0.0, 1, HUGE_VAL, &t5->layer_norm_epsilon) != 0 ||
        get_int(s, "pad_token_id", 0, 0, MAX_SIZE, &t5->pad_token_id) != 0 ||
        get_int(s, "eos_token_id", 1, 0, MAX_SIZE, &t5->eos_token_id) != 0 ||
        parse_t5_activation(s, t5) != 0)
        return -1;

    if ((int64_t)t5->num_heads * t5->d_kv > MAX_SIZE) {
        section_err(s, "num_heads", "* d_kv = %lld is more than the supported %d",
                    (long long)t5->num_heads * t5->d_kv, MAX_SIZE);
        return -1;
    }
    /* The encoder's bidirectional buckets give half to each direction and
     * half of those to exact distances; the log-spaced rest needs room. */
    int exact = t5->relative_attention_num_buckets / 4;
    if (t5->relative_attention_num_buckets < 4 || t5->relative_attention_max_distance <= exact) {
        section_err(s, "relative_attention_num_buckets",
                    "(%d) must be >= 4 with relative_attention_max_distance (%d) > buckets / 4",
                    t5->relative_attention_num_buckets, t5->relative_attention_max_distance);
        return -1;
    }
    if (t5->pad_token_id >= t5->vocab_size || t5->eos_token_id >= t5->vocab_size) {
        section_err(s, "pad_token_id", "(%d) and eos_token_id (%d) must be below vocab_size (%d)",
                    t5->pad_token_id, t5->eos_token_id, t5->vocab_size);
        return -1;
    }
    return 0;
}

/* -------------------------------------------------- MusicgenDecoderConfig */

static int parse_decoder(const section *s, jen1_decoder_config *d)
{
    const char *act;
    if (get_size(s, "vocab_size", 2048, &d->vocab_size) != 0 ||
        get_size(s, "hidden_size", 1024, &d->hidden_size) != 0 ||
        get_size(s, "num_hidden_layers", 24, &d->num_hidden_layers) != 0 ||
        get_size(s, "num_attention_heads", 16, &d->num_attention_heads) != 0 ||
        get_size(s, "ffn_dim", 4096, &d->ffn_dim) != 0 ||
        get_size(s, "num_codebooks", 4, &d->num_codebooks) != 0 ||
        get_size(s, "max_position_embeddings", 2048, &d->max_position_embeddings) != 0 ||
        get_bool(s, "scale_embedding", 0, &d->scale_embedding) != 0 ||
        get_size(s, "audio_channels", 1, &d->audio_channels) != 0 ||
        get_string(s, "activation_function", "gelu", &act) != 0 ||
        get_activation(s, "activation_function", act, &d->activation_function) != 0 ||
        get_int(s, "pad_token_id", 2048, 0, MAX_SIZE, &d->pad_token_id) != 0 ||
        get_int(s, "bos_token_id", 2048, 0, MAX_SIZE, &d->bos_token_id) != 0)
        return -1;

    if (d->audio_channels == 2) {
        section_err(s, "audio_channels", "is 2 (stereo MusicGen), which is not supported: "
                    "only mono (1) checkpoints are");
        return -1;
    }
    if (d->audio_channels != 1) {
        section_err(s, "audio_channels", "must be 1 (mono), not %d", d->audio_channels);
        return -1;
    }
    if (d->hidden_size % d->num_attention_heads != 0) {
        section_err(s, "hidden_size", "(%d) is not divisible by %s.num_attention_heads (%d)",
                    d->hidden_size, s->part, d->num_attention_heads);
        return -1;
    }
    /* The embedding tables have vocab_size + 1 rows; the extra one is BOS/pad. */
    if (d->pad_token_id > d->vocab_size || d->bos_token_id > d->vocab_size) {
        section_err(s, "bos_token_id", "(%d) and pad_token_id (%d) must be at most vocab_size (%d)",
                    d->bos_token_id, d->pad_token_id, d->vocab_size);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------- EncodecConfig */

static int parse_ratios(const section *s, jen1_encodec_config *e)
{
    static const int defaults[] = {8, 5, 4, 2};
    json_t *v = json_object_get(s->obj, "upsampling_ratios");
    if (!v) {
        e->n_ratios = 4;
        memcpy(e->upsampling_ratios, defaults, sizeof defaults);
    } else {
        size_t n = json_array_size(v);
        if (!json_is_array(v) || n == 0 || n > JEN1_MAX_RATIOS) {
            section_err(s, "upsampling_ratios", "must be an array of 1 to %d positive integers",
                        JEN1_MAX_RATIOS);
            return -1;
        }
        e->n_ratios = (int)n;
        for (size_t i = 0; i < n; i++) {
            json_t *r = json_array_get(v, i);
            if (!json_is_integer(r) || json_integer_value(r) < 1 ||
                json_integer_value(r) > MAX_SIZE) {
                section_err(s, "upsampling_ratios", "[%zu] must be a positive integer", i);
                return -1;
            }
            e->upsampling_ratios[i] = (int)json_integer_value(r);
        }
    }
    int64_t hop = 1;
    for (int i = 0; i < e->n_ratios; i++) {
        hop *= e->upsampling_ratios[i];
        if (hop > MAX_SIZE) {
            section_err(s, "upsampling_ratios", "multiply to more than the supported %d", MAX_SIZE);
            return -1;
        }
    }
    e->hop_length = (int)hop;
    e->frame_rate = (e->sampling_rate + e->hop_length - 1) / e->hop_length;
    return 0;
}

static int parse_encodec_modes(const section *s, jen1_encodec_config *e)
{
    const char *norm, *pad;
    if (get_string(s, "norm_type", "weight_norm", &norm) != 0 ||
        get_string(s, "pad_mode", "reflect", &pad) != 0)
        return -1;
    if (strcmp(norm, "time_group_norm") == 0) {
        section_err(s, "norm_type", "'time_group_norm' is not supported (only weight_norm)");
        return -1;
    }
    if (strcmp(norm, "weight_norm") != 0) {
        section_err(s, "norm_type", "'%s' is unknown (weight_norm or time_group_norm)", norm);
        return -1;
    }
    e->norm_weight = 1;
    if (strcmp(pad, "reflect") != 0 && strcmp(pad, "constant") != 0) {
        section_err(s, "pad_mode", "'%s' is not supported (reflect or constant)", pad);
        return -1;
    }
    e->pad_mode_reflect = strcmp(pad, "reflect") == 0;
    return 0;
}

static int parse_encodec(const section *s, jen1_encodec_config *e)
{
    if (check_model_type(s, "encodec") != 0 ||
        get_size(s, "sampling_rate", 24000, &e->sampling_rate) != 0 ||
        get_size(s, "audio_channels", 1, &e->audio_channels) != 0 ||
        get_size(s, "num_filters", 32, &e->num_filters) != 0 ||
        get_size(s, "hidden_size", 128, &e->hidden_size) != 0 ||
        get_size(s, "codebook_size", 1024, &e->codebook_size) != 0 ||
        get_size(s, "kernel_size", 7, &e->kernel_size) != 0 ||
        get_size(s, "last_kernel_size", 7, &e->last_kernel_size) != 0 ||
        get_size(s, "residual_kernel_size", 3, &e->residual_kernel_size) != 0 ||
        get_size(s, "dilation_growth_rate", 2, &e->dilation_growth_rate) != 0 ||
        get_size(s, "num_residual_layers", 1, &e->num_residual_layers) != 0 ||
        get_size(s, "num_lstm_layers", 2, &e->num_lstm_layers) != 0 ||
        get_size(s, "compress", 2, &e->compress) != 0 ||
        get_bool(s, "use_causal_conv", 1, &e->use_causal_conv) != 0 ||
        get_bool(s, "use_conv_shortcut", 1, &e->use_conv_shortcut) != 0 ||
        get_bool(s, "normalize", 0, &e->normalize) != 0 ||
        get_float(s, "trim_right_ratio", 1.0, 0.0, 0, 1.0, &e->trim_right_ratio) != 0 ||
        parse_encodec_modes(s, e) != 0 || parse_ratios(s, e) != 0)
        return -1;

    /* codebook_dim null (as saved by transformers) or absent: hidden_size. */
    json_t *dim = json_object_get(s->obj, "codebook_dim");
    if (json_is_null(dim))
        e->codebook_dim = e->hidden_size;
    else if (get_size(s, "codebook_dim", e->hidden_size, &e->codebook_dim) != 0)
        return -1;

    if (e->audio_channels == 2) {
        section_err(s, "audio_channels", "is 2 (stereo EnCodec), which is not supported: "
                    "only mono (1)");
        return -1;
    }
    if (e->audio_channels != 1) {
        section_err(s, "audio_channels", "must be 1 (mono), not %d", e->audio_channels);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------ GenerationConfig */

/* null counts as absent, except top_k: None there disables top-k (0). */
static int parse_generation(const section *s, jen1_generation_config *g)
{
    json_t *top_k = json_object_get(s->obj, "top_k");
    g->top_k = 0;
    if (!json_is_null(top_k) && get_int(s, "top_k", 50, 0, INT32_MAX, &g->top_k) != 0)
        return -1;

    const char *nullable[] = {"guidance_scale", "temperature", "top_p", "max_length"};
    for (size_t i = 0; i < sizeof nullable / sizeof nullable[0]; i++)
        if (json_is_null(json_object_get(s->obj, nullable[i])))
            json_object_del(s->obj, nullable[i]);

    return get_bool(s, "do_sample", 0, &g->do_sample) != 0 ||
                   get_float(s, "top_p", 1.0, 0.0, 1, 1.0, &g->top_p) != 0 ||
                   get_float(s, "temperature", 1.0, 0.0, 1, HUGE_VAL, &g->temperature) != 0 ||
                   get_float(s, "guidance_scale", 1.0, 0.0, 0, HUGE_VAL, &g->guidance_scale) != 0 ||
                   get_int(s, "max_length", 20, 1, INT32_MAX, &g->max_length) != 0
               ? -1
               : 0;
}

/* ------------------------------------------------------------- the files */

static json_t *parse_json(const char *text, size_t len, const char *label, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!root) {
        errbuf_printf(err, errlen, "%s: invalid JSON at line %d, column %d: %s", label, jerr.line,
                jerr.column, jerr.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        errbuf_printf(err, errlen, "%s: the top level is not a JSON object", label);
        json_decref(root);
        return NULL;
    }
    return root;
}

/* A required part of config.json that must be a JSON object. */
static int get_part(json_t *root, const char *label, const char *part, const char *what,
                    section *s, char *err, size_t errlen)
{
    json_t *obj = json_object_get(root, part);
    if (!obj) {
        errbuf_printf(err, errlen, "%s: missing '%s' (the %s config)", label, part, what);
        return -1;
    }
    if (!json_is_object(obj)) {
        errbuf_printf(err, errlen, "%s: '%s' is not a JSON object", label, part);
        return -1;
    }
    *s = (section){label, part, obj, err, errlen};
    return 0;
}

static int parse_config_root(json_t *root, const char *label, jen1_model_config *cfg,
                             char *err, size_t errlen)
{
    section top = {label, NULL, root, err, errlen};
    section t5, decoder, encodec;
    if (check_model_type(&top, "musicgen") != 0 ||
        get_part(root, label, "text_encoder", "T5 text encoder", &t5, err, errlen) != 0 ||
        get_part(root, label, "decoder", "MusicGen decoder", &decoder, err, errlen) != 0 ||
        get_part(root, label, "audio_encoder", "EnCodec audio", &encodec, err, errlen) != 0)
        return -1;
    if (parse_t5(&t5, &cfg->t5) != 0 || parse_decoder(&decoder, &cfg->decoder) != 0 ||
        parse_encodec(&encodec, &cfg->encodec) != 0)
        return -1;
    return 0;
}

static int parse_generation_text(const char *text, size_t len, const char *label,
                                 jen1_generation_config *g, char *err, size_t errlen)
{
    json_t *root = parse_json(text, len, label, err, errlen);
    if (!root)
        return -1;
    section s = {label, NULL, root, err, errlen};
    int status = parse_generation(&s, g);
    json_decref(root);
    g->has_file = 1;
    return status;
}

static void generation_defaults(jen1_generation_config *g)
{
    *g = (jen1_generation_config){
        .do_sample = 0, .top_k = 50, .top_p = 1.0f, .temperature = 1.0f,
        .guidance_scale = 1.0f, .max_length = 20, .has_file = 0,
    };
}

int jen1_model_config_parse(const char *config_json, const char *gen_json, const char *label,
                            jen1_model_config *out, char *err, size_t errlen)
{
    if (!label)
        label = "config.json";
    jen1_model_config cfg;
    memset(&cfg, 0, sizeof cfg);
    json_t *root = parse_json(config_json, strlen(config_json), label, err, errlen);
    if (!root)
        return -1;
    int status = parse_config_root(root, label, &cfg, err, errlen);
    json_decref(root);
    if (status != 0)
        return -1;

    generation_defaults(&cfg.generation);
    if (gen_json && parse_generation_text(gen_json, strlen(gen_json), "generation_config.json",
                                          &cfg.generation, err, errlen) != 0)
        return -1;
    *out = cfg;
    return 0;
}

/* Reads a whole file; *missing is set (and -1 returned) when it does not exist. */
static char *read_text_file(const char *path, size_t *len, int *missing, char *err, size_t errlen)
{
    *missing = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        *missing = errno == ENOENT;
        errbuf_printf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    buf text = BUF_INIT;
    int rc = buf_read_stream(&text, f, MAX_FILE_BYTES);
    fclose(f);
    if (rc != 0) {
        if (rc > 0)
            errbuf_printf(err, errlen, "%s: larger than %u bytes, not a config file", path, MAX_FILE_BYTES);
        else
            errbuf_printf(err, errlen, "%s: %s", path, buf_failed(&text) ? "out of memory" : "read error");
        buf_free(&text);
        return NULL;
    }
    return buf_detach(&text, len);
}

int jen1_model_config_load(const char *config_path, const char *generation_path,
                           jen1_model_config *out, char *err, size_t errlen)
{
    jen1_model_config cfg;
    memset(&cfg, 0, sizeof cfg);
    size_t len;
    int missing;
    char *text = read_text_file(config_path, &len, &missing, err, errlen);
    if (!text)
        return -1;
    json_t *root = parse_json(text, len, config_path, err, errlen);
    free(text);
    if (!root)
        return -1;
    int status = parse_config_root(root, config_path, &cfg, err, errlen);
    json_decref(root);
    if (status != 0)
        return -1;

    generation_defaults(&cfg.generation);
    if (generation_path) {
        text = read_text_file(generation_path, &len, &missing, err, errlen);
        if (!text && !missing)
            return -1;
        if (text) {
            status = parse_generation_text(text, len, generation_path, &cfg.generation, err, errlen);
            free(text);
            if (status != 0)
                return -1;
        }
    }
    *out = cfg;
    return 0;
}
