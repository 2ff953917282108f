/* test_metrics.c - shared-memory metrics (worker/metrics.c): the exact
 * Prometheus text of a small registry, escaping, registration errors,
 * lock-free updates from threads, and values shared across fork(). */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "metrics.h"

TEST(exposition_text_is_exact)
{
    char err[256] = "";
    struct metrics *m = metrics_create(2, err, sizeof err);
    REQUIRE(m, "%s", err);
    static const double bounds[] = { 0.5, 1, 2.5 };
    int ok = metrics_counter(m, "jobs_total", "Jobs by outcome", "outcome", "ok", err, sizeof err);
    int gauge = metrics_gauge(m, "inflight", "In flight", NULL, NULL, err, sizeof err);
    int bad = metrics_counter(m, "jobs_total", "Jobs by outcome", "outcome", "bad", err,
                              sizeof err);
    int hist = metrics_histogram(m, "duration_seconds", "Durations", NULL, NULL, bounds, 3, err,
                                 sizeof err);
    int staged = metrics_histogram(m, "stage_seconds", "Per stage", "stage", "encode", bounds, 3,
                                   err, sizeof err);
    REQUIRE(ok >= 0 && gauge >= 0 && bad >= 0 && hist >= 0 && staged >= 0, "%s", err);

    metrics_add(m, ok, 1);
    metrics_add(m, ok, 2.5);
    metrics_set(m, gauge, 3);
    metrics_add(m, gauge, -1);
    metrics_observe(m, hist, 0.3);
    metrics_observe(m, hist, 0.5); /* on a bound: counts in le="0.5" */
    metrics_observe(m, hist, 2);
    metrics_observe(m, hist, 100);
    metrics_use_slot(m, 1);
    metrics_add(m, bad, 4);
    metrics_observe(m, staged, 0.75);
    metrics_add(m, gauge, 10);

    const char *expected =
        "# HELP jobs_total Jobs by outcome\n"
        "# TYPE jobs_total counter\n"
        "jobs_total{outcome=\"ok\"} 3.5\n"
        "jobs_total{outcome=\"bad\"} 4\n"
        "# HELP inflight In flight\n"
        "# TYPE inflight gauge\n"
        "inflight 12\n"
        "# HELP duration_seconds Durations\n"
        "# TYPE duration_seconds histogram\n"
        "duration_seconds_bucket{le=\"0.5\"} 2\n"
        "duration_seconds_bucket{le=\"1\"} 2\n"
        "duration_seconds_bucket{le=\"2.5\"} 3\n"
        "duration_seconds_bucket{le=\"+Inf\"} 4\n"
        "duration_seconds_sum 102.8\n"
        "duration_seconds_count 4\n"
        "# HELP stage_seconds Per stage\n"
        "# TYPE stage_seconds histogram\n"
        "stage_seconds_bucket{stage=\"encode\",le=\"0.5\"} 0\n"
        "stage_seconds_bucket{stage=\"encode\",le=\"1\"} 1\n"
        "stage_seconds_bucket{stage=\"encode\",le=\"2.5\"} 1\n"
        "stage_seconds_bucket{stage=\"encode\",le=\"+Inf\"} 1\n"
        "stage_seconds_sum{stage=\"encode\"} 0.75\n"
        "stage_seconds_count{stage=\"encode\"} 1\n";
    size_t len = 0;
    char *text = metrics_render(m, &len);
    REQUIRE(text, "render failed");
    CHECK(strcmp(text, expected) == 0, "got:\n%s", text);
    CHECK(len == strlen(text), "len %zu vs %zu", len, strlen(text));
    CHECK(metrics_value(m, ok) == 3.5 && metrics_value(m, hist) == 102.8, "values");
    free(text);
    metrics_free(m);
}

TEST(numbers_and_escaping)
{
    char err[256] = "";
    struct metrics *m = metrics_create(1, err, sizeof err);
    REQUIRE(m, "%s", err);
    int a = metrics_gauge(m, "g", "back\\slash and\nnewline", "path", "a\"b\\c\nd", err,
                          sizeof err);
    int b = metrics_gauge(m, "g", "back\\slash and\nnewline", "path", "third", err, sizeof err);
    int c = metrics_gauge(m, "g", "back\\slash and\nnewline", "path", "big", err, sizeof err);
    int d = metrics_gauge(m, "g", "back\\slash and\nnewline", "path", "inf", err, sizeof err);
    int e = metrics_gauge(m, "g", "back\\slash and\nnewline", "path", "nan", err, sizeof err);
    REQUIRE(a >= 0 && b >= 0 && c >= 0 && d >= 0 && e >= 0, "%s", err);
    metrics_set(m, a, 0.1);
    metrics_set(m, b, 1.0 / 3);
    metrics_set(m, c, 1e21);
    metrics_set(m, d, -INFINITY);
    metrics_set(m, e, NAN);
    char *text = metrics_render(m, NULL);
    REQUIRE(text, "render");
    const char *expected = "# HELP g back\\\\slash and\\nnewline\n"
                           "# TYPE g gauge\n"
                           "g{path=\"a\\\"b\\\\c\\nd\"} 0.1\n"
                           "g{path=\"third\"} 0.33333333333333331\n"
                           "g{path=\"big\"} 1e+21\n"
                           "g{path=\"inf\"} -Inf\n"
                           "g{path=\"nan\"} NaN\n";
    CHECK(strcmp(text, expected) == 0, "got:\n%s", text);
    free(text);
    metrics_free(m);
}

