/* test_windows.c - long songs: the window schedule (jen1_plan_windows),
 * windowed rendering with sections, checkpoints and resume, and the final
 * EnCodec decode in chunks, on the tiny model. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "jen1_stages.h"
#include "fixture.h"

static jen1_model *model;
enum { K = 4, WINDOW = 60, STRIDE = 36, CONTEXT = WINDOW - STRIDE };
static const char *piano = "calm solo piano, slow tempo";
static const char *drums = "heavy drums and distorted guitar";

static int plan(int n_frames, const jen1_section *s, int n_sections, jen1_window *out, int max_out)
{
    char err[256];
    int n = jen1_plan_windows(n_frames, s, n_sections, WINDOW, STRIDE, out, max_out, err, sizeof err);
    if (n < 0) fprintf(stderr, "  plan: %s\n", err);
    return n;
}

static int window_is(const jen1_window *w, int index, int start, int end, int context, int section)
{
    int ok = w->index == index && w->start_frame == start && w->end_frame == end && w->context_frames == context &&
             w->section == section;
    if (!ok)
        fprintf(stderr, "  window %d: [%d, %d) context %d section %d; want %d: [%d, %d) context %d section %d\n",
                w->index, w->start_frame, w->end_frame, w->context_frames, w->section, index, start, end, context,
                section);
    return ok;
}

TEST(the_schedule_follows_audiocraft)
{
    jen1_window w[8];
    CHECK(plan(50, NULL, 0, w, 8) == 1 && window_is(&w[0], 0, 0, 50, 0, 0), "a short song is one window");
    CHECK(plan(WINDOW, NULL, 0, w, 8) == 1, "a song of one window");
    /* 60, then 36 new frames after 24 of context, until the end. */
    CHECK(plan(150, NULL, 0, w, 8) == 4, "150 frames: 4 windows");
    CHECK(window_is(&w[0], 0, 0, 60, 0, 0) && window_is(&w[1], 1, 60, 96, CONTEXT, 0) &&
              window_is(&w[2], 2, 96, 132, CONTEXT, 0) && window_is(&w[3], 3, 132, 150, CONTEXT, 0),
          "150 frames");
    CHECK(plan(150, NULL, 0, NULL, 0) == 4, "counting without room for the windows");
    CHECK(plan(150, NULL, 0, w, 2) == 4 && w[1].end_frame == 96, "max_out limits what is written, not the count");
}

/* A section change starts a window's new part: one at a window boundary
 * changes nothing else, one in the middle of a stride shortens that stride. */
TEST(sections_start_new_parts)
{
    jen1_window w[8];
    jen1_section at_boundary[2] = {{0, piano}, {96, drums}};
    CHECK(plan(150, at_boundary, 2, w, 8) == 4, "a change at a boundary: 4 windows");
    CHECK(window_is(&w[1], 1, 60, 96, CONTEXT, 0) && window_is(&w[2], 2, 96, 132, CONTEXT, 1) &&
              window_is(&w[3], 3, 132, 150, CONTEXT, 1),
          "a change at a boundary");

    jen1_section mid_stride[3] = {{0, piano}, {80, drums}, {400, piano}};
    CHECK(plan(150, mid_stride, 3, w, 8) == 4, "a change mid-stride: 4 windows");
    CHECK(window_is(&w[0], 0, 0, 60, 0, 0) && window_is(&w[1], 1, 60, 80, CONTEXT, 0) &&
              window_is(&w[2], 2, 80, 116, CONTEXT, 1) && window_is(&w[3], 3, 116, 150, CONTEXT, 1),
          "a change mid-stride shortens the stride; a section past the end is never reached");

    jen1_section early[2] = {{0, piano}, {10, drums}};
    CHECK(plan(100, early, 2, w, 8) == 4, "a change inside the first window: 4 windows");
    CHECK(window_is(&w[0], 0, 0, 10, 0, 0) && window_is(&w[1], 1, 10, 46, 10, 1) &&
              window_is(&w[2], 2, 46, 82, CONTEXT, 1) && window_is(&w[3], 3, 82, 100, CONTEXT, 1),
          "the context is what there is so far");
}

