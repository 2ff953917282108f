/* test_config.c - the daemon's settings (worker/config.c): defaults, the
 * environment, flags over the environment, every validation message, the
 * secret files, the S3 settings and the redaction of secrets. */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "config.h"

static const char *const VARS[] = {
    "REDIS_URL", "JEN1_REDIS_PASSWORD_FILE", "JEN1_PREFIX", "JEN1_MODEL_DIR", "JEN1_BLOB_URL",
    "JEN1_WORKERS", "JEN1_THREADS", "JEN1_HTTP_ADDR", "USE_TORCH", "JEN1_API_TOKEN",
    "JEN1_API_TOKEN_FILE", "JEN1_JOB_TIMEOUT", "JEN1_MAX_ATTEMPTS", "JEN1_RETRY_BASE_MS",
    "JEN1_RESULT_TTL", "JEN1_HEARTBEAT_MS", "JEN1_GRACE_SECONDS", "JEN1_MAX_DURATION",
    "JEN1_WINDOW_SECONDS", "JEN1_STRIDE_SECONDS",
    "JEN1_DEVICE", "JEN1_BF16", "JEN1_WEIGHTS", "JEN1_LOG_LEVEL", "JEN1_WORKER_ID", "JEN1_ENGINE",
    "JEN1_S3_ENDPOINT", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "JEN1_S3_CREDENTIALS_FILE", "AWS_PROFILE",
    "JEN1_S3_PATH_STYLE", "JEN1_S3_CONNECT_TIMEOUT_MS", "JEN1_S3_TIMEOUT_MS",
    "JEN1_HTTP_DEFAULT_WAIT", "JEN1_API_RATE_LIMIT", "JEN1_HTTP_MAX_CONNECTIONS", "JEN1_HTTP_INSECURE_OPEN",
    "JEN1_HTTP_ALLOWED_HOSTS", "JEN1_API_TOKENS_FILE",
    "JEN1_HTTP_DEFAULT_WAIT", "JEN1_MAX_QUEUED", "JEN1_QUEUED_TTL", "JEN1_DEAD_MAX", "JEN1_DEAD_MAX_AGE",
    "JEN1_HTTP_CLIENT_IDS",
};
enum { N_VARS = sizeof VARS / sizeof VARS[0] };

static void clear_env(void)
{
    for (size_t i = 0; i < N_VARS; i++)
        unsetenv(VARS[i]);
}

/* config_load with argv = {"jen1-worker", the arguments up to NULL}. */
static enum config_status load(struct jen1_config *c, char *err, size_t errlen, ...)
{
    char *argv[32] = { "jen1-worker" };
    int argc = 1;
    va_list ap;
    va_start(ap, errlen);
    for (char *arg; argc < 31 && (arg = va_arg(ap, char *));)
        argv[argc++] = arg;
    va_end(ap);
    return config_load(c, argc, argv, err, errlen);
}
#define LOAD(cfg, err, ...) load((cfg), (err), sizeof(err), __VA_ARGS__)

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void tmp_path(char *buf, size_t len, const char *name)
{
    mkdir(check_tmp_dir(), 0755);
    snprintf(buf, len, "%s/test_config_%s", check_tmp_dir(), name);
}

TEST(defaults)
{
    clear_env();
    struct jen1_config c;
    char err[256] = "";
    REQUIRE(LOAD(&c, err, NULL) == CONFIG_OK, "%s", err);
    CHECK(strcmp(c.redis_url, "redis://127.0.0.1:6379/0") == 0, "%s", c.redis_url);
    CHECK(strcmp(c.redis.host, "127.0.0.1") == 0 && c.redis.port == 6379 && c.redis.db == 0,
          "%s:%d/%d", c.redis.host, c.redis.port, c.redis.db);
    CHECK(c.redis.password[0] == '\0', "a default password");
    CHECK(strcmp(c.prefix, "jen1") == 0, "%s", c.prefix);
    CHECK(strcmp(c.model_dir, "/var/lib/jen1/models/musicgen-small") == 0, "%s", c.model_dir);
    CHECK(strcmp(c.blob_url, "file:///var/lib/jen1/blobs") == 0, "%s", c.blob_url);
    CHECK(c.workers == 1, "%d", c.workers);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    CHECK(c.threads == (cores > 1 ? cores : 1), "threads %d with %ld cores", c.threads, cores);
    CHECK(c.http_enabled && strcmp(c.http_host, "127.0.0.1") == 0 && c.http_port == 4001,
          "%s:%d", c.http_host, c.http_port);
    CHECK(c.http_default_wait_s == 0, "POST /generate waits %d s by default", c.http_default_wait_s);
    /* Issue 10: a rate limit and a connection cap on by default, no open door. */
    CHECK(c.api_rate_limit == 600 && c.http_max_conns == 512 && !c.http_insecure_open &&
              !c.api_tokens_file[0] && !c.http_allowed_hosts[0],
          "rate %d conns %d", c.api_rate_limit, c.http_max_conns);
    CHECK(!c.use_torch && !c.bf16 && c.api_token[0] == '\0', "flags");
    CHECK(c.job_timeout_s == 3600 && c.max_attempts == 3 && c.retry_base_ms == 1000, "retries");
    CHECK(c.result_ttl_s == 604800 && c.grace_s == 30, "ttl %d grace %d", c.result_ttl_s,
          c.grace_s);
    CHECK(c.heartbeat_ms == 2000 && c.heartbeat_ttl_ms == 6000, "%d %d", c.heartbeat_ms,
          c.heartbeat_ttl_ms);
    /* Songs up to five minutes: the engine renders them in windows. */
    CHECK(c.max_duration_s == 300, "%g", c.max_duration_s);
    CHECK(c.window_s == 0 && c.stride_s == 0, "window %g stride %g: the model's defaults", c.window_s, c.stride_s);
    CHECK(c.device == JEN1_DEVICE_AUTO && c.engine == CONFIG_ENGINE_TORCH, "device, engine");
    CHECK(c.log_level == LOG_INFO, "%d", c.log_level);
    char expected[200], host[128] = "";
    gethostname(host, sizeof host - 1);
    snprintf(expected, sizeof expected, "-%ld", (long)getpid());
    size_t n = strlen(c.worker_id), m = strlen(expected);
    CHECK(n > m && strcmp(c.worker_id + n - m, expected) == 0, "worker id %s", c.worker_id);
    CHECK(strncmp(c.worker_id, host, strlen(host)) == 0, "worker id %s, host %s", c.worker_id,
          host);
}

