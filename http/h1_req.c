/* SPDX-License-Identifier: MIT */
/* Strict HTTP/1.1 request-head parsing: request line, target forms, Host, framing, Expect. */
#include "http/h1.h"

#include <string.h>

#include "http/h1_int.h"

static enum rw_method req_method_id(const char *m, size_t n)
{
    switch (n) {
    case 3:
        if (!memcmp(m, "GET", 3))
            return RW_M_GET;
        if (!memcmp(m, "PUT", 3))
            return RW_M_PUT;
        break;
    case 4:
        if (!memcmp(m, "POST", 4))
            return RW_M_POST;
        if (!memcmp(m, "HEAD", 4))
            return RW_M_HEAD;
        break;
    case 5:
        if (!memcmp(m, "PATCH", 5))
            return RW_M_PATCH;
        if (!memcmp(m, "TRACE", 5))
            return RW_M_TRACE;
        break;
    case 6:
        if (!memcmp(m, "DELETE", 6))
            return RW_M_DELETE;
        break;
    case 7:
        if (!memcmp(m, "OPTIONS", 7))
            return RW_M_OPTIONS;
        if (!memcmp(m, "CONNECT", 7))
            return RW_M_CONNECT;
        break;
    default:
        break;
    }
    return RW_M_OTHER;
}

/* Non-zero when any of the 8 bytes is outside 0x21..0x7e (SWAR, exact for "any"). */
static inline uint64_t target_special(const char *p)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    uint64_t x;
    memcpy(&x, p, sizeof(x));
    uint64_t lt = (x - ones * 0x21) & ~x & high;
    uint64_t y = x ^ (ones * 0x7f);
    return lt | (x & high) | ((y - ones) & ~y & high);
}

static const char *scan_target(const char *p, const char *end)
{
    while (end - p >= 8 && !target_special(p))
        p += 8;
    while (p < end && (uint8_t)*p > 0x20 && (uint8_t)*p < 0x7f)
        p++;
    return p;
}

/* Request line: method SP target SP version CRLF, exactly one SP between parts. */
static int req_line(const char *buf, size_t len, const struct rw__lim *lim, struct rw_h1_req *req,
                    const char **pp)
{
    const char *end = buf + (len < lim->header_block ? len : lim->header_block);
    const char *p = buf;

    while (p < end && rw__is((uint8_t)*p, RW__C_TCHAR))
        p++;
    if (p == end)
        return rw__h1_line_more(buf, len, end, lim);
    if (*p != ' ' || p == buf)
        return 400;
    if (p - buf > UINT16_MAX)
        return 414;
    req->method_str = buf;
    req->method_len = (uint16_t)(p - buf);
    req->method = (uint8_t)req_method_id(buf, req->method_len);

    const char *t = ++p;
    p = scan_target(p, end);
    if (p == end)
        return rw__h1_line_more(buf, len, end, lim);
    if (*p != ' ' || p == t)
        return 400;
    req->target = t;
    req->target_len = (uint32_t)(p - t);

    p++;
    int r = rw__h1_version(p, (size_t)(end - p), "\r\n", &req->h.minor);
    if (r == RW__MORE)
        return rw__h1_line_more(buf, len, end, lim);
    if ((size_t)(p + 8 - buf) > lim->request_line)
        return 414;
    if (r)
        return r;
    *pp = p + 10;
    return RW__OK;
}

static void split_path(struct rw_h1_req *req, const char *t, size_t n)
{
    const char *q = memchr(t, '?', n);
    req->path = t;
    req->path_len = (uint32_t)(q ? (size_t)(q - t) : n);
    if (q) {
        req->query = q + 1;
        req->query_len = (uint32_t)(n - req->path_len - 1);
    }
}

/* absolute-form: "http://" or "https://" authority [path-abempty] ["?" query]. */
static int req_absolute(struct rw_h1_req *req, size_t skip)
{
    const char *t = req->target, *e = t + req->target_len, *a = t + skip, *q = a;
    while (q < e && *q != '/' && *q != '?')
        q++;
    if (!rw__h1_host_valid(a, (size_t)(q - a), false))
        return 400; /* also refuses userinfo ('@') */
    req->host = a;
    req->host_len = (uint32_t)(q - a);
    req->absolute_form = true;
    if (q < e && *q == '/') {
        split_path(req, q, (size_t)(e - q));
        return RW__OK;
    }
    /* No path means "/": point at the second '/' of "//" so path stays inside buf. */
    req->path = a - 1;
    req->path_len = 1;
    if (q < e) {
        req->query = q + 1;
        req->query_len = (uint32_t)(e - q - 1);
    }
    return RW__OK;
}

