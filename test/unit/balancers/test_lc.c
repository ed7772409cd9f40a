/* SPDX-License-Identifier: MIT */
/* Tests for balancers/lc.c: least connections under held reservations. */
#include "tests.h"

/* No load anywhere: equal scores take turns in snapshot order. */
static void lc_ties_round_robin(void **state)
{
    struct rw_pool *p = t_pool_ex("least_conn", NULL, NULL, NULL, NULL, 4, 2);
    for (int i = 0; i < 12; i++)
        assert_int_equal(t_pick_rel(p, 0, NULL), i % 4);
    /* Worker 1 has its own cursor. */
    assert_int_equal(t_pick_rel(p, 1, NULL), 0);
    rw_pool_free(p);
}

/* Reservations held on one server (e.g. by another worker) steer picks elsewhere
 * until the others catch up; then turns resume. */
static void lc_steers_away_from_held(void **state)
{
    struct rw_pool *p = t_pool_ex("least_conn", NULL, NULL, NULL, NULL, 3, 2);
    for (int i = 0; i < 5; i++)
        assert_true(rw_backend_try_reserve(p->backends[0]));
    uint32_t hits[3] = {0};
    struct rw_backend *held[10];
    for (int i = 0; i < 10; i++) {
        held[i] = t_pick_hold(p, 0, NULL);
        hits[held[i]->id]++;
    }
    assert_int_equal(hits[0], 0);
    assert_int_equal(hits[1], 5);
    assert_int_equal(hits[2], 5);
    /* All at 5 now: the next three go one to each. */
    uint32_t more[3] = {0};
    for (int i = 0; i < 3; i++)
        more[t_pick_hold(p, 1, NULL)->id]++;
    assert_int_equal(more[0] + more[1] + more[2], 3);
    assert_int_equal(more[0], 1);
    assert_int_equal(more[1], 1);
    /* Releasing server 1's slots makes it the least loaded. */
    for (int i = 0; i < 10; i++)
        if (held[i]->id == 1)
            rw_pool_release(p, 0, held[i], 0, true);
    assert_int_equal(t_pick_rel(p, 0, NULL), 1);
    rw_pool_free(p);
}

/* In-flight is divided by weight: weight 3 holds three times the load of weight 1. */
static void lc_honours_weights(void **state)
{
    static const uint32_t w[] = {1, 3};
    struct rw_pool *p = t_pool_ex("least_conn", NULL, w, NULL, NULL, 2, 1);
    uint32_t hits[2] = {0};
    for (int i = 0; i < 400; i++)
        hits[t_pick_hold(p, 0, NULL)->id]++;
    assert_int_equal(hits[0], 100);
    assert_int_equal(hits[1], 300);
    rw_pool_free(p);
}

static void lc_skips_unusable_tried_full(void **state)
{
    static const uint32_t mc[] = {0, 0, 0, 2, 0};
    struct rw_pool *p = t_pool_ex("least_conn", NULL, NULL, mc, NULL, 5, 1);
    rw_backend_set_state(p->backends[0], RW_BE_DOWN);
    rw_backend_set_state(p->backends[1], RW_BE_DRAIN);
    rw_backend_set_weight(p->backends[4], 0);
    uint64_t tried = 0;
    t_tried_set(&tried, 2);
    struct rw_lb_req req = {.tried = &tried, .ntried_words = 1};
    assert_int_equal(t_pick_hold(p, 0, &req)->id, 3);
    assert_int_equal(t_pick_hold(p, 0, &req)->id, 3);
    assert_null(rw_pool_pick(p, 0, &req)); /* 3 is full */
    assert_true(req.saw_full);
    rw_pool_free(p);
}

int test_lc_run(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(lc_ties_round_robin),
        cmocka_unit_test(lc_steers_away_from_held),
        cmocka_unit_test(lc_honours_weights),
        cmocka_unit_test(lc_skips_unusable_tried_full),
    };
    return cmocka_run_group_tests_name("balancers/lc", t, NULL, NULL);
}
