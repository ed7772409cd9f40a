/* SPDX-License-Identifier: MIT */
/* Access-log line formats (JSON, combined) and the request-id generator. */
#include "admin/accesslog.h"

#include <stdarg.h>

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/un.h>

#include "admin/alog-int.h"

/* Output budgets (bytes, quotes included) per field, so that any record fits in
 * RW_ACCESSLOG_LINE_MAX whatever its strings hold. */
#define FB_PATH 8192
#define FB_HDR 2048
#define FB_SMALL 512
#define FB_CERT 1024 /* client certificate subject, SAN */

/* A bounded line builder: appends stop at cap; cut records that a field was cut. */
struct fb {
    char *p; /* borrowed: caller's buffer */
    size_t len;
    size_t cap; /* bytes usable, the final newline excluded */
    bool cut;
};

static const char hexd[] = "0123456789abcdef";

static void fb_putn(struct fb *b, const char *s, size_t n)
{
    if (n > b->cap - b->len) {
        n = b->cap - b->len;
        b->cut = true;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void fb_puts(struct fb *b, const char *s)
{
    fb_putn(b, s, strlen(s));
}

static void fb_u64(struct fb *b, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[19 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    fb_putn(b, tmp + 20 - n, (size_t)n);
}

/* Fixed-width decimal (zero-padded) into out[0..w). */
static void put_dec(char *out, unsigned v, int w)
{
    while (w--) {
        out[w] = (char)('0' + v % 10);
        v /= 10;
    }
}

struct civil {
    unsigned year, mon, day, hour, min, sec; /* mon 1..12 */
};

/* UTC civil time from Unix seconds, without gmtime_r's time-zone lock. */
static struct civil civil_of(int64_t t)
{
    int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
    int64_t rem = t - days * 86400;
    struct civil c = {.hour = (unsigned)(rem / 3600),
                      .min = (unsigned)(rem / 60 % 60),
                      .sec = (unsigned)(rem % 60)};
    /* days since 1970-01-01 to y/m/d (proleptic Gregorian, eras of 400 years) */
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    c.day = doy - (153 * mp + 2) / 5 + 1;
    c.mon = mp < 10 ? mp + 3 : mp - 9;
    c.year = (unsigned)(yoe + era * 400 + (c.mon <= 2));
    return c;
}

/* Escape one byte for a JSON string (json) or a combined-log quoted field. */
static size_t esc_byte(unsigned char c, bool json, char out[7])
{
    if (c == '"' || c == '\\') {
        out[0] = '\\';
        out[1] = (char)c;
        return 2;
    }
    if (c >= 0x20 && c < 0x7f) {
        out[0] = (char)c;
        return 1;
    }
    if (json) {
        /* controls and non-ASCII bytes as \u00XX: the line stays valid JSON even
         * when the request carried invalid UTF-8 */
        memcpy(out, "\\u00", 4);
        out[4] = hexd[c >> 4];
        out[5] = hexd[c & 15];
        return 6;
    }
    out[0] = '\\';
    out[1] = 'x';
    out[2] = hexd[c >> 4];
    out[3] = hexd[c & 15];
    return 4;
}

/* s escaped within max bytes (quotes included when q); never splits an escape. */
static void fb_escaped(struct fb *b, const char *s, size_t n, size_t max, bool json, bool q)
{
    size_t room = b->cap - b->len;
    if (room > max)
        room = max;
    if (room < 2) {
        b->cut = true;
        return;
    }
    if (q) {
        room -= 2;
        b->p[b->len++] = '"';
    }
    for (size_t i = 0; i < n; i++) {
        char e[7];
        size_t k = esc_byte((unsigned char)s[i], json, e);
        if (k > room) {
            b->cut = true;
            break;
        }
        memcpy(b->p + b->len, e, k);
        b->len += k;
        room -= k;
    }
    if (q)
        b->p[b->len++] = '"';
}

static void fb_quoted(struct fb *b, const char *s, size_t n, size_t max, bool json)
{
    fb_escaped(b, s, n, max, json, true);
}

static void fb_json_str(struct fb *b, const char *key, const char *s, size_t n, size_t max)
{
    fb_puts(b, ",\"");
    fb_puts(b, key);
    fb_puts(b, "\":");
    if (!s)
        fb_puts(b, "null");
    else
        fb_quoted(b, s, n, max, true);
}

static void fb_json_cstr(struct fb *b, const char *key, const char *s)
{
    fb_json_str(b, key, s, s ? strlen(s) : 0, FB_SMALL);
}

/* The verified client certificate: subject, SAN and the SHA-256 fingerprint in hex. */
static void fb_json_client_cert(struct fb *b, const struct rw_access_rec *r)
{
    const char *san = r->tls_client_san;
    fb_json_str(b, "tls_client_subject", r->tls_client_subject, strlen(r->tls_client_subject),
                FB_CERT);
    fb_json_str(b, "tls_client_san", san, san ? strlen(san) : 0, FB_CERT);
    if (!r->tls_client_sha256)
        return;
    char hex[64];
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = hexd[r->tls_client_sha256[i] >> 4];
        hex[2 * i + 1] = hexd[r->tls_client_sha256[i] & 15];
    }
    fb_json_str(b, "tls_client_sha256", hex, sizeof(hex), FB_SMALL);
}

static void client_str(const struct sockaddr *sa, char *out, size_t cap)
{
    out[0] = '\0';
    if (!sa)
        return;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)cap);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)cap);
    else if (sa->sa_family == AF_UNIX)
        snprintf(out, cap, "unix");
}

