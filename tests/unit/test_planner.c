/* test_planner.c - the song planner (planner.c), its rule-based lyrics
 * (lyrics_rules.c, lyrics.c) and the text helpers under them (text.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "lyrics.h"
#include "planner.h"
#include "text.h"

#define LIGHTHOUSE "A lighthouse keeper finds a message in a bottle during a storm."

static job_request request_for(const char *narrative, int32_t duration_ms)
{
    job_request r;
    memset(&r, 0, sizeof r);
    snprintf(r.id, sizeof r.id, "test-song");
    r.narrative = (char *)narrative;
    r.narrative_len = strlen(narrative);
    r.duration_ms = duration_ms;
    return r;
}

static int plan_for(const char *narrative, int32_t duration_ms, song_plan *plan)
{
    job_request r = request_for(narrative, duration_ms);
    char err[256];
    int rc = plan_song(&r, lyrics_rules(), plan, err, sizeof err);
    if (rc != 0) fprintf(stderr, "    plan_song: %s\n", err);
    return rc;
}

/* Every rule of docs/planner.md on sections: the tiling, the bounds, the names. */
static int check_sections(const song_plan *p, const char *what)
{
    int bad = 0;
#define EXPECT(cond, ...) do { if (!(cond)) { CHECK(cond, __VA_ARGS__); bad = 1; } } while (0)
    EXPECT(p->n_sections >= 1 && p->n_sections <= PLAN_MAX_SECTIONS, "%s: %d sections", what, p->n_sections);
    if (p->n_sections < 1 || p->n_sections > PLAN_MAX_SECTIONS) return 1;
    EXPECT(p->sections[0].start_ms == 0, "%s: starts at %d", what, p->sections[0].start_ms);
    EXPECT(p->sections[p->n_sections - 1].end_ms == p->duration_ms, "%s: ends at %d, not %d", what,
           p->sections[p->n_sections - 1].end_ms, p->duration_ms);
    for (int i = 0; i < p->n_sections; i++) {
        const plan_section *s = &p->sections[i];
        EXPECT(s->start_ms < s->end_ms, "%s: section %d is [%d, %d]", what, i, s->start_ms, s->end_ms);
        if (i + 1 < p->n_sections)
            EXPECT(s->end_ms == p->sections[i + 1].start_ms, "%s: gap after section %d", what, i);
        /* The seconds written are the same numbers, so == holds there too. */
        if (i + 1 < p->n_sections)
            EXPECT(plan_seconds(s->end_ms) == plan_seconds(p->sections[i + 1].start_ms), "%s: seconds", what);
        int sung = plan_section_is_sung(s->name);
        EXPECT(sung ? (s->n_lines >= 1 && s->n_lines <= PLAN_MAX_LINES) : s->n_lines == 0,
               "%s: %s has %d lines", what, s->name, s->n_lines);
        EXPECT(strlen(s->prompt) > 0 && strlen(s->prompt) < PLAN_PROMPT_BYTES, "%s: prompt", what);
    }
#undef EXPECT
    return bad;
}

/* ---- Text helpers --------------------------------------------------------- */

static int words_of(const char *text, char out[][64], int max, int *breaks)
{
    size_t pos = 0;
    text_word w;
    int n = 0;
    while (n < max && text_next_word(text, strlen(text), &pos, &w)) {
        snprintf(out[n], 64, "%.*s", (int)w.len, w.text);
        breaks[n++] = w.after_break;
    }
    return n;
}

