/* log.c - JSON-lines logging; see log.h. */
#include "log.h"

#include "buf.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { MAX_SECRETS = 64, MAX_ID = 128, MAX_VALUE_BYTES = 8192 };

static enum log_level min_level = LOG_INFO;
static int out_fd = 2;
static char worker_id[MAX_ID + 1];
static _Thread_local char job_id[MAX_ID + 1];
static char *secrets[MAX_SECRETS];
static size_t secret_lens[MAX_SECRETS];
static size_t n_secrets;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

int log_level_parse(const char *name, enum log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    if (strcmp(name, "warning") == 0) {
        *out = LOG_WARN;
        return 0;
    }
    return -1;
}

const char *log_level_name(enum log_level level)
{
    return level <= LOG_ERROR ? level_names[level] : "error";
}

void log_set_level(enum log_level level) { min_level = level; }
bool log_enabled(enum log_level level) { return level >= min_level; }
void log_set_fd(int fd) { out_fd = fd; }
const char *log_job(void) { return job_id; }

static void copy_id(char *dst, const char *src)
{
    snprintf(dst, MAX_ID + 1, "%s", src ? src : "");
}

void log_set_worker(const char *id) { copy_id(worker_id, id); }
void log_set_job(const char *id) { copy_id(job_id, id); }

int log_add_secret(const char *secret)
{
    if (!secret || !*secret || n_secrets == MAX_SECRETS)
        return -1;
    for (size_t i = 0; i < n_secrets; i++)
        if (strcmp(secrets[i], secret) == 0)
            return 0;
    char *copy = strdup(secret);
    if (!copy)
        return -1;
    secrets[n_secrets] = copy;
    secret_lens[n_secrets] = strlen(copy);
    n_secrets++;
    return 0;
}

void log_clear_secrets(void)
{
    for (size_t i = 0; i < n_secrets; i++)
        free(secrets[i]);
    n_secrets = 0;
}

/* ---- Building one line --------------------------------------------------- */

/* The length of the secret that starts at s (n bytes left), or 0. */
static size_t secret_at(const char *s, size_t n)
{
    for (size_t i = 0; i < n_secrets; i++)
        if (secret_lens[i] <= n && memcmp(s, secrets[i], secret_lens[i]) == 0)
            return secret_lens[i];
    return 0;
}

/* The length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_sequence(const unsigned char *s, size_t n)
{
    size_t len;
    uint32_t cp;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        len = 2;
        cp = s[0] & 0x1f;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        len = 3;
        cp = s[0] & 0x0f;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        len = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    bool overlong = (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    bool surrogate = cp >= 0xd800 && cp <= 0xdfff;
    return overlong || surrogate || cp > 0x10ffff ? 0 : len;
}

/* Appends s as the inside of a JSON string: secrets masked, then escaped. */
static void put_escaped(buf *l, const char *s)
{
    size_t n = strlen(s);
    bool truncated = n > MAX_VALUE_BYTES;
    if (truncated)
        n = MAX_VALUE_BYTES;
    size_t i = 0;
    while (i < n) {
        size_t secret = secret_at(s + i, n - i);
        if (secret) {
            buf_puts(l, "***");
            i += secret;
            continue;
        }
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char esc[2] = { '\\', (char)c };
            buf_append(l, esc, 2);
        } else if (c == '\n') {
            buf_puts(l, "\\n");
        } else if (c == '\r') {
            buf_puts(l, "\\r");
        } else if (c == '\t') {
            buf_puts(l, "\\t");
        } else if (c < 0x20 || c == 0x7f) {
            buf_printf(l, "\\u%04x", c);
        } else {
            size_t seq = utf8_sequence((const unsigned char *)s + i, n - i);
            if (seq) {
                buf_append(l, s + i, seq);
                i += seq;
                continue;
            }
            buf_puts(l, "\xef\xbf\xbd");
        }
        i++;
    }
    if (truncated)
        buf_puts(l, "...(truncated)");
}