TEST(registration_errors)
{
    char err[256] = "";
    struct metrics *m = metrics_create(1, err, sizeof err);
    REQUIRE(m, "%s", err);
    static const double bounds[] = { 1, 2 }, unordered[] = { 2, 1 };
    CHECK(metrics_counter(m, "9lives", "h", NULL, NULL, err, sizeof err) == -1 &&
              strstr(err, "not a valid metric name"),
          "%s", err);
    CHECK(metrics_counter(m, "a-b", "h", NULL, NULL, err, sizeof err) == -1, "a-b accepted");
    CHECK(metrics_counter(m, "x", "h", "le", "1", err, sizeof err) == -1 &&
              strstr(err, "not a usable label name"),
          "%s", err);
    CHECK(metrics_counter(m, "x", "h", "__name", "1", err, sizeof err) == -1, "__name accepted");
    CHECK(metrics_counter(m, "x", "h", "outcome", NULL, err, sizeof err) == -1 &&
              strstr(err, "both a name and a value"),
          "%s", err);
    CHECK(metrics_histogram(m, "h", "h", NULL, NULL, unordered, 2, err, sizeof err) == -1 &&
              strstr(err, "increasing"),
          "%s", err);
    REQUIRE(metrics_counter(m, "x", "h", "k", "v", err, sizeof err) >= 0, "%s", err);
    CHECK(metrics_counter(m, "x", "h", "k", "v", err, sizeof err) == -1 &&
              strstr(err, "x{k=\"v\"} is registered twice"),
          "%s", err);
    CHECK(metrics_gauge(m, "x", "h", "k", "w", err, sizeof err) == -1 &&
              strstr(err, "another type"),
          "%s", err);
    CHECK(metrics_counter(m, "x", "other help", "k", "w", err, sizeof err) == -1, "help changed");
    REQUIRE(metrics_histogram(m, "hh", "h", "s", "a", bounds, 2, err, sizeof err) >= 0, "%s", err);
    CHECK(metrics_histogram(m, "hh", "h", "s", "b", bounds, 1, err, sizeof err) == -1,
          "other buckets accepted");
    /* The registry is bounded: it says so instead of growing. */
    int last = 0;
    char name[32];
    for (int i = 0; i < 300 && last >= 0; i++) {
        snprintf(name, sizeof name, "c%d", i);
        last = metrics_counter(m, name, "h", NULL, NULL, err, sizeof err);
    }
    CHECK(last == -1 && (strstr(err, "more than") || strstr(err, "does not fit")), "%s", err);
    CHECK(metrics_create(0, err, sizeof err) == NULL && strstr(err, "slots"), "%s", err);
    metrics_free(m);
}

TEST(wrong_handles_do_nothing)
{
    char err[256] = "";
    struct metrics *m = metrics_create(1, err, sizeof err);
    REQUIRE(m, "%s", err);
    int c = metrics_counter(m, "c", "h", NULL, NULL, err, sizeof err);
    int g = metrics_gauge(m, "g", "h", NULL, NULL, err, sizeof err);
    metrics_add(m, -1, 1);
    metrics_add(m, 99, 1);
    metrics_observe(m, c, 1); /* not a histogram */
    metrics_set(m, c, 7);     /* not a gauge */
    metrics_add(m, c, -1);    /* counters only grow */
    metrics_add(m, c, NAN);
    metrics_add(m, g, -2);    /* gauges may go down */
    metrics_use_slot(m, 5);   /* no such slot: stays on 0 */
    metrics_add(m, c, 1);
    CHECK(metrics_value(m, c) == 1, "counter %g", metrics_value(m, c));
    CHECK(metrics_value(m, g) == -2, "gauge %g", metrics_value(m, g));
    metrics_free(m);
}

struct adder {
    struct metrics *m;
    int counter, hist;
};

static void *add_many(void *arg)
{
    struct adder *a = arg;
    for (int i = 0; i < 100000; i++) {
        metrics_add(a->m, a->counter, 0.5);
        if (i % 10 == 0)
            metrics_observe(a->m, a->hist, 1.5);
    }
    return NULL;
}

TEST(threads_do_not_lose_updates)
{
    char err[256] = "";
    struct metrics *m = metrics_create(1, err, sizeof err);
    REQUIRE(m, "%s", err);
    static const double bounds[] = { 1, 2 };
    struct adder a = { m, metrics_counter(m, "c", "h", NULL, NULL, err, sizeof err),
                       metrics_histogram(m, "h", "h", NULL, NULL, bounds, 2, err, sizeof err) };
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, add_many, &a);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    CHECK(metrics_value(m, a.counter) == 200000, "counter %.1f", metrics_value(m, a.counter));
    CHECK(metrics_value(m, a.hist) == 60000, "histogram sum %.1f", metrics_value(m, a.hist));
    char *text = metrics_render(m, NULL);
    CHECK(text && strstr(text, "h_bucket{le=\"2\"} 40000\n") && strstr(text, "h_count 40000\n"),
          "%s", text);
    free(text);
    metrics_free(m);
}

