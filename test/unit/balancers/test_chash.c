/* SPDX-License-Identifier: MIT */
/* Tests for balancers/chash.c: hash / ip_hash stability, skipping, bounded load. */
#include "tests.h"

#include <math.h>
#include <stdio.h>

static uint64_t key_hash(uint32_t k)
{
    return rw_lb_hash(&k, sizeof(k), 0);
}

static void chash_same_key_same_server(uint8_t method, const char *algo)
{
    struct rw_lb_params params = {.hash_method = method};
    struct rw_pool *p = t_pool_ex(algo, &params, NULL, NULL, NULL, 10, 2);
    uint32_t seen[10] = {0};
    for (uint32_t k = 0; k < 2000; k++) {
        struct rw_lb_req req = {.hash = key_hash(k), .has_hash = true};
        uint32_t id = t_pick_rel(p, 0, &req);
        seen[id]++;
        for (int again = 0; again < 3; again++)
            assert_int_equal(t_pick_rel(p, again % 2, &req), id); /* both workers */
    }
    for (int i = 0; i < 10; i++)
        assert_true(seen[i] > 100); /* every server owns keys */
    rw_pool_free(p);
}

static void chash_stable(void **state)
{
    chash_same_key_same_server(RW_LB_HASH_MAGLEV, "hash");
    chash_same_key_same_server(RW_LB_HASH_RING, "hash");
    chash_same_key_same_server(RW_LB_HASH_MAGLEV, "ip_hash");
}

/* Without a key the pool round-robins (nginx order). */
static void chash_no_key_round_robin(void **state)
{
    static const uint32_t w[] = {5, 1, 1};
    static const uint32_t want[] = {0, 0, 1, 0, 2, 0, 0};
    for (int m = 0; m < 2; m++) {
        struct rw_lb_params params = {.hash_method = (uint8_t)m};
        struct rw_pool *p = t_pool_ex(m ? "ip_hash" : "hash", &params, w, NULL, NULL, 3, 1);
        struct rw_lb_req req = {.hash = 12345, .has_hash = false};
        for (int i = 0; i < 14; i++)
            assert_int_equal(t_pick_rel(p, 0, i % 2 ? &req : NULL), want[i % 7]);
        rw_pool_free(p);
    }
}

/* A tried, full or down key server: the key walks on, to the same next server every
 * time, and returns to its own server once that is back. */
static void chash_skip_is_deterministic(uint8_t method)
{
    struct rw_lb_params params = {.hash_method = method};
    struct rw_pool *p = t_pool_ex("hash", &params, NULL, NULL, NULL, 8, 1);
    for (uint32_t k = 0; k < 200; k++) {
        struct rw_lb_req req = {.hash = key_hash(k), .has_hash = true};
        uint32_t own = t_pick_rel(p, 0, &req);
        uint64_t tried = 0;
        t_tried_set(&tried, own);
        req.tried = &tried;
        req.ntried_words = 1;
        uint32_t next = t_pick_rel(p, 0, &req);
        assert_int_not_equal(next, own);
        assert_int_equal(t_pick_rel(p, 0, &req), next);
        req.tried = NULL;
        rw_backend_set_state(p->backends[own], RW_BE_DOWN);
        uint32_t moved = t_pick_rel(p, 0, &req);
        assert_int_not_equal(moved, own);
        assert_int_equal(t_pick_rel(p, 0, &req), moved);
        rw_backend_set_state(p->backends[own], RW_BE_UP);
        assert_int_equal(t_pick_rel(p, 0, &req), own);
    }
    rw_pool_free(p);
}

static void chash_skips(void **state)
{
    chash_skip_is_deterministic(RW_LB_HASH_MAGLEV);
    chash_skip_is_deterministic(RW_LB_HASH_RING);
}

/* Zipf(1.1) keys over 1,000 keys, 3,000 requests held: without a bound the hottest
 * server carries a multiple of the mean; with c = 1.25 it stays <= ceil(c * mean). */
enum { ZIPF_KEYS = 1000, ZIPF_REQS = 3000, ZIPF_SERVERS = 10 };

static int64_t zipf_hottest(uint8_t method, double c)
{
    static double cdf[ZIPF_KEYS];
    double sum = 0;
    for (int k = 0; k < ZIPF_KEYS; k++)
        cdf[k] = (sum += 1.0 / pow(k + 1, 1.1));
    struct rw_lb_params params = {.hash_method = method, .balance_factor = c};
    struct rw_pool *p = t_pool_ex("hash", &params, NULL, NULL, NULL, ZIPF_SERVERS, 1);
    uint64_t seed = 99;
    for (int i = 0; i < ZIPF_REQS; i++) {
        double u = (double)(t_rand(&seed) >> 11) / (double)(1ull << 53) * sum;
        uint32_t lo = 0, hi = ZIPF_KEYS - 1;
        while (lo < hi) {
            uint32_t mid = (lo + hi) / 2;
            if (cdf[mid] > u)
                hi = mid;
            else
                lo = mid + 1;
        }
        struct rw_lb_req req = {.hash = key_hash(lo), .has_hash = true};
        t_pick_hold(p, 0, &req); /* held until the pool is freed */
    }
    int64_t hottest = 0;
    for (int i = 0; i < ZIPF_SERVERS; i++) {
        int64_t v = atomic_load(&p->backends[i]->inflight);
        hottest = v > hottest ? v : hottest;
    }
    if (c > 0)
        assert_int_equal(atomic_load(&p->_total_inflight), ZIPF_REQS);
    rw_pool_free(p);
    return hottest;
}

static void chash_bounded_load(void **state)
{
    int64_t mean = ZIPF_REQS / ZIPF_SERVERS;
    for (int m = 0; m < 2; m++) {
        int64_t free_max = zipf_hottest((uint8_t)m, 0);
        int64_t bounded_max = zipf_hottest((uint8_t)m, 1.25);
        print_message("%s: hottest server %.2fx the mean unbounded, %.2fx with c=1.25\n",
                      m ? "ring" : "maglev", (double)free_max / mean, (double)bounded_max / mean);
        assert_true(free_max > 1.5 * mean); /* the skew is real */
        assert_true(bounded_max <= (int64_t)ceil(1.25 * mean));
    }
}

int test_chash_run(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(chash_stable),
        cmocka_unit_test(chash_no_key_round_robin),
        cmocka_unit_test(chash_skips),
        cmocka_unit_test(chash_bounded_load),
    };
    return cmocka_run_group_tests_name("balancers/chash", t, NULL, NULL);
}
