/* test_generate.c - generation behaviour beyond parity: seeded sampling,
 * batching, mixed durations, continuation, limits and callbacks. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "jen1_stages.h"
#include "fixture.h"

static jen1_model *model;
static const char *piano = "calm solo piano, slow tempo";
static const char *dance = "upbeat electronic dance track with heavy bass";

static jen1_generate_params sampling_params(void)
{
    jen1_generate_params p = jen1_generate_default_params(model);
    p.sampling.greedy = 0;
    p.sampling.top_k = 250;
    p.sampling.top_p = 1.0f;
    p.sampling.temperature = 1.0f;
    p.sampling.guidance_scale = 3.0f;
    p.decode_audio = 0;
    return p;
}

static jen1_output *run(const jen1_request *reqs, int n, const jen1_generate_params *p)
{
    return fixture_generate(model, reqs, n, p);
}

#define same_codes fixture_same_codes

TEST(same_seed_same_song_different_seed_different_song)
{
    jen1_generate_params p = sampling_params();
    jen1_request r = {.prompt = piano, .n_frames = 37, .seed = 1234};
    jen1_output *a = run(&r, 1, &p), *b = run(&r, 1, &p);
    r.seed = 1235;
    jen1_output *c = run(&r, 1, &p);
    REQUIRE(a && b && c, "generation failed");
    CHECK(same_codes(&a->items[0], &b->items[0]), "the same seed gave different codes");
    CHECK(!same_codes(&a->items[0], &c->items[0]), "different seeds gave identical codes");
    const int V = jen1_model_codebook_size(model);
    int out_of_range = 0;
    for (int i = 0; i < 4 * 37; i++) out_of_range += a->items[0].codes[i] < 0 || a->items[0].codes[i] >= V;
    CHECK(out_of_range == 0, "%d sampled codes outside [0, %d)", out_of_range, V);
    jen1_output_free(a);
    jen1_output_free(b);
    jen1_output_free(c);
}

/* A request's song must not depend on what shares its batch, nor on its
 * position in it, nor on the others' lengths. */
TEST(batch_neighbours_do_not_change_a_song)
{
    jen1_generate_params p = sampling_params();
    jen1_request alone = {.prompt = piano, .n_frames = 30, .seed = 7};
    jen1_request batch[3] = {
        {.prompt = dance, .n_frames = 45, .seed = 99},
        {.prompt = piano, .n_frames = 30, .seed = 7},
        {.prompt = "", .n_frames = 12, .seed = 5},
    };
    jen1_output *a = run(&alone, 1, &p), *b = run(batch, 3, &p);
    REQUIRE(a && b, "generation failed");
    CHECK(same_codes(&a->items[0], &b->items[1]), "the song changed inside a batch");
    CHECK(b->items[0].n_frames == 45 && b->items[2].n_frames == 12, "mixed durations: %d and %d frames",
          b->items[0].n_frames, b->items[2].n_frames);

    jen1_request short_alone = batch[2];
    jen1_output *c = run(&short_alone, 1, &p);
    REQUIRE(c, "generation failed");
    CHECK(same_codes(&c->items[0], &b->items[2]), "the shortest request differs from its solo run");
    jen1_output_free(a);
    jen1_output_free(b);
    jen1_output_free(c);
}

TEST(audio_length_follows_frames)
{
    jen1_generate_params p = sampling_params();
    p.decode_audio = 1;
    jen1_request r = {.prompt = dance, .n_frames = 25, .seed = 3};
    jen1_output *out = run(&r, 1, &p);
    REQUIRE(out, "generation failed");
    const int hop = jen1_model_sample_rate(model) / jen1_model_frame_rate(model);
    CHECK(out->items[0].n_samples == 25 * hop, "%lld samples for 25 frames", (long long)out->items[0].n_samples);
    CHECK(out->sample_rate == 32000, "sample rate %d", out->sample_rate);
    float peak = 0;
    for (int64_t i = 0; i < out->items[0].n_samples; i++) {
        float v = out->items[0].audio[i] < 0 ? -out->items[0].audio[i] : out->items[0].audio[i];
        if (v > peak) peak = v;
    }
    CHECK(peak > 0 && peak < 100, "audio peak %g", peak);
    jen1_output_free(out);
}

