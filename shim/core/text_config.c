/* text_config.c - config.json / generation_config.json of a causal LM into
 * jen1_text_config (see text_config.h). Numeric keys are read from tables, so
 * that a family's defaults and ranges are data; JSON null counts as absent. */
#include "text_config.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "errbuf.h"

/* Larger than any real size or vocabulary; keeps products in range. */
#define MAX_SIZE (1 << 24)

/* The families jen1 runs, by model_type and architecture class. Qwen3 and
 * Llama will be rows here (with the q/k norm and bias flags they need) once
 * their reference fixtures test them. */
static const struct {
    const char *model_type, *architecture;
    int attention_bias;
} families[] = {
    {"qwen2", "Qwen2ForCausalLM", 1},
};

typedef enum { KIND_INT, KIND_BOOL, KIND_FLOAT, KIND_DOUBLE } field_kind;

/* One numeric key: where it goes, its default, and its range (positive: the
 * value must also be > 0). */
typedef struct {
    const char *key;
    field_kind kind;
    size_t offset;
    double def, min, max;
    int positive;
} field;

#define INT_FIELD(key, member, def, min, max) {key, KIND_INT, offsetof(jen1_text_config, member), def, min, max, 0}

static const field config_fields[] = {
    INT_FIELD("vocab_size", vocab_size, 151936, 1, MAX_SIZE),
    INT_FIELD("hidden_size", hidden_size, 4096, 1, MAX_SIZE),
    INT_FIELD("intermediate_size", intermediate_size, 22016, 1, MAX_SIZE),
    INT_FIELD("num_hidden_layers", num_hidden_layers, 32, 1, 4096),
    INT_FIELD("num_attention_heads", num_attention_heads, 32, 1, 4096),
    INT_FIELD("num_key_value_heads", num_key_value_heads, 0, 1, 4096),
    INT_FIELD("head_dim", head_dim, 0, 2, 4096),
    INT_FIELD("max_position_embeddings", max_position_embeddings, 32768, 2, MAX_SIZE),
    INT_FIELD("bos_token_id", bos_token_id, -1, 0, MAX_SIZE),
    {"rms_norm_eps", KIND_FLOAT, offsetof(jen1_text_config, rms_norm_eps), 1e-6, 0, 1, 1},
    {"rope_theta", KIND_DOUBLE, offsetof(jen1_text_config, rope_theta), 10000.0, 0, 1e30, 1},
    {"tie_word_embeddings", KIND_BOOL, offsetof(jen1_text_config, tie_word_embeddings), 0, 0, 1, 0},
};

#define GEN_FIELD(key, kind, member, def, min, max, positive) \
    {key, kind, offsetof(jen1_text_generation_config, member), def, min, max, positive}

static const field generation_fields[] = {
    GEN_FIELD("do_sample", KIND_BOOL, do_sample, 0, 0, 1, 0),
    GEN_FIELD("temperature", KIND_FLOAT, temperature, 1.0, 0, 1e6, 1),
    GEN_FIELD("top_k", KIND_INT, top_k, 50, 0, INT32_MAX, 0),
    GEN_FIELD("top_p", KIND_FLOAT, top_p, 1.0, 0, 1, 1),
    GEN_FIELD("repetition_penalty", KIND_FLOAT, repetition_penalty, 1.0, 0, 1e6, 1),
    GEN_FIELD("pad_token_id", KIND_INT, pad_token_id, -1, 0, MAX_SIZE, 0),
};

static const char *kind_name(field_kind kind)
{
    return kind == KIND_BOOL ? "true or false" : kind == KIND_INT ? "an integer" : "a number";
}

