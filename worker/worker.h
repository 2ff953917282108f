/* worker.h - one worker process: loads the model, then takes jobs from the
 * queue and turns each into a song until told to stop. */
#ifndef JEN1_WORKER_H
#define JEN1_WORKER_H

#include "config.h"
#include "metrics.h"
#include "status.h"

/* Runs the worker in slot `slot` of the pool until SIGTERM (finish the job at
 * hand within the grace period, then return the rest to the queue) or
 * SIGUSR1 (the supervisor is gone: stop the job at once and return it).
 * Returns the process's exit status: 0 after a clean stop, 1 when the model
 * or the blob store could not be opened. */
int worker_main(const struct jen1_config *cfg, unsigned slot, struct jen1_metrics *metrics,
                struct pool_status *status);

#endif
