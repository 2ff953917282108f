/* test_song.c - GeneratedSong documents (song.c) built from real plans and
 * rendered on a window schedule: the tiling read back from the JSON,
 * byte-for-byte determinism, the fields and their formats, the windows and
 * the prompts. The documents are written to $JEN1_TEST_TMP/songs/ for
 * tests/cli/test_song_schema.sh to validate against the JSON Schema. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "lyrics.h"
#include "planner.h"
#include "song.h"

#define CREATED_AT_MS 1714564800123LL /* 2024-05-01T12:00:00.123Z */

static const struct {
    const char *narrative;
    int32_t duration_ms;
} songs[] = {
    { "A lighthouse keeper finds a message in a bottle during a storm.", 8000 },
    { "A lighthouse keeper finds a message in a bottle during a storm.", 500 },
    { "Alone in the city at night, she walks through the neon rain.", 1000 },
    { "Dance at the neon party until the club closes!", 7300 },
    { "The hero rides into battle against the dragon to save the kingdom.", 30000 },
    { "A quiet morning by the lake; tea and a soft breeze.", 12345 },
    { "My grandmother's old piano still plays the songs of her childhood.", 29999 },
    { "\xe6\x9c\x88\xe3\x81\x8c\xe7\xb6\xba\xe9\xba\x97\xe3\x81\xa7\xe3\x81\x99\xe3\x81\xad\xe3\x80\x82", 10000 },
    { "\xc3\x9c" "ber den Wolken muss die Freiheit wohl grenzenlos sein \xf0\x9f\x8c\x8a", 15500 },
    { "!!!", 4000 },
    { "Love, \"quoted\" words and a back\\slash: the heart\twants what it wants.", 20000 },
    { "x", 1 },
};
#define N_SONGS (int)(sizeof songs / sizeof songs[0])

/* The loudness of the documents, in turn: off, normalised, silence, held
 * back by the ceiling, in mp3. */
static const loudness_report normalised = {.target_lufs = -14.0, .integrated_lufs = -14.0000001,
                                           .true_peak_dbtp = -3.2649, .gain_db = 6.5};
static const loudness_report silence = {.target_lufs = -14.0, .integrated_lufs = -INFINITY,
                                        .true_peak_dbtp = -INFINITY, .gain_db = 0};
static const loudness_report held_back = {.target_lufs = -9.0, .integrated_lufs = -11.42,
                                          .true_peak_dbtp = -1.001, .gain_db = 4.25};
static const loudness_report *const loudness_of[] = {NULL, &normalised, &silence, &held_back};

static song_audio test_audio(const song_plan *plan)
{
    song_audio a;
    memset(&a, 0, sizeof a);
    a.url = "file:///var/lib/jen1/blobs/test-song.wav";
    a.format = AUDIO_WAV;
    a.sample_rate = 32000;
    a.channels = 1;
    a.duration = plan_seconds(plan->duration_ms);
    a.bytes = 44 + 2 * (uint64_t)(a.duration * 32000);
    memset(a.sha256, 'a', 64);
    return a;
}

static song_model test_model(void)
{
    song_model m = { .name = "musicgen-tiny", .seed = 9007199254740992ULL,
                     .sampling = { .guidance_scale = 3.0, .top_k = 250, .top_p = 1.0, .temperature = 0.7f,
                                   .greedy = 0 },
                     .device = "cpu" };
    return m;
}

/* A window schedule as the engine's (jen1_plan_windows) at 50 frames per
 * second, with short windows so that the documents have several: the first
 * window up to WINDOW frames, later ones STRIDE new frames after
 * WINDOW - STRIDE of context, and a section's start always starts a window. */
#define FRAME_RATE 50
#define WINDOW 150
#define STRIDE 90
#define MAX_WINDOWS 64

static int frames_of(int32_t ms) { return (int)((ms * FRAME_RATE + 500) / 1000); }

