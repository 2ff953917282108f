// generate.cpp - text in, audio codes (and audio) out, for a batch of requests.
//
// The decoder works on a grid of num_codebooks rows per request, with the
// delay pattern: row k is shifted right by k, so at grid position t codebook
// k holds frame t - k - 1, and the positions before a row's first frame and
// after its last are the pad/BOS id. The first forward pass (the prefill)
// feeds the BOS column and every column that holds only given codes (prompt
// codes); each later pass feeds one column with the KV cache. After each
// pass the next column is filled, keeping the model's token only where the
// pattern allows one and the frame is not given. Requests of different
// lengths share the batch; each one's pattern ends where its own length
// does, so its codes are what it would get alone.
//
// A request longer than one window renders in windows (jen1_plan_windows),
// one request at a time: each window is such a run over one grid, primed with
// the song's last frames as prompt codes, under its section's prompt (each
// section's text encoded once), drawing from a random stream of its own.
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "musicgen.hpp"
#include "sampler.h"

namespace jen1 {

namespace {

double now_seconds()
{
    using namespace std::chrono;
    return duration<double>(steady_clock::now().time_since_epoch()).count();
}

constexpr int kMaxBatch = 64;
constexpr int kMaxPromptTokens = 512;

template <typename T> T *c_alloc(size_t n)
{
    T *p = static_cast<T *>(std::calloc(n ? n : 1, sizeof(T)));
    if (!p) throw Error(JEN1_ERR_NO_MEMORY, "out of memory");
    return p;
}

// Grid positions of one request: [n_codebooks][length], pad everywhere at first.
struct Grid {
    int K = 0, length = 0;
    std::vector<int64_t> ids;
    int64_t &at(int k, int t) { return ids[(size_t)k * length + t]; }
};

// One request's part of a decoder run: n_frames frames, of which the first
// n_prompt are given ([K] rows of prompt_stride codes, row-major).
struct Run {
    int n_frames = 0, n_prompt = 0;
    const int64_t *prompt = nullptr;
    int64_t prompt_stride = 0;
    jen1_rng rng{};
    std::vector<int64_t> codes;  // [K][n_frames], filled by the run
};

// The text side of a run: what the decoder cross-attends to.
struct TextStates {
    at::Tensor states, mask;
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

// Forward passes of one run: the prefill, then one per remaining column.
int64_t run_passes(int longest, int shortest_prompt, int K)
{
    return (int64_t)longest + K - 1 - shortest_prompt;
}

// Window 0 draws from the request's seed itself (a one-window song is what it
// always was); window w > 0 from a stream mixed from the seed and w.
uint64_t window_seed(uint64_t seed, int window)
{
    if (window == 0) return seed;
    uint64_t z = seed ^ (0xd1b54a32d192ed03ULL * (uint64_t)window);
    z = (z ^ (z >> 31)) * 0x7fb5d329728ea185ULL;
    z = (z ^ (z >> 27)) * 0x81dadef4bc2dd44dULL;
    return z ^ (z >> 33);
}

void check_sampling(const jen1_sampling &s)
{
    if (!s.greedy && !(s.temperature > 0 && std::isfinite(s.temperature)))
        throw Error(JEN1_ERR_INVALID_ARGUMENT, "temperature must be a positive number");
    if (s.top_k < 0) throw Error(JEN1_ERR_INVALID_ARGUMENT, "top_k must be >= 0");
    if (!(s.top_p > 0 && s.top_p <= 1)) throw Error(JEN1_ERR_INVALID_ARGUMENT, "top_p must be in (0, 1]");
    if (!std::isfinite(s.guidance_scale) || s.guidance_scale < 0 || s.guidance_scale > 100)
        throw Error(JEN1_ERR_INVALID_ARGUMENT, "guidance_scale must be in [0, 100]");
}

void check_codes(const jen1_model &m, const int64_t *codes, int n_frames, const std::string &what)
{
    const int K = m.cfg.decoder.num_codebooks, V = m.cfg.decoder.vocab_size;
    if (n_frames > 0 && !codes) throw Error(JEN1_ERR_INVALID_ARGUMENT, what + " is NULL");
    for (int64_t i = 0; i < (int64_t)K * n_frames; i++)
        if (codes[i] < 0 || codes[i] >= V)
            throw Error(JEN1_ERR_INVALID_ARGUMENT, what + ": code " + std::to_string(codes[i]) + " is outside [0, " +
                                                       std::to_string(V) + ")");
}

int default_stride(const jen1_model &m, int window_frames)
{
    int stride = 18 * m.cfg.encodec.frame_rate;  // audiocraft's extend_stride
    return stride < window_frames ? stride : std::max(1, window_frames * 3 / 5);
}

void resolve_window(const jen1_model &m, const jen1_generate_params &p, int &window, int &stride)
{
    if (p.window_frames < 0 || p.stride_frames < 0)
        throw Error(JEN1_ERR_INVALID_ARGUMENT, "window_frames and stride_frames must not be negative");
    int default_stride_frames;
    default_window(m, window, default_stride_frames);
    if (p.window_frames > 0) window = p.window_frames;
    const int max_frames = jen1_model_max_frames(&m);
    if (window > max_frames)
        throw Error(JEN1_ERR_TOO_LONG, "a window of " + std::to_string(window) + " frames is longer than the model's " +
                                           std::to_string(max_frames) + "-frame position table allows");
    stride = p.stride_frames > 0 ? p.stride_frames : p.window_frames > 0 ? default_stride(m, window)
                                                                         : default_stride_frames;
    if (stride >= window)
        throw Error(JEN1_ERR_INVALID_ARGUMENT, "stride_frames (" + std::to_string(stride) +
                                                   ") must be smaller than window_frames (" +
                                                   std::to_string(window) + ")");
}

const char *section_prompt(const jen1_request &r, int section)
{
    return r.n_sections > 0 ? r.sections[section].prompt : r.prompt;
}

// A request's schedule; *windowed: rendered window by window on its own
// (more than one window, or a resumed song), not in the one-window batch.
std::vector<jen1_window> plan_request(const jen1_model &m, const jen1_request &r, int index, int window, int stride,
                                      bool *windowed)
{
    const std::string who = "request " + std::to_string(index) + ": ";
    if (r.n_frames < 1) throw Error(JEN1_ERR_INVALID_ARGUMENT, who + "n_frames must be at least 1");
    if (r.n_sections < 0 || (r.n_sections > 0 && !r.sections))
        throw Error(JEN1_ERR_INVALID_ARGUMENT, who + "sections is NULL or n_sections negative");
    if (r.n_sections == 0 && !r.prompt) throw Error(JEN1_ERR_INVALID_ARGUMENT, who + "prompt is NULL");
    for (int s = 0; s < r.n_sections; s++)
        if (!r.sections[s].prompt)
            throw Error(JEN1_ERR_INVALID_ARGUMENT, who + "the prompt of section " + std::to_string(s) + " is NULL");
    if (r.n_prompt_frames < 0 || r.n_prompt_frames > r.n_frames)
        throw Error(JEN1_ERR_INVALID_ARGUMENT, who + "n_prompt_frames must be in [0, n_frames]");
    if (r.n_resume_frames < 0 || r.n_resume_frames > r.n_frames)
        throw Error(JEN1_ERR_INVALID_ARGUMENT, who + "n_resume_frames must be in [0, n_frames]");

    if (r.n_prompt_frames > 0) {  // the reference's continuation: one window
        const int max_frames = jen1_model_max_frames(&m);
        if (r.n_sections > 0 || r.n_resume_frames > 0)
            throw Error(JEN1_ERR_INVALID_ARGUMENT, who + "prompt_codes continue one window: no sections or resume_codes");
        if (r.n_frames > max_frames)
            throw Error(JEN1_ERR_TOO_LONG, who + std::to_string(r.n_frames) + " frames is longer than the model's " +
                                               std::to_string(max_frames) + "-frame position table allows " +
                                               "for a continuation from prompt codes");
        check_codes(m, r.prompt_codes, r.n_prompt_frames, who + "prompt_codes");
        *windowed = false;
        return {jen1_window{0, r.n_prompt_frames, r.n_frames, r.n_prompt_frames, 0}};
    }

    char err[256];
    int count = jen1_plan_windows(r.n_frames, r.sections, r.n_sections, window, stride, nullptr, 0, err, sizeof err);
    if (count < 1) throw Error(JEN1_ERR_INVALID_ARGUMENT, who + err);
    std::vector<jen1_window> windows((size_t)count);
    jen1_plan_windows(r.n_frames, r.sections, r.n_sections, window, stride, windows.data(), count, err, sizeof err);
    if (r.n_resume_frames > 0) {
        bool at_boundary = false;
        for (const jen1_window &w : windows) at_boundary |= w.end_frame == r.n_resume_frames;
        if (!at_boundary)
            throw Error(JEN1_ERR_INVALID_ARGUMENT, who + "n_resume_frames " + std::to_string(r.n_resume_frames) +
                                                       " is not where a window of the schedule ends");
        check_codes(m, r.resume_codes, r.n_resume_frames, who + "resume_codes");
    }
    *windowed = count > 1 || r.n_resume_frames > 0;
    return windows;
}

TextStates encode_texts(const jen1_model &m, const std::vector<std::string> &prompts)
{
    TextStates t;
    at::Tensor ids;
    tokenize_batch(m, prompts, ids, t.mask);
    ids = ids.to(m.device);
    t.mask = t.mask.to(m.device);
    t.states = m.text.project(m.text.forward(ids, t.mask), t.mask);
    return t;
}

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
    for (int b = 0; b < n; b++) {
        grid[b].K = K;
        grid[b].length = L;
        grid[b].ids.assign((size_t)K * L, pad);
        for (int k = 0; k < K; k++) {
            grid[b].at(k, 0) = bos;
            for (int f = 0; f < runs[b].n_prompt; f++)
                grid[b].at(k, f + k + 1) = runs[b].prompt[k * runs[b].prompt_stride + f];
        }
    }

