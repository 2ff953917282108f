/* blob_options.c - the S3 settings: their rules (blob_options_set), an AWS
 * shared-credentials file, and the environment for tools (see blob.h).
 * Messages name variables, flags, files and profiles, never a value read
 * from them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "errbuf.h"
#include "blob.h"
#include "blob_backend.h"

enum { DEFAULT_CONNECT_TIMEOUT_MS = 10000, DEFAULT_TIMEOUT_MS = 300000 };

void blob_options_init(blob_options *o)
{
    memset(o, 0, sizeof *o);
    o->s3_path_style = -1;
    o->connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
    o->timeout_ms = DEFAULT_TIMEOUT_MS;
}

void blob_options_clear(blob_options *o)
{
    OPENSSL_cleanse(o->s3_access_key, sizeof o->s3_access_key);
    OPENSSL_cleanse(o->s3_secret_key, sizeof o->s3_secret_key);
    OPENSSL_cleanse(o->s3_session_token, sizeof o->s3_session_token);
}

/* Copies value into a field of `size` bytes; names only `what` when it does not fit. */
static blob_status copy_setting(char *field, size_t size, const char *value, const char *what,
                                char *err, size_t errlen)
{
    size_t n = strlen(value);
    if (n >= size) {
        errbuf_printf(err, errlen, "%s is longer than %zu bytes", what, size - 1);
        return BLOB_REJECTED;
    }
    memcpy(field, value, n + 1);
    return BLOB_OK;
}

