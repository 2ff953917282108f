/* jen1-gen - generation from the command line: the engine's own front door,
 * for users trying a model (one prompt, a batch, or a long song in timed
 * sections) and for parity checks (.npy dumps, continuation from codes). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audio.h"
#include "jen1_stages.h"
#include "npy.h"
#include "util.h"

#define MAX_PROMPTS 64
#define MAX_SECTIONS 64

typedef struct timed_prompt {
    double start;         /* seconds */
    const char *prompt;
} timed_prompt;

typedef struct options {
    const char *model_dir;
    const char *prompts[MAX_PROMPTS];
    int n_prompts;
    timed_prompt sections[MAX_SECTIONS];
    int n_sections;
    double duration;      /* seconds, or */
    int frames;           /* frames (wins when set); new frames after --prompt-codes */
    double window, stride;  /* seconds; 0 = the model's default */
    const char *prompt_codes;
    unsigned long long seed;
    int top_k, greedy, threads, quiet;
    float top_p, temperature, guidance;
    int set_top_k, set_top_p, set_temperature, set_guidance;
    const char *out, *dump_codes, *dump_audio, *codes;
    jen1_device device;
    jen1_weight_type weights;
} options;

static void usage(FILE *to)
{
    fprintf(to,
            "usage: jen1-gen --model DIR --prompt TEXT [--prompt TEXT ...] (--duration S | --frames N) [options]\n"
            "       jen1-gen --model DIR [--prompt TEXT] --section START:TEXT [--section ...] --duration S [options]\n"
            "       jen1-gen --model DIR --prompt TEXT ... --prompt-codes CODES.npy --frames N [options]\n"
            "       jen1-gen --model DIR --codes CODES.npy [--out FILE.wav] [--dump-audio FILE.npy]\n"
            "\n"
            "Generates music from text with a MusicGen checkpoint directory (config.json,\n"
            "model.safetensors, spiece.model). Several --prompt flags make one batch. A song\n"
            "longer than one window (30 s, or what the model's position table allows) renders\n"
            "in windows, each primed with the end of the one before.\n"
            "\n"
            "  --model DIR          checkpoint directory (default $JEN1_MODEL_DIR)\n"
            "  --prompt TEXT        a text prompt; repeat for a batch (up to %d)\n"
            "  --section START:TEXT from START seconds on, the song is generated under TEXT;\n"
            "                       repeat for a song in sections (one song; a --prompt is\n"
            "                       then the section at 0)\n"
            "  --duration SECONDS   length of the audio\n"
            "  --frames N           length in audio frames (50 per second for musicgen-small);\n"
            "                       the reference's max_new_tokens is N + codebooks - 1\n"
            "  --prompt-codes F.npy continue these codes (int64 [batch, codebooks, P], one row per\n"
            "                       --prompt): --frames/--duration count the new frames, the\n"
            "                       outputs hold all P + N\n"
            "  --window SECONDS     window of a long song (default 30, capped by the model)\n"
            "  --stride SECONDS     new audio per later window (default 18; the rest of the\n"
            "                       window is context from the song so far)\n"
            "  --seed N             random seed; prompt i uses seed + i (default 0)\n"
            "  --greedy             argmax decoding (exact, for comparisons)\n"
            "  --top-k N            sample among the N most likely codes (model default: 50)\n"
            "  --top-p P            nucleus sampling threshold in (0, 1]\n"
            "  --temperature T      softmax temperature (> 0)\n"
            "  --guidance G         classifier-free guidance scale; <= 1 turns it off (model default)\n"
            "  --threads N          CPU threads (default: all cores)\n"
            "  --device auto|cpu|cuda\n"
            "  --weights f32|bf16|int8  the decoder's weight type (default f32); bf16 and int8 are\n"
            "                       faster on CPU, not bit-exact (BENCHMARKS.md)\n"
            "  --bf16               the same as --weights bf16\n"
            "  --out FILE.wav       write audio (16-bit WAV; .flac/.ogg/.mp3 by extension); with several\n"
            "                       prompts FILE-0.wav, FILE-1.wav, ...\n"
            "  --dump-codes F.npy   the audio codes, int64 [batch, codebooks, frames]\n"
            "  --dump-audio F.npy   the waveform, float32 [batch, samples]\n"
            "  --codes F.npy        decode these codes ([batch, codebooks, frames], or with a leading 1)\n"
            "                       to audio, skipping the language model\n"
            "  --quiet              no progress bar or summary\n"
            "  --help\n",
            MAX_PROMPTS);
}

