// stages.cpp - the C API of jen1_text_stages.h: the text engine's stages
// for parity checks and tools.
#include <cmath>
#include <cstring>

#include "boundary.hpp"
#include "jen1_text_stages.h"
#include "qwen2.hpp"
#include "text_sampler.h"

extern "C" {

jen1_status jen1_text_forward(const jen1_text_model *model, const int64_t *ids, const int64_t *attention_mask,
                              int batch, int n_tokens, jen1_tensor *hidden_states, jen1_tensor *layer_outputs,
                              jen1_tensor *logits, char *err, size_t errlen)
{
    if (!model || !ids || !attention_mask || batch < 1 || n_tokens < 1) {
        errbuf_printf(err, errlen, "jen1_text_forward: need a model, ids, a mask and positive sizes");
        return JEN1_ERR_INVALID_ARGUMENT;
    }
    for (jen1_tensor *t : {hidden_states, layer_outputs, logits})
        if (t) *t = jen1_tensor{};
    return jen1::guarded(err, errlen, [&] {
        at::NoGradGuard no_grad;
        jen1::check_ids(*model, ids, batch * n_tokens, "ids");
        if (n_tokens > model->cfg.max_position_embeddings)
            throw jen1::Error(JEN1_ERR_TOO_LONG, "more tokens than the model has positions");
        at::Tensor t_ids = at::from_blob(const_cast<int64_t *>(ids), {batch, n_tokens}, at::kLong).clone();
        at::Tensor t_mask = at::from_blob(const_cast<int64_t *>(attention_mask), {batch, n_tokens}, at::kLong).clone();
        if (((t_mask != 0) & (t_mask != 1)).any().item<bool>())
            throw jen1::Error(JEN1_ERR_INVALID_ARGUMENT, "attention_mask must hold 0 and 1 only");
        jen1::TextCache cache = jen1::cache_begin(model->decoder, batch, n_tokens);
        jen1::ForwardTaps taps;
        at::Tensor h = jen1::text_forward(model->decoder, cache, t_ids.to(model->device), t_mask.to(model->device),
                                          &taps);
        const size_t L = model->decoder.layers.size();
        if (hidden_states) {  // embeddings, outputs of layers 0 .. L-2, final norm
            std::vector<at::Tensor> hs(taps.states.begin(), taps.states.begin() + L);
            hs.push_back(taps.states.back());
            jen1::to_c_tensor(at::stack(hs, 0), hidden_states);
        }
        if (layer_outputs)
            jen1::to_c_tensor(at::stack(std::vector<at::Tensor>(taps.states.begin() + 1, taps.states.begin() + 1 + L), 0),
                              layer_outputs);
        if (logits) jen1::to_c_tensor(model->decoder.head(h), logits);
    });
}

jen1_status jen1_text_process_scores(const float *logits, int n, const int64_t *context, int n_context,
                                     const jen1_text_sampling *s, float *penalized, float *temperature,
                                     float *top_k, float *top_p, float *probs, char *err, size_t errlen)
{
    if (!logits || n < 1 || !s || n_context < 0 || (n_context > 0 && !context)) {
        errbuf_printf(err, errlen, "jen1_text_process_scores: bad arguments");
        return JEN1_ERR_INVALID_ARGUMENT;
    }
    return jen1::guarded(err, errlen, [&] {
        std::vector<float> row(logits, logits + n);
        std::vector<unsigned char> scratch(jen1_text_scratch_bytes(n));
        auto save = [&](float *dst) { if (dst) std::memcpy(dst, row.data(), (size_t)n * sizeof(float)); };
        jen1_text_repetition_penalty(row.data(), n, context, n_context, s->repetition_penalty, scratch.data());
        save(penalized);
        if (s->greedy) return;
        jen1_text_temperature(row.data(), n, s->temperature);
        save(temperature);
        jen1_text_top_k(row.data(), n, s->top_k, scratch.data());
        save(top_k);
        jen1_text_top_p(row.data(), n, s->top_p, scratch.data());
        save(top_p);
        if (probs) {
            at::Tensor p = at::softmax(at::from_blob(row.data(), {n}, at::kFloat), 0);
            std::memcpy(probs, p.data_ptr<float>(), (size_t)n * sizeof(float));
        }
    });
}

jen1_status jen1_text_generate_traced(const jen1_text_model *model, const jen1_text_request *requests,
                                      int n_requests, const jen1_text_generate_params *params,
                                      jen1_text_output **out, jen1_tensor *scores, char *err, size_t errlen)
{
    if (!model || !params || !out) {
        errbuf_printf(err, errlen, "jen1_text_generate_traced: model, params and out must not be NULL");
        return JEN1_ERR_INVALID_ARGUMENT;
    }
    *out = nullptr;
    if (scores) *scores = jen1_tensor{};
    jen1_text_output *result = nullptr;
    jen1_status st = jen1::guarded(err, errlen, [&] {
        at::NoGradGuard no_grad;
        jen1::TextTrace trace;
        result = jen1::text_generate(*model, requests, n_requests, *params, &trace);
        if (scores)
            jen1::to_c_tensor(at::from_blob(trace.scores.data(), {n_requests, trace.steps, model->cfg.vocab_size},
                                            at::kFloat),
                              scores);
    });
    if (st != JEN1_OK) {
        jen1_text_output_free(result);
        if (scores) jen1_tensor_free(scores);
        return st;
    }
    *out = result;
    return JEN1_OK;
}

}  // extern "C"
