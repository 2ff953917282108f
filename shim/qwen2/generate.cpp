// generate.cpp - batched generation and option scoring over the text
// decoder, as transformers' generate() runs a left-padded batch: one prefill
// pass over the padded prompts, then one step per token. A row that finishes
// (an EOS id, a stop string, its budget) leaves the batch: the reference
// keeps computing it and feeds it pad, which changes nothing for the others.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <numeric>

#include "buf.h"
#include "qwen2.hpp"
#include "text_sampler.h"

namespace jen1 {

namespace {

// One request's progress.
struct Row {
    std::vector<int64_t> context;  // padded prompt and new tokens: what the repetition penalty sees
    std::vector<int64_t> fresh;    // new tokens
    int prompt_len = 0;
    jen1_rng rng{};
    bool done = false;
    jen1_text_finish finish = JEN1_TEXT_FINISH_LENGTH;
    size_t cut = std::string::npos;  // the text ends here (a stop string, the last line's newline)
    size_t newlines = 0;             // in the text so far
    int line_tokens = 0;             // tokens since the last newline
    bool force_newline = false;      // max_line_tokens reached: the next token is "\n"
};

void *c_alloc(size_t bytes)
{
    void *p = std::calloc(1, bytes ? bytes : 1);
    if (!p) throw std::bad_alloc();
    return p;
}

void check_params(const jen1_text_model &m, const jen1_text_generate_params &p)
{
    const jen1_text_sampling &s = p.sampling;
    if (p.max_new_tokens < 1) throw Error(JEN1_ERR_INVALID_ARGUMENT, "max_new_tokens must be positive");
    if (p.max_lines < 0 || p.max_line_tokens < 0)
        throw Error(JEN1_ERR_INVALID_ARGUMENT, "max_lines and max_line_tokens must not be negative");
    if (p.max_line_tokens > 0 && m.newline_id < 0)
        throw Error(JEN1_ERR_INVALID_ARGUMENT, "max_line_tokens needs a tokenizer with \"\\n\" as one token");
    if (!(s.repetition_penalty > 0) || !std::isfinite(s.repetition_penalty))
        throw Error(JEN1_ERR_INVALID_ARGUMENT, "repetition_penalty must be a positive number");
    if (!s.greedy && (!(s.temperature > 0) || !std::isfinite(s.temperature) || !(s.top_p > 0 && s.top_p <= 1) ||
                      s.top_k < 0))
        throw Error(JEN1_ERR_INVALID_ARGUMENT,
                    "sampling needs temperature > 0, top_p in (0, 1] and top_k >= 0");
    if (p.n_stop_strings < 0 || (p.n_stop_strings > 0 && !p.stop_strings))
        throw Error(JEN1_ERR_INVALID_ARGUMENT, "stop_strings is NULL");
    for (int i = 0; i < p.n_stop_strings; i++)
        if (!p.stop_strings[i] || !*p.stop_strings[i])
            throw Error(JEN1_ERR_INVALID_ARGUMENT, "stop string " + std::to_string(i) + " is NULL or empty");
}

// The text of ids without special tokens (ids past the tokenizer's, the
// embedding's padding rows, have none).
std::string decode_text(const jen1_text_model &m, const std::vector<int64_t> &ids)
{
    std::vector<int64_t> known;
    for (int64_t id : ids)
        if (id < m.n_tokens) known.push_back(id);
    buf out = BUF_INIT;
    char err[512];
    if (bpe_decode(m.tokenizer, known.data(), (int)known.size(), 1, &out, err, sizeof err) != 0) {
        buf_free(&out);
        throw Error(JEN1_ERR_INTERNAL, std::string("decoding the generated ids: ") + err);
    }
    std::string text(out.data ? out.data : "", out.len);
    buf_free(&out);
    return text;
}

// Where the first stop string starts in text, or npos.
size_t find_stop(const std::string &text, const jen1_text_generate_params &p)
{
    size_t first = std::string::npos;
    for (int i = 0; i < p.n_stop_strings; i++) first = std::min(first, text.find(p.stop_strings[i]));
    return first;
}

// Where the text's n-th line (non-empty: not only spaces, tabs, CRs) ends
// with its newline, or npos when it has fewer.
size_t lines_end(const std::string &text, int n)
{
    bool filled = false;
    for (size_t i = 0; i < text.size(); i++) {
        const char c = text[i];
        if (c == '\n') {
            if (filled && --n == 0) return i;
            filled = false;
        } else if (c != ' ' && c != '\t' && c != '\r') {
            filled = true;
        }
    }
    return std::string::npos;
}

// Counts row r's tokens since its last newline; at the limit, the next
// token will be the newline.
void count_line_tokens(const jen1_text_generate_params &p, const std::string &text, Row &r)
{
    const size_t newlines = (size_t)std::count(text.begin(), text.end(), '\n');
    r.line_tokens = newlines > r.newlines ? 0 : r.line_tokens + 1;
    r.newlines = newlines;
    r.force_newline = r.line_tokens >= p.max_line_tokens;
}

// Decides whether row r is finished after its newest token.
void update_finish(const jen1_text_model &m, const jen1_text_generate_params &p, Row &r)
{
    const jen1_text_generation_config &g = m.cfg.generation;
    const int64_t tok = r.fresh.back();
    std::string text;
    if (p.n_stop_strings > 0 || p.max_lines > 0 || p.max_line_tokens > 0) text = decode_text(m, r.fresh);
    if (p.max_line_tokens > 0) count_line_tokens(p, text, r);
    if (std::find(g.eos_token_ids, g.eos_token_ids + g.n_eos, tok) != g.eos_token_ids + g.n_eos) {
        r.done = true;
        r.finish = JEN1_TEXT_FINISH_EOS;
    } else if (p.n_stop_strings > 0 && (r.cut = find_stop(text, p)) != std::string::npos) {
        r.done = true;
        r.finish = JEN1_TEXT_FINISH_STOP;
    } else if (p.max_lines > 0 && (r.cut = lines_end(text, p.max_lines)) != std::string::npos) {
        r.done = true;
        r.finish = JEN1_TEXT_FINISH_STOP;
    } else if ((int)r.fresh.size() >= p.max_new_tokens ||
               r.prompt_len + (int)r.fresh.size() >= m.cfg.max_position_embeddings) {
        r.done = true;
        r.finish = JEN1_TEXT_FINISH_LENGTH;
    }
}

// A C string cannot hold a NUL byte (a token of byte 0, which a model may
// write): each becomes U+FFFD, as bytes that are not text do.
std::string without_nul(const std::string &text)
{
    std::string out;
    for (char c : text) {
        if (c == '\0') out += "\xef\xbf\xbd";
        else out += c;
    }
    return out;
}

jen1_text_output *make_output(const jen1_text_model &m, const std::vector<Row> &rows)
{
    jen1_text_output *out = static_cast<jen1_text_output *>(c_alloc(sizeof *out));
    out->items = static_cast<jen1_text_output_item *>(c_alloc(rows.size() * sizeof *out->items));
    out->n_items = (int)rows.size();
    try {
        for (size_t i = 0; i < rows.size(); i++) {
            jen1_text_output_item &it = out->items[i];
            it.ids = static_cast<int64_t *>(c_alloc(rows[i].fresh.size() * sizeof(int64_t)));
            std::copy(rows[i].fresh.begin(), rows[i].fresh.end(), it.ids);
            it.n_ids = (int)rows[i].fresh.size();
            std::string text = decode_text(m, rows[i].fresh);
            if (rows[i].cut != std::string::npos) text.resize(rows[i].cut);
            text = without_nul(text);
            it.text = static_cast<char *>(c_alloc(text.size() + 1));
            std::memcpy(it.text, text.c_str(), text.size() + 1);
            it.finish = rows[i].finish;
        }
    } catch (...) {
        jen1_text_output_free(out);
        throw;
    }
    return out;
}

}  // namespace

void check_ids(const jen1_text_model &m, const int64_t *ids, int n, const std::string &what)
{
    if (!ids || n < 1) throw Error(JEN1_ERR_INVALID_ARGUMENT, what + ": no ids");
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= m.cfg.vocab_size)
            throw Error(JEN1_ERR_INVALID_ARGUMENT, what + ": id " + std::to_string(ids[i]) + " at " +
                                                       std::to_string(i) + " is outside the vocabulary (" +
                                                       std::to_string(m.cfg.vocab_size) + ")");
}

