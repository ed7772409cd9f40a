/* SPDX-License-Identifier: MIT */
/* Shared helpers for the balancers unit tests: pool fixtures and a reference order. */
#ifndef RW_TEST_BALANCERS_TESTS_H
#define RW_TEST_BALANCERS_TESTS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "balancers/lb.h"

/* One cmocka group per source file; main.c runs them all. */
int test_lb_run(void);
int test_pool_run(void);
int test_wtab_run(void);
int test_rr_run(void);
int test_lc_run(void);
int test_random_run(void);
int test_p2c_run(void);
int test_chash_run(void);
int test_maglev_run(void);
int test_ring_run(void);
int test_first_run(void);
/* balancers/sticky*.c's tests (test_sticky*.c), built when those files exist. */
int test_sticky_run(void);

/* test_maglev.c: map 200k keys over 100 servers of a "hash" pool, take one down
 * (*out_remove: fraction moved), then publish a 101st (*out_add); limit > 0 asserts
 * both within limit x the ideal 1/n. */
void t_hash_movement(uint8_t method, double limit, double *out_remove, double *out_add);

/* Every algorithm name, for tests that run over all of them. */
static const char *const t_algos[] = {"round_robin", "least_conn", "random", "p2c",
                                      "hash",        "ip_hash",    "first"};
#define T_NALGOS (sizeof(t_algos) / sizeof(t_algos[0]))

/* A pool of algorithm algo over n nameless servers: weights (NULL: all 1), max_conns
 * (NULL: none), backup flags (NULL: none). Fails the test on error. */
static inline struct rw_pool *t_pool_ex(const char *algo, const struct rw_lb_params *params,
                                        const uint32_t *weights, const uint32_t *max_conns,
                                        const bool *backup, uint32_t n, uint32_t nworkers)
{
    struct rw_server_def *defs = calloc(n ? n : 1, sizeof(*defs));
    assert_non_null(defs);
    for (uint32_t i = 0; i < n; i++) {
        defs[i].weight = weights ? weights[i] : 1;
        defs[i].max_conns = max_conns ? max_conns[i] : 0;
        defs[i].backup = backup ? backup[i] : false;
    }
    int err = 0;
    struct rw_pool *p = rw_pool_new("test", algo, params, defs, n, nworkers, &err);
    free(defs);
    assert_non_null(p);
    assert_int_equal(err, 0);
    return p;
}

/* A round_robin pool over n servers with the given weights. */
static inline struct rw_pool *t_pool(const uint32_t *weights, uint32_t n, uint32_t nworkers)
{
    return t_pool_ex("round_robin", NULL, weights, NULL, NULL, n, nworkers);
}

/* Pick (must succeed) and release at once; returns the id. */
static inline uint32_t t_pick_rel(struct rw_pool *p, uint32_t worker, struct rw_lb_req *req)
{
    struct rw_backend *b = rw_pool_pick(p, worker, req);
    assert_non_null(b);
    rw_pool_release(p, worker, b, 0, true);
    return b->id;
}

/* Pick (must succeed) and keep the reservation; returns the backend. */
static inline struct rw_backend *t_pick_hold(struct rw_pool *p, uint32_t worker,
                                             struct rw_lb_req *req)
{
    struct rw_backend *b = rw_pool_pick(p, worker, req);
    assert_non_null(b);
    return b;
}

static inline void t_tried_set(uint64_t *bits, uint32_t id)
{
    bits[id / 64] |= 1ull << (id % 64);
}

/* The textbook smooth weighted round robin, written independently of rr.c: add each
 * positive weight, take the first largest, subtract the total. w[i] == 0 skips i.
 * Returns the index or UINT32_MAX. */
static inline uint32_t t_ref_pick(int64_t *cw, const uint32_t *w, uint32_t n)
{
    int64_t total = 0;
    uint32_t best = UINT32_MAX;
    for (uint32_t i = 0; i < n; i++) {
        if (w[i] == 0)
            continue;
        cw[i] += w[i];
        total += w[i];
        if (best == UINT32_MAX || cw[i] > cw[best])
            best = i;
    }
    if (best != UINT32_MAX)
        cw[best] -= total;
    return best;
}

/* Deterministic pseudo-random numbers for the tests (xorshift64). */
static inline uint64_t t_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Each of hits[0..n) within tol (a fraction) of total * w[i] / sum(w). */
static inline void t_assert_shares(const uint32_t *hits, const uint32_t *w, uint32_t n,
                                   uint32_t total, double tol)
{
    double sum = 0;
    for (uint32_t i = 0; i < n; i++)
        sum += w[i];
    for (uint32_t i = 0; i < n; i++) {
        double want = total * w[i] / sum;
        if (hits[i] < want * (1 - tol) || hits[i] > want * (1 + tol))
            fail_msg("server %u: %u hits, want %.0f +- %.0f%%", i, hits[i], want, tol * 100);
    }
}

#endif
