/* SPDX-License-Identifier: MIT */
/* Weighted random ("random"): prefix sums and a binary search, per-worker PRNG. */
#include "balancers/algos.h"

#include <errno.h>
#include <stdlib.h>

#include "core/log.h"

/*
 * Each worker keeps a table of the usable servers' effective weights (rw__wtab),
 * rebuilt when the snapshot or the pool's change counter moves, and draws from it with
 * its own splitmix64 state (seeded from the worker id and the lb's address, so workers
 * and pools do not march in step). A draw that lands on a tried or full server draws
 * again a few times, then takes the next acceptable server in table order.
 */

#define RND_REDRAWS 3

struct rnd_worker {
    _Alignas(64) struct rw__wtab t;
    uint64_t rng;
};

struct rnd_lb {
    struct rw_lb base;
    struct rnd_worker *w; /* owned: nworkers, cache-line aligned */
};

static int rnd_create(struct rw_lb **out, const struct rw_lb_params *params, uint32_t nworkers)
{
    struct rnd_lb *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->w = rw__lb_workers_alloc(nworkers, sizeof(*r->w));
    if (!r->w) {
        free(r);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < nworkers; i++)
        r->w[i].rng = rw_lb_hash(&i, sizeof(i), (uint64_t)(uintptr_t)r);
    r->base.ops = &rw_lb_random;
    r->base.nworkers = nworkers;
    *out = &r->base;
    return 0;
}

static void rnd_destroy(struct rw_lb *lb)
{
    struct rnd_lb *r = (struct rnd_lb *)lb;
    for (uint32_t i = 0; i < lb->nworkers; i++)
        rw__wtab_free(&r->w[i].t);
    free(r->w);
    free(r);
}

static void rnd_rebuild(struct rw_lb *lb, uint32_t worker, const struct rw_backend_set *set)
{
    RW_ASSERT(worker < lb->nworkers);
    /* On -ENOMEM the table stays not ready and the next pick tries again. */
    (void)rw__wtab_build(&((struct rnd_lb *)lb)->w[worker].t, set);
}

static struct rw_backend *rnd_pick(struct rw_lb *lb, uint32_t worker,
                                   const struct rw_backend_set *set, struct rw_lb_req *req)
{
    RW_ASSERT(worker < lb->nworkers);
    struct rnd_worker *ws = &((struct rnd_lb *)lb)->w[worker];
    if (rw__wtab_refresh(&ws->t, set) < 0 || ws->t.total == 0)
        return NULL;
    uint32_t k = 0;
    for (int i = 0; i <= RND_REDRAWS; i++) {
        k = rw__wtab_find(&ws->t, rw__rand_below(&ws->rng, ws->t.total));
        struct rw_backend *b = set->b[ws->t.pos[k]];
        if (rw__lb_ok(b, req))
            return b;
    }
    for (uint32_t i = 1; i < ws->t.n; i++) {
        struct rw_backend *b = set->b[ws->t.pos[(k + i) % ws->t.n]];
        if (rw__lb_ok(b, req))
            return b;
    }
    return NULL;
}

const struct rw_lb_ops rw_lb_random = {
    .name = "random",
    .create = rnd_create,
    .destroy = rnd_destroy,
    .rebuild = rnd_rebuild,
    .pick = rnd_pick,
};
