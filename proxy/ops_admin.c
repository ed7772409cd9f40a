/* SPDX-License-Identifier: MIT */
/* Admin commands of the proxy: stats, servers, server.set/add/remove, config, reload. */
#include "proxy/ops.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "health/health.h"

#define OPS_ERR(...) (snprintf(err, errcap, __VA_ARGS__), -EINVAL)

static const char *const state_names[3] = {"up", "down", "drain"};

/* The generation commands act on: the current one (commands hold the writer lock,
 * which reloads take too). */
static struct px_gen *G(const struct px_ops *o)
{
    return o->p->gen;
}

/* ---- lookups ---- */

static int find_upstream(struct px_ops *o, const json_t *req, char *err, size_t errcap)
{
    const char *name = json_string_value(json_object_get(req, "upstream"));
    if (!name)
        return OPS_ERR("\"upstream\" must be a string naming an upstream");
    for (uint32_t i = 0; i < G(o)->cfg->nupstreams; i++)
        if (!strcmp(G(o)->cfg->upstreams[i].name, name))
            return (int)i;
    return OPS_ERR("no upstream \"%s\"", name);
}

static const char *be_name(const struct rw_backend *b)
{
    return b->name ? b->name : "";
}

/* The server named `name` in upstream ui's current snapshot, or NULL. */
static struct rw_backend *find_server(struct px_ops *o, uint32_t ui, const char *name)
{
    const struct rw_backend_set *set = rw_pool_set(G(o)->ups[ui]->pool);
    for (uint32_t i = 0; set && i < set->n; i++)
        if (!strcmp(be_name(set->b[i]), name))
            return set->b[i];
    return NULL;
}

static int server_arg(struct px_ops *o, const json_t *req, uint32_t *ui, struct rw_backend **b,
                      char *err, size_t errcap)
{
    int u = find_upstream(o, req, err, errcap);
    if (u < 0)
        return u;
    const char *name = json_string_value(json_object_get(req, "server"));
    if (!name)
        return OPS_ERR("\"server\" must be a string naming a server");
    *ui = (uint32_t)u;
    *b = find_server(o, *ui, name);
    if (!*b)
        return OPS_ERR("no server \"%s\" in upstream \"%s\"", name, G(o)->cfg->upstreams[u].name);
    return 0;
}

static void addr_text(const struct rw_backend *b, char *buf, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (b->addr.ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&b->addr;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
        snprintf(buf, cap, "[%s]:%u", ip, ntohs(s6->sin6_port));
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)&b->addr;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
        snprintf(buf, cap, "%s:%u", ip, ntohs(s4->sin_port));
    }
}

static const char *state_of(const struct rw_backend *b)
{
    uint32_t s = atomic_load_explicit(&b->state, memory_order_relaxed);
    return s < 3 ? state_names[s] : "?";
}

/* ---- servers ---- */

static json_t *server_row(struct px_ops *o, uint32_t ui, const struct rw_backend *b)
{
    char addr[64];
    addr_text(b, addr, sizeof(addr));
    json_t *row = json_pack(
        "{s:s, s:s, s:s, s:s, s:i, s:i, s:I}", "upstream", G(o)->cfg->upstreams[ui].name, "server",
        be_name(b), "address", addr, "state", state_of(b), "weight", (json_int_t)b->weight,
        "effective_weight", (json_int_t)atomic_load_explicit(&b->eff_weight, memory_order_relaxed),
        "in_flight", (json_int_t)atomic_load_explicit(&b->inflight, memory_order_relaxed));
    struct rw_health_stats hs;
    if (row && rw_health_stats(o->p->health, G(o)->ups[ui]->id, b->id, &hs) == 0 && hs.tracked) {
        json_object_set_new(row, "healthy", json_boolean(hs.healthy));
        json_object_set_new(row, "ejected", json_boolean(hs.ejected));
        json_object_set_new(row, "checks", json_integer((json_int_t)hs.checks));
        json_object_set_new(row, "check_failures", json_integer((json_int_t)hs.failures));
    }
    return row;
}

