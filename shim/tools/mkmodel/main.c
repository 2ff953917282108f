/* jen1-mkmodel - writes a randomly initialised MusicGen checkpoint directory
 * in the exact Hugging Face layout of facebook/musicgen-small (config.json,
 * generation_config.json, model.safetensors, spiece.model and the tokenizer /
 * preprocessor side files), either at the real musicgen-small size or as the
 * tiny model of tests/fixtures/musicgen-tiny.
 *
 * The weights are random but "parity-friendly" like the fixture's: scaled so
 * that every tensor visibly changes the outputs. The same --seed always gives
 * byte-identical files. Run with --help for usage. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "errbuf.h"
#include "safetensors.h"
#include "util.h"

#define TOOL "jen1-mkmodel"
#define T5_EXTRA_IDS 100           /* <extra_id_0..99>, appended after the spm pieces */
#define SPIECE_MAX_BYTES (64u << 20)

static const char usage_text[] =
    "usage: " TOOL " --size tiny|small --spiece FILE --out DIR [--seed N] [--max-positions N]\n"
    "\n"
    "Writes a randomly initialised MusicGen model directory laid out exactly like\n"
    "facebook/musicgen-small on the Hugging Face Hub:\n"
    "  config.json              MusicgenConfig (text_encoder, audio_encoder, decoder)\n"
    "  generation_config.json   generation defaults (guidance 3, do_sample)\n"
    "  model.safetensors        every tensor of MusicgenForConditionalGeneration's\n"
    "                           state_dict() except the tied\n"
    "                           text_encoder.encoder.embed_tokens.weight; F32,\n"
    "                           metadata {\"format\": \"pt\"}\n"
    "  spiece.model             a copy of --spiece\n"
    "  added_tokens.json, special_tokens_map.json, tokenizer_config.json,\n"
    "  preprocessor_config.json the T5Tokenizer / EncodecFeatureExtractor side files\n"
    "\n"
    "  --size tiny    the architecture of tests/fixtures/musicgen-tiny (180 tensors,\n"
    "                 1.7 MB): T5 32/2 layers, decoder 64/2 layers, EnCodec 4 filters\n"
    "  --size small   the architecture of facebook/musicgen-small (612 tensors,\n"
    "                 588,981,826 parameters, 2.4 GB): T5-base, decoder 1024/24\n"
    "                 layers, EnCodec 32 kHz\n"
    "  --spiece FILE  the SentencePiece model to ship (T5 conventions: pad 0, eos 1,\n"
    "                 unk 2); its pieces plus 100 extra ids must fit the T5 vocab\n"
    "                 (512 rows for tiny, 32128 for small)\n"
    "  --out DIR      the directory to create; it must not exist or be empty. The\n"
    "                 files are written into DIR.tmp-XXXXXX next to it, which is then\n"
    "                 renamed to DIR, so DIR never holds a partial model\n"
    "  --seed N       seed of the random weights (unsigned 64-bit, default 0); the\n"
    "                 same seed gives byte-identical files\n"
    "  --max-positions N  the decoder's position table (tiny: 256, small: 2048),\n"
    "                 which bounds a song at N - 4 frames: a tiny model for demos of\n"
    "                 realistic lengths takes 2048 (40 s)\n"
    "  --help         this text\n"
    "\n"
    "The weights follow the fixture's scales: linear layers N(0, 1/fan_in), T5 as\n"
    "transformers initialises it, embeddings and codebooks N(0,1), lm_heads x3,\n"
    "norm gains 1+0.1N, biases 0.1N, EnCodec weight-norm convolutions with\n"
    "weight_g = U(0.5,1.5) * ||weight_v||, LSTMs Xavier-uniform.\n"
    "Exit status: 0 on success, 2 for a usage error, 1 when writing fails.\n";

/* ---- Architectures -------------------------------------------------------- */

typedef struct model_dims {
    const char *name;
    /* T5 text encoder */
    int t5_vocab, t5_d_model, t5_d_kv, t5_heads, t5_d_ff, t5_layers;
    int t5_buckets, t5_max_distance;
    /* MusicGen decoder */
    int dec_vocab, dec_hidden, dec_layers, dec_heads, dec_ffn, dec_codebooks, dec_positions;
    /* EnCodec */
    int ec_sampling_rate, ec_filters, ec_hidden, ec_codebook_dim, ec_codebook_size;
    int ec_n_ratios, ec_ratios[4];
    double ec_bandwidth;
    int ec_kernel, ec_last_kernel, ec_residual_kernel, ec_dilation_growth;
    int ec_residual_layers, ec_lstm_layers, ec_compress;
    /* generation_config.json */
    int gen_max_length;
    const char *transformers_version;
} model_dims;

static const model_dims size_tiny = {
    .name = "tiny",
    .t5_vocab = 512, .t5_d_model = 32, .t5_d_kv = 8, .t5_heads = 2, .t5_d_ff = 64, .t5_layers = 2,
    .t5_buckets = 32, .t5_max_distance = 128,
    .dec_vocab = 64, .dec_hidden = 64, .dec_layers = 2, .dec_heads = 4, .dec_ffn = 128,
    .dec_codebooks = 4, .dec_positions = 256,
    .ec_sampling_rate = 32000, .ec_filters = 4, .ec_hidden = 16, .ec_codebook_dim = 16,
    .ec_codebook_size = 64, .ec_n_ratios = 4, .ec_ratios = {8, 5, 4, 4}, .ec_bandwidth = 2.2,
    .ec_kernel = 7, .ec_last_kernel = 7, .ec_residual_kernel = 3, .ec_dilation_growth = 2,
    .ec_residual_layers = 1, .ec_lstm_layers = 2, .ec_compress = 2,
    .gen_max_length = 250, .transformers_version = "4.44.2",
};

static const model_dims size_small = {
    .name = "small",
    .t5_vocab = 32128, .t5_d_model = 768, .t5_d_kv = 64, .t5_heads = 12, .t5_d_ff = 3072,
    .t5_layers = 12, .t5_buckets = 32, .t5_max_distance = 128,
    .dec_vocab = 2048, .dec_hidden = 1024, .dec_layers = 24, .dec_heads = 16, .dec_ffn = 4096,
    .dec_codebooks = 4, .dec_positions = 2048,
    .ec_sampling_rate = 32000, .ec_filters = 64, .ec_hidden = 128, .ec_codebook_dim = 128,
    .ec_codebook_size = 2048, .ec_n_ratios = 4, .ec_ratios = {8, 5, 4, 4}, .ec_bandwidth = 2.2,
    .ec_kernel = 7, .ec_last_kernel = 7, .ec_residual_kernel = 3, .ec_dilation_growth = 2,
    .ec_residual_layers = 1, .ec_lstm_layers = 2, .ec_compress = 2,
    .gen_max_length = 1500, .transformers_version = "4.31.0.dev0",
};

/* EncodecConfig.num_quantizers as transformers computes it: the quantizers
 * the largest target bandwidth pays for at 10 bits per code per frame (10 is
 * hard-coded there, whatever the codebook size). 2.2 kbps at 50 Hz -> 4. */
