/* safetensors.c - strict reader (mmap) and atomic writer of the safetensors
 * format. See safetensors.h for the layout and the rules checked. */
#include "safetensors.h"

#include "errbuf.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The reference implementation refuses headers above 100 MB too. */
#define MAX_HEADER_BYTES 100000000ull
#define DATA_ALIGNMENT 64
#define METADATA_KEY "__metadata__"

struct safetensors_file {
    char *label;
    void *mapping;          /* NULL when opened from memory */
    size_t mapping_len;
    safetensors_tensor *tensors;   /* sorted by name */
    size_t count;
    char **metadata;        /* key, value, key, value, ... */
    size_t n_metadata;
};

static const struct {
    const char *name;
    size_t size;
} dtype_info[] = {
    [SAFETENSORS_F32] = {"F32", 4},  [SAFETENSORS_F16] = {"F16", 2},
    [SAFETENSORS_BF16] = {"BF16", 2}, [SAFETENSORS_F64] = {"F64", 8},
    [SAFETENSORS_I64] = {"I64", 8},  [SAFETENSORS_I32] = {"I32", 4},
    [SAFETENSORS_I16] = {"I16", 2},  [SAFETENSORS_I8] = {"I8", 1},
    [SAFETENSORS_U8] = {"U8", 1},    [SAFETENSORS_BOOL] = {"BOOL", 1},
};
#define N_DTYPES (sizeof dtype_info / sizeof dtype_info[0])


const char *safetensors_dtype_name(safetensors_dtype dtype)
{
    if ((unsigned)dtype >= N_DTYPES)
        return "unknown";
    return dtype_info[dtype].name;
}

size_t safetensors_dtype_size(safetensors_dtype dtype)
{
    if ((unsigned)dtype >= N_DTYPES)
        return 0;
    return dtype_info[dtype].size;
}

static int dtype_from_name(const char *name, safetensors_dtype *out)
{
    for (size_t i = 0; i < N_DTYPES; i++) {
        if (strcmp(dtype_info[i].name, name) == 0) {
            *out = (safetensors_dtype)i;
            return 0;
        }
    }
    return -1;
}

int64_t safetensors_numel(const safetensors_tensor *tensor)
{
    return shape_numel(tensor->shape, tensor->ndim);
}

/* Formats "[a, b, c]" into buf for messages. */
static const char *shape_text(const int64_t *shape, int ndim, char *buf, size_t len)
{
    size_t used = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < ndim && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%lld", i ? ", " : "",
                                 (long long)shape[i]);
    if (used < len)
        snprintf(buf + used, len - used, "]");
    return buf;
}

/* ---------------------------------------------------------------- reading */

typedef struct {
    const char *label;
    char *err;
    size_t errlen;
    uint64_t data_len;
} parse_ctx;

static int parse_shape(parse_ctx *ctx, const char *name, json_t *shape, safetensors_tensor *t)
{
    if (!json_is_array(shape)) {
        errbuf_printf(ctx->err, ctx->errlen, "%s: tensor '%s' has no shape array", ctx->label, name);
        return -1;
    }
    size_t ndim = json_array_size(shape);
    if (ndim > SAFETENSORS_MAX_DIMS) {
        errbuf_printf(ctx->err, ctx->errlen, "%s: tensor '%s' shape has %zu dimensions (at most %d supported)",
                ctx->label, name, ndim, SAFETENSORS_MAX_DIMS);
        return -1;
    }
    t->ndim = (int)ndim;
    for (size_t i = 0; i < ndim; i++) {
        json_t *dim = json_array_get(shape, i);
        if (!json_is_integer(dim) || json_integer_value(dim) < 0) {
            errbuf_printf(ctx->err, ctx->errlen, "%s: tensor '%s' shape[%zu] is not a non-negative integer",
                    ctx->label, name, i);
            return -1;
        }
        t->shape[i] = (int64_t)json_integer_value(dim);
    }
    return 0;
}

/* Reads data_offsets into begin/end after checking they are two
 * non-negative integers. */
