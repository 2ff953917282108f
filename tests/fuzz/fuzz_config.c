/* fuzz_config.c - shim/core/model_config.c's jen1_model_config_parse on arbitrary
 * config.json and generation_config.json texts.
 *
 * The input is config.json, then optionally a NUL byte and
 * generation_config.json (JSON text cannot contain a raw NUL, so the split
 * is unambiguous; no NUL means no generation file). An accepted config must
 * hold the ranges model_config.h promises, because the engine sizes tensors
 * and divides by these numbers without checking them again. */
#include <math.h>

#include "fuzz.h"
#include "model_config.h"

#define LABEL "fuzz/config.json"

static void check_t5(const jen1_t5_config *t)
{
    FUZZ_ASSERT(t->vocab_size > 0 && t->d_model > 0 && t->d_kv > 0 && t->d_ff > 0 &&
                    t->num_layers > 0 && t->num_heads > 0,
                "a T5 size is not positive");
    FUZZ_ASSERT(t->pad_token_id >= 0 && t->pad_token_id < t->vocab_size && t->eos_token_id >= 0 &&
                    t->eos_token_id < t->vocab_size,
                "T5 pad %d / eos %d outside the vocabulary of %d", t->pad_token_id,
                t->eos_token_id, t->vocab_size);
    FUZZ_ASSERT(t->relative_attention_num_buckets >= 4 &&
                    t->relative_attention_max_distance > t->relative_attention_num_buckets / 4,
                "T5 buckets %d, max distance %d", t->relative_attention_num_buckets,
                t->relative_attention_max_distance);
    FUZZ_ASSERT(isfinite(t->layer_norm_epsilon) && t->layer_norm_epsilon > 0,
                "T5 layer_norm_epsilon %g", t->layer_norm_epsilon);
}

static void check_decoder(const jen1_decoder_config *d)
{
    FUZZ_ASSERT(d->vocab_size > 0 && d->hidden_size > 0 && d->num_hidden_layers > 0 &&
                    d->num_attention_heads > 0 && d->ffn_dim > 0 && d->num_codebooks > 0 &&
                    d->max_position_embeddings > 0,
                "a decoder size is not positive");
    FUZZ_ASSERT(d->hidden_size % d->num_attention_heads == 0, "hidden %d, heads %d",
                d->hidden_size, d->num_attention_heads);
    FUZZ_ASSERT(d->audio_channels == 1, "decoder audio_channels %d", d->audio_channels);
    FUZZ_ASSERT(d->pad_token_id >= 0 && d->pad_token_id <= d->vocab_size && d->bos_token_id >= 0 &&
                    d->bos_token_id <= d->vocab_size,
                "decoder pad %d / bos %d past vocab %d", d->pad_token_id, d->bos_token_id,
                d->vocab_size);
}

static void check_encodec(const jen1_encodec_config *e)
{
    FUZZ_ASSERT(e->sampling_rate > 0 && e->num_filters > 0 && e->hidden_size > 0 &&
                    e->codebook_size > 0 && e->codebook_dim > 0 && e->kernel_size > 0 &&
                    e->last_kernel_size > 0 && e->residual_kernel_size > 0 &&
                    e->dilation_growth_rate > 0 && e->num_residual_layers > 0 &&
                    e->num_lstm_layers > 0 && e->compress > 0,
                "an EnCodec size is not positive");
    FUZZ_ASSERT(e->audio_channels == 1, "EnCodec audio_channels %d", e->audio_channels);
    FUZZ_ASSERT(e->n_ratios >= 1 && e->n_ratios <= JEN1_MAX_RATIOS, "%d ratios", e->n_ratios);
    int64_t hop = 1;
    for (int i = 0; i < e->n_ratios; i++) {
        FUZZ_ASSERT(e->upsampling_ratios[i] > 0, "ratio %d is %d", i, e->upsampling_ratios[i]);
        hop *= e->upsampling_ratios[i];
    }
    FUZZ_ASSERT(hop == e->hop_length, "hop_length %d, ratios multiply to %lld", e->hop_length,
                (long long)hop);
    FUZZ_ASSERT(e->frame_rate == (e->sampling_rate + e->hop_length - 1) / e->hop_length,
                "frame_rate %d", e->frame_rate);
    FUZZ_ASSERT(e->trim_right_ratio >= 0 && e->trim_right_ratio <= 1, "trim_right_ratio %g",
                e->trim_right_ratio);
}

static void check_generation(const jen1_generation_config *g, int has_file)
{
    FUZZ_ASSERT(g->has_file == has_file, "has_file %d", g->has_file);
    FUZZ_ASSERT(g->top_k >= 0, "top_k %d", g->top_k);
    FUZZ_ASSERT(g->max_length >= 1, "max_length %d", g->max_length);
    FUZZ_ASSERT(isfinite(g->top_p) && g->top_p > 0 && g->top_p <= 1, "top_p %g", g->top_p);
    FUZZ_ASSERT(isfinite(g->temperature) && g->temperature > 0, "temperature %g",
                g->temperature);
    FUZZ_ASSERT(isfinite(g->guidance_scale) && g->guidance_scale >= 0, "guidance_scale %g",
                g->guidance_scale);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_strndup(data, size);
    if (!text)
        return 0;
    const char *config = text;
    const char *nul = memchr(data, '\0', size);
    const char *generation = nul ? text + (nul - (const char *)data) + 1 : NULL;

    jen1_model_config cfg;
    char err[600] = "";
    if (jen1_model_config_parse(config, generation, LABEL, &cfg, err, sizeof err) == 0) {
        check_t5(&cfg.t5);
        check_decoder(&cfg.decoder);
        check_encodec(&cfg.encodec);
        check_generation(&cfg.generation, generation != NULL);
    } else {
        FUZZ_ASSERT(fuzz_message_ok(err, sizeof err) &&
                        (strncmp(err, LABEL ": ", strlen(LABEL) + 2) == 0 ||
                         strncmp(err, "generation_config.json: ", 24) == 0),
                    "the message does not name the file: '%s'", err);
    }
    free(text);
    return 0;
}
