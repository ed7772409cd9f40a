/* SPDX-License-Identifier: MIT */
/* Tests for health/state.c: rise/fall, ejection backoff and cap, state choice, schedule. */
#include "tests.h"

#include "health/health-int.h"

/* The first result sets the state directly; then fall failures in a row take it
 * down, rise successes in a row bring it back, and mixed runs change nothing. */
static void sm_rise_fall(void **state)
{
    struct rw__hc_sm s;
    rw__hc_sm_init(&s, false);
    assert_true(s.healthy); /* up until the first result */
    assert_false(rw__hc_sm_feed(&s, true, 2, 3));
    assert_true(s.healthy);
    assert_false(rw__hc_sm_feed(&s, false, 2, 3));
    assert_false(rw__hc_sm_feed(&s, false, 2, 3));
    assert_false(rw__hc_sm_feed(&s, true, 2, 3)); /* streak broken */
    assert_false(rw__hc_sm_feed(&s, false, 2, 3));
    assert_false(rw__hc_sm_feed(&s, false, 2, 3));
    assert_true(rw__hc_sm_feed(&s, false, 2, 3)); /* third in a row */
    assert_false(s.healthy);
    assert_false(rw__hc_sm_feed(&s, false, 2, 3));
    assert_false(rw__hc_sm_feed(&s, true, 2, 3));
    assert_false(rw__hc_sm_feed(&s, false, 2, 3));
    assert_false(rw__hc_sm_feed(&s, true, 2, 3));
    assert_true(rw__hc_sm_feed(&s, true, 2, 3)); /* second in a row */
    assert_true(s.healthy);
}

static void sm_first_result_is_direct(void **state)
{
    struct rw__hc_sm s;
    rw__hc_sm_init(&s, false);
    assert_true(rw__hc_sm_feed(&s, false, 5, 5)); /* no fall wait for the first */
    assert_false(s.healthy);
    rw__hc_sm_init(&s, true); /* "initial": "down" */
    assert_false(s.healthy);
    assert_true(rw__hc_sm_feed(&s, true, 5, 5)); /* no rise wait either */
    assert_true(s.healthy);
    rw__hc_sm_init(&s, true);
    assert_false(rw__hc_sm_feed(&s, false, 1, 1));
    assert_false(s.healthy);
    /* rise 1 / fall 1 flip on every change */
    assert_true(rw__hc_sm_feed(&s, true, 1, 1));
    assert_true(rw__hc_sm_feed(&s, false, 1, 1));
}

/* eject, eject * 2, * 4 ... capped at max; a probation pass resets the series. */
static void ej_backoff_doubles_and_caps(void **state)
{
    struct rw__ej e = {0};
    static const uint64_t want[] = {30, 60, 120, 240, 300, 300, 300};
    uint64_t now = 1000;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        assert_int_equal(rw__ej_eject(&e, now, 30, 300), want[i]);
        assert_true(e.ejected);
        assert_false(e.probation);
        assert_int_equal(e.until_ms, now + want[i]);
        rw__ej_return(&e);
        assert_false(e.ejected);
        assert_true(e.probation);
        now += 1000;
    }
    rw__ej_pass(&e);
    assert_false(e.probation);
    assert_int_equal(rw__ej_eject(&e, now, 30, 300), 30);
    /* Huge multipliers never overflow past the cap. */
    e.mult = 200;
    assert_int_equal(rw__ej_eject(&e, now, 30000, 300000), 300000);
    /* max below eject: max wins (params clamp it up; the machine stays safe). */
    struct rw__ej f = {0};
    assert_int_equal(rw__ej_eject(&f, 0, 500, 100), 100);
}

static void ej_cap(void **state)
{
    assert_true(rw__ej_cap_allows(0, 10, 50));
    assert_true(rw__ej_cap_allows(4, 10, 50));
    assert_false(rw__ej_cap_allows(5, 10, 50));
    assert_false(rw__ej_cap_allows(0, 1, 50)); /* one server: never ejected at 50% */
    assert_true(rw__ej_cap_allows(0, 1, 100));
    assert_true(rw__ej_cap_allows(0, 2, 50));
    assert_false(rw__ej_cap_allows(1, 2, 50));
    assert_false(rw__ej_cap_allows(0, 10, 0));
    assert_false(rw__ej_cap_allows(0, 0, 100));
    assert_true(rw__ej_cap_allows(2, 3, 100));
    assert_false(rw__ej_cap_allows(3, 3, 100));
}

/* DOWN when unhealthy or ejected, UP otherwise, never over an admin's DRAIN. */
static void want_respects_drain(void **state)
{
    uint32_t out = 99;
    assert_false(rw__hc_want(true, false, RW_BE_UP, &out));
    assert_true(rw__hc_want(false, false, RW_BE_UP, &out));
    assert_int_equal(out, RW_BE_DOWN);
    assert_true(rw__hc_want(true, true, RW_BE_UP, &out));
    assert_int_equal(out, RW_BE_DOWN);
    assert_true(rw__hc_want(true, false, RW_BE_DOWN, &out));
    assert_int_equal(out, RW_BE_UP);
    assert_false(rw__hc_want(false, true, RW_BE_DOWN, &out));
    out = 99;
    assert_false(rw__hc_want(false, false, RW_BE_DRAIN, &out));
    assert_false(rw__hc_want(true, false, RW_BE_DRAIN, &out));
    assert_int_equal(out, 99);
}

/* Phases spread servers over the interval; jitter stays within +- pct. */
static void schedule_spreads(void **state)
{
    unsigned buckets[10] = {0};
    for (uint64_t id = 0; id < 1000; id++) {
        uint64_t uid = rw_lb_hash(&id, sizeof(id), RW_LB_UID_SEED);
        uint32_t ph = rw__hc_phase(uid, 2000);
        assert_true(ph < 2000);
        buckets[ph / 200]++;
    }
    for (int i = 0; i < 10; i++)
        assert_true(buckets[i] > 50 && buckets[i] < 150);
    assert_int_equal(rw__hc_phase(12345, 0), 0);
    uint64_t lo = UINT64_MAX, hi = 0;
    for (uint64_t r = 0; r < 5000; r++) {
        uint64_t d = rw__hc_due(10000, 2000, 10, r * 0x9e3779b97f4a7c15ull);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    assert_true(lo >= 9800 && hi <= 10200);
    assert_true(lo < 9850 && hi > 10150); /* the whole range is used */
    assert_int_equal(rw__hc_due(10000, 2000, 0, 777), 10000);
    assert_int_equal(rw__hc_due(50, 2000, 50, 0), 0); /* never below zero */
}

int test_state_run(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(sm_rise_fall),
        cmocka_unit_test(sm_first_result_is_direct),
        cmocka_unit_test(ej_backoff_doubles_and_caps),
        cmocka_unit_test(ej_cap),
        cmocka_unit_test(want_respects_drain),
        cmocka_unit_test(schedule_spreads),
    };
    return cmocka_run_group_tests_name("health/state", t, NULL, NULL);
}
