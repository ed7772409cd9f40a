/* SPDX-License-Identifier: MIT */
/* Configuration generations: build one from a config, publish it, free the old one
 * when its last request ends; upstream runtimes shared between generations. */
#include "proxy/proxy.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "balancers/sticky.h"
#include "core/log.h"
#include "core/rcu.h"
#include "health/health.h"
#include "proxy/ops.h"
#include "proxy/px.h"
#include "tls/tls.h"

#define PX_LISTEN_BACKLOG 4096

#define GEN_ERR(...) ((void)snprintf(err, errcap, __VA_ARGS__), -EINVAL)

/* ---- configs ---- */

struct px_cfgref *px_cfgref_new(struct rw_cfg *cfg, bool owned)
{
    struct px_cfgref *cr = calloc(1, sizeof(*cr));
    if (!cr)
        return NULL;
    atomic_init(&cr->refs, 1);
    cr->owned = owned;
    cr->cfg = cfg;
    return cr;
}

static struct px_cfgref *cfgref_ref(struct px_cfgref *cr)
{
    atomic_fetch_add(&cr->refs, 1);
    return cr;
}

void px_cfgref_unref(struct px_cfgref *cr)
{
    if (!cr || atomic_fetch_sub(&cr->refs, 1) != 1)
        return;
    if (cr->owned)
        rw_cfg_free(cr->cfg);
    free(cr);
}

/* ---- upstream runtimes ---- */

static int ups_id_get(struct rw_proxy *p)
{
    for (uint32_t i = 0; i < 4096; i++)
        if (!(p->ups_ids[i / 64] & (1ull << (i % 64)))) {
            p->ups_ids[i / 64] |= 1ull << (i % 64);
            return (int)i;
        }
    return -ENOSPC;
}

static void ups_id_put(struct rw_proxy *p, uint32_t id)
{
    p->ups_ids[id / 64] &= ~(1ull << (id % 64));
}

static void table_unref(struct px_table_ref *t)
{
    if (!t || atomic_fetch_sub(&t->refs, 1) != 1)
        return;
    rw_sticky_table_free(t->t);
    free(t);
}

/* Free an upstream runtime nobody references. Main thread (writer lock). */
static void ups_free(struct rw_proxy *p, struct px_ups *pu)
{
    if (pu->health)
        rw_health_remove_upstream(p->health, pu->id); /* the health thread lets go of the pool */
    for (uint32_t i = 0; pu->w && i < p->nworkers; i++) {
        struct px_upstream_w *uw = &pu->w[i];
        for (uint32_t j = 0; uw->sessions && j < uw->nslots; j++)
            rw_tls_session_free(uw->sessions[j]);
        free(uw->sessions);
        free(uw->idle);
        free(uw->nidle);
    }
    free(pu->w);
    rw_pool_free(pu->pool);
    if (pu->tls)
        rw_tls_client_ctx_unref(pu->tls);
    if (!pu->key_borrowed)
        rw_sticky_key_free(pu->key);
    table_unref(pu->table);
    free(pu->series);
    if (pu->id != UINT32_MAX)
        ups_id_put(p, pu->id);
    px_cfgref_unref(pu->cref);
    free(pu);
}

/* Drop a reference; the last one hands the runtime to the main thread. Any thread. */
void px_ups_unref(struct rw_proxy *p, struct px_ups *pu)
{
    if (!pu || atomic_fetch_sub(&pu->refs, 1) != 1)
        return;
    struct px_ups *head = atomic_load(&p->retired_ups);
    do
        pu->next = head;
    while (!atomic_compare_exchange_weak(&p->retired_ups, &head, pu));
}

