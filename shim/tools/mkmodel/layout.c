/* layout.c - the architectures jen1-mkmodel writes and their tensor list:
 * every name and shape of MusicgenForConditionalGeneration's state_dict()
 * (less the tied text_encoder.encoder.embed_tokens.weight) and how each is
 * initialised. See mkmodel.h. */
#include "mkmodel.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"

/* ---- Architectures -------------------------------------------------------- */

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

const model_dims *model_dims_named(const char *name)
{
    return strcmp(name, "tiny") == 0 ? &size_tiny : strcmp(name, "small") == 0 ? &size_small : NULL;
}

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

/* ---- The tensor list ------------------------------------------------------ */

static fill normal(double mean, double std) { return (fill){.kind = FILL_NORMAL, .mean = mean, .scale = std}; }
static fill uniform(double bound) { return (fill){.kind = FILL_UNIFORM, .scale = bound}; }
static fill constant(double value) { return (fill){.kind = FILL_CONSTANT, .mean = value}; }
static fill sinusoid(void) { return (fill){.kind = FILL_SINUSOID}; }
static fill norm_gain_of(size_t v) { return (fill){.kind = FILL_WEIGHT_G, .source = v}; }
static fill copy_of(size_t t) { return (fill){.kind = FILL_COPY, .source = t}; }
static fill linear_init(int fan_in) { return normal(0.0, 1.0 / sqrt(fan_in)); }
static fill norm_weight(void) { return normal(1.0, 0.1); }
static fill bias_init(void) { return normal(0.0, 0.1); }

size_t tensor_list_add(tensor_list *list, shape s, fill f, const char *fmt, ...)
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

void tensor_list_free(tensor_list *list)
{
    for (size_t i = 0; i < list->n; i++) {
        free(list->items[i].data);
        free(list->items[i].bf16);
    }
    free(list->items);
    memset(list, 0, sizeof *list);
}

/* ---- Architecture -> tensor names and shapes -------------------------------- */

/* T5EncoderModel as transformers names it, initialised as transformers' T5
 * does (which already scales q by 1/sqrt(d_kv): T5 has no attention scale). */
static void add_text_encoder(tensor_list *l, const model_dims *d)
{
    int inner = d->t5_d_kv * d->t5_heads;
    tensor_list_add(l, SHAPE2(d->t5_vocab, d->t5_d_model), normal(0.0, 1.0), "text_encoder.shared.weight");
    for (int b = 0; b < d->t5_layers; b++) {
        const char *p = "text_encoder.encoder.block";
        shape in_proj = SHAPE2(inner, d->t5_d_model);
        tensor_list_add(l, in_proj, normal(0.0, 1.0 / sqrt((double)d->t5_d_model * d->t5_d_kv)),
                   "%s.%d.layer.0.SelfAttention.q.weight", p, b);
        tensor_list_add(l, in_proj, linear_init(d->t5_d_model), "%s.%d.layer.0.SelfAttention.k.weight", p, b);
        tensor_list_add(l, in_proj, linear_init(d->t5_d_model), "%s.%d.layer.0.SelfAttention.v.weight", p, b);
        tensor_list_add(l, SHAPE2(d->t5_d_model, inner), linear_init(inner),
                   "%s.%d.layer.0.SelfAttention.o.weight", p, b);
        if (b == 0) /* only the first block owns the relative position buckets */
            tensor_list_add(l, SHAPE2(d->t5_buckets, d->t5_heads), normal(0.0, 1.0),
                       "%s.0.layer.0.SelfAttention.relative_attention_bias.weight", p);
        tensor_list_add(l, SHAPE1(d->t5_d_model), norm_weight(), "%s.%d.layer.0.layer_norm.weight", p, b);
        tensor_list_add(l, SHAPE2(d->t5_d_ff, d->t5_d_model), linear_init(d->t5_d_model),
                   "%s.%d.layer.1.DenseReluDense.wi.weight", p, b);
        tensor_list_add(l, SHAPE2(d->t5_d_model, d->t5_d_ff), linear_init(d->t5_d_ff),
                   "%s.%d.layer.1.DenseReluDense.wo.weight", p, b);
        tensor_list_add(l, SHAPE1(d->t5_d_model), norm_weight(), "%s.%d.layer.1.layer_norm.weight", p, b);
    }
    tensor_list_add(l, SHAPE1(d->t5_d_model), norm_weight(), "text_encoder.encoder.final_layer_norm.weight");
}

/* `part` of `layer`, e.g. decoder.model.decoder.layers.3 + self_attn. */
static void add_layer_norm(tensor_list *l, int dim, const char *layer, const char *part)
{
    tensor_list_add(l, SHAPE1(dim), norm_weight(), "%s.%s.weight", layer, part);
    tensor_list_add(l, SHAPE1(dim), bias_init(), "%s.%s.bias", layer, part);
}

