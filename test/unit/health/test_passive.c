/* SPDX-License-Identifier: MIT */
/* Tests for health/passive.c: rw_health_report drives ejection on the real thread. */
#include "tests.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "health/health-int.h"

#define CAP_MS 5000

struct pfx {
    struct rw_health *h;
    struct rw_pool *p;
};

/* A passive-only upstream of n servers (addresses unused: no active checks). */
static void pfx_start(struct pfx *f, uint32_t n, const struct rw_passive_params *ps)
{
    struct rw_server_def d[8];
    static const char *const names[] = {"s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7"};
    for (uint32_t i = 0; i < n; i++)
        t_def(&d[i], names[i], 1);
    int err = 0;
    f->p = rw_pool_new("up", "round_robin", NULL, d, n, 2, &err);
    assert_non_null(f->p);
    f->h = rw_health_new(rw_io_select("epoll", &err), 2, &err);
    assert_non_null(f->h);
    assert_int_equal(rw_health_add_upstream(f->h, 7, "up", f->p, NULL, ps), 0);
    assert_int_equal(rw_health_start(f->h), 0);
}

static void pfx_stop(struct pfx *f)
{
    rw_health_free(f->h);
    rw_pool_free(f->p);
}

static void errs(struct pfx *f, uint32_t id, int n)
{
    for (int i = 0; i < n; i++)
        rw_health_report(f->h, (uint32_t)i % 2, 7, id, RW_OUT_RESET, 0);
}

static struct rw_health_stats pst(struct pfx *f, uint32_t id)
{
    struct rw_health_stats st;
    assert_int_equal(rw_health_stats(f->h, 7, id, &st), 0);
    return st;
}

/* Let the health thread run a few sweeps. */
static void sweeps(int n)
{
    t_sleep_ms((uint32_t)n * RW_HEALTH_SWEEP_MS + 10);
}

/* Consecutive errors eject; a success in between resets the streak; the server
 * returns after eject_ms on probation, where one error ejects it again for twice as
 * long; a success streak on probation resets the multiplier. */
static void passive_eject_backoff_probation(void **state)
{
    struct rw_passive_params ps = {
        .consecutive_errors = 3, .eject_ms = 150, .max_eject_ms = 400, .max_eject_percent = 100};
    struct pfx f;
    pfx_start(&f, 2, &ps);
    struct rw_backend *b = f.p->backends[0];
    struct rw__hc_srv *s = f.h->by_index[7]->srv[0];
    errs(&f, 0, 2);
    rw_health_report(f.h, 0, 7, 0, RW_OUT_OK, 200);
    errs(&f, 0, 2);
    sweeps(3);
    assert_int_equal(atomic_load(&b->state), RW_BE_UP);
    assert_int_equal(pst(&f, 0).ejections, 0);
    errs(&f, 0, 1); /* third in a row */
    int64_t t1 = t_wait_state(b, RW_BE_DOWN, CAP_MS);
    assert_true(t1 >= 0);
    assert_true(pst(&f, 0).ejected);
    assert_int_equal(s->ej.mult, 1);
    errs(&f, 0, 10); /* ignored while ejected */
    int64_t back1 = t_wait_state(b, RW_BE_UP, CAP_MS);
    assert_true(back1 >= 0);
    sweeps(2);
    assert_int_equal(pst(&f, 0).ejections, 1);
    /* Probation: a single error ejects again, for 2 x 150 ms. */
    errs(&f, 0, 1);
    assert_true(t_wait_state(b, RW_BE_DOWN, CAP_MS) >= 0);
    assert_int_equal(s->ej.mult, 2);
    int64_t back2 = t_wait_state(b, RW_BE_UP, CAP_MS);
    assert_true(back2 >= 0);
    printf("    ejected for %lld ms, then (probation error) %lld ms; eject 150 ms\n",
           (long long)back1, (long long)back2);
    /* A success streak (consecutive_errors successes) ends probation and resets. */
    for (int i = 0; i < 3; i++)
        rw_health_report(f.h, 1, 7, 0, RW_OUT_OK, 204);
    sweeps(3);
    assert_int_equal(s->ej.mult, 0);
    assert_false(s->ej.probation);
    errs(&f, 0, 1);
    sweeps(3);
    assert_int_equal(atomic_load(&b->state), RW_BE_UP); /* one error is not enough now */
    errs(&f, 0, 2);
    assert_true(t_wait_state(b, RW_BE_DOWN, CAP_MS) >= 0);
    assert_int_equal(s->ej.mult, 1);
    assert_int_equal(pst(&f, 0).ejections, 3);
    /* Server 1 never erred. */
    assert_int_equal(atomic_load(&f.p->backends[1]->state), RW_BE_UP);
    pfx_stop(&f);
}

