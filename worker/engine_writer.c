/* engine_writer.c - see engine_writer.h. The planner drives the model field
 * by field and round by round; this file turns the title into one bounded
 * generation, a round's sections into one batch of bounded multi-line
 * generations, and each choice into one comparison of the options'
 * likelihoods. Every prompt is one chat that begins alike (the system
 * message, the story, then the music, the title, the form and the lyrics as
 * they are decided), so the job's prompt cache computes each beginning once. */
#include "engine_writer.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "jen1_text.h"
#include "log.h"
#include "text.h"
#include "util.h"
#include "engine_writer_batch.h"

#define NARRATIVE_PROMPT_BYTES 1500 /* of the narrative, in every prompt */
#define TITLE_MAX_TOKENS 16
#define LINE_MAX_TOKENS 20          /* a lyric line of under ten words, in any language */
#define FIELD_TEXT_BYTES 512        /* a field's reply, before the plan's bounds */
#define SECTION_TEXT_BYTES (PLAN_MAX_LINES * FIELD_TEXT_BYTES)

struct writer {
    jen1_text_model *lm;
    writer_batch *batch; /* every job's calls, decoded together */
    atomic_llong jobs;   /* sources made: each job's order, its calls' priority */
};

static const char system_prompt[] =
    "You are a songwriter. You write singable lyrics: short lines, concrete images, plain words. "
    "You reply with exactly what is asked and nothing else: no quotes, no labels, no explanations.";

writer *writer_open(const writer_options *o, char *err, size_t errlen)
{
    writer *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errlen, "writer: out of memory");
        return NULL;
    }
    jen1_text_model_params mp = jen1_text_model_default_params();
    mp.device = o->device;
    mp.n_threads = o->threads;
    mp.weights = o->weights;
    if (jen1_text_model_load(o->model_dir, &mp, &w->lm, err, errlen) != JEN1_OK) {
        free(w);
        return NULL;
    }
    if (o->turned_by_owner) {
        w->batch = writer_batch_new(w->lm, o->wake, o->wake_user, err, errlen);
    } else {
        /* A new thread does not inherit the model's thread count: say it. */
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        int threads = o->cpu_threads > 0 ? o->cpu_threads : o->threads > 0 ? o->threads : cores > 1 ? (int)cores : 1;
        w->batch = writer_batch_start(w->lm, threads, err, errlen);
    }
    if (!w->batch) {
        jen1_text_model_free(w->lm);
        free(w);
        return NULL;
    }
    return w;
}

void writer_close(writer *w)
{
    if (!w) return;
    writer_batch_stats st;
    writer_batch_get_stats(w->batch, &st);
    if (st.steps > 0 || st.score_s > 0)
        log_kv(LOG_INFO, "writer: where the text model's time went", LOG_INT("steps", st.steps),
               LOG_NUM("mean_rows", st.steps ? (double)st.rows / (double)st.steps : 0), LOG_NUM("step_s", st.step_s),
               LOG_NUM("join_s", st.join_s), LOG_NUM("score_s", st.score_s));
    writer_batch_stop(w->batch);
    jen1_text_model_free(w->lm);
    free(w);
}

int writer_turn(writer *w, int *stepped_rows) { return writer_batch_turn(w->batch, stepped_rows); }

const char *writer_model_name(const writer *w) { return jen1_text_model_name(w->lm); }
const char *writer_device(const writer *w) { return jen1_text_model_device(w->lm); }

/* ---- Prompts -------------------------------------------------------------------- */

/* "Verse 2", "Chorus", "Bridge": how the prompts name a section. */
static void section_label(const song_plan *plan, int section, char *out, size_t cap)
{
    const char *name = plan->sections[section].name;
    int nth = 1, total = 0;
    for (int i = 0; i < plan->n_sections; i++) {
        if (strcmp(plan->sections[i].name, name) != 0) continue;
        total++;
        if (i < section) nth++;
    }
    char first = name[0] >= 'a' && name[0] <= 'z' ? (char)(name[0] - 32) : name[0];
    if (total > 1 && strcmp(name, "verse") == 0) snprintf(out, cap, "%c%s %d", first, name + 1, nth);
    else snprintf(out, cap, "%c%s", first, name + 1);
}

