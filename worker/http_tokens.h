/* http_tokens.h - who may call the HTTP API: the token table, each token's
 * rights (may it set "priority") and its rate limit.
 *
 * The table comes from JEN1_API_TOKEN (one token named "default") and/or a
 * file (JEN1_API_TOKENS_FILE), one token a line:
 *
 *     # NAME   SECRET                  [rate=N] [priority]
 *     studio   3f1c...e9               rate=120 priority
 *     public   9a0b...77               rate=10
 *
 * rate=N is POST /generate requests per minute (a bucket of N that refills
 * N a minute; 0: no limit), the table's default rate when absent. "priority"
 * lets the token set "priority" above 0. The default token may set it (it is
 * the operator's one token); a file's tokens only when they say so. Names are
 * 1..63 of [A-Za-z0-9_.-], secrets printable bytes without spaces, at most
 * 511 (a file's at least 16).
 *
 * With no token at all (allowed on a loopback listener only) every caller is
 * the anonymous caller "", with the default rights and the default rate. */
#ifndef JEN1_HTTP_TOKENS_H
#define JEN1_HTTP_TOKENS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The rights of the caller of one request, handed to the routes. */
struct http_caller {
    const char *name;    /* the token's name; "" when no token is configured */
    bool may_prioritize; /* may set "priority" above 0 */
};

struct http_tokens;

/* An empty table whose callers are rate-limited to default_rate per minute
 * (0: no limit). NULL when out of memory. */
struct http_tokens *http_tokens_new(int default_rate);
void http_tokens_free(struct http_tokens *t);

/* Adds one token. 0, or -1 with a message (never the secret). */
int http_tokens_add(struct http_tokens *t, const char *name, const char *secret, int rate,
                    bool may_prioritize, char *err, size_t errlen);

/* Adds every token of a tokens file (the format above). 0, or -1 with a
 * message naming the file and line (never a secret). */
int http_tokens_load_file(struct http_tokens *t, const char *path, char *err, size_t errlen);

/* How many tokens the table holds; 0: the API is open (anonymous caller). */
size_t http_tokens_count(const struct http_tokens *t);

/* The i-th secret (for log_add_secret). */
const char *http_tokens_secret(const struct http_tokens *t, size_t i);

/* The caller holding `given` (len bytes), compared in constant time against
 * every secret; NULL when none matches. With an empty table, the anonymous
 * caller whatever is given. The pointer lives as long as the table. */
const struct http_caller *http_tokens_find(struct http_tokens *t, const char *given, size_t len);

/* Takes one request from the caller's bucket at now_ms (CLOCK_MONOTONIC).
 * true when allowed; false with *retry_after_s (>= 1) when over its rate. */
bool http_tokens_take(struct http_tokens *t, const struct http_caller *caller, int64_t now_ms,
                      int *retry_after_s);

#endif