static int encodec_num_quantizers(const model_dims *d)
{
    int hop = 1;
    for (int i = 0; i < d->ec_n_ratios; i++)
        hop *= d->ec_ratios[i];
    int frame_rate = (d->ec_sampling_rate + hop - 1) / hop;
    return (int)floor(1000.0 * d->ec_bandwidth / (frame_rate * 10.0));
}

/* ---- Random numbers --------------------------------------------------------- */

/* splitmix64: tiny, fast and good enough for weights; each tensor gets its
 * own stream keyed by its name, so the values do not depend on the order in
 * which tensors are generated. */
typedef struct rng {
    uint64_t state;
    int has_spare;
    double spare;
} rng;

static uint64_t rng_next(rng *r)
{
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rng_uniform(rng *r) /* [0, 1) */
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

static double rng_normal(rng *r) /* Box-Muller, both values used */
{
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u1 = 1.0 - rng_uniform(r); /* (0, 1]: log stays finite */
    double u2 = rng_uniform(r);
    double radius = sqrt(-2.0 * log(u1));
    double s, c;
    sincos(2.0 * M_PI * u2, &s, &c);
    r->spare = radius * s;
    r->has_spare = 1;
    return radius * c;
}

static rng rng_for_tensor(uint64_t seed, const char *name)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    rng r = {.state = seed ^ h};
    rng_next(&r);
    return r;
}

/* ---- The tensor list ------------------------------------------------------ */

typedef enum fill_kind {
    FILL_NORMAL,   /* mean + scale * N(0,1) */
    FILL_UNIFORM,  /* U(-scale, scale) */
    FILL_CONSTANT, /* mean */
    FILL_SINUSOID, /* MusicGen's sinusoidal position table */
    FILL_WEIGHT_G, /* per row of `source` (a weight_v): U(0.5,1.5) * ||row|| */
    FILL_COPY      /* the values of `source` */
} fill_kind;

typedef struct fill {
    fill_kind kind;
    double mean, scale;
    size_t source;
} fill;

static fill normal(double mean, double std) { return (fill){FILL_NORMAL, mean, std, 0}; }
static fill uniform(double bound) { return (fill){FILL_UNIFORM, 0, bound, 0}; }
static fill constant(double value) { return (fill){FILL_CONSTANT, value, 0, 0}; }
static fill sinusoid(void) { return (fill){FILL_SINUSOID, 0, 0, 0}; }
static fill norm_gain_of(size_t v) { return (fill){FILL_WEIGHT_G, 0, 0, v}; }
static fill copy_of(size_t t) { return (fill){FILL_COPY, 0, 0, t}; }
static fill linear_init(int fan_in) { return normal(0.0, 1.0 / sqrt(fan_in)); }
static fill norm_weight(void) { return normal(1.0, 0.1); }
static fill bias_init(void) { return normal(0.0, 0.1); }

typedef struct shape {
    int ndim;
    int64_t dim[3];
} shape;

#define SHAPE1(a) ((shape){1, {(a), 0, 0}})
#define SHAPE2(a, b) ((shape){2, {(a), (b), 0}})
#define SHAPE3(a, b, c) ((shape){3, {(a), (b), (c)}})

typedef struct tensor_spec {
    char name[128];
    shape shape;
    fill fill;
    float *data;
} tensor_spec;

typedef struct tensor_list {
    tensor_spec *items;
    size_t n, cap;
    int failed; /* an allocation failed or a name did not fit */
} tensor_list;

/* The shapes are the tool's own, far from overflowing. */
static int64_t tensor_numel(shape s)
{
    int64_t n = 0;
    shape_numel(s.dim, s.ndim, &n);
    return n;
}

/* Appends a tensor named by the printf-style fmt and returns its index. On
 * failure sets list->failed (checked once the list is complete). */
