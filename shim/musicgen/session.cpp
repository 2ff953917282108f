// session.cpp - the stepping engine (session.hpp) and its C API (jen1.h).
//
// A slot renders its request window by window, as jen1_generate always has:
// each window a run over one delayed grid (grid.hpp), primed by a prefill of
// its own (the join, or the end of the previous window), then one column per
// step. The steps of all running slots share one forward pass
// (decoder_step); the prefills, the texts and the sampling are each slot's
// own, so a slot's codes do not depend on its batch-mates (decoder_step says
// when that holds bit for bit).
#include <ATen/ATen.h>

#include <cstring>

#include "boundary.hpp"
#include "errbuf.h"
#include "matvec.h"
#include "session.hpp"

namespace jen1 {

namespace {

constexpr int kMaxSlots = 64;

int rows_of(const Slot &s)
{
    return s.params.sampling.guidance_scale > 1.0f ? 2 : 1;
}

}  // namespace

Session::Session(const jen1_model &model, int max_slots) : m(model), scratch(model.cfg.decoder.vocab_size)
{
    if (max_slots < 1 || max_slots > kMaxSlots)
        throw Error(JEN1_ERR_INVALID_ARGUMENT, "a session holds 1 to " + std::to_string(kMaxSlots) + " slots");
    slots.resize((size_t)max_slots);
}

int Session::join(const jen1_request &r, const jen1_generate_params &p)
{
    at::NoGradGuard no_grad;
    check_sampling(p.sampling);
    int window, stride;
    resolve_window(m, p, window, stride);
    int index = 0;
    while (index < (int)slots.size() && slots[index].state != Slot::FREE) index++;
    if (index == (int)slots.size())
        throw Error(JEN1_ERR_INVALID_ARGUMENT, "all " + std::to_string(slots.size()) + " slots are taken");
    bool windowed;
    std::vector<jen1_window> windows = plan_request(m, r, index, window, stride, &windowed);

    const int K = m.cfg.decoder.num_codebooks;
    Slot &s = slots[index];
    s = Slot();
    s.params = p;
    s.n_frames = r.n_frames;
    s.n_resume = r.n_resume_frames;
    s.seed = r.seed;
    for (int i = 0; i < std::max(1, r.n_sections); i++) s.prompts.push_back(section_prompt(r, i));
    s.texts.resize(s.prompts.size());
    s.windows = windows;
    s.song.assign((size_t)K * s.n_frames, 0);
    const int64_t *given = r.n_prompt_frames > 0 ? r.prompt_codes : r.resume_codes;
    const int n_given = r.n_prompt_frames > 0 ? r.n_prompt_frames : r.n_resume_frames;
    for (int k = 0; k < K; k++)
        for (int f = 0; f < n_given; f++) s.song[(size_t)k * s.n_frames + f] = given[(size_t)k * n_given + f];
    s.passes_total = 0;
    for (const jen1_window &w : windows) {
        int64_t passes = run_passes(w.end_frame - w.start_frame, 0, K);
        s.passes_total += passes;
        if (w.end_frame <= s.n_resume) {
            s.passes_done += passes;
            s.window++;
        }
    }
    s.passes_total = std::max<int64_t>(1, s.passes_total);
    s.state = Slot::RUNNING;
    s.started = now_seconds();
    try {
        if (s.window < s.windows.size()) start_window(s);
        else finish(s, JEN1_OK, "");  // resumed from its last window's end
    } catch (...) {
        s = Slot();
        throw;
    }
    return index;
}

void Session::start_window(Slot &s)
{
    const jen1_window &w = s.windows[s.window];
    const int K = m.cfg.decoder.num_codebooks;
    TextStates &text = s.texts[(size_t)w.section];
    if (!text.states.defined()) {
        double t0 = now_seconds();
        text = encode_texts(m, {s.prompts[(size_t)w.section]});
        s.seconds_text += now_seconds() - t0;
    }
    s.n_prompt = w.context_frames;
    s.run_frames = w.context_frames + (w.end_frame - w.start_frame);
    const int L = s.run_frames + K;
    s.grid.init(K, L, m.cfg.decoder.pad_token_id, m.cfg.decoder.bos_token_id,
                s.song.data() + (w.start_frame - w.context_frames), s.n_frames, s.n_prompt);
    jen1_rng_seed(&s.rng, window_seed(s.seed, w.index));
    s.t = s.n_prompt;
    if (s.t >= L - 1) {  // every frame given: nothing to generate
        s.t = L - 1;
        after_pass(s, nullptr, 0);
        return;
    }
    if (s.params.abort && s.params.abort(s.params.abort_user_data)) throw Error(JEN1_ERR_ABORTED, "generation aborted");

    // The prefill: every column up to t (BOS and the given frames) at once.
    const int rows = rows_of(s);
    s.decoder = decoder_begin(m.decoder, rows, L - 1, text.states, text.mask);
    at::Tensor ids = at::empty({rows, K, s.t + 1}, at::kLong);
    auto id = ids.accessor<int64_t, 3>();
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < K; k++)
            for (int c = 0; c <= s.t; c++) id[r][k][c] = s.grid.at(k, c);
    double t0 = now_seconds();
    at::Tensor logits =
        decoder_forward(m.decoder, s.decoder, ids.to(m.device), nullptr, true).to(at::kCPU).contiguous();
    s.seconds_decoder += now_seconds() - t0;
    after_pass(s, logits.data_ptr<float>(), (int64_t)K * m.cfg.decoder.vocab_size);
}

