/* SPDX-License-Identifier: MIT */
/* Tests for balancers/lb.c: the algorithm registry and the key hash. */
#include "tests.h"

#include <string.h>

static void lb_find_known_and_unknown(void **state)
{
    for (size_t i = 0; i < T_NALGOS; i++) {
        const struct rw_lb_ops *ops = rw_lb_find(t_algos[i]);
        assert_non_null(ops);
        assert_string_equal(ops->name, t_algos[i]);
        assert_non_null(ops->create);
        assert_non_null(ops->destroy);
        assert_non_null(ops->rebuild);
        assert_non_null(ops->pick);
    }
    assert_null(rw_lb_find("roundrobin"));
    assert_null(rw_lb_find(""));
    assert_null(rw_lb_find(NULL));
}

static void lb_names_lists_every_algorithm(void **state)
{
    const char *names = rw_lb_names();
    assert_non_null(names);
    assert_string_equal(names, "round_robin, least_conn, random, p2c, hash, ip_hash, first");
    /* Stable across calls: the same buffer, built once. */
    assert_ptr_equal(names, rw_lb_names());
}

static void lb_create_destroy_through_vtable(void **state)
{
    static const struct rw_lb_params params = {.hash_method = RW_LB_HASH_RING};
    for (size_t i = 0; i < T_NALGOS; i++) {
        const struct rw_lb_ops *ops = rw_lb_find(t_algos[i]);
        struct rw_lb *lb = NULL;
        assert_int_equal(ops->create(&lb, &params, 3), 0);
        assert_non_null(lb);
        assert_ptr_equal(lb->ops, ops);
        assert_int_equal(lb->nworkers, 3);
        ops->destroy(lb);
    }
}

static void lb_hash_is_stable_and_keyed(void **state)
{
    const char *s = "GET /index.html";
    uint64_t h = rw_lb_hash(s, strlen(s), 1);
    assert_true(h == rw_lb_hash(s, strlen(s), 1));
    assert_true(h != rw_lb_hash(s, strlen(s), 2));
    assert_true(h != rw_lb_hash(s, strlen(s) - 1, 1));
    /* Every length up to 40 differs from its neighbours, including the empty key. */
    char buf[41] = {0};
    uint64_t prev = rw_lb_hash(NULL, 0, 0);
    for (size_t len = 1; len <= 40; len++) {
        uint64_t v = rw_lb_hash(buf, len, 0); /* all zero bytes: only the length differs */
        assert_true(v != prev);
        prev = v;
    }
}

/* Flipping any one input bit flips about half the output bits (avalanche), and keys
 * that differ in one counter spread evenly over buckets. */
static void lb_hash_mixes_well(void **state)
{
    uint8_t key[24];
    uint64_t seed = 7, flips = 0, trials = 0;
    for (int t = 0; t < 200; t++) {
        for (size_t i = 0; i < sizeof(key); i++)
            key[i] = (uint8_t)t_rand(&seed);
        size_t len = 1 + t % sizeof(key);
        uint64_t h = rw_lb_hash(key, len, 99);
        for (size_t bit = 0; bit < len * 8; bit++) {
            key[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            flips += __builtin_popcountll(h ^ rw_lb_hash(key, len, 99));
            trials++;
            key[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
    }
    double mean = (double)flips / trials;
    assert_true(mean > 31.0 && mean < 33.0);
    enum { BUCKETS = 64, KEYS = 64000 };
    uint32_t hits[BUCKETS] = {0};
    for (uint32_t i = 0; i < KEYS; i++)
        hits[rw_lb_hash(&i, sizeof(i), 0) % BUCKETS]++;
    double chi = 0, want = KEYS / BUCKETS;
    for (int i = 0; i < BUCKETS; i++)
        chi += (hits[i] - want) * (hits[i] - want) / want;
    assert_true(chi < 120); /* 63 degrees of freedom: p ~ 1e-5 */
}

int test_lb_run(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(lb_find_known_and_unknown),
        cmocka_unit_test(lb_names_lists_every_algorithm),
        cmocka_unit_test(lb_create_destroy_through_vtable),
        cmocka_unit_test(lb_hash_is_stable_and_keyed),
        cmocka_unit_test(lb_hash_mixes_well),
    };
    return cmocka_run_group_tests_name("balancers/lb", t, NULL, NULL);
}
