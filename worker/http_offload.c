/* http_offload.c - one helper thread for blocking calls; see http_offload.h. */
#include "http_offload.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct call {
    http_offload_work work;
    http_offload_done done;
    void *arg;
    struct call *next;
};

/* A FIFO of calls. */
struct calls {
    struct call *head, *tail;
};

static void calls_push(struct calls *q, struct call *c)
{
    c->next = NULL;
    if (q->tail)
        q->tail->next = c;
    else
        q->head = c;
    q->tail = c;
}

static struct call *calls_pop(struct calls *q)
{
    struct call *c = q->head;
    if (c && !(q->head = c->next))
        q->tail = NULL;
    return c;
}

struct http_offload {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_mutex_t running;     /* held by the thread during a call, or by a fork (hold) */
    pthread_cond_t wake;
    struct calls todo, finished; /* under lock */
    size_t pending;              /* under lock */
    bool stopping;               /* under lock */
    bool started;                /* under lock: the thread is in its loop (ready) */
    pthread_cond_t ready;
    int pipe[2];                 /* the thread writes a byte per finished call */
    struct event *on_finished;
};

static void *run_calls(void *arg)
{
    struct http_offload *o = arg;
    pthread_mutex_lock(&o->lock);
    o->started = true;
    pthread_cond_signal(&o->ready);
    for (;;) {
        while (!o->todo.head && !o->stopping)
            pthread_cond_wait(&o->wake, &o->lock);
        if (o->stopping)
            break;
        struct call *c = calls_pop(&o->todo);
        pthread_mutex_unlock(&o->lock);
        pthread_mutex_lock(&o->running);
        c->work(c->arg);
        pthread_mutex_unlock(&o->running);
        pthread_mutex_lock(&o->lock);
        calls_push(&o->finished, c);
        char byte = 1;
        while (write(o->pipe[1], &byte, 1) < 0 && errno == EINTR)
            ;
    }
    pthread_mutex_unlock(&o->lock);
    return NULL;
}

/* On the loop: runs done for every finished call. */
static void on_finished(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct http_offload *o = arg;
    char drain[256];
    while (read(fd, drain, sizeof drain) > 0)
        ;
    for (;;) {
        pthread_mutex_lock(&o->lock);
        struct call *c = calls_pop(&o->finished);
        if (c)
            o->pending--;
        pthread_mutex_unlock(&o->lock);
        if (!c)
            break;
        c->done(c->arg, false);
        free(c);
    }
}

/* Frees what http_offload_new made, once the thread is gone (or never was). */
static void release(struct http_offload *o)
{
    if (o->on_finished)
        event_free(o->on_finished);
    close(o->pipe[0]);
    close(o->pipe[1]);
    pthread_mutex_destroy(&o->lock);
    pthread_mutex_destroy(&o->running);
    pthread_cond_destroy(&o->wake);
    pthread_cond_destroy(&o->ready);
    free(o);
}

struct http_offload *http_offload_new(struct event_base *base, char *err, size_t errlen)
{
    struct http_offload *o = calloc(1, sizeof *o);
    if (!o) {
        snprintf(err, errlen, "offload: out of memory");
        return NULL;
    }
    o->pipe[0] = o->pipe[1] = -1;
    if (pipe2(o->pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        snprintf(err, errlen, "offload: pipe: %s", strerror(errno));
        free(o);
        return NULL;
    }
    pthread_mutex_init(&o->lock, NULL);
    pthread_mutex_init(&o->running, NULL);
    pthread_cond_init(&o->wake, NULL);
    pthread_cond_init(&o->ready, NULL);
    o->on_finished = event_new(base, o->pipe[0], EV_READ | EV_PERSIST, on_finished, o);
    int rc = o->on_finished ? event_add(o->on_finished, NULL) : -1;
    if (rc == 0 && (rc = pthread_create(&o->thread, NULL, run_calls, o)) != 0)
        rc = -1;
    if (rc != 0) {
        snprintf(err, errlen, "offload: cannot start its thread");
        release(o);
        return NULL;
    }
    /* Returns once the thread is in its loop: a thread still starting runs
     * the C library's (or a sanitizer's) own setup, whose locks a fork()
     * right then would leave locked in the child (see http_offload_hold). */
    pthread_mutex_lock(&o->lock);
    while (!o->started) pthread_cond_wait(&o->ready, &o->lock);
    pthread_mutex_unlock(&o->lock);
    return o;
}

int http_offload_run(struct http_offload *o, http_offload_work work, http_offload_done done,
                     void *arg)
{
    if (!o) {
        work(arg);
        done(arg, false);
        return 0;
    }
    struct call *c = malloc(sizeof *c);
    if (!c)
        return -1;
    *c = (struct call){ .work = work, .done = done, .arg = arg };
    pthread_mutex_lock(&o->lock);
    calls_push(&o->todo, c);
    o->pending++;
    pthread_cond_signal(&o->wake);
    pthread_mutex_unlock(&o->lock);
    return 0;
}

size_t http_offload_pending(struct http_offload *o)
{
    if (!o)
        return 0;
    pthread_mutex_lock(&o->lock);
    size_t n = o->pending;
    pthread_mutex_unlock(&o->lock);
    return n;
}

void http_offload_free(struct http_offload *o)
{
    if (!o)
        return;
    pthread_mutex_lock(&o->lock);
    o->stopping = true;
    pthread_cond_signal(&o->wake);
    pthread_mutex_unlock(&o->lock);
    pthread_join(o->thread, NULL);
    struct calls *lists[] = { &o->finished, &o->todo };
    for (size_t i = 0; i < 2; i++)
        for (struct call *c; (c = calls_pop(lists[i]));) {
            c->done(c->arg, true);
            free(c);
        }
    release(o);
}

void http_offload_hold(struct http_offload *o)
{
    if (o) pthread_mutex_lock(&o->running);
}

void http_offload_resume(struct http_offload *o)
{
    if (o) pthread_mutex_unlock(&o->running);
}
