/* test_text_load.c - loading the text model from good and broken checkpoint
 * directories: each broken one (a file missing, bad JSON, an architecture or
 * feature jen1 does not run, a tensor missing or misshapen, a truncated
 * weights file, a broken tokenizer or chat template) must be refused with a
 * status and a message that names the file and what is wrong, never crash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fixture.h"
#include "jen1_text.h"

static char source[512];

/* A fresh copy of the fixture's model directory, as scratch/text_models/<name>. */
static const char *model_copy(const char *name) { return fixture_copy_dir(source, "text_models", name); }

/* Replaces the first `from` in dir/file by `to` (a JSON edit), or writes
 * only the first `keep` bytes when from is NULL. */
static int edit_file(const char *dir, const char *file, const char *from, const char *to, size_t keep)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    size_t len;
    unsigned char *data = fixture_read_file(path, &len);
    if (!data) return -1;
    FILE *f = fopen(path, "wb");
    int rc = f ? 0 : -1;
    const char *at = from ? memmem(data, len, from, strlen(from)) : NULL;
    if (f && from && at) {
        size_t before = (size_t)(at - (const char *)data);
        fwrite(data, 1, before, f);
        fputs(to, f);
        fwrite(at + strlen(from), 1, len - before - strlen(from), f);
    } else if (f) {
        fwrite(data, 1, from ? len : keep, f);
        rc = from ? -1 : 0;  /* `from` not found: the test would prove nothing */
    }
    if (f) fclose(f);
    free(data);
    return rc;
}

static void expect_refusal(const char *dir, jen1_status status, const char *needle1, const char *needle2)
{
    char err[1024] = "";
    jen1_text_model *m = NULL;
    REQUIRE(dir, "no model directory");
    jen1_status st = jen1_text_model_load(dir, NULL, &m, err, sizeof err);
    printf("     refused (%s): %s\n", jen1_status_name(st), err);
    CHECK(st == status, "status %s, expected %s (%s)", jen1_status_name(st), jen1_status_name(status), err);
    CHECK(m == NULL, "a model came back with an error");
    CHECK(!needle1 || strstr(err, needle1), "message lacks '%s': %s", needle1, err);
    CHECK(!needle2 || strstr(err, needle2), "message lacks '%s': %s", needle2, err);
    jen1_text_model_free(m);
}

/* A copy of the fixture with one edit of `file` must be refused so. */
static void expect_edit_refused(const char *name, const char *file, const char *from, const char *to,
                                jen1_status status, const char *needle1, const char *needle2)
{
    const char *dir = model_copy(name);
    REQUIRE(dir && edit_file(dir, file, from, to, 0) == 0, "%s: cannot edit %s", name, file);
    expect_refusal(dir, status, needle1, needle2);
}

TEST(fixture_loads_and_describes_itself)
{
    char err[512];
    jen1_text_model *m;
    const char *dir = model_copy("qwen2.5-tiny-instruct");
    REQUIRE(dir && jen1_text_model_load(dir, NULL, &m, err, sizeof err) == JEN1_OK, "%s", err);
    CHECK(strcmp(jen1_text_model_name(m), "qwen2.5-tiny-instruct") == 0, "name %s", jen1_text_model_name(m));
    CHECK(strcmp(jen1_text_model_arch(m), "qwen2") == 0, "arch %s", jen1_text_model_arch(m));
    CHECK(jen1_text_model_vocab_size(m) == 768, "vocab %d", jen1_text_model_vocab_size(m));
    CHECK(jen1_text_model_max_positions(m) == 1024, "positions %d", jen1_text_model_max_positions(m));
    CHECK(strcmp(jen1_text_model_device(m), "cpu") == 0 || strncmp(jen1_text_model_device(m), "cuda", 4) == 0,
          "device %s", jen1_text_model_device(m));
    jen1_text_generate_params p = jen1_text_generate_default_params(m);
    CHECK(!p.sampling.greedy && p.sampling.temperature == 0.7f && p.sampling.top_k == 20 &&
              p.sampling.top_p == 0.8f && p.sampling.repetition_penalty == 1.05f && p.max_new_tokens == 256,
          "defaults from generation_config.json");
    jen1_text_model_free(m);
}

TEST(missing_files_are_io_errors)
{
    expect_refusal("/nonexistent/qwen", JEN1_ERR_IO, "config.json", "not found");
    const char *dir = model_copy("no-weights");
    char path[2048];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    remove(path);
    expect_refusal(dir, JEN1_ERR_IO, "model.safetensors", "not found");
    jen1_text_model *m = (jen1_text_model *)1;
    CHECK(jen1_text_model_load(NULL, NULL, &m, NULL, 0) == JEN1_ERR_INVALID_ARGUMENT && m == NULL, "NULL dir");
}