TEST(environment)
{
    clear_env();
    setenv("REDIS_URL", "redis://:pw@redis.internal:6380/2", 1);
    setenv("JEN1_PREFIX", "studio", 1);
    setenv("JEN1_MODEL_DIR", "/models/x", 1);
    setenv("JEN1_BLOB_URL", "s3://bucket/songs", 1);
    setenv("JEN1_WORKERS", "4", 1);
    setenv("JEN1_HTTP_ADDR", "[::1]:8080", 1);
    setenv("USE_TORCH", "1", 1);
    setenv("JEN1_API_TOKEN", "tok", 1);
    setenv("JEN1_JOB_TIMEOUT", "60", 1);
    setenv("JEN1_MAX_ATTEMPTS", "5", 1);
    setenv("JEN1_RETRY_BASE_MS", "250", 1);
    setenv("JEN1_RESULT_TTL", "3600", 1);
    setenv("JEN1_HEARTBEAT_MS", "500", 1);
    setenv("JEN1_GRACE_SECONDS", "0", 1);
    setenv("JEN1_MAX_DURATION", "12.5", 1);
    setenv("JEN1_WINDOW_SECONDS", "20", 1);
    setenv("JEN1_STRIDE_SECONDS", "12.5", 1);
    setenv("JEN1_DEVICE", "cpu", 1);
    setenv("JEN1_BF16", "true", 1);
    setenv("JEN1_LOG_LEVEL", "debug", 1);
    setenv("JEN1_WORKER_ID", "host-a:1", 1);
    setenv("JEN1_ENGINE", "none", 1);
    setenv("JEN1_THREADS", "", 1); /* empty counts as unset */
    setenv("JEN1_HTTP_DEFAULT_WAIT", "300", 1);
    setenv("JEN1_API_RATE_LIMIT", "0", 1);
    setenv("JEN1_HTTP_MAX_CONNECTIONS", "64", 1);
    setenv("JEN1_HTTP_INSECURE_OPEN", "1", 1);
    setenv("JEN1_HTTP_ALLOWED_HOSTS", "pool.example,a.example", 1);
    setenv("JEN1_API_TOKENS_FILE", "/etc/jen1/tokens", 1);
    struct jen1_config c;
    char err[256] = "";
    REQUIRE(LOAD(&c, err, NULL) == CONFIG_OK, "%s", err);
    CHECK(strcmp(c.redis.host, "redis.internal") == 0 && c.redis.port == 6380 && c.redis.db == 2,
          "%s:%d/%d", c.redis.host, c.redis.port, c.redis.db);
    CHECK(strcmp(c.redis.password, "pw") == 0, "password %s", c.redis.password);
    CHECK(strcmp(c.redis_url, "redis://:pw@redis.internal:6380/2") == 0, "%s", c.redis_url);
    CHECK(strcmp(c.prefix, "studio") == 0 && strcmp(c.model_dir, "/models/x") == 0, "strings");
    CHECK(strcmp(c.blob_url, "s3://bucket/songs") == 0, "%s", c.blob_url);
    CHECK(c.workers == 4, "%d", c.workers);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    CHECK(c.threads == (cores / 4 > 1 ? cores / 4 : 1), "threads %d", c.threads);
    CHECK(strcmp(c.http_host, "::1") == 0 && c.http_port == 8080, "%s %d", c.http_host,
          c.http_port);
    CHECK(c.use_torch && c.bf16 && strcmp(c.api_token, "tok") == 0, "flags, token");
    CHECK(c.http_default_wait_s == 300, "default wait %d", c.http_default_wait_s);
    CHECK(c.api_rate_limit == 0 && c.http_max_conns == 64 && c.http_insecure_open &&
              strcmp(c.http_allowed_hosts, "pool.example,a.example") == 0 &&
              strcmp(c.api_tokens_file, "/etc/jen1/tokens") == 0,
          "issue 10's settings");
    CHECK(c.job_timeout_s == 60 && c.max_attempts == 5 && c.retry_base_ms == 250, "retries");
    CHECK(c.result_ttl_s == 3600 && c.grace_s == 0, "ttl, grace");
    CHECK(c.heartbeat_ms == 500 && c.heartbeat_ttl_ms == 1500, "heartbeat");
    CHECK(c.max_duration_s == 12.5, "%g", c.max_duration_s);
    CHECK(c.window_s == 20 && c.stride_s == 12.5, "window %g stride %g", c.window_s, c.stride_s);
    CHECK(c.device == JEN1_DEVICE_CPU && c.engine == CONFIG_ENGINE_NONE, "device, engine");
    CHECK(c.log_level == LOG_DEBUG && strcmp(c.worker_id, "host-a:1") == 0, "%s", c.worker_id);
    clear_env();
}

TEST(flags_win_over_the_environment)
{
    clear_env();
    setenv("JEN1_WORKERS", "2", 1);
    setenv("JEN1_PREFIX", "env", 1);
    setenv("JEN1_DEVICE", "cuda", 1);
    setenv("JEN1_HTTP_ADDR", "127.0.0.1:1", 1);
    setenv("JEN1_HTTP_DEFAULT_WAIT", "5", 1);
    struct jen1_config c;
    char err[256] = "";
    REQUIRE(LOAD(&c, err, "--workers", "3", "--prefix=flag", "--device=cpu", "--http-addr", "off",
                 "--threads", "7", "--max-duration=8", "--http-default-wait=60", NULL) == CONFIG_OK,
            "%s", err);
    CHECK(c.http_default_wait_s == 60, "default wait %d", c.http_default_wait_s);
    CHECK(c.workers == 3 && strcmp(c.prefix, "flag") == 0, "%d %s", c.workers, c.prefix);
    CHECK(c.device == JEN1_DEVICE_CPU, "device");
    CHECK(!c.http_enabled, "--http-addr off left HTTP on");
    CHECK(c.threads == 7 && c.max_duration_s == 8, "%d %g", c.threads, c.max_duration_s);
    clear_env();
}

