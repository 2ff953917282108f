/* text_bench.c - the text engine measured in a process of its own (so that
 * load time and memory are honest), printed as one JSON line for
 * scripts/bench to tabulate:
 *
 *   jen1-text-bench --model DIR [--threads N] [--batch B] [--prompt-tokens P]
 *                   [--new-tokens N] [--runs R] [--bf16] [--label TEXT]
 *
 * A separate program from jen1-bench (MusicGen): the two engines share no
 * options or workload. Measures the load's wall time and the memory it
 * leaves private (RssAnon) vs. mapped from the checkpoint (RssFile, shared
 * with every process mapping it), and both again after generating; after a warm-up, R generations of N new
 * tokens for B prompts of P tokens (greedy, otherwise as the checkpoint's
 * generation_config says, special tokens banned), each timed at its steps:
 * the median prefill (to the first token) and median decode step. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jen1.h"
#include "jen1_text.h"
#include "proc_status.h"
#include "util.h"

#define MAX_BATCH 16
#define MAX_RUNS 15

/* Ordinary English prose, tokenized and repeated to the prompt's length. */
static const char *const PROSE =
    "A lighthouse keeper finds a message in a bottle on the rocks below the tower. The letter is older than "
    "the lighthouse itself, written by a sailor who promised to come back for someone he loved. Night after "
    "night the keeper reads it by the lamp, and the sea answers with the same slow rhythm. ";

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* When generate polls its abort callback: between steps, so the first poll
 * ends the prefill (and the first token) and the polls after it time the
 * decode steps. */
typedef struct step_clock {
    double first, last;
    int polls;
} step_clock;

static int on_step(void *user)
{
    step_clock *c = user;
    c->last = clock_monotonic_s();
    if (c->polls++ == 0) c->first = c->last;
    return 0;
}

/* One generation of `new_tokens` for `batch` requests: the prefill's wall
 * time (to the first token) and the decode's per step. */
static int run(const jen1_text_model *m, const jen1_text_request *reqs, int batch, int new_tokens,
               double *prefill_s, double *step_s)
{
    jen1_text_generate_params p = jen1_text_generate_default_params(m);
    p.sampling.greedy = 1;
    p.max_new_tokens = new_tokens;
    p.ban_special = 1;
    step_clock clock = {0};
    p.abort = on_step;
    p.abort_user_data = &clock;
    jen1_text_output *out;
    char err[1024];
    double t0 = clock_monotonic_s();
    if (jen1_text_generate(m, reqs, batch, &p, &out, err, sizeof err) != JEN1_OK) {
        fprintf(stderr, "jen1-text-bench: %s\n", err);
        return -1;
    }
    jen1_text_output_free(out);
    if (clock.polls < 2) {
        fprintf(stderr, "jen1-text-bench: every request ended after %d tokens (an EOS id)\n", clock.polls);
        return -1;
    }
    *prefill_s = clock.first - t0;
    *step_s = (clock.last - clock.first) / (clock.polls - 1);
    return 0;
}

