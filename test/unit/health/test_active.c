/* SPDX-License-Identifier: MIT */
/* Tests for health/active.c: the real health thread against loopback origins, on both
 * loop backends. Waits are capped (hang guards); times are printed, not asserted. */
#include "tests.h"

#include <stdio.h>
#include <string.h>

#include "core/log.h"

#define CAP_MS 5000
#define IV 50 /* check interval in these tests */

struct afx {
    struct rw_health *h;
    struct rw_pool *p;
};

static void afx_start(struct afx *f, const char *backend, const struct rw_server_def *defs,
                      uint32_t n, const struct rw_hc_params *a)
{
    int err = 0;
    const struct rw_io_ops *io = rw_io_select(backend, &err);
    assert_non_null(io);
    f->p = rw_pool_new("up", "round_robin", NULL, defs, n, 1, &err);
    assert_non_null(f->p);
    f->h = rw_health_new(io, 1, &err);
    assert_non_null(f->h);
    assert_int_equal(rw_health_add_upstream(f->h, 0, "up", f->p, a, NULL), 0);
    assert_int_equal(rw_health_start(f->h), 0);
}

static void afx_stop(struct afx *f)
{
    rw_health_free(f->h);
    rw_pool_free(f->p);
}

static struct rw_health_stats afx_stats(struct afx *f, uint32_t id)
{
    struct rw_health_stats st;
    assert_int_equal(rw_health_stats(f->h, 0, id, &st), 0);
    return st;
}

/* 200 stays UP; 500, a hung server and a refused port go DOWN on their first result.
 * Before any result every server counts as UP. */
static void active_ok_500_hang_refused(const char *backend)
{
    struct t_origin ok, bad, hang;
    t_origin_start(&ok, T_OK);
    t_origin_start(&bad, T_500);
    t_origin_start(&hang, T_HANG);
    struct rw_server_def d[4];
    t_def(&d[0], "ok", ok.port);
    t_def(&d[1], "500", bad.port);
    t_def(&d[2], "hang", hang.port);
    t_def(&d[3], "refused", t_refused_port());
    struct rw_hc_params a = {.path = "/healthz", .interval_ms = IV, .timeout_ms = 40};
    struct afx f;
    afx_start(&f, backend, d, 4, &a);
    /* The hung server's first check cannot have ended yet: it still counts as up. */
    assert_int_equal(atomic_load(&f.p->backends[2]->state), RW_BE_UP);
    int64_t t[4];
    for (int i = 1; i < 4; i++) {
        t[i] = t_wait_state(f.p->backends[i], RW_BE_DOWN, CAP_MS);
        assert_true(t[i] >= 0);
    }
    t_sleep_ms(3 * IV);
    assert_int_equal(atomic_load(&f.p->backends[0]->state), RW_BE_UP);
    struct rw_health_stats s0 = afx_stats(&f, 0), s2 = afx_stats(&f, 2);
    assert_true(s0.checks >= 2);
    assert_int_equal(s0.failures, 0);
    assert_true(s0.healthy && s0.tracked);
    assert_true(s2.failures >= 1 && !s2.healthy);
    printf("    [%s] down after: 500 %lld ms, hung %lld ms (timeout 40), refused %lld ms\n",
           backend, (long long)t[1], (long long)t[2], (long long)t[3]);
    /* One connection served every check of the 200 server (keep-alive). */
    assert_int_equal(atomic_load(&ok.accepts), 1);
    assert_true(atomic_load(&ok.requests) >= 2);
    afx_stop(&f);
    t_origin_stop(&ok);
    t_origin_stop(&bad);
    t_origin_stop(&hang);
}

/* A server that starts failing goes DOWN after fall failures and comes back after
 * rise successes. */
static void active_fall_and_rise(const char *backend)
{
    struct t_origin o;
    t_origin_start(&o, T_OK);
    struct rw_server_def d;
    t_def(&d, "flappy", o.port);
    struct rw_hc_params a = {.interval_ms = IV, .timeout_ms = 40, .rise = 2, .fall = 3};
    struct afx f;
    afx_start(&f, backend, &d, 1, &a);
    struct rw_backend *b = f.p->backends[0];
    while (afx_stats(&f, 0).checks < 2)
        t_sleep_ms(5);
    assert_int_equal(atomic_load(&b->state), RW_BE_UP);
    uint64_t fail0 = afx_stats(&f, 0).failures;
    atomic_store(&o.mode, T_500);
    int64_t down = t_wait_state(b, RW_BE_DOWN, CAP_MS);
    assert_true(down >= 0);
    struct rw_health_stats st = afx_stats(&f, 0);
    assert_true(st.failures - fail0 >= 3); /* not before the third failure */
    assert_false(st.healthy);
    uint64_t checks0 = st.checks;
    atomic_store(&o.mode, T_OK);
    int64_t up = t_wait_state(b, RW_BE_UP, CAP_MS);
    assert_true(up >= 0);
    assert_true(afx_stats(&f, 0).checks - checks0 >= 2); /* rise 2 */
    printf("    [%s] fall 3 x %d ms + timeout 40: down after %lld ms; rise 2: up after "
           "%lld ms\n",
           backend, IV, (long long)down, (long long)up);
    afx_stop(&f);
    t_origin_stop(&o);
}

/* Bodies: a chunked body is decoded and matched; a mismatch fails. Connection: close
 * answers are fine but open one connection per check. TCP checks only connect. */
