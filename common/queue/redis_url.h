/* redis_url.h - the Redis address as jen1 is configured with it (REDIS_URL):
 *
 *   redis://[[user][:password]@]host[:port][/db]   host may be [IPv6]; port 6379, db 0 by default
 *   rediss://...                                   the same over TLS (redis_tls.h)
 *   unix://[[user][:password]@]/path/to/socket[?db=N]
 *
 * The user and password may be percent-encoded (a password with '@', ':' or
 * '/' must be). A user without a password parses: the password may come
 * from elsewhere (JEN1_REDIS_PASSWORD_FILE); connecting refuses it if it
 * did not. No message from this module ever contains the password. */
#ifndef JEN1_REDIS_URL_H
#define JEN1_REDIS_URL_H

#include <stdbool.h>
#include <stddef.h>

typedef struct redis_url {
    bool is_unix;
    bool tls;            /* rediss:// */
    char host[256];      /* TCP: hostname or address, without IPv6 brackets */
    int port;
    char path[108];      /* unix: the socket's path (sun_path's size) */
    char user[128];      /* empty: the default user (AUTH password alone) */
    char password[512];  /* empty: no AUTH */
    int db;
} redis_url;

/* Parses `url`. Returns 0, or -1 with a message that names the part at
 * fault but never repeats the URL (it may hold a password). */
int redis_url_parse(const char *url, redis_url *out, char *err, size_t errlen);

/* "host:port/db", "host:port/db (TLS)" or "unix:/path/db" - the server without the credentials,
 * for messages and logs. */
void redis_url_describe(const redis_url *u, char *buf, size_t len);

#endif
