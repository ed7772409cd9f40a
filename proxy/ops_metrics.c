/* SPDX-License-Identifier: MIT */
/* The metrics registry of the proxy: families, series from the config, collectors. */
#include "proxy/ops.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rcu.h"
#include "health/health.h"

static const char *const class_names[5] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
static const char *const err_kinds[PX_OPS_NERR] = {"connect", "timeout", "reset", "5xx"};
static const char *const state_names[3] = {"up", "down", "drain"};

uint32_t px__ops_route_slot(const struct px_conn *c)
{
    const struct px_xchg *x = c->x;
    const struct px_gen_ops *go = x && x->gen ? x->gen->ops : NULL;
    if (!go || !x->lis)
        return UINT32_MAX;
    uint32_t li = (uint32_t)(x->lis - x->gen->cfg->listeners);
    uint32_t ri = x->route ? (uint32_t)(x->route - x->lis->routes) : x->lis->nroutes;
    return go->route[go->route_base[li] + ri];
}

/* ---- collectors (admin thread, inside rw_metrics_render) ---- */

typedef void srv_emit_fn(struct px_ops *o, struct rw_metric_sink *sink, const struct px_ups *pu,
                         const struct rw_backend *b, const char *name);

/* Every server in the current generation's snapshots (render holds the writer lock). */
static void each_server(struct px_ops *o, struct rw_metric_sink *sink, srv_emit_fn *fn)
{
    const struct px_gen *g = o->p->gen;
    for (uint32_t ui = 0; g && ui < g->cfg->nupstreams; ui++) {
        const struct px_ups *pu = g->ups[ui];
        const struct rw_backend_set *set = rw_pool_set(pu->pool);
        for (uint32_t i = 0; set && i < set->n; i++) {
            const struct rw_backend *b = set->b[i];
            fn(o, sink, pu, b, b->name ? b->name : "");
        }
    }
}

static void emit_up(struct px_ops *o, struct rw_metric_sink *sink, const struct px_ups *pu,
                    const struct rw_backend *b, const char *name)
{
    const char *v[2] = {pu->cfg->name, name};
    rw_metric_emit(sink, v, rw_backend_usable(b) ? 1 : 0);
}

static void emit_state(struct px_ops *o, struct rw_metric_sink *sink, const struct px_ups *pu,
                       const struct rw_backend *b, const char *name)
{
    uint32_t st = atomic_load_explicit(&b->state, memory_order_relaxed);
    for (uint32_t s = 0; s < 3; s++) {
        const char *v[3] = {pu->cfg->name, name, state_names[s]};
        rw_metric_emit(sink, v, st == s ? 1 : 0);
    }
}

static void emit_weight(struct px_ops *o, struct rw_metric_sink *sink, const struct px_ups *pu,
                        const struct rw_backend *b, const char *name)
{
    const char *v[2] = {pu->cfg->name, name};
    rw_metric_emit(sink, v, atomic_load_explicit(&b->eff_weight, memory_order_relaxed));
}

static void emit_inflight(struct px_ops *o, struct rw_metric_sink *sink, const struct px_ups *pu,
                          const struct rw_backend *b, const char *name)
{
    const char *v[2] = {pu->cfg->name, name};
    rw_metric_emit(sink, v, (double)atomic_load_explicit(&b->inflight, memory_order_relaxed));
}

static void emit_checks(struct px_ops *o, struct rw_metric_sink *sink, const struct px_ups *pu,
                        const struct rw_backend *b, const char *name)
{
    struct rw_health_stats hs;
    if (rw_health_stats(o->p->health, pu->id, b->id, &hs) < 0 || !hs.tracked)
        return;
    const char *pass[3] = {pu->cfg->name, name, "pass"};
    const char *fail[3] = {pu->cfg->name, name, "fail"};
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
    struct px_ops *o = arg;
    rw_metric_emit(s, NULL, (double)atomic_load(&o->p->gen_id));
}

