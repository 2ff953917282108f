/* test_session.c - the stepping engine (jen1_session, jen1.h): requests that
 * join a running batch at different steps, with different lengths, sampling
 * and window schedules, get bit for bit the codes they get alone; one aborted
 * and one cancelled mid-way leave the others undisturbed (fp32, bf16 and int8
 * weights). */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "jen1.h"
#include "fixture.h"

enum { K = 4, N_REQ = 10, MAX_FRAMES = 160 };

static jen1_model *model;
static const char *prompts[] = {"calm solo piano, slow tempo", "upbeat electronic dance track with heavy bass",
                                "jazz trio with brushed drums", ""};

static jen1_generate_params params_for(int i)
{
    jen1_generate_params p = jen1_generate_default_params(model);
    p.sampling.greedy = i % 5 == 4;
    p.sampling.top_k = 250;
    p.sampling.top_p = i % 3 == 1 ? 0.9f : 1.0f;
    p.sampling.temperature = 1.0f;
    p.sampling.guidance_scale = i % 4 == 3 ? 1.0f : 3.0f;  /* some unguided: one row, not two */
    p.decode_audio = 0;
    p.window_frames = 60;
    p.stride_frames = 36;
    return p;
}

static int64_t prompt_codes[K * 7];

/* Ten requests: different prompts and lengths, one continuing from prompt
 * codes, one long song in three windows with two sections. */
static jen1_section sections[] = {{0, "calm solo piano, slow tempo"}, {70, "full band, driving drums"}};
static jen1_request request_for(int i)
{
    jen1_request r = {.prompt = prompts[i % 4], .n_frames = 12 + 7 * i, .seed = 1000 + (uint64_t)i};
    if (i == 2) {
        r.prompt_codes = prompt_codes;
        r.n_prompt_frames = 7;
    }
    if (i == 5) {
        r.sections = sections;
        r.n_sections = 2;
        r.n_frames = 132;
    }
    return r;
}

/* Steps a session until `slot` is done; its codes into codes ([K][n_frames]). */
static jen1_status run_alone(int i, int64_t *codes, int *n_frames)
{
    char err[512];
    jen1_session *s;
    int slot;
    jen1_request r = request_for(i);
    jen1_generate_params p = params_for(i);
    if (jen1_session_new(model, 1, &s, err, sizeof err) != JEN1_OK) return JEN1_ERR_INTERNAL;
    jen1_status st = jen1_session_join(s, &r, &p, &slot, err, sizeof err);
    while (st == JEN1_OK && jen1_session_running(s) > 0) st = jen1_session_step(s, err, sizeof err);
    jen1_output *out = NULL;
    if (st == JEN1_OK) st = jen1_session_leave(s, slot, &out, err, sizeof err);
    if (st == JEN1_OK) {
        *n_frames = out->items[0].n_frames;
        memcpy(codes, out->items[0].codes, sizeof(int64_t) * K * *n_frames);
    } else {
        fprintf(stderr, "  alone %d: %s\n", i, err);
    }
    jen1_output_free(out);
    jen1_session_free(s);
    return st;
}

static int polls_left;
static int abort_when_told(void *user)
{
    (void)user;
    return --polls_left < 0;
}

