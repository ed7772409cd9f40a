/* SPDX-License-Identifier: MIT */
/* Units and syntax: durations, sizes, addresses, tokens, hosts, paths, header values. */
#include "config/cfg-int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

/* Leading decimal digits of s into *v; returns the count (0: none), or -1 on overflow. */
static int units_digits(const char *s, uint64_t *v)
{
    int n = 0;

    *v = 0;
    for (; isdigit((unsigned char)s[n]); n++) {
        unsigned d = (unsigned)(s[n] - '0');

        if (*v > (UINT64_MAX - d) / 10)
            return -1;
        *v = *v * 10 + d;
    }
    return n;
}

static int units_scale(uint64_t v, uint64_t mult, uint64_t *out)
{
    if (v != 0 && mult > UINT64_MAX / v)
        return -ERANGE;
    *out = v * mult;
    return 0;
}

struct units_suffix {
    const char *name;
    uint64_t mult;
};

static const struct units_suffix dur_units[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60 * 1000}, {"h", 60 * 60 * 1000}, {"d", 24 * 60 * 60 * 1000},
    {NULL, 0},
};

static const struct units_suffix size_units[] = {
    {"", 1},
    {"B", 1},
    {"KB", 1000},
    {"MB", 1000 * 1000},
    {"GB", 1000 * 1000 * 1000},
    {"TB", 1000ull * 1000 * 1000 * 1000},
    {"KiB", 1024},
    {"MiB", 1024 * 1024},
    {"GiB", 1024 * 1024 * 1024},
    {"TiB", 1024ull * 1024 * 1024 * 1024},
    {NULL, 0},
};

static const struct units_suffix *units_find(const struct units_suffix *t, const char *s)
{
    for (; t->name; t++)
        if (strcmp(t->name, s) == 0)
            return t;
    return NULL;
}

int rw_cfg_parse_duration(const char *s, uint64_t *ms)
{
    const struct units_suffix *u;
    uint64_t v;
    int n;

    if (!s)
        return -EINVAL;
    n = units_digits(s, &v);
    if (n <= 0)
        return -EINVAL;
    u = units_find(dur_units, s + n);
    if (!u)
        return -EINVAL;
    return units_scale(v, u->mult, ms) == 0 ? 0 : -EINVAL;
}

int rw_cfg_parse_duration_us(const char *s, uint64_t *us)
{
    uint64_t v;
    int n = s ? units_digits(s, &v) : 0;

    if (n > 0 && strcmp(s + n, "us") == 0) {
        *us = v;
        return 0;
    }
    if (rw_cfg_parse_duration(s, &v) != 0)
        return -EINVAL;
    return units_scale(v, 1000, us) == 0 ? 0 : -EINVAL;
}

int rw_cfg_parse_size(const char *s, uint64_t *bytes)
{
    const struct units_suffix *u;
    uint64_t v;
    int n;

    if (!s)
        return -EINVAL;
    n = units_digits(s, &v);
    if (n == 0)
        return -EINVAL;
    if (n < 0) {
        /* Too many digits: still tell a malformed string from a big one. */
        size_t d = strspn(s, "0123456789");

        return units_find(size_units, s + d) ? -ERANGE : -EINVAL;
    }
    u = units_find(size_units, s + n);
    if (!u)
        return -EINVAL;
    return units_scale(v, u->mult, bytes);
}

/* "1".."65535", digits only. */
static int units_port(const char *s, uint16_t *port)
{
    uint64_t v;
    int n = units_digits(s, &v);

    if (n <= 0 || n > 5 || s[n] != '\0' || v == 0 || v > 65535)
        return -EINVAL;
    *port = (uint16_t)v;
    return 0;
}

static int addr_v4(const char *host, uint16_t port, struct sockaddr_storage *addr, socklen_t *len)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)addr;

    memset(addr, 0, sizeof(*addr));
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    if (strcmp(host, "*") == 0)
        sin->sin_addr.s_addr = htonl(INADDR_ANY);
    else if (strcasecmp(host, "localhost") == 0)
        sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    else if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
        return -EINVAL;
    *len = sizeof(*sin);
    return 0;
}

static int addr_v6(const char *host, uint16_t port, struct sockaddr_storage *addr, socklen_t *len)
{
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)addr;

    memset(addr, 0, sizeof(*addr));
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
        return -EINVAL;
    *len = sizeof(*sin6);
    return 0;
}

static bool units_looks_like_name(const char *h)
{
    bool alpha = false;

    for (; *h; h++) {
        if (isalpha((unsigned char)*h))
            alpha = true;
        else if (!isdigit((unsigned char)*h) && *h != '-' && *h != '.')
            return false;
    }
    return alpha;
}

