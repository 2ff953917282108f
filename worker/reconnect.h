/* reconnect.h - getting a queue handle back after Redis went away: connect
 * again with exponential backoff (100 ms doubling to 5 s), logging each try,
 * until Redis answers or the caller says to give up. The job loop and the
 * heartbeat thread each reconnect their own handle with it. */
#ifndef JEN1_RECONNECT_H
#define JEN1_RECONNECT_H

#include <stdbool.h>

#include "queue.h"

/* Returns 0 when connected, -1 when give_up(arg) said so (it is asked after
 * each failed try and when a wait is interrupted by a signal). `who` names
 * the caller in the log ("worker", "heartbeat"). */
int reconnect_with_backoff(queue *q, const char *who, bool (*give_up)(void *arg), void *arg);

/* For a loop that must never block on Redis (the decode loop): when the
 * handle is unavailable and the pause since the last try is over, one
 * connect attempt; the pause starts at 0.5 s and doubles to 8 s while the
 * tries fail. Start with a zeroed pacer. */
typedef struct reconnect_pacer {
    double next, pause;
} reconnect_pacer;
void reconnect_paced(queue *q, const char *who, reconnect_pacer *p);

#endif