static int schedule(const song_plan *plan, song_window *out, int *n_frames)
{
    int total = frames_of(plan->duration_ms), n = 0;
    total = total > 0 ? total : 1;
    for (int t = 0, section = 0; t < total && n < MAX_WINDOWS; n++) {
        while (section + 1 < plan->n_sections && frames_of(plan->sections[section + 1].start_ms) <= t) section++;
        int next = section + 1 < plan->n_sections ? frames_of(plan->sections[section + 1].start_ms) : total;
        next = next < total ? next : total;
        int end = t + (t == 0 ? WINDOW : STRIDE);
        end = end < next ? end : next;
        int context = t < WINDOW - STRIDE ? t : WINDOW - STRIDE;
        out[n] = (song_window){.start = (double)t / FRAME_RATE, .end = (double)end / FRAME_RATE,
                               .context = (double)context / FRAME_RATE, .section = section};
        t = end;
    }
    *n_frames = total;
    return n;
}

static const song_timings timings = { .plan_s = 0.000123, .text_s = 0.1, .decoder_s = 2.5, .audio_s = 0.4,
                                      .encode_s = 0.01, .upload_s = 0.002, .total_s = 3.0123456789 };

/* Song i as a document, rendered on schedule() unless `plain`: 1 without a
 * render, 2 without a render or audio (a words-only job). */
static char *song_json_as(int i, int indent, song_plan *plan, int plain)
{
    job_request r;
    memset(&r, 0, sizeof r);
    snprintf(r.id, sizeof r.id, "song-%02d", i);
    r.narrative = (char *)songs[i].narrative;
    r.narrative_len = strlen(songs[i].narrative);
    r.duration_ms = songs[i].duration_ms;
    char err[256];
    if (plan_song(&r, lyrics_rules(), plan, err, sizeof err) != 0) {
        fprintf(stderr, "    plan_song: %s\n", err);
        return NULL;
    }
    song_audio audio = test_audio(plan);
    audio.loudness = loudness_of[i % 4];
    if (i % 4 == 3) {
        audio.format = AUDIO_MP3;
        audio.url = "file:///var/lib/jen1/blobs/test-song.mp3";
    }
    song_model model = test_model();
    song_window windows[MAX_WINDOWS];
    song_render render = {.windows = windows, .codes_url = "file:///var/lib/jen1/blobs/test-song.codes.npy",
                          .n_codebooks = 4, .frame_rate = FRAME_RATE};
    render.n_windows = schedule(plan, windows, &render.n_frames);
    char *s = song_to_string(plan, plain ? NULL : &render, plain == 2 ? NULL : &audio, &model, &timings,
                             CREATED_AT_MS, indent, err, sizeof err);
    if (!s) fprintf(stderr, "    song_to_string: %s\n", err);
    return s;
}

static char *song_json(int i, int indent, song_plan *plan) { return song_json_as(i, indent, plan, 0); }

