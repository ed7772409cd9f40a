/* SPDX-License-Identifier: MIT */
/* Tests for balancers/wtab.c: the per-worker weighted tables of random and p2c. */
#include "tests.h"

#include "balancers/algos.h"

static void wtab_prefix_sums_and_find(void **state)
{
    static const uint32_t w[] = {3, 1, 4, 1, 5};
    struct rw_pool *p = t_pool(w, 5, 1);
    rw_backend_set_state(p->backends[1], RW_BE_DOWN);
    struct rw__wtab t = {0};
    const struct rw_backend_set *set = rw_pool_set(p);
    assert_int_equal(rw__wtab_build(&t, set), 0);
    assert_int_equal(t.n, 4);
    assert_int_equal(t.total, 13);
    static const uint32_t want_pos[] = {0, 2, 3, 4};
    static const uint64_t want_cum[] = {3, 7, 8, 13};
    for (uint32_t i = 0; i < 4; i++) {
        assert_int_equal(t.pos[i], want_pos[i]);
        assert_int_equal(t.cum[i], want_cum[i]);
    }
    /* r in [0, 3) -> 0, [3, 7) -> 1, [7, 8) -> 2, [8, 13) -> 3 */
    static const uint32_t want_k[] = {0, 0, 0, 1, 1, 1, 1, 2, 3, 3, 3, 3, 3};
    for (uint64_t r = 0; r < 13; r++)
        assert_int_equal(rw__wtab_find(&t, r), want_k[r]);
    /* Unchanged counter: no rebuild; a change: rebuilt. */
    assert_int_equal(rw__wtab_refresh(&t, set), 0);
    assert_int_equal(t.total, 13);
    rw_backend_set_weight(p->backends[4], 10);
    assert_int_equal(rw__wtab_refresh(&t, set), 0);
    assert_int_equal(t.total, 18);
    rw__wtab_free(&t);
    rw_pool_free(p);
}

int test_wtab_run(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(wtab_prefix_sums_and_find),
    };
    return cmocka_run_group_tests_name("balancers/wtab", t, NULL, NULL);
}
