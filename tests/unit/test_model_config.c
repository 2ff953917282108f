/* test_model_config.c - the fixture's config.json / generation_config.json,
 * transformers' defaults for absent keys, and clear errors for bad configs. */
#include "check.h"
#include "model_config.h"

#include <jansson.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char err[1024];

static void fixture_path(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/model/%s", check_fixture_dir(), name);
}

static json_t *fixture_config(void)
{
    char path[512];
    fixture_path(path, sizeof path, "config.json");
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root)
        fprintf(stderr, "  %s: %s\n", path, jerr.text);
    return root;
}

/* The fixture config with part.key replaced by `value` (stolen), or deleted
 * when value is NULL, parsed under the label "config.json". */
static int parse_edited(const char *part, const char *key, json_t *value, jen1_model_config *cfg)
{
    json_t *root = fixture_config();
    if (!root) {
        json_decref(value);
        return -2;
    }
    json_t *obj = part ? json_object_get(root, part) : root;
    if (value)
        json_object_set_new(obj, key, value);
    else
        json_object_del(obj, key);
    char *text = json_dumps(root, 0);
    json_decref(root);
    err[0] = '\0';
    int status = jen1_model_config_parse(text, NULL, "config.json", cfg, err, sizeof err);
    free(text);
    return status;
}

/* Expects the edit to be refused with `expected` in the message. */
static int refused_with(const char *part, const char *key, json_t *value, const char *expected)
{
    jen1_model_config cfg;
    int status = parse_edited(part, key, value, &cfg);
    if (status == 0) {
        fprintf(stderr, "  %s.%s edit was accepted\n", part ? part : "", key);
        return 0;
    }
    if (!strstr(err, expected)) {
        fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", err, expected);
        return 0;
    }
    return 1;
}

static int near(float a, double b)
{
    return fabs(a - b) <= 1e-6 * fabs(b) + 1e-12;
}

/* ---------------------------------------------------------------- fixture */

TEST(fixture_loads_with_readme_values)
{
    char config[512], generation[512];
    fixture_path(config, sizeof config, "config.json");
    fixture_path(generation, sizeof generation, "generation_config.json");
    jen1_model_config c;
    REQUIRE(jen1_model_config_load(config, generation, &c, err, sizeof err) == 0, "%s", err);

    const jen1_t5_config *t = &c.t5;
    CHECK(t->d_model == 32 && t->d_kv == 8 && t->num_heads == 2 && t->d_ff == 64 &&
              t->num_layers == 2, "t5 sizes %d %d %d %d %d", t->d_model, t->d_kv, t->num_heads,
          t->d_ff, t->num_layers);
    CHECK(t->vocab_size == 512, "t5 vocab %d", t->vocab_size);
    CHECK(t->relative_attention_num_buckets == 32 && t->relative_attention_max_distance == 128,
          "t5 buckets");
    CHECK(t->dense_act_fn == JEN1_ACT_RELU && !t->is_gated_act, "t5 relu, not gated");
    CHECK(near(t->layer_norm_epsilon, 1e-6), "t5 eps %g", t->layer_norm_epsilon);
    CHECK(t->pad_token_id == 0 && t->eos_token_id == 1, "t5 pad/eos");

    const jen1_decoder_config *d = &c.decoder;
    CHECK(d->hidden_size == 64 && d->num_hidden_layers == 2 && d->num_attention_heads == 4 &&
              d->ffn_dim == 128, "decoder sizes");
    CHECK(d->vocab_size == 64 && d->num_codebooks == 4 && d->max_position_embeddings == 256,
          "decoder vocab/codebooks/positions");
    CHECK(d->activation_function == JEN1_ACT_GELU && !d->scale_embedding, "decoder gelu");
    CHECK(d->pad_token_id == 64 && d->bos_token_id == 64 && d->audio_channels == 1, "decoder ids");

    const jen1_encodec_config *e = &c.encodec;
    CHECK(e->sampling_rate == 32000 && e->audio_channels == 1, "encodec rate");
    CHECK(e->num_filters == 4 && e->hidden_size == 16 && e->codebook_dim == 16 &&
              e->codebook_size == 64, "encodec sizes");
    CHECK(e->n_ratios == 4 && e->upsampling_ratios[0] == 8 && e->upsampling_ratios[1] == 5 &&
              e->upsampling_ratios[2] == 4 && e->upsampling_ratios[3] == 4, "ratios");
    CHECK(e->hop_length == 640 && e->frame_rate == 50, "hop %d frame rate %d", e->hop_length,
          e->frame_rate);
    CHECK(e->num_lstm_layers == 2 && e->num_residual_layers == 1 && e->compress == 2, "layers");
    CHECK(e->kernel_size == 7 && e->last_kernel_size == 7 && e->residual_kernel_size == 3 &&
              e->dilation_growth_rate == 2, "kernels");
    CHECK(e->norm_weight && !e->use_causal_conv && e->pad_mode_reflect && !e->use_conv_shortcut,
          "modes");
    CHECK(near(e->trim_right_ratio, 1.0) && !e->normalize, "trim/normalize");

    const jen1_generation_config *g = &c.generation;
    CHECK(g->has_file && g->do_sample && near(g->guidance_scale, 3.0) && g->max_length == 250,
          "generation file values");
    CHECK(g->top_k == 50 && near(g->top_p, 1.0) && near(g->temperature, 1.0),
          "generation defaults for absent keys");
}