TEST(boolean_flags)
{
    clear_env();
    struct jen1_config c;
    char err[256] = "";
    REQUIRE(LOAD(&c, err, "--use-torch", "--workers", "2", "--bf16", NULL) == CONFIG_OK, "%s",
            err);
    CHECK(c.use_torch && c.bf16 && c.workers == 2, "bare flags");
    setenv("USE_TORCH", "1", 1);
    REQUIRE(LOAD(&c, err, "--use-torch", "0", "--bf16=false", NULL) == CONFIG_OK, "%s", err);
    CHECK(!c.use_torch && !c.bf16, "explicit 0: use_torch %d bf16 %d", c.use_torch, c.bf16);
    clear_env();
}

/* JEN1_WEIGHTS, and JEN1_BF16 as its older spelling of bf16. */
TEST(weight_types)
{
    clear_env();
    struct jen1_config c;
    char err[256] = "";
    REQUIRE(LOAD(&c, err, NULL) == CONFIG_OK, "%s", err);
    CHECK(c.weights == JEN1_WEIGHTS_F32 && !c.bf16, "default: weights %d", (int)c.weights);
    setenv("JEN1_WEIGHTS", "int8", 1);
    REQUIRE(LOAD(&c, err, NULL) == CONFIG_OK, "%s", err);
    CHECK(c.weights == JEN1_WEIGHTS_INT8 && !c.bf16, "JEN1_WEIGHTS=int8: weights %d", (int)c.weights);
    REQUIRE(LOAD(&c, err, "--weights", "bf16", NULL) == CONFIG_OK, "%s", err);
    CHECK(c.weights == JEN1_WEIGHTS_BF16 && c.bf16, "--weights bf16 over the environment");
    REQUIRE(LOAD(&c, err, "--bf16", NULL) == CONFIG_OK, "%s", err);
    CHECK(c.weights == JEN1_WEIGHTS_BF16 && c.bf16, "--bf16 over JEN1_WEIGHTS=int8");
    setenv("JEN1_BF16", "1", 1);
    CHECK(LOAD(&c, err, NULL) == CONFIG_ERROR && strstr(err, "JEN1_BF16=1 contradicts JEN1_WEIGHTS=int8"),
          "two variables that disagree: %s", err);
    REQUIRE(LOAD(&c, err, "--weights", "int8", NULL) == CONFIG_OK, "%s", err);
    CHECK(c.weights == JEN1_WEIGHTS_INT8 && !c.bf16, "--weights int8 over JEN1_BF16=1");
    unsetenv("JEN1_WEIGHTS");
    REQUIRE(LOAD(&c, err, NULL) == CONFIG_OK, "%s", err);
    CHECK(c.weights == JEN1_WEIGHTS_BF16 && c.bf16, "JEN1_BF16=1 alone is bf16");
    clear_env();
}

TEST(http_addresses)
{
    static const struct {
        const char *addr, *host;
        int port;
        bool enabled;
    } cases[] = {
        { "127.0.0.1:4001", "127.0.0.1", 4001, true }, { "[::1]:80", "::1", 80, true },
        { ":9000", "0.0.0.0", 9000, true },            { "localhost:0", "localhost", 0, true },
        { "off", "", 0, false },                        { "", "", 0, false },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        clear_env();
        setenv("JEN1_HTTP_ADDR", cases[i].addr, 1);
        struct jen1_config c;
        char err[256] = "";
        REQUIRE(LOAD(&c, err, NULL) == CONFIG_OK, "%s: %s", cases[i].addr, err);
        CHECK(c.http_enabled == cases[i].enabled && strcmp(c.http_host, cases[i].host) == 0 &&
                  c.http_port == cases[i].port,
              "%s -> %d %s %d", cases[i].addr, c.http_enabled, c.http_host, c.http_port);
    }
    clear_env();
}

