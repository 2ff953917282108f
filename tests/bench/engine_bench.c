/* engine_bench.c - one engine configuration measured in a process of its
 * own (so that load time and peak memory are honest), printed as one JSON
 * line for scripts/bench to tabulate:
 *
 *   jen1-bench --model DIR [--threads N] [--batch B] [--frames F]
 *              [--guidance G] [--weights f32|bf16|int8] [--label TEXT]
 *   jen1-bench --model DIR --song SECONDS [--window S] [--stride S] [--threads N]
 *              [--guidance G] [--weights f32|bf16|int8] [--label TEXT]
 * (--bf16 is --weights bf16; --no-cuda-graph steps a GPU op by op)
 *
 * Measures: model load wall time and the memory it leaves private vs. shared
 * (file-backed pages are the mapped weights, shared with every other
 * process that maps them); a warm-up generation; then a timed generation of
 * `frames` frames for `batch` requests (sampling, top-k 250, as the
 * reference benchmark), giving milliseconds per decoder step; and EnCodec
 * decoding of 2 s of audio per request.
 *
 * --song: one song of SECONDS, rendered as jen1_generate renders long songs
 * (windows of the model's default 30 s or --window, --stride new seconds
 * each) and decoded to audio, measuring the wall time, the seconds of
 * compute per second of audio, each later window's context prefill, and the
 * process's peak RSS (a fresh process per song length: the peaks compare). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "jen1.h"
#include "jen1_stages.h"
#include "proc_status.h"
#include "util.h"

static int generate(jen1_model *m, int batch, int frames, const jen1_generate_params *p, double *seconds)
{
    jen1_request reqs[64];
    memset(reqs, 0, sizeof reqs);
    for (int i = 0; i < batch; i++) {
        reqs[i].prompt = i % 2 ? "calm solo piano, slow tempo" : "upbeat electronic dance track with heavy bass";
        reqs[i].n_frames = frames;
        reqs[i].seed = (uint64_t)i + 1;
    }
    char err[512];
    jen1_output *out;
    double t0 = clock_monotonic_s();
    if (jen1_generate(m, reqs, batch, p, &out, err, sizeof err) != JEN1_OK) {
        fprintf(stderr, "jen1-bench: %s\n", err);
        return -1;
    }
    *seconds = out->seconds_decoder;
    (void)t0;
    jen1_output_free(out);
    return 0;
}

/* Per-window timing of a long song, from its callbacks: the first decoder
 * pass of each window after the first is the prefill of its context. */
typedef struct song_clock {
    double window_started;   /* when the current window began */
    int first_pass_due;      /* the next progress call ends a window's prefill */
    int windows;
    double prefill_s;        /* summed over windows 1.. */
    int prefills;
} song_clock;

static void song_progress(float done, void *user)
{
    (void)done;
    song_clock *c = user;
    if (c->first_pass_due && c->windows > 0) {
        c->prefill_s += clock_monotonic_s() - c->window_started;
        c->prefills++;
    }
    c->first_pass_due = 0;
}

static int song_window(const jen1_window *w, const int64_t *codes, int n_codebooks, int n_frames, void *user)
{
    (void)w, (void)codes, (void)n_codebooks, (void)n_frames;
    song_clock *c = user;
    c->windows++;
    c->window_started = clock_monotonic_s();
    c->first_pass_due = 1;
    return 0;
}