TEST(songs_do_not_depend_on_their_batch_mates)
{
    static int64_t alone[N_REQ][K * MAX_FRAMES];
    int frames[N_REQ];
    for (int i = 0; i < K * 7; i++) prompt_codes[i] = (i * 37) % jen1_model_codebook_size(model);
    for (int i = 0; i < N_REQ; i++) REQUIRE(run_alone(i, alone[i], &frames[i]) == JEN1_OK, "request %d alone", i);

    /* Request i joins at step join_at[i]; with up to 18 rows running a step
     * takes two passes (16 rows at most each, jen1.h). Request 7 is aborted by its own callback, request 3 cancelled by
     * leaving it, both mid-way. */
    static const int join_at[N_REQ] = {0, 0, 3, 5, 5, 9, 14, 20, 31, 40};
    char err[512];
    jen1_session *s;
    REQUIRE(jen1_session_new(model, N_REQ, &s, err, sizeof err) == JEN1_OK, "%s", err);
    jen1_request reqs[N_REQ];
    jen1_generate_params ps[N_REQ];
    int slot_of[N_REQ], owner[N_REQ], next = 0, finished = 0, max_running = 0;
    for (int i = 0; i < N_REQ; i++) owner[i] = -1;
    polls_left = 25;
    for (int step = 0; finished < N_REQ && step < 1000; step++) {
        while (next < N_REQ && join_at[next] <= step && jen1_session_running(s) < N_REQ) {
            reqs[next] = request_for(next);
            ps[next] = params_for(next);
            if (next == 7) ps[next].abort = abort_when_told;
            int slot;
            REQUIRE(jen1_session_join(s, &reqs[next], &ps[next], &slot, err, sizeof err) == JEN1_OK, "join %d: %s",
                    next, err);
            slot_of[next] = slot;
            owner[slot] = next++;
        }
        if (jen1_session_running(s) > max_running) max_running = jen1_session_running(s);
        if (step == 30 && owner[slot_of[3]] == 3 && jen1_session_slot_done(s, slot_of[3]) == 0) {
            jen1_status st = jen1_session_leave(s, slot_of[3], NULL, err, sizeof err);
            CHECK(st == JEN1_ERR_ABORTED, "cancelled: %s", jen1_status_name(st));
            owner[slot_of[3]] = -1;
            finished++;
        }
        REQUIRE(jen1_session_step(s, err, sizeof err) == JEN1_OK, "step %d: %s", step, err);
        for (int slot = 0; slot < N_REQ; slot++) {
            if (owner[slot] < 0 || jen1_session_slot_done(s, slot) != 1) continue;
            int i = owner[slot];
            jen1_output *out = NULL;
            jen1_status st = jen1_session_leave(s, slot, &out, err, sizeof err);
            owner[slot] = -1;
            finished++;
            if (i == 7) {
                CHECK(st == JEN1_ERR_ABORTED && !out, "aborted request: %s", jen1_status_name(st));
                continue;
            }
            REQUIRE(st == JEN1_OK, "request %d: %s", i, err);
            CHECK(out->items[0].n_frames == frames[i], "request %d: %d frames", i, out->items[0].n_frames);
            CHECK(memcmp(out->items[0].codes, alone[i], sizeof(int64_t) * K * frames[i]) == 0,
                  "request %d: codes differ from its run alone", i);
            jen1_output_free(out);
        }
    }
    CHECK(finished == N_REQ, "%d of %d requests finished", finished, N_REQ);
    CHECK(max_running >= 6, "at most %d requests ran together", max_running);
    jen1_session_free(s);
}

/* jen1_generate is a loop over a session: its songs are the session's, a
 * long one beside two short ones included. */
TEST(generate_is_a_session_loop)
{
    int64_t codes[K * MAX_FRAMES];
    int frames;
    REQUIRE(run_alone(5, codes, &frames) == JEN1_OK, "alone");
    jen1_request r[3] = {request_for(0), request_for(1), request_for(5)};
    jen1_generate_params p = params_for(5);
    jen1_output *one = fixture_generate(model, &r[2], 1, &p), *three = fixture_generate(model, r, 3, &p);
    REQUIRE(one && three, "generation failed");
    CHECK(one->items[0].n_frames == frames && memcmp(one->items[0].codes, codes, sizeof(int64_t) * K * frames) == 0,
          "jen1_generate differs from a session");
    CHECK(fixture_same_codes(&three->items[2], &one->items[0]), "a long song changed beside two others");
    jen1_output_free(one);
    jen1_output_free(three);
}

