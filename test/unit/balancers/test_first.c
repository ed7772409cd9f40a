/* SPDX-License-Identifier: MIT */
/* Tests for balancers/first.c: fill servers in order up to max_conns. */
#include "tests.h"

static void first_fills_in_order(void **state)
{
    static const uint32_t mc[] = {2, 3, 0};
    struct rw_pool *p = t_pool_ex("first", NULL, NULL, mc, NULL, 3, 2);
    static const uint32_t want[] = {0, 0, 1, 1, 1, 2, 2, 2, 2};
    struct rw_backend *held[9];
    for (int i = 0; i < 9; i++) {
        held[i] = t_pick_hold(p, i % 2, NULL);
        assert_int_equal(held[i]->id, want[i]);
    }
    /* A slot frees up on server 0: it is first again. */
    rw_pool_release(p, 0, held[1], 0, true);
    held[1] = t_pick_hold(p, 1, NULL);
    assert_int_equal(held[1]->id, 0);
    /* Idle pool: everything goes to the first server. */
    for (int i = 0; i < 9; i++)
        rw_pool_release(p, 0, held[i], 0, true);
    for (int i = 0; i < 20; i++)
        assert_int_equal(t_pick_rel(p, 0, NULL), 0);
    rw_pool_free(p);
}

static void first_skips_unusable_and_tried(void **state)
{
    struct rw_pool *p = t_pool_ex("first", NULL, NULL, NULL, NULL, 4, 1);
    rw_backend_set_state(p->backends[0], RW_BE_DRAIN);
    uint64_t tried = 0;
    t_tried_set(&tried, 1);
    struct rw_lb_req req = {.tried = &tried, .ntried_words = 1};
    assert_int_equal(t_pick_rel(p, 0, &req), 2);
    assert_int_equal(t_pick_rel(p, 0, NULL), 1);
    rw_pool_free(p);
}

int test_first_run(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(first_fills_in_order),
        cmocka_unit_test(first_skips_unusable_and_tried),
    };
    return cmocka_run_group_tests_name("balancers/first", t, NULL, NULL);
}
