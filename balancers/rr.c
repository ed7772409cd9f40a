/* SPDX-License-Identifier: MIT */
/* Smooth weighted round robin ("round_robin"): nginx's order, per-worker state. */
#include "balancers/algos.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

/*
 * The order is nginx's: every pick adds each usable server's effective weight to its
 * current weight, takes the largest (the first in snapshot order on a tie) and
 * subtracts the total from it. With weights fixed the order repeats every
 * W = sum(weights of usable servers) picks, each server exactly weight times a cycle.
 *
 * Each worker caches every server's weight (0 when not usable) and produces that
 * order from the cache, in one of two ways:
 *
 * - stepper: after t picks server i's current weight is (t+1)*w_i - W*c_i, with c_i
 *   its picks so far. Servers of equal weight therefore take turns in snapshot order,
 *   so the pick is the best of one candidate per distinct weight: O(K) for K distinct
 *   weights, with exactly the scan's ties.
 * - schedule (W <= RR_SCHED_MAX): the stepper's picks are recorded as they are made,
 *   so after the first cycle a pick replays one array slot: O(1).
 *
 * Measured (bench/lb_pick.c) this beats the textbook O(n) scan even at 10 servers, so
 * the scan is only the fallback: while the cache is stale (a server's state changed
 * and the counter bump is still in flight), without memory, or for absurd weights.
 *
 * States and effective weights change without a new snapshot, so a worker revalidates
 * its cache (O(n)) when the pool's change counter moves, and restarts the cycle when
 * the cache changed. A request whose next server is in its tried set gets the best
 * untried server by the same key (O(n), retries only), leaving the cycle untouched.
 * A server at its max_conns loses its turn (the slot is consumed, as nginx's scan
 * skips it without adding its weight), so a full server cannot stall the cycle.
 */

#define RR_SCHED_MAX (1u << 16)        /* longest cycle kept as a schedule (256 KiB a worker) */
#define RR_FAST_MAX_TOTAL (1ull << 30) /* keeps (t+1)*w - W*c inside int64 */
#define RR_FULL_SKIPS 8                /* full servers passed over before the O(n) skip */

enum rr_mode {
    RR_SCAN = 0, /* textbook loop over live state */
    RR_FAST,     /* stepper / schedule over the cached weights */
};

/* Servers of one effective weight, taking turns in snapshot order. */
struct rr_class {
    uint32_t weight;
    uint32_t off;   /* first member in memb[] */
    uint32_t size;  /* members */
    uint32_t next;  /* members [off, off + next) are one pick ahead of the rest */
    uint32_t count; /* picks this cycle of the members not ahead */
};

/* One worker's state for one pool; owning worker only. */
struct rr_worker {
    _Alignas(64) uint32_t n; /* servers in the snapshot rebuilt for */
    uint32_t mode;           /* enum rr_mode */
    bool ready;              /* arrays below are sized for n */
    bool fast_built;         /* memb, cls (and sched) describe ew */
    uint64_t seen_changes;   /* the pool's change counter when last revalidated */
    void *mem;               /* owned: one block holding the n-sized arrays below */
    int64_t *cw;             /* borrowed from mem: scan's current weights */
    uint32_t *ew;            /* borrowed from mem: cached weights, 0 = not usable */
    uint32_t *cnt;           /* borrowed from mem: picks of each server this cycle */
    uint32_t *memb;          /* borrowed from mem: usable positions grouped by class */
    struct rr_class *cls;    /* borrowed from mem: nclass classes */
    uint32_t nclass;
    uint64_t total;    /* W, the cycle length */
    uint64_t step;     /* picks made in this cycle, < total */
    uint32_t *sched;   /* owned: total slots, or NULL (stepper only) */
    uint64_t recorded; /* sched[0, recorded) is filled; the stepper stands there */
};

struct rr_lb {
    struct rw_lb base;
    struct rr_worker *w; /* owned: nworkers, cache-line aligned */
};

static struct rr_worker *rr_worker_of(struct rw_lb *lb, uint32_t worker)
{
    RW_ASSERT(worker < lb->nworkers);
    return &((struct rr_lb *)lb)->w[worker];
}

static void rr_worker_clear(struct rr_worker *ws)
{
    free(ws->mem);
    free(ws->sched);
    memset(ws, 0, sizeof(*ws));
}

static int rr_worker_alloc(struct rr_worker *ws, uint32_t n)
{
    size_t a = (size_t)n * sizeof(int64_t), b = (size_t)n * sizeof(uint32_t);
    size_t c = (size_t)n * sizeof(struct rr_class);
    size_t len = (a + 3 * b + c + 63) / 64 * 64;
    /* Own cache lines: the arrays are written on every pick. */
    ws->mem = aligned_alloc(64, len ? len : 64);
    if (!ws->mem)
        return -ENOMEM;
    memset(ws->mem, 0, len ? len : 64);
    char *p = ws->mem;
    ws->cw = (int64_t *)p;
    ws->cls = (struct rr_class *)(p + a);
    ws->ew = (uint32_t *)(p + a + c);
    ws->cnt = ws->ew + n;
    ws->memb = ws->cnt + n;
    ws->n = n;
    return 0;
}

