/* job.c - see job.h. The fields are checked in a fixed order (id first, so
 * that a later failure can still be reported on the job's hash) and the first
 * broken rule is the one reported. */
#include "job.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loudness.h"
#include "text.h"

job_limits job_limits_default(void)
{
    job_limits l = {
        .max_payload_bytes = 1u << 20,
        .max_narrative_bytes = 4000,
        .max_unknown_bytes = JOB_UNKNOWN_MAX_BYTES,
        .min_duration = 1.0,
        .max_duration = JOB_MAX_DURATION_DEFAULT,
        .model_name = NULL,
    };
    for (int f = 0; f < AUDIO_N_FORMATS; f++)
        if (audio_format_available((audio_format)f)) l.formats |= 1u << f;
    return l;
}

int job_loudness_target(const job_request *req, double default_lufs, double *lufs)
{
    double target = req->loudness == JOB_LOUDNESS_TARGET ? req->loudness_lufs
                    : req->loudness == JOB_LOUDNESS_OFF  ? NAN
                                                         : default_lufs;
    if (isnan(target)) return 0;
    *lufs = target;
    return 1;
}

const char *job_status_code(job_status status)
{
    const char *name = protocol_error_name((protocol_error)status);
    return name ? name : protocol_error_name(PROTOCOL_INVALID_JOB);
}

jen1_sampling job_sampling_over(const job_sampling *s, jen1_sampling defaults)
{
    if (s->given & JOB_SAMPLING_GUIDANCE) defaults.guidance_scale = s->values.guidance_scale;
    if (s->given & JOB_SAMPLING_TOP_K) defaults.top_k = s->values.top_k;
    if (s->given & JOB_SAMPLING_TEMPERATURE) defaults.temperature = s->values.temperature;
    return defaults;
}

uint64_t job_seed_from_id(const char *id)
{
    return text_hash(id, strlen(id)) & (JOB_SEED_MAX - 1);
}

void job_request_free(job_request *req)
{
    if (!req) return;
    free(req->narrative);
    free(req->model);
    json_decref(req->request);
    memset(req, 0, sizeof *req);
}

static job_status fail(job_error *err, job_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    err->status = status;
    err->code = job_status_code(status);
    return status;
}

/* The start of a string for a message: quoted, with control characters,
 * quotes and backslashes escaped as in JSON, cut after whole characters. */
static void excerpt(const char *s, size_t n, char *buf, size_t cap)
{
    const size_t room = cap - sizeof "\"...\""; /* for the closing quote and the ellipsis */
    size_t i = 0, o = 0;
    buf[o++] = '"';
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        char piece[8];
        size_t in = text_utf8_seq_len((const unsigned char *)s + i, n - i), out;
        if (c < 0x20) out = (size_t)snprintf(piece, sizeof piece, "\\u%04x", c);
        else if (c == '"' || c == '\\') out = (size_t)snprintf(piece, sizeof piece, "\\%c", c);
        else if (in == 0) out = (size_t)snprintf(piece, sizeof piece, "?");
        else {
            out = in;
            memcpy(piece, s + i, in);
        }
        if (o + out > room) break;
        memcpy(buf + o, piece, out);
        o += out;
        i += in ? in : 1;
    }
    snprintf(buf + o, cap - o, "\"%s", i < n ? "..." : "");
}

/* What a value is, for messages: `"abc"`, `-5`, `null`, `an array`, ... */
static const char *describe(const json_t *v, char *buf, size_t cap)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_TRUE: return "true";
    case JSON_FALSE: return "false";
    case JSON_NULL: return "null";
    case JSON_INTEGER:
        snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
        return buf;
    case JSON_REAL:
        snprintf(buf, cap, "%g", json_real_value(v));
        return buf;
    case JSON_STRING:
        excerpt(json_string_value(v), json_string_length(v), buf, cap);
        return buf;
    }
    return "?";
}

/* A string without NUL bytes (a \u0000 escape decodes to one). */
static int get_plain_string(const json_t *v, const char **s, size_t *len)
{
    if (!json_is_string(v)) return 0;
    *s = json_string_value(v);
    *len = json_string_length(v);
    return memchr(*s, '\0', *len) == NULL;
}

