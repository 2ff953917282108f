/* http_conns.h - the connections the HTTP server accepts: how many at once,
 * how long a request may take to arrive, and what happens when the process
 * runs out of file descriptors.
 *
 * evhttp's own timeout restarts on every byte, so a client sending one byte
 * every few seconds keeps its socket forever. Here every request must arrive
 * whole (headers and body) within `deadline_s` of its connection's accept or
 * of the previous answer on it; else the socket is shut down. At most
 * `max_conns` connections are held: at the cap, the oldest connection still
 * sending its request makes room (slow clients cannot starve the others, a
 * liveness probe included); when every connection is busy with a request, a
 * new one gets a canned 503 and is closed. When accept() fails for want of
 * descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM), the listener
 * pauses for a second instead of spinning, with one rate-limited warning.
 *
 * The server tells http_conns when a request has arrived whole
 * (http_conns_request_read, from its request callback). */
#ifndef JEN1_HTTP_CONNS_H
#define JEN1_HTTP_CONNS_H

struct evhttp;
struct evhttp_bound_socket;
struct evhttp_request;
struct http_conns;

/* Takes over accepting on `bound` (its listener) for `http`. NULL when out of
 * memory. */
struct http_conns *http_conns_new(struct evhttp *http, struct evhttp_bound_socket *bound,
                                  int max_conns, int deadline_s);

/* The request has arrived whole: its deadline stops; the next request on the
 * same connection gets a fresh one once this one is answered. */
void http_conns_request_read(struct http_conns *c, struct evhttp_request *req);

/* Connections held now (after forgetting those evhttp has closed). */
int http_conns_count(struct http_conns *c);

void http_conns_free(struct http_conns *c);

#endif
