// request.hpp - what jen1_generate (generate.cpp) and the session
// (session.cpp) both do to a request: check it, plan its windows, encode its
// text, seed its windows, report them.
#pragma once

#include <ATen/ATen.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "musicgen.hpp"

namespace jen1 {

double now_seconds();

// calloc that throws JEN1_ERR_NO_MEMORY: what jen1_output_free releases.
template <typename T> T *c_alloc(size_t n)
{
    T *p = static_cast<T *>(std::calloc(n ? n : 1, sizeof(T)));
    if (!p) throw Error(JEN1_ERR_NO_MEMORY, "out of memory");
    return p;
}

// The text side of a run: what the decoder cross-attends to.
struct TextStates {
    at::Tensor states, mask;
};

// Forward passes of one run: the prefill, then one per remaining column.
int64_t run_passes(int longest, int shortest_prompt, int K);
// Window 0 draws from the request's seed itself (a one-window song is what it
// always was); window w > 0 from a stream mixed from the seed and w.
uint64_t window_seed(uint64_t seed, int window);
void check_sampling(const jen1_sampling &s);
// The window and stride params ask for (0: the model's defaults), checked.
void resolve_window(const jen1_model &m, const jen1_generate_params &p, int &window, int &stride);
const char *section_prompt(const jen1_request &r, int section);
// A request's schedule, checked (index names it in messages); *windowed:
// more than one window, or a resumed song.
std::vector<jen1_window> plan_request(const jen1_model &m, const jen1_request &r, int index, int window, int stride,
                                      bool *windowed);
// The prompts encoded together (padded to the longest): one prompt gives an
// unpadded text, as decoder_step wants.
TextStates encode_texts(const jen1_model &m, const std::vector<std::string> &prompts);
// Hands the song so far (codes [K][F] row-major, the first w.end_frame frames
// of each row) to params' on_window; throws JEN1_ERR_ABORTED when it says stop.
void report_window(const jen1_generate_params &p, const jen1_window &w, const int64_t *codes, int K, int F);

// The item's audio from its codes: one chunked EnCodec decode (seams exact).
void decode_item_audio(const jen1_model &m, jen1_output_item &item);

}  // namespace jen1
