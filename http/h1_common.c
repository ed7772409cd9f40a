/* SPDX-License-Identifier: MIT */
/* Shared HTTP/1 helpers: character classes, header ids, value checks, reason phrases. */
#include "http/h1_int.h"

#include <errno.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define T RW__C_TCHAR
#define V RW__C_VALUE
#define H RW__C_HEX
#define D RW__C_DIGIT
#define R RW__C_REG
#define Q RW__C_QDTEXT
/* Generated once from the RFC 9110/3986 ABNF; one row per 8 bytes. */
/* clang-format off */
const uint8_t rw__h1_ctab[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, /* 0x00 */
    0, V|Q, 0, 0, 0, 0, 0, 0, /* 0x08 */
    0, 0, 0, 0, 0, 0, 0, 0, /* 0x10 */
    0, 0, 0, 0, 0, 0, 0, 0, /* 0x18 */
    V|Q, T|V|R|Q, V, T|V|Q, T|V|R|Q, T|V|Q, T|V|R|Q, T|V|R|Q, /* 0x20 */
    V|R|Q, V|R|Q, T|V|R|Q, T|V|R|Q, V|R|Q, T|V|R|Q, T|V|R|Q, V|Q, /* 0x28 */
    T|V|H|D|R|Q, T|V|H|D|R|Q, T|V|H|D|R|Q, T|V|H|D|R|Q, T|V|H|D|R|Q, T|V|H|D|R|Q, T|V|H|D|R|Q, T|V|H|D|R|Q, /* 0x30 */
    T|V|H|D|R|Q, T|V|H|D|R|Q, V|Q, V|R|Q, V|Q, V|R|Q, V|Q, V|Q, /* 0x38 */
    V|Q, T|V|H|R|Q, T|V|H|R|Q, T|V|H|R|Q, T|V|H|R|Q, T|V|H|R|Q, T|V|H|R|Q, T|V|R|Q, /* 0x40 */
    T|V|R|Q, T|V|R|Q, T|V|R|Q, T|V|R|Q, T|V|R|Q, T|V|R|Q, T|V|R|Q, T|V|R|Q, /* 0x48 */
    T|V|R|Q, T|V|R|Q, T|V|R|Q, T|V|R|Q, T|V|R|Q, T|V|R|Q, T|V|R|Q, T|V|R|Q, /* 0x50 */
    T|V|R|Q, T|V|R|Q, T|V|R|Q, V|Q, V, V|Q, T|V|Q, T|V|R|Q, /* 0x58 */
    T|V|Q, T|V|H|R|Q, T|V|H|R|Q, T|V|H|R|Q, T|V|H|R|Q, T|V|H|R|Q, T|V|H|R|Q, T|V|R|Q, /* 0x60 */
    T|V|R|Q, T|V|R|Q, T|V|R|Q, T|V|R|Q, T|V|R|Q, T|V|R|Q, T|V|R|Q, T|V|R|Q, /* 0x68 */
    T|V|R|Q, T|V|R|Q, T|V|R|Q, T|V|R|Q, T|V|R|Q, T|V|R|Q, T|V|R|Q, T|V|R|Q, /* 0x70 */
    T|V|R|Q, T|V|R|Q, T|V|R|Q, V|Q, T|V|Q, V|Q, T|V|R|Q, 0, /* 0x78 */
    V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, /* 0x80 */
    V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, /* 0x88 */
    V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, /* 0x90 */
    V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, /* 0x98 */
    V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, /* 0xa0 */
    V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, /* 0xa8 */
    V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, /* 0xb0 */
    V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, /* 0xb8 */
    V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, /* 0xc0 */
    V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, /* 0xc8 */
    V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, /* 0xd0 */
    V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, /* 0xd8 */
    V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, /* 0xe0 */
    V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, /* 0xe8 */
    V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, /* 0xf0 */
    V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, V|Q, /* 0xf8 */
};
/* clang-format on */
#undef T
#undef V
#undef H
#undef D
#undef R
#undef Q

