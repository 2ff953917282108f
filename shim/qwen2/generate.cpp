// generate.cpp - batched generation and option scoring over the text
// decoder, as transformers' generate() runs a left-padded batch: one prefill
// pass over the padded prompts, then one step per token (a call through a
// session of one slot, session.cpp). A row that finishes (an EOS id, a stop
// string, its budget) leaves the batch: the reference keeps computing it and
// feeds it pad, which changes nothing for the others.
#include "qwen2.hpp"

namespace jen1 {

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
    TextSession session(m, 1, trace != nullptr);
    const int slot = session.join(requests, n, p);
    while (session.slot_done(slot) == 0) session.step();
    jen1_status st = JEN1_OK;
    std::string why;
    jen1_text_output *out = session.leave(slot, st, why, trace);
    if (st != JEN1_OK) throw Error(st, why);
    return out;
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
