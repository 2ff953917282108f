/* planner.h - from a narrative and a duration to a song plan: title, mood,
 * genre, tempo, key, instrumentation, sections that tile the duration, lyric
 * lines for the sung sections, and the text prompts the model is given.
 *
 * Deterministic: the same narrative and duration give the same plan, byte for
 * byte, on any host. The rules (keyword lexicons, tempo and key by mood,
 * section templates by length) are described in docs/planner.md. The lyrics
 * and the title come from a lyric_source (lyrics.h) so that a text model can
 * replace the rule-based one without touching the rest.
 *
 *     song_plan plan;
 *     char err[256];
 *     if (plan_song(&job, lyrics_rules(), &plan, err, sizeof err) != 0) ...
 *     // each plan.sections[i].prompt is what the engine renders from its start on
 *
 * Every output has a fixed bound (the PLAN_* sizes below), so a plan is one
 * flat struct (about 9 KB) with nothing to free. No global state: plans may
 * be made on several threads at once. Times are whole milliseconds, so that the
 * tiling is exact: sections[0].start_ms == 0, each end_ms is the next
 * start_ms, and the last end_ms == duration_ms. */
#ifndef JEN1_PLANNER_H
#define JEN1_PLANNER_H

#include <stdint.h>

#include "job.h"

#define PLAN_MAX_SECTIONS 8
#define PLAN_MAX_LINES 4          /* lyric lines per section */
#define PLAN_LINE_BYTES 80        /* one lyric line, with its NUL */
#define PLAN_TITLE_BYTES 64
#define PLAN_PROMPT_BYTES 320
#define PLAN_MAX_INSTRUMENTS 4
/* The whole lyrics: every line with its newline, a blank line between sections. */
#define PLAN_LYRICS_BYTES (PLAN_MAX_SECTIONS * (PLAN_MAX_LINES * PLAN_LINE_BYTES + 1))
/* The longest song the planner accepts (longer than any model). */
#define PLAN_MAX_DURATION_MS (3600 * 1000)

typedef struct plan_section {
    const char *name;                          /* "intro", "verse", "chorus", "bridge", "outro" */
    int32_t start_ms, end_ms;
    char prompt[PLAN_PROMPT_BYTES];            /* the text prompt this section is rendered under */
    int n_lines;                               /* 0 for instrumental sections */
    char lines[PLAN_MAX_LINES][PLAN_LINE_BYTES];
} plan_section;

typedef struct song_plan {
    char id[PROTOCOL_ID_MAX + 1];
    char title[PLAN_TITLE_BYTES];
    const char *mood;                          /* "melancholic", ... (static strings) */
    const char *genre;                         /* "ambient", ... */
    int bpm;
    const char *key;                           /* "A minor", ... */
    int n_instruments;
    const char *instruments[PLAN_MAX_INSTRUMENTS];
    int32_t duration_ms;
    int n_sections;
    plan_section sections[PLAN_MAX_SECTIONS];
    char lyrics[PLAN_LYRICS_BYTES];            /* every sung line, sections apart */
    char model_prompt[PLAN_PROMPT_BYTES];      /* the whole song in one prompt (its summary; the
                                                  engine renders the sections' prompts) */
    /* Who wrote the words: the lyric source's model name, "" for the rules;
     * the fields asked of it (the title and every sung line) and how many of
     * those the rules filled because the source's came out empty. */
    char words_model[PLAN_TITLE_BYTES];
    int words_fields, words_from_rules;
} song_plan;

typedef struct lyric_source lyric_source;

/* Plans the song for req->id, req->narrative and req->duration_ms (1 ms to
 * PLAN_MAX_DURATION_MS; the job's own bounds are job_parse's business).
 * Returns 0, or -1 with a message when the request is unusable or the lyric
 * source fails. */
int plan_song(const job_request *req, const lyric_source *lyrics, song_plan *out, char *err,
              size_t errlen);

/* Milliseconds as seconds, exactly as the GeneratedSong writes them. */
double plan_seconds(int32_t ms);

/* Whether a section is sung (verse, chorus, bridge) rather than instrumental. */
int plan_section_is_sung(const char *name);

/* In which round each section's words are written (round[i], -1 for an
 * instrumental section); returns the number of rounds. A verse is written
 * in the round of its rank among the verses, so that each verse reads the
 * one before; the first chorus with the first verse (the hook comes from
 * the story, not from a verse); the bridge and later choruses with the last
 * verse, and never in the first round when there is a later one (a later
 * chorus repeats the first). The sections of a round see each other's
 * title and music, not each other's lines. */
int plan_rounds(const song_plan *plan, int round[PLAN_MAX_SECTIONS]);

#endif