void rw__h1_limits(const struct rw_h1_limits *lim, struct rw__lim *out)
{
    out->request_line = lim && lim->request_line ? lim->request_line : 8192;
    out->header_block = lim && lim->header_block ? lim->header_block : 16384;
    out->headers = lim && lim->headers ? lim->headers : 100;
    if (out->headers > RW_H1_MAX_HEADERS)
        out->headers = RW_H1_MAX_HEADERS;
}

/* name is a token and lit is lowercase letters and '-': OR-ing 0x20 folds case and can
 * map no other token byte onto a letter or '-'. */
static inline bool tok_ieq(const char *name, const char *lit, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (((uint8_t)name[i] | 0x20) != (uint8_t)lit[i])
            return false;
    return true;
}

#define HDR_IS(lit, id_)                                                                           \
    do {                                                                                           \
        if (tok_ieq(name, lit, sizeof(lit) - 1))                                                   \
            return id_;                                                                            \
    } while (0)

enum rw_hdr_id rw__h1_hdr_id(const char *name, size_t len)
{
    /* Length first, then the first letter: at most two full compares per name. */
    uint8_t c0 = len ? ((uint8_t)name[0] | 0x20) : 0;
    switch (len) {
    case 2:
        HDR_IS("te", RW_H_TE);
        break;
    case 3:
        HDR_IS("via", RW_H_VIA);
        break;
    case 4:
        if (c0 == 'h')
            HDR_IS("host", RW_H_HOST);
        else
            HDR_IS("date", RW_H_DATE);
        break;
    case 6:
        if (c0 == 'c')
            HDR_IS("cookie", RW_H_COOKIE);
        else if (c0 == 'e')
            HDR_IS("expect", RW_H_EXPECT);
        else
            HDR_IS("server", RW_H_SERVER);
        break;
    case 7:
        if (c0 == 'u')
            HDR_IS("upgrade", RW_H_UPGRADE);
        else
            HDR_IS("trailer", RW_H_TRAILER);
        break;
    case 9:
        HDR_IS("forwarded", RW_H_FORWARDED);
        break;
    case 10:
        if (c0 == 'c')
            HDR_IS("connection", RW_H_CONNECTION);
        else
            HDR_IS("keep-alive", RW_H_KEEP_ALIVE);
        break;
    case 12:
        HDR_IS("x-powered-by", RW_H_X_POWERED_BY);
        break;
    case 14:
        HDR_IS("content-length", RW_H_CONTENT_LENGTH);
        break;
    case 15:
        HDR_IS("x-forwarded-for", RW_H_X_FORWARDED_FOR);
        break;
    case 16:
        if (c0 == 'p')
            HDR_IS("proxy-connection", RW_H_PROXY_CONNECTION);
        else
            HDR_IS("x-forwarded-host", RW_H_X_FORWARDED_HOST);
        break;
    case 17:
        if (c0 == 't')
            HDR_IS("transfer-encoding", RW_H_TRANSFER_ENCODING);
        else
            HDR_IS("x-forwarded-proto", RW_H_X_FORWARDED_PROTO);
        break;
    default:
        break;
    }
    return RW_H_OTHER;
}

#undef HDR_IS

bool rw__h1_hop_id(unsigned id)
{
    switch (id) {
    case RW_H_CONNECTION:
    case RW_H_KEEP_ALIVE:
    case RW_H_PROXY_CONNECTION:
    case RW_H_TE:
    case RW_H_TRAILER:
    case RW_H_TRANSFER_ENCODING:
    case RW_H_UPGRADE:
        return true;
    default:
        return false;
    }
}

#if defined(__SSE2__)
/* x86-64 always has SSE2: sixteen bytes per step. A byte stops the scan when it is
 * below 0x20 or is 0x7f; HTAB is the one such byte that is valid, so step over it. */
const char *rw__h1_scan_value(const char *p, const char *end)
{
    const __m128i sp = _mm_set1_epi8(0x20), del = _mm_set1_epi8(0x7f);
    while (end - p >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
        unsigned ge = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_max_epu8(x, sp), x));
        unsigned stop = (~ge & 0xffffu) | (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, del));
        if (!stop) {
            p += 16;
            continue;
        }
        p += __builtin_ctz(stop);
        if (*p != '\t')
            return p;
        p++;
    }
    while (p < end && rw__is((uint8_t)*p, RW__C_VALUE))
        p++;
    return p;
}