TEST(words_and_clause_breaks)
{
    char w[16][64];
    int br[16];
    int n = words_of("Storm-tossed, the keeper's \"boat\" -- sinks\xe2\x80\x94gone; don't\xe2\x80\x99s cry!", w, 16, br);
    const char *want[] = { "Storm-tossed", "the", "keeper's", "boat", "sinks", "gone", "don't\xe2\x80\x99s", "cry" };
    int want_br[] = { 0, 1, 0, 0, 1, 1, 1, 0 };
    REQUIRE(n == 8, "%d words", n);
    for (int i = 0; i < n; i++) {
        CHECK(strcmp(w[i], want[i]) == 0, "word %d: [%s], expected [%s]", i, w[i], want[i]);
        CHECK(br[i] == want_br[i], "word %d (%s): break %d", i, w[i], br[i]);
    }
    n = words_of("\xe6\x9c\x88\xe3\x81\x8c\xe3\x80\x82\xe6\xb5\xb7", w, 16, br); /* 月が。海 */
    CHECK(n == 2 && br[1] == 1, "CJK full stop: %d words", n);
    n = words_of("a\xff" "b \xc3", w, 16, br); /* stray bytes separate words */
    CHECK(n == 2 && strcmp(w[0], "a") == 0 && strcmp(w[1], "b") == 0, "stray bytes: %d words", n);
    CHECK(words_of("", w, 16, br) == 0 && words_of(" ... ", w, 16, br) == 0, "words in nothing");
}

TEST(stems_match_common_endings)
{
    const char *yes[][2] = { { "Storms", "storm" }, { "stormy", "storm" }, { "dancing", "dance" },
                             { "danced", "dance" }, { "sunny", "sun" }, { "running", "run" },
                             { "memories", "memory" }, { "parties", "party" }, { "KING'S", "king" },
                             { "lighthouse", "lighthouse" } };
    const char *no[][2] = { { "saddle", "sad" }, { "stormtrooper", "storm" }, { "st", "storm" },
                            { "sunset", "sun" }, { "kingdom", "king" }, { "ward", "war" }, { "bard", "bar" } };
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        text_word w = { yes[i][0], strlen(yes[i][0]), 0 };
        CHECK(text_word_has_stem(&w, yes[i][1]), "%s should match %s", yes[i][0], yes[i][1]);
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        text_word w = { no[i][0], strlen(no[i][0]), 0 };
        CHECK(!text_word_has_stem(&w, no[i][1]), "%s should not match %s", no[i][0], no[i][1]);
    }
}

TEST(utf8_is_never_cut)
{
    char buf[8];
    /* "aé€😀": 1 + 2 + 3 + 4 bytes. */
    const char *s = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
    size_t want[] = { 0, 1, 1, 3, 3, 3, 6, 6, 6, 6, 10 };
    for (size_t cap = 1; cap <= 8; cap++) {
        size_t n = text_copy(buf, cap, s, strlen(s));
        CHECK(n == want[cap - 1] && strlen(buf) == n, "cap %zu: %zu bytes", cap, n);
        CHECK(text_utf8_valid(buf, n), "cap %zu: invalid UTF-8", cap);
    }
    CHECK(text_utf8_valid(s, strlen(s)), "valid text refused");
    CHECK(!text_utf8_valid("\xc0\xaf", 2) && !text_utf8_valid("\xed\xa0\x80", 3) &&
              !text_utf8_valid("\xf4\x90\x80\x80", 4) && !text_utf8_valid("\xe2\x82", 2),
          "overlong, surrogate, too large or truncated accepted");
}

/* ---- The plan --------------------------------------------------------------- */