static int bench_song(jen1_model *m, const char *label, int threads, float guidance, jen1_weight_type weights,
                      double seconds, double window_s, double stride_s)
{
    const int fps = jen1_model_frame_rate(m);
    jen1_generate_params p = jen1_generate_default_params(m);
    p.sampling.greedy = 0;
    p.sampling.top_k = 250;
    p.sampling.guidance_scale = guidance;
    p.decode_audio = 1;
    p.window_frames = (int)(window_s * fps + 0.5);
    p.stride_frames = (int)(stride_s * fps + 0.5);
    song_clock clock = {0};
    p.progress = song_progress;
    p.progress_user_data = &clock;
    p.on_window = song_window;
    p.window_user_data = &clock;
    jen1_request r = {.prompt = "upbeat electronic dance track with heavy bass",
                      .n_frames = (int)(seconds * fps + 0.5), .seed = 1};
    char err[512];
    jen1_output *out;
    clock.window_started = clock_monotonic_s();
    double t0 = clock.window_started;
    if (jen1_generate(m, &r, 1, &p, &out, err, sizeof err) != JEN1_OK) {
        fprintf(stderr, "jen1-bench: %s\n", err);
        return 1;
    }
    double wall = clock_monotonic_s() - t0;
    int window = 0, stride = 0, steps = 0;
    jen1_model_default_window(m, &window, &stride);
    if (p.window_frames) window = p.window_frames;
    if (p.stride_frames) stride = p.stride_frames;
    for (int w = 0; w < out->items[0].n_windows; w++)
        steps += out->items[0].windows[w].end_frame - out->items[0].windows[w].start_frame +
                 jen1_model_num_codebooks(m) - 1;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    jen1_torch_info info;
    jen1_torch_info_get(&info);
    const double audio_s = (double)r.n_frames / fps;
    printf("{\"label\":\"%s\",\"threads\":%d,\"guidance\":%.1f,\"weights\":\"%s\",\"song_s\":%.1f,"
           "\"window_s\":%.2f,\"stride_s\":%.2f,\"windows\":%d,\"steps\":%d,\"wall_s\":%.2f,"
           "\"decoder_s\":%.2f,\"text_s\":%.3f,\"audio_decode_s\":%.2f,\"ms_per_step\":%.2f,"
           "\"prefill_ms_per_window\":%.1f,\"compute_s_per_audio_s\":%.3f,\"peak_rss_mib\":%.1f,"
           "\"device\":\"%s\",\"torch\":\"%s\"}\n",
           label, threads, guidance, jen1_weight_type_name(weights), audio_s, (double)window / fps,
           (double)stride / fps, out->items[0].n_windows, steps, wall, out->seconds_decoder, out->seconds_text,
           out->seconds_audio, 1e3 * out->seconds_decoder / steps,
           clock.prefills ? 1e3 * clock.prefill_s / clock.prefills : 0.0, wall / audio_s, ru.ru_maxrss / 1024.0,
           info.device_name, info.torch_version);
    jen1_output_free(out);
    return 0;
}

