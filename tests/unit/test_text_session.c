/* test_text_session.c - jen1_text_session's promises on the qwen2-tiny model
 * (the golden prompts' ids, no tokenizer needed): calls that join at
 * different steps, with different prompts, lengths, parameters and prompt
 * caches, and leave at different steps, get the tokens they get alone; a
 * call aborted, cancelled or rejected at its join ends alone; slots and
 * arguments are checked. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "jen1_text.h"
#include "npy.h"
#include "fixture.h"

static jen1_text_model *model;
static npy_array input_ids, attention_mask;
enum { B = 3 };

static const char *fixture_dir(void)
{
    const char *d = getenv("JEN1_TEXT_FIXTURES");
    return d ? d : "tests/fixtures/qwen2-tiny";
}

/* Golden prompt b without its left padding, cut to its first `len` ids (0: all). */
static jen1_text_request request(int b, uint64_t seed, int len)
{
    const int64_t T = input_ids.shape[1];
    const int64_t *mask = (const int64_t *)attention_mask.data + b * T;
    int off = 0;
    while (off < T && mask[off] == 0) off++;
    int n = (int)(T - off);
    if (len > 0 && len < n) n = len;
    return (jen1_text_request){(const int64_t *)input_ids.data + b * T + off, n, seed};
}

static int same_output(const jen1_text_output *a, const jen1_text_output *b)
{
    if (!a || !b || a->n_items != b->n_items) return 0;
    for (int i = 0; i < a->n_items; i++) {
        const jen1_text_output_item *x = &a->items[i], *y = &b->items[i];
        if (x->n_ids != y->n_ids || x->finish != y->finish || strcmp(x->text, y->text) != 0 ||
            memcmp(x->ids, y->ids, (size_t)x->n_ids * sizeof(int64_t)) != 0)
            return 0;
    }
    return 1;
}

/* One call of the script: what it asks, when it joins, when it is left. */
typedef struct call {
    jen1_text_request reqs[B];
    int n;
    jen1_text_generate_params p;
    int use_cache;
    int join_at;   /* step */
    int cancel_at; /* step at which it is left while running; -1: runs to its end */
    int slot;
    jen1_text_output *alone, *batched;
    jen1_status st;
} call;

static const char *const stops[] = {"a"};

static jen1_text_output *alone(call *c)
{
    char err[512];
    jen1_text_cache *cache = NULL;
    jen1_text_generate_params p = c->p;
    if (c->use_cache) jen1_text_cache_new(model, &cache, err, sizeof err);
    p.cache = cache;
    jen1_text_output *out = NULL;
    jen1_status st = jen1_text_generate(model, c->reqs, c->n, &p, &out, err, sizeof err);
    CHECK(st == JEN1_OK, "alone: %s", err);
    jen1_text_cache_free(cache);
    return out;
}

/* Runs the script in one session; every call that ran to its end must match
 * its run alone. */
static void run_script(call *calls, int n_calls, int slots)
{
    char err[512];
    jen1_text_session *s = NULL;
    CHECK(jen1_text_session_new(model, slots, &s, err, sizeof err) == JEN1_OK, "new: %s", err);
    if (!s) return;
    jen1_text_cache *caches[16] = {0};
    int left = 0, most_rows = 0;
    for (int step = 0; left < n_calls && step < 1000; step++) {
        for (int i = 0; i < n_calls; i++) {
            call *c = &calls[i];
            if (c->join_at != step) continue;
            jen1_text_generate_params p = c->p;
            if (c->use_cache) {
                jen1_text_cache_new(model, &caches[i], err, sizeof err);
                p.cache = caches[i];
            }
            c->st = jen1_text_session_join(s, c->reqs, c->n, &p, &c->slot, err, sizeof err);
            CHECK(c->st == JEN1_OK, "call %d joining at %d: %s", i, step, err);
            if (c->st != JEN1_OK) left++;
        }
        if (jen1_text_session_rows(s) > most_rows) most_rows = jen1_text_session_rows(s);
        for (int i = 0; i < n_calls; i++) {
            call *c = &calls[i];
            if (c->slot < 0 || c->batched || c->st != JEN1_OK) continue;
            int done = jen1_text_session_slot_done(s, c->slot);
            if (done == 1 || (done == 0 && c->cancel_at == step)) {
                c->st = jen1_text_session_leave(s, c->slot, &c->batched, err, sizeof err);
                c->slot = -1;
                left++;
                if (c->st != JEN1_OK) c->batched = NULL;
                if (c->cancel_at >= 0)
                    CHECK(c->st == JEN1_ERR_ABORTED && !c->batched, "call %d left running: %d", i, c->st);
                else
                    CHECK(c->st == JEN1_OK, "call %d: %s", i, err);
            }
        }
        CHECK(jen1_text_session_step(s, err, sizeof err) == JEN1_OK, "step %d: %s", step, err);
    }
    CHECK(left == n_calls && jen1_text_session_running(s) == 0 && jen1_text_session_rows(s) == 0,
          "%d of %d calls left, %d running", left, n_calls, jen1_text_session_running(s));
    printf("     %d calls, up to %d rows in a step\n", n_calls, most_rows);
    CHECK(most_rows > 3, "the calls never shared a step (%d rows at most)", most_rows);
    for (int i = 0; i < n_calls; i++) {
        call *c = &calls[i];
        if (c->cancel_at >= 0) continue;
        c->alone = alone(c);
        CHECK(same_output(c->alone, c->batched), "call %d (joined at step %d) differs from its run alone", i,
              c->join_at);
        jen1_text_output_free(c->alone);
        jen1_text_output_free(c->batched);
    }
    for (int i = 0; i < 16; i++) jen1_text_cache_free(caches[i]);
    jen1_text_session_free(s);
}

