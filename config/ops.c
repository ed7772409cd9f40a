/* SPDX-License-Identifier: MIT */
/* Operations keys: "admin", "access_log", "request_id" and "shutdown_timeout". */
#include "config/cfg-int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

#define OPS_SOCKET_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1) /* 107 on Linux */
#define OPS_TOKEN_MIN 16
#define OPS_TOKEN_MAX 256
#define OPS_SHUTDOWN_MAX_MS (24u * 60 * 60 * 1000)

static const char *const admin_keys[] = {"socket", "mode", "http", "token", NULL};
static const char *const access_log_keys[] = {"path", "format", NULL};
static const char *const access_log_formats[] = {"json", "combined", NULL};
static const char *const request_id_keys[] = {"header", "trust_client", NULL};

/* Fields ringwall writes itself, or that would break the request if reused as the id. */
static const char *const ops_reserved_hdrs[] = {
    "connection", "content-length", "transfer-encoding", "keep-alive", "proxy-connection",
    "te",         "trailer",        "upgrade",           "host",       NULL,
};

static void ops_defaults(struct rw_cfg *cfg)
{
    cfg->shutdown_timeout_ms = 30 * 1000;
    cfg->admin.mode = 0660;
    cfg->access_log.format = 0;
    cfg->request_id.header = rw__cfg_xstrdup("x-request-id");
    cfg->request_id.trust_client = true;
}

static const char *ops_check_socket(const char *s)
{
    size_t n = strlen(s);

    if (n == 0)
        return "must not be empty";
    if (n > OPS_SOCKET_MAX)
        return "must be at most 107 bytes (the limit of a Unix socket address)";
    if (s[n - 1] == '/')
        return "must name a file, not a directory (it ends in '/')";
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return "must not contain control characters";
    return NULL;
}

/* "0600".."0777" or "600".."777": octal digits only, owner read and write at least. */
static bool ops_parse_mode(const char *s, uint32_t *mode)
{
    size_t n = strlen(s);
    uint32_t m = 0;

    if (n != 3 && n != 4)
        return false;
    if (n == 4 && s[0] != '0')
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '7')
            return false;
        m = m * 8 + (uint32_t)(s[i] - '0');
    }
    if (m < 0600 || m > 0777)
        return false;
    *mode = m;
    return true;
}

static void ops_get_mode(struct rw__cfg_ctx *c, const json_t *o, uint32_t *mode)
{
    const json_t *v = json_object_get(o, "mode");
    size_t mark;

    if (!v || (json_is_string(v) && ops_parse_mode(json_string_value(v), mode)))
        return;
    mark = rw__cfg_enter_key(c, "mode");
    rw__cfg_err_got(c, v,
                    "must be an octal string \"0600\"..\"0777\" like \"0660\" (a string, so it "
                    "reads as octal; the owner keeps read and write)");
    rw__cfg_leave(c, mark);
}

static const char *ops_kind(const json_t *v)
{
    if (json_is_number(v))
        return "number";
    if (json_is_object(v))
        return "object";
    if (json_is_array(v))
        return "list";
    return "literal";
}

/* The token is a secret: errors say what is wrong with it, never what it is. */
static const char *ops_check_token(const json_t *v)
{
    const char *s;
    size_t n;

    if (!json_is_string(v))
        return "must be a string";
    s = json_string_value(v);
    n = strlen(s);
    if (n < OPS_TOKEN_MIN || n > OPS_TOKEN_MAX)
        return "must be 16..256 characters long";
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return "must be printable ASCII without spaces";
    return NULL;
}

static void ops_get_token(struct rw__cfg_ctx *c, const json_t *o, char **out)
{
    const json_t *v = json_object_get(o, "token");
    const char *why;
    size_t mark;

    if (!v)
        return;
    if (!(why = ops_check_token(v))) {
        *out = rw__cfg_xstrdup(json_string_value(v));
        return;
    }
    mark = rw__cfg_enter_key(c, "token");
    if (json_is_string(v))
        rw__cfg_err(c, "%s, got a string of %zu bytes (not shown: it is a secret)", why,
                    strlen(json_string_value(v)));
    else
        rw__cfg_err(c, "%s, got a JSON %s (not shown: it is a secret)", why, ops_kind(v));
    rw__cfg_leave(c, mark);
}

/* 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104. */
static bool ops_is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

        return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
    }
    if (ss->ss_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;

        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return false;
}

/* Rules between keys: something to serve, "mode" with "socket", "token" with "http",
 * and a token on an HTTP listener reachable from other hosts. */
