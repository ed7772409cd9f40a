/* SPDX-License-Identifier: MIT */
/* Worker threads: listeners, accept, per-worker pools, start-up and drain. */
#include "proxy/proxy.h"

#include <errno.h>
#include <malloc.h>
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
    x->rin.bid = x->rtx.bid = -2;
    return x;
}

void px_xchg_put(struct px_worker *w, struct px_xchg *x)
{
    if (!x)
        return;
    RW_ASSERT(!x->gen && !x->up && !x->be && !x->queued);
    px_in_drop(w, &x->rin);
    px_in_drop(w, &x->rtx);
    px_hbuf_put(w, x->out);
    px_hbuf_put(w, x->rhead);
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
        px_xchg_put(w, c->x);
        rw_timer_cancel(&c->timer); /* a stopped timer is still in the wheel */
        rw_slab_put(w->conn_slab, c);
    }
    while (w->grave_u) {
        struct px_up *u = w->grave_u;
        w->grave_u = u->next;
        rw_timer_cancel(&u->timer);
        rw_slab_put(w->up_slab, u);
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

/* ---- listeners (one per slot; the current generation says which are wanted) ---- */

static void on_accept(struct rw_op *op, const struct rw_cqe *cqe);

static void listener_arm(struct px_listener_w *l)
{
    if (l->armed || !l->want || l->w->stopping || l->fd < 0)
        return;
    l->op.cb = on_accept;
    l->op.owner = l;
    int rc = rw_io_accept(l->w->loop, &l->op, l->fd);
    if (rc < 0) {
        rw_log(RW_LOG_ERR, "listener %s: accept: %s", l->slot->name, rw_strerror(rc));
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
    l->want = false;
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
        if (w->stopping || !l->want)
            close(cqe->res);
        else
            px_conn_accepted(w, l, cqe->res);
    } else if (cqe->res != -ECANCELED && cqe->res != -EAGAIN && cqe->res != -ECONNABORTED) {
        rw_log(RW_LOG_WARN, "listener %s: accept: %s", l->slot->name, rw_strerror(cqe->res));
        if (!l->armed && !w->stopping && l->want) {
            /* out of fds or memory: shed new connections for a moment */
            rw_timer_arm(rw_loop_wheel(w->loop), &l->retry, rw_loop_now(w->loop) + 100);
            return;
        }
    }
    if (l->armed)
        return;
    if (w->stopping || !l->want)
        listener_close(l);
    else
        listener_arm(l);
}

/* TCP_DEFER_ACCEPT as the listener's config asks: with it the kernel completes the
 * handshake but hands the connection over only once the client has sent something (an
 * HTTP request or a TLS ClientHello), or after about a second (its first SYN-ACK
 * retransmission) if it sends nothing. Accepting then finds the request waiting: no
 * read to arm and no wake-up of its own per connection. */
static void listener_defer(struct px_listener_w *l, bool on)
{
    int secs = on ? 1 : 0;
    if (l->fd < 0 || l->defer == (int8_t)on)
        return;
    if (setsockopt(l->fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof(secs)) < 0) {
        rw_log(RW_LOG_WARN, "listener %s: TCP_DEFER_ACCEPT: %s", l->slot->name,
               rw_strerror(-errno));
        return;
    }
    l->defer = (int8_t)on;
}

/* Slot s should (lc: its listener in the current generation) or should not (NULL)
 * accept on this worker. */
static void listener_sync(struct px_worker *w, uint32_t s, const struct rw_cfg_listener *lc,
                          uint64_t gen)
{
    bool want = lc != NULL;
    struct px_listener_w *l = w->lis[s];
    struct px_slot *slot = w->px->slots[s];
    if (!want) {
        /* a socket opened for a generation this worker skipped (added, then removed
         * again before it looked) would sit bound with nobody accepting; one opened for
         * a generation newer than `gen` is left for it */
        if (atomic_load(&slot->open_gen) <= gen) {
            int fd = atomic_exchange(&slot->fd[w->id], -1);
            if (fd >= 0)
                close(fd);
        }
        if (l && l->want)
            listener_close(l);
        return;
    }
    int fd = atomic_exchange(&slot->fd[w->id], -1); /* a socket the main thread opened */
    if (!l) {
        l = calloc(1, sizeof(*l));
        if (!l) {
            if (fd >= 0)
                close(fd);
            rw_log(RW_LOG_ERR, "listener %s: out of memory", slot->name);
            return;
        }
        l->w = w;
        l->slot = slot;
        l->slot_id = s;
        l->fd = -1;
        rw_timer_init(&l->retry, listener_retry, l);
        w->lis[s] = l;
    }
    if (l->fd >= 0 && fd >= 0) {
        close(fd); /* re-added before the old socket closed: keep that one */
        fd = -1;
    }
    if (l->fd < 0 && fd >= 0) {
        l->fd = fd;
        l->defer = -1; /* a fresh socket: set as its generation asked; set it once more */
    }
    l->want = true;
    listener_defer(l, lc->defer_accept);
    listener_arm(l);
}

/* The current generation changed: take it for new requests, open and close listeners,
 * let go of pooled connections to upstreams it no longer has. Worker thread. */
static void worker_sync(struct px_worker *w)
{
    struct rw_proxy *p = w->px;
    struct px_gen *g = rw_rcu_load((void *const *)&p->gen);
    if (!g || g == w->gen)
        return;
    atomic_fetch_add(&g->refs, 1); /* safe: QSBR keeps g until this loop turn ends */
    struct px_gen *old = w->gen;
    w->gen = g;
    uint32_t n = g->nslots;
    for (uint32_t s = 0; s < n || s < w->nlis; s++)
        listener_sync(w, s,
                      !w->stopping && s < n && g->slot_lis[s] >= 0
                          ? &g->cfg->listeners[g->slot_lis[s]]
                          : NULL,
                      g->id);
    if (n > w->nlis)
        w->nlis = n;
    if (!old)
        return;
    for (uint32_t i = 0; i < old->cfg->nupstreams; i++)
        if (atomic_load(&old->ups[i]->retired))
            px_up_close_idle(w, old->ups[i]);
    if (old->w[w->id].n == 0)
        px_gen_unref(p, old);
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
        if (w->lis[i])
            listener_close(w->lis[i]);
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
    worker_sync(w); /* a reload published a generation */
    if (!atomic_load(&w->stop_req))
        return;
    if (w->stopping && atomic_load(&w->px->drain_ms) == 0)
        px__conns_stop_all(w, true); /* a second stop signal: no more waiting */
    worker_begin_stop(w);
}

static int worker_setup(struct px_worker *w)
{
    const struct rw_cfg *cfg = w->cfg0;
    /* bulk buffers carry response bodies: 256 KiB reads and sends instead of 16 KiB.
     * Each send to a client that waits in its poll wakes it; at 1 MiB, 256 KiB units
     * cost 15-20% less CPU per byte than 128 KiB ones (bench/README.md). 32 of them
     * bound the pool at 8 MiB per worker, committed only as bodies use them. */
    /* fixed_files: every socket that carries ops is closed with rw_io_close (client.c,
     * upstream.c; their close(2) fallbacks run only after it failed, which empties the
     * slot all the same) */
    struct rw_loop_cfg lc = {.backend = w->px->io->name,
                             .bulk_count = 32,
                             .bulk_size = 262144,
                             .fixed_files = true,
                             .coalesce_us = cfg->io_coalesce_us};
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
    /* connections live in chunks of their own, packed, apart from request buffers */
    w->conn_slab = rw_slab_new(sizeof(struct px_conn));
    w->up_slab = rw_slab_new(sizeof(struct px_up));
    w->hdrs = calloc(RW_H1_MAX_HEADERS, sizeof(struct rw_hdr));
    w->lis = calloc(PX_MAX_SLOTS, sizeof(*w->lis));
    w->match_data = pcre2_match_data_create(1, NULL);
    w->match_ctx = pcre2_match_context_create(NULL);
    if (w->match_ctx) {
        /* a pathological pattern must cost bounded time per request */
        pcre2_set_match_limit(w->match_ctx, PX_RE_MATCH_LIMIT);
        pcre2_set_depth_limit(w->match_ctx, PX_RE_DEPTH_LIMIT);
    }
    if (!w->hbufs || !w->conn_slab || !w->up_slab || !w->hdrs || !w->lis || !w->match_data ||
        !w->match_ctx)
        return -ENOMEM;
    return 0;
}

static void worker_teardown(struct px_worker *w)
{
    for (uint32_t i = 0; w->lis && i < w->nlis; i++) {
        if (w->lis[i] && w->lis[i]->fd >= 0)
            close(w->lis[i]->fd);
        free(w->lis[i]);
    }
    free(w->lis);
    w->lis = NULL;
    if (w->gen)
        px_gen_unref(w->px, w->gen);
    w->gen = NULL;
    while (w->nhbufs)
        free(w->hbufs[--w->nhbufs]);
    while (w->xchg_free) {
        struct px_xchg *x = w->xchg_free;
        w->xchg_free = x->next;
        free(x);
    }
    free(w->hbufs);
    rw_slab_free(w->conn_slab);
    rw_slab_free(w->up_slab);
    w->conn_slab = w->up_slab = NULL;
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
        if (w->lis[i] && w->lis[i]->armed)
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
    worker_sync(w); /* the current generation and its listeners */
    atomic_store(&w->started, 1);
    if (atomic_load(&w->stop_req))
        worker_begin_stop(w);
    while (!worker_idle_done(w)) {
        if (atomic_load_explicit(&w->px->gen_id, memory_order_relaxed) != w->gen->id)
            worker_sync(w);
        rc = rw_loop_run_once(w->loop, w->tls_ready || w->utls_ready ? 0 : -1);
        if (rc < 0 && rc != -EINTR && rc != -ETIME && rc != -EAGAIN) {
            rw_log(RW_LOG_ERR, "worker %u: loop: %s", w->id, rw_strerror(rc));
            break;
        }
        uint64_t it, busy;
        rw_loop_stats(w->loop, &it, &busy);
        atomic_store_explicit(&w->st_iters, it, memory_order_relaxed);
        atomic_store_explicit(&w->st_busy_ns, busy, memory_order_relaxed);
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

/* A burst of requests leaves freed request buffers spread through the workers'
 * malloc arenas, resident where they were touched (measured: 150-300 bytes per
 * idle connection held after a burst). When the workers have done real work since
 * the last trim and are quiet now, give those free pages back (malloc_trim, which
 * releases free pages inside the arenas too). Under load it never runs. */
#define PX_TRIM_WORK_NS (5ull * 1000 * 1000)  /* work since the last trim */
#define PX_TRIM_QUIET_NS (2ull * 1000 * 1000)  /* at most this much in the last tick */

static void px_heap_trim(struct rw_proxy *p)
{
    uint64_t busy = 0;
    for (uint32_t i = 0; i < p->nworkers; i++)
        busy += atomic_load_explicit(&p->workers[i].st_busy_ns, memory_order_relaxed);
    uint64_t tick = busy >= p->trim_busy_ns ? busy - p->trim_busy_ns : 0;
    p->trim_busy_ns = busy;
    p->trim_work_ns += tick;
    if (p->trim_work_ns < PX_TRIM_WORK_NS || tick > PX_TRIM_QUIET_NS)
        return;
    p->trim_work_ns = 0;
    malloc_trim(0);
}

void rw_proxy_tick(struct rw_proxy *p)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    px_ops_lock(p); /* the admin thread may add servers or reload */
    const struct px_gen *g = p->gen;
    for (uint32_t i = 0; i < g->cfg->nupstreams; i++)
        rw_pool_tick(g->ups[i]->pool, now);
    px_reap(p); /* generations whose last request ended */
    px_tls_reload(p, false); /* certificate files that changed on disk */
    px_ops_unlock(p);
    px_heap_trim(p);
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
    if (!p->workers)
        goto nomem;
    for (uint32_t i = 0; i < nworkers; i++) {
        struct px_worker *w = &p->workers[i];
        w->id = i;
        w->px = p;
        w->cfg0 = cfg;
        snprintf(w->name, sizeof(w->name), "w%u", i);
    }
    p->health = rw_health_new(io, nworkers, err);
    if (!p->health) {
        rw_proxy_free(p);
        return NULL;
    }
    struct px_cfgref *cr = px_cfgref_new((struct rw_cfg *)cfg, false);
    if (!cr)
        goto nomem;
    char msg[512];
    p->gen = px_gen_build(p, cr, msg, sizeof(msg));
    px_cfgref_unref(cr);
    if (!p->gen) {
        rw_log(RW_LOG_ERR, "%s", msg);
        *err = -EINVAL;
        rw_proxy_free(p);
        return NULL;
    }
    atomic_store(&p->gen_id, p->gen->id);
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
    }
    rw_health_stop(p->health); /* before the pools go */
    px_gen_free_all(p);
    rw_health_free(p->health);
    rw_sticky_key_free(p->sticky_key);
    if (p->tls_keys)
        rw_tls_keys_unref(p->tls_keys);
    px_ops_free(p); /* after the pools: they borrow the names of servers added at run time */
    free(p->workers);
    free(p);
}
