/* SPDX-License-Identifier: MIT */
/* Worker threads: listeners, accept, per-worker pools, start-up and drain. */
#include "proxy/proxy.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/log.h"
#include "balancers/sticky.h"
#include "health/health.h"
#include "tls/tls.h"
#include "core/rcu.h"
#include "proxy/ops.h"
#include "proxy/px.h"

#define PX_LISTEN_BACKLOG 4096
#define PX_HBUF_KEEP 64 /* free head buffers kept per worker */
#define PX_RE_MATCH_LIMIT 100000
#define PX_RE_DEPTH_LIMIT 1000

/* ---- head buffers: per-worker free list, no allocation on the hot path ---- */

struct px_xchg *px_xchg_get(struct px_worker *w)
{
    struct px_xchg *x = w->xchg_free;
    if (x) {
        w->xchg_free = x->next;
        w->nxchg_free--;
    } else {
        x = malloc(sizeof(*x));
        if (!x)
            return NULL;
    }
    memset(x, 0, sizeof(*x));
    return x;
}

void px_xchg_put(struct px_worker *w, struct px_xchg *x)
{
    if (!x)
        return;
    px_body_free(&x->req_body);
    px_body_free(&x->resp_body);
    if (w->nxchg_free >= PX_HBUF_KEEP) {
        free(x);
        return;
    }
    x->next = w->xchg_free;
    w->xchg_free = x;
    w->nxchg_free++;
}

char *px_hbuf_get(struct px_worker *w)
{
    if (w->nhbufs)
        return w->hbufs[--w->nhbufs];
    return malloc(w->hbuf_size);
}

void px_hbuf_put(struct px_worker *w, char *b)
{
    if (!b)
        return;
    if (w->nhbufs < PX_HBUF_KEEP) {
        w->hbufs[w->nhbufs++] = b;
        return;
    }
    free(b);
}

/* Every pool buffer goes back through here: connections that ran out of buffers
 * are woken after this loop turn (px_buf_wake), never from inside a caller. */
void px_buf_put(struct px_worker *w, uint16_t bid)
{
    rw_loop_buf_put(w->loop, bid);
    if (w->buf_waiters)
        w->buf_wake = true;
}

/* Retry the reads of every connection that waited for a buffer. Loop thread,
 * between turns. */
static void px_buf_wake(struct px_worker *w)
{
    struct px_conn *c = w->buf_waiters;
    w->buf_waiters = NULL;
    w->buf_wake = false;
    while (c) {
        struct px_conn *next = c->next_wait;
        c->waiting_buf = false;
        px_conn_retry_read(c);
        c = next;
    }
}

/* Give back whatever `in` holds and mark it empty. */
void px_in_drop(struct px_worker *w, struct px_in *in)
{
    struct px_in old = *in;
    in->base = NULL;
    in->off = in->len = 0;
    in->bid = -2;
    if (old.bid >= 0)
        px_buf_put(w, (uint16_t)old.bid);
    else if (old.bid == -1)
        px_hbuf_put(w, old.base);
}

/* Free what died during this loop turn: no caller up the stack still holds it. */
void px_bury(struct px_worker *w)
{
    while (w->grave_c) {
        struct px_conn *c = w->grave_c;
        w->grave_c = c->next_wait;
        free(c);
    }
    while (w->grave_u) {
        struct px_up *u = w->grave_u;
        w->grave_u = u->next;
        free(u);
    }
}

/* n received bytes in pool buffer bid: `in` holds the buffer itself when empty;
 * otherwise a partial head waits in a heap buffer and they are appended (what
 * exceeds it fails the head limit) and the buffer goes back at once. */
void px_in_take(struct px_worker *w, struct px_in *in, uint16_t bid, uint32_t n)
{
    char *buf = (char *)rw_loop_buf(w->loop, bid);
    if (in->bid == -2) {
        *in = (struct px_in){.base = buf, .off = 0, .len = n, .bid = bid};
        return;
    }
    uint32_t room = w->hbuf_size - in->len;
    memcpy(in->base + in->len, buf, n < room ? n : room);
    in->len += n < room ? n : room;
    px_buf_put(w, bid);
}