static size_t add_tensor(tensor_list *list, shape s, fill f, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static size_t add_tensor(tensor_list *list, shape s, fill f, const char *fmt, ...)
{
    if (list->n == list->cap) {
        size_t cap = list->cap ? 2 * list->cap : 256;
        tensor_spec *items = realloc(list->items, cap * sizeof *items);
        if (!items) {
            list->failed = 1;
            return 0;
        }
        list->items = items;
        list->cap = cap;
    }
    tensor_spec *t = &list->items[list->n];
    memset(t, 0, sizeof *t);
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    if (len < 0 || (size_t)len >= sizeof t->name)
        list->failed = 1;
    t->shape = s;
    t->fill = f;
    return list->n++;
}

static void free_tensor_list(tensor_list *list)
{
    for (size_t i = 0; i < list->n; i++)
        free(list->items[i].data);
    free(list->items);
    memset(list, 0, sizeof *list);
}

/* ---- Architecture -> tensor names and shapes -------------------------------- */

/* T5EncoderModel as transformers names it, initialised as transformers' T5
 * does (which already scales q by 1/sqrt(d_kv): T5 has no attention scale). */
static void add_text_encoder(tensor_list *l, const model_dims *d)
{
    int inner = d->t5_d_kv * d->t5_heads;
    add_tensor(l, SHAPE2(d->t5_vocab, d->t5_d_model), normal(0.0, 1.0), "text_encoder.shared.weight");
    for (int b = 0; b < d->t5_layers; b++) {
        const char *p = "text_encoder.encoder.block";
        shape in_proj = SHAPE2(inner, d->t5_d_model);
        add_tensor(l, in_proj, normal(0.0, 1.0 / sqrt((double)d->t5_d_model * d->t5_d_kv)),
                   "%s.%d.layer.0.SelfAttention.q.weight", p, b);
        add_tensor(l, in_proj, linear_init(d->t5_d_model), "%s.%d.layer.0.SelfAttention.k.weight", p, b);
        add_tensor(l, in_proj, linear_init(d->t5_d_model), "%s.%d.layer.0.SelfAttention.v.weight", p, b);
        add_tensor(l, SHAPE2(d->t5_d_model, inner), linear_init(inner),
                   "%s.%d.layer.0.SelfAttention.o.weight", p, b);
        if (b == 0) /* only the first block owns the relative position buckets */
            add_tensor(l, SHAPE2(d->t5_buckets, d->t5_heads), normal(0.0, 1.0),
                       "%s.0.layer.0.SelfAttention.relative_attention_bias.weight", p);
        add_tensor(l, SHAPE1(d->t5_d_model), norm_weight(), "%s.%d.layer.0.layer_norm.weight", p, b);
        add_tensor(l, SHAPE2(d->t5_d_ff, d->t5_d_model), linear_init(d->t5_d_model),
                   "%s.%d.layer.1.DenseReluDense.wi.weight", p, b);
        add_tensor(l, SHAPE2(d->t5_d_model, d->t5_d_ff), linear_init(d->t5_d_ff),
                   "%s.%d.layer.1.DenseReluDense.wo.weight", p, b);
        add_tensor(l, SHAPE1(d->t5_d_model), norm_weight(), "%s.%d.layer.1.layer_norm.weight", p, b);
    }
    add_tensor(l, SHAPE1(d->t5_d_model), norm_weight(), "text_encoder.encoder.final_layer_norm.weight");
}

/* `part` of `layer`, e.g. decoder.model.decoder.layers.3 + self_attn. */
static void add_layer_norm(tensor_list *l, int dim, const char *layer, const char *part)
{
    add_tensor(l, SHAPE1(dim), norm_weight(), "%s.%s.weight", layer, part);
    add_tensor(l, SHAPE1(dim), bias_init(), "%s.%s.bias", layer, part);
}

static void add_attention(tensor_list *l, int dim, const char *layer, const char *part)
{
    static const char *const projections[] = {"q_proj", "k_proj", "v_proj", "out_proj"};
    for (size_t i = 0; i < 4; i++)
        add_tensor(l, SHAPE2(dim, dim), linear_init(dim), "%s.%s.%s.weight", layer, part, projections[i]);
}

static void add_decoder(tensor_list *l, const model_dims *d)
{
    int h = d->dec_hidden;
    add_tensor(l, SHAPE2(h, d->t5_d_model), linear_init(d->t5_d_model), "enc_to_dec_proj.weight");
    add_tensor(l, SHAPE1(h), bias_init(), "enc_to_dec_proj.bias");
    for (int k = 0; k < d->dec_codebooks; k++) {
        /* vocab + 1 rows: the last one embeds the BOS / pad token */
        add_tensor(l, SHAPE2(d->dec_vocab + 1, h), normal(0.0, 1.0),
                   "decoder.model.decoder.embed_tokens.%d.weight", k);
        /* x3 spreads the logits (std ~3) so greedy choices are clear-cut */
        add_tensor(l, SHAPE2(d->dec_vocab, h), normal(0.0, 3.0 / sqrt(h)), "decoder.lm_heads.%d.weight", k);
    }
    add_tensor(l, SHAPE2(d->dec_positions, h), sinusoid(), "decoder.model.decoder.embed_positions.weights");
    for (int i = 0; i < d->dec_layers; i++) {
        char layer[64];
        snprintf(layer, sizeof layer, "decoder.model.decoder.layers.%d", i);
        add_attention(l, h, layer, "self_attn");
        add_layer_norm(l, h, layer, "self_attn_layer_norm");
        add_attention(l, h, layer, "encoder_attn");
        add_layer_norm(l, h, layer, "encoder_attn_layer_norm");
        add_tensor(l, SHAPE2(d->dec_ffn, h), linear_init(h), "%s.fc1.weight", layer);
        add_tensor(l, SHAPE2(h, d->dec_ffn), linear_init(d->dec_ffn), "%s.fc2.weight", layer);
        add_layer_norm(l, h, layer, "final_layer_norm");
    }
    add_layer_norm(l, h, "decoder.model.decoder", "layer_norm");
}

#define AUDIO_CHANNELS 1 /* mono, as every MusicGen checkpoint jen1 serves */

/* A weight-normalised convolution: weight_v is [out, in, k] for Conv1d and
 * [in, out, k] for ConvTranspose1d, weight_g holds one gain per row of it. */
static void add_conv(tensor_list *l, const char *layer, int in, int out, int kernel, int transposed)
{
    shape v = transposed ? SHAPE3(in, out, kernel) : SHAPE3(out, in, kernel);
    /* torch's default bound: fan_in = dim 1 * kernel for both kinds */
    size_t iv = add_tensor(l, v, uniform(1.0 / sqrt((double)v.dim[1] * kernel)), "%s.conv.weight_v", layer);
    add_tensor(l, SHAPE3(v.dim[0], 1, 1), norm_gain_of(iv), "%s.conv.weight_g", layer);
    add_tensor(l, SHAPE1(out), bias_init(), "%s.conv.bias", layer);
}

static void add_lstm(tensor_list *l, const char *layer, int dim, int n_layers)
{
    double bound = sqrt(6.0 / (4 * dim + dim)); /* Xavier-uniform of a [4*dim, dim] matrix */
    for (int k = 0; k < n_layers; k++) {
        add_tensor(l, SHAPE2(4 * dim, dim), uniform(bound), "%s.lstm.weight_ih_l%d", layer, k);
        add_tensor(l, SHAPE2(4 * dim, dim), uniform(bound), "%s.lstm.weight_hh_l%d", layer, k);
        add_tensor(l, SHAPE1(4 * dim), bias_init(), "%s.lstm.bias_ih_l%d", layer, k);
        add_tensor(l, SHAPE1(4 * dim), bias_init(), "%s.lstm.bias_hh_l%d", layer, k);
    }
}

/* SEANet residual block: block.1 = conv k (dim -> dim/compress), block.3 =
 * conv 1 (back to dim); indices 0 and 2 are ELUs. The shortcut is the
 * identity (use_conv_shortcut false), so it has no weights. */
static void add_resnet_block(tensor_list *l, const model_dims *d, const char *layer, int dim)
{
    char conv[96];
    int hidden = dim / d->ec_compress;
    snprintf(conv, sizeof conv, "%s.block.1", layer);
    add_conv(l, conv, dim, hidden, d->ec_residual_kernel, 0);
    snprintf(conv, sizeof conv, "%s.block.3", layer);
    add_conv(l, conv, hidden, dim, 1, 0);
}

/* EnCodec's layer lists number every module, the weightless ELUs included,
 * so the indices below step over them as transformers' EncodecEncoder and
 * EncodecDecoder lay them out. */
static const char *encodec_layer(char *buf, size_t len, const char *part, int index)
{
    snprintf(buf, len, "audio_encoder.%s.layers.%d", part, index);
    return buf;
}

static void add_encodec_encoder(tensor_list *l, const model_dims *d)
{
    char layer[64];
    int index = 0, channels = d->ec_filters;
    add_conv(l, encodec_layer(layer, sizeof layer, "encoder", index++), AUDIO_CHANNELS, channels,
             d->ec_kernel, 0);
    for (int r = d->ec_n_ratios - 1; r >= 0; r--) { /* downsampling: the ratios reversed */
        for (int j = 0; j < d->ec_residual_layers; j++)
            add_resnet_block(l, d, encodec_layer(layer, sizeof layer, "encoder", index++), channels);
        index++; /* ELU */
        add_conv(l, encodec_layer(layer, sizeof layer, "encoder", index++), channels, 2 * channels,
                 2 * d->ec_ratios[r], 0);
        channels *= 2;
    }
    add_lstm(l, encodec_layer(layer, sizeof layer, "encoder", index++), channels, d->ec_lstm_layers);
    index++; /* ELU */
    add_conv(l, encodec_layer(layer, sizeof layer, "encoder", index++), channels, d->ec_hidden,
             d->ec_last_kernel, 0);
}

static void add_encodec_decoder(tensor_list *l, const model_dims *d)
{
    char layer[64];
    int index = 0, channels = d->ec_filters << d->ec_n_ratios;
    add_conv(l, encodec_layer(layer, sizeof layer, "decoder", index++), d->ec_hidden, channels,
             d->ec_kernel, 0);
    add_lstm(l, encodec_layer(layer, sizeof layer, "decoder", index++), channels, d->ec_lstm_layers);
    for (int r = 0; r < d->ec_n_ratios; r++) {
        index++; /* ELU */
        add_conv(l, encodec_layer(layer, sizeof layer, "decoder", index++), channels, channels / 2,
                 2 * d->ec_ratios[r], 1);
        channels /= 2;
        for (int j = 0; j < d->ec_residual_layers; j++)
            add_resnet_block(l, d, encodec_layer(layer, sizeof layer, "decoder", index++), channels);
    }
    index++; /* ELU */
    add_conv(l, encodec_layer(layer, sizeof layer, "decoder", index++), channels, AUDIO_CHANNELS,
             d->ec_last_kernel, 0);
}

/* The codebooks are registered buffers, not parameters, but the checkpoint
 * stores them: inited = 1 and cluster_size = 1 as after k-means init,
 * embed_avg = embed. */
static void add_quantizer(tensor_list *l, const model_dims *d)
{
    const char *p = "audio_encoder.quantizer.layers";
    for (int q = 0; q < encodec_num_quantizers(d); q++) {
        add_tensor(l, SHAPE1(1), constant(1.0), "%s.%d.codebook.inited", p, q);
        add_tensor(l, SHAPE1(d->ec_codebook_size), constant(1.0), "%s.%d.codebook.cluster_size", p, q);
        size_t embed = add_tensor(l, SHAPE2(d->ec_codebook_size, d->ec_codebook_dim), normal(0.0, 1.0),
                                  "%s.%d.codebook.embed", p, q);
        add_tensor(l, SHAPE2(d->ec_codebook_size, d->ec_codebook_dim), copy_of(embed),
                   "%s.%d.codebook.embed_avg", p, q);
    }
}

static int is_buffer(const tensor_spec *t)
{
    return strstr(t->name, ".codebook.") != NULL;
}

/* ---- Values ----------------------------------------------------------------- */

/* The table transformers' MusicgenSinusoidalPositionalEmbedding computes in
 * float32: f_i = exp(-i * ln(10000) / (half - 1)), row p = [cos(p * f),
 * sin(p * f)]. Products are rounded to float as torch rounds them; exp, cos
 * and sin are libm's, so a few values can differ from torch's in the last
 * bit. */
static void fill_sinusoid(float *x, int64_t positions, int64_t dim)
{
    int64_t half = dim / 2;
    float step = (float)(-log(10000.0) / (double)(half - 1));
    for (int64_t p = 0; p < positions; p++) {
        float *row = x + p * dim;
        for (int64_t i = 0; i < half; i++) {
            float freq = (float)exp((double)((float)i * step));
            double angle = (double)((float)p * freq);
            row[i] = (float)cos(angle);
            row[half + i] = (float)sin(angle);
        }
        if (dim % 2)
            row[dim - 1] = 0.0f;
    }
}

/* Sources (weight_v, embed) precede the tensors derived from them in the
 * list, so filling in list order is enough. */
static void fill_tensor(tensor_list *l, size_t i, uint64_t seed)
{
    tensor_spec *t = &l->items[i];
    const fill *f = &t->fill;
    int64_t n = tensor_numel(t->shape);
    float *x = t->data;
    rng r = rng_for_tensor(seed, t->name);
    switch (f->kind) {
    case FILL_NORMAL:
        for (int64_t j = 0; j < n; j++)
            x[j] = (float)(f->mean + f->scale * rng_normal(&r));
        break;
    case FILL_UNIFORM:
        for (int64_t j = 0; j < n; j++)
            x[j] = (float)(f->scale * (2.0 * rng_uniform(&r) - 1.0));
        break;
    case FILL_CONSTANT:
        for (int64_t j = 0; j < n; j++)
            x[j] = (float)f->mean;
        break;
    case FILL_SINUSOID:
        fill_sinusoid(x, t->shape.dim[0], t->shape.dim[1]);
        break;
    case FILL_WEIGHT_G: {
        /* g != ||v|| on purpose, so a loader that ignores g is caught */
        const tensor_spec *v = &l->items[f->source];
        int64_t rows = v->shape.dim[0], row_len = tensor_numel(v->shape) / rows;
        for (int64_t row = 0; row < rows; row++) {
            double sum = 0.0;
            for (int64_t j = 0; j < row_len; j++)
                sum += (double)v->data[row * row_len + j] * v->data[row * row_len + j];
            x[row] = (float)((0.5 + rng_uniform(&r)) * sqrt(sum));
        }
        break;
    }
    case FILL_COPY:
        memcpy(x, l->items[f->source].data, (size_t)n * sizeof *x);
        break;
    }
}

/* ---- Small utilities -------------------------------------------------------- */


static int join_path(char *buf, size_t len, const char *dir, const char *name)
{
    int n = snprintf(buf, len, "%s/%s", dir, name);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

static double seconds_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (now.tv_nsec - start->tv_nsec) / 1e9;
}

/* Creates dir/name (which must not exist) holding `len` bytes, fsynced. */
static int write_file(const char *dir, const char *name, const void *data, size_t len,
                      char *err, size_t errlen)
{
    char path[PATH_MAX];
    if (join_path(path, sizeof path, dir, name) != 0) {
        errbuf_printf(err, errlen, "%s/%s: path too long", dir, name);
        return -1;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        errbuf_printf(err, errlen, "%s: cannot create: %s", path, strerror(errno));
        return -1;
    }
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            errbuf_printf(err, errlen, "%s: cannot write: %s", path, n < 0 ? strerror(errno) : "short write");
            close(fd);
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        errbuf_printf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Writes `json` (a reference this call takes over; NULL means building it ran
 * out of memory) as dir/name, pretty-printed with sorted keys like
 * transformers' save_pretrained. */
static int write_json(const char *dir, const char *name, json_t *json, char *err, size_t errlen)
{
    if (!json) {
        errbuf_printf(err, errlen, "%s: out of memory building the JSON", name);
        return -1;
    }
    char *text = json_dumps(json, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
    json_decref(json);
    if (!text) {
        errbuf_printf(err, errlen, "%s: out of memory formatting the JSON", name);
        return -1;
    }
    size_t len = strlen(text);
    char *with_newline = realloc(text, len + 2);
    if (!with_newline) {
        free(text);
        errbuf_printf(err, errlen, "%s: out of memory formatting the JSON", name);
        return -1;
    }
    with_newline[len] = '\n';
    with_newline[len + 1] = '\0';
    int status = write_file(dir, name, with_newline, len + 1, err, errlen);
    free(with_newline);
    return status;
}

/* Reads the whole --spiece file (a few hundred KB for T5). */
static int read_spiece(const char *path, unsigned char **out, size_t *out_len, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        errbuf_printf(err, errlen, "--spiece %s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)SPIECE_MAX_BYTES) {
        errbuf_printf(err, errlen, "--spiece %s: not a regular file of at most %u bytes", path, SPIECE_MAX_BYTES);
        close(fd);
        return -1;
    }
    size_t len = (size_t)st.st_size, done = 0;
    unsigned char *buf = malloc(len ? len : 1);
    if (!buf) {
        errbuf_printf(err, errlen, "--spiece %s: out of memory", path);
        close(fd);
        return -1;
    }
    while (done < len) {
        ssize_t n = read(fd, buf + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            errbuf_printf(err, errlen, "--spiece %s: cannot read: %s", path,
                    n < 0 ? strerror(errno) : "file shrank");
            free(buf);
            close(fd);
            return -1;
        }
        done += (size_t)n;
    }
    close(fd);
    *out = buf;
    *out_len = len;
    return 0;
}

static int read_varint(const unsigned char *buf, size_t len, size_t *pos, uint64_t *value)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && *pos < len; shift += 7) {
        unsigned char byte = buf[(*pos)++];
        v |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *value = v;
            return 0;
        }
    }
    return -1;
}