static void add_attention(tensor_list *l, int dim, const char *layer, const char *part)
{
    static const char *const projections[] = {"q_proj", "k_proj", "v_proj", "out_proj"};
    for (size_t i = 0; i < 4; i++)
        tensor_list_add(l, SHAPE2(dim, dim), linear_init(dim), "%s.%s.%s.weight", layer, part, projections[i]);
}

static void add_decoder(tensor_list *l, const model_dims *d)
{
    int h = d->dec_hidden;
    tensor_list_add(l, SHAPE2(h, d->t5_d_model), linear_init(d->t5_d_model), "enc_to_dec_proj.weight");
    tensor_list_add(l, SHAPE1(h), bias_init(), "enc_to_dec_proj.bias");
    for (int k = 0; k < d->dec_codebooks; k++) {
        /* vocab + 1 rows: the last one embeds the BOS / pad token */
        tensor_list_add(l, SHAPE2(d->dec_vocab + 1, h), normal(0.0, 1.0),
                   "decoder.model.decoder.embed_tokens.%d.weight", k);
        /* x3 spreads the logits (std ~3) so greedy choices are clear-cut */
        tensor_list_add(l, SHAPE2(d->dec_vocab, h), normal(0.0, 3.0 / sqrt(h)), "decoder.lm_heads.%d.weight", k);
    }
    tensor_list_add(l, SHAPE2(d->dec_positions, h), sinusoid(), "decoder.model.decoder.embed_positions.weights");
    for (int i = 0; i < d->dec_layers; i++) {
        char layer[64];
        snprintf(layer, sizeof layer, "decoder.model.decoder.layers.%d", i);
        add_attention(l, h, layer, "self_attn");
        add_layer_norm(l, h, layer, "self_attn_layer_norm");
        add_attention(l, h, layer, "encoder_attn");
        add_layer_norm(l, h, layer, "encoder_attn_layer_norm");
        tensor_list_add(l, SHAPE2(d->dec_ffn, h), linear_init(h), "%s.fc1.weight", layer);
        tensor_list_add(l, SHAPE2(h, d->dec_ffn), linear_init(d->dec_ffn), "%s.fc2.weight", layer);
        add_layer_norm(l, h, layer, "final_layer_norm");
    }
    add_layer_norm(l, h, "decoder.model.decoder", "layer_norm");
}


/* A weight-normalised convolution: weight_v is [out, in, k] for Conv1d and
 * [in, out, k] for ConvTranspose1d, weight_g holds one gain per row of it. */
static void add_conv(tensor_list *l, const char *layer, int in, int out, int kernel, int transposed)
{
    shape v = transposed ? SHAPE3(in, out, kernel) : SHAPE3(out, in, kernel);
    /* torch's default bound: fan_in = dim 1 * kernel for both kinds */
    size_t iv = tensor_list_add(l, v, uniform(1.0 / sqrt((double)v.dim[1] * kernel)), "%s.conv.weight_v", layer);
    tensor_list_add(l, SHAPE3(v.dim[0], 1, 1), norm_gain_of(iv), "%s.conv.weight_g", layer);
    tensor_list_add(l, SHAPE1(out), bias_init(), "%s.conv.bias", layer);
}

static void add_lstm(tensor_list *l, const char *layer, int dim, int n_layers)
{
    double bound = sqrt(6.0 / (4 * dim + dim)); /* Xavier-uniform of a [4*dim, dim] matrix */
    for (int k = 0; k < n_layers; k++) {
        tensor_list_add(l, SHAPE2(4 * dim, dim), uniform(bound), "%s.lstm.weight_ih_l%d", layer, k);
        tensor_list_add(l, SHAPE2(4 * dim, dim), uniform(bound), "%s.lstm.weight_hh_l%d", layer, k);
        tensor_list_add(l, SHAPE1(4 * dim), bias_init(), "%s.lstm.bias_ih_l%d", layer, k);
        tensor_list_add(l, SHAPE1(4 * dim), bias_init(), "%s.lstm.bias_hh_l%d", layer, k);
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
        tensor_list_add(l, SHAPE1(1), constant(1.0), "%s.%d.codebook.inited", p, q);
        tensor_list_add(l, SHAPE1(d->ec_codebook_size), constant(1.0), "%s.%d.codebook.cluster_size", p, q);
        size_t embed = tensor_list_add(l, SHAPE2(d->ec_codebook_size, d->ec_codebook_dim), normal(0.0, 1.0),
                                  "%s.%d.codebook.embed", p, q);
        tensor_list_add(l, SHAPE2(d->ec_codebook_size, d->ec_codebook_dim), copy_of(embed),
                   "%s.%d.codebook.embed_avg", p, q);
    }
}

int tensor_is_buffer(const tensor_spec *t)
{
    return strstr(t->name, ".codebook.") != NULL;
}

int tensor_list_build(tensor_list *l, const model_dims *d, char *err, size_t errlen)
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
