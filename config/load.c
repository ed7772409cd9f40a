/* SPDX-License-Identifier: MIT */
/* Loading: read the file, parse JSON, walk the top level, listeners and the upstream list. */
#include "config/config.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "config/cfg-int.h"

#define LOAD_FILE_MAX (16u << 20) /* a config larger than this is a mistake */

static const char *const top_keys[] = {
    "workers",
    "io_backend",
    "io_coalesce",
    "log",
    "limits",
    "server_header",
    "via",
    "forwarded_headers",
    "hide_backend_headers",
    "timeouts",
    "shutdown_timeout",
    "admin",
    "access_log",
    "request_id",
    "listeners",
    "upstreams",
    NULL,
};
static const char *const log_keys[] = {"level", NULL};
static const char *const limits_keys[] = {
    "max_connections", "request_line", "header_block", "headers", "body", NULL,
};
static const char *const client_timeout_keys[] = {
    "client_header",
    "client_body",
    "client_idle",
    NULL,
};
static const char *const listener_keys[] = {"name", "address", "tls", "defer_accept", "routes",
                                            NULL};
static const char *const io_backends[] = {"auto", "io_uring", "epoll", NULL};
static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};
/* forwarded_headers: entry i is RW_FWD_* bit i. */
static const char *const fwd_names[] = {
    "forwarded", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", NULL,
};
_Static_assert(RW_FWD_FORWARDED == 1u << 0 && RW_FWD_XFF == 1u << 1 && RW_FWD_PROTO == 1u << 2 &&
                   RW_FWD_HOST == 1u << 3 && RW_FWD_ALL == (1u << 4) - 1,
               "fwd_names[] follows the RW_FWD_* bits");

static void load_defaults(struct rw_cfg *cfg)
{
    cfg->workers = 0;
    cfg->io_backend = rw__cfg_xstrdup("auto");
    cfg->io_coalesce_us = RW_CFG_IO_COALESCE_US;
    cfg->log_level = rw__cfg_xstrdup("info");
    cfg->max_connections = 100000;
    cfg->limit_request_line = 8192;
    cfg->limit_header_block = 16384;
    cfg->limit_headers = 100;
    cfg->limit_body = 0;
    cfg->server_header = rw__cfg_xstrdup("ringwall");
    cfg->hide_backend_headers = true;
    cfg->via = rw__cfg_xstrdup("ringwall");
    cfg->forwarded_headers = RW_FWD_ALL;
    cfg->client_header_timeout_ms = 10 * 1000;
    cfg->client_body_timeout_ms = 60 * 1000;
    cfg->client_idle_timeout_ms = 75 * 1000;
}

static void load_limits(struct rw__cfg_ctx *c, const json_t *root, struct rw_cfg *cfg)
{
    size_t mark;
    const json_t *o = rw__cfg_enter_obj(c, root, "limits", limits_keys, &mark);
    uint64_t rl = cfg->limit_request_line, hb = cfg->limit_header_block;
    bool ok;

    if (!o)
        return;
    rw__cfg_get_u32(c, o, "max_connections", 1, 10000000, &cfg->max_connections);
    rw__cfg_get_u32(c, o, "headers", 1, 256, &cfg->limit_headers);
    rw__cfg_get_size(c, o, "body", 1, UINT64_MAX, true, &cfg->limit_body);
    ok = rw__cfg_get_size(c, o, "request_line", 256, 1 << 20, false, &rl);
    ok &= rw__cfg_get_size(c, o, "header_block", 1 << 10, 1 << 20, false, &hb);
    cfg->limit_request_line = (uint32_t)rl;
    cfg->limit_header_block = (uint32_t)hb;
    if (ok && hb < rl) {
        const json_t *v = json_object_get(o, "header_block");
        size_t m2 = rw__cfg_enter_key(c, "header_block");

        if (v)
            rw__cfg_err_got(c, v, "must be at least limits.request_line (%" PRIu32 " bytes)",
                            cfg->limit_request_line);
        else
            rw__cfg_err(c, "default 16KiB is smaller than limits.request_line; set it too");
        rw__cfg_leave(c, m2);
    }
    rw__cfg_leave(c, mark);
}

