// model.cpp - the decoder-only language model (Qwen2 family) with its KV
// cache, exactly as transformers' modeling_qwen2 computes it (eager
// attention, float32):
//
//   x = embed[ids]
//   per layer: x += o(attn(rope(q(n)), rope(k(n)), v(n))), n = rmsnorm(x)
//              x += down(silu(gate(n)) * up(n)),           n = rmsnorm(x)
//   logits = head(rmsnorm(x))
//
// Attention is grouped-query (each kv head serves heads / kv_heads
// consecutive query heads), causal, and blind to left padding; masked scores
// get float's lowest, not -inf, so that a padding query (every key masked)
// gives a uniform row instead of NaN.
#include <cmath>
#include <limits>

#include "matvec.h"
#include "qwen2.hpp"

namespace jen1 {

namespace {

// In bf16 mode a BF16 checkpoint's weight is used where it is mapped (no
// private copy, shared between processes); otherwise fp32 (and a bf16 copy).
Linear layer_linear(const Weights &w, const std::string &name, int64_t out, int64_t in, bool bias, bool bf16)
{
    Linear l;
    if (bf16) l.w_bf16 = w.get_bf16_bits(name + ".weight", {out, in});
    if (!l.w_bf16.defined()) l = make_linear(w, name + ".weight", out, in, bf16 ? JEN1_WEIGHTS_BF16 : JEN1_WEIGHTS_F32);
    if (bias) l.b = w.get(name + ".bias", {out});
    return l;
}

// RMSNorm over the last dimension, in float32 as the reference.
at::Tensor rms_norm(const at::Tensor &x, const at::Tensor &gain, double eps)
{
    return gain * (x * at::rsqrt(x.pow(2).mean(-1, true) + eps));
}

// x [rows, heads, T, head_dim]; cos/sin [rows, 1, T, head_dim].
at::Tensor rope(const at::Tensor &x, const at::Tensor &cos, const at::Tensor &sin)
{
    const int64_t half = x.size(-1) / 2;
    at::Tensor rotated = at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
    return x * cos + rotated * sin;
}

}  // namespace

void TextDecoder::load(const Weights &w, const jen1_text_config &config, bool bf16)
{
    cfg = config;
    const int64_t H = cfg.hidden_size, I = cfg.intermediate_size, V = cfg.vocab_size, hd = cfg.head_dim;
    const int64_t qdim = cfg.num_attention_heads * hd, kvdim = cfg.num_key_value_heads * hd;
    const bool bias = cfg.attention_bias;

    if (bf16) embed_bf16 = w.get_bf16_bits("model.embed_tokens.weight", {V, H});
    if (!embed_bf16.defined()) embed = w.get("model.embed_tokens.weight", {V, H});
    layers.clear();
    for (int i = 0; i < cfg.num_hidden_layers; i++) {
        const std::string p = "model.layers." + std::to_string(i) + ".";
        Layer L;
        L.ln_attn = w.get(p + "input_layernorm.weight", {H});
        L.ln_mlp = w.get(p + "post_attention_layernorm.weight", {H});
        L.q = layer_linear(w, p + "self_attn.q_proj", qdim, H, bias, bf16);
        L.k = layer_linear(w, p + "self_attn.k_proj", kvdim, H, bias, bf16);
        L.v = layer_linear(w, p + "self_attn.v_proj", kvdim, H, bias, bf16);
        L.o = layer_linear(w, p + "self_attn.o_proj", H, qdim, false, bf16);
        if (w.has(p + "self_attn.q_norm.weight") || w.has(p + "self_attn.k_norm.weight")) {
            L.q_norm = w.get(p + "self_attn.q_norm.weight", {hd});
            L.k_norm = w.get(p + "self_attn.k_norm.weight", {hd});
        }
        L.gate = layer_linear(w, p + "mlp.gate_proj", I, H, false, bf16);
        L.up = layer_linear(w, p + "mlp.up_proj", I, H, false, bf16);
        L.down = layer_linear(w, p + "mlp.down_proj", H, I, false, bf16);
        layers.push_back(L);
    }
    norm = w.get("model.norm.weight", {H});
    if (!cfg.tie_word_embeddings) {
        head = layer_linear(w, "lm_head", V, H, false, bf16);
    } else if (embed_bf16.defined()) {
        head.w_bf16 = embed_bf16;
    } else {
        head.w = embed;
        if (bf16) {  // the biggest matrix: decode streams it every step
            head.w_bf16 = at::empty({V, H}, at::TensorOptions().dtype(at::kShort));
            jen1_f32_to_bf16(embed.data_ptr<float>(), reinterpret_cast<uint16_t *>(head.w_bf16.data_ptr<int16_t>()),
                             (size_t)embed.numel());
        }
    }

    // inv_freq = 1 / base ** (arange(0, hd, 2) / hd), in float32.
    inv_freq = 1.0 / at::pow(cfg.rope_theta, at::arange(0, hd, 2, at::kLong).to(at::kFloat) / (double)hd);
}

void TextDecoder::to(at::Device device)
{
    auto mv = [&](at::Tensor &t) { if (t.defined()) t = t.to(device); };
    if (device.is_cpu()) return;  // loaded there
    if (!embed.defined()) embed = bf16_to_f32(embed_bf16, device);
    embed_bf16 = at::Tensor();
    mv(embed); mv(norm); mv(inv_freq);
    if (cfg.tie_word_embeddings) {  // one copy on the device, not two
        head.w = embed;
        head.w_bf16 = at::Tensor();
    }
    head.to(device);
    for (Layer &L : layers) {
        mv(L.ln_attn); mv(L.ln_mlp); mv(L.q_norm); mv(L.k_norm);
        for (Linear *l : {&L.q, &L.k, &L.v, &L.o, &L.gate, &L.up, &L.down}) l->to(device);
    }
}

TextCache cache_begin(const TextDecoder &d, int rows, int capacity)
{
    TextCache c;
    auto opts = d.norm.options();
    for (size_t i = 0; i < d.layers.size(); i++) {
        c.k.push_back(at::empty({rows, d.cfg.num_key_value_heads, capacity, d.cfg.head_dim}, opts));
        c.v.push_back(at::empty({rows, d.cfg.num_key_value_heads, capacity, d.cfg.head_dim}, opts));
    }
    c.key_valid = at::zeros({rows, capacity}, opts.dtype(at::kBool));
    c.next_pos = at::zeros({rows}, opts.dtype(at::kLong));
    return c;
}

void cache_keep_rows(TextCache &c, const at::Tensor &keep)
{
    for (at::Tensor &t : c.k) t = t.index_select(0, keep);
    for (at::Tensor &t : c.v) t = t.index_select(0, keep);
    c.key_valid = c.key_valid.index_select(0, keep);
    c.next_pos = c.next_pos.index_select(0, keep);
}

at::Tensor text_forward(const TextDecoder &d, TextCache &c, const at::Tensor &ids, const at::Tensor &mask,
                        ForwardTaps *taps)
{
    const int64_t rows = ids.size(0), T = ids.size(1);
    const int64_t heads = d.cfg.num_attention_heads, kv_heads = d.cfg.num_key_value_heads, hd = d.cfg.head_dim;
    const int64_t group = heads / kv_heads;
    const int64_t start = c.length, end = c.length + T;
    const double eps = d.cfg.rms_norm_eps;
    if (rows != c.next_pos.size(0) || end > c.k[0].size(2))
        throw Error(JEN1_ERR_INTERNAL, "text_forward: the ids do not fit the cache");

    // Position ids: each row's count of real tokens so far (1 on padding, as
    // the reference; a padding query's output is never used).
    at::Tensor valid = mask.to(at::kBool);
    at::Tensor pos = c.next_pos.unsqueeze(1) + at::cumsum(mask, 1) - 1;
    pos = at::where(valid, pos, at::ones_like(pos));
    c.next_pos = c.next_pos + mask.sum(1);
    c.key_valid.narrow(1, start, T).copy_(valid);

    at::Tensor freqs = pos.to(at::kFloat).unsqueeze(-1) * d.inv_freq;  // [rows, T, hd/2]
    at::Tensor angles = at::cat({freqs, freqs}, -1).unsqueeze(1);      // [rows, 1, T, hd]
    at::Tensor cos = angles.cos(), sin = angles.sin();

    // visible[r, i, j]: key j is a token of row r at or before query i.
    at::Tensor qpos = at::arange(start, end, pos.options()).unsqueeze(1);
    at::Tensor kpos = at::arange(0, end, pos.options()).unsqueeze(0);
    at::Tensor visible = (kpos <= qpos).unsqueeze(0) & c.key_valid.narrow(1, 0, end).unsqueeze(1);
    at::Tensor hidden_mask = visible.logical_not().unsqueeze(1);       // [rows, 1, T, end]
    const double scale = std::sqrt((double)hd);  // the reference divides

    at::Tensor x = d.embed.defined()
                       ? at::embedding(d.embed, ids)
                       : d.embed_bf16.index_select(0, ids.reshape(-1)).view(at::kBFloat16).to(at::kFloat)
                             .view({rows, T, d.cfg.hidden_size});
    if (taps) taps->states.push_back(x);
    for (size_t i = 0; i < d.layers.size(); i++) {
        const TextDecoder::Layer &L = d.layers[i];
        at::Tensor n = rms_norm(x, L.ln_attn, eps);
        at::Tensor q = L.q(n).view({rows, T, heads, hd});
        at::Tensor k = L.k(n).view({rows, T, kv_heads, hd});
        if (L.q_norm.defined()) {
            q = rms_norm(q, L.q_norm, eps);
            k = rms_norm(k, L.k_norm, eps);
        }
        q = rope(q.transpose(1, 2), cos, sin);
        c.k[i].narrow(2, start, T).copy_(rope(k.transpose(1, 2), cos, sin));
        c.v[i].narrow(2, start, T).copy_(L.v(n).view({rows, T, kv_heads, hd}).transpose(1, 2));

        // Grouped queries: the `group` heads of one kv head attend as one
        // [group * T] block against it.
        at::Tensor keys = c.k[i].narrow(2, 0, end), values = c.v[i].narrow(2, 0, end);
        at::Tensor scores = at::matmul(q.reshape({rows, kv_heads, group * T, hd}), keys.transpose(2, 3)) / scale;
        scores = scores.view({rows, heads, T, end}).masked_fill(hidden_mask, std::numeric_limits<float>::lowest());
        at::Tensor probs = at::softmax(scores, -1).view({rows, kv_heads, group * T, end});
        at::Tensor a = at::matmul(probs, values).view({rows, heads, T, hd});
        x = x + L.o(a.transpose(1, 2).reshape({rows, T, heads * hd}));

        n = rms_norm(x, L.ln_mlp, eps);
        x = x + L.down(at::silu(L.gate(n)) * L.up(n));
        if (taps) taps->states.push_back(x);
    }
    c.length = (int)end;
    x = rms_norm(x, d.norm, eps);
    if (taps) taps->states.push_back(x);
    return x;
}

void left_pad(const std::vector<std::vector<int64_t>> &rows, int64_t pad, at::Tensor &ids, at::Tensor &mask)
{
    size_t T = 0;
    for (const auto &r : rows) T = std::max(T, r.size());
    ids = at::full({(int64_t)rows.size(), (int64_t)T}, pad, at::kLong);
    mask = at::zeros({(int64_t)rows.size(), (int64_t)T}, at::kLong);
    for (size_t b = 0; b < rows.size(); b++) {
        const int64_t off = (int64_t)(T - rows[b].size());
        int64_t *ip = ids.data_ptr<int64_t>() + b * T, *mp = mask.data_ptr<int64_t>() + b * T;
        for (size_t t = 0; t < rows[b].size(); t++) {
            ip[off + t] = rows[b][t];
            mp[off + t] = 1;
        }
    }
}

}  // namespace jen1
