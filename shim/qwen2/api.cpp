// api.cpp - the C API of jen1_text.h: argument checks, loading a checkpoint
// directory, and the boundary where every C++ exception becomes a status.
#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "boundary.hpp"
#include "qwen2.hpp"

jen1_text_model::~jen1_text_model()
{
    // Tensors viewing the mapping must go before the mapping does.
    decoder = jen1::TextDecoder();
    safetensors_shards_close(&weights);
    bpe_free(tokenizer);
    chat_template_free(chat);
}

namespace {

using jen1::Error;
using jen1::guarded;

// "qwen2.5-0.5b-instruct" from ".../qwen2.5-0.5b-instruct/".
std::string last_component(std::string dir)
{
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    size_t slash = dir.rfind('/');
    return slash == std::string::npos ? dir : dir.substr(slash + 1);
}

// Hands a finished buffer to the caller as a jen1_free'd string.
jen1_status detach_text(buf *text, char **out, char *err, size_t errlen)
{
    *out = buf_detach(text, nullptr);
    if (!*out) {
        errbuf_printf(err, errlen, "out of memory");
        return JEN1_ERR_NO_MEMORY;
    }
    if (err && errlen) err[0] = '\0';
    return JEN1_OK;
}

void load_tokenizer(jen1_text_model *m)
{
    char err[1024];
    if (bpe_load(m->dir.c_str(), &m->tokenizer, err, sizeof err) != 0) throw Error(JEN1_ERR_FORMAT, err);
    if (chat_template_load(m->dir.c_str(), &m->chat, err, sizeof err) != 0) throw Error(JEN1_ERR_FORMAT, err);
    m->n_tokens = bpe_n_tokens(m->tokenizer);
    if (m->n_tokens > m->cfg.vocab_size)
        throw Error(JEN1_ERR_FORMAT, m->dir + ": the tokenizer has " + std::to_string(m->n_tokens) +
                                         " tokens, more than the model's " + std::to_string(m->cfg.vocab_size) +
                                         " embedding rows");
    int64_t newline[2];
    int n_newline = 0;
    if (bpe_encode(m->tokenizer, "\n", 1, 0, newline, 2, &n_newline, err, sizeof err) == 0 && n_newline == 1)
        m->newline_id = newline[0];
    const jen1_text_generation_config &g = m->cfg.generation;
    for (int64_t id = 0; id < m->n_tokens; id++)
        if (bpe_is_special(m->tokenizer, id) &&
            std::find(g.eos_token_ids, g.eos_token_ids + g.n_eos, id) == g.eos_token_ids + g.n_eos)
            m->banned.push_back(id);
}

void load_text_model(const char *dir, const jen1_text_model_params &params, jen1_text_model *m)
{
    if (!dir || !*dir) throw Error(JEN1_ERR_INVALID_ARGUMENT, "model directory is empty");
    m->dir = dir;
    m->name = last_component(m->dir);
    const std::string config = m->dir + "/config.json", generation = m->dir + "/generation_config.json";
    if (!jen1::file_exists(config))
        throw Error(JEN1_ERR_IO, config + ": not found (is " + m->dir + " a model directory?)");

    char err[1024];
    jen1_status st = jen1_text_config_load(config.c_str(), generation.c_str(), &m->cfg, err, sizeof err);
    if (st != JEN1_OK) throw Error(st, err);
    load_tokenizer(m);

    const int opened = safetensors_shards_open(m->dir.c_str(), &m->weights, err, sizeof err);
    if (opened == -2) throw Error(JEN1_ERR_IO, std::string(err) + " (is " + m->dir + " a model directory?)");
    if (opened != 0) throw Error(JEN1_ERR_FORMAT, err);
    std::vector<const safetensors_file *> files(m->weights.files, m->weights.files + m->weights.n);
    m->decoder.load(jen1::Weights(files, m->weights.label), m->cfg,
                    params.weights == JEN1_WEIGHTS_BF16 || params.weights == JEN1_WEIGHTS_INT8);
    m->device = jen1::choose_device(params.device);
    if (!m->device.is_cpu()) {
        m->decoder.to(m->device);
        m->device_name = "cuda:0";
    }
}

}  // namespace

