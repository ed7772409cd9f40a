/* SPDX-License-Identifier: MIT */
/* The HTTP admin listener: /metrics, /stats, /healthz, /ready and token-guarded /cmd. */
#include "admin/admin-int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "http/h1.h"

static const char ct_text[] = "text/plain; charset=utf-8";
static const char ct_prom[] = "text/plain; version=0.0.4; charset=utf-8";
static const char ct_json[] = "application/json";

int rw__admin_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[64];
    const char *colon;
    memset(ss, 0, sizeof(*ss));
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != ':' || (size_t)(end - s - 1) >= sizeof(host))
            return -EINVAL;
        memcpy(host, s + 1, (size_t)(end - s - 1));
        host[end - s - 1] = '\0';
        colon = end + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || (size_t)(colon - s) >= sizeof(host))
            return -EINVAL;
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
    }
    char *endp;
    unsigned long port = strtoul(colon + 1, &endp, 10);
    if (!colon[1] || *endp || port > 65535)
        return -EINVAL;
    if (!host[0] || strcmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        *len = sizeof(*in4);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*in6);
        return 0;
    }
    return -EINVAL;
}

/* Queue a whole response and finish the connection after it. */
static void http_respond(struct ad_conn *c, int status, const char *ctype, const char *body,
                         size_t blen, bool head_only, const char *extra)
{
    char head[512];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Cache-Control: no-store\r\nConnection: close\r\n%s\r\n",
                     status, rw_h1_reason(status), ctype, blen, extra ? extra : "");
    c->done = true;
    if (rw__admin_conn_send(c, head, (size_t)n) == 0 && !head_only && blen)
        rw__admin_conn_send(c, body, blen);
}

static void http_text(struct ad_conn *c, int status, const char *msg, bool head_only)
{
    http_respond(c, status, ct_text, msg, strlen(msg), head_only, NULL);
}

static void http_metrics(struct ad_conn *c, bool head_only)
{
    struct rw_admin *a = c->a;
    char *out = NULL;
    size_t len = 0;
    if (!a->metrics_fn) {
        http_text(c, 404, "no metrics\n", head_only);
        return;
    }
    if (a->metrics_fn(a->metrics_arg, &out, &len) < 0) {
        http_text(c, 500, "metrics unavailable\n", head_only);
        return;
    }
    http_respond(c, 200, ct_prom, out, len, head_only, NULL);
    free(out);
}

/* Run one request object and answer with its reply (data only when data_only). */
static void http_exec(struct ad_conn *c, json_t *req, bool data_only, bool head_only)
{
    json_t *reply = rw__admin_exec(c->a, req);
    bool ok = json_is_true(json_object_get(reply, "ok"));
    json_t *what = data_only && ok ? json_object_get(reply, "data") : reply;
    char *s = what ? json_dumps(what, JSON_INDENT(2) | JSON_ENCODE_ANY) : NULL;
    if (!s) {
        json_decref(reply);
        http_text(c, 500, "out of memory\n", head_only);
        return;
    }
    size_t n = strlen(s);
    s[n] = '\n'; /* replaces the NUL: the body is length-delimited */
    http_respond(c, ok ? 200 : 400, ct_json, s, n + 1, head_only, NULL);
    free(s);
    json_decref(reply);
}

static bool bearer_ok(const struct rw_admin *a, const struct rw_h1_req *req)
{
    for (uint32_t i = 0; i < req->h.nhdrs; i++) {
        const struct rw_hdr *h = &req->h.hdrs[i];
        if (!rw_h1_streq(h->name, h->name_len, "authorization"))
            continue;
        size_t tl = strlen(a->token);
        if (h->value_len != tl + 7 || !rw_h1_streq(h->value, 7, "bearer "))
            return false;
        unsigned char diff = 0; /* constant time in the token's bytes */
        for (size_t k = 0; k < tl; k++)
            diff |= (unsigned char)(h->value[7 + k] ^ a->token[k]);
        return diff == 0;
    }
    return false;
}