static void active_body_close_and_tcp(const char *backend)
{
    struct t_origin ch, cl;
    t_origin_start(&ch, T_CHUNKED);
    t_origin_start(&cl, T_CLOSE);
    struct rw_server_def d[2];
    t_def(&d[0], "chunked", ch.port);
    t_def(&d[1], "close", cl.port);
    struct rw_hc_params a = {.interval_ms = 3 * IV, .timeout_ms = 140, .expect_body = "o wor"};
    struct afx f;
    afx_start(&f, backend, d, 2, &a);
    while (afx_stats(&f, 0).checks < 3 || afx_stats(&f, 1).checks < 3)
        t_sleep_ms(5);
    assert_int_equal(afx_stats(&f, 0).failures, 0);
    assert_int_equal(atomic_load(&ch.accepts), 1); /* chunked + keep-alive: reused */
    assert_int_equal(atomic_load(&f.p->backends[1]->state), RW_BE_DOWN); /* "ok" lacks it */
    assert_true(atomic_load(&cl.accepts) >= 3);
    afx_stop(&f);

    struct rw_hc_params b = {.interval_ms = IV, .timeout_ms = 40, .expect_body = "ok"};
    afx_start(&f, backend, d + 1, 1, &b);
    while (afx_stats(&f, 0).checks < 3)
        t_sleep_ms(5);
    assert_int_equal(afx_stats(&f, 0).failures, 0);
    assert_int_equal(atomic_load(&f.p->backends[0]->state), RW_BE_UP);
    afx_stop(&f);

    struct rw_server_def t[2];
    t_def(&t[0], "tcp-ok", ch.port);
    t_def(&t[1], "tcp-refused", t_refused_port());
    uint32_t req0 = atomic_load(&ch.requests);
    struct rw_hc_params tcp = {.type = RW_HC_TCP, .interval_ms = IV, .timeout_ms = 40};
    afx_start(&f, backend, t, 2, &tcp);
    assert_true(t_wait_state(f.p->backends[1], RW_BE_DOWN, CAP_MS) >= 0);
    while (afx_stats(&f, 0).checks < 3)
        t_sleep_ms(5);
    assert_int_equal(atomic_load(&f.p->backends[0]->state), RW_BE_UP);
    assert_int_equal(atomic_load(&ch.requests), req0); /* connect only, no request */
    afx_stop(&f);
    t_origin_stop(&ch);
    t_origin_stop(&cl);
}

/* "initial": "down": DOWN at once, UP after the first passing check; a hung server
 * with it never comes up. */
static void active_initial_down(const char *backend)
{
    struct t_origin ok, hang;
    t_origin_start(&ok, T_OK);
    t_origin_start(&hang, T_HANG);
    struct rw_server_def d[2];
    t_def(&d[0], "ok", ok.port);
    t_def(&d[1], "hang", hang.port);
    struct rw_hc_params a = {.interval_ms = IV, .timeout_ms = 40, .initial_down = true};
    struct afx f;
    afx_start(&f, backend, d, 2, &a);
    assert_int_equal(atomic_load(&f.p->backends[1]->state), RW_BE_DOWN);
    assert_true(t_wait_state(f.p->backends[0], RW_BE_UP, CAP_MS) >= 0);
    while (afx_stats(&f, 1).checks < 2)
        t_sleep_ms(5);
    assert_int_equal(atomic_load(&f.p->backends[1]->state), RW_BE_DOWN);
    afx_stop(&f);
    t_origin_stop(&ok);
    t_origin_stop(&hang);
}

/* A server that closes the kept-alive connection between checks stays UP (fall 1):
 * the check notices before any response byte and reconnects within its deadline. */
static void active_stale_keepalive(const char *backend)
{
    struct t_origin o;
    t_origin_start(&o, T_OK);
    struct rw_server_def d;
    t_def(&d, "s", o.port);
    struct rw_hc_params a = {.interval_ms = IV, .timeout_ms = 40, .fall = 1};
    struct afx f;
    afx_start(&f, backend, &d, 1, &a);
    while (afx_stats(&f, 0).checks < 2)
        t_sleep_ms(5);
    for (int k = 0; k < 3; k++) {
        atomic_store(&o.kick, true);
        while (atomic_load(&o.kick))
            t_sleep_ms(1);
        uint64_t c0 = afx_stats(&f, 0).checks;
        while (afx_stats(&f, 0).checks < c0 + 2)
            t_sleep_ms(5);
    }
    assert_int_equal(afx_stats(&f, 0).failures, 0);
    assert_int_equal(atomic_load(&f.p->backends[0]->state), RW_BE_UP);
    assert_int_equal(atomic_load(&o.accepts), 4);
    afx_stop(&f);
    t_origin_stop(&o);
}

#define FOR_BACKENDS(fn)                                                                           \
    static void fn##_all(void **state)                                                             \
    {                                                                                              \
        int n = t_nbackends();                                                                     \
        for (int i = 0; i < n; i++)                                                                \
            fn(t_backends[i]);                                                                     \
    }

FOR_BACKENDS(active_ok_500_hang_refused)
FOR_BACKENDS(active_fall_and_rise)
FOR_BACKENDS(active_body_close_and_tcp)
FOR_BACKENDS(active_initial_down)
FOR_BACKENDS(active_stale_keepalive)

int test_active_run(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(active_ok_500_hang_refused_all),
        cmocka_unit_test(active_fall_and_rise_all),
        cmocka_unit_test(active_body_close_and_tcp_all),
        cmocka_unit_test(active_initial_down_all),
        cmocka_unit_test(active_stale_keepalive_all),
    };
    return cmocka_run_group_tests_name("health/active", t, NULL, NULL);
}
