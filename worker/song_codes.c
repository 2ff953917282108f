/* song_codes.c - see song_codes.h. */
#include "song_codes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* More than any model's codebooks or any song's frames: a bound that keeps
 * a corrupt header's shape from reaching int overflow. */
#define MAX_CODEBOOKS 64
#define MAX_FRAMES (1 << 24)

void song_codes_key(const char *job_id, song_codes_object which, char key[BLOB_KEY_MAX + 1])
{
    snprintf(key, BLOB_KEY_MAX + 1, "%s.%s", job_id, which == SONG_CODES_CHECKPOINT ? "checkpoint.npy" : "codes.npy");
}

blob_status song_codes_put(blob_store *store, const char *key, const int64_t *codes, int n_codebooks, int n_frames,
                           char *url_out, size_t url_len, char *err, size_t errlen)
{
    npy_array a = {.dtype = NPY_I64, .ndim = 2, .shape = {n_codebooks, n_frames}, .data = (void *)codes};
    unsigned char *bytes;
    size_t len;
    if (npy_encode(&a, key, &bytes, &len, err, errlen) != 0) return BLOB_REJECTED;
    blob_status st = blob_put(store, key, bytes, len, "application/octet-stream", url_out, url_len, err, errlen);
    free(bytes);
    return st;
}

blob_status song_codes_get(blob_store *store, const char *key, npy_array *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    unsigned char *bytes;
    size_t len;
    blob_status st = blob_get(store, key, &bytes, &len, err, errlen);
    if (st != BLOB_OK) return st;
    int rc = npy_decode(bytes, len, key, out, err, errlen);
    free(bytes);
    if (rc != 0) return BLOB_REJECTED;
    if (out->dtype != NPY_I64 || out->ndim != 2 || out->shape[0] < 1 || out->shape[0] > MAX_CODEBOOKS ||
        out->shape[1] < 1 || out->shape[1] > MAX_FRAMES) {
        snprintf(err, errlen, "%s: not [codebooks, frames] int64 codes", key);
        npy_free(out);
        return BLOB_REJECTED;
    }
    return BLOB_OK;
}