/* The story, and what the plan has decided so far: the music once the mood
 * and the genre are chosen; the title, the form and the lyrics of finished
 * sections once there is a title. Every prompt begins with this, so that
 * the prompt cache holds it between fields. */
static void put_song(buf *b, const char *narrative, size_t len, const song_plan *plan)
{
    char story[NARRATIVE_PROMPT_BYTES];
    text_copy(story, sizeof story, narrative, len);
    buf_printf(b, "The story:\n%s\n\n", story);
    if (plan->mood && plan->genre)
        buf_printf(b, "The song is %s %s, %d bpm, in %s.\n", plan->mood, plan->genre, plan->bpm, plan->key);
    if (!plan->title[0]) return;
    buf_printf(b, "Its title is \"%s\". Its form:", plan->title);
    int sung = 0;
    for (int i = 0; i < plan->n_sections; i++) {
        if (!plan_section_is_sung(plan->sections[i].name)) continue;
        char label[32];
        section_label(plan, i, label, sizeof label);
        buf_printf(b, "%s %s", sung++ ? "," : "", label);
    }
    buf_puts(b, ".\n\n");
    int any = 0;
    for (int i = 0; i < plan->n_sections; i++) {
        const plan_section *s = &plan->sections[i];
        if (s->n_lines == 0) continue;
        char label[32];
        section_label(plan, i, label, sizeof label);
        buf_printf(b, "%s[%s]\n", any ? "\n" : "Its lyrics so far:\n\n", label);
        for (int j = 0; j < s->n_lines; j++) buf_printf(b, "%s\n", s->lines[j]);
        any = 1;
    }
    if (any) buf_putc(b, '\n');
}

/* What a section is for, in the song. */
static const char *section_role(const char *name, int ordinal)
{
    if (strcmp(name, "chorus") == 0) return "the hook: the heart of the story in words easy to sing, to be repeated";
    if (strcmp(name, "bridge") == 0) return "a change of view before the last chorus";
    return ordinal == 0 ? "it begins the story" : "it tells the story onward from the verse before, without repeating it";
}

/* ---- Generation ----------------------------------------------------------------- */

/* The job's prompt cache, made on first use; NULL (no reuse, same words but
 * slower) if it cannot be made. */
static jen1_text_cache *job_cache(writer_job *job)
{
    char err[128];
    if (!job->cache && jen1_text_cache_new(job->w->lm, &job->cache, err, sizeof err) != JEN1_OK) job->cache = NULL;
    return job->cache;
}

/* The chat of `user` rendered with the generation prompt, as ids; *ids is
 * malloc'd. */
static int chat_ids(const writer *w, const char *user, int64_t **ids, int *n, char *err, size_t errlen)
{
    jen1_chat_message chat[] = { { "system", system_prompt }, { "user", user } };
    char *rendered = NULL;
    *ids = NULL;
    if (jen1_text_chat_render(w->lm, chat, 2, 1, &rendered, err, errlen) != JEN1_OK) return -1;
    /* Byte-level BPE: never more ids than bytes. */
    size_t len = strlen(rendered);
    int cap = (int)len + 1, rc = -1;
    *ids = malloc((size_t)cap * sizeof **ids);
    if (!*ids) snprintf(err, errlen, "writer: out of memory");
    else if (jen1_text_tokenize(w->lm, rendered, len, 1, *ids, cap, n, err, errlen) == JEN1_OK) rc = 0;
    jen1_free(rendered);
    if (rc != 0) {
        free(*ids);
        *ids = NULL;
    }
    return rc;
}

/* The seed of field k of a job: the golden-ratio stride keeps the fields'
 * streams (and nearby seeds') apart. */
static uint64_t field_seed(const writer_job *job, int field)
{
    return job->seed ^ ((uint64_t)field + 1) * 0x9E3779B97F4A7C15ULL;
}