TEST(absent_generation_file_gives_defaults)
{
    char config[512];
    fixture_path(config, sizeof config, "config.json");
    jen1_model_config c;
    REQUIRE(jen1_model_config_load(config, "build/no/such/generation_config.json", &c, err,
                                   sizeof err) == 0, "%s", err);
    const jen1_generation_config *g = &c.generation;
    CHECK(!g->has_file && !g->do_sample && g->top_k == 50 && near(g->top_p, 1.0) &&
              near(g->temperature, 1.0) && near(g->guidance_scale, 1.0) && g->max_length == 20,
          "defaults");
    CHECK(c.decoder.hidden_size == 64, "config still read");
    REQUIRE(jen1_model_config_load(config, NULL, &c, err, sizeof err) == 0, "%s", err);
    CHECK(!c.generation.has_file && c.generation.max_length == 20, "NULL path");
}

/* --------------------------------------------------------------- defaults */

TEST(empty_parts_take_transformers_defaults)
{
    jen1_model_config c;
    REQUIRE(jen1_model_config_parse("{\"text_encoder\": {}, \"decoder\": {}, \"audio_encoder\": {}}",
                                    NULL, "config.json", &c, err, sizeof err) == 0, "%s", err);
    const jen1_t5_config *t = &c.t5;
    CHECK(t->vocab_size == 32128 && t->d_model == 512 && t->d_kv == 64 && t->d_ff == 2048 &&
              t->num_layers == 6 && t->num_heads == 8, "T5Config sizes");
    CHECK(t->relative_attention_num_buckets == 32 && t->relative_attention_max_distance == 128 &&
              near(t->layer_norm_epsilon, 1e-6) && t->dense_act_fn == JEN1_ACT_RELU &&
              !t->is_gated_act && t->pad_token_id == 0 && t->eos_token_id == 1, "T5Config rest");

    const jen1_decoder_config *d = &c.decoder;
    CHECK(d->vocab_size == 2048 && d->hidden_size == 1024 && d->num_hidden_layers == 24 &&
              d->num_attention_heads == 16 && d->ffn_dim == 4096 && d->num_codebooks == 4 &&
              d->max_position_embeddings == 2048, "MusicgenDecoderConfig sizes");
    CHECK(!d->scale_embedding && d->audio_channels == 1 && d->activation_function == JEN1_ACT_GELU &&
              d->pad_token_id == 2048 && d->bos_token_id == 2048, "MusicgenDecoderConfig rest");

    const jen1_encodec_config *e = &c.encodec;
    CHECK(e->sampling_rate == 24000 && e->audio_channels == 1 && e->num_filters == 32 &&
              e->hidden_size == 128 && e->codebook_size == 1024 && e->codebook_dim == 128,
          "EncodecConfig sizes");
    CHECK(e->n_ratios == 4 && e->upsampling_ratios[0] == 8 && e->upsampling_ratios[3] == 2 &&
              e->hop_length == 320 && e->frame_rate == 75, "EncodecConfig ratios");
    CHECK(e->kernel_size == 7 && e->last_kernel_size == 7 && e->residual_kernel_size == 3 &&
              e->dilation_growth_rate == 2 && e->num_residual_layers == 1 &&
              e->num_lstm_layers == 2 && e->compress == 2, "EncodecConfig layers");
    CHECK(e->use_causal_conv && e->pad_mode_reflect && e->norm_weight && e->use_conv_shortcut &&
              near(e->trim_right_ratio, 1.0) && !e->normalize, "EncodecConfig modes");

    CHECK(!c.generation.has_file && c.generation.top_k == 50 && c.generation.max_length == 20,
          "GenerationConfig defaults");
}