static int parse_int(const char *flag, const char *s, long min, long max, long *out)
{
    if (parse_long_in(s, min, max, out) == 0) return 0;
    fprintf(stderr, "jen1-gen: %s wants an integer in [%ld, %ld], not '%s'\n", flag, min, max, s);
    return -1;
}

static int parse_float(const char *flag, const char *s, float *out)
{
    double v;
    if (parse_finite_double(s, &v) == 0) {
        *out = (float)v;
        return 0;
    }
    fprintf(stderr, "jen1-gen: %s wants a number, not '%s'\n", flag, s);
    return -1;
}

enum { OPT_DURATION = 256, OPT_FRAMES, OPT_SEED, OPT_TOPK, OPT_TOPP, OPT_TEMP, OPT_GUIDANCE, OPT_GREEDY,
       OPT_THREADS, OPT_OUT, OPT_DUMP_CODES, OPT_DUMP_AUDIO, OPT_CODES, OPT_DEVICE, OPT_BF16, OPT_WEIGHTS, OPT_QUIET,
       OPT_SECTION, OPT_PROMPT_CODES, OPT_WINDOW, OPT_STRIDE };

/* --section START:TEXT */
static int parse_section(const char *arg, options *o)
{
    const char *colon = strchr(arg, ':');
    char start[64];
    float seconds;
    if (!colon || colon == arg || (size_t)(colon - arg) >= sizeof start) {
        fprintf(stderr, "jen1-gen: --section wants START:TEXT (START in seconds), not '%s'\n", arg);
        return -1;
    }
    memcpy(start, arg, (size_t)(colon - arg));
    start[colon - arg] = '\0';
    if (parse_float("--section", start, &seconds) || seconds < 0) {
        fprintf(stderr, "jen1-gen: --section: START must be a number of seconds >= 0, not '%s'\n", start);
        return -1;
    }
    if (o->n_sections == MAX_SECTIONS) {
        fprintf(stderr, "jen1-gen: at most %d sections\n", MAX_SECTIONS);
        return -1;
    }
    o->sections[o->n_sections++] = (timed_prompt){seconds, colon + 1};
    return 0;
}

static int parse_seconds(const char *flag, const char *arg, double *out)
{
    float f;
    if (parse_float(flag, arg, &f) || f <= 0) {
        fprintf(stderr, "jen1-gen: %s must be a positive number of seconds\n", flag);
        return -1;
    }
    *out = f;
    return 0;
}