/* The rules pinned on one example: a change here is a change of every song. */
TEST(lighthouse_at_8_seconds)
{
    song_plan p;
    REQUIRE(plan_for(LIGHTHOUSE, 8000, &p) == 0, "plan failed");
    CHECK(strcmp(p.id, "test-song") == 0, "id %s", p.id);
    CHECK(strcmp(p.title, "The Lighthouse Keeper") == 0, "title %s", p.title);
    CHECK(strcmp(p.mood, "tense") == 0, "mood %s", p.mood);
    CHECK(strcmp(p.genre, "ambient") == 0, "genre %s", p.genre);
    CHECK(p.bpm == 111, "bpm %d", p.bpm);
    CHECK(strcmp(p.key, "D minor") == 0, "key %s", p.key);
    CHECK(p.n_instruments == 3 && strcmp(p.instruments[0], "bells") == 0 &&
              strcmp(p.instruments[1], "strings") == 0 && strcmp(p.instruments[2], "pads") == 0,
          "instruments");
    CHECK(strcmp(p.model_prompt, "tense ambient track with bells, strings and pads, 111 bpm, D minor, "
                                 "evoking lighthouse and storm") == 0, "prompt %s", p.model_prompt);
    REQUIRE(p.n_sections == 3, "%d sections", p.n_sections);
    const char *names[] = { "intro", "verse", "chorus" };
    int32_t ends[] = { 2162, 4324, 8000 };
    for (int i = 0; i < 3; i++) {
        CHECK(strcmp(p.sections[i].name, names[i]) == 0, "section %d: %s", i, p.sections[i].name);
        CHECK(p.sections[i].end_ms == ends[i], "section %d ends at %d", i, p.sections[i].end_ms);
    }
    CHECK(strcmp(p.lyrics, "A lighthouse keeper finds\n\nThe Lighthouse Keeper\nDuring a storm") == 0,
          "lyrics [%s]", p.lyrics);
    CHECK(strstr(p.sections[2].prompt, "full chorus") != NULL, "chorus prompt %s", p.sections[2].prompt);
    /* Each section is rendered under its prompt: the song's music and images, its own character. */
    CHECK(strcmp(p.sections[1].prompt, "tense ambient, steady verse, restrained, bells, strings and pads, 111 bpm, "
                                        "D minor, evoking lighthouse and storm") == 0,
          "verse prompt %s", p.sections[1].prompt);
    check_sections(&p, "lighthouse");
}

/* Songs of one to five minutes, at the slowest and fastest tempos: the full
 * eight-section form, every section long enough to be heard (two bars and
 * four seconds at least) and no longer than a real song's (under a minute:
 * at most three of the engine's 18-second strides), each under a prompt that names its part
 * and keeps the narrative's images; the choruses share one prompt, so the
 * hook comes back. */
TEST(songs_of_one_to_five_minutes)
{
    static const char *narratives[] = {
        "A quiet morning by the lake; tea and a soft breeze.",            /* calm: 60-76 bpm */
        "Dance at the neon party until the club closes!",                 /* energetic: 124-140 bpm */
        LIGHTHOUSE,
    };
    song_plan *p = malloc(sizeof *p);
    REQUIRE(p, "out of memory");
    for (size_t n = 0; n < sizeof narratives / sizeof narratives[0]; n++) {
        for (int32_t ms = 60000; ms <= 300000; ms += 30000) {
            char what[64];
            snprintf(what, sizeof what, "narrative %zu at %d s", n, ms / 1000);
            if (plan_for(narratives[n], ms, p) != 0 || check_sections(p, what)) {
                CHECK(0, "%s: no plan", what);
                continue;
            }
            CHECK(p->n_sections == PLAN_MAX_SECTIONS, "%s: %d sections", what, p->n_sections);
            int32_t bar_ms = 240000 / p->bpm;
            const char *chorus = NULL;
            for (int i = 0; i < p->n_sections; i++) {
                const plan_section *s = &p->sections[i];
                int32_t len = s->end_ms - s->start_ms;
                CHECK(len >= 2 * bar_ms && len >= 4000 && len < 60000, "%s: %s %d is %d ms (bar %d ms)", what,
                      s->name, i, len, bar_ms);
                CHECK(strstr(s->prompt, p->mood) == s->prompt && strstr(s->prompt, p->key) != NULL,
                      "%s: prompt %s", what, s->prompt);
                CHECK(strstr(p->model_prompt, "evoking") == NULL || strstr(s->prompt, "evoking") != NULL,
                      "%s: the images are lost in %s", what, s->prompt);
                if (strcmp(s->name, "chorus") != 0) continue;
                CHECK(!chorus || strcmp(chorus, s->prompt) == 0, "%s: choruses differ", what);
                chorus = s->prompt;
            }
        }
    }
    free(p);
}