jen1_text_output *text_generate(const jen1_text_model &m, const jen1_text_request *requests, int n,
                                const jen1_text_generate_params &p, TextTrace *trace)
{
    if (!requests || n < 1) throw Error(JEN1_ERR_INVALID_ARGUMENT, "need at least one request");
    check_params(m, p);
    const int V = m.cfg.vocab_size, max_pos = m.cfg.max_position_embeddings;
    std::vector<std::vector<int64_t>> prompts;
    for (int i = 0; i < n; i++) {
        const jen1_text_request &r = requests[i];
        check_ids(m, r.prompt_ids, r.n_prompt_ids, "request " + std::to_string(i));
        if (r.n_prompt_ids >= max_pos)
            throw Error(JEN1_ERR_TOO_LONG, "request " + std::to_string(i) + ": a prompt of " +
                                               std::to_string(r.n_prompt_ids) +
                                               " tokens leaves no room in the position table (" +
                                               std::to_string(max_pos) + ")");
        prompts.emplace_back(r.prompt_ids, r.prompt_ids + r.n_prompt_ids);
    }
    size_t shortest = prompts[0].size();
    for (const auto &q : prompts) shortest = std::min(shortest, q.size());
    BatchStart start = batch_start(m, p.cache, prompts, (int64_t)shortest - 1, p.max_new_tokens);
    TextCache &cache = start.kv;
    at::Tensor h = start.h;
    const int64_t T = start.ids.size(1);

    std::vector<Row> rows(n);
    for (int i = 0; i < n; i++) {
        // What the reference's penalty sees: the padded prompt (here its
        // shared beginning, then its padded tail).
        const int64_t *tail = start.ids.data_ptr<int64_t>() + i * T;
        rows[i].context.assign(prompts[i].begin(), prompts[i].begin() + start.shared);
        rows[i].context.insert(rows[i].context.end(), tail, tail + T);
        rows[i].prompt_len = requests[i].n_prompt_ids;
        jen1_rng_seed(&rows[i].rng, requests[i].seed);
    }
    std::vector<int> active(n);  // cache row a holds request active[a]
    std::iota(active.begin(), active.end(), 0);
    std::vector<unsigned char> scratch(jen1_text_scratch_bytes(V));
    std::vector<float> steps;    // the trace, [step][request][V]
    for (int step = 0;; step++) {
        at::Tensor logits = m.decoder.head(h.narrow(1, h.size(1) - 1, 1)).squeeze(1).to(at::kCPU).contiguous();
        float *lp = logits.data_ptr<float>();
        if (trace) steps.resize((size_t)(step + 1) * n * V, 0.0f);
        std::vector<int64_t> keep, next;
        std::vector<int> still;
        for (size_t a = 0; a < active.size(); a++) {
            Row &r = rows[active[a]];
            float *row = lp + a * V;
            jen1_text_process(row, V, r.context.data(), (int)r.context.size(), &p.sampling, scratch.data());
            if (p.ban_special) {
                for (int64_t id : m.banned) row[id] = -INFINITY;
                for (int64_t id = m.n_tokens; id < V; id++) row[id] = -INFINITY;
            }
            if (trace) std::copy(row, row + V, steps.begin() + ((size_t)step * n + active[a]) * V);
            const int64_t tok = r.force_newline ? m.newline_id : jen1_text_pick(row, V, p.sampling.greedy, &r.rng);
            r.context.push_back(tok);
            r.fresh.push_back(tok);
            update_finish(m, p, r);
            if (!r.done) {
                keep.push_back((int64_t)a);
                still.push_back(active[a]);
                next.push_back(tok);
            }
        }
        if (still.empty()) {
            if (trace) trace->steps = step + 1;
            break;
        }
        if (p.abort && p.abort(p.abort_user_data)) throw Error(JEN1_ERR_ABORTED, "generation aborted");
        if (still.size() != active.size())
            cache_keep_rows(cache, at::tensor(keep, at::kLong).to(m.device));
        active = still;
        const int64_t a = (int64_t)active.size();
        h = text_forward(m.decoder, cache, at::tensor(next, at::kLong).view({a, 1}).to(m.device),
                         at::ones({a, 1}, at::TensorOptions().dtype(at::kLong).device(m.device)));
    }

    if (trace) {  // [step][request] -> [request][step]
        trace->scores.assign(steps.size(), 0.0f);
        for (int s = 0; s < trace->steps; s++)
            for (int i = 0; i < n; i++)
                std::copy_n(steps.begin() + ((size_t)s * n + i) * V, V,
                            trace->scores.begin() + ((size_t)i * trace->steps + s) * V);
    }
    return make_output(m, rows);
}

