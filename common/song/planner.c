/* planner.c - see planner.h; the rules are written out in docs/planner.md.
 *
 * Every choice is a rule over the narrative's words; where several options
 * score the same, a stable hash of the narrative picks one (choose()), with a
 * different salt per decision so that the choices do not move together. */
#include "planner.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lyrics.h"
#include "text.h"

/* ---- Lexicons --------------------------------------------------------------- */

#define WORDS(...) ((const char *const[]){ __VA_ARGS__, NULL })

static const char *const minor_keys[] = { "A minor", "E minor", "D minor", "C minor", "G minor", "F# minor", NULL };
static const char *const major_keys[] = { "C major", "G major", "D major", "F major", "Bb major", "E major", NULL };

typedef struct mood_rule {
    const char *name;
    int bpm_lo, bpm_hi;
    int minor;
    const char *genre;            /* when no genre word is found */
    const char *const *stems;
} mood_rule;

static const mood_rule moods[] = {
    { "melancholic", 64, 78, 1, "ambient",
      WORDS("alone", "lonely", "sad", "sorrow", "tear", "cry", "rain", "grey", "gray", "lost", "loss",
            "grief", "goodbye", "farewell", "empty", "cold", "night", "mourn", "funeral", "broken",
            "regret", "fade", "winter", "miss", "ash", "silence", "die", "death") },
    { "joyful", 112, 128, 0, "pop",
      WORDS("happy", "joy", "sun", "summer", "laugh", "smile", "celebrate", "wedding", "birthday",
            "friend", "bright", "play", "festival", "spring", "color", "colour", "picnic", "gift") },
    { "energetic", 124, 140, 0, "electronic",
      WORDS("run", "race", "chase", "dance", "party", "jump", "fast", "speed", "neon", "club", "rush",
            "wild", "fire", "drive", "crowd", "electric") },
    { "tense", 96, 112, 1, "cinematic",
      WORDS("danger", "fear", "dark", "shadow", "escape", "storm", "monster", "hunt", "threat", "panic",
            "scream", "ghost", "haunt", "war", "trap", "blood", "thunder", "wreck") },
    { "epic", 84, 100, 1, "cinematic",
      WORDS("hero", "battle", "kingdom", "king", "queen", "dragon", "quest", "army", "sword", "legend",
            "glory", "triumph", "victory", "giant", "empire", "titan", "conquer") },
    { "calm", 60, 76, 0, "ambient",
      WORDS("calm", "peace", "quiet", "gentle", "soft", "sleep", "meadow", "lake", "garden", "breeze",
            "morning", "tea", "slow", "still", "float", "rest", "cloud") },
    { "romantic", 70, 90, 0, "pop",
      WORDS("love", "heart", "kiss", "lover", "romance", "darling", "embrace", "together", "rose",
            "dear", "beloved", "date") },
    { "mysterious", 76, 92, 1, "ambient",
      WORDS("mystery", "secret", "message", "strange", "unknown", "fog", "mist", "forest", "moon",
            "star", "cave", "whisper", "riddle", "ancient", "map", "magic", "spell", "hidden") },
    { "nostalgic", 80, 96, 0, "folk",
      WORDS("remember", "childhood", "old", "letter", "photograph", "home", "year", "memory",
            "yesterday", "grandmother", "grandfather", "vintage", "return", "past") },
};
#define N_MOODS (sizeof moods / sizeof moods[0])

typedef struct genre_rule {
    const char *name;
    const char *const *instruments;   /* the genre's own, in order of preference */
    const char *const *stems;
} genre_rule;