/* POST /cmd: returns false while the body is still arriving. */
static bool http_cmd(struct ad_conn *c, const struct rw_h1_req *req)
{
    struct rw_admin *a = c->a;
    if (!bearer_ok(a, req)) {
        http_respond(c, 401, ct_text, "unauthorized\n", 13, false, "WWW-Authenticate: Bearer\r\n");
        return true;
    }
    if (req->h.body == RW_BODY_CHUNKED) {
        http_text(c, 411, "send a Content-Length\n", false);
        return true;
    }
    uint64_t blen = req->h.body == RW_BODY_LENGTH ? req->h.content_length : 0;
    if (blen > a->max_line) {
        http_text(c, 413, "request body too large\n", false);
        return true;
    }
    if (c->in_len < req->h.head_len + blen)
        return false;
    json_error_t jerr;
    json_t *j = json_loadb(c->in + req->h.head_len, blen, JSON_REJECT_DUPLICATES, &jerr);
    if (!j) {
        char msg[256];
        int n = snprintf(msg, sizeof(msg),
                         "{\"ok\":false,\"error\":\"malformed JSON at column %d\"}\n", jerr.column);
        http_respond(c, 400, ct_json, msg, (size_t)n, false, NULL);
        return true;
    }
    http_exec(c, j, false, false);
    json_decref(j);
    return true;
}

static bool path_is(const struct rw_h1_req *req, const char *p)
{
    return req->path_len == strlen(p) && memcmp(req->path, p, req->path_len) == 0;
}

/* Route a parsed request; false when more body bytes are needed. */
static bool http_route(struct ad_conn *c, const struct rw_h1_req *req)
{
    struct rw_admin *a = c->a;
    bool get = req->method == RW_M_GET || req->method == RW_M_HEAD;
    bool head = req->method == RW_M_HEAD;
    if (path_is(req, "/cmd") && a->token) {
        if (req->method == RW_M_POST)
            return http_cmd(c, req);
        http_respond(c, 405, ct_text, "use POST\n", 9, false, "Allow: POST\r\n");
        return true;
    }
    bool known = path_is(req, "/metrics") || path_is(req, "/stats") || path_is(req, "/healthz") ||
                 path_is(req, "/ready");
    if (!known) {
        http_text(c, 404, "not found\n", head);
    } else if (!get) {
        http_respond(c, 405, ct_text, "use GET\n", 8, false, "Allow: GET, HEAD\r\n");
    } else if (path_is(req, "/metrics")) {
        http_metrics(c, head);
    } else if (path_is(req, "/stats")) {
        json_t *r = json_pack("{s:s}", "cmd", "stats");
        http_exec(c, r, true, head);
        json_decref(r);
    } else if (path_is(req, "/healthz")) {
        http_text(c, 200, "ok\n", head);
    } else {
        bool ready = !a->ready_fn || a->ready_fn(a->ready_arg);
        http_text(c, ready ? 200 : 503, ready ? "ready\n" : "not ready\n", head);
    }
    return true;
}

void rw__admin_http_input(struct ad_conn *c)
{
    struct rw_admin *a = c->a;
    struct rw_h1_req req;
    struct rw_h1_limits lim = {0};
    int status = 400;
    if (c->done)
        return;
    enum rw_parse p = rw_h1_parse_request(c->in, c->in_len, &lim, &req, a->hdrs, &status);
    if (p == RW_PARSE_AGAIN) {
        if (c->in_len >= AD_HTTP_HEAD_MAX)
            http_text(c, 431, "request head too large\n", false);
        else if (c->eof)
            rw__admin_conn_close(c);
        return;
    }
    if (p == RW_PARSE_BAD) {
        char msg[64];
        snprintf(msg, sizeof(msg), "%d %s\n", status, rw_h1_reason(status));
        http_text(c, status, msg, false);
        return;
    }
    if (!http_route(c, &req) && c->in_len > a->max_line + AD_HTTP_HEAD_MAX)
        http_text(c, 413, "request body too large\n", false);
}
