/* config.c - the daemon's settings: defaults, environment, flags; see config.h.
 *
 * One table describes every setting (flag, variable, default, help, how it is
 * parsed), so --help, the environment and the flags cannot drift apart. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http.h"
#include "job.h"
#include "loudness.h"

struct option;
typedef int (*option_setter)(const struct option *o, struct jen1_config *c, const char *value,
                             const char *name, char *err, size_t errlen);

struct option {
    const char *flag; /* NULL: environment only (secrets) */
    const char *env;
    const char *metavar;
    const char *default_text;
    const char *help;
    option_setter set;
    size_t offset;  /* the field set_int/set_bool/set_text write */
    long min, max;  /* set_int's range; set_text's buffer size in max; set_s3's setting in min */
    bool is_flag_bool; /* "--bf16" alone means 1 */
};

#define FIELD(f) offsetof(struct jen1_config, f)
#define TEXT(f) FIELD(f), 0, sizeof(((struct jen1_config *)0)->f)
#define S3(setting) FIELD(s3), (setting), 0

#define FAIL(...)                                \
    do {                                         \
        snprintf(err, errlen, __VA_ARGS__);      \
        return -1;                               \
    } while (0)

void config_defaults(struct jen1_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->redis_url, sizeof c->redis_url, "redis://127.0.0.1:6379/0");
    redis_url_parse(c->redis_url, &c->redis, NULL, 0);
    snprintf(c->prefix, sizeof c->prefix, "jen1");
    snprintf(c->model_dir, sizeof c->model_dir, "/var/lib/jen1/models/musicgen-small");
    snprintf(c->blob_url, sizeof c->blob_url, "file:///var/lib/jen1/blobs");
    blob_options_init(&c->s3);
    snprintf(c->s3_profile, sizeof c->s3_profile, "default");
    c->workers = 1;
    c->threads = 0; /* derived in config_load */
    c->batch = 0;   /* the device's default: config_default_batch */
    c->http_enabled = true;
    snprintf(c->http_addr, sizeof c->http_addr, "127.0.0.1:4001");
    snprintf(c->http_host, sizeof c->http_host, "127.0.0.1");
    c->http_port = 4001;
    c->http_timeout_s = 30;
    c->http_max_conns = 512;
    c->api_rate_limit = 600;
    /* A five-minute song takes about 20 minutes of two CPU cores (BENCHMARKS.md). */
    c->job_timeout_s = 3600;
    c->max_attempts = 3;
    c->retry_base_ms = 1000;
    c->result_ttl_s = 604800;
    c->max_queued = 1000;
    c->queued_ttl_s = 604800;
    c->dead_max = 10000;
    c->dead_max_age_s = 2592000;
    c->heartbeat_ms = 2000;
    c->grace_s = 30;
    c->max_duration_s = JOB_MAX_DURATION_DEFAULT;
    c->loudness_lufs = LOUDNESS_DEFAULT_LUFS;
    c->device = JEN1_DEVICE_AUTO;
    c->cuda_graph = true;
    c->log_level = LOG_INFO;
    c->engine = CONFIG_ENGINE_TORCH;
}

/* ---- Setters --------------------------------------------------------------- */

static void *field(struct jen1_config *c, const struct option *o)
{
    return (char *)c + o->offset;
}

static int set_int(const struct option *o, struct jen1_config *c, const char *v, const char *name,
                   char *err, size_t errlen)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (!isdigit((unsigned char)v[0]) || *end || errno || n < o->min || n > o->max)
        FAIL("%s must be an integer from %ld to %ld, not \"%s\"", name, o->min, o->max, v);
    *(int *)field(c, o) = (int)n;
    return 0;
}

static int set_bool(const struct option *o, struct jen1_config *c, const char *v,
                    const char *name, char *err, size_t errlen)
{
    bool *b = field(c, o);
    if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0)
        *b = true;
    else if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0)
        *b = false;
    else
        FAIL("%s must be 0 or 1, not \"%s\"", name, v);
    return 0;
}

