/* jen1_text.h - jen1's text engine: an instruct language model (Qwen2 family)
 * on LibTorch, behind a plain-C API in the style of jen1.h.
 *
 * It loads a Hugging Face causal-LM checkpoint directory as published
 * (Qwen/Qwen2.5-0.5B-Instruct and its family: config.json, generation_config.json,
 * model.safetensors, tokenizer.json or vocab.json + merges.txt,
 * tokenizer_config.json), tokenizes with the checkpoint's byte-level BPE,
 * renders its chat template, and generates text. The planner uses it to write
 * a song's words (common/song/); build/jen1-write is its command-line door.
 *
 * Usage:
 *
 *     char err[512];
 *     jen1_text_model *lm;
 *     jen1_text_model_params mp = jen1_text_model_default_params();
 *     if (jen1_text_model_load("/var/lib/jen1/models/qwen2.5-0.5b-instruct", &mp, &lm,
 *                              err, sizeof err) != JEN1_OK) { ... }
 *     jen1_chat_message chat[] = { {"system", "You write song lyrics."},
 *                                  {"user", "A title for a song about the sea."} };
 *     char *prompt;
 *     jen1_text_chat_render(lm, chat, 2, 1, &prompt, err, sizeof err);
 *     int64_t ids[2048];
 *     int n;
 *     jen1_text_tokenize(lm, prompt, 1, ids, 2048, &n, err, sizeof err);
 *     jen1_free(prompt);
 *     jen1_text_request req = { .prompt_ids = ids, .n_prompt_ids = n, .seed = 7 };
 *     jen1_text_generate_params gp = jen1_text_generate_default_params(lm);
 *     gp.max_new_tokens = 24;
 *     gp.stop_strings = (const char *[]){"\n"};
 *     gp.n_stop_strings = 1;
 *     jen1_text_output *out;
 *     if (jen1_text_generate(lm, &req, 1, &gp, &out, err, sizeof err) == JEN1_OK)
 *         puts(out->items[0].text);        // the reply, stop string removed
 *     jen1_text_output_free(out);
 *
 *     // Many requests over one conversation: a prompt cache computes the
 *     // beginning they share once (see "Prompt caches" below).
 *     jen1_text_cache *cache;
 *     jen1_text_cache_new(lm, &cache, err, sizeof err);
 *     gp.cache = cache;                    // then generate as above, any number of times
 *     jen1_text_cache_free(cache);
 *     jen1_text_model_free(lm);
 *
 * Errors, threads, ownership and symbols are as jen1.h says: statuses and an
 * err buffer, no exception crosses this header; a loaded jen1_text_model is
 * read-only and any number of threads may generate with it at once, each call
 * keeping its own KV cache and RNG; what is handed out is freed with the
 * function named for it (strings with jen1_free). The weights file is
 * memory-mapped and shared between processes, as for the music model.
 */
#ifndef JEN1_TEXT_H
#define JEN1_TEXT_H

#include "jen1.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct jen1_text_model jen1_text_model;

typedef struct jen1_text_model_params {
    jen1_device device;
    int n_threads;             /* intra-op threads; <= 0 means all cores */
    jen1_weight_type weights;  /* JEN1_WEIGHTS_BF16: bf16 linear weights for
                                  the decode steps - a BF16 checkpoint's as
                                  mapped (no private copy), others a private
                                  bf16 copy; JEN1_WEIGHTS_INT8 is taken as
                                  BF16 here */
} jen1_text_model_params;

/* Defaults: JEN1_DEVICE_AUTO, all cores, fp32 weights. */
JEN1_API jen1_text_model_params jen1_text_model_default_params(void);

/* Loads a checkpoint directory whose config.json names an architecture jen1
 * runs (Qwen2ForCausalLM), its weights in model.safetensors or in the shards
 * model.safetensors.index.json names. Returns JEN1_OK and sets *out, or an error status
 * naming the file (and tensor or field) at fault, *out then NULL:
 * JEN1_ERR_IO (missing or unreadable file), JEN1_ERR_FORMAT (bad JSON, a
 * tensor missing or misshapen, a truncated file, broken merges),
 * JEN1_ERR_UNSUPPORTED (another architecture, or a feature such as a sliding
 * window), JEN1_ERR_DEVICE. */
JEN1_API jen1_status jen1_text_model_load(const char *dir, const jen1_text_model_params *params,
                                          jen1_text_model **out, char *err, size_t errlen);

/* Frees a model loaded by jen1_text_model_load. NULL is allowed. */
JEN1_API void jen1_text_model_free(jen1_text_model *model);

/* The checkpoint directory's last path component, e.g. "qwen2.5-0.5b-instruct"
 * (what a GeneratedSong names as its words' author). */