int rw__cfg_parse_addr(const char *s, struct sockaddr_storage *addr, socklen_t *len,
                       const char **why)
{
    char host[64];
    const char *colon, *hs;
    size_t hl;
    uint16_t port;
    bool v6 = s[0] == '[';

    *why = "must be \"host:port\" with an IPv4 address, [IPv6], * or localhost";
    if (v6) {
        const char *rb = strchr(s, ']');

        if (!rb || rb[1] != ':')
            return -EINVAL;
        hs = s + 1;
        hl = (size_t)(rb - hs);
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon) {
            *why = "must end in \":port\" with a port 1..65535";
            return -EINVAL;
        }
        hs = s;
        hl = (size_t)(colon - s);
        if (memchr(s, ':', hl)) {
            *why = "must put an IPv6 address in brackets, like \"[::1]:8080\"";
            return -EINVAL;
        }
    }
    if (units_port(colon + 1, &port) != 0) {
        *why = "must end in \":port\" with a port 1..65535";
        return -EINVAL;
    }
    if (hl == 0 || hl >= sizeof(host))
        return -EINVAL;
    memcpy(host, hs, hl);
    host[hl] = '\0';
    if (v6 ? addr_v6(host, port, addr, len) == 0 : addr_v4(host, port, addr, len) == 0)
        return 0;
    if (!v6 && units_looks_like_name(host))
        *why = "must be an IP address, * or localhost (host names are not resolved in this "
               "version)";
    return -EINVAL;
}

int rw_cfg_parse_addr(const char *s, struct sockaddr_storage *addr, socklen_t *len)
{
    const char *why;

    if (!s || !addr || !len)
        return -EINVAL;
    return rw__cfg_parse_addr(s, addr, len, &why);
}

const char *rw__cfg_check_token(const char *s)
{
    static const char *const msg = "must be a token (letters, digits and !#$%&'*+-.^_`|~)";

    if (!*s)
        return msg;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
            return msg;
    return NULL;
}

const char *rw__cfg_check_hdr_value(const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;

        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return "must not contain CR, LF or other control characters";
    }
    return NULL;
}

const char *rw__cfg_check_path(const char *s)
{
    if (s[0] != '/')
        return "must start with '/'";
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;

        if (ch <= 0x20 || ch == 0x7f || ch == '?' || ch == '#')
            return "must not contain spaces, control characters, '?' or '#'";
    }
    return NULL;
}

const char *rw__cfg_check_target(const char *s)
{
    if (s[0] != '/')
        return "must start with '/'";
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;

        if (ch <= 0x20 || ch == 0x7f || ch == '#')
            return "must not contain spaces, control characters or '#'";
    }
    return NULL;
}

/* Dot-separated labels of letters, digits and '-' (not at a label's ends). */
static bool units_dns_name(const char *s, size_t n)
{
    size_t label = 0;

    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (ch == '.') {
            if (label == 0 || s[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        if (!isalnum(ch) && ch != '-')
            return false;
        if (ch == '-' && label == 0)
            return false;
        if (++label > 63)
            return false;
    }
    return label > 0 && s[n - 1] != '-';
}

static bool units_host(const char *s, size_t n)
{
    char buf[64];
    struct in6_addr a6;

    if (n > 0 && s[0] == '[') {
        if (n < 3 || s[n - 1] != ']' || n - 2 >= sizeof(buf))
            return false;
        memcpy(buf, s + 1, n - 2);
        buf[n - 2] = '\0';
        return inet_pton(AF_INET6, buf, &a6) == 1;
    }
    return units_dns_name(s, n);
}

const char *rw__cfg_check_host(const char *s)
{
    return units_host(s, strlen(s)) ? NULL : "must be a host name or an IP address";
}

const char *rw__cfg_check_host_match(const char *s)
{
    if (s[0] == '*' && s[1] == '.')
        s += 2;
    if (strchr(s, '*'))
        return "may use '*' only as a whole leading label, like \"*.example.com\"";
    if (strchr(s, ':') && s[0] != '[')
        return "must be a host name without a port";
    return rw__cfg_check_host(s);
}

const char *rw__cfg_check_host_port(const char *s)
{
    static const char *const msg = "must be a host name or IP address with an optional :port";
    const char *colon = strrchr(s, ':');
    uint16_t port;

    if (s[0] == '[') {
        const char *rb = strchr(s, ']');

        if (!rb)
            return msg;
        colon = rb[1] == ':' ? rb + 1 : NULL;
        if (!colon && rb[1] != '\0')
            return msg;
    }
    if (!colon)
        return units_host(s, strlen(s)) ? NULL : msg;
    if (units_port(colon + 1, &port) != 0 || !units_host(s, (size_t)(colon - s)))
        return msg;
    return NULL;
}

const char *rw__cfg_check_name(const char *s)
{
    if (!*s)
        return "must not be empty";
    if (strlen(s) > 255)
        return "must be at most 255 bytes";
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return "must not contain control characters";
    return NULL;
}

static bool units_ctl(unsigned char ch)
{
    return ch < 0x20 || ch == 0x7f;
}

const char *rw__cfg_check_cookie_name(const char *s)
{
    if (!*s)
        return "must not be empty";
    for (; *s; s++)
        if (units_ctl((unsigned char)*s) || strchr(";=& \t", *s))
            return "must not contain ';', '=', '&', spaces or control characters";
    return NULL;
}

const char *rw__cfg_check_cookie_path(const char *s)
{
    if (s[0] != '/')
        return "must start with '/'";
    for (; *s; s++)
        if (units_ctl((unsigned char)*s) || *s == ';')
            return "must not contain ';' or control characters";
    return NULL;
}

const char *rw__cfg_check_file(const char *s)
{
    if (!*s)
        return "must not be empty";
    if (strlen(s) >= 4096)
        return "must be shorter than 4096 bytes";
    for (; *s; s++)
        if (units_ctl((unsigned char)*s))
            return "must not contain control characters";
    return NULL;
}

void rw__cfg_lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}