/* Field names: letters, digits and '-' are checked sixteen at a time; any other byte
 * ends the fast step and the table decides (':' ends the name, '_' and friends go on). */
const char *rw__h1_scan_name(const char *p, const char *end)
{
    const __m128i a = _mm_set1_epi8('a' - 1), z = _mm_set1_epi8('z' + 1);
    const __m128i d0 = _mm_set1_epi8('0' - 1), d9 = _mm_set1_epi8('9' + 1);
    const __m128i dash = _mm_set1_epi8('-'), low = _mm_set1_epi8(0x20);
    while (end - p >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i l = _mm_or_si128(x, low); /* bytes >= 0x80 stay negative: never letters */
        __m128i alpha = _mm_and_si128(_mm_cmpgt_epi8(l, a), _mm_cmpgt_epi8(z, l));
        __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(x, d0), _mm_cmpgt_epi8(d9, x));
        __m128i ok = _mm_or_si128(_mm_or_si128(alpha, digit), _mm_cmpeq_epi8(x, dash));
        unsigned stop = ~(unsigned)_mm_movemask_epi8(ok) & 0xffffu;
        if (!stop) {
            p += 16;
            continue;
        }
        p += __builtin_ctz(stop);
        if (!rw__is((uint8_t)*p, RW__C_TCHAR))
            return p;
        p++;
    }
    while (p < end && rw__is((uint8_t)*p, RW__C_TCHAR))
        p++;
    return p;
}
#else
static inline uint64_t load64(const char *p)
{
    uint64_t x;
    memcpy(&x, p, sizeof(x));
    return x;
}

/* Non-zero when any of the 8 bytes is below 0x20 or is 0x7f (SWAR, exact for "any"). */
static inline uint64_t swar_ctl(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    uint64_t lt = (x - ones * 0x20) & ~x & high;
    uint64_t y = x ^ (ones * 0x7f);
    return lt | ((y - ones) & ~y & high);
}

const char *rw__h1_scan_value(const char *p, const char *end)
{
    /* Eight bytes at a time until one looks special; HTAB is the only special byte
     * that is valid, so the byte loop re-checks the flagged word and moves on. */
    for (;;) {
        while (end - p >= 8 && !swar_ctl(load64(p)))
            p += 8;
        const char *stop = end - p >= 8 ? p + 8 : end;
        while (p < stop && rw__is((uint8_t)*p, RW__C_VALUE))
            p++;
        if (p < stop || p == end)
            return p;
    }
}

const char *rw__h1_scan_name(const char *p, const char *end)
{
    while (end - p >= 4) {
        if (!rw__is((uint8_t)p[0], RW__C_TCHAR))
            return p;
        if (!rw__is((uint8_t)p[1], RW__C_TCHAR))
            return p + 1;
        if (!rw__is((uint8_t)p[2], RW__C_TCHAR))
            return p + 2;
        if (!rw__is((uint8_t)p[3], RW__C_TCHAR))
            return p + 3;
        p += 4;
    }
    while (p < end && rw__is((uint8_t)*p, RW__C_TCHAR))
        p++;
    return p;
}
#endif

int rw__h1_content_length(const char *v, size_t n, uint64_t *out)
{
    uint64_t x = 0;
    if (n == 0 || n > 19)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)v[i];
        if (c < '0' || c > '9')
            return -EINVAL;
        x = x * 10 + (c - '0'); /* 19 digits cannot overflow 64 bits */
    }
    if (x > (uint64_t)INT64_MAX)
        return -EINVAL;
    *out = x;
    return 0;
}

static bool port_valid(const char *p, size_t n)
{
    uint32_t v = 0;
    if (n == 0 || n > 5)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!rw__is((uint8_t)p[i], RW__C_DIGIT))
            return false;
        v = v * 10 + (uint32_t)(p[i] - '0');
    }
    return v <= 65535;
}

