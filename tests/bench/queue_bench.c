/* queue_bench.c - the queue path alone, as a worker drives it with the
 * engine skipped: take (reserve + start), one progress report, finish (status,
 * result, done list, event). Prints one JSON line for scripts/bench-queue.
 *
 *   jen1-queue-bench --redis URL [--prefix P] [--jobs N] [--procs K]
 *
 * The jobs are pushed first with pipelined LPUSHes (not timed); then K
 * processes, each with its own connection and worker id, drain the queue. */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "queue.h"
#include "redis_url.h"
#include "util.h"


static int push_jobs(const char *url, const char *prefix, int n)
{
    redis_url u;
    char err[256];
    if (redis_url_parse(url, &u, err, sizeof err) != 0) {
        fprintf(stderr, "queue-bench: %s\n", err);
        return -1;
    }
    redisContext *c = redisConnect(u.host, u.port);
    if (!c || c->err) {
        fprintf(stderr, "queue-bench: cannot connect to Redis\n");
        return -1;
    }
    if (u.password[0]) freeReplyObject(redisCommand(c, "AUTH %s", u.password));
    if (u.db) freeReplyObject(redisCommand(c, "SELECT %d", u.db));
    char key[128], payload[256];
    snprintf(key, sizeof key, "{%s}:queue", prefix);
    for (int i = 0; i < n; i++) {
        snprintf(payload, sizeof payload, "{\"id\":\"bench-%d\",\"narrative\":\"benchmark\",\"duration\":1}", i);
        redisAppendCommand(c, "LPUSH %s %s", key, payload);
    }
    for (int i = 0; i < n; i++) {
        redisReply *r;
        if (redisGetReply(c, (void **)&r) != REDIS_OK) return -1;
        freeReplyObject(r);
    }
    redisFree(c);
    return 0;
}

/* One worker: drains the queue; returns the number of jobs it finished. */
static int drain(const char *url, const char *prefix, int index)
{
    char err[512], id[64];
    snprintf(id, sizeof id, "bench-worker-%d", index);
    queue_config qc = {.url = url, .prefix = prefix, .worker_id = id};
    queue *q = queue_new(&qc, err, sizeof err);
    if (!q || queue_connect(q, err, sizeof err) != 0 || queue_heartbeat(q, "{}", err, sizeof err) != 0) {
        fprintf(stderr, "queue-bench: %s\n", err);
        return -1;
    }
    int done = 0;
    static const char result[] = "{\"title\":\"bench\"}";
    for (;;) {
        queue_job job = {0};
        int got = queue_reserve(q, 0, &job, err, sizeof err);
        if (got <= 0) break;
        bool stop;
        if (job.decision == QUEUE_TAKE_RUN && queue_progress(q, &job, 0.5, "generating", &stop, err, sizeof err) == 0 &&
            queue_finish(q, &job, result, "file:///dev/null", NULL, err, sizeof err) == 0)
            done++;
        queue_job_clear(&job);
    }
    queue_free(q);
    return done;
}

int main(int argc, char **argv)
{
    const char *url = "redis://127.0.0.1:6379", *prefix = "jen1bench";
    int jobs = 20000, procs = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--redis") && i + 1 < argc) url = argv[++i];
        else if (!strcmp(argv[i], "--prefix") && i + 1 < argc) prefix = argv[++i];
        else if (!strcmp(argv[i], "--jobs") && i + 1 < argc) jobs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--procs") && i + 1 < argc) procs = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: jen1-queue-bench --redis URL [--prefix P] [--jobs N] [--procs K]\n");
            return 2;
        }
    }
    if (jobs < 1 || procs < 1 || procs > 64 || push_jobs(url, prefix, jobs) != 0) return 1;

    int fds[64][2];
    double t0 = clock_monotonic_s();
    for (int p = 0; p < procs; p++) {
        if (pipe(fds[p]) != 0) return 1;
        if (fork() == 0) {
            int done = drain(url, prefix, p);
            if (write(fds[p][1], &done, sizeof done) != (ssize_t)sizeof done) _exit(1);
            _exit(done < 0);
        }
    }
    int total = 0;
    for (int p = 0; p < procs; p++) {
        int done = 0;
        if (read(fds[p][0], &done, sizeof done) == (ssize_t)sizeof done && done > 0) total += done;
        wait(NULL);
    }
    double s = clock_monotonic_s() - t0;
    printf("{\"jobs\":%d,\"finished\":%d,\"procs\":%d,\"seconds\":%.3f,\"jobs_per_s\":%.0f}\n", jobs, total, procs, s,
           total / s);
    return total == jobs ? 0 : 1;
}