static int copy_text(char *dst, size_t size, const char *v, const char *name, char *err,
                     size_t errlen)
{
    if (strlen(v) >= size)
        FAIL("%s is longer than %zu bytes", name, size - 1);
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

static int set_text(const struct option *o, struct jen1_config *c, const char *v,
                    const char *name, char *err, size_t errlen)
{
    return copy_text(field(c, o), (size_t)o->max, v, name, err, errlen);
}

static bool is_id_char(char ch)
{
    return isalnum((unsigned char)ch) || ch == '_' || ch == '.' || ch == '-';
}

/* The prefix and the worker id become parts of Redis keys: [A-Za-z0-9_.:-]. */
static int set_key_part(const struct option *o, struct jen1_config *c, const char *v,
                        const char *name, char *err, size_t errlen)
{
    size_t n = strlen(v), max = (size_t)o->max - 1;
    if (n == 0 || n > max)
        FAIL("%s must be 1 to %zu characters, not %zu", name, max, n);
    for (size_t i = 0; i < n; i++)
        if (!is_id_char(v[i]) && v[i] != ':')
            FAIL("%s may only hold letters, digits and _ . - :, not \"%s\"", name, v);
    return set_text(o, c, v, name, err, errlen);
}

static int set_blob_url(const struct option *o, struct jen1_config *c, const char *v,
                        const char *name, char *err, size_t errlen)
{
    bool file = strncmp(v, "file:///", 8) == 0 && v[8];
    bool s3 = strncmp(v, "s3://", 5) == 0 && v[5] && v[5] != '/';
    if (!file && !s3)
        FAIL("%s must be file:///absolute/dir or s3://bucket[/prefix], not \"%s\"", name, v);
    return set_text(o, c, v, name, err, errlen);
}

/* The S3 settings follow blob_options_set's rules (blob.h), which the
 * worker's blob store and the tools share. */
static int set_s3(const struct option *o, struct jen1_config *c, const char *v, const char *name,
                  char *err, size_t errlen)
{
    return blob_options_set(&c->s3, (blob_setting)o->min, v, name, err, errlen) == BLOB_OK ? 0 : -1;
}

static int parse_port(const char *s, int *port)
{
    char *end;
    errno = 0;
    long n = strtol(s, &end, 10);
    if (!isdigit((unsigned char)s[0]) || *end || errno || n < 0 || n > 65535)
        return -1;
    *port = (int)n;
    return 0;
}

/* "host:port", "[v6]:port" or ":port" (every interface). */
static int set_http_addr(const struct option *o, struct jen1_config *c, const char *v,
                         const char *name, char *err, size_t errlen)
{
    if (set_text(o, c, v, name, err, errlen) != 0)
        return -1;
    if (v[0] == '\0' || strcmp(v, "off") == 0) {
        c->http_enabled = false;
        c->http_host[0] = '\0';
        c->http_port = 0;
        return 0;
    }
    const char *host = v, *host_end, *colon;
    if (v[0] == '[') {
        host = v + 1;
        host_end = strchr(host, ']');
        colon = host_end ? host_end + 1 : NULL;
        if (!colon || *colon != ':')
            FAIL("%s must be HOST:PORT or [IPv6]:PORT, not \"%s\"", name, v);
    } else {
        colon = strrchr(v, ':');
        host_end = colon;
        if (!colon || memchr(v, ':', (size_t)(colon - v)))
            FAIL("%s must be HOST:PORT or [IPv6]:PORT, not \"%s\"", name, v);
    }
    int port;
    if (parse_port(colon + 1, &port) != 0)
        FAIL("%s has a port that is not a number from 0 to 65535: \"%s\"", name, v);
    size_t host_len = (size_t)(host_end - host);
    if (host_len >= sizeof c->http_host)
        FAIL("%s has a host longer than %zu bytes", name, sizeof c->http_host - 1);
    if (host_len == 0)
        snprintf(c->http_host, sizeof c->http_host, "0.0.0.0");
    else
        snprintf(c->http_host, sizeof c->http_host, "%.*s", (int)host_len, host);
    c->http_port = port;
    c->http_enabled = true;
    return 0;
}

/* A number of seconds from o->min to o->max into a double field. */
static int set_seconds(const struct option *o, struct jen1_config *c, const char *v, const char *name,
                       char *err, size_t errlen)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (end == v || *end || errno || !isfinite(d) || d < o->min || d > o->max)
        FAIL("%s must be a number of seconds from %ld to %ld, not \"%s\"", name, o->min, o->max, v);
    *(double *)field(c, o) = d;
    return 0;
}

/* "off", or a target in LUFS within the bounds a job may ask. */
static int set_loudness(const struct option *o, struct jen1_config *c, const char *v,
                        const char *name, char *err, size_t errlen)
{
    (void)o;
    if (strcmp(v, "off") == 0) {
        c->loudness_lufs = NAN;
        return 0;
    }
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (end == v || *end || errno || !(d >= LOUDNESS_MIN_LUFS && d <= LOUDNESS_MAX_LUFS))
        FAIL("%s must be off or a loudness in LUFS from %g to %g, not \"%s\"", name,
             LOUDNESS_MIN_LUFS, LOUDNESS_MAX_LUFS, v);
    c->loudness_lufs = d;
    return 0;
}

static int set_none_pace(const struct option *o, struct jen1_config *c, const char *v,
                         const char *name, char *err, size_t errlen)
{
    (void)o;
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (end == v || *end || errno || !isfinite(d) || d < 0 || d > 100)
        FAIL("%s must be a number from 0 to 100, not \"%s\"", name, v);
    c->none_pace = d;
    return 0;
}

/* JEN1_DEVICE's words, for reading it and for config_describe. */
static const char *const device_names[] = {
    [JEN1_DEVICE_AUTO] = "auto", [JEN1_DEVICE_CPU] = "cpu", [JEN1_DEVICE_CUDA] = "cuda"};

