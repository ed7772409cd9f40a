/* SPDX-License-Identifier: MIT */
/* Shared helpers for the balancers unit tests: pool fixtures and a reference order. */
#ifndef RW_TEST_BALANCERS_TESTS_H
#define RW_TEST_BALANCERS_TESTS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "balancers/lb.h"

/* One cmocka group per source file; main.c runs them all. */
int test_lb_run(void);
int test_pool_run(void);
int test_rr_run(void);

/* A round_robin pool over n servers with the given weights; fails the test on error. */
static inline struct rw_pool *t_pool(const uint32_t *weights, uint32_t n, uint32_t nworkers)
{
    int err = 0;
    struct rw_pool *p =
        rw_pool_new("test", "round_robin", NULL, NULL, NULL, weights, n, nworkers, &err);
    assert_non_null(p);
    assert_int_equal(err, 0);
    return p;
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

#endif
