// decoder_step.cpp - one decoder step over the rows of several states: the
// batched forward pass of a jen1_session.
//
// The linears run once over all rows (the weights stream from memory once for
// the whole batch); everything that depends on a row's own history runs per
// row: its position, its KV cache (written at its own length), its
// self-attention over its own positions and its cross-attention over its own
// text. On the CPU the attention goes through the kernels of attention.h,
// one (row, head) pair per task, with each state's softmax a LibTorch call of
// its own, so that no row's arithmetic depends on what shares the step. Off
// the CPU the step is decoder_graph.cpp's, in static shapes for a CUDA graph.
#include <ATen/Parallel.h>

#include <cmath>
#include <cstring>

#include "attention.h"
#include "matvec.h"
#include "musicgen.hpp"

namespace jen1 {

namespace {

// Where row r of the step lives: its state and its row inside the state.
struct RowPlace {
    DecoderState *state;
    int64_t local;
};

// One (row, head) pair's keys/values in a cache [rows, heads, capacity, hd].
const void *head_base(const at::Tensor &cache, int64_t local, int64_t head, int64_t heads)
{
    const int64_t capacity = cache.size(2), hd = cache.size(3);
    const size_t elem = cache.scalar_type() == at::kBFloat16 ? 2 : 4;
    return static_cast<const char *>(cache.data_ptr()) + (size_t)(((local * heads + head) * capacity) * hd) * elem;
}

void scores_of(const float *q, const at::Tensor &k, int64_t local, int64_t head, int64_t heads, int end, int hd,
               float *out)
{
    const void *kp = head_base(k, local, head, heads);
    if (k.scalar_type() == at::kBFloat16) jen1_attn_scores_bf16(q, static_cast<const uint16_t *>(kp), end, hd, out);
    else jen1_attn_scores_f32(q, static_cast<const float *>(kp), end, hd, out);
}

void mix_of(const float *p, const at::Tensor &v, int64_t local, int64_t head, int64_t heads, int end, int hd,
            float *out)
{
    const void *vp = head_base(v, local, head, heads);
    if (v.scalar_type() == at::kBFloat16) jen1_attn_mix_bf16(p, static_cast<const uint16_t *>(vp), end, hd, out);
    else jen1_attn_mix_f32(p, static_cast<const float *>(vp), end, hd, out);
}

// Each row's query q [R, H] (scaled) against keys/values caches chosen per
// row: keys(place) / values(place) give a row's cache tensors and ends(place)
// how many positions it attends to. Returns [R, H].
template <typename Cache, typename End>
at::Tensor attend_rows_cpu(const std::vector<RowPlace> &rows, const at::Tensor &q, int64_t heads, Cache cache,
                           End end_of)
{
    const int64_t R = (int64_t)rows.size(), H = q.size(1), hd = H / heads;
    at::Tensor qc = q.contiguous();
    at::Tensor out = at::empty({R, H}, qc.options());
    // One scores buffer per run of rows of the same state: its softmax is a
    // call of its own, over that state's length only.
    std::vector<at::Tensor> scores;
    std::vector<int64_t> run_of(R), first_of;
    for (int64_t r = 0; r < R; r++) {
        if (r == 0 || rows[r].state != rows[r - 1].state) {
            int64_t n = 1;
            while (r + n < R && rows[r + n].state == rows[r].state) n++;
            scores.push_back(at::empty({n * heads, end_of(rows[r])}, qc.options()));
            first_of.push_back(r);
        }
        run_of[r] = (int64_t)scores.size() - 1;
    }
    const float *qp = qc.data_ptr<float>();
    auto score_ptr = [&](int64_t r, int64_t h) {
        const int64_t run = run_of[r];
        return scores[run].data_ptr<float>() + ((r - first_of[run]) * heads + h) * scores[run].size(1);
    };
    at::parallel_for(0, R * heads, 1, [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; p++) {
            const int64_t r = p / heads, h = p % heads;
            const at::Tensor *k, *v;
            cache(rows[r], k, v);
            scores_of(qp + p * hd, *k, rows[r].local, h, heads, (int)end_of(rows[r]), (int)hd, score_ptr(r, h));
        }
    });
    for (at::Tensor &s : scores) s = at::softmax(s, -1);
    float *op = out.data_ptr<float>();
    at::parallel_for(0, R * heads, 1, [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; p++) {
            const int64_t r = p / heads, h = p % heads;
            const at::Tensor *k, *v;
            cache(rows[r], k, v);
            mix_of(score_ptr(r, h), *v, rows[r].local, h, heads, (int)end_of(rows[r]), (int)hd, op + p * hd);
        }
    });
    return out;
}

// Writes row r's new key/value ([R, H] each) at its state's length. Rows go
// to the threads in parallel: written one by one (a head's slot in the
// [rows, heads, capacity, hd] cache is a scattered 128 or 256 bytes, often
// a fresh page) they took ~4 ms of a 16-row step while the other thread
// waited.
void write_cache_cpu(const std::vector<RowPlace> &rows, size_t layer, const at::Tensor &k, const at::Tensor &v,
                     int64_t heads)
{
    const int64_t H = k.size(1), hd = H / heads;
    at::Tensor kc = k.contiguous(), vc = v.contiguous();
    const float *kp = kc.data_ptr<float>(), *vp = vc.data_ptr<float>();
    at::parallel_for(0, (int64_t)rows.size() * 2, 1, [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; p++) {
            const int64_t r = p / 2;
            const bool value = p % 2;
            DecoderState &s = *rows[r].state;
            at::Tensor &cache = value ? s.v[layer] : s.k[layer];
            const float *src = (value ? vp : kp) + r * H;
            const int64_t capacity = cache.size(2);
            const size_t first = (size_t)((rows[r].local * heads * capacity) + s.length) * hd;
            if (cache.scalar_type() == at::kBFloat16) {
                uint16_t *dst = reinterpret_cast<uint16_t *>(cache.data_ptr<at::BFloat16>()) + first;
                for (int64_t h = 0; h < heads; h++) jen1_f32_to_bf16(src + h * hd, dst + h * capacity * hd, (size_t)hd);
            } else {
                float *dst = cache.data_ptr<float>() + first;
                for (int64_t h = 0; h < heads; h++)
                    std::memcpy(dst + h * capacity * hd, src + h * hd, sizeof(float) * hd);
            }
        }
    });
}

}  // namespace

