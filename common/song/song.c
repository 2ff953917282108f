/* song.c - see song.h. Objects are built key by key in the schema's order
 * (jansson keeps insertion order); any allocation or UTF-8 failure along the
 * way turns the whole document into NULL. */
#include "song.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* 15 significant digits: every whole millisecond below 10^12 s reads back
 * exactly, and 7.3 is written 7.3 rather than 7.2999999999999998. */
#define SONG_DUMP_FLAGS JSON_REAL_PRECISION(15)

/* Builds objects without checking every call: a failed json_* call yields
 * NULL, and put/push record that in one flag checked at the end. */
typedef struct builder {
    int failed;
} builder;

static void put(builder *b, json_t *obj, const char *key, json_t *value)
{
    if (!obj || !value) {
        json_decref(value);
        b->failed = 1;
    } else if (json_object_set_new(obj, key, value) != 0) {
        b->failed = 1;
    }
}

static void push(builder *b, json_t *arr, json_t *value)
{
    if (!arr || !value) {
        json_decref(value);
        b->failed = 1;
    } else if (json_array_append_new(arr, value) != 0) {
        b->failed = 1;
    }
}

/* A duration in whole microseconds: timings need no more, and fewer digits read better. */
static json_t *seconds_us(double s)
{
    return json_real(isfinite(s) && s > 0 ? round(s * 1e6) / 1e6 : 0.0);
}

int song_format_time(int64_t unix_ms, char *buf, size_t cap)
{
    int64_t secs = unix_ms >= 0 ? unix_ms / 1000 : (unix_ms - 999) / 1000;
    int ms = (int)(unix_ms - secs * 1000);
    time_t tt = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999) return -1;
    int n = snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

static json_t *sections_json(builder *b, const song_plan *plan)
{
    json_t *arr = json_array();
    for (int i = 0; i < plan->n_sections; i++) {
        const plan_section *s = &plan->sections[i];
        json_t *o = json_object(), *lines = json_array();
        put(b, o, "name", json_string(s->name));
        put(b, o, "start", json_real(plan_seconds(s->start_ms)));
        put(b, o, "end", json_real(plan_seconds(s->end_ms)));
        put(b, o, "prompt", json_string(s->prompt));
        for (int j = 0; j < s->n_lines; j++) push(b, lines, json_string(s->lines[j]));
        put(b, o, "lyrics", lines);
        push(b, arr, o);
    }
    return arr;
}

/* Who wrote the words: the rules, or a model (and how many of its fields the rules filled). */
static json_t *words_json(builder *b, const song_plan *plan)
{
    json_t *o = json_object();
    if (!plan->words_model[0]) {
        put(b, o, "source", json_string("rules"));
        return o;
    }
    put(b, o, "source", json_string("model"));
    put(b, o, "model", json_string(plan->words_model));
    put(b, o, "fields", json_integer(plan->words_fields));
    put(b, o, "fields_from_rules", json_integer(plan->words_from_rules));
    return o;
}

/* Decibels to the hundredth (meters show a tenth); null for silence's -inf. */
static json_t *decibels(double db)
{
    return isfinite(db) ? json_real(round(db * 100) / 100) : json_null();
}

static json_t *loudness_json(builder *b, const loudness_report *l)
{
    if (!l) return json_null();
    json_t *o = json_object();
    put(b, o, "target_lufs", decibels(l->target_lufs));
    put(b, o, "integrated_lufs", decibels(l->integrated_lufs));
    put(b, o, "true_peak_dbtp", decibels(l->true_peak_dbtp));
    put(b, o, "gain_db", decibels(l->gain_db));
    return o;
}

static json_t *audio_json(builder *b, const song_audio *a)
{
    json_t *o = json_object();
    put(b, o, "url", json_string(a->url));
    put(b, o, "format", json_string(audio_format_name(a->format)));
    put(b, o, "mime_type", json_string(audio_format_mime(a->format)));
    put(b, o, "sample_rate", json_integer(a->sample_rate));
    put(b, o, "channels", json_integer(a->channels));
    put(b, o, "duration", json_real(a->duration));
    put(b, o, "bytes", json_integer((json_int_t)a->bytes));
    put(b, o, "sha256", json_string(a->sha256));
    put(b, o, "loudness", loudness_json(b, a->loudness));
    return o;
}

/* The windows, each with its section's prompt. */
static json_t *windows_json(builder *b, const song_plan *plan, const song_render *r)
{
    json_t *arr = json_array();
    for (int i = 0; i < r->n_windows; i++) {
        const song_window *w = &r->windows[i];
        json_t *o = json_object();
        put(b, o, "start", json_real(w->start));
        put(b, o, "end", json_real(w->end));
        put(b, o, "context", json_real(w->context));
        put(b, o, "section", json_integer(w->section));
        put(b, o, "prompt", json_string(plan->sections[w->section].prompt));
        push(b, arr, o);
    }
    return arr;
}

/* The prompts rendered: each window's, every one once, in order. */
static json_t *prompts_json(builder *b, const song_plan *plan, const song_render *r)
{
    json_t *arr = json_array();
    if (!r || r->n_windows == 0) {
        push(b, arr, json_string(plan->model_prompt));
        return arr;
    }
    for (int i = 0; i < r->n_windows; i++) {
        const char *prompt = plan->sections[r->windows[i].section].prompt;
        int seen = 0;
        for (int j = 0; j < i && !seen; j++) seen = strcmp(plan->sections[r->windows[j].section].prompt, prompt) == 0;
        if (!seen) push(b, arr, json_string(prompt));
    }
    return arr;
}

