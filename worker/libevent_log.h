/* libevent_log.h - libevent's own messages (accept() failures, evhttp's
 * complaints) go through log.h as JSON lines, at most a few a second, instead
 * of libevent's plain-text stderr lines, which can repeat without end (one
 * per failed accept() when the process is out of descriptors). */
#ifndef JEN1_LIBEVENT_LOG_H
#define JEN1_LIBEVENT_LOG_H

/* Installs the route (process-wide; call before any event loop runs). */
void libevent_log_route(void);

#endif
