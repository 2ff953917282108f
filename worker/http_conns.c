/* http_conns.c - connection cap, whole-request deadline, EMFILE pause; see
 * http_conns.h.
 *
 * evhttp (2.1) accepts by itself and tells nobody when it opens or closes a
 * connection. It does ask us for each new connection's bufferevent
 * (evhttp_set_bevcb), and sets the socket on it right after, in the same
 * callback: so a connection is taken in hand just after, by an event made
 * active for it. A slot remembers its socket by descriptor and inode: a
 * descriptor that is closed, or reused for another socket, no longer
 * matches, and its slot is free again. A connection is ended by shutting its
 * socket down: evhttp then sees the end and frees it. */
#include "http_conns.h"

#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define PAUSE_MS 1000

struct slot {
    struct http_conns *owner;
    struct event *deadline;
    int fd;        /* -1: free */
    ino_t ino;
    bool reading;  /* a request is still arriving */
    int64_t since_ms;
};

struct http_conns {
    struct evhttp *http;
    struct evconnlistener *listener;
    struct event *resume;
    struct event *take;          /* takes the fresh connections in hand */
    struct bufferevent **fresh;  /* made by on_new_bev, not yet taken */
    size_t n_fresh, fresh_cap;
    int max_conns, deadline_s;
    struct slot *slots;
    struct log_limit limit;
    struct http_conns *next_server;
};

/* Every server's, for on_accept_error: libevent hands it the listener and
 * evhttp's own argument, not ours. Loop thread only. */
static struct http_conns *servers;

static bool slot_live(const struct slot *sl)
{
    struct stat st;
    return sl->fd >= 0 && fstat(sl->fd, &st) == 0 && st.st_ino == sl->ino && S_ISSOCK(st.st_mode);
}

static void slot_release(struct slot *sl)
{
    evtimer_del(sl->deadline);
    sl->fd = -1;
    sl->reading = false;
}

static void arm(struct http_conns *c, struct slot *sl)
{
    struct timeval tv = { .tv_sec = c->deadline_s };
    sl->reading = true;
    sl->since_ms = clock_monotonic_ms();
    evtimer_add(sl->deadline, &tv);
}

static void warn_limited(struct http_conns *c, const char *msg, const char *error)
{
    int64_t dropped;
    if (log_limit_allow(&c->limit, &dropped))
        log_kv(LOG_WARN, msg, LOG_STR("error", error), LOG_INT("lines_dropped", dropped));
}

/* Shuts the socket down; evhttp then sees the end and frees the connection. */
static void drop(struct slot *sl, const char *why)
{
    log_kv(LOG_DEBUG, "http connection dropped", LOG_STR("why", why),
           LOG_INT("held_ms", clock_monotonic_ms() - sl->since_ms));
    shutdown(sl->fd, SHUT_RDWR);
    slot_release(sl);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct slot *sl = arg;
    if (slot_live(sl) && sl->reading)
        drop(sl, "its request did not arrive within the deadline");
    else
        slot_release(sl);
}

static struct slot *find_fd(struct http_conns *c, int fd)
{
    for (int i = 0; i < c->max_conns; i++)
        if (c->slots[i].fd == fd)
            return &c->slots[i];
    return NULL;
}

/* A free slot, forgetting closed connections; at the cap, the oldest one
 * still sending its request is dropped for it. NULL when all are busy. */
static struct slot *free_slot(struct http_conns *c)
{
    struct slot *oldest = NULL;
    for (int i = 0; i < c->max_conns; i++) {
        struct slot *sl = &c->slots[i];
        if (sl->fd >= 0 && !slot_live(sl))
            slot_release(sl);
        if (sl->fd < 0)
            return sl;
        if (sl->reading && (!oldest || sl->since_ms < oldest->since_ms))
            oldest = sl;
    }
    if (oldest)
        drop(oldest, "the connection cap was reached and it was the slowest");
    return oldest;
}

