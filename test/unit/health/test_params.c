/* SPDX-License-Identifier: MIT */
/* Tests for health/params.c: registering upstreams, defaults and validation. */
#include "tests.h"

#include <errno.h>
#include <string.h>

#include "health/health-int.h"

static struct rw_pool *p_pool(void)
{
    struct rw_server_def d;
    t_def(&d, "a", 1);
    int err = 0;
    struct rw_pool *p = rw_pool_new("up", "round_robin", NULL, &d, 1, 1, &err);
    assert_non_null(p);
    return p;
}

static void params_defaults_and_copies(void **state)
{
    int err = 0;
    const struct rw_io_ops *io = rw_io_select("epoll", &err);
    struct rw_health *h = rw_health_new(io, 2, &err);
    assert_non_null(h);
    struct rw_pool *p = p_pool();
    char path[] = "/healthz";
    struct rw_hc_params a = {.path = path};
    struct rw_passive_params ps = {.max_eject_percent = 50, .eject_ms = 900000};
    assert_int_equal(rw_health_add_upstream(h, 3, "up", p, &a, &ps), 0);
    path[1] = 'X'; /* copied */
    struct rw__hc_ups *u = h->by_index[3];
    assert_string_equal(u->act.path, "/healthz");
    assert_string_equal(u->act.method, "GET");
    assert_null(u->act.host);
    assert_int_equal(u->act.interval_ms, 2000);
    assert_int_equal(u->act.timeout_ms, 1000);
    assert_int_equal(u->act.rise, 2);
    assert_int_equal(u->act.fall, 3);
    assert_true(rw_health_status_has(u->act.expect_status, 200));
    assert_true(rw_health_status_has(u->act.expect_status, 399));
    assert_false(rw_health_status_has(u->act.expect_status, 400));
    assert_false(rw_health_status_has(u->act.expect_status, 199));
    assert_int_equal(u->pas.consecutive_errors, 5);
    assert_int_equal(u->pas.window_ms, 10000);
    assert_int_equal(u->pas.max_eject_ms, 900000); /* raised to eject_ms */
    assert_true(rw_health_status_has(u->pas.error_status, 503));
    assert_false(rw_health_status_has(u->pas.error_status, 404));
    assert_int_equal(rw_health_add_upstream(h, 3, "up", p, &a, NULL), -EINVAL); /* twice */
    rw_health_free(h);
    rw_pool_free(p);
}

static void params_reject_bad(void **state)
{
    int err = 0;
    const struct rw_io_ops *io = rw_io_select("epoll", &err);
    assert_null(rw_health_new(io, 0, &err));
    assert_int_equal(err, -EINVAL);
    struct rw_health *h = rw_health_new(io, 1, &err);
    struct rw_pool *p = p_pool();
    struct rw_hc_params bad_path = {.path = "healthz"};
    struct rw_hc_params crlf = {.host = "a\r\nX-Evil: 1"};
    struct rw_hc_params sp = {.method = "GET /"};
    struct rw_hc_params jit = {.jitter_pct = 51};
    struct rw_passive_params pct = {.max_eject_percent = 101};
    assert_int_equal(rw_health_add_upstream(h, 0, "u", p, &bad_path, NULL), -EINVAL);
    assert_int_equal(rw_health_add_upstream(h, 0, "u", p, &crlf, NULL), -EINVAL);
    assert_int_equal(rw_health_add_upstream(h, 0, "u", p, &sp, NULL), -EINVAL);
    assert_int_equal(rw_health_add_upstream(h, 0, "u", p, &jit, NULL), -EINVAL);
    assert_int_equal(rw_health_add_upstream(h, 0, "u", p, NULL, &pct), -EINVAL);
    assert_int_equal(rw_health_add_upstream(h, 4096, "u", p, NULL, NULL), -EINVAL);
    assert_int_equal(rw_health_add_upstream(h, 0, "u", NULL, NULL, NULL), -EINVAL);
    assert_int_equal(rw_health_add_upstream(h, 0, "u", p, NULL, NULL), 0);
    uint64_t bits[RW_HEALTH_STATUS_WORDS] = {0};
    rw_health_status_add(bits, 99);
    rw_health_status_add(bits, 600);
    rw_health_status_add(bits, 100);
    rw_health_status_add(bits, 599);
    assert_true(rw_health_status_has(bits, 100) && rw_health_status_has(bits, 599));
    assert_false(rw_health_status_has(bits, 600) || rw_health_status_has(bits, 101));
    rw_health_free(h);
    rw_pool_free(p);
}

int test_params_run(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(params_defaults_and_copies),
        cmocka_unit_test(params_reject_bad),
    };
    return cmocka_run_group_tests_name("health/params", t, NULL, NULL);
}
