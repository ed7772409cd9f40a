/* SPDX-License-Identifier: MIT */
/* Module-internal: every algorithm's ops table (listed in lb.c) and shared helpers. */
#ifndef RW_BALANCERS_ALGOS_H
#define RW_BALANCERS_ALGOS_H

#include "balancers/lb.h"

/* Smooth weighted round robin (nginx order), "round_robin". rr.c. */
extern const struct rw_lb_ops rw_lb_round_robin;
/* Fewest in-flight per weight, ties round robin, "least_conn". lc.c. */
extern const struct rw_lb_ops rw_lb_least_conn;
/* Weighted random, "random". random.c. */
extern const struct rw_lb_ops rw_lb_random;
/* Power of two choices on peak-EWMA latency x in-flight, "p2c". p2c.c. */
extern const struct rw_lb_ops rw_lb_p2c;
/* Consistent hashing on req->hash (Maglev or ring, bounded load), "hash" and "ip_hash".
 * chash.c. */
extern const struct rw_lb_ops rw_lb_hash_ops;
extern const struct rw_lb_ops rw_lb_ip_hash;
/* First server in order under its max_conns, "first". first.c. */
extern const struct rw_lb_ops rw_lb_first;

/* May b take this request: usable, not tried, not at max_conns. */
static inline bool rw__lb_ok(const struct rw_backend *b, const struct rw_lb_req *req)
{
    return rw_backend_usable(b) && !rw_lb_tried(req, b) && !rw_backend_full(b);
}

/* b's weight as workers should see it now: eff_weight when up, else 0. */
static inline uint32_t rw__lb_weight(const struct rw_backend *b)
{
    if (atomic_load_explicit(&b->state, memory_order_relaxed) != RW_BE_UP)
        return 0;
    return atomic_load_explicit(&b->eff_weight, memory_order_relaxed);
}

/* Per-worker PRNG (splitmix64): fast, and good enough for balancing. */
static inline uint64_t rw__rand_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
/* Uniform in [0, n) without division (Lemire's multiply-shift; bias < n / 2^64). */
static inline uint64_t rw__rand_below(uint64_t *s, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)rw__rand_next(s) * n) >> 64);
}

/* A worker's weighted table over a view: usable servers and prefix sums of their
 * effective weights, rebuilt when the view or the pool's change counter moves.
 * wtab.c; owning worker only. */
struct rw__wtab {
    uint32_t n;            /* usable servers */
    uint32_t cap;          /* slots allocated */
    uint32_t *pos;         /* owned: their positions in the view */
    uint64_t *cum;         /* owned: cum[i] = sum of weights of pos[0..i] */
    uint64_t total;        /* cum[n - 1], 0 when nothing is usable */
    uint64_t seen_changes; /* the pool's counter when built */
    bool ready;            /* built for the current view */
};
/* Rebuild t over set's usable servers. 0 or -ENOMEM (t then has n 0, ready false). */
int rw__wtab_build(struct rw__wtab *t, const struct rw_backend_set *set);
/* Rebuild when not ready or the change counter moved; 0 or -ENOMEM. */
int rw__wtab_refresh(struct rw__wtab *t, const struct rw_backend_set *set);
/* The entry whose weight range holds r (r < t->total): index into pos[]. O(log n). */
uint32_t rw__wtab_find(const struct rw__wtab *t, uint64_t r);
void rw__wtab_free(struct rw__wtab *t);

/* Allocate nworkers cache-line aligned, zeroed per-worker blocks of size sz (a
 * multiple of 64). NULL on -ENOMEM. */
void *rw__lb_workers_alloc(uint32_t nworkers, size_t sz);

/* Peak-EWMA of response latency (p2c.c). Observe a sample (us) at now_ms from any
 * worker; cost reads the decayed value at now_ms, or a negative number when b has
 * no sample yet. */
void rw__peak_observe(struct rw_backend *b, double sample_us, uint64_t now_ms, bool ok);
double rw__peak_read(const struct rw_backend *b, uint64_t now_ms);

/* Consistent-hash tables (maglev.c, ring.c), built per worker over the usable servers
 * of a view; lookups answer a position in the view. */
struct rw__maglev {
    uint32_t m;       /* table size, prime */
    uint32_t *slot;   /* owned: m entries, positions in the view */
    uint32_t nusable; /* servers with a turn */
};
/* Build over the servers with w[i] > 0 (w has n entries, uid from set). m is kept
 * when it already fits n. 0, -ENOENT (none usable: slot freed) or -ENOMEM. */
int rw__maglev_build(struct rw__maglev *t, const struct rw_backend_set *set, const uint32_t *w);
void rw__maglev_free(struct rw__maglev *t);
/* The smallest prime >= 100 * n, at least 65537. */
uint32_t rw__maglev_size(uint32_t n);

struct rw__ring {
    uint32_t npoints;
    uint64_t *point; /* owned: sorted hash points */
    uint32_t *pos;   /* owned: their servers' positions in the view */
    uint32_t nusable;
};
int rw__ring_build(struct rw__ring *r, const struct rw_backend_set *set, const uint32_t *w);
void rw__ring_free(struct rw__ring *r);
/* Index of the first point >= h (wrapping to 0). npoints > 0. */
uint32_t rw__ring_find(const struct rw__ring *r, uint64_t h);

#endif
