/* npy.h - read and write NumPy .npy files (format 1.0/2.0, C order,
 * little-endian float32 '<f4' and int64 '<i8'): the exchange format of the
 * golden fixtures, of jen1-gen's --dump-* / --codes options, and of the
 * worker's song codes and checkpoints in the blob store. */
#ifndef JEN1_NPY_H
#define JEN1_NPY_H

#include <stddef.h>
#include <stdint.h>

#define NPY_MAX_DIMS 8

typedef enum { NPY_F32, NPY_I64 } npy_dtype;

typedef struct npy_array {
    npy_dtype dtype;
    int ndim;
    int64_t shape[NPY_MAX_DIMS];
    void *data;   /* malloc'd, numel * 4 or 8 bytes */
} npy_array;

/* The element count (1 for ndim 0); -1 for a negative or overflowing shape. */
int64_t npy_numel(const npy_array *a);

/* Reads `path`. Returns 0, or -1 with a message (wrong magic, unsupported
 * dtype or Fortran order, truncated data) in err. */
int npy_read(const char *path, npy_array *out, char *err, size_t errlen);

/* Writes `a` to `path`. Returns 0 or -1 with a message. */
int npy_write(const char *path, const npy_array *a, char *err, size_t errlen);

/* The same in memory: decodes the `len` bytes of a .npy file (`name` stands
 * for it in messages), and encodes `a` as one (*out: malloc'd, *len bytes).
 * Return 0, or -1 with a message. */
int npy_decode(const void *bytes, size_t len, const char *name, npy_array *out, char *err, size_t errlen);
int npy_encode(const npy_array *a, const char *name, unsigned char **out, size_t *len, char *err,
               size_t errlen);

void npy_free(npy_array *a);

#endif