/* The number of pieces (repeated field 1) of a SentencePiece ModelProto, or
 * -1 when the bytes are not a well-formed protobuf message. Enough to reject
 * a wrong --spiece file and to number the <extra_id_N> tokens after the
 * pieces as T5Tokenizer does. */
static long count_spm_pieces(const unsigned char *buf, size_t len)
{
    size_t pos = 0;
    long pieces = 0;
    while (pos < len) {
        uint64_t key, value;
        if (read_varint(buf, len, &pos, &key) != 0 || key >> 3 == 0)
            return -1;
        switch (key & 7) {
        case 0: /* varint */
            if (read_varint(buf, len, &pos, &value) != 0)
                return -1;
            break;
        case 1: /* 64-bit */
            if (len - pos < 8)
                return -1;
            pos += 8;
            break;
        case 2: /* length-delimited */
            if (read_varint(buf, len, &pos, &value) != 0 || value > len - pos)
                return -1;
            pos += (size_t)value;
            if (key >> 3 == 1)
                pieces++;
            break;
        case 5: /* 32-bit */
            if (len - pos < 4)
                return -1;
            pos += 4;
            break;
        default:
            return -1;
        }
    }
    return pieces;
}

/* ---- config.json and the other JSON files ------------------------------------ */

typedef struct json_field {
    const char *key;
    char type; /* 'n' null, 'b' boolean, 'i' integer, 'r' real, 's' string */
    double number;
    const char *text;
} json_field;