/* Per-worker idle lists sized for n servers. */
static int ups_worker_slots(struct px_ups *pu, uint32_t nworkers, uint32_t n)
{
    pu->w = calloc(nworkers, sizeof(*pu->w));
    if (!pu->w)
        return -ENOMEM;
    for (uint32_t i = 0; i < nworkers; i++) {
        struct px_upstream_w *uw = &pu->w[i];
        uw->pu = pu;
        uw->nslots = n;
        uw->idle = calloc(n ? n : 1, sizeof(*uw->idle));
        uw->nidle = calloc(n ? n : 1, sizeof(*uw->nidle));
        if (pu->tls)
            uw->sessions = calloc(n ? n : 1, sizeof(*uw->sessions));
        if (!uw->idle || !uw->nidle || (pu->tls && !uw->sessions))
            return -ENOMEM;
    }
    return 0;
}

static int ups_sticky(struct rw_proxy *p, struct px_ups *pu, const struct px_ups *old)
{
    const struct rw_cfg_upstream *u = pu->cfg;
    int e = 0;
    if (u->sticky.mode == RW_STICKY_COOKIE && u->sticky.key_file)
        return rw_sticky_key_new(u->sticky.key_file, &pu->key);
    if (u->sticky.mode == RW_STICKY_COOKIE) {
        /* one random key per process, so that tokens outlive a configuration reload */
        if (!p->sticky_key && (e = rw_sticky_key_new(NULL, &p->sticky_key)) < 0)
            return e;
        pu->key = p->sticky_key;
        pu->key_borrowed = true;
        return 0;
    }
    if (u->sticky.mode != RW_STICKY_LEARN && u->sticky.mode != RW_STICKY_IP)
        return 0;
    if (old && old->table && old->cfg->sticky.mode == u->sticky.mode &&
        old->cfg->sticky.table_size == u->sticky.table_size) {
        /* the sessions carry over to the new runtime */
        pu->table = old->table;
        atomic_fetch_add(&pu->table->refs, 1);
        return 0;
    }
    pu->table = calloc(1, sizeof(*pu->table));
    if (!pu->table)
        return -ENOMEM;
    atomic_init(&pu->table->refs, 1);
    pu->table->t = rw_sticky_table_new(u->sticky.table_size, &e);
    return pu->table->t ? 0 : e;
}

/* Active checks and outlier detection, from the config; a server that was in `old`
 * keeps its health state. */
static int ups_health(struct rw_proxy *p, struct px_ups *pu, const struct px_ups *old)
{
    const struct rw_cfg_upstream *u = pu->cfg;
    const struct rw_cfg_health *hc = &u->health;
    const struct rw_cfg_passive *pc = &u->passive;
    struct rw_hc_params a = {
        .type = hc->type == RW_CFG_HC_TCP ? RW_HC_TCP : RW_HC_HTTP,
        .path = hc->path,
        .method = hc->method,
        .host = hc->host,
        .expect_body = hc->expect_body,
        .interval_ms = hc->interval_ms,
        .timeout_ms = hc->timeout_ms,
        .rise = hc->rise,
        .fall = hc->fall,
        .jitter_pct = hc->jitter_pct,
        .port = hc->port,
        .tls = pu->tls,
        .tls_sni = u->tls.sni,
    };
    memcpy(a.expect_status, hc->expect_status, sizeof(a.expect_status));
    struct rw_passive_params ps = {
        .consecutive_errors = pc->consecutive_errors,
        .window_ms = pc->window_ms,
        .eject_ms = pc->eject_ms,
        .max_eject_ms = pc->max_eject_ms,
        .max_eject_percent = pc->max_eject_percent,
    };
    memcpy(ps.error_status, pc->error_status, sizeof(ps.error_status));
    int rc = rw_health_add_upstream_ex(p->health, pu->id, u->name, pu->pool,
                                       hc->enabled ? &a : NULL, pc->enabled ? &ps : NULL,
                                       old && old->health ? (int32_t)old->id : -1);
    pu->health = rc == 0;
    return rc;
}

/* The runtime of upstream u (in cr's config); servers also in `old` (the runtime
 * of the same name in the running generation, or NULL) keep their state. */
