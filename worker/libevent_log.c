/* libevent_log.c - libevent's messages through our log; see libevent_log.h. */
#include "libevent_log.h"

#include <event2/event.h>

#include "log.h"

enum { LINES_PER_SECOND = 5 };

/* libevent calls this on the thread that logged; only the loop's thread does. */
static void on_libevent_log(int severity, const char *msg)
{
    static struct log_limit limit = { .per_second = LINES_PER_SECOND };
    enum log_level level = severity >= EVENT_LOG_ERR    ? LOG_ERROR
                           : severity == EVENT_LOG_WARN ? LOG_WARN
                           : severity == EVENT_LOG_MSG  ? LOG_INFO
                                                        : LOG_DEBUG;
    int64_t dropped;
    if (!log_enabled(level) || !log_limit_allow(&limit, &dropped))
        return;
    log_kv(level, "libevent", LOG_STR("message", msg), LOG_INT("lines_dropped", dropped));
}

void libevent_log_route(void) { event_set_log_callback(on_libevent_log); }
