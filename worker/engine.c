/* engine.c - see engine.h. */
#include "engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jen1.h"
#include "util.h"

struct engine {
    jen1_model *model;   /* NULL for the silent engine */
    double none_pace;
    char name[256];
};

static const int kSilentRate = 32000;

/* "/var/lib/jen1/models/musicgen-small/" -> "musicgen-small". */
static void model_name(const char *dir, char *name, size_t len)
{
    size_t end = strlen(dir);
    while (end > 1 && dir[end - 1] == '/') end--;
    size_t start = end;
    while (start > 0 && dir[start - 1] != '/') start--;
    snprintf(name, len, "%.*s", (int)(end - start), dir + start);
}

engine *engine_open(const engine_options *o, char *err, size_t errlen)
{
    engine *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    const char *dir = o->model_dir ? o->model_dir : "";
    model_name(dir, e->name, sizeof e->name);
    if (!o->use_torch) {
        snprintf(e->name, sizeof e->name, "none");
        e->none_pace = o->none_pace > 0 ? o->none_pace : 0;
        return e;
    }
    jen1_model_params mp = jen1_model_default_params();
    mp.n_threads = o->threads;
    mp.device = o->device;
    mp.decoder_weights = o->bf16 ? JEN1_WEIGHTS_BF16 : JEN1_WEIGHTS_F32;
    if (jen1_model_load(dir, &mp, &e->model, err, errlen) != JEN1_OK) {
        free(e);
        return NULL;
    }
    return e;
}

void engine_close(engine *e)
{
    if (!e) return;
    jen1_model_free(e->model);
    free(e);
}

const char *engine_model_name(const engine *e) { return e->name; }
/* The silent engine runs on the CPU too; its model name ("none") says what it is. */
const char *engine_device(const engine *e) { return e->model ? jen1_model_device(e->model) : "cpu"; }

double engine_max_duration(const engine *e)
{
    if (!e->model) return 3600;
    return (double)jen1_model_max_frames(e->model) / jen1_model_frame_rate(e->model);
}

int engine_runtime_json(const engine *e, char *buf, size_t len)
{
    int n;
    if (!e->model) {
        n = snprintf(buf, len, "{\"engine\":\"none\"}");
    } else {
        jen1_torch_info info;
        jen1_torch_info_get(&info);
        n = snprintf(buf, len,
                     "{\"torch_version\":\"%s\",\"cuda_built\":%s,\"cuda_available\":%s,\"cuda_device_count\":%d,"
                     "\"device_name\":\"%s\",\"device\":\"%s\",\"threads\":%d,\"model\":\"%s\"}",
                     info.torch_version, info.cuda_built ? "true" : "false", info.cuda_available ? "true" : "false",
                     info.cuda_device_count, info.device_name, engine_device(e), info.n_threads, e->name);
    }
    return n >= 0 && (size_t)n < len ? 0 : -1;
}

/* What a song is sampled with: the model's defaults, sampled (whatever the
 * checkpoint's do_sample says), with the fields the job gave over them. */
static jen1_sampling song_sampling(jen1_sampling model_defaults, const job_sampling *job)
{
    model_defaults.greedy = 0;
    return job_sampling_over(job, model_defaults);
}

/* The silent engine's "model defaults": no filter, no guidance. */
static const jen1_sampling kSilentSampling = {.greedy = 0, .top_k = 0, .top_p = 1, .temperature = 1,
                                              .guidance_scale = 1};

/* Silence of the right length, taking pace * duration seconds of wall time
 * in 20 ms steps that report progress and honour the abort callback, as the
 * real engine does between decoder steps. */
static engine_status render_silence(const engine *e, const engine_request *req, engine_result *out, char *err,
                                    size_t errlen)
{
    const double total = e->none_pace * req->duration, start = clock_monotonic_s();
    for (double done = 0; done < total; done = clock_monotonic_s() - start) {
        if (req->should_stop && req->should_stop(req->user)) return ENGINE_ABORTED;
        if (req->progress) req->progress((float)(done / total), req->user);
        struct timespec step = {0, 20 * 1000000L};
        nanosleep(&step, NULL);
    }
    out->sample_rate = kSilentRate;
    /* Report the parameters asked for, as the real engine would have used them. */
    out->sampling = song_sampling(kSilentSampling, &req->sampling);
    out->n_samples = (int64_t)llround(req->duration * kSilentRate);
    out->audio = calloc((size_t)(out->n_samples ? out->n_samples : 1), sizeof(float));
    out->free_audio = free;
    if (!out->audio) {
        snprintf(err, errlen, "out of memory");
        return ENGINE_FAILED;
    }
    if (req->should_stop && req->should_stop(req->user)) return ENGINE_ABORTED;
    if (req->progress) req->progress(1.0f, req->user);
    return ENGINE_OK;
}

engine_status engine_render(engine *e, const engine_request *req, engine_result *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!e->model) return render_silence(e, req, out, err, errlen);

    jen1_generate_params p = jen1_generate_default_params(e->model);
    p.sampling = song_sampling(p.sampling, &req->sampling);
    p.decode_audio = 1;
    p.progress = req->progress;
    p.progress_user_data = req->user;
    p.abort = req->should_stop;
    p.abort_user_data = req->user;

    int frames = (int)llround(req->duration * jen1_model_frame_rate(e->model));
    jen1_request r = {.prompt = req->prompt, .n_frames = frames > 0 ? frames : 1, .seed = req->seed};
    jen1_output *o;
    jen1_status st = jen1_generate(e->model, &r, 1, &p, &o, err, errlen);
    switch (st) {
    case JEN1_OK: break;
    case JEN1_ERR_ABORTED: return ENGINE_ABORTED;
    case JEN1_ERR_TOO_LONG: return ENGINE_TOO_LONG;
    case JEN1_ERR_INVALID_ARGUMENT: return ENGINE_INVALID;
    default: return ENGINE_FAILED;
    }
    /* Hand the audio over without a copy. */
    out->audio = o->items[0].audio; /* taken: jen1_free releases it (jen1.h) */
    out->free_audio = jen1_free;
    out->n_samples = o->items[0].n_samples;
    o->items[0].audio = NULL;
    out->sample_rate = o->sample_rate;
    out->seconds_text = o->seconds_text;
    out->seconds_decoder = o->seconds_decoder;
    out->seconds_audio = o->seconds_audio;
    out->sampling = p.sampling;
    jen1_output_free(o);
    return ENGINE_OK;
}

void engine_result_free(engine_result *r)
{
    if (r->audio) r->free_audio(r->audio);
    memset(r, 0, sizeof *r);
}