static int parse_options(int argc, char **argv, options *o)
{
    static const struct option longopts[] = {
        {"model", required_argument, 0, 'm'},        {"prompt", required_argument, 0, 'p'},
        {"duration", required_argument, 0, OPT_DURATION}, {"frames", required_argument, 0, OPT_FRAMES},
        {"seed", required_argument, 0, OPT_SEED},     {"top-k", required_argument, 0, OPT_TOPK},
        {"top-p", required_argument, 0, OPT_TOPP},    {"temperature", required_argument, 0, OPT_TEMP},
        {"guidance", required_argument, 0, OPT_GUIDANCE}, {"greedy", no_argument, 0, OPT_GREEDY},
        {"threads", required_argument, 0, OPT_THREADS}, {"out", required_argument, 0, OPT_OUT},
        {"dump-codes", required_argument, 0, OPT_DUMP_CODES},
        {"dump-audio", required_argument, 0, OPT_DUMP_AUDIO}, {"codes", required_argument, 0, OPT_CODES},
        {"device", required_argument, 0, OPT_DEVICE}, {"bf16", no_argument, 0, OPT_BF16},
        {"weights", required_argument, 0, OPT_WEIGHTS},
        {"quiet", no_argument, 0, OPT_QUIET},         {"help", no_argument, 0, 'h'},
        {"section", required_argument, 0, OPT_SECTION},
        {"prompt-codes", required_argument, 0, OPT_PROMPT_CODES},
        {"window", required_argument, 0, OPT_WINDOW}, {"stride", required_argument, 0, OPT_STRIDE},
        {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->model_dir = getenv("JEN1_MODEL_DIR");
    o->duration = -1;
    o->device = JEN1_DEVICE_AUTO;
    int c;
    long v;
    float f;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "m:p:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': o->model_dir = optarg; break;
        case 'p':
            if (o->n_prompts == MAX_PROMPTS) {
                fprintf(stderr, "jen1-gen: at most %d prompts\n", MAX_PROMPTS);
                return -1;
            }
            o->prompts[o->n_prompts++] = optarg;
            break;
        case OPT_DURATION:
            if (parse_float("--duration", optarg, &f) || f <= 0) {
                fprintf(stderr, "jen1-gen: --duration must be a positive number of seconds\n");
                return -1;
            }
            o->duration = f;
            break;
        case OPT_FRAMES: if (parse_int("--frames", optarg, 1, 1000000, &v)) return -1; o->frames = (int)v; break;
        case OPT_SEED: {
            char *end;
            errno = 0;
            o->seed = strtoull(optarg, &end, 10);
            if (errno || *end || end == optarg || optarg[0] == '-') {
                fprintf(stderr, "jen1-gen: --seed wants a non-negative integer, not '%s'\n", optarg);
                return -1;
            }
            break;
        }
        case OPT_TOPK: if (parse_int("--top-k", optarg, 0, 1000000, &v)) return -1; o->top_k = (int)v; o->set_top_k = 1; break;
        case OPT_TOPP: if (parse_float("--top-p", optarg, &o->top_p)) return -1; o->set_top_p = 1; break;
        case OPT_TEMP: if (parse_float("--temperature", optarg, &o->temperature)) return -1; o->set_temperature = 1; break;
        case OPT_GUIDANCE: if (parse_float("--guidance", optarg, &o->guidance)) return -1; o->set_guidance = 1; break;
        case OPT_GREEDY: o->greedy = 1; break;
        case OPT_THREADS: if (parse_int("--threads", optarg, 1, 1024, &v)) return -1; o->threads = (int)v; break;
        case OPT_OUT: o->out = optarg; break;
        case OPT_DUMP_CODES: o->dump_codes = optarg; break;
        case OPT_DUMP_AUDIO: o->dump_audio = optarg; break;
        case OPT_CODES: o->codes = optarg; break;
        case OPT_DEVICE:
            if (strcmp(optarg, "auto") == 0) o->device = JEN1_DEVICE_AUTO;
            else if (strcmp(optarg, "cpu") == 0) o->device = JEN1_DEVICE_CPU;
            else if (strcmp(optarg, "cuda") == 0) o->device = JEN1_DEVICE_CUDA;
            else {
                fprintf(stderr, "jen1-gen: --device is auto, cpu or cuda, not '%s'\n", optarg);
                return -1;
            }
            break;
        case OPT_BF16: o->weights = JEN1_WEIGHTS_BF16; break;
        case OPT_WEIGHTS:
            if (jen1_weight_type_parse(optarg, &o->weights) != 0) {
                fprintf(stderr, "jen1-gen: --weights is f32, bf16 or int8, not '%s'\n", optarg);
                return -1;
            }
            break;
        case OPT_QUIET: o->quiet = 1; break;
        case OPT_SECTION: if (parse_section(optarg, o)) return -1; break;
        case OPT_PROMPT_CODES: o->prompt_codes = optarg; break;
        case OPT_WINDOW: if (parse_seconds("--window", optarg, &o->window)) return -1; break;
        case OPT_STRIDE: if (parse_seconds("--stride", optarg, &o->stride)) return -1; break;
        case 'h': usage(stdout); exit(0);
        default:
            fprintf(stderr, "jen1-gen: unknown or incomplete option '%s' (see --help)\n", argv[optind - 1]);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "jen1-gen: unexpected argument '%s' (see --help)\n", argv[optind]);
        return -1;
    }
    if (!o->model_dir) {
        fprintf(stderr, "jen1-gen: --model DIR is required (or set JEN1_MODEL_DIR)\n");
        return -1;
    }
    if (o->codes) {
        if (o->n_prompts || o->n_sections) {
            fprintf(stderr, "jen1-gen: --codes decodes given codes; it takes no --prompt\n");
            return -1;
        }
        if (!o->out && !o->dump_audio) {
            fprintf(stderr, "jen1-gen: --codes needs --out or --dump-audio\n");
            return -1;
        }
        return 0;
    }
    if (o->n_prompts == 0 && o->n_sections == 0) {
        fprintf(stderr, "jen1-gen: give at least one --prompt or --section (see --help)\n");
        return -1;
    }
    if (o->n_sections && (o->n_prompts > 1 || o->prompt_codes)) {
        fprintf(stderr, "jen1-gen: --section makes one song: at most one --prompt (its opening), no --prompt-codes\n");
        return -1;
    }
    if (o->frames == 0 && o->duration < 0) {
        fprintf(stderr, "jen1-gen: give --duration SECONDS or --frames N\n");
        return -1;
    }
    if (!o->out && !o->dump_codes && !o->dump_audio) {
        fprintf(stderr, "jen1-gen: nothing to write: give --out, --dump-codes or --dump-audio\n");
        return -1;
    }
    return 0;
}

