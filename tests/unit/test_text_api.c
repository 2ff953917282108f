/* test_text_api.c - jen1_text.h's text side on the qwen2-tiny model: every
 * tokenisation, decoding and chat golden of golden/index.json through the
 * API, the decoded texts of the golden greedy runs, stop strings, and the
 * header's own example (chat, tokenize, generate). Needs the real tokenizer
 * (shim/tokenizer/bpe, shim/tokenizer/chat). */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "jen1_text.h"

static jen1_text_model *model;
static json_t *index_json;

static const char *fixture_dir(void)
{
    const char *d = getenv("JEN1_TEXT_FIXTURES");
    return d ? d : "tests/fixtures/qwen2-tiny";
}

/* The bytes of a hex string (NUL-terminated too), malloc'd; *len bytes. */
static char *unhex(const char *hex, size_t *len)
{
    *len = strlen(hex) / 2;
    char *out = malloc(*len + 1);
    for (size_t i = 0; i < *len; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (char)v;
    }
    out[*len] = '\0';
    return out;
}

/* Ids of a JSON array; returns the count. */
static int json_ids(json_t *arr, int64_t *ids, int max)
{
    int n = 0;
    for (size_t i = 0; i < json_array_size(arr) && n < max; i++) ids[n++] = json_integer_value(json_array_get(arr, i));
    return n;
}

static int same_ids(const int64_t *a, int na, const int64_t *b, int nb)
{
    return na == nb && (na == 0 || memcmp(a, b, (size_t)na * sizeof *a) == 0);
}

TEST(tokenization_goldens)
{
    json_t *cases = json_object_get(index_json, "tokenization");
    REQUIRE(json_array_size(cases) > 100, "index.json has no tokenization cases");
    int bad = 0;
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *c = json_array_get(cases, i);
        size_t len;
        char *text = unhex(json_string_value(json_object_get(c, "utf8_hex")), &len);
        int64_t want[512], got[512];
        int n_want = json_ids(json_object_get(c, "ids"), want, 512), n = -1;
        char err[512];
        jen1_status st = jen1_text_tokenize(model, text, len, 1, got, 512, &n, err, sizeof err);
        if (st != JEN1_OK || !same_ids(got, n, want, n_want)) {
            bad++;
            fprintf(stderr, "  case %zu (%s): %d ids, golden %d %s\n", i, json_string_value(json_object_get(c, "utf8_hex")),
                    n, n_want, err);
        }
        free(text);
    }
    CHECK(bad == 0, "%d of %zu strings tokenised differently", bad, json_array_size(cases));
}

TEST(a_small_buffer_gets_the_full_count)
{
    const char *text = "Hello, world! 1999";
    int64_t ids[64], few[2];
    int n = 0, n_few = 0;
    char err[512];
    REQUIRE(jen1_text_tokenize(model, text, strlen(text), 0, ids, 64, &n, err, sizeof err) == JEN1_OK, "%s", err);
    CHECK(jen1_text_tokenize(model, text, strlen(text), 0, few, 2, &n_few, err, sizeof err) ==
                  JEN1_ERR_INVALID_ARGUMENT &&
              n_few == n && few[0] == ids[0] && few[1] == ids[1],
          "2 of %d ids: n=%d", n, n_few);
    CHECK(jen1_text_tokenize(model, "\xff\xfe", 2, 0, ids, 64, &n, err, sizeof err) == JEN1_ERR_INVALID_ARGUMENT,
          "invalid UTF-8 is an error");
    /* Without parse_special, a special token's text is plain text. */
    CHECK(jen1_text_tokenize(model, "<|im_end|>", 10, 0, ids, 64, &n, err, sizeof err) == JEN1_OK && n > 1,
          "<|im_end|> as text: %d ids", n);
    CHECK(jen1_text_tokenize(model, "<|im_end|>", 10, 1, ids, 64, &n, err, sizeof err) == JEN1_OK && n == 1 &&
              ids[0] == 758,
          "<|im_end|> as a special token");
}

