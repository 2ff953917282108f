/* jen1-write - the text engine from the command line: a language model's
 * own front door, for trying a model (a song's words as the worker writes
 * them, or a chat's reply) and for parity checks (token ids, .npy dumps of
 * the generated ids and the processed scores). */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_writer.h"
#include "util.h"
#include "jen1_text_stages.h"
#include "messages.h"
#include "npy.h"
#include "planner.h"

typedef struct options {
    const char *model_dir;
    const char *narrative, *messages, *tokenize; /* exactly one */
    double duration;                             /* seconds, --narrative */
    unsigned long long seed;
    int greedy, max_tokens, threads, bf16;
    float temperature, top_p, repetition_penalty;
    int top_k;
    int set_temperature, set_top_p, set_repetition_penalty, set_top_k;
    const char *dump_ids, *dump_logits;
    jen1_device device;
} options;

static void usage(FILE *to)
{
    fprintf(to,
            "usage: jen1-write --model DIR --narrative TEXT [--duration S] [--seed N]\n"
            "       jen1-write --model DIR --messages FILE.json [generation options]\n"
            "       jen1-write --model DIR --tokenize TEXT\n"
            "\n"
            "Runs an instruct language model (a Hugging Face Qwen2 checkpoint directory:\n"
            "config.json, generation_config.json, model.safetensors, tokenizer files).\n"
            "\n"
            "  --model DIR            checkpoint directory (default $JEN1_TEXT_MODEL_DIR)\n"
            "  --narrative TEXT       plan a song of --duration seconds (default 30) and write its\n"
            "                         words as the worker does (same prompts, bounds and seeds);\n"
            "                         prints them as JSON: title, mood, genre, sections with lines\n"
            "  --messages FILE.json   a JSON array of {\"role\", \"content\"} rendered with the\n"
            "                         checkpoint's chat template and the generation prompt; prints\n"
            "                         the reply\n"
            "  --tokenize TEXT        prints the ids of TEXT as a JSON array (special tokens'\n"
            "                         literal texts become their ids)\n"
            "  --seed N               the job's seed (--narrative) or the generation's (default 0)\n"
            "  --greedy               argmax decoding (the repetition penalty still applies)\n"
            "  --max-tokens N         new tokens at most (default 256)\n"
            "  --temperature T        (> 0)   defaults: generation_config.json, as the reference\n"
            "  --top-k N              (0: off)\n"
            "  --top-p P              (0, 1]\n"
            "  --repetition-penalty X (> 0; 1: off)\n"
            "  --dump-ids FILE.npy    the generated ids, new tokens only, up to and including the\n"
            "                         EOS that ended them, int64 [n]\n"
            "  --dump-logits FILE.npy the processed scores of each step, float32 [steps, vocab]\n"
            "  --threads N            CPU threads (default: all cores)\n"
            "  --device auto|cpu|cuda\n"
            "  --bf16                 bf16 copies of the linear weights for decoding (not bit-exact)\n"
            "  --help\n");
}

static int parse_int(const char *flag, const char *s, long min, long max, long *out)
{
    if (parse_long_in(s, min, max, out) == 0) return 0;
    fprintf(stderr, "jen1-write: %s wants an integer in [%ld, %ld], not '%s'\n", flag, min, max, s);
    return -1;
}

static int parse_float(const char *flag, const char *s, float *out)
{
    double v;
    if (parse_finite_double(s, &v) == 0) {
        *out = (float)v;
        return 0;
    }
    fprintf(stderr, "jen1-write: %s wants a number, not '%s'\n", flag, s);
    return -1;
}

enum { OPT_NARRATIVE = 256, OPT_MESSAGES, OPT_TOKENIZE, OPT_DURATION, OPT_SEED, OPT_GREEDY, OPT_MAX_TOKENS,
       OPT_TEMP, OPT_TOPK, OPT_TOPP, OPT_REP, OPT_DUMP_IDS, OPT_DUMP_LOGITS, OPT_THREADS, OPT_DEVICE, OPT_BF16 };

/* A float flag's value within (lo, hi] (hi inclusive when closed). */
static int parse_ranged(const char *flag, const char *s, float lo, float hi, float *out, int *set)
{
    if (parse_float(flag, s, out)) return -1;
    if (!(*out > lo && *out <= hi)) {
        fprintf(stderr, "jen1-write: %s must be in (%g, %g], not '%s'\n", flag, lo, hi, s);
        return -1;
    }
    *set = 1;
    return 0;
}

