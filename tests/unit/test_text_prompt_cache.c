/* test_text_prompt_cache.c - the text engine's prompt cache and its line
 * limits, on the qwen2-tiny model: a cache gives the tokens of the same calls
 * without one (alone, batched, after a longer or a different prompt), holds
 * the calls' shared beginning, refuses another model's calls; option scores
 * with a cache are those without; max_lines and max_line_tokens shape any
 * reply into bounded lines. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fixture.h"
#include "jen1_text_stages.h"

static jen1_text_model *model;
static char model_dir[512];

static const char *fixture_dir(void)
{
    const char *d = getenv("JEN1_TEXT_FIXTURES");
    return d ? d : "tests/fixtures/qwen2-tiny";
}

/* The ids of a chat whose user message is `user` (generation prompt added);
 * 0 on an error. */
static int chat_ids(const char *user, int64_t *ids, int cap)
{
    char err[512], *text = NULL;
    jen1_chat_message chat[] = {{"system", "You write songs."}, {"user", user}};
    int n = 0;
    if (jen1_text_chat_render(model, chat, 2, 1, &text, err, sizeof err) != JEN1_OK ||
        jen1_text_tokenize(model, text, strlen(text), 1, ids, cap, &n, err, sizeof err) != JEN1_OK)
        n = 0;
    CHECK(n > 0, "chat: %s", err);
    jen1_free(text);
    return n;
}

static jen1_text_output *generate(const jen1_text_request *reqs, int n, const jen1_text_generate_params *p,
                                  jen1_tensor *scores)
{
    char err[512];
    jen1_text_output *out = NULL;
    jen1_status st = jen1_text_generate_traced(model, reqs, n, p, &out, scores, err, sizeof err);
    CHECK(st == JEN1_OK && out && out->n_items == n, "generate: %s", err);
    return st == JEN1_OK ? out : NULL;
}

static int same_ids(const jen1_text_output_item *a, const jen1_text_output_item *b)
{
    return a->n_ids == b->n_ids && memcmp(a->ids, b->ids, (size_t)a->n_ids * sizeof(int64_t)) == 0;
}

/* Generates reqs with the cache and without, and compares. */
static void check_alike(jen1_text_cache *cache, const jen1_text_request *reqs, int n, jen1_text_generate_params p,
                        const char *what)
{
    jen1_tensor plain_scores = {0}, cached_scores = {0};
    p.cache = NULL;
    jen1_text_output *plain = generate(reqs, n, &p, &plain_scores);
    p.cache = cache;
    jen1_text_output *cached = generate(reqs, n, &p, &cached_scores);
    if (plain && cached) {
        for (int i = 0; i < n; i++)
            CHECK(same_ids(&plain->items[i], &cached->items[i]), "%s: row %d's tokens differ with the cache", what,
                  i);
        int64_t count = 1;
        for (int d = 0; d < plain_scores.ndim; d++) count *= plain_scores.shape[d];
        /* Scores are -inf where filtered: compare the finite ones. */
        double worst = 0;
        for (int64_t i = 0; i < count; i++) {
            float a = ((const float *)plain_scores.data)[i], b = ((const float *)cached_scores.data)[i];
            if (isfinite(a) || isfinite(b)) worst = fmax(worst, fabs((double)a - b));
        }
        printf("     %s: scores max abs diff %.3g, the cache holds %d tokens\n", what, worst,
               jen1_text_cache_tokens(cache));
        CHECK(worst < 1e-4, "%s: scores differ by %.3g", what, worst);
    }
    jen1_tensor_free(&plain_scores);
    jen1_tensor_free(&cached_scores);
    jen1_text_output_free(plain);
    jen1_text_output_free(cached);
}

static int common_start(const int64_t *a, int na, const int64_t *b, int nb)
{
    int i = 0;
    while (i < na && i < nb && a[i] == b[i]) i++;
    return i;
}

