/* SPDX-License-Identifier: MIT */
/* Tests for balancers/p2c.c: weighted choices, latency and load awareness. */
#include "tests.h"

#include "balancers/algos.h"

enum { P2C_PICKS = 100000 };

/* Idle servers without samples: the first draw wins ties, so shares follow weights. */
static void p2c_follows_weights_when_idle(void **state)
{
    static const uint32_t w[] = {1, 2, 3, 4};
    struct rw_pool *p = t_pool_ex("p2c", NULL, w, NULL, NULL, 4, 1);
    uint32_t hits[4] = {0};
    for (int i = 0; i < P2C_PICKS; i++)
        hits[t_pick_rel(p, 0, NULL)]++;
    t_assert_shares(hits, w, 4, P2C_PICKS, 0.05);
    rw_pool_free(p);
}

/* One server answers in 200 ms, the others in 2 ms: it only wins when no other
 * candidate is cheaper, which with distinct draws is never while load is light. */
static void p2c_steers_away_from_slow(void **state)
{
    struct rw_pool *p = t_pool_ex("p2c", NULL, NULL, NULL, NULL, 4, 1);
    struct rw_lb_req req = {.now_ms = 1000};
    for (int i = 0; i < 4; i++) {
        assert_true(rw_backend_try_reserve(p->backends[i]));
        t_pick_rel(p, 0, &req); /* sets the worker's clock */
        rw_pool_release(p, 0, p->backends[i], i == 0 ? 200000 : 2000, true);
    }
    uint32_t hits[4] = {0};
    for (int i = 0; i < 10000; i++) {
        struct rw_backend *b = t_pick_hold(p, 0, &req);
        hits[b->id]++;
        rw_pool_release(p, 0, b, b->id == 0 ? 200000 : 2000, true);
    }
    assert_true(hits[0] < 100);
    assert_true(hits[1] > 3000 && hits[2] > 3000 && hits[3] > 3000);
    rw_pool_free(p);
}

/* Equal latency: held reservations on one server steer picks to the others. */
static void p2c_prefers_fewer_inflight(void **state)
{
    struct rw_pool *p = t_pool_ex("p2c", NULL, NULL, NULL, NULL, 3, 1);
    for (int i = 0; i < 20; i++)
        assert_true(rw_backend_try_reserve(p->backends[0]));
    uint32_t hits[3] = {0};
    for (int i = 0; i < 3000; i++)
        hits[t_pick_rel(p, 0, NULL)]++;
    assert_int_equal(hits[0], 0);
    rw_pool_free(p);
}

/* Peak-sensitive: a sample above the average replaces it at once; lower samples move
 * it by 1 - exp(-dt / 10 s); reads decay it; a failed request cannot lower it. */
static void p2c_peak_ewma(void **state)
{
    struct rw_pool *p = t_pool(NULL, 0, 1);
    struct rw_server_def d = {.weight = 1};
    int err = 0;
    struct rw_backend *b = rw_pool_add_backend(p, &d, &err);
    assert_non_null(b);
    assert_true(rw__peak_read(b, 0) < 0); /* no sample yet */
    rw__peak_observe(b, 1000, 5000, true);
    assert_float_equal(rw__peak_read(b, 5000), 1000, 0.01);
    rw__peak_observe(b, 9000, 5000, true); /* peak: replaces */
    assert_float_equal(rw__peak_read(b, 5000), 9000, 0.01);
    rw__peak_observe(b, 1000, 15000, true); /* 10 s later: 1 - 1/e of the way */
    double want = 9000 * 0.36787944 + 1000 * (1 - 0.36787944);
    assert_float_equal(rw__peak_read(b, 15000), want, 1);
    rw__peak_observe(b, 10, 25000, false); /* failure: cannot lower */
    assert_float_equal(rw__peak_read(b, 25000), want, 1);
    assert_float_equal(rw__peak_read(b, 25050), want, 1);              /* < 100 ms: not decayed */
    assert_float_equal(rw__peak_read(b, 35000), want * 0.36787944, 1); /* read decay */
    rw_pool_free(p);
}

/* A new server without samples competes on load alone and does get traffic. */
static void p2c_new_server_gets_traffic(void **state)
{
    struct rw_pool *p = t_pool_ex("p2c", NULL, NULL, NULL, NULL, 3, 1);
    struct rw_lb_req req = {.now_ms = 100};
    for (int i = 0; i < 2; i++) {
        assert_true(rw_backend_try_reserve(p->backends[i]));
        rw_pool_release(p, 0, p->backends[i], 50000, true);
    }
    uint32_t hits[3] = {0};
    for (int i = 0; i < 3000; i++)
        hits[t_pick_rel(p, 0, &req)]++;
    assert_true(hits[2] > 500);
    rw_pool_free(p);
}

int test_p2c_run(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(p2c_follows_weights_when_idle),
        cmocka_unit_test(p2c_steers_away_from_slow),
        cmocka_unit_test(p2c_prefers_fewer_inflight),
        cmocka_unit_test(p2c_peak_ewma),
        cmocka_unit_test(p2c_new_server_gets_traffic),
    };
    return cmocka_run_group_tests_name("balancers/p2c", t, NULL, NULL);
}
