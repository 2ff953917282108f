/* blob.c - the blob store's front: URL parsing, key validation, and the
 * dispatch to the file and S3 backends (blob_backend.h). */
#include "errbuf.h"
#include "blob.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blob_backend.h"
#include "sigv4.h"
#include "protocol.h"

struct blob_store {
    const blob_backend *backend;
    void *impl;
    char *url; /* canonical, no trailing '/' */
};

const char *blob_status_name(blob_status status)
{
    switch (status) {
    case BLOB_OK: return "ok";
    case BLOB_UNAVAILABLE: return "unavailable";
    case BLOB_REJECTED: return "rejected";
    case BLOB_NOT_FOUND: return "not_found";
    }
    return "unknown";
}

/* A key, or one segment of an S3 prefix: the characters of a job id
 * (protocol.h), 1 to max of them, not "." or "..". */
static int valid_name(const char *s, size_t max, const char *what, char *err, size_t errlen)
{
    if (!s || !*s) {
        errbuf_printf(err, errlen, "%s is empty", what);
        return 0;
    }
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++, n++) {
        if (n >= max) {
            errbuf_printf(err, errlen, "%s is longer than %zu characters", what, max);
            return 0;
        }
        if (!protocol_id_char(*p)) {
            if (*p > ' ' && *p < 127)
                errbuf_printf(err, errlen, "%s '%.*s' holds '%c' (allowed: letters, digits, '_', '.', '-')",
                             what, (int)(n < 64 ? n + 1 : 64), s, *p);
            else
                errbuf_printf(err, errlen,
                             "%s holds the byte 0x%02x (allowed: letters, digits, '_', '.', '-')", what, *p);
            return 0;
        }
    }
    if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0) {
        errbuf_printf(err, errlen, "%s may not be '%s'", what, s);
        return 0;
    }
    return 1;
}

int blob_key_valid(const char *key, char *err, size_t errlen)
{
    return valid_name(key, BLOB_KEY_MAX, "blob key", err, errlen);
}

