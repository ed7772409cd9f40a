/* SPDX-License-Identifier: MIT */
/* Tests for balancers/rr.c: smooth weighted round robin through the pool and vtable. */
#include "tests.h"

#include <string.h>

static uint32_t pick_id(struct rw_pool *p, uint32_t worker, struct rw_lb_req *req)
{
    return t_pick_rel(p, worker, req);
}

static void rr_511_sequence_per_worker(void **state)
{
    static const uint32_t w[] = {5, 1, 1};
    static const uint32_t want[] = {0, 0, 1, 0, 2, 0, 0}; /* a a b a c a a */
    struct rw_pool *p = t_pool(w, 3, 2);
    for (int cycle = 0; cycle < 3; cycle++)
        for (int i = 0; i < 7; i++)
            assert_int_equal(pick_id(p, 0, NULL), want[i]);
    rw_pool_free(p);
}

static void rr_workers_are_independent(void **state)
{
    static const uint32_t w[] = {5, 1, 1};
    static const uint32_t want[] = {0, 0, 1, 0, 2, 0, 0};
    struct rw_pool *p = t_pool(w, 3, 2);
    /* Worker 1 starts late and interleaves: each still sees the whole smooth order. */
    assert_int_equal(pick_id(p, 0, NULL), want[0]);
    assert_int_equal(pick_id(p, 0, NULL), want[1]);
    for (int i = 0; i < 14; i++) {
        assert_int_equal(pick_id(p, 1, NULL), want[i % 7]);
        assert_int_equal(pick_id(p, 0, NULL), want[(i + 2) % 7]);
    }
    rw_pool_free(p);
}

static void rr_exact_counts_per_cycle(void **state)
{
    static const uint32_t w[] = {3, 7, 2, 5, 1};
    struct rw_pool *p = t_pool(w, 5, 1);
    for (int cycle = 0; cycle < 10; cycle++) {
        uint32_t hits[5] = {0};
        for (int i = 0; i < 18; i++)
            hits[pick_id(p, 0, NULL)]++;
        for (int s = 0; s < 5; s++)
            assert_int_equal(hits[s], w[s]);
    }
    rw_pool_free(p);
}

static void rr_follows_reference(const uint32_t *w, uint32_t n, uint64_t picks)
{
    struct rw_pool *p = t_pool(w, n, 1);
    int64_t *cw = calloc(n, sizeof(*cw));
    assert_non_null(cw);
    for (uint64_t i = 0; i < picks; i++) {
        uint32_t want = t_ref_pick(cw, w, n);
        uint32_t got = pick_id(p, 0, NULL);
        if (got != want)
            fail_msg("pick %lu: got %u, want %u", (unsigned long)i, got, want);
    }
    free(cw);
    rw_pool_free(p);
}

static void rr_same_order_as_reference_any_size(void **state)
{
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    uint32_t w[1000];
    /* 17 servers: the stepper records the first cycle, then the schedule replays. */
    for (int i = 0; i < 17; i++)
        w[i] = 1 + t_rand(&seed) % 20;
    rr_follows_reference(w, 17, 2000);
    /* 1000 servers, weights 1..10: one cycle is 5,500 picks, kept as a schedule. */
    for (int i = 0; i < 1000; i++)
        w[i] = 1 + t_rand(&seed) % 10;
    rr_follows_reference(w, 1000, 12000);
    /* 150 servers, weights up to 1000: the cycle is too long to record (stepper only);
     * many equal weights and ties across classes. */
    for (int i = 0; i < 150; i++)
        w[i] = 1 + t_rand(&seed) % 1000;
    w[3] = w[7] = w[140] = 999;
    rr_follows_reference(w, 150, 200000);
}

