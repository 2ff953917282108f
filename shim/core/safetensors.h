/* safetensors.h - read (memory-mapped, strictly validated) and write the
 * safetensors format: an 8-byte little-endian header length N, N bytes of
 * JSON {"name": {"dtype", "shape", "data_offsets": [begin, end]}, ...,
 * "__metadata__": {str: str}}, then the data; offsets are relative to the
 * byte after the header.
 *
 * Validation is strict because the file comes from outside: header length
 * inside the file, JSON an object of objects, known dtype, shape entries
 * non-negative with a product that does not overflow, end - begin equal to
 * numel * dtype size, offsets inside the data, no two tensors overlapping.
 * Plain C (jansson); no LibTorch, so the parser can be fuzzed on its own. */
#ifndef JEN1_SAFETENSORS_H
#define JEN1_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SAFETENSORS_MAX_DIMS 8

typedef enum safetensors_dtype {
    SAFETENSORS_F32, SAFETENSORS_F16, SAFETENSORS_BF16, SAFETENSORS_F64,
    SAFETENSORS_I64, SAFETENSORS_I32, SAFETENSORS_I16, SAFETENSORS_I8,
    SAFETENSORS_U8, SAFETENSORS_BOOL
} safetensors_dtype;

typedef struct safetensors_tensor {
    char *name;
    safetensors_dtype dtype;
    int ndim;
    int64_t shape[SAFETENSORS_MAX_DIMS];
    const void *data;   /* points into the mapping (read-only) */
    size_t nbytes;
} safetensors_tensor;

typedef struct safetensors_file safetensors_file;

/* "F32", "BF16", ...; NULL-safe names for messages. */
const char *safetensors_dtype_name(safetensors_dtype dtype);
size_t safetensors_dtype_size(safetensors_dtype dtype);

/* Maps `path` read-only (MAP_SHARED, so processes share the page cache) and
 * validates it. Returns 0 and sets *out, or -1 with a message naming the file
 * (and tensor) in err. */
int safetensors_open(const char *path, safetensors_file **out, char *err, size_t errlen);

/* Validates an in-memory image of a whole file (the caller keeps `buf` alive
 * for the life of *out). `label` names it in messages. Returns 0 or -1. */
int safetensors_open_memory(const void *buf, size_t len, const char *label,
                            safetensors_file **out, char *err, size_t errlen);

void safetensors_close(safetensors_file *file);

size_t safetensors_count(const safetensors_file *file);
const safetensors_tensor *safetensors_at(const safetensors_file *file, size_t index);
/* NULL when absent. O(log n). */
const safetensors_tensor *safetensors_find(const safetensors_file *file, const char *name);
/* The value of __metadata__[key], or NULL. */
const char *safetensors_metadata(const safetensors_file *file, const char *key);
const char *safetensors_path(const safetensors_file *file);
/* The element count (1 for ndim 0); -1 for a negative or overflowing shape. */
int64_t safetensors_numel(const safetensors_tensor *tensor);

/* Writes tensors to `path` atomically (a temporary file in the same
 * directory, fsync, rename). `data` of each tensor must hold nbytes bytes.
 * The data starts at a multiple of 64 bytes (the header is padded with
 * spaces); tensors follow without gaps, wider dtypes first, so each starts at
 * a multiple of its element size. metadata_kv holds n_metadata key/value
 * pairs as {key0, value0, key1, value1, ...}; it may be NULL when
 * n_metadata is 0. Returns 0 or -1 with a message. */
int safetensors_write(const char *path, const safetensors_tensor *tensors, size_t n,
                      const char *const *metadata_kv, size_t n_metadata,
                      char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