static const genre_rule genres[] = {
    { "ambient", WORDS("pads", "strings", "piano"),
      WORDS("sea", "ocean", "storm", "wave", "space", "sky", "star", "dream", "lighthouse", "ice", "snow",
            "desert", "horizon", "tide", "shore", "island") },
    { "electronic", WORDS("synthesizer", "drum machine", "bass"),
      WORDS("dance", "party", "neon", "club", "city", "robot", "machine", "cyber", "future", "laser",
            "digital", "computer", "signal") },
    { "folk", WORDS("acoustic guitar", "violin", "upright bass"),
      WORDS("village", "farm", "mountain", "river", "road", "journey", "campfire", "harvest", "wander",
            "valley", "cabin", "field") },
    { "cinematic", WORDS("strings", "brass", "timpani"),
      WORDS("battle", "kingdom", "king", "queen", "dragon", "hero", "quest", "army", "legend", "castle",
            "sword", "empire", "war") },
    { "jazz", WORDS("piano", "upright bass", "saxophone"),
      WORDS("cafe", "bar", "smoke", "whiskey", "jazz", "detective", "midnight", "cocktail", "saxophone") },
    { "rock", WORDS("electric guitar", "bass guitar", "drums"),
      WORDS("highway", "engine", "rebel", "guitar", "riot", "motorcycle", "anger", "scream", "garage") },
    { "lo-fi", WORDS("electric piano", "soft drums", "bass"),
      WORDS("study", "coffee", "room", "window", "book", "homework", "bedroom", "notebook", "lazy") },
    { "pop", WORDS("synthesizer", "piano", "drums"),
      WORDS("love", "heart", "summer", "friend", "kiss", "radio", "sweet") },
};
#define N_GENRES (sizeof genres / sizeof genres[0])

typedef struct instrument_rule {
    const char *instrument;
    const char *const *stems;
} instrument_rule;

static const instrument_rule instrument_words[] = {
    { "strings", WORDS("sea", "ocean", "storm", "wave", "tide", "strings") },
    { "piano", WORDS("rain", "piano", "tear", "snow") },
    { "bells", WORDS("bell", "church", "lighthouse", "christmas", "chime") },
    { "acoustic guitar", WORDS("guitar", "campfire", "road") },
    { "flute", WORDS("flute", "bird", "forest", "wind", "meadow") },
    { "choir", WORDS("choir", "angel", "cathedral", "heaven", "prayer") },
    { "synthesizer", WORDS("synth", "neon", "robot", "space", "laser") },
    { "saxophone", WORDS("saxophone", "sax", "smoke") },
    { "harp", WORDS("harp", "fairy", "dream") },
    { "brass", WORDS("trumpet", "brass", "parade", "army") },
    { "organ", WORDS("organ", "funeral") },
    { "cello", WORDS("cello", "grief", "sorrow") },
    { "drums", WORDS("drum", "heartbeat", "march") },
};
#define N_INSTRUMENT_RULES (sizeof instrument_words / sizeof instrument_words[0])

/* ---- Sections ------------------------------------------------------------- */

typedef struct section_part {
    const char *name;
    int weight;                  /* share of the bars beyond one each */
} section_part;

typedef struct section_template {
    int min_bars;                /* used when the song has at least this many whole bars */
    int n_parts;
    section_part parts[PLAN_MAX_SECTIONS];
} section_template;

/* Longest first: the first template the song is long enough for is used. */
static const section_template templates[] = {
    { 10, 8, { { "intro", 1 }, { "verse", 2 }, { "chorus", 2 }, { "verse", 2 }, { "chorus", 2 },
               { "bridge", 1 }, { "chorus", 2 }, { "outro", 1 } } },
    { 6, 6, { { "intro", 1 }, { "verse", 2 }, { "chorus", 2 }, { "verse", 2 }, { "chorus", 2 }, { "outro", 1 } } },
    { 4, 4, { { "intro", 1 }, { "verse", 2 }, { "chorus", 2 }, { "outro", 1 } } },
    { 3, 3, { { "intro", 1 }, { "verse", 1 }, { "chorus", 1 } } },
    { 2, 2, { { "verse", 1 }, { "chorus", 1 } } },
    { 0, 1, { { "chorus", 1 } } },
};

#define MS_PER_LYRIC_LINE 2000   /* about a bar at the usual tempos */

/* What each section adds to the song's prompt. */
static const char *section_character(const char *name)
{
    if (strcmp(name, "intro") == 0) return "sparse opening";
    if (strcmp(name, "verse") == 0) return "steady verse, restrained";
    if (strcmp(name, "chorus") == 0) return "full chorus, the main hook";
    if (strcmp(name, "bridge") == 0) return "stripped-back bridge, a change of color";
    return "fading outro, resolving";
}