static void ops_admin_rules(struct rw__cfg_ctx *c, const json_t *o, const struct rw_cfg_admin *a,
                            bool http_ok)
{
    const json_t *http = json_object_get(o, "http");
    size_t mark;

    if (!json_object_get(o, "socket") && !http) {
        rw__cfg_err_got(c, o, "must have \"socket\" or \"http\" (or leave \"admin\" out)");
        return;
    }
    if (json_object_get(o, "mode") && !json_object_get(o, "socket")) {
        mark = rw__cfg_enter_key(c, "mode");
        rw__cfg_err(c, "only with \"socket\" (it is the socket file's mode)");
        rw__cfg_leave(c, mark);
    }
    if (json_object_get(o, "token") && !http) {
        mark = rw__cfg_enter_key(c, "token");
        rw__cfg_err(c, "only with \"http\" (it guards control commands over HTTP)");
        rw__cfg_leave(c, mark);
    }
    if (http_ok && a->http && !json_object_get(o, "token") && !ops_is_loopback(&a->http_addr)) {
        mark = rw__cfg_enter_key(c, "http");
        rw__cfg_err_got(c, http,
                        "a non-loopback admin listener needs a token (set \"token\", or listen "
                        "on 127.0.0.1 or [::1])");
        rw__cfg_leave(c, mark);
    }
}

static void ops_load_admin(struct rw__cfg_ctx *c, const json_t *root, struct rw_cfg_admin *a)
{
    size_t mark;
    const json_t *o = rw__cfg_enter_obj(c, root, "admin", admin_keys, &mark);
    bool http_ok;

    if (!o)
        return;
    rw__cfg_get_str(c, o, "socket", ops_check_socket, &a->socket);
    if (json_object_get(o, "socket")) /* else "mode" is reported as misplaced, once */
        ops_get_mode(c, o, &a->mode);
    http_ok = rw__cfg_get_addr(c, o, "http", &a->http, &a->http_addr, &a->http_addrlen);
    ops_get_token(c, o, &a->token);
    ops_admin_rules(c, o, a, http_ok);
    rw__cfg_leave(c, mark);
}

static void ops_load_access_log(struct rw__cfg_ctx *c, const json_t *root,
                                struct rw_cfg_access_log *al)
{
    size_t mark;
    const json_t *o = rw__cfg_enter_obj(c, root, "access_log", access_log_keys, &mark);
    unsigned fmt = 0;

    if (!o)
        return;
    if (rw__cfg_require(c, o, "path", "a file name or \"stdout\""))
        rw__cfg_get_str(c, o, "path", rw__cfg_check_file, &al->path);
    if (rw__cfg_get_choice(c, o, "format", access_log_formats, false, &fmt))
        al->format = (uint8_t)fmt;
    rw__cfg_leave(c, mark);
}

static const char *ops_check_id_header(const char *s)
{
    if (rw__cfg_check_token(s))
        return "must be a header name (a token)";
    for (size_t i = 0; ops_reserved_hdrs[i]; i++)
        if (strcasecmp(s, ops_reserved_hdrs[i]) == 0)
            return "must not be host or a framing or hop-by-hop header";
    return NULL;
}

static void ops_load_request_id(struct rw__cfg_ctx *c, const json_t *root,
                                struct rw_cfg_request_id *rid)
{
    const json_t *v = json_object_get(root, "request_id");
    size_t mark;

    if (!v || json_is_true(v))
        return;
    if (json_is_false(v)) {
        free(rid->header);
        rid->header = NULL;
        rid->trust_client = false;
        return;
    }
    if (!json_is_object(v)) {
        mark = rw__cfg_enter_key(c, "request_id");
        rw__cfg_err_got(c, v, "must be an object like {\"header\": \"x-request-id\"}, or false");
        rw__cfg_leave(c, mark);
        return;
    }
    rw__cfg_enter_obj(c, root, "request_id", request_id_keys, &mark);
    if (rw__cfg_get_str(c, v, "header", ops_check_id_header, &rid->header))
        rw__cfg_lower(rid->header);
    rw__cfg_get_bool(c, v, "trust_client", &rid->trust_client);
    rw__cfg_leave(c, mark);
}

static void ops_load_shutdown(struct rw__cfg_ctx *c, const json_t *root, struct rw_cfg *cfg)
{
    uint32_t ms = cfg->shutdown_timeout_ms;
    size_t mark;

    if (!rw__cfg_get_duration(c, root, "shutdown_timeout", &ms))
        return;
    if (ms <= OPS_SHUTDOWN_MAX_MS) {
        cfg->shutdown_timeout_ms = ms;
        return;
    }
    mark = rw__cfg_enter_key(c, "shutdown_timeout");
    rw__cfg_err_got(c, json_object_get(root, "shutdown_timeout"), "must be at most 24h");
    rw__cfg_leave(c, mark);
}

void rw__cfg_load_ops(struct rw__cfg_ctx *c, const json_t *root, struct rw_cfg *cfg)
{
    ops_defaults(cfg);
    ops_load_admin(c, root, &cfg->admin);
    ops_load_access_log(c, root, &cfg->access_log);
    ops_load_request_id(c, root, &cfg->request_id);
    ops_load_shutdown(c, root, cfg);
}

void rw__cfg_free_ops(struct rw_cfg *cfg)
{
    free(cfg->admin.socket);
    free(cfg->admin.http);
    if (cfg->admin.token)
        explicit_bzero(cfg->admin.token, strlen(cfg->admin.token));
    free(cfg->admin.token);
    free(cfg->access_log.path);
    free(cfg->request_id.header);
}