JEN1_API const char *jen1_text_model_name(const jen1_text_model *model);
/* config.json's model_type, e.g. "qwen2". */
JEN1_API const char *jen1_text_model_arch(const jen1_text_model *model);
/* Rows of the embedding (logits per step), e.g. 151936. */
JEN1_API int jen1_text_model_vocab_size(const jen1_text_model *model);
/* max_position_embeddings: prompt plus generated tokens must fit. */
JEN1_API int jen1_text_model_max_positions(const jen1_text_model *model);
/* "cpu" or "cuda:N". */
JEN1_API const char *jen1_text_model_device(const jen1_text_model *model);

/* ---- Tokens and text ---------------------------------------------------- */

/* Encodes UTF-8 text (len bytes; invalid UTF-8 is an error) with the
 * checkpoint's tokenizer. With parse_special, the special tokens' literal
 * texts ("<|im_start|>", ...) become their ids; without, they are ordinary
 * text. Nothing is prepended or appended. Writes up to max_ids ids and sets
 * *n_ids to the full count: JEN1_ERR_INVALID_ARGUMENT when it exceeds
 * max_ids (call again with a larger buffer). */
JEN1_API jen1_status jen1_text_tokenize(const jen1_text_model *model, const char *text, size_t len,
                                        int parse_special, int64_t *ids, int max_ids, int *n_ids,
                                        char *err, size_t errlen);

/* Decodes ids to UTF-8 (invalid byte sequences become U+FFFD, as the
 * reference's errors="replace"); skip_special drops the special tokens.
 * *out is NUL-terminated, freed with jen1_free. An id outside the vocabulary
 * is JEN1_ERR_INVALID_ARGUMENT. */
JEN1_API jen1_status jen1_text_detokenize(const jen1_text_model *model, const int64_t *ids, int n_ids,
                                          int skip_special, char **out, char *err, size_t errlen);

/* One chat message: role "system", "user" or "assistant"; content UTF-8. */
typedef struct jen1_chat_message {
    const char *role;
    const char *content;
} jen1_chat_message;

/* Renders messages with the checkpoint family's chat template (ChatML for
 * Qwen2, with its default system prompt when the first message is not a
 * system one), ending with the assistant's generation prompt when
 * add_generation_prompt. *out is freed with jen1_free. */
JEN1_API jen1_status jen1_text_chat_render(const jen1_text_model *model, const jen1_chat_message *messages,
                                           int n_messages, int add_generation_prompt, char **out,
                                           char *err, size_t errlen);

/* ---- Prompt caches ------------------------------------------------------ */

/* A prompt cache keeps the keys and values of the prompt beginning that a
 * caller's calls share, so that a later call computes only the tokens after
 * it (as llama.cpp's prompt cache does). A caller that drives one chat
 * through many requests - the writer asks for a song's title and then its
 * sections with the same system message and story in front - prefills that
 * beginning once instead of once per request.
 *
 * Passed to jen1_text_generate (params.cache) or jen1_text_score_options, a
 * cache is brought to the longest beginning that every request of the call
 * shares (all but each prompt's last token at most): what it already holds
 * of that beginning is kept, the rest of what it holds is dropped, what is
 * missing is computed in one pass, and every row of the call starts from a
 * copy of it. The results are those of the same call without a cache, up to
 * float rounding (the beginning is computed in a separately shaped pass); a
 * fixed sequence of calls on one cache gives the same tokens every time.
 *
 * A cache belongs to one model and is used by one call at a time (it is a
 * request's state, as jen1_text_output is); different caches may be used on
 * one model by any number of threads at once. */
typedef struct jen1_text_cache jen1_text_cache;

/* A new, empty cache for model, which must outlive it. Returns JEN1_OK and
 * sets *out, or JEN1_ERR_NO_MEMORY / JEN1_ERR_INVALID_ARGUMENT. */
JEN1_API jen1_status jen1_text_cache_new(const jen1_text_model *model, jen1_text_cache **out, char *err,
                                         size_t errlen);

/* Frees a cache. NULL is allowed. */
JEN1_API void jen1_text_cache_free(jen1_text_cache *cache);

/* The number of prompt tokens the cache holds now. */
JEN1_API int jen1_text_cache_tokens(const jen1_text_cache *cache);

/* ---- Generation --------------------------------------------------------- */

/* The logits processors, applied in the reference's order: repetition
 * penalty (prompt and generated ids), then when sampling temperature, top-k,
 * top-p, and a draw; greedy takes the argmax of the penalised scores. */
typedef struct jen1_text_sampling {
    int greedy;                /* nonzero: argmax, ignoring the three below */
    float temperature;         /* > 0 */
    int top_k;                 /* 0 = off */
    float top_p;               /* 1 = off */
    float repetition_penalty;  /* 1 = off */
} jen1_text_sampling;

