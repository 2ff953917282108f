/* jen1ctl - the operators' command line for jen1's queue (docs/protocol.md).
 *
 *   jen1ctl [--redis URL] [--prefix P] [--json] COMMAND ...
 *
 * Human output by default, one JSON document with --json. Exit status: 0
 * success, 1 the job failed / was cancelled / was not found, 2 usage or
 * validation error, 3 Redis unreachable, 4 wait timed out, 5 the queue is full
 * (JEN1_MAX_QUEUED jobs wait; the same cap as the daemon's, read from the
 * environment). */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "job.h"
#include "queue.h"
#include "util.h"

enum { EXIT_JOB_FAILED = 1, EXIT_USAGE = 2, EXIT_REDIS = 3, EXIT_TIMEOUT = 4, EXIT_FULL = 5 };

typedef struct ctl {
    queue *q;
    int json;
} ctl;

static void usage(FILE *to)
{
    fputs("usage: jen1ctl [--redis URL] [--prefix P] [--json] COMMAND ...\n"
          "\n"
          "commands:\n"
          "  enqueue --narrative TEXT --duration S [--id ID] [--seed N] [--format wav|flac|ogg|mp3]\n"
          "          [--priority N] [--guidance G] [--top-k K] [--temperature T] [--model NAME]\n"
          "          [--loudness LUFS|off]\n"
          "  enqueue --job JSON|-          a whole job object (from stdin with -)\n"
          "  status ID                     the job's status (its GeneratedSong with --json)\n"
          "  wait ID [--timeout S]         wait until the job ends (default 600 s)\n"
          "  cancel ID                     cancel a queued or running job\n"
          "  list [queued|running|dead] [--limit N]\n"
          "  retry ID | retry --all        put dead jobs back on the queue\n"
          "  stats                         queue depths, workers, dead jobs\n"
          "\n"
          "  --redis URL    default $REDIS_URL or redis://127.0.0.1:6379/0\n"
          "  --prefix P     default $JEN1_PREFIX or jen1 (keys are {P}:...)\n"
          "  --json         machine-readable output\n"
          "  enqueue refuses a job while $JEN1_MAX_QUEUED (default 1000) wait; its hash expires\n"
          "  after $JEN1_QUEUED_TTL seconds (default 604800) unless a worker starts it\n"
          "\n"
          "exit status: 0 ok, 1 job failed/cancelled/unknown, 2 usage, 3 Redis unreachable, 4 timeout,\n"
          "5 queue full (try again later)\n",
          to);
}

static int redis_failed(const ctl *c, const char *err)
{
    fprintf(stderr, "jen1ctl: %s\n", err);
    return queue_unavailable(c->q) ? EXIT_REDIS : EXIT_JOB_FAILED;
}

static void print_json(json_t *doc)
{
    char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s) puts(s);
    free(s);
}

/* A positive whole number from the environment, else 0 (the queue's default). */
static int env_int(const char *name)
{
    const char *v = getenv(name);
    char *end;
    long n = v ? strtol(v, &end, 10) : 0;
    return v && *v && !*end && n > 0 && n <= 1000000000 ? (int)n : 0;
}

/* "job-" and 24 random hex digits. */
static void random_id(char out[29])
{
    unsigned char raw[12];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
        unsigned long long t = (unsigned long long)time(NULL) ^ ((unsigned long long)getpid() << 32);
        memcpy(raw, &t, sizeof t);
    }
    memcpy(out, "job-", 4);
    hex_encode(raw, sizeof raw, out + 4);
}

/* ---- enqueue ------------------------------------------------------------------- */

/* All of stdin, up to 16 MiB (a job is a few KB); NULL when memory runs out. */
static char *read_stdin(void)
{
    buf in = BUF_INIT;
    if (buf_read_stream(&in, stdin, 16 << 20) < 0) buf_free(&in);
    return buf_detach(&in, NULL);
}