static void rr_large_pool_exact_counts(void **state)
{
    enum { N = 1000, W = 5500 };
    uint32_t w[N];
    for (uint32_t i = 0; i < N; i++)
        w[i] = i % 10 + 1;
    struct rw_pool *p = t_pool(w, N, 2);
    uint32_t *hits = calloc(N, sizeof(*hits));
    assert_non_null(hits);
    for (int cycle = 0; cycle < 3; cycle++) {
        memset(hits, 0, N * sizeof(*hits));
        for (uint32_t i = 0; i < W; i++)
            hits[pick_id(p, cycle % 2, NULL)]++;
        for (uint32_t s = 0; s < N; s++)
            assert_int_equal(hits[s], w[s]);
    }
    free(hits);
    rw_pool_free(p);
}

/* Down, draining and weight-0 servers are never picked; the rest keep their shares. */
static void skips_unusable(uint32_t n)
{
    uint32_t w[32];
    for (uint32_t i = 0; i < n; i++)
        w[i] = i % 4 + 1;
    struct rw_pool *p = t_pool(w, n, 1);
    rw_backend_set_state(p->backends[1], RW_BE_DOWN);
    rw_backend_set_state(p->backends[2], RW_BE_DRAIN);
    rw_backend_set_weight(p->backends[3], 0);
    uint32_t total = 0, hits[32] = {0};
    for (uint32_t i = 4; i < n; i++)
        total += w[i];
    total += w[0];
    for (int cycle = 0; cycle < 4; cycle++)
        for (uint32_t i = 0; i < total; i++)
            hits[pick_id(p, 0, NULL)]++;
    assert_int_equal(hits[1] + hits[2] + hits[3], 0);
    assert_int_equal(hits[0], 4 * w[0]);
    for (uint32_t i = 4; i < n; i++)
        assert_int_equal(hits[i], 4 * w[i]);
    rw_pool_free(p);
}

static void rr_skips_down_drain_zero(void **state)
{
    skips_unusable(6);
    skips_unusable(32);
}

/* A state stored before the pool's change counter moves (a writer mid-update) is
 * still honoured: the worker drops to the live scan until the counter moves. */
static void rr_state_seen_before_counter_bump(void **state)
{
    enum { N = 20 };
    uint32_t w[N], hits[N] = {0}, total = 0;
    for (uint32_t i = 0; i < N; i++)
        w[i] = i % 4 + 1;
    struct rw_pool *p = t_pool(w, N, 1);
    for (int i = 0; i < 7; i++)
        pick_id(p, 0, NULL);
    for (uint32_t i = 0; i < N / 2; i++)
        atomic_store(&p->backends[i]->state, RW_BE_DOWN);
    for (int i = 0; i < 200; i++)
        assert_true(pick_id(p, 0, NULL) >= N / 2);
    rw_backend_set_state(p->backends[0], RW_BE_DOWN); /* the bump arrives */
    for (uint32_t i = N / 2; i < N; i++)
        total += w[i];
    for (int cycle = 0; cycle < 2; cycle++)
        for (uint32_t i = 0; i < total; i++)
            hits[pick_id(p, 0, NULL)]++;
    for (uint32_t s = 0; s < N; s++)
        assert_int_equal(hits[s], s < N / 2 ? 0 : 2 * w[s]);
    rw_pool_free(p);
}

/* A server coming back or changing weight takes effect at the next pick, and the
 * fast path then gives exact shares again. */
static void rr_large_pool_state_and_weight_changes(void **state)
{
    enum { N = 100 };
    uint32_t w[N], hits[N], total = 0;
    for (uint32_t i = 0; i < N; i++) {
        w[i] = i % 5 + 1;
        total += w[i];
    }
    struct rw_pool *p = t_pool(w, N, 1);
    for (int i = 0; i < 50; i++)
        pick_id(p, 0, NULL);
    rw_backend_set_state(p->backends[9], RW_BE_DOWN);
    for (uint32_t i = 0; i < 3 * total; i++)
        assert_int_not_equal(pick_id(p, 0, NULL), 9);
    rw_backend_set_state(p->backends[9], RW_BE_UP);
    rw_backend_set_weight(p->backends[42], 11);
    total += 11 - w[42];
    w[42] = 11;
    for (int cycle = 0; cycle < 2; cycle++) {
        memset(hits, 0, sizeof(hits));
        for (uint32_t i = 0; i < total; i++)
            hits[pick_id(p, 0, NULL)]++;
        for (uint32_t s = 0; s < N; s++)
            assert_int_equal(hits[s], w[s]);
    }
    rw_pool_free(p);
}