/* Every kind of bad value, through the environment and through a flag. */
TEST(validation_errors_name_the_setting)
{
    static const struct {
        const char *var, *flag, *value, *message;
    } cases[] = {
        { "JEN1_WORKERS", "--workers", "lots", "must be an integer from 1 to 64, not \"lots\"" },
        { "JEN1_WORKERS", "--workers", "0", "must be an integer from 1 to 64, not \"0\"" },
        { "JEN1_WORKERS", "--workers", "65", "from 1 to 64" },
        { "JEN1_WORKERS", "--workers", "-1", "from 1 to 64" },
        { "JEN1_WORKERS", "--workers", "2x", "from 1 to 64" },
        { "JEN1_WORKERS", "--workers", " 2", "from 1 to 64" },
        { "JEN1_WORKERS", "--workers", "99999999999999999999", "from 1 to 64" },
        { "JEN1_THREADS", "--threads", "0", "must be an integer from 1 to 1024" },
        { "JEN1_JOB_TIMEOUT", "--job-timeout", "0", "from 1 to 86400" },
        { "JEN1_MAX_ATTEMPTS", "--max-attempts", "101", "from 1 to 100" },
        { "JEN1_RETRY_BASE_MS", "--retry-base-ms", "1.5", "from 1 to 3600000" },
        { "JEN1_RESULT_TTL", "--result-ttl", "0", "from 1 to 315360000" },
        { "JEN1_HEARTBEAT_MS", "--heartbeat-ms", "99", "from 100 to 600000" },
        { "JEN1_GRACE_SECONDS", "--grace-seconds", "-5", "from 0 to 86400" },
        { "JEN1_HTTP_DEFAULT_WAIT", "--http-default-wait", "301", "must be an integer from 0 to 300, not \"301\"" },
        { "JEN1_HTTP_DEFAULT_WAIT", "--http-default-wait", "-1", "from 0 to 300" },
        { "JEN1_HTTP_DEFAULT_WAIT", "--http-default-wait", "10s", "from 0 to 300" },
        { "JEN1_MAX_DURATION", "--max-duration", "0.5", "a number of seconds from 1 to 3600" },
        { "JEN1_MAX_DURATION", "--max-duration", "nan", "from 1 to 3600, not \"nan\"" },
        { "JEN1_MAX_DURATION", "--max-duration", "30s", "from 1 to 3600" },
        { "JEN1_WINDOW_SECONDS", "--window", "-1", "a number of seconds from 0 to 3600, not \"-1\"" },
        { "JEN1_STRIDE_SECONDS", "--stride", "18s", "a number of seconds from 0 to 3600" },
        { "USE_TORCH", "--use-torch", "yes", "must be 0 or 1, not \"yes\"" },
        { "JEN1_BF16", "--bf16", "2", "must be 0 or 1" },
        { "JEN1_WEIGHTS", "--weights", "fp8", "must be f32, bf16 or int8, not \"fp8\"" },
        { "JEN1_DEVICE", "--device", "gpu", "must be auto, cpu or cuda, not \"gpu\"" },
        { "JEN1_LOG_LEVEL", "--log-level", "loud", "must be debug, info, warn or error" },
        { "JEN1_ENGINE", "--engine", "fast", "must be torch or none, not \"fast\"" },
        { "JEN1_PREFIX", "--prefix", "a{b}", "may only hold letters, digits and _ . - :" },
        { "JEN1_PREFIX", "--prefix",
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
          "must be 1 to 64 characters, not 65" },
        { "JEN1_WORKER_ID", "--worker-id", "host/1", "may only hold letters" },
        { "JEN1_BLOB_URL", "--blob-url", "/var/blobs", "must be file:///absolute/dir or s3://" },
        { "JEN1_BLOB_URL", "--blob-url", "s3://", "must be file:///absolute/dir or s3://" },
        { "JEN1_BLOB_URL", "--blob-url", "file://relative", "must be file:///absolute/dir" },
        { "JEN1_HTTP_ADDR", "--http-addr", "4001", "must be HOST:PORT or [IPv6]:PORT" },
        { "JEN1_HTTP_ADDR", "--http-addr", "::1:80", "must be HOST:PORT or [IPv6]:PORT" },
        { "JEN1_HTTP_ADDR", "--http-addr", "[::1]80", "must be HOST:PORT or [IPv6]:PORT" },
        { "JEN1_HTTP_ADDR", "--http-addr", "host:65536", "port that is not a number from 0" },
        { "JEN1_HTTP_ADDR", "--http-addr", "host:", "port that is not a number from 0" },
        { "REDIS_URL", "--redis-url", "http://x", "must start with redis://, rediss:// or unix://" },
        { "REDIS_URL", "--redis-url", "rediss://x:0", "the port is not a number" },
        { "REDIS_URL", "--redis-url", "redis://host:0", "the port is not a number" },
        { "REDIS_URL", "--redis-url", "redis://host/x", "the database" },
        { "JEN1_S3_ENDPOINT", "--s3-endpoint", "ftp://h", "must start with http:// or https://" },
        { "JEN1_S3_ENDPOINT", "--s3-endpoint", "h:9000", "must start with http:// or https://" },
        { "JEN1_S3_ENDPOINT", "--s3-endpoint", "http://h/path", "must be scheme://host[:port] with no path" },
        { "JEN1_S3_ENDPOINT", "--s3-endpoint", "http://", "must be scheme://host[:port]" },
        { "JEN1_S3_ENDPOINT", "--s3-endpoint", "http://user:pw@h", "a character a host:port cannot" },
        { "AWS_REGION", "--s3-region", "us/east", "must be lowercase letters, digits and '-'" },
        { "AWS_REGION", "--s3-region", "US-EAST-1", "must be lowercase letters" },
        { "JEN1_S3_PATH_STYLE", "--s3-path-style", "yes", "must be 0 or 1" },
        { "JEN1_S3_CONNECT_TIMEOUT_MS", "--s3-connect-timeout-ms", "0",
          "a number of milliseconds between 1 and 86400000" },
        { "JEN1_S3_CONNECT_TIMEOUT_MS", "--s3-connect-timeout-ms", "5s", "between 1 and 86400000" },
        { "JEN1_S3_TIMEOUT_MS", "--s3-timeout-ms", "-5", "between 1 and 86400000" },
        { "JEN1_S3_TIMEOUT_MS", "--s3-timeout-ms", "86400001", "between 1 and 86400000" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct jen1_config c;
        char err[512] = "", expected[600];
        clear_env();
        setenv(cases[i].var, cases[i].value, 1);
        CHECK(LOAD(&c, err, NULL) == CONFIG_ERROR, "%s=%s was accepted", cases[i].var,
              cases[i].value);
        snprintf(expected, sizeof expected, "%s", cases[i].var);
        CHECK(strncmp(err, expected, strlen(expected)) == 0 && strstr(err, cases[i].message),
              "%s=%s: \"%s\"", cases[i].var, cases[i].value, err);
        clear_env();
        char flag[700];
        snprintf(flag, sizeof flag, "%s=%s", cases[i].flag, cases[i].value);
        err[0] = '\0';
        CHECK(LOAD(&c, err, flag, NULL) == CONFIG_ERROR, "%s was accepted", flag);
        CHECK(strncmp(err, cases[i].flag, strlen(cases[i].flag)) == 0 &&
                  strstr(err, cases[i].message),
              "%s: \"%s\"", flag, err);
    }
}

TEST(bad_command_lines)
{
    clear_env();
    struct jen1_config c;
    char err[256] = "";
    CHECK(LOAD(&c, err, "--wrokers", "2", NULL) == CONFIG_ERROR, "unknown flag accepted");
    CHECK(strstr(err, "unknown option --wrokers"), "%s", err);
    CHECK(LOAD(&c, err, "--workers", NULL) == CONFIG_ERROR, "missing value accepted");
    CHECK(strstr(err, "--workers needs a value"), "%s", err);
    CHECK(LOAD(&c, err, "serve", NULL) == CONFIG_ERROR, "positional argument accepted");
    CHECK(strstr(err, "unexpected argument \"serve\""), "%s", err);
    CHECK(LOAD(&c, err, "--api-token=x", NULL) == CONFIG_ERROR, "a token flag exists");
    CHECK(LOAD(&c, err, "--s3-secret-key=x", NULL) == CONFIG_ERROR, "an S3 secret flag exists");
    CHECK(LOAD(&c, err, "--aws-access-key-id=x", NULL) == CONFIG_ERROR, "an S3 key flag exists");
    CHECK(LOAD(&c, err, "--s3-session-token=x", NULL) == CONFIG_ERROR, "an S3 token flag exists");
    CHECK(LOAD(&c, err, "--workers", "2", "--help", NULL) == CONFIG_HELP, "--help");
    CHECK(LOAD(&c, err, "-h", NULL) == CONFIG_HELP, "-h");
}

TEST(help_lists_every_setting)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    REQUIRE(f, "open_memstream");
    config_usage(f, "jen1-worker");
    fclose(f);
    CHECK(strstr(text, "Usage: jen1-worker"), "%s", text);
    for (size_t i = 0; i < N_VARS; i++)
        CHECK(strstr(text, VARS[i]), "%s is not in --help", VARS[i]);
    static const char *const flags[] = {
        "--redis-url URL", "--redis-password-file PATH", "--prefix NAME", "--model-dir DIR",
        "--blob-url URL", "--workers N", "--threads N", "--http-addr HOST:PORT",
        "--use-torch 0|1", "--api-token-file PATH", "--job-timeout SECONDS", "--max-attempts N",
        "--retry-base-ms MS", "--result-ttl SECONDS", "--heartbeat-ms MS", "--grace-seconds",
        "--max-duration", "--device", "--bf16", "--weights f32|bf16|int8", "--log-level", "--worker-id", "--engine",
        "--help", "(default: redis://127.0.0.1:6379/0)", "(default: 127.0.0.1:4001)",
        "(default: 604800)", "(default: cores / workers, at least 1)",
        "--s3-endpoint URL", "--s3-region REGION", "AWS_REGION or AWS_DEFAULT_REGION",
        "--s3-credentials-file PATH", "--s3-profile NAME", "--s3-path-style 0|1",
        "--s3-connect-timeout-ms MS", "--s3-timeout-ms MS", "(default: 300000)",
        "--http-default-wait SECONDS",
    };
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        CHECK(strstr(text, flags[i]), "\"%s\" is not in --help", flags[i]);
    free(text);
}