/* An integer in [lo, hi]; a real with an integral value counts (250.0).
 * Integers are compared as integers: 2^53 + 1 is not 2^53. */
static int get_integer(const json_t *v, long long lo, long long hi, long long *out)
{
    if (json_is_integer(v)) {
        long long n = json_integer_value(v);
        if (n < lo || n > hi) return 0;
        *out = n;
        return 1;
    }
    if (!json_is_real(v)) return 0;
    double d = json_real_value(v);
    if (!isfinite(d) || d != floor(d) || d < (double)lo || d > (double)hi) return 0;
    *out = (long long)d;
    return 1;
}

static int get_number(const json_t *v, double lo, double hi, double *out)
{
    if (!json_is_number(v)) return 0;
    double d = json_number_value(v);
    if (!isfinite(d) || d < lo || d > hi) return 0;
    *out = d;
    return 1;
}

/* An optional field: NULL when absent or null. */
static const json_t *optional(const json_t *root, const char *key)
{
    const json_t *v = json_object_get(root, key);
    return (v && !json_is_null(v)) ? v : NULL;
}

/* Copies the object's id into `id` when it is a valid one. */
static void take_id(const json_t *root, char *id)
{
    const char *s;
    size_t len;
    const json_t *v = json_object_get(root, "id");
    if (v && get_plain_string(v, &s, &len) && protocol_id_valid(s, len)) memcpy(id, s, len + 1);
}

/* Invalid UTF-8 bytes become '?', so that the rest can still be read. */
static char *without_bad_utf8(const char *payload, size_t len)
{
    char *copy = malloc(len ? len : 1);
    if (!copy) return NULL;
    size_t i = 0;
    while (i < len) {
        size_t seq = text_utf8_seq_len((const unsigned char *)payload + i, len - i);
        if (seq == 0) {
            copy[i++] = '?';
        } else {
            memcpy(copy + i, payload + i, seq);
            i += seq;
        }
    }
    return copy;
}

/* After a strict parse failed on a duplicate key or bad UTF-8: whether the
 * payload is still an object when read leniently, and its id if it has an
 * unambiguous valid one. */
static int read_leniently(const char *payload, size_t len, char *id)
{
    char *copy = without_bad_utf8(payload, len);
    if (!copy) return 0;
    json_error_t jerr;
    json_t *root = json_loadb(copy, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    int id_ambiguous = 0;
    if (!root && json_error_code(&jerr) == json_error_duplicate_key) {
        /* jansson names the repeated key in its message ("... near '"id"'");
         * a repeated id is one we cannot trust. */
        id_ambiguous = strstr(jerr.text, "'\"id\"'") != NULL;
        root = json_loadb(copy, len, JSON_ALLOW_NUL, &jerr);
    }
    free(copy);
    if (!root) return 0;
    int is_object = json_is_object(root);
    if (is_object && !id_ambiguous) take_id(root, id);
    json_decref(root);
    return is_object;
}

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: case JSON_REAL: return "a number";
    case JSON_TRUE: case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    case JSON_OBJECT: return "an object";
    }
    return "?";
}

/* Loads the payload as one JSON object, or fails with the right code. */
static json_t *load_object(const char *payload, size_t len, job_error *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(payload, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY,
                              &jerr);
    if (root) {
        if (json_is_object(root)) return root;
        fail(err, JOB_INVALID_JSON, "the job must be a JSON object, not %s", json_kind(root));
        json_decref(root);
        return NULL;
    }
    enum json_error_code code = json_error_code(&jerr);
    int recoverable = code == json_error_duplicate_key || code == json_error_invalid_utf8;
    if (recoverable && read_leniently(payload, len, err->id)) {
        if (code == json_error_duplicate_key)
            fail(err, JOB_INVALID_JOB, "the job repeats a key (%s): every key may appear once",
                 jerr.text);
        else
            fail(err, JOB_INVALID_JOB, "the job is not valid UTF-8 (bad byte at offset %d)",
                 jerr.position);
        return NULL;
    }
    fail(err, JOB_INVALID_JSON, "the job is not JSON: %s (line %d, column %d)", jerr.text, jerr.line,
         jerr.column);
    return NULL;
}