static int parse_offsets(parse_ctx *ctx, const char *name, json_t *offsets,
                         uint64_t *begin, uint64_t *end)
{
    if (!json_is_array(offsets) || json_array_size(offsets) != 2 ||
        !json_is_integer(json_array_get(offsets, 0)) ||
        !json_is_integer(json_array_get(offsets, 1)) ||
        json_integer_value(json_array_get(offsets, 0)) < 0 ||
        json_integer_value(json_array_get(offsets, 1)) < 0) {
        errbuf_printf(ctx->err, ctx->errlen,
                "%s: tensor '%s' data_offsets is not an array of two non-negative integers",
                ctx->label, name);
        return -1;
    }
    *begin = (uint64_t)json_integer_value(json_array_get(offsets, 0));
    *end = (uint64_t)json_integer_value(json_array_get(offsets, 1));
    return 0;
}

static int parse_tensor(parse_ctx *ctx, const char *name, json_t *entry,
                        const unsigned char *data, safetensors_tensor *t)
{
    if (!json_is_object(entry)) {
        errbuf_printf(ctx->err, ctx->errlen, "%s: tensor '%s' is not a JSON object", ctx->label, name);
        return -1;
    }
    const char *dtype = json_string_value(json_object_get(entry, "dtype"));
    if (!dtype) {
        errbuf_printf(ctx->err, ctx->errlen, "%s: tensor '%s' has no dtype string", ctx->label, name);
        return -1;
    }
    if (dtype_from_name(dtype, &t->dtype) != 0) {
        errbuf_printf(ctx->err, ctx->errlen, "%s: tensor '%s' has unsupported dtype '%s'", ctx->label,
                name, dtype);
        return -1;
    }
    if (parse_shape(ctx, name, json_object_get(entry, "shape"), t) != 0)
        return -1;

    char shape_buf[256];
    int64_t need = shape_bytes(t->shape, t->ndim, safetensors_dtype_size(t->dtype));
    if (need < 0) {
        errbuf_printf(ctx->err, ctx->errlen, "%s: tensor '%s' shape %s is too large (size overflows)",
                ctx->label, name, shape_text(t->shape, t->ndim, shape_buf, sizeof shape_buf));
        return -1;
    }

    uint64_t begin, end;
    if (parse_offsets(ctx, name, json_object_get(entry, "data_offsets"), &begin, &end) != 0)
        return -1;
    if (end < begin) {
        errbuf_printf(ctx->err, ctx->errlen, "%s: tensor '%s' data_offsets [%llu, %llu] end before begin",
                ctx->label, name, (unsigned long long)begin, (unsigned long long)end);
        return -1;
    }
    if (end > ctx->data_len) {
        errbuf_printf(ctx->err, ctx->errlen,
                "%s: tensor '%s' data_offsets [%llu, %llu] run past the end of the data (%llu bytes)",
                ctx->label, name, (unsigned long long)begin, (unsigned long long)end,
                (unsigned long long)ctx->data_len);
        return -1;
    }
    if (end - begin != (uint64_t)need) {
        errbuf_printf(ctx->err, ctx->errlen,
                "%s: tensor '%s' data_offsets [%llu, %llu] hold %llu bytes but %s %s needs %lld",
                ctx->label, name, (unsigned long long)begin, (unsigned long long)end,
                (unsigned long long)(end - begin), dtype,
                shape_text(t->shape, t->ndim, shape_buf, sizeof shape_buf), (long long)need);
        return -1;
    }
    t->data = data + begin;
    t->nbytes = (size_t)(end - begin);
    t->name = strdup(name);
    if (!t->name) {
        errbuf_printf(ctx->err, ctx->errlen, "%s: out of memory", ctx->label);
        return -1;
    }
    return 0;
}

static int parse_metadata(parse_ctx *ctx, json_t *meta, safetensors_file *file)
{
    if (!json_is_object(meta)) {
        errbuf_printf(ctx->err, ctx->errlen, "%s: %s is not a JSON object", ctx->label, METADATA_KEY);
        return -1;
    }
    size_t n = json_object_size(meta);
    file->metadata = calloc(2 * n + 1, sizeof *file->metadata);
    if (!file->metadata) {
        errbuf_printf(ctx->err, ctx->errlen, "%s: out of memory", ctx->label);
        return -1;
    }
    const char *key;
    json_t *value;
    json_object_foreach(meta, key, value) {
        if (!json_is_string(value)) {
            errbuf_printf(ctx->err, ctx->errlen, "%s: %s value for '%s' is not a string", ctx->label,
                    METADATA_KEY, key);
            return -1;
        }
        char *k = strdup(key), *v = strdup(json_string_value(value));
        file->metadata[2 * file->n_metadata] = k;
        file->metadata[2 * file->n_metadata + 1] = v;
        file->n_metadata++;
        if (!k || !v) {
            errbuf_printf(ctx->err, ctx->errlen, "%s: out of memory", ctx->label);
            return -1;
        }
    }
    return 0;
}