static void rr_enter_scan(struct rr_worker *ws)
{
    if (ws->mode != RR_SCAN)
        memset(ws->cw, 0, (size_t)ws->n * sizeof(*ws->cw));
    ws->mode = RR_SCAN;
}

static void rr_classes_reset(struct rr_worker *ws)
{
    for (uint32_t k = 0; k < ws->nclass; k++) {
        ws->cls[k].next = 0;
        ws->cls[k].count = 0;
    }
}

/* Back to the start of the cycle; a recorded schedule stays valid. */
static void rr_fast_restart(struct rr_worker *ws)
{
    ws->step = 0;
    memset(ws->cnt, 0, (size_t)ws->n * sizeof(*ws->cnt));
    if (!ws->sched)
        rr_classes_reset(ws);
}

static int rr_key_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Group the usable servers by cached weight (members in snapshot order). */
static int rr_fast_build(struct rr_worker *ws, uint64_t total)
{
    uint64_t *keys = malloc((size_t)ws->n * sizeof(*keys));
    if (!keys)
        return -ENOMEM;
    uint32_t m = 0;
    for (uint32_t i = 0; i < ws->n; i++)
        if (ws->ew[i])
            keys[m++] = (uint64_t)ws->ew[i] << 32 | i;
    qsort(keys, m, sizeof(*keys), rr_key_cmp);
    ws->nclass = 0;
    for (uint32_t i = 0; i < m; i++) {
        uint32_t w = (uint32_t)(keys[i] >> 32);
        if (ws->nclass == 0 || ws->cls[ws->nclass - 1].weight != w)
            ws->cls[ws->nclass++] = (struct rr_class){.weight = w, .off = i};
        ws->cls[ws->nclass - 1].size++;
        ws->memb[i] = (uint32_t)keys[i];
    }
    free(keys);
    free(ws->sched);
    /* Without memory for a schedule the stepper alone still gives the same order. */
    ws->sched = total <= RR_SCHED_MAX ? malloc(total * sizeof(*ws->sched)) : NULL;
    ws->recorded = 0;
    ws->total = total;
    rr_classes_reset(ws);
    rr_fast_restart(ws);
    ws->fast_built = true;
    return 0;
}

/* Re-read every server's state and weight into the cache; rebuild it if it changed. */
static void rr_revalidate(struct rr_worker *ws, const struct rw_backend_set *set)
{
    /* Read the counter before the states: a change racing with us moves it again. */
    ws->seen_changes = atomic_load_explicit(set->changes, memory_order_acquire);
    bool same = ws->fast_built;
    uint64_t total = 0;
    for (uint32_t i = 0; i < ws->n; i++) {
        const struct rw_backend *b = set->b[i];
        uint32_t st = atomic_load_explicit(&b->state, memory_order_relaxed);
        uint32_t w = atomic_load_explicit(&b->eff_weight, memory_order_relaxed);
        if (st != RW_BE_UP)
            w = 0;
        if (ws->ew[i] != w) {
            ws->ew[i] = w;
            same = false;
        }
        total += w;
    }
    if (!same)
        ws->fast_built = false;
    /* Nothing usable: the scan answers NULL and notices a server coming back. */
    if (total == 0 || total > RR_FAST_MAX_TOTAL) {
        rr_enter_scan(ws);
        return;
    }
    if (!same) {
        if (rr_fast_build(ws, total) < 0) {
            rr_enter_scan(ws);
            return;
        }
    } else if (ws->mode != RR_FAST) {
        rr_fast_restart(ws);
    }
    ws->mode = RR_FAST;
}

/* nginx's loop over live state; skips unusable and tried servers. */
static struct rw_backend *rr_scan_pick(struct rr_worker *ws, const struct rw_backend_set *set,
                                       const struct rw_lb_req *req)
{
    int64_t total = 0;
    uint32_t best = UINT32_MAX;
    for (uint32_t i = 0; i < ws->n; i++) {
        const struct rw_backend *b = set->b[i];
        uint32_t st = atomic_load_explicit(&b->state, memory_order_relaxed);
        uint32_t w = atomic_load_explicit(&b->eff_weight, memory_order_relaxed);
        if (st != RW_BE_UP || w == 0 || rw_lb_tried(req, b) || rw_backend_full(b))
            continue;
        ws->cw[i] += w;
        total += w;
        if (best == UINT32_MAX || ws->cw[i] > ws->cw[best])
            best = i;
    }
    if (best == UINT32_MAX)
        return NULL;
    ws->cw[best] -= total;
    return set->b[best];
}

/* The next position in the smooth order, without consuming it; *cls is the stepper's
 * class, or UINT32_MAX when the slot is replayed from the schedule. */