/* jen1.h's ownership rule: a caller takes an item's audio and codes by
 * setting the fields to NULL; they outlive the output and go to jen1_free. */
TEST(taken_buffers_outlive_their_output)
{
    jen1_generate_params p = sampling_params();
    p.decode_audio = 1;
    jen1_request r = {.prompt = piano, .n_frames = 5, .seed = 11};
    jen1_output *out = run(&r, 1, &p);
    REQUIRE(out && out->items[0].audio && out->items[0].codes, "generation failed");
    float *audio = out->items[0].audio;
    int64_t *codes = out->items[0].codes;
    const int64_t n_samples = out->items[0].n_samples, n_codes = (int64_t)out->items[0].n_codebooks * 5;
    float first = audio[0], last = audio[n_samples - 1];
    int64_t code = codes[n_codes - 1];
    out->items[0].audio = NULL;
    out->items[0].codes = NULL;
    jen1_output_free(out);
    CHECK(audio[0] == first && audio[n_samples - 1] == last, "the taken audio changed");
    CHECK(codes[n_codes - 1] == code, "the taken codes changed");
    jen1_free(audio);
    jen1_free(codes);
    jen1_free(NULL);
}

/* Greedy continuation from the first frames of a greedy song must give the
 * same song: the prefix is forced, the rest follows from it. */
TEST(continuation_from_prompt_codes)
{
    jen1_generate_params p = sampling_params();
    p.sampling.greedy = 1;
    jen1_request r = {.prompt = piano, .n_frames = 37};
    jen1_output *full = run(&r, 1, &p);
    REQUIRE(full, "generation failed");
    const int prefix = 12, F = 37;
    int64_t codes[4 * 12];
    for (int k = 0; k < 4; k++)
        for (int f = 0; f < prefix; f++) codes[k * prefix + f] = full->items[0].codes[k * F + f];
    r.prompt_codes = codes;
    r.n_prompt_frames = prefix;
    jen1_output *cont = run(&r, 1, &p);
    REQUIRE(cont, "continuation failed");
    CHECK(same_codes(&full->items[0], &cont->items[0]), "greedy continuation diverged from the original");

    /* A different prefix really steers it. */
    for (int i = 0; i < 4 * prefix; i++) codes[i] = (codes[i] + 17) % jen1_model_codebook_size(model);
    jen1_output *other = run(&r, 1, &p);
    REQUIRE(other, "continuation failed");
    CHECK(memcmp(other->items[0].codes, codes, sizeof(int64_t) * prefix) == 0, "the prefix was not kept");
    CHECK(!same_codes(&full->items[0], &other->items[0]), "a different prefix changed nothing");
    jen1_output_free(full);
    jen1_output_free(cont);
    jen1_output_free(other);
}

static int progress_calls;
static float last_progress;
static void count_progress(float done, void *user)
{
    (void)user;
    if (done < last_progress) progress_calls = -1000;
    last_progress = done;
    progress_calls++;
}

static int abort_after;
static int stop_after_some(void *user)
{
    (void)user;
    return --abort_after < 0;
}

TEST(progress_and_abort_callbacks)
{
    jen1_generate_params p = sampling_params();
    p.progress = count_progress;
    jen1_request r = {.prompt = piano, .n_frames = 20, .seed = 1};
    jen1_output *out = run(&r, 1, &p);
    REQUIRE(out, "generation failed");
    CHECK(progress_calls == 20 + 4 - 1, "%d progress calls for 23 steps", progress_calls);
    CHECK(last_progress == 1.0f, "progress ended at %g", last_progress);
    jen1_output_free(out);

    p.progress = NULL;
    p.abort = stop_after_some;
    abort_after = 5;
    char err[256];
    jen1_status st = jen1_generate(model, &r, 1, &p, &out, err, sizeof err);
    CHECK(st == JEN1_ERR_ABORTED, "status %s", jen1_status_name(st));
    CHECK(out == NULL, "an aborted call returned output");
}

