// api.cpp - the C API of jen1.h: argument checks, model loading, and the
// boundary where every C++ exception becomes a jen1_status and a message.
#include <ATen/Parallel.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/csrc/api/include/torch/version.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "boundary.hpp"
#include "musicgen.hpp"
#include "request.hpp"
#include "errbuf.h"
#include "jen1_stages.h"
#include "matvec.h"
#include "util.h"

jen1_model::~jen1_model()
{
    // Tensors viewing the mapping must go before the mapping does.
    text = jen1::TextEncoder();
    decoder = jen1::Decoder();
    encodec = jen1::Encodec();
    safetensors_close(file);
}

namespace {

using jen1::choose_device;
using jen1::file_exists;
using jen1::guarded;
using jen1::to_c_tensor;

void load_model(const char *dir, const jen1_model_params &params, jen1_model *m)
{
    if (!dir || !*dir) throw jen1::Error(JEN1_ERR_INVALID_ARGUMENT, "model directory is empty");
    m->dir = dir;
    const std::string config = m->dir + "/config.json", generation = m->dir + "/generation_config.json",
                      weights = m->dir + "/model.safetensors", spiece = m->dir + "/spiece.model";
    for (const std::string &f : {config, weights, spiece})
        if (!file_exists(f)) throw jen1::Error(JEN1_ERR_IO, f + ": not found (is " + m->dir + " a model directory?)");

    char err[1024];
    if (jen1_model_config_load(config.c_str(), file_exists(generation) ? generation.c_str() : nullptr, &m->cfg,
                               err, sizeof err) != 0)
        throw jen1::Error(JEN1_ERR_FORMAT, err);
    const jen1_model_config &c = m->cfg;
    if (c.decoder.bos_token_id < 0 || c.decoder.bos_token_id > c.decoder.vocab_size ||
        c.decoder.pad_token_id < 0 || c.decoder.pad_token_id > c.decoder.vocab_size)
        throw jen1::Error(JEN1_ERR_FORMAT, config + ": decoder bos/pad token ids must be in [0, vocab_size]");
    if (c.decoder.max_position_embeddings <= c.decoder.num_codebooks)
        throw jen1::Error(JEN1_ERR_FORMAT, config + ": decoder.max_position_embeddings is too small");

    m->tokenizer.load(spiece);
    if (m->tokenizer.vocab_size() > c.t5.vocab_size)
        throw jen1::Error(JEN1_ERR_FORMAT, spiece + ": " + std::to_string(m->tokenizer.vocab_size()) +
                                               " pieces, more than the text encoder's " +
                                               std::to_string(c.t5.vocab_size) + " embedding rows");

    if (safetensors_open(weights.c_str(), &m->file, err, sizeof err) != 0) throw jen1::Error(JEN1_ERR_FORMAT, err);
    jen1::Weights w(m->file);
    m->text.load(w, c.t5, c.decoder.hidden_size);
    m->decoder.load(w, c.decoder, params.decoder_weights);
    m->encodec.load(w, c.encodec, c.decoder.num_codebooks);

    m->device = choose_device(params.device);
    m->decoder.cuda_graphs = params.cuda_graphs != 0;
    if (!m->device.is_cpu()) {
        m->text.to(m->device);
        m->decoder.to(m->device);
        m->encodec.to(m->device);
        m->device_name = "cuda:0";
    }
}

}  // namespace