/* Stores every field of the table from obj (or its default) into base. */
static jen1_status read_fields(json_t *obj, const char *label, const field *fields, size_t n,
                               void *base, char *err, size_t errlen)
{
    for (const field *f = fields; f < fields + n; f++) {
        json_t *v = json_object_get(obj, f->key);
        double x = f->def;
        if (v && !json_is_null(v)) {
            int typed = f->kind == KIND_BOOL  ? json_is_boolean(v)
                        : f->kind == KIND_INT ? json_is_integer(v)
                                              : json_is_number(v);
            x = f->kind == KIND_BOOL ? (double)json_is_true(v) : json_number_value(v);
            if (!typed || !isfinite(x) || x < f->min || x > f->max || (f->positive && x <= 0)) {
                errbuf_printf(err, errlen, "%s: %s must be %s in %c%g, %g]", label, f->key,
                              kind_name(f->kind), f->positive ? '(' : '[', f->min, f->max);
                return JEN1_ERR_FORMAT;
            }
        }
        char *p = (char *)base + f->offset;
        switch (f->kind) {
        case KIND_INT:
        case KIND_BOOL: *(int *)p = (int)x; break;
        case KIND_FLOAT: *(float *)p = (float)x; break;
        case KIND_DOUBLE: *(double *)p = x; break;
        }
    }
    return JEN1_OK;
}

/* eos_token_id: an id or a list of ids; absent or null leaves *n at 0. */
static jen1_status read_eos(json_t *obj, const char *label, int *ids, int *n, char *err, size_t errlen)
{
    json_t *v = json_object_get(obj, "eos_token_id");
    *n = 0;
    if (!v || json_is_null(v)) return JEN1_OK;
    size_t count = json_is_array(v) ? json_array_size(v) : 1;
    if ((!json_is_array(v) && !json_is_integer(v)) || count > JEN1_TEXT_MAX_EOS) {
        errbuf_printf(err, errlen, "%s: eos_token_id must be an id or a list of at most %d ids", label,
                      JEN1_TEXT_MAX_EOS);
        return JEN1_ERR_FORMAT;
    }
    for (size_t i = 0; i < count; i++) {
        json_t *id = json_is_array(v) ? json_array_get(v, i) : v;
        if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) > MAX_SIZE) {
            errbuf_printf(err, errlen, "%s: eos_token_id must hold non-negative integer ids", label);
            return JEN1_ERR_FORMAT;
        }
        ids[(*n)++] = (int)json_integer_value(id);
    }
    return JEN1_OK;
}

static jen1_status read_family(json_t *root, const char *label, jen1_text_config *c, char *err, size_t errlen)
{
    json_t *type = json_object_get(root, "model_type");
    json_t *archs = json_object_get(root, "architectures");
    if (!json_is_string(type)) {
        errbuf_printf(err, errlen, "%s: model_type is missing or not a string", label);
        return JEN1_ERR_FORMAT;
    }
    const char *arch = json_is_array(archs) && json_array_size(archs) == 1
                           ? json_string_value(json_array_get(archs, 0))
                           : NULL;
    if (archs && !arch) {
        errbuf_printf(err, errlen, "%s: architectures must be a list of one class name", label);
        return JEN1_ERR_FORMAT;
    }
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
        if (strcmp(json_string_value(type), families[i].model_type) != 0) continue;
        if (arch && strcmp(arch, families[i].architecture) != 0) break;
        snprintf(c->model_type, sizeof c->model_type, "%s", families[i].model_type);
        snprintf(c->architecture, sizeof c->architecture, "%s", families[i].architecture);
        c->attention_bias = families[i].attention_bias;
        return JEN1_OK;
    }
    errbuf_printf(err, errlen, "%s: model_type '%s' (%s) is not supported: jen1 runs qwen2 (Qwen2ForCausalLM)",
                  label, json_string_value(type), arch ? arch : "no architectures");
    return JEN1_ERR_UNSUPPORTED;
}

