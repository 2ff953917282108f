/* jen1-mkmodel - writes a randomly initialised MusicGen checkpoint directory
 * in the exact Hugging Face layout of facebook/musicgen-small (config.json,
 * generation_config.json, model.safetensors, spiece.model and the tokenizer /
 * preprocessor side files), either at the real musicgen-small size or as the
 * tiny model of tests/fixtures/musicgen-tiny; or a Qwen2 text model with the
 * shapes and layout of Qwen/Qwen2.5-0.5B-Instruct (BF16), for benchmarks at
 * real size without the download.
 *
 * The weights are random but "parity-friendly" like the fixture's: scaled so
 * that every tensor visibly changes the outputs. The same --seed always gives
 * byte-identical files. Run with --help for usage.
 *
 * This file holds the command line; mkmodel.h lists the other parts. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"
#include "mkmodel.h"
#include "util.h"

static const char usage_text[] =
    "usage: " TOOL " --size tiny|small --spiece FILE --out DIR [--seed N] [--max-positions N]\n"
    "       " TOOL " --size qwen2.5-0.5b --tokenizer-from DIR --out DIR [--seed N]\n"
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
    "or a Qwen2 text model laid out exactly like Qwen/Qwen2.5-0.5B-Instruct:\n"
    "  config.json              Qwen2ForCausalLM, torch_dtype bfloat16\n"
    "  generation_config.json   do_sample, temperature 0.7, top_p 0.8, top_k 20,\n"
    "                           repetition_penalty 1.1, eos [151645, 151643]\n"
    "  model.safetensors        every tensor of Qwen2ForCausalLM's state_dict() but\n"
    "                           the tied lm_head.weight; BF16, q/k/v biases\n"
    "  vocab.json, merges.txt,  the tokenizer of --tokenizer-from, its added tokens\n"
    "  tokenizer.json,          (<|endoftext|>, <|im_start|>, <|im_end|>, ...) moved\n"
    "  tokenizer_config.json    to Qwen2.5's ids 151643, 151644, 151645, ...\n"
    "\n"
    "  --size tiny    the architecture of tests/fixtures/musicgen-tiny (180 tensors,\n"
    "                 1.7 MB): T5 32/2 layers, decoder 64/2 layers, EnCodec 4 filters\n"
    "  --size small   the architecture of facebook/musicgen-small (612 tensors,\n"
    "                 588,981,826 parameters, 2.4 GB): T5-base, decoder 1024/24\n"
    "                 layers, EnCodec 32 kHz\n"
    "  --size qwen2.5-0.5b  the architecture of Qwen/Qwen2.5-0.5B-Instruct (290\n"
    "                 tensors, 494,032,768 parameters, 988 MB): hidden 896, 24 layers,\n"
    "                 14 query / 2 key-value heads, MLP 4864, 151936 embedding rows\n"
    "  --spiece FILE  (MusicGen) the SentencePiece model to ship (T5 conventions: pad\n"
    "                 0, eos 1, unk 2), a UNIGRAM model jen1's tokenizer reads; its\n"
    "                 pieces plus 100 extra ids must fit the T5 vocab (512 rows for\n"
    "                 tiny, 32128 for small)\n"
    "  --tokenizer-from DIR  (Qwen2) the byte-level BPE tokenizer to ship: DIR's\n"
    "                 vocab.json, merges.txt, tokenizer.json and tokenizer_config.json\n"
    "                 (with a chat_template), whose first added tokens are\n"
    "                 <|endoftext|>, <|im_start|>, <|im_end|>: the fixture\n"
    "                 tests/fixtures/qwen2-tiny/model (756 tokens + 3), or a real\n"
    "                 Qwen2.5 download (151643 + 22). Embedding rows no token has\n"
    "                 (with the fixture: ids 756..151642 and 151646..151935) are zero,\n"
    "                 so their logit is 0 and a random model writes decodable ids\n"
    "  --out DIR      the directory to create; it must not exist or be empty. The\n"
    "                 files are written into DIR.tmp-XXXXXX next to it, which is then\n"
    "                 renamed to DIR, so DIR never holds a partial model\n"
    "  --seed N       seed of the random weights (unsigned 64-bit, default 0); the\n"
    "                 same seed gives byte-identical files\n"
    "  --max-positions N  (MusicGen) the decoder's position table (tiny: 256, small:\n"
    "                 2048), which bounds a song at N - 4 frames: a tiny model for\n"
    "                 demos of realistic lengths takes 2048 (40 s)\n"
    "  --help         this text\n"
    "\n"
    "The MusicGen weights follow the fixture's scales: linear layers N(0, 1/fan_in),\n"
    "T5 as transformers initialises it, embeddings and codebooks N(0,1), lm_heads x3,\n"
    "norm gains 1+0.1N, biases 0.1N, EnCodec weight-norm convolutions with\n"
    "weight_g = U(0.5,1.5) * ||weight_v||, LSTMs Xavier-uniform. The Qwen2 weights\n"
    "follow qwen2-tiny's: linear layers N(0, 1/fan_in) (o_proj and down_proj x3,\n"
    "q_proj and k_proj x1.5), q/k/v biases 0.2N, norm gains 1+0.2N, embeddings\n"
    "N(0,1)*3/sqrt(hidden), rounded to bf16.\n"
    "Exit status: 0 on success, 2 for a usage error, 1 when writing fails.\n";

/* ---- Command line -------------------------------------------------------------- */