int plan_section_is_sung(const char *name)
{
    return strcmp(name, "verse") == 0 || strcmp(name, "chorus") == 0 || strcmp(name, "bridge") == 0;
}

double plan_seconds(int32_t ms)
{
    return ms / 1000.0;
}

/* ---- Choices ---------------------------------------------------------------- */

enum { SALT_MOOD = 1, SALT_GENRE, SALT_BPM, SALT_KEY };

/* One of n options, from the narrative's hash and the decision's salt. */
static int choose(uint64_t hash, uint64_t salt, int n)
{
    /* splitmix64's finaliser: every bit of hash and salt moves the result. */
    uint64_t z = hash + salt * 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return (int)(z % (uint64_t)n);
}

/* The index of the highest score; ties are broken by choose(). */
static int best_of(const int *scores, int n, uint64_t hash, uint64_t salt)
{
    int best = 0, n_tied = 0;
    for (int i = 0; i < n; i++) best = scores[i] > best ? scores[i] : best;
    for (int i = 0; i < n; i++) n_tied += scores[i] == best;
    int pick = choose(hash, salt, n_tied);
    for (int i = 0; i < n; i++)
        if (scores[i] == best && pick-- == 0) return i;
    return 0;
}

/* The first of the stems the word has, or NULL. */
static const char *stem_of(const text_word *w, const char *const *stems)
{
    for (size_t i = 0; stems[i]; i++)
        if (text_word_has_stem(w, stems[i])) return stems[i];
    return NULL;
}

static int count_of(const char *const *list)
{
    int n = 0;
    while (list[n]) n++;
    return n;
}

/* ---- Reading the narrative ------------------------------------------------ */

#define MAX_IMAGES 3

typedef struct analysis {
    int mood_scores[N_MOODS];
    int genre_scores[N_GENRES];
    int n_triggered;                               /* instruments named by the words, in order */
    const char *triggered[PLAN_MAX_INSTRUMENTS];
    int n_images;                                  /* the first images, for the prompt */
    const char *images[MAX_IMAGES];
} analysis;

static void add_unique(const char **list, int *n, int cap, const char *s)
{
    for (int i = 0; i < *n; i++)
        if (strcmp(list[i], s) == 0) return;
    if (*n < cap) list[(*n)++] = s;
}

static void add_image(analysis *a, const char *stem)
{
    for (int i = 0; i < a->n_images; i++)
        if (strcmp(a->images[i], stem) == 0) return;
    if (a->n_images < MAX_IMAGES) a->images[a->n_images++] = stem;
}

static void analyse(const char *text, size_t len, analysis *a)
{
    memset(a, 0, sizeof *a);
    size_t pos = 0;
    text_word w;
    while (text_next_word(text, len, &pos, &w)) {
        const char *image = NULL, *stem; /* a stem of the genre or instrument lexicons */
        for (size_t m = 0; m < N_MOODS; m++)
            if (stem_of(&w, moods[m].stems)) a->mood_scores[m]++;
        for (size_t g = 0; g < N_GENRES; g++)
            if ((stem = stem_of(&w, genres[g].stems))) {
                a->genre_scores[g]++;
                image = image ? image : stem;
            }
        for (size_t r = 0; r < N_INSTRUMENT_RULES; r++)
            if ((stem = stem_of(&w, instrument_words[r].stems))) {
                add_unique(a->triggered, &a->n_triggered, PLAN_MAX_INSTRUMENTS, instrument_words[r].instrument);
                image = image ? image : stem;
            }
        if (image) add_image(a, image);
    }
}

/* ---- The music ---------------------------------------------------------------- */

#define TARGET_INSTRUMENTS 3
#define TRIGGERED_INSTRUMENTS_MAX 2   /* the rest come from the genre */

/* The source's pick among n options, when it has a choose hook and answers
 * with one of them; otherwise the rules' pick. */