static int make_dirs(const char *path)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(buf, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

TEST(sections_tile_in_the_json)
{
    song_plan *plan = malloc(sizeof *plan);
    REQUIRE(plan, "out of memory");
    for (int i = 0; i < N_SONGS; i++) {
        char *s = song_json(i, 0, plan);
        if (!s) {
            CHECK(0, "song %d not built", i);
            continue;
        }
        json_error_t jerr;
        json_t *doc = json_loads(s, 0, &jerr);
        free(s);
        if (!doc) {
            CHECK(0, "song %d: not JSON: %s", i, jerr.text);
            continue;
        }
        /* Read back: the numbers a client sees. */
        double duration = json_real_value(json_object_get(doc, "duration"));
        CHECK(duration == songs[i].duration_ms / 1000.0, "song %d: duration %.17g", i, duration);
        json_t *sections = json_object_get(doc, "sections");
        size_t n = json_array_size(sections);
        CHECK(n >= 1 && n <= PLAN_MAX_SECTIONS, "song %d: %zu sections", i, n);
        double expect_start = 0.0;
        for (size_t k = 0; k < n; k++) {
            json_t *sec = json_array_get(sections, k);
            double start = json_real_value(json_object_get(sec, "start"));
            double end = json_real_value(json_object_get(sec, "end"));
            CHECK(start == expect_start, "song %d section %zu: starts at %.17g, not %.17g", i, k, start, expect_start);
            CHECK(start < end, "song %d section %zu: [%g, %g]", i, k, start, end);
            expect_start = end;
        }
        CHECK(expect_start == duration, "song %d: last end %.17g, duration %.17g", i, expect_start, duration);
        json_decref(doc);
    }
    free(plan);
}

TEST(same_input_same_bytes)
{
    song_plan *plan = malloc(sizeof *plan);
    REQUIRE(plan, "out of memory");
    for (int i = 0; i < N_SONGS; i++) {
        char *a = song_json(i, 0, plan), *b = song_json(i, 0, plan);
        CHECK(a && b && strcmp(a, b) == 0, "song %d: two documents differ", i);
        free(a);
        free(b);
    }
    free(plan);
}

TEST(fields_are_written_as_specified)
{
    song_plan plan;
    char *s = song_json(0, 0, &plan);
    REQUIRE(s, "not built");
    /* Keys in the schema's order; numbers in their shortest exact form. */
    const char *expect[] = {
        "{\"schema_version\":1,\"id\":\"song-00\",\"title\":\"The Lighthouse Keeper\",\"mood\":\"tense\",",
        "\"bpm\":111,\"key\":\"D minor\",\"instrumentation\":[\"bells\",\"strings\",\"pads\"],\"duration\":8.0,",
        "{\"name\":\"verse\",\"start\":2.162,\"end\":4.324,\"prompt\":",
        "\"lyrics\":\"A lighthouse keeper finds\\n\\nThe Lighthouse Keeper\\nDuring a storm\"",
        /* Rendered: one prompt per section, in order, each window under its section's. */
        "\"prompts\":[\"tense ambient, sparse opening, bells, strings and pads, 111 bpm, D minor, evoking lighthouse and "
        "storm\",\"tense ambient, steady verse, restrained,",
        "\"windows\":[{\"start\":0.0,\"end\":2.16,\"context\":0.0,\"section\":0,\"prompt\":\"tense ambient, sparse opening,",
        "{\"start\":2.16,\"end\":3.96,\"context\":1.2,\"section\":1,\"prompt\":\"tense ambient, steady verse,",
        "{\"start\":3.96,\"end\":4.32,\"context\":1.2,\"section\":1,",
        "{\"start\":4.32,\"end\":6.12,\"context\":1.2,\"section\":2,",
        "{\"start\":6.12,\"end\":7.92,\"context\":1.2,\"section\":2,",
        "{\"start\":7.92,\"end\":8.0,\"context\":1.2,\"section\":2,\"prompt\":\"tense ambient, full chorus, the main hook,",
        "\"codes\":{\"url\":\"file:///var/lib/jen1/blobs/test-song.codes.npy\",\"format\":\"npy\",\"shape\":[4,400],"
        "\"frame_rate\":50}",
        "\"sample_rate\":32000,\"channels\":1,\"duration\":8.0,\"bytes\":512044,",
        /* The sampling is the engine's floats: 0.7f is written as the double it widens to. */
        "\"seed\":9007199254740992,\"guidance\":3.0,\"top_k\":250,\"top_p\":1.0,\"temperature\":0.699999988079071,"
        "\"greedy\":false,\"device\":\"cpu\"}",
        ("\"timings\":{\"plan_s\":0.000123,\"text_s\":0.1,\"decoder_s\":2.5,\"audio_s\":0.4,\"encode_s\":0.01,"
         "\"upload_s\":0.002,\"total_s\":3.012346}"),
        "\"created_at\":\"2024-05-01T12:00:00.123Z\"}",
    };
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++)
        CHECK(strstr(s, expect[i]) != NULL, "missing %s\n    in %s", expect[i], s);
    free(s);
}

