/* engine_writer_batch.h - every job's words through one text session
 * (jen1_text.h), so that jobs planning at the same time share each decode
 * step of the language model instead of taking turns.
 *
 *     writer_batch *b = writer_batch_start(lm, 2, err, sizeof err);   // a thread of its own
 *     // on any number of threads, each call blocking until its own result:
 *     writer_batch_generate(b, job_order, reqs, n, &gp, &out, NULL, err, sizeof err);
 *     writer_batch_score(b, job_order, cache, prompt, n_prompt, options, n_ids, n_options, logprobs,
 *                        err, sizeof err);
 *     writer_batch_stop(b);   // after the last call has returned
 *
 * or, without a thread, driven by a loop that has other engine work (the
 * worker's decode loop: on a CPU the language model and the music model
 * then take turns on the same cores with one OpenMP team, and the text
 * model's passes use every core while the music batch is empty):
 *
 *     writer_batch *b = writer_batch_new(lm, wake_my_loop, loop, err, sizeof err);
 *     for (;;) { ...; int busy = writer_batch_turn(b, NULL); ...wait only if !busy... }
 *
 * A generation joins the session at a step boundary and leaves it when its
 * rows are done: the same results as jen1_text_generate's (what the session
 * promises). A scoring is one pass, run between steps. One call starts at
 * each turn, the one of the lowest priority (the oldest job's: callers pass
 * their job's order), so that with many jobs planning the oldest tends to
 * finish first while the generations of all of them share the steps. The
 * callbacks of a call's params (its abort) run on the turning thread. */
#ifndef JEN1_WORKER_ENGINE_WRITER_BATCH_H
#define JEN1_WORKER_ENGINE_WRITER_BATCH_H

#include <stddef.h>

#include "jen1_text.h"

typedef struct writer_batch writer_batch;

/* A batch over lm (which must outlive it) without a thread: the owner calls
 * writer_batch_turn. wake (may be NULL) is called, on the posting thread,
 * whenever a call is posted, so that an owner waiting for other work can
 * turn at once. Returns NULL with the reason. */
writer_batch *writer_batch_new(const jen1_text_model *lm, void (*wake)(void *user), void *wake_user, char *err,
                               size_t errlen);

/* One turn (one thread at a time, the batch's own if it has one): starts the
 * oldest posted call, steps every generation in the session once, and
 * hands back the calls that are done. *stepped_rows (may be NULL): the rows
 * of the step it ran, 0 if none. Returns 1 while calls are running or
 * waiting, 0 when the batch is idle. */
int writer_batch_turn(writer_batch *b, int *stepped_rows);

/* Starts a batch with a thread of its own over lm (which must outlive the batch); its engine work
 * runs on cpu_threads (>= 1) CPU threads (jen1_thread_set_cpu_threads).
 * Returns NULL with the reason. */
writer_batch *writer_batch_start(const jen1_text_model *lm, int cpu_threads, char *err, size_t errlen);

/* Stops the thread, if any (it finishes what was posted first), and frees
 * the batch. NULL is allowed. */
void writer_batch_stop(writer_batch *b);

/* jen1_text_generate through the batch: blocks until the call is done.
 * *most_rows (may be NULL): the most rows, all calls together, of a step
 * the call was in - how much it was batched. */
jen1_status writer_batch_generate(writer_batch *b, long long priority, const jen1_text_request *requests,
                                  int n_requests, const jen1_text_generate_params *params, jen1_text_output **out,
                                  int *most_rows, char *err, size_t errlen);

/* jen1_text_score_options through the batch: blocks until it is done. */
jen1_status writer_batch_score(writer_batch *b, long long priority, jen1_text_cache *cache, const int64_t *prompt_ids,
                               int n_prompt_ids, const int64_t *const *option_ids, const int *n_option_ids,
                               int n_options, double *logprobs, char *err, size_t errlen);

/* Where the batch's thread spent its time so far (for logs and benchmarks). */
typedef struct writer_batch_stats {
    long long steps;        /* decode steps */
    long long rows;         /* rows over all steps (rows / steps: the mean batch) */
    double step_s;          /* in steps */
    double join_s;          /* in joins: prefills of generations' prompts, first tokens */
    double score_s;         /* in scorings */
} writer_batch_stats;
void writer_batch_get_stats(writer_batch *b, writer_batch_stats *out);

#endif