static job_status read_id(const json_t *root, job_request *out, job_error *err)
{
    char got[48];
    const char *s;
    size_t len;
    const json_t *v = json_object_get(root, "id");
    if (!v) return fail(err, JOB_INVALID_JOB, "id is required");
    if (!get_plain_string(v, &s, &len) || !protocol_id_valid(s, len))
        return fail(err, JOB_INVALID_JOB,
                    "id must be 1 to %d characters from A-Z a-z 0-9 _ . - and not \".\" or \"..\" (got %s)",
                    PROTOCOL_ID_MAX, describe(v, got, sizeof got));
    memcpy(out->id, s, len + 1);
    memcpy(err->id, s, len + 1);
    return JOB_OK;
}

static job_status read_narrative(const json_t *root, const job_limits *limits, job_request *out,
                                 job_error *err)
{
    char got[48];
    const char *s;
    size_t len, start, end;
    const json_t *v = json_object_get(root, "narrative");
    if (!v) return fail(err, JOB_INVALID_JOB, "narrative is required");
    if (!json_is_string(v))
        return fail(err, JOB_INVALID_JOB, "narrative must be a string of UTF-8 text (got %s)",
                    describe(v, got, sizeof got));
    if (!get_plain_string(v, &s, &len))
        return fail(err, JOB_INVALID_JOB, "narrative must not contain NUL characters");
    /* jansson has already refused invalid UTF-8 and lone surrogates. */
    text_trim(s, len, &start, &end);
    if (end == start) return fail(err, JOB_INVALID_JOB, "narrative must not be empty");
    if (end - start > limits->max_narrative_bytes)
        return fail(err, JOB_INVALID_JOB, "narrative is %zu bytes; it must be 1 to %zu bytes of UTF-8 text",
                    end - start, limits->max_narrative_bytes);
    out->narrative = malloc(end - start + 1);
    if (!out->narrative) return fail(err, JOB_INVALID_JOB, "out of memory reading the narrative");
    memcpy(out->narrative, s + start, end - start);
    out->narrative[end - start] = '\0';
    out->narrative_len = end - start;
    return JOB_OK;
}

static job_status read_duration(const json_t *root, const job_limits *limits, job_request *out,
                                job_error *err)
{
    char got[48];
    const json_t *v = json_object_get(root, "duration");
    if (!v) return fail(err, JOB_INVALID_JOB, "duration is required");
    double d;
    if (get_number(v, limits->min_duration, INFINITY, &d) && d > limits->max_duration)
        return fail(err, JOB_TOO_LONG, "duration %g s is longer than the %g s this model can generate", d,
                    limits->max_duration);
    if (!get_number(v, limits->min_duration, limits->max_duration, &d) || d * 1000.0 > INT32_MAX)
        return fail(err, JOB_INVALID_JOB, "duration must be a number of seconds between %g and %g (got %s)",
                    limits->min_duration, limits->max_duration, describe(v, got, sizeof got));
    out->duration = d;
    out->duration_ms = (int32_t)llround(d * 1000.0);
    return JOB_OK;
}

static job_status read_seed(const json_t *root, job_request *out, job_error *err)
{
    char got[48];
    long long seed;
    const json_t *v = optional(root, "seed");
    if (!v) {
        out->seed = job_seed_from_id(out->id);
        return JOB_OK;
    }
    if (!get_integer(v, 0, (long long)JOB_SEED_MAX, &seed))
        return fail(err, JOB_INVALID_JOB, "seed must be an integer from 0 to %llu (got %s)",
                    (unsigned long long)JOB_SEED_MAX, describe(v, got, sizeof got));
    out->seed = (uint64_t)seed;
    out->seed_given = 1;
    return JOB_OK;
}

/* The formats of `mask` by name, ", "-separated: "wav, flac, ogg, mp3". */
static const char *format_names(unsigned mask, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int f = 0; f < AUDIO_N_FORMATS; f++)
        if (mask & (1u << f) && n < cap)
            n += (size_t)snprintf(buf + n, cap - n, "%s%s", n ? ", " : "", audio_format_name((audio_format)f));
    return buf;
}

