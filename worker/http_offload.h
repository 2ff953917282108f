/* http_offload.h - blocking calls (Redis) run on one helper thread, so that
 * the event loop that serves HTTP never waits on them.
 *
 * http_offload_run queues work(arg) for the thread; once it has run,
 * done(arg, false) runs on the loop's thread. Calls run one at a time in the
 * order given (one Redis connection serves them all). Freeing the offload
 * lets the call in hand finish, then calls done(arg, true) for every call
 * not yet done, on the caller's thread: done then frees arg and touches
 * nothing else. With a NULL offload, work and done run at once, inline (tests,
 * backends that do not block). */
#ifndef JEN1_HTTP_OFFLOAD_H
#define JEN1_HTTP_OFFLOAD_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct http_offload;

typedef void (*http_offload_work)(void *arg);
typedef void (*http_offload_done)(void *arg, bool cancelled);

/* Starts the thread and returns once it is ready (idle in its loop); NULL
 * with a message on failure. */
struct http_offload *http_offload_new(struct event_base *base, char *err, size_t errlen);

/* Queues one call. 0, or -1 when out of memory (nothing runs then). */
int http_offload_run(struct http_offload *o, http_offload_work work, http_offload_done done,
                     void *arg);

/* Holds the thread between calls: on return none is running, and none
 * starts until http_offload_resume. For fork(): a child copies the memory
 * but not the threads, so a lock the thread held mid-call (Redis's, the
 * log's, the allocator's) would stay locked in the child forever. NULL is a
 * no-op. */
void http_offload_hold(struct http_offload *o);
void http_offload_resume(struct http_offload *o);

/* Calls queued or running now (for tests and metrics). */
size_t http_offload_pending(struct http_offload *o);

void http_offload_free(struct http_offload *o);

#endif