#define F_NULL(k) {(k), 'n', 0, NULL}
#define F_BOOL(k, v) {(k), 'b', (v), NULL}
#define F_INT(k, v) {(k), 'i', (v), NULL}
#define F_REAL(k, v) {(k), 'r', (v), NULL}
#define F_STR(k, s) {(k), 's', 0, (s)}
#define N_FIELDS(a) (sizeof(a) / sizeof *(a))

static int put_fields(json_t *obj, const json_field *fields, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const json_field *f = &fields[i];
        json_t *value = f->type == 'b' ? json_boolean(f->number != 0)
                      : f->type == 'i' ? json_integer((json_int_t)f->number)
                      : f->type == 'r' ? json_real(f->number)
                      : f->type == 's' ? json_string(f->text)
                                       : json_null();
        if (json_object_set_new(obj, f->key, value) != 0)
            return -1;
    }
    return 0;
}

/* The keys transformers' PretrainedConfig.to_dict gives every sub-config,
 * with its defaults; the sub-configs then override some. */
static const json_field pretrained_config_fields[] = {
    F_STR("_name_or_path", ""), F_BOOL("add_cross_attention", 0), F_NULL("bad_words_ids"),
    F_NULL("begin_suppress_tokens"), F_NULL("bos_token_id"), F_INT("chunk_size_feed_forward", 0),
    F_NULL("cross_attention_hidden_size"), F_NULL("decoder_start_token_id"),
    F_REAL("diversity_penalty", 0.0), F_BOOL("do_sample", 0), F_BOOL("early_stopping", 0),
    F_INT("encoder_no_repeat_ngram_size", 0), F_NULL("eos_token_id"),
    F_NULL("exponential_decay_length_penalty"), F_NULL("finetuning_task"),
    F_NULL("forced_bos_token_id"), F_NULL("forced_eos_token_id"), F_BOOL("is_decoder", 0),
    F_BOOL("is_encoder_decoder", 0), F_REAL("length_penalty", 1.0), F_INT("max_length", 20),
    F_INT("min_length", 0), F_INT("no_repeat_ngram_size", 0), F_INT("num_beam_groups", 1),
    F_INT("num_beams", 1), F_INT("num_return_sequences", 1), F_BOOL("output_attentions", 0),
    F_BOOL("output_hidden_states", 0), F_BOOL("output_scores", 0), F_NULL("pad_token_id"),
    F_NULL("prefix"), F_NULL("problem_type"), F_BOOL("remove_invalid_values", 0),
    F_REAL("repetition_penalty", 1.0), F_BOOL("return_dict", 1), F_BOOL("return_dict_in_generate", 0),
    F_NULL("sep_token_id"), F_NULL("suppress_tokens"), F_NULL("task_specific_params"),
    F_REAL("temperature", 1.0), F_BOOL("tf_legacy_loss", 0), F_BOOL("tie_encoder_decoder", 0),
    F_BOOL("tie_word_embeddings", 1), F_NULL("tokenizer_class"), F_INT("top_k", 50),
    F_REAL("top_p", 1.0), F_NULL("torch_dtype"), F_BOOL("torchscript", 0), F_REAL("typical_p", 1.0),
    F_BOOL("use_bfloat16", 0),
};

static json_t *sub_config(const char *architecture, const json_field *fields, size_t n)
{
    json_t *c = json_pack("{s:[s], s:{s:s, s:s}, s:{s:i, s:i}, s:{}}", "architectures", architecture,
                          "id2label", "0", "LABEL_0", "1", "LABEL_1",
                          "label2id", "LABEL_0", 0, "LABEL_1", 1, "pruned_heads");
    if (!c || put_fields(c, pretrained_config_fields, N_FIELDS(pretrained_config_fields)) != 0
        || put_fields(c, fields, n) != 0) {
        json_decref(c);
        return NULL;
    }
    return c;
}

static json_t *text_encoder_config(const model_dims *d)
{
    const json_field fields[] = {
        F_REAL("classifier_dropout", 0.0), F_INT("d_ff", d->t5_d_ff), F_INT("d_kv", d->t5_d_kv),
        F_INT("d_model", d->t5_d_model), F_INT("decoder_start_token_id", 0), F_STR("dense_act_fn", "relu"),
        F_REAL("dropout_rate", 0.1), F_INT("eos_token_id", 1), F_STR("feed_forward_proj", "relu"),
        F_REAL("initializer_factor", 1.0), F_BOOL("is_encoder_decoder", 1), F_BOOL("is_gated_act", 0),
        F_REAL("layer_norm_epsilon", 1e-6), F_STR("model_type", "t5"), F_INT("n_positions", 512),
        F_INT("num_decoder_layers", d->t5_layers), F_INT("num_heads", d->t5_heads),
        F_INT("num_layers", d->t5_layers), F_BOOL("output_past", 1), F_INT("pad_token_id", 0),
        F_INT("relative_attention_max_distance", d->t5_max_distance),
        F_INT("relative_attention_num_buckets", d->t5_buckets), F_BOOL("use_cache", 1),
        F_INT("vocab_size", d->t5_vocab),
    };
    return sub_config("T5ForConditionalGeneration", fields, N_FIELDS(fields));
}

