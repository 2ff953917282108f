/* supervisor.h - the pool's parent process (see supervisor.c). */
#ifndef JEN1_SUPERVISOR_H
#define JEN1_SUPERVISOR_H

#include "config.h"
#include "metrics.h"
#include "status.h"

/* Forks cfg->workers workers, serves HTTP, restarts workers that die, and on
 * SIGTERM/SIGINT drains them. Returns the exit status: 0 after a clean stop. */
int supervisor_run(const struct jen1_config *cfg, struct jen1_metrics *metrics, struct pool_status *status);

#endif