static job_status read_format(const json_t *root, const job_limits *limits, job_request *out, job_error *err)
{
    char got[48], names[64];
    const char *s;
    size_t len;
    const json_t *v = optional(root, "format");
    out->format = AUDIO_WAV;
    if (!v) return JOB_OK;
    if (!get_plain_string(v, &s, &len) || audio_format_parse(s, &out->format) != 0)
        return fail(err, JOB_INVALID_JOB, "format must be one of %s (got %s)",
                    format_names(limits->formats, names, sizeof names), describe(v, got, sizeof got));
    if (!(limits->formats & (1u << out->format)))
        return fail(err, JOB_INVALID_JOB,
                    "format %s cannot be written here: this worker's libsndfile was built without it; "
                    "use one of %s",
                    s, format_names(limits->formats, names, sizeof names));
    return JOB_OK;
}

/* Absent: the worker's default; null: off; a number: the target. */
static job_status read_loudness(const json_t *root, job_request *out, job_error *err)
{
    char got[48];
    const json_t *v = json_object_get(root, "loudness");
    if (!v) return JOB_OK;
    if (json_is_null(v)) {
        out->loudness = JOB_LOUDNESS_OFF;
        return JOB_OK;
    }
    if (!get_number(v, LOUDNESS_MIN_LUFS, LOUDNESS_MAX_LUFS, &out->loudness_lufs))
        return fail(err, JOB_INVALID_JOB,
                    "loudness must be a target in LUFS between %g and %g, or null to keep the model's level (got %s)",
                    LOUDNESS_MIN_LUFS, LOUDNESS_MAX_LUFS, describe(v, got, sizeof got));
    out->loudness = JOB_LOUDNESS_TARGET;
    return JOB_OK;
}

/* Absent or null: true. */
static job_status read_audio(const json_t *root, job_request *out, job_error *err)
{
    char got[48];
    const json_t *v = optional(root, "audio");
    out->audio = true;
    if (!v) return JOB_OK;
    if (!json_is_boolean(v))
        return fail(err, JOB_INVALID_JOB,
                    "audio must be true (render the song) or false (the words only) (got %s)",
                    describe(v, got, sizeof got));
    out->audio = json_is_true(v);
    return JOB_OK;
}

static job_status read_model(const json_t *root, const job_limits *limits, job_request *out,
                             job_error *err)
{
    char got[48];
    const char *s;
    size_t len;
    const json_t *v = optional(root, "model");
    if (!v) return JOB_OK;
    if (!get_plain_string(v, &s, &len) || len == 0 || len > JOB_MODEL_NAME_MAX)
        return fail(err, JOB_INVALID_JOB, "model must be a model's name, 1 to %d bytes (got %s)",
                    JOB_MODEL_NAME_MAX, describe(v, got, sizeof got));
    if (limits->model_name && strcmp(s, limits->model_name) != 0)
        return fail(err, JOB_MODEL_MISMATCH, "model %s is not served here: this worker serves \"%s\"",
                    describe(v, got, sizeof got), limits->model_name);
    out->model = strdup(s);
    if (!out->model) return fail(err, JOB_INVALID_JOB, "out of memory reading the model");
    return JOB_OK;
}