TEST(bad_schedules_are_refused_with_a_reason)
{
    char err[256];
    jen1_window w[4];
    jen1_section late_start[1] = {{5, piano}}, unordered[2] = {{0, piano}, {0, drums}};
    CHECK(jen1_plan_windows(0, NULL, 0, WINDOW, STRIDE, w, 4, err, sizeof err) == -1 && strstr(err, "n_frames"), "%s",
          err);
    CHECK(jen1_plan_windows(10, NULL, 0, WINDOW, WINDOW, w, 4, err, sizeof err) == -1 && strstr(err, "stride"), "%s",
          err);
    CHECK(jen1_plan_windows(10, NULL, 0, WINDOW, 0, w, 4, err, sizeof err) == -1, "stride 0");
    CHECK(jen1_plan_windows(10, late_start, 1, WINDOW, STRIDE, w, 4, err, sizeof err) == -1 && strstr(err, "not 0"),
          "%s", err);
    CHECK(jen1_plan_windows(10, unordered, 2, WINDOW, STRIDE, w, 4, err, sizeof err) == -1 && strstr(err, "section 1"),
          "%s", err);
    CHECK(jen1_plan_windows(10, NULL, 1, WINDOW, STRIDE, w, 4, err, sizeof err) == -1, "NULL sections");
    CHECK(jen1_plan_windows(10, NULL, 0, WINDOW, STRIDE, NULL, 4, err, sizeof err) == -1, "NULL out");
}

TEST(default_window_fits_the_position_table)
{
    int window = 0, stride = 0;
    jen1_model_default_window(model, &window, &stride);
    /* The tiny model's table (256 positions) is shorter than 30 s. */
    CHECK(window == jen1_model_max_frames(model), "window %d, max frames %d", window, jen1_model_max_frames(model));
    CHECK(stride == window * 3 / 5, "stride %d for a window of %d", stride, window);
}

static jen1_generate_params windowed_params(int greedy)
{
    jen1_generate_params p = jen1_generate_default_params(model);
    p.sampling.greedy = greedy;
    p.sampling.top_k = 250;
    p.sampling.guidance_scale = 3.0f;
    p.decode_audio = 0;
    p.window_frames = WINDOW;
    p.stride_frames = STRIDE;
    return p;
}

static jen1_output *run(const jen1_request *reqs, int n, const jen1_generate_params *p)
{
    return fixture_generate(model, reqs, n, p);
}

/* Frames [from, to) of every codebook of an item, as a [K][to - from] block. */
static void slice(const jen1_output_item *it, int from, int to, int64_t *out)
{
    for (int k = 0; k < K; k++)
        memcpy(out + (size_t)k * (to - from), it->codes + (size_t)k * it->n_frames + from,
               sizeof(int64_t) * (to - from));
}

/* Window 0 is the one-shot song of the same seed; every later window is the
 * reference's continuation from the song's last frames under its section's
 * prompt (checked greedily, where the random stream plays no part). */