/* What the decoder does not implement is refused, not ignored. */
static jen1_status refuse_features(json_t *root, const char *label, char *err, size_t errlen)
{
    json_t *act = json_object_get(root, "hidden_act");
    if (act && (!json_is_string(act) || strcmp(json_string_value(act), "silu") != 0)) {
        errbuf_printf(err, errlen, "%s: hidden_act %s is not supported (only silu)", label,
                      json_is_string(act) ? json_string_value(act) : "(not a string)");
        return JEN1_ERR_UNSUPPORTED;
    }
    json_t *sliding = json_object_get(root, "use_sliding_window");
    if (sliding && !json_is_boolean(sliding)) {
        errbuf_printf(err, errlen, "%s: use_sliding_window must be true or false", label);
        return JEN1_ERR_FORMAT;
    }
    if (json_is_true(sliding)) {
        errbuf_printf(err, errlen, "%s: use_sliding_window is true: sliding-window attention is not supported",
                      label);
        return JEN1_ERR_UNSUPPORTED;
    }
    json_t *scaling = json_object_get(root, "rope_scaling");
    if (scaling && !json_is_null(scaling)) {
        errbuf_printf(err, errlen, "%s: rope_scaling is set: only plain RoPE (rope_scaling null) is supported",
                      label);
        return JEN1_ERR_UNSUPPORTED;
    }
    return JEN1_OK;
}

static jen1_status check_sizes(const char *label, jen1_text_config *c, char *err, size_t errlen)
{
    if (c->num_key_value_heads == 0) c->num_key_value_heads = c->num_attention_heads;
    if (c->head_dim == 0) {
        if (c->hidden_size % c->num_attention_heads != 0) {
            errbuf_printf(err, errlen, "%s: hidden_size (%d) is not divisible by num_attention_heads (%d)", label,
                          c->hidden_size, c->num_attention_heads);
            return JEN1_ERR_FORMAT;
        }
        c->head_dim = c->hidden_size / c->num_attention_heads;
    }
    if (c->num_attention_heads % c->num_key_value_heads != 0) {
        errbuf_printf(err, errlen, "%s: num_attention_heads (%d) is not a multiple of num_key_value_heads (%d)",
                      label, c->num_attention_heads, c->num_key_value_heads);
        return JEN1_ERR_FORMAT;
    }
    if (c->head_dim % 2 != 0 || (int64_t)c->head_dim * c->num_attention_heads > MAX_SIZE) {
        errbuf_printf(err, errlen, "%s: head_dim (%d) must be even, and head_dim * heads at most %d", label,
                      c->head_dim, MAX_SIZE);
        return JEN1_ERR_FORMAT;
    }
    if (c->bos_token_id >= c->vocab_size) {
        errbuf_printf(err, errlen, "%s: bos_token_id %d is outside the vocabulary (%d)", label, c->bos_token_id,
                      c->vocab_size);
        return JEN1_ERR_FORMAT;
    }
    return JEN1_OK;
}

static jen1_status check_ids(const char *label, const int *ids, int n, int pad, int vocab, char *err,
                             size_t errlen)
{
    for (int i = 0; i < n; i++)
        if (ids[i] >= vocab) {
            errbuf_printf(err, errlen, "%s: eos_token_id %d is outside the vocabulary (%d)", label, ids[i], vocab);
            return JEN1_ERR_FORMAT;
        }
    if (pad >= vocab) {
        errbuf_printf(err, errlen, "%s: pad_token_id %d is outside the vocabulary (%d)", label, pad, vocab);
        return JEN1_ERR_FORMAT;
    }
    return JEN1_OK;
}

static jen1_status parse_config(json_t *root, const char *label, jen1_text_config *c, char *err, size_t errlen)
{
    jen1_status st;
    if ((st = read_family(root, label, c, err, errlen)) != JEN1_OK ||
        (st = refuse_features(root, label, err, errlen)) != JEN1_OK ||
        (st = read_fields(root, label, config_fields, sizeof config_fields / sizeof config_fields[0], c, err,
                          errlen)) != JEN1_OK ||
        (st = read_eos(root, label, c->eos_token_ids, &c->n_eos, err, errlen)) != JEN1_OK ||
        (st = check_sizes(label, c, err, errlen)) != JEN1_OK)
        return st;
    return check_ids(label, c->eos_token_ids, c->n_eos, -1, c->vocab_size, err, errlen);
}