TEST(secret_files)
{
    char token_path[512], password_path[512], empty_path[512];
    tmp_path(token_path, sizeof token_path, "token");
    tmp_path(password_path, sizeof password_path, "password");
    tmp_path(empty_path, sizeof empty_path, "empty");
    write_file(token_path, "file-token\n");
    write_file(password_path, "p@ss:w/rd %\r\n");
    write_file(empty_path, "\n");

    clear_env();
    setenv("JEN1_API_TOKEN", "env-token", 1);
    setenv("JEN1_API_TOKEN_FILE", token_path, 1);
    setenv("REDIS_URL", "redis://user:old@10.0.0.1:7000/3", 1);
    struct jen1_config c;
    char err[512] = "";
    REQUIRE(LOAD(&c, err, "--redis-password-file", password_path, NULL) == CONFIG_OK, "%s", err);
    CHECK(strcmp(c.api_token, "file-token") == 0, "token %s", c.api_token);
    CHECK(strcmp(c.redis.password, "p@ss:w/rd %") == 0, "password %s", c.redis.password);
    CHECK(strcmp(c.redis_url, "redis://user:p%40ss%3Aw%2Frd%20%25@10.0.0.1:7000/3") == 0,
          "url %s", c.redis_url);
    redis_url again;
    REQUIRE(redis_url_parse(c.redis_url, &again, err, sizeof err) == 0, "%s", err);
    CHECK(strcmp(again.password, "p@ss:w/rd %") == 0 && strcmp(again.user, "user") == 0 &&
              again.port == 7000 && again.db == 3,
          "reparsed %s %s %d %d", again.user, again.password, again.port, again.db);

    clear_env();
    setenv("REDIS_URL", "unix:///run/redis.sock?db=1", 1);
    setenv("JEN1_REDIS_PASSWORD_FILE", password_path, 1);
    REQUIRE(LOAD(&c, err, NULL) == CONFIG_OK, "%s", err);
    REQUIRE(redis_url_parse(c.redis_url, &again, err, sizeof err) == 0, "%s: %s", c.redis_url,
            err);
    CHECK(again.is_unix && strcmp(again.path, "/run/redis.sock") == 0 && again.db == 1 &&
              strcmp(again.password, "p@ss:w/rd %") == 0,
          "unix url %s", c.redis_url);

    clear_env();
    setenv("JEN1_API_TOKEN_FILE", "/nonexistent/token", 1);
    CHECK(LOAD(&c, err, NULL) == CONFIG_ERROR, "a missing token file was accepted");
    CHECK(strstr(err, "JEN1_API_TOKEN_FILE: cannot open /nonexistent/token"), "%s", err);
    CHECK(LOAD(&c, err, "--api-token-file", empty_path, NULL) == CONFIG_ERROR, "empty file");
    CHECK(strncmp(err, "--api-token-file:", 17) == 0 && strstr(err, "is empty"), "%s", err);
    clear_env();
}

/* The S3 settings: defaults, every variable, flags over them, the region's
 * second variable, "" for a default again. */
