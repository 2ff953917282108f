/* heartbeat.c - see heartbeat.h. */
#include "heartbeat.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "protocol.h"
#include "reconnect.h"
#include "util.h"

struct heartbeat {
    queue *q;                   /* this thread's own connection */
    unsigned slot;
    int period_ms;
    char host[128];
    pthread_t thread;
    atomic_bool running;
    pthread_mutex_t lock;       /* guards jobs */
    /* The jobs in hand as JSON: "job":"first","jobs":["first",...] (ids need
     * no escaping: protocol.h's rule). */
    char jobs[HEARTBEAT_MAX_JOBS * (PROTOCOL_ID_MAX + 3) + PROTOCOL_ID_MAX + 32];
};

static bool stopped(void *arg)
{
    heartbeat *hb = arg;
    return !atomic_load(&hb->running);
}

/* One heartbeat, and the reaper when it is due. Returns whether the
 * connection is still usable. */
static bool beat(heartbeat *hb, double *next_reap)
{
    char err[512], info[sizeof hb->jobs + 256];
    pthread_mutex_lock(&hb->lock);
    snprintf(info, sizeof info, "{\"host\":\"%s\",\"pid\":%d,\"slot\":%u,%s}", hb->host, (int)getpid(), hb->slot,
             hb->jobs);
    pthread_mutex_unlock(&hb->lock);
    bool usable = queue_heartbeat(hb->q, info, err, sizeof err) == 0 || !queue_unavailable(hb->q);
    if (!usable || clock_monotonic_s() < *next_reap) return usable;
    *next_reap = clock_monotonic_s() + 1.0;
    long long reaped = 0, rescheduled = 0;
    if (queue_reap(hb->q, &reaped, &rescheduled, err, sizeof err) != 0) return !queue_unavailable(hb->q);
    if (reaped || rescheduled)
        log_kv(LOG_INFO, "reaper returned jobs to the queue", LOG_INT("from_dead_workers", reaped),
               LOG_INT("retries_due", rescheduled));
    return true;
}

static void *heartbeat_main(void *arg)
{
    heartbeat *hb = arg;
    char err[512];
    bool connected = queue_connect(hb->q, err, sizeof err) == 0;
    double next_reap = 0;
    while (atomic_load(&hb->running)) {
        if (!connected) connected = reconnect_with_backoff(hb->q, "heartbeat", stopped, hb) == 0;
        if (connected) connected = beat(hb, &next_reap);
        /* Sleep a heartbeat period in small steps, to stop promptly. */
        for (int waited = 0; waited < hb->period_ms && atomic_load(&hb->running); waited += 50) {
            struct timespec step = {0, 50 * 1000000L};
            while (nanosleep(&step, &step) != 0 && errno == EINTR) {}
        }
    }
    return NULL;
}

heartbeat *heartbeat_start(const queue_config *qc, unsigned slot, int period_ms, char *err, size_t errlen)
{
    heartbeat *hb = calloc(1, sizeof *hb);
    if (!hb) {
        snprintf(err, errlen, "heartbeat: out of memory");
        return NULL;
    }
    hb->q = queue_new(qc, err, errlen);
    if (!hb->q) {
        free(hb);
        return NULL;
    }
    hb->slot = slot;
    hb->period_ms = period_ms;
    gethostname(hb->host, sizeof hb->host - 1);
    pthread_mutex_init(&hb->lock, NULL);
    heartbeat_set_jobs(hb, NULL, 0);
    atomic_store(&hb->running, true);
    int rc = pthread_create(&hb->thread, NULL, heartbeat_main, hb);
    if (rc != 0) {
        snprintf(err, errlen, "heartbeat: cannot start the thread (error %d)", rc);
        pthread_mutex_destroy(&hb->lock);
        queue_free(hb->q);
        free(hb);
        return NULL;
    }
    return hb;
}

void heartbeat_set_jobs(heartbeat *hb, const char *const *ids, int n)
{
    if (n > HEARTBEAT_MAX_JOBS) n = HEARTBEAT_MAX_JOBS;
    pthread_mutex_lock(&hb->lock);
    size_t len = (size_t)snprintf(hb->jobs, sizeof hb->jobs, "\"job\":\"%.*s\",\"jobs\":[", PROTOCOL_ID_MAX,
                                  n > 0 ? ids[0] : "");
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(hb->jobs + len, sizeof hb->jobs - len, "%s\"%.*s\"", i ? "," : "", PROTOCOL_ID_MAX,
                                ids[i]);
    snprintf(hb->jobs + len, sizeof hb->jobs - len, "]");
    pthread_mutex_unlock(&hb->lock);
}

void heartbeat_stop(heartbeat *hb)
{
    if (!hb) return;
    atomic_store(&hb->running, false);
    pthread_join(hb->thread, NULL);
    pthread_mutex_destroy(&hb->lock);
    queue_free(hb->q);
    free(hb);
}
