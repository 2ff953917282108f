/* redis_url.c - see redis_url.h. */
#include "redis_url.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Copies [s, s+n) into out (size cap), decoding %XX. Returns 0, or -1 on a
 * bad escape, an encoded NUL or an overlong value. */
static int percent_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= n) return -1;
            int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) return -1;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (o + 1 >= cap) return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

/* Parses a decimal integer filling all of [s, s+n) into [min, max]. */
static int parse_int(const char *s, size_t n, long min, long max, int *out)
{
    if (n == 0 || n > 10) return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < min || v > max) return -1;
    *out = (int)v;
    return 0;
}

/* "[user]:password@" at the start of `s` (up to `end`), if any. Moves *s past it. */
static int parse_userinfo(const char **s, const char *end, redis_url *u, char *err, size_t errlen)
{
    /* The last '@': an unencoded '@' in a password still parses. */
    const char *at = memrchr(*s, '@', (size_t)(end - *s));
    if (!at) return 0;
    const char *colon = memchr(*s, ':', (size_t)(at - *s));
    const char *user_end = colon ? colon : at;
    if (percent_decode(*s, (size_t)(user_end - *s), u->user, sizeof u->user) != 0) {
        snprintf(err, errlen, "redis URL: the user name is badly encoded or too long");
        return -1;
    }
    if (colon && percent_decode(colon + 1, (size_t)(at - colon - 1), u->password, sizeof u->password) != 0) {
        snprintf(err, errlen, "redis URL: the password is badly encoded or too long");
        return -1;
    }
    *s = at + 1;
    return 0;
}

static int parse_tcp(const char *s, redis_url *u, char *err, size_t errlen)
{
    const char *end = s + strcspn(s, "/?#");
    if (parse_userinfo(&s, end, u, err, errlen) != 0) return -1;

    const char *host = s, *host_end, *port = NULL;
    if (*s == '[') {
        host = s + 1;
        host_end = memchr(host, ']', (size_t)(end - host));
        if (!host_end) {
            snprintf(err, errlen, "redis URL: an IPv6 address without its closing ']'");
            return -1;
        }
        if (host_end + 1 < end) {
            if (host_end[1] != ':') {
                snprintf(err, errlen, "redis URL: unexpected text after the IPv6 address");
                return -1;
            }
            port = host_end + 2;
        }
    } else {
        host_end = memchr(s, ':', (size_t)(end - s));
        if (host_end) port = host_end + 1;
        else host_end = end;
    }
    size_t host_len = (size_t)(host_end - host);
    if (host_len == 0 || host_len >= sizeof u->host) {
        snprintf(err, errlen, "redis URL: %s host name", host_len ? "an overlong" : "no");
        return -1;
    }
    memcpy(u->host, host, host_len);
    u->host[host_len] = '\0';
    if (port && parse_int(port, (size_t)(end - port), 1, 65535, &u->port) != 0) {
        snprintf(err, errlen, "redis URL: the port is not a number from 1 to 65535");
        return -1;
    }

    if (*end == '/' && end[1] != '\0') {
        if (parse_int(end + 1, strlen(end + 1), 0, 1 << 20, &u->db) != 0) {
            snprintf(err, errlen, "redis URL: the database (after the host) is not a number");
            return -1;
        }
    } else if (*end == '?' || *end == '#') {
        snprintf(err, errlen, "redis URL: options ('?', '#') are not supported");
        return -1;
    }
    return 0;
}

static int parse_unix(const char *s, redis_url *u, char *err, size_t errlen)
{
    const char *end = s + strcspn(s, "?");
    if (parse_userinfo(&s, end, u, err, errlen) != 0) return -1;
    size_t len = (size_t)(end - s);
    if (len == 0 || s[0] != '/' || len >= sizeof u->path) {
        snprintf(err, errlen, "redis URL: unix:// needs an absolute socket path shorter than %zu bytes",
                 sizeof u->path);
        return -1;
    }
    memcpy(u->path, s, len);
    u->path[len] = '\0';
    if (*end == '?') {
        if (strncmp(end, "?db=", 4) != 0 ||
            parse_int(end + 4, strlen(end + 4), 0, 1 << 20, &u->db) != 0) {
            snprintf(err, errlen, "redis URL: the only option of unix:// is ?db=N");
            return -1;
        }
    }
    return 0;
}

int redis_url_parse(const char *url, redis_url *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->port = 6379;
    if (!url || !*url) {
        snprintf(err, errlen, "redis URL: empty");
        return -1;
    }
    int rc;
    if (strncmp(url, "redis://", 8) == 0) {
        rc = parse_tcp(url + 8, out, err, errlen);
    } else if (strncmp(url, "unix://", 7) == 0) {
        out->is_unix = true;
        rc = parse_unix(url + 7, out, err, errlen);
    } else if (strncmp(url, "rediss://", 9) == 0) {
        out->tls = true;
        rc = parse_tcp(url + 9, out, err, errlen);
    } else {
        snprintf(err, errlen, "redis URL: must start with redis://, rediss:// or unix://");
        rc = -1;
    }
    if (rc != 0) memset(out->password, 0, sizeof out->password);
    return rc;
}

void redis_url_describe(const redis_url *u, char *buf, size_t len)
{
    if (u->is_unix)
        snprintf(buf, len, "unix:%s/%d", u->path, u->db);
    else if (strchr(u->host, ':'))
        snprintf(buf, len, "[%s]:%d/%d%s", u->host, u->port, u->db, u->tls ? " (TLS)" : "");
    else
        snprintf(buf, len, "%s:%d/%d%s", u->host, u->port, u->db, u->tls ? " (TLS)" : "");
}
