/* blob.h - the blob store the worker writes audio to, named by a URL:
 *
 *   file:///var/lib/jen1/blobs   a directory on this machine (the default)
 *   s3://bucket/prefix           any S3-compatible store, one signed PUT
 *
 * Objects appear whole or not at all: on disk through a temporary file
 * renamed into place, on S3 through a single PUT whose body is checked by
 * the server (Content-MD5) and by us (the returned ETag).
 *
 * S3 settings (endpoint, region, credentials) come from the daemon's
 * configuration (worker/config.c: flags, the environment, a credentials file)
 * or, for tools, from the environment alone (blob_options_from_env); never
 * from a job. Either way they are checked by blob_options_set, and no message
 * written here ever holds a credential or the endpoint.
 *
 * A blob_store serves one thread at a time; open one per process (not
 * before a fork) or per thread. */
#ifndef JEN1_BLOB_H
#define JEN1_BLOB_H

#include <stddef.h>

typedef enum {
    BLOB_OK = 0,
    /* Transient: worth retrying later (connection refused or timed out,
     * HTTP 5xx, disk full, directory missing, read-only or not writable). */
    BLOB_UNAVAILABLE,
    /* Permanent: retrying the same thing fails the same way (bad URL or key,
     * S3 refused the credentials, other HTTP 4xx). */
    BLOB_REJECTED,
    /* blob_get: no object has this key. */
    BLOB_NOT_FOUND,
} blob_status;

/* "ok", "unavailable", "rejected", "not_found". */
const char *blob_status_name(blob_status status);

/* Keys are [A-Za-z0-9_.-]{1,BLOB_KEY_MAX}, not "." or "..": no '/', so a
 * key names an object directly inside the store's directory or prefix and
 * nowhere else. The worker's keys are "<job-id>.<ext>". */
#define BLOB_KEY_MAX 200

/* Every URL of an object is shorter than this: a url_out of BLOB_URL_MAX
 * bytes always suffices. */
#define BLOB_URL_MAX 2048

/* Returns 1 when key is valid, else 0 with the reason in err. */
int blob_key_valid(const char *key, char *err, size_t errlen);

/* How an s3:// store is reached. Strings are empty when unset. */
typedef struct blob_options {
    char s3_endpoint[512];      /* "http://127.0.0.1:4569"; empty: https://s3.<region>.amazonaws.com */
    char s3_region[64];         /* empty: us-east-1 */
    char s3_access_key[256];
    char s3_secret_key[256];
    char s3_session_token[4096];
    int s3_path_style;          /* 1 http://endpoint/bucket/key, 0 http://bucket.endpoint/key,
                                   -1 (default): path style exactly when an endpoint is set */
    long connect_timeout_ms;    /* default 10000 */
    long timeout_ms;            /* a whole request, default 300000 */
} blob_options;

/* Fills o with the defaults above and no credentials. */
void blob_options_init(blob_options *o);

/* The settings of a blob_options that blob_options_set reads from text. */
typedef enum blob_setting {
    BLOB_S3_ENDPOINT,          /* http(s)://host[:port] */
    BLOB_S3_REGION,            /* lowercase letters, digits and '-' */
    BLOB_S3_ACCESS_KEY,
    BLOB_S3_SECRET_KEY,
    BLOB_S3_SESSION_TOKEN,
    BLOB_S3_PATH_STYLE,        /* 0 or 1 (false or true) */
    BLOB_CONNECT_TIMEOUT_MS,   /* 1 to 86400000 */
    BLOB_TIMEOUT_MS,           /* 1 to 86400000 */
} blob_setting;

/* Sets one setting of o from its text, checked against the rule above; ""
 * restores its default. `name` is what the value is called where it came
 * from (a variable, a flag): a message starts with it and never holds the
 * value. Returns BLOB_OK, or BLOB_REJECTED with o unchanged. */
blob_status blob_options_set(blob_options *o, blob_setting which, const char *value, const char *name,
                             char *err, size_t errlen);

/* Reads o's access key, secret key and (when present) session token from
 * `profile` of the AWS shared-credentials file at path ("[name]" or
 * "[profile name]" sections; aws_access_key_id, aws_secret_access_key,
 * aws_session_token). `name` is what the path is called where it came from.
 * Returns BLOB_REJECTED, naming the file and profile but no value, when the
 * file is unreadable or the profile missing or incomplete. */
blob_status blob_options_read_credentials(blob_options *o, const char *path, const char *profile,
                                          const char *name, char *err, size_t errlen);

/* For tools and tests (the daemon reads these through its configuration):
 * blob_options_init, then the environment, each value through
 * blob_options_set:
 *   JEN1_S3_ENDPOINT, AWS_REGION (else AWS_DEFAULT_REGION),
 *   AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN), or when
 *   those are unset the file named by JEN1_S3_CREDENTIALS_FILE
 *   (blob_options_read_credentials, profile AWS_PROFILE, else "default"),
 *   JEN1_S3_PATH_STYLE, JEN1_S3_CONNECT_TIMEOUT_MS, JEN1_S3_TIMEOUT_MS.
 * An empty variable counts as unset. Nothing is required here (a file://
 * store needs none of it); blob_open says what an s3:// store lacks. Returns
 * BLOB_OK, or BLOB_REJECTED (o cleared) with a message that names variables
 * and files but never a value. */
blob_status blob_options_from_env(blob_options *o, char *err, size_t errlen);

/* Overwrites the credentials in o (call when done with it). */
void blob_options_clear(blob_options *o);

typedef struct blob_store blob_store;

/* Opens the store `url` names. options may be NULL: then they are read
 * with blob_options_from_env. A file:// store's directory is created when
 * missing, and temporaries left by dead processes are removed; an s3://
 * store makes no request until the first put. Returns BLOB_OK with *out
 * set, BLOB_REJECTED for a malformed URL (or one too long to leave room for
 * keys within BLOB_URL_MAX) or missing credentials, or
 * BLOB_UNAVAILABLE when the directory cannot be created. */
blob_status blob_open(const char *url, const blob_options *options, blob_store **out, char *err,
                      size_t errlen);

/* The URL the store was opened with, without a trailing '/'. */
const char *blob_store_url(const blob_store *store);

/* Writes the URL of `key` ("file:///abs/dir/key", "s3://bucket/prefix/key")
 * into out. Returns 0, or -1 when key is invalid or out too small. */
int blob_url(const blob_store *store, const char *key, char *out, size_t outlen);

/* Stores len bytes under key, replacing any object of that name atomically
 * (a reader sees the old object or the new one, whole). content_type (may
 * be NULL: application/octet-stream) is sent to S3. On BLOB_OK the object's
 * URL is written to url_out when it is not NULL. Nothing partial is left
 * behind on failure. */
blob_status blob_put(blob_store *store, const char *key, const void *data, size_t len,
                     const char *content_type, char *url_out, size_t url_len, char *err,
                     size_t errlen);

/* Reads the object `key` into a malloc'd buffer (*data, *len; free it).
 * Returns BLOB_NOT_FOUND when there is none. */
blob_status blob_get(blob_store *store, const char *key, unsigned char **data, size_t *len,
                     char *err, size_t errlen);

/* Removes the object `key`; BLOB_OK also when there was none. */
blob_status blob_delete(blob_store *store, const char *key, char *err, size_t errlen);

/* Releases the store and wipes its credentials. NULL is allowed. */
void blob_close(blob_store *store);

#endif
