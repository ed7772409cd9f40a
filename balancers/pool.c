/* SPDX-License-Identifier: MIT */
/* An upstream's backend objects, its RCU-published snapshots and the pick entry point. */
#include "balancers/lb.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/rcu.h"

/* Each worker's "generation last rebuilt for" sits on its own cache line. */
#define POOL_SEEN_STRIDE (64 / sizeof(uint64_t))
#define POOL_MAX_WEIGHT 1000

static struct rw_backend_set *pool_set_new(const struct rw_pool *p, struct rw_backend *const *b,
                                           uint32_t n, uint64_t generation)
{
    struct rw_backend_set *s = malloc(sizeof(*s) + (size_t)n * sizeof(*s->b));
    if (!s)
        return NULL;
    s->generation = generation;
    s->n = n;
    s->b = (struct rw_backend **)(s + 1);
    if (n)
        memcpy(s->b, b, (size_t)n * sizeof(*s->b));
    s->changes = &p->_changes;
    return s;
}

static int pool_backend_create(struct rw_pool *p, const char *name,
                               const struct sockaddr_storage *addr, socklen_t addrlen,
                               uint32_t weight, struct rw_backend **out)
{
    if (weight < 1 || weight > POOL_MAX_WEIGHT || addrlen > sizeof(struct sockaddr_storage))
        return -EINVAL;
    if (p->nbackends == p->_cap) {
        uint32_t cap = p->_cap ? p->_cap * 2 : 8;
        struct rw_backend **nb = realloc(p->backends, (size_t)cap * sizeof(*nb));
        if (!nb)
            return -ENOMEM;
        p->backends = nb;
        p->_cap = cap;
    }
    /* inflight is cache-line aligned, so the object is too. */
    struct rw_backend *b = aligned_alloc(_Alignof(struct rw_backend), sizeof(*b));
    if (!b)
        return -ENOMEM;
    memset(b, 0, sizeof(*b));
    b->id = p->nbackends;
    b->weight = weight;
    b->name = name;
    if (addr && addrlen) {
        memcpy(&b->addr, addr, addrlen);
        b->addrlen = addrlen;
    }
    b->_changes = &p->_changes;
    atomic_init(&b->state, RW_BE_UP);
    atomic_init(&b->eff_weight, weight);
    atomic_init(&b->inflight, 0);
    p->backends[p->nbackends++] = b;
    *out = b;
    return 0;
}

static int pool_init(struct rw_pool *p, const struct rw_lb_ops *ops, const char *const *names,
                     const struct sockaddr_storage *addrs, const socklen_t *addrlens,
                     const uint32_t *weights, uint32_t n)
{
    size_t nseen = (size_t)p->_nworkers * POOL_SEEN_STRIDE;
    p->_seen_gen = aligned_alloc(64, nseen * sizeof(uint64_t));
    if (!p->_seen_gen)
        return -ENOMEM;
    /* Generation 0 is never published, so every worker rebuilds before its first pick. */
    memset(p->_seen_gen, 0, nseen * sizeof(uint64_t));
    for (uint32_t i = 0; i < n; i++) {
        struct rw_backend *b;
        int rc = pool_backend_create(p, names ? names[i] : NULL, addrs ? &addrs[i] : NULL,
                                     addrlens ? addrlens[i] : 0, weights[i], &b);
        if (rc < 0)
            return rc;
    }
    int rc = ops->create(&p->lb, p->_nworkers);
    if (rc < 0)
        return rc;
    p->_set = pool_set_new(p, p->backends, n, 1);
    return p->_set ? 0 : -ENOMEM;
}

