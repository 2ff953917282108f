/* http_host.c - listen addresses and Host headers; see http_host.h. */
#include "http_host.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

static bool address_is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a))
            return true;
        return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
    }
    return false;
}

bool http_host_is_loopback(const char *host)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
    struct addrinfo *res = NULL;
    if (!host || !*host || getaddrinfo(host, NULL, &hints, &res) != 0)
        return false;
    bool all = res != NULL;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
        all = all && address_is_loopback(ai->ai_addr);
    freeaddrinfo(res);
    return all;
}

/* The host part of a Host header, lowercase, without port or brackets;
 * false when it does not fit or is malformed. */
static bool host_part(const char *header, char *out, size_t size)
{
    const char *start = header, *end;
    if (*header == '[') {
        start = header + 1;
        end = strchr(start, ']');
        if (!end || (end[1] && end[1] != ':'))
            return false;
    } else {
        end = strchr(header, ':');
        if (!end)
            end = header + strlen(header);
        if (strchr(end + (*end == ':'), ':'))
            return false;
    }
    size_t n = (size_t)(end - start);
    if (n == 0 || n >= size)
        return false;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)((start[i] >= 'A' && start[i] <= 'Z') ? start[i] + 32 : start[i]);
    out[n] = '\0';
    return true;
}

static bool is_loopback_name(const char *h)
{
    if (strcmp(h, "localhost") == 0 || strcmp(h, "::1") == 0)
        return true;
    struct in_addr a;
    return inet_pton(AF_INET, h, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

static bool in_list(const char *h, const char *list)
{
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        const char *item = p;
        size_t len = n;
        while (len && *item == ' ')
            item++, len--;
        while (len && item[len - 1] == ' ')
            len--;
        if ((len == 1 && *item == '*') || (len == strlen(h) && strncasecmp(item, h, len) == 0))
            return true;
        p += n + (p[n] == ',');
    }
    return false;
}

bool http_host_allowed(const char *host_header, bool loopback_listener, const char *allowed)
{
    if (!host_header)
        return true;
    bool listed = allowed && *allowed;
    if (!loopback_listener && !listed)
        return true;
    char h[256];
    if (!host_part(host_header, h, sizeof h))
        return false;
    return (loopback_listener && is_loopback_name(h)) || (listed && in_list(h, allowed));
}