int main(int argc, char **argv)
{
    const char *model_dir = NULL, *label = "";
    int threads = 2, batch = 1, prompt_tokens = 200, new_tokens = 33, runs = 3;
    jen1_weight_type weights = JEN1_WEIGHTS_F32;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--model") && v) model_dir = argv[++i];
        else if (!strcmp(a, "--threads") && v) threads = atoi(argv[++i]);
        else if (!strcmp(a, "--batch") && v) batch = atoi(argv[++i]);
        else if (!strcmp(a, "--prompt-tokens") && v) prompt_tokens = atoi(argv[++i]);
        else if (!strcmp(a, "--new-tokens") && v) new_tokens = atoi(argv[++i]);
        else if (!strcmp(a, "--runs") && v) runs = atoi(argv[++i]);
        else if (!strcmp(a, "--label") && v) label = argv[++i];
        else if (!strcmp(a, "--bf16")) weights = JEN1_WEIGHTS_BF16;
        else {
            fprintf(stderr, "usage: jen1-text-bench --model DIR [--threads N] [--batch B] [--prompt-tokens P] "
                            "[--new-tokens N] [--runs R] [--bf16] [--label TEXT]\n");
            return 2;
        }
    }
    if (!model_dir || threads < 1 || batch < 1 || batch > MAX_BATCH || prompt_tokens < 1 || new_tokens < 2 ||
        runs < 1 || runs > MAX_RUNS) {
        fprintf(stderr, "jen1-text-bench: --model is required; threads >= 1, batch 1..%d, prompt-tokens >= 1, "
                        "new-tokens >= 2, runs 1..%d\n", MAX_BATCH, MAX_RUNS);
        return 2;
    }

    char err[1024];
    jen1_text_model_params mp = jen1_text_model_default_params();
    mp.n_threads = threads;
    mp.weights = weights;
    jen1_text_model *m;
    double t0 = clock_monotonic_s();
    if (jen1_text_model_load(model_dir, &mp, &m, err, sizeof err) != JEN1_OK) {
        fprintf(stderr, "jen1-text-bench: %s\n", err);
        return 1;
    }
    const double load_s = clock_monotonic_s() - t0;
    const long anon_after_load = proc_status_kb("RssAnon"), file_after_load = proc_status_kb("RssFile");

    int64_t prose[512], *prompts = malloc(sizeof(int64_t) * (size_t)batch * prompt_tokens);
    int n_prose = 0;
    if (!prompts || jen1_text_tokenize(m, PROSE, strlen(PROSE), 0, prose, 512, &n_prose, err, sizeof err) != JEN1_OK ||
        n_prose < 1) {
        fprintf(stderr, "jen1-text-bench: tokenizing the prompt: %s\n", err);
        return 1;
    }
    jen1_text_request reqs[MAX_BATCH];
    for (int b = 0; b < batch; b++) {  /* each request starts elsewhere in the prose */
        int64_t *ids = prompts + (size_t)b * prompt_tokens;
        for (int t = 0; t < prompt_tokens; t++) ids[t] = prose[(t + 7 * b) % n_prose];
        reqs[b] = (jen1_text_request){.prompt_ids = ids, .n_prompt_ids = prompt_tokens, .seed = (uint64_t)b + 1};
    }

    double prefill[MAX_RUNS], step[MAX_RUNS];
    if (run(m, reqs, batch, 4, &prefill[0], &step[0])) return 1;  /* warm-up */
    for (int r = 0; r < runs; r++)
        if (run(m, reqs, batch, new_tokens, &prefill[r], &step[r])) return 1;
    const double prefill_s = median(prefill, runs), step_ms = 1e3 * median(step, runs);

    jen1_torch_info info;
    jen1_torch_info_get(&info);
    printf("{\"label\":\"%s\",\"threads\":%d,\"batch\":%d,\"weights\":\"%s\",\"prompt_tokens\":%d,"
           "\"new_tokens\":%d,\"load_s\":%.3f,\"prefill_s\":%.3f,\"prefill_tokens_per_s\":%.1f,"
           "\"decode_ms_per_step\":%.2f,\"decode_tokens_per_s\":%.2f,\"rss_anon_after_load_mib\":%.1f,"
           "\"rss_file_after_load_mib\":%.1f,\"rss_anon_end_mib\":%.1f,\"rss_file_end_mib\":%.1f,\"peak_rss_mib\":%.1f,\"device\":\"%s\",\"torch\":\"%s\"}\n",
           label, threads, batch, weights == JEN1_WEIGHTS_BF16 ? "bf16" : "f32", prompt_tokens, new_tokens, load_s,
           prefill_s, batch * prompt_tokens / prefill_s, step_ms, step_ms > 0 ? 1e3 * batch / step_ms : 0,
           anon_after_load / 1024.0, file_after_load / 1024.0, proc_status_kb("RssAnon") / 1024.0,
           proc_status_kb("RssFile") / 1024.0, proc_status_kb("VmHWM") / 1024.0,
           jen1_text_model_device(m), info.torch_version);
    free(prompts);
    jen1_text_model_free(m);
    return 0;
}
