// decoder_graph.cpp - the decoder step off the CPU: one pass over every
// state in static shapes, replayed as a captured CUDA graph.
//
// Launched op by op, a step of musicgen-small is ~700 small kernels, which a
// GPU runs far faster than a CPU can launch them. A CUDA graph replays them
// all in one launch, but only over the same tensors with the same shapes. So
// this step never slices by a length: each state writes its new key and
// value at its length read from a device tensor (index_copy_), and attends
// over its whole cache capacity under a mask of the columns it has; the ids
// and positions are device tensors copied in before each replay. One capture
// serves a set of states (the same DecoderState objects, caches, texts and
// rows) for every step until it changes - a slot joins or leaves, a window
// or a section starts - and is then captured again. The same code runs
// uncaptured where CUDA graphs are not built in (JEN1_WITH_CUDA_GRAPHS: a
// CUDA LibTorch and the CUDA runtime's headers, Makefile) or are off
// (jen1_model_params.cuda_graphs), and on the CPU when a test asks
// (jen1_model_use_static_step), so that its arithmetic is checked against
// the reference's (tests/unit/test_parity.c).
#include <cmath>
#include <cstdlib>
#include <cstring>

#ifdef JEN1_WITH_CUDA_GRAPHS
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

#include "musicgen.hpp"