static int set_device(const struct option *o, struct jen1_config *c, const char *v,
                      const char *name, char *err, size_t errlen)
{
    (void)o;
    for (size_t i = 0; i < sizeof device_names / sizeof *device_names; i++) {
        if (strcmp(v, device_names[i]) == 0) {
            c->device = (jen1_device)i;
            return 0;
        }
    }
    FAIL("%s must be auto, cpu or cuda, not \"%s\"", name, v);
}

static int set_weights(const struct option *o, struct jen1_config *c, const char *v,
                       const char *name, char *err, size_t errlen)
{
    (void)o;
    if (jen1_weight_type_parse(v, &c->weights) == 0)
        return 0;
    FAIL("%s must be f32, bf16 or int8, not \"%s\"", name, v);
}

/* JEN1_BF16=1 is JEN1_WEIGHTS=bf16. Where both are given and disagree, a
 * flag wins over the environment, as everywhere; two flags or two variables
 * that disagree are an error. */
static int resolve_weights(struct jen1_config *c, const char *weights_origin, const char *bf16_origin,
                           char *err, size_t errlen)
{
    if (c->bf16 && weights_origin && c->weights != JEN1_WEIGHTS_BF16) {
        bool weights_flag = weights_origin[0] == '-', bf16_flag = bf16_origin[0] == '-';
        if (weights_flag == bf16_flag)
            FAIL("%s=1 contradicts %s=%s", bf16_origin, weights_origin, jen1_weight_type_name(c->weights));
        c->bf16 = bf16_flag;
    }
    if (c->bf16)
        c->weights = JEN1_WEIGHTS_BF16;
    c->bf16 = c->weights == JEN1_WEIGHTS_BF16;
    return 0;
}

static int set_log_level(const struct option *o, struct jen1_config *c, const char *v,
                         const char *name, char *err, size_t errlen)
{
    (void)o;
    if (log_level_parse(v, &c->log_level) != 0)
        FAIL("%s must be debug, info, warn or error, not \"%s\"", name, v);
    return 0;
}

static int set_engine(const struct option *o, struct jen1_config *c, const char *v,
                      const char *name, char *err, size_t errlen)
{
    (void)o;
    if (strcmp(v, "torch") == 0)
        c->engine = CONFIG_ENGINE_TORCH;
    else if (strcmp(v, "none") == 0)
        c->engine = CONFIG_ENGINE_NONE;
    else
        FAIL("%s must be torch or none, not \"%s\"", name, v);
    return 0;
}

/* ---- REDIS_URL -------------------------------------------------------------- */

static int set_redis_url(const struct option *o, struct jen1_config *c, const char *v,
                         const char *name, char *err, size_t errlen)
{
    redis_url parsed;
    char why[256];
    if (redis_url_parse(v, &parsed, why, sizeof why) != 0) {
        const char *reason = strncmp(why, "redis URL: ", 11) == 0 ? why + 11 : why;
        FAIL("%s: %s", name, reason);
    }
    if (set_text(o, c, v, name, err, errlen) != 0)
        return -1;
    c->redis = parsed;
    return 0;
}

/* Writes s percent-encoded (all but RFC 3986's unreserved characters) to out,
 * which has room for three times strlen(s) plus one. */
static void percent_encode(const char *s, char *out)
{
    size_t n = 0;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~')
            out[n++] = (char)ch;
        else
            n += (size_t)sprintf(out + n, "%%%02X", ch);
    }
    out[n] = '\0';
}

/* REDIS_URL again from its parts, with the (new) password in it. */
static int compose_redis_url(const redis_url *u, char *buf, size_t len, const char *name,
                             char *err, size_t errlen)
{
    char user[3 * sizeof u->user], password[3 * sizeof u->password], auth[sizeof user +
                                                                          sizeof password + 2];
    percent_encode(u->user, user);
    percent_encode(u->password, password);
    snprintf(auth, sizeof auth, "%s%s%s%s", user, password[0] ? ":" : "", password,
             user[0] || password[0] ? "@" : "");
    bool v6 = strchr(u->host, ':') != NULL;
    int n = u->is_unix ? snprintf(buf, len, "unix://%s%s?db=%d", auth, u->path, u->db)
                       : snprintf(buf, len, "%s://%s%s%s%s:%d/%d", u->tls ? "rediss" : "redis", auth, v6 ? "[" : "",
                                  u->host, v6 ? "]" : "", u->port, u->db);
    memset(password, 0, sizeof password);
    memset(auth, 0, sizeof auth);
    if (n < 0 || (size_t)n >= len)
        FAIL("%s: the Redis URL with this password is longer than %zu bytes", name, len - 1);
    return 0;
}

/* ---- The settings ------------------------------------------------------------------ */

