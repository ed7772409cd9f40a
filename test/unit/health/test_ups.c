/* SPDX-License-Identifier: MIT */
/* Tests for health/ups.c: upstreams added and removed while the thread runs, inherited state. */
#include "tests.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/rcu.h"
#include "health/health-int.h"

#define CAP_MS 5000
#define IV 50 /* check interval in these tests */

static struct rw_health *ups_health(const char *backend, uint32_t nworkers)
{
    int err = 0;
    const struct rw_io_ops *io = rw_io_select(backend, &err);
    assert_non_null(io);
    struct rw_health *h = rw_health_new(io, nworkers, &err);
    assert_non_null(h);
    return h;
}

static struct rw_pool *ups_pool(const struct rw_server_def *d, uint32_t n)
{
    int err = 0;
    struct rw_pool *p = rw_pool_new("up", "round_robin", NULL, d, n, 2, &err);
    assert_non_null(p);
    return p;
}

static struct rw_health_stats ups_stats(struct rw_health *h, uint32_t ui, uint32_t id)
{
    struct rw_health_stats st;
    assert_int_equal(rw_health_stats(h, ui, id, &st), 0);
    return st;
}

/* Poll (5 ms) until *v >= want or the cap; the ms waited or -1. */
static int64_t ups_wait_u32(_Atomic uint32_t *v, uint32_t want, bool at_most)
{
    uint64_t t0 = t_now_ms();
    while (at_most ? atomic_load(v) > want : atomic_load(v) < want) {
        if (t_now_ms() - t0 > CAP_MS)
            return -1;
        t_sleep_ms(5);
    }
    return (int64_t)(t_now_ms() - t0);
}

/* An upstream added while the thread runs is tracked before the call returns and
 * checked at once; invalid additions are refused as before start. */
static void ups_add_after_start_on(const char *backend)
{
    struct t_origin ok, bad;
    t_origin_start(&ok, T_OK);
    t_origin_start(&bad, T_500);
    struct rw_server_def d0, d1;
    t_def(&d0, "a", ok.port);
    t_def(&d1, "b", bad.port);
    struct rw_pool *p = ups_pool(&d0, 1), *q = ups_pool(&d1, 1);
    struct rw_health *h = ups_health(backend, 1);
    struct rw_hc_params a = {.interval_ms = IV, .timeout_ms = 40};
    assert_int_equal(rw_health_add_upstream(h, 0, "p", p, &a, NULL), 0);
    assert_int_equal(rw_health_start(h), 0);
    assert_int_equal(rw_health_add_upstream(h, 1, "q", q, &a, NULL), 0);
    assert_true(ups_stats(h, 1, 0).tracked);
    int64_t t = t_wait_state(q->backends[0], RW_BE_DOWN, CAP_MS);
    assert_true(t >= 0);
    printf("    [%s] upstream added while running: its failing server down %lld ms after\n",
           backend, (long long)t);
    assert_true(atomic_load(&bad.requests) >= 1);
    struct rw_hc_params jit = {.jitter_pct = 60};
    assert_int_equal(rw_health_add_upstream(h, 2, "x", q, &jit, NULL), -EINVAL);
    assert_int_equal(rw_health_add_upstream(h, 1, "x", q, NULL, NULL), -EINVAL); /* taken */
    assert_int_equal(rw_health_stats(h, 2, 0, &(struct rw_health_stats){0}), -ENOENT);
    assert_int_equal(atomic_load(&p->backends[0]->state), RW_BE_UP);
    rw_health_free(h);
    rw_pool_free(p);
    rw_pool_free(q);
    t_origin_stop(&ok);
    t_origin_stop(&bad);
}

static void ups_add_after_start(void **state)
{
    for (int b = 0; b < t_nbackends(); b++)
        ups_add_after_start_on(t_backends[b]);
}

/* Removal while a kept-alive connection is open and while a check hangs: on return the
 * connections are closed, no check follows, and the pool can be freed at once (ASan
 * sees any later use). */