static int stop_at_first_window(const jen1_window *w, const int64_t *codes, int n_codebooks, int n_frames, void *user)
{
    (void)w, (void)codes, (void)n_codebooks, (void)n_frames, (void)user;
    return 1;
}

TEST(bad_uses_are_refused_and_failures_stay_in_their_slot)
{
    char err[512];
    jen1_session *s;
    int slot = 7;
    jen1_status st = jen1_session_new(model, 0, &s, err, sizeof err);
    CHECK(st == JEN1_ERR_INVALID_ARGUMENT, "0 slots: %s", jen1_status_name(st));
    REQUIRE(jen1_session_new(model, 2, &s, err, sizeof err) == JEN1_OK, "%s", err);
    jen1_request good = request_for(0), bad = request_for(1);
    bad.n_frames = 0;
    jen1_generate_params p = params_for(0);
    st = jen1_session_join(s, &bad, &p, &slot, err, sizeof err);
    CHECK(st == JEN1_ERR_INVALID_ARGUMENT && slot == -1, "bad request: %s, slot %d", jen1_status_name(st), slot);
    CHECK(jen1_session_slot_done(s, 0) == -1 && jen1_session_running(s) == 0, "a refused request took a slot");
    CHECK(jen1_session_leave(s, 1, NULL, err, sizeof err) == JEN1_ERR_INVALID_ARGUMENT, "left an empty slot");

    /* One slot's on_window stops it; its neighbour finishes. */
    jen1_generate_params stopper = p;
    stopper.on_window = stop_at_first_window;
    int a, b;
    REQUIRE(jen1_session_join(s, &good, &stopper, &a, err, sizeof err) == JEN1_OK, "%s", err);
    REQUIRE(jen1_session_join(s, &good, &p, &b, err, sizeof err) == JEN1_OK, "%s", err);
    st = jen1_session_join(s, &good, &p, &slot, err, sizeof err);
    CHECK(st == JEN1_ERR_INVALID_ARGUMENT && strstr(err, "taken"), "a third join: %s (%s)", jen1_status_name(st),
          err);
    while (jen1_session_running(s) > 0) REQUIRE(jen1_session_step(s, err, sizeof err) == JEN1_OK, "%s", err);
    jen1_output *out = NULL;
    st = jen1_session_leave(s, a, &out, err, sizeof err);
    CHECK(st == JEN1_ERR_ABORTED && !out && strstr(err, "on_window"), "stopped slot: %s (%s)", jen1_status_name(st),
          err);
    st = jen1_session_leave(s, b, &out, err, sizeof err);
    CHECK(st == JEN1_OK && out && out->items[0].n_frames == good.n_frames, "neighbour: %s", jen1_status_name(st));
    jen1_output_free(out);
    CHECK(jen1_session_slot_done(s, a) == -1 && jen1_session_slot_done(s, b) == -1, "slots not freed");
    jen1_session_free(s);
}

/* The audio a caller makes apart from the codes (jen1_codes_to_audio, which
 * the worker runs off its decode loop) is the audio jen1_generate makes. */
TEST(audio_apart_is_the_audio_of_generate)
{
    char err[512];
    jen1_request r = request_for(5); /* three windows, two sections */
    jen1_generate_params p = params_for(5);
    p.decode_audio = 1;
    jen1_output *o = NULL;
    REQUIRE(jen1_generate(model, &r, 1, &p, &o, err, sizeof err) == JEN1_OK, "%s", err);
    const jen1_output_item *item = &o->items[0];
    float *audio = NULL;
    int64_t n = 0;
    CHECK(jen1_codes_to_audio(model, item->codes, item->n_codebooks, item->n_frames, &audio, &n, err, sizeof err) ==
              JEN1_OK,
          "%s", err);
    CHECK(n == item->n_samples && audio && memcmp(audio, item->audio, sizeof(float) * (size_t)n) == 0,
          "%lld samples apart, %lld from generate: the same bits", (long long)n, (long long)item->n_samples);
    jen1_free(audio);
    audio = NULL;
    CHECK(jen1_codes_to_audio(model, item->codes, K - 1, item->n_frames, &audio, &n, err, sizeof err) ==
                  JEN1_ERR_INVALID_ARGUMENT && !audio && strstr(err, "codebooks"),
          "the wrong codebook count is refused: %s", err);
    int64_t bad[K] = {0, 1, 99999, 2};
    CHECK(jen1_codes_to_audio(model, bad, K, 1, &audio, &n, err, sizeof err) == JEN1_ERR_INVALID_ARGUMENT &&
              !audio && strstr(err, "99999"),
          "a code outside the codebook is refused: %s", err);
    jen1_output_free(o);
}