TEST(s3_settings)
{
    clear_env();
    struct jen1_config c;
    char err[512] = "";
    REQUIRE(LOAD(&c, err, NULL) == CONFIG_OK, "%s", err);
    CHECK(!c.s3.s3_endpoint[0] && !c.s3.s3_region[0] && !c.s3.s3_access_key[0] &&
              !c.s3.s3_secret_key[0] && !c.s3.s3_session_token[0],
          "S3 strings set by default");
    CHECK(c.s3.s3_path_style == -1 && c.s3.connect_timeout_ms == 10000 && c.s3.timeout_ms == 300000,
          "S3 defaults: path style %d, timeouts %ld %ld", c.s3.s3_path_style,
          c.s3.connect_timeout_ms, c.s3.timeout_ms);
    CHECK(!c.s3_credentials_file[0] && strcmp(c.s3_profile, "default") == 0, "%s", c.s3_profile);

    setenv("JEN1_S3_ENDPOINT", "http://127.0.0.1:4569", 1);
    setenv("AWS_DEFAULT_REGION", "eu-west-1", 1);
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "env-secret", 1);
    setenv("AWS_SESSION_TOKEN", "env-token", 1);
    setenv("AWS_PROFILE", "studio", 1);
    setenv("JEN1_S3_PATH_STYLE", "0", 1);
    setenv("JEN1_S3_CONNECT_TIMEOUT_MS", "250", 1);
    setenv("JEN1_S3_TIMEOUT_MS", "1500", 1);
    REQUIRE(LOAD(&c, err, NULL) == CONFIG_OK, "%s", err);
    CHECK(strcmp(c.s3.s3_endpoint, "http://127.0.0.1:4569") == 0, "%s", c.s3.s3_endpoint);
    CHECK(strcmp(c.s3.s3_region, "eu-west-1") == 0, "AWS_DEFAULT_REGION: %s", c.s3.s3_region);
    CHECK(strcmp(c.s3.s3_access_key, "AKIDENV") == 0 && strcmp(c.s3.s3_secret_key, "env-secret") == 0 &&
              strcmp(c.s3.s3_session_token, "env-token") == 0,
          "credentials");
    CHECK(strcmp(c.s3_profile, "studio") == 0, "%s", c.s3_profile);
    CHECK(c.s3.s3_path_style == 0 && c.s3.connect_timeout_ms == 250 && c.s3.timeout_ms == 1500,
          "path style %d, timeouts %ld %ld", c.s3.s3_path_style, c.s3.connect_timeout_ms,
          c.s3.timeout_ms);
    setenv("AWS_REGION", "ap-south-1", 1);
    REQUIRE(LOAD(&c, err, NULL) == CONFIG_OK, "%s", err);
    CHECK(strcmp(c.s3.s3_region, "ap-south-1") == 0, "AWS_REGION wins: %s", c.s3.s3_region);
    setenv("AWS_DEFAULT_REGION", "Not/A/Region", 1);
    CHECK(LOAD(&c, err, NULL) == CONFIG_OK, "AWS_DEFAULT_REGION read although AWS_REGION is set: %s",
          err);
    unsetenv("AWS_REGION");
    CHECK(LOAD(&c, err, NULL) == CONFIG_ERROR && strncmp(err, "AWS_DEFAULT_REGION must", 23) == 0,
          "the fallback's error names it: %s", err);
    unsetenv("AWS_DEFAULT_REGION");

    REQUIRE(LOAD(&c, err, "--s3-endpoint", "https://minio.internal:9000/", "--s3-region=us-west-2",
                 "--s3-path-style", "--s3-timeout-ms", "60000", "--s3-connect-timeout-ms=5",
                 "--s3-profile", "flag", NULL) == CONFIG_OK,
            "%s", err);
    CHECK(strcmp(c.s3.s3_endpoint, "https://minio.internal:9000/") == 0, "%s", c.s3.s3_endpoint);
    CHECK(strcmp(c.s3.s3_region, "us-west-2") == 0 && strcmp(c.s3_profile, "flag") == 0, "%s %s",
          c.s3.s3_region, c.s3_profile);
    CHECK(c.s3.s3_path_style == 1 && c.s3.timeout_ms == 60000 && c.s3.connect_timeout_ms == 5,
          "flags: path style %d, timeouts %ld %ld", c.s3.s3_path_style, c.s3.connect_timeout_ms,
          c.s3.timeout_ms);
    REQUIRE(LOAD(&c, err, "--s3-endpoint=", "--s3-path-style=", "--s3-timeout-ms=", NULL) == CONFIG_OK,
            "%s", err);
    CHECK(!c.s3.s3_endpoint[0] && c.s3.s3_path_style == -1 && c.s3.timeout_ms == 300000,
          "\"\" restores the defaults: %s %d %ld", c.s3.s3_endpoint, c.s3.s3_path_style,
          c.s3.timeout_ms);
    clear_env();
}

/* Messages about the S3 settings name the setting, never the value: an
 * endpoint or a key does not belong in a log line. */