/* Generates the replies to users[0..n) in one batch, each into texts[i]
 * (cap bytes; empty when it fails: the rules fill the fields), field
 * fields[i]'s seed each. The parameters' lines, stops and budget are gp's. */
static void generate_batch(writer_job *job, const char *what, const char *const *users, const int *fields, int n,
                           jen1_text_generate_params gp, char (*texts)[SECTION_TEXT_BYTES])
{
    char err[512] = "";
    for (int i = 0; i < n; i++) texts[i][0] = '\0';
    if (job->should_stop && job->should_stop(job->user)) return;
    double t = clock_monotonic_s();
    int64_t *ids[PLAN_MAX_SECTIONS] = { 0 };
    jen1_text_request rq[PLAN_MAX_SECTIONS];
    jen1_status st = JEN1_ERR_INVALID_ARGUMENT;
    int ok = n >= 1 && n <= PLAN_MAX_SECTIONS;
    for (int i = 0; ok && i < n; i++) {
        ok = chat_ids(job->w, users[i], &ids[i], &rq[i].n_prompt_ids, err, sizeof err) == 0;
        rq[i].prompt_ids = ids[i];
        rq[i].seed = field_seed(job, fields[i]);
    }
    if (ok) {
        gp.ban_special = 1;
        gp.cache = job_cache(job);
        gp.abort = job->should_stop;
        gp.abort_user_data = job->user;
        jen1_text_output *o = NULL;
        int rows = 0;
        st = writer_batch_generate(job->w->batch, job->order, rq, n, &gp, &o, &rows, err, sizeof err);
        if (rows > job->most_rows) job->most_rows = rows;
        for (int i = 0; st == JEN1_OK && i < n; i++) {
            text_copy(texts[i], SECTION_TEXT_BYTES, o->items[i].text, strlen(o->items[i].text));
            job->tokens += o->items[i].n_ids;
        }
        jen1_text_output_free(o);
    }
    for (int i = 0; i < n; i++) free(ids[i]);
    job->generations++;
    job->seconds += clock_monotonic_s() - t;
    if (st != JEN1_OK && st != JEN1_ERR_ABORTED) {
        job->failures++;
        log_kv(LOG_WARN, "writer: the rules fill fields the model could not write", LOG_STR("field", what),
               LOG_STR("error", err));
    }
}

/* Removes one pair of quotes around s (ASCII or typographic), in place. */
static void strip_quotes(char *s)
{
    static const char *const pairs[][2] = { { "\"", "\"" }, { "'", "'" }, { "\xe2\x80\x9c", "\xe2\x80\x9d" },
                                            { "\xc2\xab", "\xc2\xbb" }, { "*", "*" } };
    size_t n = strlen(s);
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        size_t a = strlen(pairs[i][0]), b = strlen(pairs[i][1]);
        if (n >= a + b && memcmp(s, pairs[i][0], a) == 0 && memcmp(s + n - b, pairs[i][1], b) == 0) {
            memmove(s, s + a, n - a - b);
            s[n - a - b] = '\0';
            return;
        }
    }
}

/* Fits a line into cap bytes at a word boundary (a single long word is cut
 * at a whole character). */
static void fit_words(char *s, size_t cap)
{
    size_t n = strlen(s);
    if (n < cap) return;
    char tmp[FIELD_TEXT_BYTES];
    size_t kept = text_copy(tmp, cap, s, n);
    char *space = strrchr(tmp, ' ');
    if (space && space > tmp) kept = (size_t)(space - tmp);
    s[kept] = '\0';
}

/* ---- The lyric source ---------------------------------------------------------- */