static int parse_options(int argc, char **argv, options *o)
{
    static const struct option longopts[] = {
        {"model", required_argument, 0, 'm'},          {"narrative", required_argument, 0, OPT_NARRATIVE},
        {"messages", required_argument, 0, OPT_MESSAGES}, {"tokenize", required_argument, 0, OPT_TOKENIZE},
        {"duration", required_argument, 0, OPT_DURATION}, {"seed", required_argument, 0, OPT_SEED},
        {"greedy", no_argument, 0, OPT_GREEDY},         {"max-tokens", required_argument, 0, OPT_MAX_TOKENS},
        {"temperature", required_argument, 0, OPT_TEMP}, {"top-k", required_argument, 0, OPT_TOPK},
        {"top-p", required_argument, 0, OPT_TOPP},      {"repetition-penalty", required_argument, 0, OPT_REP},
        {"dump-ids", required_argument, 0, OPT_DUMP_IDS}, {"dump-logits", required_argument, 0, OPT_DUMP_LOGITS},
        {"threads", required_argument, 0, OPT_THREADS}, {"device", required_argument, 0, OPT_DEVICE},
        {"bf16", no_argument, 0, OPT_BF16},             {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->model_dir = getenv("JEN1_TEXT_MODEL_DIR");
    o->duration = 30;
    o->device = JEN1_DEVICE_AUTO;
    int c;
    long v;
    float f;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "m:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': o->model_dir = optarg; break;
        case OPT_NARRATIVE: o->narrative = optarg; break;
        case OPT_MESSAGES: o->messages = optarg; break;
        case OPT_TOKENIZE: o->tokenize = optarg; break;
        case OPT_DURATION:
            if (parse_float("--duration", optarg, &f) || !(f > 0 && f <= PLAN_MAX_DURATION_MS / 1000)) {
                fprintf(stderr, "jen1-write: --duration must be seconds in (0, %d]\n", PLAN_MAX_DURATION_MS / 1000);
                return -1;
            }
            o->duration = f;
            break;
        case OPT_SEED: {
            char *end;
            errno = 0;
            o->seed = strtoull(optarg, &end, 10);
            if (errno || *end || end == optarg || optarg[0] == '-') {
                fprintf(stderr, "jen1-write: --seed wants a non-negative integer, not '%s'\n", optarg);
                return -1;
            }
            break;
        }
        case OPT_GREEDY: o->greedy = 1; break;
        case OPT_MAX_TOKENS:
            if (parse_int("--max-tokens", optarg, 1, 1 << 20, &v)) return -1;
            o->max_tokens = (int)v;
            break;
        case OPT_TEMP:
            if (parse_ranged("--temperature", optarg, 0, INFINITY, &o->temperature, &o->set_temperature)) return -1;
            break;
        case OPT_TOPK:
            if (parse_int("--top-k", optarg, 0, 1 << 30, &v)) return -1;
            o->top_k = (int)v;
            o->set_top_k = 1;
            break;
        case OPT_TOPP: if (parse_ranged("--top-p", optarg, 0, 1, &o->top_p, &o->set_top_p)) return -1; break;
        case OPT_REP:
            if (parse_ranged("--repetition-penalty", optarg, 0, INFINITY, &o->repetition_penalty,
                             &o->set_repetition_penalty))
                return -1;
            break;
        case OPT_DUMP_IDS: o->dump_ids = optarg; break;
        case OPT_DUMP_LOGITS: o->dump_logits = optarg; break;
        case OPT_THREADS: if (parse_int("--threads", optarg, 1, 1024, &v)) return -1; o->threads = (int)v; break;
        case OPT_DEVICE:
            if (strcmp(optarg, "auto") == 0) o->device = JEN1_DEVICE_AUTO;
            else if (strcmp(optarg, "cpu") == 0) o->device = JEN1_DEVICE_CPU;
            else if (strcmp(optarg, "cuda") == 0) o->device = JEN1_DEVICE_CUDA;
            else {
                fprintf(stderr, "jen1-write: --device is auto, cpu or cuda, not '%s'\n", optarg);
                return -1;
            }
            break;
        case OPT_BF16: o->bf16 = 1; break;
        case 'h': usage(stdout); exit(0);
        default:
            fprintf(stderr, "jen1-write: unknown or incomplete option '%s' (see --help)\n", argv[optind - 1]);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "jen1-write: unexpected argument '%s' (see --help)\n", argv[optind]);
        return -1;
    }
    if (!o->model_dir || !o->model_dir[0]) {
        fprintf(stderr, "jen1-write: --model DIR is required (or set JEN1_TEXT_MODEL_DIR)\n");
        return -1;
    }
    if (!!o->narrative + !!o->messages + !!o->tokenize != 1) {
        fprintf(stderr, "jen1-write: give exactly one of --narrative, --messages, --tokenize (see --help)\n");
        return -1;
    }
    if ((o->dump_ids || o->dump_logits) && !o->messages) {
        fprintf(stderr, "jen1-write: --dump-ids and --dump-logits go with --messages\n");
        return -1;
    }
    return 0;
}

