// decoder.cpp - the MusicGen transformer decoder with its KV cache.
//
// Input embedding: the sum over codebooks of each codebook's embedding of
// its token, plus the sinusoidal row of the position. Pre-LN blocks:
// causal self-attention, cross-attention to the projected text, a GELU MLP,
// each added to the residual stream; a final LayerNorm; one LM head per
// codebook. No biases anywhere but the LayerNorms.
//
// Classifier-free guidance runs the unconditional half of the batch through
// the same weights without text. Its cross-attention would attend over an
// all-masked, all-zero text and add exactly zero, so those rows simply skip
// it: DecoderState::cond_rows says how many rows see the text.
#include <ATen/Parallel.h>

#include <cmath>
#include <limits>

#include "attention.h"
#include "musicgen.hpp"

namespace jen1 {

void Decoder::load(const Weights &w, const jen1_decoder_config &config, jen1_weight_type type)
{
    cfg = config;
    kv_bf16 = type != JEN1_WEIGHTS_F32;
    const int64_t H = cfg.hidden_size, F = cfg.ffn_dim, V = cfg.vocab_size;
    const std::string p = "decoder.model.decoder.";

    embed.clear();
    for (int k = 0; k < cfg.num_codebooks; k++)
        embed.push_back(w.get(p + "embed_tokens." + std::to_string(k) + ".weight", {V + 1, H}));

    const std::string pos_name = p + "embed_positions.weights";
    if (w.has(pos_name)) {
        positions = w.get(pos_name, {cfg.max_position_embeddings, H});
    } else {
        // The sinusoidal table, computed as the reference does (same float32
        // ops, so the rows are bit-identical to a stored table).
        const int64_t half = H / 2;
        double step = std::log(10000.0) / (double)(half - 1);
        at::Tensor freq = at::exp(at::arange(half, at::kLong).to(at::kFloat) * -step);
        at::Tensor angle = at::arange(cfg.max_position_embeddings, at::kLong).to(at::kFloat).unsqueeze(1) *
                           freq.unsqueeze(0);
        positions = at::cat({at::cos(angle), at::sin(angle)}, 1);
        if (H % 2) positions = at::cat({positions, at::zeros({cfg.max_position_embeddings, 1})}, 1);
    }

    layers.clear();
    for (int i = 0; i < cfg.num_hidden_layers; i++) {
        const std::string l = p + "layers." + std::to_string(i) + ".";
        Layer L;
        L.ln_self_w = w.get(l + "self_attn_layer_norm.weight", {H});
        L.ln_self_b = w.get(l + "self_attn_layer_norm.bias", {H});
        L.q = make_linear(w, l + "self_attn.q_proj.weight", H, H, type);
        L.k = make_linear(w, l + "self_attn.k_proj.weight", H, H, type);
        L.v = make_linear(w, l + "self_attn.v_proj.weight", H, H, type);
        L.o = make_linear(w, l + "self_attn.out_proj.weight", H, H, type);
        L.ln_cross_w = w.get(l + "encoder_attn_layer_norm.weight", {H});
        L.ln_cross_b = w.get(l + "encoder_attn_layer_norm.bias", {H});
        L.cq = make_linear(w, l + "encoder_attn.q_proj.weight", H, H, type);
        // Cross-attention keys/values are computed once per request: no
        // point in a bf16 or int8 copy.
        L.ck = make_linear(w, l + "encoder_attn.k_proj.weight", H, H, JEN1_WEIGHTS_F32);
        L.cv = make_linear(w, l + "encoder_attn.v_proj.weight", H, H, JEN1_WEIGHTS_F32);
        L.co = make_linear(w, l + "encoder_attn.out_proj.weight", H, H, type);
        L.ln_ff_w = w.get(l + "final_layer_norm.weight", {H});
        L.ln_ff_b = w.get(l + "final_layer_norm.bias", {H});
        L.fc1 = make_linear(w, l + "fc1.weight", F, H, type);
        L.fc2 = make_linear(w, l + "fc2.weight", H, F, type);
        layers.push_back(L);
    }
    ln_w = w.get(p + "layer_norm.weight", {H});
    ln_b = w.get(p + "layer_norm.bias", {H});
    heads.clear();
    for (int k = 0; k < cfg.num_codebooks; k++)
        heads.push_back(make_linear(w, "decoder.lm_heads." + std::to_string(k) + ".weight", V, H, type));
}

void Decoder::to(at::Device device)
{
    auto mv = [&](at::Tensor &t) { if (t.defined()) t = t.to(device); };
    auto mvl = [&](Linear &l) { l.to(device); };
    if (!device.is_cpu()) kv_bf16 = false;
    static_step = static_step || !device.is_cpu();
    for (auto &e : embed) mv(e);
    mv(positions); mv(ln_w); mv(ln_b);
    for (auto &h : heads) mvl(h);
    for (auto &L : layers) {
        mv(L.ln_self_w); mv(L.ln_self_b); mv(L.ln_cross_w); mv(L.ln_cross_b); mv(L.ln_ff_w); mv(L.ln_ff_b);
        for (Linear *l : {&L.q, &L.k, &L.v, &L.o, &L.cq, &L.ck, &L.cv, &L.co, &L.fc1, &L.fc2}) mvl(*l);
    }
}

at::Tensor split_heads(const at::Tensor &x, int64_t heads)
{
    // [rows, T, hidden] -> [rows, heads, T, head_dim]
    return x.view({x.size(0), x.size(1), heads, x.size(2) / heads}).transpose(1, 2);
}

at::Tensor merge_heads(const at::Tensor &x)
{
    return x.transpose(1, 2).reshape({x.size(0), x.size(2), x.size(1) * x.size(3)});
}

DecoderState decoder_begin(const Decoder &d, int rows, int capacity,
                           const at::Tensor &encoder_states, const at::Tensor &mask)
{
    DecoderState s;
    const int64_t heads = d.cfg.num_attention_heads, hd = d.cfg.hidden_size / heads;
    s.rows = rows;
    s.cond_rows = encoder_states.defined() ? (int)encoder_states.size(0) : 0;
    auto opts = d.ln_w.options();
    auto cache_opts = d.kv_bf16 ? opts.dtype(at::kBFloat16) : opts;
    // The static step (decoder_graph.cpp) attends over the whole capacity,
    // the unwritten columns at a weight of exactly 0: they must hold numbers
    // (0 x NaN is NaN). The CPU's own step reads only what it wrote, and
    // leaves the pages of a long window untouched until it gets there.
    const bool zeroed = d.static_step;
    for (size_t i = 0; i < d.layers.size(); i++) {
        s.k.push_back(zeroed ? at::zeros({rows, heads, capacity, hd}, cache_opts)
                             : at::empty({rows, heads, capacity, hd}, cache_opts));
        s.v.push_back(zeroed ? at::zeros({rows, heads, capacity, hd}, cache_opts)
                             : at::empty({rows, heads, capacity, hd}, cache_opts));
        if (s.cond_rows) {
            s.ck.push_back(split_heads(d.layers[i].ck(encoder_states), heads).contiguous());
            s.cv.push_back(split_heads(d.layers[i].cv(encoder_states), heads).contiguous());
        }
    }
    if (s.cond_rows) {
        const int64_t S = encoder_states.size(1);
        s.cross_mask = ((1.0 - mask.to(at::kFloat)) * std::numeric_limits<float>::lowest())
                           .view({s.cond_rows, 1, 1, S})
                           .to(opts.device());
    }
    return s;
}

at::Tensor attend(const at::Tensor &q, const at::Tensor &k, const at::Tensor &v, const at::Tensor &mask)
{
    at::Tensor scores = at::matmul(q, k.transpose(2, 3));
    if (mask.defined()) scores = scores + mask;
    return at::matmul(at::softmax(scores, -1), v);
}

// One new position (q [rows, heads, 1, hd], scaled) against the first `end`
// positions of a CPU cache [rows, heads, capacity, hd], bf16 or fp32: the
// kernels of attention.h read the cache in place, one (row, head) pair per
// task.
static at::Tensor attend_step(const at::Tensor &q, const at::Tensor &k, const at::Tensor &v, int64_t end)
{
    const int64_t pairs = q.size(0) * q.size(1), hd = q.size(3), capacity = k.size(2);
    const bool bf16 = k.scalar_type() == at::kBFloat16;
    at::Tensor qc = q.contiguous();
    at::Tensor scores = at::empty({pairs, end}, qc.options());
    const float *qp = qc.data_ptr<float>();
    float *sp = scores.data_ptr<float>();
    const void *kp = k.data_ptr(), *vp = v.data_ptr();
    const size_t elem = bf16 ? 2 : 4;
    auto head = [&](const void *base, int64_t b) {
        return static_cast<const void *>(static_cast<const char *>(base) + (size_t)(b * capacity * hd) * elem);
    };
    at::parallel_for(0, pairs, 1, [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; b++) {
            if (bf16)
                jen1_attn_scores_bf16(qp + b * hd, static_cast<const uint16_t *>(head(kp, b)), (int)end, (int)hd,
                                      sp + b * end);
            else
                jen1_attn_scores_f32(qp + b * hd, static_cast<const float *>(head(kp, b)), (int)end, (int)hd,
                                     sp + b * end);
        }
    });
    at::Tensor probs = at::softmax(scores, -1);
    at::Tensor out = at::empty(q.sizes(), qc.options());
    const float *pp = probs.data_ptr<float>();
    float *op = out.data_ptr<float>();
    at::parallel_for(0, pairs, 1, [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; b++) {
            if (bf16)
                jen1_attn_mix_bf16(pp + b * end, static_cast<const uint16_t *>(head(vp, b)), (int)end, (int)hd,
                                   op + b * hd);
            else
                jen1_attn_mix_f32(pp + b * end, static_cast<const float *>(head(vp, b)), (int)end, (int)hd,
                                  op + b * hd);
        }
    });
    return out;
}