static int compare_by_name(const void *a, const void *b)
{
    return strcmp(((const safetensors_tensor *)a)->name, ((const safetensors_tensor *)b)->name);
}

static int compare_by_data(const void *a, const void *b)
{
    const safetensors_tensor *x = *(const safetensors_tensor *const *)a;
    const safetensors_tensor *y = *(const safetensors_tensor *const *)b;
    const unsigned char *px = x->data, *py = y->data;
    if (px != py)
        return px < py ? -1 : 1;
    return (x->nbytes > y->nbytes) - (x->nbytes < y->nbytes);
}

/* Sweeps the tensors in data order; empty tensors occupy no bytes. */
static int check_no_overlap(parse_ctx *ctx, safetensors_file *file, const unsigned char *data)
{
    if (file->count < 2)
        return 0;
    const safetensors_tensor **order = malloc(file->count * sizeof *order);
    if (!order) {
        errbuf_printf(ctx->err, ctx->errlen, "%s: out of memory", ctx->label);
        return -1;
    }
    for (size_t i = 0; i < file->count; i++)
        order[i] = &file->tensors[i];
    qsort(order, file->count, sizeof *order, compare_by_data);

    int status = 0;
    const safetensors_tensor *furthest = NULL;   /* the one ending last so far */
    for (size_t i = 0; i < file->count; i++) {
        const safetensors_tensor *t = order[i];
        if (t->nbytes == 0)
            continue;
        const unsigned char *begin = t->data;
        if (furthest && begin < (const unsigned char *)furthest->data + furthest->nbytes) {
            size_t fb = (size_t)((const unsigned char *)furthest->data - data);
            size_t tb = (size_t)(begin - data);
            errbuf_printf(ctx->err, ctx->errlen,
                    "%s: tensors '%s' [%zu, %zu] and '%s' [%zu, %zu] overlap", ctx->label,
                    furthest->name, fb, fb + furthest->nbytes, t->name, tb, tb + t->nbytes);
            status = -1;
            break;
        }
        if (!furthest || begin + t->nbytes > (const unsigned char *)furthest->data + furthest->nbytes)
            furthest = t;
    }
    free(order);
    return status;
}

static int parse_header(parse_ctx *ctx, json_t *root, const unsigned char *data,
                        safetensors_file *file)
{
    if (!json_is_object(root)) {
        errbuf_printf(ctx->err, ctx->errlen, "%s: header is not a JSON object", ctx->label);
        return -1;
    }
    size_t n_entries = json_object_size(root);
    file->tensors = calloc(n_entries ? n_entries : 1, sizeof *file->tensors);
    if (!file->tensors) {
        errbuf_printf(ctx->err, ctx->errlen, "%s: out of memory", ctx->label);
        return -1;
    }
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value) {
        if (strcmp(key, METADATA_KEY) == 0) {
            if (parse_metadata(ctx, value, file) != 0)
                return -1;
            continue;
        }
        if (parse_tensor(ctx, key, value, data, &file->tensors[file->count]) != 0)
            return -1;
        file->count++;
    }
    if (check_no_overlap(ctx, file, data) != 0)
        return -1;
    qsort(file->tensors, file->count, sizeof *file->tensors, compare_by_name);
    return 0;
}

