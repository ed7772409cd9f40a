/* SPDX-License-Identifier: MIT */
/* Consistent hashing ("hash", "ip_hash"): Maglev or ring, bounded load, RR without a key. */
#include "balancers/algos.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

/*
 * The proxy hashes the request's key (or the masked client address for ip_hash) and
 * passes it in req->hash; the two names share this file and differ only in name.
 *
 * Each worker builds its table (Maglev by default, or a ring) over the servers usable
 * when it built, as Maglev does on backend changes, and rebuilds when the snapshot or
 * the pool's change counter moves. A key's server may still be unacceptable at pick
 * time (tried, full, over its bounded load, or changed before the counter moved): then
 * the key walks a deterministic sequence, the Maglev probe slot + i * step(key) or the
 * ring's next points clockwise, then the usable servers in order from a key-chosen
 * start. Bounded load (Mirrokni et al.): with factor c a server accepts the key only
 * while its in-flight < ceil(c * (total in-flight + 1) / usable servers); if no server
 * passes that (all others tried or full), the bound is dropped rather than fail.
 * Without a key (has_hash false) an embedded round robin answers.
 */

#define CH_PROBES_PER_SERVER 4
#define CH_PROBES_MIN 16

struct ch_worker {
    _Alignas(64) bool ready; /* w/usable/table describe the view last rebuilt for */
    uint64_t seen_changes;
    uint32_t n;       /* view size */
    uint32_t *w;      /* owned: cached weight per view position, 0 = not usable */
    uint32_t *usable; /* owned: positions with w > 0, in view order */
    uint32_t nusable;
    struct rw__maglev mg;
    struct rw__ring ring;
};

struct ch_lb {
    struct rw_lb base;
    uint8_t method;      /* RW_LB_HASH_* */
    double factor;       /* bounded load c, 0 = off */
    struct rw_lb *rr;    /* owned: round robin for requests without a key */
    struct ch_worker *w; /* owned: nworkers, cache-line aligned */
};

static void ch_worker_clear(struct ch_worker *ws)
{
    free(ws->w);
    free(ws->usable);
    rw__maglev_free(&ws->mg);
    rw__ring_free(&ws->ring);
    memset(ws, 0, sizeof(*ws));
}

static int ch_create_as(struct rw_lb **out, const struct rw_lb_params *params, uint32_t nworkers,
                        const struct rw_lb_ops *ops)
{
    struct ch_lb *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->base.ops = ops;
    c->base.nworkers = nworkers;
    c->method = params->hash_method;
    c->factor = params->balance_factor;
    c->w = rw__lb_workers_alloc(nworkers, sizeof(*c->w));
    int rc = c->w ? rw_lb_round_robin.create(&c->rr, params, nworkers) : -ENOMEM;
    if (rc < 0) {
        free(c->w);
        free(c);
        return rc;
    }
    *out = &c->base;
    return 0;
}

static int ch_create(struct rw_lb **out, const struct rw_lb_params *params, uint32_t nworkers)
{
    return ch_create_as(out, params, nworkers, &rw_lb_hash_ops);
}

static int ch_create_ip(struct rw_lb **out, const struct rw_lb_params *params, uint32_t nworkers)
{
    return ch_create_as(out, params, nworkers, &rw_lb_ip_hash);
}

static void ch_destroy(struct rw_lb *lb)
{
    struct ch_lb *c = (struct ch_lb *)lb;
    for (uint32_t i = 0; i < lb->nworkers; i++)
        ch_worker_clear(&c->w[i]);
    c->rr->ops->destroy(c->rr);
    free(c->w);
    free(c);
}

/* Re-read the view's weights; rebuild the table when they differ from the cache. */
static void ch_revalidate(const struct ch_lb *c, struct ch_worker *ws,
                          const struct rw_backend_set *set)
{
    ws->seen_changes = atomic_load_explicit(set->changes, memory_order_acquire);
    bool same = ws->ready;
    uint32_t k = 0;
    for (uint32_t i = 0; i < ws->n; i++) {
        uint32_t w = rw__lb_weight(set->b[i]);
        same = same && ws->w[i] == w;
        ws->w[i] = w;
        if (w)
            ws->usable[k++] = i;
    }
    if (same)
        return;
    ws->nusable = k;
    int rc = c->method == RW_LB_HASH_RING ? rw__ring_build(&ws->ring, set, ws->w)
                                          : rw__maglev_build(&ws->mg, set, ws->w);
    /* Nothing usable (-ENOENT) is a valid state; -ENOMEM retries on the next pick. */
    ws->ready = rc == 0 || rc == -ENOENT;
    if (rc == -ENOENT)
        ws->nusable = 0;
}