static int model_write_title(void *ctx, const char *narrative, size_t len, const song_plan *plan, char *title,
                             size_t cap, char *err, size_t errlen)
{
    writer_job *job = ctx;
    (void)err;
    (void)errlen;
    buf user = BUF_INIT;
    put_song(&user, narrative, len, plan);
    buf_puts(&user, "\nWrite the song's title: two to five words, in the language of the story. "
                    "Reply with the title only.");
    char text[1][SECTION_TEXT_BYTES] = { "" };
    if (!buf_failed(&user)) {
        static const char *const newline[] = { "\n" };
        jen1_text_generate_params gp = jen1_text_generate_default_params(job->w->lm);
        gp.max_new_tokens = TITLE_MAX_TOKENS;
        gp.stop_strings = newline;
        gp.n_stop_strings = 1;
        const char *users[] = { user.data };
        const int field = 0;
        generate_batch(job, "title", users, &field, 1, gp, text);
    }
    buf_free(&user);
    char *t = text[0];
    lyrics_clean_line(t);
    strip_quotes(t);
    size_t n = strlen(t);
    if (n > 0 && t[n - 1] == '.') t[n - 1] = '\0'; /* a title is not a sentence */
    fit_words(t, cap);
    snprintf(title, cap, "%s", t);
    return 0;
}

/* A later chorus sings the first chorus' lines again (cycled when it is
 * longer): the hook repeats, and costs no model time. Returns the lines
 * copied, 0 when there is no earlier chorus with lines. */
static int repeat_chorus(const lyric_request *req, char lines[][PLAN_LINE_BYTES])
{
    const song_plan *plan = req->plan;
    for (int i = 0; i < req->section; i++) {
        const plan_section *s = &plan->sections[i];
        if (strcmp(s->name, "chorus") != 0 || s->n_lines == 0) continue;
        for (int j = 0; j < req->n_lines; j++) memcpy(lines[j], s->lines[j % s->n_lines], PLAN_LINE_BYTES);
        return req->n_lines;
    }
    return 0;
}

/* Whether a reply's line is a label ("[Verse 1]", "Chorus:") rather than
 * words to sing. */
static int is_label(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && ((s[0] == '[' && s[n - 1] == ']') || (s[n - 1] == ':' && !strchr(s, ' ')));
}

/* A section's reply as its lines: one per line of text, blank lines and
 * labels skipped, each cleaned and fitted. Returns how many. */
static int split_lines(char *text, const lyric_request *req, char lines[][PLAN_LINE_BYTES])
{
    int n = 0;
    for (char *line = text, *next; line && n < req->n_lines; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        lyrics_clean_line(line);
        strip_quotes(line);
        if (!line[0] || is_label(line)) continue;
        fit_words(line, PLAN_LINE_BYTES);
        snprintf(lines[n++], PLAN_LINE_BYTES, "%s", line);
    }
    return n;
}

/* One round: every section not a repeated chorus is one request of a single
 * batch, n lines of at most LINE_MAX_TOKENS tokens each, by construction. */
static int model_write_lines(void *ctx, const lyric_request *reqs, int n, lyric_lines *lines, int *written,
                             char *err, size_t errlen)
{
    writer_job *job = ctx;
    (void)err;
    (void)errlen;
    buf users[PLAN_MAX_SECTIONS];
    const char *prompts[PLAN_MAX_SECTIONS];
    int fields[PLAN_MAX_SECTIONS], which[PLAN_MAX_SECTIONS], asked = 0, most_lines = 1, failed = 0;
    for (int i = 0; i < n && i < PLAN_MAX_SECTIONS; i++) {
        const lyric_request *req = &reqs[i];
        const song_plan *plan = req->plan;
        const char *name = plan->sections[req->section].name;
        written[i] = 0;
        if (strcmp(name, "chorus") == 0 && req->ordinal > 0 && (written[i] = repeat_chorus(req, lines[i])) > 0)
            continue;
        char label[32];
        section_label(plan, req->section, label, sizeof label);
        buf *u = &users[asked];
        *u = (buf)BUF_INIT;
        put_song(u, req->narrative, req->narrative_len, plan);
        buf_printf(u,
                   "Write the %s: %d line%s, %s. Write in the language of the story, one line of lyrics per line, "
                   "each under ten words. Reply with the lines only.",
                   label, req->n_lines, req->n_lines == 1 ? "" : "s", section_role(name, req->ordinal));
        failed |= buf_failed(u);
        prompts[asked] = u->data;
        fields[asked] = 1 + req->section;
        which[asked++] = i;
        if (req->n_lines > most_lines) most_lines = req->n_lines;
    }
    if (asked > 0 && !failed) {
        char texts[PLAN_MAX_SECTIONS][SECTION_TEXT_BYTES];
        jen1_text_generate_params gp = jen1_text_generate_default_params(job->w->lm);
        gp.max_lines = most_lines;
        gp.max_line_tokens = LINE_MAX_TOKENS;
        /* Room for every line, its newline, and a few blank or label lines. */
        gp.max_new_tokens = most_lines * (LINE_MAX_TOKENS + 1) + 8;
        generate_batch(job, "lines", prompts, fields, asked, gp, texts);
        for (int k = 0; k < asked; k++) written[which[k]] = split_lines(texts[k], &reqs[which[k]], lines[which[k]]);
    }
    for (int k = 0; k < asked; k++) buf_free(&users[k]);
    return 0;
}