struct rw_pool *rw_pool_new(const char *name, const char *algo, const char *const *names,
                            const struct sockaddr_storage *addrs, const socklen_t *addrlens,
                            const uint32_t *weights, uint32_t n, uint32_t nworkers, int *err)
{
    const struct rw_lb_ops *ops = rw_lb_find(algo);
    if (!ops) {
        *err = -ENOENT;
        return NULL;
    }
    if (nworkers == 0 || (n && !weights)) {
        *err = -EINVAL;
        return NULL;
    }
    struct rw_pool *p = calloc(1, sizeof(*p));
    if (!p) {
        *err = -ENOMEM;
        return NULL;
    }
    p->name = name;
    p->_nworkers = nworkers;
    atomic_init(&p->_changes, 0);
    int rc = pool_init(p, ops, names, addrs, addrlens, weights, n);
    if (rc < 0) {
        rw_pool_free(p);
        *err = rc;
        return NULL;
    }
    return p;
}

void rw_pool_free(struct rw_pool *p)
{
    if (!p)
        return;
    if (p->lb)
        p->lb->ops->destroy(p->lb);
    free(p->_set);
    for (uint32_t i = 0; i < p->nbackends; i++)
        free(p->backends[i]);
    free(p->backends);
    free(p->_seen_gen);
    free(p);
}

const struct rw_backend_set *rw_pool_set(struct rw_pool *p)
{
    return rw_rcu_load((void *const *)&p->_set);
}

struct rw_backend *rw_pool_pick(struct rw_pool *p, uint32_t worker, const struct rw_lb_req *req)
{
    RW_ASSERT(worker < p->_nworkers);
    const struct rw_backend_set *set = rw_rcu_load((void *const *)&p->_set);
    uint64_t *seen = &p->_seen_gen[(size_t)worker * POOL_SEEN_STRIDE];
    /* Generations only grow, so "different" means "newer": rebuild this worker's
     * state against exactly the snapshot it is about to pick from. */
    if (*seen != set->generation) {
        p->lb->ops->rebuild(p->lb, worker, set);
        *seen = set->generation;
    }
    return p->lb->ops->pick(p->lb, worker, set, req);
}

struct rw_backend *rw_pool_add_backend(struct rw_pool *p, const char *name,
                                       const struct sockaddr_storage *addr, socklen_t addrlen,
                                       uint32_t weight, int *err)
{
    struct rw_backend *b = NULL;
    int rc = pool_backend_create(p, name, addr, addrlen, weight, &b);
    if (rc < 0) {
        *err = rc;
        return NULL;
    }
    return b;
}

static int pool_check_list(const struct rw_pool *p, struct rw_backend *const *b, uint32_t n)
{
    size_t words = ((size_t)p->nbackends + 63) / 64;
    uint64_t *seen = calloc(words ? words : 1, sizeof(uint64_t));
    if (!seen)
        return -ENOMEM;
    int rc = 0;
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        if (!b[i] || b[i]->id >= p->nbackends || p->backends[b[i]->id] != b[i]) {
            rc = -EINVAL;
            break;
        }
        uint64_t bit = 1ull << (b[i]->id % 64);
        if (seen[b[i]->id / 64] & bit)
            rc = -EINVAL;
        seen[b[i]->id / 64] |= bit;
    }
    free(seen);
    return rc;
}

int rw_pool_publish(struct rw_pool *p, struct rw_backend **b, uint32_t n)
{
    if (n && !b)
        return -EINVAL;
    int rc = pool_check_list(p, b, n);
    if (rc < 0)
        return rc;
    /* Only the writer stores p->_set, so a plain read of it is current here. */
    struct rw_backend_set *old = p->_set;
    struct rw_backend_set *s = pool_set_new(p, b, n, old->generation + 1);
    if (!s)
        return -ENOMEM;
    rw_rcu_store((void **)&p->_set, s);
    rw_rcu_synchronize();
    free(old);
    return 0;
}

static void backend_changed(struct rw_backend *b)
{
    if (b->_changes)
        atomic_fetch_add_explicit(b->_changes, 1, memory_order_release);
}

void rw_backend_set_state(struct rw_backend *b, enum rw_be_state s)
{
    atomic_store_explicit(&b->state, (uint32_t)s, memory_order_relaxed);
    backend_changed(b);
}

void rw_backend_set_weight(struct rw_backend *b, uint32_t eff_weight)
{
    atomic_store_explicit(&b->eff_weight, eff_weight, memory_order_relaxed);
    backend_changed(b);
}
