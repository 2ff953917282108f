/* config.h - every setting of the jen1 daemon (build/jen1-worker).
 *
 * config_load fills one struct from, in order, built-in defaults, the
 * environment and the command line: a flag wins over its variable. Each value
 * is validated where it is read, and an error names the variable or flag at
 * fault ("JEN1_WORKERS must be an integer from 1 to 64, not \"lots\"").
 * config_usage prints every flag with its variable and default.
 *
 * Secrets (the Redis password, the API token, the S3 keys) come from the
 * environment, REDIS_URL or a file named by JEN1_REDIS_PASSWORD_FILE /
 * JEN1_API_TOKEN_FILE (the file wins) / JEN1_S3_CREDENTIALS_FILE (read only
 * when AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are unset, as AWS's own
 * tools do). They have no flag of their own, which would show them in ps(1);
 * config_describe never prints them. */
#ifndef JEN1_CONFIG_H
#define JEN1_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "blob.h"
#include "jen1.h"
#include "log.h"
#include "redis_url.h"

/* torch: the real engine. none: a benchmark/test-only switch that skips the
 * engine and renders silence of the requested length. */
enum config_engine { CONFIG_ENGINE_TORCH, CONFIG_ENGINE_NONE };

struct jen1_config {
    /* REDIS_URL (redis_url.h's forms), with the password from
     * JEN1_REDIS_PASSWORD_FILE put in when given: what queue_config.url takes.
     * It may hold the password: never log it (config_describe does not). */
    char redis_url[2048];
    redis_url redis; /* the same, parsed */
    char redis_password_file[PATH_MAX];
    char prefix[65];           /* the keys are {prefix}:... */
    char model_dir[PATH_MAX];
    char text_model_dir[PATH_MAX]; /* "" : no language model, the rules write the words */
    char blob_url[1024]; /* file:///dir or s3://bucket/prefix */
    /* How an s3:// blob_url is reached, ready for blob_open: endpoint,
     * region, timeouts, path style, and the keys (secrets) from the
     * environment or from s3_credentials_file's s3_profile. */
    blob_options s3;
    char s3_credentials_file[PATH_MAX];
    char s3_profile[128];
    int workers;         /* worker processes, 1..64 */
    int threads;         /* threads per worker: default cores / workers, at least 1 */
    int batch;           /* JEN1_BATCH: jobs a worker decodes together, 1..64; 0: the
                            device's default (config_default_batch), chosen once the
                            model has loaded */
    bool http_enabled;   /* false when JEN1_HTTP_ADDR is "" or "off" */
    char http_addr[300]; /* as given, e.g. "127.0.0.1:4001" */
    char http_host[256]; /* parsed: "127.0.0.1", "::1", "0.0.0.0" */
    int http_port;       /* 0 lets the kernel choose (tests) */
    int http_timeout_s;  /* a client slower than this to send or read a request is dropped */
    int http_default_wait_s; /* how long POST /generate waits for its job when the request
                                says nothing (no ?wait=, no Prefer); 0: answer 202 at once */
    bool use_torch;      /* enables GET /debug/torch */
    char api_token[512]; /* secret; "" and no tokens file: no token needed (loopback only) */
    char api_token_file[PATH_MAX];
    char api_tokens_file[PATH_MAX]; /* more tokens, with rights and rates (http_tokens.h) */
    int api_rate_limit;  /* POST /generate per token a minute; 0: no limit */
    bool http_insecure_open; /* serve a non-loopback address without a token */
    char http_allowed_hosts[1024]; /* Host names answered besides loopback's */
    int http_max_conns;  /* HTTP connections held at once */
    int job_timeout_s;
    int max_attempts;
    int retry_base_ms;
    int result_ttl_s;
    int max_queued;       /* admission: POST /generate answers 429 while this many jobs wait */
    int queued_ttl_s;     /* a queued job's hash expires after this unless started */
    int dead_max;         /* the dead list's bounds: entries, */
    int dead_max_age_s;   /* and age */
    bool http_client_ids; /* POST /generate may choose its job's "id" (else the server mints it) */
    int heartbeat_ms;     /* the heartbeat key lives 3 times as long: heartbeat_ttl_ms */
    int heartbeat_ttl_ms;
    int grace_s;          /* how long SIGTERM lets running jobs finish */
    double max_duration_s; /* the longest job (the windowed engine renders any length) */
    double window_s;     /* the engine's window in seconds, 0: the model's default */
    double stride_s;     /* new seconds per later window, 0: the default */
    double loudness_lufs; /* JEN1_LOUDNESS: the target of jobs that name none; NAN: off */
    jen1_device device;  /* handed to the engine as it is */
    jen1_weight_type weights; /* JEN1_WEIGHTS: the decoder's weight type */
    bool bf16;           /* JEN1_BF16, the older spelling: 1 means weights bf16 */
    bool cuda_graph;     /* JEN1_CUDA_GRAPH: on a GPU, decode steps replay a captured graph */
    enum log_level log_level;
    char worker_id[129]; /* default: hostname-pid */
    enum config_engine engine;
    double none_pace;    /* engine none: wall seconds per second of audio */
};

enum config_status { CONFIG_OK = 0, CONFIG_ERROR = -1, CONFIG_HELP = 1 };

/* Built-in defaults only (no environment, no derived values). */
void config_defaults(struct jen1_config *c);

/* Defaults, then getenv(), then argv[1..argc-1]; then reads the secret files
 * and derives threads, worker_id and heartbeat_ttl_ms. Returns CONFIG_OK,
 * CONFIG_HELP when --help (or -h) was given (print config_usage, exit 0), or
 * CONFIG_ERROR with a message in err. */
enum config_status config_load(struct jen1_config *c, int argc, char **argv, char *err,
                               size_t errlen);

/* Registers the secrets with log_add_secret (the Redis password, also as it
 * is spelled inside REDIS_URL, the API token and the S3 keys and session
 * token), so no log line shows them. */
void config_protect_secrets(const struct jen1_config *c);

/* The --help text: every flag, its variable and its default. */
void config_usage(FILE *out, const char *program);

/* The settings as one JSON object for the startup log line, with the secrets
 * replaced by "***". Returns 0, or -1 when buf (len bytes) is too small. */
int config_describe(const struct jen1_config *c, char *buf, size_t len);

/* JEN1_BATCH's default for a model loaded on `device` (engine_device's
 * name: "cpu", "cuda", "cuda:0"...): 32 on a GPU, 4 on a CPU. */
int config_default_batch(const char *device);

#endif