static int source_choice(const job_request *req, const lyric_source *src, const song_plan *plan, const char *what,
                         const char *const *options, int n, int rules_pick)
{
    if (!src->choose) return rules_pick;
    int pick = src->choose(src->ctx, req->narrative, req->narrative_len, plan, what, options, n);
    return pick >= 0 && pick < n ? pick : rules_pick;
}

static void choose_music(const job_request *req, const lyric_source *src, const analysis *a, uint64_t hash,
                         song_plan *plan)
{
    const char *names[N_MOODS > N_GENRES ? N_MOODS : N_GENRES];
    for (size_t m = 0; m < N_MOODS; m++) names[m] = moods[m].name;
    int rules_mood = best_of(a->mood_scores, (int)N_MOODS, hash, SALT_MOOD);
    const mood_rule *mood = &moods[source_choice(req, src, plan, "mood", names, (int)N_MOODS, rules_mood)];
    plan->mood = mood->name;
    int any_genre = 0;
    for (size_t g = 0; g < N_GENRES; g++) any_genre |= a->genre_scores[g] > 0;
    int rules_genre = 0;
    if (any_genre) {
        rules_genre = best_of(a->genre_scores, (int)N_GENRES, hash, SALT_GENRE);
    } else {
        for (size_t g = 0; g < N_GENRES; g++)
            if (strcmp(genres[g].name, mood->genre) == 0) rules_genre = (int)g;
    }
    for (size_t g = 0; g < N_GENRES; g++) names[g] = genres[g].name;
    const genre_rule *genre = &genres[source_choice(req, src, plan, "genre", names, (int)N_GENRES, rules_genre)];
    plan->genre = genre->name;
    plan->bpm = mood->bpm_lo + choose(hash, SALT_BPM, mood->bpm_hi - mood->bpm_lo + 1);
    const char *const *keys = mood->minor ? minor_keys : major_keys;
    plan->key = keys[choose(hash, SALT_KEY, count_of(keys))];

    plan->n_instruments = 0;
    for (int i = 0; i < a->n_triggered && plan->n_instruments < TRIGGERED_INSTRUMENTS_MAX; i++)
        add_unique(plan->instruments, &plan->n_instruments, TARGET_INSTRUMENTS, a->triggered[i]);
    for (int i = 0; genre->instruments[i]; i++)
        add_unique(plan->instruments, &plan->n_instruments, TARGET_INSTRUMENTS, genre->instruments[i]);
}

/* Sections in whole bars (4 beats), each at least one bar, the bars beyond
 * that shared by weight (largest remainder, earlier sections first on ties);
 * the time after the last whole bar goes to the last section. */
static void lay_out_sections(song_plan *plan)
{
    double bar_ms = 4 * 60000.0 / plan->bpm;
    int n_bars = (int)floor(plan->duration_ms / bar_ms);
    const section_template *t = &templates[0];
    while (n_bars < t->min_bars) t++;

    int k = t->n_parts, bars[PLAN_MAX_SECTIONS], remainders[PLAN_MAX_SECTIONS];
    int extra = n_bars > k ? n_bars - k : 0, total_weight = 0, given = 0;
    for (int i = 0; i < k; i++) total_weight += t->parts[i].weight;
    for (int i = 0; i < k; i++) {
        bars[i] = 1 + extra * t->parts[i].weight / total_weight;
        remainders[i] = extra * t->parts[i].weight % total_weight;
        given += bars[i] - 1;
    }
    for (; given < extra; given++) {
        int best = 0;
        for (int i = 1; i < k; i++)
            if (remainders[i] > remainders[best]) best = i;
        bars[best]++;
        remainders[best] = -1;
    }

    plan->n_sections = k;
    int bars_before = 0;
    for (int i = 0; i < k; i++) {
        plan_section *s = &plan->sections[i];
        memset(s, 0, sizeof *s);
        s->name = t->parts[i].name;
        s->start_ms = i == 0 ? 0 : plan->sections[i - 1].end_ms;
        bars_before += bars[i];
        s->end_ms = i == k - 1 ? plan->duration_ms : (int32_t)llround(bars_before * bar_ms);
    }
}

