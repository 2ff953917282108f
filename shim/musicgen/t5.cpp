// t5.cpp - the T5 text encoder and MusicGen's projection into the decoder.
//
// Pre-norm blocks: x += SelfAttention(RMSNorm(x)); x += FF(RMSNorm(x)); a
// final RMSNorm. T5 attention has no 1/sqrt(d) scale; instead every block
// adds a learned bias indexed by bucketed relative position, computed once by
// block 0's table and shared by all blocks.
#include <cmath>
#include <limits>

#include "musicgen.hpp"

namespace jen1 {

static const char *kPrefix = "text_encoder.";

void TextEncoder::load(const Weights &w, const jen1_t5_config &config, int decoder_hidden)
{
    cfg = config;
    const int64_t d = cfg.d_model, inner = (int64_t)cfg.num_heads * cfg.d_kv, ff = cfg.d_ff;
    const std::string p = std::string(kPrefix) + "encoder.block.";

    embed = w.get_any({std::string(kPrefix) + "shared.weight",
                       std::string(kPrefix) + "encoder.embed_tokens.weight"},
                      {cfg.vocab_size, d});
    relative_bias = w.get(p + "0.layer.0.SelfAttention.relative_attention_bias.weight",
                          {cfg.relative_attention_num_buckets, cfg.num_heads});
    blocks.clear();
    for (int i = 0; i < cfg.num_layers; i++) {
        const std::string b = p + std::to_string(i) + ".layer.";
        Block blk;
        blk.ln_attn = w.get(b + "0.layer_norm.weight", {d});
        blk.q = w.get(b + "0.SelfAttention.q.weight", {inner, d});
        blk.k = w.get(b + "0.SelfAttention.k.weight", {inner, d});
        blk.v = w.get(b + "0.SelfAttention.v.weight", {inner, d});
        blk.o = w.get(b + "0.SelfAttention.o.weight", {d, inner});
        blk.ln_ff = w.get(b + "1.layer_norm.weight", {d});
        if (cfg.is_gated_act) {
            blk.wi_0 = w.get(b + "1.DenseReluDense.wi_0.weight", {ff, d});
            blk.wi_1 = w.get(b + "1.DenseReluDense.wi_1.weight", {ff, d});
        } else {
            blk.wi = w.get(b + "1.DenseReluDense.wi.weight", {ff, d});
        }
        blk.wo = w.get(b + "1.DenseReluDense.wo.weight", {d, ff});
        blocks.push_back(blk);
    }
    final_ln = w.get(std::string(kPrefix) + "encoder.final_layer_norm.weight", {d});
    proj_w = w.get("enc_to_dec_proj.weight", {decoder_hidden, d});
    proj_b = w.get("enc_to_dec_proj.bias", {decoder_hidden});
}

void TextEncoder::to(at::Device device)
{
    auto mv = [&](at::Tensor &t) { if (t.defined()) t = t.to(device); };
    mv(embed); mv(relative_bias); mv(final_ln); mv(proj_w); mv(proj_b);
    for (auto &b : blocks) {
        mv(b.ln_attn); mv(b.q); mv(b.k); mv(b.v); mv(b.o); mv(b.ln_ff);
        mv(b.wi); mv(b.wi_0); mv(b.wi_1); mv(b.wo);
    }
}

static at::Tensor rms_norm(const at::Tensor &x, const at::Tensor &weight, float eps)
{
    at::Tensor variance = x.pow(2).mean(-1, true);
    return weight * (x * at::rsqrt(variance + eps));
}

static at::Tensor activate(const at::Tensor &x, jen1_activation act)
{
    switch (act) {
    case JEN1_ACT_RELU: return at::relu(x);
    case JEN1_ACT_GELU: return at::gelu(x);
    case JEN1_ACT_GELU_NEW: return at::gelu(x, "tanh");
    case JEN1_ACT_SILU: return at::silu(x);
    }
    return x;
}

// Bidirectional bucketing: half the buckets for keys after the query, half
// before; within each half, exact buckets for small distances and
// logarithmic ones up to max_distance. Done with the same float32 tensor ops
// as the reference so that borderline distances land in the same bucket.
static at::Tensor relative_buckets(int64_t q_len, int64_t k_len, int num_buckets, int max_distance,
                                   at::Device device)
{
    auto opts = at::TensorOptions().dtype(at::kLong).device(device);
    at::Tensor context = at::arange(q_len, opts).unsqueeze(1);
    at::Tensor memory = at::arange(k_len, opts).unsqueeze(0);
    at::Tensor rel = memory - context;
    const int half = num_buckets / 2;
    at::Tensor buckets = (rel > 0).to(at::kLong) * half;
    rel = rel.abs();
    const int max_exact = half / 2;
    at::Tensor is_small = rel < max_exact;
    at::Tensor large = max_exact + (at::log(rel.to(at::kFloat) / max_exact) /
                                    std::log((double)max_distance / max_exact) * (half - max_exact))
                                       .to(at::kLong);
    large = at::minimum(large, at::full_like(large, half - 1));
    return buckets + at::where(is_small, rel, large);
}

at::Tensor TextEncoder::forward(const at::Tensor &ids, const at::Tensor &mask,
                                std::vector<at::Tensor> *hidden_states) const
{
    const int64_t B = ids.size(0), S = ids.size(1), H = cfg.num_heads, dk = cfg.d_kv;
    at::Tensor x = at::embedding(embed, ids);

    // [1, H, S, S] position bias plus the padding mask, shared by every block.
    at::Tensor buckets = relative_buckets(S, S, cfg.relative_attention_num_buckets,
                                          cfg.relative_attention_max_distance, ids.device());
    at::Tensor bias = at::embedding(relative_bias, buckets).permute({2, 0, 1}).unsqueeze(0);
    at::Tensor pad = (1.0 - mask.to(at::kFloat)).view({B, 1, 1, S}) *
                     std::numeric_limits<float>::lowest();
    bias = bias + pad;

    for (const Block &blk : blocks) {
        if (hidden_states) hidden_states->push_back(x);
        at::Tensor h = rms_norm(x, blk.ln_attn, cfg.layer_norm_epsilon);
        auto heads = [&](const at::Tensor &w) {
            return at::linear(h, w).view({B, S, H, dk}).transpose(1, 2);
        };
        at::Tensor q = heads(blk.q), k = heads(blk.k), v = heads(blk.v);
        at::Tensor scores = at::matmul(q, k.transpose(2, 3)) + bias;
        at::Tensor attn = at::matmul(at::softmax(scores, -1), v);
        attn = attn.transpose(1, 2).reshape({B, S, H * dk});
        x = x + at::linear(attn, blk.o);

        h = rms_norm(x, blk.ln_ff, cfg.layer_norm_epsilon);
        at::Tensor f = cfg.is_gated_act
                           ? activate(at::linear(h, blk.wi_0), cfg.dense_act_fn) * at::linear(h, blk.wi_1)
                           : activate(at::linear(h, blk.wi), cfg.dense_act_fn);
        x = x + at::linear(f, blk.wo);
    }
    x = rms_norm(x, final_ln, cfg.layer_norm_epsilon);
    if (hidden_states) hidden_states->push_back(x);
    return x;
}

at::Tensor TextEncoder::project(const at::Tensor &states, const at::Tensor &mask) const
{
    return at::linear(states, proj_w, proj_b) * mask.unsqueeze(-1).to(states.dtype());
}

}  // namespace jen1
