/* SPDX-License-Identifier: MIT */
/* Tests for core/timer.c: the hierarchical timing wheel. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "core/timer.h"
#include "test/unit/core/tests.h"

#define T0 1000000ull /* wheel start, ms */
#define DAY (24ull * 3600 * 1000)

/* A timer that records when (in wheel time) it fired. */
struct rec_timer {
    struct rw_timer t;
    uint64_t fired_at; /* "now" of the advance that fired it, 0 = never */
    unsigned fired;
    int seq; /* firing order */
};

static uint64_t g_now; /* now passed to the current rw_wheel_advance */
static int g_seq;

static void rec_cb(struct rw_timer *t)
{
    struct rec_timer *r = t->owner;

    r->fired++;
    r->fired_at = g_now;
    r->seq = ++g_seq;
}

static unsigned advance(struct rw_wheel *w, uint64_t now)
{
    g_now = now;
    return rw_wheel_advance(w, now);
}

static void rec_init(struct rec_timer *r)
{
    rw_timer_init(&r->t, rec_cb, r);
    r->fired_at = 0;
    r->fired = 0;
    r->seq = 0;
}

static void timer_fires_at_expiry(void **state)
{
    struct rw_wheel *w = rw_wheel_new(T0);
    struct rec_timer a;

    rec_init(&a);
    assert_false(rw_timer_armed(&a.t));
    rw_timer_arm(w, &a.t, T0 + 5);
    assert_true(rw_timer_armed(&a.t));
    assert_int_equal(advance(w, T0 + 4), 0);
    assert_int_equal(a.fired, 0);
    assert_int_equal(advance(w, T0 + 5), 1);
    assert_int_equal(a.fired, 1);
    assert_false(rw_timer_armed(&a.t));
    assert_int_equal(advance(w, T0 + 100), 0);
    assert_int_equal(a.fired, 1);
    rw_wheel_free(w);
}

static void timer_cancel_and_rearm(void **state)
{
    struct rw_wheel *w = rw_wheel_new(T0);
    struct rec_timer a, b;

    rec_init(&a);
    rec_init(&b);
    rw_timer_cancel(&a.t); /* not armed: harmless */
    rw_timer_arm(w, &a.t, T0 + 10);
    rw_timer_cancel(&a.t);
    assert_false(rw_timer_armed(&a.t));
    rw_timer_cancel(&a.t);
    rw_timer_arm(w, &b.t, T0 + 10);
    rw_timer_arm(w, &b.t, T0 + 3); /* re-arm earlier */
    assert_int_equal(advance(w, T0 + 3), 1);
    assert_int_equal(b.fired_at, T0 + 3);
    rw_timer_arm(w, &b.t, T0 + 50);
    rw_timer_arm(w, &b.t, T0 + 5000); /* re-arm later, into another level */
    assert_int_equal(advance(w, T0 + 4999), 0);
    assert_int_equal(advance(w, T0 + 5000), 1);
    assert_int_equal(b.fired, 2);
    assert_int_equal(a.fired, 0);
    /* Cancelled everything: nothing is pending any more. */
    rw_timer_arm(w, &a.t, T0 + 200000);
    rw_timer_cancel(&a.t);
    assert_int_equal(rw_wheel_next_ms(w, T0 + 5000), -1);
    rw_wheel_free(w);
}

static void timer_order_and_exact_tick(void **state)
{
    enum { N = 2000 };
    struct rw_wheel *w = rw_wheel_new(T0);
    struct rec_timer *r = calloc(N, sizeof(*r));
    uint64_t exp[N];

    srand(7);
    g_seq = 0;
    for (int i = 0; i < N; i++) {
        rec_init(&r[i]);
        exp[i] = T0 + 1 + (uint64_t)(rand() % 20000);
        rw_timer_arm(w, &r[i].t, exp[i]);
    }
    for (uint64_t now = T0 + 1; now <= T0 + 20001; now++)
        advance(w, now);
    for (int i = 0; i < N; i++) {
        assert_int_equal(r[i].fired, 1);
        assert_int_equal(r[i].fired_at, exp[i]);
        for (int j = 0; j < N; j += 97)
            if (exp[j] < exp[i])
                assert_true(r[j].seq < r[i].seq);
    }
    free(r);
    rw_wheel_free(w);
}