/* "via": a pseudonym, true (the default one) or false (none added). */
static void load_via(struct rw__cfg_ctx *c, const json_t *root, struct rw_cfg *cfg)
{
    const json_t *v = json_object_get(root, "via");
    size_t mark;

    if (!v || json_is_true(v))
        return;
    if (json_is_false(v)) {
        free(cfg->via);
        cfg->via = NULL;
        return;
    }
    if (json_is_string(v)) { /* a bad token is reported by the token check */
        rw__cfg_get_str(c, root, "via", rw__cfg_check_token, &cfg->via);
        return;
    }
    mark = rw__cfg_enter_key(c, "via");
    rw__cfg_err_got(c, v, "must be a token like \"ringwall\", true or false");
    rw__cfg_leave(c, mark);
}

/* "io_coalesce": how long a busy io_uring wait may hold on for more completions. */
static void load_io_coalesce(struct rw__cfg_ctx *c, const json_t *root, struct rw_cfg *cfg)
{
    const json_t *v = json_object_get(root, "io_coalesce");
    uint64_t us;
    size_t mark;

    if (!v)
        return;
    if (json_is_false(v)) {
        cfg->io_coalesce_us = 0;
        return;
    }
    if (json_is_string(v) && rw_cfg_parse_duration_us(json_string_value(v), &us) == 0 &&
        us <= RW_CFG_IO_COALESCE_MAX_US) {
        cfg->io_coalesce_us = (uint32_t)us;
        return;
    }
    mark = rw__cfg_enter_key(c, "io_coalesce");
    rw__cfg_err_got(c, v, "must be a duration of at most 1ms like \"100us\" (unit us or ms), "
                          "or false");
    rw__cfg_leave(c, mark);
}

static void load_forwarded_headers(struct rw__cfg_ctx *c, const json_t *root, struct rw_cfg *cfg)
{
    uint32_t bits = cfg->forwarded_headers;

    if (rw__cfg_get_flags(c, root, "forwarded_headers", fwd_names, true, &bits))
        cfg->forwarded_headers = (uint8_t)bits;
}

static void load_globals(struct rw__cfg_ctx *c, const json_t *root, struct rw_cfg *cfg)
{
    const json_t *o;
    size_t mark;

    rw__cfg_check_keys(c, root, top_keys);
    rw__cfg_get_u32(c, root, "workers", 0, 1024, &cfg->workers);
    rw__cfg_get_enum(c, root, "io_backend", io_backends, &cfg->io_backend);
    load_io_coalesce(c, root, cfg);
    rw__cfg_get_str(c, root, "server_header", rw__cfg_check_hdr_value, &cfg->server_header);
    rw__cfg_get_bool(c, root, "hide_backend_headers", &cfg->hide_backend_headers);
    load_via(c, root, cfg);
    load_forwarded_headers(c, root, cfg);
    if ((o = rw__cfg_enter_obj(c, root, "log", log_keys, &mark))) {
        rw__cfg_get_enum(c, o, "level", log_levels, &cfg->log_level);
        rw__cfg_leave(c, mark);
    }
    load_limits(c, root, cfg);
    if ((o = rw__cfg_enter_obj(c, root, "timeouts", client_timeout_keys, &mark))) {
        rw__cfg_get_duration(c, o, "client_header", &cfg->client_header_timeout_ms);
        rw__cfg_get_duration(c, o, "client_body", &cfg->client_body_timeout_ms);
        rw__cfg_get_duration(c, o, "client_idle", &cfg->client_idle_timeout_ms);
        rw__cfg_leave(c, mark);
    }
    rw__cfg_load_ops(c, root, cfg);
}

