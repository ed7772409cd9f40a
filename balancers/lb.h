/* SPDX-License-Identifier: MIT */
/* The shared backend table and the balancer seam: workers pick without a lock. */
#ifndef RW_BALANCERS_LB_H
#define RW_BALANCERS_LB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

enum rw_be_state {
    RW_BE_UP = 0,
    RW_BE_DOWN,
    RW_BE_DRAIN, /* no new requests; in-flight ones finish */
};

/* One server's runtime object. Identity fields are fixed at creation; the atomic
 * fields are written by the health thread / admin and read by workers. */
struct rw_backend {
    /* config time, read-only after */
    uint32_t id;      /* index in its upstream's server list */
    uint32_t weight;  /* configured weight 1..1000 */
    const char *name; /* borrowed: the config's server name */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    _Atomic uint64_t *_changes; /* borrowed: the owning pool's change counter, or NULL */
    /* atomic, any thread */
    _Atomic uint32_t state;                /* enum rw_be_state */
    _Atomic uint32_t eff_weight;           /* effective weight (slow start, admin); 0 excluded */
    _Alignas(64) _Atomic int64_t inflight; /* requests in flight, all workers */
};

/* An immutable snapshot of an upstream's servers, published RCU-style. */
struct rw_backend_set {
    uint64_t generation;
    uint32_t n;
    struct rw_backend **b; /* borrowed: the backend objects (they outlive snapshots) */
    /* borrowed: the pool's counter, bumped after every state or weight change of any of
     * its servers (algorithms that cache weights revalidate when it moves); never NULL */
    const _Atomic uint64_t *changes;
};

/* What a pick needs to know about the request. */
struct rw_lb_req {
    const uint64_t *tried; /* bitmap of server ids already tried for this request, or NULL */
    uint32_t ntried_words; /* 64-bit words in tried */
    uint64_t hash;         /* request hash key (later: hash balancers) */
    bool has_hash;
};

struct rw_lb;

/* One algorithm. Per-worker mutable state (cursors, current weights) is private to
 * the algorithm, indexed by worker id and cache-line aligned. */
struct rw_lb_ops {
    const char *name; /* config "balance" value */
    int (*create)(struct rw_lb **out, uint32_t nworkers);
    void (*destroy)(struct rw_lb *lb);
    /* A new snapshot was published; called on the worker before its next pick when
     * it notices the generation changed. */
    void (*rebuild)(struct rw_lb *lb, uint32_t worker, const struct rw_backend_set *set);
    struct rw_backend *(*pick)(struct rw_lb *lb, uint32_t worker, const struct rw_backend_set *set,
                               const struct rw_lb_req *req);
};

/* First member of every algorithm's struct. */
struct rw_lb {
    const struct rw_lb_ops *ops;
    uint32_t nworkers;
};

/* An upstream's runtime: its current snapshot and its balancer. */
struct rw_pool {
    const char *name;             /* borrowed: config */
    struct rw_backend_set *_set;  /* RCU-published; read with rw_pool_set() */
    struct rw_lb *lb;             /* owned */
    struct rw_backend **backends; /* owned: every backend object */
    uint32_t nbackends;
    uint64_t *_seen_gen; /* owned: per worker, generation last rebuilt for */
    uint32_t _nworkers;
    uint32_t _cap;             /* slots allocated in backends */
    _Atomic uint64_t _changes; /* bumped by rw_backend_set_state/weight */
};

/* Find an algorithm by its config name; NULL if unknown. Any thread. */
const struct rw_lb_ops *rw_lb_find(const char *name);

/* Comma-separated list of algorithm names (for config error messages). */
const char *rw_lb_names(void);

/* Create a pool with algorithm `algo` over n servers (backend objects are created
 * from the arrays given; names are borrowed). NULL and *err = -errno. Start-up. */
/* Backend i gets id i, state UP, eff_weight = weights[i] (1..1000); the first snapshot
 * lists them in order with generation 1. names, addrs and addrlens may each be NULL
 * (no name, zero address). *err: -ENOENT unknown algo, -EINVAL bad weight, nworkers 0
 * or addrlen too big, -ENOMEM. */
struct rw_pool *rw_pool_new(const char *name, const char *algo, const char *const *names,
                            const struct sockaddr_storage *addrs, const socklen_t *addrlens,
                            const uint32_t *weights, uint32_t n, uint32_t nworkers, int *err);

/* Free a pool after every reader is done with it: its balancer, its current snapshot
 * and every backend object it created. NULL is a no-op. Writer thread. */
void rw_pool_free(struct rw_pool *p);

/* The current snapshot (RCU load). Valid until the calling reader's next quiescent
 * point. Reader threads, or the writer thread. */
const struct rw_backend_set *rw_pool_set(struct rw_pool *p);

/* Create one more backend object owned by p (id = previous p->nbackends, state UP,
 * eff_weight = weight 1..1000); it is in no snapshot until rw_pool_publish() lists it.
 * NULL and *err = -EINVAL/-ENOMEM. Writer thread only. */
struct rw_backend *rw_pool_add_backend(struct rw_pool *p, const char *name,
                                       const struct sockaddr_storage *addr, socklen_t addrlen,
                                       uint32_t weight, int *err);

/* Pick a usable server (up, not draining, eff_weight > 0, not in req->tried) for
 * worker `worker`, or NULL when none is usable (caller answers 503). Worker thread
 * inside an RCU read side (between quiescent points); never blocks or locks.
 * req may be NULL (nothing tried). The first pick after a new snapshot rebuilds the
 * worker's algorithm state (O(n), allocates; on -ENOMEM the pick answers NULL). */
struct rw_backend *rw_pool_pick(struct rw_pool *p, uint32_t worker, const struct rw_lb_req *req);

/* Writers (health thread, admin, tests): change a server's state or weight. The
 * store comes first, then the owning pool's change counter is bumped (release), so a
 * worker's next pick sees the new value. Any thread. */
void rw_backend_set_state(struct rw_backend *b, enum rw_be_state s);
void rw_backend_set_weight(struct rw_backend *b, uint32_t eff_weight);

/* Publish a new snapshot (copy-on-write) of p's servers, e.g. after add/remove;
 * the old snapshot is freed after an RCU grace period. Writer thread only. b[] lists
 * n distinct backend objects owned by p (from rw_pool_new/rw_pool_add_backend), in
 * pick order; it is copied. 0, -EINVAL (foreign, NULL or repeated entry) or -ENOMEM
 * (the current snapshot stays). Blocks for a grace period: never call it from a
 * registered online reader. */
int rw_pool_publish(struct rw_pool *p, struct rw_backend **b, uint32_t n);

static inline void rw_backend_inflight_inc(struct rw_backend *b)
{
    atomic_fetch_add_explicit(&b->inflight, 1, memory_order_relaxed);
}
static inline void rw_backend_inflight_dec(struct rw_backend *b)
{
    atomic_fetch_sub_explicit(&b->inflight, 1, memory_order_relaxed);
}
static inline bool rw_backend_usable(const struct rw_backend *b)
{
    return atomic_load_explicit(&b->state, memory_order_relaxed) == RW_BE_UP &&
           atomic_load_explicit(&b->eff_weight, memory_order_relaxed) > 0;
}
/* True when b's id is set in req's tried bitmap (req may be NULL: nothing tried). */
static inline bool rw_lb_tried(const struct rw_lb_req *req, const struct rw_backend *b)
{
    return req && req->tried && b->id / 64 < req->ntried_words &&
           ((req->tried[b->id / 64] >> (b->id % 64)) & 1);
}

#endif