static int cmd_enqueue(ctl *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"narrative", required_argument, 0, 'n'}, {"duration", required_argument, 0, 'd'},
        {"id", required_argument, 0, 'i'},        {"seed", required_argument, 0, 's'},
        {"format", required_argument, 0, 'f'},    {"priority", required_argument, 0, 'p'},
        {"guidance", required_argument, 0, 'g'},  {"top-k", required_argument, 0, 'k'},
        {"temperature", required_argument, 0, 't'}, {"model", required_argument, 0, 'm'},
        {"job", required_argument, 0, 'j'},       {"loudness", required_argument, 0, 'l'},
        {0, 0, 0, 0}};
    json_t *job = json_object();
    const char *whole = NULL;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        char *end = NULL;
        switch (ch) {
        case 'n': json_object_set_new(job, "narrative", json_string(optarg)); break;
        case 'i': json_object_set_new(job, "id", json_string(optarg)); break;
        case 'f': json_object_set_new(job, "format", json_string(optarg)); break;
        case 'm': json_object_set_new(job, "model", json_string(optarg)); break;
        case 'j': whole = optarg; break;
        case 'l': {
            /* "off" keeps the model's raw output: the job's loudness is null. */
            double v = strtod(optarg, &end);
            if (strcmp(optarg, "off") != 0 && (*end || end == optarg)) {
                fprintf(stderr, "jen1ctl: --loudness wants a target in LUFS or off, not '%s'\n", optarg);
                json_decref(job);
                return EXIT_USAGE;
            }
            json_object_set_new(job, "loudness", strcmp(optarg, "off") == 0 ? json_null() : json_real(v));
            break;
        }
        case 'd': case 'g': case 't': {
            double v = strtod(optarg, &end);
            if (*end || end == optarg) {
                fprintf(stderr, "jen1ctl: --%s wants a number, not '%s'\n", opts[ch == 'd' ? 1 : ch == 'g' ? 6 : 8].name,
                        optarg);
                json_decref(job);
                return EXIT_USAGE;
            }
            json_object_set_new(job, ch == 'd' ? "duration" : ch == 'g' ? "guidance" : "temperature", json_real(v));
            break;
        }
        case 's': case 'p': case 'k': {
            long long v = strtoll(optarg, &end, 10);
            if (*end || end == optarg) {
                fprintf(stderr, "jen1ctl: --%s wants an integer, not '%s'\n",
                        ch == 's' ? "seed" : ch == 'p' ? "priority" : "top-k", optarg);
                json_decref(job);
                return EXIT_USAGE;
            }
            json_object_set_new(job, ch == 's' ? "seed" : ch == 'p' ? "priority" : "top_k", json_integer(v));
            break;
        }
        default: json_decref(job); return EXIT_USAGE;
        }
    }
    if (whole) {
        char *text = strcmp(whole, "-") == 0 ? read_stdin() : strdup(whole);
        json_error_t je = {.text = "it could not be read (a read error, or out of memory)"};
        json_t *parsed = text ? json_loads(text, JSON_REJECT_DUPLICATES, &je) : NULL;
        free(text);
        if (!json_is_object(parsed)) {
            fprintf(stderr, "jen1ctl: --job is not a JSON object%s%s\n", parsed ? "" : ": ", parsed ? "" : je.text);
            json_decref(parsed);
            json_decref(job);
            return EXIT_USAGE;
        }
        json_object_update_missing(parsed, job);
        json_decref(job);
        job = parsed;
    }
    if (!json_object_get(job, "id")) {
        char id[29];
        random_id(id);
        json_object_set_new(job, "id", json_string(id));
    }
    char *payload = json_dumps(job, JSON_COMPACT);
    json_decref(job);

    /* The same rules the workers apply, so a bad job is refused here. */
    job_limits limits = job_limits_default();
        const char *max = getenv("JEN1_MAX_DURATION");
    if (max && atof(max) > 0) limits.max_duration = atof(max);
    job_request req;
    job_error je;
    if (job_parse(payload, strlen(payload), &limits, &req, &je) != JOB_OK) {
        fprintf(stderr, "jen1ctl: %s: %s\n", je.code, je.message);
        free(payload);
        return EXIT_USAGE;
    }
    char id[PROTOCOL_ID_MAX + 1];
    snprintf(id, sizeof id, "%s", req.id);
    job_request_free(&req);

    char err[512], existing[16] = "";
    int rc = queue_enqueue(c->q, payload, existing, err, sizeof err);
    free(payload);
    if (rc < 0) return redis_failed(c, err);
    if (rc == QUEUE_ENQUEUE_FULL) {
        fprintf(stderr, "jen1ctl: %s\n", err);
        return EXIT_FULL;
    }
    if (c->json) {
        json_t *out = json_pack("{s:s,s:s}", "id", id, "status", rc == 1 ? existing : "queued");
        if (rc == 1) json_object_set_new(out, "existed", json_true());
        print_json(out);
        json_decref(out);
    } else if (rc == 1) {
        printf("%s already exists (status %s); nothing enqueued\n", id, existing);
    } else {
        printf("%s\n", id);
    }
    return rc == 1 ? EXIT_JOB_FAILED : 0;
}

/* ---- status, wait --------------------------------------------------------------- */

static const char *str_field(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "";
}