static int cmd_servers(void *arg, const json_t *req, json_t **data, char *err, size_t errcap)
{
    struct px_ops *o = arg;
    int only = -1;
    if (json_object_get(req, "upstream") && (only = find_upstream(o, req, err, errcap)) < 0)
        return only;
    json_t *rows = json_array();
    for (uint32_t ui = 0; ui < G(o)->cfg->nupstreams; ui++) {
        if (only >= 0 && ui != (uint32_t)only)
            continue;
        const struct rw_backend_set *set = rw_pool_set(G(o)->ups[ui]->pool);
        for (uint32_t i = 0; set && i < set->n; i++)
            json_array_append_new(rows, server_row(o, ui, set->b[i]));
    }
    *data = rows;
    return 0;
}

static int cmd_server_set(void *arg, const json_t *req, json_t **data, char *err, size_t errcap)
{
    struct px_ops *o = arg;
    uint32_t ui;
    struct rw_backend *b;
    int rc = server_arg(o, req, &ui, &b, err, errcap);
    if (rc < 0)
        return rc;
    const json_t *st = json_object_get(req, "state"), *wt = json_object_get(req, "weight");
    if (!st && !wt)
        return OPS_ERR("give \"state\" (up, down or drain) and/or \"weight\" (0..1000)");
    int state = -1;
    for (int i = 0; st && i < 3; i++)
        if (json_is_string(st) && !strcmp(json_string_value(st), state_names[i]))
            state = i;
    if (st && state < 0)
        return OPS_ERR("\"state\" must be \"up\", \"down\" or \"drain\"");
    if (wt && (!json_is_integer(wt) || json_integer_value(wt) < 0 || json_integer_value(wt) > 1000))
        return OPS_ERR("\"weight\" must be an integer 0..1000");
    if (wt)
        rw_backend_set_weight(b, (uint32_t)json_integer_value(wt));
    if (state >= 0) {
        rw_backend_set_state(b, (enum rw_be_state)state);
        rw_health_poke(o->p->health); /* a state its checks contradict is written back */
    }
    *data = server_row(o, ui, b);
    return 0;
}

/* "127.0.0.1:9003" or "[::1]:9003" */
static int parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || (size_t)(colon - s) >= sizeof(host))
        return -EINVAL;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 1 || port > 65535 || colon[1] == '\0')
        return -EINVAL;
    memset(ss, 0, sizeof(*ss));
    if (s[0] == '[' && colon[-1] == ']') {
        memcpy(host, s + 1, (size_t)(colon - s) - 2);
        host[colon - s - 2] = '\0';
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        *len = sizeof(*a);
        return inet_pton(AF_INET6, host, &a->sin6_addr) == 1 ? 0 : -EINVAL;
    }
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    *len = sizeof(*a);
    return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -EINVAL;
}

static int add_def(const json_t *sv, struct rw_server_def *d, char *err, size_t errcap)
{
    const char *addr = json_string_value(json_object_get(sv, "address"));
    if (!json_is_object(sv) || !addr)
        return OPS_ERR("\"server\" must be an object with an \"address\" (\"127.0.0.1:9003\")");
    if (parse_addr(addr, &d->addr, &d->addrlen) < 0)
        return OPS_ERR("server address \"%s\" must be IPv4:port or [IPv6]:port", addr);
    const json_t *w = json_object_get(sv, "weight"), *mc = json_object_get(sv, "max_conns");
    d->weight = 1;
    if (w && (!json_is_integer(w) || json_integer_value(w) < 1 || json_integer_value(w) > 1000))
        return OPS_ERR("server weight must be an integer 1..1000");
    if (w)
        d->weight = (uint32_t)json_integer_value(w);
    if (mc &&
        (!json_is_integer(mc) || json_integer_value(mc) < 0 || json_integer_value(mc) > 1000000))
        return OPS_ERR("server max_conns must be an integer 0..1000000");
    if (mc)
        d->max_conns = (uint32_t)json_integer_value(mc);
    d->backup = json_is_true(json_object_get(sv, "backup"));
    const json_t *n = json_object_get(sv, "name");
    if (n && (!json_is_string(n) || !*json_string_value(n)))
        return OPS_ERR("server name must be a non-empty string");
    d->name = n ? json_string_value(n) : addr;
    return 0;
}

