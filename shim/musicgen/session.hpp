// session.hpp - the stepping engine behind jen1_session (jen1.h): requests
// join a running batch at a step boundary, step together, and leave when
// done, each in a slot of its own. jen1_generate runs on it too.
#pragma once

#include <string>
#include <vector>

#include "grid.hpp"
#include "musicgen.hpp"
#include "request.hpp"

namespace jen1 {

// One request in a session: its song, its window schedule and the run of its
// current window (grid, random stream, KV cache).
struct Slot {
    enum State { FREE, RUNNING, DONE } state = FREE;
    jen1_status status = JEN1_OK;  // of a DONE slot
    std::string error;
    jen1_generate_params params{};
    int n_frames = 0, n_resume = 0;
    uint64_t seed = 0;
    std::vector<std::string> prompts;   // per section (one without sections)
    std::vector<TextStates> texts;      // encoded on first use
    std::vector<jen1_window> windows;
    size_t window = 0;                  // the current one
    std::vector<int64_t> song;          // [K][n_frames]
    // The current window's run: frames [start - context, end) of the song,
    // the first n_prompt given; column t of the grid is fed next.
    Grid grid;
    int run_frames = 0, n_prompt = 0, t = 0;
    jen1_rng rng{};
    DecoderState decoder;
    int64_t passes_done = 0, passes_total = 1;
    double started = 0, seconds_text = 0, seconds_decoder = 0;
};

struct Session {
    const jen1_model &m;
    std::vector<Slot> slots;
    FillScratch scratch;
    StepGraphPtr graph;  // the captured step on CUDA (decoder_graph.cpp)
    Session(const jen1_model &model, int max_slots);

    // Checks the request, encodes its first text and prefills its first
    // window; returns its slot. Throws (the slot stays free) on a bad request.
    int join(const jen1_request &r, const jen1_generate_params &p);
    // One decoder pass of every running slot (abort polled first). A slot
    // whose own work fails (its abort, its on_window, a section's text) ends
    // DONE with that status; a failure of the batched pass ends every slot
    // of that pass and is thrown.
    void step();
    int running() const;
    // The output of a DONE slot (one item; audio when its params ask), or
    // throws its status; a RUNNING slot is cancelled. The slot is free after.
    jen1_output *leave(int slot);

private:
    void start_window(Slot &s);
    void after_pass(Slot &s, const float *logits, int64_t row_stride);
    void finish(Slot &s, jen1_status status, const std::string &error);
};

}  // namespace jen1