static void print_status_human(const char *id, json_t *job)
{
    const char *status = str_field(job, "status");
    printf("%s: %s", id, status[0] ? status : "unknown");
    json_t *progress = json_object_get(job, "progress");
    if (json_is_number(progress)) printf(" (%.0f%%", 100 * json_number_value(progress));
    else printf(" (");
    printf(", stage %s, attempts %lld)\n", str_field(job, "stage")[0] ? str_field(job, "stage") : "-",
           (long long)json_integer_value(json_object_get(job, "attempts")));
    if (str_field(job, "worker")[0]) printf("  worker: %s\n", str_field(job, "worker"));
    if (str_field(job, "error")[0]) printf("  error: %s: %s\n", str_field(job, "error"), str_field(job, "error_message"));
    json_t *result = json_object_get(job, "result");
    if (json_is_object(result)) {
        printf("  title: %s\n", str_field(result, "title"));
        printf("  %s %s, %lld bpm, %s\n", str_field(result, "mood"), str_field(result, "genre"),
               (long long)json_integer_value(json_object_get(result, "bpm")), str_field(result, "key"));
    }
    if (str_field(job, "audio_url")[0]) printf("  audio: %s\n", str_field(job, "audio_url"));
}

static int exit_for(json_t *job)
{
    return strcmp(str_field(job, "status"), "succeeded") == 0 ? 0 : EXIT_JOB_FAILED;
}

static int cmd_status(ctl *c, const char *id)
{
    json_t *job = NULL;
    char err[512];
    int rc = queue_job_get(c->q, id, &job, err, sizeof err);
    if (rc < 0) return redis_failed(c, err);
    if (rc == 0) {
        if (c->json) printf("{\"id\":\"%s\",\"status\":\"unknown\"}\n", id);
        else printf("%s: unknown job\n", id);
        return EXIT_JOB_FAILED;
    }
    json_object_set_new(job, "id", json_string(id));
    if (c->json) print_json(job);
    else print_status_human(id, job);
    json_decref(job);
    return 0;
}

static int ended(const char *status)
{
    return !strcmp(status, "succeeded") || !strcmp(status, "failed") || !strcmp(status, "cancelled");
}

static int cmd_wait(ctl *c, const char *id, double timeout_s)
{
    double start = clock_monotonic_s();
    char err[512];
    for (;;) {
        json_t *job = NULL;
        int rc = queue_job_get(c->q, id, &job, err, sizeof err);
        if (rc < 0) return redis_failed(c, err);
        if (rc == 1 && ended(str_field(job, "status"))) {
            json_object_set_new(job, "id", json_string(id));
            if (c->json) print_json(json_object_get(job, "result") && exit_for(job) == 0 ? json_object_get(job, "result") : job);
            else print_status_human(id, job);
            int code = exit_for(job);
            json_decref(job);
            return code;
        }
        json_decref(job);
        if (clock_monotonic_s() - start > timeout_s) {
            fprintf(stderr, "jen1ctl: %s did not end within %.0f s\n", id, timeout_s);
            return EXIT_TIMEOUT;
        }
        struct timespec pause = {0, 200 * 1000000L};
        nanosleep(&pause, NULL);
    }
}

/* ---- cancel, list, retry, stats --------------------------------------------------- */

static int cmd_cancel(ctl *c, const char *id)
{
    queue_cancel_outcome outcome;
    bool known = false;
    char ended_status[16] = "", err[512];
    if (queue_cancel(c->q, id, &outcome, &known, ended_status, err, sizeof err) < 0) return redis_failed(c, err);
    const char *what = outcome == QUEUE_CANCEL_DONE        ? "cancelled"
                       : outcome == QUEUE_CANCEL_REQUESTED ? "cancel requested"
                                                           : "too late";
    if (c->json) {
        json_t *out = json_pack("{s:s,s:s,s:b}", "id", id, "outcome", what, "known", known);
        if (ended_status[0]) json_object_set_new(out, "status", json_string(ended_status));
        print_json(out);
        json_decref(out);
    } else if (outcome == QUEUE_CANCEL_TOO_LATE) {
        printf("%s: too late, it has %s\n", id, ended_status);
    } else {
        printf("%s: %s%s\n", id, what, known ? "" : " (no such job was known; its payload will be dropped if taken)");
    }
    return outcome == QUEUE_CANCEL_TOO_LATE ? EXIT_JOB_FAILED : 0;
}

static int cmd_list(ctl *c, const char *which, int limit)
{
    queue_list_kind kind;
    if (!strcmp(which, "queued")) kind = QUEUE_LIST_QUEUED;
    else if (!strcmp(which, "running")) kind = QUEUE_LIST_RUNNING;
    else if (!strcmp(which, "dead")) kind = QUEUE_LIST_DEAD;
    else {
        fprintf(stderr, "jen1ctl: list queued|running|dead, not '%s'\n", which);
        return EXIT_USAGE;
    }
    json_t *items = NULL;
    char err[512];
    if (queue_list(c->q, kind, limit, &items, err, sizeof err) < 0) return redis_failed(c, err);
    if (c->json) {
        print_json(items);
    } else {
        size_t i;
        json_t *it;
        json_array_foreach(items, i, it) {
            const char *id = json_string_value(json_object_get(it, "id"));
            printf("%-40s", id ? id : "(no id)");
            if (kind == QUEUE_LIST_QUEUED) printf(" %s", str_field(it, "queue"));
            if (kind == QUEUE_LIST_RUNNING) printf(" %s", str_field(it, "worker"));
            if (kind == QUEUE_LIST_DEAD) printf(" %s: %s", str_field(it, "error"), str_field(it, "error_message"));
            putchar('\n');
        }
        if (json_array_size(items) == 0) printf("(no %s jobs)\n", which);
    }
    json_decref(items);
    return 0;
}

