/* blob_s3.c - the s3:// blob store: objects in a bucket of any
 * S3-compatible service, one libcurl request each, signed with sigv4.c.
 *
 * A put is a single PUT (S3 stores it whole or not at all) carrying
 * Content-MD5 and the payload's SHA-256, so the server refuses a body
 * damaged on the way; the ETag it answers must be the body's MD5 too, which
 * catches a server that stored something else. (Buckets encrypting with
 * SSE-KMS answer other ETags: not supported.)
 *
 * Messages name the object (s3://bucket/prefix/key) and S3's error code and
 * text, never the endpoint or a credential: every message is scrubbed of
 * them before it is returned, in case a server echoes one. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "blob_backend.h"
#include "buf.h"
#include "errbuf.h"
#include "sigv4.h"
#include "util.h"

/* Error replies are short XML documents; more is not an S3 error. */
#define ERROR_BODY_LIMIT (64 * 1024)
#define OBJECT_BODY_LIMIT ((size_t)2 << 30)

typedef struct s3_store {
    blob_options opt;        /* credentials, timeouts */
    char bucket[64];
    char *prefix;            /* "" or "a/b" */
    int https;
    char authority[BLOB_S3_AUTHORITY_MAX]; /* the endpoint's host[:port] */
    int path_style;
    CURL *curl;              /* kept between requests: its connection is reused */
} s3_store;

/* --- the endpoint ------------------------------------------------------- */

/* "http(s)://host[:port][/]" -> https flag and authority. No message holds
 * the endpoint itself. */
static blob_status parse_endpoint(s3_store *s, const char *endpoint, char *err, size_t errlen)
{
    if (blob_s3_endpoint_check(endpoint, "JEN1_S3_ENDPOINT", err, errlen) != BLOB_OK) return BLOB_REJECTED;
    s->https = strncmp(endpoint, "https://", 8) == 0;
    const char *rest = endpoint + (s->https ? 8 : 7);
    size_t n = strcspn(rest, "/");
    memcpy(s->authority, rest, n);
    s->authority[n] = '\0';
    return BLOB_OK;
}

/* --- messages ----------------------------------------------------------- */

/* Overwrites every occurrence of secret in buf[0..len) with '*'. */
static void mask(char *buf, size_t len, const char *secret)
{
    size_t n = strlen(secret);
    if (!buf || n == 0) return;
    char *hit, *p = buf;
    while ((hit = memmem(p, len - (size_t)(p - buf), secret, n)) != NULL) {
        memset(hit, '*', n);
        p = hit + n;
    }
}

/* Masks the credentials and the endpoint in text[0..len). */
static void mask_settings(const s3_store *s, char *text, size_t len)
{
    mask(text, len, s->opt.s3_secret_key);
    mask(text, len, s->opt.s3_access_key);
    mask(text, len, s->opt.s3_session_token);
    mask(text, len, s->authority);
}

static void scrub_settings(const s3_store *s, char *err, size_t errlen)
{
    if (err && errlen) mask_settings(s, err, strlen(err));
}

/* The text of <tag>...</tag> in an S3 error document, printable ASCII only. */
static void xml_field(const char *body, size_t len, const char *tag, char *out, size_t outlen)
{
    out[0] = '\0';
    char open[64], close[64];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    const char *start = memmem(body, len, open, strlen(open));
    if (!start) return;
    start += strlen(open);
    const char *end = memmem(start, len - (size_t)(start - body), close, strlen(close));
    if (!end) return;
    size_t n = 0;
    for (const char *p = start; p < end && n + 1 < outlen; p++)
        out[n++] = *p >= ' ' && *p < 127 ? *p : '?';
    out[n] = '\0';
}

/* --- one request -------------------------------------------------------- */

typedef struct upload {
    const unsigned char *data;
    size_t len, off;
} upload;

typedef struct reply {
    long status;
    char etag[128];
    buf body;
    size_t limit;
    int too_large;
} reply;

static size_t read_body(char *dest, size_t size, size_t nitems, void *userdata)
{
    upload *u = userdata;
    size_t n = size * nitems, left = u->len - u->off;
    if (n > left) n = left;
    memcpy(dest, u->data + u->off, n);
    u->off += n;
    return n;
}