/* The doubling is capped by max_eject_ms. */
static void passive_backoff_cap(void **state)
{
    struct rw_passive_params ps = {
        .consecutive_errors = 1, .eject_ms = 40, .max_eject_ms = 100, .max_eject_percent = 100};
    struct pfx f;
    pfx_start(&f, 1, &ps);
    struct rw_backend *b = f.p->backends[0];
    struct rw__hc_srv *s = f.h->by_index[7]->srv[0];
    uint64_t want[] = {40, 80, 100, 100};
    for (int i = 0; i < 4; i++) {
        errs(&f, 0, 1);
        assert_true(t_wait_state(b, RW_BE_DOWN, CAP_MS) >= 0);
        int64_t back = t_wait_state(b, RW_BE_UP, CAP_MS);
        assert_true(back >= 0);
        assert_int_equal(s->ej.mult, i + 1);
        printf("    ejection %d: %llu ms planned, back after %lld ms\n", i + 1,
               (unsigned long long)want[i], (long long)back);
        sweeps(1);
    }
    pfx_stop(&f);
}

/* At most max_eject_percent of the upstream is ejected at once. */
static void passive_max_eject_percent(void **state)
{
    struct rw_passive_params ps = {
        .consecutive_errors = 2, .eject_ms = 60000, .max_eject_percent = 50};
    struct pfx f;
    pfx_start(&f, 4, &ps);
    for (uint32_t id = 0; id < 3; id++) {
        errs(&f, id, 2);
        sweeps(2);
    }
    sweeps(2);
    uint32_t down = 0;
    for (uint32_t id = 0; id < 4; id++)
        down += atomic_load(&f.p->backends[id]->state) == RW_BE_DOWN;
    assert_int_equal(down, 2);
    assert_int_equal(atomic_load(&f.p->backends[2]->state), RW_BE_UP); /* refused */
    assert_int_equal(f.h->by_index[7]->nejected, 2);
    pfx_stop(&f);
}

/* What counts: chosen statuses, connect failures, timeouts; not other statuses.
 * A streak older than the window starts over. Unknown ids are ignored. */
static void passive_classification_and_window(void **state)
{
    struct rw_passive_params ps = {
        .consecutive_errors = 3, .window_ms = 80, .eject_ms = 60000, .max_eject_percent = 100};
    rw_health_status_add(ps.error_status, 503);
    struct pfx f;
    pfx_start(&f, 4, &ps);
    for (int i = 0; i < 5; i++)
        rw_health_report(f.h, 0, 7, 0, RW_OUT_OK, 500); /* 500 is not chosen */
    rw_health_report(f.h, 0, 7, 1, RW_OUT_OK, 503);
    rw_health_report(f.h, 0, 7, 1, RW_OUT_CONNECT, 0);
    rw_health_report(f.h, 0, 7, 1, RW_OUT_TIMEOUT, 0);
    rw_health_report(f.h, 0, 7, 2, RW_OUT_STATUS, 0);
    rw_health_report(f.h, 0, 7, 2, RW_OUT_STATUS, 0);
    t_sleep_ms(200); /* past the window */
    rw_health_report(f.h, 0, 7, 2, RW_OUT_STATUS, 0);
    rw_health_report(f.h, 0, 7, 999, RW_OUT_STATUS, 0); /* unknown server */
    rw_health_report(f.h, 0, 9, 0, RW_OUT_STATUS, 0);   /* unknown upstream */
    rw_health_report(f.h, 0, 70000, 0, RW_OUT_STATUS, 0);
    assert_true(t_wait_state(f.p->backends[1], RW_BE_DOWN, CAP_MS) >= 0);
    sweeps(3);
    assert_int_equal(atomic_load(&f.p->backends[0]->state), RW_BE_UP);
    assert_int_equal(atomic_load(&f.p->backends[2]->state), RW_BE_UP);
    pfx_stop(&f);
}