int safetensors_open_memory(const void *buf, size_t len, const char *label,
                            safetensors_file **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!label)
        label = "safetensors";
    const unsigned char *bytes = buf;
    if (len < 8) {
        errbuf_printf(err, errlen, "%s: file is %zu bytes, too short for the 8-byte header length",
                label, len);
        return -1;
    }
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--)
        header_len = header_len << 8 | bytes[i];
    if (header_len > MAX_HEADER_BYTES) {
        errbuf_printf(err, errlen, "%s: header length %llu exceeds the %llu-byte limit", label,
                (unsigned long long)header_len, MAX_HEADER_BYTES);
        return -1;
    }
    if (header_len > len - 8) {
        errbuf_printf(err, errlen, "%s: header length %llu runs past the end of the file (%zu bytes)",
                label, (unsigned long long)header_len, len);
        return -1;
    }

    json_error_t jerr;
    json_t *root = json_loadb((const char *)bytes + 8, (size_t)header_len,
                              JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!root) {
        errbuf_printf(err, errlen, "%s: header is not valid JSON: %s (at byte %d)", label, jerr.text,
                jerr.position);
        return -1;
    }

    safetensors_file *file = calloc(1, sizeof *file);
    if (!file || !(file->label = strdup(label))) {
        free(file);
        json_decref(root);
        errbuf_printf(err, errlen, "%s: out of memory", label);
        return -1;
    }
    parse_ctx ctx = {label, err, errlen, len - 8 - header_len};
    int status = parse_header(&ctx, root, bytes + 8 + header_len, file);
    json_decref(root);
    if (status != 0) {
        safetensors_close(file);
        return -1;
    }
    *out = file;
    return 0;
}

int safetensors_open(const char *path, safetensors_file **out, char *err, size_t errlen)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        errbuf_printf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        errbuf_printf(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        errbuf_printf(err, errlen, "%s: not a regular file", path);
        close(fd);
        return -1;
    }
    size_t len = (size_t)st.st_size;
    if (len < 8) {   /* too short to map usefully (and mmap refuses 0 bytes) */
        close(fd);
        return safetensors_open_memory("", len, path, out, err, errlen);
    }
    void *mapping = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    int map_errno = errno;
    close(fd);
    if (mapping == MAP_FAILED) {
        errbuf_printf(err, errlen, "%s: cannot map %zu bytes: %s", path, len, strerror(map_errno));
        return -1;
    }
    if (safetensors_open_memory(mapping, len, path, out, err, errlen) != 0) {
        munmap(mapping, len);
        return -1;
    }
    (*out)->mapping = mapping;
    (*out)->mapping_len = len;
    return 0;
}

void safetensors_close(safetensors_file *file)
{
    if (!file)
        return;
    for (size_t i = 0; i < file->count; i++)
        free(file->tensors[i].name);
    free(file->tensors);
    for (size_t i = 0; i < 2 * file->n_metadata; i++)
        free(file->metadata[i]);
    free(file->metadata);
    if (file->mapping)
        munmap(file->mapping, file->mapping_len);
    free(file->label);
    free(file);
}

size_t safetensors_count(const safetensors_file *file)
{
    return file->count;
}

const safetensors_tensor *safetensors_at(const safetensors_file *file, size_t index)
{
    return index < file->count ? &file->tensors[index] : NULL;
}

const safetensors_tensor *safetensors_find(const safetensors_file *file, const char *name)
{
    safetensors_tensor key = {.name = (char *)name};
    return bsearch(&key, file->tensors, file->count, sizeof *file->tensors, compare_by_name);
}

const char *safetensors_metadata(const safetensors_file *file, const char *key)
{
    for (size_t i = 0; i < file->n_metadata; i++)
        if (strcmp(file->metadata[2 * i], key) == 0)
            return file->metadata[2 * i + 1];
    return NULL;
}

const char *safetensors_path(const safetensors_file *file)
{
    return file->label;
}

/* ---------------------------------------------------------------- writing */