typedef struct options {
    const model_dims *dims;     /* a MusicGen size, or NULL */
    model_dims custom;          /* dims with --max-positions applied */
    const qwen_dims *qwen;      /* a Qwen2 size, or NULL */
    const char *spiece, *tokenizer_from;
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
    enum { SIZE, SPIECE, OUT, SEED, POSITIONS, TOKENIZER, N_OPTIONS };
    static const char *const names[N_OPTIONS] = {"--size", "--spiece", "--out", "--seed", "--max-positions",
                                                 "--tokenizer-from"};
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
    if (!values[SIZE]) {
        errbuf_printf(err, errlen, "missing --size (tiny, small or qwen2.5-0.5b)");
        return BAD_USAGE;
    }
    const char *size = values[SIZE];
    opt->dims = model_dims_named(size);
    opt->qwen = qwen_dims_named(size);
    if (!opt->dims && !opt->qwen) {
        errbuf_printf(err, errlen, "--size must be tiny, small or qwen2.5-0.5b, not '%s'", size);
        return BAD_USAGE;
    }
    /* each family takes its own tokenizer option */
    int tokenizer = opt->qwen ? TOKENIZER : SPIECE, other = opt->qwen ? SPIECE : TOKENIZER;
    if (values[other] || (opt->qwen && values[POSITIONS])) {
        errbuf_printf(err, errlen, "%s is not an option of --size %s", values[other] ? names[other]
                      : names[POSITIONS], size);
        return BAD_USAGE;
    }
    if (!values[tokenizer] || !values[OUT]) {
        errbuf_printf(err, errlen, "missing %s", !values[tokenizer] ? (opt->qwen ? "--tokenizer-from DIR"
                      : "--spiece FILE") : "--out DIR");
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
    opt->tokenizer_from = values[TOKENIZER];
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

/* The --spiece file, which must fit the T5 vocabulary of the size. */
static int load_spiece(const options *opt, spiece *sp, char *err, size_t errlen)
{
    if (spiece_load(opt->spiece, sp, err, errlen) != 0)
        return -1;
    if (sp->n_pieces + T5_EXTRA_IDS > opt->dims->t5_vocab) {
        errbuf_printf(err, errlen, "--spiece %s: %ld pieces + %d extra ids do not fit the %d-row T5 vocabulary"
                " of --size %s", opt->spiece, sp->n_pieces, T5_EXTRA_IDS, opt->dims->t5_vocab, opt->dims->name);
        spiece_free(sp);
        return -1;
    }
    return 0;
}

static int write_musicgen(const options *opt, const char *dir, const spiece *sp, model_stats *stats,
                          char *err, size_t errlen)
{
    tensor_list list = {0};
    int status = tensor_list_build(&list, opt->dims, err, errlen);
    if (status == 0)
        status = weights_write(dir, &list, SAFETENSORS_F32, opt->seed, stats, err, errlen);
    tensor_list_free(&list);
    if (status == 0)
        status = outdir_write_file(dir, "spiece.model", sp->bytes, sp->len, err, errlen);
    if (status == 0)
        status = hf_write_json_files(dir, opt->dims, sp->n_pieces, err, errlen);
    return status;
}

static int write_qwen(const options *opt, const char *dir, const bpe_files *tok, model_stats *stats,
                      char *err, size_t errlen)
{
    tensor_list list = {0};
    int status = qwen_tensor_list_build(&list, opt->qwen, tok->n_regular, tok->n_added, err, errlen);
    if (status == 0)
        status = weights_write(dir, &list, SAFETENSORS_BF16, opt->seed, stats, err, errlen);
    tensor_list_free(&list);
    if (status == 0)
        status = bpe_files_write(dir, tok, err, errlen);
    if (status == 0)
        status = qwen_write_json_files(dir, opt->qwen, err, errlen);
    return status;
}

static int make_model(const options *opt, char *err, size_t errlen)
{
    double start = clock_monotonic_s();
    /* the tokenizer is checked first: a bad one leaves nothing behind */
    spiece sp = {0};
    bpe_files tok = {0};
    if ((opt->qwen ? bpe_files_load(opt->tokenizer_from, opt->qwen->model_max_length, &tok, err, errlen)
                   : load_spiece(opt, &sp, err, errlen)) != 0)
        return -1;
    char staging[sizeof opt->out + 16];
    model_stats stats;
    int status = outdir_begin(opt->out, staging, sizeof staging, err, errlen);
    if (status == 0) {
        status = opt->qwen ? write_qwen(opt, staging, &tok, &stats, err, errlen)
                           : write_musicgen(opt, staging, &sp, &stats, err, errlen);
        if (status == 0)
            status = outdir_commit(staging, opt->out, err, errlen);
        if (status != 0)
            outdir_abandon(staging);
    }
    spiece_free(&sp);
    bpe_files_free(&tok);
    if (status != 0)
        return -1;
    printf("%s: wrote %s (--size %s, --seed %llu): %zu tensors, %lld parameters + %lld buffer values,"
           " model.safetensors %lld bytes, %.1f s\n",
           TOOL, opt->out, opt->qwen ? opt->qwen->name : opt->dims->name, (unsigned long long)opt->seed,
           stats.tensors, (long long)stats.parameters, (long long)stats.buffer_values,
           (long long)stats.file_bytes, clock_monotonic_s() - start);
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

