/* reconnect.c - see reconnect.h. */
#include "reconnect.h"

#include <errno.h>
#include <time.h>

#include "log.h"
#include "util.h"

int reconnect_with_backoff(queue *q, const char *who, bool (*give_up)(void *arg), void *arg)
{
    int delay = 100;
    char err[512];
    for (;;) {
        if (queue_connect(q, err, sizeof err) == 0) {
            log_kv(LOG_INFO, "redis reconnected", LOG_STR("by", who), LOG_STR("server", queue_server(q)));
            return 0;
        }
        if (!queue_unavailable(q)) {
            log_kv(LOG_ERROR, "redis refused the connection", LOG_STR("error", err));
        } else {
            log_kv(LOG_WARN, "redis unreachable, retrying", LOG_STR("by", who), LOG_STR("error", err),
                   LOG_INT("retry_ms", delay));
        }
        if (give_up(arg)) return -1;
        struct timespec wait = {delay / 1000, (long)(delay % 1000) * 1000000L};
        while (nanosleep(&wait, &wait) != 0 && errno == EINTR && !give_up(arg)) {}
        delay = delay < 5000 ? delay * 2 : 5000;
    }
}

void reconnect_paced(queue *q, const char *who, reconnect_pacer *p)
{
    if (!queue_unavailable(q)) {
        p->pause = 0;
        return;
    }
    double now = clock_monotonic_s();
    if (now < p->next) return;
    char err[512];
    if (queue_connect(q, err, sizeof err) == 0) {
        log_kv(LOG_INFO, "redis reconnected", LOG_STR("by", who), LOG_STR("server", queue_server(q)));
        p->pause = 0;
        return;
    }
    p->pause = p->pause <= 0 ? 0.5 : p->pause < 8 ? p->pause * 2 : 8;
    p->next = now + p->pause;
}