void Session::after_pass(Slot &s, const float *logits, int64_t row_stride)
{
    const int K = m.cfg.decoder.num_codebooks, V = m.cfg.decoder.vocab_size, L = s.run_frames + K;
    if (logits) {
        fill_column(s.grid, s.t + 1, s.run_frames, s.n_prompt, logits, rows_of(s) == 2 ? logits + row_stride : nullptr,
                    V, s.params.sampling, s.rng, scratch, nullptr);
        s.t++;
        s.passes_done++;
        if (s.params.progress)
            s.params.progress(s.passes_done >= s.passes_total ? 1.0f : (float)((double)s.passes_done / s.passes_total),
                              s.params.progress_user_data);
    }
    if (s.t < L - 1) return;

    // The window is done: its new frames into the song, then the next window.
    const jen1_window &w = s.windows[s.window];
    std::vector<int64_t> codes((size_t)K * s.run_frames);
    s.grid.codes(s.run_frames, codes.data());
    for (int k = 0; k < K; k++)
        std::memcpy(&s.song[(size_t)k * s.n_frames + w.start_frame], &codes[(size_t)k * s.run_frames + s.n_prompt],
                    sizeof(int64_t) * (w.end_frame - w.start_frame));
    s.decoder = DecoderState();
    report_window(s.params, w, s.song.data(), K, s.n_frames);
    if (++s.window < s.windows.size()) start_window(s);
    else finish(s, JEN1_OK, "");
}

void Session::finish(Slot &s, jen1_status status, const std::string &error)
{
    s.state = Slot::DONE;
    s.status = status;
    s.error = error;
    s.grid = Grid();
    s.texts.clear();
    s.decoder = DecoderState();  // the KV cache goes now, not at leave
}

void Session::step()
{
    at::NoGradGuard no_grad;
    const int K = m.cfg.decoder.num_codebooks;
    std::vector<Slot *> live;
    for (Slot &s : slots) {
        if (s.state != Slot::RUNNING) continue;
        if (s.params.abort && s.params.abort(s.params.abort_user_data)) finish(s, JEN1_ERR_ABORTED, "generation aborted");
        else live.push_back(&s);
    }
    // On the CPU a pass takes at most JEN1_MATVEC_MAX_ROWS rows, so that every
    // row goes through the matvec kernels (decoder_step).
    const int max_rows = m.device.is_cpu() ? JEN1_MATVEC_MAX_ROWS : INT32_MAX;
    for (size_t first = 0; first < live.size();) {
        std::vector<Slot *> pass;
        std::vector<DecoderState *> states;
        int rows = 0;
        for (; first < live.size() && (pass.empty() || rows + rows_of(*live[first]) <= max_rows); first++) {
            pass.push_back(live[first]);
            states.push_back(&live[first]->decoder);
            rows += rows_of(*live[first]);
        }
        at::Tensor ids = at::empty({rows, K}, at::kLong);
        int64_t *id = ids.data_ptr<int64_t>();
        for (Slot *s : pass)
            for (int r = 0; r < rows_of(*s); r++, id += K)
                for (int k = 0; k < K; k++) id[k] = s->grid.at(k, s->t);
        double t0 = now_seconds();
        at::Tensor logits;
        try {
            logits = decoder_step(m.decoder, states, ids, &graph);
        } catch (const std::exception &e) {
            const Error *err = dynamic_cast<const Error *>(&e);
            for (Slot *s : pass) finish(*s, err ? err->status : JEN1_ERR_INTERNAL, e.what());
            throw;
        }
        const double seconds = now_seconds() - t0;
        const int64_t row_stride = (int64_t)K * m.cfg.decoder.vocab_size;
        const float *lp = logits.data_ptr<float>();
        for (Slot *s : pass) {
            s->seconds_decoder += seconds;
            try {
                after_pass(*s, lp, row_stride);
            } catch (const Error &e) {
                finish(*s, e.status, e.what());
            } catch (const std::exception &e) {
                finish(*s, JEN1_ERR_INTERNAL, e.what());
            }
            lp += rows_of(*s) * row_stride;
        }
    }
}

