// encodec.cpp - EnCodec's decoding half: residual-VQ dequantisation and the
// SEANet decoder, laid out and padded as transformers' EncodecDecoder is.
//
// Decoder layer list for R upsampling ratios and N residual layers (the
// index of each entry is its number in "audio_encoder.decoder.layers.<i>"):
//   conv k=kernel_size (hidden_size -> 2^R * num_filters), LSTM (y = lstm(x) + x),
//   per ratio r: ELU, ConvTranspose1d (C -> C/2, k=2r, stride r), N ResBlocks,
//   ELU, conv k=last_kernel_size (num_filters -> audio_channels).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "musicgen.hpp"
#include "matvec.h"

namespace jen1 {
namespace {

using Conv = Encodec::Conv;
using Layer = Encodec::Layer;

std::string decoder_layer(int index)
{
    return "audio_encoder.decoder.layers." + std::to_string(index);
}

// A weight-normalised convolution stored as g and v (either spelling), with
// the effective weight g * v / ||v|| (norm over all dims but 0) folded in
// once. Conv1d: v [out, in, k], g [out, 1, 1]; ConvTranspose1d: v [in, out, k],
// g [in, 1, 1].
Conv load_conv(const Weights &w, const std::string &base, int64_t in, int64_t out, int kernel,
               int stride, int dilation, bool transposed)
{
    int64_t dim0 = transposed ? in : out, dim1 = transposed ? out : in;
    at::Tensor g = w.get_any({base + ".weight_g", base + ".parametrizations.weight.original0"},
                             {dim0, 1, 1});
    at::Tensor v = w.get_any({base + ".weight_v", base + ".parametrizations.weight.original1"},
                             {dim0, dim1, kernel});
    Conv conv;
    conv.weight = at::_weight_norm(v, g, 0);  // what torch's weight_norm hook computes
    conv.bias = w.get(base + ".bias", {out});
    conv.kernel = kernel;
    conv.stride = stride;
    conv.dilation = dilation;
    conv.transposed = transposed;
    return conv;
}

Layer conv_layer(Conv conv)
{
    Layer layer{Layer::CONV, {}, {}, {}};
    layer.conv = std::move(conv);
    return layer;
}

Layer elu_layer()
{
    return Layer{Layer::ELU, {}, {}, {}};
}

Layer load_lstm(const Weights &w, const std::string &base, int64_t dim, int num_layers)
{
    Layer layer{Layer::LSTM, {}, {}, {}};
    layer.lstm.layers = num_layers;
    for (int l = 0; l < num_layers; l++) {
        std::string suffix = "_l" + std::to_string(l);
        layer.lstm.params.push_back(w.get(base + ".weight_ih" + suffix, {4 * dim, dim}));
        layer.lstm.params.push_back(w.get(base + ".weight_hh" + suffix, {4 * dim, dim}));
        layer.lstm.params.push_back(w.get(base + ".bias_ih" + suffix, {4 * dim}));
        layer.lstm.params.push_back(w.get(base + ".bias_hh" + suffix, {4 * dim}));
    }
    return layer;
}

// SEANet residual block on `dim` channels: ELU, conv k=residual_kernel_size
// (dim -> dim/compress, dilated), ELU, conv k=1 (back to dim), plus the
// input, through a 1x1 conv when use_conv_shortcut.
Layer load_resblock(const Weights &w, const std::string &base, const jen1_encodec_config &cfg,
                    int64_t dim, int dilation)
{
    int64_t hidden = dim / cfg.compress;
    Layer layer{Layer::RESBLOCK, {}, {}, {}};
    layer.res.conv1 = load_conv(w, base + ".block.1.conv", dim, hidden, cfg.residual_kernel_size, 1,
                                dilation, false);
    layer.res.conv2 = load_conv(w, base + ".block.3.conv", hidden, dim, 1, 1, 1, false);
    if (cfg.use_conv_shortcut) {
        layer.res.shortcut = load_conv(w, base + ".shortcut.conv", dim, dim, 1, 1, 1, false);
        layer.res.has_shortcut = true;
    }
    return layer;
}

void check_config(const Weights &w, const jen1_encodec_config &cfg)
{
    std::string where = std::string(w.path()) + ": EnCodec ";
    if (!cfg.norm_weight)
        throw Error(JEN1_ERR_UNSUPPORTED, where + "norm_type time_group_norm is not supported (only weight_norm)");
    if (cfg.audio_channels != 1)
        throw Error(JEN1_ERR_UNSUPPORTED, where + "audio_channels " + std::to_string(cfg.audio_channels) +
                                              " is not supported (only mono)");
    if (cfg.codebook_dim != cfg.hidden_size)
        throw Error(JEN1_ERR_FORMAT, where + "codebook_dim " + std::to_string(cfg.codebook_dim) +
                                         " differs from hidden_size " + std::to_string(cfg.hidden_size));
    if (!cfg.use_causal_conv && cfg.trim_right_ratio != 1.0f)
        throw Error(JEN1_ERR_FORMAT, where + "trim_right_ratio != 1.0 requires use_causal_conv");
    if (cfg.trim_right_ratio < 0.0f || cfg.trim_right_ratio > 1.0f)
        throw Error(JEN1_ERR_FORMAT, where + "trim_right_ratio must be in [0, 1]");
    if (cfg.n_ratios < 1 || cfg.n_ratios > JEN1_MAX_RATIOS || cfg.num_filters < 1 || cfg.compress < 1 ||
        cfg.num_lstm_layers < 1 || cfg.num_residual_layers < 0 || cfg.codebook_size < 1 ||
        cfg.kernel_size < 1 || cfg.last_kernel_size < 1 || cfg.residual_kernel_size < 1 ||
        cfg.dilation_growth_rate < 1)
        throw Error(JEN1_ERR_FORMAT, where + "configuration has a size out of range");
    for (int i = 0; i < cfg.n_ratios; i++)
        if (cfg.upsampling_ratios[i] < 1)
            throw Error(JEN1_ERR_FORMAT, where + "upsampling_ratios must be positive");
    int64_t largest_dilation = 1;
    for (int j = 1; j < cfg.num_residual_layers; j++) {
        largest_dilation *= cfg.dilation_growth_rate;
        if (largest_dilation > (1 << 16))
            throw Error(JEN1_ERR_FORMAT, where + "dilation_growth_rate ^ num_residual_layers is too large");
    }
}

// Pads the time axis. Reflection needs more samples than the pad is wide, so
// (like the reference) a short input gets zeros appended first, cut afterwards.
at::Tensor pad1d(const at::Tensor &x, int64_t left, int64_t right, bool reflect)
{
    if (!reflect)
        return at::constant_pad_nd(x, {left, right}, 0.0);
    int64_t length = x.size(-1);
    int64_t extra = std::max<int64_t>(0, std::max(left, right) - length + 1);
    if (extra == 0)
        return at::reflection_pad1d(x, {left, right});
    at::Tensor padded = at::reflection_pad1d(at::constant_pad_nd(x, {0, extra}, 0.0), {left, right});
    return padded.narrow(-1, 0, padded.size(-1) - extra);
}

// ceil(a / b) for b > 0 and any sign of a.
int64_t ceil_div(int64_t a, int64_t b)
{
    return a >= 0 ? (a + b - 1) / b : -((-a) / b);
}

at::Tensor conv_forward(const Conv &conv, const at::Tensor &x, const jen1_encodec_config &cfg)
{
    if (conv.transposed) {
        int64_t padding_total = conv.kernel - conv.stride;
        int64_t right = cfg.use_causal_conv
                            ? static_cast<int64_t>(std::ceil(padding_total * static_cast<double>(cfg.trim_right_ratio)))
                            : padding_total / 2;
        int64_t left = padding_total - right;
        at::Tensor y = at::conv_transpose1d(x, conv.weight, conv.bias, int64_t{conv.stride});
        return y.narrow(-1, left, y.size(-1) - padding_total);
    }

    int64_t kernel = static_cast<int64_t>(conv.kernel - 1) * conv.dilation + 1;  // with dilation
    int64_t padding_total = kernel - conv.stride;
    int64_t length = x.size(-1);
    // Pads the end so that the last window is complete (0 for stride 1).
    int64_t extra = ceil_div(length - conv.stride, conv.stride) * conv.stride + conv.stride - length;
    int64_t left, right;
    if (cfg.use_causal_conv) {
        left = padding_total;
        right = extra;
    } else {
        right = padding_total / 2 + extra;
        left = padding_total - padding_total / 2;
    }
    at::Tensor padded = pad1d(x, left, right, cfg.pad_mode_reflect != 0);
    int64_t stride = conv.stride, no_padding = 0, dilation = conv.dilation;
    return at::conv1d(padded, conv.weight, conv.bias, stride, no_padding, dilation);
}

float sigmoid(float x)
{
    return 1.0f / (1.0f + std::exp(-x));
}

// One LSTM layer over seq [T, B, H] (CPU float32, contiguous) from the state
// (h, c) ([B, H] each; zero when undefined), which it leaves at the last
// step's, in torch's gate order (i, f, g, o). at::lstm steps through BLAS
// GEMMs with a single row, which stream the recurrent weights several times
// slower than the skinny-product kernels of matvec.h; for musicgen-small
// (H = 1024) this recurrence is most of EnCodec's decoding time.
at::Tensor lstm_layer_cpu(const at::Tensor &seq, const at::Tensor &w_ih, const at::Tensor &w_hh,
                          const at::Tensor &b_ih, const at::Tensor &b_hh, at::Tensor &h_state,
                          at::Tensor &c_state)
{
    const int64_t steps = seq.size(0), batch = seq.size(1), hidden = w_hh.size(1), n_gates = 4 * hidden;
    // Input projections of every step at once; the recurrent half adds b_hh.
    at::Tensor gates_x = at::linear(seq, w_ih, b_ih).contiguous();  // [T, B, 4H]
    at::Tensor gates_h = at::empty({batch, n_gates}, seq.options());
    at::Tensor cell = c_state.defined() ? c_state.clone() : at::zeros({batch, hidden}, seq.options());
    at::Tensor h0 = h_state.defined() ? h_state.contiguous() : at::zeros({batch, hidden}, seq.options());
    at::Tensor out = at::empty({steps, batch, hidden}, seq.options());

    at::Tensor w_hh_dense = w_hh.contiguous(), b_hh_dense = b_hh.contiguous();
    const float *w = w_hh_dense.data_ptr<float>(), *bias = b_hh_dense.data_ptr<float>();
    float *gh = gates_h.data_ptr<float>(), *c = cell.data_ptr<float>();
    const float *h_prev = h0.data_ptr<float>();
    for (int64_t t = 0; t < steps; t++) {
        at::parallel_for(0, n_gates, 256, [&](int64_t j0, int64_t j1) {
            for (int64_t b0 = 0; b0 < batch; b0 += JEN1_MATVEC_MAX_ROWS) {
                int rows = static_cast<int>(std::min<int64_t>(JEN1_MATVEC_MAX_ROWS, batch - b0));
                jen1_matvec_f32(h_prev + b0 * hidden, rows, static_cast<int>(hidden), static_cast<int>(hidden), w,
                                bias, gh + b0 * n_gates, static_cast<int>(n_gates), static_cast<int>(j0),
                                static_cast<int>(j1));
            }
        });
        const float *gx = gates_x.data_ptr<float>() + t * batch * n_gates;
        float *h = out.data_ptr<float>() + t * batch * hidden;
        for (int64_t b = 0; b < batch; b++) {
            const float *x_b = gx + b * n_gates, *h_b = gh + b * n_gates;
            float *c_b = c + b * hidden, *out_b = h + b * hidden;
            for (int64_t u = 0; u < hidden; u++) {
                float in = sigmoid(x_b[u] + h_b[u]);
                float forget = sigmoid(x_b[hidden + u] + h_b[hidden + u]);
                float candidate = std::tanh(x_b[2 * hidden + u] + h_b[2 * hidden + u]);
                float output = sigmoid(x_b[3 * hidden + u] + h_b[3 * hidden + u]);
                c_b[u] = forget * c_b[u] + in * candidate;
                out_b[u] = output * std::tanh(c_b[u]);
            }
        }
        h_prev = h;
    }
    if (steps > 0) {
        h_state = out[steps - 1].clone();
        c_state = cell;
    }
    return out;
}

// x [B, C, T] -> lstm over T, plus x. With `state`, the sequence continues
// from it, and it is left at the end of x: a sequence fed in stretches gives
// what it gives whole.
at::Tensor lstm_forward(const Encodec::Lstm &lstm, const at::Tensor &x, LstmState *state = nullptr)
{
    at::Tensor seq = x.permute({2, 0, 1});  // [T, B, C]
    LstmState fresh;
    LstmState &s = state ? *state : fresh;
    s.h.resize(lstm.layers);
    s.c.resize(lstm.layers);
    at::Tensor y;
    if (x.is_cpu()) {
        y = seq.contiguous();
        for (int l = 0; l < lstm.layers; l++) {
            const at::Tensor *p = &lstm.params[4 * l];
            y = lstm_layer_cpu(y, p[0], p[1], p[2], p[3], s.h[l], s.c[l]);
        }
    } else {
        at::Tensor zeros = at::zeros({lstm.layers, x.size(0), x.size(1)}, x.options());
        at::Tensor h0 = s.h[0].defined() ? at::stack(s.h, 0) : zeros;
        at::Tensor c0 = s.c[0].defined() ? at::stack(s.c, 0) : zeros;
        auto result = at::lstm(seq, {h0, c0}, lstm.params, /*has_biases=*/true, lstm.layers,
                               /*dropout=*/0.0, /*train=*/false, /*bidirectional=*/false,
                               /*batch_first=*/false);
        y = std::get<0>(result);
        for (int l = 0; l < lstm.layers; l++) {
            s.h[l] = std::get<1>(result)[l];
            s.c[l] = std::get<2>(result)[l];
        }
    }
    return (y + seq).permute({1, 2, 0});
}

at::Tensor resblock_forward(const Encodec::ResBlock &res, const at::Tensor &x, const jen1_encodec_config &cfg)
{
    at::Tensor h = conv_forward(res.conv1, at::elu(x), cfg);
    h = conv_forward(res.conv2, at::elu(h), cfg);
    return (res.has_shortcut ? conv_forward(res.shortcut, x, cfg) : x) + h;
}

void move_conv(Conv &conv, at::Device device)
{
    if (conv.weight.defined()) {
        conv.weight = conv.weight.to(device);
        conv.bias = conv.bias.to(device);
    }
}

}  // namespace

void Encodec::load(const Weights &w, const jen1_encodec_config &config, int num_codebooks)
{
    check_config(w, config);
    if (num_codebooks < 1)
        throw Error(JEN1_ERR_FORMAT, std::string(w.path()) + ": EnCodec needs at least one codebook");
    cfg = config;

    codebooks.clear();
    for (int i = 0; i < num_codebooks; i++)
        codebooks.push_back(w.get("audio_encoder.quantizer.layers." + std::to_string(i) + ".codebook.embed",
                                  {cfg.codebook_size, cfg.codebook_dim}));
    n_quantizers = num_codebooks;

    layers.clear();
    int index = 0;
    int64_t channels = static_cast<int64_t>(cfg.num_filters) << cfg.n_ratios;
    layers.push_back(conv_layer(load_conv(w, decoder_layer(index++) + ".conv", cfg.hidden_size, channels,
                                          cfg.kernel_size, 1, 1, false)));
    layers.push_back(load_lstm(w, decoder_layer(index++) + ".lstm", channels, cfg.num_lstm_layers));
    for (int r = 0; r < cfg.n_ratios; r++) {
        int ratio = cfg.upsampling_ratios[r];
        layers.push_back(elu_layer());
        index++;
        layers.push_back(conv_layer(load_conv(w, decoder_layer(index++) + ".conv", channels, channels / 2,
                                              2 * ratio, ratio, 1, true)));
        channels /= 2;
        int dilation = 1;
        for (int j = 0; j < cfg.num_residual_layers; j++) {
            layers.push_back(load_resblock(w, decoder_layer(index++), cfg, channels, dilation));
            dilation *= cfg.dilation_growth_rate;
        }
    }
    layers.push_back(elu_layer());
    index++;
    layers.push_back(conv_layer(load_conv(w, decoder_layer(index++) + ".conv", cfg.num_filters,
                                          cfg.audio_channels, cfg.last_kernel_size, 1, 1, false)));
}

void Encodec::to(at::Device device)
{
    for (at::Tensor &codebook : codebooks)
        codebook = codebook.to(device);
    for (Layer &layer : layers) {
        move_conv(layer.conv, device);
        move_conv(layer.res.conv1, device);
        move_conv(layer.res.conv2, device);
        move_conv(layer.res.shortcut, device);
        for (at::Tensor &param : layer.lstm.params)
            param = param.to(device);
    }
}

at::Tensor Encodec::dequantize(const at::Tensor &codes) const
{
    if (codes.dim() != 3 || codes.scalar_type() != at::kLong)
        throw Error(JEN1_ERR_INVALID_ARGUMENT, "audio codes must be an int64 tensor [batch, codebooks, frames], got " +
                                                   std::string(at::toString(codes.scalar_type())) + " " +
                                                   shape_string(codes.sizes()));
    int64_t batch = codes.size(0), n_codes = codes.size(1), frames = codes.size(2);
    if (batch < 1 || frames < 1 || n_codes < 1 || n_codes > n_quantizers)
        throw Error(JEN1_ERR_INVALID_ARGUMENT, "audio codes " + shape_string(codes.sizes()) +
                                                   ": need at least one batch item and frame, and 1.." +
                                                   std::to_string(n_quantizers) + " codebooks");
    int64_t lowest = codes.min().item<int64_t>(), highest = codes.max().item<int64_t>();
    if (lowest < 0 || highest >= cfg.codebook_size)
        throw Error(JEN1_ERR_INVALID_ARGUMENT, "audio code " + std::to_string(lowest < 0 ? lowest : highest) +
                                                   " is outside the codebook range [0, " +
                                                   std::to_string(cfg.codebook_size) + ")");

    c10::InferenceMode inference;
    at::Tensor on_device = codes.to(codebooks[0].device());
    at::Tensor sum = at::embedding(codebooks[0], on_device.select(1, 0));  // [B, F, D]
    for (int64_t k = 1; k < n_codes; k++)
        sum = sum + at::embedding(codebooks[k], on_device.select(1, k));
    return sum.permute({0, 2, 1}).contiguous();
}

at::Tensor Encodec::run_layers(at::Tensor x, size_t first, size_t last, LstmState *lstm_state) const
{
    for (size_t i = first; i < last; i++) {
        const Layer &layer = layers[i];
        switch (layer.kind) {
        case Layer::CONV: x = conv_forward(layer.conv, x, cfg); break;
        case Layer::LSTM: x = lstm_forward(layer.lstm, x, lstm_state); break;
        case Layer::ELU: x = at::elu(x); break;
        case Layer::RESBLOCK: x = resblock_forward(layer.res, x, cfg); break;
        }
    }
    return x;
}

at::Tensor Encodec::decode(const at::Tensor &codes) const
{
    at::Tensor x = dequantize(codes);
    c10::InferenceMode inference;
    return run_layers(x, 0, layers.size(), nullptr).squeeze(1).contiguous();  // [B, 1, T] -> [B, T]
}

// How far (in frames) the error at a cut edge of the input spreads into the
// output of layers [first, last): the padding of every convolution, in
// samples at its resolution, over the samples per frame there. A stretch
// decoded with at least this much true context on each side is exact in
// its middle.
double Encodec::reach_frames(size_t first, size_t last) const
{
    double frames = 0, per_frame = 1;
    auto conv_reach = [&](const Conv &c) {
        if (c.transposed) {
            // An output sample sums the inputs within kernel/stride steps.
            frames += (double)((c.kernel + c.stride - 1) / c.stride + 1) / per_frame;
            per_frame *= c.stride;
        } else {
            frames += (double)((c.kernel - 1) * c.dilation) / per_frame;
        }
    };
    for (size_t i = first; i < last; i++) {
        const Layer &layer = layers[i];
        if (layer.kind == Layer::CONV) conv_reach(layer.conv);
        if (layer.kind == Layer::RESBLOCK) {
            conv_reach(layer.res.conv1);
            conv_reach(layer.res.conv2);
            if (layer.res.has_shortcut) conv_reach(layer.res.shortcut);
        }
    }
    return frames;
}

// The whole decode, a stretch at a time (see musicgen.hpp): the layers up to
// the LSTM run over each new stretch of frames with `before` frames of
// context each side, the LSTM carries its state from stretch to stretch, and
// the layers after it (convolutions only) run over each output chunk with
// `after` frames of LSTM output each side, cut off again. Only a chunk's
// activations and a window of LSTM output are alive at a time.
Encodec::ChunkedDecode::ChunkedDecode(const Encodec &encodec, const at::Tensor &codes, int64_t chunk_frames,
                                      float *audio)
    : e_(encodec), codes_(codes), audio_(audio)
{
    if (codes.dim() != 3 || codes.size(0) != 1)
        throw Error(JEN1_ERR_INVALID_ARGUMENT, "chunked decoding takes one item: codes [1, K, F]");
    // load() builds convolutions at the frame rate, one LSTM, then the
    // upsampling convolutions; the stretches below rely on that.
    const auto &layers = e_.layers;
    while (lstm_at_ < layers.size() && layers[lstm_at_].kind != Layer::LSTM) lstm_at_++;
    for (size_t i = 0; i < layers.size(); i++) {
        const Layer &l = layers[i];
        bool resamples = l.kind == Layer::CONV && (l.conv.transposed || l.conv.stride != 1);
        if ((i < lstm_at_ && resamples) || (i > lstm_at_ && l.kind == Layer::LSTM) || lstm_at_ == layers.size())
            throw Error(JEN1_ERR_UNSUPPORTED, "chunked decoding needs the SEANet layout: convolutions, one LSTM, "
                                              "upsampling");
    }
    frames_ = codes.size(2);
    before_ = (int64_t)std::ceil(e_.reach_frames(0, lstm_at_)) + 1;
    after_ = (int64_t)std::ceil(e_.reach_frames(lstm_at_ + 1, layers.size())) + 1;
    chunk_ = std::max<int64_t>(1, chunk_frames);
}

bool Encodec::ChunkedDecode::next()
{
    if (done()) return false;
    c10::InferenceMode inference;
    const int64_t F = frames_, hop = e_.cfg.hop_length, n_layers = (int64_t)e_.layers.size();
    const int64_t a = at_, b = std::min(F, a + chunk_);
    const int64_t lo = std::max<int64_t>(0, a - after_), hi = std::min(F, b + after_);
    if (hi > done_) {  // the LSTM's next stretch: frames [done_, hi)
        const int64_t from = std::max<int64_t>(0, done_ - before_), to = std::min(F, hi + before_);
        at::Tensor x = e_.dequantize(codes_.narrow(2, from, to - from));
        x = e_.run_layers(x, 0, lstm_at_, nullptr).narrow(2, done_ - from, hi - done_);
        x = e_.run_layers(x, lstm_at_, std::min<size_t>(lstm_at_ + 1, (size_t)n_layers), &state_);
        lstm_out_ = lstm_out_.defined() ? at::cat({lstm_out_, x}, 2) : x;
        done_ = hi;
    }
    if (lo > kept_from_) {  // what no later chunk needs
        lstm_out_ = lstm_out_.narrow(2, lo - kept_from_, done_ - lo);
        kept_from_ = lo;
    }
    at::Tensor y = e_.run_layers(lstm_out_.narrow(2, lo - kept_from_, hi - lo), lstm_at_ + 1, (size_t)n_layers, nullptr);
    y = y.narrow(2, (a - lo) * hop, (b - a) * hop).to(at::kCPU).contiguous();
    std::memcpy(audio_ + a * hop, y.data_ptr<float>(), sizeof(float) * (size_t)((b - a) * hop));
    at_ = b;
    return !done();
}

void Encodec::decode_chunked(const at::Tensor &codes, int64_t chunk_frames, float *audio) const
{
    ChunkedDecode decode(*this, codes, chunk_frames, audio);
    while (decode.next()) {}
}


}  // namespace jen1