TEST(windows_are_continuations_under_their_sections)
{
    jen1_generate_params sampled = windowed_params(0);
    jen1_request song = {.prompt = piano, .n_frames = 132, .seed = 21};
    jen1_request first = {.prompt = piano, .n_frames = WINDOW, .seed = 21};
    jen1_output *a = run(&song, 1, &sampled), *b = run(&first, 1, &sampled);
    REQUIRE(a && b, "generation failed");
    CHECK(a->items[0].n_frames == 132 && a->items[0].n_windows == 3, "%d frames in %d windows",
          a->items[0].n_frames, a->items[0].n_windows);
    int64_t head[K * WINDOW];
    slice(&a->items[0], 0, WINDOW, head);
    CHECK(memcmp(head, b->items[0].codes, sizeof head) == 0, "window 0 differs from the one-shot song");
    jen1_output_free(a);
    jen1_output_free(b);

    jen1_generate_params greedy = windowed_params(1);
    jen1_section sections[2] = {{0, piano}, {80, drums}};
    jen1_request sectioned = {.sections = sections, .n_sections = 2, .n_frames = 132};
    jen1_output *s = run(&sectioned, 1, &greedy);
    REQUIRE(s, "generation failed");
    const jen1_output_item *it = &s->items[0];
    REQUIRE(it->n_windows == 4, "%d windows", it->n_windows);
    CHECK(window_is(&it->windows[1], 1, 60, 80, CONTEXT, 0) && window_is(&it->windows[2], 2, 80, 116, CONTEXT, 1),
          "the drums section starts window 2's new part");
    for (int w = 1; w < it->n_windows; w++) {
        const jen1_window *win = &it->windows[w];
        int64_t context[K * CONTEXT];
        slice(it, win->start_frame - CONTEXT, win->start_frame, context);
        jen1_request cont = {.prompt = sections[win->section].prompt,
                             .n_frames = CONTEXT + win->end_frame - win->start_frame,
                             .prompt_codes = context,
                             .n_prompt_frames = CONTEXT};
        jen1_output *c = run(&cont, 1, &greedy);
        REQUIRE(c, "continuation failed");
        int64_t want[K * WINDOW], got[K * WINDOW];
        slice(&c->items[0], CONTEXT, c->items[0].n_frames, want);
        slice(it, win->start_frame, win->end_frame, got);
        CHECK(memcmp(want, got, sizeof(int64_t) * K * (win->end_frame - win->start_frame)) == 0,
              "window %d is not the continuation of its context under '%s'", w, cont.prompt);
        jen1_output_free(c);
    }
    jen1_output_free(s);
}

/* The checkpoint a worker would take from on_window: the codes so far. */
static int64_t *saved;
static int saved_frames, windows_seen, stop_at_window;
static int save_and_maybe_stop(const jen1_window *w, const int64_t *codes, int n_codebooks, int n_frames, void *user)
{
    (void)user;
    CHECK(n_codebooks == K && n_frames == w->end_frame, "on_window: %d codebooks, %d frames for a window ending at %d",
          n_codebooks, n_frames, w->end_frame);
    CHECK(w->index == windows_seen, "window %d reported as number %d", w->index, windows_seen);
    windows_seen++;
    free(saved);
    saved = malloc(sizeof(int64_t) * n_codebooks * n_frames);
    if (saved) memcpy(saved, codes, sizeof(int64_t) * n_codebooks * n_frames);
    saved_frames = n_frames;
    return w->index == stop_at_window;
}

/* A song stopped after window 1 and resumed from its checkpoint is the
 * uninterrupted song, bit for bit. */
TEST(a_resumed_song_equals_the_uninterrupted_one)
{
    jen1_generate_params p = windowed_params(0);
    jen1_request song = {.prompt = piano, .n_frames = WINDOW + 2 * STRIDE, .seed = 77};
    jen1_output *whole = run(&song, 1, &p);
    REQUIRE(whole && whole->items[0].n_windows == 3, "the uninterrupted song");

    p.on_window = save_and_maybe_stop;
    stop_at_window = 1;
    windows_seen = 0;
    char err[256];
    jen1_output *out = NULL;
    jen1_status st = jen1_generate(model, &song, 1, &p, &out, err, sizeof err);
    CHECK(st == JEN1_ERR_ABORTED && out == NULL, "stopping from on_window: %s", jen1_status_name(st));
    REQUIRE(saved && saved_frames == WINDOW + STRIDE && windows_seen == 2, "checkpoint of %d frames after %d windows",
            saved_frames, windows_seen);

    song.resume_codes = saved;
    song.n_resume_frames = saved_frames;
    stop_at_window = -1;
    windows_seen = 2;
    jen1_output *resumed = run(&song, 1, &p);
    REQUIRE(resumed, "the resumed song");
    CHECK(windows_seen == 3, "the resumed call reported up to window %d", windows_seen - 1);
    CHECK(resumed->items[0].n_windows == 3, "the resumed song's schedule has %d windows", resumed->items[0].n_windows);
    CHECK(fixture_same_codes(&whole->items[0], &resumed->items[0]), "the resumed song differs from the uninterrupted one");

    /* A checkpoint is taken at a window's end only. */
    song.n_resume_frames = WINDOW + 1;
    st = jen1_generate(model, &song, 1, &p, &out, err, sizeof err);
    CHECK(st == JEN1_ERR_INVALID_ARGUMENT && strstr(err, "window"), "resume off a boundary: %s", err);
    jen1_output_free(whole);
    jen1_output_free(resumed);
    free(saved);
    saved = NULL;
}

