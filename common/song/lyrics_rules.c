/* lyrics_rules.c - the rule-based lyric source: a title and singable lines
 * cut from the narrative's own phrases (docs/planner.md, "Title" and
 * "Lyrics").
 *
 * A phrase is a run of words inside one clause, split before a conjunction
 * and, when still longer than PHRASE_MAX_WORDS, before the article or
 * preposition nearest its middle. Verses sing the phrases in order, choruses
 * alternate the title with the narrative's last phrase (where the story
 * lands), bridges walk the phrases backwards. */
#include <stdio.h>
#include <string.h>

#include "lyrics.h"
#include "text.h"

#define MAX_WORDS 1024         /* words read from a narrative; the rest is ignored */
#define MAX_PHRASES 64
#define PHRASE_MAX_WORDS 6
#define TITLE_MAX_WORDS 3      /* after the determiner */

typedef struct phrase {
    int first, count;          /* a run of words[] */
} phrase;

typedef struct reading {
    text_word words[MAX_WORDS];
    int n_words;
    phrase phrases[MAX_PHRASES];
    int n_phrases;
} reading;

static int word_is_any(const text_word *w, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (text_word_is(w, list[i])) return 1;
    return 0;
}

static const char *const conjunctions[] = {
    "and", "but", "while", "when", "during", "because", "until", "then", "so", "or", "after",
    "before", "where", "though", "although", "as", NULL
};

static const char *const split_words[] = {
    "a", "an", "the", "in", "on", "at", "to", "for", "from", "with", "of", "into", "under",
    "over", "by", "through", "across", "like", "my", "his", "her", "their", "our", "your", NULL
};

static const char *const determiners[] = {
    "a", "an", "the", "this", "that", "my", "his", "her", "their", "our", "your", NULL
};

/* A split word that does not follow another one: "across | the" would
 * part a preposition from its object, "marches | across the" does not. */
static int starts_a_phrase(const reading *r, int i)
{
    return word_is_any(&r->words[i], split_words) && !word_is_any(&r->words[i - 1], split_words);
}

static void add_phrase(reading *r, int first, int count)
{
    if (r->n_phrases < MAX_PHRASES && count > 0) r->phrases[r->n_phrases++] = (phrase){ first, count };
}

/* Adds words [first, first+count) as phrases of at most PHRASE_MAX_WORDS. */
static void add_split(reading *r, int first, int count)
{
    if (count <= PHRASE_MAX_WORDS) {
        add_phrase(r, first, count);
        return;
    }
    int middle = first + count / 2, cut = middle;
    /* The split word nearest the middle that leaves two words each side. */
    for (int d = 0; d < count; d++) {
        int a = middle - d, b = middle + d;
        if (a >= first + 2 && starts_a_phrase(r, a)) { cut = a; break; }
        if (b <= first + count - 2 && starts_a_phrase(r, b)) { cut = b; break; }
    }
    add_split(r, first, cut - first);
    add_split(r, cut, first + count - cut);
}

/* Splits a clause before conjunctions that leave two words each side. */
static void add_clause(reading *r, int first, int count)
{
    int start = first;
    for (int i = first + 2; i <= first + count - 2; i++) {
        if (i - start >= 2 && word_is_any(&r->words[i], conjunctions)) {
            add_split(r, start, i - start);
            start = i;
        }
    }
    add_split(r, start, first + count - start);
}

static void read_narrative(reading *r, const char *text, size_t len)
{
    size_t pos = 0;
    r->n_words = 0;
    r->n_phrases = 0;
    while (r->n_words < MAX_WORDS && text_next_word(text, len, &pos, &r->words[r->n_words])) r->n_words++;
    int clause_start = 0;
    for (int i = 1; i <= r->n_words; i++) {
        if (i == r->n_words || r->words[i].after_break) {
            add_clause(r, clause_start, i - clause_start);
            clause_start = i;
        }
    }
}

/* Writes words [first, first+count) into out, separated by single spaces,
 * stopping before a word that does not fit; a first word that alone does not
 * fit is cut after whole characters. The first letter is capitalised, and
 * with capitalise_all every word's first letter (ASCII letters only). */
static void render_words(const text_word *words, int first, int count, int capitalise_all, char *out,
                         size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = first; i < first + count; i++) {
        const text_word *w = &words[i];
        size_t sep = used > 0 ? 1 : 0;
        if (used + sep + w->len + 1 > cap) {
            if (used == 0) used = text_copy(out, cap, w->text, w->len);
            break;
        }
        if (sep) out[used++] = ' ';
        memcpy(out + used, w->text, w->len);
        if ((capitalise_all || used == 0) && out[used] >= 'a' && out[used] <= 'z') out[used] -= 32;
        used += w->len;
        out[used] = '\0';
    }
}

/* ---- Title ---------------------------------------------------------------- */

static int ends_with(const text_word *w, const char *suffix)
{
    size_t n = strlen(suffix);
    if (w->len <= n + 1) return 0;
    text_word tail = { w->text + w->len - n, n, 0 };
    return text_word_is(&tail, suffix);
}