static job_status read_sampling(const json_t *root, job_request *out, job_error *err)
{
    char got[48];
    long long n;
    const json_t *v;
    double d;
    job_sampling *s = &out->sampling;
    /* Read as JSON's doubles, kept as the engine's floats. */
    if ((v = optional(root, "guidance"))) {
        if (!get_number(v, JOB_GUIDANCE_MIN, JOB_GUIDANCE_MAX, &d))
            return fail(err, JOB_INVALID_JOB, "guidance must be a number between %g and %g (got %s)",
                        JOB_GUIDANCE_MIN, JOB_GUIDANCE_MAX, describe(v, got, sizeof got));
        s->values.guidance_scale = (float)d;
        s->given |= JOB_SAMPLING_GUIDANCE;
    }
    if ((v = optional(root, "top_k"))) {
        if (!get_integer(v, 1, JOB_TOP_K_MAX, &n))
            return fail(err, JOB_INVALID_JOB, "top_k must be an integer between 1 and %d (got %s)",
                        JOB_TOP_K_MAX, describe(v, got, sizeof got));
        s->values.top_k = (int)n;
        s->given |= JOB_SAMPLING_TOP_K;
    }
    if ((v = optional(root, "temperature"))) {
        if (!get_number(v, JOB_TEMPERATURE_MIN, JOB_TEMPERATURE_MAX, &d))
            return fail(err, JOB_INVALID_JOB, "temperature must be a number between %g and %g (got %s)",
                        JOB_TEMPERATURE_MIN, JOB_TEMPERATURE_MAX, describe(v, got, sizeof got));
        s->values.temperature = (float)d;
        s->given |= JOB_SAMPLING_TEMPERATURE;
    }
    if ((v = optional(root, "priority"))) {
        if (!get_integer(v, 0, JOB_PRIORITY_MAX, &n))
            return fail(err, JOB_INVALID_JOB, "priority must be an integer between 0 and %d (got %s)",
                        JOB_PRIORITY_MAX, describe(v, got, sizeof got));
        out->priority = (int)n;
    }
    return JOB_OK;
}

/* The fields job_parse reads; any other is the client's own, kept as given. */
static bool known_field(const char *key)
{
    static const char *const known[] = {"id", "narrative", "duration", "seed", "format", "loudness", "audio",
                                        "model", "guidance", "top_k", "temperature", "priority"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(key, known[i]) == 0) return true;
    return false;
}

/* Unknown fields are stored with the job (its payload and its hash's
 * request): a bound keeps a flood of large ones from filling Redis. */
static job_status check_unknown(const json_t *root, const job_limits *limits, job_error *err)
{
    size_t total = 0;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)root, key, v) {
        if (known_field(key)) continue;
        char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        total += strlen(key) + 3 + (text ? strlen(text) : 0);
        free(text);
    }
    if (total > limits->max_unknown_bytes)
        return fail(err, JOB_INVALID_JOB,
                    "the job's unknown fields take %zu bytes; at most %zu are kept (drop them or make them smaller)",
                    total, limits->max_unknown_bytes);
    return JOB_OK;
}

static job_status read_fields(const json_t *root, const job_limits *limits, job_request *out,
                              job_error *err)
{
    job_status st;
    if ((st = read_id(root, out, err)) != JOB_OK) return st;
    if ((st = read_narrative(root, limits, out, err)) != JOB_OK) return st;
    if ((st = read_duration(root, limits, out, err)) != JOB_OK) return st;
    if ((st = read_seed(root, out, err)) != JOB_OK) return st;
    if ((st = read_format(root, limits, out, err)) != JOB_OK) return st;
    if ((st = read_loudness(root, out, err)) != JOB_OK) return st;
    if ((st = read_audio(root, out, err)) != JOB_OK) return st;
    if ((st = read_model(root, limits, out, err)) != JOB_OK) return st;
    if ((st = read_sampling(root, out, err)) != JOB_OK) return st;
    return check_unknown(root, limits, err);
}

job_status job_parse(const char *payload, size_t len, const job_limits *limits, job_request *out,
                     job_error *err)
{
    memset(out, 0, sizeof *out);
    memset(err, 0, sizeof *err);
    err->code = job_status_code(JOB_OK);
    if (!payload) return fail(err, JOB_INVALID_JSON, "the job is not JSON: no payload");
    if (len > limits->max_payload_bytes)
        return fail(err, JOB_INVALID_JOB, "the job is %zu bytes; at most %zu are accepted", len,
                    limits->max_payload_bytes);
    json_t *root = load_object(payload, len, err);
    if (!root) return err->status;
    /* After the parse, so that text no parser reads keeps the parser's message. */
    if (!protocol_json_depth_ok(payload, len, PROTOCOL_JSON_MAX_DEPTH)) {
        take_id(root, err->id);
        json_decref(root);
        return fail(err, JOB_INVALID_JSON, "the job nests deeper than %d levels of arrays and objects",
                    PROTOCOL_JSON_MAX_DEPTH);
    }
    job_status st = read_fields(root, limits, out, err);
    if (st != JOB_OK) {
        json_decref(root);
        job_request_free(out);
        return st;
    }
    out->request = root;
    return JOB_OK;
}