static const struct option options[] = {
    { "--redis-url", "REDIS_URL", "URL", "redis://127.0.0.1:6379/0",
      "Redis: redis://[[user]:password@]host[:port][/db], rediss://... (TLS) or unix:///path.sock[?db=N]",
      set_redis_url, TEXT(redis_url), false },
    { "--redis-password-file", "JEN1_REDIS_PASSWORD_FILE", "PATH", "none",
      "a file holding the Redis password (wins over one in the URL)", set_text,
      TEXT(redis_password_file), false },
    { "--prefix", "JEN1_PREFIX", "NAME", "jen1", "key prefix: keys are {NAME}:queue, ...",
      set_key_part, TEXT(prefix), false },
    { "--model-dir", "JEN1_MODEL_DIR", "DIR", "/var/lib/jen1/models/musicgen-small",
      "the model directory served (config.json, model.safetensors, spiece.model)", set_text,
      TEXT(model_dir), false },
    { "--text-model-dir", "JEN1_TEXT_MODEL_DIR", "DIR", "none (the rules write the words)",
      "a language model that writes the songs' words (a Qwen2.5-Instruct checkpoint directory); "
      "loaded at start with --device and --bf16; a worker that cannot load it serves with the rules",
      set_text, TEXT(text_model_dir), false },
    { "--blob-url", "JEN1_BLOB_URL", "URL", "file:///var/lib/jen1/blobs",
      "where audio goes: file:///dir or s3://bucket/prefix", set_blob_url, TEXT(blob_url),
      false },
    { "--s3-endpoint", "JEN1_S3_ENDPOINT", "URL", "https://s3.REGION.amazonaws.com",
      "the S3 service of an s3:// blob URL: http(s)://host[:port]", set_s3,
      S3(BLOB_S3_ENDPOINT), false },
    { "--s3-region", "AWS_REGION", "REGION", "us-east-1", "the S3 region (signs requests)",
      set_s3, S3(BLOB_S3_REGION), false },
    { NULL, "AWS_ACCESS_KEY_ID", "KEY", "none", "S3 access key id (environment only)", set_s3,
      S3(BLOB_S3_ACCESS_KEY), false },
    { NULL, "AWS_SECRET_ACCESS_KEY", "SECRET", "none", "S3 secret key (environment only)",
      set_s3, S3(BLOB_S3_SECRET_KEY), false },
    { NULL, "AWS_SESSION_TOKEN", "TOKEN", "none",
      "S3 session token of temporary credentials (environment only)", set_s3,
      S3(BLOB_S3_SESSION_TOKEN), false },
    { "--s3-credentials-file", "JEN1_S3_CREDENTIALS_FILE", "PATH", "none",
      "an AWS shared-credentials file, read when the AWS_* keys above are unset", set_text,
      TEXT(s3_credentials_file), false },
    { "--s3-profile", "AWS_PROFILE", "NAME", "default", "the credentials file's profile",
      set_text, TEXT(s3_profile), false },
    { "--s3-path-style", "JEN1_S3_PATH_STYLE", "0|1", "1 with an endpoint, else 0",
      "1: http://endpoint/bucket/key, 0: http://bucket.endpoint/key", set_s3,
      S3(BLOB_S3_PATH_STYLE), true },
    { "--s3-connect-timeout-ms", "JEN1_S3_CONNECT_TIMEOUT_MS", "MS", "10000",
      "longest wait for a connection to S3", set_s3, S3(BLOB_CONNECT_TIMEOUT_MS), false },
    { "--s3-timeout-ms", "JEN1_S3_TIMEOUT_MS", "MS", "300000", "longest S3 request, whole",
      set_s3, S3(BLOB_TIMEOUT_MS), false },
    { "--workers", "JEN1_WORKERS", "N", "1", "worker processes", set_int, FIELD(workers), 1, 64,
      false },
    { "--threads", "JEN1_THREADS", "N", "cores / workers, at least 1",
      "compute threads per worker", set_int, FIELD(threads), 1, 1024, false },
    { "--batch", "JEN1_BATCH", "N", "4 on a CPU, 32 on a GPU",
      "jobs a worker process decodes together (one decoder pass serves them all); a worker "
      "takes a new job whenever one of them leaves", set_int, FIELD(batch), 1, 64, false },
    { "--http-addr", "JEN1_HTTP_ADDR", "HOST:PORT", "127.0.0.1:4001",
      "HTTP address ([::1]:PORT for IPv6); \"\" or off disables HTTP", set_http_addr,
      TEXT(http_addr), false },
    { "--http-timeout", "JEN1_HTTP_TIMEOUT", "SECONDS", "30",
      "an HTTP request that has not arrived whole (headers and body) in this long is dropped; "
      "so is a client this slow to read its answer", set_int, FIELD(http_timeout_s), 1, 3600, false },
    { "--http-max-connections", "JEN1_HTTP_MAX_CONNECTIONS", "N", "512",
      "HTTP connections held at once; at the cap the slowest request still arriving makes room "
      "(keep it well under the process's file limit, LimitNOFILE)", set_int,
      FIELD(http_max_conns), 1, 65536, false },
    { "--http-allowed-hosts", "JEN1_HTTP_ALLOWED_HOSTS", "NAME,...", "none",
      "Host header names answered besides localhost/127.0.0.1/::1 (DNS rebinding guard); * for any",
      set_text, TEXT(http_allowed_hosts), false },
    { "--http-insecure-open", "JEN1_HTTP_INSECURE_OPEN", "0|1", "0",
      "serve a non-loopback JEN1_HTTP_ADDR with no API token (anyone may enqueue; logged loudly)",
      set_bool, FIELD(http_insecure_open), 0, 1, true },
    { "--http-default-wait", "JEN1_HTTP_DEFAULT_WAIT", "SECONDS", "0",
      "how long POST /generate waits for its song when the request asks nothing (?wait=, Prefer); "
      "0: 202 at once", set_int, FIELD(http_default_wait_s), 0, HTTP_MAX_WAIT_S, false },
    { "--use-torch", "USE_TORCH", "0|1", "0", "serve GET /debug/torch", set_bool,
      FIELD(use_torch), 0, 1, true },
    { NULL, "JEN1_API_TOKEN", "TOKEN", "none",
      "bearer token every endpoint but /health requires (environment only); required on a "
      "non-loopback address", set_text, TEXT(api_token), false },
    { "--api-token-file", "JEN1_API_TOKEN_FILE", "PATH", "none",
      "a file holding the API token (wins over JEN1_API_TOKEN)", set_text,
      TEXT(api_token_file), false },
    { "--api-tokens-file", "JEN1_API_TOKENS_FILE", "PATH", "none",
      "more tokens, one a line: NAME SECRET [rate=N] [priority] (priority: may set \"priority\")",
      set_text, TEXT(api_tokens_file), false },
    { "--api-rate-limit", "JEN1_API_RATE_LIMIT", "N", "600",
      "POST /generate requests a token may make a minute (a token's own rate= wins); 0: no limit",
      set_int, FIELD(api_rate_limit), 0, 1000000, false },
    { "--job-timeout", "JEN1_JOB_TIMEOUT", "SECONDS", "3600",
      "a job running longer is stopped and fails with \"timeout\"", set_int,
      FIELD(job_timeout_s), 1, 86400, false },
    { "--max-attempts", "JEN1_MAX_ATTEMPTS", "N", "3",
      "attempts without progress (no new checkpoint) before a job fails: transient failures, dead workers",
      set_int, FIELD(max_attempts), 1, 100,
      false },
    { "--retry-base-ms", "JEN1_RETRY_BASE_MS", "MS", "1000",
      "first retry delay, doubled per attempt (capped at 60 s)", set_int,
      FIELD(retry_base_ms), 1, 3600000, false },
    { "--result-ttl", "JEN1_RESULT_TTL", "SECONDS", "604800",
      "how long finished jobs are kept", set_int, FIELD(result_ttl_s), 1, 315360000, false },
    { "--max-queued", "JEN1_MAX_QUEUED", "N", "1000",
      "jobs that may wait at once; more are refused (HTTP 429 queue_full, jen1ctl exit 5)", set_int,
      FIELD(max_queued), 1, 100000000, false },
    { "--queued-ttl", "JEN1_QUEUED_TTL", "SECONDS", "604800",
      "how long a queued job's hash is kept when no worker starts it", set_int, FIELD(queued_ttl_s), 1,
      315360000, false },
    { "--dead-max", "JEN1_DEAD_MAX", "N", "10000", "entries the dead list keeps (the newest)", set_int,
      FIELD(dead_max), 1, 10000000, false },
    { "--dead-max-age", "JEN1_DEAD_MAX_AGE", "SECONDS", "2592000",
      "dead entries older than this are dropped", set_int, FIELD(dead_max_age_s), 1, 315360000, false },
    { "--http-client-ids", "JEN1_HTTP_CLIENT_IDS", "0|1", "0",
      "POST /generate may choose its job's id (else the server mints every id over HTTP)", set_bool,
      FIELD(http_client_ids), 0, 1, true },
    { "--heartbeat-ms", "JEN1_HEARTBEAT_MS", "MS", "2000",
      "heartbeat period; a worker silent for 3 periods is reaped", set_int,
      FIELD(heartbeat_ms), 100, 600000, false },
    { "--grace-seconds", "JEN1_GRACE_SECONDS", "SECONDS", "30",
      "on SIGTERM, how long running jobs may finish", set_int, FIELD(grace_s), 0, 86400,
      false },
    { "--max-duration", "JEN1_MAX_DURATION", "SECONDS", "300", "longest duration a job may ask",
      set_seconds, FIELD(max_duration_s), 1, 3600, false },
    { "--window", "JEN1_WINDOW_SECONDS", "SECONDS", "0 (the model's: 30, within its position table)",
      "a long song is rendered in windows this long", set_seconds, FIELD(window_s), 0, 3600, false },
    { "--stride", "JEN1_STRIDE_SECONDS", "SECONDS", "0 (18, or 3/5 of a shorter window)",
      "new seconds per window after the first; the rest of a window is context", set_seconds,
      FIELD(stride_s), 0, 3600, false },
    { "--loudness", "JEN1_LOUDNESS", "LUFS|off", "-14",
      "integrated loudness (EBU R128) of jobs that give none, true peak under -1 dBTP; off: "
      "the model's level", set_loudness, FIELD(loudness_lufs), 0, 0, false },
    { "--device", "JEN1_DEVICE", "auto|cpu|cuda", "auto", "where the engine runs", set_device,
      FIELD(device), 0, 0, false },
    { "--weights", "JEN1_WEIGHTS", "f32|bf16|int8", "f32",
      "the decoder's weight type: bf16 halves the bytes a step reads, int8 (per-channel scales) "
      "quarters them; both drift a little from f32 (BENCHMARKS.md); the text model takes int8 as bf16",
      set_weights, FIELD(weights), 0, 0, false },
    { "--bf16", "JEN1_BF16", "0|1", "0", "the same as --weights bf16", set_bool,
      FIELD(bf16), 0, 1, true },
    { "--cuda-graph", "JEN1_CUDA_GRAPH", "0|1", "1",
      "on a GPU, each decode step replays a captured CUDA graph (0: op by op, docs/gpu.md)", set_bool,
      FIELD(cuda_graph), 0, 1, true },
    { "--log-level", "JEN1_LOG_LEVEL", "debug|info|warn|error", "info", "least severe level logged",
      set_log_level, FIELD(log_level), 0, 0, false },
    { "--worker-id", "JEN1_WORKER_ID", "ID", "hostname-pid",
      "this daemon's name in Redis and in the logs", set_key_part, TEXT(worker_id), false },
    { "--engine", "JEN1_ENGINE", "torch|none", "torch",
      "none skips the engine and renders silence (benchmarks and tests only)", set_engine,
      FIELD(engine), 0, 0, false },
    { "--none-pace", "JEN1_NONE_PACE", "SECONDS", "0",
      "with --engine none: wall seconds per second of audio, so tests can interrupt a job",
      set_none_pace, FIELD(none_pace), 0, 0, false },
};