/* Drive the wheel the way the loop does: sleep exactly next_ms, then advance. */
static uint64_t drive_until_fired(struct rw_wheel *w, struct rec_timer *r, uint64_t now,
                                  unsigned *steps)
{
    *steps = 0;
    while (!r->fired) {
        int64_t d = rw_wheel_next_ms(w, now);
        assert_true(d >= 0);
        now += (uint64_t)d;
        advance(w, now);
        (*steps)++;
        assert_true(*steps < 10000);
    }
    return now;
}

static void timer_far_future_cascades(void **state)
{
    const uint64_t far[] = {63,
                            64,
                            65,
                            4095,
                            4096,
                            4097,
                            262143,
                            262144,
                            3600000,
                            5 * 3600000ull,
                            3 * DAY + 17,
                            40 * DAY,
                            800 * DAY + 5,
                            1000 * DAY};
    for (size_t i = 0; i < sizeof(far) / sizeof(far[0]); i++) {
        struct rw_wheel *w = rw_wheel_new(T0);
        struct rec_timer a, b;
        unsigned steps;

        rec_init(&a);
        rec_init(&b);
        rw_timer_arm(w, &a.t, T0 + far[i]);
        /* Never oversleeps: the loop lands exactly on the expiry. */
        assert_int_equal(drive_until_fired(w, &a, T0, &steps), T0 + far[i]);
        assert_int_equal(a.fired_at, T0 + far[i]);
        /* Big jumps: one ms short, then the exact expiry. */
        rw_timer_arm(w, &b.t, T0 + 2 * far[i]);
        assert_int_equal(advance(w, T0 + 2 * far[i] - 1), 0);
        assert_int_equal(b.fired, 0);
        assert_int_equal(advance(w, T0 + 2 * far[i]), 1);
        assert_int_equal(b.fired, 1);
        rw_wheel_free(w);
    }
}

static void timer_past_fires_next_advance(void **state)
{
    struct rw_wheel *w = rw_wheel_new(T0);
    struct rec_timer a, b;

    rec_init(&a);
    rec_init(&b);
    advance(w, T0 + 100);
    rw_timer_arm(w, &a.t, T0 + 50);  /* in the past */
    rw_timer_arm(w, &b.t, T0 + 100); /* the tick already processed */
    assert_int_equal(rw_wheel_next_ms(w, T0 + 100), 0);
    assert_int_equal(advance(w, T0 + 100), 2); /* same now: still fires */
    assert_int_equal(a.fired, 1);
    assert_int_equal(b.fired, 1);
    rw_timer_arm(w, &a.t, 0);
    assert_int_equal(advance(w, T0 + 101), 1);
    assert_int_equal(a.fired, 2);
    rw_wheel_free(w);
}

struct self_timer {
    struct rw_timer t;
    struct rw_wheel *w;
    struct rw_timer *victim; /* borrowed: cancelled from the callback */
    unsigned runs;
    unsigned limit;
};

static void periodic_cb(struct rw_timer *t)
{
    struct self_timer *s = t->owner;

    if (++s->runs < s->limit)
        rw_timer_arm(s->w, t, g_now + 10);
}

static struct self_timer *g_freed;

static void freeing_cb(struct rw_timer *t)
{
    struct self_timer *s = t->owner;

    if (s->victim)
        rw_timer_cancel(s->victim);
    g_freed = s;
    free(s);
}

static void past_rearm_cb(struct rw_timer *t)
{
    struct self_timer *s = t->owner;

    s->runs++;
    rw_timer_arm(s->w, t, g_now); /* at "now": must wait for the next advance */
}

