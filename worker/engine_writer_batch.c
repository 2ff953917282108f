/* engine_writer_batch.c - see engine_writer_batch.h. Callers post calls to
 * an inbox and wait on their own done flag; each turn (on the batch's own thread, or the
 * owner's) starts the oldest caller's call (a scoring runs there and then; a
 * generation joins the session), runs one step for every call in the
 * session, and hands back each call that finished. */
#include "engine_writer_batch.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"
#include "util.h"

/* Calls in the session at once: more than the jobs a worker plans together. */
#define WRITER_BATCH_SLOTS 64

typedef enum { CALL_GENERATE, CALL_SCORE } call_kind;

typedef struct writer_call {
    call_kind kind;
    long long priority;  /* lower first: the caller's age */
    /* CALL_GENERATE */
    const jen1_text_request *requests;
    int n_requests;
    const jen1_text_generate_params *params;
    jen1_text_output *out;
    /* CALL_SCORE */
    jen1_text_cache *cache;
    const int64_t *prompt;
    int n_prompt;
    const int64_t *const *options;
    const int *n_option_ids;
    int n_options;
    double *logprobs;
    /* the outcome */
    int most_rows;  /* the most rows of a step it was in, all calls together */
    jen1_status st;
    char err[512];
    int done;
    struct writer_call *next;
} writer_call;

struct writer_batch {
    const jen1_text_model *lm;
    int cpu_threads;
    jen1_text_session *session;
    void (*wake)(void *user);                 /* without a thread: tells the owner a call came */
    void *wake_user;
    int threaded;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t work;  /* the thread, if any, waits for calls */
    pthread_cond_t done;  /* callers wait for theirs */
    writer_call *inbox;                       /* in posting order */
    int stopping;
    writer_call *running[WRITER_BATCH_SLOTS]; /* by session slot; the thread's own */
    writer_batch_stats stats;                 /* under lock */
};

/* Adds seconds since *t to one of the stats, and restarts *t. */
static void stats_add(writer_batch *b, double *field, double *t)
{
    double now = clock_monotonic_s();
    pthread_mutex_lock(&b->lock);
    *field += now - *t;
    pthread_mutex_unlock(&b->lock);
    *t = now;
}

static void call_finish(writer_batch *b, writer_call *c)
{
    pthread_mutex_lock(&b->lock);
    c->done = 1;
    pthread_cond_broadcast(&b->done);
    pthread_mutex_unlock(&b->lock);
}

/* A posted call: scored at once, or joined (finished at once when its rows
 * all ended at their first token, or when the join failed). */
static void call_begin(writer_batch *b, writer_call *c)
{
    double t = clock_monotonic_s();
    if (c->kind == CALL_SCORE) {
        c->st = jen1_text_score_options(b->lm, c->cache, c->prompt, c->n_prompt, c->options, c->n_option_ids,
                                        c->n_options, c->logprobs, c->err, sizeof c->err);
        stats_add(b, &b->stats.score_s, &t);
        call_finish(b, c);
        return;
    }
    int slot = -1;
    c->st = jen1_text_session_join(b->session, c->requests, c->n_requests, c->params, &slot, c->err, sizeof c->err);
    stats_add(b, &b->stats.join_s, &t);
    if (c->st != JEN1_OK) {
        call_finish(b, c);
        return;
    }
    b->running[slot] = c;
}

/* Hands back every call whose rows are all done. */
static void calls_collect(writer_batch *b)
{
    for (int slot = 0; slot < WRITER_BATCH_SLOTS; slot++) {
        writer_call *c = b->running[slot];
        if (!c || jen1_text_session_slot_done(b->session, slot) != 1) continue;
        b->running[slot] = NULL;
        c->st = jen1_text_session_leave(b->session, slot, &c->out, c->err, sizeof c->err);
        call_finish(b, c);
    }
}

static int calls_running(const writer_batch *b)
{
    int n = 0;
    for (int slot = 0; slot < WRITER_BATCH_SLOTS; slot++) n += b->running[slot] != NULL;
    return n;
}

/* Unlinks and returns the inbox's call of the lowest priority (the first
 * of equals), a generation only when can_join; NULL if none. Under lock. */
static writer_call *take_oldest(writer_batch *b, int can_join)
{
    writer_call **best = NULL;
    for (writer_call **p = &b->inbox; *p; p = &(*p)->next)
        if ((can_join || (*p)->kind == CALL_SCORE) && (!best || (*p)->priority < (*best)->priority)) best = p;
    if (!best) return NULL;
    writer_call *c = *best;
    *best = c->next;
    c->next = NULL;
    return c;
}