/* "a", "a and b", "a, b and c" */
static void join_list(const char *const *items, int n, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < n && used < cap; i++) {
        const char *sep = i == 0 ? "" : i == n - 1 ? " and " : ", ";
        int w = snprintf(out + used, cap - used, "%s%s", sep, items[i]);
        if (w < 0) break;
        used += (size_t)w;
    }
}

static void write_prompts(song_plan *plan, const analysis *a)
{
    char instruments[160], images[120];
    join_list(plan->instruments, plan->n_instruments, instruments, sizeof instruments);
    join_list(a->images, a->n_images, images, sizeof images);

    snprintf(plan->model_prompt, sizeof plan->model_prompt, "%s %s track with %s, %d bpm, %s%s%s", plan->mood,
             plan->genre, instruments, plan->bpm, plan->key, a->n_images ? ", evoking " : "", images);
    /* Each section is rendered under its own prompt: it carries the song's
     * images too, or the narrative would be lost to the music. */
    for (int i = 0; i < plan->n_sections; i++) {
        plan_section *s = &plan->sections[i];
        snprintf(s->prompt, sizeof s->prompt, "%s %s, %s, %.100s, %d bpm, %s%s%.100s", plan->mood, plan->genre,
                 section_character(s->name), instruments, plan->bpm, plan->key, a->n_images ? ", evoking " : "",
                 images);
    }
}

/* ---- Words ------------------------------------------------------------------ */

/* A source's title, cleaned: its length, 0 when nothing is left. */
static int title_from(const job_request *req, const lyric_source *src, song_plan *plan, char title[PLAN_TITLE_BYTES],
                      size_t *len, char *err, size_t errlen)
{
    title[0] = '\0';
    if (src->write_title(src->ctx, req->narrative, req->narrative_len, plan, title, PLAN_TITLE_BYTES, err, errlen) != 0)
        return -1;
    title[PLAN_TITLE_BYTES - 1] = '\0';
    *len = lyrics_clean_line(title);
    return 0;
}

static int write_title(const job_request *req, const lyric_source *src, song_plan *plan, char *err,
                       size_t errlen)
{
    char title[PLAN_TITLE_BYTES];
    size_t len;
    if (title_from(req, src, plan, title, &len, err, errlen) != 0) return -1;
    plan->words_fields++;
    if (len == 0 && src != lyrics_rules()) {
        plan->words_from_rules++;
        if (title_from(req, lyrics_rules(), plan, title, &len, err, errlen) != 0) return -1;
    }
    if (len == 0) snprintf(title, sizeof title, "Untitled");
    memcpy(plan->title, title, sizeof title);
    return 0;
}

static int lines_for(int32_t ms)
{
    int n = (int)((ms + MS_PER_LYRIC_LINE / 2) / MS_PER_LYRIC_LINE);
    return n < 1 ? 1 : n > PLAN_MAX_LINES ? PLAN_MAX_LINES : n;
}

/* Line j of the rules' lines for lr into line; the rules are asked once
 * per section (*n_rules < 0 until then). */
static void line_from_rules(const lyric_request *lr, lyric_lines rules, int *n_rules, int j, char *line)
{
    char err[8];
    if (*n_rules < 0) {
        memset(rules, 0, sizeof(lyric_lines));
        if (lyrics_rules()->write_lines(lyrics_rules()->ctx, lr, 1, (lyric_lines *)rules, n_rules, err,
                                        sizeof err) != 0)
            *n_rules = 0;
    }
    line[0] = '\0';
    if (j < *n_rules) memcpy(line, rules[j], PLAN_LINE_BYTES);
    line[PLAN_LINE_BYTES - 1] = '\0';
}

int plan_rounds(const song_plan *plan, int round[PLAN_MAX_SECTIONS])
{
    int verses = 0, n_rounds = 0;
    for (int i = 0; i < plan->n_sections; i++) verses += strcmp(plan->sections[i].name, "verse") == 0;
    const int last = verses > 0 ? verses - 1 : 0;
    int verse = 0, choruses = 0;
    for (int i = 0; i < plan->n_sections; i++) {
        const char *name = plan->sections[i].name;
        if (!plan_section_is_sung(name)) round[i] = -1;
        else if (strcmp(name, "verse") == 0) round[i] = verse++;
        else if (strcmp(name, "chorus") == 0 && choruses++ == 0) round[i] = 0;
        else if (strcmp(name, "chorus") == 0) round[i] = last > 0 ? last : 1;
        else round[i] = last;
        if (round[i] + 1 > n_rounds) n_rounds = round[i] + 1;
    }
    return n_rounds;
}