TEST(a_cache_gives_the_tokens_of_the_same_calls_without_one)
{
    int64_t title[512], verse[512], other[512];
    int n_title = chat_ids("The story: a lighthouse keeper finds a bottle.\nWrite the title.", title, 512);
    int n_verse = chat_ids("The story: a lighthouse keeper finds a bottle.\nWrite the first verse.", verse, 512);
    int n_other = chat_ids("A different story about a train.", other, 512);
    jen1_text_cache *cache = NULL;
    char err[512];
    REQUIRE(jen1_text_cache_new(model, &cache, err, sizeof err) == JEN1_OK, "%s", err);
    CHECK(jen1_text_cache_tokens(cache) == 0, "a new cache is empty");

    jen1_text_generate_params p = jen1_text_generate_default_params(model);
    p.max_new_tokens = 12;
    jen1_text_request r_title = {title, n_title, 5}, r_verse = {verse, n_verse, 6}, r_other = {other, n_other, 7};

    check_alike(cache, &r_title, 1, p, "one prompt");
    CHECK(jen1_text_cache_tokens(cache) == n_title - 1, "the cache holds the prompt but its last token: %d of %d",
          jen1_text_cache_tokens(cache), n_title);

    int shared = common_start(title, n_title, verse, n_verse);
    jen1_text_request both[] = {r_verse, r_title};
    check_alike(cache, both, 2, p, "a batch sharing a beginning");
    CHECK(jen1_text_cache_tokens(cache) == shared, "the cache holds the batch's shared beginning: %d, not %d",
          jen1_text_cache_tokens(cache), shared);

    check_alike(cache, &r_verse, 1, p, "a longer prompt after a batch");
    CHECK(jen1_text_cache_tokens(cache) == n_verse - 1, "the cache grew to %d", jen1_text_cache_tokens(cache));

    check_alike(cache, &r_other, 1, p, "a prompt sharing only the system message");

    /* Greedy with the penalty off: the reference's plain argmax path. */
    p.sampling.greedy = 1;
    p.sampling.repetition_penalty = 1.0f;
    check_alike(cache, both, 2, p, "greedy");

    /* A cache is tied to its model. */
    jen1_text_model *twin = NULL;
    REQUIRE(jen1_text_model_load(model_dir, NULL, &twin, err, sizeof err) == JEN1_OK, "%s", err);
    jen1_text_output *out = NULL;
    p.cache = cache;
    CHECK(jen1_text_generate(twin, &r_title, 1, &p, &out, err, sizeof err) == JEN1_ERR_INVALID_ARGUMENT && !out,
          "another model's cache is refused");
    CHECK(strstr(err, "another model") != NULL, "the error says why: %s", err);
    jen1_text_model_free(twin);
    jen1_text_cache_free(cache);
    jen1_text_cache_free(NULL);
}

TEST(option_scores_with_a_cache_are_those_without)
{
    int64_t prompt[512];
    int n = chat_ids("Which mood fits? Answer with one of: calm, bright, dark.", prompt, 512);
    int64_t o1[8], o2[8], o3[8];
    int l1, l2, l3;
    char err[512];
    REQUIRE(jen1_text_tokenize(model, "calm", 4, 0, o1, 8, &l1, err, sizeof err) == JEN1_OK, "%s", err);
    REQUIRE(jen1_text_tokenize(model, "bright", 6, 0, o2, 8, &l2, err, sizeof err) == JEN1_OK, "%s", err);
    REQUIRE(jen1_text_tokenize(model, "dark", 4, 0, o3, 8, &l3, err, sizeof err) == JEN1_OK, "%s", err);
    const int64_t *options[] = {o1, o2, o3};
    const int lens[] = {l1, l2, l3};
    double plain[3], cached[3], again[3];
    jen1_text_cache *cache = NULL;
    REQUIRE(jen1_text_cache_new(model, &cache, err, sizeof err) == JEN1_OK, "%s", err);
    REQUIRE(jen1_text_score_options(model, NULL, prompt, n, options, lens, 3, plain, err, sizeof err) == JEN1_OK,
            "%s", err);
    REQUIRE(jen1_text_score_options(model, cache, prompt, n, options, lens, 3, cached, err, sizeof err) == JEN1_OK,
            "%s", err);
    CHECK(jen1_text_cache_tokens(cache) == n - 1, "the cache holds the prompt but its last token");
    REQUIRE(jen1_text_score_options(model, cache, prompt, n, options, lens, 3, again, err, sizeof err) == JEN1_OK,
            "%s", err);
    for (int i = 0; i < 3; i++) {
        CHECK(fabs(plain[i] - cached[i]) < 1e-4, "option %d: %.6f with the cache, %.6f without", i, cached[i],
              plain[i]);
        CHECK(cached[i] == again[i], "option %d: a cache hit changed the score", i);
    }
    jen1_text_cache_free(cache);
}

