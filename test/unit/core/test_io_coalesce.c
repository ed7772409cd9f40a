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

/* A loop's clock, and its thread's CPU time (fake_cpu). */
struct clk {
    uint64_t now, busy;
};

static uint64_t g_cpu;

static uint64_t fake_cpu(void)
{
    return g_cpu;
}

/* One turn `span_ns` after the last with `events` completions, the thread busy `pct`
 * percent of the time since; the decision in force after it. */
static uint32_t window_busy(struct rw__ur_co *c, struct clk *k, uint64_t events,
                            uint64_t span_ns, unsigned pct)
{
    k->now += span_ns;
    k->busy += span_ns * pct / 100;
    g_cpu = k->busy;
    rw__ur_co_turn(c, (unsigned)events, k->now, fake_cpu);
    return c->target;
}

/* The same, on a loop busy 80% of the time. */
static uint32_t window(struct rw__ur_co *c, struct clk *k, uint64_t events, uint64_t span_ns)
{
    return window_busy(c, k, events, span_ns, 80);
}

static void co_off_without_budget(void **state)
{
    struct rw__ur_co c;
    struct clk k = {5 * MS, 0};

    (void)state;
    rw__ur_co_init(&c, 0, false, k.now);
    assert_int_equal(window(&c, &k, 1000000, MS), 0);
    rw__ur_co_init(&c, 0, true, k.now); /* the hook needs a budget too */
    assert_int_equal(c.target, 0);
    assert_int_equal(window(&c, &k, 1000000, MS), 0);
}

static void co_starts_and_stops_with_the_rate(void **state)
{
    struct rw__ur_co c;
    struct clk k = {0, 0};

    (void)state;
    rw__ur_co_init(&c, 100, false, k.now);
    assert_int_equal(c.target, 0);
    /* 70 completions a ms: 7 per 100 us budget, below RW__CO_ON */
    assert_int_equal(window(&c, &k, 70, MS), 0);
    /* 200 a ms: 20 per budget; asks for half of that */
    assert_int_equal(window(&c, &k, 200, MS), 10);
    /* once on, it holds down to RW__CO_OFF (5 per budget) ... */
    assert_int_equal(window(&c, &k, 50, MS), 2);
    /* ... and stops below it */
    assert_int_equal(window(&c, &k, 30, MS), 0);
    /* and needs RW__CO_ON again to start */
    assert_int_equal(window(&c, &k, 60, MS), 0);
    assert_int_equal(window(&c, &k, 80, MS), RW__CO_ON / 2);
}

static void co_window_needs_its_time(void **state)
{
    struct rw__ur_co c;
    struct clk k = {0, 0};

    (void)state;
    rw__ur_co_init(&c, 100, false, k.now);
    /* turns within a window only count */
    for (int i = 0; i < 9; i++)
        assert_int_equal(window(&c, &k, 200, MS / 10), 0);
    /* 2,000 over 1 ms: 200 per budget, half of it clamped */
    assert_int_equal(window(&c, &k, 200, MS / 10), RW__CO_MAX);
    /* a long quiet spell ends it at the next turn, whatever that turn brings */
    assert_int_equal(window_busy(&c, &k, 64, 10 * 1000 * MS, 0), 0);
}

/* A fast stream of completions to a loop with time to spare: no waiting on it. */
static void co_needs_a_busy_loop(void **state)
{
    struct rw__ur_co c;
    struct clk k = {0, 0};

    (void)state;
    rw__ur_co_init(&c, 100, false, k.now);
    assert_int_equal(window_busy(&c, &k, 500, MS, 40), 0);
    assert_int_equal(window_busy(&c, &k, 500, MS, 50), 25);
    /* on, it holds down to RW__CO_BUSY_OFF (its own waits make it look idler) */
    assert_int_equal(window_busy(&c, &k, 500, MS, 25), 25);
    assert_int_equal(window_busy(&c, &k, 500, MS, 20), 0);
}