TEST(loudness_is_written_to_the_hundredth_and_silence_as_null)
{
    song_plan *plan = malloc(sizeof *plan);
    REQUIRE(plan, "out of memory");
    const char *expect[] = {
        "\"sha256\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"loudness\":null}",
        ("\"loudness\":{\"target_lufs\":-14.0,\"integrated_lufs\":-14.0,\"true_peak_dbtp\":-3.26,"
         "\"gain_db\":6.5}}"),
        ("\"loudness\":{\"target_lufs\":-14.0,\"integrated_lufs\":null,\"true_peak_dbtp\":null,"
         "\"gain_db\":0.0}}"),
        ("\"format\":\"mp3\",\"mime_type\":\"audio/mpeg\",\"sample_rate\":32000,"),
    };
    for (int i = 0; i < 4; i++) {
        char *s = song_json(i, 0, plan);
        CHECK(s && strstr(s, expect[i]), "song %d: missing %s\n    in %s", i, expect[i], s ? s : "(none)");
        free(s);
    }
    /* Not a number in, no NaN out: the document stays JSON. */
    loudness_report odd = {.target_lufs = -14.0, .integrated_lufs = NAN, .true_peak_dbtp = INFINITY};
    song_audio audio = test_audio(plan);
    audio.loudness = &odd;
    song_model model = test_model();
    char err[256];
    char *s = song_to_string(plan, NULL, &audio, &model, &timings, 0, 0, err, sizeof err);
    CHECK(s && strstr(s, "\"integrated_lufs\":null,\"true_peak_dbtp\":null"), "non-finite loudness: %s",
          s ? s : err);
    free(s);
    free(plan);
}

/* Without a render (a caller that has none): the plan's one prompt, no
 * windows, no codes. */
TEST(a_song_without_a_render_has_the_plans_prompt)
{
    song_plan plan;
    char *s = song_json_as(0, 0, &plan, 1);
    REQUIRE(s, "not built");
    CHECK(strstr(s, "\"prompts\":[\"tense ambient track with bells, strings and pads, 111 bpm, D minor, evoking "
                    "lighthouse and storm\"]") != NULL, "prompts: %s", s);
    CHECK(!strstr(s, "\"windows\"") && !strstr(s, "\"codes\""), "windows or codes: %s", s);
    free(s);
}

/* A words-only job: the plan's words, no windows or codes, audio null. */
TEST(a_words_only_song_has_null_audio)
{
    song_plan plan;
    char *s = song_json_as(1, 0, &plan, 2);
    REQUIRE(s, "not built");
    CHECK(strstr(s, "\"audio\":null") != NULL, "audio: %s", s);
    CHECK(!strstr(s, "\"windows\"") && !strstr(s, "\"codes\""), "windows or codes: %s", s);
    CHECK(strstr(s, "\"lyrics\":") && strstr(s, "\"title\":") && strstr(s, "\"model\":{"), "fields: %s", s);
    free(s);
}

/* Prompts are distinct and in the order first rendered: a chorus rendered
 * again after a verse adds nothing. */
TEST(prompts_are_the_distinct_rendered_ones_in_order)
{
    song_plan *plan = malloc(sizeof *plan);
    REQUIRE(plan, "out of memory");
    char *s = song_json(4, 0, plan); /* 30 s: intro, verse, chorus, verse, chorus, bridge, chorus, outro */
    REQUIRE(s, "not built");
    json_t *doc = json_loads(s, 0, NULL);
    free(s);
    REQUIRE(doc, "not JSON");
    json_t *prompts = json_object_get(doc, "prompts");
    const char *want[] = {"sparse opening", "steady verse", "full chorus", "stripped-back bridge", "fading outro"};
    CHECK(json_array_size(prompts) == 5, "%zu prompts", json_array_size(prompts));
    for (size_t i = 0; i < 5 && i < json_array_size(prompts); i++)
        CHECK(strstr(json_string_value(json_array_get(prompts, i)), want[i]) != NULL, "prompt %zu: %s", i,
              json_string_value(json_array_get(prompts, i)));
    json_decref(doc);

    song_window bad = {.start = 0, .end = 1, .context = 0, .section = plan->n_sections};
    song_render render = {.windows = &bad, .n_windows = 1, .codes_url = "file:///x.npy", .n_codebooks = 4,
                          .n_frames = 50, .frame_rate = 50};
    song_audio audio = test_audio(plan);
    song_model model = test_model();
    char err[256] = "";
    CHECK(!song_to_json(plan, &render, &audio, &model, &timings, 0, err, sizeof err) && strstr(err, "section"),
          "a window past the sections accepted: %s", err);
    render.windows = NULL;
    render.n_windows = 0;
    render.codes_url = NULL;
    CHECK(!song_to_json(plan, &render, &audio, &model, &timings, 0, err, sizeof err) && strstr(err, "codes"),
          "a render without codes accepted: %s", err);
    free(plan);
}