TEST(stripped_keys_take_defaults)
{
    jen1_model_config c;
    REQUIRE(parse_edited("decoder", "ffn_dim", NULL, &c) == 0, "%s", err);
    CHECK(c.decoder.ffn_dim == 4096 && c.decoder.hidden_size == 64, "ffn_dim default only");

    REQUIRE(parse_edited("audio_encoder", "upsampling_ratios", NULL, &c) == 0, "%s", err);
    CHECK(c.encodec.n_ratios == 4 && c.encodec.upsampling_ratios[3] == 2 &&
              c.encodec.hop_length == 320 && c.encodec.frame_rate == 100, "ratios default");

    REQUIRE(parse_edited("audio_encoder", "codebook_dim", json_null(), &c) == 0, "%s", err);
    CHECK(c.encodec.codebook_dim == 16, "codebook_dim null -> hidden_size, got %d",
          c.encodec.codebook_dim);
    REQUIRE(parse_edited("audio_encoder", "codebook_dim", NULL, &c) == 0, "%s", err);
    CHECK(c.encodec.codebook_dim == 16, "codebook_dim absent -> hidden_size");

    REQUIRE(parse_edited("audio_encoder", "use_causal_conv", NULL, &c) == 0, "%s", err);
    CHECK(c.encodec.use_causal_conv == 1, "use_causal_conv default true");
    REQUIRE(parse_edited("audio_encoder", "use_conv_shortcut", NULL, &c) == 0, "%s", err);
    CHECK(c.encodec.use_conv_shortcut == 1, "use_conv_shortcut default true");
    REQUIRE(parse_edited("audio_encoder", "sampling_rate", NULL, &c) == 0, "%s", err);
    CHECK(c.encodec.sampling_rate == 24000 && c.encodec.frame_rate == 38, "24000/640 rounds up to 38");

    REQUIRE(parse_edited("text_encoder", "d_ff", NULL, &c) == 0, "%s", err);
    CHECK(c.t5.d_ff == 2048 && c.t5.d_model == 32, "d_ff default");
    REQUIRE(parse_edited("decoder", "activation_function", NULL, &c) == 0, "%s", err);
    CHECK(c.decoder.activation_function == JEN1_ACT_GELU, "activation default gelu");
    /* The default BOS (2048) lies outside this small decoder's embedding. */
    CHECK(parse_edited("decoder", "bos_token_id", NULL, &c) != 0 &&
              strstr(err, "decoder.bos_token_id (2048)"), "bos default: %s", err);
}

/* -------------------------------------------------------- T5 activations */

/* The fixture with text_encoder's activation keys replaced. */
static int parse_t5_activation(const char *proj, const char *dense, jen1_model_config *c)
{
    json_t *root = fixture_config();
    if (!root)
        return -2;
    json_t *t5 = json_object_get(root, "text_encoder");
    json_object_del(t5, "is_gated_act");
    json_object_del(t5, "dense_act_fn");
    json_object_set_new(t5, "feed_forward_proj", json_string(proj));
    if (dense)
        json_object_set_new(t5, "dense_act_fn", json_string(dense));
    char *text = json_dumps(root, 0);
    json_decref(root);
    err[0] = '\0';
    int status = jen1_model_config_parse(text, NULL, "config.json", c, err, sizeof err);
    free(text);
    return status;
}

