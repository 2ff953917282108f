/* log.h - JSON-lines logging on stderr.
 *
 * Every line is one JSON object written with a single write(2), so processes
 * sharing stderr (the supervisor and its workers) never interleave within a
 * line (lines longer than PIPE_BUF may still interleave on a pipe):
 *
 *     {"ts":"2026-11-23T23:59:59.123Z","level":"info","msg":"job finished",
 *      "worker":"host-42","job":"song-42","ms":812}
 *
 *     log_info("took job %s", id);                       printf-style message
 *     log_kv(LOG_INFO, "job finished",                    message + fields
 *            LOG_STR("stage", "encoding"), LOG_INT("ms", 812), LOG_NUM("rtf", 0.4));
 *
 * "worker" is the process's worker id (log_set_worker) and "job" the calling
 * thread's current job (log_set_job); each is left out while unset. Strings
 * are JSON-escaped, invalid UTF-8 becomes U+FFFD, and every string registered
 * with log_add_secret is replaced by "***" wherever it appears.
 *
 * Set up (level, worker, secrets, fd) before starting threads: those settings
 * are process-wide and not locked. log_set_job is per thread. */
#ifndef JEN1_LOG_H
#define JEN1_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* "debug", "info", "warn" (or "warning"), "error" -> level; 0, or -1 when unknown. */
int log_level_parse(const char *name, enum log_level *out);
const char *log_level_name(enum log_level level);

void log_set_level(enum log_level level);   /* lines below it are dropped; default info */
bool log_enabled(enum log_level level);
void log_set_worker(const char *worker_id); /* NULL or "" removes the field */
void log_set_job(const char *job_id);       /* this thread's job; NULL or "" clears */
const char *log_job(void);                  /* this thread's job, "" when none */
void log_set_fd(int fd);                    /* default 2 (stderr) */

/* Registers a string that must never be printed (a password, a token).
 * Returns 0, or -1 when the table (64 secrets) is full or the secret is empty. */
int log_add_secret(const char *secret);
void log_clear_secrets(void);

/* One extra key/value on a line; build them with the LOG_* macros. */
struct log_field {
    const char *key; /* NULL ends a list */
    enum { LOG_FIELD_STR, LOG_FIELD_INT, LOG_FIELD_NUM, LOG_FIELD_BOOL, LOG_FIELD_JSON } type;
    const char *str; /* STR (NULL prints null), JSON: an already valid JSON text */
    int64_t i;       /* INT, BOOL */
    double num;      /* NUM (non-finite prints null) */
};

#define LOG_STR(k, v) ((struct log_field){ .key = (k), .type = LOG_FIELD_STR, .str = (v) })
#define LOG_INT(k, v) ((struct log_field){ .key = (k), .type = LOG_FIELD_INT, .i = (v) })
#define LOG_NUM(k, v) ((struct log_field){ .key = (k), .type = LOG_FIELD_NUM, .num = (v) })
#define LOG_BOOL(k, v) ((struct log_field){ .key = (k), .type = LOG_FIELD_BOOL, .i = !!(v) })
#define LOG_JSON(k, v) ((struct log_field){ .key = (k), .type = LOG_FIELD_JSON, .str = (v) })

/* Writes one line: msg and the fields up to the first with a NULL key
 * (fields may be NULL). log_kv takes one field or more. */
void log_fields(enum log_level level, const char *msg, const struct log_field *fields);
#define log_kv(level, msg, ...) \
    log_fields((level), (msg), (const struct log_field[]){ __VA_ARGS__, { .key = NULL } })

/* A budget of lines per second for a source that can repeat itself without
 * end (libevent's own log, a failing accept()): log_limit_allow says whether
 * one more line may go out now. Lines refused are counted; the first line
 * allowed after them gets that count in *dropped (to log with it), else 0.
 * Zero-initialise with per_second set: { .per_second = 5 }. One thread. */
struct log_limit {
    int per_second;
    int64_t second; /* CLOCK_MONOTONIC seconds of the current budget */
    int used;
    int64_t dropped;
};
bool log_limit_allow(struct log_limit *l, int64_t *dropped);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap);
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