/* Returns whether route "upstream" names can be checked against cfg->upstreams. */
static bool load_upstreams(struct rw__cfg_ctx *c, const json_t *root, struct rw_cfg *cfg)
{
    const json_t *ups = json_object_get(root, "upstreams");
    const char *name;
    json_t *ju;

    if (!ups)
        return true;
    if (!rw__cfg_get_obj(c, root, "upstreams"))
        return false;
    cfg->upstreams = rw__cfg_xcalloc(json_object_size(ups), sizeof(*cfg->upstreams));
    json_object_foreach((json_t *)ups, name, ju)
    {
        struct rw_cfg_upstream *up = &cfg->upstreams[cfg->nupstreams];
        size_t mark = rw__cfg_enter_key(c, "upstreams");

        rw__cfg_enter_key(c, name);
        up->index = cfg->nupstreams++;
        rw__cfg_load_upstream(c, name, ju, up);
        rw__cfg_leave(c, mark);
    }
    return true;
}

static bool load_same_addr(const struct rw_cfg_listener *a, const struct rw_cfg_listener *b)
{
    return a->addrlen && a->addrlen == b->addrlen && memcmp(&a->addr, &b->addr, a->addrlen) == 0;
}

/* Listener names and addresses are unique; report each listener once. */
static void load_listener_dups(struct rw__cfg_ctx *c, const json_t *jls, const struct rw_cfg *cfg)
{
    for (uint32_t j = 1; j < cfg->nlisteners; j++) {
        const struct rw_cfg_listener *b = &cfg->listeners[j];
        const json_t *jl = json_array_get(jls, j);

        for (uint32_t i = 0; i < j; i++) {
            const struct rw_cfg_listener *a = &cfg->listeners[i];
            bool addr = load_same_addr(a, b);
            const char *key = addr ? "address" : "name";
            size_t mark;

            if (!addr && (!a->name || !b->name || strcmp(a->name, b->name) != 0))
                continue;
            if (!json_object_get(jl, key))
                key = "address";
            mark = rw__cfg_enter_key(c, "listeners");
            rw__cfg_enter_index(c, j);
            rw__cfg_enter_key(c, key);
            rw__cfg_err_got(c, json_object_get(jl, key),
                            "listener %s must be unique (same as listeners[%" PRIu32 "])",
                            addr ? "addresses" : "names", i);
            rw__cfg_leave(c, mark);
            break;
        }
    }
}

static void load_listener(struct rw__cfg_ctx *c, const json_t *jl, struct rw_cfg *cfg,
                          bool upstreams_known, struct rw_cfg_listener *l)
{
    const json_t *routes;

    if (!json_is_object(jl)) {
        rw__cfg_err_got(c, jl,
                        "must be an object like {\"address\": \"*:8080\", \"routes\": [...]}");
        return;
    }
    rw__cfg_check_keys(c, jl, listener_keys);
    if (rw__cfg_require(c, jl, "address", NULL))
        rw__cfg_get_addr(c, jl, "address", &l->address, &l->addr, &l->addrlen);
    rw__cfg_get_str(c, jl, "name", rw__cfg_check_name, &l->name);
    if (!l->name && json_is_string(json_object_get(jl, "address")))
        l->name = rw__cfg_xstrdup(json_string_value(json_object_get(jl, "address")));
    rw__cfg_load_tls(c, jl, &l->tls);
    l->defer_accept = true;
    rw__cfg_get_bool(c, jl, "defer_accept", &l->defer_accept);
    if (!rw__cfg_require(c, jl, "routes", NULL) ||
        !(routes = rw__cfg_get_arr(c, jl, "routes", true)))
        return;
    l->routes = rw__cfg_xcalloc(json_array_size(routes), sizeof(*l->routes));
    for (size_t i = 0; i < json_array_size(routes); i++) {
        size_t mark = rw__cfg_enter_key(c, "routes");

        rw__cfg_enter_index(c, i);
        rw__cfg_load_route(c, json_array_get(routes, i), cfg, upstreams_known, &l->tls,
                           &l->routes[i]);
        l->nroutes++;
        rw__cfg_leave(c, mark);
    }
}

