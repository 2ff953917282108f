/* qwen_layout.c - the Qwen2 architectures jen1-mkmodel writes and their
 * tensor list: every name and shape of Qwen2ForCausalLM's state_dict() (less
 * lm_head.weight: the embeddings are tied) and how each is initialised.
 * See mkmodel.h. */
#include "mkmodel.h"

#include <math.h>
#include <string.h>

#include "errbuf.h"

/* Qwen/Qwen2.5-0.5B-Instruct's config.json and generation_config.json. */
static const qwen_dims size_qwen25_05b = {
    .name = "qwen2.5-0.5b",
    .hidden = 896, .layers = 24, .heads = 14, .kv_heads = 2, .intermediate = 4864,
    .vocab_rows = QWEN_VOCAB_ROWS, .max_positions = 32768,
    .max_window_layers = 21, .sliding_window = 32768, .model_max_length = 131072,
    .rope_theta = 1000000.0, .rms_norm_eps = 1e-6, .repetition_penalty = 1.1,
    .transformers_version = "4.43.1", .generation_transformers_version = "4.37.0",
};

const qwen_dims *qwen_dims_named(const char *name)
{
    return strcmp(name, size_qwen25_05b.name) == 0 ? &size_qwen25_05b : NULL;
}

/* The scales of tests/fixtures/qwen2-tiny (its README): every tensor matters
 * and greedy choices are clear-cut, while 24 layers keep the residual stream
 * well inside float and bf16 range (it grows to a std of ~17). */
static fill normal(double mean, double std) { return (fill){.kind = FILL_NORMAL, .mean = mean, .scale = std}; }
static fill linear_init(int fan_in, double gain) { return normal(0.0, gain / sqrt(fan_in)); }
static fill norm_gain(void) { return normal(1.0, 0.2); }
static fill bias_init(void) { return normal(0.0, 0.2); }

int qwen_tensor_list_build(tensor_list *l, const qwen_dims *d, long n_regular, long n_added,
                           char *err, size_t errlen)
{
    int h = d->hidden, head_dim = d->hidden / d->heads, kv = d->kv_heads * head_dim, ffn = d->intermediate;
    /* Rows no token has stay zero (logit 0, as the fixture's padding rows),
     * so a random model only ever writes ids its tokenizer can decode. */
    fill embed = {.kind = FILL_ROWS, .scale = 3.0 / sqrt(h),
                  .rows = {0, n_regular, QWEN_FIRST_ADDED_ID, QWEN_FIRST_ADDED_ID + n_added}};
    tensor_list_add(l, SHAPE2(d->vocab_rows, h), embed, "model.embed_tokens.weight");
    for (int i = 0; i < d->layers; i++) {
        const char *p = "model.layers";
        tensor_list_add(l, SHAPE1(h), norm_gain(), "%s.%d.input_layernorm.weight", p, i);
        tensor_list_add(l, SHAPE2(h, h), linear_init(h, 1.5), "%s.%d.self_attn.q_proj.weight", p, i);
        tensor_list_add(l, SHAPE1(h), bias_init(), "%s.%d.self_attn.q_proj.bias", p, i);
        tensor_list_add(l, SHAPE2(kv, h), linear_init(h, 1.5), "%s.%d.self_attn.k_proj.weight", p, i);
        tensor_list_add(l, SHAPE1(kv), bias_init(), "%s.%d.self_attn.k_proj.bias", p, i);
        tensor_list_add(l, SHAPE2(kv, h), linear_init(h, 1.0), "%s.%d.self_attn.v_proj.weight", p, i);
        tensor_list_add(l, SHAPE1(kv), bias_init(), "%s.%d.self_attn.v_proj.bias", p, i);
        tensor_list_add(l, SHAPE2(h, h), linear_init(h, 3.0), "%s.%d.self_attn.o_proj.weight", p, i);
        tensor_list_add(l, SHAPE1(h), norm_gain(), "%s.%d.post_attention_layernorm.weight", p, i);
        tensor_list_add(l, SHAPE2(ffn, h), linear_init(h, 1.0), "%s.%d.mlp.gate_proj.weight", p, i);
        tensor_list_add(l, SHAPE2(ffn, h), linear_init(h, 1.0), "%s.%d.mlp.up_proj.weight", p, i);
        tensor_list_add(l, SHAPE2(h, ffn), linear_init(ffn, 3.0), "%s.%d.mlp.down_proj.weight", p, i);
    }
    tensor_list_add(l, SHAPE1(h), norm_gain(), "model.norm.weight");
    if (l->failed) {
        errbuf_printf(err, errlen, "out of memory listing the tensors");
        return -1;
    }
    return 0;
}