/* Move the unconsumed bytes of `in` to the start of a heap buffer, so that more
 * can be appended (a head that spans several reads). 0 or -ENOMEM. */
int px_in_to_heap(struct px_worker *w, struct px_in *in)
{
    uint32_t n = in->len - in->off;
    if (in->bid >= 0) {
        char *hb = px_hbuf_get(w);
        if (!hb)
            return -ENOMEM;
        memcpy(hb, in->base + in->off, n);
        px_in_drop(w, in);
        *in = (struct px_in){.base = hb, .off = 0, .len = n, .bid = -1};
    } else if (in->off) {
        memmove(in->base, in->base + in->off, n);
        in->len = n;
        in->off = 0;
    }
    return 0;
}

void px_wait_buf(struct px_worker *w, struct px_conn *c)
{
    if (c->waiting_buf)
        return;
    c->waiting_buf = true;
    c->next_wait = w->buf_waiters;
    w->buf_waiters = c;
}

const char *px_date(struct px_worker *w)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    if ((uint64_t)ts.tv_sec != w->date_sec) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        strftime(w->date, sizeof(w->date), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
        w->date_sec = (uint64_t)ts.tv_sec;
    }
    return w->date;
}

/* ---- listeners ---- */

static int listener_open(const struct rw_cfg_listener *l, int *err)
{
    int fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *err = -errno;
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
        goto fail;
    if (l->addr.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)&l->addr, l->addrlen) < 0)
        goto fail;
    if (listen(fd, PX_LISTEN_BACKLOG) < 0)
        goto fail;
    return fd;
fail:
    *err = -errno;
    close(fd);
    return -1;
}

static void on_accept(struct rw_op *op, const struct rw_cqe *cqe);

static void listener_arm(struct px_listener_w *l)
{
    if (l->armed || l->w->stopping || l->fd < 0)
        return;
    l->op.cb = on_accept;
    l->op.owner = l;
    int rc = rw_io_accept(l->w->loop, &l->op, l->fd);
    if (rc < 0) {
        rw_log(RW_LOG_ERR, "listener %s: accept: %s", l->cfg->name, rw_strerror(rc));
        rw_timer_arm(rw_loop_wheel(l->w->loop), &l->retry, rw_loop_now(l->w->loop) + 100);
        return;
    }
    l->armed = true;
}

static void listener_retry(struct rw_timer *t)
{
    listener_arm(t->owner);
}

static void listener_close(struct px_listener_w *l)
{
    rw_timer_cancel(&l->retry);
    if (l->armed) {
        rw_io_cancel(l->w->loop, &l->op);
        return; /* closed when the accept op ends */
    }
    if (l->fd >= 0) {
        close(l->fd);
        l->fd = -1;
    }
}

static void on_accept(struct rw_op *op, const struct rw_cqe *cqe)
{
    struct px_listener_w *l = op->owner;
    struct px_worker *w = l->w;
    if (!(cqe->flags & RW_CQE_MORE))
        l->armed = false;
    if (cqe->res >= 0) {
        if (w->stopping)
            close(cqe->res);
        else
            px_conn_accepted(w, l, cqe->res);
    } else if (cqe->res != -ECANCELED && cqe->res != -EAGAIN && cqe->res != -ECONNABORTED) {
        rw_log(RW_LOG_WARN, "listener %s: accept: %s", l->cfg->name, rw_strerror(cqe->res));
        if (!l->armed && !w->stopping) {
            /* out of fds or memory: shed new connections for a moment */
            rw_timer_arm(rw_loop_wheel(w->loop), &l->retry, rw_loop_now(w->loop) + 100);
            return;
        }
    }
    if (l->armed)
        return;
    if (w->stopping)
        listener_close(l);
    else
        listener_arm(l);
}

/* ---- worker life ---- */

static void worker_stop_timer(struct rw_timer *t);

