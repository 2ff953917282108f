// musicgen.hpp - the C++ interface between the parts of the MusicGen engine.
// Never included from C: C code sees only jen1.h.
//
// Each part of the model is a struct that loads its tensors from a Weights
// (validating names and shapes against the config) and then runs forward
// passes with ATen ops. Errors inside the shim are jen1::Error exceptions;
// api.cpp turns every exception into a jen1_status and a message at the C
// boundary.
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <memory>

#include <stdexcept>
#include <string>
#include <vector>

#include "jen1.h"
#include "linear.hpp"
#include "model_config.h"
#include "weights.hpp"

namespace jen1 {

// The state of EnCodec's LSTM between two stretches of one sequence: h and c
// of every layer (undefined: zero, the start of a sequence).
struct LstmState {
    std::vector<at::Tensor> h, c;
};

// EnCodec's decoding half: residual-VQ dequantisation, then the SEANet decoder.
struct Encodec {
    jen1_encodec_config cfg{};
    int n_quantizers = 0;            // codebooks the checkpoint has
    std::vector<at::Tensor> codebooks;  // [codebook_size, codebook_dim] each

    // Layer list of the SEANet decoder, in order.
    struct Conv {                    // Conv1d or ConvTranspose1d, weight-norm folded in
        at::Tensor weight, bias;
        int stride = 1, dilation = 1, kernel = 1;
        bool transposed = false;
    };
    struct ResBlock {                // shortcut(x) + conv2(elu(conv1(elu(x))))
        Conv conv1, conv2;
        Conv shortcut; bool has_shortcut = false;  // identity unless use_conv_shortcut
    };
    struct Lstm { std::vector<at::Tensor> params; int layers = 0; };  // w_ih, w_hh, b_ih, b_hh per layer
    struct Layer {
        enum Kind { CONV, LSTM, ELU, RESBLOCK } kind;
        Conv conv; Lstm lstm; ResBlock res;
    };
    std::vector<Layer> layers;

    void load(const Weights &w, const jen1_encodec_config &config, int num_codebooks);
    void to(at::Device device);
    // codes [B, K, F] int64 -> quantised embeddings [B, codebook_dim, F].
    at::Tensor dequantize(const at::Tensor &codes) const;
    // codes [B, K, F] int64 -> audio [B, F * hop_length] float32.
    at::Tensor decode(const at::Tensor &codes) const;
    // The same decode of one item, codes [1, K, F], written to audio
    // (F * hop_length floats, CPU) chunk_frames frames at a time in memory
    // bounded by a chunk: the LSTM carries its state across chunks and the
    // convolutions get enough context each side, so the seams are exact (up
    // to the rounding of differently sized matrix products).
    void decode_chunked(const at::Tensor &codes, int64_t chunk_frames, float *audio) const;

    // decode_chunked a chunk per call, for callers that interleave it with
    // other work: next() decodes the next chunk into audio and returns
    // whether frames are left. The codes and audio must outlive it.
    class ChunkedDecode {
    public:
        ChunkedDecode(const Encodec &encodec, const at::Tensor &codes, int64_t chunk_frames, float *audio);
        bool next();
        bool done() const { return at_ >= frames_; }

    private:
        const Encodec &e_;
        at::Tensor codes_;
        float *audio_;
        size_t lstm_at_ = 0;
        int64_t frames_ = 0, chunk_ = 1, before_ = 0, after_ = 0;
        LstmState state_;
        at::Tensor lstm_out_;  // LSTM output of frames [kept_from_, done_)
        int64_t kept_from_ = 0, done_ = 0, at_ = 0;
    };

private:
    at::Tensor run_layers(at::Tensor x, size_t first, size_t last, LstmState *lstm_state) const;
    double reach_frames(size_t first, size_t last) const;
};

// SentencePiece over the checkpoint's spiece.model (tokenizer.cpp keeps
// sentencepiece's headers out of the ATen translation units).
class Tokenizer {
public:
    Tokenizer();
    ~Tokenizer();
    Tokenizer(const Tokenizer &) = delete;
    Tokenizer &operator=(const Tokenizer &) = delete;
    void load(const std::string &path);  // throws Error
    // Piece ids of `text` followed by eos_id. Thread-safe.
    std::vector<int64_t> encode(const std::string &text, int eos_id) const;
    int vocab_size() const;

private:
    struct Impl;
    Impl *impl_;
};

// The T5 encoder (pre-norm blocks, RMS norm, relative position buckets shared
// from block 0) followed by MusicGen's enc_to_dec_proj.
struct TextEncoder {
    jen1_t5_config cfg{};
    at::Tensor embed;                 // [vocab, d_model]
    at::Tensor relative_bias;         // [num_buckets, heads]
    struct Block {
        at::Tensor ln_attn, q, k, v, o, ln_ff, wi, wi_0, wi_1, wo;
    };
    std::vector<Block> blocks;
    at::Tensor final_ln;
    at::Tensor proj_w, proj_b;        // enc_to_dec_proj

