/* weights_drift.c - how far bf16 or int8 decoder weights move MusicGen's
 * logits from fp32, printed as one JSON line for scripts/bench:
 *
 *   jen1-drift --model DIR --weights bf16|int8 [--frames F] [--guidance G]
 *              [--threads N] [--prompts N] [--isa avx512|avx2|generic|avx512vnni]
 *
 * For each prompt the reduced-precision model generates greedily with
 * guidance (its own cache, kernels and weights, as a worker runs it); the
 * fp32 model then runs teacher-forced over the same delayed grid, and each
 * (step, codebook) row of guided logits is compared:
 *   max_rel / mean_rel: the largest / mean |difference|, each row's divided
 *                       by that row's spread (the standard deviation of the
 *                       fp32 row over the vocabulary);
 *   greedy_changed:     the share of rows whose fp32 argmax differs from the
 *                       token the reduced model chose (its own argmax), at
 *                       the same context: how often a greedy token changes.
 * --isa forces a matvec kernel (int8 on avx512vnni rounds the activations to
 * int16; the others keep them fp32); "isa" in the line says which ran. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jen1.h"
#include "jen1_stages.h"
#include "matvec.h"

static const char *const prompts[] = {
    "upbeat electronic dance track with heavy bass", "calm solo piano, slow tempo",
    "lofi hip hop beat with vinyl crackle", "epic orchestral score with choir and drums",
};

struct drift {
    double max_rel, sum_rel;
    long rows, changed, values;
};

static int argmax(const float *row, int n)
{
    int best = 0;
    for (int v = 1; v < n; v++)
        if (row[v] > row[best])
            best = v;
    return best;
}

/* One prompt: generate with `reduced`, teacher-force `full`, accumulate. */
static int measure(jen1_model *full, jen1_model *reduced, const char *prompt, int frames, float guidance,
                   struct drift *d)
{
    const int K = jen1_model_num_codebooks(full), V = jen1_model_codebook_size(full);
    char err[512];
    jen1_request req = {.prompt = prompt, .n_frames = frames, .seed = 1};
    jen1_generate_params p = jen1_generate_default_params(reduced);
    p.sampling.greedy = 1;
    p.sampling.guidance_scale = guidance;
    jen1_output *out = NULL;
    jen1_tensor scores = {0}, grid = {0}, cond = {0}, uncond = {0};
    int rc = -1;
    if (jen1_generate_traced(reduced, &req, 1, &p, &out, &scores, &grid, err, sizeof err) != JEN1_OK)
        goto done;
    const int steps = (int)scores.shape[0], width = (int)grid.shape[1];
    int64_t *ids = malloc(sizeof *ids * (size_t)K * steps);
    if (!ids) {
        snprintf(err, sizeof err, "out of memory");
        goto done;
    }
    for (int k = 0; k < K; k++)
        for (int t = 0; t < steps; t++)
            ids[(size_t)k * steps + t] = ((int64_t *)grid.data)[(size_t)k * width + t];
    int ok = jen1_decoder_forward(full, &prompt, 1, ids, steps, &cond, NULL, err, sizeof err) == JEN1_OK &&
             (guidance <= 1.0f ||
              jen1_decoder_forward(full, NULL, 1, ids, steps, &uncond, NULL, err, sizeof err) == JEN1_OK);
    if (!ok) {
        free(ids);
        goto done;
    }
    float *want = malloc(sizeof *want * V);
    for (int t = 0; want && t < steps; t++)
        for (int k = 0; k < K; k++) {
            const float *got = (float *)scores.data + ((size_t)t * K + k) * V;
            double mean = 0, var = 0, worst = 0, sum = 0;
            for (int v = 0; v < V; v++) {
                float c = ((float *)cond.data)[((size_t)k * steps + t) * V + v];
                float u = guidance > 1.0f ? ((float *)uncond.data)[((size_t)k * steps + t) * V + v] : c;
                want[v] = guidance > 1.0f ? u + (c - u) * guidance : c;
                mean += want[v];
            }
            mean /= V;
            for (int v = 0; v < V; v++) {
                double diff = fabs((double)got[v] - want[v]);
                var += (want[v] - mean) * (want[v] - mean);
                worst = fmax(worst, diff);
                sum += diff;
            }
            double spread = sqrt(var / V) + 1e-30;
            d->max_rel = fmax(d->max_rel, worst / spread);
            d->sum_rel += sum / spread;
            d->values += V;
            d->rows++;
            d->changed += argmax(want, V) != argmax(got, V);
        }
    rc = want ? 0 : -1;
    if (!want) snprintf(err, sizeof err, "out of memory");
    free(want);
    free(ids);
done:
    if (rc != 0) fprintf(stderr, "jen1-drift: %s\n", err);
    jen1_tensor_free(&scores);
    jen1_tensor_free(&grid);
    jen1_tensor_free(&cond);
    jen1_tensor_free(&uncond);
    jen1_output_free(out);
    return rc;
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    int frames = 101, threads = 2, n_prompts = 2;
    float guidance = 3.0f;
    jen1_weight_type weights = JEN1_WEIGHTS_INT8;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--model") && v) dir = argv[++i];
        else if (!strcmp(a, "--weights") && v && !jen1_weight_type_parse(v, &weights)) i++;
        else if (!strcmp(a, "--frames") && v) frames = atoi(argv[++i]);
        else if (!strcmp(a, "--guidance") && v) guidance = (float)atof(argv[++i]);
        else if (!strcmp(a, "--threads") && v) threads = atoi(argv[++i]);
        else if (!strcmp(a, "--prompts") && v) n_prompts = atoi(argv[++i]);
        else if (!strcmp(a, "--isa") && v && jen1_matvec_force_isa(v) == 0) i++;
        else {
            fprintf(stderr, "usage: jen1-drift --model DIR --weights bf16|int8 [--frames F] [--guidance G] "
                            "[--threads N] [--prompts 1..4] [--isa KERNEL this CPU runs]\n");
            return 2;
        }
    }
    if (!dir || frames < 1 || threads < 1 || n_prompts < 1 || n_prompts > 4) {
        fprintf(stderr, "jen1-drift: --model is required; frames, threads >= 1; prompts 1..4\n");
        return 2;
    }
    char err[1024];
    jen1_model_params mp = jen1_model_default_params();
    mp.device = JEN1_DEVICE_CPU;
    mp.n_threads = threads;
    jen1_model *full = NULL, *reduced = NULL;
    if (jen1_model_load(dir, &mp, &full, err, sizeof err) != JEN1_OK) {
        fprintf(stderr, "jen1-drift: %s\n", err);
        return 1;
    }
    mp.decoder_weights = weights;
    if (jen1_model_load(dir, &mp, &reduced, err, sizeof err) != JEN1_OK) {
        fprintf(stderr, "jen1-drift: %s\n", err);
        jen1_model_free(full);
        return 1;
    }
    struct drift d = {0};
    int rc = 0;
    for (int i = 0; i < n_prompts && rc == 0; i++)
        rc = measure(full, reduced, prompts[i], frames, guidance, &d);
    if (rc == 0)
        printf("{\"weights\":\"%s\",\"isa\":\"%s\",\"prompts\":%d,\"frames\":%d,\"guidance\":%.1f,\"rows\":%ld,"
               "\"max_rel\":%.4f,\"mean_rel\":%.5f,\"greedy_changed\":%.4f}\n",
               jen1_weight_type_name(weights), jen1_matvec_isa(), n_prompts, frames, guidance, d.rows, d.max_rel,
               d.sum_rel / (double)d.values, (double)d.changed / (double)d.rows);
    jen1_model_free(reduced);
    jen1_model_free(full);
    return rc == 0 ? 0 : 1;
}