/* Runs on the worker after rw_proxy_stop(): stop accepting, let exchanges finish. */
static void worker_begin_stop(struct px_worker *w)
{
    if (w->stopping)
        return;
    w->stopping = true;
    for (uint32_t i = 0; i < w->nlis; i++)
        listener_close(&w->lis[i]);
    px_up_stop_worker(w);
    px__conns_stop_all(w, false);
    uint32_t drain = atomic_load(&w->px->drain_ms);
    rw_timer_init(&w->stop_timer, worker_stop_timer, w);
    rw_timer_arm(rw_loop_wheel(w->loop), &w->stop_timer, rw_loop_now(w->loop) + drain);
}

static void worker_stop_timer(struct rw_timer *t)
{
    struct px_worker *w = t->owner;
    rw_log(RW_LOG_INFO, "drain time over: closing %u connections", w->nconns);
    px__conns_stop_all(w, true);
}

static void worker_wake(struct rw_loop *l, void *arg)
{
    struct px_worker *w = arg;
    if (!atomic_load(&w->stop_req))
        return;
    if (w->stopping && atomic_load(&w->px->drain_ms) == 0)
        px__conns_stop_all(w, true); /* a second stop signal: no more waiting */
    worker_begin_stop(w);
}

static int worker_setup(struct px_worker *w)
{
    const struct rw_cfg *cfg = w->cfg;
    /* bulk buffers carry response bodies: 128 KiB reads and sends instead of 16 KiB */
    struct rw_loop_cfg lc = {.backend = w->px->io->name, .bulk_count = 32, .bulk_size = 131072};
    int err = 0;
    w->loop = rw_loop_new(w->px->io, &lc, &err);
    if (!w->loop)
        return err;
    rw_loop_set_wake(w->loop, worker_wake, w);
    w->lim.request_line = cfg->limit_request_line;
    w->lim.header_block = cfg->limit_header_block;
    w->lim.headers = cfg->limit_headers;
    /* a partial head (< header_block) plus one more read always fits */
    w->hbuf_size = cfg->limit_header_block + rw_loop_buf_size(w->loop) + 1024;
    w->hbufs = calloc(PX_HBUF_KEEP, sizeof(char *));
    w->hdrs = calloc(RW_H1_MAX_HEADERS, sizeof(struct rw_hdr));
    w->match_data = pcre2_match_data_create(1, NULL);
    w->match_ctx = pcre2_match_context_create(NULL);
    if (w->match_ctx) {
        /* a pathological pattern must cost bounded time per request */
        pcre2_set_match_limit(w->match_ctx, PX_RE_MATCH_LIMIT);
        pcre2_set_depth_limit(w->match_ctx, PX_RE_DEPTH_LIMIT);
    }
    w->ups = calloc(cfg->nupstreams ? cfg->nupstreams : 1, sizeof(*w->ups));
    if (!w->hbufs || !w->hdrs || !w->match_data || !w->match_ctx || !w->ups)
        return -ENOMEM;
    for (uint32_t i = 0; i < cfg->nupstreams; i++) {
        struct px_upstream_w *u = &w->ups[i];
        u->pool = w->px->ups[i].pool;
        u->cfg = &cfg->upstreams[i];
        u->nslots = u->cfg->nservers;
        u->idle = calloc(u->nslots, sizeof(*u->idle));
        u->nidle = calloc(u->nslots, sizeof(*u->nidle));
        if (w->px->ups[i].tls)
            u->sessions = calloc(u->nslots, sizeof(*u->sessions));
        if (!u->idle || !u->nidle)
            return -ENOMEM;
    }
    return 0;
}

