/* SPDX-License-Identifier: MIT */
/* The metrics registry of the proxy: families, series from the config, collectors. */
#include "proxy/ops.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "health/health.h"

static const char *const class_names[5] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
static const char *const err_kinds[PX_OPS_NERR] = {"connect", "timeout", "reset", "5xx"};
static const char *const state_names[3] = {"up", "down", "drain"};

uint32_t px__ops_route_slot(const struct px_ops *o, const struct px_conn *c)
{
    uint32_t li = (uint32_t)(c->lis - o->cfg->listeners);
    uint32_t ri = c->route ? (uint32_t)(c->route - c->lis->routes) : c->lis->nroutes;
    return o->route_base[li] + ri;
}

/* ---- collectors (admin thread, inside rw_metrics_render) ---- */

typedef void srv_emit_fn(struct px_ops *o, struct rw_metric_sink *sink, uint32_t ui,
                         const struct rw_backend *b, const char *name);

/* Every server in the current snapshots (the admin thread publishes them). */
static void each_server(struct px_ops *o, struct rw_metric_sink *sink, srv_emit_fn *fn)
{
    for (uint32_t ui = 0; ui < o->cfg->nupstreams; ui++) {
        const struct rw_backend_set *set = rw_pool_set(o->p->ups[ui].pool);
        for (uint32_t i = 0; set && i < set->n; i++) {
            const struct rw_backend *b = set->b[i];
            fn(o, sink, ui, b, b->name ? b->name : "");
        }
    }
}

static void emit_up(struct px_ops *o, struct rw_metric_sink *sink, uint32_t ui,
                    const struct rw_backend *b, const char *name)
{
    const char *v[2] = {o->cfg->upstreams[ui].name, name};
    rw_metric_emit(sink, v, rw_backend_usable(b) ? 1 : 0);
}

static void emit_state(struct px_ops *o, struct rw_metric_sink *sink, uint32_t ui,
                       const struct rw_backend *b, const char *name)
{
    uint32_t st = atomic_load_explicit(&b->state, memory_order_relaxed);
    for (uint32_t s = 0; s < 3; s++) {
        const char *v[3] = {o->cfg->upstreams[ui].name, name, state_names[s]};
        rw_metric_emit(sink, v, st == s ? 1 : 0);
    }
}

static void emit_weight(struct px_ops *o, struct rw_metric_sink *sink, uint32_t ui,
                        const struct rw_backend *b, const char *name)
{
    const char *v[2] = {o->cfg->upstreams[ui].name, name};
    rw_metric_emit(sink, v, atomic_load_explicit(&b->eff_weight, memory_order_relaxed));
}

static void emit_inflight(struct px_ops *o, struct rw_metric_sink *sink, uint32_t ui,
                          const struct rw_backend *b, const char *name)
{
    const char *v[2] = {o->cfg->upstreams[ui].name, name};
    rw_metric_emit(sink, v, (double)atomic_load_explicit(&b->inflight, memory_order_relaxed));
}

static void emit_checks(struct px_ops *o, struct rw_metric_sink *sink, uint32_t ui,
                        const struct rw_backend *b, const char *name)
{
    struct rw_health_stats hs;
    if (rw_health_stats(o->p->health, ui, b->id, &hs) < 0 || !hs.tracked)
        return;
    const char *pass[3] = {o->cfg->upstreams[ui].name, name, "pass"};
    const char *fail[3] = {o->cfg->upstreams[ui].name, name, "fail"};
    rw_metric_emit(sink, pass, (double)(hs.checks - hs.failures));
    rw_metric_emit(sink, fail, (double)hs.failures);
}

static void col_up(void *arg, struct rw_metric_sink *s)
{
    each_server(arg, s, emit_up);
}

static void col_state(void *arg, struct rw_metric_sink *s)
{
    each_server(arg, s, emit_state);
}

static void col_weight(void *arg, struct rw_metric_sink *s)
{
    each_server(arg, s, emit_weight);
}

static void col_inflight(void *arg, struct rw_metric_sink *s)
{
    each_server(arg, s, emit_inflight);
}

static void col_checks(void *arg, struct rw_metric_sink *s)
{
    each_server(arg, s, emit_checks);
}

static void col_backend(void *arg, struct rw_metric_sink *s)
{
    struct px_ops *o = arg;
    const char *v[1] = {o->p->io->name};
    rw_metric_emit(s, v, 1);
}

static void col_build(void *arg, struct rw_metric_sink *s)
{
    const char *v[1] = {RW_VERSION};
    rw_metric_emit(s, v, 1);
}