static int check_tensor_for_writing(const char *path, const safetensors_tensor *t,
                                    char *err, size_t errlen)
{
    if (!t->name) {
        errbuf_printf(err, errlen, "%s: a tensor has no name", path);
        return -1;
    }
    if (strcmp(t->name, METADATA_KEY) == 0) {
        errbuf_printf(err, errlen, "%s: tensor name '%s' is reserved", path, METADATA_KEY);
        return -1;
    }
    if (safetensors_dtype_size(t->dtype) == 0) {
        errbuf_printf(err, errlen, "%s: tensor '%s' has an invalid dtype (%d)", path, t->name,
                (int)t->dtype);
        return -1;
    }
    if (t->ndim < 0 || t->ndim > SAFETENSORS_MAX_DIMS) {
        errbuf_printf(err, errlen, "%s: tensor '%s' has %d dimensions (0 to %d supported)", path,
                t->name, t->ndim, SAFETENSORS_MAX_DIMS);
        return -1;
    }
    for (int i = 0; i < t->ndim; i++) {
        if (t->shape[i] < 0) {
            errbuf_printf(err, errlen, "%s: tensor '%s' shape[%d] is negative", path, t->name, i);
            return -1;
        }
    }
    int64_t need = shape_bytes(t->shape, t->ndim, safetensors_dtype_size(t->dtype));
    if (need < 0 || (uint64_t)need != t->nbytes) {
        char shape_buf[256];
        errbuf_printf(err, errlen, "%s: tensor '%s' has %zu bytes but %s %s needs %lld", path, t->name,
                t->nbytes, safetensors_dtype_name(t->dtype),
                shape_text(t->shape, t->ndim, shape_buf, sizeof shape_buf), (long long)need);
        return -1;
    }
    if (t->nbytes > 0 && !t->data) {
        errbuf_printf(err, errlen, "%s: tensor '%s' has no data", path, t->name);
        return -1;
    }
    return 0;
}

/* Wider dtypes first, then by name: with the data start 64-aligned and no
 * gaps, every tensor then starts at a multiple of its element size. */
static int compare_for_layout(const void *a, const void *b)
{
    const safetensors_tensor *x = *(const safetensors_tensor *const *)a;
    const safetensors_tensor *y = *(const safetensors_tensor *const *)b;
    size_t sx = safetensors_dtype_size(x->dtype), sy = safetensors_dtype_size(y->dtype);
    if (sx != sy)
        return sx > sy ? -1 : 1;
    return strcmp(x->name, y->name);
}

static json_t *tensor_entry(const safetensors_tensor *t, uint64_t begin)
{
    json_t *shape = json_array();
    for (int i = 0; shape && i < t->ndim; i++)
        if (json_array_append_new(shape, json_integer(t->shape[i])) != 0) {
            json_decref(shape);
            return NULL;
        }
    json_t *offsets = json_pack("[II]", (json_int_t)begin, (json_int_t)(begin + t->nbytes));
    if (!shape || !offsets) {
        json_decref(shape);
        json_decref(offsets);
        return NULL;
    }
    return json_pack("{s:s, s:o, s:o}", "dtype", safetensors_dtype_name(t->dtype),
                     "shape", shape, "data_offsets", offsets);
}

/* The header JSON in data order, __metadata__ first. NULL with err set. */
static char *build_header(const char *path, const safetensors_tensor *const *order, size_t n,
                          const char *const *metadata_kv, size_t n_metadata,
                          char *err, size_t errlen)
{
    json_t *root = json_object();
    json_t *meta = n_metadata ? json_object() : NULL;
    if (!root || (n_metadata && !meta))
        goto oom;
    for (size_t i = 0; i < n_metadata; i++) {
        const char *key = metadata_kv[2 * i], *value = metadata_kv[2 * i + 1];
        if (!key || !value) {
            errbuf_printf(err, errlen, "%s: metadata entry %zu has a NULL key or value", path, i);
            goto fail;
        }
        if (json_object_get(meta, key)) {
            errbuf_printf(err, errlen, "%s: metadata key '%s' given twice", path, key);
            goto fail;
        }
        json_t *v = json_string(value);
        if (!v || json_object_set_new(meta, key, v) != 0) {
            errbuf_printf(err, errlen, "%s: metadata '%s' is not valid UTF-8", path, key);
            goto fail;
        }
    }
    if (meta && json_object_set(root, METADATA_KEY, meta) != 0)
        goto oom;

    uint64_t offset = 0;
    for (size_t i = 0; i < n; i++) {
        const safetensors_tensor *t = order[i];
        if (json_object_get(root, t->name)) {
            errbuf_printf(err, errlen, "%s: tensor '%s' given twice", path, t->name);
            goto fail;
        }
        json_t *entry = tensor_entry(t, offset);
        if (!entry)
            goto oom;
        if (json_object_set_new(root, t->name, entry) != 0) {
            errbuf_printf(err, errlen, "%s: tensor name '%s' is not valid UTF-8", path, t->name);
            goto fail;
        }
        offset += t->nbytes;
    }
    char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text)
        goto oom;
    json_decref(meta);
    json_decref(root);
    return text;
