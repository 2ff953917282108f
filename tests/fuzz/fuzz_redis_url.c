/* fuzz_redis_url.c - common/queue/redis_url.c's redis_url_parse on arbitrary text.
 *
 * Besides memory safety: a refused URL leaves no password behind in *out, its
 * message never repeats the credentials (the user-info part, everything
 * between "://" and the last '@'), and redis_url_describe of an accepted one
 * does not depend on them. */
#include "fuzz.h"
#include "redis_url.h"

/* Shorter user-info could occur in a message by chance ("redis URL: ..."). */
#define MIN_SECRET_LEN 8

/* The user-info part of `url`, or NULL when there is none worth looking for
 * (one holding "://" would match the messages that name the schemes). */
static char *userinfo(const char *url)
{
    const char *start = strncmp(url, "redis://", 8) == 0  ? url + 8
                        : strncmp(url, "unix://", 7) == 0 ? url + 7
                                                          : NULL;
    const char *at = strrchr(url, '@');
    if (!start || !at || at < start)
        return NULL;
    size_t len = (size_t)(at - start);
    char *secret = len >= MIN_SECRET_LEN ? strndup(start, len) : NULL;
    if (secret && strstr(secret, "://")) {
        free(secret);
        secret = NULL;
    }
    return secret;
}

static int all_zero(const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (buf[i])
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *url = fuzz_strndup(data, size);
    if (!url)
        return 0;
    char *secret = userinfo(url);
    redis_url u;
    char err[256] = "";
    if (redis_url_parse(url, &u, err, sizeof err) != 0) {
        FUZZ_ASSERT(fuzz_message_ok(err, sizeof err), "refused without a message");
        FUZZ_ASSERT(all_zero(u.password, sizeof u.password), "a refused URL left its password");
        FUZZ_ASSERT(!secret || !strstr(err, secret), "the message repeats the credentials: %s",
                    err);
    } else {
        FUZZ_ASSERT(!u.tls || !u.is_unix, "TLS over a unix socket");
        FUZZ_ASSERT(u.db >= 0 && u.db <= 1 << 20, "db %d", u.db);
        if (u.is_unix) {
            FUZZ_ASSERT(u.path[0] == '/', "socket path '%s'", u.path);
        } else {
            FUZZ_ASSERT(u.host[0] != '\0', "no host");
            FUZZ_ASSERT(u.port >= 1 && u.port <= 65535, "port %d", u.port);
        }
        /* describe never reads the credentials: the same URL without them
         * reads the same. (Looking for the user-info text in the description
         * was wrong: "unix://ix:/:]wt@/:]wti" describes as "unix:/:]wti/0",
         * where "ix:/:]wt" appears across "unix:" and the socket path.) */
        char described[512], anonymous[512];
        redis_url_describe(&u, described, sizeof described);
        redis_url no_credentials = u;
        memset(no_credentials.user, 0, sizeof no_credentials.user);
        memset(no_credentials.password, 0, sizeof no_credentials.password);
        redis_url_describe(&no_credentials, anonymous, sizeof anonymous);
        FUZZ_ASSERT(strcmp(described, anonymous) == 0, "describe depends on the credentials: %s", described);
    }
    free(secret);
    free(url);
    return 0;
}