static void fb_ms(struct fb *b, const char *key, uint64_t us)
{
    char frac[4] = ".";
    fb_puts(b, ",\"");
    fb_puts(b, key);
    fb_puts(b, "\":");
    fb_u64(b, us / 1000);
    put_dec(frac + 1, (unsigned)(us % 1000), 3);
    fb_putn(b, frac, 4);
}

static size_t format_json(const struct rw_access_rec *r, struct fb *b, const char *client)
{
    struct civil c = civil_of(r->start.tv_sec);
    char t[] = "{\"time\":\"YYYY-MM-DDTHH:MM:SS.mmmZ\"";
    put_dec(t + 9, c.year, 4);
    put_dec(t + 14, c.mon, 2);
    put_dec(t + 17, c.day, 2);
    put_dec(t + 20, c.hour, 2);
    put_dec(t + 23, c.min, 2);
    put_dec(t + 26, c.sec, 2);
    put_dec(t + 29, (unsigned)(r->start.tv_nsec / 1000000), 3);
    fb_putn(b, t, sizeof(t) - 1);
    fb_json_cstr(b, "request_id", r->request_id);
    fb_json_cstr(b, "client", client[0] ? client : NULL);
    fb_json_str(b, "method", r->method, r->method_len, FB_SMALL);
    fb_json_str(b, "path", r->path, r->path_len, FB_PATH);
    fb_puts(b, ",\"status\":");
    fb_u64(b, r->status);
    fb_puts(b, ",\"bytes_sent\":");
    fb_u64(b, r->bytes_sent);
    fb_puts(b, ",\"bytes_received\":");
    fb_u64(b, r->bytes_received);
    fb_ms(b, "duration_ms", r->duration_us);
    fb_json_cstr(b, "upstream", r->upstream);
    fb_json_cstr(b, "server", r->server);
    if (r->upstream_us >= 0)
        fb_ms(b, "upstream_ms", (uint64_t)r->upstream_us);
    else
        fb_puts(b, ",\"upstream_ms\":null");
    fb_json_cstr(b, "route", r->route);
    fb_json_cstr(b, "tls", r->tls);
    if (r->tls_client_subject)
        fb_json_client_cert(b, r);
    fb_puts(b, "}");
    return b->len;
}