enum { N_OPTIONS = sizeof options / sizeof options[0] };

/* The variable read when an option's own is unset or empty (AWS's tools
 * read the region so), or NULL. */
static const char *env_fallback(const struct option *o)
{
    return strcmp(o->env, "AWS_REGION") == 0 ? "AWS_DEFAULT_REGION" : NULL;
}

/* ---- Loading ------------------------------------------------------------------ */

/* Reads a secret from a file: the first 4 KiB at most, trailing newlines and
 * spaces dropped. The message names the option and the path, never the content. */
static int read_secret_file(const char *path, const char *name, char *dst, size_t size,
                            char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        FAIL("%s: cannot open %s: %s", name, path, strerror(errno));
    char buf[4097];
    size_t len = 0;
    while (len < sizeof buf - 1) {
        ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            FAIL("%s: cannot read %s: %s", name, path, strerror(e));
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    while (len > 0 && isspace((unsigned char)buf[len - 1]))
        len--;
    buf[len] = '\0';
    int rc = -1;
    if (len == 0) {
        snprintf(err, errlen, "%s: %s is empty", name, path);
    } else if (len >= size || memchr(buf, '\0', len)) {
        snprintf(err, errlen, "%s: %s does not hold one secret of at most %zu bytes", name, path,
                 size - 1);
    } else {
        memcpy(dst, buf, len + 1);
        rc = 0;
    }
    memset(buf, 0, sizeof buf);
    return rc;
}

static const struct option *find_flag(const char *arg, size_t len)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (options[i].flag && strlen(options[i].flag) == len &&
            strncmp(options[i].flag, arg, len) == 0)
            return &options[i];
    return NULL;
}