TEST(t5_feed_forward_proj_variants)
{
    jen1_model_config c;
    REQUIRE(parse_t5_activation("gated-gelu", NULL, &c) == 0, "%s", err);
    CHECK(c.t5.is_gated_act && c.t5.dense_act_fn == JEN1_ACT_GELU_NEW, "gated-gelu -> gelu_new");
    REQUIRE(parse_t5_activation("gated-silu", NULL, &c) == 0, "%s", err);
    CHECK(c.t5.is_gated_act && c.t5.dense_act_fn == JEN1_ACT_SILU, "gated-silu");
    REQUIRE(parse_t5_activation("gelu", NULL, &c) == 0, "%s", err);
    CHECK(!c.t5.is_gated_act && c.t5.dense_act_fn == JEN1_ACT_GELU, "gelu");
    REQUIRE(parse_t5_activation("relu", NULL, &c) == 0, "%s", err);
    CHECK(!c.t5.is_gated_act && c.t5.dense_act_fn == JEN1_ACT_RELU, "relu");
    REQUIRE(parse_t5_activation("gated-gelu", "gelu", &c) == 0, "%s", err);
    CHECK(c.t5.is_gated_act && c.t5.dense_act_fn == JEN1_ACT_GELU, "explicit dense_act_fn wins");

    CHECK(parse_t5_activation("gated-gelu-x", NULL, &c) != 0 &&
              strstr(err, "config.json: text_encoder.feed_forward_proj 'gated-gelu-x' is not of "
                          "the form"), "three parts: %s", err);
    CHECK(parse_t5_activation("fancy-relu", NULL, &c) != 0 &&
              strstr(err, "feed_forward_proj 'fancy-relu'"), "bad prefix: %s", err);
    CHECK(parse_t5_activation("tanh", NULL, &c) != 0 &&
              strstr(err, "text_encoder.feed_forward_proj 'tanh' is not a supported activation"),
          "unknown activation: %s", err);
    CHECK(parse_t5_activation("relu", "mish", &c) != 0 &&
              strstr(err, "text_encoder.dense_act_fn 'mish' is not a supported activation"),
          "unknown dense_act_fn: %s", err);
}

/* ----------------------------------------------------------------- errors */