/* curl rewinds when it resends on a connection that turned out closed. */
static int seek_body(void *userdata, curl_off_t offset, int origin)
{
    upload *u = userdata;
    if (origin != SEEK_SET || offset < 0 || (size_t)offset > u->len) return CURL_SEEKFUNC_FAIL;
    u->off = (size_t)offset;
    return CURL_SEEKFUNC_OK;
}

static size_t write_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    reply *r = userdata;
    size_t n = size * nmemb;
    if (r->body.len + n > r->limit) {
        r->too_large = 1;
        return 0;
    }
    return buf_append(&r->body, data, n) == 0 ? n : 0;
}

static size_t read_header(char *line, size_t size, size_t nitems, void *userdata)
{
    reply *r = userdata;
    size_t n = size * nitems;
    if (n > 5 && strncasecmp(line, "ETag:", 5) == 0) {
        const char *v = line + 5, *end = line + n;
        while (v < end && (*v == ' ' || *v == '\t' || *v == '"')) v++;
        while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '"')) end--;
        size_t k = (size_t)(end - v) < sizeof r->etag ? (size_t)(end - v) : sizeof r->etag - 1;
        memcpy(r->etag, v, k);
        r->etag[k] = '\0';
    }
    return n;
}

static void md5(const void *data, size_t len, unsigned char digest[16])
{
    unsigned int n = 16;
    EVP_Digest(data, len, digest, &n, EVP_md5(), NULL);
}

static void md5_hex(const void *data, size_t len, char hex[33])
{
    unsigned char d[16];
    md5(data, len, d);
    hex_encode(d, 16, hex);
}

/* "prefix/key" or "key" (malloc'd). */
static char *object_name(const s3_store *s, const char *key)
{
    size_t n = strlen(s->prefix) + 1 + strlen(key) + 1;
    char *name = malloc(n);
    if (name) snprintf(name, n, "%s%s%s", s->prefix, *s->prefix ? "/" : "", key);
    return name;
}

static struct curl_slist *add_header(struct curl_slist *list, const char *name, const char *value,
                                     int *failed)
{
    size_t n = strlen(name) + 2 + strlen(value) + 1;
    char *line = malloc(n);
    struct curl_slist *grown = NULL;
    if (line) {
        snprintf(line, n, "%s: %s", name, value);
        grown = curl_slist_append(list, line);
        OPENSSL_cleanse(line, n);
        free(line);
    }
    if (!grown) {
        *failed = 1;
        return list;
    }
    return grown;
}

/* A header list as curl wants it, from the signed pairs plus Authorization. */
static struct curl_slist *request_headers(const sigv4_pair *signed_headers, size_t n,
                                          const char *authorization)
{
    struct curl_slist *list = NULL;
    int failed = 0;
    for (size_t i = 0; i < n; i++)
        list = add_header(list, signed_headers[i].name, signed_headers[i].value, &failed);
    list = add_header(list, "Authorization", authorization, &failed);
    /* No "Expect: 100-continue" round trip before a large body. */
    if (!failed) {
        struct curl_slist *grown = curl_slist_append(list, "Expect:");
        if (grown) list = grown;
        else failed = 1;
    }
    if (failed) {
        curl_slist_free_all(list);
        return NULL;
    }
    return list;
}

/* One request, signed and ready for curl. The header values point into
 * this struct, so it is not copied once filled. */
typedef struct prepared {
    char host[BLOB_S3_AUTHORITY_MAX + 64]; /* bucket. + authority */
    char path[2048];   /* unencoded: "/bucket/prefix/key" or "/prefix/key" */
    char amz_date[17], payload_sha256[65], md5_base64[32];
    sigv4_pair headers[6];
    size_t n_headers;
    struct curl_slist *curl_headers;
    char *url;
} prepared;

static void prepared_free(prepared *p)
{
    curl_slist_free_all(p->curl_headers);
    free(p->url);
}

/* Fills p for `method` on the object `key`: the signed headers, curl's
 * header list with Authorization, and the URL. Returns BLOB_OK, or
 * BLOB_REJECTED when the request cannot be signed (a line break in the
 * content type), BLOB_UNAVAILABLE when memory ran out; the reason (no
 * credential in it) goes to why. */
