/* SPDX-License-Identifier: MIT */
/* "first": the first usable server in configuration order that is under max_conns. */
#include "balancers/algos.h"

#include <errno.h>
#include <stdlib.h>

/*
 * For cost-saving pools: traffic fills the first server up to its max_conns before
 * the next one gets any, so the tail of an autoscaled pool can idle and scale in.
 * A server with max_conns 0 is never full, so it takes everything that reaches it.
 * Stateless: the shared in-flight counters are the whole state.
 */

static int first_create(struct rw_lb **out, const struct rw_lb_params *params, uint32_t nworkers)
{
    struct rw_lb *lb = calloc(1, sizeof(*lb));
    if (!lb)
        return -ENOMEM;
    lb->ops = &rw_lb_first;
    lb->nworkers = nworkers;
    *out = lb;
    return 0;
}

static void first_destroy(struct rw_lb *lb)
{
    free(lb);
}

static void first_rebuild(struct rw_lb *lb, uint32_t worker, const struct rw_backend_set *set)
{
}

static struct rw_backend *first_pick(struct rw_lb *lb, uint32_t worker,
                                     const struct rw_backend_set *set, struct rw_lb_req *req)
{
    for (uint32_t i = 0; i < set->n; i++)
        if (rw__lb_ok(set->b[i], req))
            return set->b[i];
    return NULL;
}

const struct rw_lb_ops rw_lb_first = {
    .name = "first",
    .create = first_create,
    .destroy = first_destroy,
    .rebuild = first_rebuild,
    .pick = first_pick,
};
