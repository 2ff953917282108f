/* http_prefer.h - RFC 7240's Prefer request header, for the preferences
 * POST /generate honours: wait=SECONDS and respond-async.
 *
 *     struct http_prefer p;
 *     http_prefer_init(&p);
 *     for each Prefer header line: http_prefer_parse(&p, value);
 *     if (p.wait_s >= 0) ... if (p.respond_async) ...
 *
 * The grammar is RFC 7240's: a comma-separated list of preferences, each
 * `token [= word]` with `; parameter[=word]`s after it (ignored here), a word
 * being a token or a quoted string; whitespace around the separators; names
 * case-insensitive. A malformed preference, or one with a value it cannot
 * take (wait=soon, respond-async=1), is ignored as if absent, never an error;
 * an unknown one is ignored. Of a preference given more than once (in one
 * line or in several), the first well-formed instance counts. */
#ifndef JEN1_HTTP_PREFER_H
#define JEN1_HTTP_PREFER_H

#include <stdbool.h>

struct http_prefer {
    int wait_s;         /* -1: no wait preference; else its seconds (INT_MAX when larger) */
    bool respond_async; /* the client prefers 202 at once */
};

void http_prefer_init(struct http_prefer *p);

/* Adds the preferences of one Prefer header's value (NUL-terminated). */
void http_prefer_parse(struct http_prefer *p, const char *value);

#endif