static void show_progress(float done, void *user)
{
    (void)user;
    const int width = 40;
    int filled = (int)(done * width + 0.5f);
    fprintf(stderr, "\r[");
    for (int i = 0; i < width; i++) fputc(i < filled ? '#' : '.', stderr);
    fprintf(stderr, "] %3d%%", (int)(done * 100 + 0.5f));
    if (done >= 1.0f) fputc('\n', stderr);
    fflush(stderr);
}

/* "song.wav" -> "song-2.wav" for batch item 2 when there are several. */
static void item_path(const char *path, int index, int count, char *buf, size_t len)
{
    if (count == 1) {
        snprintf(buf, len, "%s", path);
        return;
    }
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash)) dot = path + strlen(path);
    snprintf(buf, len, "%.*s-%d%s", (int)(dot - path), path, index, dot);
}

static audio_format format_for(const char *path)
{
    const char *dot = strrchr(path, '.');
    audio_format f = AUDIO_WAV;
    if (dot) audio_format_parse(dot + 1, &f);
    return f;
}

static int write_outputs(const options *o, const jen1_output *out)
{
    char err[512], path[4096];
    const int n = out->n_items;
    if (o->dump_codes) {
        const jen1_output_item *first = &out->items[0];
        npy_array a = {.dtype = NPY_I64, .ndim = 3, .shape = {n, first->n_codebooks, first->n_frames}};
        size_t per = (size_t)first->n_codebooks * first->n_frames;
        int64_t *codes = malloc(sizeof(int64_t) * per * n);
        if (!codes) return -1;
        for (int i = 0; i < n; i++) memcpy(codes + per * i, out->items[i].codes, sizeof(int64_t) * per);
        a.data = codes;
        int rc = npy_write(o->dump_codes, &a, err, sizeof err);
        free(codes);
        if (rc) {
            fprintf(stderr, "jen1-gen: %s\n", err);
            return -1;
        }
    }
    if (o->dump_audio) {
        int64_t samples = out->items[0].n_samples;
        npy_array a = {.dtype = NPY_F32, .ndim = 2, .shape = {n, samples}};
        float *audio = malloc(sizeof(float) * (size_t)samples * n);
        if (!audio) return -1;
        for (int i = 0; i < n; i++) memcpy(audio + (size_t)samples * i, out->items[i].audio, sizeof(float) * samples);
        a.data = audio;
        int rc = npy_write(o->dump_audio, &a, err, sizeof err);
        free(audio);
        if (rc) {
            fprintf(stderr, "jen1-gen: %s\n", err);
            return -1;
        }
    }
    if (o->out) {
        for (int i = 0; i < n; i++) {
            item_path(o->out, i, n, path, sizeof path);
            if (audio_write_file(path, out->items[i].audio, out->items[i].n_samples, out->sample_rate,
                                 format_for(path), err, sizeof err)) {
                fprintf(stderr, "jen1-gen: %s\n", err);
                return -1;
            }
            if (!o->quiet) fprintf(stderr, "jen1-gen: wrote %s\n", path);
        }
    }
    return 0;
}

/* --codes: decode given codes to audio; fills a jen1_output so that the
 * writers are shared with generation. */
static int decode_given_codes(const options *o, const jen1_model *model, jen1_output *out)
{
    char err[512];
    npy_array a;
    if (npy_read(o->codes, &a, err, sizeof err)) {
        fprintf(stderr, "jen1-gen: %s\n", err);
        return -1;
    }
    int lead = a.ndim == 4 && a.shape[0] == 1 ? 1 : 0;
    if (a.dtype != NPY_I64 || a.ndim - lead != 3) {
        fprintf(stderr, "jen1-gen: %s: expected int64 codes [batch, codebooks, frames]\n", o->codes);
        npy_free(&a);
        return -1;
    }
    int B = (int)a.shape[lead], K = (int)a.shape[lead + 1], F = (int)a.shape[lead + 2];
    jen1_tensor audio = {0};
    jen1_status st = jen1_decode_codes(model, a.data, B, K, F, NULL, &audio, err, sizeof err);
    npy_free(&a);
    if (st != JEN1_OK) {
        fprintf(stderr, "jen1-gen: %s: %s\n", o->codes, err);
        return -1;
    }
    out->n_items = B;
    out->sample_rate = jen1_model_sample_rate(model);
    out->items = calloc((size_t)B, sizeof *out->items);
    int64_t per = audio.shape[audio.ndim - 1];
    for (int i = 0; out->items && i < B; i++) {
        out->items[i].n_samples = per;
        out->items[i].audio = malloc(sizeof(float) * per);
        if (out->items[i].audio) memcpy(out->items[i].audio, (float *)audio.data + per * i, sizeof(float) * per);
    }
    jen1_tensor_free(&audio);
    return out->items ? 0 : -1;
}

