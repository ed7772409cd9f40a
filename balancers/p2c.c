/* SPDX-License-Identifier: MIT */
/* Power of two choices ("p2c") on peak-EWMA latency x in-flight, and the EWMA itself. */
#include "balancers/algos.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

/*
 * Finagle/Linkerd style: draw two distinct servers by weight and take the cheaper,
 * cost = ewma * (inflight + 1). The EWMA is peak-sensitive: a sample above it replaces
 * it at once; otherwise it moves toward the sample by 1 - exp(-dt / tau), dt being the
 * time since the previous sample, so tau is a time constant whatever the request rate.
 * Reads decay it toward zero by exp(-dt / tau) too: a server that got no traffic since
 * it was slow is probed again. A server without samples borrows the other candidate's
 * EWMA, so new servers compete on in-flight count alone and do get traffic.
 *
 * The EWMA and its time stamp share one atomic word (float us << 32 | ms & 0xffffffff)
 * on the in-flight counter's cache line, which release writes anyway; updates are a
 * CAS loop. Elapsed times are computed in 32-bit signed ms: workers' clocks differ by
 * a loop turn, so a stamp slightly ahead of now counts as no time.
 */

#define PEAK_TAU_MS 10000.0
#define PEAK_READ_DECAY_MIN_MS 100 /* below this a read skips exp(): error < 1% */
#define P2C_REDRAWS 2

static inline uint64_t peak_pack(float e, uint64_t now_ms)
{
    uint32_t bits;
    memcpy(&bits, &e, sizeof(bits));
    uint64_t w = (uint64_t)bits << 32 | (uint32_t)now_ms;
    return w ? w : 1; /* 0 means "no sample" */
}

static inline float peak_ewma(uint64_t w)
{
    uint32_t bits = (uint32_t)(w >> 32);
    float e;
    memcpy(&e, &bits, sizeof(e));
    return e;
}

static inline int32_t peak_age(uint64_t w, uint64_t now_ms)
{
    int32_t d = (int32_t)((uint32_t)now_ms - (uint32_t)w);
    return d > 0 ? d : 0;
}

double rw__peak_read(const struct rw_backend *b, uint64_t now_ms)
{
    uint64_t w = atomic_load_explicit(&b->_peak, memory_order_relaxed);
    if (!w)
        return -1;
    double e = peak_ewma(w);
    int32_t d = peak_age(w, now_ms);
    if (d >= PEAK_READ_DECAY_MIN_MS)
        e *= exp(-(double)d / PEAK_TAU_MS);
    return e;
}

void rw__peak_observe(struct rw_backend *b, double sample_us, uint64_t now_ms, bool ok)
{
    uint64_t old = atomic_load_explicit(&b->_peak, memory_order_relaxed), nw;
    do {
        double e = sample_us;
        if (old) {
            double prev = peak_ewma(old);
            int32_t d = peak_age(old, now_ms);
            /* No time passed (or a failure, whose fast answer must not make the server
             * look fast): a lower sample leaves the average, and exp() is skipped. */
            if (sample_us <= prev)
                e = ok && d ? prev * exp(-(double)d / PEAK_TAU_MS) +
                                  sample_us * (1 - exp(-(double)d / PEAK_TAU_MS))
                            : prev;
        }
        nw = peak_pack((float)e, now_ms);
    } while (!atomic_compare_exchange_weak_explicit(&b->_peak, &old, nw, memory_order_relaxed,
                                                    memory_order_relaxed));
}

struct p2c_worker {
    _Alignas(64) struct rw__wtab t;
    uint64_t rng;
};

struct p2c_lb {
    struct rw_lb base;
    struct p2c_worker *w; /* owned: nworkers, cache-line aligned */
};