namespace jen1 {

namespace {

// The step itself, every shape fixed by the states: ids [R, K] and pos [R]
// (each row's position: its state's length) on the device, cond_at the rows
// that attend to a text. Returns logits [R, K, vocab] on the device. Writes
// each state's caches at its length; the caller advances the lengths.
at::Tensor static_forward(const Decoder &d, const std::vector<DecoderState *> &states, const at::Tensor &ids,
                          const at::Tensor &pos, const at::Tensor &cond_at)
{
    const int64_t heads = d.cfg.num_attention_heads;
    // Per state: its length (a [1] view of pos) and its mask over its cache's
    // columns, 0 up to the length, -inf after.
    std::vector<at::Tensor> at_len, self_mask;
    int64_t off = 0;
    for (DecoderState *s : states) {
        at::Tensor len = pos.narrow(0, off, 1);
        at::Tensor cols = at::arange(s->k[0].size(2), pos.options());
        at_len.push_back(len);
        self_mask.push_back(at::zeros({1, 1, 1, s->k[0].size(2)}, d.ln_w.options())
                                .masked_fill((cols > len).view({1, 1, 1, -1}), -INFINITY));
        off += s->rows;
    }
    auto self_attend = [&](size_t i, const at::Tensor &q, const at::Tensor &k, const at::Tensor &v) {
        std::vector<at::Tensor> parts;
        int64_t row0 = 0;
        for (size_t si = 0; si < states.size(); si++) {
            DecoderState *s = states[si];
            auto rows_of = [&](const at::Tensor &t) {
                return split_heads(t.narrow(0, row0, s->rows).unsqueeze(1), heads);  // [rows, heads, 1, hd]
            };
            s->k[i].index_copy_(2, at_len[si], rows_of(k).to(s->k[i].scalar_type()));
            s->v[i].index_copy_(2, at_len[si], rows_of(v).to(s->v[i].scalar_type()));
            at::Tensor a = attend(rows_of(q), s->k[i].to(at::kFloat), s->v[i].to(at::kFloat), self_mask[si]);
            parts.push_back(merge_heads(a).squeeze(1));
            row0 += s->rows;
        }
        return at::cat(parts, 0);
    };
    auto cross_attend = [&](size_t i, const at::Tensor &qc) {
        std::vector<at::Tensor> parts;
        int64_t row0 = 0;
        for (DecoderState *s : states) {
            if (s->cond_rows == 0) continue;
            at::Tensor qs = split_heads(qc.narrow(0, row0, s->cond_rows).unsqueeze(1), heads);
            parts.push_back(merge_heads(attend(qs, s->ck[i], s->cv[i], s->cross_mask)).squeeze(1));
            row0 += s->cond_rows;
        }
        return at::cat(parts, 0);
    };
    return decoder_step_layers(d, ids, pos, cond_at, self_attend, cross_attend);
}

#ifdef JEN1_WITH_CUDA_GRAPHS
// What a capture depends on: the states and every tensor it reads or writes
// in them, where and how large (a freed cache's memory may come back as
// another state's, of another shape).
std::vector<uintptr_t> signature_of(const std::vector<DecoderState *> &states)
{
    std::vector<uintptr_t> sig;
    for (DecoderState *s : states) {
        sig.push_back((uintptr_t)s);
        sig.push_back((uintptr_t)s->rows);
        sig.push_back((uintptr_t)s->cond_rows);
        for (const std::vector<at::Tensor> *list : {&s->k, &s->v, &s->ck, &s->cv})
            for (const at::Tensor &t : *list) {
                sig.push_back((uintptr_t)t.data_ptr());
                sig.push_back((uintptr_t)t.size(2));
            }
        sig.push_back(s->cross_mask.defined() ? (uintptr_t)s->cross_mask.data_ptr() : 0);
    }
    return sig;
}
#endif

}  // namespace

struct StepGraph {
    std::vector<uintptr_t> signature;
    bool failed = false;                   // the capture failed: the session steps uncaptured
    at::Tensor ids, pos, cond_at, logits;  // the static inputs and output
#ifdef JEN1_WITH_CUDA_GRAPHS
    at::cuda::CUDAGraph graph;
#endif
};

void StepGraphDeleter::operator()(StepGraph *g) const { delete g; }

at::Tensor decoder_step_static(const Decoder &d, const std::vector<DecoderState *> &states, const at::Tensor &ids_cpu,
                               const std::vector<int64_t> &positions, const std::vector<int64_t> &cond_index,
                               StepGraphPtr *graph)
{
    const at::Device device = d.ln_w.device();
    const at::Tensor pos_cpu = at::tensor(positions, at::kLong), cond_cpu = at::tensor(cond_index, at::kLong);
    auto uncaptured = [&] {
        return static_forward(d, states, ids_cpu.to(device), pos_cpu.to(device), cond_cpu.to(device))
            .to(at::kCPU)
            .contiguous();
    };
#ifdef JEN1_WITH_CUDA_GRAPHS
    if (graph && device.is_cuda() && d.cuda_graphs && !(*graph && (*graph)->failed)) {
        std::vector<uintptr_t> sig = signature_of(states);
        if (!*graph || (*graph)->signature != sig) {
            graph->reset();
            StepGraphPtr g(new StepGraph());
            g->signature = sig;
            g->ids = ids_cpu.to(device);
            g->pos = pos_cpu.to(device);
            g->cond_at = cond_cpu.to(device);
            // The capture runs on a side stream, after one uncaptured run
            // there (cuBLAS and the allocator set up outside the graph). Both
            // write this step's keys and values: the replay below writes
            // them again, the same values at the same columns.
            c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool();
            at::cuda::CUDAEvent inputs_ready, captured;
            inputs_ready.record(c10::cuda::getCurrentCUDAStream());
            inputs_ready.block(side);
            {
                c10::cuda::CUDAStreamGuard guard(side);
                static_forward(d, states, g->ids, g->pos, g->cond_at);
                bool begun = false;
                try {
                    g->graph.capture_begin();
                    begun = true;
                    g->logits = static_forward(d, states, g->ids, g->pos, g->cond_at);
                    g->graph.capture_end();
                } catch (const std::exception &) {
                    // Something in the step cannot be captured here: this
                    // session steps op by op from now on, as it would
                    // without CUDA graphs.
                    if (begun) {
                        try {
                            g->graph.capture_end();
                        } catch (...) {
                        }
                    }
                    g->failed = true;
                }
            }
            captured.record(side);
            captured.block(c10::cuda::getCurrentCUDAStream());
            const bool failed = g->failed;
            *graph = std::move(g);
            if (failed) return uncaptured();
        }
        StepGraph &g = **graph;
        g.ids.copy_(ids_cpu);
        g.pos.copy_(pos_cpu);
        g.graph.replay();
        return g.logits.to(at::kCPU).contiguous();
    }
#endif
    (void)graph;
    return uncaptured();
}

}  // namespace jen1