at::Tensor decoder_step(const Decoder &d, const std::vector<DecoderState *> &states, const at::Tensor &ids_cpu,
                        StepGraphPtr *graph)
{
    const int64_t K = d.cfg.num_codebooks, heads = d.cfg.num_attention_heads;
    std::vector<RowPlace> rows, cond;
    std::vector<int64_t> positions, cond_index;
    for (DecoderState *s : states) {
        if (s->length + 1 > s->k[0].size(2) || s->length + 1 > d.positions.size(0))
            throw Error(JEN1_ERR_TOO_LONG, "decoder_step: a slot ran past its cache or the position table");
        for (int r = 0; r < s->rows; r++) {
            if (r < s->cond_rows) {
                cond.push_back({s, r});
                cond_index.push_back((int64_t)rows.size());
            }
            rows.push_back({s, r});
            positions.push_back(s->length);
        }
    }
    const int64_t R = (int64_t)rows.size();
    if (ids_cpu.dim() != 2 || ids_cpu.size(0) != R || ids_cpu.size(1) != K)
        throw Error(JEN1_ERR_INTERNAL, "decoder_step: ids shape does not match the states");
    if (d.static_step) {
        at::Tensor logits = decoder_step_static(d, states, ids_cpu, positions, cond_index, graph);
        for (DecoderState *s : states) s->length++;
        return logits;
    }
    auto self_cache = [](size_t layer) {
        return [layer](const RowPlace &p, const at::Tensor *&k, const at::Tensor *&v) {
            k = &p.state->k[layer];
            v = &p.state->v[layer];
        };
    };
    auto cross_cache = [](size_t layer) {
        return [layer](const RowPlace &p, const at::Tensor *&k, const at::Tensor *&v) {
            k = &p.state->ck[layer];
            v = &p.state->cv[layer];
        };
    };
    auto self_end = [](const RowPlace &p) { return (int64_t)p.state->length + 1; };
    auto cross_end = [](const RowPlace &p) { return p.state->ck[0].size(2); };
    at::Tensor logits = decoder_step_layers(
        d, ids_cpu, at::tensor(positions, at::kLong), at::tensor(cond_index, at::kLong),
        [&](size_t i, const at::Tensor &q, const at::Tensor &k, const at::Tensor &v) {
            write_cache_cpu(rows, i, k, v, heads);
            return attend_rows_cpu(rows, q, heads, self_cache(i), self_end);
        },
        [&](size_t i, const at::Tensor &qc) { return attend_rows_cpu(cond, qc, heads, cross_cache(i), cross_end); });
    for (DecoderState *s : states) s->length++;
    return logits.contiguous();  // [R, K, V]
}

at::Tensor decoder_step_layers(const Decoder &d, const at::Tensor &ids, const at::Tensor &pos,
                               const at::Tensor &cond_at, const StepSelfAttend &self_attend,
                               const StepCrossAttend &cross_attend)
{
    const int64_t K = d.cfg.num_codebooks, heads = d.cfg.num_attention_heads, H = d.cfg.hidden_size;
    const double scaling = 1.0 / std::sqrt((double)(H / heads));
    at::Tensor x = at::embedding(d.embed[0], ids.select(1, 0));
    for (int64_t k = 1; k < K; k++) x = x + at::embedding(d.embed[k], ids.select(1, k));
    x = x + d.positions.index_select(0, pos);  // [R, H]

    for (size_t i = 0; i < d.layers.size(); i++) {
        const Decoder::Layer &L = d.layers[i];
        at::Tensor h = at::layer_norm(x, {H}, L.ln_self_w, L.ln_self_b, 1e-5);
        at::Tensor q = L.q(h) * scaling, k = L.k(h), v = L.v(h);
        x = x + L.o(self_attend(i, q, k, v));

        if (cond_at.numel() > 0) {
            at::Tensor xc = x.index_select(0, cond_at);
            h = at::layer_norm(xc, {H}, L.ln_cross_w, L.ln_cross_b, 1e-5);
            at::Tensor qc = L.cq(h) * scaling;
            x.index_add_(0, cond_at, L.co(cross_attend(i, qc)));
        }

        h = at::layer_norm(x, {H}, L.ln_ff_w, L.ln_ff_b, 1e-5);
        h = L.fc1(h);
        h = decoder_activation(d, h);
        x = x + L.fc2(h);
    }
    x = at::layer_norm(x, {H}, d.ln_w, d.ln_b, 1e-5);
    std::vector<at::Tensor> logits;
    for (int64_t k = 0; k < K; k++) logits.push_back(d.heads[k](x));
    return at::stack(logits, 1);  // [R, K, V]
}

}  // namespace jen1