TEST(bad_requests_are_refused_with_a_reason)
{
    jen1_generate_params p = sampling_params();
    char err[256];
    jen1_output *out = NULL;
    /* Issue 8: a longer request renders in windows (test_windows.c); a
     * continuation from prompt codes is one window and still may not
     * outgrow the position table. */
    int64_t one_frame[4] = {0};
    jen1_request r = {.prompt = piano, .n_frames = jen1_model_max_frames(model) + 1, .prompt_codes = one_frame,
                      .n_prompt_frames = 1};
    jen1_status st = jen1_generate(model, &r, 1, &p, &out, err, sizeof err);
    CHECK(st == JEN1_ERR_TOO_LONG && strstr(err, "position"), "too long: %s (%s)", jen1_status_name(st), err);
    CHECK(out == NULL, "output despite an error");
    r.prompt_codes = NULL;
    r.n_prompt_frames = 0;

    r.n_frames = jen1_model_max_frames(model);
    p.decode_audio = 0;
    st = jen1_generate(model, &r, 1, &p, &out, err, sizeof err);
    CHECK(st == JEN1_OK, "the longest allowed request failed: %s", err);
    jen1_output_free(out);

    r.n_frames = 0;
    st = jen1_generate(model, &r, 1, &p, &out, err, sizeof err);
    CHECK(st == JEN1_ERR_INVALID_ARGUMENT && strstr(err, "n_frames"), "zero frames: %s", err);

    r.n_frames = 10;
    r.prompt = NULL;
    st = jen1_generate(model, &r, 1, &p, &out, err, sizeof err);
    CHECK(st == JEN1_ERR_INVALID_ARGUMENT, "NULL prompt: %s", jen1_status_name(st));

    r.prompt = piano;
    int64_t bad_codes[4] = {0, 1, 99999, 2};
    r.prompt_codes = bad_codes;
    r.n_prompt_frames = 1;
    st = jen1_generate(model, &r, 1, &p, &out, err, sizeof err);
    CHECK(st == JEN1_ERR_INVALID_ARGUMENT && strstr(err, "99999"), "bad prompt code: %s", err);
    r.prompt_codes = NULL;
    r.n_prompt_frames = 0;

    jen1_generate_params q = p;
    q.sampling.temperature = 0;
    st = jen1_generate(model, &r, 1, &q, &out, err, sizeof err);
    CHECK(st == JEN1_ERR_INVALID_ARGUMENT && strstr(err, "temperature"), "temperature 0: %s", err);
    q = p;
    q.sampling.top_p = 1.5f;
    st = jen1_generate(model, &r, 1, &q, &out, err, sizeof err);
    CHECK(st == JEN1_ERR_INVALID_ARGUMENT && strstr(err, "top_p"), "top_p 1.5: %s", err);
    q = p;
    q.sampling.guidance_scale = 1e9f;
    st = jen1_generate(model, &r, 1, &q, &out, err, sizeof err);
    CHECK(st == JEN1_ERR_INVALID_ARGUMENT && strstr(err, "guidance"), "guidance 1e9: %s", err);

    st = jen1_generate(model, &r, 0, &p, &out, err, sizeof err);
    CHECK(st == JEN1_ERR_INVALID_ARGUMENT, "empty batch: %s", jen1_status_name(st));

    jen1_tensor audio = {0};
    int64_t codes[4] = {0, 1, 64, 2};
    st = jen1_decode_codes(model, codes, 1, 4, 1, NULL, &audio, err, sizeof err);
    CHECK(st == JEN1_ERR_INVALID_ARGUMENT, "code 64 decoded: %s", jen1_status_name(st));
}

TEST(torch_info_reports_the_runtime)
{
    jen1_torch_info info;
    jen1_torch_info_get(&info);
    CHECK(strncmp(info.torch_version, "1.", 2) == 0 || strncmp(info.torch_version, "2.", 2) == 0, "version %s",
          info.torch_version);
    CHECK(info.n_threads == 2, "%d threads", info.n_threads);
    CHECK(strcmp(jen1_model_device(model), info.cuda_available ? "cuda:0" : "cpu") == 0, "device %s",
          jen1_model_device(model));
}

int main(void)
{
    model = fixture_model_load("test_generate");
    if (!model) return 1;
    RUN(same_seed_same_song_different_seed_different_song);
    RUN(batch_neighbours_do_not_change_a_song);
    RUN(audio_length_follows_frames);
    RUN(taken_buffers_outlive_their_output);
    RUN(continuation_from_prompt_codes);
    RUN(progress_and_abort_callbacks);
    RUN(bad_requests_are_refused_with_a_reason);
    RUN(torch_info_reports_the_runtime);
    jen1_model_free(model);
    return check_summary("test_generate");
}