    DecoderState state = decoder_begin(m.decoder, rows, L - 1, text.states, text.mask);
    std::vector<float> guided_logits(V);
    std::vector<float> scratch(2 * (size_t)V);
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

        const int pos = t + 1;
        for (int b = 0; b < n; b++) {
            const int length = runs[b].n_frames + K;
            for (int k = 0; k < K; k++) {
                const int frame = pos - k - 1;
                // Past the end, delay padding, or a given frame: not the model's.
                const bool keep = pos < length && pos >= k + 1 && pos <= length - K + k && frame >= runs[b].n_prompt;
                if (!keep && !trace) continue;
                const float *cond = lp + ((size_t)b * K + k) * V;
                const float *scores = cond;
                if (guided) {
                    const float *uncond = lp + ((size_t)(n + b) * K + k) * V;
                    for (int v = 0; v < V; v++)
                        guided_logits[v] = uncond[v] + (cond[v] - uncond[v]) * p.sampling.guidance_scale;
                    scores = guided_logits.data();
                }
                if (trace)
                    std::memcpy(&trace->scores[(((size_t)step * n + b) * K + k) * V], scores, sizeof(float) * V);
                if (keep) grid[b].at(k, pos) = jen1_sample(scores, V, &p.sampling, &runs[b].rng, scratch.data());
            }
        }
        progress.step();
    }

