/* SPDX-License-Identifier: MIT */
/* admin/metrics.c: exposition text, validation, concurrent shards, promtool, cost. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "admin/metrics.h"
#include "test/unit/admin/tests.h"

static void collect_up(void *arg, struct rw_metric_sink *sink)
{
    const char *v[] = {"api", "api-1"};
    rw_metric_emit(sink, v, *(double *)arg);
}

struct small {
    struct rw_metrics *r;
    struct rw_metric *req, *conns, *dur;
    double up;
};

static void small_build(struct small *s)
{
    int err = 0;
    s->r = rw_metrics_new(2, &err);
    assert_non_null(s->r);
    const char *l2[] = {"listener", "code"};
    s->req = rw_metrics_add(s->r, RW_METRIC_COUNTER, "ringwall_requests_total",
                            "Requests by listener and status class.", l2, 2, &err);
    s->conns = rw_metrics_add(s->r, RW_METRIC_GAUGE, "ringwall_connections_active",
                              "Open client connections.", NULL, 0, &err);
    const char *lr[] = {"route"};
    s->dur = rw_metrics_add(s->r, RW_METRIC_HISTOGRAM, "ringwall_request_duration_seconds",
                            "Request duration.", lr, 1, &err);
    assert_non_null(s->req);
    assert_non_null(s->conns);
    assert_non_null(s->dur);
    const uint64_t b[] = {1000, 10000};
    assert_int_equal(rw_metric_set_buckets(s->dur, b, 2, 1e-6), 0);
    const char *v0[] = {"main", "2xx"}, *v1[] = {"a\"b\\c\nd", "5xx"}, *vr[] = {"r"};
    assert_int_equal(rw_metric_series(s->req, v0), 0);
    assert_int_equal(rw_metric_series(s->req, v1), 1);
    assert_int_equal(rw_metric_series(s->dur, vr), 0);
    const char *lu[] = {"upstream", "server"};
    s->up = 1;
    assert_int_equal(rw_metrics_collector(s->r, RW_METRIC_GAUGE, "ringwall_server_up",
                                          "Server state (1 up).", lu, 2, collect_up, &s->up),
                     0);
    assert_int_equal(rw_metrics_seal(s->r), 0);
}

static const char small_text[] =
    "# HELP ringwall_requests_total Requests by listener and status class.\n"
    "# TYPE ringwall_requests_total counter\n"
    "ringwall_requests_total{listener=\"main\",code=\"2xx\"} 3\n"
    "ringwall_requests_total{listener=\"a\\\"b\\\\c\\nd\",code=\"5xx\"} 1\n"
    "# HELP ringwall_connections_active Open client connections.\n"
    "# TYPE ringwall_connections_active gauge\n"
    "ringwall_connections_active 2\n"
    "# HELP ringwall_request_duration_seconds Request duration.\n"
    "# TYPE ringwall_request_duration_seconds histogram\n"
    "ringwall_request_duration_seconds_bucket{route=\"r\",le=\"0.001\"} 1\n"
    "ringwall_request_duration_seconds_bucket{route=\"r\",le=\"0.01\"} 2\n"
    "ringwall_request_duration_seconds_bucket{route=\"r\",le=\"+Inf\"} 3\n"
    "ringwall_request_duration_seconds_sum{route=\"r\"} 20.0055\n"
    "ringwall_request_duration_seconds_count{route=\"r\"} 3\n"
    "# HELP ringwall_server_up Server state (1 up).\n"
    "# TYPE ringwall_server_up gauge\n"
    "ringwall_server_up{upstream=\"api\",server=\"api-1\"} 1\n";

static void small_fill(struct small *s)
{
    rw_metric_counter_add(s->req, 0, 0, 2);
    rw_metric_counter_add(s->req, 1, 0, 1);
    rw_metric_counter_add(s->req, 1, 1, 1);
    rw_metric_gauge_add(s->conns, 0, 0, 3);
    rw_metric_gauge_add(s->conns, 1, 0, -1);
    rw_metric_observe(s->dur, 0, 0, 500);
    rw_metric_observe(s->dur, 1, 0, 5000);
    rw_metric_observe(s->dur, 1, 0, 20000000);
}

static void exposition_exact(void **state)
{
    struct small s;
    small_build(&s);
    small_fill(&s);
    char *out;
    size_t len;
    assert_int_equal(rw_metrics_render(s.r, &out, &len), 0);
    assert_string_equal(out, small_text);
    assert_int_equal(len, strlen(small_text));
    free(out);
    assert_int_equal(rw_metric_counter_read(s.r, s.req, 0), 3);
    assert_int_equal(rw_metric_gauge_read(s.r, s.conns, 0), 2);
    uint64_t sum = 0;
    assert_int_equal(rw_metric_hist_count(s.r, s.dur, 0, &sum), 3);
    assert_int_equal(sum, 20005500);
    rw_metrics_free(s.r);
}

static void default_buckets_and_set(void **state)
{
    int err = 0;
    struct rw_metrics *r = rw_metrics_new(1, &err);
    struct rw_metric *h =
        rw_metrics_add(r, RW_METRIC_HISTOGRAM, "ringwall_x_seconds", "x", NULL, 0, &err);
    struct rw_metric *g =
        rw_metrics_add(r, RW_METRIC_GAUGE, "ringwall_config_generation", "g", NULL, 0, &err);
    assert_int_equal(rw_metrics_seal(r), 0);
    rw_metric_observe(h, 0, 0, 30000000); /* exactly the last bound: le is inclusive */
    rw_metric_gauge_set(g, 0, 0, 7);
    rw_metric_gauge_set(g, 0, 0, 9);
    char *out;
    size_t len;
    assert_int_equal(rw_metrics_render(r, &out, &len), 0);
    assert_non_null(strstr(out, "ringwall_x_seconds_bucket{le=\"0.001\"} 0\n"));
    assert_non_null(strstr(out, "ringwall_x_seconds_bucket{le=\"0.0025\"} 0\n"));
    assert_non_null(strstr(out, "ringwall_x_seconds_bucket{le=\"30\"} 1\n"));
    assert_non_null(strstr(out, "ringwall_x_seconds_bucket{le=\"+Inf\"} 1\n"));
    assert_non_null(strstr(out, "ringwall_x_seconds_sum 30\n"));
    assert_non_null(strstr(out, "ringwall_config_generation 9\n"));
    free(out);
    rw_metrics_free(r);
}