static json_t *audio_encoder_config(const model_dims *d)
{
    const json_field fields[] = {
        F_INT("audio_channels", AUDIO_CHANNELS), F_NULL("chunk_length_s"),
        F_INT("codebook_dim", d->ec_codebook_dim), F_INT("codebook_size", d->ec_codebook_size),
        F_INT("compress", d->ec_compress), F_INT("dilation_growth_rate", d->ec_dilation_growth),
        F_INT("hidden_size", d->ec_hidden), F_INT("kernel_size", d->ec_kernel),
        F_INT("last_kernel_size", d->ec_last_kernel), F_STR("model_type", "encodec"),
        F_STR("norm_type", "weight_norm"), F_BOOL("normalize", 0), F_INT("num_filters", d->ec_filters),
        F_INT("num_lstm_layers", d->ec_lstm_layers), F_INT("num_residual_layers", d->ec_residual_layers),
        F_NULL("overlap"), F_STR("pad_mode", "reflect"), F_INT("residual_kernel_size", d->ec_residual_kernel),
        F_INT("sampling_rate", d->ec_sampling_rate), F_REAL("trim_right_ratio", 1.0),
        F_BOOL("use_causal_conv", 0), F_BOOL("use_conv_shortcut", 0),
    };
    json_t *c = sub_config("EncodecModel", fields, N_FIELDS(fields));
    json_t *ratios = json_array();
    for (int i = 0; ratios && i < d->ec_n_ratios; i++)
        if (json_array_append_new(ratios, json_integer(d->ec_ratios[i])) != 0) {
            json_decref(ratios);
            ratios = NULL;
        }
    /* "o" hands `ratios` over, also when packing fails */
    json_t *lists = json_pack("{s:o, s:[f]}", "upsampling_ratios", ratios, "target_bandwidths",
                              d->ec_bandwidth);
    if (!c || !lists || json_object_update(c, lists) != 0) {
        json_decref(c);
        json_decref(lists);
        return NULL;
    }
    json_decref(lists);
    return c;
}

static json_t *decoder_config(const model_dims *d)
{
    const json_field fields[] = {
        F_REAL("activation_dropout", 0.0), F_STR("activation_function", "gelu"),
        F_REAL("attention_dropout", 0.0), F_INT("audio_channels", AUDIO_CHANNELS),
        F_INT("bos_token_id", d->dec_vocab), F_REAL("dropout", 0.1), F_INT("ffn_dim", d->dec_ffn),
        F_INT("hidden_size", d->dec_hidden), F_REAL("initializer_factor", 0.02), F_REAL("layerdrop", 0.0),
        F_INT("max_position_embeddings", d->dec_positions), F_STR("model_type", "musicgen_decoder"),
        F_INT("num_attention_heads", d->dec_heads), F_INT("num_codebooks", d->dec_codebooks),
        F_INT("num_hidden_layers", d->dec_layers), F_INT("pad_token_id", d->dec_vocab),
        F_BOOL("scale_embedding", 0), F_BOOL("tie_word_embeddings", 0), F_BOOL("use_cache", 1),
        F_INT("vocab_size", d->dec_vocab),
    };
    return sub_config("MusicgenForCausalLM", fields, N_FIELDS(fields));
}

static json_t *model_config(const model_dims *d)
{
    json_t *text = text_encoder_config(d), *audio = audio_encoder_config(d), *decoder = decoder_config(d);
    if (!text || !audio || !decoder) {
        json_decref(text);
        json_decref(audio);
        json_decref(decoder);
        return NULL;
    }
    /* "o" hands the three references to the new object, also when packing fails */
    return json_pack("{s:[s], s:o, s:o, s:b, s:s, s:o, s:s, s:s}",
                     "architectures", "MusicgenForConditionalGeneration", "audio_encoder", audio,
                     "decoder", decoder, "is_encoder_decoder", 1, "model_type", "musicgen",
                     "text_encoder", text, "torch_dtype", "float32",
                     "transformers_version", d->transformers_version);
}

static json_t *generation_config(const model_dims *d)
{
    return json_pack("{s:b, s:i, s:i, s:b, s:f, s:i, s:i, s:s}", "_from_model_config", 1,
                     "bos_token_id", d->dec_vocab, "decoder_start_token_id", d->dec_vocab,
                     "do_sample", 1, "guidance_scale", 3.0, "max_length", d->gen_max_length,
                     "pad_token_id", d->dec_vocab, "transformers_version", d->transformers_version);
}

static json_t *preprocessor_config(const model_dims *d)
{
    return json_pack("{s:n, s:s, s:i, s:n, s:s, s:f, s:s, s:b, s:i}", "chunk_length_s",
                     "feature_extractor_type", "EncodecFeatureExtractor", "feature_size", AUDIO_CHANNELS,
                     "overlap", "padding_side", "left", "padding_value", 0.0,
                     "processor_class", "MusicgenProcessor", "return_attention_mask", 1,
                     "sampling_rate", d->ec_sampling_rate);
}

/* T5Tokenizer numbers <extra_id_N> downwards from the last id:
 * <extra_id_0> = pieces + 99, ..., <extra_id_99> = pieces. */
static long extra_id_token(long n_pieces, int n)
{
    return n_pieces + T5_EXTRA_IDS - 1 - n;
}

static json_t *added_tokens(long n_pieces)
{
    json_t *tokens = json_object();
    for (int n = 0; tokens && n < T5_EXTRA_IDS; n++) {
        char name[32];
        snprintf(name, sizeof name, "<extra_id_%d>", n);
        if (json_object_set_new(tokens, name, json_integer(extra_id_token(n_pieces, n))) != 0) {
            json_decref(tokens);
            return NULL;
        }
    }
    return tokens;
}

static json_t *extra_id_names(void)
{
    json_t *names = json_array();
    for (int n = 0; names && n < T5_EXTRA_IDS; n++) {
        char name[32];
        snprintf(name, sizeof name, "<extra_id_%d>", n);
        if (json_array_append_new(names, json_string(name)) != 0) {
            json_decref(names);
            return NULL;
        }
    }
    return names;
}

/* An AddedToken as the tokenizer files spell it; the extra ids strip the
 * spaces around them, the three T5 specials do not. */
static json_t *added_token(const char *content, int strip, int with_special_flag)
{
    json_t *t = json_pack("{s:s, s:b, s:b, s:b, s:b}", "content", content, "lstrip", strip,
                          "normalized", 0, "rstrip", strip, "single_word", 0);
    if (t && with_special_flag && json_object_set_new(t, "special", json_true()) != 0) {
        json_decref(t);
        return NULL;
    }
    return t;
}

static json_t *special_tokens_map(void)
{
    return json_pack("{s:o, s:o, s:o, s:o}", "additional_special_tokens", extra_id_names(),
                     "eos_token", added_token("</s>", 0, 0), "pad_token", added_token("<pad>", 0, 0),
                     "unk_token", added_token("<unk>", 0, 0));
}