static size_t option_index(size_t offset)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (options[i].offset == offset)
            return i;
    return 0;
}

static int load_env(struct jen1_config *c, const char **origin, char *err, size_t errlen)
{
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const char *name = options[i].env, *v = getenv(name);
        if ((!v || !*v) && env_fallback(&options[i]))
            v = getenv(name = env_fallback(&options[i]));
        /* An empty variable counts as unset, except where "" has a meaning. */
        if (!v || (!*v && options[i].set != set_http_addr))
            continue;
        if (options[i].set(&options[i], c, v, name, err, errlen) != 0)
            return -1;
        origin[i] = name;
    }
    return 0;
}

static bool is_bool_word(const char *s)
{
    return strcmp(s, "0") == 0 || strcmp(s, "1") == 0 || strcmp(s, "true") == 0 ||
           strcmp(s, "false") == 0;
}

static enum config_status load_args(struct jen1_config *c, int argc, char **argv,
                                    const char **origin, char *err, size_t errlen)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
            return CONFIG_HELP;
        if (strncmp(arg, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument \"%s\" (see --help)", arg);
            return CONFIG_ERROR;
        }
        const char *eq = strchr(arg, '=');
        size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
        const struct option *o = find_flag(arg, name_len);
        if (!o) {
            snprintf(err, errlen, "unknown option %.*s (see --help)", (int)name_len, arg);
            return CONFIG_ERROR;
        }
        const char *value;
        if (eq) {
            value = eq + 1;
        } else if (o->is_flag_bool && (i + 1 == argc || !is_bool_word(argv[i + 1]))) {
            value = "1";
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            snprintf(err, errlen, "%s needs a value (%s)", o->flag, o->metavar);
            return CONFIG_ERROR;
        }
        if (o->set(o, c, value, o->flag, err, errlen) != 0)
            return CONFIG_ERROR;
        origin[o - options] = o->flag;
    }
    return CONFIG_OK;
}