/* Defaults from config.json when the file or a key is absent. */
static jen1_status parse_generation(json_t *root, const char *label, jen1_text_config *c, char *err,
                                    size_t errlen)
{
    jen1_text_generation_config *g = &c->generation;
    memset(g, 0, sizeof *g);
    json_t *empty = json_object();
    json_t *obj = root ? root : empty;
    jen1_status st = read_fields(obj, label, generation_fields,
                                 sizeof generation_fields / sizeof generation_fields[0], g, err, errlen);
    if (st == JEN1_OK) st = read_eos(obj, label, g->eos_token_ids, &g->n_eos, err, errlen);
    json_decref(empty);
    if (st != JEN1_OK) return st;
    /* top_k null disables the filter (it is not "absent": 50 would apply). */
    if (json_is_null(json_object_get(obj, "top_k"))) g->top_k = 0;
    if (g->n_eos == 0) {
        g->n_eos = c->n_eos;
        memcpy(g->eos_token_ids, c->eos_token_ids, sizeof g->eos_token_ids);
    }
    if (g->pad_token_id < 0) g->pad_token_id = g->n_eos ? g->eos_token_ids[0] : 0;
    g->has_file = root != NULL;
    return check_ids(label, g->eos_token_ids, g->n_eos, g->pad_token_id, c->vocab_size, err, errlen);
}

static json_t *parse_object(json_t *root, const json_error_t *jerr, const char *label, char *err, size_t errlen)
{
    if (json_is_object(root)) return root;
    if (root)
        errbuf_printf(err, errlen, "%s: the top level is not a JSON object", label);
    else
        errbuf_printf(err, errlen, "%s: invalid JSON at line %d, column %d: %s", label, jerr->line, jerr->column,
                      jerr->text);
    json_decref(root);
    return NULL;
}

/* Parses both documents (gen may be NULL: defaults) into *out. */
static jen1_status parse_both(json_t *config, const char *config_label, json_t *gen, const char *gen_label,
                              jen1_text_config *out, char *err, size_t errlen)
{
    jen1_text_config c;
    memset(&c, 0, sizeof c);
    jen1_status st = parse_config(config, config_label, &c, err, errlen);
    if (st == JEN1_OK) st = parse_generation(gen, gen_label, &c, err, errlen);
    if (st == JEN1_OK) *out = c;
    return st;
}

jen1_status jen1_text_config_parse(const char *config_json, const char *gen_json, jen1_text_config *out,
                                   char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *config = parse_object(json_loads(config_json, JSON_REJECT_DUPLICATES, &jerr), &jerr, "config.json",
                                  err, errlen);
    if (!config) return JEN1_ERR_FORMAT;
    json_t *gen = NULL;
    if (gen_json) {
        gen = parse_object(json_loads(gen_json, JSON_REJECT_DUPLICATES, &jerr), &jerr, "generation_config.json",
                           err, errlen);
        if (!gen) {
            json_decref(config);
            return JEN1_ERR_FORMAT;
        }
    }
    jen1_status st = parse_both(config, "config.json", gen, "generation_config.json", out, err, errlen);
    json_decref(config);
    json_decref(gen);
    return st;
}

jen1_status jen1_text_config_load(const char *config_path, const char *generation_path, jen1_text_config *out,
                                  char *err, size_t errlen)
{
    struct stat st_buf;
    if (stat(config_path, &st_buf) != 0) {
        errbuf_printf(err, errlen, "%s: cannot open: %s", config_path, strerror(errno));
        return JEN1_ERR_IO;
    }
    json_error_t jerr;
    json_t *config = parse_object(json_load_file(config_path, JSON_REJECT_DUPLICATES, &jerr), &jerr, config_path,
                                  err, errlen);
    if (!config) return JEN1_ERR_FORMAT;
    json_t *gen = NULL;
    if (generation_path && stat(generation_path, &st_buf) == 0) {
        gen = parse_object(json_load_file(generation_path, JSON_REJECT_DUPLICATES, &jerr), &jerr,
                           generation_path, err, errlen);
        if (!gen) {
            json_decref(config);
            return JEN1_ERR_FORMAT;
        }
    }
    jen1_status st = parse_both(config, config_path, gen, generation_path, out, err, errlen);
    json_decref(config);
    json_decref(gen);
    return st;
}
