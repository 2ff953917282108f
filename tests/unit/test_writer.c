/* test_writer.c - the worker's writer (worker/engine_writer.c) on the
 * qwen2-tiny model: its random weights write gibberish, but every field of
 * the plan comes out well formed, the words are the model's, the same job
 * gives the same words, and a field the model cannot write is the rules'. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine_writer.h"
#include "lyrics.h"
#include "planner.h"
#include "song.h"
#include "text.h"

static writer *wr;

static const char *model_dir(void)
{
    static char path[1024];
    const char *d = getenv("JEN1_QWEN2_FIXTURES");
    snprintf(path, sizeof path, "%s/model", d ? d : "tests/fixtures/qwen2-tiny");
    return path;
}

static job_request request_for(const char *narrative, int32_t duration_ms, uint64_t seed)
{
    job_request r;
    memset(&r, 0, sizeof r);
    snprintf(r.id, sizeof r.id, "writer-song");
    r.narrative = (char *)narrative;
    r.narrative_len = strlen(narrative);
    r.duration_ms = duration_ms;
    r.seed = seed;
    return r;
}

static int stop_always(void *user)
{
    (void)user;
    return 1;
}

/* Plans with the writer; *job says what it did. */
static int plan_with_model(const char *narrative, int32_t ms, uint64_t seed, int (*stop)(void *), song_plan *plan,
                           writer_job *job)
{
    job_request r = request_for(narrative, ms, seed);
    lyric_source src = writer_source(wr, seed, stop, NULL, job);
    char err[256];
    int rc = plan_song(&r, &src, plan, err, sizeof err);
    writer_job_end(job);
    if (rc != 0) fprintf(stderr, "    plan_song: %s\n", err);
    return rc;
}

/* A field fit for a plan: non-empty, valid UTF-8, no control characters,
 * no space at either end, within its bound. */
static int well_formed(const char *s, size_t cap)
{
    size_t n = strlen(s);
    if (n == 0 || n >= cap || !text_utf8_valid(s, n) || s[0] == ' ' || s[n - 1] == ' ') return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return 0;
    return 1;
}

static void check_plan(const song_plan *p, const char *what)
{
    CHECK(well_formed(p->title, PLAN_TITLE_BYTES), "%s: title \"%s\"", what, p->title);
    CHECK(strcmp(p->words_model, writer_model_name(wr)) == 0, "%s: words by \"%s\"", what, p->words_model);
    int fields = 1;
    for (int i = 0; i < p->n_sections; i++) {
        const plan_section *s = &p->sections[i];
        int sung = plan_section_is_sung(s->name);
        CHECK(sung ? s->n_lines >= 1 : s->n_lines == 0, "%s: %s has %d lines", what, s->name, s->n_lines);
        for (int j = 0; j < s->n_lines; j++)
            CHECK(well_formed(s->lines[j], PLAN_LINE_BYTES), "%s: %s line %d \"%s\"", what, s->name, j, s->lines[j]);
        fields += s->n_lines;
    }
    CHECK(p->words_fields == fields, "%s: %d fields counted, %d in the plan", what, p->words_fields, fields);
    CHECK(p->words_from_rules >= 0 && p->words_from_rules <= p->words_fields, "%s: %d from the rules", what,
          p->words_from_rules);
}

