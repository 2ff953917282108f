/* sigv4.c - AWS Signature Version 4 (see sigv4.h). The steps follow AWS's
 * "Create a signed AWS API request" guide: canonical request -> string to
 * sign -> HMAC chain over date, region, service -> hex signature. */
#include "sigv4.h"

#include "buf.h"
#include "errbuf.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define AMZ_DATE_LEN 16 /* "20150830T123600Z" */

/* Appends s percent-encoded (sigv4_uri_encode) straight into the buffer's
 * room. A failed append marks the buffer: the builder checks once, at the end. */
static void append_encoded(buf *sb, const char *s, int keep_slash)
{
    size_t need = sigv4_uri_encode(s, keep_slash, NULL, 0);
    if (buf_reserve(sb, need) != 0) return;
    sigv4_uri_encode(s, keep_slash, sb->data + sb->len, need + 1);
    sb->len += need;
}

void sigv4_amz_date(time_t t, char out[17])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

/* Locale-independent: bytes of UTF-8 text are never "letters" here. */
static int is_ascii_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

size_t sigv4_uri_encode(const char *s, int keep_slash, char *out, size_t outlen)
{
    static const char digits[] = "0123456789ABCDEF";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char piece[3];
        size_t k;
        if (is_ascii_alnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~' ||
            (*p == '/' && keep_slash)) {
            piece[0] = (char)*p;
            k = 1;
        } else {
            piece[0] = '%';
            piece[1] = digits[*p >> 4];
            piece[2] = digits[*p & 15];
            k = 3;
        }
        for (size_t i = 0; i < k; i++, n++)
            if (n + 1 < outlen) out[n] = piece[i];
    }
    if (outlen) out[n < outlen ? n : outlen - 1] = '\0';
    return n;
}

/* --- canonical query ---------------------------------------------------- */

typedef struct encoded_param {
    char *name, *value;
} encoded_param;

static int compare_params(const void *a, const void *b)
{
    const encoded_param *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

static char *encode_dup(const char *s)
{
    size_t need = sigv4_uri_encode(s, 0, NULL, 0);
    char *enc = malloc(need + 1);
    if (enc) sigv4_uri_encode(s, 0, enc, need + 1);
    return enc;
}

/* Parameters are sorted by encoded name, then encoded value. */
static int append_canonical_query(buf *sb, const sigv4_pair *query, size_t n)
{
    if (n == 0) return 0;
    encoded_param *params = calloc(n, sizeof *params);
    if (!params) return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        params[i].name = encode_dup(query[i].name ? query[i].name : "");
        params[i].value = encode_dup(query[i].value ? query[i].value : "");
        if (!params[i].name || !params[i].value) rc = -1;
    }
    if (rc == 0) {
        qsort(params, n, sizeof *params, compare_params);
        for (size_t i = 0; i < n; i++) {
            if (i) buf_putc(sb, '&');
            buf_puts(sb, params[i].name);
            buf_putc(sb, '=');
            buf_puts(sb, params[i].value);
        }
    }
    for (size_t i = 0; i < n; i++) {
        free(params[i].name);
        free(params[i].value);
    }
    free(params);
    return rc;
}

/* --- canonical headers -------------------------------------------------- */

typedef struct canonical_header {
    char *name;    /* lowercase */
    char *value;   /* trimmed, inner runs of spaces collapsed */
    size_t order;  /* position in the request: keeps repeated names in order */
} canonical_header;

static int compare_headers(const void *a, const void *b)
{
    const canonical_header *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c) return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

static char *lowercase_dup(const char *s)
{
    char *d = strdup(s);
    if (d)
        for (char *p = d; *p; p++)
            if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
    return d;
}

static char *trimmed_value_dup(const char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    char *d = malloc(strlen(s) + 1);
    if (!d) return NULL;
    size_t n = 0;
    for (const char *p = s; *p; p++) {
        int blank = *p == ' ' || *p == '\t';
        if (blank && (n == 0 || d[n - 1] == ' ')) continue;
        d[n++] = blank ? ' ' : *p;
    }
    while (n > 0 && d[n - 1] == ' ') n--;
    d[n] = '\0';
    return d;
}

static int valid_header_name(const char *name)
{
    if (!name || !*name) return 0;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p <= ' ' || *p >= 127 || *p == ':') return 0;
    return 1;
}

static void free_headers(canonical_header *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(h[i].name);
        free(h[i].value);
    }
    free(h);
}