static void ups_remove_stops_checks_on(const char *backend)
{
    struct t_origin ok, hang;
    t_origin_start(&ok, T_OK);
    t_origin_start(&hang, T_HANG);
    struct rw_server_def d[2];
    t_def(&d[0], "ok", ok.port);
    t_def(&d[1], "hang", hang.port);
    struct rw_pool *p = ups_pool(d, 2);
    struct rw_health *h = ups_health(backend, 1);
    struct rw_hc_params a = {.interval_ms = IV, .timeout_ms = 45};
    struct rw_passive_params ps = {0};
    assert_int_equal(rw_health_add_upstream(h, 5, "up", p, &a, &ps), 0);
    assert_int_equal(rw_health_start(h), 0);
    assert_true(ups_wait_u32(&ok.requests, 3, false) >= 0);
    assert_true(ups_wait_u32(&hang.open, 1, false) >= 0);
    uint64_t t0 = t_now_ms();
    rw_health_remove_upstream(h, 5);
    uint64_t took = t_now_ms() - t0;
    rw_pool_free(p);
    /* The origins notice the closes within their 5 ms poll. */
    assert_true(ups_wait_u32(&ok.open, 0, true) >= 0);
    assert_true(ups_wait_u32(&hang.open, 0, true) >= 0);
    t_sleep_ms(50); /* bytes or a handshake from before the removal may still land */
    uint32_t r0 = atomic_load(&ok.requests), c0 = atomic_load(&ok.accepts);
    uint32_t c1 = atomic_load(&hang.accepts);
    t_sleep_ms(5 * IV);
    assert_int_equal(atomic_load(&ok.requests), r0);
    assert_int_equal(atomic_load(&ok.accepts), c0);
    assert_int_equal(atomic_load(&hang.accepts), c1);
    printf("    [%s] remove returned in %llu ms; no check after it\n", backend,
           (unsigned long long)took);
    struct rw_health_stats st;
    assert_int_equal(rw_health_stats(h, 5, 0, &st), -ENOENT);
    rw_health_report(h, 0, 5, 0, RW_OUT_RESET, 0); /* ignored */
    rw_health_free(h);
    t_origin_stop(&ok);
    t_origin_stop(&hang);
}

static void ups_remove_stops_checks(void **state)
{
    for (int b = 0; b < t_nbackends(); b++)
        ups_remove_stops_checks_on(t_backends[b]);
}

/* A new pool inherits by uid: a failing server is down the moment the call returns,
 * a healthy one declared "initial down" is up without waiting for a check, a new
 * server starts as new servers do (initial down: down; its origin hangs, so no check
 * can pass before the test looks); the figures carry over. Then the old upstream is
 * removed and its pool freed while the new one runs on. */
