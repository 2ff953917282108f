/* lyrics.h - where a song's title and lyric lines come from.
 *
 * The planner decides the music (mood, genre, tempo, key, sections) and then
 * asks a lyric_source for the title and, round by round, for the sections'
 * lines. A round is the sections that may be written together: each sees the
 * title and the lines of earlier rounds (plan_rounds in planner.h), so a
 * source over a language model can decode a round's sections as one batch.
 * lyrics_rules() is the default, rule-based source (lyrics_rules.c); the
 * worker's writer (worker/engine_writer.h) is another, over a language model.
 *
 * A source may write anything: the planner passes what it writes through
 * lyrics_clean_line() (whole UTF-8 characters, no control characters, bounded
 * length) before it goes into a plan, and where a field of a source other
 * than the rules comes out empty, the rules fill it (song_plan's words_*
 * fields count them). So the plan's structure never depends on a source. */
#ifndef JEN1_LYRICS_H
#define JEN1_LYRICS_H

#include <stddef.h>

#include "planner.h"

/* A section's lines, as a source writes them. */
typedef char lyric_lines[PLAN_MAX_LINES][PLAN_LINE_BYTES];

/* What a source is asked for one section. */
typedef struct lyric_request {
    const char *narrative;     /* trimmed UTF-8 */
    size_t narrative_len;
    const song_plan *plan;     /* the music and the title are decided; the
                                  lines of earlier rounds' sections are filled in */
    int section;               /* index into plan->sections */
    int ordinal;               /* 0 for the first section with this name, 1 for
                                  the second, ... */
    int lines_before;          /* lines asked of earlier sections with this name */
    int n_lines;               /* lines wanted, 1 to PLAN_MAX_LINES */
} lyric_request;

struct lyric_source {
    const char *name;          /* "rules", "model" */
    const char *model;         /* the language model's name, or NULL (the rules) */
    void *ctx;                 /* the source's own state, passed back as is */
    /* Writes a title (at most cap bytes with its NUL). Returns 0, or -1 with
     * a message. */
    int (*write_title)(void *ctx, const char *narrative, size_t narrative_len, const song_plan *plan,
                       char *title, size_t cap, char *err, size_t errlen);
    /* Writes one round: for each reqs[i] (n >= 1, in song order) up to
     * reqs[i].n_lines lines into lines[i], and how many into written[i].
     * Returns 0, or -1 with a message. */
    int (*write_lines)(void *ctx, const lyric_request *reqs, int n, lyric_lines *lines, int *written, char *err,
                       size_t errlen);
    /* Optional (NULL: the rules decide everything). Picks one of
     * options[0 .. n_options) as the song's `what` ("mood", then "genre"),
     * the mood already in plan->mood when the genre is asked. Returns the
     * option's index, or -1 to keep the rules' choice. Called before the
     * title. */
    int (*choose)(void *ctx, const char *narrative, size_t narrative_len, const song_plan *plan, const char *what,
                  const char *const *options, int n_options);
};

/* The rule-based source: title and lines made from the narrative's own
 * phrases (docs/planner.md). Stateless; the pointer is to a static. */
const lyric_source *lyrics_rules(void);

/* Makes a source's line fit for a plan, in place: control characters become
 * spaces, runs of spaces collapse, ends are trimmed, invalid UTF-8 and
 * U+FFFD (what a decoder writes for bytes it could not read) are dropped.
 * Returns the resulting length. */
size_t lyrics_clean_line(char *line);

/* Writes every sung line of the plan into plan->lyrics, one line each, with a
 * blank line between sections. */
void lyrics_join(song_plan *plan);

#endif
