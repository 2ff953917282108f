// qwen2.hpp - the C++ interface between the parts of the text engine
// (Qwen2-family decoder-only language model). Never included from C: C code
// sees jen1_text.h and jen1_text_stages.h.
//
// Family differences are data, not code paths: q/k/v biases, per-head q/k
// RMSNorm (Qwen3) and a tied or separate LM head are taken from the config
// and from which tensors the checkpoint has. Errors are jen1::Error
// exceptions; api.cpp turns them into statuses at the C boundary.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "bpe.h"
#include "chat_template.h"
#include "jen1_text.h"
#include "linear.hpp"
#include "safetensors_shards.h"
#include "sampler.h"
#include "text_config.h"
#include "weights.hpp"

namespace jen1 {

struct TextDecoder {
    jen1_text_config cfg{};
    at::Tensor embed;                  // [vocab, hidden] fp32; undefined when only embed_bf16
    at::Tensor embed_bf16;             // [vocab, hidden] bf16 bits mapped from a BF16 checkpoint (bf16 mode)
    struct Layer {
        at::Tensor ln_attn, ln_mlp;    // RMSNorm gains [hidden]
        at::Tensor q_norm, k_norm;     // per-head RMSNorm gains [head_dim], when the checkpoint has them
        Linear q, k, v, o, gate, up, down;
    };
    std::vector<Layer> layers;
    at::Tensor norm;                   // final RMSNorm gain
    Linear head;                       // the LM head (the embedding itself when tied)
    at::Tensor inv_freq;               // RoPE [head_dim / 2], float32 as the reference computes it

    void load(const Weights &w, const jen1_text_config &config, bool bf16);
    void to(at::Device device);
};

// One call's state between forward passes: the KV cache of every layer, which
// cached positions are real tokens (left padding is not), and each row's next
// position id.
struct TextCache {
    std::vector<at::Tensor> k, v;  // [rows, kv_heads, capacity, head_dim]
    at::Tensor key_valid;          // [rows, capacity] bool
    at::Tensor next_pos;           // [rows] int64
    int length = 0;                // cache columns filled
};

TextCache cache_begin(const TextDecoder &d, int rows, int capacity);
// Keeps the rows `keep` (int64 indices, on the cache's device) of the cache.
void cache_keep_rows(TextCache &c, const at::Tensor &keep);

// A batch's first forward pass: the prompts' common beginning (`shared`
// tokens) from the prompt cache, or nothing without one; the rows' tails
// left-padded into ids and mask [rows, T] (CPU); their KV cache, with room for
// extra_capacity more columns; and the tails' final hidden states h
// [rows, T, hidden]. max_shared bounds the beginning (a row needs a token of
// its own in the pass for its next-token logits).
struct BatchStart {
    TextCache kv;
    at::Tensor ids, mask, h;
    int64_t shared = 0;
};

// What a forward pass can hand out for parity checks: the embeddings, each
// layer's output, the final norm's output ([layers + 2] of [rows, T, hidden]).
struct ForwardTaps {
    std::vector<at::Tensor> states;
};

// Feeds ids [rows, T] with mask [rows, T] (1: a token, 0: left padding) after
// what the cache holds, in one pass (causal within it). Position ids continue
// each row's count of real tokens. Returns the final normed hidden states
// [rows, T, hidden].
at::Tensor text_forward(const TextDecoder &d, TextCache &c, const at::Tensor &ids, const at::Tensor &mask,
                        ForwardTaps *taps = nullptr);

// Left-pads prompts into ids and mask [rows, T] (int64, CPU).
void left_pad(const std::vector<std::vector<int64_t>> &rows, int64_t pad, at::Tensor &ids, at::Tensor &mask);

}  // namespace jen1

// The loaded model behind the C API's opaque handle. Members are destroyed in
// reverse order, so the mappings (`weights`) outlive every tensor viewing it.
struct jen1_text_model {
    std::string dir, name, device_name = "cpu";
    jen1_text_config cfg{};
    safetensors_shards weights{};      // model.safetensors, or the shards of its index
    bpe_tokenizer *tokenizer = nullptr;
    chat_template *chat = nullptr;
    int n_tokens = 0;                  // ids the tokenizer has (<= vocab_size)
    int64_t newline_id = -1;           // the id of "\n" when it is one token (max_line_tokens)
    std::vector<int64_t> banned;       // special ids other than the EOS ids (ban_special)
    jen1::TextDecoder decoder;
    at::Device device{at::kCPU};
    ~jen1_text_model();
};