/* --- file:// ------------------------------------------------------------ */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* "file:///a/b%20c/" -> "/a/b c" (malloc'd), or NULL with a message. */
static char *file_url_path(const char *url, char *err, size_t errlen)
{
    const char *p = url + strlen("file://");
    if (strncmp(p, "localhost/", 10) == 0) p += strlen("localhost");
    if (*p != '/') {
        errbuf_printf(err, errlen, "blob URL '%s': a file URL needs an absolute path (file:///dir)", url);
        return NULL;
    }
    char *path = malloc(strlen(p) + 1);
    if (!path) {
        errbuf_printf(err, errlen, "out of memory");
        return NULL;
    }
    size_t n = 0;
    for (; *p; p++) {
        if (*p == '?' || *p == '#') {
            errbuf_printf(err, errlen, "blob URL '%s': a file URL takes no query or fragment", url);
            free(path);
            return NULL;
        }
        if (*p == '%') {
            int hi = hex_value(p[1]), lo = hi < 0 ? -1 : hex_value(p[2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                errbuf_printf(err, errlen, "blob URL '%s': bad percent-escape", url);
                free(path);
                return NULL;
            }
            path[n++] = (char)(hi * 16 + lo);
            p += 2;
        } else {
            path[n++] = *p;
        }
    }
    while (n > 1 && path[n - 1] == '/') n--;
    path[n] = '\0';
    if (strcmp(path, "/") == 0) {
        errbuf_printf(err, errlen, "blob URL '%s' names the root directory", url);
        free(path);
        return NULL;
    }
    return path;
}

/* "file://" + the path percent-encoded (malloc'd). */
static char *file_url_of(const char *path)
{
    size_t need = sigv4_uri_encode(path, 1, NULL, 0);
    char *url = malloc(strlen("file://") + need + 1);
    if (!url) return NULL;
    strcpy(url, "file://");
    sigv4_uri_encode(path, 1, url + strlen("file://"), need + 1);
    return url;
}

static blob_status open_file_store(const char *url, blob_store *store, char *err, size_t errlen)
{
    char *path = file_url_path(url, err, errlen);
    if (!path) return BLOB_REJECTED;
    store->url = file_url_of(path);
    blob_status st = store->url ? blob_file_open(path, &store->backend, &store->impl, err, errlen)
                                : BLOB_UNAVAILABLE;
    if (!store->url) errbuf_printf(err, errlen, "out of memory");
    free(path);
    return st;
}

/* --- s3:// -------------------------------------------------------------- */

/* S3's bucket naming rule: 3-63 of a-z 0-9 . -, starting and ending with a
 * letter or digit. */
static int valid_bucket(const char *b, size_t n)
{
    if (n < 3 || n > 63) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = b[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && c != '.' && c != '-') return 0;
        if ((i == 0 || i == n - 1) && !alnum) return 0;
    }
    return 1;
}

static blob_status open_s3_store(const char *url, const blob_options *options, blob_store *store,
                                 char *err, size_t errlen)
{
    const char *p = url + strlen("s3://");
    size_t bucket_len = strcspn(p, "/");
    if (!valid_bucket(p, bucket_len)) {
        errbuf_printf(err, errlen,
                     "blob URL '%s': the bucket must be 3-63 of a-z, 0-9, '.', '-' (s3://bucket/prefix)",
                     url);
        return BLOB_REJECTED;
    }
    char bucket[64];
    memcpy(bucket, p, bucket_len);
    bucket[bucket_len] = '\0';

    const char *rest = p[bucket_len] == '/' ? p + bucket_len + 1 : "";
    char *prefix = strdup(rest);
    if (!prefix) {
        errbuf_printf(err, errlen, "out of memory");
        return BLOB_UNAVAILABLE;
    }
    size_t n = strlen(prefix);
    if (n > 0 && prefix[n - 1] == '/') prefix[--n] = '\0';
    if (n > 512) {
        errbuf_printf(err, errlen, "blob URL '%.64s...': the prefix is longer than 512 characters", url);
        free(prefix);
        return BLOB_REJECTED;
    }

    /* Every prefix segment follows the key rule: no "..", no empty segment. */
    char *copy = strdup(prefix), *save = NULL, msg[256];
    int ok = copy != NULL;
    if (ok && n > 0) {
        if (prefix[0] == '/' || strstr(prefix, "//")) {
            snprintf(msg, sizeof msg, "an empty segment");
            ok = 0;
        }
        for (char *seg = strtok_r(copy, "/", &save); ok && seg; seg = strtok_r(NULL, "/", &save))
            ok = valid_name(seg, 128, "a prefix segment", msg, sizeof msg);
    }
    free(copy);
    if (!ok) {
        errbuf_printf(err, errlen, "blob URL '%s': bad prefix: %s", url, msg);
        free(prefix);
        return BLOB_REJECTED;
    }

    store->url = malloc(strlen("s3://") + bucket_len + 1 + n + 1);
    if (!store->url) {
        free(prefix);
        errbuf_printf(err, errlen, "out of memory");
        return BLOB_UNAVAILABLE;
    }
    sprintf(store->url, "s3://%s%s%s", bucket, n ? "/" : "", prefix);
    blob_status st = blob_s3_open(bucket, prefix, options, &store->backend, &store->impl, err, errlen);
    free(prefix);
    return st;
}

/* --- the store ---------------------------------------------------------- */

blob_status blob_open(const char *url, const blob_options *options, blob_store **out, char *err,
                      size_t errlen)
{
    *out = NULL;
    if (!url || !*url) {
        errbuf_printf(err, errlen, "no blob URL (file:///dir or s3://bucket/prefix)");
        return BLOB_REJECTED;
    }
    blob_store *store = calloc(1, sizeof *store);
    if (!store) {
        errbuf_printf(err, errlen, "out of memory");
        return BLOB_UNAVAILABLE;
    }
    blob_status st;
    if (strlen(url) > BLOB_URL_MAX - BLOB_KEY_MAX - 2) {
        errbuf_printf(err, errlen, "blob URL '%.64s...' is longer than %d characters", url,
                     BLOB_URL_MAX - BLOB_KEY_MAX - 2);
        st = BLOB_REJECTED;
    } else if (strncmp(url, "file://", 7) == 0) {
        st = open_file_store(url, store, err, errlen);
    } else if (strncmp(url, "s3://", 5) == 0) {
        blob_options env;
        st = BLOB_OK;
        if (!options) {
            st = blob_options_from_env(&env, err, errlen);
            options = &env;
        }
        if (st == BLOB_OK) st = open_s3_store(url, options, store, err, errlen);
        if (options == &env) blob_options_clear(&env);
    } else {
        errbuf_printf(err, errlen, "blob URL '%.200s': expected file:///dir or s3://bucket/prefix", url);
        st = BLOB_REJECTED;
    }
    /* Percent-encoding can lengthen a file URL past the limit checked above. */
    if (st == BLOB_OK && strlen(store->url) > BLOB_URL_MAX - BLOB_KEY_MAX - 2) {
        errbuf_printf(err, errlen, "blob URL '%.64s...' is longer than %d characters once encoded",
                     url, BLOB_URL_MAX - BLOB_KEY_MAX - 2);
        store->backend->close(store->impl);
        st = BLOB_REJECTED;
    }
    if (st != BLOB_OK) {
        free(store->url);
        free(store);
        return st;
    }
    *out = store;
    return BLOB_OK;
}

const char *blob_store_url(const blob_store *store)
{
    return store->url;
}

int blob_url(const blob_store *store, const char *key, char *out, size_t outlen)
{
    if (!blob_key_valid(key, NULL, 0)) return -1;
    int n = snprintf(out, outlen, "%s/%s", store->url, key);
    return n >= 0 && (size_t)n < outlen ? 0 : -1;
}

/* The object's URL for messages, or the rejection of a bad key. */
static blob_status object_url(const blob_store *store, const char *key, char *where, size_t len,
                              char *err, size_t errlen)
{
    char why[160];
    if (!blob_key_valid(key, why, sizeof why)) {
        errbuf_printf(err, errlen, "blob store %s: %s", store->url, why);
        return BLOB_REJECTED;
    }
    snprintf(where, len, "%s/%s", store->url, key);
    return BLOB_OK;
}

blob_status blob_put(blob_store *store, const char *key, const void *data, size_t len,
                     const char *content_type, char *url_out, size_t url_len, char *err,
                     size_t errlen)
{
    char where[BLOB_URL_MAX];
    blob_status st = object_url(store, key, where, sizeof where, err, errlen);
    if (st != BLOB_OK) return st;
    if (!data && len > 0) {
        errbuf_printf(err, errlen, "%s: no data", where);
        return BLOB_REJECTED;
    }
    if (url_out && strlen(where) >= url_len) {
        errbuf_printf(err, errlen, "%s: the URL buffer holds %zu bytes", where, url_len);
        return BLOB_REJECTED;
    }
    st = store->backend->put(store->impl, key, where, data ? data : "", len,
                             content_type ? content_type : "application/octet-stream", err, errlen);
    if (st == BLOB_OK && url_out) snprintf(url_out, url_len, "%s", where);
    return st;
}

blob_status blob_get(blob_store *store, const char *key, unsigned char **data, size_t *len,
                     char *err, size_t errlen)
{
    *data = NULL;
    *len = 0;
    char where[BLOB_URL_MAX];
    blob_status st = object_url(store, key, where, sizeof where, err, errlen);
    if (st != BLOB_OK) return st;
    return store->backend->get(store->impl, key, where, data, len, err, errlen);
}

blob_status blob_delete(blob_store *store, const char *key, char *err, size_t errlen)
{
    char where[BLOB_URL_MAX];
    blob_status st = object_url(store, key, where, sizeof where, err, errlen);
    if (st != BLOB_OK) return st;
    return store->backend->remove(store->impl, key, where, err, errlen);
}

void blob_close(blob_store *store)
{
    if (!store) return;
    if (store->backend) store->backend->close(store->impl);
    free(store->url);
    free(store);
}