/* Publish upstream ui's snapshot with `add` appended or `drop` left out. */
static int republish(struct px_ops *o, uint32_t ui, struct rw_backend *add,
                     const struct rw_backend *drop)
{
    struct rw_pool *pool = G(o)->ups[ui]->pool;
    const struct rw_backend_set *set = rw_pool_set(pool);
    struct rw_backend **list = calloc(set->n + 1, sizeof(*list));
    if (!list)
        return -ENOMEM;
    uint32_t n = 0;
    for (uint32_t i = 0; i < set->n; i++)
        if (set->b[i] != drop)
            list[n++] = set->b[i];
    if (add)
        list[n++] = add;
    int rc = rw_pool_publish(pool, list, n);
    free(list);
    if (rc == 0)
        rw_health_poke(o->p->health); /* a new server's first check starts now */
    return rc;
}

static int cmd_server_add(void *arg, const json_t *req, json_t **data, char *err, size_t errcap)
{
    struct px_ops *o = arg;
    int u = find_upstream(o, req, err, errcap);
    if (u < 0)
        return u;
    struct rw_server_def d = {0};
    int rc = add_def(json_object_get(req, "server"), &d, err, errcap);
    if (rc < 0)
        return rc;
    if (find_server(o, (uint32_t)u, d.name))
        return OPS_ERR("upstream \"%s\" already has a server \"%s\"", G(o)->cfg->upstreams[u].name,
                       d.name);
    char **names = realloc(o->names, (o->nnames + 1) * sizeof(*names));
    if (names)
        o->names = names;
    char *name = names ? strdup(d.name) : NULL;
    if (!name)
        return -ENOMEM;
    o->names[o->nnames++] = name; /* the backend borrows it until the pool is freed */
    d.name = name;
    struct px_ups *pu = G(o)->ups[u];
    struct rw_backend *b = rw_pool_add_backend(pu->pool, &d, &rc);
    if (!b)
        return OPS_ERR("cannot add server \"%s\": %s", name, rw_strerror(rc));
    pu->changed = true; /* a reload rebuilds it from the file */
    if ((rc = px__ops_server_series(o, pu, b)) < 0)
        rw_log(RW_LOG_WARN, "server %s: no metrics series: %s", name, rw_strerror(rc));
    rc = republish(o, (uint32_t)u, b, NULL);
    if (rc < 0)
        return OPS_ERR("cannot publish upstream \"%s\": %s", G(o)->cfg->upstreams[u].name,
                       rw_strerror(rc));
    *data = server_row(o, (uint32_t)u, b);
    return 0;
}

static int cmd_server_remove(void *arg, const json_t *req, json_t **data, char *err, size_t errcap)
{
    struct px_ops *o = arg;
    uint32_t ui;
    struct rw_backend *b;
    int rc = server_arg(o, req, &ui, &b, err, errcap);
    if (rc < 0)
        return rc;
    /* the object stays in the pool: requests in flight on it finish */
    G(o)->ups[ui]->changed = true;
    rc = republish(o, ui, NULL, b);
    if (rc < 0)
        return OPS_ERR("cannot publish upstream \"%s\": %s", G(o)->cfg->upstreams[ui].name,
                       rw_strerror(rc));
    *data = json_pack("{s:s, s:s}", "upstream", G(o)->cfg->upstreams[ui].name, "removed", be_name(b));
    return 0;
}

/* ---- stats ---- */

static json_int_t sum_req(struct px_ops *o, uint32_t slot, uint32_t k)
{
    if (slot == UINT32_MAX)
        return 0;
    return (json_int_t)rw_metric_counter_read(o->metrics, o->f.req, slot * 5 + k);
}

static json_t *stats_row(struct px_ops *o, uint32_t slot, json_t *row)
{
    static const char *const cls[5] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
    json_int_t total = 0;
    for (uint32_t k = 0; k < 5; k++) {
        json_int_t v = sum_req(o, slot, k);
        total += v;
        json_object_set_new(row, cls[k], json_integer(v));
    }
    json_object_set_new(row, "requests", json_integer(total));
    return row;
}

