/* heartbeat.h - the thread that keeps a worker alive in Redis's eyes.
 *
 * With its own connection it refreshes the worker's heartbeat every period
 * ({"host", "pid", "slot", "job", "jobs"}: the oldest job in hand and all
 * of them) whatever the job loop is
 * doing (a long EnCodec pass, a slow upload), and runs the reaper for the
 * whole pool once a second. Redis going away is survived: it reconnects with
 * backoff until it is stopped.
 *
 *     heartbeat *hb = heartbeat_start(&qc, slot, cfg->heartbeat_ms, err, sizeof err);
 *     heartbeat_set_jobs(hb, ids, n);  ...  heartbeat_set_jobs(hb, NULL, 0);
 *     heartbeat_stop(hb);
 */
#ifndef JEN1_HEARTBEAT_H
#define JEN1_HEARTBEAT_H

#include <stddef.h>

#include "queue.h"

typedef struct heartbeat heartbeat;

/* Starts the thread for the worker qc->worker_id in `slot`, beating every
 * period_ms. NULL with a message when the queue configuration is bad or the
 * thread cannot start. */
heartbeat *heartbeat_start(const queue_config *qc, unsigned slot, int period_ms, char *err, size_t errlen);

/* The jobs the next heartbeats name (the first HEARTBEAT_MAX_JOBS of n; ids
 * may be NULL when n is 0). Thread-safe. */
#define HEARTBEAT_MAX_JOBS 128
void heartbeat_set_jobs(heartbeat *hb, const char *const *ids, int n);

/* Stops the thread (within about 50 ms, or one reconnect try), closes its
 * connection and frees hb. NULL is fine. */
void heartbeat_stop(heartbeat *hb);

#endif