TEST(same_input_same_plan)
{
    const char *narratives[] = { LIGHTHOUSE, "neon", "\xe6\x9c\x88\xe3\x81\x8c\xe7\xb6\xba\xe9\xba\x97", "?" };
    for (size_t i = 0; i < sizeof narratives / sizeof narratives[0]; i++) {
        song_plan *a = malloc(sizeof *a), *b = malloc(sizeof *b);
        REQUIRE(a && b, "out of memory");
        CHECK(plan_for(narratives[i], 12345, a) == 0 && plan_for(narratives[i], 12345, b) == 0, "plan failed");
        /* plan_song clears the whole struct first, so even padding matches. */
        CHECK(memcmp(a, b, sizeof *a) == 0, "%s: two plans differ", narratives[i]);
        free(a);
        free(b);
    }
}

TEST(sections_tile_every_duration)
{
    const char *narratives[] = { LIGHTHOUSE, "Dance all night at the neon party", "calm quiet morning tea",
                                 "a dragon battle for the kingdom" };
    song_plan *p = malloc(sizeof *p);
    REQUIRE(p, "out of memory");
    int failures = 0;
    for (size_t n = 0; n < sizeof narratives / sizeof narratives[0] && failures < 5; n++) {
        for (int32_t ms = 1; ms <= 40000 && failures < 5; ms += (ms < 2000 ? 1 : 37)) {
            char what[64];
            snprintf(what, sizeof what, "narrative %zu at %d ms", n, ms);
            if (plan_for(narratives[n], ms, p) != 0) {
                CHECK(0, "%s: plan failed", what);
                failures++;
                continue;
            }
            failures += check_sections(p, what);
        }
    }
    CHECK(plan_for(LIGHTHOUSE, PLAN_MAX_DURATION_MS, p) == 0 && check_sections(p, "an hour") == 0, "an hour");
    free(p);
}

TEST(short_songs_get_fewer_sections)
{
    song_plan p;
    REQUIRE(plan_for(LIGHTHOUSE, 500, &p) == 0, "plan failed");
    CHECK(p.n_sections == 1 && strcmp(p.sections[0].name, "chorus") == 0 && p.sections[0].n_lines == 1,
          "0.5 s: %d sections", p.n_sections);
    REQUIRE(plan_for(LIGHTHOUSE, 1000, &p) == 0, "plan failed");
    CHECK(p.n_sections == 1, "1 s: %d sections", p.n_sections);
    int last = 0;
    for (int32_t ms = 1000; ms <= 30000; ms += 1000) {
        REQUIRE(plan_for(LIGHTHOUSE, ms, &p) == 0, "plan failed");
        CHECK(p.n_sections >= last, "%d ms: %d sections after %d", ms, p.n_sections, last);
        last = p.n_sections;
    }
    CHECK(last == PLAN_MAX_SECTIONS, "30 s: %d sections", last);
}

TEST(boundaries_fall_on_bars)
{
    song_plan p;
    REQUIRE(plan_for(LIGHTHOUSE, 30000, &p) == 0, "plan failed");
    double bar_ms = 240000.0 / p.bpm;
    for (int i = 1; i < p.n_sections; i++) {
        double bars = p.sections[i].start_ms / bar_ms;
        CHECK(bars - (double)(long)(bars + 0.5) < 0.01 && (double)(long)(bars + 0.5) - bars < 0.01,
              "section %d starts %.3f bars in", i, bars);
    }
}