/* ---- --narrative ------------------------------------------------------------------ */

static json_t *plan_words_json(const song_plan *p)
{
    json_t *doc = json_object(), *sections = json_array();
    json_object_set_new(doc, "title", json_string(p->title));
    json_object_set_new(doc, "mood", json_string(p->mood));
    json_object_set_new(doc, "genre", json_string(p->genre));
    json_object_set_new(doc, "bpm", json_integer(p->bpm));
    json_object_set_new(doc, "key", json_string(p->key));
    for (int i = 0; i < p->n_sections; i++) {
        json_t *s = json_object(), *lines = json_array();
        json_object_set_new(s, "name", json_string(p->sections[i].name));
        for (int j = 0; j < p->sections[i].n_lines; j++) json_array_append_new(lines, json_string(p->sections[i].lines[j]));
        json_object_set_new(s, "lyrics", lines);
        json_array_append_new(sections, s);
    }
    json_object_set_new(doc, "sections", sections);
    json_object_set_new(doc, "lyrics", json_string(p->lyrics));
    json_object_set_new(doc, "words", json_pack("{s:s, s:s, s:i, s:i}", "source", "model", "model", p->words_model,
                                                "fields", p->words_fields, "fields_from_rules", p->words_from_rules));
    return doc;
}

static int run_narrative(const options *o)
{
    char err[1024];
    writer_options wo = { .model_dir = o->model_dir, .threads = o->threads, .device = o->device,
                          .weights = o->bf16 ? JEN1_WEIGHTS_BF16 : JEN1_WEIGHTS_F32 };
    writer *w = writer_open(&wo, err, sizeof err);
    if (!w) {
        fprintf(stderr, "jen1-write: %s\n", err);
        return 1;
    }
    job_request req;
    memset(&req, 0, sizeof req);
    snprintf(req.id, sizeof req.id, "jen1-write");
    req.narrative = (char *)o->narrative;
    req.narrative_len = strlen(o->narrative);
    req.duration_ms = (int32_t)llround(o->duration * 1000);
    req.seed = o->seed;
    writer_job job;
    lyric_source src = writer_source(w, o->seed, NULL, NULL, &job);
    static song_plan plan;
    int rc = 0;
    if (plan_song(&req, &src, &plan, err, sizeof err) != 0) {
        fprintf(stderr, "jen1-write: %s\n", err);
        rc = 1;
    } else {
        json_t *doc = plan_words_json(&plan);
        char *s = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
        if (s) printf("%s\n", s);
        else rc = 1;
        free(s);
        json_decref(doc);
        fprintf(stderr, "jen1-write: %d generations (%d failed), %d new tokens, in %.2f s\n", job.generations,
                job.failures, job.tokens, job.seconds);
    }
    writer_job_end(&job);
    writer_close(w);
    return rc;
}

/* ---- --tokenize and --messages -------------------------------------------------- */

/* The ids of text (parse_special), malloc'd. */
static int64_t *tokenize(const jen1_text_model *lm, const char *text, int *n, char *err, size_t errlen)
{
    size_t len = strlen(text);
    int cap = (int)len + 1; /* byte-level BPE: never more ids than bytes */
    int64_t *ids = malloc((size_t)cap * sizeof *ids);
    if (!ids) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (jen1_text_tokenize(lm, text, len, 1, ids, cap, n, err, errlen) != JEN1_OK) {
        free(ids);
        return NULL;
    }
    return ids;
}

static int run_tokenize(const jen1_text_model *lm, const options *o)
{
    char err[1024];
    int n = 0;
    int64_t *ids = tokenize(lm, o->tokenize, &n, err, sizeof err);
    if (!ids) {
        fprintf(stderr, "jen1-write: --tokenize: %s\n", err);
        return 1;
    }
    putchar('[');
    for (int i = 0; i < n; i++) printf("%s%lld", i ? ", " : "", (long long)ids[i]);
    printf("]\n");
    free(ids);
    return 0;
}