static blob_status prepare(const s3_store *s, const char *method, const char *key, const void *body,
                           size_t len, const char *content_type, prepared *p, char *why,
                           size_t whylen)
{
    memset(p, 0, sizeof *p);
    char *name = object_name(s, key);
    if (!name) {
        snprintf(why, whylen, "out of memory");
        return BLOB_UNAVAILABLE;
    }
    /* Path style: http://endpoint/bucket/name; else http://bucket.endpoint/name. */
    if (s->path_style) {
        snprintf(p->host, sizeof p->host, "%s", s->authority);
        snprintf(p->path, sizeof p->path, "/%s/%s", s->bucket, name);
    } else {
        snprintf(p->host, sizeof p->host, "%s.%s", s->bucket, s->authority);
        snprintf(p->path, sizeof p->path, "/%s", name);
    }
    free(name);

    sigv4_amz_date(time(NULL), p->amz_date);
    sha256_hex(body, len, p->payload_sha256);
    size_t n = 0;
    p->headers[n++] = (sigv4_pair){"Host", p->host};
    p->headers[n++] = (sigv4_pair){"X-Amz-Date", p->amz_date};
    p->headers[n++] = (sigv4_pair){"X-Amz-Content-SHA256", p->payload_sha256};
    if (strcmp(method, "PUT") == 0) {
        unsigned char digest[16];
        md5(body, len, digest);
        EVP_EncodeBlock((unsigned char *)p->md5_base64, digest, 16);
        p->headers[n++] = (sigv4_pair){"Content-MD5", p->md5_base64};
        p->headers[n++] = (sigv4_pair){"Content-Type", content_type};
    }
    if (s->opt.s3_session_token[0])
        p->headers[n++] = (sigv4_pair){"X-Amz-Security-Token", s->opt.s3_session_token};
    p->n_headers = n;

    const char *region = s->opt.s3_region[0] ? s->opt.s3_region : "us-east-1";
    sigv4_credentials cred = {s->opt.s3_access_key, s->opt.s3_secret_key, region, "s3"};
    sigv4_request req = {method, p->path, NULL, 0, p->headers, n, p->payload_sha256};
    char authorization[1024];
    if (sigv4_authorization(&req, &cred, authorization, sizeof authorization, why, whylen) != 0)
        return BLOB_REJECTED;
    p->curl_headers = request_headers(p->headers, n, authorization);
    OPENSSL_cleanse(authorization, sizeof authorization);

    /* The URL carries the path exactly as it was signed. */
    size_t encoded_len = sigv4_uri_encode(p->path, 1, NULL, 0);
    size_t url_len = strlen("https://") + strlen(p->host) + encoded_len + 1;
    p->url = malloc(url_len);
    if (!p->curl_headers || !p->url) {
        prepared_free(p);
        snprintf(why, whylen, "out of memory");
        return BLOB_UNAVAILABLE;
    }
    int k = snprintf(p->url, url_len, "%s://%s", s->https ? "https" : "http", p->host);
    sigv4_uri_encode(p->path, 1, p->url + k, url_len - (size_t)k);
    return BLOB_OK;
}

static CURLcode perform(s3_store *s, const char *method, const prepared *p, const void *body,
                        size_t len, reply *r)
{
    upload u = {body, len, 0};
    CURL *c = s->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, p->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, s->opt.connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, s->opt.timeout_ms);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, p->curl_headers);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, read_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    if (strcmp(method, "PUT") == 0) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, read_body);
        curl_easy_setopt(c, CURLOPT_READDATA, &u);
        curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, seek_body);
        curl_easy_setopt(c, CURLOPT_SEEKDATA, &u);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    /* The handle outlives the header list and the upload. */
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c, CURLOPT_READDATA, NULL);
    curl_easy_setopt(c, CURLOPT_SEEKDATA, NULL);
    return rc;
}

/* The status and message for a request that got no HTTP answer. curl's
 * own texts are used, not its error buffer: that one names the host. */
static blob_status transfer_failure(CURLcode rc, const reply *r, const char *method,
                                    const char *where, char *err, size_t errlen)
{
    if (r->too_large) {
        errbuf_printf(err, errlen, "S3 %s %s: the answer is larger than %zu bytes", method, where, r->limit);
        return BLOB_REJECTED;
    }
    const char *what = "the request to the S3 endpoint failed";
    if (rc == CURLE_OPERATION_TIMEDOUT)
        what = "no answer within the time limit";
    else if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST)
        what = "cannot reach the S3 endpoint";
    errbuf_printf(err, errlen, "S3 %s %s: %s: %s", method, where, what, curl_easy_strerror(rc));
    return rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL ? BLOB_REJECTED
                                                                           : BLOB_UNAVAILABLE;
}

