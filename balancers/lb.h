/* SPDX-License-Identifier: MIT */
/* The shared backend table and the balancer seam: workers pick without a lock. */
#ifndef RW_BALANCERS_LB_H
#define RW_BALANCERS_LB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum rw_be_state {
    RW_BE_UP = 0,
    RW_BE_DOWN,
    RW_BE_DRAIN, /* no new requests; in-flight ones (and sticky sessions) finish */
};

enum { RW_LB_HASH_MAGLEV = 0, RW_LB_HASH_RING = 1 };

/* One configured server (rw_pool_new's input). */
struct rw_server_def {
    const char *name; /* borrowed: outlives the pool; NULL allowed (uid from the id) */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    uint32_t weight;    /* 1..1000 */
    uint32_t max_conns; /* in-flight limit across workers, 0 = none */
    bool backup;        /* used only when no primary is usable */
    bool initial_down;  /* health checks: DOWN until its first check passes */
};

/* Algorithm options (config "hash", "slow_start"); NULL means all zero. */
struct rw_lb_params {
    uint8_t hash_method;    /* RW_LB_HASH_* */
    double balance_factor;  /* bounded-load c for hash/ip_hash; 0 = unbounded, else >= 1 */
    uint32_t slow_start_ms; /* 0 = off */
    /* Percent 0..100, 0 = off. When fewer than this share of the snapshot's primaries
     * are UP and no backup is usable, picks ignore health: DOWN primaries count as
     * usable (DRAIN, weight 0, tried and full ones are still skipped). */
    uint32_t panic_threshold;
};

/* One server's runtime object. Identity fields are fixed at creation; the atomic
 * fields are written by the health thread / admin / rw_pool_tick and read by workers. */
struct rw_backend {
    /* config time, read-only after */
    uint32_t id;        /* index in its pool's backends[] */
    uint32_t weight;    /* configured weight 1..1000 */
    uint32_t max_conns; /* in-flight limit across workers, 0 = none */
    bool backup;        /* only when no primary is usable */
    bool initial_down;  /* health checks: DOWN until its first check passes */
    uint64_t uid;       /* stable id: rw_lb_hash(name, RW_LB_UID_SEED) (sticky tokens, hashing) */
    const char *name;   /* borrowed: the config's server name, or NULL */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    uint32_t _slow_start_ms;          /* the pool's; 0 = off */
    _Atomic uint64_t *_changes;       /* borrowed: the owning pool's change counter, or NULL */
    _Atomic int64_t *_total_inflight; /* borrowed: the pool's total, or NULL (not tracked) */
    /* atomic, any thread */
    _Atomic uint32_t state;      /* enum rw_be_state */
    _Atomic uint32_t eff_weight; /* effective weight (slow start, admin); 0 excluded */
    _Atomic uint64_t _ramp;      /* slow start: 0 none, UINT64_MAX pending, else start ms + 1 */
    /* atomic, written on every pick and release: its own cache line */
    _Alignas(64) _Atomic int64_t inflight; /* reserved slots, all workers */
    _Atomic uint64_t _peak; /* p2c peak-EWMA: float latency us << 32 | stamp ms; 0 = no sample */
};

/* An immutable snapshot of an upstream's servers, published RCU-style. */
struct rw_backend_set {
    uint64_t generation;
    uint32_t n;
    struct rw_backend **b; /* borrowed: the backend objects (they outlive snapshots) */
    /* borrowed: the pool's counter, bumped after every state or weight change of any of
     * its servers (algorithms that cache weights revalidate when it moves); never NULL */
    const _Atomic uint64_t *changes;
    /* borrowed: the pool's in-flight total over all servers; never NULL, but only kept
     * up to date when the pool's balance_factor > 0 (bounded-load hashing) */
    const _Atomic int64_t *total_inflight;
    /* borrowed: views in the same allocation, listing the primaries and the backups in
     * snapshot order (each with this generation and counters); NULL inside a view */
    const struct rw_backend_set *primary;
    const struct rw_backend_set *backup;
};

/* What a pick needs to know about the request, and what it reports back. */
struct rw_lb_req {
    const uint64_t *tried; /* bitmap of server ids already tried for this request, or NULL */
    uint32_t ntried_words; /* 64-bit words in tried */
    uint64_t hash;         /* hash/ip_hash: request key hash (rw_lb_hash) */
    bool has_hash;         /* false: hash/ip_hash fall back to round robin */
    uint64_t now_ms;       /* monotonic ms (slow start, EWMA decay) */
    /* out: set by rw_pool_pick when it answers NULL and some otherwise usable server
     * was skipped only because it was at max_conns (the caller queues, not 503) */
    bool saw_full;
    /* out: set by rw_pool_pick: this pick ran in panic mode (health ignored) */
    bool panic;
};

