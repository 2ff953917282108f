// session.cpp - continuous batching for the text engine (jen1_text_session
// in jen1_text.h): calls join between steps, each a group of requests with
// its own parameters, prompt cache and random streams; every unfinished row
// of every call is a row of one KV cache, stepped together; a finished row
// leaves the cache at once. jen1_text_generate is one call through it.
//
// Rows share the cache's columns but not their positions: each row counts
// its own real tokens (RoPE), and sees only its own valid columns. A join
// rebuilds the cache with the new rows right-aligned beside the old ones
// (what lies before a row's first column is invalid, zero-filled, never
// seen), dropping the leading columns no row needs any more, so the
// columns a step attends over stay the longest row's, not the session's
// history.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "boundary.hpp"
#include "buf.h"
#include "qwen2.hpp"
#include "text_sampler.h"

namespace jen1 {

namespace {

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
void count_line_tokens(const jen1_text_generate_params &p, const std::string &text, TextRow &r)
{
    const size_t newlines = (size_t)std::count(text.begin(), text.end(), '\n');
    r.line_tokens = newlines > r.newlines ? 0 : r.line_tokens + 1;
    r.newlines = newlines;
    r.force_newline = r.line_tokens >= p.max_line_tokens;
}

// Decides whether row r is finished after its newest token.
void update_finish(const jen1_text_model &m, const jen1_text_generate_params &p, TextRow &r)
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

jen1_text_output *make_output(const jen1_text_model &m, const std::vector<TextRow> &rows)
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

// Columns a cache's rows use: from the earliest first valid column of any
// row to its length (0 for a cache without rows).
int64_t used_columns(const TextCache &c)
{
    if (c.next_pos.size(0) == 0 || c.length == 0) return 0;
    at::Tensor valid = c.key_valid.narrow(1, 0, c.length).to(at::kByte);
    const int64_t first = valid.argmax(1).min().item<int64_t>();  // argmax: the first valid column
    return c.length - first;
}

// The used columns of a and b side by side in one new cache, both
// right-aligned at the new length, with room for `extra` more columns; the
// columns before a row's own are zero (never valid, so never seen; zero so
// that a masked weight of exactly 0 meets a finite value).
TextCache cache_join(const TextDecoder &d, const TextCache &a, const TextCache &b, int extra)
{
    const int64_t ua = used_columns(a), ub = used_columns(b), len = std::max(ua, ub), capacity = len + extra;
    const int64_t ra = a.next_pos.size(0), rb = b.next_pos.size(0);
    TextCache c;
    auto opts = d.norm.options();
    const int64_t kvh = d.cfg.num_key_value_heads, hd = d.cfg.head_dim;
    auto place = [&](const TextCache &src, int64_t row0, int64_t rows, int64_t used, at::Tensor &dst, size_t layer,
                     bool keys) {
        if (rows == 0 || used == 0) return;
        const at::Tensor &s = keys ? src.k[layer] : src.v[layer];
        dst.narrow(0, row0, rows).narrow(2, len - used, used).copy_(s.narrow(2, src.length - used, used));
    };
    for (size_t i = 0; i < d.layers.size(); i++) {
        at::Tensor k = at::zeros({ra + rb, kvh, capacity, hd}, opts), v = at::zeros({ra + rb, kvh, capacity, hd}, opts);
        place(a, 0, ra, ua, k, i, true);
        place(b, ra, rb, ub, k, i, true);
        place(a, 0, ra, ua, v, i, false);
        place(b, ra, rb, ub, v, i, false);
        c.k.push_back(k);
        c.v.push_back(v);
    }
    c.key_valid = at::zeros({ra + rb, capacity}, opts.dtype(at::kBool));
    if (ra && ua) c.key_valid.narrow(0, 0, ra).narrow(1, len - ua, ua).copy_(a.key_valid.narrow(1, a.length - ua, ua));
    if (rb && ub) c.key_valid.narrow(0, ra, rb).narrow(1, len - ub, ub).copy_(b.key_valid.narrow(1, b.length - ub, ub));
    c.next_pos = at::cat({a.next_pos, b.next_pos});
    c.length = (int)len;
    return c;
}

}  // namespace

TextSession::TextSession(const jen1_text_model &m, int max_slots, bool trace)
    : m_(m), trace_(trace), slots_(max_slots), scratch_(jen1_text_scratch_bytes(m.cfg.vocab_size))
{
    kv_ = cache_begin(m.decoder, 0, 0);
}

int TextSession::running() const
{
    int n = 0;
    for (const TextSlot &s : slots_) n += s.used && !s.done;
    return n;
}

int TextSession::slot_done(int slot) const
{
    if (slot < 0 || slot >= (int)slots_.size() || !slots_[slot].used) return -1;
    return slots_[slot].done ? 1 : 0;
}

// The most tokens any running row may still write.
int TextSession::remaining_budget() const
{
    int most = 0;
    for (const Active &a : active_) {
        const TextSlot &s = slots_[a.slot];
        most = std::max(most, s.params.max_new_tokens - (int)s.rows[a.row].fresh.size());
    }
    return most;
}

// Processes row r's scores, draws its next token, decides whether it is done.
void TextSession::pick(TextSlot &s, TextRow &r, float *scores)
{
    const int V = m_.cfg.vocab_size;
    const jen1_text_generate_params &p = s.params;
    jen1_text_process(scores, V, r.context.data(), (int)r.context.size(), &p.sampling, scratch_.data());
    if (p.ban_special) {
        for (int64_t id : m_.banned) scores[id] = -INFINITY;
        for (int64_t id = m_.n_tokens; id < V; id++) scores[id] = -INFINITY;
    }
    if (trace_) r.scores.insert(r.scores.end(), scores, scores + V);
    const int64_t tok = r.force_newline ? m_.newline_id : jen1_text_pick(scores, V, p.sampling.greedy, &r.rng);
    r.context.push_back(tok);
    r.fresh.push_back(tok);
    update_finish(m_, p, r);
}

int TextSession::join(const jen1_text_request *requests, int n, const jen1_text_generate_params &p)
{
    int slot = 0;
    while (slot < (int)slots_.size() && slots_[slot].used) slot++;
    if (slot == (int)slots_.size())
        throw Error(JEN1_ERR_INVALID_ARGUMENT, "every slot of the text session is taken (" +
                                                   std::to_string(slots_.size()) + ")");
    if (!requests || n < 1) throw Error(JEN1_ERR_INVALID_ARGUMENT, "need at least one request");
    check_params(m_, p);
    const int max_pos = m_.cfg.max_position_embeddings;
    std::vector<std::vector<int64_t>> prompts;
    for (int i = 0; i < n; i++) {
        const jen1_text_request &r = requests[i];
        check_ids(m_, r.prompt_ids, r.n_prompt_ids, "request " + std::to_string(i));
        if (r.n_prompt_ids >= max_pos)
            throw Error(JEN1_ERR_TOO_LONG, "request " + std::to_string(i) + ": a prompt of " +
                                               std::to_string(r.n_prompt_ids) +
                                               " tokens leaves no room in the position table (" +
                                               std::to_string(max_pos) + ")");
        prompts.emplace_back(r.prompt_ids, r.prompt_ids + r.n_prompt_ids);
    }
    size_t shortest = prompts[0].size();
    for (const auto &q : prompts) shortest = std::min(shortest, q.size());
    BatchStart start = batch_start(m_, p.cache, prompts, (int64_t)shortest - 1, 0);
    const int64_t T = start.ids.size(1);

    TextSlot s;
    s.used = true;
    s.params = p;
    s.params.cache = nullptr;  // used here only: the caller may reuse it at once
    s.rows.resize(n);
    for (int i = 0; i < n; i++) {
        // What the reference's penalty sees: the padded prompt (here its
        // shared beginning, then its padded tail).
        const int64_t *tail = start.ids.data_ptr<int64_t>() + i * T;
        TextRow &r = s.rows[i];
        r.context.assign(prompts[i].begin(), prompts[i].begin() + start.shared);
        r.context.insert(r.context.end(), tail, tail + T);
        r.prompt_len = requests[i].n_prompt_ids;
        jen1_rng_seed(&r.rng, requests[i].seed);
    }
    at::Tensor h = start.h;
    at::Tensor logits = m_.decoder.head(h.narrow(1, h.size(1) - 1, 1)).squeeze(1).to(at::kCPU).contiguous();
    std::vector<int64_t> keep;
    std::vector<Active> joining;
    int budget = remaining_budget();
    for (int i = 0; i < n; i++) {
        pick(s, s.rows[i], logits.data_ptr<float>() + (int64_t)i * m_.cfg.vocab_size);
        if (s.rows[i].done) continue;
        keep.push_back(i);
        joining.push_back(Active{slot, i});
        budget = std::max(budget, p.max_new_tokens - (int)s.rows[i].fresh.size());
    }
    s.done = joining.empty();
    if (!joining.empty()) {
        TextCache &mine = start.kv;
        if ((int)keep.size() < n) cache_keep_rows(mine, at::tensor(keep, at::kLong).to(m_.device));
        TextCache joined = cache_join(m_.decoder, kv_, mine, budget);
        // Nothing below throws: the session changes only now.
        kv_ = std::move(joined);
        active_.insert(active_.end(), joining.begin(), joining.end());
    }
    slots_[slot] = std::move(s);
    return slot;
}

void TextSession::drop_rows(const std::vector<bool> &gone)
{
    std::vector<int64_t> keep;
    std::vector<Active> still;
    for (size_t i = 0; i < active_.size(); i++)
        if (!gone[i]) {
            keep.push_back((int64_t)i);
            still.push_back(active_[i]);
        }
    if (still.size() == active_.size()) return;
    if (still.empty()) kv_ = cache_begin(m_.decoder, 0, 0);
    else cache_keep_rows(kv_, at::tensor(keep, at::kLong).to(m_.device));
    active_ = std::move(still);
}

void TextSession::end_slot(int slot, jen1_status st, const std::string &why)
{
    TextSlot &s = slots_[slot];
    s.done = true;
    s.status = st;
    s.error = why;
    std::vector<bool> gone(active_.size());
    for (size_t i = 0; i < active_.size(); i++) gone[i] = active_[i].slot == slot;
    drop_rows(gone);
}

void TextSession::step()
{
    for (int i = 0; i < (int)slots_.size(); i++) {
        const TextSlot &s = slots_[i];
        if (s.used && !s.done && s.params.abort && s.params.abort(s.params.abort_user_data))
            end_slot(i, JEN1_ERR_ABORTED, "generation aborted");
    }
    if (active_.empty()) return;
    try {
        const int64_t rows = (int64_t)active_.size();
        std::vector<int64_t> next;  // each row's newest token, its input now
        for (const Active &a : active_) next.push_back(slots_[a.slot].rows[a.row].fresh.back());
        at::Tensor h = text_forward(m_.decoder, kv_, at::tensor(next, at::kLong).view({rows, 1}).to(m_.device),
                                    at::ones({rows, 1}, at::TensorOptions().dtype(at::kLong).device(m_.device)));
        at::Tensor logits = m_.decoder.head(h).squeeze(1).to(at::kCPU).contiguous();
        std::vector<bool> gone(active_.size());
        for (size_t i = 0; i < active_.size(); i++) {
            const Active &a = active_[i];
            TextSlot &s = slots_[a.slot];
            TextRow &r = s.rows[a.row];
            pick(s, r, logits.data_ptr<float>() + (int64_t)i * m_.cfg.vocab_size);
            gone[i] = r.done;
        }
        for (size_t i = 0; i < active_.size(); i++) {
            if (!gone[i]) continue;
            TextSlot &s = slots_[active_[i].slot];
            s.done = std::all_of(s.rows.begin(), s.rows.end(), [](const TextRow &r) { return r.done; });
        }
        drop_rows(gone);
    } catch (...) {
        // The pass failed for every row in it: their calls end with it, its
        // status and message as the C boundary would give them.
        char why[512];
        const jen1_status st = guarded(why, sizeof why, [] { throw; });
        for (int i = 0; i < (int)slots_.size(); i++)
            if (slots_[i].used && !slots_[i].done) {
                slots_[i].done = true;
                slots_[i].status = st;
                slots_[i].error = std::string("the batch's step failed: ") + why;
            }
        active_.clear();
        kv_ = cache_begin(m_.decoder, 0, 0);
        throw;
    }
}

jen1_text_output *TextSession::leave(int slot, jen1_status &st, std::string &why, TextTrace *trace)
{
    if (slot_done(slot) < 0) throw Error(JEN1_ERR_INVALID_ARGUMENT, "slot " + std::to_string(slot) + " holds no call");
    if (!slots_[slot].done) end_slot(slot, JEN1_ERR_ABORTED, "left while running: cancelled");
    TextSlot s = std::move(slots_[slot]);
    slots_[slot] = TextSlot();
    st = s.status;
    why = s.error;
    if (trace) {  // [row][step][V], zero after a row finished
        const int V = m_.cfg.vocab_size;
        size_t steps = 0;
        for (const TextRow &r : s.rows) steps = std::max(steps, r.scores.size() / V);
        trace->steps = (int)steps;
        trace->scores.assign(s.rows.size() * steps * V, 0.0f);
        for (size_t i = 0; i < s.rows.size(); i++)
            std::copy(s.rows[i].scores.begin(), s.rows[i].scores.end(), trace->scores.begin() + i * steps * V);
    }
    return st == JEN1_OK ? make_output(m_, s.rows) : nullptr;
}

}  // namespace jen1