static void fb_clf_field(struct fb *b, const char *s, size_t n, size_t max)
{
    if (!s || !n)
        fb_puts(b, "\"-\"");
    else
        fb_quoted(b, s, n, max, false);
}

static size_t format_combined(const struct rw_access_rec *r, struct fb *b, const char *client)
{
    static const char mon[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct civil c = civil_of(r->start.tv_sec);
    char t[] = " - - [DD/Mon/YYYY:HH:MM:SS +0000] \"";
    put_dec(t + 6, c.day, 2);
    memcpy(t + 9, mon[c.mon - 1], 3);
    put_dec(t + 13, c.year, 4);
    put_dec(t + 18, c.hour, 2);
    put_dec(t + 21, c.min, 2);
    put_dec(t + 24, c.sec, 2);
    fb_puts(b, client[0] ? client : "-");
    fb_putn(b, t, sizeof(t) - 1);
    /* the request line inside one quoted field: escape its parts, not the spaces */
    fb_escaped(b, r->method ? r->method : "-", r->method ? r->method_len : 1, FB_SMALL, false,
               false);
    fb_puts(b, " ");
    fb_escaped(b, r->path ? r->path : "-", r->path ? r->path_len : 1, FB_PATH, false, false);
    fb_puts(b, r->http_minor ? " HTTP/1.1\" " : " HTTP/1.0\" ");
    fb_u64(b, r->status);
    fb_puts(b, " ");
    if (r->bytes_sent)
        fb_u64(b, r->bytes_sent);
    else
        fb_puts(b, "-");
    fb_puts(b, " ");
    fb_clf_field(b, r->referer, r->referer_len, FB_HDR);
    fb_puts(b, " ");
    fb_clf_field(b, r->user_agent, r->user_agent_len, FB_HDR);
    return b->len;
}

size_t rw__accesslog_format(enum rw_accesslog_format fmt, const struct rw_access_rec *rec,
                            char *buf, size_t cap, bool *cut)
{
    char client[INET6_ADDRSTRLEN + 8];
    struct fb b = {.p = buf, .cap = cap - 1};
    client_str(rec->client, client, sizeof(client));
    if (fmt == RW_ACCESSLOG_COMBINED)
        format_combined(rec, &b, client);
    else
        format_json(rec, &b, client);
    buf[b.len++] = '\n';
    *cut = b.cut;
    return b.len;
}

size_t rw_accesslog_format(enum rw_accesslog_format fmt, const struct rw_access_rec *rec, char *buf,
                           size_t cap)
{
    bool cut;
    return rw__accesslog_format(fmt, rec, buf, cap, &cut);
}

/* ---- request ids ---- */

static void hex64(uint64_t v, char *out)
{
    for (int i = 15; i >= 0; i--) {
        out[i] = hexd[v & 15];
        v >>= 4;
    }
}

int rw_reqid_init(struct rw_reqid *g)
{
    uint64_t seed[2];
    size_t got = 0;
    while (got < sizeof(seed)) {
        ssize_t n = getrandom((char *)seed + got, sizeof(seed) - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        got += (size_t)n;
    }
    g->prefix = seed[0];
    g->counter = seed[1];
    hex64(g->prefix, g->hex);
    hex64(g->counter, g->hex + 16);
    return 0;
}

void rw_reqid_next(struct rw_reqid *g, char out[RW_REQID_LEN + 1])
{
    memcpy(out, g->hex, RW_REQID_LEN);
    out[RW_REQID_LEN] = '\0';
    g->counter++;
    /* counter + 1 in its hex digits: usually only the last one changes */
    for (int i = RW_REQID_LEN - 1; i >= 16; i--) {
        char d = g->hex[i];
        if (d != 'f') {
            g->hex[i] = d == '9' ? 'a' : (char)(d + 1);
            break;
        }
        g->hex[i] = '0';
    }
}
