/* SPDX-License-Identifier: MIT */
/* Least connections ("least_conn"): fewest in-flight per weight, ties round robin. */
#include "balancers/algos.h"

#include <errno.h>
#include <stdlib.h>

#include "core/log.h"

/*
 * In-flight counts are the shared per-server atomics every pick and release already
 * write, so a worker sees the other workers' load. The scan is O(n) with no cache:
 * the counts move on every request anyway. Scores compare as inflight_a * w_b <
 * inflight_b * w_a (no division); the scan starts at the worker's cursor and only a
 * strictly better score replaces the best, so equal scores take turns.
 */

struct lc_worker {
    _Alignas(64) uint32_t cursor; /* where the next scan starts */
};

struct lc_lb {
    struct rw_lb base;
    struct lc_worker *w; /* owned: nworkers, cache-line aligned */
};

static int lc_create(struct rw_lb **out, const struct rw_lb_params *params, uint32_t nworkers)
{
    struct lc_lb *l = calloc(1, sizeof(*l));
    if (!l)
        return -ENOMEM;
    l->w = rw__lb_workers_alloc(nworkers, sizeof(*l->w));
    if (!l->w) {
        free(l);
        return -ENOMEM;
    }
    l->base.ops = &rw_lb_least_conn;
    l->base.nworkers = nworkers;
    *out = &l->base;
    return 0;
}

static void lc_destroy(struct rw_lb *lb)
{
    struct lc_lb *l = (struct lc_lb *)lb;
    free(l->w);
    free(l);
}

static void lc_rebuild(struct rw_lb *lb, uint32_t worker, const struct rw_backend_set *set)
{
    RW_ASSERT(worker < lb->nworkers);
    ((struct lc_lb *)lb)->w[worker].cursor = 0;
}

static struct rw_backend *lc_pick(struct rw_lb *lb, uint32_t worker,
                                  const struct rw_backend_set *set, struct rw_lb_req *req)
{
    RW_ASSERT(worker < lb->nworkers);
    struct lc_worker *ws = &((struct lc_lb *)lb)->w[worker];
    uint32_t n = set->n, i = ws->cursor < n ? ws->cursor : 0, best = UINT32_MAX;
    int64_t best_inf = 0, best_w = 1;
    for (uint32_t k = 0; k < n; k++, i = i + 1 == n ? 0 : i + 1) {
        const struct rw_backend *b = set->b[i];
        if (!rw__lb_ok(b, req))
            continue;
        int64_t w = atomic_load_explicit(&b->eff_weight, memory_order_relaxed);
        int64_t inf = atomic_load_explicit(&b->inflight, memory_order_relaxed);
        if (w <= 0)
            continue;
        if (best == UINT32_MAX || inf * best_w < best_inf * w) {
            best = i;
            best_inf = inf;
            best_w = w;
        }
    }
    if (best == UINT32_MAX)
        return NULL;
    ws->cursor = best + 1 == n ? 0 : best + 1;
    return set->b[best];
}

const struct rw_lb_ops rw_lb_least_conn = {
    .name = "least_conn",
    .create = lc_create,
    .destroy = lc_destroy,
    .rebuild = lc_rebuild,
    .pick = lc_pick,
};