// A prompt cache (jen1_text.h): one row holding `tokens`.
struct jen1_text_cache {
    const jen1_text_model *model = nullptr;
    jen1::TextCache kv;
    std::vector<int64_t> tokens;
};

namespace jen1 {

// Processed scores of every step, for jen1_text_generate_traced:
// [rows][steps][vocab], zero where a row had already finished.
struct TextTrace {
    std::vector<float> scores;
    int steps = 0;
};

// The whole of jen1_text_generate, throwing on error; *out is the caller's.
// A loop over a TextSession of one slot.
jen1_text_output *text_generate(const jen1_text_model &m, const jen1_text_request *requests, int n,
                                const jen1_text_generate_params &params, TextTrace *trace = nullptr);

// One request's progress (a row of a slot).
struct TextRow {
    std::vector<int64_t> context;  // padded prompt and new tokens: what the repetition penalty sees
    std::vector<int64_t> fresh;    // new tokens
    int prompt_len = 0;
    jen1_rng rng{};
    bool done = false;
    jen1_text_finish finish = JEN1_TEXT_FINISH_LENGTH;
    size_t cut = std::string::npos;  // the text ends here (a stop string, the last line's newline)
    size_t newlines = 0;             // in the text so far
    int line_tokens = 0;             // tokens since the last newline
    bool force_newline = false;      // max_line_tokens reached: the next token is "\n"
    std::vector<float> scores;       // processed scores of each step, when tracing
};

// One joined call: its requests' rows, its parameters, how it ended.
struct TextSlot {
    bool used = false, done = false;
    jen1_text_generate_params params{};
    std::vector<TextRow> rows;
    jen1_status status = JEN1_OK;  // JEN1_ERR_ABORTED, or a failed step's
    std::string error;
};

// jen1_text_session (jen1_text.h), throwing on error. Every unfinished row
// of every slot is one row of one KV cache; rows live at their own positions
// (each its own count of real tokens, its own valid columns), so calls of
// different prompt lengths joined at different steps share each pass.
class TextSession {
public:
    TextSession(const jen1_text_model &m, int max_slots, bool trace = false);
    // Prefills the call's prompts (from params.cache when given), draws each
    // row's first token, and adds the unfinished rows to the batch. Returns
    // the slot. The session is unchanged when it throws.
    int join(const jen1_text_request *requests, int n, const jen1_text_generate_params &params);
    // One token for every running row (each slot's abort polled first). On
    // a failure of the pass, ends every running slot with it and throws.
    void step();
    int running() const;
    int rows() const { return (int)active_.size(); }
    // 1 done, 0 running, -1 unused (or out of range).
    int slot_done(int slot) const;
    // Frees the slot; st and why say how it ended (a running slot is
    // cancelled: JEN1_ERR_ABORTED). The output when st is JEN1_OK (NULL
    // otherwise), and the scores of its rows when tracing.
    jen1_text_output *leave(int slot, jen1_status &st, std::string &why, TextTrace *trace = nullptr);

private:
    struct Active {  // cache row i is slot's row `row`
        int slot, row;
    };
    void pick(TextSlot &s, TextRow &r, float *scores);
    void end_slot(int slot, jen1_status st, const std::string &why);
    void drop_rows(const std::vector<bool> &gone);
    int remaining_budget() const;

    const jen1_text_model &m_;
    bool trace_;
    std::vector<TextSlot> slots_;
    std::vector<Active> active_;
    TextCache kv_;
    std::vector<unsigned char> scratch_;
};

// jen1_text_score_options, throwing on error.
void score_options(const jen1_text_model &m, jen1_text_cache *cache, const int64_t *prompt, int n_prompt, const int64_t *const *options,
                   const int *n_options_ids, int n_options, double *logprobs);

// The batch's start (BatchStart), reusing and updating the prompt cache pc
// (may be NULL).
BatchStart batch_start(const jen1_text_model &m, jen1_text_cache *pc, const std::vector<std::vector<int64_t>> &prompts,
                       int64_t max_shared, int extra_capacity);

// Ids in [0, vocab_size), or an INVALID_ARGUMENT error naming `what`.
void check_ids(const jen1_text_model &m, const int64_t *ids, int n, const std::string &what);

}  // namespace jen1
