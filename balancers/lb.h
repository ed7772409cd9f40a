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
    uint32_t id;       /* index in its upstream's server list */
    uint32_t weight;   /* configured weight 1..1000 */
    const char *name;  /* borrowed: the config's server name */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    /* atomic, any thread */
    _Atomic uint32_t state;      /* enum rw_be_state */
    _Atomic uint32_t eff_weight; /* effective weight (slow start, admin); 0 excluded */
    _Alignas(64) _Atomic int64_t inflight; /* requests in flight, all workers */
};

/* An immutable snapshot of an upstream's servers, published RCU-style. */
struct rw_backend_set {
    uint64_t generation;
    uint32_t n;
    struct rw_backend **b; /* borrowed: the backend objects (they outlive snapshots) */
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
    const char *name;               /* borrowed: config */
    struct rw_backend_set *_set;    /* RCU-published; read with rw_pool_set() */
    struct rw_lb *lb;               /* owned */
    struct rw_backend **backends;   /* owned: every backend object */
    uint32_t nbackends;
    uint64_t *_seen_gen;            /* owned: per worker, generation last rebuilt for */
};

/* Find an algorithm by its config name; NULL if unknown. Any thread. */
const struct rw_lb_ops *rw_lb_find(const char *name);

/* Comma-separated list of algorithm names (for config error messages). */
const char *rw_lb_names(void);

/* Create a pool with algorithm `algo` over n servers (backend objects are created
 * from the arrays given; names are borrowed). NULL and *err = -errno. Start-up. */
struct rw_pool *rw_pool_new(const char *name, const char *algo, const char *const *names,
                            const struct sockaddr_storage *addrs, const socklen_t *addrlens,
                            const uint32_t *weights, uint32_t n, uint32_t nworkers, int *err);

/* Free a pool after every reader is done with it. */
void rw_pool_free(struct rw_pool *p);

/* Pick a usable server (up, not draining, eff_weight > 0, not in req->tried) for
 * worker `worker`, or NULL when none is usable (caller answers 503). Worker thread
 * inside an RCU read side (between quiescent points); never blocks or locks. */
struct rw_backend *rw_pool_pick(struct rw_pool *p, uint32_t worker, const struct rw_lb_req *req);

/* Writers (health thread, admin, tests): change a server's state or weight. */
void rw_backend_set_state(struct rw_backend *b, enum rw_be_state s);
void rw_backend_set_weight(struct rw_backend *b, uint32_t eff_weight);

/* Publish a new snapshot (copy-on-write) of p's servers, e.g. after add/remove;
 * the old snapshot is freed after an RCU grace period. Writer thread only. */
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

#endif
