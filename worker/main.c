/* jen1-worker - the jen1 worker pool daemon. Configuration from the
 * environment and flags (--help lists them); see docs/protocol.md for the
 * Redis contract it serves. */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "libevent_log.h"
#include "log.h"
#include "metrics.h"
#include "status.h"
#include "supervisor.h"

int main(int argc, char **argv)
{
    static struct jen1_config cfg;
    char err[1024];
    switch (config_load(&cfg, argc, argv, err, sizeof err)) {
    case CONFIG_HELP:
        config_usage(stdout, "jen1-worker");
        return 0;
    case CONFIG_ERROR:
        fprintf(stderr, "jen1-worker: %s\n", err);
        return 2;
    case CONFIG_OK:
        break;
    }
    log_set_level(cfg.log_level);
    log_set_worker(cfg.worker_id);
    libevent_log_route();
    config_protect_secrets(&cfg);

    /* Every path and URL at its longest fits (config.h's field sizes). */
    char described[16384];
    if (config_describe(&cfg, described, sizeof described) != 0)
        snprintf(described, sizeof described, "{\"error\":\"the settings do not fit the startup line\"}");
    log_kv(LOG_INFO, "jen1-worker starting", LOG_JSON("config", described));

    struct jen1_metrics metrics;
    if (jen1_metrics_create(&metrics, (unsigned)cfg.workers + 1, err, sizeof err) != 0) {
        log_kv(LOG_ERROR, "cannot set up metrics", LOG_STR("error", err));
        return 1;
    }
    struct pool_status *status = pool_status_create((unsigned)cfg.workers);
    if (!status) {
        log_error("cannot map the pool's shared status");
        return 1;
    }
    int rc = supervisor_run(&cfg, &metrics, status);
    pool_status_free(status);
    jen1_metrics_free(&metrics);
    return rc;
}