/* Per worker: loop turns and the time spent working (not waiting for events). */
static void col_worker(struct px_ops *o, struct rw_metric_sink *s, bool busy)
{
    for (uint32_t i = 0; i < o->p->nworkers; i++) {
        const struct px_worker *w = &o->p->workers[i];
        char id[16];
        snprintf(id, sizeof(id), "%u", i);
        const char *v[1] = {id};
        if (busy)
            rw_metric_emit(
                s, v, (double)atomic_load_explicit(&w->st_busy_ns, memory_order_relaxed) / 1e9);
        else
            rw_metric_emit(s, v, (double)atomic_load_explicit(&w->st_iters, memory_order_relaxed));
    }
}

static void col_loop_iters(void *arg, struct rw_metric_sink *s)
{
    col_worker(arg, s, false);
}

static void col_loop_busy(void *arg, struct rw_metric_sink *s)
{
    col_worker(arg, s, true);
}

static void col_reloads(void *arg, struct rw_metric_sink *s)
{
    struct px_ops *o = arg;
    const char *ok[1] = {"success"}, *bad[1] = {"failure"};
    rw_metric_emit(s, ok, (double)atomic_load(&o->p->reloads_ok));
    rw_metric_emit(s, bad, (double)atomic_load(&o->p->reloads_failed));
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
static const char *const tls_versions[] = {"TLSv1.2", "TLSv1.3"};
static const char *const l_lis_version[] = {"listener", "version"};
static const char *const l_worker[] = {"worker"};
static const char *const l_backend[] = {"backend"};
static const char *const l_version[] = {"version"};
static const char *const l_result[] = {"result"};

static struct rw_metric *fam(struct px_ops *o, enum rw_metric_type t, const char *name,
                             const char *help, const char *const *labels, uint32_t n, int *err)
{
    if (*err < 0)
        return NULL;
    return rw_metrics_add(o->metrics, t, name, help, labels, n, err);
}

/* Find or add one tuple: its stable index in the family. Families declared together
 * always grow together, so the index of the first gives the others (the callers
 * check it). */
static int series_idx(struct rw_metric *m, const char *const *v, uint32_t *idx)
{
    int rc = rw_metric_series(m, v);
    if (rc < 0)
        return rc;
    *idx = (uint32_t)rc;
    return 0;
}

/* The tuple's index must be `want` (a family that grows with another). */
static int series_at(struct rw_metric *m, const char *const *v, uint32_t want)
{
    uint32_t i;
    int rc = series_idx(m, v, &i);
    return rc < 0 ? rc : i == want ? 0 : -EPROTO;
}

static int lis_series(struct px_ops *o, const struct rw_cfg_listener *l, uint32_t *idx)
{
    const char *v[1] = {l->name};
    int rc = series_idx(o->f.rx, v, idx);
    struct rw_metric *same[] = {o->f.tx, o->f.conn_act, o->f.conn_tot};
    for (size_t i = 0; rc == 0 && i < sizeof(same) / sizeof(same[0]); i++)
        rc = series_at(same[i], v, *idx);
    for (uint32_t k = 0; rc == 0 && k < 3; k++)
        rc = series_at(o->f.tls_hs, (const char *const[]){l->name, tls_results[k]}, *idx * 3 + k);
    for (uint32_t k = 0; rc == 0 && k < 2; k++)
        rc = series_at(o->f.tls_ver, (const char *const[]){l->name, tls_versions[k]}, *idx * 2 + k);
    return rc;
}

static int route_series(struct px_ops *o, const struct rw_cfg_listener *l, uint32_t ri,
                        uint32_t *idx)
{
    char route[160];
    if (ri < l->nroutes)
        snprintf(route, sizeof(route), "%s/%u", l->name, ri);
    else
        snprintf(route, sizeof(route), "%s/none", l->name);
    int rc = series_idx(o->f.dur, (const char *const[]){l->name, route}, idx);
    for (uint32_t k = 0; rc == 0 && k < 5; k++)
        rc = series_at(o->f.req, (const char *const[]){l->name, route, class_names[k]},
                       *idx * 5 + k);
    return rc;
}

void px_ops_gen_free(struct px_gen *g)
{
    struct px_gen_ops *go = g->ops;
    if (!go)
        return;
    free(go->lis);
    free(go->route_base);
    free(go->route);
    free(go);
    g->ops = NULL;
}

int px__ops_gen_series(struct px_ops *o, struct px_gen *g)
{
    const struct rw_cfg *cfg = g->cfg;
    struct px_gen_ops *go = calloc(1, sizeof(*go));
    if (!go)
        return -ENOMEM;
    g->ops = go;
    uint32_t nroute = 0;
    for (uint32_t li = 0; li < cfg->nlisteners; li++)
        nroute += cfg->listeners[li].nroutes + 1;
    go->nlis = cfg->nlisteners;
    go->nroute = nroute;
    go->lis = calloc(cfg->nlisteners + 1, sizeof(uint32_t));
    go->route_base = calloc(cfg->nlisteners + 1, sizeof(uint32_t));
    go->route = calloc(nroute + 1, sizeof(uint32_t));
    if (!go->lis || !go->route_base || !go->route)
        return -ENOMEM;
    int rc = 0;
    for (uint32_t li = 0, r = 0; rc == 0 && li < cfg->nlisteners; li++) {
        const struct rw_cfg_listener *l = &cfg->listeners[li];
        rc = lis_series(o, l, &go->lis[li]);
        go->route_base[li] = r;
        for (uint32_t ri = 0; rc == 0 && ri <= l->nroutes; ri++)
            rc = route_series(o, l, ri, &go->route[r++]);
    }
    return rc;
}

int px_ops_gen_series(struct rw_proxy *p, struct px_gen *g)
{
    struct px_ops *o = px__ops_of(p);
    return o ? px__ops_gen_series(o, g) : 0;
}

static int server_series(struct px_ops *o, const char *ups, const char *srv, uint32_t *idx)
{
    const char *v[2] = {ups, srv};
    int rc = series_idx(o->f.up_req, v, idx);
    if (rc == 0)
        rc = series_at(o->f.up_resp, v, *idx);
    for (uint32_t k = 0; rc == 0 && k < PX_OPS_NERR; k++)
        rc = series_at(o->f.up_err, (const char *const[]){ups, srv, err_kinds[k]},
                       *idx * PX_OPS_NERR + k);
    return rc;
}

int px__ops_ups_series(struct px_ops *o, struct px_ups *pu)
{
    const struct rw_backend_set *set = rw_pool_set(pu->pool);
    uint32_t n = pu->pool->nbackends;
    struct px_srv_series *ss = calloc(1, sizeof(*ss) + (n + 1) * sizeof(uint32_t));
    if (!ss)
        return -ENOMEM;
    ss->n = n;
    int rc = rw_metric_series(o->f.up_retry, (const char *const[]){pu->cfg->name});
    if (rc >= 0)
        pu->retry_series = (uint32_t)rc;
    for (uint32_t i = 0; rc >= 0 && i < set->n; i++)
        if (set->b[i]->id < n)
            rc = server_series(o, pu->cfg->name, set->b[i]->name ? set->b[i]->name : "",
                               &ss->idx[set->b[i]->id]);
    if (rc < 0) {
        free(ss);
        return rc;
    }
    free(pu->series);
    pu->series = ss;
    return 0;
}

int px_ops_ups_series(struct rw_proxy *p, struct px_ups *pu)
{
    struct px_ops *o = px__ops_of(p);
    return o ? px__ops_ups_series(o, pu) : 0;
}

int px__ops_server_series(struct px_ops *o, struct px_ups *pu, const struct rw_backend *b)
{
    const struct px_srv_series *old = pu->series;
    uint32_t n = b->id + 1 > (old ? old->n : 0) ? b->id + 1 : old->n;
    struct px_srv_series *ss = calloc(1, sizeof(*ss) + (n + 1) * sizeof(uint32_t));
    if (!ss)
        return -ENOMEM;
    ss->n = n;
    if (old)
        memcpy(ss->idx, old->idx, old->n * sizeof(uint32_t));
    int rc = server_series(o, pu->cfg->name, b->name ? b->name : "", &ss->idx[b->id]);
    if (rc < 0) {
        free(ss);
        return rc;
    }
    rw_rcu_store((void **)&pu->series, ss);
    rw_rcu_synchronize(); /* workers read the old array without a reference */
    free((void *)old);
    return 0;
}

static bool has_idx(const uint32_t *a, uint32_t n, uint32_t v)
{
    for (uint32_t i = 0; i < n; i++)
        if (a[i] == v)
            return true;
    return false;
}

void px__ops_hide_gone(struct px_ops *o, const struct px_gen *old, const struct px_gen *g)
{
    const struct px_gen_ops *a = old ? old->ops : NULL, *b = g->ops;
    if (!a || !b)
        return;
    for (uint32_t i = 0; i < a->nroute; i++) {
        if (has_idx(b->route, b->nroute, a->route[i]))
            continue;
        rw_metric_series_hide(o->f.dur, a->route[i], true);
        for (uint32_t k = 0; k < 5; k++)
            rw_metric_series_hide(o->f.req, a->route[i] * 5 + k, true);
    }
    for (uint32_t i = 0; i < a->nlis; i++) {
        if (has_idx(b->lis, b->nlis, a->lis[i]))
            continue;
        struct rw_metric *fams[] = {o->f.rx, o->f.tx, o->f.conn_act, o->f.conn_tot};
        for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++)
            rw_metric_series_hide(fams[f], a->lis[i], true);
        for (uint32_t k = 0; k < 3; k++)
            rw_metric_series_hide(o->f.tls_hs, a->lis[i] * 3 + k, true);
        for (uint32_t k = 0; k < 2; k++)
            rw_metric_series_hide(o->f.tls_ver, a->lis[i] * 2 + k, true);
    }
    /* servers of upstream runtimes that go, unless a runtime of g has them */
    for (uint32_t i = 0; i < old->cfg->nupstreams; i++) {
        const struct px_ups *pu = old->ups[i];
        if (!atomic_load(&pu->retired) || !pu->series)
            continue;
        for (uint32_t s = 0; s < pu->series->n; s++) {
            uint32_t v = pu->series->idx[s];
            bool kept = false;
            for (uint32_t j = 0; j < g->cfg->nupstreams && !kept; j++)
                kept =
                    g->ups[j]->series && has_idx(g->ups[j]->series->idx, g->ups[j]->series->n, v);
            if (kept)
                continue;
            rw_metric_series_hide(o->f.up_req, v, true);
            rw_metric_series_hide(o->f.up_resp, v, true);
            for (uint32_t k = 0; k < PX_OPS_NERR; k++)
                rw_metric_series_hide(o->f.up_err, v * PX_OPS_NERR + k, true);
        }
    }
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
        {RW_METRIC_COUNTER, "ringwall_config_reloads_total", "configuration reloads by result",
         l_result, 1, col_reloads},
        {RW_METRIC_COUNTER, "ringwall_worker_loop_iterations_total", "event loop turns per worker",
         l_worker, 1, col_loop_iters},
        {RW_METRIC_COUNTER, "ringwall_worker_busy_seconds_total",
         "time each worker spent working rather than waiting for events", l_worker, 1,
         col_loop_busy},
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
    int err = 0;
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
    f->tls_ver = fam(o, RW_METRIC_COUNTER, "ringwall_tls_versions_total",
                     "completed TLS handshakes on HTTPS listeners by protocol version",
                     l_lis_version, 2, &err);
    if (err < 0)
        return err;
    if ((err = collectors(o)) < 0)
        return err;
    /* series of the running generation (later ones add theirs when they are built) */
    const struct px_gen *g = o->p->gen;
    if ((err = px__ops_gen_series(o, (struct px_gen *)g)) < 0)
        return err;
    for (uint32_t i = 0; i < g->cfg->nupstreams; i++)
        if ((err = px__ops_ups_series(o, g->ups[i])) < 0)
            return err;
    return rw_metrics_seal(o->metrics);
}

int px__ops_metrics_text(void *arg, char **out, size_t *len)
{
    struct px_ops *o = arg;
    pthread_mutex_lock(&o->writer); /* collectors walk the current generation */
    int rc = rw_metrics_render(o->metrics, out, len);
    pthread_mutex_unlock(&o->writer);
    return rc;
}