TEST(every_field_is_well_formed)
{
    static const struct { const char *narrative; int32_t ms; } cases[] = {
        { "A lighthouse keeper finds a message in a bottle during a storm.", 8000 },
        { "Two friends drive across the desert at night, singing to the radio.", 30000 },
        { "Une vieille femme se souvient de la mer de son enfance.", 180000 },
        { "x", 1 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        song_plan plan;
        writer_job job;
        char what[64];
        snprintf(what, sizeof what, "case %zu", i);
        REQUIRE(plan_with_model(cases[i].narrative, cases[i].ms, 42 + i, NULL, &plan, &job) == 0, "%s", what);
        check_plan(&plan, what);
        CHECK(job.generations > 0 && job.failures == 0, "%s: %d generations, %d failed", what, job.generations,
              job.failures);
    }
}

TEST(the_words_are_the_models)
{
    song_plan plan;
    writer_job job;
    REQUIRE(plan_with_model("A lighthouse keeper finds a message in a bottle.", 60000, 7, NULL, &plan, &job) == 0, "plan");
    /* Random weights still write: most fields are the model's own. */
    CHECK(plan.words_from_rules < plan.words_fields, "%d of %d fields from the rules", plan.words_from_rules,
          plan.words_fields);
    song_model model = { .name = "musicgen-tiny", .device = "cpu" };
    song_timings t = { 0 };
    char err[256];
    char *doc = song_to_string(&plan, NULL, NULL, &model, &t, 0, 0, err, sizeof err);
    REQUIRE(doc, "%s", err);
    char want[128];
    snprintf(want, sizeof want, "\"words\":{\"source\":\"model\",\"model\":\"%s\",\"fields\":%d,", writer_model_name(wr),
             plan.words_fields);
    CHECK(strstr(doc, want), "missing %s in %s", want, doc);
    free(doc);
}

static int same_words(const song_plan *a, const song_plan *b)
{
    if (strcmp(a->title, b->title) || strcmp(a->lyrics, b->lyrics) || a->mood != b->mood || a->genre != b->genre)
        return 0;
    return a->words_from_rules == b->words_from_rules;
}

TEST(the_same_job_gives_the_same_words)
{
    static song_plan a, b, c;
    writer_job job;
    const char *n = "A soldier writes letters home that are never sent.";
    REQUIRE(plan_with_model(n, 45000, 1234, NULL, &a, &job) == 0, "a");
    REQUIRE(plan_with_model(n, 45000, 1234, NULL, &b, &job) == 0, "b");
    REQUIRE(plan_with_model(n, 45000, 1235, NULL, &c, &job) == 0, "c");
    CHECK(same_words(&a, &b), "two runs differ:\n%s\n--\n%s", a.lyrics, b.lyrics);
    CHECK(!same_words(&a, &c), "another seed wrote the same words:\n%s", a.lyrics);
}

TEST(a_later_chorus_repeats_the_first)
{
    static song_plan p;
    writer_job job;
    REQUIRE(plan_with_model("Rain on the city, and a love that will not wait.", 180000, 9, NULL, &p, &job) == 0, "plan");
    int first = -1, choruses = 0;
    for (int i = 0; i < p.n_sections; i++) {
        if (strcmp(p.sections[i].name, "chorus") != 0) continue;
        choruses++;
        if (first < 0) { first = i; continue; }
        for (int j = 0; j < p.sections[i].n_lines; j++)
            CHECK(strcmp(p.sections[i].lines[j], p.sections[first].lines[j % p.sections[first].n_lines]) == 0,
                  "chorus %d line %d: \"%s\"", i, j, p.sections[i].lines[j]);
    }
    CHECK(choruses >= 2, "%d choruses", choruses);
}

TEST(fields_the_model_does_not_write_are_the_rules)
{
    static song_plan model, rules;
    writer_job job;
    const char *n = "A lighthouse keeper finds a message in a bottle during a storm.";
    /* Short enough for no second chorus (which repeats the first, whoever wrote it). */
    REQUIRE(plan_with_model(n, 8000, 5, stop_always, &model, &job) == 0, "plan");
    CHECK(job.generations == 0, "%d generations after the stop", job.generations);
    check_plan(&model, "stopped");
    CHECK(model.words_from_rules == model.words_fields, "%d of %d from the rules", model.words_from_rules,
          model.words_fields);
    job_request r = request_for(n, 8000, 5);
    char err[256];
    REQUIRE(plan_song(&r, lyrics_rules(), &rules, err, sizeof err) == 0, "%s", err);
    CHECK(strcmp(model.title, rules.title) == 0 && strcmp(model.lyrics, rules.lyrics) == 0,
          "the rules' words differ: %s / %s", model.title, rules.title);
    CHECK(rules.words_model[0] == '\0', "the rules' plan names a model: %s", rules.words_model);
}

TEST(a_missing_model_is_an_error)
{
    char err[512] = "";
    writer_options o = { .model_dir = "tests/fixtures/no-such-model", .threads = 1 };
    writer *w = writer_open(&o, err, sizeof err);
    CHECK(!w && strstr(err, "no-such-model"), "err: %s", err);
    writer_close(w);
}

int main(void)
{
    char err[512];
    writer_options o = { .model_dir = model_dir(), .threads = 2, .device = JEN1_DEVICE_CPU };
    wr = writer_open(&o, err, sizeof err);
    if (!wr) {
        fprintf(stderr, "cannot load %s: %s\n", model_dir(), err);
        return check_summary("test_writer") | 1;
    }
    RUN(every_field_is_well_formed);
    RUN(the_words_are_the_models);
    RUN(the_same_job_gives_the_same_words);
    RUN(a_later_chorus_repeats_the_first);
    RUN(fields_the_model_does_not_write_are_the_rules);
    RUN(a_missing_model_is_an_error);
    writer_close(wr);
    return check_summary("test_writer");
}