oom:
    errbuf_printf(err, errlen, "%s: out of memory building the header", path);
fail:
    json_decref(meta);
    json_decref(root);
    return NULL;
}

static int write_all(int fd, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    while (len > 0) {
        /* Linux writes at most ~2 GB per call; a tensor can be bigger. */
        size_t chunk = len < (1u << 30) ? len : (1u << 30);
        ssize_t w = write(fd, p, chunk);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static int write_file_body(int fd, const char *header, const safetensors_tensor *const *order,
                           size_t n)
{
    size_t json_len = strlen(header);
    size_t padding = (DATA_ALIGNMENT - (8 + json_len) % DATA_ALIGNMENT) % DATA_ALIGNMENT;
    uint64_t header_len = json_len + padding;
    unsigned char prefix[8];
    for (int i = 0; i < 8; i++)
        prefix[i] = (unsigned char)(header_len >> (8 * i));
    char spaces[DATA_ALIGNMENT];
    memset(spaces, ' ', sizeof spaces);

    if (write_all(fd, prefix, sizeof prefix) != 0 || write_all(fd, header, json_len) != 0 ||
        write_all(fd, spaces, padding) != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (write_all(fd, order[i]->data, order[i]->nbytes) != 0)
            return -1;
    return 0;
}

/* After the rename, so the new directory entry survives a crash too. */
static void sync_parent_dir(const char *path)
{
    char *dir = strdup(path);
    if (!dir)
        return;
    char *slash = strrchr(dir, '/');
    const char *name = ".";
    if (slash) {
        slash[slash == dir ? 1 : 0] = '\0';
        name = dir;
    }
    int fd = open(name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

int safetensors_write(const char *path, const safetensors_tensor *tensors, size_t n,
                      const char *const *metadata_kv, size_t n_metadata,
                      char *err, size_t errlen)
{
    if (n_metadata > 0 && !metadata_kv) {
        errbuf_printf(err, errlen, "%s: %zu metadata entries but no metadata array", path, n_metadata);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (check_tensor_for_writing(path, &tensors[i], err, errlen) != 0)
            return -1;

    const safetensors_tensor **order = malloc((n ? n : 1) * sizeof *order);
    if (!order) {
        errbuf_printf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        order[i] = &tensors[i];
    qsort(order, n, sizeof *order, compare_for_layout);

    char *header = build_header(path, order, n, metadata_kv, n_metadata, err, errlen);
    if (!header) {
        free(order);
        return -1;
    }

    int status = -1, created = 0;
    size_t tmp_len = strlen(path) + sizeof ".tmp.XXXXXX";
    char *tmp = malloc(tmp_len);
    int fd = -1;
    if (!tmp) {
        errbuf_printf(err, errlen, "%s: out of memory", path);
        goto done;
    }
    snprintf(tmp, tmp_len, "%s.tmp.XXXXXX", path);
    fd = mkstemp(tmp);
    if (fd < 0) {
        errbuf_printf(err, errlen, "%s: cannot create a temporary file: %s", path, strerror(errno));
        goto done;
    }
    created = 1;
    if (fchmod(fd, 0644) != 0 || write_file_body(fd, header, order, n) != 0 || fsync(fd) != 0) {
        errbuf_printf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        goto done;
    }
    int close_status = close(fd);
    fd = -1;
    if (close_status != 0) {
        errbuf_printf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        goto done;
    }
    if (rename(tmp, path) != 0) {
        errbuf_printf(err, errlen, "%s: cannot rename the temporary file into place: %s", path,
                strerror(errno));
        goto done;
    }
    sync_parent_dir(path);
    status = 0;
done:
    if (fd >= 0)
        close(fd);
    if (status != 0 && created)
        unlink(tmp);
    free(tmp);
    free(header);
    free(order);
    return status;
}
