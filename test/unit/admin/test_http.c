/* SPDX-License-Identifier: MIT */
/* admin/http.c: /metrics, /stats, /healthz, /ready and token-guarded POST /cmd. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "admin/admin.h"
#include "admin/metrics.h"
#include "core/io.h"
#include "test/unit/admin/tests.h"

static bool ready_flag;

static bool t_ready(void *arg)
{
    return ready_flag;
}

static int t_metrics(void *arg, char **out, size_t *len)
{
    return rw_metrics_render(arg, out, len);
}

struct hfx {
    struct rw_admin *a;
    uint16_t port;
};

static int hfx_setup(void **state)
{
    struct hfx *f = calloc(1, sizeof(*f));
    int err = 0;
    struct rw_admin_cfg cfg = {.http = "127.0.0.1:0", .http_token = "s3cret", .max_line = 4096};
    f->a = rw_test_admin_start(&cfg, &err);
    if (!f->a)
        return -1;
    f->port = rw_admin_http_port(f->a);
    *state = f;
    return 0;
}

static int hfx_teardown(void **state)
{
    struct hfx *f = *state;
    rw_admin_free(f->a);
    free(f);
    return 0;
}

/* One request, the whole response (the server closes after it). */
static char *http(uint16_t port, const char *req)
{
    int fd = rw_test_tcp_connect(port);
    assert_true(fd >= 0);
    assert_int_equal(rw_test_send(fd, req, strlen(req)), 0);
    char *resp = rw_test_read_all(fd, NULL);
    close(fd);
    return resp;
}

static void assert_status(const char *resp, int status)
{
    char want[32];
    snprintf(want, sizeof(want), "HTTP/1.1 %d ", status);
    if (strncmp(resp, want, strlen(want)) != 0)
        fail_msg("wanted %d, got: %.80s", status, resp);
}

static const char *body(const char *resp)
{
    const char *b = strstr(resp, "\r\n\r\n");
    assert_non_null(b);
    return b + 4;
}

static void endpoints(void **state)
{
    struct hfx *f = *state;
    assert_true(f->port > 0);
    char *r = http(f->port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_status(r, 200);
    assert_string_equal(body(r), "ok\n");
    free(r);
    r = http(f->port, "GET /stats HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_status(r, 200);
    assert_non_null(strstr(r, "Content-Type: application/json"));
    json_t *j = json_loads(body(r), 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(json_object_get(j, "listeners"), 0), "requests")),
                     42);
    json_decref(j);
    free(r);
    r = http(f->port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_status(r, 404); /* no metrics source on this server */
    free(r);
    r = http(f->port, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_status(r, 404);
    free(r);
    r = http(f->port, "POST /stats HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    assert_status(r, 405);
    free(r);
    r = http(f->port, "GET /healthz HTTP/1.1\r\n\r\n"); /* no Host: strict parser says 400 */
    assert_status(r, 400);
    free(r);
    r = http(f->port, "GET  /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_status(r, 400);
    free(r);
}

static void cmd_needs_token(void **state)
{
    struct hfx *f = *state;
    const char *body_ok = "{\"cmd\":\"echo\",\"x\":1}";
    char req[512];
    char *r = http(f->port, "POST /cmd HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}");
    assert_status(r, 401);
    free(r);
    snprintf(req, sizeof(req),
             "POST /cmd HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong!\r\n"
             "Content-Length: %zu\r\n\r\n%s",
             strlen(body_ok), body_ok);
    r = http(f->port, req);
    assert_status(r, 401);
    free(r);
    snprintf(req, sizeof(req),
             "POST /cmd HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\n"
             "Content-Length: %zu\r\n\r\n%s",
             strlen(body_ok), body_ok);
    r = http(f->port, req);
    assert_status(r, 200);
    json_t *j = json_loads(body(r), 0, NULL);
    assert_true(json_is_true(json_object_get(j, "ok")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "data"), "x")), 1);
    json_decref(j);
    free(r);
    r = http(f->port, "POST /cmd HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\n"
                      "Content-Length: 14\r\n\r\n{\"cmd\":\"fail\"}");
    assert_status(r, 400);
    assert_non_null(strstr(r, "it failed"));
    free(r);
    r = http(f->port, "POST /cmd HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\n"
                      "Content-Length: 5\r\n\r\n{bad}");
    assert_status(r, 400);
    assert_non_null(strstr(r, "malformed"));
    free(r);
    r = http(f->port, "POST /cmd HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\n"
                      "Content-Length: 99999\r\n\r\n");
    assert_status(r, 413);
    free(r);
}

/* A second server: metrics and ready callbacks, no token (no /cmd at all). */
static void metrics_ready_no_token(void **state)
{
    int err = 0;
    const struct rw_io_ops *io = rw_io_select(rw_test_backend, &err);
    struct rw_admin_cfg cfg = {.http = ":0"};
    struct rw_admin *a = rw_admin_new(io, &cfg, &err);
    assert_non_null(a);
    struct rw_metrics *m = rw_metrics_new(1, &err);
    struct rw_metric *c =
        rw_metrics_add(m, RW_METRIC_COUNTER, "ringwall_requests_total", "r", NULL, 0, &err);
    rw_metrics_seal(m);
    rw_metric_counter_add(c, 0, 0, 5);
    rw_admin_set_metrics(a, t_metrics, m);
    rw_admin_set_ready(a, t_ready, NULL);
    assert_int_equal(rw_admin_start(a), 0);
    uint16_t port = rw_admin_http_port(a);
    char *r = http(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_status(r, 200);
    assert_non_null(strstr(r, "Content-Type: text/plain; version=0.0.4"));
    assert_non_null(strstr(body(r), "ringwall_requests_total 5\n"));
    free(r);
    ready_flag = false;
    r = http(port, "GET /ready HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_status(r, 503);
    free(r);
    ready_flag = true;
    r = http(port, "HEAD /ready HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_status(r, 200);
    assert_string_equal(body(r), ""); /* HEAD: no body */
    free(r);
    r = http(port, "POST /cmd HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \r\n"
                   "Content-Length: 2\r\n\r\n{}");
    assert_status(r, 404);
    free(r);
    rw_admin_free(a);
    rw_metrics_free(m);
    struct rw_admin_cfg bad = {.http = "example.com:80"};
    assert_null(rw_admin_new(io, &bad, &err));
    assert_int_equal(err, -EINVAL);
}

int rw_test_http(const char *backend)
{
    rw_test_backend = backend;
    const struct CMUnitTest t[] = {
        cmocka_unit_test_setup_teardown(endpoints, hfx_setup, hfx_teardown),
        cmocka_unit_test_setup_teardown(cmd_needs_token, hfx_setup, hfx_teardown),
        cmocka_unit_test(metrics_ready_no_token),
    };
    char name[64];
    snprintf(name, sizeof(name), "admin/http (%s)", backend);
    return cmocka_run_group_tests_name(name, t, NULL, NULL);
}