static call make_call(int join_at, int n, int b0, uint64_t seed, int tokens)
{
    call c = {.n = n, .join_at = join_at, .cancel_at = -1, .slot = -1};
    for (int i = 0; i < n; i++) c.reqs[i] = request((b0 + i) % B, seed + (uint64_t)i, 0);
    c.p = jen1_text_generate_default_params(model);
    c.p.max_new_tokens = tokens;
    return c;
}

TEST(calls_joining_and_leaving_at_other_steps_get_their_tokens_alone)
{
    call calls[7];
    calls[0] = make_call(0, 1, 1, 42, 32);                  /* sampled, alone at first */
    calls[1] = make_call(3, 3, 0, 7, 20);                   /* a batch of three, with a prompt cache */
    calls[1].use_cache = 1;
    calls[2] = make_call(5, 1, 2, 9, 40);                   /* greedy, a shorter prompt */
    calls[2].p.sampling.greedy = 1;
    calls[2].reqs[0] = request(2, 9, 12);
    calls[3] = make_call(6, 2, 1, 11, 30);                  /* cancelled mid-way */
    calls[3].cancel_at = 12;
    calls[4] = make_call(8, 2, 0, 5, 24);                   /* stop strings, special tokens banned */
    calls[4].p.stop_strings = stops;
    calls[4].p.n_stop_strings = 1;
    calls[4].p.ban_special = 1;
    calls[5] = make_call(25, 1, 0, 3, 16);                  /* joins as others leave: old columns dropped */
    calls[5].p.sampling.repetition_penalty = 1.3f;
    calls[6] = make_call(30, 2, 2, 13, 8);                  /* a long prompt joining a short one */
    calls[6].use_cache = 1;
    run_script(calls, 7, 8);
}

TEST(many_calls_in_turn_through_few_slots)
{
    /* Joins every other step into 3 slots (when one is free), as a server would. */
    enum { N = 12 };
    call calls[N];
    for (int i = 0; i < N; i++) {
        calls[i] = make_call(2 * i, 1 + i % 2, i, 100 + (uint64_t)i, 6 + (i * 5) % 17);
        calls[i].reqs[0] = request(i % B, 100 + (uint64_t)i, 6 + (i * 7) % 20);
    }
    /* Spread the joins so that at most 3 calls run at once. */
    for (int i = 3; i < N; i++) calls[i].join_at = calls[i - 3].join_at + 25;
    run_script(calls, N, 3);
}

static int abort_now;
static int abort_flag(void *user)
{
    (void)user;
    return abort_now;
}

