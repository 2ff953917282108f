/* safetensors_shards.h - a checkpoint's weights as one or more mapped
 * safetensors files: DIR/model.safetensors, or, when that is absent, the
 * shards that DIR/model.safetensors.index.json names (Hugging Face's layout
 * for big checkpoints: {"metadata": {...}, "weight_map": {tensor: file}}).
 *
 * The index comes from outside and is checked strictly: weight_map a
 * non-empty object of strings; each shard a plain file name inside DIR (no
 * '/', not "." or "..", no control characters); every shard mapped and
 * validated as safetensors_open does; every tensor the map lists present in
 * the shard it names; no tensor in two shards. Plain C (jansson). */
#ifndef JEN1_SAFETENSORS_SHARDS_H
#define JEN1_SAFETENSORS_SHARDS_H

#include <stddef.h>

#include "safetensors.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SAFETENSORS_SINGLE_FILE "model.safetensors"
#define SAFETENSORS_INDEX_FILE "model.safetensors.index.json"

typedef struct safetensors_shards {
    safetensors_file **files;  /* n of them, in the order the map first names them */
    size_t n;
    char *label;               /* the single file's or the index's path, for messages */
} safetensors_shards;

/* Opens dir's weights as above. Returns 0, or -1 with a message naming the
 * file in err; *out is then empty. A directory with neither file is -2 (the
 * caller says "not found" as it sees fit). */
int safetensors_shards_open(const char *dir, safetensors_shards *out, char *err, size_t errlen);

/* Closes every file; safe on an empty or failed set. */
void safetensors_shards_close(safetensors_shards *s);

#ifdef __cplusplus
}
#endif
#endif