static jen1_text_generate_params generate_params(const jen1_text_model *lm, const options *o)
{
    jen1_text_generate_params gp = jen1_text_generate_default_params(lm);
    if (o->greedy) gp.sampling.greedy = 1;
    if (o->set_temperature) gp.sampling.temperature = o->temperature;
    if (o->set_top_k) gp.sampling.top_k = o->top_k;
    if (o->set_top_p) gp.sampling.top_p = o->top_p;
    if (o->set_repetition_penalty) gp.sampling.repetition_penalty = o->repetition_penalty;
    if (o->max_tokens) gp.max_new_tokens = o->max_tokens;
    return gp;
}

/* The ids and the scores of the one reply, as --dump-ids and --dump-logits. */
static int write_dumps(const options *o, const jen1_text_output_item *item, const jen1_tensor *scores)
{
    char err[512];
    if (o->dump_ids) {
        npy_array a = { .dtype = NPY_I64, .ndim = 1, .shape = { item->n_ids }, .data = item->ids };
        if (npy_write(o->dump_ids, &a, err, sizeof err) != 0) {
            fprintf(stderr, "jen1-write: --dump-ids: %s\n", err);
            return -1;
        }
    }
    if (o->dump_logits) {
        /* [1, steps, vocab] from the traced generation: one request's steps. */
        npy_array a = { .dtype = NPY_F32, .ndim = 2, .shape = { scores->shape[1], scores->shape[2] },
                        .data = scores->data };
        if (npy_write(o->dump_logits, &a, err, sizeof err) != 0) {
            fprintf(stderr, "jen1-write: --dump-logits: %s\n", err);
            return -1;
        }
    }
    return 0;
}

static int run_messages(const jen1_text_model *lm, const options *o)
{
    char err[1024];
    chat_file chat;
    if (chat_file_read(o->messages, &chat, err, sizeof err) != 0) {
        fprintf(stderr, "jen1-write: --messages %s\n", err);
        return 1;
    }
    char *prompt = NULL;
    int64_t *ids = NULL;
    int n = 0, rc = 1;
    jen1_text_output *out = NULL;
    jen1_tensor scores = { 0 };
    if (jen1_text_chat_render(lm, chat.messages, chat.n_messages, 1, &prompt, err, sizeof err) != JEN1_OK ||
        !(ids = tokenize(lm, prompt, &n, err, sizeof err))) {
        fprintf(stderr, "jen1-write: --messages: %s\n", err);
        goto done;
    }
    jen1_text_request rq = { .prompt_ids = ids, .n_prompt_ids = n, .seed = o->seed };
    jen1_text_generate_params gp = generate_params(lm, o);
    jen1_status st = o->dump_logits
                         ? jen1_text_generate_traced(lm, &rq, 1, &gp, &out, &scores, err, sizeof err)
                         : jen1_text_generate(lm, &rq, 1, &gp, &out, err, sizeof err);
    if (st != JEN1_OK) {
        fprintf(stderr, "jen1-write: generation: %s\n", err);
        goto done;
    }
    printf("%s\n", out->items[0].text);
    rc = write_dumps(o, &out->items[0], &scores) == 0 ? 0 : 1;
done:
    jen1_tensor_free(&scores);
    jen1_text_output_free(out);
    free(ids);
    jen1_free(prompt);
    chat_file_free(&chat);
    return rc;
}

int main(int argc, char **argv)
{
    options o;
    if (parse_options(argc, argv, &o)) return 2;
    if (o.narrative) return run_narrative(&o);
    char err[1024];
    jen1_text_model_params mp = jen1_text_model_default_params();
    mp.device = o.device;
    mp.n_threads = o.threads;
    mp.weights = o.bf16 ? JEN1_WEIGHTS_BF16 : JEN1_WEIGHTS_F32;
    jen1_text_model *lm = NULL;
    if (jen1_text_model_load(o.model_dir, &mp, &lm, err, sizeof err) != JEN1_OK) {
        fprintf(stderr, "jen1-write: %s\n", err);
        return 1;
    }
    int rc = o.tokenize ? run_tokenize(lm, &o) : run_messages(lm, &o);
    jen1_text_model_free(lm);
    return rc;
}
