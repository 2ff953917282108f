/* engine.c - see engine.h. The only file of the daemon that talks to the
 * engine (jen1.h); the silent engine lives here too, on the same schedule. */
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
    bool cores_shared;   /* the model runs on the CPU: see engine_audio_with_batch */
    double none_pace;
    int frame_rate, n_codebooks, codebook_size;
    int window_frames, stride_frames; /* the schedule every song follows */
    char name[256];
};

/* The silent engine's model: musicgen-small's shape. */
static const int kSilentRate = 32000, kSilentFrameRate = 50, kSilentCodebooks = 4, kSilentCodebookSize = 2048;
/* audiocraft's defaults: 30-second windows, 18 new seconds per later window. */
static const double kDefaultWindowS = 30, kDefaultStrideS = 18;

/* "/var/lib/jen1/models/musicgen-small/" -> "musicgen-small". */
static void model_name(const char *dir, char *name, size_t len)
{
    size_t end = strlen(dir);
    while (end > 1 && dir[end - 1] == '/') end--;
    size_t start = end;
    while (start > 0 && dir[start - 1] != '/') start--;
    snprintf(name, len, "%.*s", (int)(end - start), dir + start);
}

static int frames_of(double seconds, int frame_rate) { return (int)llround(seconds * frame_rate); }

/* The window and stride in frames: the options' when given, else the
 * defaults (window_default frames: the model's). A stride must leave some
 * context: by default 18 s, or 3/5 of a window shorter than 30 s. */
static int set_schedule(engine *e, const engine_options *o, int window_default, int max_window, char *err,
                        size_t errlen)
{
    e->window_frames = o->window_s > 0 ? frames_of(o->window_s, e->frame_rate) : window_default;
    if (o->stride_s > 0) {
        e->stride_frames = frames_of(o->stride_s, e->frame_rate);
    } else {
        e->stride_frames = frames_of(kDefaultStrideS, e->frame_rate);
        if (e->stride_frames >= e->window_frames) e->stride_frames = e->window_frames * 3 / 5;
    }
    if (e->window_frames < 2 || e->window_frames > max_window) {
        snprintf(err, errlen, "the window (%d frames) must be 2 frames to %d frames (%.2f s): the model's position table",
                 e->window_frames, max_window, (double)max_window / e->frame_rate);
        return -1;
    }
    if (e->stride_frames < 1 || e->stride_frames >= e->window_frames) {
        snprintf(err, errlen, "the stride (%d frames) must be at least a frame and shorter than the window (%d frames)",
                 e->stride_frames, e->window_frames);
        return -1;
    }
    return 0;
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
        e->frame_rate = kSilentFrameRate;
        e->n_codebooks = kSilentCodebooks;
        e->codebook_size = kSilentCodebookSize;
        int window = frames_of(kDefaultWindowS, e->frame_rate);
        if (set_schedule(e, o, window, INT32_MAX / 2, err, errlen) != 0) {
            free(e);
            return NULL;
        }
        return e;
    }
    jen1_model_params mp = jen1_model_default_params();
    mp.n_threads = o->threads;
    mp.device = o->device;
    mp.decoder_weights = o->weights;
    mp.cuda_graphs = o->cuda_graph;
    if (jen1_model_load(dir, &mp, &e->model, err, errlen) != JEN1_OK) {
        free(e);
        return NULL;
    }
    e->frame_rate = jen1_model_frame_rate(e->model);
    e->n_codebooks = jen1_model_num_codebooks(e->model);
    e->codebook_size = jen1_model_codebook_size(e->model);
    int max_window = jen1_model_max_frames(e->model);
    int window = 0, stride = 0;
    jen1_model_default_window(e->model, &window, &stride);
    if (set_schedule(e, o, window, max_window, err, errlen) != 0) {
        jen1_model_free(e->model);
        free(e);
        return NULL;
    }
    if (!(o->stride_s > 0) && !(o->window_s > 0)) e->stride_frames = stride;
    e->cores_shared = strncmp(jen1_model_device(e->model), "cpu", 3) == 0;
    return e;
}