/* A chunk per call (jen1_audio_decode, which the worker interleaves with its
 * steps on a CPU): 600 frames are three chunks of 250, and the audio is
 * jen1_codes_to_audio's bit for bit; the calls out of order are refused. */
TEST(audio_a_chunk_at_a_time_is_the_same_audio)
{
    enum { F = 600 };
    static int64_t codes[K * F];
    for (int k = 0; k < K; k++)
        for (int f = 0; f < F; f++) codes[k * F + f] = (k * 131 + f * 17 + (f * f) % 7) % 64; /* the tiny codebook: 64 */
    char err[512];
    float *whole = NULL, *audio = NULL;
    int64_t n_whole = 0, n = 0;
    REQUIRE(jen1_codes_to_audio(model, codes, K, F, &whole, &n_whole, err, sizeof err) == JEN1_OK, "%s", err);
    jen1_audio_decode *d = NULL;
    REQUIRE(jen1_audio_decode_new(model, codes, K, F, &d, err, sizeof err) == JEN1_OK, "%s", err);
    CHECK(jen1_audio_decode_take(d, &audio, &n, err, sizeof err) == JEN1_ERR_INVALID_ARGUMENT && !audio &&
              strstr(err, "left"),
          "taking the audio before the last chunk is refused: %s", err);
    int done = 0, calls = 0;
    while (!done && calls < 10) {
        CHECK(jen1_audio_decode_next(d, &done, err, sizeof err) == JEN1_OK, "%s", err);
        calls++;
    }
    CHECK(calls == 3, "%d calls for 600 frames in chunks of 250", calls);
    CHECK(jen1_audio_decode_take(d, &audio, &n, err, sizeof err) == JEN1_OK, "%s", err);
    CHECK(audio && n == n_whole && memcmp(audio, whole, sizeof(float) * (size_t)n) == 0,
          "%lld samples a chunk at a time, %lld at once: the same bits", (long long)n, (long long)n_whole);
    float *again = NULL;
    CHECK(jen1_audio_decode_take(d, &again, &n, err, sizeof err) == JEN1_ERR_INVALID_ARGUMENT && !again,
          "the audio is handed over once");
    CHECK(jen1_audio_decode_next(d, &done, err, sizeof err) == JEN1_ERR_INVALID_ARGUMENT, "no chunk after the take");
    jen1_audio_decode_free(d);
    jen1_free(audio);
    jen1_free(whole);

    int64_t bad[K] = {0, 1, 99999, 2};
    d = NULL;
    CHECK(jen1_audio_decode_new(model, bad, K, 1, &d, err, sizeof err) == JEN1_ERR_INVALID_ARGUMENT && !d &&
              strstr(err, "99999"),
          "a code outside the codebook is refused: %s", err);
    CHECK(jen1_audio_decode_new(model, codes, K + 1, F, &d, err, sizeof err) == JEN1_ERR_INVALID_ARGUMENT && !d,
          "the wrong codebook count is refused");
    /* Freed with chunks left: nothing leaks (the ASan pass checks). */
    REQUIRE(jen1_audio_decode_new(model, codes, K, F, &d, err, sizeof err) == JEN1_OK, "%s", err);
    CHECK(jen1_audio_decode_next(d, &done, err, sizeof err) == JEN1_OK && !done, "%s", err);
    jen1_audio_decode_free(d);
    jen1_audio_decode_free(NULL);
}