static struct px_ups *ups_new(struct rw_proxy *p, struct px_cfgref *cr,
                              const struct rw_cfg_upstream *u, const struct px_ups *old,
                              char *err, size_t errcap)
{
    struct px_ups *pu = calloc(1, sizeof(*pu));
    struct rw_server_def *defs = calloc(u->nservers ? u->nservers : 1, sizeof(*defs));
    int e = -ENOMEM;
    if (!pu || !defs)
        goto fail;
    atomic_init(&pu->refs, 1);
    pu->id = UINT32_MAX;
    pu->cref = cfgref_ref(cr);
    pu->cfg = u;
    if ((e = ups_id_get(p)) < 0) {
        snprintf(err, errcap, "upstream %s: more than 4096 upstream runtimes alive", u->name);
        goto fail;
    }
    pu->id = (uint32_t)e;
    for (uint32_t j = 0; j < u->nservers; j++) {
        const struct rw_cfg_server *sv = &u->servers[j];
        defs[j] = (struct rw_server_def){.name = sv->name, .addr = sv->addr,
                                         .addrlen = sv->addrlen, .weight = sv->weight,
                                         .max_conns = sv->max_conns, .backup = sv->backup,
                                         .initial_down = sv->initial_down};
    }
    struct rw_lb_params params = {
        .hash_method = u->hash.method == RW_HASH_RING ? RW_LB_HASH_RING : RW_LB_HASH_MAGLEV,
        .balance_factor = u->hash.balance_factor,
        .slow_start_ms = u->slow_start_ms,
        .panic_threshold = u->panic_threshold,
    };
    e = -ENOMEM;
    pu->pool = rw_pool_new(u->name, u->balance, &params, defs, u->nservers, p->nworkers, &e);
    if (!pu->pool) {
        snprintf(err, errcap, "upstream %s: %s", u->name, rw_strerror(e));
        goto fail;
    }
    /* servers that remain keep what an operator set (drain, down) */
    const struct rw_backend_set *set = rw_pool_set(pu->pool);
    for (uint32_t j = 0; old && j < set->n; j++) {
        struct rw_backend *was = rw_pool_find_uid(old->pool, set->b[j]->uid);
        if (was)
            rw_backend_set_state(set->b[j], (enum rw_be_state)atomic_load(&was->state));
    }
    if (u->tls.enabled) {
        struct rw_tls_client_params tp = {.verify = u->tls.verify, .ca_file = u->tls.ca,
                                          .cert_file = u->tls.cert, .key_file = u->tls.key};
        char terr[RW_TLS_ERRLEN] = "";
        if ((e = rw_tls_client_ctx_new(&tp, &pu->tls, terr, sizeof(terr))) < 0) {
            snprintf(err, errcap, "upstream %s: tls: %s", u->name, terr);
            goto fail;
        }
    }
    if ((e = ups_sticky(p, pu, old)) < 0 || (e = ups_worker_slots(pu, p->nworkers, u->nservers)) < 0 ||
        (e = px_ops_ups_series(p, pu)) < 0) {
        snprintf(err, errcap, "upstream %s: %s", u->name, rw_strerror(e));
        goto fail;
    }
    if ((e = ups_health(p, pu, old)) < 0) {
        snprintf(err, errcap, "upstream %s: health checks: %s", u->name, rw_strerror(e));
        goto fail;
    }
    free(defs);
    return pu;
fail:
    free(defs);
    if (pu)
        ups_free(p, pu);
    return NULL;
}

/* An upstream runtime can serve a new config unchanged: same JSON, no TLS files to
 * re-read, no servers changed at run time. */
static bool ups_same(const struct px_ups *pu, const struct rw_cfg_upstream *u)
{
    return !pu->changed && !u->tls.enabled && pu->cfg->sig && u->sig &&
           !strcmp(pu->cfg->sig, u->sig);
}

static struct px_ups *gen_find_ups(const struct px_gen *g, const char *name)
{
    for (uint32_t i = 0; g && i < g->cfg->nupstreams; i++)
        if (!strcmp(g->cfg->upstreams[i].name, name))
            return g->ups[i];
    return NULL;
}

