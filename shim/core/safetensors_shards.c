/* safetensors_shards.c - see safetensors_shards.h. */
#include "safetensors_shards.h"

#include "errbuf.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_INDEX_BYTES (64u << 20)  /* Qwen2.5-72B's index is under 100 kB */
#define MAX_SHARDS 4096

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* A plain file name in the directory: never a path out of it. */
static int plain_name(const char *s)
{
    if (!*s || !strcmp(s, ".") || !strcmp(s, "..") || strlen(s) > 255) return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p == '/' || *p == '\\' || *p < 0x20 || *p == 0x7f) return 0;
    return 1;
}

static int add_file(safetensors_shards *s, const char *path, char *err, size_t errlen)
{
    safetensors_file **grown = realloc(s->files, (s->n + 1) * sizeof *grown);
    if (!grown) {
        errbuf_printf(err, errlen, "out of memory");
        return -1;
    }
    s->files = grown;
    if (safetensors_open(path, &s->files[s->n], err, errlen) != 0) return -1;
    s->n++;
    return 0;
}

/* Which of the opened shards (named shard_names[0..n)) is `name`, or -1. */
static int shard_index(const char *const *shard_names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(shard_names[i], name)) return (int)i;
    return -1;
}

static int open_index(const char *dir, safetensors_shards *s, char *err, size_t errlen)
{
    const char *index = s->label;
    struct stat st;
    if (stat(index, &st) != 0 || !S_ISREG(st.st_mode) || (unsigned long long)st.st_size > MAX_INDEX_BYTES) {
        errbuf_printf(err, errlen, "%s: not a regular file of at most %u bytes", index, MAX_INDEX_BYTES);
        return -1;
    }
    json_error_t jerr;
    json_t *root = json_load_file(index, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        errbuf_printf(err, errlen, "%s: bad JSON at line %d: %s", index, jerr.line, jerr.text);
        return -1;
    }
    json_t *map = json_object_get(root, "weight_map");
    int rc = -1;
    const char **names = NULL;  /* the shards, in order of first mention */
    size_t n_names = 0;
    if (!json_is_object(root) || !json_is_object(map) || json_object_size(map) == 0) {
        errbuf_printf(err, errlen, "%s: no weight_map object of tensor names and shard files", index);
        goto done;
    }
    const char *tensor;
    json_t *file;
    json_object_foreach(map, tensor, file) {
        const char *shard = json_string_value(file);
        if (!shard || !plain_name(shard)) {
            errbuf_printf(err, errlen, "%s: weight_map[\"%.80s\"] must be the name of a file in %s", index, tensor,
                          dir);
            goto done;
        }
        if (shard_index(names, n_names, shard) >= 0) continue;
        if (n_names == MAX_SHARDS) {
            errbuf_printf(err, errlen, "%s: more than %d shards", index, MAX_SHARDS);
            goto done;
        }
        const char **grown = realloc(names, (n_names + 1) * sizeof *grown);
        if (!grown) {
            errbuf_printf(err, errlen, "out of memory");
            goto done;
        }
        names = grown;
        names[n_names++] = shard;
        char *path = join(dir, shard);
        int opened = path && add_file(s, path, err, errlen) == 0;
        if (!path) errbuf_printf(err, errlen, "out of memory");
        free(path);
        if (!opened) goto done;
    }
    json_object_foreach(map, tensor, file) {
        int at = shard_index(names, n_names, json_string_value(file));
        if (!safetensors_find(s->files[at], tensor)) {
            errbuf_printf(err, errlen, "%s: tensor '%.80s' is not in %s, where weight_map puts it", index, tensor,
                          names[at]);
            goto done;
        }
    }
    for (size_t i = 0; i < s->n; i++)
        for (size_t k = 0; k < safetensors_count(s->files[i]); k++) {
            const char *name = safetensors_at(s->files[i], k)->name;
            const char *listed = json_string_value(json_object_get(map, name));
            if (!listed || strcmp(listed, names[i]) != 0) {
                errbuf_printf(err, errlen, "%s: tensor '%.80s' of %s is %s", index, name, names[i],
                              listed ? "listed in another shard" : "not in weight_map");
                goto done;
            }
        }
    rc = 0;
done:
    free(names);
    json_decref(root);
    return rc;
}

int safetensors_shards_open(const char *dir, safetensors_shards *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    char *single = join(dir, SAFETENSORS_SINGLE_FILE), *index = join(dir, SAFETENSORS_INDEX_FILE);
    int rc = -1;
    if (!single || !index) {
        errbuf_printf(err, errlen, "out of memory");
    } else if (is_file(single)) {
        out->label = single;
        single = NULL;
        rc = add_file(out, out->label, err, errlen);
    } else if (is_file(index)) {
        out->label = index;
        index = NULL;
        rc = open_index(dir, out, err, errlen);
    } else {
        errbuf_printf(err, errlen, "%s: not found, nor %s", single, SAFETENSORS_INDEX_FILE);
        rc = -2;
    }
    free(single);
    free(index);
    if (rc != 0) safetensors_shards_close(out);
    return rc;
}

void safetensors_shards_close(safetensors_shards *s)
{
    for (size_t i = 0; i < s->n; i++) safetensors_close(s->files[i]);
    free(s->files);
    free(s->label);
    memset(s, 0, sizeof *s);
}