typedef enum jen1_text_finish {
    JEN1_TEXT_FINISH_EOS = 0,     /* emitted one of the model's EOS ids */
    JEN1_TEXT_FINISH_STOP = 1,    /* the text reached one of stop_strings */
    JEN1_TEXT_FINISH_LENGTH = 2   /* max_new_tokens, or the position table */
} jen1_text_finish;

typedef struct jen1_text_generate_params {
    jen1_text_sampling sampling;  /* defaults: generation_config.json */
    int max_new_tokens;           /* > 0; default 256 */
    /* Stop as soon as the decoded new text contains one of these (the item's
     * text ends before it). */
    const char *const *stop_strings;
    int n_stop_strings;
    /* Nonzero: the special tokens other than the EOS ids, and the embedding's
     * padding rows no token has, are never chosen (their scores are set to
     * -inf after the repetition penalty, before temperature, top-k and top-p,
     * where the reference's suppress_tokens sits, so a draw always has a
     * token left). */
    int ban_special;
    /* Lines (0 = off, both): stop once the new text holds max_lines lines -
     * non-empty, each ended by a newline - the item's text ending with the
     * last of them, its newline cut (JEN1_TEXT_FINISH_STOP); and when a line
     * has run max_line_tokens tokens without a newline, the next token is
     * the newline, forced rather than drawn. So a reply of n lines of bounded
     * length comes out of any model, by construction. max_line_tokens needs
     * a tokenizer whose "\n" is one token (JEN1_ERR_INVALID_ARGUMENT if not). */
    int max_lines;
    int max_line_tokens;
    jen1_text_cache *cache;       /* NULL, or a prompt cache to reuse and keep */
    jen1_abort_callback abort;    /* polled between steps (jen1.h) */
    void *abort_user_data;
} jen1_text_generate_params;

/* Defaults from the checkpoint's generation_config.json (do_sample,
 * temperature, top_k, top_p, repetition_penalty; transformers' defaults where
 * a field is absent), max_new_tokens 256, no stop strings, ban_special 0, no
 * line limits, no cache. */
JEN1_API jen1_text_generate_params jen1_text_generate_default_params(const jen1_text_model *model);

typedef struct jen1_text_request {
    const int64_t *prompt_ids;  /* the prompt's tokens (e.g. a rendered chat) */
    int n_prompt_ids;           /* >= 1 */
    uint64_t seed;              /* the request's random stream: the same seed,
                                   prompt and parameters give the same tokens,
                                   alone or in any batch */
} jen1_text_request;

typedef struct jen1_text_output_item {
    int64_t *ids;               /* new tokens, up to and including the EOS that ended them */
    int n_ids;
    char *text;                 /* ids decoded without special tokens, cut before a stop string
                                   (a NUL byte in it is written as U+FFFD) */
    jen1_text_finish finish;
} jen1_text_output_item;

typedef struct jen1_text_output {
    jen1_text_output_item *items;  /* one per request, in order */
    int n_items;
} jen1_text_output;

/* Generates a reply for each request, the batch decoded together (prompts
 * left-padded, one prefill pass, then one step per token for every row not
 * yet finished; finished rows leave the batch). A row that reaches the end
 * of the position table stops with JEN1_TEXT_FINISH_LENGTH. Returns JEN1_OK
 * with *out, or an error with *out NULL: JEN1_ERR_INVALID_ARGUMENT (bad ids
 * or parameters), JEN1_ERR_TOO_LONG (a prompt that fills the position table
 * by itself), JEN1_ERR_ABORTED. */
JEN1_API jen1_status jen1_text_generate(const jen1_text_model *model, const jen1_text_request *requests,
                                        int n_requests, const jen1_text_generate_params *params,
                                        jen1_text_output **out, char *err, size_t errlen);

/* Frees an output and everything it points to. NULL is allowed. */
JEN1_API void jen1_text_output_free(jen1_text_output *out);

/* ---- Sessions: many calls, one pass -------------------------------------- */