static void worker_teardown(struct px_worker *w)
{
    for (uint32_t i = 0; w->ups && i < w->cfg->nupstreams; i++) {
        for (uint32_t j = 0; w->ups[i].sessions && j < w->ups[i].nslots; j++)
            rw_tls_session_free(w->ups[i].sessions[j]);
        free(w->ups[i].sessions);
        free(w->ups[i].idle);
        free(w->ups[i].nidle);
    }
    free(w->ups);
    while (w->nhbufs)
        free(w->hbufs[--w->nhbufs]);
    while (w->xchg_free) {
        struct px_xchg *x = w->xchg_free;
        w->xchg_free = x->next;
        free(x);
    }
    free(w->hbufs);
    free(w->hdrs);
    if (w->match_data)
        pcre2_match_data_free(w->match_data);
    if (w->match_ctx)
        pcre2_match_context_free(w->match_ctx);
    if (w->loop)
        rw_loop_free(w->loop);
    w->loop = NULL;
}

static bool worker_idle_done(struct px_worker *w)
{
    if (!w->stopping)
        return false;
    for (uint32_t i = 0; i < w->nlis; i++)
        if (w->lis[i].armed)
            return false;
    return w->nconns == 0 && w->nups == 0;
}

static void *worker_main(void *arg)
{
    struct px_worker *w = arg;
    rw_log_set_thread(w->name);
    int rc = worker_setup(w);
    if (rc < 0) {
        rw_log(RW_LOG_ERR, "worker %u: start: %s", w->id, rw_strerror(rc));
        worker_teardown(w);
        atomic_store(&w->started, rc); /* tells rw_proxy_start() */
        return NULL;
    }
    rw_rcu_register();
    for (uint32_t i = 0; i < w->nlis; i++) {
        w->lis[i].w = w;
        rw_timer_init(&w->lis[i].retry, listener_retry, &w->lis[i]);
        listener_arm(&w->lis[i]);
    }
    atomic_store(&w->started, 1);
    if (atomic_load(&w->stop_req))
        worker_begin_stop(w);
    while (!worker_idle_done(w)) {
        rc = rw_loop_run_once(w->loop, w->tls_ready || w->utls_ready ? 0 : -1);
        if (rc < 0 && rc != -EINTR && rc != -ETIME && rc != -EAGAIN) {
            rw_log(RW_LOG_ERR, "worker %u: loop: %s", w->id, rw_strerror(rc));
            break;
        }
        if (w->buf_wake)
            px_buf_wake(w);
        px_tls_run(w);
        px_up_tls_run(w);
        px_bury(w);
    }
    px_bury(w);
    rw_timer_cancel(&w->stop_timer);
    rw_rcu_unregister();
    worker_teardown(w);
    rw_tls_thread_cleanup(); /* wolfSSL's per-thread caches */
    atomic_store(&w->started, 2);
    return NULL;
}

/* ---- public ---- */

/* The shared state of upstream i: its server pool and its session store. */
static int ups_build(struct rw_proxy *p, uint32_t i)
{
    const struct rw_cfg_upstream *u = &p->cfg->upstreams[i];
    struct px_ups *pu = &p->ups[i];
    struct rw_server_def *defs = calloc(u->nservers, sizeof(*defs));
    if (!defs)
        return -ENOMEM;
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
    int e = -ENOMEM;
    pu->pool = rw_pool_new(u->name, u->balance, &params, defs, u->nservers, p->nworkers, &e);
    free(defs);
    if (!pu->pool)
        return e;
    if (u->tls.enabled) {
        struct rw_tls_client_params tp = {.verify = u->tls.verify, .ca_file = u->tls.ca,
                                          .cert_file = u->tls.cert, .key_file = u->tls.key};
        char terr[RW_TLS_ERRLEN] = "";
        e = rw_tls_client_ctx_new(&tp, &pu->tls, terr, sizeof(terr));
        if (e < 0) {
            rw_log(RW_LOG_ERR, "upstream %s: tls: %s", u->name, terr);
            return e;
        }
    }
    if (u->sticky.mode == RW_STICKY_COOKIE && u->sticky.key_file)
        return rw_sticky_key_new(u->sticky.key_file, &pu->key);
    if (u->sticky.mode == RW_STICKY_COOKIE) {
        /* one random key per process, so that tokens outlive a configuration reload */
        if (!p->sticky_key) {
            e = rw_sticky_key_new(NULL, &p->sticky_key);
            if (e < 0)
                return e;
        }
        pu->key = p->sticky_key;
        pu->key_borrowed = true;
    }
    if (u->sticky.mode == RW_STICKY_LEARN || u->sticky.mode == RW_STICKY_IP) {
        pu->table = rw_sticky_table_new(u->sticky.table_size, &e);
        return pu->table ? 0 : e;
    }
    return 0;
}

