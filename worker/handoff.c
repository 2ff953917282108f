/* handoff.c - see job_run.h: a mutex, a condition and a linked list. */
#include <errno.h>

#include "job_run.h"
#include "util.h"

void handoff_init(handoff *h)
{
    pthread_mutex_init(&h->lock, NULL);
    clock_cond_init(&h->ready);
    h->head = h->tail = NULL;
    h->n = 0;
    h->kicked = 0;
}

void handoff_destroy(handoff *h)
{
    pthread_cond_destroy(&h->ready);
    pthread_mutex_destroy(&h->lock);
}

void handoff_push(handoff *h, job_run *run)
{
    run->next = NULL;
    pthread_mutex_lock(&h->lock);
    if (h->tail) h->tail->next = run;
    else h->head = run;
    h->tail = run;
    h->n++;
    pthread_cond_signal(&h->ready);
    pthread_mutex_unlock(&h->lock);
}

job_run *handoff_pop(handoff *h, int wait_ms)
{
    struct timespec until = clock_cond_deadline(wait_ms);
    pthread_mutex_lock(&h->lock);
    while (!h->head && !h->kicked && wait_ms > 0 &&
           pthread_cond_timedwait(&h->ready, &h->lock, &until) != ETIMEDOUT) {}
    h->kicked = 0;
    job_run *run = h->head;
    if (run) {
        h->head = run->next;
        if (!h->head) h->tail = NULL;
        h->n--;
        run->next = NULL;
    }
    pthread_mutex_unlock(&h->lock);
    return run;
}

void handoff_kick(handoff *h)
{
    pthread_mutex_lock(&h->lock);
    h->kicked = 1;
    pthread_cond_signal(&h->ready);
    pthread_mutex_unlock(&h->lock);
}

int handoff_count(handoff *h)
{
    pthread_mutex_lock(&h->lock);
    int n = h->n;
    pthread_mutex_unlock(&h->lock);
    return n;
}