/* ---- listener slots ---- */

static int slot_open_fd(const struct px_slot *s, bool defer, int *err)
{
    int fd = socket(s->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *err = -errno;
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
        goto fail;
    if (s->addr.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* deferred from the first connection on: the worker that takes the socket sets it
     * again (and keeps it as later generations say) */
    if (defer)
        setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)&s->addr, s->addrlen) < 0)
        goto fail;
    if (listen(fd, PX_LISTEN_BACKLOG) < 0)
        goto fail;
    return fd;
fail:
    *err = -errno;
    close(fd);
    return -1;
}

/* Close the sockets of slot s that no worker took. */
static void slot_close_untaken(struct rw_proxy *p, struct px_slot *s)
{
    for (uint32_t w = 0; w < p->nworkers; w++) {
        int fd = atomic_exchange(&s->fd[w], -1);
        if (fd >= 0)
            close(fd);
    }
}

/* The slot for listener l: the existing one with its address, or a new one. */
static int slot_of(struct rw_proxy *p, const struct rw_cfg_listener *l)
{
    uint32_t n = atomic_load(&p->nslots);
    for (uint32_t i = 0; i < n; i++)
        if (p->slots[i]->addrlen == l->addrlen && !memcmp(&p->slots[i]->addr, &l->addr, l->addrlen))
            return (int)i;
    if (n >= PX_MAX_SLOTS)
        return -ENOSPC;
    struct px_slot *s = calloc(1, sizeof(*s));
    _Atomic int *fds = calloc(p->nworkers, sizeof(*fds));
    if (!s || !fds) {
        free(s);
        free(fds);
        return -ENOMEM;
    }
    s->addr = l->addr;
    s->addrlen = l->addrlen;
    snprintf(s->name, sizeof(s->name), "%s", l->name);
    s->fd = fds;
    for (uint32_t w = 0; w < p->nworkers; w++)
        atomic_init(&s->fd[w], -1);
    p->slots[n] = s;
    atomic_store(&p->nslots, n + 1); /* workers see the slot once the generation says so */
    return (int)n;
}

static bool gen_has_slot(const struct px_gen *g, uint32_t s)
{
    return g && s < g->nslots && g->slot_lis[s] >= 0;
}

/* Bind one socket per worker for slot s (SO_REUSEPORT). */
static int slot_open(struct rw_proxy *p, uint32_t si, const struct rw_cfg_listener *l,
                     uint64_t gen, char *err, size_t errcap)
{
    struct px_slot *s = p->slots[si];
    atomic_store(&s->open_gen, gen); /* before the sockets: a worker behind leaves them */
    snprintf(s->name, sizeof(s->name), "%s", l->name);
    for (uint32_t w = 0; w < p->nworkers; w++) {
        int e = 0, fd = slot_open_fd(s, l->defer_accept, &e);
        if (fd < 0) {
            slot_close_untaken(p, s);
            return GEN_ERR("listener %s (%s): %s", l->name, l->address, rw_strerror(e));
        }
        int was = atomic_exchange(&s->fd[w], fd);
        if (was >= 0)
            close(was);
    }
    return 0;
}

/* ---- generations ---- */

static void gen_free(struct rw_proxy *p, struct px_gen *g)
{
    if (!g)
        return;
    px_ops_gen_free(g);
    for (uint32_t i = 0; g->ups && i < g->cfg->nupstreams; i++)
        px_ups_unref(p, g->ups[i]);
    for (uint32_t i = 0; g->tls_ctx && i < g->cfg->nlisteners; i++)
        if (g->tls_ctx[i])
            rw_tls_ctx_unref(g->tls_ctx[i]);
    free(g->ups);
    free(g->tls_ctx);
    free(g->slot_lis);
    free(g->w);
    px_cfgref_unref(g->cref);
    free(g);
}

