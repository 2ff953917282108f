/* job.h - the job request: one queue payload parsed and validated against the
 * rules of docs/protocol.md, or refused with a stable error code and a message
 * naming the field and the rule.
 *
 *     job_limits limits = job_limits_default();
 *     limits.max_duration = 30;            // what the served model can generate
 *     limits.model_name = "musicgen-small";
 *     job_request job;
 *     job_error err;
 *     if (job_parse(payload, len, &limits, &job, &err) != JOB_OK) {
 *         // err.code: "invalid_json", "invalid_job", "too_long", "model_mismatch"
 *         // err.id: the job's id when it could still be read, else ""
 *     }
 *     ...
 *     job_request_free(&job);
 */
#ifndef JEN1_JOB_H
#define JEN1_JOB_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audio.h"
#include "jen1.h"     /* jen1_sampling: a public header of the engine, plain C */
#include "protocol.h"

#define JOB_MODEL_NAME_MAX 128             /* bytes */
#define JOB_SEED_MAX 9007199254740992ULL   /* 2^53: exact in a double, so in any JSON reader */
#define JOB_GUIDANCE_MIN 1.0
#define JOB_GUIDANCE_MAX 10.0
#define JOB_TOP_K_MAX 2048
#define JOB_TEMPERATURE_MIN 0.05
#define JOB_TEMPERATURE_MAX 5.0
#define JOB_PRIORITY_MAX 9

/* The bounds that depend on the deployment (the model, the operator). */
typedef struct job_limits {
    size_t max_payload_bytes;   /* the whole JSON text; larger is refused unread */
    size_t max_narrative_bytes; /* after trimming */
    size_t max_unknown_bytes;   /* the fields this version does not read, together
                                   (compact JSON, keys included): they are kept in
                                   the stored request, so they are bounded */
    double min_duration;        /* seconds */
    double max_duration;        /* seconds: the served model's longest */
    const char *model_name;     /* the model served; NULL accepts any `model` */
    unsigned formats;           /* the audio formats a job may ask, bit 1u << audio_format */
} job_limits;

/* The longest song a job may ask for unless an operator says otherwise
 * (JEN1_MAX_DURATION; worker/config.c takes this value): five minutes, what the
 * engine renders in windows (docs/protocol.md). */
#define JOB_MAX_DURATION_DEFAULT 300

/* The default bound on a job's unknown fields (job_limits.max_unknown_bytes). */
#define JOB_UNKNOWN_MAX_BYTES 4096

/* 1 MiB payloads, 4,000-byte narratives, 4 KiB of unknown fields, 1 to JOB_MAX_DURATION_DEFAULT
 * seconds, any model, the formats this process can write
 * (audio_format_available). */
job_limits job_limits_default(void);

/* The protocol's error codes (protocol.h) that job_parse can give. */
typedef enum job_status {
    JOB_OK = PROTOCOL_OK,
    JOB_INVALID_JSON = PROTOCOL_INVALID_JSON,     /* no JSON object could be read */
    JOB_INVALID_JOB = PROTOCOL_INVALID_JOB,       /* a field is missing, mistyped or out of range */
    JOB_TOO_LONG = PROTOCOL_TOO_LONG,             /* the duration is past limits.max_duration */
    JOB_MODEL_MISMATCH = PROTOCOL_MODEL_MISMATCH  /* `model` is not limits.model_name */
} job_status;

/* The stable code of docs/protocol.md for a status ("invalid_job", ...; "ok"):
 * protocol_error_name's. */
const char *job_status_code(job_status status);

typedef struct job_error {
    job_status status;
    const char *code;            /* job_status_code(status) */
    char message[256];           /* names the field and the rule */
    char id[PROTOCOL_ID_MAX + 1]; /* the job's id when the payload still yields a
                                     valid one (so the failure can be recorded on
                                     its hash), else "" */
} job_error;

/* Which sampling fields a job gave (job_sampling.given). */
enum job_sampling_field {
    JOB_SAMPLING_GUIDANCE = 1u << 0,
    JOB_SAMPLING_TOP_K = 1u << 1,
    JOB_SAMPLING_TEMPERATURE = 1u << 2,
};

/* The sampling a job asks for: the fields it gave; the model's defaults for
 * the rest (job_sampling_over). */
typedef struct job_sampling {
    jen1_sampling values;   /* only the fields named in `given` mean anything */
    unsigned given;         /* job_sampling_field bits */
} job_sampling;

/* `defaults` (the model's) with the fields the job gave put over them. */
jen1_sampling job_sampling_over(const job_sampling *s, jen1_sampling defaults);

/* What a job asks of its loudness (docs/protocol.md's `loudness`). */
typedef enum job_loudness {
    JOB_LOUDNESS_DEFAULT = 0, /* absent: the worker's default (JEN1_LOUDNESS) */
    JOB_LOUDNESS_OFF,         /* null: the model's output as it is */
    JOB_LOUDNESS_TARGET,      /* a number: that integrated loudness, in LUFS */
} job_loudness;

typedef struct job_request {
    char id[PROTOCOL_ID_MAX + 1];
    char *narrative;             /* trimmed, NUL-free UTF-8, malloc'd */
    size_t narrative_len;        /* bytes */
    double duration;             /* seconds, as given */
    int32_t duration_ms;         /* the duration rounded to the millisecond */
    uint64_t seed;               /* given, or job_seed_from_id(id) */
    int seed_given;
    audio_format format;         /* AUDIO_WAV when absent */
    job_loudness loudness;
    double loudness_lufs;        /* with JOB_LOUDNESS_TARGET: LOUDNESS_MIN_LUFS to _MAX_LUFS */
    bool audio;                  /* true (absent): render the song; false: the words
                                    only (the GeneratedSong without audio) */
    char *model;                 /* malloc'd, NULL when absent */
    job_sampling sampling;       /* guidance, top_k, temperature as given */
    int priority;                /* 0 when absent */
    json_t *request;             /* the whole object as submitted, unknown
                                    fields included (one reference owned) */
} job_request;

/* Parses and validates the payload (`len` bytes, need not be NUL-terminated).
 * Returns JOB_OK and fills *out (free it with job_request_free), or another
 * status with *err filled and *out left empty. Optional fields set to null
 * count as absent, but for `loudness`, where null means off. */
job_status job_parse(const char *payload, size_t len, const job_limits *limits,
                     job_request *out, job_error *err);

void job_request_free(job_request *req);

/* The loudness a job is normalised to: 1 and *lufs, or 0 when its audio is
 * left as the model made it. default_lufs is the worker's (NAN: off). */
int job_loudness_target(const job_request *req, double default_lufs, double *lufs);

/* The seed of a job that gives none: FNV-1a 64 of the id, kept to 53 bits so
 * that it survives a round trip through JSON. A retried job sings the same song. */
uint64_t job_seed_from_id(const char *id);

#endif
