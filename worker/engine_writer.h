/* engine_writer.h - the song's words from a language model: a lyric_source
 * (common/song/lyrics.h) over the text engine (jen1_text.h). With it the
 * planner asks the model for the title and each sung section's lines, and
 * may let it choose the mood and the genre among the planner's own options.
 *
 *     writer_options wo = {.model_dir = dir, .threads = 2, .device = JEN1_DEVICE_AUTO};
 *     writer *wr = writer_open(&wo, err, sizeof err);     // NULL: serve with the rules
 *     writer_job job;
 *     lyric_source src = writer_source(wr, req.seed, NULL, NULL, &job);
 *     plan_song(&req, &src, &plan, err, sizeof err);
 *     writer_job_end(&job);
 *
 * The title is one bounded generation (the checkpoint's chat template, a
 * token budget, stop at a newline or an EOS, special tokens banned); each of
 * the planner's rounds is one batch, a section per row, each row stopped
 * after its lines, every line ended by a newline within LINE_MAX_TOKENS
 * tokens. Every job's calls go to one text session that decodes them
 * together (engine_writer_batch.h), on a thread of the writer's own or in
 * turns of its owner's loop: jobs planned at the same time, each on its own thread,
 * share the model's decode steps. Rows are sampled with the checkpoint's generation_config from a
 * seed derived from the job's seed and the field's index, and every prompt
 * begins alike so that the job's prompt cache (jen1_text.h) computes the
 * story once: the same job gives the same words on any host.
 * A field whose generation fails is written empty (and logged), and the
 * planner's rules fill it: the writer never fails a plan. The prompts, the
 * bounds and the chorus rule are docs/planner.md's "The writer". */
#ifndef JEN1_WORKER_ENGINE_WRITER_H
#define JEN1_WORKER_ENGINE_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "jen1_text.h"
#include "lyrics.h"

typedef struct writer writer;

typedef struct writer_options {
    const char *model_dir;  /* a Hugging Face checkpoint directory (Qwen2 family) */
    int threads;            /* <= 0: all cores */
    jen1_device device;
    jen1_weight_type weights; /* the worker's JEN1_WEIGHTS; the text engine takes int8 as
                                 bf16 (jen1_text.h) */
    /* Who runs the model. 0: a thread of the writer's own (cpu_threads CPU
     * threads; <= 0: threads). Nonzero: the owner, calling writer_turn from its
     * own loop (the worker's decode loop, so that the two models take turns on
     * the same cores); wake (may be NULL) is called with wake_user whenever a
     * job posts a call, so that a loop waiting for other work turns at once. */
    int cpu_threads;
    int turned_by_owner;
    void (*wake)(void *user);
    void *wake_user;
} writer_options;

/* Loads the model and starts the thread that runs it. Returns NULL with the
 * reason. Any number of threads may then write jobs' words at once. */
writer *writer_open(const writer_options *options, char *err, size_t errlen);
/* With turned_by_owner: runs one turn of the model's work
 * (engine_writer_batch.h); *stepped_rows (may be NULL) gets the rows of the
 * decode step it ran (0: none). Returns 1 while there is work, 0 when idle.
 * One thread at a time. */
int writer_turn(writer *w, int *stepped_rows);

/* Stops the thread (after the calls in progress) and frees the model. */
void writer_close(writer *w);

/* The model's name (its directory's last component) and device. */
const char *writer_model_name(const writer *w);
const char *writer_device(const writer *w);

/* One job's words in progress: the source's state, and what it did. */
typedef struct writer_job {
    writer *w;
    uint64_t seed;                 /* the job's */
    long long order;               /* its place among the jobs this writer served: older jobs'
                                      calls go first (engine_writer_batch.h) */
    int (*should_stop)(void *user); /* polled between tokens; may be NULL */
    void *user;
    int generations;               /* model calls made (a round's sections are one) */
    int tokens;                    /* new tokens written, all rows together */
    int failures;                  /* of which failed (their fields went to the rules) */
    int most_rows;                 /* the most rows of a decode step of its, all jobs' together */
    double seconds;                /* spent in the model */
    jen1_text_cache *cache;        /* the job's prompt cache, made on first use */
} writer_job;

/* A lyric source writing with w for a job of this seed; its ctx is job,
 * which must outlive the source's use. should_stop (may be NULL) aborts a
 * generation: the fields left are then the rules'. */
lyric_source writer_source(writer *w, uint64_t seed, int (*should_stop)(void *user), void *user, writer_job *job);

/* Frees what the job kept between fields (its prompt cache). */
void writer_job_end(writer_job *job);

#endif
