// generate.cpp - text in, audio codes (and audio) out, for a batch of
// requests: jen1_generate, a loop over a session (session.hpp) with a slot
// per request, and its traced form for the parity checks.
//
// The decoder works on a delayed grid per request (grid.hpp). The first
// forward pass (the prefill) feeds the BOS column and every column that holds
// only given codes (prompt codes); each later pass feeds one column with the
// KV cache, and the next column is filled. A traced call decodes its
// requests over one grid length, as the reference does, and records the
// scores of every pass.
//
// A request longer than one window renders in windows (jen1_plan_windows):
// each window is such a run over one grid, primed with the song's last frames
// as prompt codes, under its section's prompt (each section's text encoded
// once), drawing from a random stream of its own.
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "grid.hpp"
#include "musicgen.hpp"
#include "request.hpp"
#include "sampler.h"
#include "session.hpp"

namespace jen1 {

namespace {

constexpr int kMaxBatch = 64;
constexpr int kMaxPromptTokens = 512;

// One request's part of a decoder run: n_frames frames, of which the first
// n_prompt are given ([K] rows of prompt_stride codes, row-major).
struct Run {
    int n_frames = 0, n_prompt = 0;
    const int64_t *prompt = nullptr;
    int64_t prompt_stride = 0;
    jen1_rng rng{};
    std::vector<int64_t> codes;  // [K][n_frames], filled by the run
};

// Decoder forward passes over the whole call: drives the progress callback
// and polls the abort callback before each pass.
struct Progress {
    const jen1_generate_params &p;
    int64_t done = 0, total = 1;
    void poll_abort() const
    {
        if (p.abort && p.abort(p.abort_user_data)) throw Error(JEN1_ERR_ABORTED, "generation aborted");
    }
    void step()
    {
        done++;
        if (p.progress) p.progress(done >= total ? 1.0f : (float)((double)done / (double)total), p.progress_user_data);
    }
};

// Runs the decoder over the grids of `runs`, filling each run's codes.
void decode_runs(const jen1_model &m, std::vector<Run> &runs, const TextStates &text,
                 const jen1_generate_params &p, Progress &progress, Trace *trace)
{
    const int n = (int)runs.size(), K = m.cfg.decoder.num_codebooks, V = m.cfg.decoder.vocab_size;
    const int64_t pad = m.cfg.decoder.pad_token_id, bos = m.cfg.decoder.bos_token_id;
    const bool guided = p.sampling.guidance_scale > 1.0f;
    const int rows = guided ? 2 * n : n;

    // Grid length of each run: BOS, its frames, and the K - 1 columns the
    // delay adds. Given frames sit in their delayed places from the start.
    int longest = 0, shortest_prompt = INT_MAX;
    for (const Run &r : runs) {
        longest = std::max(longest, r.n_frames);
        shortest_prompt = std::min(shortest_prompt, r.n_prompt);
    }
    const int L = longest + K;
    std::vector<Grid> grid(n);
    for (int b = 0; b < n; b++) grid[b].init(K, L, pad, bos, runs[b].prompt, runs[b].prompt_stride, runs[b].n_prompt);

    DecoderState state = decoder_begin(m.decoder, rows, L - 1, text.states, text.mask);
    FillScratch scratch(V);
    if (trace) {
        trace->steps = (int)run_passes(longest, shortest_prompt, K);
        trace->length = L;
        trace->scores.assign((size_t)trace->steps * n * K * V, 0.0f);
    }

    // Column t is fed, column t + 1 filled. Columns 0..shortest_prompt hold
    // only BOS and given codes: the first pass feeds them all.
    for (int t = shortest_prompt, step = 0; t < L - 1; t++, step++) {
        progress.poll_abort();
        const int from = t == shortest_prompt ? 0 : t, width = t + 1 - from;
        at::Tensor step_ids = at::empty({rows, K, width}, at::kLong);
        auto sid = step_ids.accessor<int64_t, 3>();
        for (int r = 0; r < rows; r++)
            for (int k = 0; k < K; k++)
                for (int c = 0; c < width; c++) sid[r][k][c] = grid[r % n].at(k, from + c);
        at::Tensor logits =
            decoder_forward(m.decoder, state, step_ids.to(m.device), nullptr, true).to(at::kCPU).contiguous();
        const float *lp = logits.data_ptr<float>();  // [rows, K, 1, V]

        for (int b = 0; b < n; b++)
            fill_column(grid[b], t + 1, runs[b].n_frames, runs[b].n_prompt, lp + (size_t)b * K * V,
                        guided ? lp + (size_t)(n + b) * K * V : nullptr, V, p.sampling, runs[b].rng, scratch,
                        trace ? &trace->scores[((size_t)step * n + b) * K * V] : nullptr);
        progress.step();
    }

    if (trace) {
        trace->grid.clear();
        for (int b = 0; b < n; b++) trace->grid.insert(trace->grid.end(), grid[b].ids.begin(), grid[b].ids.end());
    }
    for (int b = 0; b < n; b++) {
        Run &r = runs[b];
        r.codes.assign((size_t)K * r.n_frames, 0);
        grid[b].codes(r.n_frames, r.codes.data());
    }
}

// A traced call: the one-window requests decoded together over one grid
// length, as the reference batches them, recording every pass's scores.
jen1_output *generate_traced(const jen1_model &m, const jen1_request *requests, int n, const jen1_generate_params &p,
                             int window, int stride, Trace &trace)
{
    const int K = m.cfg.decoder.num_codebooks;
    std::vector<Run> runs((size_t)n);
    std::vector<std::string> prompts;
    std::vector<std::vector<jen1_window>> plans((size_t)n);
    int longest = 0, shortest_prompt = INT_MAX;
    for (int i = 0; i < n; i++) {
        bool windowed;
        plans[i] = plan_request(m, requests[i], i, window, stride, &windowed);
        if (windowed) throw Error(JEN1_ERR_INVALID_ARGUMENT, "a traced generation takes one-window requests only");
        const jen1_request &r = requests[i];
        prompts.push_back(section_prompt(r, 0));
        runs[i].n_frames = r.n_frames;
        runs[i].n_prompt = r.n_prompt_frames;
        runs[i].prompt = r.prompt_codes;
        runs[i].prompt_stride = r.n_prompt_frames;
        jen1_rng_seed(&runs[i].rng, r.seed);
        longest = std::max(longest, r.n_frames);
        shortest_prompt = std::min(shortest_prompt, r.n_prompt_frames);
    }
    Progress progress{p};
    progress.total = std::max<int64_t>(1, run_passes(longest, shortest_prompt, K));

    jen1_output *out = c_alloc<jen1_output>(1);
    out->n_items = n;
    out->sample_rate = m.cfg.encodec.sampling_rate;
    try {
        out->items = c_alloc<jen1_output_item>((size_t)n);
        double t0 = now_seconds();
        TextStates text = encode_texts(m, prompts);
        double t1 = now_seconds();
        decode_runs(m, runs, text, p, progress, &trace);
        double t2 = now_seconds();
        for (int i = 0; i < n; i++) {
            jen1_output_item &item = out->items[i];
            item.n_codebooks = K;
            item.n_frames = requests[i].n_frames;
            item.codes = c_alloc<int64_t>(runs[i].codes.size());
            std::memcpy(item.codes, runs[i].codes.data(), sizeof(int64_t) * runs[i].codes.size());
            item.n_windows = 1;
            item.windows = c_alloc<jen1_window>(1);
            item.windows[0] = plans[i][0];
            report_window(p, item.windows[0], item.codes, K, item.n_frames);
            if (!p.decode_audio) continue;
            decode_item_audio(m, item);
        }
        out->seconds_text = t1 - t0;
        out->seconds_decoder = t2 - t1;
        out->seconds_audio = now_seconds() - t2;
    } catch (...) {
        jen1_output_free(out);
        throw;
    }
    return out;
}

// The call's progress over all its requests' passes: each slot's progress
// callback lands here, once per pass of that slot.
struct CallProgress {
    const jen1_generate_params &p;
    int64_t done = 0, total = 1;
    static void pass(float, void *user)
    {
        CallProgress &c = *static_cast<CallProgress *>(user);
        c.done++;
        if (c.p.progress)
            c.p.progress(c.done >= c.total ? 1.0f : (float)((double)c.done / (double)c.total), c.p.progress_user_data);
    }
};

}  // namespace

void tokenize_batch(const jen1_model &m, const std::vector<std::string> &prompts, at::Tensor &ids,
                    at::Tensor &mask)
{
    std::vector<std::vector<int64_t>> tokens;
    size_t longest = 1;
    for (size_t i = 0; i < prompts.size(); i++) {
        tokens.push_back(m.tokenizer.encode(prompts[i], m.cfg.t5.eos_token_id));
        if (tokens.back().size() > kMaxPromptTokens)
            throw Error(JEN1_ERR_INVALID_ARGUMENT, "prompt " + std::to_string(i) + " is " +
                                                       std::to_string(tokens.back().size()) +
                                                       " tokens; the limit is " + std::to_string(kMaxPromptTokens));
        longest = std::max(longest, tokens.back().size());
    }
    const int64_t B = (int64_t)prompts.size(), S = (int64_t)longest;
    ids = at::full({B, S}, (int64_t)m.cfg.t5.pad_token_id, at::kLong);
    mask = at::zeros({B, S}, at::kLong);
    auto id = ids.accessor<int64_t, 2>();
    auto mk = mask.accessor<int64_t, 2>();
    for (int64_t b = 0; b < B; b++)
        for (size_t s = 0; s < tokens[b].size(); s++) {
            id[b][s] = tokens[b][s];
            mk[b][s] = 1;
        }
}

jen1_output *generate(const jen1_model &m, const jen1_request *requests, int n, const jen1_generate_params &p,
                      Trace *trace)
{
    if (!requests || n < 1 || n > kMaxBatch)
        throw Error(JEN1_ERR_INVALID_ARGUMENT, "a batch holds 1 to " + std::to_string(kMaxBatch) + " requests");
    check_sampling(p.sampling);
    if (p.on_window && n != 1)
        throw Error(JEN1_ERR_INVALID_ARGUMENT, "on_window takes one request per call (it cannot tell requests apart)");
    int window, stride;
    resolve_window(m, p, window, stride);
    at::NoGradGuard no_grad;
    if (trace) return generate_traced(m, requests, n, p, window, stride, *trace);

    // Every request is checked before any work starts; then all of them run
    // as slots of one session (a long song's windows beside the others).
    const int K = m.cfg.decoder.num_codebooks;
    CallProgress progress{p};
    progress.total = 0;
    for (int i = 0; i < n; i++) {
        bool windowed;
        for (const jen1_window &w : plan_request(m, requests[i], i, window, stride, &windowed)) {
            int64_t passes = run_passes(w.end_frame - w.start_frame, 0, K);
            progress.total += passes;
            if (w.end_frame <= requests[i].n_resume_frames) progress.done += passes;
        }
    }
    progress.total = std::max<int64_t>(1, progress.total);
    jen1_generate_params slot_params = p;
    slot_params.progress = CallProgress::pass;
    slot_params.progress_user_data = &progress;
    slot_params.decode_audio = 0;  // below, once every song is done

    Session session(m, n);
    std::vector<jen1_output *> done((size_t)n, nullptr);
    jen1_output *out = c_alloc<jen1_output>(1);
    out->n_items = n;
    out->sample_rate = m.cfg.encodec.sampling_rate;
    try {
        double t0 = now_seconds();
        for (int i = 0; i < n; i++) session.join(requests[i], slot_params);
        // A failed slot fails the call at once (leave throws its status).
        while (session.running() > 0) {
            session.step();
            for (int i = 0; i < n; i++)
                if (session.slots[i].state == Slot::DONE && session.slots[i].status != JEN1_OK) session.leave(i);
        }
        out->items = c_alloc<jen1_output_item>((size_t)n);
        double t1 = now_seconds(), seconds_text = 0;
        for (int i = 0; i < n; i++) {
            seconds_text += session.slots[i].seconds_text;
            jen1_output *one = session.leave(i);
            out->items[i] = one->items[0];
            one->items[0] = jen1_output_item{};
            jen1_output_free(one);
        }
        out->seconds_text = seconds_text;
        out->seconds_decoder = t1 - t0 - seconds_text;

        for (int i = 0; p.decode_audio && i < n; i++) decode_item_audio(m, out->items[i]);
        out->seconds_audio = now_seconds() - t1;
    } catch (...) {
        jen1_output_free(out);
        throw;
    }
    return out;
}

}  // namespace jen1