/* Sorted canonical copies of the request's headers, or NULL with a message. */
static canonical_header *canonical_headers(const sigv4_request *req, char *err, size_t errlen)
{
    if (req->n_headers == 0) {
        errbuf_printf(err, errlen, "sigv4: no headers to sign (host and x-amz-date are required)");
        return NULL;
    }
    canonical_header *h = calloc(req->n_headers, sizeof *h);
    if (!h) {
        errbuf_printf(err, errlen, "sigv4: out of memory");
        return NULL;
    }
    for (size_t i = 0; i < req->n_headers; i++) {
        const sigv4_pair *p = &req->headers[i];
        if (!valid_header_name(p->name)) {
            errbuf_printf(err, errlen, "sigv4: header %zu has an invalid name", i);
            free_headers(h, req->n_headers);
            return NULL;
        }
        if (!p->value || strpbrk(p->value, "\r\n")) {
            errbuf_printf(err, errlen, "sigv4: header '%s' has no value or a line break in it", p->name);
            free_headers(h, req->n_headers);
            return NULL;
        }
        h[i].name = lowercase_dup(p->name);
        h[i].value = trimmed_value_dup(p->value);
        h[i].order = i;
        if (!h[i].name || !h[i].value) {
            errbuf_printf(err, errlen, "sigv4: out of memory");
            free_headers(h, req->n_headers);
            return NULL;
        }
    }
    qsort(h, req->n_headers, sizeof *h, compare_headers);
    return h;
}

static const char *find_header(const canonical_header *h, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(h[i].name, name) == 0) return h[i].value;
    return NULL;
}

/* "host;x-amz-date" from sorted headers, each name once. */
static void append_signed_headers(buf *sb, const canonical_header *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(h[i].name, h[i - 1].name) == 0) continue;
        if (i > 0) buf_putc(sb, ';');
        buf_puts(sb, h[i].name);
    }
}

/* --- the request, signed ------------------------------------------------ */

/* The canonical request and the pieces the later steps need. */
typedef struct canonical {
    char *request;
    char *signed_headers;
    char amz_date[AMZ_DATE_LEN + 1];
} canonical;

static void canonical_free(canonical *c)
{
    free(c->request);
    free(c->signed_headers);
}

static int valid_amz_date(const char *s)
{
    if (strlen(s) != AMZ_DATE_LEN || s[8] != 'T' || s[15] != 'Z') return 0;
    for (int i = 0; i < 15; i++)
        if (i != 8 && (s[i] < '0' || s[i] > '9')) return 0;
    return 1;
}

static int build_canonical(const sigv4_request *req, canonical *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!req->method || !*req->method || !req->path || req->path[0] != '/') {
        errbuf_printf(err, errlen, "sigv4: the request needs a method and a path starting with '/'");
        return -1;
    }
    if (!req->payload_sha256 || !*req->payload_sha256) {
        errbuf_printf(err, errlen, "sigv4: the request needs its payload's SHA-256");
        return -1;
    }
    canonical_header *h = canonical_headers(req, err, errlen);
    if (!h) return -1;
    size_t n = req->n_headers;

    const char *date = find_header(h, n, "x-amz-date");
    if (!find_header(h, n, "host") || !date || !valid_amz_date(date)) {
        errbuf_printf(err, errlen, "sigv4: the signed headers need host and x-amz-date (YYYYMMDDTHHMMSSZ)");
        free_headers(h, n);
        return -1;
    }
    memcpy(out->amz_date, date, AMZ_DATE_LEN + 1);

    buf sb = BUF_INIT, signed_headers = BUF_INIT;
    buf_puts(&sb, req->method);
    buf_putc(&sb, '\n');
    append_encoded(&sb, req->path, 1);
    buf_putc(&sb, '\n');
    int query_failed = append_canonical_query(&sb, req->query, req->n_query) != 0;
    buf_putc(&sb, '\n');
    for (size_t i = 0; i < n; i++) {
        int continues = i > 0 && strcmp(h[i].name, h[i - 1].name) == 0;
        if (continues) {
            buf_truncate(&sb, sb.len - 1); /* drop the previous line's '\n' to add ",value" */
            buf_putc(&sb, ',');
        } else {
            buf_puts(&sb, h[i].name);
            buf_putc(&sb, ':');
        }
        buf_puts(&sb, h[i].value);
        buf_putc(&sb, '\n');
    }
    buf_putc(&sb, '\n');
    append_signed_headers(&signed_headers, h, n);
    buf_append(&sb, signed_headers.data, signed_headers.len);
    buf_putc(&sb, '\n');
    buf_puts(&sb, req->payload_sha256);
    free_headers(h, n);

    out->request = query_failed ? NULL : buf_detach(&sb, NULL);
    out->signed_headers = buf_detach(&signed_headers, NULL);
    if (!out->request || !out->signed_headers) {
        buf_free(&sb);
        canonical_free(out);
        errbuf_printf(err, errlen, "sigv4: out of memory");
        return -1;
    }
    return 0;
}

int sigv4_canonical_request(const sigv4_request *req, char **out, char *err, size_t errlen)
{
    canonical c;
    if (build_canonical(req, &c, err, errlen) != 0) return -1;
    *out = c.request;
    free(c.signed_headers);
    return 0;
}

static int valid_scope_part(const char *s)
{
    if (!s || !*s) return 0;
    for (const char *p = s; *p; p++)
        if (!is_ascii_alnum((unsigned char)*p) && *p != '-' && *p != '_') return 0;
    return 1;
}

