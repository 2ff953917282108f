/* weights.c - the values of jen1-mkmodel's tensors and model.safetensors.
 *
 * The weights are random but "parity-friendly" like the fixture's: scaled so
 * that every tensor visibly changes the outputs. Each tensor draws from its
 * own stream keyed by its name and the seed, so the same --seed always gives
 * byte-identical files. See mkmodel.h. */
#include "mkmodel.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "errbuf.h"
#include "matvec.h"
#include "util.h"

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
    int64_t n = shape_numel(t->shape.dim, t->shape.ndim);
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
        int64_t rows = v->shape.dim[0], row_len = shape_numel(v->shape.dim, v->shape.ndim) / rows;
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
    case FILL_ROWS: {
        int64_t row_len = n / t->shape.dim[0];
        memset(x, 0, (size_t)n * sizeof *x);
        for (int range = 0; range < 2; range++)
            for (int64_t j = f->rows[2 * range] * row_len; j < f->rows[2 * range + 1] * row_len; j++)
                x[j] = (float)(f->scale * rng_normal(&r));
        break;
    }
    }
}

static int compare_by_name(const void *a, const void *b)
{
    return strcmp(((const safetensors_tensor *)a)->name, ((const safetensors_tensor *)b)->name);
}

/* Replaces t's float values by their bf16 rounding (torch's .to(bfloat16)). */
static int store_bf16(tensor_spec *t, int64_t numel)
{
    t->bf16 = malloc((size_t)numel * sizeof *t->bf16);
    if (!t->bf16)
        return -1;
    jen1_f32_to_bf16(t->data, t->bf16, (size_t)numel);
    free(t->data);
    t->data = NULL;
    return 0;
}

/* Generates every tensor (all of them are in memory at once: the writer
 * takes the complete set) and writes dir/model.safetensors. */
int weights_write(const char *dir, tensor_list *list, safetensors_dtype dtype, uint64_t seed,
                  model_stats *stats, char *err, size_t errlen)
{
    size_t elem = dtype == SAFETENSORS_BF16 ? sizeof(uint16_t) : sizeof(float);
    safetensors_tensor *out = calloc(list->n, sizeof *out);
    if (!out) {
        errbuf_printf(err, errlen, "out of memory listing the tensors");
        return -1;
    }
    int status = -1;
    memset(stats, 0, sizeof *stats);
    for (size_t i = 0; i < list->n; i++) {
        tensor_spec *t = &list->items[i];
        int64_t numel = shape_numel(t->shape.dim, t->shape.ndim);
        if (dtype == SAFETENSORS_BF16 && (t->fill.kind == FILL_COPY || t->fill.kind == FILL_WEIGHT_G)) {
            errbuf_printf(err, errlen, "%s: a derived tensor cannot be stored as BF16", t->name);
            goto done;
        }
        t->data = malloc((size_t)numel * sizeof(float));
        if (!t->data) {
            errbuf_printf(err, errlen, "out of memory for tensor %s (%lld bytes)", t->name,
                    (long long)numel * 4);
            goto done;
        }
        fill_tensor(list, i, seed);
        /* a BF16 list has no derived fills: each tensor is converted at once */
        if (dtype == SAFETENSORS_BF16 && store_bf16(t, numel) != 0) {
            errbuf_printf(err, errlen, "out of memory for tensor %s in bf16", t->name);
            goto done;
        }
        out[i] = (safetensors_tensor){.name = t->name, .dtype = dtype, .ndim = t->shape.ndim,
                                      .data = t->bf16 ? (const void *)t->bf16 : t->data,
                                      .nbytes = (size_t)numel * elem};
        memcpy(out[i].shape, t->shape.dim, sizeof t->shape.dim);
        if (tensor_is_buffer(t))
            stats->buffer_values += numel;
        else
            stats->parameters += numel;
    }
    stats->tensors = list->n;
    /* by name, like the Hub's files (the writer orders the data itself) */
    qsort(out, list->n, sizeof *out, compare_by_name);

    char path[PATH_MAX];
    if (outdir_path(path, sizeof path, dir, "model.safetensors") != 0) {
        errbuf_printf(err, errlen, "%s/model.safetensors: path too long", dir);
        goto done;
    }
    static const char *const metadata[] = {"format", "pt"};
    if (safetensors_write(path, out, list->n, metadata, 1, err, errlen) != 0)
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
    return status;
}