/* Sends one signed request for the object `key`; fills r. Returns BLOB_OK
 * when an HTTP answer arrived (whatever its status), else the failure. */
static blob_status send_request(s3_store *s, const char *method, const char *key, const char *where,
                                const void *body, size_t len, const char *content_type, reply *r,
                                char *err, size_t errlen)
{
    prepared p;
    char why[256];
    blob_status st = prepare(s, method, key, body, len, content_type, &p, why, sizeof why);
    if (st != BLOB_OK) {
        errbuf_printf(err, errlen, "S3 %s %s: cannot prepare the request: %s", method, where, why);
        return st;
    }
    CURLcode rc = perform(s, method, &p, body, len, r);
    prepared_free(&p);
    return rc == CURLE_OK ? BLOB_OK : transfer_failure(rc, r, method, where, err, errlen);
}

/* The status and message for an HTTP answer that is not a success. The
 * error document is masked first: servers echo request fields in it. */
static blob_status http_failure(const s3_store *s, reply *r, const char *method, const char *where,
                                char *err, size_t errlen)
{
    mask_settings(s, r->body.data, r->body.len);
    char code[64], message[256];
    xml_field(r->body.data, r->body.len, "Code", code, sizeof code);
    xml_field(r->body.data, r->body.len, "Message", message, sizeof message);
    char detail[340];
    if (code[0])
        snprintf(detail, sizeof detail, " (%s%s%s)", code, message[0] ? ": " : "", message);
    else
        detail[0] = '\0';

    static const char *const credential_codes[] = {
        "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken",
        "TokenRefreshRequired", "InvalidSecurity", "AuthorizationHeaderMalformed",
    };
    int credentials = 0;
    for (size_t i = 0; i < sizeof credential_codes / sizeof credential_codes[0]; i++)
        credentials |= strcmp(code, credential_codes[i]) == 0;

    /* S3 asks for a retry with these even though some are 4xx. */
    int transient = r->status >= 500 || r->status == 408 || r->status == 429 ||
                    strcmp(code, "RequestTimeout") == 0 || strcmp(code, "BadDigest") == 0 ||
                    strcmp(code, "SlowDown") == 0;

    const char *what;
    if (credentials) what = "S3 refused the credentials";
    else if (r->status == 403) what = "S3 denied access";
    else if (strcmp(code, "NoSuchBucket") == 0) what = "the bucket does not exist";
    else if (transient) what = "S3 is unavailable";
    else what = "S3 refused the request";
    errbuf_printf(err, errlen, "S3 %s %s: %s: HTTP %ld%s", method, where, what, r->status, detail);
    return transient ? BLOB_UNAVAILABLE : BLOB_REJECTED;
}

/* --- the backend -------------------------------------------------------- */

static blob_status s3_put(void *impl, const char *key, const char *where, const void *data,
                          size_t len, const char *content_type, char *err, size_t errlen)
{
    s3_store *s = impl;
    reply r = {.limit = ERROR_BODY_LIMIT};
    blob_status st = send_request(s, "PUT", key, where, data, len, content_type, &r, err, errlen);
    if (st == BLOB_OK && (r.status < 200 || r.status > 299)) {
        st = http_failure(s, &r, "PUT", where, err, errlen);
    } else if (st == BLOB_OK) {
        char expected[33];
        md5_hex(data, len, expected);
        if (strcasecmp(r.etag, expected) != 0) {
            errbuf_printf(err, errlen,
                         "S3 PUT %s: the stored object's ETag '%.40s' is not the MD5 of what was sent (%s)",
                         where, r.etag, expected);
            st = BLOB_UNAVAILABLE;
        }
    }
    buf_free(&r.body);
    scrub_settings(s, err, errlen);
    return st;
}