at::Tensor decoder_activation(const Decoder &d, const at::Tensor &h)
{
    return d.cfg.activation_function == JEN1_ACT_GELU_NEW ? at::gelu(h, "tanh")
           : d.cfg.activation_function == JEN1_ACT_RELU   ? at::relu(h)
           : d.cfg.activation_function == JEN1_ACT_SILU   ? at::silu(h)
                                                          : at::gelu(h);
}

at::Tensor decoder_forward(const Decoder &d, DecoderState &s, const at::Tensor &ids,
                           std::vector<at::Tensor> *hidden_states, bool last_logits_only)
{
    const int64_t rows = ids.size(0), K = ids.size(1), T = ids.size(2);
    const int64_t heads = d.cfg.num_attention_heads, H = d.cfg.hidden_size;
    const double scaling = 1.0 / std::sqrt((double)(H / heads));
    const int64_t start = s.length, end = s.length + T;
    if (rows != s.rows || K != d.cfg.num_codebooks)
        throw Error(JEN1_ERR_INTERNAL, "decoder_forward: ids shape does not match the state");
    if (end > s.k[0].size(2) || end > d.positions.size(0))
        throw Error(JEN1_ERR_TOO_LONG, "decoder_forward: " + std::to_string(end) +
                                           " positions exceed the cache or the position table");
    if (T == 1 && d.static_step && !hidden_states) {
        // One new position where steps are static (a GPU; a test's CPU):
        // the same step a session takes, uncaptured.
        at::Tensor logits = decoder_step(d, {&s}, ids.squeeze(2).to(at::kCPU));
        return logits.unsqueeze(2).to(d.ln_w.device());
    }

    at::Tensor x = at::embedding(d.embed[0], ids.select(1, 0));
    for (int64_t k = 1; k < K; k++) x = x + at::embedding(d.embed[k], ids.select(1, k));
    x = x + d.positions.narrow(0, start, T);

    // Within a block of several new positions, position i sees cache
    // entries up to start + i.
    at::Tensor causal;
    if (T > 1) {
        auto opts = x.options();
        at::Tensor qpos = at::arange(start, end, opts.dtype(at::kLong)).unsqueeze(1);
        at::Tensor kpos = at::arange(0, end, opts.dtype(at::kLong)).unsqueeze(0);
        causal = at::zeros({T, end}, opts).masked_fill(kpos > qpos, std::numeric_limits<float>::lowest());
    }

    const int64_t c = s.cond_rows;
    for (size_t i = 0; i < d.layers.size(); i++) {
        const Decoder::Layer &L = d.layers[i];
        if (hidden_states) hidden_states->push_back(x);

        at::Tensor h = at::layer_norm(x, {H}, L.ln_self_w, L.ln_self_b, 1e-5);
        at::Tensor q = split_heads(L.q(h) * scaling, heads);
        s.k[i].narrow(2, start, T).copy_(split_heads(L.k(h), heads));
        s.v[i].narrow(2, start, T).copy_(split_heads(L.v(h), heads));
        // A decode step on the CPU reads the cache in place; a prefill (or
        // the GPU) goes through LibTorch, widening a bf16 cache first.
        at::Tensor a = T == 1 && x.is_cpu() ? attend_step(q, s.k[i], s.v[i], end)
                       : !d.kv_bf16       ? attend(q, s.k[i].narrow(2, 0, end), s.v[i].narrow(2, 0, end), causal)
                                          : attend(q, s.k[i].narrow(2, 0, end).to(at::kFloat),
                                                   s.v[i].narrow(2, 0, end).to(at::kFloat), causal);
        x = x + L.o(merge_heads(a));

        if (c > 0) {
            at::Tensor xc = x.narrow(0, 0, c);
            h = at::layer_norm(xc, {H}, L.ln_cross_w, L.ln_cross_b, 1e-5);
            q = split_heads(L.cq(h) * scaling, heads);
            a = attend(q, s.ck[i], s.cv[i], s.cross_mask);
            xc.add_(L.co(merge_heads(a)));
        }

        h = at::layer_norm(x, {H}, L.ln_ff_w, L.ln_ff_b, 1e-5);
        h = L.fc1(h);
        h = decoder_activation(d, h);
        x = x + L.fc2(h);
    }
    x = at::layer_norm(x, {H}, d.ln_w, d.ln_b, 1e-5);
    if (hidden_states) hidden_states->push_back(x);
    s.length = (int)end;
    if (last_logits_only) x = x.narrow(1, T - 1, 1);

    std::vector<at::Tensor> logits;
    for (int64_t k = 0; k < K; k++) logits.push_back(d.heads[k](x));
    return at::stack(logits, 1);  // [rows, K, T, V]
}

}  // namespace jen1