static int check_credentials(const sigv4_credentials *cred, char *err, size_t errlen)
{
    if (!cred->access_key || !*cred->access_key || !cred->secret_key || !*cred->secret_key) {
        errbuf_printf(err, errlen, "sigv4: no access key or secret key");
        return -1;
    }
    if (strpbrk(cred->access_key, "/, \r\n")) {
        errbuf_printf(err, errlen, "sigv4: the access key holds a character it cannot ('/', ',', space)");
        return -1;
    }
    if (!valid_scope_part(cred->region) || !valid_scope_part(cred->service)) {
        errbuf_printf(err, errlen, "sigv4: the region and service must be letters, digits, '-' or '_'");
        return -1;
    }
    return 0;
}

/* "20150830/us-east-1/s3/aws4_request" */
static void append_scope(buf *sb, const char *amz_date, const sigv4_credentials *cred)
{
    buf_append(sb, amz_date, 8);
    buf_putc(sb, '/');
    buf_puts(sb, cred->region);
    buf_putc(sb, '/');
    buf_puts(sb, cred->service);
    buf_puts(sb, "/aws4_request");
}

static char *string_to_sign(const canonical *c, const sigv4_credentials *cred)
{
    char request_hash[65];
    sha256_hex(c->request, strlen(c->request), request_hash);
    buf sb = BUF_INIT;
    buf_puts(&sb, "AWS4-HMAC-SHA256\n");
    buf_puts(&sb, c->amz_date);
    buf_putc(&sb, '\n');
    append_scope(&sb, c->amz_date, cred);
    buf_putc(&sb, '\n');
    buf_puts(&sb, request_hash);
    return buf_detach(&sb, NULL);
}

int sigv4_string_to_sign(const sigv4_request *req, const sigv4_credentials *cred, char **out,
                         char *err, size_t errlen)
{
    if (check_credentials(cred, err, errlen) != 0) return -1;
    canonical c;
    if (build_canonical(req, &c, err, errlen) != 0) return -1;
    *out = string_to_sign(&c, cred);
    canonical_free(&c);
    if (!*out) {
        errbuf_printf(err, errlen, "sigv4: out of memory");
        return -1;
    }
    return 0;
}

static void hmac_sha256(const void *key, size_t key_len, const char *msg, unsigned char out[32])
{
    unsigned int n = 32;
    HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg, strlen(msg), out, &n);
}

/* The signature of sts: HMAC chain "AWS4"+secret -> date -> region ->
 * service -> "aws4_request" -> sts. Every intermediate key is wiped. */
static void sign(const char *sts, const char *amz_date, const sigv4_credentials *cred, char hex[65])
{
    size_t secret_len = strlen(cred->secret_key);
    unsigned char *initial = malloc(secret_len + 4);
    unsigned char key[32], next[32], signature[32];
    char date[9];
    memcpy(date, amz_date, 8);
    date[8] = '\0';
    if (!initial) {
        hex[0] = '\0';
        return;
    }
    memcpy(initial, "AWS4", 4);
    memcpy(initial + 4, cred->secret_key, secret_len);
    hmac_sha256(initial, secret_len + 4, date, key);
    hmac_sha256(key, 32, cred->region, next);
    hmac_sha256(next, 32, cred->service, key);
    hmac_sha256(key, 32, "aws4_request", next);
    hmac_sha256(next, 32, sts, signature);
    hex_encode(signature, 32, hex);
    OPENSSL_cleanse(initial, secret_len + 4);
    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(next, sizeof next);
    free(initial);
}

int sigv4_authorization(const sigv4_request *req, const sigv4_credentials *cred, char *out,
                        size_t outlen, char *err, size_t errlen)
{
    if (check_credentials(cred, err, errlen) != 0) return -1;
    canonical c;
    if (build_canonical(req, &c, err, errlen) != 0) return -1;
    char *sts = string_to_sign(&c, cred);
    char signature[65] = "";
    if (sts) sign(sts, c.amz_date, cred, signature);
    free(sts);
    if (!signature[0]) {
        canonical_free(&c);
        errbuf_printf(err, errlen, "sigv4: out of memory");
        return -1;
    }

    buf sb = BUF_INIT;
    buf_puts(&sb, "AWS4-HMAC-SHA256 Credential=");
    buf_puts(&sb, cred->access_key);
    buf_putc(&sb, '/');
    append_scope(&sb, c.amz_date, cred);
    buf_puts(&sb, ", SignedHeaders=");
    buf_puts(&sb, c.signed_headers);
    buf_puts(&sb, ", Signature=");
    buf_puts(&sb, signature);
    canonical_free(&c);

    int rc = 0;
    if (buf_failed(&sb)) {
        errbuf_printf(err, errlen, "sigv4: out of memory");
        rc = -1;
    } else if (sb.len + 1 > outlen) {
        errbuf_printf(err, errlen, "sigv4: the Authorization header needs %zu bytes, the buffer has %zu",
                sb.len + 1, outlen);
        rc = -1;
    } else {
        memcpy(out, sb.data, sb.len + 1);
    }
    buf_free(&sb);
    return rc;
}