static int cmd_retry(ctl *c, const char *id)
{
    long long moved = 0;
    char err[512];
    if (queue_retry_dead(c->q, id, &moved, err, sizeof err) < 0) return redis_failed(c, err);
    if (c->json) printf("{\"moved\":%lld}\n", moved);
    else printf("%lld job%s back on the queue\n", moved, moved == 1 ? "" : "s");
    return id && moved == 0 ? EXIT_JOB_FAILED : 0;
}

static int cmd_stats(ctl *c)
{
    json_t *stats = NULL;
    char err[512];
    if (queue_stats(c->q, &stats, err, sizeof err) < 0) return redis_failed(c, err);
    if (c->json) {
        print_json(stats);
    } else {
        const char *key;
        json_t *v;
        json_object_foreach(stats, key, v) printf("%-14s %lld\n", key, (long long)json_integer_value(v));
    }
    json_decref(stats);
    return 0;
}

int main(int argc, char **argv)
{
    const char *url = getenv("REDIS_URL"), *prefix = getenv("JEN1_PREFIX");
    ctl c = {0};
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--json")) c.json = 1;
        else if (!strcmp(argv[i], "--redis") && i + 1 < argc) url = argv[++i];
        else if (!strcmp(argv[i], "--prefix") && i + 1 < argc) prefix = argv[++i];
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "jen1ctl: unknown option '%s' (see --help)\n", argv[i]);
            return EXIT_USAGE;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[i];
    int rest = argc - i;
    char **args = argv + i;

    char err[512];
    queue_config qc = {.url = url, .prefix = prefix, .max_queued = env_int("JEN1_MAX_QUEUED"),
                       .queued_ttl_s = env_int("JEN1_QUEUED_TTL")};
    c.q = queue_new(&qc, err, sizeof err);
    if (!c.q) {
        fprintf(stderr, "jen1ctl: %s\n", err);
        return EXIT_USAGE;
    }
    if (queue_connect(c.q, err, sizeof err) != 0) {
        fprintf(stderr, "jen1ctl: %s\n", err);
        queue_free(c.q);
        return EXIT_REDIS;
    }

    int rc;
    const char *id = rest > 1 ? args[1] : NULL;
    if (!strcmp(cmd, "enqueue")) {
        rc = cmd_enqueue(&c, rest, args);
    } else if (!strcmp(cmd, "stats")) {
        rc = cmd_stats(&c);
    } else if (!strcmp(cmd, "list")) {
        int limit = 100;
        const char *which = "queued";
        for (int a = 1; a < rest; a++) {
            if (!strcmp(args[a], "--limit") && a + 1 < rest) limit = atoi(args[++a]);
            else which = args[a];
        }
        rc = cmd_list(&c, which, limit > 0 ? limit : 100);
    } else if (!strcmp(cmd, "retry")) {
        if (id && !strcmp(id, "--all")) rc = cmd_retry(&c, NULL);
        else if (protocol_id_valid_str(id)) rc = cmd_retry(&c, id);
        else {
            fprintf(stderr, "jen1ctl: retry ID or retry --all\n");
            rc = EXIT_USAGE;
        }
    } else if (!strcmp(cmd, "status") || !strcmp(cmd, "wait") || !strcmp(cmd, "cancel")) {
        if (!protocol_id_valid_str(id)) {
            fprintf(stderr, "jen1ctl: %s needs a job id ([A-Za-z0-9_.-]{1,128})\n", cmd);
            rc = EXIT_USAGE;
        } else if (!strcmp(cmd, "status")) {
            rc = cmd_status(&c, id);
        } else if (!strcmp(cmd, "cancel")) {
            rc = cmd_cancel(&c, id);
        } else {
            double timeout = 600;
            if (rest > 3 && !strcmp(args[2], "--timeout")) timeout = atof(args[3]);
            rc = cmd_wait(&c, id, timeout > 0 ? timeout : 600);
        }
    } else {
        fprintf(stderr, "jen1ctl: unknown command '%s' (see --help)\n", cmd);
        rc = EXIT_USAGE;
    }
    queue_free(c.q);
    return rc;
}
