/* http_host.h - which addresses the HTTP API may listen on, and which Host
 * headers it answers (DNS rebinding).
 *
 * A listener on a non-loopback address needs a token (http.c refuses to
 * start otherwise, unless the operator opts out loudly). A web page whose
 * name an attacker points at 127.0.0.1 (DNS rebinding) sends its own name as
 * Host: so a request whose Host is not an allowed name is refused. Allowed:
 * the names in JEN1_HTTP_ALLOWED_HOSTS (comma-separated, no port; "*" for
 * any), and, on a loopback listener, the loopback names (localhost,
 * 127.0.0.0/8, ::1). A non-loopback listener with no list answers any Host
 * (its token is the guard). A request without Host (HTTP/1.0) passes. */
#ifndef JEN1_HTTP_HOST_H
#define JEN1_HTTP_HOST_H

#include <stdbool.h>

/* Whether every address `host` names is a loopback address ("127.0.0.1",
 * "::1", "localhost"); false for "0.0.0.0", "::" and names that do not
 * resolve. */
bool http_host_is_loopback(const char *host);

/* Whether a request with this Host header (NULL: none) may be answered by a
 * listener that is (or not) on loopback, given the allowed list (NULL or "":
 * none). */
bool http_host_allowed(const char *host_header, bool loopback_listener, const char *allowed);

#endif