bool engine_audio_with_batch(const engine *e)
{
    return e->cores_shared;
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
    (void)e;
    return INFINITY; /* windows: any length */
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

/* ---- The song's schedule ------------------------------------------------------- */

/* A request in the engine's terms: frames, and the sections as jen1_sections
 * with, for each, the index of the request's section it came from. */
typedef struct song_frames {
    int n_frames;
    int n_sections;
    jen1_section *sections;
    int *origin;
    jen1_window *windows;
    int n_windows;
} song_frames;

static void song_frames_free(song_frames *s)
{
    free(s->sections);
    free(s->origin);
    free(s->windows);
    memset(s, 0, sizeof *s);
}

/* Sections to frames: the first starts at 0; one that rounds onto the
 * previous one's start replaces it (that one would have no frames), one at
 * or past the song's end is dropped. Then the windows. Returns 0, or -1 with
 * a message (out of memory, or arguments the schedule refuses). */
static int song_frames_make(const engine *e, const engine_request *req, song_frames *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    int n_frames = frames_of(req->duration, e->frame_rate);
    s->n_frames = n_frames > 0 ? n_frames : 1;
    int n_in = req->sections && req->n_sections > 0 ? req->n_sections : 1;
    s->sections = calloc((size_t)n_in, sizeof *s->sections);
    s->origin = calloc((size_t)n_in, sizeof *s->origin);
    if (!s->sections || !s->origin) goto oom;
    if (!req->sections || req->n_sections <= 0) {
        s->sections[0] = (jen1_section){.start_frame = 0, .prompt = req->prompt ? req->prompt : ""};
        s->n_sections = 1;
    }
    for (int i = 0; req->sections && i < req->n_sections; i++) {
        int f = i == 0 ? 0 : frames_of(req->sections[i].start, e->frame_rate);
        const char *prompt = req->sections[i].prompt ? req->sections[i].prompt : "";
        if (f >= s->n_frames) break;
        if (s->n_sections > 0 && f <= s->sections[s->n_sections - 1].start_frame) s->n_sections--;
        int at = s->n_sections++;
        s->sections[at] = (jen1_section){.start_frame = at == 0 ? 0 : f, .prompt = prompt};
        s->origin[at] = i;
    }
    int n = jen1_plan_windows(s->n_frames, s->sections, s->n_sections, e->window_frames, e->stride_frames, NULL, 0,
                              err, errlen);
    if (n < 1) {
        song_frames_free(s);
        return -1;
    }
    s->windows = calloc((size_t)n, sizeof *s->windows);
    if (!s->windows) goto oom;
    s->n_windows = jen1_plan_windows(s->n_frames, s->sections, s->n_sections, e->window_frames, e->stride_frames,
                                     s->windows, n, err, errlen);
    return 0;
oom:
    song_frames_free(s);
    snprintf(err, errlen, "out of memory");
    return -1;
}

static engine_window to_engine_window(const song_frames *s, const jen1_window *w)
{
    return (engine_window){.index = w->index, .start_frame = w->start_frame, .end_frame = w->end_frame,
                           .context_frames = w->context_frames, .section = s->origin[w->section]};
}

/* The windows as the worker reports them (malloc'd), or NULL. */
static engine_window *engine_windows(const song_frames *s, const jen1_window *windows, int n)
{
    engine_window *out = calloc((size_t)(n > 0 ? n : 1), sizeof *out);
    for (int i = 0; out && i < n; i++) out[i] = to_engine_window(s, &windows[i]);
    return out;
}

static int check_resume(const engine *e, const song_frames *s, const int64_t *codes, int n_codebooks, int n_frames,
                        char *err, size_t errlen)
{
    if (n_codebooks != e->n_codebooks) {
        snprintf(err, errlen, "the checkpoint has %d codebooks, the model %d", n_codebooks, e->n_codebooks);
        return -1;
    }
    int at_window_end = 0;
    for (int i = 0; i < s->n_windows; i++) at_window_end |= s->windows[i].end_frame == n_frames;
    if (!at_window_end) {
        snprintf(err, errlen, "the checkpoint's %d frames do not end a window of this song's schedule (%d frames, %d windows)",
                 n_frames, s->n_frames, s->n_windows);
        return -1;
    }
    for (size_t i = 0; i < (size_t)n_codebooks * (size_t)n_frames; i++) {
        if (codes[i] < 0 || codes[i] >= e->codebook_size) {
            snprintf(err, errlen, "the checkpoint holds code %lld, outside the codebook (0 to %d)", (long long)codes[i],
                     e->codebook_size - 1);
            return -1;
        }
    }
    return 0;
}

int engine_check_resume(const engine *e, const engine_request *req, const int64_t *codes, int n_codebooks,
                        int n_frames, char *err, size_t errlen)
{
    song_frames s;
    if (song_frames_make(e, req, &s, err, errlen) != 0) return -1;
    int rc = check_resume(e, &s, codes, n_codebooks, n_frames, err, errlen);
    song_frames_free(&s);
    return rc;
}

int engine_count_windows(const engine *e, const engine_request *req)
{
    char err[256];
    song_frames s;
    if (song_frames_make(e, req, &s, err, sizeof err) != 0) return -1;
    int n = s.n_windows;
    song_frames_free(&s);
    return n;
}

/* ---- Sampling ------------------------------------------------------------------ */

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

jen1_sampling engine_sampling(const engine *e, const job_sampling *job)
{
    return song_sampling(e->model ? jen1_generate_default_params(e->model).sampling : kSilentSampling, job);
}

/* ---- The silent engine ----------------------------------------------------------- */

/* splitmix64's finaliser. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Window w's codes: a function of the seed, the window's index and its
 * context (each codebook's last frame before it), as a model's would be. */
static void silent_window_codes(const engine *e, uint64_t seed, const jen1_window *w, int64_t *codes, int n_frames)
{
    for (int k = 0; k < e->n_codebooks; k++) {
        int64_t *row = codes + (size_t)k * (size_t)n_frames;
        uint64_t context = w->start_frame > 0 ? (uint64_t)row[w->start_frame - 1] + 1 : 0;
        uint64_t base = mix64(seed ^ mix64(((uint64_t)w->index << 32) + (uint64_t)k * 0x9E3779B97F4A7C15ULL + context));
        for (int t = w->start_frame; t < w->end_frame; t++)
            row[t] = (int64_t)(mix64(base + (uint64_t)t) % (uint64_t)e->codebook_size);
    }
}

/* The song's codes and windows in *out, the resume codes in place: returns
 * how many frames they are, or -1 when memory runs out. */
static int start_song(const engine *e, const engine_request *req, const song_frames *s, engine_result *out)
{
    const int n = s->n_frames, K = e->n_codebooks;
    out->codes = calloc((size_t)K * (size_t)n, sizeof *out->codes);
    out->free_codes = free;
    out->windows = engine_windows(s, s->windows, s->n_windows);
    if (!out->codes || !out->windows) return -1;
    out->n_codebooks = K;
    out->n_frames = n;
    out->n_windows = s->n_windows;
    out->frame_rate = e->frame_rate;
    int resumed = req->resume_codes ? req->n_resume_frames : 0;
    for (int k = 0; k < K && resumed > 0; k++)
        memcpy(out->codes + (size_t)k * n, req->resume_codes + (size_t)k * resumed, (size_t)resumed * sizeof(int64_t));
    return resumed;
}

/* Hands the song so far to on_window as jen1 does: [K][w->end_frame], each
 * codebook's frames together (the silent engine keeps [K][n_frames]). */
static int report_window(const song_frames *s, const jen1_window *w, const int64_t *codes, int K, int n_frames,
                         const engine_request *req)
{
    int64_t *so_far = malloc((size_t)K * (size_t)w->end_frame * sizeof *so_far);
    if (!so_far) return -1;
    for (int k = 0; k < K; k++)
        memcpy(so_far + (size_t)k * w->end_frame, codes + (size_t)k * n_frames, (size_t)w->end_frame * sizeof *so_far);
    engine_window ew = to_engine_window(s, w);
    req->on_window(&ew, so_far, K, w->end_frame, req->user);
    free(so_far);
    return 0;
}

/* ---- Batches --------------------------------------------------------------------- */

static engine_status engine_status_of(jen1_status st)
{
    switch (st) {
    case JEN1_OK: return ENGINE_OK;
    case JEN1_ERR_ABORTED: return ENGINE_ABORTED;
    case JEN1_ERR_TOO_LONG: return ENGINE_TOO_LONG;
    case JEN1_ERR_INVALID_ARGUMENT: return ENGINE_INVALID;
    default: return ENGINE_FAILED;
    }
}

/* The silent engine's step: what a decoder pass of the real one stands for. */
static const double kSilentStepS = 0.020;

/* One request in a batch. Allocated at join so that the window relay, which
 * jen1 holds a pointer to, never moves. */
typedef struct batch_slot {
    engine_request req;   /* its callbacks and user data (the rest is read at join) */
    song_frames song;
    jen1_sampling sampling;
    int done;             /* the silent engine's: the request has ended */
    engine_status status; /* and how */
    char err[512];
    /* The silent engine's song in the making. */
    engine_result silent;
    int window;           /* the window being paced */
    double window_spent;  /* wall seconds spent on it */
    double duration;      /* seconds asked for: the length of its silence */
} batch_slot;

struct engine_batch {
    engine *e;
    jen1_session *session; /* NULL for the silent engine */
    batch_slot **slots;
    int n_slots;
};

/* jen1's window callback, in the worker's terms. */
static int relay_window(const jen1_window *w, const int64_t *codes, int n_codebooks, int n_frames, void *user)
{
    const batch_slot *slot = user;
    engine_window ew = to_engine_window(&slot->song, w);
    slot->req.on_window(&ew, codes, n_codebooks, n_frames, slot->req.user);
    return 0; /* stopping is the abort callback's business */
}

static void slot_free(batch_slot *slot)
{
    if (!slot) return;
    song_frames_free(&slot->song);
    engine_result_free(&slot->silent);
    free(slot);
}

engine_batch *engine_batch_new(engine *e, int n_slots, char *err, size_t errlen)
{
    if (n_slots < 1 || n_slots > 64) {
        snprintf(err, errlen, "a batch has 1 to 64 slots, not %d", n_slots);
        return NULL;
    }
    engine_batch *b = calloc(1, sizeof *b);
    if (b) b->slots = calloc((size_t)n_slots, sizeof *b->slots);
    if (!b || !b->slots) {
        free(b);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    b->e = e;
    b->n_slots = n_slots;
    if (e->model && jen1_session_new(e->model, n_slots, &b->session, err, errlen) != JEN1_OK) {
        free(b->slots);
        free(b);
        return NULL;
    }
    return b;
}

void engine_batch_free(engine_batch *b)
{
    if (!b) return;
    jen1_session_free(b->session);
    for (int i = 0; i < b->n_slots; i++) slot_free(b->slots[i]);
    free(b->slots);
    free(b);
}

static engine_status join_model(engine_batch *b, batch_slot *slot, int *index, char *err, size_t errlen)
{
    const engine *e = b->e;
    const engine_request *req = &slot->req;
    const song_frames *s = &slot->song;
    jen1_generate_params p = jen1_generate_default_params(e->model);
    p.sampling = slot->sampling;
    p.decode_audio = 0; /* engine_result_decode_audio, off the batch's thread */
    p.progress = req->progress;
    p.progress_user_data = req->user;
    p.abort = req->should_stop;
    p.abort_user_data = req->user;
    p.window_frames = e->window_frames;
    p.stride_frames = e->stride_frames;
    if (req->on_window) {
        p.on_window = relay_window;
        p.window_user_data = slot;
    }
    jen1_request r = {.n_frames = s->n_frames, .seed = req->seed, .sections = s->sections,
                      .n_sections = s->n_sections, .resume_codes = req->resume_codes,
                      .n_resume_frames = req->resume_codes ? req->n_resume_frames : 0};
    return engine_status_of(jen1_session_join(b->session, &r, &p, index, err, errlen));
}

static int first_free(const engine_batch *b)
{
    for (int i = 0; i < b->n_slots; i++)
        if (!b->slots[i]) return i;
    return -1;
}

/* Ends a silent request: its outcome, and its last progress report. */
static void silence_ends(batch_slot *slot, engine_status st, const char *why)
{
    slot->done = 1;
    slot->status = st;
    snprintf(slot->err, sizeof slot->err, "%s", why);
    if (st == ENGINE_OK && slot->req.progress) slot->req.progress(1.0f, slot->req.user);
}

static engine_status join_silence(engine_batch *b, batch_slot *slot, int *index, char *err, size_t errlen)
{
    *index = first_free(b); /* engine_batch_join saw one */
    int resumed = start_song(b->e, &slot->req, &slot->song, &slot->silent);
    if (resumed < 0) {
        snprintf(err, errlen, "out of memory");
        return ENGINE_FAILED;
    }
    while (slot->window < slot->song.n_windows && slot->song.windows[slot->window].end_frame <= resumed)
        slot->window++;
    if (slot->window == slot->song.n_windows) silence_ends(slot, ENGINE_OK, ""); /* a finished song's checkpoint */
    return ENGINE_OK;
}

engine_status engine_batch_join(engine_batch *b, const engine_request *req, int *index, char *err, size_t errlen)
{
    *index = -1;
    if (first_free(b) < 0) { /* the caller's mistake, not the job's: nothing permanent about it */
        snprintf(err, errlen, "every slot of the batch is taken");
        return ENGINE_FAILED;
    }
    batch_slot *slot = calloc(1, sizeof *slot);
    if (!slot) {
        snprintf(err, errlen, "out of memory");
        return ENGINE_FAILED;
    }
    slot->req = *req;
    slot->duration = req->duration;
    slot->sampling = engine_sampling(b->e, &req->sampling);
    engine_status st = ENGINE_INVALID;
    if (song_frames_make(b->e, req, &slot->song, err, errlen) != 0) goto fail;
    if (req->resume_codes && check_resume(b->e, &slot->song, req->resume_codes, b->e->n_codebooks,
                                          req->n_resume_frames, err, errlen) != 0)
        goto fail;
    st = b->session ? join_model(b, slot, index, err, errlen) : join_silence(b, slot, index, err, errlen);
    if (st != ENGINE_OK) goto fail;
    /* What the request pointed to is not kept. */
    slot->req.prompt = NULL;
    slot->req.sections = NULL;
    slot->req.resume_codes = NULL;
    b->slots[*index] = slot;
    return ENGINE_OK;
fail:
    *index = -1;
    slot_free(slot);
    return st;
}

/* The silent engine's step for one request: the window it paces gets its
 * codes, and once the window's share of time is spent it is reported and
 * the next one begins. */
static void step_silence(const engine *e, batch_slot *slot, double elapsed)
{
    const engine_request *req = &slot->req;
    const song_frames *s = &slot->song;
    if (req->should_stop && req->should_stop(req->user)) {
        silence_ends(slot, ENGINE_ABORTED, "stopped by its caller");
        return;
    }
    const jen1_window *w = &s->windows[slot->window];
    const double budget = e->none_pace * (double)(w->end_frame - w->start_frame) / e->frame_rate;
    slot->window_spent += elapsed;
    const float before = (float)w->start_frame / s->n_frames, after = (float)w->end_frame / s->n_frames;
    if (slot->window_spent < budget) {
        if (req->progress) req->progress(before + (float)(slot->window_spent / budget) * (after - before), req->user);
        return;
    }
    silent_window_codes(e, req->seed, w, slot->silent.codes, s->n_frames);
    if (req->on_window && report_window(s, w, slot->silent.codes, e->n_codebooks, s->n_frames, req) != 0) {
        silence_ends(slot, ENGINE_FAILED, "out of memory");
        return;
    }
    slot->window_spent = 0;
    if (++slot->window < s->n_windows) return;
    if (req->should_stop && req->should_stop(req->user)) silence_ends(slot, ENGINE_ABORTED, "stopped by its caller");
    else silence_ends(slot, ENGINE_OK, "");
}

engine_status engine_batch_step(engine_batch *b, char *err, size_t errlen)
{
    if (b->session) return engine_status_of(jen1_session_step(b->session, err, errlen));
    if (b->e->none_pace > 0 && engine_batch_running(b) > 0) {
        struct timespec step = {0, (long)(kSilentStepS * 1e9)};
        nanosleep(&step, NULL);
    }
    for (int i = 0; i < b->n_slots; i++)
        if (b->slots[i] && !b->slots[i]->done) step_silence(b->e, b->slots[i], kSilentStepS);
    return ENGINE_OK;
}

int engine_batch_running(const engine_batch *b)
{
    if (b->session) return jen1_session_running(b->session);
    int n = 0;
    for (int i = 0; i < b->n_slots; i++) n += b->slots[i] && !b->slots[i]->done;
    return n;
}

int engine_batch_done(const engine_batch *b, int index)
{
    if (index < 0 || index >= b->n_slots || !b->slots[index]) return -1;
    return b->session ? jen1_session_slot_done(b->session, index) : b->slots[index]->done;
}

/* A finished request of the real engine into *out (the codes handed over
 * without a copy: jen1_free releases them). */
static engine_status leave_model(engine_batch *b, int index, batch_slot *slot, engine_result *out, char *err,
                                 size_t errlen)
{
    const engine *e = b->e;
    jen1_output *o = NULL;
    jen1_status st = jen1_session_leave(b->session, index, &o, err, errlen);
    if (st != JEN1_OK) return engine_status_of(st);
    jen1_output_item *item = &o->items[0];
    out->codes = item->codes;
    out->free_codes = jen1_free;
    out->n_codebooks = item->n_codebooks;
    out->n_frames = item->n_frames;
    item->codes = NULL;
    out->frame_rate = e->frame_rate;
    out->windows = engine_windows(&slot->song, item->windows, item->n_windows);
    out->n_windows = item->n_windows;
    out->sample_rate = jen1_model_sample_rate(e->model);
    out->seconds_text = o->seconds_text;
    out->seconds_decoder = o->seconds_decoder;
    jen1_output_free(o);
    if (!out->windows) {
        snprintf(err, errlen, "out of memory");
        return ENGINE_FAILED;
    }
    return ENGINE_OK;
}

static engine_status leave_silence(batch_slot *slot, engine_result *out, char *err, size_t errlen)
{
    if (!slot->done) {
        snprintf(err, errlen, "left before it was done");
        return ENGINE_ABORTED;
    }
    if (slot->status != ENGINE_OK) {
        snprintf(err, errlen, "%s", slot->err);
        return slot->status;
    }
    *out = slot->silent;
    memset(&slot->silent, 0, sizeof slot->silent);
    out->sample_rate = kSilentRate;
    out->n_samples = (int64_t)llround(slot->duration * kSilentRate);
    return ENGINE_OK;
}

engine_status engine_batch_leave(engine_batch *b, int index, engine_result *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (index < 0 || index >= b->n_slots || !b->slots[index]) {
        snprintf(err, errlen, "slot %d holds no request", index);
        return ENGINE_INVALID;
    }
    batch_slot *slot = b->slots[index];
    b->slots[index] = NULL;
    engine_status st = b->session ? leave_model(b, index, slot, out, err, errlen)
                                  : leave_silence(slot, out, err, errlen);
    /* Report the parameters asked for, as they were used. */
    if (st == ENGINE_OK) out->sampling = slot->sampling;
    else engine_result_free(out);
    slot_free(slot);
    return st;
}

engine_status engine_result_decode_audio_step(engine *e, engine_result *out, bool *done, char *err, size_t errlen)
{
    double t = clock_monotonic_s();
    *done = false;
    if (!e->model) {
        out->audio = calloc((size_t)(out->n_samples > 0 ? out->n_samples : 1), sizeof(float));
        out->free_audio = free;
        if (!out->audio) {
            snprintf(err, errlen, "out of memory");
            return ENGINE_FAILED;
        }
        *done = true;
        return ENGINE_OK;
    }
    if (!out->decoding) {
        if (jen1_audio_decode_new(e->model, out->codes, out->n_codebooks, out->n_frames, &out->decoding, err,
                                  errlen) != JEN1_OK)
            return ENGINE_FAILED;
        out->seconds_audio = 0;
    }
    int last = 0;
    float *audio = NULL;
    int64_t n = 0;
    if (jen1_audio_decode_next(out->decoding, &last, err, errlen) != JEN1_OK ||
        (last && jen1_audio_decode_take(out->decoding, &audio, &n, err, errlen) != JEN1_OK)) {
        jen1_audio_decode_free(out->decoding);
        out->decoding = NULL;
        return ENGINE_FAILED;
    }
    out->seconds_audio += clock_monotonic_s() - t;
    if (!last) return ENGINE_OK;
    jen1_audio_decode_free(out->decoding);
    out->decoding = NULL;
    out->audio = audio;
    out->free_audio = jen1_free;
    out->n_samples = n;
    *done = true;
    return ENGINE_OK;
}

engine_status engine_result_decode_audio(engine *e, engine_result *out, char *err, size_t errlen)
{
    bool done = false;
    while (!done)
        if (engine_result_decode_audio_step(e, out, &done, err, errlen) != ENGINE_OK) return ENGINE_FAILED;
    return ENGINE_OK;
}

void engine_result_free(engine_result *r)
{
    if (r->audio) r->free_audio(r->audio);
    if (r->codes) r->free_codes(r->codes);
    free(r->windows);
    jen1_audio_decode_free(r->decoding);
    memset(r, 0, sizeof *r);
}
