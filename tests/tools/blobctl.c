/* blobctl - the blob store from the command line, for the CLI tests:
 *
 *   blobctl put URL KEY FILE [CONTENT-TYPE]   prints the object's URL
 *   blobctl get URL KEY FILE                  writes the object to FILE
 *   blobctl delete URL KEY
 *
 * URL is a store (file:///dir, s3://bucket/prefix); S3 settings come from
 * the environment (blob_options_from_env: the variables and rules of the
 * worker's own S3 settings).
 * Exit status: 0 done, 2 usage or local file error, 3 unavailable,
 * 4 rejected, 5 not found; failures print "blobctl: STATUS: message". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blob.h"
#include "buf.h"

static int exit_code(blob_status st)
{
    switch (st) {
    case BLOB_OK: return 0;
    case BLOB_UNAVAILABLE: return 3;
    case BLOB_REJECTED: return 4;
    case BLOB_NOT_FOUND: return 5;
    }
    return 2;
}

static int fail(blob_status st, const char *err)
{
    fprintf(stderr, "blobctl: %s: %s\n", blob_status_name(st), err);
    return exit_code(st);
}

static int usage(void)
{
    fprintf(stderr, "usage: blobctl put URL KEY FILE [CONTENT-TYPE]\n"
                    "       blobctl get URL KEY FILE\n"
                    "       blobctl delete URL KEY\n");
    return 2;
}

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    buf data = BUF_INIT;
    if (buf_read_stream(&data, f, (size_t)-1 / 4) != 0) buf_free(&data);
    fclose(f);
    return (unsigned char *)buf_detach(&data, len);
}

static int write_file(const char *path, const unsigned char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t n = fwrite(data, 1, len, f);
    return fclose(f) == 0 && n == len ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc < 4) return usage();
    const char *cmd = argv[1], *url = argv[2], *key = argv[3];
    int is_put = strcmp(cmd, "put") == 0, is_get = strcmp(cmd, "get") == 0;
    int is_delete = strcmp(cmd, "delete") == 0;
    if (!((is_put && (argc == 5 || argc == 6)) || (is_get && argc == 5) || (is_delete && argc == 4)))
        return usage();

    char err[1024] = "";
    blob_store *store;
    blob_status st = blob_open(url, NULL, &store, err, sizeof err);
    if (st != BLOB_OK) return fail(st, err);

    int rc = 0;
    if (is_put) {
        size_t len;
        unsigned char *data = read_file(argv[4], &len);
        if (!data) {
            fprintf(stderr, "blobctl: cannot read %s: %s\n", argv[4], strerror(errno));
            rc = 2;
        } else {
            char object_url[BLOB_URL_MAX];
            st = blob_put(store, key, data, len, argc == 6 ? argv[5] : NULL, object_url,
                          sizeof object_url, err, sizeof err);
            if (st == BLOB_OK) printf("%s\n", object_url);
            else rc = fail(st, err);
            free(data);
        }
    } else if (is_get) {
        unsigned char *data;
        size_t len;
        st = blob_get(store, key, &data, &len, err, sizeof err);
        if (st != BLOB_OK) {
            rc = fail(st, err);
        } else {
            if (write_file(argv[4], data, len) != 0) {
                fprintf(stderr, "blobctl: cannot write %s: %s\n", argv[4], strerror(errno));
                rc = 2;
            }
            free(data);
        }
    } else {
        st = blob_delete(store, key, err, sizeof err);
        if (st != BLOB_OK) rc = fail(st, err);
    }
    blob_close(store);
    return rc;
}