TEST(bad_configs_are_refused_with_clear_messages)
{
    jen1_model_config c;
    CHECK(jen1_model_config_parse("{\"decoder\": {", NULL, "config.json", &c, err, sizeof err) != 0 &&
              strstr(err, "config.json: invalid JSON at line 1"), "bad JSON: %s", err);
    CHECK(jen1_model_config_parse("[]", NULL, "config.json", &c, err, sizeof err) != 0 &&
              strstr(err, "config.json: the top level is not a JSON object"), "array: %s", err);
    CHECK(refused_with(NULL, "decoder", NULL, "config.json: missing 'decoder'"), "no decoder");
    CHECK(refused_with(NULL, "text_encoder", NULL, "missing 'text_encoder'"), "no text_encoder");
    CHECK(refused_with(NULL, "audio_encoder", json_integer(3),
                       "config.json: 'audio_encoder' is not a JSON object"), "part not object");
    CHECK(refused_with(NULL, "model_type", json_string("musicgen_melody"),
                       "config.json: model_type is 'musicgen_melody'; only 'musicgen'"), "melody");
    CHECK(refused_with("text_encoder", "model_type", json_string("bart"),
                       "text_encoder.model_type is 'bart'; only 't5'"), "not T5");

    CHECK(refused_with("decoder", "hidden_size", json_string("64"),
                       "config.json: decoder.hidden_size must be a positive integer"), "string int");
    CHECK(refused_with("decoder", "hidden_size", json_real(64.5),
                       "decoder.hidden_size must be a positive integer"), "float int");
    CHECK(refused_with("decoder", "hidden_size", json_integer(0),
                       "decoder.hidden_size must be a positive integer"), "zero");
    CHECK(refused_with("decoder", "num_hidden_layers", json_null(),
                       "decoder.num_hidden_layers must be a positive integer"), "null");
    CHECK(refused_with("decoder", "hidden_size", json_integer(1LL << 40),
                       "decoder.hidden_size is 1099511627776, more than the supported"), "huge");
    CHECK(refused_with("decoder", "hidden_size", json_integer(66),
                       "config.json: decoder.hidden_size (66) is not divisible by "
                       "decoder.num_attention_heads (4)"), "not divisible");
    CHECK(refused_with("decoder", "audio_channels", json_integer(2),
                       "decoder.audio_channels is 2 (stereo"), "stereo decoder");
    CHECK(refused_with("decoder", "audio_channels", json_integer(3),
                       "decoder.audio_channels must be 1"), "3 channels");
    CHECK(refused_with("decoder", "activation_function", json_string("tanh"),
                       "decoder.activation_function 'tanh' is not a supported activation"),
          "unknown activation");
    CHECK(refused_with("decoder", "scale_embedding", json_string("no"),
                       "decoder.scale_embedding must be true or false"), "bool");
    CHECK(refused_with("decoder", "bos_token_id", json_integer(65),
                       "decoder.bos_token_id (65) and pad_token_id (64) must be at most vocab_size"),
          "bos beyond the embedding");
    CHECK(refused_with("decoder", "pad_token_id", json_integer(-1),
                       "decoder.pad_token_id must be a non-negative integer"), "negative id");

    CHECK(refused_with("text_encoder", "layer_norm_epsilon", json_integer(0),
                       "text_encoder.layer_norm_epsilon must be a number > 0"), "eps 0");
    /* Found by tests/fuzz/fuzz_config.c: positive as a double, 0 as the float kept. */
    CHECK(refused_with("text_encoder", "layer_norm_epsilon", json_real(1e-83),
                       "text_encoder.layer_norm_epsilon must be a number > 0"), "eps 1e-83");
    CHECK(refused_with("text_encoder", "relative_attention_num_buckets", json_integer(2),
                       "text_encoder.relative_attention_num_buckets (2) must be >= 4"), "buckets");
    CHECK(refused_with("text_encoder", "d_kv", json_integer(1 << 24),
                       "text_encoder.num_heads * d_kv"), "inner dim");
    CHECK(refused_with("text_encoder", "eos_token_id", json_integer(512),
                       "must be below vocab_size (512)"), "eos beyond vocab");

    CHECK(refused_with("audio_encoder", "audio_channels", json_integer(2),
                       "audio_encoder.audio_channels is 2 (stereo"), "stereo encodec");
    CHECK(refused_with("audio_encoder", "norm_type", json_string("time_group_norm"),
                       "audio_encoder.norm_type 'time_group_norm' is not supported"), "group norm");
    CHECK(refused_with("audio_encoder", "norm_type", json_string("batch_norm"),
                       "audio_encoder.norm_type 'batch_norm' is unknown"), "unknown norm");
    CHECK(refused_with("audio_encoder", "pad_mode", json_string("circular"),
                       "audio_encoder.pad_mode 'circular' is not supported"), "pad mode");
    CHECK(refused_with("audio_encoder", "upsampling_ratios", json_array(),
                       "audio_encoder.upsampling_ratios must be an array of 1 to 8"), "no ratios");
    CHECK(refused_with("audio_encoder", "upsampling_ratios", json_pack("[i,i]", 8, 0),
                       "audio_encoder.upsampling_ratios [1] must be a positive integer"), "zero ratio");
    CHECK(refused_with("audio_encoder", "upsampling_ratios", json_string("8,5,4,4"),
                       "upsampling_ratios must be an array"), "ratios string");
    CHECK(refused_with("audio_encoder", "upsampling_ratios",
                       json_pack("[i,i,i,i,i,i,i,i,i]", 2, 2, 2, 2, 2, 2, 2, 2, 2),
                       "must be an array of 1 to 8"), "9 ratios");
    CHECK(refused_with("audio_encoder", "upsampling_ratios",
                       json_pack("[i,i,i,i]", 4096, 4096, 4096, 4096), "multiply to more than"),
          "hop overflow");
    CHECK(refused_with("audio_encoder", "codebook_dim", json_integer(-16),
                       "audio_encoder.codebook_dim must be a positive integer"), "codebook_dim");
    CHECK(refused_with("audio_encoder", "trim_right_ratio", json_real(1.5),
                       "audio_encoder.trim_right_ratio must be a number in [0, 1]"), "trim");
}

TEST(failed_parse_leaves_output_untouched)
{
    jen1_model_config c;
    memset(&c, 0x5a, sizeof c);
    jen1_model_config before = c;
    CHECK(parse_edited("decoder", "hidden_size", json_integer(66), &c) != 0, "refused");
    CHECK(memcmp(&c, &before, sizeof c) == 0, "output was modified");
}