static json_t *codes_json(builder *b, const song_render *r)
{
    json_t *o = json_object(), *shape = json_array();
    put(b, o, "url", json_string(r->codes_url));
    put(b, o, "format", json_string("npy"));
    push(b, shape, json_integer(r->n_codebooks));
    push(b, shape, json_integer(r->n_frames));
    put(b, o, "shape", shape);
    put(b, o, "frame_rate", json_integer(r->frame_rate));
    return o;
}

static json_t *model_json(builder *b, const song_model *m)
{
    json_t *o = json_object();
    put(b, o, "name", json_string(m->name));
    put(b, o, "seed", json_integer((json_int_t)m->seed));
    put(b, o, "guidance", json_real(m->sampling.guidance_scale));
    put(b, o, "top_k", json_integer(m->sampling.top_k));
    put(b, o, "top_p", json_real(m->sampling.top_p));
    put(b, o, "temperature", json_real(m->sampling.temperature));
    put(b, o, "greedy", json_boolean(m->sampling.greedy));
    put(b, o, "device", json_string(m->device));
    return o;
}

static json_t *timings_json(builder *b, const song_timings *t)
{
    json_t *o = json_object();
    put(b, o, "plan_s", seconds_us(t->plan_s));
    put(b, o, "text_s", seconds_us(t->text_s));
    put(b, o, "decoder_s", seconds_us(t->decoder_s));
    put(b, o, "audio_s", seconds_us(t->audio_s));
    put(b, o, "encode_s", seconds_us(t->encode_s));
    put(b, o, "upload_s", seconds_us(t->upload_s));
    put(b, o, "total_s", seconds_us(t->total_s));
    return o;
}

/* NULL when the render is usable, else what is wrong with it. */
static const char *render_problem(const song_plan *plan, const song_render *r)
{
    if (!r) return NULL;
    if (r->n_windows < 0 || (r->n_windows > 0 && !r->windows)) return "no windows";
    if (!r->codes_url || r->n_codebooks < 1 || r->n_frames < 1 || r->frame_rate < 1) return "no codes";
    for (int i = 0; i < r->n_windows; i++)
        if (r->windows[i].section < 0 || r->windows[i].section >= plan->n_sections) return "a window names no section";
    return NULL;
}

json_t *song_to_json(const song_plan *plan, const song_render *render, const song_audio *audio,
                     const song_model *model, const song_timings *t, int64_t created_at_ms, char *err, size_t errlen)
{
    if (!plan || !model || !t || (audio && !audio->url) || !model->name || !model->device) {
        snprintf(err, errlen, "song: a plan, model (with name and device) and timings are required, and audio, when "
                              "given, needs its url");
        return NULL;
    }
    const char *problem = render_problem(plan, render);
    if (problem) {
        snprintf(err, errlen, "song: the render: %s", problem);
        return NULL;
    }
    char created_at[40];
    if (song_format_time(created_at_ms, created_at, sizeof created_at) != 0) {
        snprintf(err, errlen, "song: created_at %lld ms is not a representable time", (long long)created_at_ms);
        return NULL;
    }
    builder b = { 0 };
    json_t *doc = json_object(), *instruments = json_array();
    put(&b, doc, "schema_version", json_integer(SONG_SCHEMA_VERSION));
    put(&b, doc, "id", json_string(plan->id));
    put(&b, doc, "title", json_string(plan->title));
    put(&b, doc, "mood", json_string(plan->mood));
    put(&b, doc, "genre", json_string(plan->genre));
    put(&b, doc, "bpm", json_integer(plan->bpm));
    put(&b, doc, "key", json_string(plan->key));
    for (int i = 0; i < plan->n_instruments; i++) push(&b, instruments, json_string(plan->instruments[i]));
    put(&b, doc, "instrumentation", instruments);
    put(&b, doc, "duration", json_real(plan_seconds(plan->duration_ms)));
    put(&b, doc, "sections", sections_json(&b, plan));
    put(&b, doc, "lyrics", json_string(plan->lyrics));
    put(&b, doc, "words", words_json(&b, plan));
    put(&b, doc, "prompts", prompts_json(&b, plan, render));
    if (render) put(&b, doc, "windows", windows_json(&b, plan, render));
    put(&b, doc, "audio", audio ? audio_json(&b, audio) : json_null());
    if (render) put(&b, doc, "codes", codes_json(&b, render));
    put(&b, doc, "model", model_json(&b, model));
    put(&b, doc, "timings", timings_json(&b, t));
    put(&b, doc, "created_at", json_string(created_at));
    if (b.failed) {
        json_decref(doc);
        snprintf(err, errlen, "song: building the document failed (out of memory, or a string that is not UTF-8)");
        return NULL;
    }
    return doc;
}

char *song_to_string(const song_plan *plan, const song_render *render, const song_audio *audio,
                     const song_model *model, const song_timings *t, int64_t created_at_ms, int indent, char *err,
                     size_t errlen)
{
    json_t *doc = song_to_json(plan, render, audio, model, t, created_at_ms, err, errlen);
    if (!doc) return NULL;
    size_t flags = SONG_DUMP_FLAGS | (indent > 0 ? JSON_INDENT(indent) : JSON_COMPACT);
    char *s = json_dumps(doc, flags);
    json_decref(doc);
    if (!s) snprintf(err, errlen, "song: serialising the document failed");
    return s;
}