/* A text session decodes the calls of many callers together and lets them
 * come and go between steps (continuous batching, as jen1_session does for
 * music): a decode step of a small language model reads all its weights for
 * each token, so one step for eight rows costs little more than one for one.
 * A call is what jen1_text_generate takes - requests (sharing parameters and
 * a prompt cache) - and is one slot of the session. jen1_text_generate is
 * one call through a session of one slot.
 *
 *     jen1_text_session *s;
 *     jen1_text_session_new(lm, 8, &s, err, sizeof err);        // 8 slots
 *     int slot;
 *     if (jen1_text_session_join(s, reqs, n, &gp, &slot, err, sizeof err) != JEN1_OK) ...
 *     while (jen1_text_session_running(s) > 0) {
 *         if (jen1_text_session_step(s, err, sizeof err) != JEN1_OK) ...  // the pass failed
 *         // ... join other calls here, as they come ...
 *         for (int i = 0; i < 8; i++)
 *             if (jen1_text_session_slot_done(s, i) == 1) {
 *                 jen1_text_output *out;
 *                 jen1_status st = jen1_text_session_leave(s, i, &out, err, sizeof err);
 *                 ...            // st: the call's own outcome, out as jen1_text_generate's
 *                 jen1_text_output_free(out);
 *             }
 *     }
 *     jen1_text_session_free(s);
 *
 * A joined call's prompts are prefilled at the join (from its prompt cache,
 * as jen1_text_generate does) and its rows' first tokens drawn; every step
 * then gives one token to every unfinished row of every call, each row at
 * its own position, with its call's sampling, stops, line limits, budget and
 * ban, from its own random stream, and a finished row leaves the pass. A
 * call's tokens do not depend on what else is in the session except through
 * float rounding (the products of a pass of other rows and columns round
 * differently): tested equal alone and batched on the tiny model; on a
 * large model a near tie may rarely go the other way. A call that is
 * aborted (its params.abort, polled at every step), cancelled (left while
 * running) or rejected at its join ends alone; the others go on.
 *
 * Threads: a session is used by one thread at a time (any number of sessions
 * may share a model); callbacks run on that thread, inside step. */
typedef struct jen1_text_session jen1_text_session;

/* A session of max_slots slots (1 to 256) over a loaded model, which must
 * outlive it. Returns JEN1_OK and sets *out, or JEN1_ERR_INVALID_ARGUMENT /
 * JEN1_ERR_NO_MEMORY (*out NULL). */
JEN1_API jen1_status jen1_text_session_new(const jen1_text_model *model, int max_slots, jen1_text_session **out,
                                           char *err, size_t errlen);
/* Frees a session with whatever its slots still hold. NULL is allowed. */
JEN1_API void jen1_text_session_free(jen1_text_session *session);
/* Checks a call as jen1_text_generate does, prefills it, draws its rows'
 * first tokens, and puts it in a free slot (*slot; -1 on error). Errors are
 * jen1_text_generate's for the call (the session is then unchanged), or
 * JEN1_ERR_INVALID_ARGUMENT when every slot is taken. params is copied and
 * params->cache is used during the join only; the stop strings and the
 * abort callback's user data must live until the slot is left. A call all
 * of whose rows finish at their first token is done at once. */
JEN1_API jen1_status jen1_text_session_join(jen1_text_session *session, const jen1_text_request *requests,
                                            int n_requests, const jen1_text_generate_params *params, int *slot,
                                            char *err, size_t errlen);
/* Gives every running row one token (each call's abort polled first: an
 * aborted call is done with JEN1_ERR_ABORTED). Returns JEN1_OK (also with
 * nothing to do), or the failure of the shared pass, which ends every call
 * that was running with it (their leave returns it); the session stays
 * usable. */
JEN1_API jen1_status jen1_text_session_step(jen1_text_session *session, char *err, size_t errlen);
/* Calls joined and not yet done. */
JEN1_API int jen1_text_session_running(const jen1_text_session *session);
/* Rows in the next step, all calls together. */
JEN1_API int jen1_text_session_rows(const jen1_text_session *session);
/* 1: the slot's call is done (well or not) and waits to be left; 0: it is
 * running; -1: the slot holds nothing. */
JEN1_API int jen1_text_session_slot_done(const jen1_text_session *session, int slot);
/* Frees the slot and gives its call's outcome: JEN1_OK and *out (as
 * jen1_text_generate's), or the status it ended with and why (*out NULL):
 * JEN1_ERR_ABORTED (its abort, or left while running: a cancel), or a failed
 * step's. JEN1_ERR_INVALID_ARGUMENT for a slot that holds nothing. out may
 * be NULL to discard the result. */
JEN1_API jen1_status jen1_text_session_leave(jen1_text_session *session, int slot, jen1_text_output **out,
                                             char *err, size_t errlen);

/* The log-likelihood under the model of each option continuing a prompt:
 * logprobs[i] = sum over option i's tokens of log p(token | prompt, earlier
 * tokens of the option), from the raw logits (no processors). For choosing
 * among a fixed set of answers: always one of them, deterministic. Options
 * are scored in one batch, after the prompt (all but its last token) has
 * been computed once; cache (may be NULL) is a prompt cache to start from
 * and keep, as for jen1_text_generate. */
JEN1_API jen1_status jen1_text_score_options(const jen1_text_model *model, jen1_text_cache *cache,
                                             const int64_t *prompt_ids,
                                             int n_prompt_ids, const int64_t *const *option_ids,
                                             const int *n_option_ids, int n_options, double *logprobs,
                                             char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif /* JEN1_TEXT_H */