/* Words that follow a verb more often than a noun: "finds a", "marches across". */
static const char *const after_verbs[] = {
    "a", "an", "the", "this", "that", "my", "his", "her", "their", "our", "your", "in", "on", "at",
    "to", "for", "from", "with", "into", "under", "over", "by", "through", "across", "like", "away",
    "back", "home", "up", "down", "out", "it", "him", "them", NULL
};

/* Whether the word looks like a verb rather than part of a name: it ends in
 * -ed or -ing, or in a single s with an object or a preposition after it. */
static int looks_like_verb(const reading *r, int i)
{
    const text_word *w = &r->words[i];
    if (ends_with(w, "ed") || ends_with(w, "ing")) return 1;
    if (!ends_with(w, "s") || ends_with(w, "ss") || ends_with(w, "'s") || ends_with(w, "\xe2\x80\x99s")) return 0;
    return i + 1 < r->n_words && !r->words[i + 1].after_break && word_is_any(&r->words[i + 1], after_verbs);
}

/* The first determiner followed by a content word, in one clause: "a
 * lighthouse keeper" -> "The Lighthouse Keeper", "her father's boat" -> "Her
 * Father's Boat". Returns 0 when the narrative has none. */
static int title_from_noun_phrase(const reading *r, char *title, size_t cap)
{
    for (int d = 0; d + 1 < r->n_words; d++) {
        const text_word *det = &r->words[d];
        if (!word_is_any(det, determiners)) continue;
        int first = d + 1, count = 0;
        while (count < TITLE_MAX_WORDS && first + count < r->n_words) {
            int i = first + count;
            const text_word *w = &r->words[i];
            if (w->after_break || text_word_is_stopword(w) || (count > 0 && looks_like_verb(r, i))) break;
            count++;
        }
        if (count == 0) continue;
        int possessive = !word_is_any(det, (const char *const[]){ "a", "an", "the", "this", "that", NULL });
        text_word words[1 + TITLE_MAX_WORDS];
        words[0] = possessive ? *det : (text_word){ "The", 3, 0 };
        memcpy(words + 1, &r->words[first], (size_t)count * sizeof *words);
        render_words(words, 0, 1 + count, 1, title, cap);
        return 1;
    }
    return 0;
}

/* Otherwise the first three words that are not stopwords, from one clause. */
static int title_from_content_words(const reading *r, char *title, size_t cap)
{
    text_word words[3];
    int n = 0;
    for (int i = 0; i < r->n_words && n < 3; i++) {
        if (n > 0 && r->words[i].after_break) break;
        if (!text_word_is_stopword(&r->words[i])) words[n++] = r->words[i];
    }
    if (n == 0) return 0;
    render_words(words, 0, n, 1, title, cap);
    return 1;
}

static int rules_write_title(void *ctx, const char *narrative, size_t len, const song_plan *plan, char *title,
                             size_t cap, char *err, size_t errlen)
{
    reading r;
    (void)ctx;
    (void)plan;
    (void)err;
    (void)errlen;
    read_narrative(&r, narrative, len);
    if (!title_from_noun_phrase(&r, title, cap) && !title_from_content_words(&r, title, cap))
        snprintf(title, cap, "Untitled");
    return 0;
}

/* ---- Lines ---------------------------------------------------------------- */

static int rules_section_lines(const lyric_request *req, char lines[][PLAN_LINE_BYTES])
{
    reading r;
    read_narrative(&r, req->narrative, req->narrative_len);
    const char *name = req->plan->sections[req->section].name;
    int n = r.n_phrases;
    for (int i = 0; i < req->n_lines; i++) {
        int k = req->lines_before + i; /* this line's rank among its section name's lines */
        const phrase *p = NULL;        /* NULL: sing the title */
        if (n == 0) p = NULL;
        else if (strcmp(name, "chorus") == 0) p = i % 2 == 0 ? NULL : &r.phrases[n - 1]; /* every chorus alike */
        else if (strcmp(name, "bridge") == 0) p = &r.phrases[n > 1 ? n - 2 - k % (n - 1) : 0];
        else p = &r.phrases[k % n];
        if (p) render_words(r.words, p->first, p->count, 0, lines[i], PLAN_LINE_BYTES);
        else snprintf(lines[i], PLAN_LINE_BYTES, "%s", req->plan->title);
    }
    return req->n_lines;
}

/* The rules' lines depend on nothing but the request: a round is its
 * sections one by one. */
static int rules_write_lines(void *ctx, const lyric_request *reqs, int n, lyric_lines *lines, int *written,
                             char *err, size_t errlen)
{
    (void)ctx;
    (void)err;
    (void)errlen;
    for (int i = 0; i < n; i++) written[i] = rules_section_lines(&reqs[i], lines[i]);
    return 0;
}

const lyric_source *lyrics_rules(void)
{
    static const lyric_source rules = {
        .name = "rules",
        .ctx = NULL,
        .write_title = rules_write_title,
        .write_lines = rules_write_lines,
    };
    return &rules;
}