TEST(decode_goldens)
{
    json_t *cases = json_object_get(index_json, "decode");
    REQUIRE(json_array_size(cases) > 0, "index.json has no decode cases");
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *c = json_array_get(cases, i);
        int64_t ids[512];
        int n = json_ids(json_object_get(c, "ids"), ids, 512);
        for (int skip = 0; skip < 2; skip++) {
            size_t len;
            char *want = unhex(json_string_value(json_object_get(c, skip ? "utf8_hex_skip_special" : "utf8_hex")), &len);
            char *got = NULL, err[512];
            CHECK(jen1_text_detokenize(model, ids, n, skip, &got, err, sizeof err) == JEN1_OK, "%s", err);
            CHECK(got && strlen(got) == len && memcmp(got, want, len) == 0, "case %zu skip %d: '%s' vs '%s'", i, skip,
                  got ? got : "(null)", want);
            jen1_free(got);
            free(want);
        }
    }
    int64_t bad = 759;
    char *out = (char *)1, err[512];
    CHECK(jen1_text_detokenize(model, &bad, 1, 0, &out, err, sizeof err) == JEN1_ERR_INVALID_ARGUMENT && !out,
          "id 759 has no token");
}

TEST(chat_goldens)
{
    json_t *chats = json_object_get(index_json, "chat");
    REQUIRE(json_array_size(chats) > 0, "index.json has no chats");
    for (size_t i = 0; i < json_array_size(chats); i++) {
        json_t *c = json_array_get(chats, i), *msgs = json_object_get(c, "messages");
        jen1_chat_message m[16];
        size_t n = json_array_size(msgs);
        for (size_t j = 0; j < n && j < 16; j++)
            m[j] = (jen1_chat_message){json_string_value(json_object_get(json_array_get(msgs, j), "role")),
                                       json_string_value(json_object_get(json_array_get(msgs, j), "content"))};
        char *text = NULL, err[512];
        REQUIRE(jen1_text_chat_render(model, m, (int)n, json_is_true(json_object_get(c, "add_generation_prompt")),
                                      &text, err, sizeof err) == JEN1_OK,
                "%s", err);
        CHECK(strcmp(text, json_string_value(json_object_get(c, "text"))) == 0, "chat %zu: %s", i, text);
        int64_t got[512], want[512];
        int n_got = 0, n_want = json_ids(json_object_get(c, "ids"), want, 512);
        CHECK(jen1_text_tokenize(model, text, strlen(text), 1, got, 512, &n_got, err, sizeof err) == JEN1_OK &&
                  same_ids(got, n_got, want, n_want),
              "chat %zu: ids", i);
        jen1_free(text);
    }
}

/* The golden chats, rendered and tokenised: the prompts of the gen_* runs. */
static int chat_prompt(int i, int64_t *ids, int max)
{
    json_t *c = json_array_get(json_object_get(index_json, "chat"), (size_t)i);
    return json_ids(json_object_get(c, "ids"), ids, max);
}

TEST(greedy_texts_match_the_reference)
{
    json_t *texts = json_object_get(json_object_get(json_object_get(index_json, "generation"), "gen_a"),
                                    "text_skip_special");
    jen1_text_generate_params p = jen1_text_generate_default_params(model);
    p.sampling.greedy = 1;
    p.sampling.repetition_penalty = 1.0f;
    p.max_new_tokens = 48;
    for (int i = 0; i < 3; i++) {
        int64_t ids[512];
        jen1_text_request r = {ids, chat_prompt(i, ids, 512), 0};
        jen1_text_output *out = NULL;
        char err[512];
        REQUIRE(jen1_text_generate(model, &r, 1, &p, &out, err, sizeof err) == JEN1_OK, "%s", err);
        const char *want = json_string_value(json_array_get(texts, (size_t)i));
        CHECK(strcmp(out->items[0].text, want) == 0, "prompt %d: '%s' vs '%s'", i, out->items[0].text, want);
        jen1_text_output_free(out);
    }
}

