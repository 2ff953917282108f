/* sigv4.h - AWS Signature Version 4 for one HTTP request, computed here
 * with OpenSSL's SHA-256 and HMAC (not libcurl's CURLOPT_AWS_SIGV4, so that
 * the exact bytes signed are ours and testable against AWS's published
 * vectors; tests/unit/test_sigv4.c).
 *
 * The caller describes the request as it will be sent: method, unencoded
 * path and query, the headers to sign (Host and X-Amz-Date among them) and
 * the SHA-256 of the body. The signer builds the canonical request, the
 * string to sign and the Authorization header value. Paths are encoded the
 * way S3 wants them: once, '/' kept, no "." / ".." normalisation.
 *
 * Nothing here prints or stores a secret; derived keys are wiped after use. */
#ifndef JEN1_SIGV4_H
#define JEN1_SIGV4_H

#include <stddef.h>
#include <time.h>

/* A query parameter or a header: name and value, both unencoded. */
typedef struct sigv4_pair {
    const char *name;
    const char *value;
} sigv4_pair;

typedef struct sigv4_request {
    const char *method;           /* "PUT", "GET", ... */
    const char *path;             /* unencoded, starts with '/' */
    const sigv4_pair *query;      /* any order; the signer sorts them */
    size_t n_query;
    const sigv4_pair *headers;    /* every header to sign, names in any case;
                                     must hold host and x-amz-date */
    size_t n_headers;
    const char *payload_sha256;   /* lowercase hex SHA-256 of the body
                                     (util.h's sha256_hex) */
} sigv4_request;

typedef struct sigv4_credentials {
    const char *access_key;
    const char *secret_key;
    const char *region;           /* "us-east-1" */
    const char *service;          /* "s3" */
} sigv4_credentials;

/* Writes t as an X-Amz-Date value, "YYYYMMDDTHHMMSSZ" (UTC). */
void sigv4_amz_date(time_t t, char out[17]);

/* Percent-encodes s as SigV4 wants: the unreserved characters
 * A-Z a-z 0-9 - . _ ~ stay, every other byte becomes %XX (uppercase hex);
 * '/' stays when keep_slash is set (paths), else becomes %2F (query).
 * Writes at most outlen bytes including the NUL (out may be NULL when
 * outlen is 0) and returns the length the whole encoding needs, as
 * snprintf does. */
size_t sigv4_uri_encode(const char *s, int keep_slash, char *out, size_t outlen);

/* Builds the canonical request: method, encoded path, sorted encoded
 * query, canonical headers (lowercase names, sorted, values trimmed with
 * inner runs of spaces collapsed, repeated names joined with ','), the
 * signed header list and the payload hash. *out is malloc'd. Returns 0, or
 * -1 with a message (missing field, a header value holding CR or LF). */
int sigv4_canonical_request(const sigv4_request *req, char **out, char *err, size_t errlen);

/* The "AWS4-HMAC-SHA256" string to sign for a canonical request, with the
 * date taken from the request's x-amz-date header. *out is malloc'd.
 * Returns 0, or -1 with a message. */
int sigv4_string_to_sign(const sigv4_request *req, const sigv4_credentials *cred, char **out,
                         char *err, size_t errlen);

/* The Authorization header value:
 *   AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/s3/aws4_request,
 *   SignedHeaders=host;x-amz-date, Signature=<64 hex>
 * written into out (outlen bytes; 512 is always enough for a short access
 * key and few headers). Returns 0, or -1 with a message that names no
 * credential. */
int sigv4_authorization(const sigv4_request *req, const sigv4_credentials *cred, char *out,
                        size_t outlen, char *err, size_t errlen);

#endif
