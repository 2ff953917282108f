/* blob_options.c - S3 settings from the environment and from an AWS
 * shared-credentials file (see blob_options_from_env in blob.h). Messages
 * name variables, files and profiles, never a value read from them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "errbuf.h"
#include "blob.h"
#include "blob_backend.h"

void blob_options_init(blob_options *o)
{
    memset(o, 0, sizeof *o);
    o->s3_path_style = -1;
    o->connect_timeout_ms = 10000;
    o->timeout_ms = 300000;
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

static blob_status env_setting(char *field, size_t size, const char *name, char *err, size_t errlen)
{
    const char *value = getenv(name);
    if (!value || !*value) return BLOB_OK;
    return copy_setting(field, size, value, name, err, errlen);
}

static blob_status env_milliseconds(long *field, const char *name, char *err, size_t errlen)
{
    const char *value = getenv(name);
    if (!value || !*value) return BLOB_OK;
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

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

/* Reads profile's keys from an AWS shared-credentials file:
 *   [default]
 *   aws_access_key_id = ...
 *   aws_secret_access_key = ...
 *   aws_session_token = ...      (optional)
 * "[profile name]" headers (the config file's form) are accepted too. */
static blob_status read_credentials_file(blob_options *o, const char *path, const char *profile,
                                         char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        errbuf_printf(err, errlen, "cannot read the S3 credentials file %s (JEN1_S3_CREDENTIALS_FILE): %s",
                     path, strerror(errno));
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
    blob_options_init(o);
    const char *region = getenv("AWS_REGION");
    const char *region_var = region && *region ? "AWS_REGION" : "AWS_DEFAULT_REGION";
    blob_status st = env_setting(o->s3_endpoint, sizeof o->s3_endpoint, "JEN1_S3_ENDPOINT", err, errlen);
    if (st == BLOB_OK) st = env_setting(o->s3_region, sizeof o->s3_region, region_var, err, errlen);
    if (st == BLOB_OK)
        st = env_setting(o->s3_access_key, sizeof o->s3_access_key, "AWS_ACCESS_KEY_ID", err, errlen);
    if (st == BLOB_OK)
        st = env_setting(o->s3_secret_key, sizeof o->s3_secret_key, "AWS_SECRET_ACCESS_KEY", err, errlen);
    if (st == BLOB_OK)
        st = env_setting(o->s3_session_token, sizeof o->s3_session_token, "AWS_SESSION_TOKEN", err, errlen);

    const char *file = getenv("JEN1_S3_CREDENTIALS_FILE");
    if (st == BLOB_OK && !o->s3_access_key[0] && !o->s3_secret_key[0] && file && *file) {
        const char *profile = getenv("AWS_PROFILE");
        st = read_credentials_file(o, file, profile && *profile ? profile : "default", err, errlen);
    }

    const char *path_style = getenv("JEN1_S3_PATH_STYLE");
    if (st == BLOB_OK && path_style && *path_style) {
        if (strcmp(path_style, "0") != 0 && strcmp(path_style, "1") != 0) {
            errbuf_printf(err, errlen, "JEN1_S3_PATH_STYLE must be 0 or 1");
            st = BLOB_REJECTED;
        } else {
            o->s3_path_style = path_style[0] == '1';
        }
    }
    if (st == BLOB_OK)
        st = env_milliseconds(&o->connect_timeout_ms, "JEN1_S3_CONNECT_TIMEOUT_MS", err, errlen);
    if (st == BLOB_OK) st = env_milliseconds(&o->timeout_ms, "JEN1_S3_TIMEOUT_MS", err, errlen);
    if (st != BLOB_OK) blob_options_clear(o);
    return st;
}