static int64_t progress_calls;
static float last_progress;
static void track_progress(float done, void *user)
{
    (void)user;
    if (done < last_progress) progress_calls = -1000000;
    last_progress = done;
    progress_calls++;
}

/* A batch may mix one-window and windowed requests: each gets what it gets
 * alone, and progress runs 0 -> 1 once over all of them. */
TEST(a_batch_mixes_long_and_short_songs)
{
    jen1_generate_params p = windowed_params(0);
    jen1_request batch[2] = {{.prompt = drums, .n_frames = 100, .seed = 5}, {.prompt = piano, .n_frames = 20, .seed = 6}};
    p.progress = track_progress;
    progress_calls = 0;
    last_progress = 0;
    jen1_output *both = run(batch, 2, &p);
    p.progress = NULL;
    jen1_output *long_alone = run(&batch[0], 1, &p), *short_alone = run(&batch[1], 1, &p);
    REQUIRE(both && long_alone && short_alone, "generation failed");
    CHECK(fixture_same_codes(&both->items[0], &long_alone->items[0]), "the long song changed in a batch");
    CHECK(fixture_same_codes(&both->items[1], &short_alone->items[0]), "the short song changed in a batch");
    /* Decoder passes: new frames + K - 1 per window: 60, 36 and 4 new frames
     * of the long song, 20 of the short one. */
    CHECK(progress_calls == 63 + 39 + 7 + 23, "%lld progress calls", (long long)progress_calls);
    CHECK(last_progress == 1.0f, "progress ended at %g", last_progress);
    jen1_output_free(both);
    jen1_output_free(long_alone);
    jen1_output_free(short_alone);
}

/* With the default window, a request longer than the position table renders
 * (in two windows) and decodes to audio of its full length. */
TEST(longer_than_the_position_table)
{
    jen1_generate_params p = jen1_generate_default_params(model);
    p.sampling.greedy = 1;
    const int frames = jen1_model_max_frames(model) + 10;
    jen1_request r = {.prompt = piano, .n_frames = frames};
    jen1_output *out = run(&r, 1, &p);
    REQUIRE(out, "generation failed");
    CHECK(out->items[0].n_frames == frames && out->items[0].n_windows == 2, "%d frames in %d windows",
          out->items[0].n_frames, out->items[0].n_windows);
    const int hop = jen1_model_sample_rate(model) / jen1_model_frame_rate(model);
    CHECK(out->items[0].n_samples == (int64_t)frames * hop, "%lld samples", (long long)out->items[0].n_samples);
    jen1_output_free(out);
}

static int abort_countdown;
static int abort_soon(void *user)
{
    (void)user;
    return --abort_countdown < 0;
}