static void timer_callbacks_rearm_free_cancel(void **state)
{
    struct rw_wheel *w = rw_wheel_new(T0);
    struct self_timer per = {.w = w, .limit = 5};
    struct self_timer busy = {.w = w};
    struct self_timer *fr1 = calloc(1, sizeof(*fr1)), *fr2 = calloc(1, sizeof(*fr2));
    struct self_timer *survivor;

    rw_timer_init(&per.t, periodic_cb, &per);
    rw_timer_arm(w, &per.t, T0 + 10);
    for (uint64_t now = T0 + 1; now <= T0 + 100; now++)
        advance(w, now);
    assert_int_equal(per.runs, 5);
    assert_false(rw_timer_armed(&per.t));

    /* Two timers due at the same tick; whichever runs first frees its owner and
     * cancels the other, which therefore never runs. */
    fr1->victim = &fr2->t;
    fr2->victim = &fr1->t;
    rw_timer_init(&fr1->t, freeing_cb, fr1);
    rw_timer_init(&fr2->t, freeing_cb, fr2);
    rw_timer_arm(w, &fr1->t, T0 + 200);
    rw_timer_arm(w, &fr2->t, T0 + 200);
    assert_int_equal(advance(w, T0 + 300), 1);
    survivor = g_freed == fr1 ? fr2 : fr1;
    assert_false(rw_timer_armed(&survivor->t));
    free(survivor);

    /* Re-arming at "now" from a callback cannot loop within one advance. */
    rw_timer_init(&busy.t, past_rearm_cb, &busy);
    rw_timer_arm(w, &busy.t, T0 + 301);
    assert_int_equal(advance(w, T0 + 301), 1);
    assert_int_equal(advance(w, T0 + 301), 1);
    assert_int_equal(busy.runs, 2);
    rw_timer_cancel(&busy.t);
    rw_wheel_free(w);
}

static void timer_next_ms_never_oversleeps(void **state)
{
    enum { N = 500 };
    struct rw_wheel *w = rw_wheel_new(T0);
    struct rec_timer *r = calloc(N, sizeof(*r));
    uint64_t now = T0;

    assert_int_equal(rw_wheel_next_ms(w, now), -1);
    srand(11);
    for (int i = 0; i < N; i++) {
        uint64_t span = (i % 3 == 0) ? 50 : (i % 3 == 1) ? 70000 : 30 * DAY;
        rec_init(&r[i]);
        rw_timer_arm(w, &r[i].t, T0 + 1 + (uint64_t)rand() % span);
    }
    for (int round = 0; round < 3000; round++) {
        uint64_t min = UINT64_MAX;
        int64_t d = rw_wheel_next_ms(w, now);

        for (int i = 0; i < N; i++)
            if (rw_timer_armed(&r[i].t) && r[i].t._expires < min)
                min = r[i].t._expires;
        if (min == UINT64_MAX) {
            assert_int_equal(d, -1);
            break;
        }
        assert_true(d >= 0);
        assert_true(now + (uint64_t)d <= min);
        /* Randomly cancel some, and sleep the full bound or part of it. */
        if (rand() % 5 == 0)
            rw_timer_cancel(&r[rand() % N].t);
        now += (rand() % 2) ? (uint64_t)d : (uint64_t)d / 2 + 1;
        advance(w, now);
        for (int i = 0; i < N; i++)
            if (r[i].fired)
                assert_true(r[i].fired_at >= r[i].t._expires);
    }
    free(r);
    rw_wheel_free(w);
}