static int p2c_create(struct rw_lb **out, const struct rw_lb_params *params, uint32_t nworkers)
{
    struct p2c_lb *l = calloc(1, sizeof(*l));
    if (!l)
        return -ENOMEM;
    l->w = rw__lb_workers_alloc(nworkers, sizeof(*l->w));
    if (!l->w) {
        free(l);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < nworkers; i++)
        l->w[i].rng = rw_lb_hash(&i, sizeof(i), (uint64_t)(uintptr_t)l ^ 0x703263);
    l->base.ops = &rw_lb_p2c;
    l->base.nworkers = nworkers;
    *out = &l->base;
    return 0;
}

static void p2c_destroy(struct rw_lb *lb)
{
    struct p2c_lb *l = (struct p2c_lb *)lb;
    for (uint32_t i = 0; i < lb->nworkers; i++)
        rw__wtab_free(&l->w[i].t);
    free(l->w);
    free(l);
}

static void p2c_rebuild(struct rw_lb *lb, uint32_t worker, const struct rw_backend_set *set)
{
    RW_ASSERT(worker < lb->nworkers);
    (void)rw__wtab_build(&((struct p2c_lb *)lb)->w[worker].t, set);
}

/* True when a is cheaper than or as cheap as c (a wins ties: it was drawn first). */
static bool p2c_cheaper(const struct rw_backend *a, const struct rw_backend *c, uint64_t now_ms)
{
    double ea = rw__peak_read(a, now_ms), ec = rw__peak_read(c, now_ms);
    if (ea < 0 && ec < 0)
        ea = ec = 1;
    else if (ea < 0)
        ea = ec;
    else if (ec < 0)
        ec = ea;
    int64_t ia = atomic_load_explicit(&a->inflight, memory_order_relaxed);
    int64_t ic = atomic_load_explicit(&c->inflight, memory_order_relaxed);
    return ea * (double)(ia + 1) <= ec * (double)(ic + 1);
}

/* Neither draw may take the request: the cheapest acceptable server, O(n). */
static struct rw_backend *p2c_scan(const struct p2c_worker *ws, const struct rw_backend_set *set,
                                   const struct rw_lb_req *req)
{
    struct rw_backend *best = NULL;
    for (uint32_t i = 0; i < ws->t.n; i++) {
        struct rw_backend *b = set->b[ws->t.pos[i]];
        if (rw__lb_ok(b, req) && (!best || !p2c_cheaper(best, b, req->now_ms)))
            best = b;
    }
    return best;
}

static struct rw_backend *p2c_pick(struct rw_lb *lb, uint32_t worker,
                                   const struct rw_backend_set *set, struct rw_lb_req *req)
{
    RW_ASSERT(worker < lb->nworkers);
    struct p2c_worker *ws = &((struct p2c_lb *)lb)->w[worker];
    if (rw__wtab_refresh(&ws->t, set) < 0 || ws->t.total == 0)
        return NULL;
    uint32_t ka = rw__wtab_find(&ws->t, rw__rand_below(&ws->rng, ws->t.total)), kc = ka;
    for (int i = 0; i < P2C_REDRAWS && kc == ka && ws->t.n > 1; i++)
        kc = rw__wtab_find(&ws->t, rw__rand_below(&ws->rng, ws->t.total));
    if (kc == ka && ws->t.n > 1)
        kc = (ka + 1) % ws->t.n; /* one heavy server: its neighbour is the other choice */
    struct rw_backend *a = set->b[ws->t.pos[ka]], *c = set->b[ws->t.pos[kc]];
    bool oka = rw__lb_ok(a, req), okc = kc != ka && rw__lb_ok(c, req);
    if (oka && okc)
        return p2c_cheaper(a, c, req->now_ms) ? a : c;
    if (oka || okc)
        return oka ? a : c;
    return p2c_scan(ws, set, req);
}

const struct rw_lb_ops rw_lb_p2c = {
    .name = "p2c",
    .create = p2c_create,
    .destroy = p2c_destroy,
    .rebuild = p2c_rebuild,
    .pick = p2c_pick,
};