static json_t *stats_listeners(struct px_ops *o, json_t *routes)
{
    json_t *arr = json_array();
    const struct px_gen_ops *go = G(o)->ops;
    for (uint32_t li = 0; go && li < G(o)->cfg->nlisteners; li++) {
        const struct rw_cfg_listener *l = &G(o)->cfg->listeners[li];
        uint32_t lm = go->lis[li];
        json_t *row = json_pack(
            "{s:s, s:s, s:I, s:I, s:I, s:I}", "listener", l->name, "address", l->address,
            "connections_active", (json_int_t)rw_metric_gauge_read(o->metrics, o->f.conn_act, lm),
            "connections_total", (json_int_t)rw_metric_counter_read(o->metrics, o->f.conn_tot, lm),
            "bytes_received", (json_int_t)rw_metric_counter_read(o->metrics, o->f.rx, lm),
            "bytes_sent", (json_int_t)rw_metric_counter_read(o->metrics, o->f.tx, lm));
        json_int_t all[5] = {0};
        for (uint32_t ri = 0; ri <= l->nroutes; ri++) {
            uint32_t slot = go->route[go->route_base[li] + ri];
            char name[160];
            if (ri < l->nroutes)
                snprintf(name, sizeof(name), "%s/%u", l->name, ri);
            else
                snprintf(name, sizeof(name), "%s/none", l->name);
            const struct rw_cfg_route *r = ri < l->nroutes ? &l->routes[ri] : NULL;
            const char *target = !r                              ? "(no route)"
                                 : r->action == RW_ROUTE_PROXY   ? r->upstream->name
                                 : r->action == RW_ROUTE_RESPOND ? "(respond)"
                                                                 : "(redirect)";
            json_array_append_new(
                routes,
                stats_row(o, slot, json_pack("{s:s, s:s}", "route", name, "target", target)));
            for (uint32_t k = 0; k < 5; k++)
                all[k] += sum_req(o, slot, k);
        }
        json_int_t total = 0;
        for (uint32_t k = 0; k < 5; k++)
            total += all[k];
        static const char *const cls[5] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
        json_object_set_new(row, "requests", json_integer(total));
        for (uint32_t k = 0; k < 5; k++)
            json_object_set_new(row, cls[k], json_integer(all[k]));
        json_array_append_new(arr, row);
    }
    return arr;
}

static void stats_servers(struct px_ops *o, json_t *ups, json_t *srvs)
{
    for (uint32_t ui = 0; ui < G(o)->cfg->nupstreams; ui++) {
        const struct rw_cfg_upstream *u = &G(o)->cfg->upstreams[ui];
        const struct px_ups *pu = G(o)->ups[ui];
        const struct rw_backend_set *set = rw_pool_set(pu->pool);
        const struct px_srv_series *ss = pu->series;
        json_int_t req = 0, errs = 0, infl = 0;
        for (uint32_t i = 0; set && i < set->n; i++) {
            const struct rw_backend *b = set->b[i];
            json_int_t r = 0, e = 0;
            if (ss && b->id < ss->n) {
                uint32_t s = ss->idx[b->id];
                r = (json_int_t)rw_metric_counter_read(o->metrics, o->f.up_req, s);
                for (uint32_t k = 0; k < PX_OPS_NERR; k++)
                    e += (json_int_t)rw_metric_counter_read(o->metrics, o->f.up_err,
                                                            s * PX_OPS_NERR + k);
            }
            json_int_t fl = (json_int_t)atomic_load_explicit(&b->inflight, memory_order_relaxed);
            req += r;
            errs += e;
            infl += fl;
            json_array_append_new(srvs,
                                  json_pack("{s:s, s:s, s:s, s:I, s:I, s:I}", "upstream", u->name,
                                            "server", be_name(b), "state", state_of(b), "requests",
                                            r, "errors", e, "in_flight", fl));
        }
        json_array_append_new(
            ups, json_pack("{s:s, s:i, s:I, s:I, s:I, s:I}", "upstream", u->name, "servers",
                           (int)(set ? set->n : 0), "requests", req, "errors", errs, "retries",
                           ss ? (json_int_t)rw_metric_counter_read(o->metrics, o->f.up_retry,
                                                                   pu->retry_series)
                              : 0,
                           "in_flight", infl));
    }
}