TEST(s3_messages_hold_no_value)
{
    char long_secret[400];
    memset(long_secret, 'k', sizeof long_secret - 1);
    long_secret[sizeof long_secret - 1] = '\0';
    static const char *const cases[][2] = {
        { "JEN1_S3_ENDPOINT", "http://sekrit.internal/path" },
        { "JEN1_S3_ENDPOINT", "gopher://sekrit.internal" },
        { "AWS_REGION", "sekrit/region" },
        { "AWS_ACCESS_KEY_ID", NULL },
        { "AWS_SECRET_ACCESS_KEY", NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *value = cases[i][1] ? cases[i][1] : long_secret;
        clear_env();
        setenv(cases[i][0], value, 1);
        struct jen1_config c;
        char err[1024] = "";
        CHECK(LOAD(&c, err, NULL) == CONFIG_ERROR, "%s was accepted", cases[i][0]);
        CHECK(strncmp(err, cases[i][0], strlen(cases[i][0])) == 0, "%s", err);
        CHECK(!strstr(err, "sekrit") && !strstr(err, "kkkkkkkk"), "%s: a value shows: %s",
              cases[i][0], err);
    }
    clear_env();
}

/* JEN1_S3_CREDENTIALS_FILE: read when the environment has no keys, in the
 * profile AWS_PROFILE (or --s3-profile) names; errors name the option. */
TEST(s3_credentials_file)
{
    char path[512];
    tmp_path(path, sizeof path, "s3-credentials");
    write_file(path, "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = default-secret\n"
                     "[profile studio]\naws_access_key_id=AKIDSTUDIO\naws_secret_access_key=studio-secret\n"
                     "aws_session_token = studio-token\n[broken]\naws_access_key_id=AKIDONLY\n");
    clear_env();
    setenv("JEN1_S3_CREDENTIALS_FILE", path, 1);
    struct jen1_config c;
    char err[1024] = "";
    REQUIRE(LOAD(&c, err, NULL) == CONFIG_OK, "%s", err);
    CHECK(strcmp(c.s3.s3_access_key, "AKIDDEFAULT") == 0 && strcmp(c.s3.s3_secret_key, "default-secret") == 0 &&
              !c.s3.s3_session_token[0],
          "[default]: %s", c.s3.s3_access_key);
    setenv("AWS_PROFILE", "studio", 1);
    REQUIRE(LOAD(&c, err, NULL) == CONFIG_OK, "%s", err);
    CHECK(strcmp(c.s3.s3_access_key, "AKIDSTUDIO") == 0 && strcmp(c.s3.s3_session_token, "studio-token") == 0,
          "[profile studio]: %s", c.s3.s3_access_key);
    REQUIRE(LOAD(&c, err, "--s3-profile", "default", NULL) == CONFIG_OK, "%s", err);
    CHECK(strcmp(c.s3.s3_access_key, "AKIDDEFAULT") == 0, "--s3-profile: %s", c.s3.s3_access_key);

    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "env-secret", 1);
    REQUIRE(LOAD(&c, err, NULL) == CONFIG_OK, "%s", err);
    CHECK(strcmp(c.s3.s3_access_key, "AKIDENV") == 0 && strcmp(c.s3.s3_secret_key, "env-secret") == 0,
          "the environment's keys win over the file's: %s", c.s3.s3_access_key);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");

    setenv("AWS_PROFILE", "broken", 1);
    CHECK(LOAD(&c, err, NULL) == CONFIG_ERROR, "a profile without a secret was accepted");
    CHECK(strstr(err, "[broken]") && !strstr(err, "AKIDONLY"), "%s", err);
    setenv("AWS_PROFILE", "absent", 1);
    CHECK(LOAD(&c, err, NULL) == CONFIG_ERROR, "a missing profile was accepted");
    CHECK(strstr(err, "no profile [absent]"), "%s", err);
    unsetenv("AWS_PROFILE");

    setenv("JEN1_S3_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
    CHECK(LOAD(&c, err, NULL) == CONFIG_ERROR, "a missing file was accepted");
    CHECK(strncmp(err, "JEN1_S3_CREDENTIALS_FILE: cannot read", 37) == 0 &&
              strstr(err, "/nonexistent/credentials"),
          "%s", err);
    CHECK(LOAD(&c, err, "--s3-credentials-file", "/nonexistent/other", NULL) == CONFIG_ERROR,
          "a missing file (flag) was accepted");
    CHECK(strncmp(err, "--s3-credentials-file:", 22) == 0, "%s", err);
    clear_env();
}

TEST(describe_hides_the_secrets)
{
    char path[512];
    tmp_path(path, sizeof path, "password2");
    write_file(path, "hunter2-from-file");
    clear_env();
    setenv("REDIS_URL", "redis://admin:hunter2-in-url@example.org:6379/0", 1);
    setenv("JEN1_API_TOKEN", "tok-abcdef", 1);
    setenv("AWS_ACCESS_KEY_ID", "AKIDhunter2", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "hunter2-s3-secret", 1);
    setenv("AWS_SESSION_TOKEN", "hunter2-s3-token", 1);
    setenv("JEN1_S3_ENDPOINT", "http://s3.internal:9000", 1);
    struct jen1_config c;
    char err[256] = "", text[4096];
    REQUIRE(LOAD(&c, err, NULL) == CONFIG_OK, "%s", err);
    REQUIRE(config_describe(&c, text, sizeof text) == 0, "describe failed");
    CHECK(!strstr(text, "hunter2") && !strstr(text, "tok-abcdef"), "a secret shows: %s", text);
    json_t *doc = json_loads(text, 0, NULL);
    REQUIRE(doc, "not JSON: %s", text);
    CHECK(strcmp(json_string_value(json_object_get(doc, "redis")), "example.org:6379/0") == 0,
          "%s", text);
    CHECK(strcmp(json_string_value(json_object_get(doc, "redis_password")), "***") == 0, "%s",
          text);
    CHECK(strcmp(json_string_value(json_object_get(doc, "api_token")), "***") == 0, "%s", text);
    CHECK(strcmp(json_string_value(json_object_get(doc, "s3_credentials")), "***") == 0, "%s", text);
    CHECK(strcmp(json_string_value(json_object_get(doc, "s3_endpoint")), "http://s3.internal:9000") == 0,
          "%s", text);
    CHECK(json_integer_value(json_object_get(doc, "s3_timeout_ms")) == 300000 &&
              json_is_null(json_object_get(doc, "s3_path_style")),
          "%s", text);
    CHECK(json_integer_value(json_object_get(doc, "workers")) == 1, "%s", text);
    CHECK(json_is_integer(json_object_get(doc, "http_default_wait_s")) &&
              json_integer_value(json_object_get(doc, "http_default_wait_s")) == 0,
          "%s", text);
    CHECK(json_object_size(doc) >= 20, "only %zu settings: %s", json_object_size(doc), text);
    json_decref(doc);

    setenv("JEN1_REDIS_PASSWORD_FILE", path, 1);
    REQUIRE(LOAD(&c, err, NULL) == CONFIG_OK, "%s", err);
    REQUIRE(config_describe(&c, text, sizeof text) == 0, "describe failed");
    CHECK(!strstr(text, "hunter2"), "a secret shows: %s", text);
    CHECK(config_describe(&c, text, 20) == -1, "a 20-byte buffer was enough");
    clear_env();
}

TEST(secrets_are_kept_out_of_the_logs)
{
    clear_env();
    setenv("REDIS_URL", "redis://:p%40ss@host:6379/0", 1);
    setenv("JEN1_API_TOKEN", "tok-abcdef", 1);
    setenv("AWS_ACCESS_KEY_ID", "AKIDLOGGED", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "s3-secret-logged", 1);
    setenv("AWS_SESSION_TOKEN", "s3-token-logged", 1);
    struct jen1_config c;
    char err[256] = "";
    REQUIRE(LOAD(&c, err, NULL) == CONFIG_OK, "%s", err);
    config_protect_secrets(&c);
    int fds[2];
    REQUIRE(pipe(fds) == 0, "pipe");
    log_set_fd(fds[1]);
    log_error("url %s password %s token %s s3 %s %s %s", c.redis_url, c.redis.password, c.api_token,
              c.s3.s3_access_key, c.s3.s3_secret_key, c.s3.s3_session_token);
    log_set_fd(2);
    close(fds[1]);
    char line[1024] = "";
    ssize_t n = read(fds[0], line, sizeof line - 1);
    close(fds[0]);
    line[n > 0 ? n : 0] = '\0';
    CHECK(strstr(line, "url redis://:***@host:6379/0 password *** token ***"), "%s", line);
    CHECK(strstr(line, "token *** s3 *** *** ***"), "%s", line);
    CHECK(!strstr(line, "p@ss") && !strstr(line, "p%40ss") && !strstr(line, "abcdef"), "%s",
          line);
    CHECK(!strstr(line, "LOGGED") && !strstr(line, "logged"), "%s", line);
    log_clear_secrets();
    clear_env();
}

TEST(loudness_is_a_target_or_off)
{
    clear_env();
    unsetenv("JEN1_LOUDNESS");
    struct jen1_config c;
    char err[256] = "", text[4096];
    REQUIRE(LOAD(&c, err, NULL) == CONFIG_OK, "%s", err);
    CHECK(c.loudness_lufs == -14.0, "default %g", c.loudness_lufs);
    REQUIRE(config_describe(&c, text, sizeof text) == 0, "describe failed");
    CHECK(strstr(text, "\"loudness_lufs\":-14.0"), "%s", text);
    setenv("JEN1_LOUDNESS", "off", 1);
    REQUIRE(LOAD(&c, err, NULL) == CONFIG_OK, "%s", err);
    CHECK(isnan(c.loudness_lufs), "off: %g", c.loudness_lufs);
    REQUIRE(config_describe(&c, text, sizeof text) == 0, "describe failed");
    CHECK(strstr(text, "\"loudness_lufs\":null"), "%s", text);
    REQUIRE(LOAD(&c, err, "--loudness", "-23.5", NULL) == CONFIG_OK, "%s", err);
    CHECK(c.loudness_lufs == -23.5, "the flag wins: %g", c.loudness_lufs);
    REQUIRE(LOAD(&c, err, "--loudness=-40", NULL) == CONFIG_OK, "%s", err);
    CHECK(c.loudness_lufs == -40.0, "%g", c.loudness_lufs);
    const char *bad[] = {"-4", "-41", "loud", "OFF", "-14dB", "nan"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        setenv("JEN1_LOUDNESS", bad[i], 1);
        CHECK(LOAD(&c, err, NULL) == CONFIG_ERROR, "%s accepted", bad[i]);
        CHECK(strstr(err, "JEN1_LOUDNESS must be off or a loudness in LUFS from -40 to -5"), "%s: %s", bad[i],
              err);
    }
    unsetenv("JEN1_LOUDNESS");
    clear_env();
}

/* Issue 10: admission and the dead list's bounds, on by default. */
TEST(admission_settings)
{
    clear_env();
    struct jen1_config c;
    char err[256] = "", text[4096];
    REQUIRE(LOAD(&c, err, NULL) == CONFIG_OK, "%s", err);
    CHECK(c.max_queued == 1000 && c.queued_ttl_s == 604800 && c.dead_max == 10000 &&
              c.dead_max_age_s == 2592000 && !c.http_client_ids,
          "defaults %d %d %d %d %d", c.max_queued, c.queued_ttl_s, c.dead_max, c.dead_max_age_s,
          c.http_client_ids);
    setenv("JEN1_MAX_QUEUED", "5", 1);
    setenv("JEN1_DEAD_MAX_AGE", "60", 1);
    setenv("JEN1_HTTP_CLIENT_IDS", "1", 1);
    REQUIRE(LOAD(&c, err, "--dead-max", "7", "--queued-ttl", "30", NULL) == CONFIG_OK, "%s", err);
    CHECK(c.max_queued == 5 && c.dead_max == 7 && c.queued_ttl_s == 30 && c.dead_max_age_s == 60 &&
              c.http_client_ids,
          "set %d %d %d %d %d", c.max_queued, c.dead_max, c.queued_ttl_s, c.dead_max_age_s, c.http_client_ids);
    REQUIRE(config_describe(&c, text, sizeof text) == 0, "describe failed");
    CHECK(strstr(text, "\"max_queued\":5") && strstr(text, "\"dead_max\":7"), "%s", text);
    setenv("JEN1_MAX_QUEUED", "0", 1);
    CHECK(LOAD(&c, err, NULL) == CONFIG_ERROR && strstr(err, "JEN1_MAX_QUEUED"), "0 accepted: %s", err);
    clear_env();
}

int main(void)
{
    RUN(defaults);
    RUN(environment);
    RUN(flags_win_over_the_environment);
    RUN(boolean_flags);
    RUN(weight_types);
    RUN(http_addresses);
    RUN(validation_errors_name_the_setting);
    RUN(bad_command_lines);
    RUN(help_lists_every_setting);
    RUN(secret_files);
    RUN(s3_settings);
    RUN(s3_messages_hold_no_value);
    RUN(s3_credentials_file);
    RUN(describe_hides_the_secrets);
    RUN(secrets_are_kept_out_of_the_logs);
    RUN(loudness_is_a_target_or_off);
    RUN(admission_settings);
    return check_summary("test_config");
}