static blob_status s3_get(void *impl, const char *key, const char *where, unsigned char **data,
                          size_t *len, char *err, size_t errlen)
{
    s3_store *s = impl;
    reply r = {.limit = OBJECT_BODY_LIMIT};
    blob_status st = send_request(s, "GET", key, where, "", 0, NULL, &r, err, errlen);
    if (st == BLOB_OK && r.status == 404) {
        char code[64];
        xml_field(r.body.data, r.body.len, "Code", code, sizeof code);
        if (strcmp(code, "NoSuchBucket") == 0) {
            st = http_failure(s, &r, "GET", where, err, errlen);
        } else {
            errbuf_printf(err, errlen, "S3 GET %s: no such object", where);
            st = BLOB_NOT_FOUND;
        }
    } else if (st == BLOB_OK && (r.status < 200 || r.status > 299)) {
        st = http_failure(s, &r, "GET", where, err, errlen);
    } else if (st == BLOB_OK) {
        char actual[33];
        md5_hex(r.body.data ? r.body.data : "", r.body.len, actual);
        /* Multipart objects' ETags ("...-3") are not an MD5: only check plain ones. */
        if (strlen(r.etag) == 32 && strcasecmp(r.etag, actual) != 0) {
            errbuf_printf(err, errlen, "S3 GET %s: the body's MD5 %s is not its ETag '%s'", where,
                         actual, r.etag);
            st = BLOB_UNAVAILABLE;
        } else {
            *data = (unsigned char *)buf_detach(&r.body, len);
            if (!*data) {
                errbuf_printf(err, errlen, "S3 GET %s: out of memory", where);
                st = BLOB_UNAVAILABLE;
            }
        }
    }
    buf_free(&r.body);
    scrub_settings(s, err, errlen);
    return st;
}

static blob_status s3_remove(void *impl, const char *key, const char *where, char *err, size_t errlen)
{
    s3_store *s = impl;
    reply r = {.limit = ERROR_BODY_LIMIT};
    blob_status st = send_request(s, "DELETE", key, where, "", 0, NULL, &r, err, errlen);
    if (st == BLOB_OK && r.status != 404 && (r.status < 200 || r.status > 299))
        st = http_failure(s, &r, "DELETE", where, err, errlen);
    buf_free(&r.body);
    scrub_settings(s, err, errlen);
    return st;
}

static void s3_close(void *impl)
{
    s3_store *s = impl;
    if (!s) return;
    if (s->curl) curl_easy_cleanup(s->curl);
    blob_options_clear(&s->opt);
    free(s->prefix);
    OPENSSL_cleanse(s, sizeof *s);
    free(s);
}

static const blob_backend s3_backend = {s3_put, s3_get, s3_remove, s3_close};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void init_curl(void)
{
    curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

blob_status blob_s3_open(const char *bucket, const char *prefix, const blob_options *options,
                         const blob_backend **backend, void **impl, char *err, size_t errlen)
{
    if (!options->s3_access_key[0] || !options->s3_secret_key[0]) {
        errbuf_printf(err, errlen,
                     "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
                     "JEN1_S3_CREDENTIALS_FILE");
        return BLOB_REJECTED;
    }
    pthread_once(&curl_once, init_curl);
    if (curl_init_result != CURLE_OK) {
        errbuf_printf(err, errlen, "cannot initialise libcurl: %s", curl_easy_strerror(curl_init_result));
        return BLOB_UNAVAILABLE;
    }
    s3_store *s = calloc(1, sizeof *s);
    if (!s || !(s->prefix = strdup(prefix)) || !(s->curl = curl_easy_init())) {
        s3_close(s);
        errbuf_printf(err, errlen, "out of memory");
        return BLOB_UNAVAILABLE;
    }
    s->opt = *options;
    snprintf(s->bucket, sizeof s->bucket, "%s", bucket);
    const char *region = options->s3_region;
    if (blob_s3_region_check(region, "AWS_REGION", err, errlen) != BLOB_OK) {
        s3_close(s);
        return BLOB_REJECTED;
    }
    blob_status st;
    if (options->s3_endpoint[0]) {
        st = parse_endpoint(s, options->s3_endpoint, err, errlen);
    } else {
        char endpoint[128];
        snprintf(endpoint, sizeof endpoint, "https://s3.%s.amazonaws.com",
                 region[0] ? region : "us-east-1");
        st = parse_endpoint(s, endpoint, err, errlen);
    }
    if (st != BLOB_OK) {
        s3_close(s);
        return st;
    }
    s->path_style = options->s3_path_style >= 0 ? options->s3_path_style : options->s3_endpoint[0] != 0;
    *backend = &s3_backend;
    *impl = s;
    return BLOB_OK;
}