/* jen1_thread_set_cpu_threads(1) on a second thread (the worker's intake,
 * where a text model plans): that thread's engine work runs on one thread,
 * even after LibTorch's first parallel region there, and the others keep
 * the model's 2. */
static void *one_thread_side(void *arg)
{
    int *seen = arg;
    jen1_thread_set_cpu_threads(1);
    char err[512];
    float *audio = NULL;
    int64_t n = 0;
    int64_t codes[K * 30];
    for (int i = 0; i < K * 30; i++) codes[i] = i % 64;
    seen[1] = jen1_codes_to_audio(model, codes, K, 30, &audio, &n, err, sizeof err) == JEN1_OK; /* engine work */
    jen1_free(audio);
    jen1_torch_info info;
    jen1_torch_info_get(&info);
    seen[0] = info.n_threads;
    return NULL;
}

TEST(a_side_thread_can_run_on_one_thread)
{
    int seen[2] = {0, 0};
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, one_thread_side, seen) == 0, "pthread_create");
    pthread_join(t, NULL);
    CHECK(seen[1], "EnCodec on the side thread failed");
    CHECK(seen[0] == 1, "the side thread runs on %d threads after its work, not 1", seen[0]);
    jen1_torch_info info;
    jen1_torch_info_get(&info);
    CHECK(info.n_threads == 2, "this thread runs on %d, not the model's 2", info.n_threads);
}

/* Four requests in one batch against each alone, with the decoder's weights
 * in `weights`. */
static void reduced_songs_alone_and_batched(jen1_weight_type weights)
{
    char path[512], err[1024];
    snprintf(path, sizeof path, "%s/model", check_fixture_dir());
    jen1_model_params mp = jen1_model_default_params();
    mp.n_threads = 2;
    mp.decoder_weights = weights;
    jen1_model *fp32 = model;
    REQUIRE(jen1_model_load(path, &mp, &model, err, sizeof err) == JEN1_OK, "%s", err);
    jen1_request r[4] = {request_for(0), request_for(1), request_for(3), request_for(4)};
    jen1_generate_params p = params_for(0);
    jen1_output *batch = fixture_generate(model, r, 4, &p);
    for (int i = 0; batch && i < 4; i++) {
        jen1_output *alone = fixture_generate(model, &r[i], 1, &p);
        CHECK(alone && fixture_same_codes(&batch->items[i], &alone->items[0]), "%s: request %d changed in a batch",
              jen1_weight_type_name(weights), i);
        jen1_output_free(alone);
    }
    CHECK(batch, "generation failed");
    jen1_output_free(batch);
    jen1_model_free(model);
    model = fp32;
}

TEST(bf16_songs_do_not_depend_on_their_batch_mates)
{
    reduced_songs_alone_and_batched(JEN1_WEIGHTS_BF16);
}

/* int8 runs the int16-activation VNNI kernel where the CPU has it (each row
 * rounded on its own), the fp32-activation one elsewhere: alone = batched. */
TEST(int8_songs_do_not_depend_on_their_batch_mates)
{
    reduced_songs_alone_and_batched(JEN1_WEIGHTS_INT8);
}

int main(void)
{
    model = fixture_model_load("test_session");
    if (!model) return 1;
    RUN(songs_do_not_depend_on_their_batch_mates);
    RUN(generate_is_a_session_loop);
    RUN(bad_uses_are_refused_and_failures_stay_in_their_slot);
    RUN(audio_apart_is_the_audio_of_generate);
    RUN(audio_a_chunk_at_a_time_is_the_same_audio);
    RUN(a_side_thread_can_run_on_one_thread);
    RUN(bf16_songs_do_not_depend_on_their_batch_mates);
    RUN(int8_songs_do_not_depend_on_their_batch_mates);
    jen1_model_free(model);
    return check_summary("test_session");
}