static void col_generation(void *arg, struct rw_metric_sink *s)
{
    rw_metric_emit(s, NULL, 1); /* hot reload is not there yet: always generation 1 */
}

static void col_dropped(void *arg, struct rw_metric_sink *s)
{
    struct px_ops *o = arg;
    struct rw_accesslog_stats st = {0};
    if (o->alog)
        rw_accesslog_get_stats(o->alog, &st);
    rw_metric_emit(s, NULL, (double)(st.dropped_full + st.dropped_io));
}

/* ---- declaration ---- */

static const char *const l_lis[] = {"listener"};
static const char *const l_route[] = {"listener", "route"};
static const char *const l_route_code[] = {"listener", "route", "code"};
static const char *const l_srv[] = {"upstream", "server"};
static const char *const l_srv_kind[] = {"upstream", "server", "kind"};
static const char *const l_srv_state[] = {"upstream", "server", "state"};
static const char *const l_srv_result[] = {"upstream", "server", "result"};
static const char *const l_ups[] = {"upstream"};
static const char *const l_lis_result[] = {"listener", "result"};
static const char *const tls_results[] = {"full", "resumed", "failed"};
static const char *const l_backend[] = {"backend"};
static const char *const l_version[] = {"version"};

static struct rw_metric *fam(struct px_ops *o, enum rw_metric_type t, const char *name,
                             const char *help, const char *const *labels, uint32_t n, int *err)
{
    if (*err < 0)
        return NULL;
    return rw_metrics_add(o->metrics, t, name, help, labels, n, err);
}

static int series_routes(struct px_ops *o)
{
    int rc = 0;
    for (uint32_t li = 0; rc >= 0 && li < o->cfg->nlisteners; li++) {
        const struct rw_cfg_listener *l = &o->cfg->listeners[li];
        for (uint32_t ri = 0; rc >= 0 && ri <= l->nroutes; ri++) {
            char route[160];
            if (ri < l->nroutes)
                snprintf(route, sizeof(route), "%s/%u", l->name, ri);
            else
                snprintf(route, sizeof(route), "%s/none", l->name);
            for (uint32_t k = 0; rc >= 0 && k < 5; k++)
                rc = rw_metric_series(o->f.req,
                                      (const char *const[]){l->name, route, class_names[k]});
            if (rc >= 0)
                rc = rw_metric_series(o->f.dur, (const char *const[]){l->name, route});
        }
        const char *v[1] = {l->name};
        if (rc >= 0)
            rc = rw_metric_series(o->f.rx, v);
        if (rc >= 0)
            rc = rw_metric_series(o->f.tx, v);
        if (rc >= 0)
            rc = rw_metric_series(o->f.conn_act, v);
        if (rc >= 0)
            rc = rw_metric_series(o->f.conn_tot, v);
        for (uint32_t k = 0; rc >= 0 && k < 3; k++)
            rc = rw_metric_series(o->f.tls_hs, (const char *const[]){l->name, tls_results[k]});
    }
    return rc < 0 ? rc : 0;
}

static int series_servers(struct px_ops *o)
{
    int rc = 0;
    for (uint32_t ui = 0; rc >= 0 && ui < o->cfg->nupstreams; ui++) {
        const struct rw_cfg_upstream *u = &o->cfg->upstreams[ui];
        rc = rw_metric_series(o->f.up_retry, (const char *const[]){u->name});
        for (uint32_t si = 0; rc >= 0 && si < u->nservers; si++) {
            const char *v[2] = {u->name, u->servers[si].name};
            rc = rw_metric_series(o->f.up_req, v);
            if (rc >= 0)
                rc = rw_metric_series(o->f.up_resp, v);
            for (uint32_t k = 0; rc >= 0 && k < PX_OPS_NERR; k++)
                rc = rw_metric_series(
                    o->f.up_err, (const char *const[]){u->name, u->servers[si].name, err_kinds[k]});
        }
    }
    return rc < 0 ? rc : 0;
}

static int layout(struct px_ops *o)
{
    const struct rw_cfg *cfg = o->cfg;
    o->route_base = calloc(cfg->nlisteners ? cfg->nlisteners : 1, sizeof(uint32_t));
    o->srv_base = calloc(cfg->nupstreams ? cfg->nupstreams : 1, sizeof(uint32_t));
    if (!o->route_base || !o->srv_base)
        return -ENOMEM;
    for (uint32_t li = 0; li < cfg->nlisteners; li++) {
        o->route_base[li] = o->nroute_slots;
        o->nroute_slots += cfg->listeners[li].nroutes + 1;
    }
    for (uint32_t ui = 0; ui < cfg->nupstreams; ui++) {
        o->srv_base[ui] = o->nsrv_series;
        o->nsrv_series += cfg->upstreams[ui].nservers;
    }
    return 0;
}