/* DRAIN set by an admin is never overwritten; an admin setting UP over an ejected
 * server is corrected. */
static void passive_respects_drain(void **state)
{
    struct rw_passive_params ps = {
        .consecutive_errors = 1, .eject_ms = 60000, .max_eject_percent = 100};
    struct pfx f;
    pfx_start(&f, 2, &ps);
    struct rw_backend *b = f.p->backends[0];
    rw_backend_set_state(b, RW_BE_DRAIN);
    errs(&f, 0, 1);
    sweeps(4);
    assert_int_equal(atomic_load(&b->state), RW_BE_DRAIN);
    assert_true(pst(&f, 0).ejected);
    rw_backend_set_state(b, RW_BE_UP); /* admin undrains: still ejected */
    assert_true(t_wait_state(b, RW_BE_DOWN, CAP_MS) >= 0);
    pfx_stop(&f);
}

static double bench_ns(struct rw_health *h, enum rw_outcome o, int status, uint32_t id)
{
    enum { N = 2000000 };
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < N; i++)
        rw_health_report(h, 0, 7, id, o, status);
    clock_gettime(CLOCK_MONOTONIC, &b);
    return ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / N;
}

struct bench_arg {
    struct rw_health *h;
    double ns;
};

static void *bench_thread(void *arg)
{
    struct bench_arg *ba = arg;
    ba->ns = bench_ns(ba->h, RW_OUT_OK, 200, 1);
    return NULL;
}

/* Cost of a report (printed): success, error below the threshold, and successes on
 * the same server from two threads at once. */
static void passive_report_cost(void **state)
{
    struct rw_passive_params ps = {
        .consecutive_errors = 1000000000, .window_ms = 3600000, .max_eject_percent = 100};
    struct pfx f;
    pfx_start(&f, 2, &ps);
    double ok = bench_ns(f.h, RW_OUT_OK, 200, 0);
    double err = bench_ns(f.h, RW_OUT_RESET, 0, 0);
    double mixed = bench_ns(f.h, RW_OUT_OK, 503, 0); /* 5xx: an error */
    struct bench_arg ba[2] = {{.h = f.h}, {.h = f.h}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, bench_thread, &ba[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    printf("    rw_health_report: success %.1f ns, error %.1f ns, 5xx status %.1f ns, "
           "success from 2 threads on one server %.1f / %.1f ns\n",
           ok, err, mixed, ba[0].ns, ba[1].ns);
    assert_int_equal(atomic_load(&f.p->backends[0]->state), RW_BE_UP);
    pfx_stop(&f);
}

int test_passive_run(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(passive_eject_backoff_probation),
        cmocka_unit_test(passive_backoff_cap),
        cmocka_unit_test(passive_max_eject_percent),
        cmocka_unit_test(passive_classification_and_window),
        cmocka_unit_test(passive_respects_drain),
        cmocka_unit_test(passive_report_cost),
    };
    return cmocka_run_group_tests_name("health/passive", t, NULL, NULL);
}
