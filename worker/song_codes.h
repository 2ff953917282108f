/* song_codes.h - a song's audio codes in the blob store, next to its audio:
 *
 *   ID.checkpoint.npy  the codes so far, written after each window so that a
 *                      later attempt of the job resumes after them; removed
 *                      when the job ends for good
 *   ID.codes.npy       the finished song's codes, kept (GeneratedSong.codes):
 *                      the song can be decoded again without the decoder
 *
 * Both are [codebooks, frames] int64 .npy files (common/npy.h), written
 * whole as every blob is. */
#ifndef JEN1_WORKER_SONG_CODES_H
#define JEN1_WORKER_SONG_CODES_H

#include <stddef.h>
#include <stdint.h>

#include "blob.h"
#include "npy.h"

typedef enum { SONG_CODES_CHECKPOINT, SONG_CODES_FINAL } song_codes_object;

/* The key of a job's object ("ID.checkpoint.npy", "ID.codes.npy"). */
void song_codes_key(const char *job_id, song_codes_object which, char key[BLOB_KEY_MAX + 1]);

/* Stores codes ([n_codebooks][n_frames], row-major) under key; the URL goes
 * to url_out when it is not NULL. */
blob_status song_codes_put(blob_store *store, const char *key, const int64_t *codes, int n_codebooks, int n_frames,
                           char *url_out, size_t url_len, char *err, size_t errlen);

/* Reads codes back into *out, a 2-D int64 array (npy_free it): BLOB_OK,
 * BLOB_NOT_FOUND, BLOB_UNAVAILABLE, or BLOB_REJECTED when the object is not
 * such an array (err says why). */
blob_status song_codes_get(blob_store *store, const char *key, npy_array *out, char *err, size_t errlen);

#endif