static void put_key(buf *l, const char *key)
{
    buf_puts(l, ",\"");
    put_escaped(l, key);
    buf_puts(l, "\":");
}

static void put_string_field(buf *l, const char *key, const char *value)
{
    put_key(l, key);
    buf_puts(l, "\"");
    put_escaped(l, value);
    buf_puts(l, "\"");
}

/* Raw JSON is copied as is, but still never shows a secret. */
static void put_raw_json(buf *l, const char *json)
{
    size_t n = strlen(json);
    for (size_t i = 0; i < n;) {
        size_t secret = secret_at(json + i, n - i);
        if (secret) {
            buf_puts(l, "***");
            i += secret;
        } else {
            buf_append(l, json + i, 1);
            i++;
        }
    }
}

/* The shortest "%g" that reads back as the same double. */
static void format_double(char *buf, size_t len, double v)
{
    snprintf(buf, len, "%.15g", v);
    if (strtod(buf, NULL) != v)
        snprintf(buf, len, "%.17g", v);
}

static void put_field(buf *l, const struct log_field *f)
{
    char num[40];
    switch (f->type) {
    case LOG_FIELD_STR:
        if (f->str) {
            put_string_field(l, f->key, f->str);
            return;
        }
        put_key(l, f->key);
        buf_puts(l, "null");
        return;
    case LOG_FIELD_INT:
        put_key(l, f->key);
        buf_printf(l, "%" PRId64, f->i);
        return;
    case LOG_FIELD_NUM:
        put_key(l, f->key);
        if (isfinite(f->num)) {
            format_double(num, sizeof num, f->num);
            buf_puts(l, num);
        } else {
            buf_puts(l, "null");
        }
        return;
    case LOG_FIELD_BOOL:
        put_key(l, f->key);
        buf_puts(l, f->i ? "true" : "false");
        return;
    case LOG_FIELD_JSON:
        put_key(l, f->key);
        put_raw_json(l, f->str && *f->str ? f->str : "null");
        return;
    }
}

static void put_timestamp(buf *l)
{
    int64_t now_ms = clock_unix_ms();
    time_t seconds = (time_t)(now_ms / 1000);
    struct tm tm;
    gmtime_r(&seconds, &tm);
    buf_printf(l, "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"", tm.tm_year + 1900,
               tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(now_ms % 1000));
}

static void write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(out_fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

void log_fields(enum log_level level, const char *msg, const struct log_field *fields)
{
    if (!log_enabled(level))
        return;
    buf l = BUF_INIT;
    put_timestamp(&l);
    put_string_field(&l, "level", log_level_name(level));
    put_string_field(&l, "msg", msg ? msg : "");
    if (worker_id[0])
        put_string_field(&l, "worker", worker_id);
    if (job_id[0])
        put_string_field(&l, "job", job_id);
    for (const struct log_field *f = fields; f && f->key; f++)
        put_field(&l, f);
    buf_puts(&l, "}\n");
    if (buf_failed(&l)) {
        static const char fallback[] =
            "{\"level\":\"error\",\"msg\":\"out of memory while formatting a log line\"}\n";
        write_all(fallback, sizeof fallback - 1);
    } else {
        write_all(l.data, l.len);
    }
    buf_free(&l);
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
    if (!log_enabled(level))
        return;
    buf msg = BUF_INIT;
    if (buf_vprintf(&msg, fmt, ap) != 0)
        log_fields(level, fmt, NULL); /* out of memory or a bad format: say what we can */
    else
        log_fields(level, msg.data, NULL);
    buf_free(&msg);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, fmt, ap);
    va_end(ap);
}

bool log_limit_allow(struct log_limit *l, int64_t *dropped)
{
    int64_t now = clock_monotonic_ms() / 1000;
    *dropped = 0;
    if (now != l->second) {
        l->second = now;
        l->used = 0;
    }
    if (l->used >= l->per_second) {
        l->dropped++;
        return false;
    }
    l->used++;
    *dropped = l->dropped;
    l->dropped = 0;
    return true;
}
