/* heartbeat.h - the thread that keeps a worker alive in Redis's eyes.
 *
 * With its own connection it refreshes the worker's heartbeat every period
 * ({"host", "pid", "slot", "job"}: the job at hand) whatever the job loop is
 * doing (a long EnCodec pass, a slow upload), and runs the reaper for the
 * whole pool once a second. Redis going away is survived: it reconnects with
 * backoff until it is stopped.
 *
 *     heartbeat *hb = heartbeat_start(&qc, slot, cfg->heartbeat_ms, err, sizeof err);
 *     heartbeat_set_job(hb, job.id);  ...  heartbeat_set_job(hb, NULL);
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

/* The job the next heartbeats name (NULL: none). Thread-safe. */
void heartbeat_set_job(heartbeat *hb, const char *job_id);

/* Stops the thread (within about 50 ms, or one reconnect try), closes its
 * connection and frees hb. NULL is fine. */
void heartbeat_stop(heartbeat *hb);

#endif