extern "C" {

const char *jen1_status_name(jen1_status status)
{
    switch (status) {
    case JEN1_OK: return "ok";
    case JEN1_ERR_INVALID_ARGUMENT: return "invalid_argument";
    case JEN1_ERR_IO: return "io";
    case JEN1_ERR_FORMAT: return "format";
    case JEN1_ERR_UNSUPPORTED: return "unsupported";
    case JEN1_ERR_TOO_LONG: return "too_long";
    case JEN1_ERR_ABORTED: return "aborted";
    case JEN1_ERR_NO_MEMORY: return "no_memory";
    case JEN1_ERR_DEVICE: return "device";
    case JEN1_ERR_INTERNAL: return "internal";
    }
    return "unknown";
}

jen1_model_params jen1_model_default_params(void)
{
    jen1_model_params p;
    p.device = JEN1_DEVICE_AUTO;
    p.n_threads = 0;
    p.decoder_weights = JEN1_WEIGHTS_F32;
    p.cuda_graphs = 1;
    return p;
}

jen1_status jen1_model_load(const char *dir, const jen1_model_params *params, jen1_model **out, char *err,
                            size_t errlen)
{
    if (!out) {
        errbuf_printf(err, errlen, "jen1_model_load: out is NULL");
        return JEN1_ERR_INVALID_ARGUMENT;
    }
    *out = nullptr;
    jen1_model_params p = params ? *params : jen1_model_default_params();
    return jen1::guarded_new(out, err, errlen, [&](jen1_model *m) {
        jen1::set_threads(p.n_threads);
        load_model(dir, p, m);
    });
}

void jen1_model_free(jen1_model *model) { delete model; }

int jen1_model_sample_rate(const jen1_model *m) { return m->cfg.encodec.sampling_rate; }
int jen1_model_frame_rate(const jen1_model *m) { return m->cfg.encodec.frame_rate; }
int jen1_model_num_codebooks(const jen1_model *m) { return m->cfg.decoder.num_codebooks; }
int jen1_model_codebook_size(const jen1_model *m) { return m->cfg.decoder.vocab_size; }
int jen1_model_max_frames(const jen1_model *m)
{
    return m->cfg.decoder.max_position_embeddings - m->cfg.decoder.num_codebooks;
}
const char *jen1_model_device(const jen1_model *m) { return m->device_name.c_str(); }

jen1_generate_params jen1_generate_default_params(const jen1_model *m)
{
    jen1_generate_params p;
    std::memset(&p, 0, sizeof p);
    const jen1_generation_config &g = m->cfg.generation;
    p.sampling.greedy = !g.do_sample;
    p.sampling.top_k = g.top_k;
    p.sampling.top_p = g.top_p;
    p.sampling.temperature = g.temperature;
    p.sampling.guidance_scale = g.guidance_scale;
    p.decode_audio = 1;
    return p;
}

jen1_status jen1_generate(const jen1_model *model, const jen1_request *requests, int n_requests,
                          const jen1_generate_params *params, jen1_output **out, char *err, size_t errlen)
{
    if (!model || !params || !out) {
        errbuf_printf(err, errlen, "jen1_generate: model, params and out must not be NULL");
        return JEN1_ERR_INVALID_ARGUMENT;
    }
    *out = nullptr;
    return guarded(err, errlen, [&] { *out = jen1::generate(*model, requests, n_requests, *params); });
}

void jen1_model_default_window(const jen1_model *model, int *window_frames, int *stride_frames)
{
    int window = 0, stride = 0;
    if (model) jen1::default_window(*model, window, stride);
    if (window_frames) *window_frames = window;
    if (stride_frames) *stride_frames = stride;
}

jen1_status jen1_generate_traced(const jen1_model *model, const jen1_request *requests, int n_requests,
                                 const jen1_generate_params *params, jen1_output **out, jen1_tensor *scores,
                                 jen1_tensor *decoder_ids, char *err, size_t errlen)
{
    if (!model || !params || !out) {
        errbuf_printf(err, errlen, "jen1_generate_traced: model, params and out must not be NULL");
        return JEN1_ERR_INVALID_ARGUMENT;
    }
    *out = nullptr;
    if (scores) *scores = jen1_tensor{};
    if (decoder_ids) *decoder_ids = jen1_tensor{};
    jen1_output *result = nullptr;
    jen1_status st = guarded(err, errlen, [&] {
        jen1::Trace trace;
        result = jen1::generate(*model, requests, n_requests, *params, &trace);
        const int64_t rows = (int64_t)n_requests * model->cfg.decoder.num_codebooks;
        if (scores)
            to_c_tensor(at::from_blob(trace.scores.data(), {trace.steps, rows, model->cfg.decoder.vocab_size},
                                      at::kFloat),
                        scores);
        if (decoder_ids) to_c_tensor(at::from_blob(trace.grid.data(), {rows, trace.length}, at::kLong), decoder_ids);
    });
    if (st != JEN1_OK) {
        jen1_output_free(result);
        if (scores) jen1_tensor_free(scores);
        if (decoder_ids) jen1_tensor_free(decoder_ids);
        return st;
    }
    *out = result;
    return JEN1_OK;
}

void jen1_output_free(jen1_output *out)
{
    if (!out) return;
    for (int i = 0; out->items && i < out->n_items; i++) {
        std::free(out->items[i].codes);
        std::free(out->items[i].audio);
        std::free(out->items[i].windows);
    }
    std::free(out->items);
    std::free(out);
}

// Every buffer the engine hands over is malloc'd (generate.cpp's c_alloc,
// to_c_tensor here); jen1.h promises only that jen1_free releases it.
void jen1_free(void *buffer) { std::free(buffer); }

int64_t jen1_tensor_numel(const jen1_tensor *t)
{
    return shape_numel(t->shape, t->ndim);
}

void jen1_tensor_free(jen1_tensor *t)
{
    if (!t) return;
    std::free(t->data);
    std::memset(t, 0, sizeof *t);
}

jen1_status jen1_tokenize(const jen1_model *model, const char *text, int64_t *ids, int max_ids, int *n_ids,
                          char *err, size_t errlen)
{
    if (!model || !text || !n_ids || max_ids < 0 || (max_ids > 0 && !ids)) {
        errbuf_printf(err, errlen, "jen1_tokenize: bad arguments");
        return JEN1_ERR_INVALID_ARGUMENT;
    }
    return guarded(err, errlen, [&] {
        std::vector<int64_t> t = model->tokenizer.encode(text, model->cfg.t5.eos_token_id);
        *n_ids = (int)t.size();
        for (int i = 0; i < max_ids && i < (int)t.size(); i++) ids[i] = t[i];
    });
}

static std::vector<std::string> prompt_list(const char *const *prompts, int n)
{
    std::vector<std::string> v;
    for (int i = 0; i < n; i++) {
        if (!prompts[i]) throw jen1::Error(JEN1_ERR_INVALID_ARGUMENT, "prompt " + std::to_string(i) + " is NULL");
        v.push_back(prompts[i]);
    }
    return v;
}

jen1_status jen1_encode_text(const jen1_model *model, const char *const *prompts, int n_prompts,
                             jen1_tensor *input_ids, jen1_tensor *attention_mask, jen1_tensor *t5_hidden_states,
                             jen1_tensor *encoder_hidden_states, char *err, size_t errlen)
{
    if (!model || !prompts || n_prompts < 1) {
        errbuf_printf(err, errlen, "jen1_encode_text: need a model and at least one prompt");
        return JEN1_ERR_INVALID_ARGUMENT;
    }
    return guarded(err, errlen, [&] {
        at::NoGradGuard no_grad;
        at::Tensor ids, mask;
        jen1::tokenize_batch(*model, prompt_list(prompts, n_prompts), ids, mask);
        std::vector<at::Tensor> hidden;
        at::Tensor d_ids = ids.to(model->device), d_mask = mask.to(model->device);
        at::Tensor last = model->text.forward(d_ids, d_mask, t5_hidden_states ? &hidden : nullptr);
        if (input_ids) to_c_tensor(ids, input_ids);
        if (attention_mask) to_c_tensor(mask, attention_mask);
        if (t5_hidden_states) to_c_tensor(at::stack(hidden, 0), t5_hidden_states);
        if (encoder_hidden_states) to_c_tensor(model->text.project(last, d_mask), encoder_hidden_states);
    });
}

void jen1_model_use_static_step(jen1_model *model, int on)
{
    if (model) model->decoder.static_step = on || !model->device.is_cpu();
}

jen1_status jen1_decoder_forward(const jen1_model *model, const char *const *prompts, int n_prompts,
                                 const int64_t *decoder_ids, int n_steps, jen1_tensor *logits,
                                 jen1_tensor *hidden_states, char *err, size_t errlen)
{
    if (!model || !decoder_ids || n_prompts < 1 || n_steps < 1) {
        errbuf_printf(err, errlen, "jen1_decoder_forward: need a model, decoder ids, a batch and steps");
        return JEN1_ERR_INVALID_ARGUMENT;
    }
    return guarded(err, errlen, [&] {
        at::NoGradGuard no_grad;
        const int K = model->cfg.decoder.num_codebooks, V = model->cfg.decoder.vocab_size;
        if (n_steps > model->cfg.decoder.max_position_embeddings)
            throw jen1::Error(JEN1_ERR_TOO_LONG, "more steps than the decoder has positions");
        at::Tensor ids = at::from_blob(const_cast<int64_t *>(decoder_ids), {n_prompts, K, n_steps}, at::kLong).clone();
        if (ids.min().item<int64_t>() < 0 || ids.max().item<int64_t>() > V)
            throw jen1::Error(JEN1_ERR_INVALID_ARGUMENT, "decoder ids must be in [0, vocab_size]");
        at::Tensor states, mask;
        if (prompts) {
            at::Tensor tids;
            jen1::tokenize_batch(*model, prompt_list(prompts, n_prompts), tids, mask);
            tids = tids.to(model->device);
            mask = mask.to(model->device);
            states = model->text.project(model->text.forward(tids, mask), mask);
        }
        jen1::DecoderState state = jen1::decoder_begin(model->decoder, n_prompts, n_steps, states, mask);
        std::vector<at::Tensor> hidden;
        at::Tensor out = jen1::decoder_forward(model->decoder, state, ids.to(model->device),
                                               hidden_states ? &hidden : nullptr);
        if (logits) to_c_tensor(out.reshape({(int64_t)n_prompts * K, n_steps, V}), logits);
        if (hidden_states) to_c_tensor(at::stack(hidden, 0), hidden_states);
    });
}

jen1_status jen1_decode_codes(const jen1_model *model, const int64_t *codes, int batch, int n_codebooks,
                              int n_frames, jen1_tensor *quantized, jen1_tensor *audio, char *err, size_t errlen)
{
    if (!model || !codes || batch < 1 || n_codebooks < 1 || n_frames < 1) {
        errbuf_printf(err, errlen, "jen1_decode_codes: need a model, codes and positive dimensions");
        return JEN1_ERR_INVALID_ARGUMENT;
    }
    return guarded(err, errlen, [&] {
        at::NoGradGuard no_grad;
        at::Tensor c = at::from_blob(const_cast<int64_t *>(codes), {batch, n_codebooks, n_frames}, at::kLong)
                           .to(model->device);
        if (quantized) to_c_tensor(model->encodec.dequantize(c), quantized);
        if (audio) to_c_tensor(model->encodec.decode(c), audio);
    });
}

jen1_status jen1_decode_codes_chunked(const jen1_model *model, const int64_t *codes, int n_codebooks, int n_frames,
                                      int chunk_frames, jen1_tensor *audio, char *err, size_t errlen)
{
    if (!model || !codes || !audio || n_codebooks < 1 || n_frames < 1 || chunk_frames < 1) {
        errbuf_printf(err, errlen, "jen1_decode_codes_chunked: need a model, codes, an output and positive sizes");
        return JEN1_ERR_INVALID_ARGUMENT;
    }
    return guarded(err, errlen, [&] {
        at::NoGradGuard no_grad;
        at::Tensor c = at::from_blob(const_cast<int64_t *>(codes), {1, n_codebooks, n_frames}, at::kLong)
                           .to(model->device);
        at::Tensor samples = at::empty({1, (int64_t)n_frames * model->cfg.encodec.hop_length}, at::kFloat);
        model->encodec.decode_chunked(c, chunk_frames, samples.data_ptr<float>());
        to_c_tensor(samples, audio);
    });
}

void jen1_thread_set_cpu_threads(int n)
{
    // LibTorch sets a thread's OpenMP team size the first time the thread
    // runs a parallel region (a flag per thread, and per shared object: its
    // own and this library's inline copy), to the process-wide count. Both
    // first, so that neither undoes the size set after them.
    (void)at::get_num_threads();
    at::internal::lazy_init_num_threads();
#ifdef _OPENMP
    omp_set_num_threads(n < 1 ? 1 : n);
#else
    (void)n;
#endif
}

void jen1_torch_info_get(jen1_torch_info *info)
{
    std::memset(info, 0, sizeof *info);
    snprintf(info->torch_version, sizeof info->torch_version, "%d.%d.%d", TORCH_VERSION_MAJOR,
             TORCH_VERSION_MINOR, TORCH_VERSION_PATCH);
#ifdef JEN1_WITH_CUDA
    info->cuda_built = 1;
#endif
    try {
        info->cuda_available = at::globalContext().hasCUDA();
        info->cuda_device_count = info->cuda_available ? (int)at::detail::getCUDAHooks().getNumGPUs() : 0;
    } catch (...) {
        info->cuda_available = 0;
    }
    if (info->cuda_available)
        snprintf(info->device_name, sizeof info->device_name, "cuda:0");
    else
        snprintf(info->device_name, sizeof info->device_name, "cpu (%s kernels)", jen1_matvec_isa());
    info->n_threads = at::get_num_threads();
}

}  // extern "C"