TEST(words_choose_mood_genre_and_instruments)
{
    struct {
        const char *narrative, *mood, *genre, *instrument, *mode;
    } cases[] = {
        { "Alone at night in the rain, she cries.", "melancholic", "ambient", "piano", "minor" },
        { "Dance at the neon party, dance until the club closes!", "energetic", "electronic", "synthesizer",
          "major" },
        { "The sea, the ocean, the storm and the waves.", "tense", "ambient", "strings", "minor" },
        { "The hero rides into battle against the dragon to save the kingdom.", "epic", "cinematic", "brass",
          "minor" },
        { "A quiet, gentle morning by the lake; tea and a soft breeze.", "calm", "ambient", "pads", "major" },
        { "My grandmother's old letters remember the home of my childhood.", "nostalgic", "folk",
          "acoustic guitar", "major" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        song_plan p;
        REQUIRE(plan_for(cases[i].narrative, 20000, &p) == 0, "plan failed");
        CHECK(strcmp(p.mood, cases[i].mood) == 0, "%s: mood %s", cases[i].narrative, p.mood);
        CHECK(strcmp(p.genre, cases[i].genre) == 0, "%s: genre %s", cases[i].narrative, p.genre);
        int has = 0;
        for (int k = 0; k < p.n_instruments; k++) has |= strcmp(p.instruments[k], cases[i].instrument) == 0;
        CHECK(has, "%s: no %s", cases[i].narrative, cases[i].instrument);
        CHECK(strstr(p.key, cases[i].mode) != NULL, "%s: key %s", cases[i].narrative, p.key);
        CHECK(strstr(p.model_prompt, p.mood) == p.model_prompt, "%s: prompt %s", cases[i].narrative,
              p.model_prompt);
    }
}

TEST(tempo_follows_the_mood)
{
    /* The same mood word with different narratives: the tempo stays in the mood's range. */
    char narrative[64];
    for (int i = 0; i < 50; i++) {
        song_plan p;
        snprintf(narrative, sizeof narrative, "a calm day number %d", i);
        REQUIRE(plan_for(narrative, 10000, &p) == 0, "plan failed");
        CHECK(strcmp(p.mood, "calm") == 0 && p.bpm >= 60 && p.bpm <= 76, "%s: %s at %d bpm", narrative, p.mood,
              p.bpm);
        snprintf(narrative, sizeof narrative, "dance party number %d", i);
        REQUIRE(plan_for(narrative, 10000, &p) == 0, "plan failed");
        CHECK(strcmp(p.mood, "energetic") == 0 && p.bpm >= 124 && p.bpm <= 140, "%s: %s at %d bpm", narrative,
              p.mood, p.bpm);
    }
}

TEST(lyrics_come_from_the_narrative)
{
    const char *narrative = "Alone in the city at night, she walks through the neon rain, remembering the "
                            "summer they danced until dawn.";
    song_plan p;
    REQUIRE(plan_for(narrative, 30000, &p) == 0, "plan failed");
    int verse_lines = 0;
    for (int i = 0; i < p.n_sections; i++) {
        const plan_section *s = &p.sections[i];
        for (int j = 0; j < s->n_lines; j++) {
            const char *line = s->lines[j];
            int words = 1;
            for (const char *c = line; *c; c++) words += *c == ' ';
            CHECK(words <= 6 || strcmp(line, p.title) == 0, "line too long to sing: %s", line);
            if (strcmp(s->name, "verse") == 0) {
                verse_lines++;
                /* The line is the narrative's own words (its first letter capitalised). */
                CHECK(strstr(narrative, line + 1) != NULL, "verse line not from the narrative: %s", line);
            }
            if (strcmp(s->name, "chorus") == 0 && j == 0)
                CHECK(strcmp(line, p.title) == 0, "chorus opens with %s, not the title", line);
        }
    }
    CHECK(verse_lines >= 2, "%d verse lines", verse_lines);
    CHECK(strstr(p.lyrics, "Alone in the city at night\n") == p.lyrics, "lyrics start [%.40s]", p.lyrics);
}

TEST(unicode_is_never_cut)
{
    /* Long words of 2-, 3- and 4-byte characters, so that every bound falls
     * inside a character somewhere. */
    const char *chars[] = { "\xc3\xa9", "\xe6\x9c\x88", "\xf0\x9f\x8c\x8a" };
    char *narrative = malloc(4001);
    REQUIRE(narrative, "out of memory");
    for (int shift = 0; shift < 4; shift++) {
        for (size_t c = 0; c < 3; c++) {
            size_t n = 0;
            for (int i = 0; i < shift; i++) narrative[n++] = 'x';
            while (n + 4 < 4000) {
                size_t k = strlen(chars[c]);
                memcpy(narrative + n, chars[c], k);
                n += k;
                if (n % 97 < k) narrative[n++] = ' ';
            }
            narrative[n] = '\0';
            song_plan p;
            REQUIRE(plan_for(narrative, 30000, &p) == 0, "plan failed");
            CHECK(text_utf8_valid(p.title, strlen(p.title)) && strlen(p.title) > 0, "title");
            CHECK(text_utf8_valid(p.lyrics, strlen(p.lyrics)), "lyrics");
            CHECK(text_utf8_valid(p.model_prompt, strlen(p.model_prompt)), "prompt");
            for (int i = 0; i < p.n_sections; i++)
                for (int j = 0; j < p.sections[i].n_lines; j++)
                    CHECK(text_utf8_valid(p.sections[i].lines[j], strlen(p.sections[i].lines[j])),
                          "shift %d char %zu: line %d.%d", shift, c, i, j);
            check_sections(&p, "unicode");
        }
    }
    free(narrative);
}

TEST(outputs_stay_bounded)
{
    /* 4,000 bytes of words that hit every lexicon. */
    const char *words = "storm sea lighthouse neon party dragon battle rain alone love heart bell choir forest ";
    char *narrative = malloc(4001);
    REQUIRE(narrative, "out of memory");
    size_t n = 0, k = strlen(words);
    while (n + k <= 4000) {
        memcpy(narrative + n, words, k);
        n += k;
    }
    narrative[n] = '\0';
    song_plan p;
    REQUIRE(plan_for(narrative, 30000, &p) == 0, "plan failed");
    CHECK(strlen(p.title) < PLAN_TITLE_BYTES && strlen(p.model_prompt) < PLAN_PROMPT_BYTES, "bounds");
    CHECK(p.n_instruments >= 1 && p.n_instruments <= PLAN_MAX_INSTRUMENTS, "%d instruments", p.n_instruments);
    CHECK(strlen(p.lyrics) < PLAN_LYRICS_BYTES, "lyrics");
    check_sections(&p, "lexicon soup");
    free(narrative);

    REQUIRE(plan_for("!!! ... ???", 9000, &p) == 0, "plan failed");
    CHECK(strcmp(p.title, "Untitled") == 0, "title of no words: %s", p.title);
    check_sections(&p, "no words");
}

TEST(bad_requests_are_refused)
{
    song_plan p;
    char err[256] = "";
    job_request r = request_for(LIGHTHOUSE, 0);
    CHECK(plan_song(&r, lyrics_rules(), &p, err, sizeof err) == -1 && strstr(err, "duration"), "0 ms: %s", err);
    r = request_for(LIGHTHOUSE, PLAN_MAX_DURATION_MS + 1);
    CHECK(plan_song(&r, lyrics_rules(), &p, err, sizeof err) == -1, "over an hour accepted");
    r = request_for(LIGHTHOUSE, 8000);
    r.narrative = NULL;
    CHECK(plan_song(&r, lyrics_rules(), &p, err, sizeof err) == -1, "no narrative accepted");
    r = request_for(LIGHTHOUSE, 8000);
    CHECK(plan_song(&r, NULL, &p, err, sizeof err) == -1, "no lyric source accepted");
}

/* ---- Another lyric source -------------------------------------------------- */

typedef struct fake_source {
    int title_calls, line_calls, fail_lines;
    int sections_seen[PLAN_MAX_SECTIONS];
    int round_of[PLAN_MAX_SECTIONS];          /* the call that asked for each section, from 1 */
    int lines_seen[PLAN_MAX_SECTIONS][PLAN_MAX_SECTIONS]; /* [section][earlier section]: its lines then */
} fake_source;

static int fake_title(void *ctx, const char *narrative, size_t len, const song_plan *plan, char *title,
                      size_t cap, char *err, size_t errlen)
{
    fake_source *f = ctx;
    (void)narrative, (void)len, (void)err, (void)errlen;
    f->title_calls++;
    /* Mood and genre are decided before the title is asked for. */
    snprintf(title, cap, " \t%s\x01 song\n", plan->mood ? plan->mood : "?");
    return 0;
}

static int fake_lines(void *ctx, const lyric_request *reqs, int n, lyric_lines *lines, int *written, char *err,
                      size_t errlen)
{
    fake_source *f = ctx;
    f->line_calls++;
    if (f->fail_lines) {
        snprintf(err, errlen, "fake: no lines today");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        const lyric_request *req = &reqs[i];
        f->sections_seen[req->section] = 1 + req->ordinal;
        f->round_of[req->section] = f->line_calls;
        for (int j = 0; j < req->plan->n_sections; j++) f->lines_seen[req->section][j] = req->plan->sections[j].n_lines;
        /* Misbehave: more lines than asked, unterminated, invalid UTF-8, blank. */
        memset(lines[i][0], 'z', PLAN_LINE_BYTES);
        if (req->n_lines > 1) snprintf(lines[i][1], PLAN_LINE_BYTES, "bad \xff byte  and\tspaces ");
        if (req->n_lines > 2) snprintf(lines[i][2], PLAN_LINE_BYTES, "   ");
        written[i] = req->n_lines + 5;
    }
    return 0;
}

TEST(a_lyric_source_can_be_replaced)
{
    fake_source f;
    memset(&f, 0, sizeof f);
    lyric_source src = { .name = "fake", .ctx = &f, .write_title = fake_title, .write_lines = fake_lines };
    job_request r = request_for(LIGHTHOUSE, 30000);
    song_plan p, rules;
    char err[256];
    REQUIRE(plan_song(&r, &src, &p, err, sizeof err) == 0, "%s", err);
    REQUIRE(plan_for(LIGHTHOUSE, 30000, &rules) == 0, "plan failed");
    CHECK(f.title_calls == 1, "%d title calls", f.title_calls);
    char want_title[64];
    snprintf(want_title, sizeof want_title, "%s song", p.mood);
    CHECK(strcmp(p.title, want_title) == 0, "title [%s] not cleaned", p.title);
    int sung = 0;
    for (int i = 0; i < p.n_sections; i++) {
        const plan_section *s = &p.sections[i];
        sung += plan_section_is_sung(s->name);
        CHECK(plan_section_is_sung(s->name) == (f.sections_seen[i] > 0), "section %d asked wrongly", i);
        CHECK(s->n_lines <= PLAN_MAX_LINES, "%d lines", s->n_lines);
        for (int j = 0; j < s->n_lines; j++) {
            CHECK(strlen(s->lines[j]) == PLAN_LINE_BYTES - 1 || strcmp(s->lines[j], "bad byte and spaces") == 0,
                  "line not cleaned: [%s]", s->lines[j]);
            CHECK(text_utf8_valid(s->lines[j], strlen(s->lines[j])), "invalid UTF-8 kept");
        }
        /* The music is the planner's, whatever the source. */
        CHECK(s->start_ms == rules.sections[i].start_ms && s->end_ms == rules.sections[i].end_ms, "timing moved");
    }
    int round[PLAN_MAX_SECTIONS];
    CHECK(f.line_calls == plan_rounds(&p, round) && sung > f.line_calls, "%d line calls for %d sung sections",
          f.line_calls, sung);
    CHECK(f.sections_seen[3] == 2, "the second verse has ordinal %d", f.sections_seen[3] - 1);
    CHECK(strcmp(p.model_prompt, rules.model_prompt) == 0 && p.bpm == rules.bpm, "music changed");

    f.fail_lines = 1;
    CHECK(plan_song(&r, &src, &p, err, sizeof err) == -1 && strstr(err, "no lines today"), "failure lost: %s", err);
}

/* The rounds of a 3-minute song: the first verse and the first chorus
 * together, then the second verse (reading the first), the bridge and the
 * later choruses (reading the first chorus). */
TEST(sections_are_written_in_rounds)
{
    fake_source f;
    memset(&f, 0, sizeof f);
    lyric_source src = { .name = "fake", .ctx = &f, .write_title = fake_title, .write_lines = fake_lines };
    job_request r = request_for(LIGHTHOUSE, 180000);
    static song_plan p;
    char err[256];
    REQUIRE(plan_song(&r, &src, &p, err, sizeof err) == 0, "%s", err);
    static const char *const form[] = { "intro", "verse", "chorus", "verse", "chorus", "bridge", "chorus", "outro" };
    static const int want[] = { 0, 1, 1, 2, 2, 2, 2, 0 };
    REQUIRE(p.n_sections == 8, "%d sections", p.n_sections);
    int round[PLAN_MAX_SECTIONS];
    CHECK(plan_rounds(&p, round) == 2 && f.line_calls == 2, "%d rounds", f.line_calls);
    for (int i = 0; i < 8; i++) {
        CHECK(strcmp(p.sections[i].name, form[i]) == 0, "section %d is %s", i, p.sections[i].name);
        CHECK(f.round_of[i] == want[i] && round[i] == want[i] - 1, "section %d (%s) in round %d", i, form[i],
              f.round_of[i]);
    }
    CHECK(f.lines_seen[3][1] > 0 && f.lines_seen[3][2] > 0, "the second verse reads the first verse and chorus");
    CHECK(f.lines_seen[2][1] == 0, "the first chorus is written with the first verse, not after it");
    CHECK(f.lines_seen[6][3] == 0, "the last chorus is written with the second verse");
}

/* What any lyric source writes is made fit for a plan. */
TEST(source_lines_are_cleaned)
{
    static const struct { const char *in, *out; } cases[] = {
        {"  two  spaces\tand a tab  ", "two spaces and a tab"},
        {"bell\x07 and \x7f delete", "bell and delete"},
        {"caf\xc3\xa9 stays", "caf\xc3\xa9 stays"},
        {"cut \xc3", "cut"},                                  /* a truncated character */
        {"stray \x80\xbf bytes", "stray bytes"},
        {"a cut rune \xef\xbf\xbd here\xef\xbf\xbd", "a cut rune here"}, /* U+FFFD from a decoder */
        {"\xef\xbf\xbd", ""},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char line[PLAN_LINE_BYTES];
        snprintf(line, sizeof line, "%s", cases[i].in);
        size_t n = lyrics_clean_line(line);
        CHECK(strcmp(line, cases[i].out) == 0 && n == strlen(cases[i].out), "case %zu: [%s], want [%s]", i, line,
              cases[i].out);
    }
}

int main(void)
{
    RUN(words_and_clause_breaks);
    RUN(sections_are_written_in_rounds);
    RUN(stems_match_common_endings);
    RUN(utf8_is_never_cut);
    RUN(lighthouse_at_8_seconds);
    RUN(songs_of_one_to_five_minutes);
    RUN(same_input_same_plan);
    RUN(sections_tile_every_duration);
    RUN(short_songs_get_fewer_sections);
    RUN(boundaries_fall_on_bars);
    RUN(words_choose_mood_genre_and_instruments);
    RUN(tempo_follows_the_mood);
    RUN(lyrics_come_from_the_narrative);
    RUN(unicode_is_never_cut);
    RUN(outputs_stay_bounded);
    RUN(bad_requests_are_refused);
    RUN(a_lyric_source_can_be_replaced);
    RUN(source_lines_are_cleaned);
    return check_summary("test_planner");
}