/* The option the model finds likeliest as the answer (the first on a tie),
 * or -1 (the rules' choice stands) when it cannot score them. */
static int model_choose(void *ctx, const char *narrative, size_t len, const song_plan *plan, const char *what,
                        const char *const *options, int n_options)
{
    writer_job *job = ctx;
    if (n_options < 1 || (job->should_stop && job->should_stop(job->user))) return -1;
    double t = clock_monotonic_s();
    char err[512] = "";
    buf user = BUF_INIT;
    put_song(&user, narrative, len, plan);
    buf_printf(&user, "\nWhich %s fits a song telling this story? Answer with one of: ", what);
    for (int i = 0; i < n_options; i++) buf_printf(&user, "%s%s", i ? ", " : "", options[i]);
    buf_puts(&user, ".");
    int64_t *prompt = NULL, *option_ids[16] = { 0 };
    int n_prompt = 0, n_ids[16] = { 0 }, pick = -1, ok = n_options <= 16 && !buf_failed(&user);
    double logprobs[16];
    if (ok) ok = chat_ids(job->w, user.data, &prompt, &n_prompt, err, sizeof err) == 0;
    for (int i = 0; ok && i < n_options; i++) {
        int cap = (int)strlen(options[i]) + 1;
        option_ids[i] = malloc((size_t)cap * sizeof **option_ids);
        ok = option_ids[i] && jen1_text_tokenize(job->w->lm, options[i], strlen(options[i]), 0, option_ids[i], cap,
                                                 &n_ids[i], err, sizeof err) == JEN1_OK;
    }
    if (ok) ok = writer_batch_score(job->w->batch, job->order, job_cache(job), prompt, n_prompt,
                                    (const int64_t *const *)option_ids, n_ids, n_options, logprobs, err,
                                    sizeof err) == JEN1_OK;
    for (int i = 0; ok && i < n_options; i++)
        if (pick < 0 || logprobs[i] > logprobs[pick]) pick = i;
    for (int i = 0; i < n_options && i < 16; i++) free(option_ids[i]);
    free(prompt);
    buf_free(&user);
    job->generations++;
    job->seconds += clock_monotonic_s() - t;
    if (!ok) {
        job->failures++;
        log_kv(LOG_WARN, "writer: the rules choose what the model could not", LOG_STR("field", what),
               LOG_STR("error", err[0] ? err : "too many options"));
    }
    return ok ? pick : -1;
}

lyric_source writer_source(writer *w, uint64_t seed, int (*should_stop)(void *user), void *user, writer_job *job)
{
    *job = (writer_job){ .w = w, .seed = seed, .should_stop = should_stop, .user = user,
                         .order = atomic_fetch_add(&w->jobs, 1) };
    return (lyric_source){ .name = "model", .model = writer_model_name(w), .ctx = job,
                           .write_title = model_write_title, .write_lines = model_write_lines,
                           .choose = model_choose };
}

void writer_job_end(writer_job *job)
{
    jen1_text_cache_free(job->cache);
    job->cache = NULL;
}
