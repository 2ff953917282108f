// grid.hpp - the delayed code grid of one request's window and the rule that
// fills it, shared by jen1_generate's batch (generate.cpp) and the session's
// slots (session.cpp).
//
// Row k of the grid is shifted right by k, so at grid position t codebook k
// holds frame t - k - 1; the positions before a row's first frame and after
// its last are the pad/BOS id. Given frames (prompt codes) sit in their
// delayed places from the start.
#pragma once

#include <cstdint>
#include <vector>

#include "jen1.h"
#include "sampler.h"

namespace jen1 {

struct Grid {
    int K = 0, length = 0;
    std::vector<int64_t> ids;
    int64_t &at(int k, int t) { return ids[(size_t)k * length + t]; }
    int64_t at(int k, int t) const { return ids[(size_t)k * length + t]; }
    // length columns of pad, BOS in column 0, the n_prompt given frames
    // (prompt: [K] rows of prompt_stride codes) in their delayed places.
    void init(int n_codebooks, int columns, int64_t pad, int64_t bos, const int64_t *prompt, int64_t prompt_stride,
              int n_prompt);
    // The first n_frames frames of every codebook, undelayed, into out [K][n_frames].
    void codes(int n_frames, int64_t *out) const;
};

// Scratch space of fill_column, reused across calls.
struct FillScratch {
    std::vector<float> guided, sampler;
    explicit FillScratch(int vocab) : guided((size_t)vocab), sampler(2 * (size_t)vocab) {}
};

// After a forward pass, fills column pos of a grid holding n_frames frames
// (the first n_prompt given): cond and uncond are the pass's logits of the
// request's conditional and unconditional rows ([K][vocab] each; uncond NULL
// without guidance). Only where the delay pattern allows a code and the frame
// is not given is the model's sample kept. trace, when given, receives the
// processed scores of every codebook ([K][vocab]).
void fill_column(Grid &g, int pos, int n_frames, int n_prompt, const float *cond, const float *uncond, int vocab,
                 const jen1_sampling &sampling, jen1_rng &rng, FillScratch &scratch, float *trace);

}  // namespace jen1