TEST(times_are_rfc3339_utc)
{
    char buf[40];
    struct {
        int64_t ms;
        const char *text;
    } cases[] = { { 0, "1970-01-01T00:00:00.000Z" }, { CREATED_AT_MS, "2024-05-01T12:00:00.123Z" },
                  { -1, "1969-12-31T23:59:59.999Z" }, { 951782400000LL, "2000-02-29T00:00:00.000Z" } };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK(song_format_time(cases[i].ms, buf, sizeof buf) == 0 && strcmp(buf, cases[i].text) == 0,
              "%lld -> %s", (long long)cases[i].ms, buf);
    }
    CHECK(song_format_time(0, buf, 10) == -1, "a short buffer accepted");
    CHECK(song_format_time(INT64_MAX, buf, sizeof buf) == -1, "year 292 million accepted");
}

TEST(broken_inputs_give_no_document)
{
    song_plan plan;
    char err[256] = "";
    char *s = song_json(0, 0, &plan);
    REQUIRE(s, "not built");
    free(s);
    song_audio audio = test_audio(&plan);
    song_model model = test_model();
    audio.url = NULL;
    CHECK(!song_to_json(&plan, NULL, &audio, &model, &timings, 0, err, sizeof err) && strstr(err, "url"), "no url: %s",
          err);
    audio = test_audio(&plan);
    audio.duration = 0.0 / 0.0;
    CHECK(!song_to_json(&plan, NULL, &audio, &model, &timings, 0, err, sizeof err), "NaN duration accepted");
    audio = test_audio(&plan);
    memcpy(plan.title, "bad \xff", 6);
    CHECK(!song_to_json(&plan, NULL, &audio, &model, &timings, 0, err, sizeof err) && strstr(err, "UTF-8"),
          "invalid UTF-8 accepted: %s", err);
    CHECK(!song_to_json(NULL, NULL, &audio, &model, &timings, 0, err, sizeof err), "no plan accepted");
}

TEST(documents_are_written_for_the_schema_test)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/songs", check_tmp_dir());
    REQUIRE(make_dirs(dir) == 0, "cannot create %s", dir);
    song_plan *plan = malloc(sizeof *plan);
    REQUIRE(plan, "out of memory");
    for (int i = 0; i < N_SONGS; i++) {
        char *s = song_json(i, 2, plan), path[600];
        if (!s) {
            CHECK(0, "song %d not built", i);
            continue;
        }
        snprintf(path, sizeof path, "%s/song-%02d.json", dir, i);
        FILE *f = fopen(path, "w");
        CHECK(f && fputs(s, f) >= 0 && fputc('\n', f) != EOF && fclose(f) == 0, "cannot write %s", path);
        free(s);
    }
    char *s = song_json_as(2, 2, plan, 2), path[600];
    snprintf(path, sizeof path, "%s/words-only-02.json", dir);
    FILE *f = s ? fopen(path, "w") : NULL;
    CHECK(f && fputs(s, f) >= 0 && fputc('\n', f) != EOF && fclose(f) == 0, "cannot write %s", path);
    free(s);
    free(plan);
}

int main(void)
{
    RUN(sections_tile_in_the_json);
    RUN(same_input_same_bytes);
    RUN(fields_are_written_as_specified);
    RUN(loudness_is_written_to_the_hundredth_and_silence_as_null);
    RUN(a_song_without_a_render_has_the_plans_prompt);
    RUN(a_words_only_song_has_null_audio);
    RUN(prompts_are_the_distinct_rendered_ones_in_order);
    RUN(times_are_rfc3339_utc);
    RUN(broken_inputs_give_no_document);
    RUN(documents_are_written_for_the_schema_test);
    return check_summary("test_song");
}