static void rr_tried_skipped(void **state)
{
    static const uint32_t w[] = {5, 1, 1};
    uint64_t bits[1] = {0};
    struct rw_lb_req req = {.tried = bits, .ntried_words = 1};
    struct rw_pool *p = t_pool(w, 3, 1);
    t_tried_set(bits, 0);
    for (int i = 0; i < 20; i++)
        assert_int_not_equal(pick_id(p, 0, &req), 0);
    t_tried_set(bits, 2);
    for (int i = 0; i < 5; i++)
        assert_int_equal(pick_id(p, 0, &req), 1);
    t_tried_set(bits, 1);
    assert_null(rw_pool_pick(p, 0, &req));
    /* Ids beyond the bitmap's words count as not tried. */
    struct rw_lb_req none = {.tried = bits, .ntried_words = 0};
    assert_non_null(rw_pool_pick(p, 0, &none));
    rw_pool_free(p);
}

/* In a large pool a retry skips its tried servers without disturbing the cycle. */
static void rr_large_pool_tried(void **state)
{
    enum { N = 200 };
    uint32_t w[N], hits[N] = {0}, total = 0;
    uint64_t bits[(N + 63) / 64] = {0};
    for (uint32_t i = 0; i < N; i++) {
        w[i] = i % 3 + 1;
        total += w[i];
    }
    for (uint32_t i = 0; i < N; i += 2)
        t_tried_set(bits, i);
    struct rw_lb_req req = {.tried = bits, .ntried_words = (N + 63) / 64};
    struct rw_pool *p = t_pool(w, N, 1);
    for (uint32_t i = 0; i < 2 * total; i++) {
        pick_id(p, 0, NULL);
        assert_int_equal(pick_id(p, 0, &req) % 2, 1);
    }
    /* Any run of `total` slots of the cycle holds every server exactly w times. */
    for (uint32_t i = 0; i < total; i++)
        hits[pick_id(p, 0, NULL)]++;
    for (uint32_t s = 0; s < N; s++)
        assert_int_equal(hits[s], w[s]);
    memset(bits, 0xff, sizeof(bits));
    assert_null(rw_pool_pick(p, 0, &req));
    rw_pool_free(p);
}

static void rr_all_unusable_is_null(void **state)
{
    uint32_t w[40];
    for (int i = 0; i < 40; i++)
        w[i] = 2;
    for (uint32_t n = 3; n <= 40; n += 37) {
        struct rw_pool *p = t_pool(w, n, 1);
        for (uint32_t i = 0; i < n; i++)
            rw_backend_set_state(p->backends[i], i % 2 ? RW_BE_DOWN : RW_BE_DRAIN);
        assert_null(rw_pool_pick(p, 0, NULL));
        rw_backend_set_state(p->backends[n - 1], RW_BE_UP);
        assert_int_equal(pick_id(p, 0, NULL), n - 1);
        rw_backend_set_weight(p->backends[n - 1], 0);
        assert_null(rw_pool_pick(p, 0, NULL));
        rw_pool_free(p);
    }
}

