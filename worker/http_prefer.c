/* http_prefer.c - RFC 7240's Prefer header; see http_prefer.h. */
#include "http_prefer.h"

#include <limits.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

/* RFC 7230's tchar. */
static bool is_tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static const char *skip_ows(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* A run of tchars: its length (0 when there is none). */
static size_t token_len(const char *p)
{
    size_t n = 0;
    while (is_tchar(p[n]))
        n++;
    return n;
}

/* A quoted string starting at p ('"'): the position after its closing quote,
 * or NULL when it does not close. *content and *len: what is between the
 * quotes, escapes left in (the values this server reads hold none). */
static const char *quoted_end(const char *p, const char **content, size_t *len)
{
    const char *q = p + 1;
    while (*q && *q != '"') {
        if (*q == '\\' && q[1])
            q++;
        q++;
    }
    if (*q != '"')
        return NULL;
    *content = p + 1;
    *len = (size_t)(q - p - 1);
    return q + 1;
}

/* After `=`: a token or a quoted string. Returns the position after it, or
 * NULL when it is malformed; an empty word (nothing before ; , or the end) is
 * a value of length 0, which RFC 7240 counts as no value. */
static const char *read_word(const char *p, const char **value, size_t *len)
{
    if (*p == '"')
        return quoted_end(p, value, len);
    *value = p;
    *len = token_len(p);
    return p + *len;
}

/* The position of the next list separator at the top level, or the end. */
static const char *next_element(const char *p)
{
    while (*p && *p != ',') {
        const char *content;
        size_t len;
        const char *after = *p == '"' ? quoted_end(p, &content, &len) : NULL;
        if (*p == '"' && !after)
            return p + strlen(p); /* an unclosed quote runs to the end */
        p = after ? after : p + 1;
    }
    return p;
}

/* 1*DIGIT, saturating at INT_MAX; -1 when it is not one. */
static int delta_seconds(const char *v, size_t len)
{
    if (len == 0)
        return -1;
    long long n = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        if (n < INT_MAX)
            n = n * 10 + (v[i] - '0');
    }
    return n > INT_MAX ? INT_MAX : (int)n;
}

/* A well-formed preference; a wait counts when none came before it. */
static void apply(struct http_prefer *p, const char *name, size_t name_len, const char *value,
                  size_t value_len)
{
    if (name_len == 4 && strncasecmp(name, "wait", 4) == 0) {
        int s = delta_seconds(value, value_len);
        if (s >= 0 && p->wait_s < 0)
            p->wait_s = s;
    } else if (name_len == 13 && strncasecmp(name, "respond-async", 13) == 0 && value_len == 0) {
        p->respond_async = true;
    }
}

/* One preference starting at p (after the list's whitespace): applies it
 * when it is well formed. Returns where it ends: at a ',' or the end. */
static const char *read_preference(struct http_prefer *p, const char *s)
{
    size_t name_len = token_len(s);
    if (name_len == 0)
        return next_element(s);
    const char *name = s, *value = "", *q = skip_ows(s + name_len);
    size_t value_len = 0;
    if (*q == '=') {
        q = read_word(skip_ows(q + 1), &value, &value_len);
        if (!q)
            return next_element(s);
        q = skip_ows(q);
    }
    while (*q == ';') { /* parameters: read past, not used */
        q = skip_ows(q + 1);
        size_t n = token_len(q);
        q = skip_ows(q + n);
        if (n > 0 && *q == '=') {
            const char *pv;
            size_t pl;
            q = read_word(skip_ows(q + 1), &pv, &pl);
            if (!q)
                return next_element(s);
            q = skip_ows(q);
        }
    }
    if (*q != ',' && *q != '\0')
        return next_element(q);
    apply(p, name, name_len, value, value_len);
    return q;
}

void http_prefer_init(struct http_prefer *p)
{
    p->wait_s = -1;
    p->respond_async = false;
}

void http_prefer_parse(struct http_prefer *p, const char *value)
{
    const char *s = value;
    while (*s) {
        s = skip_ows(s);
        if (*s == ',') {
            s++;
            continue;
        }
        if (*s)
            s = read_preference(p, s);
    }
}
