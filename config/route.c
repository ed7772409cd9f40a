/* SPDX-License-Identifier: MIT */
/* Routes: matchers, header edits, and the three actions (upstream, respond, redirect). */
#include "config/cfg-int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#define ROUTE_REGEX_MAX 4096     /* bytes of pattern source */
#define ROUTE_CERT_TEXT_MAX 4096 /* bytes of a subject or SAN entry to match */

static const char *const route_keys[] = {
    "match",   "upstream",        "strip_prefix",     "add_prefix",
    "host",    "request_headers", "response_headers", "trailers",
    "respond", "redirect",        "client_cert",      NULL,
};
static const char *const proxy_only_keys[] = {
    "strip_prefix", "add_prefix", "host", "request_headers", "response_headers", "trailers", NULL,
};
static const char *const match_keys[] = {
    "host", "path", "path_prefix", "path_regex", "methods", "headers", "client_cert", NULL,
};
static const char *const cert_match_keys[] = {"subject", "san", "sha256", NULL};
static const char *const cert_modes[] = {"required", "optional", NULL};
/* SAN entry types, spelled as tls/ renders them in the SAN text */
static const char *const san_types[] = {"DNS", "email", "URI", "IP", NULL};
enum { SAN_DNS = 0, SAN_EMAIL, SAN_URI, SAN_IP };
static const char *const edit_keys[] = {"set", "add", "remove", NULL};
static const char *const respond_keys[] = {"status", "body", "headers", NULL};
static const char *const redirect_keys[] = {
    "status", "scheme", "host", "port", "path", "strip_query", NULL,
};
static const char *const trailer_modes[] = {"forward", "drop", NULL};
static const char *const schemes[] = {"http", "https", NULL};

/* Fields ringwall writes or strips itself; configured edits must not touch them. */
static const char *const managed_hdrs[] = {
    "connection", "content-length", "transfer-encoding", "keep-alive", "proxy-connection",
    "te",         "trailer",        "upgrade",           NULL,
};

static const char *route_check_resp_hdr(const char *s)
{
    const char *why = rw__cfg_check_token(s);

    if (why)
        return "must be a header name (a token)";
    for (size_t i = 0; managed_hdrs[i]; i++)
        if (strcasecmp(s, managed_hdrs[i]) == 0)
            return "must not be a framing or hop-by-hop header (ringwall writes those itself)";
    return NULL;
}

static const char *route_check_req_hdr(const char *s)
{
    const char *why = route_check_resp_hdr(s);

    if (!why && strcasecmp(s, "host") == 0)
        return "must not be host (use the route's \"host\" key)";
    return why;
}

static const char *route_check_match_hdr(const char *s)
{
    return rw__cfg_check_token(s) ? "must be a header name (a token)" : NULL;
}

/* An error about an object key, at the key's path, showing the key as found. */
static void route_err_key(struct rw__cfg_ctx *c, const char *key, const char *why)
{
    json_t *k = json_string(key);

    if (k)
        rw__cfg_err_got(c, k, "%s", why);
    else
        rw__cfg_err(c, "%s", why);
    json_decref(k);
}

static bool route_name_seen(const struct rw_cfg_kv *kv, uint32_t n, const char *name)
{
    for (uint32_t i = 0; i < n; i++)
        if (strcasecmp(kv[i].name, name) == 0)
            return true;
    return false;
}

/* parent[key] = {name: value}: names pass check and are stored lower-case; values are
 * header-safe strings. unique: names may not repeat case-insensitively. */
static void route_kv(struct rw__cfg_ctx *c, const json_t *parent, const char *key,
                     rw__cfg_check_fn *check, bool unique, struct rw_cfg_kv **out, uint32_t *n)
{
    const json_t *o = rw__cfg_get_obj(c, parent, key);
    const char *name, *why;
    size_t mark;
    json_t *v;

    if (!o)
        return;
    mark = rw__cfg_enter_key(c, key);
    *out = rw__cfg_xcalloc(json_object_size(o), sizeof(**out));
    json_object_foreach((json_t *)o, name, v)
    {
        size_t m2 = rw__cfg_enter_key(c, name);

        if ((why = check(name))) {
            route_err_key(c, name, why);
        } else if (!json_is_string(v)) {
            rw__cfg_err_got(c, v, "must be a string");
        } else if ((why = rw__cfg_check_hdr_value(json_string_value(v)))) {
            rw__cfg_err_got(c, v, "%s", why);
        } else if (unique && route_name_seen(*out, *n, name)) {
            route_err_key(c, name, "must appear once (header names are case-insensitive)");
        } else {
            (*out)[*n].name = rw__cfg_xstrdup(name);
            rw__cfg_lower((*out)[*n].name);
            (*out)[*n].value = rw__cfg_xstrdup(json_string_value(v));
            (*n)++;
        }
        rw__cfg_leave(c, m2);
    }
    rw__cfg_leave(c, mark);
}

