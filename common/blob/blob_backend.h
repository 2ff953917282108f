/* blob_backend.h - what blob.c dispatches to: one implementation per URL
 * scheme (blob_file.c, blob_s3.c). Internal to the blob module. Keys reach
 * a backend already validated (blob_key_valid). */
#ifndef JEN1_BLOB_BACKEND_H
#define JEN1_BLOB_BACKEND_H

#include <stddef.h>

#include "blob.h"

typedef struct blob_backend {
    /* `where` names the object in messages ("file:///dir/key", "s3://b/p/key"). */
    blob_status (*put)(void *impl, const char *key, const char *where, const void *data, size_t len,
                       const char *content_type, char *err, size_t errlen);
    blob_status (*get)(void *impl, const char *key, const char *where, unsigned char **data,
                       size_t *len, char *err, size_t errlen);
    blob_status (*remove)(void *impl, const char *key, const char *where, char *err, size_t errlen);
    void (*close)(void *impl);
} blob_backend;

/* The rules of two S3 settings, shared by blob_options_set and blob_s3.c;
 * a message starts with `name` and never holds the value. An endpoint is
 * http:// or https://, a host[:port] shorter than BLOB_S3_AUTHORITY_MAX of
 * letters, digits and . - : [ ], then nothing or "/". A region is empty or
 * lowercase letters, digits and '-'. */
#define BLOB_S3_AUTHORITY_MAX 256
blob_status blob_s3_endpoint_check(const char *endpoint, const char *name, char *err, size_t errlen);
blob_status blob_s3_region_check(const char *region, const char *name, char *err, size_t errlen);

/* Opens the directory store at the absolute path dir (created when missing). */
blob_status blob_file_open(const char *dir, const blob_backend **backend, void **impl, char *err,
                           size_t errlen);

/* Opens the S3 store for bucket and prefix ("" or "a/b", no leading or
 * trailing '/'). */
blob_status blob_s3_open(const char *bucket, const char *prefix, const blob_options *options,
                         const blob_backend **backend, void **impl, char *err, size_t errlen);

#endif