int main(int argc, char **argv)
{
    const char *model_dir = NULL, *label = "";
    int threads = 2, batch = 1, frames = 101;
    double song_s = 0, window_s = 0, stride_s = 0;
    float guidance = 3.0f;
    jen1_weight_type weights = JEN1_WEIGHTS_F32;
    int cuda_graphs = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--model") && v) model_dir = argv[++i];
        else if (!strcmp(a, "--threads") && v) threads = atoi(argv[++i]);
        else if (!strcmp(a, "--batch") && v) batch = atoi(argv[++i]);
        else if (!strcmp(a, "--frames") && v) frames = atoi(argv[++i]);
        else if (!strcmp(a, "--guidance") && v) guidance = (float)atof(argv[++i]);
        else if (!strcmp(a, "--label") && v) label = argv[++i];
        else if (!strcmp(a, "--song") && v) song_s = atof(argv[++i]);
        else if (!strcmp(a, "--window") && v) window_s = atof(argv[++i]);
        else if (!strcmp(a, "--stride") && v) stride_s = atof(argv[++i]);
        else if (!strcmp(a, "--bf16")) weights = JEN1_WEIGHTS_BF16;
        else if (!strcmp(a, "--no-cuda-graph")) cuda_graphs = 0;
        else if (!strcmp(a, "--weights") && v && !jen1_weight_type_parse(v, &weights)) i++;
        else {
            fprintf(stderr, "usage: jen1-bench --model DIR [--threads N] [--batch B] [--frames F] [--guidance G] "
                            "[--weights f32|bf16|int8] [--label TEXT] [--song SECONDS [--window S] [--stride S]]\n");
            return 2;
        }
    }
    if (!model_dir || batch < 1 || batch > 64 || frames < 1 || threads < 1) {
        fprintf(stderr, "jen1-bench: --model is required; batch 1..64, frames and threads >= 1\n");
        return 2;
    }

    char err[1024];
    jen1_model_params mp = jen1_model_default_params();
    mp.n_threads = threads;
    mp.decoder_weights = weights;
    mp.cuda_graphs = cuda_graphs;
    jen1_model *m;
    double t0 = clock_monotonic_s();
    if (jen1_model_load(model_dir, &mp, &m, err, sizeof err) != JEN1_OK) {
        fprintf(stderr, "jen1-bench: %s\n", err);
        return 1;
    }
    double load_s = clock_monotonic_s() - t0;
    if (song_s > 0) {
        int rc = bench_song(m, label, threads, guidance, weights, song_s, window_s, stride_s);
        jen1_model_free(m);
        return rc;
    }
    long anon_after_load = proc_status_kb("RssAnon"), file_after_load = proc_status_kb("RssFile");

    jen1_generate_params p = jen1_generate_default_params(m);
    p.sampling.greedy = 0;
    p.sampling.top_k = 250;
    p.sampling.guidance_scale = guidance;
    p.decode_audio = 0;
    double warm, timed;
    if (generate(m, batch, 8, &p, &warm) || generate(m, batch, frames, &p, &timed)) return 1;
    const int steps = frames + jen1_model_num_codebooks(m) - 1;

    /* EnCodec: 2 s of audio per request. */
    const int K = jen1_model_num_codebooks(m), F = 2 * jen1_model_frame_rate(m);
    int64_t *codes = malloc(sizeof(int64_t) * (size_t)batch * K * F);
    for (int64_t i = 0; i < (int64_t)batch * K * F; i++) codes[i] = (i * 7919) % jen1_model_codebook_size(m);
    jen1_tensor audio = {0};
    jen1_decode_codes(m, codes, 1, K, F, NULL, &audio, err, sizeof err); /* warm-up */
    jen1_tensor_free(&audio);
    t0 = clock_monotonic_s();
    if (jen1_decode_codes(m, codes, batch, K, F, NULL, &audio, err, sizeof err) != JEN1_OK) {
        fprintf(stderr, "jen1-bench: %s\n", err);
        return 1;
    }
    double encodec_s = clock_monotonic_s() - t0;
    jen1_tensor_free(&audio);
    free(codes);

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    jen1_torch_info info;
    jen1_torch_info_get(&info);
    printf("{\"label\":\"%s\",\"threads\":%d,\"batch\":%d,\"guidance\":%.1f,\"weights\":\"%s\",\"frames\":%d,"
           "\"steps\":%d,\"load_s\":%.3f,\"ms_per_step\":%.2f,\"steps_per_s\":%.2f,"
           "\"audio_s_per_wall_s\":%.3f,\"encodec_2s_s\":%.3f,\"rss_anon_after_load_mib\":%.1f,"
           "\"rss_file_after_load_mib\":%.1f,\"peak_rss_mib\":%.1f,\"device\":\"%s\",\"torch\":\"%s\"}\n",
           label, threads, batch, guidance, jen1_weight_type_name(weights), frames, steps, load_s,
           1e3 * timed / steps, steps / timed, (double)frames / jen1_model_frame_rate(m) * batch / timed, encodec_s,
           anon_after_load / 1024.0, file_after_load / 1024.0, ru.ru_maxrss / 1024.0, info.device_name,
           info.torch_version);
    jen1_model_free(m);
    return 0;
}
