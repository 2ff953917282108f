// grid.cpp - see grid.hpp.
#include "grid.hpp"

#include <cstring>

namespace jen1 {

void Grid::init(int n_codebooks, int columns, int64_t pad, int64_t bos, const int64_t *prompt, int64_t prompt_stride,
                int n_prompt)
{
    K = n_codebooks;
    length = columns;
    ids.assign((size_t)K * length, pad);
    for (int k = 0; k < K; k++) {
        at(k, 0) = bos;
        for (int f = 0; f < n_prompt; f++) at(k, f + k + 1) = prompt[k * prompt_stride + f];
    }
}

void Grid::codes(int n_frames, int64_t *out) const
{
    for (int k = 0; k < K; k++)
        for (int f = 0; f < n_frames; f++) out[(size_t)k * n_frames + f] = at(k, f + k + 1);
}

void fill_column(Grid &g, int pos, int n_frames, int n_prompt, const float *cond, const float *uncond, int vocab,
                 const jen1_sampling &sampling, jen1_rng &rng, FillScratch &scratch, float *trace)
{
    const int K = g.K, length = n_frames + K;
    for (int k = 0; k < K; k++) {
        const int frame = pos - k - 1;
        // Past the end, delay padding, or a given frame: not the model's.
        const bool keep = pos < length && pos >= k + 1 && pos <= length - K + k && frame >= n_prompt;
        if (!keep && !trace) continue;
        const float *c = cond + (size_t)k * vocab;
        const float *scores = c;
        if (uncond) {
            const float *u = uncond + (size_t)k * vocab;
            for (int v = 0; v < vocab; v++) scratch.guided[v] = u[v] + (c[v] - u[v]) * sampling.guidance_scale;
            scores = scratch.guided.data();
        }
        if (trace) std::memcpy(trace + (size_t)k * vocab, scores, sizeof(float) * vocab);
        if (keep) g.at(k, pos) = jen1_sample(scores, vocab, &sampling, &rng, scratch.sampler.data());
    }
}

}  // namespace jen1