static void ups_inherit_active(void **state)
{
    struct t_origin good, bad, hang;
    t_origin_start(&good, T_OK);
    t_origin_start(&bad, T_500);
    t_origin_start(&hang, T_HANG);
    struct rw_server_def d[3];
    t_def(&d[0], "a", good.port);
    t_def(&d[1], "b", bad.port);
    struct rw_pool *p = ups_pool(d, 2);
    struct rw_health *h = ups_health("epoll", 1);
    /* a generous timeout: a loaded machine must not fail the good server's checks */
    struct rw_hc_params a = {.interval_ms = 3 * IV, .timeout_ms = 140, .rise = 3, .fall = 3};
    assert_int_equal(rw_health_add_upstream(h, 0, "up", p, &a, NULL), 0);
    assert_int_equal(rw_health_start(h), 0);
    assert_true(t_wait_state(p->backends[1], RW_BE_DOWN, CAP_MS) >= 0);
    while (ups_stats(h, 0, 0).checks < 3 || ups_stats(h, 0, 1).checks < 3)
        t_sleep_ms(5);
    /* The new definition: other order, "a" now initial down, a new server "c". */
    t_def(&d[0], "b", bad.port);
    t_def(&d[1], "a", good.port);
    d[1].initial_down = true;
    t_def(&d[2], "c", hang.port);
    d[2].initial_down = true;
    struct rw_pool *q = ups_pool(d, 3);
    struct rw_hc_params a2 = a;
    a2.interval_ms = 10 * IV;
    assert_int_equal(rw_health_add_upstream_ex(h, 1, "up", q, &a2, NULL, 0), 0);
    assert_int_equal(atomic_load(&q->backends[0]->state), RW_BE_DOWN); /* b: failing */
    assert_int_equal(atomic_load(&q->backends[1]->state), RW_BE_UP);   /* a: healthy */
    assert_int_equal(atomic_load(&q->backends[2]->state), RW_BE_DOWN); /* c: new, initial */
    struct rw_health_stats sb = ups_stats(h, 1, 0), sa = ups_stats(h, 1, 1);
    assert_true(sb.tracked && !sb.healthy && sb.failures >= 3);
    assert_true(sa.tracked && sa.healthy && sa.checks >= 3);
    assert_int_equal(ups_stats(h, 1, 2).checks, 0); /* c: nothing inherited */
    struct rw__hc_srv *s = atomic_load(&h->by_index[1])->srv[0];
    assert_true(s->sm.first_done && s->sm.fail_run >= 1); /* the streak, not a fresh start */
    rw_health_remove_upstream(h, 0);
    rw_pool_free(p);
    t_sleep_ms(3 * IV);
    assert_int_equal(atomic_load(&q->backends[0]->state), RW_BE_DOWN);
    assert_int_equal(atomic_load(&q->backends[1]->state), RW_BE_UP);
    assert_int_equal(atomic_load(&q->backends[2]->state), RW_BE_DOWN);
    assert_true(ups_stats(h, 1, 0).checks >= sb.checks); /* counting on from the old figures */
    rw_health_free(h);
    rw_pool_free(q);
    t_origin_stop(&good);
    t_origin_stop(&bad);
    t_origin_stop(&hang);
}

static void ups_errs(struct rw_health *h, uint32_t ui, uint32_t id, int n)
{
    for (int i = 0; i < n; i++)
        rw_health_report(h, (uint32_t)i % 2, ui, id, RW_OUT_RESET, 0);
}

/* An ejected server stays ejected in the new upstream until its original end time,
 * with its backoff multiplier; it returns on probation there. */
static void ups_inherit_passive(void **state)
{
    struct rw_server_def d[2];
    t_def(&d[0], "s0", 1);
    t_def(&d[1], "s1", 1);
    struct rw_pool *p = ups_pool(d, 2);
    struct rw_health *h = ups_health("epoll", 2);
    struct rw_passive_params ps = {
        .consecutive_errors = 2, .eject_ms = 400, .max_eject_ms = 2000, .max_eject_percent = 100};
    assert_int_equal(rw_health_add_upstream(h, 7, "up", p, NULL, &ps), 0);
    assert_int_equal(rw_health_start(h), 0);
    ups_errs(h, 7, 0, 2);
    assert_true(t_wait_state(p->backends[0], RW_BE_DOWN, CAP_MS) >= 0);
    uint64_t t_ej = t_now_ms();
    t_def(&d[0], "s1", 1);
    t_def(&d[1], "s0", 1);
    struct rw_pool *q = ups_pool(d, 2);
    assert_int_equal(rw_health_add_upstream_ex(h, 8, "up", q, NULL, &ps, 7), 0);
    assert_int_equal(atomic_load(&q->backends[1]->state), RW_BE_DOWN);
    assert_int_equal(atomic_load(&q->backends[0]->state), RW_BE_UP);
    struct rw_health_stats st = ups_stats(h, 8, 1);
    assert_true(st.ejected && st.ejections == 1);
    struct rw__hc_srv *s = atomic_load(&h->by_index[8])->srv[1];
    assert_int_equal(s->ej.mult, 1);
    ups_errs(h, 8, 1, 5); /* ignored while ejected */
    rw_health_remove_upstream(h, 7);
    rw_pool_free(p);
    assert_true(t_wait_state(q->backends[1], RW_BE_UP, CAP_MS) >= 0);
    uint64_t back = t_now_ms() - t_ej;
    printf("    ejection carried over: back %llu ms after the ejection (eject_ms 400)\n",
           (unsigned long long)back);
    assert_true(back < 2 * 400 + 500); /* the remaining time, not a fresh or doubled one */
    t_sleep_ms(2 * RW_HEALTH_SWEEP_MS + 10);
    assert_true(s->ej.probation);
    ups_errs(h, 8, 1, 1); /* probation: one error ejects, for twice as long */
    assert_true(t_wait_state(q->backends[1], RW_BE_DOWN, CAP_MS) >= 0);
    assert_int_equal(s->ej.mult, 2);
    assert_int_equal(ups_stats(h, 8, 1).ejections, 2);
    rw_health_free(h);
    rw_pool_free(q);
}

