/* fuzz_job.c - common/job.c's job_parse on arbitrary queue payloads.
 *
 * Beyond "no crash, no leak": a refused job has a stable code matching its
 * status, a message, and either no id or a valid one; an accepted job keeps
 * every promise of job.h (valid id, trimmed NUL-free narrative within the
 * limit, duration inside the limits, fields inside their ranges). */
#include <jansson.h>
#include <math.h>

#include "fuzz.h"
#include "job.h"

static void check_refused(job_status st, const job_error *err)
{
    FUZZ_ASSERT(err->status == st, "err.status %d, returned %d", err->status, st);
    FUZZ_ASSERT(err->code && strcmp(err->code, job_status_code(st)) == 0, "code %s for status %d",
                err->code ? err->code : "(null)", st);
    FUZZ_ASSERT(fuzz_message_ok(err->message, sizeof err->message), "no message");
    size_t id_len = strnlen(err->id, sizeof err->id);
    FUZZ_ASSERT(id_len < sizeof err->id, "err.id not terminated");
    FUZZ_ASSERT(id_len == 0 || protocol_id_valid(err->id, id_len), "err.id '%s' is not valid", err->id);
}

static void check_accepted(const job_request *job, const job_limits *limits)
{
    size_t id_len = strnlen(job->id, sizeof job->id);
    FUZZ_ASSERT(protocol_id_valid(job->id, id_len), "id '%s'", job->id);
    FUZZ_ASSERT(job->narrative && strlen(job->narrative) == job->narrative_len,
                "narrative has a NUL inside or is missing");
    FUZZ_ASSERT(job->narrative_len >= 1 && job->narrative_len <= limits->max_narrative_bytes,
                "narrative of %zu bytes", job->narrative_len);
    FUZZ_ASSERT(isfinite(job->duration) && job->duration >= limits->min_duration &&
                    job->duration <= limits->max_duration,
                "duration %g", job->duration);
    FUZZ_ASSERT(job->duration_ms == llround(job->duration * 1000.0),
                "duration_ms %d for %g s", (int)job->duration_ms, job->duration);
    FUZZ_ASSERT(job->seed <= JOB_SEED_MAX, "seed %llu", (unsigned long long)job->seed);
    const jen1_sampling *s = &job->sampling.values;
    const unsigned given = job->sampling.given;
    FUZZ_ASSERT(!(given & JOB_SAMPLING_TOP_K) || (s->top_k >= 1 && s->top_k <= JOB_TOP_K_MAX), "top_k %d",
                s->top_k);
    FUZZ_ASSERT(!(given & JOB_SAMPLING_GUIDANCE) ||
                    (s->guidance_scale >= JOB_GUIDANCE_MIN && s->guidance_scale <= JOB_GUIDANCE_MAX),
                "guidance %g", s->guidance_scale);
    FUZZ_ASSERT(!(given & JOB_SAMPLING_TEMPERATURE) || (s->temperature >= JOB_TEMPERATURE_MIN &&
                                                         s->temperature <= JOB_TEMPERATURE_MAX),
                "temperature %g", s->temperature);
    FUZZ_ASSERT(job->priority >= 0 && job->priority <= JOB_PRIORITY_MAX, "priority %d",
                job->priority);
    FUZZ_ASSERT(json_is_object(job->request), "request is not an object");
    /* The worker re-serialises the request into the job's hash. */
    char *text = json_dumps(job->request, JSON_COMPACT);
    FUZZ_ASSERT(text != NULL, "the request cannot be serialised again");
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    job_limits limits = job_limits_default();
    limits.max_payload_bytes = 64 * 1024; /* keeps runs fast; the size check is one branch */
    limits.max_narrative_bytes = 400;
    limits.max_duration = 30;
    limits.model_name = "musicgen-small";

    job_request job;
    job_error err;
    job_status st = job_parse((const char *)data, size, &limits, &job, &err);
    if (st == JOB_OK)
        check_accepted(&job, &limits);
    else
        check_refused(st, &err);
    job_request_free(&job);
    return 0;
}