/* Active checks and outlier detection of upstream i, from its config. */
static int ups_health(struct rw_proxy *p, uint32_t i)
{
    const struct rw_cfg_upstream *u = &p->cfg->upstreams[i];
    const struct rw_cfg_health *hc = &u->health;
    const struct rw_cfg_passive *pc = &u->passive;
    if (!hc->enabled && !pc->enabled)
        return 0;
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
    };
    a.tls = p->ups[i].tls; /* built by ups_build, which runs first */
    a.tls_sni = u->tls.sni;
    memcpy(a.expect_status, hc->expect_status, sizeof(a.expect_status));
    struct rw_passive_params ps = {
        .consecutive_errors = pc->consecutive_errors,
        .window_ms = pc->window_ms,
        .eject_ms = pc->eject_ms,
        .max_eject_ms = pc->max_eject_ms,
        .max_eject_percent = pc->max_eject_percent,
    };
    memcpy(ps.error_status, pc->error_status, sizeof(ps.error_status));
    return rw_health_add_upstream(p->health, i, u->name, p->ups[i].pool,
                                  hc->enabled ? &a : NULL, pc->enabled ? &ps : NULL);
}

void rw_proxy_tick(struct rw_proxy *p)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    px_ops_lock(p); /* the admin thread may add servers */
    for (uint32_t i = 0; i < p->cfg->nupstreams; i++)
        rw_pool_tick(p->ups[i].pool, now);
    px_ops_unlock(p);
    px_tls_reload(p, false); /* certificate files that changed on disk */
}

int rw_proxy_reload_certs(struct rw_proxy *p)
{
    return px_tls_reload(p, true);
}

struct rw_proxy *rw_proxy_new(const struct rw_cfg *cfg, const struct rw_io_ops *io,
                              uint32_t nworkers, int *err)
{
    struct rw_proxy *p = calloc(1, sizeof(*p));
    if (!p)
        goto nomem;
    p->cfg = cfg;
    p->io = io;
    p->nworkers = nworkers;
    p->workers = calloc(nworkers, sizeof(*p->workers));
    p->ups = calloc(cfg->nupstreams ? cfg->nupstreams : 1, sizeof(*p->ups));
    if (!p->workers || !p->ups)
        goto nomem;
    p->health = rw_health_new(io, nworkers, err);
    if (!p->health) {
        rw_proxy_free(p);
        return NULL;
    }
    for (uint32_t i = 0; i < cfg->nupstreams; i++) {
        int e = ups_build(p, i);
        if (e >= 0)
            e = ups_health(p, i);
        if (e < 0) {
            rw_log(RW_LOG_ERR, "upstream %s: %s", cfg->upstreams[i].name, rw_strerror(e));
            *err = e;
            rw_proxy_free(p);
            return NULL;
        }
    }
    p->tls_ctx = calloc(cfg->nlisteners ? cfg->nlisteners : 1, sizeof(*p->tls_ctx));
    if (!p->tls_ctx)
        goto nomem;
    for (uint32_t i = 0; i < cfg->nlisteners; i++) {
        if (!cfg->listeners[i].tls.enabled)
            continue;
        int e = px_tls_ctx_build(p, &cfg->listeners[i], &p->tls_ctx[i]);
        if (e < 0) {
            *err = e;
            rw_proxy_free(p);
            return NULL;
        }
    }
    for (uint32_t i = 0; i < nworkers; i++) {
        struct px_worker *w = &p->workers[i];
        w->id = i;
        w->px = p;
        w->cfg = cfg;
        snprintf(w->name, sizeof(w->name), "w%u", i);
        w->nlis = cfg->nlisteners;
        w->lis = calloc(cfg->nlisteners, sizeof(*w->lis));
        if (!w->lis)
            goto nomem;
        for (uint32_t j = 0; j < cfg->nlisteners; j++)
            w->lis[j].fd = -1;
        for (uint32_t j = 0; j < cfg->nlisteners; j++) {
            int e = 0;
            w->lis[j].cfg = &cfg->listeners[j];
            w->lis[j].fd = listener_open(&cfg->listeners[j], &e);
            if (w->lis[j].fd < 0) {
                rw_log(RW_LOG_ERR, "listener %s (%s): %s", cfg->listeners[j].name,
                       cfg->listeners[j].address, rw_strerror(e));
                *err = e;
                rw_proxy_free(p);
                return NULL;
            }
        }
    }
    return p;
nomem:
    *err = -ENOMEM;
    rw_proxy_free(p);
    return NULL;
}