/* A canned 503, then the end: evhttp frees the connection when it reads it. */
static void refuse(int fd)
{
    static const char answer[] =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        "Retry-After: 1\r\nConnection: close\r\nContent-Length: 70\r\n\r\n"
        "{\"error\":\"busy\",\"message\":\"too many connections at once; try again\"}";
    (void)!send(fd, answer, sizeof answer - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    shutdown(fd, SHUT_RDWR);
}

static void take(struct http_conns *c, int fd)
{
    struct slot *stale = find_fd(c, fd); /* the kernel reused a closed one's number */
    if (stale)
        slot_release(stale);
    struct stat st;
    struct slot *sl = fstat(fd, &st) == 0 ? free_slot(c) : NULL;
    if (!sl) {
        warn_limited(c, "http: a connection was refused", "every connection is busy with a request");
        refuse(fd);
        return;
    }
    sl->fd = fd;
    sl->ino = st.st_ino;
    arm(c, sl);
}

/* Runs in the loop iteration that accepted: before any of the new sockets
 * can be read, so none of their bufferevents is freed yet. */
static void on_take(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct http_conns *c = arg;
    for (size_t i = 0; i < c->n_fresh; i++) {
        int sock = (int)bufferevent_getfd(c->fresh[i]);
        if (sock >= 0)
            take(c, sock);
    }
    c->n_fresh = 0;
}

static struct bufferevent *on_new_bev(struct event_base *base, void *arg)
{
    struct http_conns *c = arg;
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!bev)
        return NULL;
    if (c->n_fresh == c->fresh_cap) {
        size_t cap = c->fresh_cap ? 2 * c->fresh_cap : 16;
        struct bufferevent **grown = realloc(c->fresh, cap * sizeof *grown);
        if (!grown)
            return bev; /* served, unguarded */
        c->fresh = grown;
        c->fresh_cap = cap;
    }
    c->fresh[c->n_fresh++] = bev;
    event_active(c->take, EV_TIMEOUT, 0);
    return bev;
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct http_conns *c = arg;
    evconnlistener_enable(c->listener);
}

static void on_accept_error(struct evconnlistener *lev, void *arg)
{
    (void)arg; /* evhttp's */
    int e = EVUTIL_SOCKET_ERROR();
    struct http_conns *c = servers;
    while (c && c->listener != lev)
        c = c->next_server;
    if (!c)
        return;
    warn_limited(c, "http: accept failed; pausing the listener", strerror(e));
    if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
        evconnlistener_disable(lev);
        struct timeval tv = { .tv_sec = PAUSE_MS / 1000, .tv_usec = (PAUSE_MS % 1000) * 1000 };
        evtimer_add(c->resume, &tv);
    }
}

struct http_conns *http_conns_new(struct evhttp *http, struct evhttp_bound_socket *bound,
                                  int max_conns, int deadline_s)
{
    struct http_conns *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->http = http;
    c->listener = evhttp_bound_socket_get_listener(bound);
    c->max_conns = max_conns;
    c->deadline_s = deadline_s;
    c->limit.per_second = 2;
    c->slots = calloc((size_t)max_conns, sizeof *c->slots);
    struct event_base *base = evconnlistener_get_base(c->listener);
    c->resume = evtimer_new(base, on_resume, c);
    c->take = evtimer_new(base, on_take, c);
    bool ok = c->slots && c->resume && c->take;
    for (int i = 0; ok && i < max_conns; i++) {
        struct slot *sl = &c->slots[i];
        *sl = (struct slot){ .owner = c, .fd = -1 };
        ok = (sl->deadline = evtimer_new(base, on_deadline, sl)) != NULL;
    }
    if (!ok) {
        http_conns_free(c);
        return NULL;
    }
    evhttp_set_bevcb(http, on_new_bev, c);
    c->next_server = servers;
    servers = c;
    evconnlistener_set_error_cb(c->listener, on_accept_error);
    return c;
}

static int request_fd(struct evhttp_request *req)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    return conn ? (int)bufferevent_getfd(evhttp_connection_get_bufferevent(conn)) : -1;
}

/* The answer went out: the connection may carry another request. */
static void on_answered(struct evhttp_request *req, void *arg)
{
    struct http_conns *c = arg;
    int fd = request_fd(req);
    struct slot *sl = fd >= 0 ? find_fd(c, fd) : NULL;
    if (sl)
        arm(c, sl);
}

void http_conns_request_read(struct http_conns *c, struct evhttp_request *req)
{
    int fd = request_fd(req);
    struct slot *sl = fd >= 0 ? find_fd(c, fd) : NULL;
    if (!sl)
        return;
    evtimer_del(sl->deadline);
    sl->reading = false;
    evhttp_request_set_on_complete_cb(req, on_answered, c);
}

int http_conns_count(struct http_conns *c)
{
    int n = 0;
    for (int i = 0; i < c->max_conns; i++) {
        struct slot *sl = &c->slots[i];
        if (sl->fd >= 0 && !slot_live(sl))
            slot_release(sl);
        n += sl->fd >= 0;
    }
    return n;
}

void http_conns_free(struct http_conns *c)
{
    if (!c)
        return;
    for (struct http_conns **p = &servers; *p; p = &(*p)->next_server)
        if (*p == c) {
            *p = c->next_server;
            break;
        }
    for (int i = 0; c->slots && i < c->max_conns; i++)
        if (c->slots[i].deadline)
            event_free(c->slots[i].deadline);
    if (c->resume)
        event_free(c->resume);
    if (c->take)
        event_free(c->take);
    free(c->fresh);
    free(c->slots);
    free(c);
}