struct rw_lb;

/* One algorithm. Per-worker mutable state (cursors, current weights, tables) is
 * private to the algorithm, indexed by worker id and cache-line aligned. */
struct rw_lb_ops {
    const char *name; /* config "balance" value */
    /* params is never NULL here (the pool passes zeros for NULL). */
    int (*create)(struct rw_lb **out, const struct rw_lb_params *params, uint32_t nworkers);
    void (*destroy)(struct rw_lb *lb);
    /* A new snapshot was published; called on the worker before its next pick when
     * it notices the generation changed. set is the view the lb picks from. */
    void (*rebuild)(struct rw_lb *lb, uint32_t worker, const struct rw_backend_set *set);
    /* A server that is up, eff_weight > 0, not tried and under max_conns (a hint: the
     * pool reserves), or NULL. req is never NULL. Never blocks or locks. */
    struct rw_backend *(*pick)(struct rw_lb *lb, uint32_t worker, const struct rw_backend_set *set,
                               struct rw_lb_req *req);
};

/* First member of every algorithm's struct. */
struct rw_lb {
    const struct rw_lb_ops *ops;
    uint32_t nworkers;
};

struct rw__pool_worker;

/* An upstream's runtime: its current snapshot and its balancers. */
struct rw_pool {
    const char *name;             /* borrowed: config */
    struct rw_backend_set *_set;  /* RCU-published; read with rw_pool_set() */
    struct rw_lb *lb;             /* owned: picks among primaries */
    struct rw_lb *_lb_backup;     /* owned: the same algorithm over the backups */
    struct rw_backend **backends; /* owned: every backend object */
    uint32_t nbackends;
    struct rw__pool_worker *_w; /* owned: per worker (generation seen, last now_ms) */
    uint32_t _nworkers;
    uint32_t _cap; /* slots allocated in backends */
    struct rw_lb_params _params;
    _Atomic uint64_t _changes;                    /* bumped by rw_backend_set_state/weight */
    _Alignas(64) _Atomic int64_t _total_inflight; /* see rw_backend_set.total_inflight */
};

/* Seed of rw_backend.uid = rw_lb_hash(name, strlen(name), RW_LB_UID_SEED). */
#define RW_LB_UID_SEED 0x72696e6777616c6cull

/* Find an algorithm by its config name; NULL if unknown. Any thread. */
const struct rw_lb_ops *rw_lb_find(const char *name);

/* Comma-separated list of algorithm names (for config error messages). */
const char *rw_lb_names(void);

/* A fast, well-mixed 64-bit hash of len bytes at data (NULL allowed when len is 0),
 * keyed by seed. Stable across builds and hosts (little-endian loads). Any thread. */
uint64_t rw_lb_hash(const void *data, size_t len, uint64_t seed);

/* Create a pool with algorithm `algo` over the n servers of defs (copied; names are
 * borrowed). Server i gets id i, state UP, eff_weight = weight, uid from its name (or,
 * without a name, from its id); the first snapshot lists them in order with
 * generation 1. params may be NULL (defaults). NULL and *err = -errno: -ENOENT unknown
 * algo, -EINVAL bad weight/addrlen/params or nworkers 0, -ENOMEM. Start-up thread. */
struct rw_pool *rw_pool_new(const char *name, const char *algo, const struct rw_lb_params *params,
                            const struct rw_server_def *defs, uint32_t n, uint32_t nworkers,
                            int *err);

/* Free a pool after every reader is done with it: its balancers, its current snapshot
 * and every backend object it created. NULL is a no-op. Writer thread. */
void rw_pool_free(struct rw_pool *p);

/* The current snapshot (RCU load). Valid until the calling reader's next quiescent
 * point. Reader threads, or the writer thread. */
const struct rw_backend_set *rw_pool_set(struct rw_pool *p);

/* Create one more backend object owned by p from def (id = previous p->nbackends,
 * state UP); it is in no snapshot until rw_pool_publish() lists it. With slow start
 * on it ramps from eff_weight 1 (rw_pool_tick). NULL and *err = -EINVAL/-ENOMEM.
 * Writer thread only. */
struct rw_backend *rw_pool_add_backend(struct rw_pool *p, const struct rw_server_def *def,
                                       int *err);