static json_t *tokenizer_config(long n_pieces)
{
    static const char *const specials[] = {"<pad>", "</s>", "<unk>"}; /* ids 0, 1, 2 */
    json_t *decoder = json_object();
    for (int id = 0; decoder && id < 3; id++) {
        char key[24];
        snprintf(key, sizeof key, "%d", id);
        if (json_object_set_new(decoder, key, added_token(specials[id], 0, 1)) != 0) {
            json_decref(decoder);
            decoder = NULL;
        }
    }
    for (int n = 0; decoder && n < T5_EXTRA_IDS; n++) {
        char key[24], name[32];
        snprintf(key, sizeof key, "%ld", extra_id_token(n_pieces, n));
        snprintf(name, sizeof name, "<extra_id_%d>", n);
        if (json_object_set_new(decoder, key, added_token(name, 1, 1)) != 0) {
            json_decref(decoder);
            decoder = NULL;
        }
    }
    json_t *names = extra_id_names();
    if (!decoder || !names) {
        json_decref(decoder);
        json_decref(names);
        return NULL;
    }
    return json_pack("{s:b, s:o, s:o, s:b, s:s, s:i, s:b, s:i, s:s, s:s, s:{}, s:s, s:s}",
                     "add_prefix_space", 1, "added_tokens_decoder", decoder,
                     "additional_special_tokens", names, "clean_up_tokenization_spaces", 1,
                     "eos_token", "</s>", "extra_ids", T5_EXTRA_IDS, "legacy", 1,
                     "model_max_length", 512, "pad_token", "<pad>", "processor_class", "MusicgenProcessor",
                     "sp_model_kwargs", "tokenizer_class", "T5Tokenizer", "unk_token", "<unk>");
}

/* ---- The model directory ------------------------------------------------------ */

typedef struct model_stats {
    size_t tensors;
    int64_t parameters, buffer_values;
    off_t file_bytes;
} model_stats;

static int build_tensor_list(tensor_list *l, const model_dims *d, char *err, size_t errlen)
{
    add_text_encoder(l, d);
    add_decoder(l, d);
    add_encodec_encoder(l, d);
    add_encodec_decoder(l, d);
    add_quantizer(l, d);
    if (l->failed) {
        errbuf_printf(err, errlen, "out of memory listing the tensors");
        return -1;
    }
    return 0;
}

static int compare_by_name(const void *a, const void *b)
{
    return strcmp(((const safetensors_tensor *)a)->name, ((const safetensors_tensor *)b)->name);
}

/* Generates every tensor (all of them are in memory at once: the writer
 * takes the complete set) and writes dir/model.safetensors. */
static int write_weights(const char *dir, const model_dims *d, uint64_t seed, model_stats *stats,
                         char *err, size_t errlen)
{
    tensor_list list = {0};
    safetensors_tensor *out = NULL;
    int status = -1;
    if (build_tensor_list(&list, d, err, errlen) != 0)
        goto done;
    out = calloc(list.n, sizeof *out);
    if (!out) {
        errbuf_printf(err, errlen, "out of memory listing the tensors");
        goto done;
    }
    memset(stats, 0, sizeof *stats);
    for (size_t i = 0; i < list.n; i++) {
        tensor_spec *t = &list.items[i];
        int64_t numel = tensor_numel(t->shape);
        t->data = malloc((size_t)numel * sizeof(float));
        if (!t->data) {
            errbuf_printf(err, errlen, "out of memory for tensor %s (%lld bytes)", t->name,
                    (long long)numel * 4);
            goto done;
        }
        fill_tensor(&list, i, seed);
        out[i] = (safetensors_tensor){.name = t->name, .dtype = SAFETENSORS_F32, .ndim = t->shape.ndim,
                                      .data = t->data, .nbytes = (size_t)numel * sizeof(float)};
        memcpy(out[i].shape, t->shape.dim, sizeof t->shape.dim);
        if (is_buffer(t))
            stats->buffer_values += numel;
        else
            stats->parameters += numel;
    }
    stats->tensors = list.n;
    /* by name, like the Hub's files (the writer orders the data itself) */
    qsort(out, list.n, sizeof *out, compare_by_name);

    char path[PATH_MAX];
    if (join_path(path, sizeof path, dir, "model.safetensors") != 0) {
        errbuf_printf(err, errlen, "%s/model.safetensors: path too long", dir);
        goto done;
    }
    static const char *const metadata[] = {"format", "pt"};
    if (safetensors_write(path, out, list.n, metadata, 1, err, errlen) != 0)
        goto done;
    struct stat st;
    if (stat(path, &st) != 0) {
        errbuf_printf(err, errlen, "%s: %s", path, strerror(errno));
        goto done;
    }
    stats->file_bytes = st.st_size;
    status = 0;
done:
    free(out);
    free_tensor_list(&list);
    return status;
}

static int write_side_files(const char *dir, const model_dims *d, const unsigned char *spiece,
                            size_t spiece_len, long n_pieces, char *err, size_t errlen)
{
    if (write_json(dir, "config.json", model_config(d), err, errlen) != 0
        || write_json(dir, "generation_config.json", generation_config(d), err, errlen) != 0
        || write_file(dir, "spiece.model", spiece, spiece_len, err, errlen) != 0
        || write_json(dir, "added_tokens.json", added_tokens(n_pieces), err, errlen) != 0
        || write_json(dir, "special_tokens_map.json", special_tokens_map(), err, errlen) != 0
        || write_json(dir, "tokenizer_config.json", tokenizer_config(n_pieces), err, errlen) != 0
        || write_json(dir, "preprocessor_config.json", preprocessor_config(d), err, errlen) != 0)
        return -1;
    return 0;
}

/* --out must not exist, or be an empty directory (the final rename replaces
 * an empty directory). */
static int check_out_dir(const char *out, char *err, size_t errlen)
{
    struct stat st;
    if (stat(out, &st) != 0)
        return 0;
    if (!S_ISDIR(st.st_mode)) {
        errbuf_printf(err, errlen, "--out %s: exists and is not a directory", out);
        return -1;
    }
    DIR *dir = opendir(out);
    if (!dir) {
        errbuf_printf(err, errlen, "--out %s: cannot read: %s", out, strerror(errno));
        return -1;
    }
    int empty = 1;
    struct dirent *e;
    while (empty && (e = readdir(dir)))
        empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
    closedir(dir);
    if (!empty) {
        errbuf_printf(err, errlen, "--out %s: exists and is not empty", out);
        return -1;
    }
    return 0;
}

/* Removes a staging directory and the files in it (it has no subdirectories). */
static void remove_staging_dir(const char *path)
{
    DIR *dir = opendir(path);
    if (dir) {
        struct dirent *e;
        char file[PATH_MAX];
        while ((e = readdir(dir)))
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0
                && join_path(file, sizeof file, path, e->d_name) == 0)
                unlink(file);
        closedir(dir);
    }
    rmdir(path);
}

static void sync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* ---- Command line -------------------------------------------------------------- */

typedef struct options {
    const model_dims *dims;
    model_dims custom;          /* dims with --max-positions applied */
    const char *spiece;
    char out[PATH_MAX];
    uint64_t seed;
} options;

enum { PARSED, WANTS_HELP, BAD_USAGE };

/* Matches "--name VALUE" and "--name=VALUE" at argv[*i]; returns 1 with
 * *value set (NULL when the value is missing), or 0 if it is another word. */