static int by_start(const void *a, const void *b)
{
    const timed_prompt *x = a, *y = b;
    return (x->start > y->start) - (x->start < y->start);
}

/* The song's sections in frames: a --prompt opens it at 0, the --section
 * flags follow in time order. Returns the count, or -1 with a message. */
static int build_sections(const options *o, int frame_rate, jen1_section *out)
{
    timed_prompt all[MAX_SECTIONS + 1];
    int n = 0;
    if (o->n_prompts) all[n++] = (timed_prompt){0, o->prompts[0]};
    for (int i = 0; i < o->n_sections; i++) all[n++] = o->sections[i];
    qsort(all, (size_t)n, sizeof *all, by_start);
    for (int i = 0; i < n; i++) {
        out[i].start_frame = (int)lround(all[i].start * frame_rate);
        out[i].prompt = all[i].prompt;
        if (i > 0 && out[i].start_frame <= out[i - 1].start_frame) {
            fprintf(stderr, "jen1-gen: two sections start at %.3f s%s\n", all[i].start,
                    all[i].start == 0 ? " (a --prompt is the section at 0)" : "");
            return -1;
        }
    }
    if (out[0].start_frame != 0) {
        fprintf(stderr, "jen1-gen: the song needs a section at 0: give --prompt TEXT or --section 0:TEXT\n");
        return -1;
    }
    return n;
}

/* --prompt-codes: int64 [batch, codebooks, P] (or with a leading 1), one row
 * per --prompt. */
static int load_prompt_codes(const options *o, const jen1_model *model, npy_array *a)
{
    char err[512];
    if (npy_read(o->prompt_codes, a, err, sizeof err)) {
        fprintf(stderr, "jen1-gen: %s\n", err);
        return -1;
    }
    int lead = a->ndim == 4 && a->shape[0] == 1 ? 1 : 0;
    if (a->dtype != NPY_I64 || a->ndim - lead != 3 || a->shape[lead] != o->n_prompts ||
        a->shape[lead + 1] != jen1_model_num_codebooks(model) || a->shape[lead + 2] < 1) {
        fprintf(stderr, "jen1-gen: %s: expected int64 codes [%d prompts, %d codebooks, frames]\n", o->prompt_codes,
                o->n_prompts, jen1_model_num_codebooks(model));
        npy_free(a);
        return -1;
    }
    if (lead) {
        memmove(a->shape, a->shape + 1, sizeof(a->shape[0]) * 3);
        a->ndim = 3;
    }
    return 0;
}

/* Decoder forward passes behind an item: one per fed column after the
 * prefill, in every window. */
static int decoder_passes(const jen1_output_item *item, int n_codebooks)
{
    int passes = 0;
    for (int w = 0; w < item->n_windows; w++)
        passes += item->windows[w].end_frame - item->windows[w].start_frame + n_codebooks - 1;
    return passes;
}

