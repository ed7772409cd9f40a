/* SPDX-License-Identifier: MIT */
/* Tests for balancers/maglev.c: table size, spread, weights, movement. */
#include "tests.h"

#include <errno.h>
#include <stdio.h>

#include "balancers/algos.h"

static void maglev_sizes(void **state)
{
    assert_int_equal(rw__maglev_size(1), 65537);
    assert_int_equal(rw__maglev_size(655), 65537);
    assert_int_equal(rw__maglev_size(656), 65609); /* the first prime >= 65600 */
    assert_int_equal(rw__maglev_size(1000), 100003);
}

static void maglev_spread_and_weights(void **state)
{
    enum { N = 100 };
    uint32_t w[N], count[N] = {0};
    for (int i = 0; i < N; i++)
        w[i] = 1;
    struct rw_pool *p = t_pool(w, N, 1);
    struct rw__maglev t = {0};
    assert_int_equal(rw__maglev_build(&t, rw_pool_set(p), w), 0);
    for (uint32_t s = 0; s < t.m; s++)
        count[t.slot[s]]++;
    for (int i = 0; i < N; i++)
        assert_true(count[i] == 655 || count[i] == 656);
    /* Weights 1 and 3, and one server left out. */
    for (int i = 0; i < N; i++) {
        w[i] = i % 2 ? 3 : 1;
        count[i] = 0;
    }
    w[10] = 0;
    assert_int_equal(rw__maglev_build(&t, rw_pool_set(p), w), 0);
    for (uint32_t s = 0; s < t.m; s++)
        count[t.slot[s]]++;
    assert_int_equal(count[10], 0);
    double unit = 65537.0 / (49 * 1 + 50 * 3);
    for (int i = 0; i < N; i++)
        if (i != 10)
            assert_true(count[i] >= w[i] * unit - 3 && count[i] <= w[i] * unit + 3);
    memset(w, 0, sizeof(w));
    assert_int_equal(rw__maglev_build(&t, rw_pool_set(p), w), -ENOENT);
    rw__maglev_free(&t);
    rw_pool_free(p);
}

enum { MOVE_KEYS = 200000 };

/* Fraction of keys whose server differs between two maps. */
static double moved(const uint32_t *a, const uint32_t *b)
{
    uint32_t m = 0;
    for (uint32_t k = 0; k < MOVE_KEYS; k++)
        m += a[k] != b[k];
    return (double)m / MOVE_KEYS;
}

static void map_keys(struct rw_pool *p, uint32_t *out)
{
    for (uint32_t k = 0; k < MOVE_KEYS; k++) {
        struct rw_lb_req req = {.hash = rw_lb_hash(&k, sizeof(k), 3), .has_hash = true};
        out[k] = t_pick_rel(p, 0, &req);
    }
}

/* One of 100 servers leaves (goes down), or a 101st joins (a new snapshot): the
 * fraction of keys moved stays within about limit x the ideal 1/n. */
void t_hash_movement(uint8_t method, double limit, double *out_remove, double *out_add)
{
    enum { N = 101 };
    struct rw_lb_params params = {.hash_method = method};
    struct rw_pool *p = t_pool_ex("hash", &params, NULL, NULL, NULL, N, 1);
    uint32_t *before = malloc(MOVE_KEYS * sizeof(*before));
    uint32_t *after = malloc(MOVE_KEYS * sizeof(*after));
    assert_non_null(before);
    assert_non_null(after);
    struct rw_backend *list[N];
    for (int i = 0; i < N; i++)
        list[i] = p->backends[i];
    assert_int_equal(rw_pool_publish(p, list, N - 1), 0); /* 100 servers */
    map_keys(p, before);
    rw_backend_set_state(p->backends[37], RW_BE_DOWN);
    map_keys(p, after);
    *out_remove = moved(before, after);
    for (uint32_t k = 0; k < MOVE_KEYS; k++)
        assert_true(after[k] != 37);
    rw_backend_set_state(p->backends[37], RW_BE_UP);
    map_keys(p, after);
    assert_true(moved(before, after) == 0);           /* back exactly */
    assert_int_equal(rw_pool_publish(p, list, N), 0); /* the 101st joins */
    map_keys(p, after);
    *out_add = moved(before, after);
    print_message("%s, 100 servers: %.2f%% of keys moved when one leaves (ideal 1.00%%), "
                  "%.2f%% when one joins (ideal 0.99%%)\n",
                  method ? "ring" : "maglev", *out_remove * 100, *out_add * 100);
    if (limit > 0) {
        assert_true(*out_remove <= limit * (1.0 / 100));
        /* Joining measured 1.61x the ideal (1.59% of keys): Maglev's own disruption;
         * "about 1.6x" gets 3% of slack here. */
        assert_true(*out_add <= limit * 1.03 * (1.0 / 101));
    }
    free(before);
    free(after);
    rw_pool_free(p);
}

static void maglev_movement(void **state)
{
    double rm, add;
    t_hash_movement(RW_LB_HASH_MAGLEV, 1.6, &rm, &add);
}

int test_maglev_run(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(maglev_sizes),
        cmocka_unit_test(maglev_spread_and_weights),
        cmocka_unit_test(maglev_movement),
    };
    return cmocka_run_group_tests_name("balancers/maglev", t, NULL, NULL);
}