int rw_proxy_start(struct rw_proxy *p)
{
    /* before the workers: their counters and log rings exist when traffic starts */
    int orc = px_ops_start(p);
    if (orc < 0)
        return orc;
    int hrc = rw_health_start(p->health);
    if (hrc < 0) {
        rw_log(RW_LOG_ERR, "health checks: %s", rw_strerror(hrc));
        return hrc;
    }
    for (uint32_t i = 0; i < p->nworkers; i++) {
        struct px_worker *w = &p->workers[i];
        int rc = pthread_create(&w->thread, NULL, worker_main, w);
        if (rc != 0) {
            rw_log(RW_LOG_ERR, "worker %u: thread: %s", i, rw_strerror(rc));
            return -rc;
        }
        w->has_thread = true;
        /* wait until this worker's loop exists (start-up only, not a request path) */
        while ((rc = atomic_load(&w->started)) == 0)
            usleep(1000);
        if (rc < 0)
            return rc;
    }
    return 0;
}

void rw_proxy_stop(struct rw_proxy *p, uint32_t drain_ms)
{
    atomic_store(&p->drain_ms, drain_ms);
    for (uint32_t i = 0; i < p->nworkers; i++) {
        struct px_worker *w = &p->workers[i];
        atomic_store(&w->stop_req, true);
        if (atomic_load(&w->started) == 1)
            rw_loop_wake(w->loop);
    }
}

bool rw_proxy_done(struct rw_proxy *p)
{
    for (uint32_t i = 0; i < p->nworkers; i++)
        if (atomic_load(&p->workers[i].started) == 1)
            return false;
    return true;
}

void rw_proxy_free(struct rw_proxy *p)
{
    if (!p)
        return;
    px_ops_stop(p);
    for (uint32_t i = 0; p->workers && i < p->nworkers; i++) {
        struct px_worker *w = &p->workers[i];
        if (w->has_thread)
            pthread_join(w->thread, NULL);
        for (uint32_t j = 0; w->lis && j < w->nlis; j++)
            if (w->lis[j].fd >= 0)
                close(w->lis[j].fd);
        free(w->lis);
    }
    rw_health_free(p->health); /* stops its thread before the pools go */
    for (uint32_t i = 0; p->ups && i < p->cfg->nupstreams; i++) {
        rw_pool_free(p->ups[i].pool);
        if (p->ups[i].tls)
            rw_tls_client_ctx_unref(p->ups[i].tls);
        if (!p->ups[i].key_borrowed)
            rw_sticky_key_free(p->ups[i].key);
        rw_sticky_table_free(p->ups[i].table);
    }
    free(p->ups);
    rw_sticky_key_free(p->sticky_key);
    for (uint32_t i = 0; p->tls_ctx && i < p->cfg->nlisteners; i++)
        if (p->tls_ctx[i])
            rw_tls_ctx_unref(p->tls_ctx[i]);
    free(p->tls_ctx);
    if (p->tls_keys)
        rw_tls_keys_unref(p->tls_keys);
    px_ops_free(p); /* after the pools: they borrow the names of servers added at run time */
    free(p->workers);
    free(p);
}