/* parent[key]: a non-empty list of strings passing check (or one string when single_ok). */
static void route_strlist(struct rw__cfg_ctx *c, const json_t *parent, const char *key,
                          rw__cfg_check_fn *check, bool single_ok, char ***out, uint32_t *n)
{
    const json_t *v = json_object_get(parent, key);
    size_t mark, cnt;

    if (!v)
        return;
    mark = rw__cfg_enter_key(c, key);
    if (single_ok && json_is_string(v)) {
        const char *why = check(json_string_value(v));

        if (why) {
            rw__cfg_err_got(c, v, "%s", why);
        } else {
            *out = rw__cfg_xcalloc(1, sizeof(**out));
            (*out)[(*n)++] = rw__cfg_xstrdup(json_string_value(v));
        }
    } else if (!json_is_array(v) || json_array_size(v) == 0) {
        rw__cfg_err_got(c, v,
                        single_ok ? "must be a string or a non-empty list of strings"
                                  : "must be a non-empty list of strings");
    } else {
        cnt = json_array_size(v);
        *out = rw__cfg_xcalloc(cnt, sizeof(**out));
        for (size_t i = 0; i < cnt; i++) {
            const json_t *e = json_array_get(v, i);
            const char *why = json_is_string(e) ? check(json_string_value(e)) : "must be a string";
            size_t m2 = rw__cfg_enter_index(c, i);

            if (why)
                rw__cfg_err_got(c, e, "%s", why);
            else
                (*out)[(*n)++] = rw__cfg_xstrdup(json_string_value(e));
            rw__cfg_leave(c, m2);
        }
    }
    rw__cfg_leave(c, mark);
}

static void route_regex(struct rw__cfg_ctx *c, const json_t *o, struct rw_cfg_match *m)
{
    const json_t *v = json_object_get(o, "path_regex");
    PCRE2_UCHAR msg[160];
    PCRE2_SIZE off;
    pcre2_code *re;
    size_t mark;
    int ec;

    if (!rw__cfg_get_str(c, o, "path_regex", NULL, &m->path_regex) || !m->path_regex)
        return;
    mark = rw__cfg_enter_key(c, "path_regex");
    if (strlen(m->path_regex) > ROUTE_REGEX_MAX) {
        rw__cfg_err_got(c, v, "must be at most %d bytes", ROUTE_REGEX_MAX);
    } else {
        re = pcre2_compile((PCRE2_SPTR)m->path_regex, PCRE2_ZERO_TERMINATED, PCRE2_ANCHORED, &ec,
                           &off, NULL);
        if (!re) {
            if (pcre2_get_error_message(ec, msg, sizeof(msg)) < 0)
                strcpy((char *)msg, "unknown error");
            rw__cfg_err_got(c, v, "must be a valid regular expression (%s at offset %zu)",
                            (const char *)msg, (size_t)off);
        } else {
            /* JIT is only an accelerator: without it the interpreter matches the same. */
            (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
            m->path_re = re;
        }
    }
    rw__cfg_leave(c, mark);
}

/* One "headers" entry of a matcher: "*", a string, or a non-empty list of strings. */
static void route_match_hdr(struct rw__cfg_ctx *c, const json_t *v, struct rw_cfg_hdr_match *h)
{
    const char *why;

    if (json_is_string(v) && strcmp(json_string_value(v), "*") == 0) {
        h->any = true;
        return;
    }
    if (json_is_string(v)) {
        if ((why = rw__cfg_check_hdr_value(json_string_value(v)))) {
            rw__cfg_err_got(c, v, "%s", why);
            return;
        }
        h->values = rw__cfg_xcalloc(1, sizeof(*h->values));
        h->values[h->nvalues++] = rw__cfg_xstrdup(json_string_value(v));
        return;
    }
    if (!json_is_array(v) || json_array_size(v) == 0) {
        rw__cfg_err_got(c, v, "must be a string, a non-empty list of strings, or \"*\"");
        return;
    }
    h->values = rw__cfg_xcalloc(json_array_size(v), sizeof(*h->values));
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *e = json_array_get(v, i);
        size_t mark = rw__cfg_enter_index(c, i);

        why =
            json_is_string(e) ? rw__cfg_check_hdr_value(json_string_value(e)) : "must be a string";
        if (why)
            rw__cfg_err_got(c, e, "%s", why);
        else
            h->values[h->nvalues++] = rw__cfg_xstrdup(json_string_value(e));
        rw__cfg_leave(c, mark);
    }
}