int Session::running() const
{
    int n = 0;
    for (const Slot &s : slots) n += s.state == Slot::RUNNING;
    return n;
}

jen1_output *Session::leave(int index)
{
    at::NoGradGuard no_grad;
    if (index < 0 || index >= (int)slots.size() || slots[index].state == Slot::FREE)
        throw Error(JEN1_ERR_INVALID_ARGUMENT, "slot " + std::to_string(index) + " holds no request");
    Slot &s = slots[index];
    if (s.state == Slot::RUNNING) {
        s = Slot();
        throw Error(JEN1_ERR_ABORTED, "slot " + std::to_string(index) + " left before it was done");
    }
    if (s.status != JEN1_OK) {
        Error e(s.status, s.error);
        s = Slot();
        throw e;
    }
    const int K = m.cfg.decoder.num_codebooks;
    jen1_output *out = c_alloc<jen1_output>(1);
    try {
        out->n_items = 1;
        out->sample_rate = m.cfg.encodec.sampling_rate;
        out->seconds_text = s.seconds_text;
        out->seconds_decoder = s.seconds_decoder;
        out->items = c_alloc<jen1_output_item>(1);
        jen1_output_item &item = out->items[0];
        item.n_codebooks = K;
        item.n_frames = s.n_frames;
        item.codes = c_alloc<int64_t>(s.song.size());
        std::memcpy(item.codes, s.song.data(), sizeof(int64_t) * s.song.size());
        item.n_windows = (int)s.windows.size();
        item.windows = c_alloc<jen1_window>(s.windows.size());
        std::memcpy(item.windows, s.windows.data(), sizeof(jen1_window) * s.windows.size());
        if (s.params.decode_audio) {
            double t0 = now_seconds();
            decode_item_audio(m, item);
            out->seconds_audio = now_seconds() - t0;
        }
    } catch (...) {
        jen1_output_free(out);
        s = Slot();
        throw;
    }
    s = Slot();
    return out;
}

}  // namespace jen1

struct jen1_session : jen1::Session {
    using jen1::Session::Session;
};

using jen1::guarded;

jen1_status jen1_session_new(const jen1_model *model, int max_slots, jen1_session **out, char *err, size_t errlen)
{
    if (!model || !out) {
        errbuf_printf(err, errlen, "jen1_session_new: model and out must not be NULL");
        return JEN1_ERR_INVALID_ARGUMENT;
    }
    *out = nullptr;
    return guarded(err, errlen, [&] { *out = new jen1_session(*model, max_slots); });
}

void jen1_session_free(jen1_session *session)
{
    delete session;
}

jen1_status jen1_session_join(jen1_session *session, const jen1_request *request, const jen1_generate_params *params,
                              int *slot, char *err, size_t errlen)
{
    if (!session || !request || !params || !slot) {
        errbuf_printf(err, errlen, "jen1_session_join: session, request, params and slot must not be NULL");
        return JEN1_ERR_INVALID_ARGUMENT;
    }
    *slot = -1;
    return guarded(err, errlen, [&] { *slot = session->join(*request, *params); });
}

jen1_status jen1_session_step(jen1_session *session, char *err, size_t errlen)
{
    if (!session) {
        errbuf_printf(err, errlen, "jen1_session_step: session must not be NULL");
        return JEN1_ERR_INVALID_ARGUMENT;
    }
    return guarded(err, errlen, [&] { session->step(); });
}

int jen1_session_running(const jen1_session *session)
{
    return session ? session->running() : 0;
}

int jen1_session_slot_done(const jen1_session *session, int slot)
{
    if (!session || slot < 0 || slot >= (int)session->slots.size()) return -1;
    const jen1::Slot &s = session->slots[(size_t)slot];
    return s.state == jen1::Slot::FREE ? -1 : s.state == jen1::Slot::DONE;
}

jen1_status jen1_session_leave(jen1_session *session, int slot, jen1_output **out, char *err, size_t errlen)
{
    if (!session) {
        errbuf_printf(err, errlen, "jen1_session_leave: session must not be NULL");
        return JEN1_ERR_INVALID_ARGUMENT;
    }
    jen1_output *result = nullptr;
    jen1_status st = guarded(err, errlen, [&] { result = session->leave(slot); });
    if (out) *out = result;
    else jen1_output_free(result);
    return st;
}