/* An index freed by a removal serves a new upstream over another pool. */
static void ups_index_reuse(void **state)
{
    struct t_origin ok, bad;
    t_origin_start(&ok, T_OK);
    t_origin_start(&bad, T_500);
    struct rw_server_def d;
    t_def(&d, "a", ok.port);
    struct rw_pool *p = ups_pool(&d, 1);
    struct rw_health *h = ups_health("epoll", 1);
    struct rw_hc_params a = {.interval_ms = IV, .timeout_ms = 40};
    assert_int_equal(rw_health_add_upstream(h, 0, "up", p, &a, NULL), 0);
    assert_int_equal(rw_health_start(h), 0);
    assert_true(ups_wait_u32(&ok.requests, 2, false) >= 0);
    rw_health_remove_upstream(h, 0);
    rw_pool_free(p);
    uint32_t r0 = atomic_load(&ok.requests);
    t_def(&d, "a", bad.port); /* same name and uid, nothing inherited */
    struct rw_pool *q = ups_pool(&d, 1);
    assert_int_equal(rw_health_add_upstream(h, 0, "up", q, &a, NULL), 0);
    assert_true(t_wait_state(q->backends[0], RW_BE_DOWN, CAP_MS) >= 0);
    t_sleep_ms(3 * IV);
    assert_int_equal(atomic_load(&ok.requests), r0);
    struct rw_health_stats st = ups_stats(h, 0, 0);
    assert_true(st.failures >= 1 && st.failures == st.checks);
    rw_health_free(h);
    rw_pool_free(q);
    t_origin_stop(&ok);
    t_origin_stop(&bad);
}

/* Unknown indexes are no-ops; removal works before start and after stop; inherit_from
 * is validated. */
static void ups_remove_unknown_and_states(void **state)
{
    struct rw_server_def d;
    t_def(&d, "a", t_refused_port());
    struct rw_pool *p = ups_pool(&d, 1);
    struct rw_health *h = ups_health("epoll", 1);
    struct rw_health_stats st;
    rw_health_remove_upstream(h, 3);
    rw_health_remove_upstream(h, 100000);
    assert_int_equal(rw_health_add_upstream(h, 3, "up", p, NULL, NULL), 0);
    rw_health_remove_upstream(h, 3); /* before start */
    assert_int_equal(rw_health_stats(h, 3, 0, &st), -ENOENT);
    assert_int_equal(rw_health_add_upstream_ex(h, 4, "up", p, NULL, NULL, 9), -ENOENT);
    assert_int_equal(rw_health_add_upstream_ex(h, 4, "up", p, NULL, NULL, -2), -EINVAL);
    assert_int_equal(rw_health_add_upstream_ex(h, 4, "up", p, NULL, NULL, 5000), -EINVAL);
    struct rw_hc_params a = {.interval_ms = IV, .timeout_ms = 40};
    assert_int_equal(rw_health_add_upstream(h, 3, "up", p, &a, NULL), 0);
    assert_int_equal(rw_health_start(h), 0);
    assert_true(t_wait_state(p->backends[0], RW_BE_DOWN, CAP_MS) >= 0);
    rw_health_remove_upstream(h, 7); /* unknown, while running */
    assert_int_equal(rw_health_stats(h, 3, 0, &st), 0);
    rw_health_stop(h);
    rw_health_remove_upstream(h, 3); /* after stop */
    rw_health_remove_upstream(h, 3);
    assert_int_equal(rw_health_stats(h, 3, 0, &st), -ENOENT);
    assert_int_equal(rw_health_add_upstream(h, 3, "up", p, &a, NULL), 0); /* registered only */
    rw_health_free(h);
    rw_pool_free(p);
}