static int req_target(struct rw_h1_req *req)
{
    const char *t = req->target;
    size_t n = req->target_len;

    if (memchr(t, '#', n))
        return 400; /* a fragment is never part of a request-target */
    if (t[0] == '/') {
        split_path(req, t, n);
        return RW__OK;
    }
    if (n == 1 && t[0] == '*') {
        if (req->method != RW_M_OPTIONS)
            return 400;
        req->path = t;
        req->path_len = 1;
        return RW__OK;
    }
    if (n > 7 && rw_h1_streq(t, 7, "http://"))
        return req_absolute(req, 7);
    if (n > 8 && rw_h1_streq(t, 8, "https://"))
        return req_absolute(req, 8);
    if (req->method == RW_M_CONNECT && rw__h1_host_valid(t, n, true)) {
        req->host = t;
        req->host_len = (uint32_t)n;
        req->path = t; /* authority-form has no path: empty, inside buf */
        return RW__OK;
    }
    return 400;
}

static const struct rw_hdr *hdr_first(const struct rw_h1_head *h, enum rw_hdr_id id)
{
    return &h->hdrs[h->first[id]];
}

/* Transfer-Encoding / Content-Length, DESIGN.md's strict request rules. */
static int req_framing(struct rw_h1_req *req, const struct rw__hcount *cnt)
{
    struct rw_h1_head *h = &req->h;
    if (cnt->n[RW_H_TRANSFER_ENCODING]) {
        if (h->minor == 0 || cnt->n[RW_H_TRANSFER_ENCODING] > 1 || cnt->n[RW_H_CONTENT_LENGTH])
            return 400;
        const struct rw_hdr *te = hdr_first(h, RW_H_TRANSFER_ENCODING);
        /* Any coding other than exactly "chunked" is 400 (not 501): we never decode
         * other codings and refusing them outright closes every TE-obfuscation trick. */
        if (!rw_h1_streq(te->value, te->value_len, "chunked"))
            return 400;
        h->body = RW_BODY_CHUNKED;
    } else if (cnt->n[RW_H_CONTENT_LENGTH]) {
        const struct rw_hdr *cl = hdr_first(h, RW_H_CONTENT_LENGTH);
        if (cnt->n[RW_H_CONTENT_LENGTH] > 1 ||
            rw__h1_content_length(cl->value, cl->value_len, &h->content_length) < 0)
            return 400;
        h->body = RW_BODY_LENGTH;
    } else {
        h->body = RW_BODY_NONE;
    }
    return RW__OK;
}

static int req_host(struct rw_h1_req *req, const struct rw__hcount *cnt)
{
    uint16_t n = cnt->n[RW_H_HOST];
    if (n > 1 || (n == 0 && req->h.minor == 1))
        return 400;
    if (n == 0)
        return RW__OK;
    const struct rw_hdr *f = hdr_first(&req->h, RW_H_HOST);
    if (!rw__h1_host_valid(f->value, f->value_len, false))
        return 400;
    if (!req->host) { /* the absolute-form or authority-form target wins */
        req->host = f->value;
        req->host_len = f->value_len;
    }
    return RW__OK;
}

static int req_expect(struct rw_h1_req *req, const struct rw__hcount *cnt)
{
    const struct rw_h1_head *h = &req->h;
    if (h->minor == 0 || cnt->n[RW_H_EXPECT] == 0)
        return RW__OK; /* HTTP/1.0 predates Expect: ignore it */
    for (uint32_t i = (uint32_t)h->first[RW_H_EXPECT]; i < h->nhdrs; i++) {
        const struct rw_hdr *f = &h->hdrs[i];
        if (f->id == RW_H_EXPECT && !rw_h1_streq(f->value, f->value_len, "100-continue"))
            return 417;
    }
    req->expect_continue = true;
    return RW__OK;
}

enum rw_parse rw_h1_parse_request(const char *buf, size_t len, const struct rw_h1_limits *lim,
                                  struct rw_h1_req *req, struct rw_hdr *hdrs, int *status)
{
    struct rw__lim l;
    struct rw__hcount cnt;
    const char *p = buf;

    rw__h1_limits(lim, &l);
    memset(req, 0, sizeof(*req));
    req->h.hdrs = hdrs;
    int r = req_line(buf, len, &l, req, &p);
    if (r == RW__OK)
        r = req_target(req);
    if (r == RW__OK)
        r = rw__h1_fields(buf, len, p, &l, &req->h, &cnt);
    if (r == RW__OK)
        r = req_framing(req, &cnt);
    if (r == RW__OK)
        r = req_host(req, &cnt);
    if (r == RW__OK)
        r = rw__h1_connection(&req->h, &cnt);
    if (r == RW__OK)
        r = req_expect(req, &cnt);
    if (r == RW__OK)
        return RW_PARSE_DONE;
    if (r == RW__MORE)
        return RW_PARSE_AGAIN;
    *status = r;
    return RW_PARSE_BAD;
}