static void load_listeners(struct rw__cfg_ctx *c, const json_t *root, struct rw_cfg *cfg,
                           bool upstreams_known)
{
    const json_t *jls;

    if (!json_object_get(root, "listeners")) {
        size_t mark = rw__cfg_enter_key(c, "listeners");

        rw__cfg_err(c, "required key is missing (at least one listener)");
        rw__cfg_leave(c, mark);
        return;
    }
    if (!(jls = rw__cfg_get_arr(c, root, "listeners", true)))
        return;
    cfg->listeners = rw__cfg_xcalloc(json_array_size(jls), sizeof(*cfg->listeners));
    for (size_t i = 0; i < json_array_size(jls); i++) {
        size_t mark = rw__cfg_enter_key(c, "listeners");

        rw__cfg_enter_index(c, i);
        load_listener(c, json_array_get(jls, i), cfg, upstreams_known, &cfg->listeners[i]);
        cfg->nlisteners++;
        rw__cfg_leave(c, mark);
    }
    load_listener_dups(c, jls, cfg);
}

int rw_cfg_load_buf(const char *json, size_t len, const char *name, struct rw_cfg **out,
                    struct rw_cfg_errs *errs)
{
    struct rw__cfg_ctx c = {.errs = errs, .file = name ? name : "<config>", .path = "$", .plen = 1};
    struct rw_cfg *cfg;
    json_error_t je;
    json_t *root;

    *out = NULL;
    root = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!root) {
        rw__cfg_err_raw(&c, "%s:%d:%d: JSON syntax error: %s", c.file, je.line, je.column, je.text);
        return -EINVAL;
    }
    cfg = rw__cfg_xcalloc(1, sizeof(*cfg));
    cfg->source = rw__cfg_xstrdup(c.file);
    rw__cfg_set_dir(&c, c.file);
    load_defaults(cfg);
    if (!json_is_object(root)) {
        rw__cfg_err_got(&c, root, "must be an object");
    } else {
        load_globals(&c, root, cfg);
        load_listeners(&c, root, cfg, load_upstreams(&c, root, cfg));
    }
    json_decref(root);
    free(c.dir);
    if (c.nerr) {
        rw__cfg_err_finish(&c);
        rw_cfg_free(cfg);
        return -EINVAL;
    }
    *out = cfg;
    return 0;
}

/* Read the whole file; -errno on failure. */
static int load_read(const char *path, char **buf, size_t *len)
{
    struct stat st;
    size_t n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int err = 0;

    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0) {
        err = -errno;
    } else if (S_ISDIR(st.st_mode)) {
        err = -EISDIR;
    } else if (st.st_size > (off_t)LOAD_FILE_MAX) {
        err = -EFBIG;
    } else {
        *buf = rw__cfg_xcalloc((size_t)st.st_size + 1, 1);
        while (n < (size_t)st.st_size) {
            ssize_t r = read(fd, *buf + n, (size_t)st.st_size - n);

            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                err = r < 0 ? -errno : 0;
                break;
            }
            n += (size_t)r;
        }
        *len = n;
    }
    close(fd);
    if (err) {
        free(*buf);
        *buf = NULL;
    }
    return err;
}

int rw_cfg_load_file(const char *path, struct rw_cfg **out, struct rw_cfg_errs *errs)
{
    struct rw__cfg_ctx c = {.errs = errs, .file = path, .path = "$", .plen = 1};
    char *buf = NULL, ebuf[128];
    size_t len = 0;
    int r;

    *out = NULL;
    r = load_read(path, &buf, &len);
    if (r < 0) {
        rw__cfg_err_raw(&c, "%s: cannot read: %s", path, strerror_r(-r, ebuf, sizeof(ebuf)));
        return r;
    }
    r = rw_cfg_load_buf(buf, len, path, out, errs);
    free(buf);
    return r;
}