extern "C" {

jen1_text_model_params jen1_text_model_default_params(void)
{
    jen1_text_model_params p;
    p.device = JEN1_DEVICE_AUTO;
    p.n_threads = 0;
    p.weights = JEN1_WEIGHTS_F32;
    return p;
}

jen1_status jen1_text_model_load(const char *dir, const jen1_text_model_params *params, jen1_text_model **out,
                                 char *err, size_t errlen)
{
    if (!out) {
        errbuf_printf(err, errlen, "jen1_text_model_load: out is NULL");
        return JEN1_ERR_INVALID_ARGUMENT;
    }
    *out = nullptr;
    jen1_text_model_params p = params ? *params : jen1_text_model_default_params();
    return jen1::guarded_new(out, err, errlen, [&](jen1_text_model *m) {
        jen1::set_threads(p.n_threads);
        at::NoGradGuard no_grad;
        load_text_model(dir, p, m);
    });
}

void jen1_text_model_free(jen1_text_model *model) { delete model; }

const char *jen1_text_model_name(const jen1_text_model *m) { return m->name.c_str(); }
const char *jen1_text_model_arch(const jen1_text_model *m) { return m->cfg.model_type; }
int jen1_text_model_vocab_size(const jen1_text_model *m) { return m->cfg.vocab_size; }
int jen1_text_model_max_positions(const jen1_text_model *m) { return m->cfg.max_position_embeddings; }
const char *jen1_text_model_device(const jen1_text_model *m) { return m->device_name.c_str(); }

jen1_status jen1_text_tokenize(const jen1_text_model *model, const char *text, size_t len, int parse_special,
                               int64_t *ids, int max_ids, int *n_ids, char *err, size_t errlen)
{
    if (!model || !text || !n_ids || max_ids < 0 || (max_ids > 0 && !ids)) {
        errbuf_printf(err, errlen, "jen1_text_tokenize: bad arguments");
        return JEN1_ERR_INVALID_ARGUMENT;
    }
    if (bpe_encode(model->tokenizer, text, len, parse_special, ids, max_ids, n_ids, err, errlen) != 0)
        return JEN1_ERR_INVALID_ARGUMENT;
    if (*n_ids > max_ids) {
        errbuf_printf(err, errlen, "jen1_text_tokenize: %d ids do not fit the %d given", *n_ids, max_ids);
        return JEN1_ERR_INVALID_ARGUMENT;
    }
    if (err && errlen) err[0] = '\0';
    return JEN1_OK;
}

jen1_status jen1_text_detokenize(const jen1_text_model *model, const int64_t *ids, int n_ids, int skip_special,
                                 char **out, char *err, size_t errlen)
{
    if (!model || !out || n_ids < 0 || (n_ids > 0 && !ids)) {
        errbuf_printf(err, errlen, "jen1_text_detokenize: bad arguments");
        return JEN1_ERR_INVALID_ARGUMENT;
    }
    *out = nullptr;
    for (int i = 0; i < n_ids; i++)
        if (ids[i] < 0 || ids[i] >= model->n_tokens) {
            errbuf_printf(err, errlen, "jen1_text_detokenize: id %lld at %d is not a token (the tokenizer has %d)",
                          (long long)ids[i], i, model->n_tokens);
            return JEN1_ERR_INVALID_ARGUMENT;
        }
    buf text = BUF_INIT;
    if (bpe_decode(model->tokenizer, ids, n_ids, skip_special, &text, err, errlen) != 0) {
        buf_free(&text);
        return JEN1_ERR_INVALID_ARGUMENT;
    }
    return detach_text(&text, out, err, errlen);
}

jen1_status jen1_text_chat_render(const jen1_text_model *model, const jen1_chat_message *messages, int n_messages,
                                  int add_generation_prompt, char **out, char *err, size_t errlen)
{
    if (!model || !out || n_messages < 0 || (n_messages > 0 && !messages)) {
        errbuf_printf(err, errlen, "jen1_text_chat_render: bad arguments");
        return JEN1_ERR_INVALID_ARGUMENT;
    }
    *out = nullptr;
    std::vector<chat_turn> turns;
    for (int i = 0; i < n_messages; i++) turns.push_back(chat_turn{messages[i].role, messages[i].content});
    buf text = BUF_INIT;
    if (chat_template_render(model->chat, turns.data(), n_messages, add_generation_prompt, &text, err, errlen) != 0) {
        buf_free(&text);
        return JEN1_ERR_INVALID_ARGUMENT;
    }
    return detach_text(&text, out, err, errlen);
}

jen1_text_generate_params jen1_text_generate_default_params(const jen1_text_model *model)
{
    jen1_text_generate_params p;
    std::memset(&p, 0, sizeof p);
    const jen1_text_generation_config &g = model->cfg.generation;
    p.sampling.greedy = !g.do_sample;
    p.sampling.temperature = g.temperature;
    p.sampling.top_k = g.top_k;
    p.sampling.top_p = g.top_p;
    p.sampling.repetition_penalty = g.repetition_penalty;
    p.max_new_tokens = 256;
    return p;
}

jen1_status jen1_text_generate(const jen1_text_model *model, const jen1_text_request *requests, int n_requests,
                               const jen1_text_generate_params *params, jen1_text_output **out, char *err,
                               size_t errlen)
{
    if (!model || !params || !out) {
        errbuf_printf(err, errlen, "jen1_text_generate: model, params and out must not be NULL");
        return JEN1_ERR_INVALID_ARGUMENT;
    }
    *out = nullptr;
    return guarded(err, errlen, [&] {
        at::NoGradGuard no_grad;
        *out = jen1::text_generate(*model, requests, n_requests, *params);
    });
}

void jen1_text_output_free(jen1_text_output *out)
{
    if (!out) return;
    for (int i = 0; out->items && i < out->n_items; i++) {
        std::free(out->items[i].ids);
        std::free(out->items[i].text);
    }
    std::free(out->items);
    std::free(out);
}

jen1_status jen1_text_score_options(const jen1_text_model *model, jen1_text_cache *cache, const int64_t *prompt_ids, int n_prompt_ids,
                                    const int64_t *const *option_ids, const int *n_option_ids, int n_options,
                                    double *logprobs, char *err, size_t errlen)
{
    if (!model) {
        errbuf_printf(err, errlen, "jen1_text_score_options: model is NULL");
        return JEN1_ERR_INVALID_ARGUMENT;
    }
    return guarded(err, errlen, [&] {
        at::NoGradGuard no_grad;
        jen1::score_options(*model, cache, prompt_ids, n_prompt_ids, option_ids, n_option_ids, n_options, logprobs);
    });
}

}  // extern "C"