    if (trace) {
        trace->grid.clear();
        for (int b = 0; b < n; b++) trace->grid.insert(trace->grid.end(), grid[b].ids.begin(), grid[b].ids.end());
    }
    for (int b = 0; b < n; b++) {
        Run &r = runs[b];
        r.codes.assign((size_t)K * r.n_frames, 0);
        for (int k = 0; k < K; k++)
            for (int f = 0; f < r.n_frames; f++) r.codes[(size_t)k * r.n_frames + f] = grid[b].at(k, f + k + 1);
    }
}

// Hands the song so far (codes [K][F] row-major, the first w.end_frame frames
// of each row) to on_window.
void report_window(const jen1_generate_params &p, const jen1_window &w, const int64_t *codes, int K, int F)
{
    if (!p.on_window) return;
    std::vector<int64_t> so_far((size_t)K * w.end_frame);
    for (int k = 0; k < K; k++)
        std::memcpy(&so_far[(size_t)k * w.end_frame], codes + (size_t)k * F, sizeof(int64_t) * w.end_frame);
    if (p.on_window(&w, so_far.data(), K, w.end_frame, p.window_user_data))
        throw Error(JEN1_ERR_ABORTED, "stopped by on_window after window " + std::to_string(w.index));
}

// Renders one request window by window into song ([K][n_frames]).
void render_song(const jen1_model &m, const jen1_request &r, const std::vector<jen1_window> &windows,
                 const jen1_generate_params &p, Progress &progress, int64_t *song, double &seconds_text)
{
    const int K = m.cfg.decoder.num_codebooks, F = r.n_frames;
    for (int k = 0; k < K; k++)
        for (int f = 0; f < r.n_resume_frames; f++)
            song[(size_t)k * F + f] = r.resume_codes[(size_t)k * r.n_resume_frames + f];

    std::vector<TextStates> texts((size_t)std::max(1, r.n_sections));
    for (const jen1_window &w : windows) {
        if (w.end_frame <= r.n_resume_frames) continue;  // done by an earlier call
        TextStates &text = texts[(size_t)w.section];
        if (!text.states.defined()) {
            double t0 = now_seconds();
            text = encode_texts(m, {section_prompt(r, w.section)});
            seconds_text += now_seconds() - t0;
        }
        std::vector<Run> run(1);
        run[0].n_prompt = w.context_frames;
        run[0].n_frames = w.context_frames + (w.end_frame - w.start_frame);
        run[0].prompt = song + (w.start_frame - w.context_frames);
        run[0].prompt_stride = F;
        jen1_rng_seed(&run[0].rng, window_seed(r.seed, w.index));
        decode_runs(m, run, text, p, progress, nullptr);
        for (int k = 0; k < K; k++)
            std::memcpy(song + (size_t)k * F + w.start_frame,
                        &run[0].codes[(size_t)k * run[0].n_frames + w.context_frames],
                        sizeof(int64_t) * (w.end_frame - w.start_frame));
        report_window(p, w, song, K, F);
    }
}

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

void default_window(const jen1_model &m, int &window_frames, int &stride_frames)
{
    window_frames = std::min(30 * m.cfg.encodec.frame_rate, jen1_model_max_frames(&m));
    stride_frames = default_stride(m, window_frames);
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

    const int K = m.cfg.decoder.num_codebooks;
    std::vector<std::vector<jen1_window>> plans(n);
    std::vector<bool> windowed(n);
    std::vector<int> batch;  // one-window requests, rendered together
    Progress progress{p};
    int longest = 0, shortest_prompt = INT_MAX;
    progress.total = 0;
    for (int i = 0; i < n; i++) {
        bool alone;
        plans[i] = plan_request(m, requests[i], i, window, stride, &alone);
        windowed[i] = alone;
        if (alone && trace)
            throw Error(JEN1_ERR_INVALID_ARGUMENT, "a traced generation takes one-window requests only");
        if (!alone) {
            batch.push_back(i);
            longest = std::max(longest, requests[i].n_frames);
            shortest_prompt = std::min(shortest_prompt, requests[i].n_prompt_frames);
            continue;
        }
        for (const jen1_window &w : plans[i]) {
            int64_t passes = run_passes(w.end_frame - w.start_frame, 0, K);
            progress.total += passes;
            if (w.end_frame <= requests[i].n_resume_frames) progress.done += passes;
        }
    }
    if (!batch.empty()) progress.total += run_passes(longest, shortest_prompt, K);
    progress.total = std::max<int64_t>(1, progress.total);

    at::NoGradGuard no_grad;
    jen1_output *out = c_alloc<jen1_output>(1);
    out->n_items = n;
    out->sample_rate = m.cfg.encodec.sampling_rate;
    try {
        out->items = c_alloc<jen1_output_item>((size_t)n);
        for (int i = 0; i < n; i++) {
            jen1_output_item &item = out->items[i];
            item.n_codebooks = K;
            item.n_frames = requests[i].n_frames;
            item.codes = c_alloc<int64_t>((size_t)K * item.n_frames);
            item.n_windows = (int)plans[i].size();
            item.windows = c_alloc<jen1_window>(plans[i].size());
            std::memcpy(item.windows, plans[i].data(), sizeof(jen1_window) * plans[i].size());
        }

        double t0 = now_seconds(), seconds_text = 0;
        if (!batch.empty()) {
            std::vector<std::string> prompts;
            std::vector<Run> runs(batch.size());
            for (size_t j = 0; j < batch.size(); j++) {
                const jen1_request &r = requests[batch[j]];
                prompts.push_back(section_prompt(r, 0));
                runs[j].n_frames = r.n_frames;
                runs[j].n_prompt = r.n_prompt_frames;
                runs[j].prompt = r.prompt_codes;
                runs[j].prompt_stride = r.n_prompt_frames;
                jen1_rng_seed(&runs[j].rng, r.seed);
            }
            TextStates text = encode_texts(m, prompts);
            seconds_text += now_seconds() - t0;
            decode_runs(m, runs, text, p, progress, trace);
            for (size_t j = 0; j < batch.size(); j++) {
                jen1_output_item &item = out->items[batch[j]];
                std::memcpy(item.codes, runs[j].codes.data(), sizeof(int64_t) * runs[j].codes.size());
                report_window(p, item.windows[0], item.codes, K, item.n_frames);
            }
        }
        for (int i = 0; i < n; i++)
            if (windowed[i]) render_song(m, requests[i], plans[i], p, progress, out->items[i].codes, seconds_text);
        double t1 = now_seconds();
        out->seconds_text = seconds_text;
        out->seconds_decoder = t1 - t0 - seconds_text;

        for (int i = 0; p.decode_audio && i < n; i++) {
            jen1_output_item &item = out->items[i];
            at::Tensor codes = at::from_blob(item.codes, {1, K, item.n_frames}, at::kLong).to(m.device);
            item.n_samples = (int64_t)item.n_frames * m.cfg.encodec.hop_length;
            item.audio = c_alloc<float>((size_t)item.n_samples);
            m.encodec.decode_chunked(codes, kDecodeChunkFrames, item.audio);
        }
        out->seconds_audio = now_seconds() - t1;
    } catch (...) {
        jen1_output_free(out);
        throw;
    }
    return out;
}

}  // namespace jen1