static int option_value(int argc, char **argv, int *i, const char *name, const char **value)
{
    size_t len = strlen(name);
    const char *arg = argv[*i];
    if (strncmp(arg, name, len) != 0)
        return 0;
    if (arg[len] == '=') {
        *value = arg + len + 1;
        return 1;
    }
    if (arg[len] != '\0')
        return 0;
    /* "--spiece --out x" is a missing value, not a file named --out */
    *value = *i + 1 < argc && strncmp(argv[*i + 1], "--", 2) != 0 ? argv[++*i] : NULL;
    return 1;
}

static int parse_seed(const char *text, uint64_t *seed)
{
    if (*text < '0' || *text > '9')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *seed = v;
    return 0;
}

static int parse_options(int argc, char **argv, options *opt, char *err, size_t errlen)
{
    enum { SIZE, SPIECE, OUT, SEED, POSITIONS, N_OPTIONS };
    static const char *const names[N_OPTIONS] = {"--size", "--spiece", "--out", "--seed", "--max-positions"};
    const char *values[N_OPTIONS] = {NULL};
    memset(opt, 0, sizeof *opt);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return WANTS_HELP;
        const char *value = NULL;
        int k = 0;
        while (k < N_OPTIONS && !option_value(argc, argv, &i, names[k], &value))
            k++;
        if (k == N_OPTIONS) {
            errbuf_printf(err, errlen, "unknown argument '%s'", argv[i]);
            return BAD_USAGE;
        }
        if (!value || !*value) {
            errbuf_printf(err, errlen, "%s needs a value", names[k]);
            return BAD_USAGE;
        }
        values[k] = value;
    }
    if (!values[SIZE] || !values[SPIECE] || !values[OUT]) {
        errbuf_printf(err, errlen, "missing %s", !values[SIZE] ? "--size (tiny or small)"
                                         : !values[SPIECE] ? "--spiece FILE" : "--out DIR");
        return BAD_USAGE;
    }
    const char *size = values[SIZE];
    opt->dims = strcmp(size, "tiny") == 0 ? &size_tiny : strcmp(size, "small") == 0 ? &size_small : NULL;
    if (!opt->dims) {
        errbuf_printf(err, errlen, "--size must be tiny or small, not '%s'", size);
        return BAD_USAGE;
    }
    if (values[SEED] && parse_seed(values[SEED], &opt->seed) != 0) {
        errbuf_printf(err, errlen, "--seed needs an unsigned 64-bit integer, not '%s'", values[SEED]);
        return BAD_USAGE;
    }
    if (values[POSITIONS]) {
        char *end;
        long n = strtol(values[POSITIONS], &end, 10);
        if (*end || n < 8 || n > 65536) {
            errbuf_printf(err, errlen, "--max-positions needs an integer from 8 to 65536, not '%s'", values[POSITIONS]);
            return BAD_USAGE;
        }
        opt->custom = *opt->dims;
        opt->custom.dec_positions = (int)n;
        if (opt->custom.gen_max_length > n - 4) opt->custom.gen_max_length = (int)n - 4;
        opt->dims = &opt->custom;
    }
    opt->spiece = values[SPIECE];
    /* leave room for the ".tmp-XXXXXX" staging suffix and the file names */
    const char *out = values[OUT];
    size_t len = strlen(out);
    while (len > 1 && out[len - 1] == '/')
        len--;
    if (len + 64 >= sizeof opt->out) {
        errbuf_printf(err, errlen, "--out: path too long");
        return BAD_USAGE;
    }
    memcpy(opt->out, out, len);
    opt->out[len] = '\0';
    return PARSED;
}

static int make_model(const options *opt, char *err, size_t errlen)
{
    const model_dims *d = opt->dims;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);

    unsigned char *spiece = NULL;
    size_t spiece_len = 0;
    if (read_spiece(opt->spiece, &spiece, &spiece_len, err, errlen) != 0)
        return -1;
    long n_pieces = count_spm_pieces(spiece, spiece_len);
    if (n_pieces < 3) {
        errbuf_printf(err, errlen, "--spiece %s: not a SentencePiece model (%s)", opt->spiece,
                n_pieces < 0 ? "not a protobuf message" : "fewer than 3 pieces");
        free(spiece);
        return -1;
    }
    if (n_pieces + T5_EXTRA_IDS > d->t5_vocab) {
        errbuf_printf(err, errlen, "--spiece %s: %ld pieces + %d extra ids do not fit the %d-row T5 vocabulary"
                " of --size %s", opt->spiece, n_pieces, T5_EXTRA_IDS, d->t5_vocab, d->name);
        free(spiece);
        return -1;
    }
    if (check_out_dir(opt->out, err, errlen) != 0) {
        free(spiece);
        return -1;
    }

    /* The folder that will hold --out may not exist yet (build/models/ on a
     * fresh clone): make it, as mkdir -p would. */
    char folder[sizeof opt->out];
    snprintf(folder, sizeof folder, "%s", opt->out);
    char *slash = strrchr(folder, '/');
    if (slash && slash != folder) {
        *slash = '\0';
        if (path_mkdirs(folder, 0755) != 0) {
            errbuf_printf(err, errlen, "--out %s: cannot create the folder %s: %s", opt->out, folder,
                    strerror(errno));
            free(spiece);
            return -1;
        }
    }
    char staging[sizeof opt->out + 16];
    snprintf(staging, sizeof staging, "%s.tmp-XXXXXX", opt->out);
    if (!mkdtemp(staging)) {
        errbuf_printf(err, errlen, "--out %s: cannot create the staging directory %s.tmp-XXXXXX: %s", opt->out,
                opt->out, strerror(errno));
        free(spiece);
        return -1;
    }
    chmod(staging, 0755); /* mkdtemp makes it 0700; a model directory is for every reader */

    model_stats stats;
    int status = write_weights(staging, d, opt->seed, &stats, err, errlen);
    if (status == 0)
        status = write_side_files(staging, d, spiece, spiece_len, n_pieces, err, errlen);
    free(spiece);
    if (status == 0) {
        sync_dir(staging);
        if (rename(staging, opt->out) != 0) {
            errbuf_printf(err, errlen, "--out %s: cannot rename %s into place: %s", opt->out, staging,
                    strerror(errno));
            status = -1;
        }
    }
    if (status != 0) {
        remove_staging_dir(staging);
        return -1;
    }
    char parent[sizeof opt->out + 4];
    snprintf(parent, sizeof parent, "%s/..", opt->out);
    sync_dir(parent);

    printf("%s: wrote %s (--size %s, --seed %llu): %zu tensors, %lld parameters + %lld buffer values,"
           " model.safetensors %lld bytes, %.1f s\n",
           TOOL, opt->out, d->name, (unsigned long long)opt->seed, stats.tensors,
           (long long)stats.parameters, (long long)stats.buffer_values, (long long)stats.file_bytes,
           seconds_since(&start));
    return 0;
}

int main(int argc, char **argv)
{
    char err[PATH_MAX + 256] = "";
    options opt;
    switch (parse_options(argc, argv, &opt, err, sizeof err)) {
    case WANTS_HELP:
        fputs(usage_text, stdout);
        return 0;
    case BAD_USAGE:
        fprintf(stderr, "%s: %s\nTry '%s --help'.\n", TOOL, err, TOOL);
        return 2;
    }
    if (make_model(&opt, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", TOOL, err);
        return 1;
    }
    return 0;
}