static void timer_many(void **state)
{
    enum { N = 100000 };
    struct rw_wheel *w = rw_wheel_new(T0);
    struct rec_timer *r = calloc(N, sizeof(*r));
    uint64_t now = T0, prev;
    unsigned total = 0;

    srand(3);
    for (int i = 0; i < N; i++) {
        rec_init(&r[i]);
        rw_timer_arm(w, &r[i].t, T0 + 1 + (uint64_t)rand() % 600000);
    }
    for (int i = 0; i < N; i += 3)
        rw_timer_cancel(&r[i].t);
    while (now < T0 + 600001) {
        prev = now;
        now += 1 + (uint64_t)rand() % 1500;
        total += advance(w, now);
        for (int i = 1; i < N; i += 1009)
            if (r[i].fired && r[i].fired_at == now)
                assert_true(r[i].t._expires > prev && r[i].t._expires <= now);
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(r[i].fired, i % 3 == 0 ? 0 : 1);
        if (r[i].fired)
            assert_true(r[i].fired_at >= r[i].t._expires);
    }
    assert_int_equal(total, N - (N + 2) / 3);
    assert_int_equal(rw_wheel_next_ms(w, now), -1);
    free(r);
    rw_wheel_free(w);
}

/* A deadline moved later stays in its slot (rw_timer_arm only records it) and fires
 * at the new time, once; one moved earlier fires at the earlier time. */
static void timer_move_later_and_earlier(void **state)
{
    struct rw_wheel *w = rw_wheel_new(T0);
    struct rec_timer a, b;

    rec_init(&a);
    rec_init(&b);
    rw_timer_arm(w, &a.t, T0 + 100);
    rw_timer_arm(w, &a.t, T0 + 70000); /* to another level */
    rw_timer_arm(w, &b.t, T0 + 70000);
    rw_timer_arm(w, &b.t, T0 + 100);
    assert_int_equal(advance(w, T0 + 99), 0);
    assert_int_equal(advance(w, T0 + 100), 1);
    assert_int_equal(b.fired, 1);
    assert_int_equal(a.fired, 0);
    assert_true(rw_timer_armed(&a.t));
    for (uint64_t now = T0 + 100; now < T0 + 70000; now += 997)
        assert_int_equal(advance(w, now), 0);
    assert_int_equal(advance(w, T0 + 69999), 0);
    assert_int_equal(advance(w, T0 + 70000), 1);
    assert_int_equal(a.fired, 1);
    assert_int_equal(a.fired_at, T0 + 70000);
    assert_int_equal(b.fired, 1);
    assert_int_equal(rw_wheel_next_ms(w, T0 + 70000), -1);
    rw_wheel_free(w);
}

/* A stopped timer never fires; the wheel drops it when its slot comes due; arming it
 * again (later or earlier than where it sits) works as for a new one. */
static void timer_stop(void **state)
{
    struct rw_wheel *w = rw_wheel_new(T0);
    struct rec_timer a, b, c;

    rec_init(&a);
    rec_init(&b);
    rec_init(&c);
    rw_timer_stop(&a.t); /* not armed: nothing happens */
    assert_false(rw_timer_armed(&a.t));
    rw_timer_arm(w, &a.t, T0 + 50);
    rw_timer_stop(&a.t);
    assert_false(rw_timer_armed(&a.t));
    rw_timer_arm(w, &b.t, T0 + 50);
    rw_timer_stop(&b.t);
    rw_timer_arm(w, &b.t, T0 + 300); /* later than its slot */
    rw_timer_arm(w, &c.t, T0 + 300);
    rw_timer_stop(&c.t);
    rw_timer_arm(w, &c.t, T0 + 20); /* earlier */
    assert_true(rw_timer_armed(&b.t));
    assert_int_equal(advance(w, T0 + 20), 1);
    assert_int_equal(c.fired, 1);
    assert_int_equal(advance(w, T0 + 299), 0);
    assert_int_equal(a.fired, 0);
    assert_int_equal(advance(w, T0 + 300), 1);
    assert_int_equal(b.fired, 1);
    assert_int_equal(b.fired_at, T0 + 300);
    assert_int_equal(a.fired, 0);
    assert_int_equal(rw_wheel_next_ms(w, T0 + 300), -1); /* a was dropped */
    /* stopped, then cancelled and freed before its slot comes due */
    struct rec_timer *d = malloc(sizeof(*d));
    rec_init(d);
    rw_timer_arm(w, &d->t, T0 + 400);
    rw_timer_stop(&d->t);
    rw_timer_cancel(&d->t);
    free(d);
    assert_int_equal(advance(w, T0 + 1000), 0);
    rw_wheel_free(w);
}