/* Children update their own slots; the parent's render shows the totals. */
TEST(children_updates_are_seen_by_the_parent)
{
    char err[256] = "";
    struct jen1_metrics jm;
    REQUIRE(jen1_metrics_create(&jm, 3, err, sizeof err) == 0, "%s", err);
    struct metrics *m = jm.registry;
    metrics_set(m, jm.queue_depth, 17);
    metrics_set(m, jm.workers_alive, 2);
    pid_t pids[2];
    for (unsigned w = 0; w < 2; w++) {
        pids[w] = fork();
        if (pids[w] == 0) {
            metrics_use_slot(m, 1 + w);
            metrics_set(m, jm.model_loaded, 1);
            metrics_add(m, jm.inflight, 1);
            for (int i = 0; i < 1000; i++) {
                metrics_add(m, jm.jobs[JEN1_OUTCOME_SUCCEEDED], 1);
                metrics_add(m, jm.audio_seconds, 0.25);
                metrics_observe(m, jm.job_duration, 3);
                metrics_observe(m, jm.stage_duration[JEN1_STAGE_ENCODING], 0.02);
            }
            _exit(0);
        }
    }
    int failures = 0;
    for (int w = 0; w < 2; w++) {
        int status;
        waitpid(pids[w], &status, 0);
        failures += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    REQUIRE(failures == 0, "%d children failed", failures);
    CHECK(metrics_value(m, jm.jobs[JEN1_OUTCOME_SUCCEEDED]) == 2000, "succeeded %g",
          metrics_value(m, jm.jobs[JEN1_OUTCOME_SUCCEEDED]));
    CHECK(metrics_value(m, jm.audio_seconds) == 500, "audio %g",
          metrics_value(m, jm.audio_seconds));
    CHECK(metrics_value(m, jm.inflight) == 2 && metrics_value(m, jm.model_loaded) == 2,
          "inflight %g loaded %g", metrics_value(m, jm.inflight),
          metrics_value(m, jm.model_loaded));

    char *text = metrics_render(m, NULL);
    REQUIRE(text, "render");
    static const char *const lines[] = {
        "# TYPE jen1_jobs_total counter\n",
        "jen1_jobs_total{outcome=\"succeeded\"} 2000\n",
        "jen1_jobs_total{outcome=\"failed\"} 0\n",
        "jen1_jobs_total{outcome=\"cancelled\"} 0\n",
        "jen1_jobs_total{outcome=\"retried\"} 0\n",
        "# TYPE jen1_job_duration_seconds histogram\n",
        "jen1_job_duration_seconds_bucket{le=\"2\"} 0\n",
        "jen1_job_duration_seconds_bucket{le=\"5\"} 2000\n",
        "jen1_job_duration_seconds_bucket{le=\"+Inf\"} 2000\n",
        "jen1_job_duration_seconds_sum 6000\n",
        "jen1_job_duration_seconds_count 2000\n",
        "jen1_stage_duration_seconds_bucket{stage=\"encoding\",le=\"0.05\"} 2000\n",
        "jen1_stage_duration_seconds_count{stage=\"planning\"} 0\n",
        "jen1_audio_seconds_generated_total 500\n",
        "# TYPE jen1_inflight_jobs gauge\n",
        "jen1_inflight_jobs 2\n",
        "jen1_queue_depth 17\n",
        "jen1_worker_restarts_total 0\n",
        "jen1_workers_alive 2\n",
        "jen1_model_loaded 2\n",
        "jen1_redis_up 0\n",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        CHECK(strstr(text, lines[i]), "missing: %s", lines[i]);
    free(text);

    /* Worker 1 died: its gauges go, its counters stay. */
    metrics_clear_gauges(m, 1);
    CHECK(metrics_value(m, jm.inflight) == 1 && metrics_value(m, jm.model_loaded) == 1,
          "after clearing slot 1: inflight %g loaded %g", metrics_value(m, jm.inflight),
          metrics_value(m, jm.model_loaded));
    CHECK(metrics_value(m, jm.jobs[JEN1_OUTCOME_SUCCEEDED]) == 2000, "counters were cleared");
    CHECK(metrics_value(m, jm.queue_depth) == 17, "slot 0's gauge was cleared");
    CHECK(strcmp(jen1_stage_name(JEN1_STAGE_UPLOADING), "uploading") == 0, "stage name");
    jen1_metrics_free(&jm);
}

int main(void)
{
    RUN(exposition_text_is_exact);
    RUN(numbers_and_escaping);
    RUN(registration_errors);
    RUN(wrong_handles_do_nothing);
    RUN(threads_do_not_lose_updates);
    RUN(children_updates_are_seen_by_the_parent);
    return check_summary("test_metrics");
}