void px_gen_unref(struct rw_proxy *p, struct px_gen *g)
{
    if (!g || atomic_fetch_sub(&g->refs, 1) != 1)
        return;
    struct px_gen *head = atomic_load(&p->retired_gens);
    do
        g->next = head;
    while (!atomic_compare_exchange_weak(&p->retired_gens, &head, g));
}

/* The request on c ended: let go of its generation. Worker thread. */
void px_gen_drop(struct px_conn *c)
{
    struct px_gen *g = c->x ? c->x->gen : NULL;
    if (!g)
        return;
    c->x->gen = NULL;
    c->x->lis = NULL;
    struct px_worker *w = c->w;
    if (--g->w[w->id].n == 0 && g != w->gen)
        px_gen_unref(w->px, g); /* the worker's reference to an old generation */
}

/* Free what the last references let go of. Main / admin thread, writer lock. */
void px_reap(struct rw_proxy *p)
{
    for (;;) {
        struct px_gen *g = atomic_exchange(&p->retired_gens, NULL);
        struct px_ups *u = atomic_exchange(&p->retired_ups, NULL);
        if (!g && !u)
            return;
        while (g) {
            struct px_gen *next = g->next;
            gen_free(p, g); /* may retire upstream runtimes: the loop takes them */
            g = next;
        }
        while (u) {
            struct px_ups *next = u->next;
            ups_free(p, u);
            u = next;
        }
    }
}

/* Build a generation from cr's config beside the running one (p->gen, or none):
 * upstreams configured alike keep their runtime, others get a new one that keeps
 * the state of servers that remain; TLS listeners get contexts from freshly read
 * files; new listener addresses are bound. NULL with err set: nothing changed.
 * Main / admin thread, writer lock. */
struct px_gen *px_gen_build(struct rw_proxy *p, struct px_cfgref *cr, char *err, size_t errcap)
{
    const struct rw_cfg *cfg = cr->cfg;
    const struct px_gen *cur = p->gen;
    struct px_gen *g = calloc(1, sizeof(*g));
    if (!g) {
        (void)GEN_ERR("out of memory");
        return NULL;
    }
    atomic_init(&g->refs, 1);
    g->cref = cfgref_ref(cr);
    g->cfg = cfg;
    g->id = cur ? cur->id + 1 : 1;
    g->ups = calloc(cfg->nupstreams ? cfg->nupstreams : 1, sizeof(*g->ups));
    g->tls_ctx = calloc(cfg->nlisteners ? cfg->nlisteners : 1, sizeof(*g->tls_ctx));
    g->w = aligned_alloc(64, p->nworkers * sizeof(*g->w));
    if (!g->ups || !g->tls_ctx || !g->w) {
        (void)GEN_ERR("out of memory");
        goto fail;
    }
    memset(g->w, 0, p->nworkers * sizeof(*g->w));
    for (uint32_t i = 0; i < cfg->nupstreams; i++) {
        const struct rw_cfg_upstream *u = &cfg->upstreams[i];
        struct px_ups *old = gen_find_ups(cur, u->name);
        if (old && ups_same(old, u)) {
            atomic_fetch_add(&old->refs, 1);
            g->ups[i] = old;
        } else if (!(g->ups[i] = ups_new(p, cr, u, old, err, errcap))) {
            goto fail;
        }
    }
    for (uint32_t i = 0; i < cfg->nlisteners; i++) {
        if (!cfg->listeners[i].tls.enabled)
            continue;
        if (px_tls_ctx_build(p, &cfg->listeners[i], &g->tls_ctx[i]) < 0) {
            (void)GEN_ERR("listener %s: certificates failed to load (the log says why)",
                    cfg->listeners[i].name);
            goto fail;
        }
    }
    /* listener slots: addresses already open stay open */
    int32_t *where = calloc(cfg->nlisteners ? cfg->nlisteners : 1, sizeof(*where));
    if (!where) {
        (void)GEN_ERR("out of memory");
        goto fail;
    }
    uint32_t opened[PX_MAX_SLOTS / 32] = {0};
    for (uint32_t i = 0; i < cfg->nlisteners; i++) {
        int s = slot_of(p, &cfg->listeners[i]);
        if (s < 0) {
            (void)GEN_ERR("listener %s: %s", cfg->listeners[i].name, rw_strerror(s));
            goto fail_slots;
        }
        where[i] = s;
        if (!gen_has_slot(cur, (uint32_t)s) && !(opened[s / 32] & (1u << (s % 32)))) {
            if (slot_open(p, (uint32_t)s, &cfg->listeners[i], g->id, err, errcap) < 0)
                goto fail_slots;
            opened[s / 32] |= 1u << (s % 32);
        }
    }
    g->nslots = atomic_load(&p->nslots);
    g->slot_lis = malloc(g->nslots * sizeof(*g->slot_lis) + 1);
    if (!g->slot_lis) {
        (void)GEN_ERR("out of memory");
        goto fail_slots;
    }
    for (uint32_t s = 0; s < g->nslots; s++)
        g->slot_lis[s] = -1;
    for (uint32_t i = 0; i < cfg->nlisteners; i++)
        g->slot_lis[where[i]] = (int32_t)i;
    free(where);
    int e = px_ops_gen_series(p, g);
    if (e < 0) {
        (void)GEN_ERR("metrics: %s", rw_strerror(e));
        goto fail_opened;
    }
    return g;
fail_slots:
    free(where);
fail_opened:
    for (uint32_t s = 0; s < PX_MAX_SLOTS; s++)
        if (opened[s / 32] & (1u << (s % 32)))
            slot_close_untaken(p, p->slots[s]);
fail:
    gen_free(p, g);
    px_reap(p); /* upstream runtimes built for it */
    return NULL;
}