TEST(stop_strings_cut_the_text)
{
    /* gen_a's first reply: " still!!!\n..." - stop at the newline. */
    jen1_text_generate_params p = jen1_text_generate_default_params(model);
    p.sampling.greedy = 1;
    p.sampling.repetition_penalty = 1.0f;
    p.max_new_tokens = 48;
    const char *stops[] = {"no such text", "\n"};
    p.stop_strings = stops;
    p.n_stop_strings = 2;
    int64_t ids[512];
    jen1_text_request r = {ids, chat_prompt(0, ids, 512), 0};
    jen1_text_output *out = NULL;
    char err[512];
    REQUIRE(jen1_text_generate(model, &r, 1, &p, &out, err, sizeof err) == JEN1_OK, "%s", err);
    const jen1_text_output_item *it = &out->items[0];
    CHECK(it->finish == JEN1_TEXT_FINISH_STOP, "finish %d", it->finish);
    CHECK(strcmp(it->text, " still!!!") == 0, "text '%s'", it->text);
    char *all = NULL;
    REQUIRE(jen1_text_detokenize(model, it->ids, it->n_ids, 1, &all, err, sizeof err) == JEN1_OK, "%s", err);
    CHECK(strchr(all, '\n') != NULL, "the ids run up to the token that holds the stop string: '%s'", all);
    if (it->n_ids > 1) {
        char *before = NULL;
        jen1_text_detokenize(model, it->ids, it->n_ids - 1, 1, &before, err, sizeof err);
        CHECK(before && !strchr(before, '\n'), "stopped late: '%s'", before ? before : "");
        jen1_free(before);
    }
    jen1_free(all);
    jen1_text_output_free(out);
}

TEST(the_headers_example_runs)
{
    char err[512];
    jen1_chat_message chat[] = {{"system", "You write song lyrics."}, {"user", "A title for a song about the sea."}};
    char *prompt = NULL;
    REQUIRE(jen1_text_chat_render(model, chat, 2, 1, &prompt, err, sizeof err) == JEN1_OK, "%s", err);
    int64_t ids[2048];
    int n = 0;
    REQUIRE(jen1_text_tokenize(model, prompt, strlen(prompt), 1, ids, 2048, &n, err, sizeof err) == JEN1_OK, "%s", err);
    jen1_free(prompt);
    jen1_text_request req = {.prompt_ids = ids, .n_prompt_ids = n, .seed = 7};
    jen1_text_generate_params gp = jen1_text_generate_default_params(model);
    gp.max_new_tokens = 24;
    gp.stop_strings = (const char *[]){"\n"};
    gp.n_stop_strings = 1;
    gp.ban_special = 1;
    jen1_text_output *out = NULL;
    REQUIRE(jen1_text_generate(model, &req, 1, &gp, &out, err, sizeof err) == JEN1_OK, "%s", err);
    CHECK(!strchr(out->items[0].text, '\n') && out->items[0].n_ids >= 1 && out->items[0].n_ids <= 24, "'%s'",
          out->items[0].text);
    printf("     seed 7: '%s' (%d tokens, finish %d)\n", out->items[0].text, out->items[0].n_ids, out->items[0].finish);
    jen1_text_output_free(out);
}

int main(void)
{
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/golden/index.json", fixture_dir());
    json_error_t jerr;
    index_json = json_load_file(path, JSON_ALLOW_NUL, &jerr);
    snprintf(path, sizeof path, "%s/model", fixture_dir());
    if (!index_json || jen1_text_model_load(path, NULL, &model, err, sizeof err) != JEN1_OK) {
        fprintf(stderr, "cannot load %s: %s\n", path, index_json ? err : jerr.text);
        return check_summary("test_text_api") | 1;
    }
    RUN(tokenization_goldens);
    RUN(a_small_buffer_gets_the_full_count);
    RUN(decode_goldens);
    RUN(chat_goldens);
    RUN(greedy_texts_match_the_reference);
    RUN(stop_strings_cut_the_text);
    RUN(the_headers_example_runs);
    jen1_text_model_free(model);
    json_decref(index_json);
    return check_summary("test_text_api");
}