int writer_batch_turn(writer_batch *b, int *stepped_rows)
{
    if (stepped_rows) *stepped_rows = 0;
    pthread_mutex_lock(&b->lock);
    /* One call a turn, the oldest caller's first (a prefill or a scoring is
     * a pass of its own that no batching shortens; taking them one between
     * steps lets the oldest job finish its words first while every
     * generation already in the session keeps stepping). A generation
     * waits for a free slot. */
    writer_call *c = take_oldest(b, calls_running(b) < WRITER_BATCH_SLOTS);
    pthread_mutex_unlock(&b->lock);
    if (c) call_begin(b, c);
    calls_collect(b); /* calls done at their join */
    const int rows = jen1_text_session_rows(b->session);
    for (int slot = 0; slot < WRITER_BATCH_SLOTS; slot++)
        if (b->running[slot] && b->running[slot]->most_rows < rows) b->running[slot]->most_rows = rows;
    if (rows > 0) {
        char err[512];
        double t = clock_monotonic_s();
        /* A failed pass ends the calls in it with its error: collected below. */
        (void)jen1_text_session_step(b->session, err, sizeof err);
        stats_add(b, &b->stats.step_s, &t);
        pthread_mutex_lock(&b->lock);
        b->stats.steps++;
        b->stats.rows += rows;
        pthread_mutex_unlock(&b->lock);
        if (stepped_rows) *stepped_rows = rows;
    }
    calls_collect(b);
    pthread_mutex_lock(&b->lock);
    int more = b->inbox != NULL || calls_running(b) > 0;
    pthread_mutex_unlock(&b->lock);
    return more;
}

/* The batch's own thread (writer_batch_start): turns while there is work. */
static void *writer_batch_main(void *arg)
{
    writer_batch *b = arg;
    jen1_thread_set_cpu_threads(b->cpu_threads);
    pthread_mutex_lock(&b->lock);
    for (;;) {
        while (!b->inbox && calls_running(b) == 0 && !b->stopping) pthread_cond_wait(&b->work, &b->lock);
        if (!b->inbox && calls_running(b) == 0 && b->stopping) break;
        pthread_mutex_unlock(&b->lock);
        writer_batch_turn(b, NULL);
        pthread_mutex_lock(&b->lock);
    }
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

writer_batch *writer_batch_new(const jen1_text_model *lm, void (*wake)(void *user), void *wake_user, char *err,
                               size_t errlen)
{
    writer_batch *b = calloc(1, sizeof *b);
    if (!b) {
        errbuf_printf(err, errlen, "writer batch: out of memory");
        return NULL;
    }
    b->lm = lm;
    b->wake = wake;
    b->wake_user = wake_user;
    if (jen1_text_session_new(lm, WRITER_BATCH_SLOTS, &b->session, err, errlen) != JEN1_OK) {
        free(b);
        return NULL;
    }
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->work, NULL);
    pthread_cond_init(&b->done, NULL);
    return b;
}

writer_batch *writer_batch_start(const jen1_text_model *lm, int cpu_threads, char *err, size_t errlen)
{
    writer_batch *b = writer_batch_new(lm, NULL, NULL, err, errlen);
    if (!b) return NULL;
    b->cpu_threads = cpu_threads;
    if (pthread_create(&b->thread, NULL, writer_batch_main, b) != 0) {
        errbuf_printf(err, errlen, "writer batch: cannot start its thread");
        writer_batch_stop(b);
        return NULL;
    }
    b->threaded = 1;
    return b;
}

void writer_batch_stop(writer_batch *b)
{
    if (!b) return;
    if (b->threaded) {
        pthread_mutex_lock(&b->lock);
        b->stopping = 1;
        pthread_cond_signal(&b->work);
        pthread_mutex_unlock(&b->lock);
        pthread_join(b->thread, NULL);
    }
    jen1_text_session_free(b->session);
    pthread_mutex_destroy(&b->lock);
    pthread_cond_destroy(&b->work);
    pthread_cond_destroy(&b->done);
    free(b);
}

/* Posts c and waits until the thread has finished it. */
static jen1_status call_run(writer_batch *b, writer_call *c, char *err, size_t errlen)
{
    pthread_mutex_lock(&b->lock);
    writer_call **tail = &b->inbox;
    while (*tail) tail = &(*tail)->next;
    *tail = c;
    pthread_cond_signal(&b->work);
    if (b->wake) b->wake(b->wake_user);
    while (!c->done) pthread_cond_wait(&b->done, &b->lock);
    pthread_mutex_unlock(&b->lock);
    if (c->st != JEN1_OK) errbuf_printf(err, errlen, "%s", c->err);
    return c->st;
}

jen1_status writer_batch_generate(writer_batch *b, long long priority, const jen1_text_request *requests,
                                  int n_requests, const jen1_text_generate_params *params, jen1_text_output **out,
                                  int *most_rows, char *err, size_t errlen)
{
    *out = NULL;
    writer_call c = {.kind = CALL_GENERATE, .priority = priority, .requests = requests, .n_requests = n_requests,
                     .params = params};
    jen1_status st = call_run(b, &c, err, errlen);
    *out = c.out;
    if (most_rows) *most_rows = c.most_rows;
    return st;
}

jen1_status writer_batch_score(writer_batch *b, long long priority, jen1_text_cache *cache, const int64_t *prompt_ids,
                               int n_prompt_ids, const int64_t *const *option_ids, const int *n_option_ids,
                               int n_options, double *logprobs, char *err, size_t errlen)
{
    writer_call c = {.kind = CALL_SCORE, .priority = priority, .cache = cache, .prompt = prompt_ids,
                     .n_prompt = n_prompt_ids, .options = option_ids, .n_option_ids = n_option_ids,
                     .n_options = n_options, .logprobs = logprobs};
    return call_run(b, &c, err, errlen);
}

void writer_batch_get_stats(writer_batch *b, writer_batch_stats *out)
{
    pthread_mutex_lock(&b->lock);
    *out = b->stats;
    pthread_mutex_unlock(&b->lock);
}
