/* SPDX-License-Identifier: MIT */
/* Route matching (first match wins), client-certificate checks, and redirect targets. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "proxy/px.h"

/* The request host without its port: "Example.com:8080" -> "Example.com". */
static size_t host_name_len(const char *h, size_t n)
{
    if (n && h[0] == '[') {
        const char *e = memchr(h, ']', n);
        return e ? (size_t)(e - h) + 1 : n;
    }
    const char *colon = memchr(h, ':', n);
    return colon ? (size_t)(colon - h) : n;
}

static bool host_matches(const struct rw_cfg_match *m, const struct rw_h1_req *req)
{
    if (!req->host)
        return false;
    size_t n = host_name_len(req->host, req->host_len);
    for (uint32_t i = 0; i < m->nhosts; i++) {
        const char *pat = m->hosts[i];
        size_t pl = strlen(pat);
        if (pat[0] == '*' && pat[1] == '.') {
            /* "*.example.com" matches "a.example.com", not "example.com" */
            size_t sl = pl - 1;
            if (n > sl && !strncasecmp(req->host + n - sl, pat + 1, sl))
                return true;
        } else if (pl == n && !strncasecmp(req->host, pat, n)) {
            return true;
        }
    }
    return false;
}

static bool header_matches(const struct rw_cfg_hdr_match *hm, const struct rw_h1_req *req)
{
    size_t nl = strlen(hm->name);
    for (uint32_t i = 0; i < req->h.nhdrs; i++) {
        const struct rw_hdr *f = &req->h.hdrs[i];
        if (f->name_len != nl || strncasecmp(f->name, hm->name, nl))
            continue;
        if (hm->any)
            return true;
        for (uint32_t j = 0; j < hm->nvalues; j++)
            if (strlen(hm->values[j]) == f->value_len &&
                !memcmp(hm->values[j], f->value, f->value_len))
                return true;
    }
    return false;
}

/* A SAN text entry e (n bytes, "TYPE:value") equals want (canonical, from the config):
 * the same type; DNS names in any case, IP addresses by value, the rest byte for byte. */
static bool san_entry_equal(const char *want, const char *e, size_t n)
{
    const char *wv = strchr(want, ':') + 1;
    size_t tl = (size_t)(wv - want);
    if (n < tl || memcmp(want, e, tl))
        return false;
    e += tl;
    n -= tl;
    if (tl == 4 && !memcmp(want, "DNS:", 4))
        return strlen(wv) == n && !strncasecmp(wv, e, n);
    if (tl == 3 && !memcmp(want, "IP:", 3)) {
        char text[INET6_ADDRSTRLEN + 8];
        unsigned char a[16], b[16];
        int fam = strchr(wv, ':') ? AF_INET6 : AF_INET;
        if (n >= sizeof(text))
            return false;
        memcpy(text, e, n);
        text[n] = '\0';
        return inet_pton(fam, wv, a) == 1 && inet_pton(fam, text, b) == 1 &&
               !memcmp(a, b, fam == AF_INET6 ? 16 : 4);
    }
    return strlen(wv) == n && !memcmp(wv, e, n);
}

/* The certificate's SAN text ("DNS:a, email:b") has an entry equal to want. Entries never
 * contain ',' (tls/ shows it as '?'), so ", " separates them. */
static bool san_has(const char *san, const char *want)
{
    for (const char *p = san;;) {
        const char *end = strstr(p, ", ");
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n && san_entry_equal(want, p, n))
            return true;
        if (!end)
            return false;
        p = end + 2;
    }
}

static bool cert_matches(const struct rw_cfg_cert_match *m, const struct px_peer *peer)
{
    if (!peer || !peer->subject)
        return false; /* no verified certificate */
    if (m->nsubjects) {
        uint32_t i = 0;
        while (i < m->nsubjects && strcmp(m->subjects[i], peer->subject))
            i++;
        if (i == m->nsubjects)
            return false;
    }
    if (m->nsans) {
        uint32_t i = 0;
        while (i < m->nsans && !san_has(peer->san, m->sans[i]))
            i++;
        if (i == m->nsans)
            return false;
    }
    if (m->nsha256) {
        uint32_t i = 0;
        while (i < m->nsha256 && memcmp(m->sha256[i], peer->sha256, 32))
            i++;
        if (i == m->nsha256)
            return false;
    }
    return true;
}