/* Pick a usable server for worker `worker` and reserve a slot on it (its in-flight
 * count is already incremented; max_conns is enforced across workers with fetch_add
 * and undo). Primaries first; backups only when no primary is usable (down, draining,
 * weight 0, full or in req->tried). Panic (params.panic_threshold > 0, fewer than that
 * percent of the primaries UP, no backup usable): the pick ignores the algorithm and
 * health and spreads over the primaries that are UP or DOWN (weighted random; with
 * req->has_hash, weighted rendezvous hashing on req->hash), and sets req->panic. The
 * panic decision is re-evaluated per worker when the snapshot or the pool's change
 * counter moves (O(n) then, one atomic load per pick otherwise). NULL when none is: then
 * req->saw_full tells whether a server was skipped only for being full. req may be NULL (nothing
 * tried, now_ms 0, no hash). Worker thread inside an RCU read side; never blocks or locks. The
 * first pick after a new snapshot rebuilds the worker's algorithm state (O(n), allocates; on
 * -ENOMEM the pick answers NULL). Pair every success with rw_pool_release. */
struct rw_backend *rw_pool_pick(struct rw_pool *p, uint32_t worker, struct rw_lb_req *req);

/* End a reserved slot on b (from rw_pool_pick or rw_backend_try_reserve): in-flight
 * - 1, and feed latency_us (0 = no sample, e.g. no response) into b's peak-EWMA
 * (time from the worker's last pick's now_ms). A sample with ok false can only raise
 * the EWMA: a fast error must not make a server look fast. Worker `worker`'s thread. */
void rw_pool_release(struct rw_pool *p, uint32_t worker, struct rw_backend *b, uint64_t latency_us,
                     bool ok);

/* Reserve a slot on b if it is UP or DRAIN and under max_conns (sticky sessions: drain
 * honours existing sessions). True when reserved; pair with rw_pool_release. Any
 * worker thread. */
bool rw_backend_try_reserve(struct rw_backend *b);

/* Writer side, every ~250 ms from one non-worker thread: advance slow-start ramps. A
 * server that went DOWN->UP (rw_backend_set_state) or was added ramps eff_weight from 1
 * to its weight over slow_start_ms, in steps, through rw_backend_set_weight. No-op when
 * slow start is off. */
void rw_pool_tick(struct rw_pool *p, uint64_t now_ms);

/* The server in the current snapshot whose uid is uid, or NULL. O(log n). Reader
 * threads inside an RCU read side, or the writer. */
struct rw_backend *rw_pool_find_uid(struct rw_pool *p, uint64_t uid);

/* Writers (health thread, admin, tests): change a server's state or weight. The
 * store comes first, then the owning pool's change counter is bumped (release), so a
 * worker's next pick sees the new value. DOWN->UP with slow start on also sets
 * eff_weight 1 and starts a ramp. Any thread. */
void rw_backend_set_state(struct rw_backend *b, enum rw_be_state s);
void rw_backend_set_weight(struct rw_backend *b, uint32_t eff_weight);

/* Publish a new snapshot (copy-on-write) of p's servers, e.g. after add/remove;
 * the old snapshot is freed after an RCU grace period. Writer thread only. b[] lists
 * n distinct backend objects owned by p (from rw_pool_new/rw_pool_add_backend), in
 * pick order; it is copied. 0, -EINVAL (foreign, NULL or repeated entry) or -ENOMEM
 * (the current snapshot stays). Blocks for a grace period: never call it from a
 * registered online reader. */
int rw_pool_publish(struct rw_pool *p, struct rw_backend **b, uint32_t n);

/* Up and eff_weight > 0 (max_conns and tried aside). */
static inline bool rw_backend_usable(const struct rw_backend *b)
{
    return atomic_load_explicit(&b->state, memory_order_relaxed) == RW_BE_UP &&
           atomic_load_explicit(&b->eff_weight, memory_order_relaxed) > 0;
}
/* At its max_conns right now (a hint; reservation is what enforces the limit). */
static inline bool rw_backend_full(const struct rw_backend *b)
{
    return b->max_conns &&
           atomic_load_explicit(&b->inflight, memory_order_relaxed) >= (int64_t)b->max_conns;
}
/* True when b's id is set in req's tried bitmap (req may be NULL: nothing tried). */
static inline bool rw_lb_tried(const struct rw_lb_req *req, const struct rw_backend *b)
{
    return req && req->tried && b->id / 64 < req->ntried_words &&
           ((req->tried[b->id / 64] >> (b->id % 64)) & 1);
}

#endif