TEST(bad_long_requests_are_refused_with_a_reason)
{
    jen1_generate_params p = windowed_params(0);
    char err[256];
    jen1_output *out = NULL;
    jen1_request r = {.prompt = piano, .n_frames = 132, .seed = 1};

    jen1_generate_params q = p;
    q.window_frames = jen1_model_max_frames(model) + 1;
    jen1_status st = jen1_generate(model, &r, 1, &q, &out, err, sizeof err);
    CHECK(st == JEN1_ERR_TOO_LONG && strstr(err, "position"), "window too long: %s", err);
    q = p;
    q.stride_frames = WINDOW;
    st = jen1_generate(model, &r, 1, &q, &out, err, sizeof err);
    CHECK(st == JEN1_ERR_INVALID_ARGUMENT && strstr(err, "stride"), "stride = window: %s", err);
    q = p;
    q.on_window = save_and_maybe_stop;
    jen1_request two[2] = {r, r};
    st = jen1_generate(model, two, 2, &q, &out, err, sizeof err);
    CHECK(st == JEN1_ERR_INVALID_ARGUMENT && strstr(err, "on_window"), "on_window with a batch: %s", err);

    jen1_section no_prompt[2] = {{0, piano}, {70, NULL}};
    jen1_request s = {.sections = no_prompt, .n_sections = 2, .n_frames = 132};
    st = jen1_generate(model, &s, 1, &p, &out, err, sizeof err);
    CHECK(st == JEN1_ERR_INVALID_ARGUMENT && strstr(err, "section 1"), "a NULL section prompt: %s", err);
    no_prompt[1].prompt = drums;
    no_prompt[1].start_frame = 0;
    st = jen1_generate(model, &s, 1, &p, &out, err, sizeof err);
    CHECK(st == JEN1_ERR_INVALID_ARGUMENT && strstr(err, "section 1"), "unordered sections: %s", err);

    q = p;
    q.abort = abort_soon;
    abort_countdown = 70;  /* inside the second window */
    st = jen1_generate(model, &r, 1, &q, &out, err, sizeof err);
    CHECK(st == JEN1_ERR_ABORTED && out == NULL, "abort in window 1: %s", jen1_status_name(st));
}

/* Random codes, so that every codebook entry and the whole waveform are
 * exercised. */
static void random_codes(int64_t *codes, int n, unsigned seed)
{
    const int V = jen1_model_codebook_size(model);
    for (int i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        codes[i] = (seed >> 16) % (unsigned)V;
    }
}

/* The final decode runs in chunks; its seams are exact up to the rounding
 * of differently sized products: compare with the whole decode for chunks
 * forced down to a single frame. */
TEST(chunked_decode_equals_the_whole_decode)
{
    enum { FRAMES = 300 };
    static int64_t codes[K * FRAMES];
    random_codes(codes, K * FRAMES, 99);
    char err[256];
    jen1_tensor whole = {0};
    REQUIRE(jen1_decode_codes(model, codes, 1, K, FRAMES, NULL, &whole, err, sizeof err) == JEN1_OK, "%s", err);
    const int chunks[] = {1, 2, 7, 64, 250, FRAMES + 5};
    double peak = 0;
    for (int64_t i = 0; i < jen1_tensor_numel(&whole); i++) peak = fmax(peak, fabs(((float *)whole.data)[i]));
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        jen1_tensor part = {0};
        REQUIRE(jen1_decode_codes_chunked(model, codes, K, FRAMES, chunks[c], &part, err, sizeof err) == JEN1_OK,
                "chunk %d: %s", chunks[c], err);
        REQUIRE(jen1_tensor_numel(&part) == jen1_tensor_numel(&whole), "chunk %d: %lld samples", chunks[c],
                (long long)jen1_tensor_numel(&part));
        double d = 0;
        for (int64_t i = 0; i < jen1_tensor_numel(&whole); i++)
            d = fmax(d, fabs((double)((float *)part.data)[i] - ((float *)whole.data)[i]));
        CHECK(d <= 1e-6, "chunks of %d frames: max abs diff %.3g from the whole decode", chunks[c], d);
        printf("     chunks of %3d frames: max abs diff %.3g (peak %.3g)\n", chunks[c], d, peak);
        jen1_tensor_free(&part);
    }
    jen1_tensor_free(&whole);
}

int main(void)
{
    model = fixture_model_load("test_windows");
    if (!model) return 1;
    RUN(the_schedule_follows_audiocraft);
    RUN(sections_start_new_parts);
    RUN(bad_schedules_are_refused_with_a_reason);
    RUN(default_window_fits_the_position_table);
    RUN(windows_are_continuations_under_their_sections);
    RUN(a_resumed_song_equals_the_uninterrupted_one);
    RUN(a_batch_mixes_long_and_short_songs);
    RUN(longer_than_the_position_table);
    RUN(bad_long_requests_are_refused_with_a_reason);
    RUN(chunked_decode_equals_the_whole_decode);
    jen1_model_free(model);
    return check_summary("test_windows");
}