blob_status blob_s3_endpoint_check(const char *endpoint, const char *name, char *err, size_t errlen)
{
    const char *rest;
    if (strncmp(endpoint, "https://", 8) == 0) {
        rest = endpoint + 8;
    } else if (strncmp(endpoint, "http://", 7) == 0) {
        rest = endpoint + 7;
    } else {
        errbuf_printf(err, errlen, "%s must start with http:// or https://", name);
        return BLOB_REJECTED;
    }
    size_t n = strcspn(rest, "/");
    if (n == 0 || n >= BLOB_S3_AUTHORITY_MAX || (rest[n] && strcmp(rest + n, "/") != 0)) {
        errbuf_printf(err, errlen, "%s must be scheme://host[:port] with no path", name);
        return BLOB_REJECTED;
    }
    for (size_t i = 0; i < n; i++) {
        char c = rest[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '-' || c == ':' || c == '[' || c == ']';
        if (!ok) {
            errbuf_printf(err, errlen, "%s holds a character a host:port cannot", name);
            return BLOB_REJECTED;
        }
    }
    return BLOB_OK;
}

blob_status blob_s3_region_check(const char *region, const char *name, char *err, size_t errlen)
{
    for (const char *p = region; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-')) {
            errbuf_printf(err, errlen, "%s must be lowercase letters, digits and '-'", name);
            return BLOB_REJECTED;
        }
    return BLOB_OK;
}

static blob_status set_milliseconds(long *field, long default_ms, const char *value, const char *name,
                                    char *err, size_t errlen)
{
    if (!*value) {
        *field = default_ms;
        return BLOB_OK;
    }
    char *end;
    errno = 0;
    long ms = strtol(value, &end, 10);
    if (errno || *end || ms <= 0 || ms > 24L * 3600 * 1000) {
        errbuf_printf(err, errlen, "%s must be a number of milliseconds between 1 and 86400000", name);
        return BLOB_REJECTED;
    }
    *field = ms;
    return BLOB_OK;
}

static blob_status set_path_style(int *field, const char *value, const char *name, char *err, size_t errlen)
{
    if (!*value)
        *field = -1;
    else if (strcmp(value, "1") == 0 || strcmp(value, "true") == 0)
        *field = 1;
    else if (strcmp(value, "0") == 0 || strcmp(value, "false") == 0)
        *field = 0;
    else {
        errbuf_printf(err, errlen, "%s must be 0 or 1", name);
        return BLOB_REJECTED;
    }
    return BLOB_OK;
}

blob_status blob_options_set(blob_options *o, blob_setting which, const char *value, const char *name,
                             char *err, size_t errlen)
{
    switch (which) {
    case BLOB_S3_ENDPOINT:
        if (*value && blob_s3_endpoint_check(value, name, err, errlen) != BLOB_OK) return BLOB_REJECTED;
        return copy_setting(o->s3_endpoint, sizeof o->s3_endpoint, value, name, err, errlen);
    case BLOB_S3_REGION:
        if (blob_s3_region_check(value, name, err, errlen) != BLOB_OK) return BLOB_REJECTED;
        return copy_setting(o->s3_region, sizeof o->s3_region, value, name, err, errlen);
    case BLOB_S3_ACCESS_KEY:
        return copy_setting(o->s3_access_key, sizeof o->s3_access_key, value, name, err, errlen);
    case BLOB_S3_SECRET_KEY:
        return copy_setting(o->s3_secret_key, sizeof o->s3_secret_key, value, name, err, errlen);
    case BLOB_S3_SESSION_TOKEN:
        return copy_setting(o->s3_session_token, sizeof o->s3_session_token, value, name, err, errlen);
    case BLOB_S3_PATH_STYLE:
        return set_path_style(&o->s3_path_style, value, name, err, errlen);
    case BLOB_CONNECT_TIMEOUT_MS:
        return set_milliseconds(&o->connect_timeout_ms, DEFAULT_CONNECT_TIMEOUT_MS, value, name, err, errlen);
    case BLOB_TIMEOUT_MS:
        return set_milliseconds(&o->timeout_ms, DEFAULT_TIMEOUT_MS, value, name, err, errlen);
    }
    errbuf_printf(err, errlen, "%s: not an S3 setting", name);
    return BLOB_REJECTED;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

/* An AWS shared-credentials file:
 *   [default]
 *   aws_access_key_id = ...
 *   aws_secret_access_key = ...
 *   aws_session_token = ...      (optional)
 * "[profile name]" headers (the config file's form) are accepted too. */
blob_status blob_options_read_credentials(blob_options *o, const char *path, const char *profile,
                                          const char *name, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        errbuf_printf(err, errlen, "%s: cannot read the S3 credentials file %s: %s", name, path,
                      strerror(errno));
        return BLOB_REJECTED;
    }
    char line[8192];
    int in_profile = 0, found = 0;
    blob_status st = BLOB_OK;
    while (st == BLOB_OK && fgets(line, sizeof line, f)) {
        char *s = trim(line);
        if (*s == '#' || *s == ';' || *s == '\0') continue;
        if (*s == '[') {
            char *close = strchr(s, ']');
            if (close) *close = '\0';
            char *name = trim(s + 1);
            if (strncmp(name, "profile ", 8) == 0) name = trim(name + 8);
            in_profile = strcmp(name, profile) == 0;
            found |= in_profile;
            continue;
        }
        char *eq = strchr(s, '=');
        if (!in_profile || !eq) continue;
        *eq = '\0';
        char *key = trim(s), *value = trim(eq + 1);
        if (strcasecmp(key, "aws_access_key_id") == 0)
            st = copy_setting(o->s3_access_key, sizeof o->s3_access_key, value,
                              "aws_access_key_id in the credentials file", err, errlen);
        else if (strcasecmp(key, "aws_secret_access_key") == 0)
            st = copy_setting(o->s3_secret_key, sizeof o->s3_secret_key, value,
                              "aws_secret_access_key in the credentials file", err, errlen);
        else if (strcasecmp(key, "aws_session_token") == 0)
            st = copy_setting(o->s3_session_token, sizeof o->s3_session_token, value,
                              "aws_session_token in the credentials file", err, errlen);
    }
    OPENSSL_cleanse(line, sizeof line);
    fclose(f);
    if (st != BLOB_OK) return st;
    if (!found) {
        errbuf_printf(err, errlen, "the S3 credentials file %s has no profile [%s]", path, profile);
        return BLOB_REJECTED;
    }
    if (!o->s3_access_key[0] || !o->s3_secret_key[0]) {
        errbuf_printf(err, errlen,
                     "profile [%s] of the S3 credentials file %s lacks aws_access_key_id or "
                     "aws_secret_access_key",
                     profile, path);
        return BLOB_REJECTED;
    }
    return BLOB_OK;
}

blob_status blob_options_from_env(blob_options *o, char *err, size_t errlen)
{
    const char *region = getenv("AWS_REGION");
    static const struct {
        blob_setting which;
        const char *var;
    } vars[] = {
        {BLOB_S3_ENDPOINT, "JEN1_S3_ENDPOINT"},
        {BLOB_S3_ACCESS_KEY, "AWS_ACCESS_KEY_ID"},
        {BLOB_S3_SECRET_KEY, "AWS_SECRET_ACCESS_KEY"},
        {BLOB_S3_SESSION_TOKEN, "AWS_SESSION_TOKEN"},
        {BLOB_S3_PATH_STYLE, "JEN1_S3_PATH_STYLE"},
        {BLOB_CONNECT_TIMEOUT_MS, "JEN1_S3_CONNECT_TIMEOUT_MS"},
        {BLOB_TIMEOUT_MS, "JEN1_S3_TIMEOUT_MS"},
        {BLOB_S3_REGION, NULL}, /* AWS_REGION, else AWS_DEFAULT_REGION */
    };
    blob_options_init(o);
    blob_status st = BLOB_OK;
    for (size_t i = 0; st == BLOB_OK && i < sizeof vars / sizeof vars[0]; i++) {
        const char *var = vars[i].var ? vars[i].var : region && *region ? "AWS_REGION" : "AWS_DEFAULT_REGION";
        const char *value = getenv(var);
        if (value && *value) st = blob_options_set(o, vars[i].which, value, var, err, errlen);
    }
    const char *file = getenv("JEN1_S3_CREDENTIALS_FILE");
    if (st == BLOB_OK && !o->s3_access_key[0] && !o->s3_secret_key[0] && file && *file) {
        const char *profile = getenv("AWS_PROFILE");
        st = blob_options_read_credentials(o, file, profile && *profile ? profile : "default",
                                           "JEN1_S3_CREDENTIALS_FILE", err, errlen);
    }
    if (st != BLOB_OK) blob_options_clear(o);
    return st;
}