static int collectors(struct px_ops *o)
{
    static const struct {
        enum rw_metric_type t;
        const char *name, *help;
        const char *const *labels;
        uint32_t n;
        rw_metric_collect_fn *fn;
    } cols[] = {
        {RW_METRIC_GAUGE, "ringwall_server_up", "1 when the server takes new requests", l_srv, 2,
         col_up},
        {RW_METRIC_GAUGE, "ringwall_server_state", "server state (1 for the current one)",
         l_srv_state, 3, col_state},
        {RW_METRIC_GAUGE, "ringwall_server_weight", "effective weight of the server", l_srv, 2,
         col_weight},
        {RW_METRIC_GAUGE, "ringwall_server_in_flight", "requests in flight on the server", l_srv, 2,
         col_inflight},
        {RW_METRIC_COUNTER, "ringwall_health_checks_total", "active health checks by result",
         l_srv_result, 3, col_checks},
        {RW_METRIC_GAUGE, "ringwall_io_backend", "the I/O backend in use", l_backend, 1,
         col_backend},
        {RW_METRIC_GAUGE, "ringwall_build_info", "ringwall version", l_version, 1, col_build},
        {RW_METRIC_GAUGE, "ringwall_config_generation", "configuration generation serving", NULL, 0,
         col_generation},
        {RW_METRIC_COUNTER, "ringwall_access_log_dropped_total",
         "access log lines dropped (full ring or write error)", NULL, 0, col_dropped},
    };
    for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++) {
        int rc = rw_metrics_collector(o->metrics, cols[i].t, cols[i].name, cols[i].help,
                                      cols[i].labels, cols[i].n, cols[i].fn, o);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int px__ops_metrics_build(struct px_ops *o)
{
    int err = layout(o);
    if (err < 0)
        return err;
    o->metrics = rw_metrics_new(o->p->nworkers, &err);
    if (!o->metrics)
        return err;
    struct px_ops_fam *f = &o->f;
    f->req = fam(o, RW_METRIC_COUNTER, "ringwall_requests_total",
                 "requests by listener, route and status class", l_route_code, 3, &err);
    f->dur = fam(o, RW_METRIC_HISTOGRAM, "ringwall_request_duration_seconds",
                 "time from request head to response end", l_route, 2, &err);
    f->rx = fam(o, RW_METRIC_COUNTER, "ringwall_bytes_received_total",
                "bytes received from clients", l_lis, 1, &err);
    f->tx = fam(o, RW_METRIC_COUNTER, "ringwall_bytes_sent_total", "bytes sent to clients", l_lis,
                1, &err);
    f->conn_act = fam(o, RW_METRIC_GAUGE, "ringwall_connections_active", "open client connections",
                      l_lis, 1, &err);
    f->conn_tot = fam(o, RW_METRIC_COUNTER, "ringwall_connections_total",
                      "client connections accepted", l_lis, 1, &err);
    f->up_req = fam(o, RW_METRIC_COUNTER, "ringwall_upstream_requests_total",
                    "attempts sent to each server", l_srv, 2, &err);
    f->up_err = fam(o, RW_METRIC_COUNTER, "ringwall_upstream_errors_total",
                    "failed attempts by kind", l_srv_kind, 3, &err);
    f->up_retry = fam(o, RW_METRIC_COUNTER, "ringwall_upstream_retries_total",
                      "requests moved to another server", l_ups, 1, &err);
    f->up_resp = fam(o, RW_METRIC_HISTOGRAM, "ringwall_upstream_response_seconds",
                     "time from request sent to response head", l_srv, 2, &err);
    f->tls_hs = fam(o, RW_METRIC_COUNTER, "ringwall_tls_handshakes_total",
                    "TLS handshakes on HTTPS listeners by result (full, resumed, failed)",
                    l_lis_result, 2, &err);
    if (err < 0)
        return err;
    if ((err = series_routes(o)) < 0 || (err = series_servers(o)) < 0 || (err = collectors(o)) < 0)
        return err;
    return rw_metrics_seal(o->metrics);
}

int px__ops_metrics_text(void *arg, char **out, size_t *len)
{
    struct px_ops *o = arg;
    return rw_metrics_render(o->metrics, out, len);
}