static void default_worker_id(char *dst, size_t size)
{
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0 || !host[0])
        snprintf(host, sizeof host, "jen1");
    for (char *p = host; *p; p++)
        if (!is_id_char(*p))
            *p = '-';
    char pid[24];
    int n = snprintf(pid, sizeof pid, "-%ld", (long)getpid());
    snprintf(dst, size, "%.*s%s", (int)(size - 1 - (size_t)n), host, pid);
}

enum config_status config_load(struct jen1_config *c, int argc, char **argv, char *err,
                               size_t errlen)
{
    const char *origin[N_OPTIONS] = { 0 };
    config_defaults(c);
    if (load_env(c, origin, err, errlen) != 0)
        return CONFIG_ERROR;
    enum config_status st = load_args(c, argc, argv, origin, err, errlen);
    if (st != CONFIG_OK)
        return st;

    if (c->redis_password_file[0]) {
        const char *name = origin[option_index(FIELD(redis_password_file))];
        if (read_secret_file(c->redis_password_file, name, c->redis.password,
                             sizeof c->redis.password, err, errlen) != 0)
            return CONFIG_ERROR;
        if (compose_redis_url(&c->redis, c->redis_url, sizeof c->redis_url, name, err,
                              errlen) != 0)
            return CONFIG_ERROR;
    }
    if (c->api_token_file[0]) {
        const char *name = origin[option_index(FIELD(api_token_file))];
        if (read_secret_file(c->api_token_file, name, c->api_token, sizeof c->api_token, err,
                             errlen) != 0)
            return CONFIG_ERROR;
    }
    if (c->s3_credentials_file[0] && !c->s3.s3_access_key[0] && !c->s3.s3_secret_key[0]) {
        const char *name = origin[option_index(FIELD(s3_credentials_file))];
        const char *profile = c->s3_profile[0] ? c->s3_profile : "default";
        if (blob_options_read_credentials(&c->s3, c->s3_credentials_file, profile, name, err,
                                          errlen) != BLOB_OK)
            return CONFIG_ERROR;
    }
    if (resolve_weights(c, origin[option_index(FIELD(weights))], origin[option_index(FIELD(bf16))], err,
                        errlen) != 0)
        return CONFIG_ERROR;
    if (c->threads == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        c->threads = cores > c->workers ? (int)(cores / c->workers) : 1;
    }
    if (!c->worker_id[0])
        default_worker_id(c->worker_id, sizeof c->worker_id);
    c->heartbeat_ttl_ms = 3 * c->heartbeat_ms;
    return CONFIG_OK;
}

void config_protect_secrets(const struct jen1_config *c)
{
    char encoded[3 * sizeof c->redis.password];
    percent_encode(c->redis.password, encoded);
    log_add_secret(c->redis.password);
    log_add_secret(encoded);
    log_add_secret(c->api_token);
    log_add_secret(c->s3.s3_access_key);
    log_add_secret(c->s3.s3_secret_key);
    log_add_secret(c->s3.s3_session_token);
    memset(encoded, 0, sizeof encoded);
}

/* ---- Help and description ---------------------------------------------------- */

/* Adds the S3 settings in effect to o, the keys as "***" (null when unset)
 * and the path style as null when it follows the endpoint. */
static int describe_s3(const blob_options *s3, json_t *o)
{
    const bool keys = s3->s3_access_key[0] || s3->s3_secret_key[0] || s3->s3_session_token[0];
    json_t *s = json_pack("{s:s?, s:s?, s:o, s:I, s:I, s:s?}",
                          "s3_endpoint", s3->s3_endpoint[0] ? s3->s3_endpoint : NULL,
                          "s3_region", s3->s3_region[0] ? s3->s3_region : NULL,
                          "s3_path_style",
                          s3->s3_path_style < 0 ? json_null() : json_boolean(s3->s3_path_style),
                          "s3_connect_timeout_ms", (json_int_t)s3->connect_timeout_ms,
                          "s3_timeout_ms", (json_int_t)s3->timeout_ms,
                          "s3_credentials", keys ? "***" : NULL);
    int rc = s ? json_object_update(o, s) : -1;
    json_decref(s);
    return rc;
}

