/* SPDX-License-Identifier: MIT */
/* Tests for health/thread.c: lifecycle, following the pool's snapshot, schedule drift. */
#include "tests.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/rcu.h"
#include "health/health-int.h"

#define CAP_MS 5000

static void thread_lifecycle(void **state)
{
    int err = 0;
    struct rw_server_def d;
    t_def(&d, "a", t_refused_port());
    struct rw_pool *p = rw_pool_new("up", "round_robin", NULL, &d, 1, 1, &err);
    struct rw_health *h = rw_health_new(rw_io_select("epoll", &err), 1, &err);
    assert_non_null(h);
    rw_health_stop(h); /* not started: no-op */
    struct rw_hc_params a = {.interval_ms = 50, .timeout_ms = 20};
    assert_int_equal(rw_health_add_upstream(h, 0, "up", p, &a, NULL), 0);
    assert_int_equal(rw_health_start(h), 0);
    assert_int_equal(rw_health_start(h), -EALREADY);
    assert_int_equal(rw_health_add_upstream(h, 1, "x", p, NULL, NULL), 0); /* tracked only */
    assert_true(t_wait_state(p->backends[0], RW_BE_DOWN, CAP_MS) >= 0);
    rw_health_stop(h);
    rw_health_stop(h);
    /* Stopped: nothing writes the state any more. */
    rw_backend_set_state(p->backends[0], RW_BE_UP);
    t_sleep_ms(150);
    assert_int_equal(atomic_load(&p->backends[0]->state), RW_BE_UP);
    struct rw_health_stats st;
    assert_int_equal(rw_health_stats(h, 0, 0, &st), 0);
    assert_true(st.checks >= 1);
    assert_int_equal(rw_health_stats(h, 0, 5000, &st), -ENOENT);
    assert_int_equal(rw_health_stats(h, 3, 0, &st), -ENOENT);
    rw_health_free(h);
    rw_health_free(NULL);
    rw_pool_free(p);
}

/* A server published later is checked at once; one that leaves the snapshot is no
 * longer checked; an upstream with neither check type never writes states. */
static void thread_follows_snapshot(void **state)
{
    struct t_origin bad;
    t_origin_start(&bad, T_500);
    int err = 0;
    struct rw_server_def d[2];
    t_def(&d[0], "a", bad.port);
    t_def(&d[1], "b", bad.port);
    struct rw_pool *p = rw_pool_new("up", "round_robin", NULL, d, 1, 1, &err);
    struct rw_pool *q = rw_pool_new("q", "round_robin", NULL, d, 1, 1, &err);
    struct rw_health *h = rw_health_new(rw_io_select("epoll", &err), 1, &err);
    struct rw_hc_params a = {.interval_ms = 50, .timeout_ms = 40};
    assert_int_equal(rw_health_add_upstream(h, 0, "up", p, &a, NULL), 0);
    assert_int_equal(rw_health_add_upstream(h, 1, "q", q, NULL, NULL), 0);
    assert_int_equal(rw_health_start(h), 0);
    assert_true(t_wait_state(p->backends[0], RW_BE_DOWN, CAP_MS) >= 0);
    struct rw_backend *nb = rw_pool_add_backend(p, &d[1], &err);
    assert_non_null(nb);
    struct rw_backend *list[2] = {p->backends[0], nb};
    assert_int_equal(rw_pool_publish(p, list, 2), 0);
    rw_health_poke(h);
    /* the poke, not the once-a-second sweep, brings the first check */
    int64_t t = t_wait_state(nb, RW_BE_DOWN, RW_HEALTH_IDLE_SWEEP_MS / 2);
    assert_true(t >= 0);
    printf("    server added to the snapshot: down after %lld ms (first check at once)\n",
           (long long)t);
    assert_int_equal(rw_pool_publish(p, list + 1, 1), 0);
    rw_health_poke(h);
    t_sleep_ms(100);
    struct rw_health_stats st;
    assert_int_equal(rw_health_stats(h, 0, 0, &st), 0);
    uint64_t c0 = st.checks;
    t_sleep_ms(250);
    assert_int_equal(rw_health_stats(h, 0, 0, &st), 0);
    assert_int_equal(st.checks, c0);
    assert_false(st.tracked);
    rw_backend_set_state(q->backends[0], RW_BE_DOWN);
    t_sleep_ms(100);
    assert_int_equal(atomic_load(&q->backends[0]->state), RW_BE_DOWN);
    rw_health_free(h);
    rw_pool_free(p);
    rw_pool_free(q);
    t_origin_stop(&bad);
}

static uint64_t loop_turns(struct rw_health *h)
{
    uint64_t iters, busy;
    rw_loop_stats(h->loop, &iters, &busy); /* a racy read of a counter: enough here */
    return iters;
}

/* Without outlier detection nothing is polled: an idle health thread wakes about once
 * a second (it woke every RW_HEALTH_SWEEP_MS before). An upstream added with outlier
 * detection brings the short period back, for its trips. A poke still sweeps at once:
 * a state an admin wrote that the checks contradict is written back. */