struct reporter {
    struct rw_health *h;
    _Atomic bool stop;
    _Atomic uint64_t n;
};

/* A worker: RCU-registered, reports for upstreams 7 and 8, a quiescent point per turn. */
static void *reporter_main(void *arg)
{
    struct reporter *r = arg;
    rw_rcu_register();
    uint64_t i = 0;
    while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
        for (uint32_t k = 0; k < 16; k++, i++) {
            uint32_t ui = 7 + (uint32_t)(i & 1);
            rw_health_report(r->h, 0, ui, (uint32_t)(i >> 1) % 4,
                             (i & 7) ? RW_OUT_RESET : RW_OUT_OK, 0);
        }
        struct rw_health_stats st;
        (void)rw_health_stats(r->h, 7, 0, &st);
        rw_rcu_quiescent();
    }
    atomic_store(&r->n, i);
    rw_rcu_unregister();
    return NULL;
}

/* Removals and re-additions (with inheritance) while a worker reports on the same
 * indexes: no report ever touches a freed upstream (ASan), and pools are freed at once. */
static void ups_remove_races_reports(void **state)
{
    struct rw_server_def d[4];
    static const char *const names[] = {"s0", "s1", "s2", "s3"};
    for (int i = 0; i < 4; i++)
        t_def(&d[i], names[i], 1);
    struct rw_health *h = ups_health("epoll", 1);
    struct rw_passive_params ps = {
        .consecutive_errors = 3, .eject_ms = 30, .max_eject_ms = 60, .max_eject_percent = 50};
    struct rw_pool *cur = ups_pool(d, 4);
    assert_int_equal(rw_health_add_upstream(h, 7, "up", cur, NULL, &ps), 0);
    assert_int_equal(rw_health_start(h), 0);
    struct reporter r = {.h = h};
    rw_log_set_level(RW_LOG_ERR); /* thousands of expected ejections */
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, reporter_main, &r), 0);
    for (int it = 0; it < 40; it++) {
        /* 7 -> 8 inheriting, drop 7; then 8 -> 7 inheriting, drop 8. */
        uint32_t from = (it & 1) ? 8 : 7, to = (it & 1) ? 7 : 8;
        struct rw_pool *next = ups_pool(d, 4);
        assert_int_equal(rw_health_add_upstream_ex(h, to, "up", next, NULL, &ps, (int32_t)from), 0);
        t_sleep_ms(RW_HEALTH_SWEEP_MS / 2);
        rw_health_remove_upstream(h, from);
        rw_pool_free(cur);
        cur = next;
    }
    atomic_store(&r.stop, true);
    pthread_join(th, NULL);
    rw_log_set_level(RW_LOG_WARN);
    printf("    40 replace-and-remove rounds under %llu concurrent reports\n",
           (unsigned long long)atomic_load(&r.n));
    rw_health_free(h);
    rw_pool_free(cur);
}

int test_ups_run(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(ups_add_after_start),      cmocka_unit_test(ups_remove_stops_checks),
        cmocka_unit_test(ups_inherit_active),       cmocka_unit_test(ups_inherit_passive),
        cmocka_unit_test(ups_index_reuse),          cmocka_unit_test(ups_remove_unknown_and_states),
        cmocka_unit_test(ups_remove_races_reports),
    };
    return cmocka_run_group_tests_name("health/ups", t, NULL, NULL);
}