void score_options(const jen1_text_model &m, jen1_text_cache *cache, const int64_t *prompt, int n_prompt, const int64_t *const *options,
                   const int *n_option_ids, int n_options, double *logprobs)
{
    if (!options || !n_option_ids || !logprobs || n_options < 1)
        throw Error(JEN1_ERR_INVALID_ARGUMENT, "need at least one option and room for its log-likelihood");
    check_ids(m, prompt, n_prompt, "prompt");
    std::vector<std::vector<int64_t>> rows;
    for (int i = 0; i < n_options; i++) {
        check_ids(m, options[i], n_option_ids[i], "option " + std::to_string(i));
        if ((int64_t)n_prompt + n_option_ids[i] > m.cfg.max_position_embeddings)
            throw Error(JEN1_ERR_TOO_LONG, "option " + std::to_string(i) +
                                               ": the prompt and the option exceed the position table");
        std::vector<int64_t> r(prompt, prompt + n_prompt);
        r.insert(r.end(), options[i], options[i] + n_option_ids[i]);
        rows.push_back(std::move(r));
    }
    // The prompt but its last token is the shared beginning; left padding
    // puts every option at the end of its row's tail, whose tokens are
    // predicted by the positions just before them.
    BatchStart start = batch_start(m, cache, rows, n_prompt - 1, 0);
    const at::Tensor &h = start.h, &ids = start.ids;
    const int64_t T = ids.size(1);
    for (int i = 0; i < n_options; i++) {
        const int64_t k = n_option_ids[i];
        at::Tensor logp = at::log_softmax(m.decoder.head(h[i].narrow(0, T - k - 1, k)), -1).to(at::kCPU);
        at::Tensor picked = logp.gather(1, ids[i].narrow(0, T - k, k).unsqueeze(1)).to(at::kDouble);
        logprobs[i] = picked.sum().item<double>();
    }
}

}  // namespace jen1