int main(int argc, char **argv)
{
    options o;
    if (parse_options(argc, argv, &o)) return 2;

    char err[1024];
    double t0 = clock_monotonic_s();
    jen1_model_params mp = jen1_model_default_params();
    mp.device = o.device;
    mp.n_threads = o.threads;
    mp.decoder_weights = o.weights;
    jen1_model *model;
    if (jen1_model_load(o.model_dir, &mp, &model, err, sizeof err) != JEN1_OK) {
        fprintf(stderr, "jen1-gen: %s\n", err);
        return 1;
    }
    double t_loaded = clock_monotonic_s();

    int rc = 0;
    if (o.codes) {
        jen1_output *out = calloc(1, sizeof *out);
        rc = !out || decode_given_codes(&o, model, out) || write_outputs(&o, out);
        jen1_output_free(out);
        jen1_model_free(model);
        return rc ? 1 : 0;
    }

    const int frame_rate = jen1_model_frame_rate(model);
    int frames = o.frames ? o.frames : (int)lround(o.duration * frame_rate);
    if (frames < 1) frames = 1;
    npy_array prompt_codes = {0};
    int n_prompt_frames = 0;
    if (o.prompt_codes) {
        if (load_prompt_codes(&o, model, &prompt_codes)) {
            jen1_model_free(model);
            return 1;
        }
        n_prompt_frames = (int)prompt_codes.shape[2];
        frames += n_prompt_frames;
    }
    jen1_section sections[MAX_SECTIONS + 1];
    int n_sections = 0;
    if (o.n_sections && (n_sections = build_sections(&o, frame_rate, sections)) < 0) {
        jen1_model_free(model);
        return 2;
    }
    const int n_requests = n_sections ? 1 : o.n_prompts;
    jen1_request reqs[MAX_PROMPTS];
    memset(reqs, 0, sizeof reqs);
    for (int i = 0; i < n_requests; i++) {
        reqs[i].prompt = n_sections ? NULL : o.prompts[i];
        reqs[i].sections = n_sections ? sections : NULL;
        reqs[i].n_sections = n_sections;
        reqs[i].n_frames = frames;
        reqs[i].seed = o.seed + (unsigned long long)i;
        if (n_prompt_frames) {
            reqs[i].prompt_codes = (const int64_t *)prompt_codes.data +
                                   (size_t)i * jen1_model_num_codebooks(model) * n_prompt_frames;
            reqs[i].n_prompt_frames = n_prompt_frames;
        }
    }
    jen1_generate_params gp = jen1_generate_default_params(model);
    gp.window_frames = (int)lround(o.window * frame_rate);
    gp.stride_frames = (int)lround(o.stride * frame_rate);
    if (o.greedy) gp.sampling.greedy = 1;
    else if (o.set_top_k || o.set_top_p || o.set_temperature) gp.sampling.greedy = 0;
    if (o.set_top_k) gp.sampling.top_k = o.top_k;
    if (o.set_top_p) gp.sampling.top_p = o.top_p;
    if (o.set_temperature) gp.sampling.temperature = o.temperature;
    if (o.set_guidance) gp.sampling.guidance_scale = o.guidance;
    gp.decode_audio = o.out || o.dump_audio;
    if (!o.quiet && isatty(STDERR_FILENO)) gp.progress = show_progress;

    jen1_output *out;
    jen1_status st = jen1_generate(model, reqs, n_requests, &gp, &out, err, sizeof err);
    npy_free(&prompt_codes);
    if (st != JEN1_OK) {
        fprintf(stderr, "jen1-gen: %s (%s)\n", err, jen1_status_name(st));
        jen1_model_free(model);
        return 1;
    }
    double t_done = clock_monotonic_s();
    rc = write_outputs(&o, out);
    if (!o.quiet) {
        double audio_s = (double)frames / frame_rate;
        double wall = t_done - t_loaded;
        const jen1_output_item *first = &out->items[0];
        char windows[64] = "";
        if (first->n_windows > 1) snprintf(windows, sizeof windows, " in %d windows", first->n_windows);
        fprintf(stderr,
                "jen1-gen: %d x %d frames (%.2f s of audio each%s) on %s, %s weights, in %.2f s (load %.2f s; text %.2f s, "
                "decoder %.2f s = %.1f ms/step, audio %.2f s); %.3f s of audio per wall second\n",
                n_requests, frames, audio_s, windows, jen1_model_device(model), jen1_weight_type_name(o.weights), wall, t_loaded - t0,
                out->seconds_text, out->seconds_decoder,
                1e3 * out->seconds_decoder / decoder_passes(first, jen1_model_num_codebooks(model)),
                out->seconds_audio, audio_s * n_requests / wall);
        for (int w = 0; n_sections && w < first->n_windows; w++) {
            const jen1_window *win = &first->windows[w];
            fprintf(stderr, "jen1-gen: window %d: %.2f-%.2f s after %.2f s of context, section %d: %s\n", w,
                    (double)win->start_frame / frame_rate, (double)win->end_frame / frame_rate,
                    (double)win->context_frames / frame_rate, win->section, sections[win->section].prompt);
        }
    }
    jen1_output_free(out);
    jen1_model_free(model);
    return rc ? 1 : 0;
}