/* Make g the current generation: workers take it for their next request, open its
 * new listeners and close the removed ones; the old generation goes when its last
 * request ends. Main / admin thread, writer lock. */
void px_gen_publish(struct rw_proxy *p, struct px_gen *g)
{
    struct px_gen *old = p->gen;
    for (uint32_t i = 0; old && i < old->cfg->nupstreams; i++) {
        bool kept = false;
        for (uint32_t j = 0; j < g->cfg->nupstreams && !kept; j++)
            kept = g->ups[j] == old->ups[i];
        if (kept)
            continue;
        struct px_ups *pu = old->ups[i];
        atomic_store(&pu->retired, true); /* its pooled connections close */
        if (pu->health) {
            /* its successor (which inherited the servers' state) checks them now; the
             * requests still on the old runtime keep the states they see */
            rw_health_remove_upstream(p->health, pu->id);
            pu->health = false;
        }
    }
    rw_rcu_store((void **)&p->gen, g);
    atomic_store(&p->gen_id, g->id);
    for (uint32_t i = 0; i < p->nworkers; i++)
        if (atomic_load(&p->workers[i].started) == 1)
            rw_loop_wake(p->workers[i].loop);
    if (old) {
        px_ops_hide_gone(p, old, g);
        rw_rcu_synchronize(); /* no worker still takes `old` without a reference */
        px_gen_unref(p, old);
    }
    px_reap(p);
}

/* Everything at the end (workers gone). */
void px_gen_free_all(struct rw_proxy *p)
{
    struct px_gen *g = p->gen;
    p->gen = NULL;
    if (g)
        px_gen_unref(p, g);
    px_reap(p);
    for (uint32_t s = 0; s < atomic_load(&p->nslots); s++) {
        slot_close_untaken(p, p->slots[s]);
        free((void *)p->slots[s]->fd);
        free(p->slots[s]);
        p->slots[s] = NULL;
    }
}

/* ---- reload ---- */

static bool str_differ(const char *a, const char *b)
{
    return (a == NULL) != (b == NULL) || (a && strcmp(a, b));
}