/* Section s's lines from what the source wrote: cleaned, and where one
 * came out empty, the rules'. */
static void take_lines(const lyric_source *src, const lyric_request *lr, lyric_lines lines, int written,
                       song_plan *plan)
{
    plan_section *s = &plan->sections[lr->section];
    lyric_lines rules;
    int n_rules = -1;
    s->n_lines = 0;
    for (int j = 0; j < lr->n_lines; j++) {
        lines[j][PLAN_LINE_BYTES - 1] = '\0';
        if (j >= written) lines[j][0] = '\0';
        plan->words_fields++;
        if (lyrics_clean_line(lines[j]) == 0 && src != lyrics_rules()) {
            line_from_rules(lr, rules, &n_rules, j, lines[j]);
            plan->words_from_rules++;
        }
        if (lyrics_clean_line(lines[j]) > 0) memcpy(s->lines[s->n_lines++], lines[j], PLAN_LINE_BYTES);
    }
}

static int write_lines(const job_request *req, const lyric_source *src, song_plan *plan, char *err, size_t errlen)
{
    int round[PLAN_MAX_SECTIONS];
    const int n_rounds = plan_rounds(plan, round);
    for (int r = 0; r < n_rounds; r++) {
        lyric_request lr[PLAN_MAX_SECTIONS];
        lyric_lines lines[PLAN_MAX_SECTIONS];
        int written[PLAN_MAX_SECTIONS], n = 0;
        for (int i = 0; i < plan->n_sections; i++) {
            if (round[i] != r) continue;
            const plan_section *s = &plan->sections[i];
            lr[n] = (lyric_request){ .narrative = req->narrative, .narrative_len = req->narrative_len, .plan = plan,
                                     .section = i, .n_lines = lines_for(s->end_ms - s->start_ms) };
            for (int j = 0; j < i; j++) {
                if (strcmp(plan->sections[j].name, s->name) != 0) continue;
                lr[n].ordinal++;
                lr[n].lines_before += lines_for(plan->sections[j].end_ms - plan->sections[j].start_ms);
            }
            n++;
        }
        if (n == 0) continue;
        memset(lines, 0, sizeof lines);
        memset(written, 0, sizeof written);
        if (src->write_lines(src->ctx, lr, n, lines, written, err, errlen) != 0) return -1;
        for (int k = 0; k < n; k++) take_lines(src, &lr[k], lines[k], written[k], plan);
    }
    lyrics_join(plan);
    return 0;
}

int plan_song(const job_request *req, const lyric_source *lyrics, song_plan *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!req || !req->narrative || !lyrics || !lyrics->write_title || !lyrics->write_lines) {
        snprintf(err, errlen, "planner: no narrative or no lyric source");
        return -1;
    }
    if (req->duration_ms < 1 || req->duration_ms > PLAN_MAX_DURATION_MS) {
        snprintf(err, errlen, "planner: duration %d ms is outside 1 ms to %d ms", (int)req->duration_ms,
                 PLAN_MAX_DURATION_MS);
        return -1;
    }
    snprintf(out->id, sizeof out->id, "%s", req->id);
    out->duration_ms = req->duration_ms;

    analysis a;
    analyse(req->narrative, req->narrative_len, &a);
    uint64_t hash = text_hash(req->narrative, req->narrative_len);
    choose_music(req, lyrics, &a, hash, out);
    lay_out_sections(out);
    write_prompts(out, &a);
    snprintf(out->words_model, sizeof out->words_model, "%s", lyrics->model ? lyrics->model : "");
    if (write_title(req, lyrics, out, err, errlen) != 0) return -1;
    return write_lines(req, lyrics, out, err, errlen);
}
