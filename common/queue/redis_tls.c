/* redis_tls.c - see redis_tls.h. */
#include "redis_tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "util.h"

typedef struct relay {
    int local; /* our end of the socket pair */
    int tcp;
    SSL_CTX *ctx;
    SSL *ssl;
} relay;

static void set_io_timeout(int fd, long long ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* A connected, blocking TCP socket to host:port within the deadline, or -1. */
static int tcp_connect(const char *host, int port, long long deadline, char *err, size_t errlen)
{
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *list = NULL;
    int rc = getaddrinfo(host, service, &hints, &list);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve the host: %s", gai_strerror(rc));
        return -1;
    }
    int fd = -1, last_errno = ETIMEDOUT;
    for (struct addrinfo *a = list; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
        if (fd < 0) {
            last_errno = errno;
            continue;
        }
        int ok = connect(fd, a->ai_addr, a->ai_addrlen) == 0;
        if (!ok && errno == EINPROGRESS) {
            struct pollfd p = {fd, POLLOUT, 0};
            long long left = deadline - clock_monotonic_ms();
            int soerr = ETIMEDOUT;
            socklen_t len = sizeof soerr;
            if (left > 0 && poll(&p, 1, (int)left) == 1) getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
            ok = soerr == 0;
            errno = soerr;
        }
        if (!ok) {
            last_errno = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(list);
    if (fd < 0) {
        snprintf(err, errlen, "cannot connect: %s", strerror(last_errno));
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    return fd;
}

/* The reason a handshake failed, certificate problems by name. */
static void handshake_error(SSL *ssl, char *err, size_t errlen)
{
    long verify = SSL_get_verify_result(ssl);
    unsigned long e = ERR_peek_last_error();
    if (verify != X509_V_OK)
        snprintf(err, errlen, "TLS: the server's certificate is refused: %s (a private CA: SSL_CERT_FILE)",
                 X509_verify_cert_error_string(verify));
    else if (e != 0)
        snprintf(err, errlen, "TLS handshake failed: %s", ERR_reason_error_string(e));
    else
        snprintf(err, errlen, "TLS handshake failed: the server closed the connection or did not answer "
                              "(a plain Redis port, or one that wants a client certificate?)");
    ERR_clear_error();
}

/* A TLS client on tcp, checked against host; 0 or -1. */
static int tls_handshake(relay *r, const char *host, char *err, size_t errlen)
{
    r->ctx = SSL_CTX_new(TLS_client_method());
    if (!r->ctx || !SSL_CTX_set_min_proto_version(r->ctx, TLS1_2_VERSION) ||
        SSL_CTX_set_default_verify_paths(r->ctx) != 1 || !(r->ssl = SSL_new(r->ctx))) {
        snprintf(err, errlen, "TLS: cannot set up OpenSSL");
        ERR_clear_error();
        return -1;
    }
    SSL_set_verify(r->ssl, SSL_VERIFY_PEER, NULL);
    unsigned char ip[16];
    bool is_ip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
    int named = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(r->ssl), host)
                      : SSL_set1_host(r->ssl, host) && SSL_set_tlsext_host_name(r->ssl, host);
    if (named != 1 || SSL_set_fd(r->ssl, r->tcp) != 1) {
        snprintf(err, errlen, "TLS: cannot set up OpenSSL for this host");
        ERR_clear_error();
        return -1;
    }
    /* A record that is not data (a TLS 1.3 session ticket) must not keep
     * SSL_read waiting for data while hiredis has a command to send. */
    SSL_clear_mode(r->ssl, SSL_MODE_AUTO_RETRY);
    if (SSL_connect(r->ssl) != 1) {
        handshake_error(r->ssl, err, errlen);
        return -1;
    }
    return 0;
}

static void relay_free(relay *r)
{
    if (r->ssl) SSL_free(r->ssl);
    if (r->ctx) SSL_CTX_free(r->ctx);
    if (r->tcp >= 0) close(r->tcp);
    if (r->local >= 0) close(r->local);
    free(r);
}

static bool send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Server -> hiredis: false when the TLS connection ended. */
static bool pump_in(relay *r, char *buf, int size)
{
    int n = SSL_read(r->ssl, buf, size);
    if (n > 0) return send_all(r->local, buf, (size_t)n);
    int e = SSL_get_error(r->ssl, n);
    ERR_clear_error();
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
}

/* hiredis -> server: false when hiredis closed its end or the write failed. */
static bool pump_out(relay *r, char *buf, int size)
{
    ssize_t n = recv(r->local, buf, (size_t)size, 0);
    if (n < 0 && errno == EINTR) return true;
    if (n <= 0) return false;
    bool ok = SSL_write(r->ssl, buf, (int)n) == (int)n; /* blocking: all of it or an error */
    ERR_clear_error();
    return ok;
}

static void *relay_main(void *arg)
{
    relay *r = arg;
    char buf[16384];
    bool open = true;
    while (open) {
        struct pollfd p[2] = {{r->local, POLLIN, 0}, {r->tcp, POLLIN, 0}};
        if (SSL_pending(r->ssl) > 0) p[1].revents = POLLIN; /* decrypted bytes wait already */
        else if (poll(p, 2, -1) < 0) {
            open = errno == EINTR;
            continue;
        }
        if (p[1].revents) open = pump_in(r, buf, sizeof buf);
        if (open && p[0].revents) open = pump_out(r, buf, sizeof buf);
    }
    set_io_timeout(r->tcp, 1000); /* close_notify is a courtesy: never wait long for it */
    SSL_shutdown(r->ssl);
    shutdown(r->local, SHUT_RDWR);
    relay_free(r);
    return NULL;
}

/* The running relays, by the descriptor hiredis was given. */
struct redis_tls {
    int fd;
    pthread_t thread;
    struct redis_tls *next;
};
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct redis_tls *registry;

redis_tls *redis_tls_take(int fd)
{
    pthread_mutex_lock(&registry_lock);
    struct redis_tls **p = &registry;
    while (*p && (*p)->fd != fd) p = &(*p)->next;
    struct redis_tls *found = *p;
    if (found) *p = found->next;
    pthread_mutex_unlock(&registry_lock);
    return found;
}

void redis_tls_join(redis_tls *relay)
{
    if (!relay) return;
    pthread_join(relay->thread, NULL);
    free(relay);
}

/* Starts the relay thread with every signal blocked: SIGPIPE from a write to
 * a closed peer becomes EPIPE, and the process's signals go to its threads. */
static int start_relay(relay *r, pthread_t *t)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(t, NULL, relay_main, r);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

int redis_tls_connect(const char *host, int port, int timeout_ms, char *err, size_t errlen)
{
    long long deadline = clock_monotonic_ms() + timeout_ms;
    relay *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    r->local = -1;
    r->tcp = tcp_connect(host, port, deadline, err, errlen);
    if (r->tcp < 0) {
        relay_free(r);
        return -1;
    }
    long long left = deadline - clock_monotonic_ms();
    set_io_timeout(r->tcp, left > 0 ? left : 1);
    if (tls_handshake(r, host, err, errlen) != 0) {
        relay_free(r);
        return -1;
    }
    /* hiredis's own timeouts apply on its end; these only bound a server
     * that stops mid-record or stops reading. The relay polls, so an idle
     * connection (a long BLPOP) never meets them. */
    set_io_timeout(r->tcp, 30000);
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
        snprintf(err, errlen, "TLS relay: socketpair: %s", strerror(errno));
        relay_free(r);
        return -1;
    }
    r->local = pair[1];
    struct redis_tls *entry = calloc(1, sizeof *entry);
    if (!entry || start_relay(r, &entry->thread) != 0) {
        snprintf(err, errlen, "TLS relay: cannot start its thread");
        free(entry);
        close(pair[0]);
        relay_free(r);
        return -1;
    }
    entry->fd = pair[0];
    pthread_mutex_lock(&registry_lock);
    entry->next = registry;
    registry = entry;
    pthread_mutex_unlock(&registry_lock);
    return pair[0];
}
