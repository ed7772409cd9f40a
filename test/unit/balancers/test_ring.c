/* SPDX-License-Identifier: MIT */
/* Tests for balancers/ring.c: points, lookups, movement. */
#include "tests.h"

#include <errno.h>

#include "balancers/algos.h"

static void ring_points_follow_weights(void **state)
{
    static const uint32_t w[] = {1, 1, 2, 0};
    struct rw_pool *p = t_pool(w, 3, 1);
    uint32_t ww[] = {1, 1, 2};
    struct rw__ring r = {0};
    assert_int_equal(rw__ring_build(&r, rw_pool_set(p), ww), 0);
    assert_int_equal(r.nusable, 3);
    uint32_t count[3] = {0};
    for (uint32_t i = 0; i < r.npoints; i++) {
        count[r.pos[i]]++;
        if (i)
            assert_true(r.point[i - 1] <= r.point[i]);
    }
    assert_int_equal(count[0], 120); /* 160 * 3 points shared 1:1:2 */
    assert_int_equal(count[1], 120);
    assert_int_equal(count[2], 240);
    assert_int_equal(rw__ring_find(&r, 0), 0);
    assert_int_equal(rw__ring_find(&r, UINT64_MAX), 0); /* wraps */
    uint32_t mid = r.npoints / 2;
    assert_int_equal(rw__ring_find(&r, r.point[mid]), mid);
    assert_int_equal(rw__ring_find(&r, r.point[mid] + 1), mid + 1);
    ww[0] = ww[1] = ww[2] = 0;
    assert_int_equal(rw__ring_build(&r, rw_pool_set(p), ww), -ENOENT);
    rw__ring_free(&r);
    rw_pool_free(p);
}

static void ring_movement(void **state)
{
    double rm, add;
    t_hash_movement(RW_LB_HASH_RING, 0, &rm, &add);
    /* Equal weights: points of the others do not move, only the leaver's keys do. */
    assert_true(rm < 0.03 && add < 0.03);
}

int test_ring_run(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(ring_points_follow_weights),
        cmocka_unit_test(ring_movement),
    };
    return cmocka_run_group_tests_name("balancers/ring", t, NULL, NULL);
}
