/* SPDX-License-Identifier: MIT */
/* Strict HTTP/1.1 response-head parsing: status line and body framing. */
#include "http/h1.h"

#include <string.h>

#include "http/h1_int.h"

/* Status line: HTTP/1.x SP 3DIGIT [SP reason] CRLF. A missing SP+reason is tolerated
 * (some origins send "HTTP/1.1 200\r\n"); everything else is exact. */
static int resp_line(const char *buf, size_t len, const struct rw__lim *lim,
                     struct rw_h1_resp *resp, const char **pp)
{
    const char *end = buf + (len < lim->header_block ? len : lim->header_block);
    int r = rw__h1_version(buf, (size_t)(end - buf), " ", &resp->h.minor);
    if (r == RW__MORE)
        return rw__h1_line_more(buf, len, end, lim);
    if (r)
        return r;
    const char *p = buf + 9;
    unsigned status = 0;
    for (int i = 0; i < 3; i++, p++) {
        if (p == end)
            return rw__h1_line_more(buf, len, end, lim);
        if (!rw__is((uint8_t)*p, RW__C_DIGIT))
            return 400;
        status = status * 10 + (unsigned)(*p - '0');
    }
    if (status < 100 || status > 599)
        return 400;
    if (p == end)
        return rw__h1_line_more(buf, len, end, lim);
    const char *reason = p;
    if (*p == ' ') {
        reason = ++p;
        p = rw__h1_scan_value(p, end);
    }
    if (p == end || (*p == '\r' && p + 1 == end))
        return rw__h1_line_more(buf, len, end, lim);
    if (p[0] != '\r' || p[1] != '\n')
        return 400;
    if ((size_t)(p - buf) > lim->request_line)
        return 414;
    resp->status = (uint16_t)status;
    resp->reason = reason;
    resp->reason_len = (uint32_t)(p - reason);
    *pp = p + 2;
    return RW__OK;
}

/* The last non-empty element of a comma-separated list, trimmed. */
static void last_elem(const char *v, size_t n, const char **s, size_t *sl)
{
    size_t e = n, b;
    while (e > 0 && (v[e - 1] == ' ' || v[e - 1] == '\t' || v[e - 1] == ','))
        e--;
    for (b = e; b > 0 && v[b - 1] != ',';)
        b--;
    while (b < e && (v[b] == ' ' || v[b] == '\t'))
        b++;
    *s = v + b;
    *sl = e - b;
}

static int resp_te(struct rw_h1_resp *resp, const struct rw__hcount *cnt)
{
    struct rw_h1_head *h = &resp->h;
    /* TE with CL is a smuggling signature; TE on 1.0 is faulty framing (RFC 9112 6.1). */
    if (cnt->n[RW_H_CONTENT_LENGTH] || h->minor == 0)
        return 400;
    const struct rw_hdr *last = NULL;
    for (uint32_t i = (uint32_t)h->first[RW_H_TRANSFER_ENCODING]; i < h->nhdrs; i++)
        if (h->hdrs[i].id == RW_H_TRANSFER_ENCODING)
            last = &h->hdrs[i];
    if (cnt->n[RW_H_TRANSFER_ENCODING] == 1 &&
        rw_h1_streq(last->value, last->value_len, "chunked")) {
        h->body = RW_BODY_CHUNKED;
        return RW__OK;
    }
    const char *s;
    size_t sl;
    last_elem(last->value, last->value_len, &s, &sl);
    /* chunked after other codings: we would relay bytes we cannot describe downstream. */
    if (rw_h1_streq(s, sl, "chunked"))
        return 400;
    h->body = RW_BODY_CLOSE; /* RFC 9112 6.3: chunked not final, read until close */
    h->keep_alive = false;
    return RW__OK;
}

static int resp_framing(struct rw_h1_resp *resp, uint8_t req_method, const struct rw__hcount *cnt)
{
    struct rw_h1_head *h = &resp->h;
    unsigned s = resp->status;
    if (s < 200 || s == 204 || s == 304 || req_method == RW_M_HEAD ||
        (req_method == RW_M_CONNECT && s < 300)) {
        h->body = RW_BODY_NONE;
        return RW__OK;
    }
    if (cnt->n[RW_H_TRANSFER_ENCODING])
        return resp_te(resp, cnt);
    if (cnt->n[RW_H_CONTENT_LENGTH]) {
        const struct rw_hdr *cl = &h->hdrs[h->first[RW_H_CONTENT_LENGTH]];
        if (cnt->n[RW_H_CONTENT_LENGTH] > 1 ||
            rw__h1_content_length(cl->value, cl->value_len, &h->content_length) < 0)
            return 400;
        h->body = RW_BODY_LENGTH;
        return RW__OK;
    }
    h->body = RW_BODY_CLOSE;
    h->keep_alive = false;
    return RW__OK;
}

enum rw_parse rw_h1_parse_response(const char *buf, size_t len, const struct rw_h1_limits *lim,
                                   uint8_t req_method, struct rw_h1_resp *resp, struct rw_hdr *hdrs,
                                   int *status)
{
    struct rw__lim l;
    struct rw__hcount cnt;
    const char *p = buf;

    rw__h1_limits(lim, &l);
    memset(resp, 0, sizeof(*resp));
    resp->h.hdrs = hdrs;
    int r = resp_line(buf, len, &l, resp, &p);
    if (r == RW__OK)
        r = rw__h1_fields(buf, len, p, &l, &resp->h, &cnt);
    if (r == RW__OK)
        r = rw__h1_connection(&resp->h, &cnt);
    if (r == RW__OK)
        r = resp_framing(resp, req_method, &cnt);
    if (r == RW__OK)
        return RW_PARSE_DONE;
    if (r == RW__MORE)
        return RW_PARSE_AGAIN;
    *status = 502;
    return RW_PARSE_BAD;
}