// The C handle.
struct jen1_text_session {
    jen1::TextSession s;
    jen1_text_session(const jen1_text_model &m, int max_slots) : s(m, max_slots) {}
};

extern "C" {

jen1_status jen1_text_session_new(const jen1_text_model *model, int max_slots, jen1_text_session **out, char *err,
                                  size_t errlen)
{
    if (!model || !out || max_slots < 1 || max_slots > 256) {
        errbuf_printf(err, errlen, "jen1_text_session_new: a model, out and 1 to 256 slots are needed");
        if (out) *out = nullptr;
        return JEN1_ERR_INVALID_ARGUMENT;
    }
    *out = nullptr;
    return jen1::guarded(err, errlen, [&] { *out = new jen1_text_session(*model, max_slots); });
}

void jen1_text_session_free(jen1_text_session *session) { delete session; }

jen1_status jen1_text_session_join(jen1_text_session *session, const jen1_text_request *requests, int n_requests,
                                   const jen1_text_generate_params *params, int *slot, char *err, size_t errlen)
{
    if (slot) *slot = -1;
    if (!session || !params || !slot) {
        errbuf_printf(err, errlen, "jen1_text_session_join: session, params and slot must not be NULL");
        return JEN1_ERR_INVALID_ARGUMENT;
    }
    return jen1::guarded(err, errlen, [&] {
        at::NoGradGuard no_grad;
        *slot = session->s.join(requests, n_requests, *params);
    });
}

jen1_status jen1_text_session_step(jen1_text_session *session, char *err, size_t errlen)
{
    if (!session) {
        errbuf_printf(err, errlen, "jen1_text_session_step: session is NULL");
        return JEN1_ERR_INVALID_ARGUMENT;
    }
    return jen1::guarded(err, errlen, [&] {
        at::NoGradGuard no_grad;
        session->s.step();
    });
}

int jen1_text_session_running(const jen1_text_session *session) { return session ? session->s.running() : 0; }

int jen1_text_session_rows(const jen1_text_session *session) { return session ? session->s.rows() : 0; }

int jen1_text_session_slot_done(const jen1_text_session *session, int slot)
{
    return session ? session->s.slot_done(slot) : -1;
}

jen1_status jen1_text_session_leave(jen1_text_session *session, int slot, jen1_text_output **out, char *err,
                                    size_t errlen)
{
    if (out) *out = nullptr;
    if (!session) {
        errbuf_printf(err, errlen, "jen1_text_session_leave: session is NULL");
        return JEN1_ERR_INVALID_ARGUMENT;
    }
    jen1_status ended = JEN1_OK;
    std::string why;
    jen1_text_output *result = nullptr;
    jen1_status st = jen1::guarded(err, errlen, [&] { result = session->s.leave(slot, ended, why); });
    if (st != JEN1_OK) return st;
    if (ended != JEN1_OK) {
        errbuf_printf(err, errlen, "%s", why.c_str());
        return ended;
    }
    if (out) *out = result;
    else jen1_text_output_free(result);
    return JEN1_OK;
}

}  // extern "C"