TEST(generation_config_values_and_errors)
{
    const char *cfg = "{\"text_encoder\": {}, \"decoder\": {}, \"audio_encoder\": {}}";
    jen1_model_config c;
    REQUIRE(jen1_model_config_parse(cfg, "{\"top_k\": 250, \"top_p\": 0.9, \"temperature\": 0.7, "
                                    "\"do_sample\": true, \"guidance_scale\": 3, \"max_length\": 1500}",
                                    "config.json", &c, err, sizeof err) == 0, "%s", err);
    const jen1_generation_config *g = &c.generation;
    CHECK(g->has_file && g->top_k == 250 && near(g->top_p, 0.9) && near(g->temperature, 0.7) &&
              g->do_sample && near(g->guidance_scale, 3.0) && g->max_length == 1500, "values");

    REQUIRE(jen1_model_config_parse(cfg, "{\"top_k\": null, \"guidance_scale\": null}",
                                    "config.json", &c, err, sizeof err) == 0, "%s", err);
    CHECK(g->top_k == 0 && near(g->guidance_scale, 1.0), "null top_k disables it, null guidance = 1");

    static const struct {
        const char *json, *expected;
    } bad[] = {
        {"{\"top_k\": ", "generation_config.json: invalid JSON"},
        {"{\"top_p\": 2}", "generation_config.json: top_p must be a number in (0, 1]"},
        {"{\"top_p\": 0}", "top_p must be a number in (0, 1]"},
        {"{\"temperature\": 0}", "generation_config.json: temperature must be a number > 0"},
        {"{\"temperature\": 1e-50}", "temperature must be a number > 0"}, /* 0 as a float */
        {"{\"temperature\": 1e39}", "temperature must be a number > 0"},  /* inf as a float */
        {"{\"guidance_scale\": 1e300}", "guidance_scale must be a number >= 0"},
        {"{\"do_sample\": \"yes\"}", "generation_config.json: do_sample must be true or false"},
        {"{\"top_k\": -1}", "generation_config.json: top_k must be a non-negative integer"},
        {"{\"max_length\": 0}", "generation_config.json: max_length must be a positive integer"},
        {"{\"guidance_scale\": -2}", "guidance_scale must be a number >= 0"},
        {"[1]", "generation_config.json: the top level is not a JSON object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        CHECK(jen1_model_config_parse(cfg, bad[i].json, "config.json", &c, err, sizeof err) != 0 &&
                  strstr(err, bad[i].expected), "%s -> \"%s\"", bad[i].json, err);
    }
}

TEST(load_reports_the_file_at_fault)
{
    jen1_model_config c;
    CHECK(jen1_model_config_load("build/no/such/config.json", NULL, &c, err, sizeof err) != 0 &&
              strstr(err, "build/no/such/config.json: cannot open"), "missing config: %s", err);

    char dir[256], config[512], gen[512];
    mkdir(check_tmp_dir(), 0755);
    snprintf(dir, sizeof dir, "%s/test_model_config", check_tmp_dir());
    mkdir(dir, 0755);
    snprintf(config, sizeof config, "%s/config.json", dir);
    snprintf(gen, sizeof gen, "%s/generation_config.json", dir);
    FILE *f = fopen(config, "w");
    REQUIRE(f, "create %s", config);
    fputs("{\"text_encoder\": {}, \"decoder\": {\"hidden_size\": \"big\"}, \"audio_encoder\": {}}", f);
    fclose(f);
    CHECK(jen1_model_config_load(config, NULL, &c, err, sizeof err) != 0 && strstr(err, config) &&
              strstr(err, "decoder.hidden_size must be a positive integer"), "bad value: %s", err);

    f = fopen(config, "w");
    REQUIRE(f, "create %s", config);
    fputs("{\"text_encoder\": {}, \"decoder\": {}, \"audio_encoder\": {}}", f);
    fclose(f);
    f = fopen(gen, "w");
    REQUIRE(f, "create %s", gen);
    fputs("{\"do_sample\": 1}", f);
    fclose(f);
    CHECK(jen1_model_config_load(config, gen, &c, err, sizeof err) != 0 && strstr(err, gen) &&
              strstr(err, "do_sample must be true or false"), "bad generation file: %s", err);
}

int main(void)
{
    RUN(fixture_loads_with_readme_values);
    RUN(absent_generation_file_gives_defaults);
    RUN(empty_parts_take_transformers_defaults);
    RUN(stripped_keys_take_defaults);
    RUN(t5_feed_forward_proj_variants);
    RUN(bad_configs_are_refused_with_clear_messages);
    RUN(failed_parse_leaves_output_untouched);
    RUN(generation_config_values_and_errors);
    RUN(load_reports_the_file_at_fault);
    return check_summary("test_model_config");
}