static bool route_hdr_seen(const struct rw_cfg_match *m, const char *name)
{
    for (uint32_t i = 0; i < m->nheaders; i++)
        if (strcasecmp(m->headers[i].name, name) == 0)
            return true;
    return false;
}

static void route_match_headers(struct rw__cfg_ctx *c, const json_t *o, struct rw_cfg_match *m)
{
    const json_t *h = rw__cfg_get_obj(c, o, "headers");
    const char *name, *why;
    size_t mark;
    json_t *v;

    if (!h)
        return;
    mark = rw__cfg_enter_key(c, "headers");
    m->headers = rw__cfg_xcalloc(json_object_size(h), sizeof(*m->headers));
    json_object_foreach((json_t *)h, name, v)
    {
        size_t m2 = rw__cfg_enter_key(c, name);

        if ((why = route_check_match_hdr(name))) {
            route_err_key(c, name, why);
        } else if (route_hdr_seen(m, name)) {
            route_err_key(c, name, "must appear once (header names are case-insensitive)");
        } else {
            struct rw_cfg_hdr_match *hm = &m->headers[m->nheaders++];

            hm->name = rw__cfg_xstrdup(name);
            rw__cfg_lower(hm->name);
            route_match_hdr(c, v, hm);
        }
        rw__cfg_leave(c, m2);
    }
    rw__cfg_leave(c, mark);
}

/* ---- client certificates: "client_cert" on a route and in its match ---- */

static const char *route_check_subject(const char *s)
{
    if (!*s)
        return "must not be empty";
    if (strlen(s) > ROUTE_CERT_TEXT_MAX)
        return "must be at most 4096 bytes";
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return "must not contain control characters (a subject shows them as \\XX escapes)";
    return NULL;
}

/* The type of a "TYPE:value" SAN entry (any case), or -1. */
static int route_san_type(const char *s)
{
    const char *colon = strchr(s, ':');

    for (int i = 0; colon && san_types[i]; i++)
        if (strlen(san_types[i]) == (size_t)(colon - s) &&
            strncasecmp(s, san_types[i], (size_t)(colon - s)) == 0)
            return i;
    return -1;
}

static const char *route_check_san(const char *s)
{
    int type = route_san_type(s);
    const char *v = type < 0 ? NULL : strchr(s, ':') + 1;
    unsigned char ip[16];

    if (!v)
        return "must be \"DNS:<name>\", \"email:<address>\", \"URI:<uri>\" or \"IP:<address>\"";
    if (!*v)
        return "must have a value after the type";
    if (strlen(v) > ROUTE_CERT_TEXT_MAX)
        return "must be at most 4096 bytes";
    for (const char *p = v; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == ',')
            return "must not contain ',' or control characters (a certificate's SAN is shown "
                   "with '?' in their place, so it would never match)";
    if (type == SAN_IP && inet_pton(AF_INET, v, ip) != 1 && inet_pton(AF_INET6, v, ip) != 1)
        return "must be an IPv4 or IPv6 address after \"IP:\"";
    return NULL;
}

