/* redis_tls.h - rediss:// with a hiredis that has no TLS (Debian 12's 0.14.1):
 * an in-process relay. redis_tls_connect opens the TCP connection, does the
 * TLS handshake with OpenSSL (TLS 1.2 or later; the server's certificate
 * checked against the system's CAs - or SSL_CERT_FILE / SSL_CERT_DIR, which
 * OpenSSL reads - and against the host name or IP address of the URL), then
 * returns one end of a socket pair; a thread carries the bytes between the
 * other end and the TLS connection. hiredis gets that end (redisConnectFd)
 * and speaks plain RESP through it, with its timeouts as on TCP. Closing the
 * returned end ends the relay and the TLS connection; the server closing
 * the TLS connection closes the other end (hiredis sees EOF). */
#ifndef JEN1_REDIS_TLS_H
#define JEN1_REDIS_TLS_H

#include <stddef.h>

/* The relayed descriptor, or -1 with a message (unreachable, refused, a
 * handshake or certificate failure) in err. timeout_ms bounds the TCP
 * connect and the handshake together. */
int redis_tls_connect(const char *host, int port, int timeout_ms, char *err, size_t errlen);

/* The relay behind a descriptor redis_tls_connect returned, taken out of
 * the registry (NULL for any other descriptor). Take it *before* the
 * descriptor is closed (its number may be reused at once), close it
 * (redisFree), then redis_tls_join: the relay sees its end close, ends, and
 * is freed - so that no relay thread outlives its connection (a process
 * that exits right after closing would otherwise leave one mid-cleanup). */
typedef struct redis_tls redis_tls;
redis_tls *redis_tls_take(int fd);
void redis_tls_join(redis_tls *relay);

#endif