static void declarations_validated(void **state)
{
    int err = 0;
    struct rw_metrics *r = rw_metrics_new(1, &err);
    const char *bad_label[] = {"__x"}, *le[] = {"le"}, *dup[] = {"a", "a"}, *ok[] = {"a"};
    assert_null(rw_metrics_add(r, RW_METRIC_COUNTER, "requests_total", "", NULL, 0, &err));
    assert_int_equal(err, -EINVAL);
    assert_null(rw_metrics_add(r, RW_METRIC_COUNTER, "ringwall_bad-name", "", NULL, 0, &err));
    assert_null(rw_metrics_add(r, RW_METRIC_COUNTER, "ringwall_a", "", bad_label, 1, &err));
    assert_null(rw_metrics_add(r, RW_METRIC_HISTOGRAM, "ringwall_h", "", le, 1, &err));
    assert_null(rw_metrics_add(r, RW_METRIC_COUNTER, "ringwall_d", "", dup, 2, &err));
    struct rw_metric *m = rw_metrics_add(r, RW_METRIC_COUNTER, "ringwall_a", "", ok, 1, &err);
    assert_non_null(m);
    assert_null(rw_metrics_add(r, RW_METRIC_GAUGE, "ringwall_a", "", NULL, 0, &err));
    const char *nullv[] = {NULL};
    assert_int_equal(rw_metric_series(m, nullv), -EINVAL);
    const uint64_t desc[] = {10, 5};
    struct rw_metric *h = rw_metrics_add(r, RW_METRIC_HISTOGRAM, "ringwall_h", "", NULL, 0, &err);
    assert_int_equal(rw_metric_set_buckets(h, desc, 2, 1), -EINVAL);
    assert_int_equal(rw_metrics_seal(r), 0);
    assert_int_equal(rw_metric_series(m, ok), -EINVAL); /* sealed */
    assert_null(rw_metrics_add(r, RW_METRIC_GAUGE, "ringwall_late", "", NULL, 0, &err));
    rw_metrics_free(r);
}