/* Completions that move more than RW__CO_BYTES each on average: bulk, never held. */
static void co_not_for_bulk(void **state)
{
    struct rw__ur_co c;
    struct clk k = {0, 0};

    (void)state;
    rw__ur_co_init(&c, 100, false, k.now);
    c.bytes = 500ull * (RW__CO_BYTES + 1);
    assert_int_equal(window(&c, &k, 500, MS), 0);
    c.bytes = 500ull * 300; /* small requests and responses */
    assert_int_equal(window(&c, &k, 500, MS), 25);
    c.bytes = 500ull * 65536; /* and off again when the traffic turns bulk */
    assert_int_equal(window(&c, &k, 500, MS), 0);
}

static void co_budget_clamped(void **state)
{
    struct rw__ur_co c;
    struct clk k = {0, 0};

    (void)state;
    rw__ur_co_init(&c, 1000000, false, k.now);
    assert_int_equal(c.budget_us, RW__CO_BUDGET_MAX);
    /* 5 a ms is 5 per clamped budget: below RW__CO_ON */
    assert_int_equal(window(&c, &k, 5, MS), 0);
    assert_int_equal(window(&c, &k, 10, MS), 5);
}

/* Record `n` coalesced waits that asked for 12: `filled` of them got it. */
static void results(struct rw__ur_co *c, int n, int filled)
{
    for (int i = 0; i < n; i++)
        rw__ur_co_result(c, 12, i < filled ? 12 : 3);
}

/* Waits that end at the budget short of what they asked (a few clients waiting on
 * each answer): off for RW__CO_HOLD_NS, doubling while it keeps happening. */
static void co_holds_off_after_short_waits(void **state)
{
    struct rw__ur_co c;
    struct clk k = {0, 0};

    (void)state;
    rw__ur_co_init(&c, 100, false, k.now);
    assert_int_equal(window(&c, &k, 200, MS), 10);
    results(&c, 4, 1);
    assert_int_equal(window(&c, &k, 200, MS), 0); /* mostly short: off */
    assert_int_equal(window(&c, &k, 200, RW__CO_HOLD_NS / 2), 0); /* held */
    assert_int_equal(window(&c, &k, 200, RW__CO_HOLD_NS / 2 - MS), 0);
    assert_int_equal(window(&c, &k, 200, MS), 10); /* the hold is over */
    results(&c, 4, 0);
    assert_int_equal(window(&c, &k, 200, MS), 0);
    /* twice as long now */
    assert_int_equal(window(&c, &k, 200 * 15, 15 * MS), 0);
    assert_int_equal(window(&c, &k, 200 * 5, 5 * MS), 10);
    /* waits that mostly fill keep it on and reset the hold */
    results(&c, 4, 3);
    assert_int_equal(window(&c, &k, 200, MS), 10);
    results(&c, 4, 0);
    assert_int_equal(window(&c, &k, 200, MS), 0);
    assert_int_equal(window(&c, &k, 200 * 10, RW__CO_HOLD_NS), 10);
}

static void co_always_hook(void **state)
{
    struct rw__ur_co c;
    struct clk k = {0, 0};

    (void)state;
    rw__ur_co_init(&c, 100, true, k.now);
    assert_int_equal(c.target, RW__CO_MAX);
    assert_int_equal(window_busy(&c, &k, 0, 100 * MS, 0), RW__CO_MAX);
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
        cmocka_unit_test(co_needs_a_busy_loop),
        cmocka_unit_test(co_not_for_bulk),
        cmocka_unit_test(co_budget_clamped),
        cmocka_unit_test(co_holds_off_after_short_waits),
        cmocka_unit_test(co_always_hook),
    };
    return cmocka_run_group_tests_name("core/io coalesce policy", policy, NULL, NULL) +
           IO_RUN_BOTH("coalesce", SUITE);
}
