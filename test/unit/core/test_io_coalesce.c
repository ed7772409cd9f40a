/* SPDX-License-Identifier: MIT */
/* io_uring's coalesced waits (core/io_uring-int.h): when the policy starts and stops
 * them and how much it asks for, and that a coalesced wait still returns a lone
 * completion and still ends at its timeout. (The rest of the io conformance suites
 * also run with every wait coalesced: "[io_uring coalesced]".) */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/io-int.h"
#include "core/io.h"
#include "core/io_uring-int.h"
#include "test/unit/core/io_fixture.h"
#include "test/unit/core/tests.h"

#define MS (1000 * 1000ull)
#define LONG_WAIT_NS (4000 * MS) /* a turn's bound that only a hang would reach */

static uint64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* One window of `events` completions over `span_ns`, then the decision. */
static uint32_t window(struct rw__ur_co *c, uint64_t *now, uint64_t events, uint64_t span_ns)
{
    *now += span_ns;
    rw__ur_co_turn(c, (unsigned)events, *now);
    return c->target;
}

static void co_off_without_budget(void **state)
{
    struct rw__ur_co c;
    uint64_t now = 5 * MS;

    (void)state;
    rw__ur_co_init(&c, 0, false, now);
    assert_int_equal(window(&c, &now, 1000000, MS), 0);
    rw__ur_co_init(&c, 0, true, now); /* the hook needs a budget too */
    assert_int_equal(c.target, 0);
    assert_int_equal(window(&c, &now, 1000000, MS), 0);
}

static void co_starts_and_stops_with_the_rate(void **state)
{
    struct rw__ur_co c;
    uint64_t now = 0;

    (void)state;
    rw__ur_co_init(&c, 100, false, now);
    assert_int_equal(c.target, 0);
    /* 70 completions a ms: 7 per 100 us budget, below RW__CO_ON */
    assert_int_equal(window(&c, &now, 70, MS), 0);
    /* 200 a ms: 20 per budget; asks for about that */
    assert_int_equal(window(&c, &now, 200, MS), 20);
    /* once on, it holds down to RW__CO_OFF (5 per budget) ... */
    assert_int_equal(window(&c, &now, 50, MS), 5);
    /* ... and stops below it */
    assert_int_equal(window(&c, &now, 30, MS), 0);
    /* and needs RW__CO_ON again to start */
    assert_int_equal(window(&c, &now, 60, MS), 0);
    assert_int_equal(window(&c, &now, 80, MS), RW__CO_ON);
}

static void co_window_needs_its_time(void **state)
{
    struct rw__ur_co c;
    uint64_t now = 0;

    (void)state;
    rw__ur_co_init(&c, 100, false, now);
    /* turns within a window only count */
    for (int i = 0; i < 9; i++) {
        now += MS / 10;
        rw__ur_co_turn(&c, 100, now);
        assert_int_equal(c.target, 0);
    }
    now += MS / 10;
    rw__ur_co_turn(&c, 100, now); /* 1,000 over 1 ms: 100 per budget, clamped */
    assert_int_equal(c.target, RW__CO_MAX);
    /* a long quiet spell ends it at the next turn, whatever that turn brings */
    now += 10 * 1000 * MS;
    rw__ur_co_turn(&c, 64, now);
    assert_int_equal(c.target, 0);
}

static void co_budget_clamped(void **state)
{
    struct rw__ur_co c;
    uint64_t now = 0;

    (void)state;
    rw__ur_co_init(&c, 1000000, false, now);
    assert_int_equal(c.budget_us, RW__CO_BUDGET_MAX);
    /* 5 a ms is 5 per clamped budget: below RW__CO_ON */
    assert_int_equal(window(&c, &now, 5, MS), 0);
    assert_int_equal(window(&c, &now, 10, MS), 10);
}

static void co_always_hook(void **state)
{
    struct rw__ur_co c;
    uint64_t now = 0;

    (void)state;
    rw__ur_co_init(&c, 100, true, now);
    assert_int_equal(c.target, RW__CO_MAX);
    assert_int_equal(window(&c, &now, 0, 100 * MS), RW__CO_MAX);
}

/* ---- on a loop whose every wait coalesces ---- */

static bool coalescing(struct fx *f)
{
    return f->env && !strcmp(f->env, "RW_TEST_IO_URING_COALESCE_ALWAYS");
}

static uint64_t co_waits(struct fx *f, uint32_t *budget_us)
{
    uint64_t waits;

    rw__io_uring_co_stats(f->l, budget_us, &waits);
    return waits;
}

/* The wait asks for RW__CO_MAX completions; one arrives: the turn still returns it. */
static void io_coalesced_lone_completion(void **state)
{
    struct fx *f = fx_get(state);
    struct rec *r = rec_new(f->l);
    int sv[2];

    stream_pair(sv);
    assert_int_equal(START(rw_io_recv(f->l, &r->op, sv[0], RW_RECV_MULTISHOT)), 0);
    run_idle(f->l, 2);
    uint32_t budget;
    uint64_t before = co_waits(f, &budget);
    write_all(sv[1], "x", 1);
    /* one turn with a long bound brings it, well before the bound: a coalesced wait
     * takes what came once its budget (FX_COALESCE_US) has passed */
    uint64_t t0 = mono_ns();
    for (int i = 0; i < 3 && r->n < 1; i++) /* the first turns may only run task work */
        assert_true(rw_loop_run_once(f->l, LONG_WAIT_NS) >= 0);
    assert_int_equal(r->len, 1);
    assert_true(mono_ns() - t0 < LONG_WAIT_NS / 2);
    if (coalescing(f) && budget) /* else the kernel has no min_wait (before 6.12) */
        assert_true(before > 0 && co_waits(f, &budget) > before);
    if (!coalescing(f))
        assert_int_equal(co_waits(f, &budget), 0); /* these loops are never busy enough */
    assert_int_equal(START(rw_io_cancel(f->l, &r->op)), 0);
    run_until(f->l, &r->finals, 1);
    close(sv[0]);
    close(sv[1]);
    rec_free(r);
}

/* Nothing arrives: a coalesced wait still ends at the turn's timeout, with nothing. */
static void io_coalesced_wait_times_out(void **state)
{
    struct fx *f = fx_get(state);
    struct rec *r = rec_new(f->l);
    int sv[2];

    stream_pair(sv);
    assert_int_equal(START(rw_io_recv(f->l, &r->op, sv[0], RW_RECV_MULTISHOT)), 0);
    for (int i = 0; i < 3; i++)
        assert_true(rw_loop_run_once(f->l, 3 * MS) >= 0);
    assert_int_equal(r->n, 0);
    assert_int_equal(START(rw_io_cancel(f->l, &r->op)), 0);
    run_until(f->l, &r->finals, 1);
    close(sv[0]);
    close(sv[1]);
    rec_free(r);
}

#define SUITE(be)                                                                                  \
    {                                                                                              \
        IO_T(io_coalesced_lone_completion, be), IO_T(io_coalesced_wait_times_out, be),             \
    }

int rw_test_io_coalesce(void)
{
    const struct CMUnitTest policy[] = {
        cmocka_unit_test(co_off_without_budget),
        cmocka_unit_test(co_starts_and_stops_with_the_rate),
        cmocka_unit_test(co_window_needs_its_time),
        cmocka_unit_test(co_budget_clamped),
        cmocka_unit_test(co_always_hook),
    };
    return cmocka_run_group_tests_name("core/io coalesce policy", policy, NULL, NULL) +
           IO_RUN_BOTH("coalesce", SUITE);
}
