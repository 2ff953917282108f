/* test_http_offload.c - worker/http_offload.c: calls run on the helper
 * thread one at a time, in order, their done callbacks on the loop; a hold
 * (for fork) keeps every call from running until it is resumed; freeing
 * cancels what has not run. */
#include <event2/event.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "http_offload.h"

struct call_log {
    atomic_int ran;       /* work calls, on the thread */
    int done, cancelled;  /* done calls, on the loop */
    int order[8];
    int n_order;
};

struct call_arg {
    struct call_log *log;
    int index;
};

static void work(void *arg)
{
    struct call_arg *a = arg;
    atomic_fetch_add(&a->log->ran, 1);
}

static void done(void *arg, bool cancelled)
{
    struct call_arg *a = arg;
    if (cancelled) a->log->cancelled++;
    else a->log->done++;
    if (a->log->n_order < 8) a->log->order[a->log->n_order++] = a->index;
}

/* Runs the loop until `want` calls are done, for at most 5 s. */
static void loop_until(struct event_base *base, struct call_log *log, int want)
{
    for (int i = 0; i < 500 && log->done < want; i++) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        usleep(10000);
    }
}

TEST(calls_run_in_order_and_a_hold_keeps_them_waiting)
{
    char err[256];
    struct event_base *base = event_base_new();
    struct http_offload *o = http_offload_new(base, err, sizeof err);
    REQUIRE(o, "%s", err);
    struct call_log log;
    memset(&log, 0, sizeof log);
    struct call_arg args[4];
    for (int i = 0; i < 4; i++) args[i] = (struct call_arg){ &log, i };

    REQUIRE(http_offload_run(o, work, done, &args[0]) == 0, "run");
    loop_until(base, &log, 1);
    CHECK(log.done == 1 && atomic_load(&log.ran) == 1, "one call: %d done", log.done);

    http_offload_hold(o);
    REQUIRE(http_offload_run(o, work, done, &args[1]) == 0 && http_offload_run(o, work, done, &args[2]) == 0, "run");
    usleep(200000);
    CHECK(atomic_load(&log.ran) == 1, "a call ran during a hold (%d)", atomic_load(&log.ran));
    CHECK(http_offload_pending(o) == 2, "%zu pending during the hold", http_offload_pending(o));
    http_offload_resume(o);
    loop_until(base, &log, 3);
    CHECK(log.done == 3 && log.order[1] == 1 && log.order[2] == 2, "after the hold: %d done, in order", log.done);

    /* Freed while held: the queued call never runs and is cancelled. */
    http_offload_hold(o);
    REQUIRE(http_offload_run(o, work, done, &args[3]) == 0, "run");
    http_offload_resume(o);
    http_offload_free(o);
    CHECK(log.done + log.cancelled == 4, "every call answered once (%d done, %d cancelled)", log.done, log.cancelled);
    event_base_free(base);

    /* Without an offload, hold and resume do nothing and calls run inline. */
    http_offload_hold(NULL);
    http_offload_resume(NULL);
}

int main(void)
{
    RUN(calls_run_in_order_and_a_hold_keeps_them_waiting);
    return check_summary("test_http_offload");
}