    void load(const Weights &w, const jen1_t5_config &config, int decoder_hidden);
    void to(at::Device device);
    // ids/mask [B, S] int64 -> last_hidden_state [B, S, d_model]. When
    // hidden_states is given, receives embeddings, each block's input and
    // the final output ([L+1] tensors).
    at::Tensor forward(const at::Tensor &ids, const at::Tensor &mask,
                       std::vector<at::Tensor> *hidden_states = nullptr) const;
    // enc_to_dec_proj(states) * mask: what the decoder cross-attends to.
    at::Tensor project(const at::Tensor &states, const at::Tensor &mask) const;
};

// The MusicGen decoder over num_codebooks streams.
struct Decoder {
    jen1_decoder_config cfg{};
    bool static_step = false;         // steps take decoder_step_static: off the CPU, or a test's choice
    bool cuda_graphs = true;          // ...captured as CUDA graphs (jen1_model_params.cuda_graphs)
    std::vector<at::Tensor> embed;    // per codebook [vocab + 1, hidden]
    at::Tensor positions;             // [max_positions, hidden]
    struct Layer {
        at::Tensor ln_self_w, ln_self_b, ln_cross_w, ln_cross_b, ln_ff_w, ln_ff_b;
        Linear q, k, v, o, cq, ck, cv, co, fc1, fc2;
    };
    std::vector<Layer> layers;
    at::Tensor ln_w, ln_b;
    std::vector<Linear> heads;        // per codebook [vocab, hidden]
    // The self-attention cache in bf16 (the CPU with bf16 or int8 weights): a decode
    // step late in a window reads more cache than weights (attention.h).
    bool kv_bf16 = false;