/* Random arms (later, earlier, in the past), stops and cancels against a model: each
 * timer fires exactly when its last deadline passes, once, and never after a stop or
 * cancel; rw_timer_armed agrees with the model. */
static void timer_model(void **state)
{
    enum { N = 2000 };
    struct rw_wheel *w = rw_wheel_new(T0);
    struct rec_timer *r = calloc(N, sizeof(*r));
    uint64_t *due = calloc(N, sizeof(*due)); /* 0: not armed */
    unsigned *fired = calloc(N, sizeof(*fired));
    uint64_t now = T0;

    srand(17);
    for (int i = 0; i < N; i++)
        rec_init(&r[i]);
    for (int round = 0; round < 4000; round++) {
        for (int k = 0; k < 20; k++) {
            int i = rand() % N, op = rand() % 10;
            if (op < 6) {
                static const uint64_t spans[] = {10, 300, 5000, 90000, 10 * DAY};
                uint64_t span = spans[rand() % 5];
                uint64_t at = now + 1 + (uint64_t)rand() % span;
                if (op == 0)
                    at = now - (uint64_t)(rand() % 3); /* now or just past */
                rw_timer_arm(w, &r[i].t, at);
                due[i] = at;
            } else if (op < 8) {
                rw_timer_stop(&r[i].t);
                due[i] = 0;
            } else if (op < 9) {
                rw_timer_cancel(&r[i].t);
                due[i] = 0;
            }
            assert_int_equal(rw_timer_armed(&r[i].t), due[i] != 0);
        }
        int64_t d = rw_wheel_next_ms(w, now);
        uint64_t min = UINT64_MAX;
        for (int i = 0; i < N; i++)
            if (due[i] && due[i] < min)
                min = due[i];
        if (min != UINT64_MAX) {
            assert_true(d >= 0);
            assert_true(now + (uint64_t)d <= (min > now ? min : now));
        }
        now += (rand() % 4 == 0) ? (uint64_t)(rand() % 200000) : (uint64_t)(rand() % 50);
        advance(w, now);
        for (int i = 0; i < N; i++) {
            if (due[i] && due[i] <= now) {
                assert_int_equal(r[i].fired, fired[i] + 1);
                assert_int_equal(r[i].fired_at, now);
                fired[i]++;
                due[i] = 0;
                assert_false(rw_timer_armed(&r[i].t));
            } else {
                assert_int_equal(r[i].fired, fired[i]);
                assert_int_equal(rw_timer_armed(&r[i].t), due[i] != 0);
            }
        }
    }
    for (int i = 0; i < N; i++)
        rw_timer_cancel(&r[i].t);
    free(fired);
    free(due);
    free(r);
    rw_wheel_free(w);
}

int rw_test_timer(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(timer_fires_at_expiry),
        cmocka_unit_test(timer_cancel_and_rearm),
        cmocka_unit_test(timer_order_and_exact_tick),
        cmocka_unit_test(timer_far_future_cascades),
        cmocka_unit_test(timer_past_fires_next_advance),
        cmocka_unit_test(timer_callbacks_rearm_free_cancel),
        cmocka_unit_test(timer_next_ms_never_oversleeps),
        cmocka_unit_test(timer_many),
        cmocka_unit_test(timer_move_later_and_earlier),
        cmocka_unit_test(timer_stop),
        cmocka_unit_test(timer_model),
    };
    return cmocka_run_group_tests_name("core/timer", t, NULL, NULL);
}