void config_usage(FILE *out, const char *program)
{
    fprintf(out,
            "Usage: %s [OPTION...]\n"
            "\n"
            "The jen1 worker pool: takes music jobs from Redis, renders them, stores the\n"
            "audio and writes the GeneratedSong back (docs/protocol.md).\n"
            "\n"
            "Every option can also be set through its environment variable; a flag wins\n"
            "over its variable. Values go as --flag VALUE or --flag=VALUE.\n"
            "\n",
            program);
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const struct option *o = &options[i];
        char left[64];
        if (o->flag)
            snprintf(left, sizeof left, "%s %s", o->flag, o->metavar);
        else
            snprintf(left, sizeof left, "(no flag)");
        const char *fallback = env_fallback(o);
        fprintf(out, "  %-34s %s%s%s (default: %s)\n      %s\n", left, o->env,
                fallback ? " or " : "", fallback ? fallback : "", o->default_text, o->help);
    }
    fprintf(out, "  %-34s this text\n", "-h, --help");
}

int config_describe(const struct jen1_config *c, char *buf, size_t len)
{
    char redis[400];
    redis_url_describe(&c->redis, redis, sizeof redis);
    json_t *o = json_pack(
        "{s:s, s:s?, s:s?, s:s, s:s, s:s, s:i, s:i, s:s?, s:i, s:b, s:s?, s:i, s:i, s:i, s:i, s:i, "
        "s:i, s:f, s:f, s:f, s:s, s:b, s:s, s:s, s:s, s:i}",
        "redis", redis, "redis_user", c->redis.user[0] ? c->redis.user : NULL, "redis_password",
        c->redis.password[0] ? "***" : NULL, "prefix", c->prefix, "model_dir", c->model_dir, "blob_url", c->blob_url,
        "workers", c->workers, "threads", c->threads, "http_addr",
        c->http_enabled ? c->http_addr : NULL, "http_timeout_s", c->http_timeout_s, "use_torch",
        c->use_torch, "api_token", c->api_token[0] ? "***" : NULL, "job_timeout_s", c->job_timeout_s, "max_attempts",
        c->max_attempts, "retry_base_ms", c->retry_base_ms, "result_ttl_s", c->result_ttl_s,
        "heartbeat_ms", c->heartbeat_ms, "grace_s", c->grace_s, "max_duration_s",
        c->max_duration_s, "window_s", c->window_s, "stride_s", c->stride_s, "device", device_names[c->device], "bf16", c->bf16, "log_level",
        log_level_name(c->log_level), "worker_id", c->worker_id, "engine",
        c->engine == CONFIG_ENGINE_NONE ? "none" : "torch", "http_default_wait_s", c->http_default_wait_s);
    if (o && json_object_update_new(o, json_pack("{s:s?, s:i, s:b, s:s?, s:i}",
                                                 "api_tokens_file",
                                                 c->api_tokens_file[0] ? c->api_tokens_file : NULL,
                                                 "api_rate_limit", c->api_rate_limit,
                                                 "http_insecure_open", c->http_insecure_open,
                                                 "http_allowed_hosts",
                                                 c->http_allowed_hosts[0] ? c->http_allowed_hosts : NULL,
                                                 "http_max_connections", c->http_max_conns)) != 0) {
        json_decref(o);
        o = NULL;
    }
    if (o && json_object_set_new(o, "batch", c->batch ? json_integer(c->batch) : json_string("auto")) != 0) {
        json_decref(o);
        o = NULL;
    }
    if (o && json_object_set_new(o, "weights", json_string(jen1_weight_type_name(c->weights))) != 0) {
        json_decref(o);
        o = NULL;
    }
    if (o && json_object_set_new(o, "cuda_graph", json_boolean(c->cuda_graph)) != 0) {
        json_decref(o);
        o = NULL;
    }
    if (o && json_object_set_new(o, "text_model_dir",
                                 c->text_model_dir[0] ? json_string(c->text_model_dir) : json_null()) != 0) {
        json_decref(o);
        o = NULL;
    }
    if (o && json_object_update_new(o, json_pack("{s:i, s:i, s:i, s:i, s:b}", "max_queued", c->max_queued,
                                                 "queued_ttl_s", c->queued_ttl_s, "dead_max", c->dead_max,
                                                 "dead_max_age_s", c->dead_max_age_s, "http_client_ids",
                                                 c->http_client_ids)) != 0) {
        json_decref(o);
        o = NULL;
    }
    if (o && json_object_set_new(o, "loudness_lufs",
                                 isnan(c->loudness_lufs) ? json_null() : json_real(c->loudness_lufs)) != 0) {
        json_decref(o);
        o = NULL;
    }
    if (!o || describe_s3(&c->s3, o) != 0) {
        json_decref(o);
        return -1;
    }
    size_t need = json_dumpb(o, buf, len, JSON_COMPACT);
    json_decref(o);
    if (need == 0 || need >= len)
        return -1;
    buf[need] = '\0';
    return 0;
}

int config_default_batch(const char *device)
{
    /* A GPU step costs about the same for 1 or 32 rows; on a CPU the weight
     * stream is shared but every row adds arithmetic (BENCHMARKS.md). */
    return device && strncmp(device, "cuda", 4) == 0 ? 32 : 4;
}