/* After a publish each worker rebuilds and follows the new list's order from its start. */
static void rr_rebuild_after_publish(void **state)
{
    static const uint32_t w[] = {5, 1, 1};
    struct rw_pool *p = t_pool(w, 3, 2);
    for (int i = 0; i < 3; i++)
        pick_id(p, 0, NULL);
    int err = 0;
    struct rw_backend *d =
        rw_pool_add_backend(p, &(struct rw_server_def){.name = "d", .weight = 2}, &err);
    assert_non_null(d);
    struct rw_backend *list[] = {p->backends[2], d, p->backends[0]}; /* c=1 d=2 a=5 */
    assert_int_equal(rw_pool_publish(p, list, 3), 0);
    assert_int_equal(rw_pool_set(p)->generation, 2);
    /* Reference over weights 1, 2, 5 in that order. */
    static const uint32_t nw[] = {1, 2, 5};
    const uint32_t ids[] = {2, d->id, 0};
    for (uint32_t worker = 0; worker < 2; worker++) {
        int64_t cw[3] = {0};
        for (int i = 0; i < 24; i++)
            assert_int_equal(pick_id(p, worker, NULL), ids[t_ref_pick(cw, nw, 3)]);
    }
    rw_pool_free(p);
}

/* Growing a pool past the scan threshold by publishing moves it to the fast path with
 * the same order. */
static void rr_publish_grows_pool(void **state)
{
    uint32_t w[40];
    for (int i = 0; i < 40; i++)
        w[i] = 1 + (i * 7) % 9;
    struct rw_pool *p = t_pool(w, 10, 1);
    pick_id(p, 0, NULL);
    struct rw_backend *list[40];
    int err = 0;
    for (uint32_t i = 0; i < 40; i++)
        list[i] = i < 10 ? p->backends[i]
                         : rw_pool_add_backend(p, &(struct rw_server_def){.weight = w[i]}, &err);
    assert_int_equal(err, 0);
    assert_int_equal(rw_pool_publish(p, list, 40), 0);
    int64_t cw[40] = {0};
    for (int i = 0; i < 500; i++)
        assert_int_equal(pick_id(p, 0, NULL), t_ref_pick(cw, w, 40));
    rw_pool_free(p);
}

/* A server at max_conns loses its turns (the cycle goes on without it) and gets them
 * back once a slot frees up; the pick is never stuck on one other server. */
static void rr_full_server_loses_turns(void **state)
{
    static const uint32_t w[] = {5, 1, 1};
    static const uint32_t mc[] = {1, 0, 0};
    struct rw_pool *p = t_pool_ex("round_robin", NULL, w, mc, NULL, 3, 1);
    struct rw_backend *h = t_pick_hold(p, 0, NULL);
    assert_int_equal(h->id, 0);
    uint32_t hits[3] = {0};
    for (int i = 0; i < 40; i++)
        hits[t_pick_rel(p, 0, NULL)]++;
    assert_int_equal(hits[0], 0);
    assert_int_equal(hits[1], 20);
    assert_int_equal(hits[2], 20);
    rw_pool_release(p, 0, h, 0, true);
    memset(hits, 0, sizeof(hits));
    for (int i = 0; i < 70; i++)
        hits[t_pick_rel(p, 0, NULL)]++;
    assert_int_equal(hits[0], 50);
    rw_pool_free(p);
}

int test_rr_run(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(rr_511_sequence_per_worker),
        cmocka_unit_test(rr_workers_are_independent),
        cmocka_unit_test(rr_exact_counts_per_cycle),
        cmocka_unit_test(rr_same_order_as_reference_any_size),
        cmocka_unit_test(rr_large_pool_exact_counts),
        cmocka_unit_test(rr_skips_down_drain_zero),
        cmocka_unit_test(rr_state_seen_before_counter_bump),
        cmocka_unit_test(rr_large_pool_state_and_weight_changes),
        cmocka_unit_test(rr_tried_skipped),
        cmocka_unit_test(rr_large_pool_tried),
        cmocka_unit_test(rr_all_unusable_is_null),
        cmocka_unit_test(rr_rebuild_after_publish),
        cmocka_unit_test(rr_publish_grows_pool),
        cmocka_unit_test(rr_full_server_loses_turns),
    };
    return cmocka_run_group_tests_name("balancers/rr", t, NULL, NULL);
}
