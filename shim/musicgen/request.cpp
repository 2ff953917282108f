// request.cpp - see request.hpp.
#include "request.hpp"

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>

namespace jen1 {

namespace {

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

}  // namespace

double now_seconds()
{
    using namespace std::chrono;
    return duration<double>(steady_clock::now().time_since_epoch()).count();
}

int64_t run_passes(int longest, int shortest_prompt, int K)
{
    return (int64_t)longest + K - 1 - shortest_prompt;
}

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

void report_window(const jen1_generate_params &p, const jen1_window &w, const int64_t *codes, int K, int F)
{
    if (!p.on_window) return;
    std::vector<int64_t> so_far((size_t)K * w.end_frame);
    for (int k = 0; k < K; k++)
        std::memcpy(&so_far[(size_t)k * w.end_frame], codes + (size_t)k * F, sizeof(int64_t) * w.end_frame);
    if (p.on_window(&w, so_far.data(), K, w.end_frame, p.window_user_data))
        throw Error(JEN1_ERR_ABORTED, "stopped by on_window after window " + std::to_string(w.index));
}

void default_window(const jen1_model &m, int &window_frames, int &stride_frames)
{
    window_frames = std::min(30 * m.cfg.encodec.frame_rate, jen1_model_max_frames(&m));
    stride_frames = default_stride(m, window_frames);
}

void decode_item_audio(const jen1_model &m, jen1_output_item &item)
{
    const int K = item.n_codebooks;
    at::Tensor codes = at::from_blob(item.codes, {1, K, item.n_frames}, at::kLong).to(m.device);
    item.n_samples = (int64_t)item.n_frames * m.cfg.encodec.hop_length;
    item.audio = c_alloc<float>((size_t)item.n_samples);
    try {
        m.encodec.decode_chunked(codes, kDecodeChunkFrames, item.audio);
    } catch (...) {
        std::free(item.audio);
        item.audio = nullptr;
        throw;
    }
}

}  // namespace jen1