    void load(const Weights &w, const jen1_decoder_config &config, jen1_weight_type type);
    void to(at::Device device);
};

// Per-call decoder state: the self-attention KV cache of every layer and the
// cross-attention keys/values, computed once from the text.
struct DecoderState {
    int rows = 0;           // batch rows through the decoder (2x with guidance)
    int cond_rows = 0;      // the first cond_rows rows attend to the text
    int length = 0;         // positions already in the cache
    std::vector<at::Tensor> k, v;        // [rows, heads, capacity, head_dim], fp32 or bf16
    std::vector<at::Tensor> ck, cv;      // [cond_rows, heads, S, head_dim]
    at::Tensor cross_mask;               // [cond_rows, 1, 1, S] additive
};

// Prepares a state for `rows` rows and up to `capacity` positions; the first
// encoder_states.size(0) rows cross-attend to encoder_states ([Bc, S, hidden],
// mask [Bc, S]), the others (the unconditional half) do not.
DecoderState decoder_begin(const Decoder &d, int rows, int capacity,
                           const at::Tensor &encoder_states, const at::Tensor &mask);
// Feeds ids [rows, K, T] (T >= 1 new positions: several at once are a
// prefill, causally masked); returns logits [rows, K, T, vocab], or of the
// last position only ([rows, K, 1, vocab]) when last_logits_only.
// hidden_states, when given, receives the input of every layer and the final
// normed output ([layers + 1] of [rows, T, hidden]).
at::Tensor decoder_forward(const Decoder &d, DecoderState &state, const at::Tensor &ids,
                           std::vector<at::Tensor> *hidden_states = nullptr, bool last_logits_only = false);

// One decoder step of several states at once (the session's slots): ids
// [R, K] int64 on the CPU, R the sum of the states' rows, each state's rows in
// turn; every row feeds one position at its own state's length, and attends
// to its own cache and (its state's first cond_rows rows) its own unpadded
// text. Returns logits [R, K, vocab] float32 on the CPU. On the CPU each
// row's logits are bit for bit what the row would get in a step of its own as
// long as R <= JEN1_MATVEC_MAX_ROWS (the matvec kernels compute every row
// alike; a GEMM does not): the caller splits larger batches.
// With d.static_step (off the CPU) the step runs decoder_step_static
// (decoder_graph.cpp): graph, when given, keeps its captured CUDA graph
// between calls.
struct StepGraph;
struct StepGraphDeleter {
    void operator()(StepGraph *g) const;
};
using StepGraphPtr = std::unique_ptr<StepGraph, StepGraphDeleter>;
at::Tensor decoder_step(const Decoder &d, const std::vector<DecoderState *> &states, const at::Tensor &ids,
                        StepGraphPtr *graph = nullptr);

// The layers of one decoder step over R rows, shared by the CPU's step and
// the static one: ids [R, K] and pos [R] on the model's device, cond_at the
// rows that attend to a text (may be empty). self_attend(layer, q, k, v)
// writes the layer's new keys and values and returns the rows' attention
// [R, H]; cross_attend(layer, qc) that of the cond_at rows. Returns logits
// [R, K, vocab] on the device. Does not advance the states' lengths.
using StepSelfAttend =
    std::function<at::Tensor(size_t layer, const at::Tensor &q, const at::Tensor &k, const at::Tensor &v)>;
using StepCrossAttend = std::function<at::Tensor(size_t layer, const at::Tensor &qc)>;
at::Tensor decoder_step_layers(const Decoder &d, const at::Tensor &ids, const at::Tensor &pos,
                               const at::Tensor &cond_at, const StepSelfAttend &self_attend,
                               const StepCrossAttend &cross_attend);

// The step in static shapes (decoder_graph.cpp): each state's caches written
// at its length from a device tensor and attended over their whole capacity
// under a mask, so that one CUDA capture replays for every step of the same
// states (kept in *graph, captured again when the states change; none when
// CUDA is not built in, or d.cuda_graphs is off). positions: each row's;
// cond_index: the rows that attend to a text. Returns logits [R, K, vocab]
// on the CPU. Does not advance the states' lengths.
at::Tensor decoder_step_static(const Decoder &d, const std::vector<DecoderState *> &states, const at::Tensor &ids,
                               const std::vector<int64_t> &positions, const std::vector<int64_t> &cond_index,
                               StepGraphPtr *graph);


// Attention helpers shared by decoder.cpp and decoder_step.cpp.
at::Tensor split_heads(const at::Tensor &x, int64_t heads);  // [rows, T, H] -> [rows, heads, T, hd]
at::Tensor merge_heads(const at::Tensor &x);                 // the inverse
at::Tensor attend(const at::Tensor &q, const at::Tensor &k, const at::Tensor &v, const at::Tensor &mask);
// The MLP's activation the config names.
at::Tensor decoder_activation(const Decoder &d, const at::Tensor &h);

}  // namespace jen1

// The loaded model behind the C API's opaque handle. Members are destroyed
// in reverse order, so the mapping (`file`) outlives every tensor viewing it.
struct jen1_model {
    std::string dir;
    jen1_model_config cfg{};
    safetensors_file *file = nullptr;
    jen1::Tokenizer tokenizer;
    jen1::TextEncoder text;
    jen1::Decoder decoder;
    jen1::Encodec encodec;
    at::Device device{at::kCPU};
    std::string device_name = "cpu";
    ~jen1_model();
};

namespace jen1 {

// Tokenises and right-pads prompts: ids and mask [B, S] int64 on the CPU.
void tokenize_batch(const jen1_model &m, const std::vector<std::string> &prompts,
                    at::Tensor &ids, at::Tensor &mask);

// What jen1_generate_traced returns besides the output: one entry of
// processed scores per decoder forward pass, and the final delayed grid.
struct Trace {
    std::vector<float> scores;      // [steps][n * K][vocab]
    std::vector<int64_t> grid;      // [n * K][length]
    int steps = 0, length = 0;
};

// The whole of jen1_generate, throwing on error. *out is owned by the caller.
// With a trace, every request must fit one window.
jen1_output *generate(const jen1_model &m, const jen1_request *requests, int n,
                      const jen1_generate_params &params, Trace *trace = nullptr);

// The model's default window and stride (jen1_model_default_window).
void default_window(const jen1_model &m, int &window_frames, int &stride_frames);

// Output chunk of the final EnCodec decode, in frames.
constexpr int64_t kDecodeChunkFrames = 250;

}  // namespace jen1