static int cmd_stats(void *arg, const json_t *req, json_t **data, char *err, size_t errcap)
{
    struct px_ops *o = arg;
    json_t *routes = json_array(), *ups = json_array(), *srvs = json_array();
    json_t *lis = stats_listeners(o, routes);
    stats_servers(o, ups, srvs);
    *data = json_pack("{s:o, s:o, s:o, s:o}", "listeners", lis, "routes", routes, "upstreams", ups,
                      "servers", srvs);
    return *data ? 0 : -ENOMEM;
}

/* ---- config, reload ---- */

static int cmd_config(void *arg, const json_t *req, json_t **data, char *err, size_t errcap)
{
    struct px_ops *o = arg;
    if (!o->config_json)
        return OPS_ERR("the running configuration was not loaded from a readable file");
    *data = json_deep_copy(o->config_json);
    return *data ? 0 : -ENOMEM;
}

static int cmd_reload(void *arg, const json_t *req, json_t **data, char *err, size_t errcap)
{
    struct px_ops *o = arg;
    const json_t *path = json_object_get(req, "path");
    if (path && (!json_is_string(path) || !*json_string_value(path)))
        return OPS_ERR("\"path\" must be a config file name");
    char msg[4096];
    uint64_t before = G(o)->id;
    int rc = px_reload_locked(o->p, path ? json_string_value(path) : NULL, msg, sizeof(msg));
    if (rc < 0) {
        snprintf(err, errcap, "%s", msg);
        return -EINVAL;
    }
    *data = json_pack("{s:I, s:I, s:s, s:s}", "generation", (json_int_t)G(o)->id, "previous",
                      (json_int_t)before, "file", G(o)->cfg->source ? G(o)->cfg->source : "",
                      "notes", msg);
    return *data ? 0 : -ENOMEM;
}

/* Every command runs with the writer lock: one generation throughout. */
static int cmd_locked(struct px_ops *o, rw_admin_cmd_fn *fn, const json_t *req, json_t **data,
                      char *err, size_t errcap)
{
    pthread_mutex_lock(&o->writer);
    int rc = fn(o, req, data, err, errcap);
    pthread_mutex_unlock(&o->writer);
    return rc;
}

#define LOCKED(fn)                                                                           \
    static int fn##_l(void *arg, const json_t *req, json_t **data, char *err, size_t errcap) \
    {                                                                                        \
        return cmd_locked(arg, fn, req, data, err, errcap);                                  \
    }
LOCKED(cmd_stats)
LOCKED(cmd_servers)
LOCKED(cmd_server_set)
LOCKED(cmd_server_add)
LOCKED(cmd_server_remove)
LOCKED(cmd_config)
LOCKED(cmd_reload)

int px__ops_admin_build(struct px_ops *o)
{
    const struct rw_cfg_admin *ac = &o->cfg->admin;
    if (!ac->socket && !ac->http)
        return 0;
    struct rw_admin_cfg cfg = {
        .socket_path = ac->socket,
        .socket_mode = (mode_t)ac->mode,
        .http = ac->http,
        .http_token = ac->token,
    };
    int rc = 0;
    o->admin = rw_admin_new(o->p->io, &cfg, &rc);
    if (!o->admin)
        return rc;
    static const struct {
        const char *name, *help;
        rw_admin_cmd_fn *fn;
    } cmds[] = {
        {"stats", "requests, bytes, connections and errors per listener, route, upstream, server",
         cmd_stats_l},
        {"servers", "servers with state, weights, in-flight requests and health ([upstream=])",
         cmd_servers_l},
        {"server.set", "upstream= server= [state=up|down|drain] [weight=0..1000]",
         cmd_server_set_l},
        {"server.add", "upstream= server.address= [server.name=] [server.weight=]",
         cmd_server_add_l},
        {"server.remove", "upstream= server=: requests in flight finish", cmd_server_remove_l},
        {"config", "the running configuration (JSON)", cmd_config_l},
        {"reload", "reload the configuration file ([path=] another file)", cmd_reload_l},
    };
    for (size_t i = 0; rc == 0 && i < sizeof(cmds) / sizeof(cmds[0]); i++)
        rc = rw_admin_register(o->admin, cmds[i].name, cmds[i].help, cmds[i].fn, o);
    if (rc == 0)
        rw_admin_set_metrics(o->admin, px__ops_metrics_text, o);
    return rc;
}
