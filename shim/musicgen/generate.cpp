// generate.cpp - text in, audio codes (and audio) out, for a batch of requests.
//
// The decoder works on a grid of num_codebooks rows per request, with the
// delay pattern: row k is shifted right by k, so at grid position t codebook
// k holds frame t - k - 1, and the positions before a row's first frame and
// after its last are the pad/BOS id. Each step feeds one grid column to the
// decoder and fills the next one, keeping a token only where the pattern
// allows one. Requests of different lengths share the batch; each one's
// pattern ends where its own length does, so its codes are what it would get
// alone.
#include <chrono>
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

// Grid positions of request b: [n_codebooks][length], pad everywhere at first.
struct Grid {
    int K = 0, length = 0;
    std::vector<int64_t> ids;
    int64_t &at(int k, int t) { return ids[(size_t)k * length + t]; }
};

void check_request(const jen1_model &m, const jen1_request &r, int index)
{
    const std::string who = "request " + std::to_string(index) + ": ";
    const int max_frames = jen1_model_max_frames(&m);
    if (!r.prompt) throw Error(JEN1_ERR_INVALID_ARGUMENT, who + "prompt is NULL");
    if (r.n_frames < 1) throw Error(JEN1_ERR_INVALID_ARGUMENT, who + "n_frames must be at least 1");
    if (r.n_frames > max_frames)
        throw Error(JEN1_ERR_TOO_LONG, who + std::to_string(r.n_frames) + " frames is longer than the model's " +
                                           std::to_string(max_frames) + "-frame position table allows");
    if (r.n_prompt_frames < 0 || r.n_prompt_frames > r.n_frames)
        throw Error(JEN1_ERR_INVALID_ARGUMENT, who + "n_prompt_frames must be in [0, n_frames]");
    if (r.n_prompt_frames > 0 && !r.prompt_codes)
        throw Error(JEN1_ERR_INVALID_ARGUMENT, who + "prompt_codes is NULL");
    const int K = m.cfg.decoder.num_codebooks, V = m.cfg.decoder.vocab_size;
    for (int64_t i = 0; i < (int64_t)K * r.n_prompt_frames; i++)
        if (r.prompt_codes[i] < 0 || r.prompt_codes[i] >= V)
            throw Error(JEN1_ERR_INVALID_ARGUMENT, who + "prompt code " + std::to_string(r.prompt_codes[i]) +
                                                       " is outside [0, " + std::to_string(V) + ")");
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

template <typename T> T *c_alloc(size_t n)
{
    T *p = static_cast<T *>(std::calloc(n ? n : 1, sizeof(T)));
    if (!p) throw Error(JEN1_ERR_NO_MEMORY, "out of memory");
    return p;
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

jen1_output *generate(const jen1_model &m, const jen1_request *requests, int n,
                      const jen1_generate_params &p)
{
    if (!requests || n < 1 || n > kMaxBatch)
        throw Error(JEN1_ERR_INVALID_ARGUMENT, "a batch holds 1 to " + std::to_string(kMaxBatch) + " requests");
    for (int i = 0; i < n; i++) check_request(m, requests[i], i);
    check_sampling(p.sampling);

    const int K = m.cfg.decoder.num_codebooks, V = m.cfg.decoder.vocab_size;
    const int64_t pad = m.cfg.decoder.pad_token_id, bos = m.cfg.decoder.bos_token_id;
    const bool guided = p.sampling.guidance_scale > 1.0f;
    const int rows = guided ? 2 * n : n;
    at::NoGradGuard no_grad;
    double t0 = now_seconds();

    // The text side, once per request.
    std::vector<std::string> prompts;
    for (int i = 0; i < n; i++) prompts.push_back(requests[i].prompt);
    at::Tensor ids, mask;
    tokenize_batch(m, prompts, ids, mask);
    ids = ids.to(m.device);
    mask = mask.to(m.device);
    at::Tensor encoder_states = m.text.project(m.text.forward(ids, mask), mask);
    double t1 = now_seconds();

    // Grid length of each request: BOS, its frames, and the K - 1 columns the
    // delay adds.
    std::vector<int> length(n);
    int longest = 0;
    for (int i = 0; i < n; i++) {
        length[i] = requests[i].n_frames + K;
        longest = std::max(longest, length[i]);
    }
    std::vector<Grid> grid(n);
    for (int i = 0; i < n; i++) {
        grid[i].K = K;
        grid[i].length = longest;
        grid[i].ids.assign((size_t)K * longest, pad);
        for (int k = 0; k < K; k++) grid[i].at(k, 0) = bos;
    }

    DecoderState state = decoder_begin(m.decoder, rows, longest - 1, encoder_states, mask);
    std::vector<jen1_rng> rng(n);
    for (int i = 0; i < n; i++) jen1_rng_seed(&rng[i], requests[i].seed);
    std::vector<float> guided_logits(V);
    std::vector<float> scratch(2 * (size_t)V);
    at::Tensor step_ids = at::empty({rows, K, 1}, at::kLong);

    const int steps = longest - 1;
    for (int t = 0; t < steps; t++) {
        if (p.abort && p.abort(p.abort_user_data)) throw Error(JEN1_ERR_ABORTED, "generation aborted");

        auto sid = step_ids.accessor<int64_t, 3>();
        for (int r = 0; r < rows; r++)
            for (int k = 0; k < K; k++) sid[r][k][0] = grid[r % n].at(k, t);
        at::Tensor logits = decoder_forward(m.decoder, state, step_ids.to(m.device)).to(at::kCPU).contiguous();
        const float *lp = logits.data_ptr<float>();  // [rows, K, 1, V]

        const int pos = t + 1;
        for (int b = 0; b < n; b++) {
            if (pos >= length[b]) continue;  // this request is complete
            for (int k = 0; k < K; k++) {
                if (pos < k + 1 || pos > length[b] - K + k) continue;  // delay padding
                const int frame = pos - k - 1;
                if (frame < requests[b].n_prompt_frames) {
                    grid[b].at(k, pos) = requests[b].prompt_codes[(size_t)k * requests[b].n_prompt_frames + frame];
                    continue;
                }
                const float *cond = lp + ((size_t)b * K + k) * V;
                const float *scores = cond;
                if (guided) {
                    const float *uncond = lp + ((size_t)(n + b) * K + k) * V;
                    for (int v = 0; v < V; v++)
                        guided_logits[v] = uncond[v] + (cond[v] - uncond[v]) * p.sampling.guidance_scale;
                    scores = guided_logits.data();
                }
                grid[b].at(k, pos) = jen1_sample(scores, V, &p.sampling, &rng[b], scratch.data());
            }
        }
        if (p.progress) p.progress((float)(t + 1) / (float)steps, p.progress_user_data);
    }
    double t2 = now_seconds();

    jen1_output *out = c_alloc<jen1_output>(1);
    out->n_items = n;
    out->sample_rate = m.cfg.encodec.sampling_rate;
    out->seconds_text = t1 - t0;
    out->seconds_decoder = t2 - t1;
    try {
        out->items = c_alloc<jen1_output_item>((size_t)n);
        for (int b = 0; b < n; b++) {
            jen1_output_item &item = out->items[b];
            const int F = requests[b].n_frames;
            item.n_codebooks = K;
            item.n_frames = F;
            item.codes = c_alloc<int64_t>((size_t)K * F);
            for (int k = 0; k < K; k++)
                for (int f = 0; f < F; f++) item.codes[(size_t)k * F + f] = grid[b].at(k, f + k + 1);
            if (p.decode_audio) {
                at::Tensor codes = at::from_blob(item.codes, {1, K, F}, at::kLong).to(m.device);
                at::Tensor audio = m.encodec.decode(codes).to(at::kCPU).contiguous();
                item.n_samples = audio.numel();
                item.audio = c_alloc<float>((size_t)item.n_samples);
                std::memcpy(item.audio, audio.data_ptr<float>(), sizeof(float) * (size_t)item.n_samples);
            }
        }
    } catch (...) {
        jen1_output_free(out);
        throw;
    }
    out->seconds_audio = now_seconds() - t2;
    return out;
}

}  // namespace jen1