static bool ipv6_valid(const char *p, size_t n)
{
    bool colon = false;
    if (n < 2)
        return false;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)p[i];
        if (c == ':')
            colon = true;
        else if (c != '.' && !rw__is(c, RW__C_HEX))
            return false;
    }
    return colon;
}

bool rw__h1_host_valid(const char *h, size_t n, bool need_port)
{
    size_t i = 0;
    if (n == 0)
        return false;
    if (h[0] == '[') {
        const char *rb = memchr(h, ']', n);
        if (!rb || !ipv6_valid(h + 1, (size_t)(rb - h) - 1))
            return false;
        i = (size_t)(rb - h) + 1;
    } else {
        while (i < n && h[i] != ':') {
            uint8_t c = (uint8_t)h[i];
            if (c == '%') {
                if (n - i < 3 || !rw__is((uint8_t)h[i + 1], RW__C_HEX) ||
                    !rw__is((uint8_t)h[i + 2], RW__C_HEX))
                    return false;
                i += 3;
                continue;
            }
            if (!rw__is(c, RW__C_REG))
                return false;
            i++;
        }
        if (i == 0)
            return false;
    }
    if (i == n)
        return !need_port;
    if (h[i] != ':')
        return false;
    return port_valid(h + i + 1, n - i - 1);
}

int rw__h1_version(const char *p, size_t avail, const char *tail, uint8_t *minor)
{
    static const char pat[] = "HTTP/0.0"; /* '0' marks a DIGIT position */
    size_t tl = strlen(tail), need = 8 + tl;
    if (avail >= need && !memcmp(p, "HTTP/1.", 7) && (p[7] == '1' || p[7] == '0') &&
        !memcmp(p + 8, tail, tl)) {
        *minor = (uint8_t)(p[7] - '0'); /* the common case, without the general loop */
        return RW__OK;
    }
    size_t n = avail < need ? avail : need;
    for (size_t i = 0; i < n; i++) {
        char want = i < 8 ? pat[i] : tail[i - 8];
        if (want == '0') {
            if (!rw__is((uint8_t)p[i], RW__C_DIGIT))
                return 400;
        } else if (p[i] != want) {
            return 400;
        }
    }
    if (avail < need)
        return RW__MORE;
    if (p[5] != '1' || p[7] > '1')
        return 505;
    *minor = (uint8_t)(p[7] - '0');
    return RW__OK;
}

int rw__h1_line_more(const char *buf, size_t len, const char *end, const struct rw__lim *lim)
{
    size_t seen = (size_t)(end - buf);
    if (seen && end[-1] == '\r')
        seen--; /* a CR waiting for its LF is not part of the line */
    if (seen > lim->request_line)
        return 414;
    return len >= lim->header_block ? 431 : RW__MORE;
}

static inline uint8_t ascii_lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c | 0x20) : c;
}

bool rw_h1_streq(const char *a, size_t alen, const char *lit)
{
    size_t i = 0;
    for (; i < alen; i++) {
        if (lit[i] == '\0' || ascii_lower((uint8_t)a[i]) != ascii_lower((uint8_t)lit[i]))
            return false;
    }
    return lit[i] == '\0';
}

bool rw_h1_list_has(const char *v, size_t vlen, const char *tok)
{
    size_t i = 0;
    while (i < vlen) {
        while (i < vlen && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < vlen && v[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (e > s && rw_h1_streq(v + s, e - s, tok))
            return true;
    }
    return false;
}

const char *rw_h1_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 102:
        return "Processing";
    case 103:
        return "Early Hints";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 203:
        return "Non-Authoritative Information";
    case 204:
        return "No Content";
    case 205:
        return "Reset Content";
    case 206:
        return "Partial Content";
    case 300:
        return "Multiple Choices";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 305:
        return "Use Proxy";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 402:
        return "Payment Required";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 407:
        return "Proxy Authentication Required";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 416:
        return "Range Not Satisfiable";
    case 417:
        return "Expectation Failed";
    case 421:
        return "Misdirected Request";
    case 422:
        return "Unprocessable Content";
    case 423:
        return "Locked";
    case 424:
        return "Failed Dependency";
    case 425:
        return "Too Early";
    case 426:
        return "Upgrade Required";
    case 428:
        return "Precondition Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}