#define ADDS 1000000

struct writer {
    struct rw_metric *c, *h;
    uint32_t shard;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    for (uint32_t i = 0; i < ADDS; i++) {
        rw_metric_counter_add(w->c, w->shard, i & 1, 1);
        if ((i & 15) == 0)
            rw_metric_observe(w->h, w->shard, 0, i % 40000000);
    }
    return NULL;
}

static void concurrent_writers_sum(void **state)
{
    int err = 0;
    struct rw_metrics *r = rw_metrics_new(2, &err);
    const char *l[] = {"k"}, *a[] = {"a"}, *b[] = {"b"};
    struct rw_metric *c = rw_metrics_add(r, RW_METRIC_COUNTER, "ringwall_c_total", "c", l, 1, &err);
    struct rw_metric *h =
        rw_metrics_add(r, RW_METRIC_HISTOGRAM, "ringwall_h_seconds", "h", NULL, 0, &err);
    rw_metric_series(c, a);
    rw_metric_series(c, b);
    assert_int_equal(rw_metrics_seal(r), 0);
    struct writer w[2] = {{c, h, 0}, {c, h, 1}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, writer_main, &w[i]), 0);
    char *out;
    size_t len;
    for (int i = 0; i < 20; i++) { /* scrape while they write */
        assert_int_equal(rw_metrics_render(r, &out, &len), 0);
        free(out);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(rw_metric_counter_read(r, c, 0) + rw_metric_counter_read(r, c, 1), 2 * ADDS);
    assert_int_equal(rw_metric_counter_read(r, c, 0), ADDS);
    assert_int_equal(rw_metric_hist_count(r, h, 0, NULL), 2 * (ADDS / 16));
    rw_metrics_free(r);
}

static void promtool_accepts(void **state)
{
    if (access("/usr/bin/promtool", X_OK) != 0) {
        print_message("promtool not installed: format checked by exposition_exact only\n");
        skip();
    }
    struct small s;
    small_build(&s);
    small_fill(&s);
    char *out;
    size_t len;
    assert_int_equal(rw_metrics_render(s.r, &out, &len), 0);
    char path[] = "/tmp/rw-admin-metrics-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, out, len), (ssize_t)len);
    close(fd);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "promtool check metrics < %s", path);
    int rc = system(cmd);
    unlink(path);
    free(out);
    rw_metrics_free(s.r);
    assert_int_equal(rc, 0);
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Figures only (no thresholds): ns per counter add and per histogram observe. */
static void writer_cost(void **state)
{
    int err = 0;
    struct rw_metrics *r = rw_metrics_new(1, &err);
    struct rw_metric *c =
        rw_metrics_add(r, RW_METRIC_COUNTER, "ringwall_c_total", "c", NULL, 0, &err);
    struct rw_metric *h =
        rw_metrics_add(r, RW_METRIC_HISTOGRAM, "ringwall_h_seconds", "h", NULL, 0, &err);
    assert_int_equal(rw_metrics_seal(r), 0);
    const uint32_t n = 20000000;
    double t0 = now_ns();
    for (uint32_t i = 0; i < n; i++)
        rw_metric_counter_add(c, 0, 0, 1);
    double t1 = now_ns();
    for (uint32_t i = 0; i < n; i++)
        rw_metric_observe(h, 0, 0, (i * 2654435761u) % 3000000);
    double t2 = now_ns();
    print_message("metrics: counter add %.2f ns, histogram observe %.2f ns\n", (t1 - t0) / n,
                  (t2 - t1) / n);
    assert_int_equal(rw_metric_counter_read(r, c, 0), n);
    rw_metrics_free(r);
}

int rw_test_metrics(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(exposition_exact),       cmocka_unit_test(default_buckets_and_set),
        cmocka_unit_test(declarations_validated), cmocka_unit_test(concurrent_writers_sum),
        cmocka_unit_test(promtool_accepts),       cmocka_unit_test(writer_cost),
    };
    return cmocka_run_group_tests_name("admin/metrics", t, NULL, NULL);
}