/* Settings only a restart changes: say so when the new file changes them. */
static void restart_only(const struct rw_cfg *run, const struct rw_cfg *nw, char *msg, size_t cap)
{
    const struct {
        bool differ;
        const char *key;
    } keys[] = {
        {run->workers != nw->workers, "workers"},
        {str_differ(run->io_backend, nw->io_backend), "io_backend"},
        {run->io_coalesce_us != nw->io_coalesce_us, "io_coalesce"},
        {run->limit_request_line != nw->limit_request_line ||
             run->limit_header_block != nw->limit_header_block ||
             run->limit_headers != nw->limit_headers,
         "limits (request_line, header_block, headers)"},
        {str_differ(run->admin.socket, nw->admin.socket) || run->admin.mode != nw->admin.mode ||
             str_differ(run->admin.http, nw->admin.http) ||
             str_differ(run->admin.token, nw->admin.token),
         "admin"},
        {str_differ(run->access_log.path, nw->access_log.path) ||
             run->access_log.format != nw->access_log.format,
         "access_log"},
        {str_differ(run->request_id.header, nw->request_id.header) ||
             run->request_id.trust_client != nw->request_id.trust_client,
         "request_id"},
        {str_differ(run->log_level, nw->log_level), "log_level"},
        {run->shutdown_timeout_ms != nw->shutdown_timeout_ms, "shutdown_timeout"},
    };
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (!keys[i].differ)
            continue;
        size_t n = strlen(msg);
        snprintf(msg + n, cap - n, "%s%s: changed, takes effect at the next restart", n ? "; " : "",
                 keys[i].key);
        rw_log(RW_LOG_WARN, "reload: %s changed: takes effect at the next restart", keys[i].key);
    }
}

int px_reload_locked(struct rw_proxy *p, const char *path, char *msg, size_t cap)
{
    msg[0] = '\0';
    if (!path)
        path = p->gen->cfg->source;
    struct rw_cfg_errs errs = {0};
    struct rw_cfg *cfg = NULL;
    int rc = rw_cfg_load_file(path, &cfg, &errs);
    if (rc < 0) {
        size_t n = 0;
        for (uint32_t i = 0; i < errs.n; i++) {
            rw_log(RW_LOG_ERR, "reload: %s", errs.msg[i]);
            if (n < cap)
                n += (size_t)snprintf(msg + n, cap - n, "%s%s", i ? "\n" : "", errs.msg[i]);
        }
        rw_cfg_errs_clear(&errs);
        rw_log(RW_LOG_ERR, "reload: %s rejected; generation %llu keeps serving", path,
               (unsigned long long)p->gen->id);
        atomic_fetch_add(&p->reloads_failed, 1);
        return rc;
    }
    struct px_cfgref *cr = px_cfgref_new(cfg, true);
    if (!cr) {
        rw_cfg_free(cfg);
        snprintf(msg, cap, "out of memory");
        atomic_fetch_add(&p->reloads_failed, 1);
        return -ENOMEM;
    }
    struct px_gen *g = px_gen_build(p, cr, msg, cap);
    px_cfgref_unref(cr); /* the generation holds it */
    if (!g) {
        rw_log(RW_LOG_ERR, "reload: %s: %s; generation %llu keeps serving", path, msg,
               (unsigned long long)p->gen->id);
        atomic_fetch_add(&p->reloads_failed, 1);
        return -EINVAL;
    }
    restart_only(p->cfg, cfg, msg, cap);
    path = cfg->source; /* the old generation (which `path` may point into) may go now */
    px_gen_publish(p, g);
    px_ops_published(p, g, path);
    atomic_fetch_add(&p->reloads_ok, 1);
    rw_log(RW_LOG_INFO, "reload: %s: generation %llu serving (%u listeners, %u upstreams)", path,
           (unsigned long long)g->id, cfg->nlisteners, cfg->nupstreams);
    return 0;
}

int rw_proxy_reload(struct rw_proxy *p, const char *path, char *msg, size_t cap)
{
    px_ops_lock(p);
    int rc = px_reload_locked(p, path, msg, cap);
    px_ops_unlock(p);
    return rc;
}

uint64_t rw_proxy_generation(struct rw_proxy *p)
{
    return atomic_load(&p->gen_id);
}