static uint32_t rr_fast_peek(const struct rr_worker *ws, uint32_t *cls)
{
    if (ws->sched && ws->step < ws->recorded) {
        *cls = UINT32_MAX;
        return ws->sched[ws->step];
    }
    int64_t t = (int64_t)ws->step + 1, total = (int64_t)ws->total, best_key = 0;
    uint32_t best = UINT32_MAX, best_pos = 0;
    for (uint32_t k = 0; k < ws->nclass; k++) {
        const struct rr_class *c = &ws->cls[k];
        int64_t key = t * c->weight - total * c->count;
        uint32_t pos = ws->memb[c->off + c->next];
        if (best == UINT32_MAX || key > best_key || (key == best_key && pos < best_pos)) {
            best = k;
            best_key = key;
            best_pos = pos;
        }
    }
    *cls = best;
    return best_pos;
}

static void rr_fast_commit(struct rr_worker *ws, uint32_t pos, uint32_t cls)
{
    if (cls != UINT32_MAX) {
        struct rr_class *c = &ws->cls[cls];
        if (++c->next == c->size) {
            c->next = 0;
            c->count++;
        }
        if (ws->sched)
            ws->sched[ws->recorded++] = pos;
    }
    ws->cnt[pos]++;
    if (++ws->step == ws->total)
        rr_fast_restart(ws);
}

/* A tried (or just-changed) server is next: the best other usable server by the
 * stepper's key, without consuming a slot of the cycle. O(n), retries only. */
static struct rw_backend *rr_fast_skip(const struct rr_worker *ws, const struct rw_backend_set *set,
                                       const struct rw_lb_req *req)
{
    int64_t t = (int64_t)ws->step + 1, total = (int64_t)ws->total, best_key = 0;
    uint32_t best = UINT32_MAX;
    for (uint32_t i = 0; i < ws->n; i++) {
        const struct rw_backend *b = set->b[i];
        if (!rw__lb_ok(b, req))
            continue;
        int64_t key = t * ws->ew[i] - total * ws->cnt[i];
        if (best == UINT32_MAX || key > best_key) {
            best = i;
            best_key = key;
        }
    }
    return best == UINT32_MAX ? NULL : set->b[best];
}

static struct rw_backend *rr_fast_pick(struct rr_worker *ws, const struct rw_backend_set *set,
                                       const struct rw_lb_req *req, bool *stale)
{
    for (int i = 0; i < RR_FULL_SKIPS; i++) {
        uint32_t cls, pos = rr_fast_peek(ws, &cls);
        struct rw_backend *b = set->b[pos];
        if (!rw_backend_usable(b)) {
            /* Changed before the counter moved: the writer's bump is on its way. */
            *stale = true;
            return NULL;
        }
        if (rw_lb_tried(req, b))
            return rr_fast_skip(ws, set, req);
        rr_fast_commit(ws, pos, cls);
        if (!rw_backend_full(b))
            return b;
    }
    return rr_fast_skip(ws, set, req);
}

static int rr_create(struct rw_lb **out, const struct rw_lb_params *params, uint32_t nworkers)
{
    struct rr_lb *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->w = aligned_alloc(64, (size_t)nworkers * sizeof(*r->w));
    if (!r->w) {
        free(r);
        return -ENOMEM;
    }
    memset(r->w, 0, (size_t)nworkers * sizeof(*r->w));
    r->base.ops = &rw_lb_round_robin;
    r->base.nworkers = nworkers;
    *out = &r->base;
    return 0;
}

static void rr_destroy(struct rw_lb *lb)
{
    struct rr_lb *r = (struct rr_lb *)lb;
    for (uint32_t i = 0; i < lb->nworkers; i++)
        rr_worker_clear(&r->w[i]);
    free(r->w);
    free(r);
}

static void rr_rebuild(struct rw_lb *lb, uint32_t worker, const struct rw_backend_set *set)
{
    struct rr_worker *ws = rr_worker_of(lb, worker);
    rr_worker_clear(ws);
    /* On -ENOMEM ready stays false: picks answer NULL (503) and retry the rebuild. */
    if (rr_worker_alloc(ws, set->n) < 0)
        return;
    ws->ready = true;
    ws->mode = RR_SCAN;
    rr_revalidate(ws, set);
}

static struct rw_backend *rr_pick(struct rw_lb *lb, uint32_t worker,
                                  const struct rw_backend_set *set, struct rw_lb_req *req)
{
    struct rr_worker *ws = rr_worker_of(lb, worker);
    if (!ws->ready) {
        rr_rebuild(lb, worker, set);
        if (!ws->ready)
            return NULL;
    }
    RW_ASSERT(ws->n == set->n);
    if (atomic_load_explicit(set->changes, memory_order_acquire) != ws->seen_changes)
        rr_revalidate(ws, set);
    if (ws->mode == RR_FAST) {
        bool stale = false;
        struct rw_backend *b = rr_fast_pick(ws, set, req, &stale);
        if (!stale)
            return b;
        rr_enter_scan(ws);
    }
    return rr_scan_pick(ws, set, req);
}

const struct rw_lb_ops rw_lb_round_robin = {
    .name = "round_robin",
    .create = rr_create,
    .destroy = rr_destroy,
    .rebuild = rr_rebuild,
    .pick = rr_pick,
};