static int route_hex(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* 64 hex digits, or 32 pairs separated by ':' (as openssl prints them); any case. */
static bool route_parse_sha256(const char *s, uint8_t out[32])
{
    size_t n = strlen(s);
    bool colons = n == 32 * 3 - 1;

    if (n != 64 && !colons)
        return false;
    for (size_t k = 0; k < 32; k++, s += colons ? 3 : 2) {
        int hi = route_hex(s[0]), lo = route_hex(s[1]);

        if (hi < 0 || lo < 0 || (colons && k < 31 && s[2] != ':'))
            return false;
        out[k] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

static const char *route_check_sha256(const char *s)
{
    uint8_t fp[32];

    return route_parse_sha256(s, fp) ? NULL
                                     : "must be a SHA-256 fingerprint: 64 hex digits, optionally "
                                       "in pairs separated by ':'";
}

/* At the current path: a client-certificate key needs a listener that asks for one. */
static void route_need_client_auth(struct rw__cfg_ctx *c, const struct rw_cfg_tls *tls)
{
    if (!tls->enabled || tls->client_auth == RW_CFG_CLIENT_AUTH_OFF)
        rw__cfg_err(c, "needs a listener that asks for client certificates "
                       "(tls.client_auth.mode \"optional\" or \"require\")");
}

/* "DNS:Alice.Example" -> "DNS:alice.example": the type as tls/ spells it, DNS names
 * lower-case (they compare case-insensitively). s passed route_check_san; NULL if
 * it did not. */
static char *route_san_canonical(const char *s)
{
    int type = route_san_type(s);
    if (type < 0 || type > SAN_IP)
        return NULL;
    const char *v = strchr(s, ':') + 1;
    size_t tl = strlen(san_types[type]), vl = strlen(v);
    char *out = rw__cfg_xcalloc(1, tl + 1 + vl + 1);

    memcpy(out, san_types[type], tl);
    out[tl] = ':';
    memcpy(out + tl + 1, v, vl + 1);
    if (type == SAN_DNS)
        rw__cfg_lower(out + tl + 1);
    return out;
}

static void route_match_cert(struct rw__cfg_ctx *c, const json_t *o, const struct rw_cfg_tls *tls,
                             struct rw_cfg_cert_match *cm)
{
    char **fps = NULL;
    uint32_t nfps = 0;
    size_t mark;
    const json_t *jc = rw__cfg_enter_obj(c, o, "client_cert", cert_match_keys, &mark);

    if (!jc)
        return;
    cm->present = true;
    route_need_client_auth(c, tls);
    route_strlist(c, jc, "subject", route_check_subject, true, &cm->subjects, &cm->nsubjects);
    route_strlist(c, jc, "san", route_check_san, true, &cm->sans, &cm->nsans);
    for (uint32_t i = 0; i < cm->nsans; i++) {
        char *canon = route_san_canonical(cm->sans[i]);

        if (!canon)
            continue; /* refused by route_check_san: the config is not used */
        free(cm->sans[i]);
        cm->sans[i] = canon;
    }
    route_strlist(c, jc, "sha256", route_check_sha256, true, &fps, &nfps);
    if (nfps)
        cm->sha256 = rw__cfg_xcalloc(nfps, sizeof(*cm->sha256));
    for (uint32_t i = 0; i < nfps; i++) {
        (void)route_parse_sha256(fps[i], cm->sha256[cm->nsha256++]);
        free(fps[i]);
    }
    free(fps);
    rw__cfg_leave(c, mark);
}

/* Route-level "client_cert": "required" | "optional" (the default). */
static void route_client_cert(struct rw__cfg_ctx *c, const json_t *jr, const struct rw_cfg_tls *tls,
                              struct rw_cfg_route *r)
{
    unsigned mode = 1;
    size_t mark;

    if (!json_object_get(jr, "client_cert") ||
        !rw__cfg_get_choice(c, jr, "client_cert", cert_modes, false, &mode))
        return;
    r->client_cert_required = mode == 0;
    mark = rw__cfg_enter_key(c, "client_cert");
    route_need_client_auth(c, tls);
    rw__cfg_leave(c, mark);
}

static void route_match(struct rw__cfg_ctx *c, const json_t *jr, const struct rw_cfg_tls *tls,
                        struct rw_cfg_match *m)
{
    const json_t *o = rw__cfg_get_obj(c, jr, "match");
    size_t mark;

    if (!o)
        return;
    mark = rw__cfg_enter_key(c, "match");
    rw__cfg_check_keys(c, o, match_keys);
    route_strlist(c, o, "host", rw__cfg_check_host_match, true, &m->hosts, &m->nhosts);
    for (uint32_t i = 0; i < m->nhosts; i++)
        rw__cfg_lower(m->hosts[i]);
    rw__cfg_get_str(c, o, "path", rw__cfg_check_path, &m->path);
    rw__cfg_get_str(c, o, "path_prefix", rw__cfg_check_path, &m->path_prefix);
    route_regex(c, o, m);
    route_strlist(c, o, "methods", rw__cfg_check_token, false, &m->methods, &m->nmethods);
    route_match_headers(c, o, m);
    route_match_cert(c, o, tls, &m->cert);
    rw__cfg_leave(c, mark);
}

static void route_edits(struct rw__cfg_ctx *c, const json_t *jr, const char *key, bool request,
                        struct rw_cfg_hdr_edits *e)
{
    rw__cfg_check_fn *check = request ? route_check_req_hdr : route_check_resp_hdr;
    const json_t *o = rw__cfg_get_obj(c, jr, key);
    size_t mark;

    if (!o)
        return;
    mark = rw__cfg_enter_key(c, key);
    rw__cfg_check_keys(c, o, edit_keys);
    route_kv(c, o, "set", check, true, &e->set, &e->nset);
    route_kv(c, o, "add", check, false, &e->add, &e->nadd);
    route_strlist(c, o, "remove", check, false, &e->remove, &e->nremove);
    for (uint32_t i = 0; i < e->nremove; i++)
        rw__cfg_lower(e->remove[i]);
    rw__cfg_leave(c, mark);
}

/* The closest upstream name within edit distance 2, for a hint. */
static const char *route_near_upstream(const struct rw_cfg *cfg, const char *name)
{
    const char *best = NULL;
    unsigned bestd = 3;

    for (uint32_t i = 0; i < cfg->nupstreams; i++) {
        unsigned d = rw__cfg_edit_distance(name, cfg->upstreams[i].name, 2);

        if (d < bestd && d < strlen(name)) {
            bestd = d;
            best = cfg->upstreams[i].name;
        }
    }
    return best;
}

static void route_upstream_ref(struct rw__cfg_ctx *c, const json_t *v, struct rw_cfg *cfg,
                               bool upstreams_known, struct rw_cfg_route *r)
{
    size_t mark = rw__cfg_enter_key(c, "upstream");
    const char *near;

    if (!json_is_string(v)) {
        rw__cfg_err_got(c, v, "must be the name of an upstream");
    } else if (upstreams_known) {
        for (uint32_t i = 0; i < cfg->nupstreams && !r->upstream; i++)
            if (strcmp(cfg->upstreams[i].name, json_string_value(v)) == 0)
                r->upstream = &cfg->upstreams[i];
        near = r->upstream ? NULL : route_near_upstream(cfg, json_string_value(v));
        if (!r->upstream)
            rw__cfg_err_got(c, v, "must name an upstream defined in $.upstreams%s%s%s",
                            near ? " (did you mean " : "", near ? near : "", near ? "?)" : "");
    }
    rw__cfg_leave(c, mark);
}

static void route_proxy(struct rw__cfg_ctx *c, const json_t *jr, struct rw_cfg *cfg,
                        bool upstreams_known, struct rw_cfg_route *r)
{
    char *trailers = NULL;

    route_upstream_ref(c, json_object_get(jr, "upstream"), cfg, upstreams_known, r);
    rw__cfg_get_str(c, jr, "strip_prefix", rw__cfg_check_path, &r->strip_prefix);
    rw__cfg_get_str(c, jr, "add_prefix", rw__cfg_check_path, &r->add_prefix);
    if (rw__cfg_get_str(c, jr, "host", rw__cfg_check_host_port, &r->host) && r->host)
        rw__cfg_lower(r->host);
    route_edits(c, jr, "request_headers", true, &r->request_headers);
    route_edits(c, jr, "response_headers", false, &r->response_headers);
    if (rw__cfg_get_enum(c, jr, "trailers", trailer_modes, &trailers) && trailers)
        r->trailers_drop = strcmp(trailers, "drop") == 0;
    free(trailers);
}

static bool route_no_body_status(uint32_t st)
{
    return st < 200 || st == 204 || st == 304;
}

static void route_respond(struct rw__cfg_ctx *c, const json_t *jr, struct rw_cfg_route *r)
{
    const json_t *o = rw__cfg_get_obj(c, jr, "respond");
    uint32_t status = 200;
    size_t mark;

    if (!r->respond_body)
        r->respond_body = rw__cfg_xstrdup("");
    if (!o)
        return;
    mark = rw__cfg_enter_key(c, "respond");
    rw__cfg_check_keys(c, o, respond_keys);
    rw__cfg_get_u32(c, o, "status", 100, 599, &status);
    r->respond_status = (uint16_t)status;
    rw__cfg_get_str(c, o, "body", NULL, &r->respond_body);
    r->respond_body_len = strlen(r->respond_body);
    if (r->respond_body_len && route_no_body_status(status)) {
        size_t m2 = rw__cfg_enter_key(c, "body");

        rw__cfg_err_got(c, json_object_get(o, "body"), "must be empty for status %u",
                        (unsigned)status);
        rw__cfg_leave(c, m2);
    }
    route_kv(c, o, "headers", route_check_resp_hdr, false, &r->respond_headers,
             &r->nrespond_headers);
    rw__cfg_leave(c, mark);
}

static void route_redirect(struct rw__cfg_ctx *c, const json_t *jr, struct rw_cfg_route *r)
{
    const json_t *o = rw__cfg_get_obj(c, jr, "redirect"), *st;
    uint32_t port = 0;
    size_t mark;

    if (!o)
        return;
    mark = rw__cfg_enter_key(c, "redirect");
    rw__cfg_check_keys(c, o, redirect_keys);
    if ((st = json_object_get(o, "status"))) {
        json_int_t s = json_is_integer(st) ? json_integer_value(st) : 0;
        size_t m2 = rw__cfg_enter_key(c, "status");

        if (s == 301 || s == 302 || s == 303 || s == 307 || s == 308)
            r->redirect_status = (uint16_t)s;
        else
            rw__cfg_err_got(c, st, "must be one of 301, 302, 303, 307, 308");
        rw__cfg_leave(c, m2);
    }
    rw__cfg_get_enum(c, o, "scheme", schemes, &r->redirect_scheme);
    if (rw__cfg_get_str(c, o, "host", rw__cfg_check_host, &r->redirect_host) && r->redirect_host)
        rw__cfg_lower(r->redirect_host);
    rw__cfg_get_u32(c, o, "port", 1, 65535, &port);
    r->redirect_port = (uint16_t)port;
    rw__cfg_get_str(c, o, "path", rw__cfg_check_path, &r->redirect_path);
    rw__cfg_get_bool(c, o, "strip_query", &r->redirect_strip_query);
    if (!json_object_get(o, "scheme") && !json_object_get(o, "host") &&
        !json_object_get(o, "port") && !json_object_get(o, "path"))
        rw__cfg_err(c, "must set at least one of \"scheme\", \"host\", \"port\", \"path\" "
                       "(a redirect to the same URL loops)");
    rw__cfg_leave(c, mark);
}

/* Exactly one action; returns how many were given and sets r->action to the first. */
static unsigned route_actions(struct rw__cfg_ctx *c, const json_t *jr, struct rw_cfg_route *r)
{
    static const char *const acts[] = {"upstream", "respond", "redirect"};
    static const uint8_t kinds[] = {RW_ROUTE_PROXY, RW_ROUTE_RESPOND, RW_ROUTE_REDIRECT};
    char got[64] = "";
    unsigned n = 0;

    for (unsigned i = 0; i < 3; i++) {
        size_t len = strlen(got);

        if (!json_object_get(jr, acts[i]))
            continue;
        if (n++ == 0)
            r->action = kinds[i];
        snprintf(got + len, sizeof(got) - len, "%s\"%s\"", len ? " and " : "", acts[i]);
    }
    if (n != 1)
        rw__cfg_err(c, "must have exactly one of \"upstream\", \"respond\", \"redirect\", got %s",
                    n ? got : "none");
    return n;
}

void rw__cfg_load_route(struct rw__cfg_ctx *c, const json_t *jr, struct rw_cfg *cfg,
                        bool upstreams_known, const struct rw_cfg_tls *tls, struct rw_cfg_route *r)
{
    unsigned nact;

    r->respond_status = 200;
    r->redirect_status = 308;
    if (!json_is_object(jr)) {
        rw__cfg_err_got(c, jr, "must be an object like {\"match\": {...}, \"upstream\": \"name\"}");
        return;
    }
    rw__cfg_check_keys(c, jr, route_keys);
    route_match(c, jr, tls, &r->match);
    route_client_cert(c, jr, tls, r);
    nact = route_actions(c, jr, r);
    if (json_object_get(jr, "upstream"))
        route_proxy(c, jr, cfg, upstreams_known, r);
    if (json_object_get(jr, "respond"))
        route_respond(c, jr, r);
    if (json_object_get(jr, "redirect"))
        route_redirect(c, jr, r);
    if (nact == 0 || json_object_get(jr, "upstream"))
        return;
    for (size_t i = 0; proxy_only_keys[i]; i++) {
        if (json_object_get(jr, proxy_only_keys[i])) {
            size_t mark = rw__cfg_enter_key(c, proxy_only_keys[i]);

            rw__cfg_err(c, "only applies to routes with \"upstream\"");
            rw__cfg_leave(c, mark);
        }
    }
}
