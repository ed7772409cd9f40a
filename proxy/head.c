/* SPDX-License-Identifier: MIT */
/* Message heads are re-serialised, never copied: framing and hop-by-hop fields are ours. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "proxy/ops.h"
#include "proxy/px.h"

/* A bounded writer: overflow is sticky and reported once at the end. */
struct hw {
    char *p;
    size_t len;
    size_t cap;
    bool over;
};

static void put(struct hw *h, const char *s, size_t n)
{
    if (h->over || h->len + n > h->cap) {
        h->over = true;
        return;
    }
    memcpy(h->p + h->len, s, n);
    h->len += n;
}

static void puts_(struct hw *h, const char *s)
{
    put(h, s, strlen(s));
}

static void put_u64(struct hw *h, uint64_t v)
{
    char b[24];
    size_t i = sizeof(b);
    do {
        b[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put(h, b + i, sizeof(b) - i);
}

/* "name: val\r\n", with one bound check. */
static void put_field(struct hw *h, const char *name, size_t nlen, const char *val, size_t vlen)
{
    size_t n = nlen + vlen + 4;
    if (h->over || n > h->cap - h->len) {
        h->over = true;
        return;
    }
    char *p = h->p + h->len;
    memcpy(p, name, nlen);
    p += nlen;
    p[0] = ':';
    p[1] = ' ';
    memcpy(p + 2, val, vlen);
    p += 2 + vlen;
    p[0] = '\r';
    p[1] = '\n';
    h->len += n;
}

static int finish(struct hw *h)
{
    put(h, "\r\n", 2);
    return h->over ? -ENOSPC : (int)h->len;
}

static bool name_in(const struct rw_hdr *f, char *const *names, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (strlen(names[i]) == f->name_len && !strncasecmp(names[i], f->name, f->name_len))
            return true;
    return false;
}

static bool name_in_kv(const struct rw_hdr *f, const struct rw_cfg_kv *kv, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (strlen(kv[i].name) == f->name_len && !strncasecmp(kv[i].name, f->name, f->name_len))
            return true;
    return false;
}

/* This exchange's request id field, looked up once per head. */
struct reqid {
    const char *name, *id;
    size_t nlen, idlen; /* nlen 0: ids are off */
};

static void reqid_get(const struct px_conn *c, struct reqid *r)
{
    if (!px_ops_reqid(c, &r->name, &r->nlen, &r->id, &r->idlen))
        r->nlen = 0;
}

/* The request id field (replaces any the peer sent), when ids are on. */
static void put_reqid(struct hw *h, const struct reqid *r)
{
    if (r->nlen)
        put_field(h, r->name, r->nlen, r->id, r->idlen);
}

/* f is the request id field (dropped: ours is sent instead). */
static bool is_reqid(const struct reqid *r, const struct rw_hdr *f)
{
    return r->nlen && f->name_len == r->nlen && !strncasecmp(f->name, r->name, r->nlen);
}

static bool edited(const struct rw_hdr *f, const struct rw_cfg_hdr_edits *e)
{
    return name_in(f, e->remove, e->nremove) || name_in_kv(f, e->set, e->nset);
}

static void put_edits(struct hw *h, const struct rw_cfg_hdr_edits *e)
{
    for (uint32_t i = 0; i < e->nset; i++)
        put_field(h, e->set[i].name, strlen(e->set[i].name), e->set[i].value,
                  strlen(e->set[i].value));
    for (uint32_t i = 0; i < e->nadd; i++)
        put_field(h, e->add[i].name, strlen(e->add[i].name), e->add[i].value,
                  strlen(e->add[i].value));
}

/* "Name: v1, v2, " joining every received field with that id; the caller appends
 * its own element and the CRLF. */
static void put_list_open(struct hw *h, const char *name, size_t nlen, const struct rw_h1_head *m,
                          uint16_t id)
{
    put(h, name, nlen);
    put(h, ": ", 2);
    if (m->first[id] < 0)
        return; /* none received */
    for (uint32_t i = (uint32_t)m->first[id]; i < m->nhdrs; i++) {
        const struct rw_hdr *f = &m->hdrs[i];
        if (f->id != id || !f->value_len)
            continue;
        put(h, f->value, f->value_len);
        put(h, ", ", 2);
    }
}

/* Via element: "1.<minor> <pseudonym>" */
static void put_via(struct hw *h, const struct rw_h1_head *m, const char *via)
{
    put_list_open(h, "Via", 3, m, RW_H_VIA);
    put(h, m->minor ? "1.1 " : "1.0 ", 4);
    puts_(h, via);
    put(h, "\r\n", 2);
}

/* One IPv4 byte in decimal and a '.', from a table of two-digit pairs. */
static inline char *put_octet(char *p, unsigned v)
{
    static const char d2[] = "00010203040506070809101112131415161718192021222324"
                             "25262728293031323334353637383940414243444546474849"
                             "50515253545556575859606162636465666768697071727374"
                             "75767778798081828384858687888990919293949596979899";
    if (v >= 100) {
        unsigned h = v >= 200 ? 2 : 1;
        *p++ = (char)('0' + h);
        v -= 100 * h;
        memcpy(p, d2 + 2 * v, 2);
        p += 2;
    } else if (v >= 10) {
        memcpy(p, d2 + 2 * v, 2);
        p += 2;
    } else {
        *p++ = (char)('0' + v);
    }
    *p = '.';
    return p + 1;
}

size_t px_peer_text(const struct px_conn *c, char *buf)
{
    if (c->peer.sa.sa_family == AF_INET) {
        /* by hand: this runs for every proxied request, and glibc's inet_ntop formats
         * IPv4 with sprintf */
        const uint8_t *a = (const uint8_t *)&c->peer.v4.sin_addr;
        char *p = put_octet(put_octet(put_octet(put_octet(buf, a[0]), a[1]), a[2]), a[3]);
        p[-1] = '\0';
        return (size_t)(p - 1 - buf);
    }
    if (c->peer.sa.sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &c->peer.v6.sin6_addr, buf, PX_PEER_TEXT); /* cannot fail */
        return strlen(buf);
    }
    memcpy(buf, "unknown", 8);
    return 7;
}

/* RFC 7239: for=, host= and proto= of this hop, IPv6 quoted and bracketed. */
static void put_forwarded(struct hw *h, const struct px_conn *c, const struct rw_h1_req *req,
                          const char *ip, size_t iplen)
{
    put_list_open(h, "Forwarded", 9, &req->h, RW_H_FORWARDED);
    if (c->peer.sa.sa_family == AF_INET6) {
        put(h, "for=\"[", 6);
        put(h, ip, iplen);
        put(h, "]\"", 2);
    } else {
        put(h, "for=", 4);
        put(h, ip, iplen);
    }
    if (req->host) {
        put(h, ";host=\"", 7);
        put(h, req->host, req->host_len);
        put(h, "\"", 1);
    }
    if (c->tls)
        put(h, ";proto=https\r\n", 14);
    else
        put(h, ";proto=http\r\n", 13);
}

/* A forwarding field of id `id` is ringwall's to write ("forwarded_headers", "via"): the
 * peer's copy is replaced, or re-sent with our hop appended. Otherwise it passes as sent. */
static bool fwd_is_ours(const struct rw_cfg *cfg, uint16_t id)
{
    switch (id) {
    case RW_H_FORWARDED:
        return cfg->forwarded_headers & RW_FWD_FORWARDED;
    case RW_H_X_FORWARDED_FOR:
        return cfg->forwarded_headers & RW_FWD_XFF;
    case RW_H_X_FORWARDED_PROTO:
        return cfg->forwarded_headers & RW_FWD_PROTO;
    case RW_H_X_FORWARDED_HOST:
        return cfg->forwarded_headers & RW_FWD_HOST;
    case RW_H_VIA:
        return cfg->via != NULL;
    }
    return false;
}

/* This hop's forwarding fields, as configured. */
static void put_fwd(struct hw *h, const struct px_conn *c, const struct rw_h1_req *req,
                    const struct rw_cfg *cfg)
{
    const unsigned fwd = cfg->forwarded_headers;
    char ip[PX_PEER_TEXT];
    size_t iplen = 0;
    if (fwd & (RW_FWD_XFF | RW_FWD_FORWARDED))
        iplen = px_peer_text(c, ip);
    if (fwd & RW_FWD_XFF) {
        put_list_open(h, "X-Forwarded-For", 15, &req->h, RW_H_X_FORWARDED_FOR);
        put(h, ip, iplen);
        put(h, "\r\n", 2);
    }
    if (fwd & RW_FWD_FORWARDED)
        put_forwarded(h, c, req, ip, iplen);
    if (cfg->via)
        put_via(h, &req->h, cfg->via);
    if ((fwd & RW_FWD_PROTO) && c->tls)
        put(h, "X-Forwarded-Proto: https\r\n", 26);
    else if (fwd & RW_FWD_PROTO)
        put(h, "X-Forwarded-Proto: http\r\n", 25);
    if ((fwd & RW_FWD_HOST) && req->host)
        put_field(h, "X-Forwarded-Host", 16, req->host, req->host_len);
}

static void put_path(struct hw *h, const struct rw_cfg_route *r, const struct rw_h1_req *req)
{
    const char *p = req->path;
    size_t n = req->path_len;
    if (n == 1 && p[0] == '*') {
        put(h, "*", 1);
        return;
    }
    if (r->strip_prefix) {
        size_t sl = strlen(r->strip_prefix);
        if (n >= sl && !memcmp(p, r->strip_prefix, sl)) {
            p += sl;
            n -= sl;
        }
    }
    if (r->add_prefix)
        puts_(h, r->add_prefix);
    if (!n || p[0] != '/') {
        if (!r->add_prefix || !h->len || h->p[h->len - 1] != '/')
            put(h, "/", 1);
    }
    put(h, p, n);
    if (req->query) {
        put(h, "?", 1);
        put(h, req->query, req->query_len);
    }
}

/* The listener's client_auth.header, sent with the verified client certificate's
 * subject (RFC 4514) and never taken from the client. */
static bool is_cert_header(const struct px_conn *c, const struct rw_hdr *f)
{
    const char *n = c->x->lis->tls.client_header;
    return n && strlen(n) == f->name_len && !strncasecmp(n, f->name, f->name_len);
}

static void put_cert_header(struct hw *h, const struct px_conn *c)
{
    const char *n = c->x->lis->tls.client_header;
    const char *subject = n ? px_tls_peer_subject(c) : NULL;
    if (!subject)
        return;
    for (const char *p = subject; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return; /* never let a certificate inject a header line */
    put_field(h, n, strlen(n), subject, strlen(subject));
}

int px_head_request(struct px_conn *c, const struct rw_h1_req *req, char *out, size_t cap)
{
    const struct rw_cfg_route *r = c->x->route;
    const struct rw_cfg *cfg = px_c_cfg(c);
    struct hw h = {out, 0, cap, false};
    struct reqid rid;
    reqid_get(c, &rid);
    put(&h, req->method_str, req->method_len);
    put(&h, " ", 1);
    put_path(&h, r, req);
    put(&h, " HTTP/1.1\r\nHost: ", 17);
    if (r->host)
        puts_(&h, r->host);
    else if (req->host)
        put(&h, req->host, req->host_len);
    else
        puts_(&h, c->x->lis->address);
    put(&h, "\r\n", 2);
    for (uint32_t i = 0; i < req->h.nhdrs; i++) {
        const struct rw_hdr *f = &req->h.hdrs[i];
        if (f->flags & RW_HDR_HOP)
            continue;
        switch (f->id) {
        case RW_H_HOST:
        case RW_H_CONTENT_LENGTH:
        case RW_H_TRANSFER_ENCODING:
        case RW_H_EXPECT:
            continue;
        case RW_H_X_FORWARDED_PROTO:
        case RW_H_X_FORWARDED_HOST:
        case RW_H_X_FORWARDED_FOR:
        case RW_H_FORWARDED:
        case RW_H_VIA:
            if (fwd_is_ours(cfg, f->id))
                continue; /* ours is written below */
            break;
        }
        if (edited(f, &r->request_headers) || is_reqid(&rid, f) || is_cert_header(c, f))
            continue; /* a client's own copy of the certificate header never passes */
        put_field(&h, f->name, f->name_len, f->value, f->value_len);
    }
    put_fwd(&h, c, req, cfg);
    put_reqid(&h, &rid);
    put_cert_header(&h, c);
    put_edits(&h, &r->request_headers);
    if (req->h.body == RW_BODY_LENGTH) {
        put(&h, "Content-Length: ", 16);
        put_u64(&h, req->h.content_length);
        put(&h, "\r\n", 2);
    } else if (req->h.body == RW_BODY_CHUNKED) {
        put(&h, "Transfer-Encoding: chunked\r\n", 28);
    }
    return finish(&h);
}

static void put_connection(struct hw *h, const struct px_conn *c)
{
    if (!c->keep_alive)
        put(h, "Connection: close\r\n", 19);
    else if (c->req_minor == 0)
        put(h, "Connection: keep-alive\r\n", 24);
}

static void put_status(struct hw *h, int status, const char *reason, size_t rlen)
{
    char b[13] = "HTTP/1.1 000 ";
    b[9] = (char)('0' + status / 100 % 10);
    b[10] = (char)('0' + status / 10 % 10);
    b[11] = (char)('0' + status % 10);
    put(h, b, sizeof(b));
    if (reason && rlen)
        put(h, reason, rlen);
    else
        puts_(h, rw_h1_reason(status));
    put(h, "\r\n", 2);
}

int px_head_response(struct px_conn *c, const struct rw_h1_resp *resp, char *out, size_t cap)
{
    const struct rw_cfg *cfg = px_c_cfg(c);
    const struct rw_cfg_route *r = c->x->route;
    struct hw h = {out, 0, cap, false};
    struct reqid rid;
    reqid_get(c, &rid);
    put_status(&h, resp->status, resp->reason, resp->reason_len);
    bool own_server = cfg->server_header[0] != '\0';
    if (own_server)
        put_field(&h, "Server", 6, cfg->server_header, strlen(cfg->server_header));
    for (uint32_t i = 0; i < resp->h.nhdrs; i++) {
        const struct rw_hdr *f = &resp->h.hdrs[i];
        if (f->flags & RW_HDR_HOP)
            continue;
        switch (f->id) {
        case RW_H_CONTENT_LENGTH:
        case RW_H_TRANSFER_ENCODING:
            continue;
        case RW_H_VIA:
            if (cfg->via)
                continue; /* re-sent below with our hop appended */
            break;
        case RW_H_SERVER:
            if (own_server || cfg->hide_backend_headers)
                continue;
            break;
        case RW_H_X_POWERED_BY:
            if (cfg->hide_backend_headers)
                continue;
            break;
        }
        if (edited(f, &r->response_headers) || is_reqid(&rid, f))
            continue;
        put_field(&h, f->name, f->name_len, f->value, f->value_len);
    }
    if (cfg->via)
        put_via(&h, &resp->h, cfg->via);
    put_reqid(&h, &rid);
    put_edits(&h, &r->response_headers);
    char cookie[512];
    size_t cl = px_sticky_response(c, resp, cookie, sizeof(cookie));
    put(&h, cookie, cl);
    const struct px_body *b = &c->x->resp_body;
    if (b->out == PX_F_LENGTH) {
        put(&h, "Content-Length: ", 16);
        put_u64(&h, resp->h.content_length);
        put(&h, "\r\n", 2);
    } else if (b->out == PX_F_CHUNKED) {
        put(&h, "Transfer-Encoding: chunked\r\n", 28);
    } else if (b->in == PX_F_NONE && resp->h.first[RW_H_CONTENT_LENGTH] >= 0 &&
               resp->status != 204 && resp->status >= 200) {
        /* HEAD and 304 describe the body they did not send */
        const struct rw_hdr *f = &resp->h.hdrs[resp->h.first[RW_H_CONTENT_LENGTH]];
        put_field(&h, "Content-Length", 14, f->value, f->value_len);
    }
    put_connection(&h, c);
    int n = finish(&h);
    if (n >= 0)
        px_ops_status(c, resp->status, (size_t)n, 0); /* the body is counted as it streams */
    return n;
}

int px_head_local(struct px_conn *c, int status, const struct rw_cfg_kv *hdrs, uint32_t nhdrs,
                  const char *ctype, size_t body_len, const char *location, char *out,
                  size_t cap)
{
    const struct rw_cfg *cfg = px_c_cfg(c);
    struct hw h = {out, 0, cap, false};
    put_status(&h, status, NULL, 0);
    if (cfg->server_header[0])
        put_field(&h, "Server", 6, cfg->server_header, strlen(cfg->server_header));
    puts_(&h, px_date(c->w));
    bool has_ctype = false;
    for (uint32_t i = 0; i < nhdrs; i++) {
        has_ctype |= !strcasecmp(hdrs[i].name, "content-type");
        put_field(&h, hdrs[i].name, strlen(hdrs[i].name), hdrs[i].value, strlen(hdrs[i].value));
    }
    if (ctype && !has_ctype)
        put_field(&h, "Content-Type", 12, ctype, strlen(ctype));
    if (location)
        put_field(&h, "Location", 8, location, strlen(location));
    if (status == 503)
        put(&h, "Retry-After: 1\r\n", 16);
    struct reqid rid;
    reqid_get(c, &rid);
    put_reqid(&h, &rid);
    put(&h, "Content-Length: ", 16);
    put_u64(&h, body_len);
    put(&h, "\r\n", 2);
    put_connection(&h, c);
    int n = finish(&h);
    if (n >= 0)
        px_ops_status(c, status, (size_t)n, (c->xf & PX_X_HEAD_REQ) ? 0 : body_len);
    return n;
}