static void thread_idle_wakes(void **state)
{
    int n = t_nbackends();
    for (int k = 0; k < n; k++) {
        int err = 0;
        struct rw_server_def d;
        t_def(&d, "a", t_refused_port());
        struct rw_pool *p = rw_pool_new("up", "round_robin", NULL, &d, 1, 1, &err);
        struct rw_pool *q = rw_pool_new("q", "round_robin", NULL, &d, 1, 1, &err);
        struct rw_health *h = rw_health_new(rw_io_select(t_backends[k], &err), 1, &err);
        struct rw_hc_params a = {.interval_ms = 60000, .timeout_ms = 200};
        assert_int_equal(rw_health_add_upstream(h, 0, "up", p, &a, NULL), 0);
        assert_int_equal(rw_health_start(h), 0);
        assert_true(t_wait_state(p->backends[0], RW_BE_DOWN, CAP_MS) >= 0); /* first check */
        t_sleep_ms(100);
        uint64_t t0 = loop_turns(h);
        t_sleep_ms(1000);
        uint64_t idle = loop_turns(h) - t0;
        rw_backend_set_state(p->backends[0], RW_BE_UP); /* contradicts the failed check */
        rw_health_poke(h);
        int64_t back = t_wait_state(p->backends[0], RW_BE_DOWN, RW_HEALTH_IDLE_SWEEP_MS / 2);
        struct rw_passive_params ps = {0};
        assert_int_equal(rw_health_add_upstream(h, 1, "q", q, NULL, &ps), 0);
        t0 = loop_turns(h);
        t_sleep_ms(500);
        uint64_t polled = loop_turns(h) - t0;
        printf("    [%s] idle: %llu loop turns in 1 s; with outlier detection: %llu in 0.5 s; "
               "contradicted state written back after %lld ms\n",
               t_backends[k], (unsigned long long)idle, (unsigned long long)polled,
               (long long)back);
        assert_true(idle <= 4);
        assert_true(back >= 0);
        assert_true(polled >= 10);
        rw_health_free(h);
        rw_pool_free(p);
        rw_pool_free(q);
    }
}

struct spin {
    _Atomic bool stop;
    pthread_t th;
};

static void *spin_main(void *arg)
{
    struct spin *s = arg;
    volatile uint64_t x = 0;
    while (!atomic_load_explicit(&s->stop, memory_order_relaxed))
        x++;
    return NULL;
}

static void drift_run(const char *backend, int nspin, struct rw_health_stats *out)
{
    struct t_origin o;
    t_origin_start(&o, T_OK);
    struct rw_server_def d[4];
    for (int i = 0; i < 4; i++)
        t_def(&d[i], (const char *[]){"d0", "d1", "d2", "d3"}[i], o.port);
    int err = 0;
    struct rw_pool *p = rw_pool_new("up", "round_robin", NULL, d, 4, 1, &err);
    struct rw_health *h = rw_health_new(rw_io_select(backend, &err), 1, &err);
    struct rw_hc_params a = {.interval_ms = 50, .timeout_ms = 40};
    assert_int_equal(rw_health_add_upstream(h, 0, "up", p, &a, NULL), 0);
    struct spin sp[4] = {0};
    for (int i = 0; i < nspin; i++)
        assert_int_equal(pthread_create(&sp[i].th, NULL, spin_main, &sp[i]), 0);
    assert_int_equal(rw_health_start(h), 0);
    t_sleep_ms(2000);
    rw_health_stop(h);
    for (int i = 0; i < nspin; i++) {
        atomic_store(&sp[i].stop, true);
        pthread_join(sp[i].th, NULL);
    }
    memset(out, 0, sizeof(*out));
    for (uint32_t i = 0; i < 4; i++) {
        struct rw_health_stats st;
        assert_int_equal(rw_health_stats(h, 0, i, &st), 0);
        if (!nspin) /* saturated cores may push a check past its 40 ms: counted, not failed */
            assert_int_equal(st.failures, 0);
        out->failures += st.failures;
        out->checks += st.checks;
        out->late_sum_us += st.late_sum_us;
        if (st.late_max_us > out->late_max_us)
            out->late_max_us = st.late_max_us;
        if (st.interval_max_us > out->interval_max_us)
            out->interval_max_us = st.interval_max_us;
    }
    rw_health_free(h);
    rw_pool_free(p);
    t_origin_stop(&o);
}

/* Check-start lateness against the schedule, idle and with every core saturated by
 * spinning threads (printed: the figure for the report). */
static void thread_drift_under_load(void **state)
{
    int n = t_nbackends();
    for (int b = 0; b < n; b++) {
        for (int spin = 0; spin <= 4; spin += 4) {
            struct rw_health_stats st;
            drift_run(t_backends[b], spin, &st);
            assert_true(st.checks > 0);
            printf("    [%s] %d spinning threads: %llu checks in 2 s (4 servers, 50 ms, "
                   "jitter 0, %llu timed out), start lateness mean %.0f us max %llu us, "
                   "longest gap %llu us\n",
                   t_backends[b], spin, (unsigned long long)st.checks,
                   (unsigned long long)st.failures,
                   (double)st.late_sum_us / (double)st.checks, (unsigned long long)st.late_max_us,
                   (unsigned long long)st.interval_max_us);
        }
    }
}

int test_thread_run(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(thread_lifecycle),
        cmocka_unit_test(thread_follows_snapshot),
        cmocka_unit_test(thread_idle_wakes),
        cmocka_unit_test(thread_drift_under_load),
    };
    return cmocka_run_group_tests_name("health/thread", t, NULL, NULL);
}