static void ch_rebuild(struct rw_lb *lb, uint32_t worker, const struct rw_backend_set *set)
{
    RW_ASSERT(worker < lb->nworkers);
    struct ch_lb *c = (struct ch_lb *)lb;
    struct ch_worker *ws = &c->w[worker];
    c->rr->ops->rebuild(c->rr, worker, set);
    ch_worker_clear(ws);
    size_t n = set->n ? set->n : 1;
    ws->w = calloc(n, sizeof(*ws->w));
    ws->usable = calloc(n, sizeof(*ws->usable));
    if (!ws->w || !ws->usable) {
        ch_worker_clear(ws);
        return;
    }
    ws->n = set->n;
    ch_revalidate(c, ws, set);
}

static inline bool ch_ok(const struct rw_backend *b, const struct rw_lb_req *req, int64_t bound)
{
    return rw__lb_ok(b, req) && atomic_load_explicit(&b->inflight, memory_order_relaxed) < bound;
}

static int64_t ch_bound(const struct ch_lb *c, const struct ch_worker *ws,
                        const struct rw_backend_set *set)
{
    if (c->factor <= 0)
        return INT64_MAX;
    int64_t total = atomic_load_explicit(set->total_inflight, memory_order_relaxed);
    double v = ceil(c->factor * (double)(total + 1) / ws->nusable);
    return v >= (double)INT64_MAX ? INT64_MAX : (int64_t)v;
}

/* The key's walk through the table; UINT32_MAX when it found nothing acceptable. */
static uint32_t ch_walk(const struct ch_lb *c, const struct ch_worker *ws,
                        const struct rw_backend_set *set, const struct rw_lb_req *req,
                        int64_t bound)
{
    uint32_t probes = CH_PROBES_PER_SERVER * ws->nusable + CH_PROBES_MIN;
    if (c->method == RW_LB_HASH_RING) {
        uint32_t at = rw__ring_find(&ws->ring, req->hash), np = ws->ring.npoints;
        for (uint32_t i = 0; i < probes && i < np; i++) {
            uint32_t pos = ws->ring.pos[at];
            if (ch_ok(set->b[pos], req, bound))
                return pos;
            at = at + 1 == np ? 0 : at + 1;
        }
        return UINT32_MAX;
    }
    uint32_t m = ws->mg.m, slot = (uint32_t)(req->hash % m);
    uint32_t step = 1 + (uint32_t)(rw__rand_next(&(uint64_t){req->hash}) % (m - 1));
    for (uint32_t i = 0; i < probes; i++) {
        uint32_t pos = ws->mg.slot[slot];
        if (ch_ok(set->b[pos], req, bound))
            return pos;
        slot = slot + step >= m ? slot + step - m : slot + step;
    }
    return UINT32_MAX;
}

/* Last resort, still deterministic per key: usable servers in order from a key slot. */
static struct rw_backend *ch_scan(const struct ch_worker *ws, const struct rw_backend_set *set,
                                  const struct rw_lb_req *req, int64_t bound)
{
    uint32_t start = (uint32_t)((req->hash >> 17) % ws->nusable);
    for (uint32_t i = 0; i < ws->nusable; i++) {
        struct rw_backend *b = set->b[ws->usable[(start + i) % ws->nusable]];
        if (ch_ok(b, req, bound))
            return b;
    }
    return NULL;
}

static struct rw_backend *ch_pick(struct rw_lb *lb, uint32_t worker,
                                  const struct rw_backend_set *set, struct rw_lb_req *req)
{
    RW_ASSERT(worker < lb->nworkers);
    struct ch_lb *c = (struct ch_lb *)lb;
    if (!req->has_hash)
        return c->rr->ops->pick(c->rr, worker, set, req);
    struct ch_worker *ws = &c->w[worker];
    if (!ws->w) {
        ch_rebuild(lb, worker, set);
        if (!ws->w)
            return NULL;
    }
    if (!ws->ready || atomic_load_explicit(set->changes, memory_order_acquire) != ws->seen_changes)
        ch_revalidate(c, ws, set);
    if (!ws->ready || ws->nusable == 0)
        return NULL;
    int64_t bound = ch_bound(c, ws, set);
    uint32_t pos = ch_walk(c, ws, set, req, bound);
    if (pos != UINT32_MAX)
        return set->b[pos];
    struct rw_backend *b = ch_scan(ws, set, req, bound);
    return b || bound == INT64_MAX ? b : ch_scan(ws, set, req, INT64_MAX);
}

const struct rw_lb_ops rw_lb_hash_ops = {
    .name = "hash",
    .create = ch_create,
    .destroy = ch_destroy,
    .rebuild = ch_rebuild,
    .pick = ch_pick,
};

const struct rw_lb_ops rw_lb_ip_hash = {
    .name = "ip_hash",
    .create = ch_create_ip,
    .destroy = ch_destroy,
    .rebuild = ch_rebuild,
    .pick = ch_pick,
};
