/* SPDX-License-Identifier: MIT */
/* Tests for balancers/random.c: weighted random within tolerance. */
#include "tests.h"

enum { RND_PICKS = 100000 };

static void random_follows_weights(void **state)
{
    static const uint32_t w[] = {1, 2, 3, 4, 10};
    struct rw_pool *p = t_pool_ex("random", NULL, w, NULL, NULL, 5, 2);
    uint32_t hits[5] = {0};
    for (int i = 0; i < RND_PICKS; i++)
        hits[t_pick_rel(p, i % 2, NULL)]++;
    t_assert_shares(hits, w, 5, RND_PICKS, 0.05);
    rw_pool_free(p);
}

static void random_large_pool_and_changes(void **state)
{
    enum { N = 1000 };
    uint32_t w[N], *hits = calloc(N, sizeof(*hits));
    assert_non_null(hits);
    for (uint32_t i = 0; i < N; i++)
        w[i] = i < 500 ? 1 : 3;
    struct rw_pool *p = t_pool_ex("random", NULL, w, NULL, NULL, N, 1);
    rw_backend_set_state(p->backends[7], RW_BE_DOWN);
    uint32_t half[2] = {0};
    for (int i = 0; i < 4 * RND_PICKS; i++) {
        uint32_t id = t_pick_rel(p, 0, NULL);
        hits[id]++;
        half[id >= 500]++;
    }
    assert_int_equal(hits[7], 0);
    uint32_t hw[2] = {499, 1500};
    t_assert_shares(half, hw, 2, 4 * RND_PICKS, 0.02);
    free(hits);
    rw_pool_free(p);
}

static void random_skips_tried_and_full(void **state)
{
    static const uint32_t w[] = {100, 1, 1};
    static const uint32_t mc[] = {0, 1, 0};
    struct rw_pool *p = t_pool_ex("random", NULL, w, mc, NULL, 3, 1);
    uint64_t tried = 0;
    t_tried_set(&tried, 0);
    struct rw_lb_req req = {.tried = &tried, .ntried_words = 1};
    struct rw_backend *h = rw_pool_pick(p, 0, &req);
    assert_non_null(h);
    assert_int_not_equal(h->id, 0);
    if (h->id == 2) {
        rw_pool_release(p, 0, h, 0, true);
        assert_true(rw_backend_try_reserve(p->backends[1]));
        h = p->backends[1];
    }
    for (int i = 0; i < 100; i++)
        assert_int_equal(t_pick_rel(p, 0, &req), 2);
    t_tried_set(&tried, 2);
    assert_null(rw_pool_pick(p, 0, &req));
    assert_true(req.saw_full);
    rw_pool_release(p, 0, h, 0, true);
    rw_pool_free(p);
}

int test_random_run(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(random_follows_weights),
        cmocka_unit_test(random_large_pool_and_changes),
        cmocka_unit_test(random_skips_tried_and_full),
    };
    return cmocka_run_group_tests_name("balancers/random", t, NULL, NULL);
}
