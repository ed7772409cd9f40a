/* SPDX-License-Identifier: MIT */
/* admin/metrics.c: exposition text, validation, concurrent shards, promtool, cost. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
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
    assert_int_equal(rw_metric_series(m, ok), 0); /* sealed: run-time additions are allowed */
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

/* ---- series added after seal ---- */

static int count_lines_with(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static char *render(struct rw_metrics *r)
{
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(rw_metrics_render(r, &out, &len), 0);
    return out;
}

/* The same tuple always answers the same index, before and after seal; new tuples
 * continue the numbering; a new series starts at zero. */
static void series_find_or_add(void **state)
{
    int err = 0;
    struct rw_metrics *r = rw_metrics_new(2, &err);
    const char *l[] = {"route", "code"};
    struct rw_metric *c = rw_metrics_add(r, RW_METRIC_COUNTER, "ringwall_r_total", "r", l, 2, &err);
    const char *a[] = {"a", "2xx"}, *b[] = {"b", "2xx"}, *ab[] = {"a", "b2xx"}, *d[] = {"d", "5xx"};
    assert_int_equal(rw_metric_series(c, a), 0);
    assert_int_equal(rw_metric_series(c, b), 1);
    assert_int_equal(rw_metric_series(c, a), 0);
    assert_int_equal(rw_metrics_seal(r), 0);
    rw_metric_counter_add(c, 0, 0, 5);
    assert_int_equal(rw_metric_series(c, a), 0);
    assert_int_equal(rw_metric_series(c, b), 1);
    assert_int_equal(rw_metric_series(c, ab), 2); /* not "a","b" + "2xx" */
    assert_int_equal(rw_metric_series(c, d), 3);
    assert_int_equal(rw_metric_series(c, ab), 2);
    assert_int_equal(rw_metric_counter_read(r, c, 3), 0);
    rw_metric_counter_add(c, 1, 3, 7);
    for (int i = 0; i < 100; i++) { /* past several index growths */
        char v[16];
        snprintf(v, sizeof(v), "x%d", i);
        const char *t[] = {v, "2xx"};
        assert_int_equal(rw_metric_series(c, t), 4 + i);
    }
    assert_int_equal(rw_metric_series(c, d), 3);
    assert_int_equal(rw_metric_series(c, (const char *const[]){"x57", "2xx"}), 61);
    char *out = render(r);
    assert_non_null(strstr(out, "ringwall_r_total{route=\"a\",code=\"2xx\"} 5\n"));
    assert_non_null(strstr(out, "ringwall_r_total{route=\"d\",code=\"5xx\"} 7\n"));
    assert_non_null(strstr(out, "ringwall_r_total{route=\"x99\",code=\"2xx\"} 0\n"));
    assert_int_equal(count_lines_with(out, "ringwall_r_total{"), 104);
    free(out);
    rw_metrics_free(r);
}

/* A hidden series is not rendered but keeps counting; finding its tuple shows it again
 * with its value where it was. */
static void series_hide_unhide(void **state)
{
    int err = 0;
    struct rw_metrics *r = rw_metrics_new(1, &err);
    const char *l[] = {"server"};
    struct rw_metric *c = rw_metrics_add(r, RW_METRIC_COUNTER, "ringwall_s_total", "s", l, 1, &err);
    struct rw_metric *h =
        rw_metrics_add(r, RW_METRIC_HISTOGRAM, "ringwall_s_seconds", "s", l, 1, &err);
    struct rw_metric *g = rw_metrics_add(r, RW_METRIC_GAUGE, "ringwall_g", "g", NULL, 0, &err);
    const char *x[] = {"x"}, *y[] = {"y"};
    assert_int_equal(rw_metric_series(c, x), 0);
    assert_int_equal(rw_metrics_seal(r), 0);
    assert_int_equal(rw_metric_series(c, y), 1);
    assert_int_equal(rw_metric_series(h, y), 0);
    rw_metric_counter_add(c, 0, 1, 10);
    rw_metric_observe(h, 0, 0, 2000);
    rw_metric_gauge_set(g, 0, 0, 4);
    rw_metric_series_hide(c, 1, true);
    rw_metric_series_hide(h, 0, true);
    rw_metric_series_hide(g, 0, true);
    rw_metric_series_hide(c, 99, true); /* unknown: no-op */
    char *out = render(r);
    assert_null(strstr(out, "server=\"y\""));
    assert_non_null(strstr(out, "ringwall_s_total{server=\"x\"} 0\n"));
    assert_non_null(strstr(out, "# TYPE ringwall_s_seconds histogram\n"));
    assert_null(strstr(out, "ringwall_g 4"));
    free(out);
    rw_metric_counter_add(c, 0, 1, 5); /* a worker still finishing with it */
    assert_int_equal(rw_metric_counter_read(r, c, 1), 15);
    assert_int_equal(rw_metric_series(c, y), 1); /* configured again */
    rw_metric_series_hide(g, 0, false);
    rw_metric_counter_add(c, 0, 1, 1);
    out = render(r);
    assert_non_null(strstr(out, "ringwall_s_total{server=\"y\"} 16\n"));
    assert_null(strstr(out, "ringwall_s_seconds_count{server=\"y\"}")); /* still hidden */
    assert_non_null(strstr(out, "ringwall_g 4\n"));
    free(out);
    assert_int_equal(rw_metric_series(h, y), 0);
    out = render(r);
    assert_non_null(strstr(out, "ringwall_s_seconds_count{server=\"y\"} 1\n"));
    free(out);
    rw_metrics_free(r);
}

/* A full family refuses new tuples with -ENOSPC and still finds its own; the capacity
 * is at least what was declared before seal; bad capacities are refused. */
static void series_capacity(void **state)
{
    int err = 0;
    struct rw_metrics *r = rw_metrics_new(1, &err);
    const char *l[] = {"k"};
    struct rw_metric *c = rw_metrics_add(r, RW_METRIC_COUNTER, "ringwall_c_total", "c", l, 1, &err);
    struct rw_metric *d = rw_metrics_add(r, RW_METRIC_COUNTER, "ringwall_d_total", "d", l, 1, &err);
    struct rw_metric *n =
        rw_metrics_add(r, RW_METRIC_COUNTER, "ringwall_n_total", "n", NULL, 0, &err);
    assert_int_equal(rw_metric_set_capacity(c, 3), 0);
    assert_int_equal(rw_metric_set_capacity(d, 1), 0);
    assert_int_equal(rw_metric_set_capacity(c, 0), -EINVAL);
    assert_int_equal(rw_metric_set_capacity(c, (1u << 24) + 1), -EINVAL);
    assert_int_equal(rw_metric_set_capacity(n, 10), -EINVAL); /* label-less */
    const char *v0[] = {"0"}, *v1[] = {"1"}, *v2[] = {"2"}, *v3[] = {"3"};
    assert_int_equal(rw_metric_series(c, v0), 0);
    assert_int_equal(rw_metric_series(c, v1), 1);
    assert_int_equal(rw_metric_series(d, v0), 0);
    assert_int_equal(rw_metric_series(d, v1), 1); /* before seal: no limit */
    assert_int_equal(rw_metrics_seal(r), 0);
    assert_int_equal(rw_metric_set_capacity(c, 10), -EINVAL); /* sealed */
    assert_int_equal(rw_metric_series(c, v2), 2);
    assert_int_equal(rw_metric_series(c, v3), -ENOSPC);
    assert_int_equal(rw_metric_series(c, v1), 1);
    rw_metric_series_hide(c, 1, true);
    assert_int_equal(rw_metric_series(c, v3), -ENOSPC); /* hidden series keep their room */
    assert_int_equal(rw_metric_series(d, v2), -ENOSPC); /* capacity grew to 2 at seal */
    /* Families are laid out back to back: the last series of c and the first of d
     * are distinct slots. */
    rw_metric_counter_add(c, 0, 2, 1);
    rw_metric_counter_add(d, 0, 0, 2);
    assert_int_equal(rw_metric_counter_read(r, c, 2), 1);
    assert_int_equal(rw_metric_counter_read(r, d, 0), 2);
    rw_metrics_free(r);
}

#define RT_ADDS 3000
#define RT_BATCH 100 /* the adder waits for a fresh render after this many additions */

struct rt {
    struct rw_metrics *r;
    struct rw_metric *c, *h;
    _Atomic bool adding;       /* the adder still runs */
    _Atomic bool stop;         /* writer: stop now */
    _Atomic int renders;       /* completed renders */
    uint64_t writes;           /* by the writer, read after join */
    int bad_adds, bad_renders; /* checked on the main thread (cmocka asserts there only) */
};

/* Worker on shard 0: bumps the series declared at start-up until stopped. */
static void *rt_writer(void *arg)
{
    struct rt *t = arg;
    uint64_t i = 0;
    for (; !atomic_load_explicit(&t->stop, memory_order_relaxed); i++) {
        rw_metric_counter_add(t->c, 0, i & 1, 1);
        if ((i & 15) == 0)
            rw_metric_observe(t->h, 0, 0, i % 3000000);
    }
    t->writes = i;
    return NULL;
}

/* Control thread: adds series (and hides some) while writing shard 1 of the new ones;
 * waits for a render every RT_BATCH additions so that both really interleave. */
static void *rt_adder(void *arg)
{
    struct rt *t = arg;
    for (int i = 0; i < RT_ADDS; i++) {
        char v[16];
        snprintf(v, sizeof(v), "n%d", i);
        const char *tv[] = {v};
        int idx = rw_metric_series(t->c, tv);
        int hi = rw_metric_series(t->h, tv);
        if (idx != 2 + i || hi != 1 + i) {
            t->bad_adds++;
            break;
        }
        rw_metric_counter_add(t->c, 1, (uint32_t)idx, (uint64_t)i + 1);
        if (i % 7 == 0)
            rw_metric_series_hide(t->c, (uint32_t)idx, true);
        rw_metric_observe(t->h, 1, (uint32_t)hi, 5000);
        if (i % RT_BATCH == 0) {
            int seen = atomic_load(&t->renders);
            while (atomic_load(&t->renders) == seen)
                sched_yield();
        }
    }
    atomic_store(&t->adding, false);
    return NULL;
}

/* Admin: renders while the others run. */
static void *rt_render(void *arg)
{
    struct rt *t = arg;
    while (atomic_load(&t->adding)) {
        char *out;
        size_t len;
        if (rw_metrics_render(t->r, &out, &len) != 0) {
            t->bad_renders++;
            break;
        }
        t->bad_renders += !strstr(out, "ringwall_rt_total{k=\"w0\"} ");
        free(out);
        atomic_fetch_add(&t->renders, 1);
    }
    return NULL;
}

/* A writer, an adder and a renderer at once: every value is exact at the end. */
static void runtime_add_concurrent(void **state)
{
    int err = 0;
    struct rt t = {.adding = true};
    t.r = rw_metrics_new(2, &err);
    const char *l[] = {"k"};
    t.c = rw_metrics_add(t.r, RW_METRIC_COUNTER, "ringwall_rt_total", "c", l, 1, &err);
    t.h = rw_metrics_add(t.r, RW_METRIC_HISTOGRAM, "ringwall_rt_seconds", "h", l, 1, &err);
    assert_int_equal(rw_metric_series(t.c, (const char *const[]){"w0"}), 0);
    assert_int_equal(rw_metric_series(t.c, (const char *const[]){"w1"}), 1);
    assert_int_equal(rw_metric_series(t.h, (const char *const[]){"w0"}), 0);
    assert_int_equal(rw_metrics_seal(t.r), 0);
    pthread_t th[3];
    assert_int_equal(pthread_create(&th[0], NULL, rt_writer, &t), 0);
    assert_int_equal(pthread_create(&th[1], NULL, rt_render, &t), 0);
    assert_int_equal(pthread_create(&th[2], NULL, rt_adder, &t), 0);
    pthread_join(th[2], NULL);
    pthread_join(th[1], NULL);
    atomic_store(&t.stop, true);
    pthread_join(th[0], NULL);
    assert_int_equal(t.bad_adds, 0);
    assert_int_equal(t.bad_renders, 0);
    assert_true(atomic_load(&t.renders) >= RT_ADDS / RT_BATCH);
    assert_int_equal(rw_metric_counter_read(t.r, t.c, 0), (t.writes + 1) / 2);
    assert_int_equal(rw_metric_counter_read(t.r, t.c, 1), t.writes / 2);
    assert_int_equal(rw_metric_hist_count(t.r, t.h, 0, NULL), (t.writes + 15) / 16);
    for (int i = 0; i < RT_ADDS; i++) {
        assert_int_equal(rw_metric_counter_read(t.r, t.c, 2 + (uint32_t)i), (uint64_t)i + 1);
        uint64_t sum = 0;
        assert_int_equal(rw_metric_hist_count(t.r, t.h, 1 + (uint32_t)i, &sum), 1);
        assert_int_equal(sum, 5000);
    }
    char *out = render(t.r);
    char line[64];
    snprintf(line, sizeof(line), "ringwall_rt_total{k=\"w1\"} %llu\n",
             (unsigned long long)(t.writes / 2));
    assert_non_null(strstr(out, line));
    assert_non_null(strstr(out, "ringwall_rt_total{k=\"n1\"} 2\n"));
    assert_null(strstr(out, "ringwall_rt_total{k=\"n7\"}")); /* hidden */
    assert_int_equal(count_lines_with(out, "ringwall_rt_total{"), 2 + RT_ADDS - (RT_ADDS + 6) / 7);
    assert_int_equal(count_lines_with(out, "ringwall_rt_seconds_count{"), 1 + RT_ADDS);
    free(out);
    print_message("metrics: %d series added after seal during %d renders and %llu writes\n",
                  RT_ADDS, atomic_load(&t.renders), (unsigned long long)t.writes);
    rw_metrics_free(t.r);
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = 0;
    if (!f)
        return -1;
    if (fscanf(f, "%ld %ld", &size, &res) != 2)
        res = -1;
    fclose(f);
    return res < 0 ? -1 : res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* A large capacity reserves address space only: memory follows the series written. */
static void capacity_costs_no_rss(void **state)
{
    int err = 0;
    struct rw_metrics *r = rw_metrics_new(4, &err);
    const char *l[] = {"k"};
    struct rw_metric *h = rw_metrics_add(r, RW_METRIC_HISTOGRAM, "ringwall_big_seconds", "h", l, 1,
                                         &err);               /* 16 slots per series */
    assert_int_equal(rw_metric_set_capacity(h, 1u << 20), 0); /* 128 MiB per shard */
    long before = rss_kib();
    assert_int_equal(rw_metrics_seal(r), 0);
    for (int i = 0; i < 64; i++) {
        char v[16];
        snprintf(v, sizeof(v), "s%d", i);
        int idx = rw_metric_series(h, (const char *const[]){v});
        assert_int_equal(idx, i);
        for (uint32_t s = 0; s < 4; s++)
            rw_metric_observe(h, s, (uint32_t)idx, 1000);
    }
    long after = rss_kib();
    char *out = render(r);
    free(out);
    print_message("metrics: 4 shards x 1M-series histogram capacity: RSS +%ld KiB\n",
                  after - before);
    if (before >= 0 && after >= 0)
        assert_true(after - before < 16 * 1024);
    rw_metrics_free(r);
}

int rw_test_metrics(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(exposition_exact),       cmocka_unit_test(default_buckets_and_set),
        cmocka_unit_test(declarations_validated), cmocka_unit_test(concurrent_writers_sum),
        cmocka_unit_test(promtool_accepts),       cmocka_unit_test(writer_cost),
        cmocka_unit_test(series_find_or_add),     cmocka_unit_test(series_hide_unhide),
        cmocka_unit_test(series_capacity),        cmocka_unit_test(runtime_add_concurrent),
        cmocka_unit_test(capacity_costs_no_rss),
    };
    return cmocka_run_group_tests_name("admin/metrics", t, NULL, NULL);
}