TEST(bad_json_is_a_format_error)
{
    expect_edit_refused("bad-json", "config.json", "\"hidden_size\": 64,", "\"hidden_size\": 64", JEN1_ERR_FORMAT,
                        "config.json", "invalid JSON");
    expect_edit_refused("bad-generation-config", "generation_config.json", "\"top_p\": 0.8", "\"top_p\": 2",
                        JEN1_ERR_FORMAT, "generation_config.json", "top_p");
    expect_edit_refused("bad-heads", "config.json", "\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3",
                        JEN1_ERR_FORMAT, "config.json", "num_key_value_heads");
    expect_edit_refused("string-size", "config.json", "\"vocab_size\": 768", "\"vocab_size\": \"768\"",
                        JEN1_ERR_FORMAT, "config.json", "vocab_size");
}

TEST(other_architectures_and_features_are_unsupported)
{
    expect_edit_refused("llama", "config.json", "\"model_type\": \"qwen2\"", "\"model_type\": \"llama\"",
                        JEN1_ERR_UNSUPPORTED, "config.json", "llama");
    expect_edit_refused("other-class", "config.json", "Qwen2ForCausalLM", "Qwen2ForSequenceClassification",
                        JEN1_ERR_UNSUPPORTED, "config.json", "Qwen2ForSequenceClassification");
    expect_edit_refused("sliding-window", "config.json", "\"use_sliding_window\": false",
                        "\"use_sliding_window\": true", JEN1_ERR_UNSUPPORTED, "config.json", "use_sliding_window");
    expect_edit_refused("rope-scaling", "config.json", "\"rope_theta\"",
                        "\"rope_scaling\": {\"type\": \"yarn\", \"factor\": 4.0}, \"rope_theta\"",
                        JEN1_ERR_UNSUPPORTED, "config.json", "rope_scaling");
    expect_edit_refused("gelu", "config.json", "\"hidden_act\": \"silu\"", "\"hidden_act\": \"gelu\"",
                        JEN1_ERR_UNSUPPORTED, "config.json", "hidden_act");
}

TEST(broken_weights_are_format_errors)
{
    /* A tensor renamed away: the loader finds it missing. */
    expect_edit_refused("missing-tensor", "model.safetensors", "model.layers.1.mlp.up_proj.weight",
                        "model.layers.1.mlp.up_proj.weighX", JEN1_ERR_FORMAT, "model.safetensors",
                        "model.layers.1.mlp.up_proj.weight");
    /* Untied without an lm_head.weight. */
    expect_edit_refused("untied", "config.json", "\"tie_word_embeddings\": true", "\"tie_word_embeddings\": false",
                        JEN1_ERR_FORMAT, "lm_head.weight", "missing");
    /* k's bias stored under q's name: q_proj.bias has 32 values, not 64. */
    const char *dir = model_copy("wrong-shape");
    REQUIRE(dir &&
                edit_file(dir, "model.safetensors", "0.self_attn.q_proj.bias", "0.self_attn.x_proj.bias", 0) == 0 &&
                edit_file(dir, "model.safetensors", "0.self_attn.k_proj.bias", "0.self_attn.q_proj.bias", 0) == 0,
            "edit");
    expect_refusal(dir, JEN1_ERR_FORMAT, "'model.layers.0.self_attn.q_proj.bias' has shape [32]", "expected [64]");
    /* Half a file, then not even a header. */
    char path[2048];
    snprintf(path, sizeof path, "%s/model.safetensors", source);
    size_t len;
    free(fixture_read_file(path, &len));
    REQUIRE(edit_file(dir, "model.safetensors", NULL, NULL, len / 2) == 0, "truncate");
    expect_refusal(dir, JEN1_ERR_FORMAT, "model.safetensors", NULL);
    REQUIRE(edit_file(dir, "model.safetensors", NULL, NULL, 5) == 0, "truncate");
    expect_refusal(dir, JEN1_ERR_FORMAT, "model.safetensors", "too short");
}

TEST(broken_tokenizers_are_format_errors)
{
    expect_edit_refused("bad-tokenizer-json", "tokenizer.json", "\"version\": \"1.0\",", "\"version\": \"1.0\"",
                        JEN1_ERR_FORMAT, "tokenizer.json", NULL);
    /* Without tokenizer.json, vocab.json + merges.txt are read. */
    const char *dir = model_copy("bad-merges");
    char path[2048];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    REQUIRE(dir && remove(path) == 0, "remove tokenizer.json");
    REQUIRE(edit_file(dir, "merges.txt", "\nt h\n", "\nt zzz-no-such-token\n", 0) == 0, "edit merges.txt");
    expect_refusal(dir, JEN1_ERR_FORMAT, "merges.txt", NULL);
    expect_edit_refused("no-template", "tokenizer_config.json", "\"chat_template\":", "\"chat_templates\":",
                        JEN1_ERR_FORMAT, "tokenizer_config.json", NULL);
}

int main(void)
{
    const char *fixtures = getenv("JEN1_TEXT_FIXTURES");
    snprintf(source, sizeof source, "%s/model", fixtures ? fixtures : "tests/fixtures/qwen2-tiny");
    RUN(fixture_loads_and_describes_itself);
    RUN(missing_files_are_io_errors);
    RUN(bad_json_is_a_format_error);
    RUN(other_architectures_and_features_are_unsupported);
    RUN(broken_weights_are_format_errors);
    RUN(broken_tokenizers_are_format_errors);
    return check_summary("test_text_load");
}
