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
 * tokens. Rows are sampled with the checkpoint's generation_config from a
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
} writer_options;

/* Loads the model. Returns NULL with the reason. */
writer *writer_open(const writer_options *options, char *err, size_t errlen);
void writer_close(writer *w);

/* The model's name (its directory's last component) and device. */
const char *writer_model_name(const writer *w);
const char *writer_device(const writer *w);

/* One job's words in progress: the source's state, and what it did. */
typedef struct writer_job {
    writer *w;
    uint64_t seed;                 /* the job's */
    int (*should_stop)(void *user); /* polled between tokens; may be NULL */
    void *user;
    int generations;               /* model calls made (a round's sections are one) */
    int tokens;                    /* new tokens written, all rows together */
    int failures;                  /* of which failed (their fields went to the rules) */
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