/* The non-empty lines of s, and the longest run of tokens between newlines. */
static int count_lines(const char *s)
{
    int n = 0, filled = 0;
    for (;; s++) {
        if (*s == '\n' || *s == '\0') {
            n += filled;
            filled = 0;
            if (!*s) return n;
        } else if (*s != ' ' && *s != '\t' && *s != '\r') {
            filled = 1;
        }
    }
}

TEST(max_lines_and_max_line_tokens_bound_any_reply)
{
    int64_t prompt[512];
    int n = chat_ids("Write four lines about the sea.", prompt, 512);
    int64_t newline;
    int one = 0;
    char err[512];
    REQUIRE(jen1_text_tokenize(model, "\n", 1, 0, &newline, 1, &one, err, sizeof err) == JEN1_OK && one == 1, "%s",
            err);
    jen1_text_generate_params p = jen1_text_generate_default_params(model);
    p.ban_special = 1;
    p.max_lines = 3;
    p.max_line_tokens = 4;
    p.max_new_tokens = 64;
    int stopped = 0;
    for (uint64_t seed = 1; seed <= 8; seed++) {
        jen1_text_request r = {prompt, n, seed};
        jen1_text_output *out = NULL;
        REQUIRE(jen1_text_generate(model, &r, 1, &p, &out, err, sizeof err) == JEN1_OK, "%s", err);
        const jen1_text_output_item *it = &out->items[0];
        int run = 0, longest = 0;
        for (int i = 0; i < it->n_ids; i++) {
            char *piece = NULL;
            REQUIRE(jen1_text_detokenize(model, &it->ids[i], 1, 0, &piece, err, sizeof err) == JEN1_OK, "%s", err);
            run = strchr(piece, '\n') ? 0 : run + 1;
            longest = run > longest ? run : longest;
            jen1_free(piece);
        }
        CHECK(longest <= 4, "seed %llu: %d tokens without a newline", (unsigned long long)seed, longest);
        if (it->finish == JEN1_TEXT_FINISH_STOP) {
            stopped++;
            CHECK(count_lines(it->text) == 3, "seed %llu: %d lines in \"%s\"", (unsigned long long)seed,
                  count_lines(it->text), it->text);
            size_t len = strlen(it->text);
            CHECK(len > 0 && it->text[len - 1] != '\n', "seed %llu: the text ends with its last line",
                  (unsigned long long)seed);
        } else {
            CHECK(it->finish == JEN1_TEXT_FINISH_EOS && count_lines(it->text) <= 3, "seed %llu: finish %d",
                  (unsigned long long)seed, it->finish);
        }
        jen1_text_output_free(out);
    }
    printf("     %d of 8 replies stopped at 3 lines (the rest at an EOS)\n", stopped);
    CHECK(stopped >= 4, "only %d of 8 replies reached their lines", stopped);

    p.max_lines = -1;
    jen1_text_request r = {prompt, n, 1};
    jen1_text_output *out = NULL;
    CHECK(jen1_text_generate(model, &r, 1, &p, &out, err, sizeof err) == JEN1_ERR_INVALID_ARGUMENT && !out,
          "negative max_lines");
}

int main(void)
{
    char err[512];
    snprintf(model_dir, sizeof model_dir, "%s/model", fixture_dir());
    if (jen1_text_model_load(model_dir, NULL, &model, err, sizeof err) != JEN1_OK) {
        fprintf(stderr, "cannot load %s: %s\n", model_dir, err);
        return check_summary("test_text_prompt_cache") | 1;
    }
    RUN(a_cache_gives_the_tokens_of_the_same_calls_without_one);
    RUN(option_scores_with_a_cache_are_those_without);
    RUN(max_lines_and_max_line_tokens_bound_any_reply);
    jen1_text_model_free(model);
    return check_summary("test_text_prompt_cache");
}
