/* queue_scripts.h - the Lua scripts that make every multi-step change of the
 * Redis contract atomic (queue_scripts.c has their sources and says which
 * KEYS and ARGV each takes). */
#ifndef JEN1_QUEUE_SCRIPTS_H
#define JEN1_QUEUE_SCRIPTS_H

typedef enum {
    QS_TAKE,
    QS_ENQUEUE,
    QS_START,
    QS_PROGRESS,
    QS_CHECKPOINT,
    QS_FINISH,
    QS_FAIL,
    QS_CANCELLED,
    QS_DEAD_PAYLOAD,
    QS_CANCEL,
    QS_RELEASE,
    QS_REAP,
    QS_RETRY_DEAD,
    QS_HEARTBEAT,
    QS_STATS,
    QS_LIST_RUNNING,
    QS_COUNT
} queue_script;

/* The full Lua source of a script (the shared helpers, then its body);
 * built once, never freed. NULL only when out of memory. */
const char *queue_script_source(queue_script s);

/* Its name, for messages. */
const char *queue_script_name(queue_script s);

#endif