TEST(an_aborted_or_rejected_call_ends_alone)
{
    char err[512];
    jen1_text_session *s = NULL;
    jen1_text_session_new(model, 2, &s, err, sizeof err);
    call keep = make_call(0, 2, 0, 21, 24);
    jen1_text_generate_params ap = jen1_text_generate_default_params(model);
    ap.max_new_tokens = 40;
    ap.abort = abort_flag;
    jen1_text_request ar = request(1, 5, 0);
    int slot_keep = -1, slot_abort = -1, slot = 7;
    CHECK(jen1_text_session_join(s, keep.reqs, keep.n, &keep.p, &slot_keep, err, sizeof err) == JEN1_OK, "%s", err);
    CHECK(jen1_text_session_join(s, &ar, 1, &ap, &slot_abort, err, sizeof err) == JEN1_OK, "%s", err);
    /* A full session, a bad id, a prompt filling the table: refused, nothing changed. */
    CHECK(jen1_text_session_join(s, &ar, 1, &ap, &slot, err, sizeof err) == JEN1_ERR_INVALID_ARGUMENT && slot == -1,
          "a third call in 2 slots: %s", err);
    jen1_text_session_step(s, err, sizeof err);
    abort_now = 1;
    CHECK(jen1_text_session_step(s, err, sizeof err) == JEN1_OK, "step: %s", err);
    abort_now = 0;
    CHECK(jen1_text_session_slot_done(s, slot_abort) == 1, "the aborted call is done");
    jen1_text_output *out = (jen1_text_output *)1;
    CHECK(jen1_text_session_leave(s, slot_abort, &out, err, sizeof err) == JEN1_ERR_ABORTED && out == NULL,
          "aborted: %s", err);
    int64_t bad_ids[] = {1, 2, 99999};
    jen1_text_request bad = {bad_ids, 3, 0};
    CHECK(jen1_text_session_join(s, &bad, 1, &ap, &slot, err, sizeof err) == JEN1_ERR_INVALID_ARGUMENT && slot == -1,
          "a bad id: %s", err);
    const int max_pos = jen1_text_model_max_positions(model);
    int64_t *full = calloc((size_t)max_pos, sizeof *full);
    jen1_text_request too_long = {full, max_pos, 0};
    CHECK(jen1_text_session_join(s, &too_long, 1, &ap, &slot, err, sizeof err) == JEN1_ERR_TOO_LONG,
          "a prompt filling the table: %s", err);
    free(full);
    CHECK(jen1_text_session_leave(s, 5, NULL, err, sizeof err) == JEN1_ERR_INVALID_ARGUMENT, "an empty slot");
    CHECK(jen1_text_session_slot_done(s, 9) == -1 && jen1_text_session_slot_done(s, slot_abort) == -1,
          "slots out of range or left hold nothing");
    while (jen1_text_session_slot_done(s, slot_keep) == 0) jen1_text_session_step(s, err, sizeof err);
    CHECK(jen1_text_session_leave(s, slot_keep, &out, err, sizeof err) == JEN1_OK, "%s", err);
    jen1_text_output *ref = alone(&keep);
    CHECK(same_output(out, ref), "the call beside the aborted and rejected ones differs from its run alone");
    jen1_text_output_free(out);
    jen1_text_output_free(ref);
    /* Freeing a session with a call still running. */
    jen1_text_session_join(s, keep.reqs, keep.n, &keep.p, &slot, err, sizeof err);
    jen1_text_session_step(s, err, sizeof err);
    jen1_text_session_free(s);
    CHECK(jen1_text_session_new(model, 0, &s, err, sizeof err) == JEN1_ERR_INVALID_ARGUMENT && s == NULL,
          "0 slots");
    CHECK(jen1_text_session_step(NULL, err, sizeof err) == JEN1_ERR_INVALID_ARGUMENT, "a NULL session");
}

int main(void)
{
    char err[512], model_dir[512];
    snprintf(model_dir, sizeof model_dir, "%s/model", fixture_dir());
    if (jen1_text_model_load(model_dir, NULL, &model, err, sizeof err) != JEN1_OK) {
        fprintf(stderr, "cannot load %s: %s\n", model_dir, err);
        return check_summary("test_text_session") | 1;
    }
    if (fixture_golden(fixture_dir(), "fwd_input_ids.npy", &input_ids) != 0 ||
        fixture_golden(fixture_dir(), "fwd_attention_mask.npy", &attention_mask) != 0)
        return check_summary("test_text_session") | 1;
    RUN(calls_joining_and_leaving_at_other_steps_get_their_tokens_alone);
    RUN(many_calls_in_turn_through_few_slots);
    RUN(an_aborted_or_rejected_call_ends_alone);
    npy_free(&input_ids);
    npy_free(&attention_mask);
    jen1_text_model_free(model);
    return check_summary("test_text_session");
}