static bool route_matches(struct px_worker *w, const struct rw_cfg_match *m,
                          const struct rw_h1_req *req, const struct px_peer *peer)
{
    if (m->cert.present && !cert_matches(&m->cert, peer))
        return false;
    if (m->nhosts && !host_matches(m, req))
        return false;
    if (m->path && (strlen(m->path) != req->path_len || memcmp(m->path, req->path, req->path_len)))
        return false;
    if (m->path_prefix) {
        size_t pl = strlen(m->path_prefix);
        if (req->path_len < pl || memcmp(req->path, m->path_prefix, pl))
            return false;
    }
    if (m->nmethods) {
        uint32_t i = 0;
        for (; i < m->nmethods; i++)
            if (strlen(m->methods[i]) == req->method_len &&
                !memcmp(m->methods[i], req->method_str, req->method_len))
                break;
        if (i == m->nmethods)
            return false;
    }
    for (uint32_t i = 0; i < m->nheaders; i++)
        if (!header_matches(&m->headers[i], req))
            return false;
    if (m->path_re && pcre2_match(m->path_re, (PCRE2_SPTR)req->path, req->path_len, 0, 0,
                                  w->match_data, w->match_ctx) < 0)
        return false;
    return true;
}

/* The first route of l that matches req, with peer (NULL: none) as the client's verified
 * certificate for "client_cert" matchers; NULL when none does. Owning worker. */
const struct rw_cfg_route *px_route_match(struct px_worker *w, const struct rw_cfg_listener *l,
                                          const struct rw_h1_req *req, const struct px_peer *peer)
{
    for (uint32_t i = 0; i < l->nroutes; i++)
        if (route_matches(w, &l->routes[i].match, req, peer))
            return &l->routes[i];
    return NULL;
}

/* The route for c's request, and in *deny the status ringwall answers instead of running it:
 * 404 (no route matches: NULL), 403 (the route says "client_cert": "required" and c has no
 * verified client certificate), else 0. The certificate is looked up only on listeners
 * that ask for one. Owning worker. */
const struct rw_cfg_route *px_route_select(struct px_conn *c, const struct rw_h1_req *req,
                                           int *deny)
{
    struct px_peer peer;
    bool verified = c->x->lis->tls.client_auth != RW_CFG_CLIENT_AUTH_OFF && px_tls_peer(c, &peer);
    const struct rw_cfg_route *r = px_route_match(c->w, c->x->lis, req, verified ? &peer : NULL);
    *deny = !r ? 404 : r->client_cert_required && !verified ? 403 : 0;
    return r;
}

/* scheme://host[:port]path[?query]; every part the route leaves out comes from the
 * request. A port the request named is kept only while the scheme stays the same. */
int px_build_location(const struct rw_cfg_route *r, const struct rw_h1_req *req, char *out,
                      size_t cap)
{
    const char *scheme = r->redirect_scheme ? r->redirect_scheme : "http";
    const char *host = r->redirect_host;
    size_t hlen = host ? strlen(host) : 0;
    char port[8] = "";
    if (!host && req->host) {
        host = req->host;
        hlen = host_name_len(req->host, req->host_len);
        if (!r->redirect_scheme && hlen < req->host_len)
            snprintf(port, sizeof(port), "%.*s", (int)(req->host_len - hlen - 1),
                     req->host + hlen + 1);
    }
    if (r->redirect_port) {
        bool dflt = (!strcmp(scheme, "http") && r->redirect_port == 80) ||
                    (!strcmp(scheme, "https") && r->redirect_port == 443);
        if (dflt)
            port[0] = '\0';
        else
            snprintf(port, sizeof(port), "%u", r->redirect_port);
    }
    const char *path = r->redirect_path ? r->redirect_path : req->path;
    size_t plen = r->redirect_path ? strlen(path) : req->path_len;
    int n = snprintf(out, cap, "%s://%.*s%s%s%.*s", scheme, (int)hlen, host ? host : "",
                     port[0] ? ":" : "", port, (int)plen, path);
    if (n < 0 || (size_t)n >= cap)
        return -ENOSPC;
    if (req->query && !r->redirect_strip_query) {
        int q = snprintf(out + n, cap - (size_t)n, "?%.*s", (int)req->query_len, req->query);
        if (q < 0 || (size_t)q >= cap - (size_t)n)
            return -ENOSPC;
        n += q;
    }
    return n;
}
