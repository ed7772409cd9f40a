/* SPDX-License-Identifier: MIT */
/* Conformance tests for core/io.c (accept, send, connect, cancel, close, wake, timers,
 * callbacks), run against the io_uring and epoll backends; recvs in test_io_recv.c and
 * test_io_keep.c. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <time.h>

#include <cmocka.h>

#include "core/io.h"
#include "core/rcu.h"
#include "test/unit/core/io_fixture.h"
#include "test/unit/core/tests.h"

static void io_accept_multishot(void **state)
{
    struct fx *f = fx_get(state);
    uint16_t port;
    int lfd = tcp_listener(&port), cli[3];
    struct rec *a = rec_new(f->l);

    assert_int_equal(START(rw_io_accept(f->l, &a->op, lfd)), 0);
    assert_int_equal(START(rw_io_accept(f->l, &a->op, lfd)), -EBUSY); /* op in flight */
    for (int i = 0; i < 3; i++)
        cli[i] = tcp_client(port);
    run_until(f->l, &a->n, 3);
    for (int i = 0; i < 3; i++) {
        assert_true(a->res[i] >= 0);
        assert_true(a->flags[i] & RW_CQE_MORE);
        assert_true(fcntl(a->res[i], F_GETFL) & O_NONBLOCK);
        assert_true(fcntl(a->res[i], F_GETFD) & FD_CLOEXEC);
        close(a->res[i]);
        close(cli[i]);
    }
    assert_int_equal(a->finals, 0);
    /* One more after a pause: still armed. */
    cli[0] = tcp_client(port);
    run_until(f->l, &a->n, 4);
    assert_true(a->flags[3] & RW_CQE_MORE);
    close(a->res[3]);
    close(cli[0]);
    assert_int_equal(START(rw_io_cancel(f->l, &a->op)), 0);
    run_until(f->l, &a->finals, 1);
    assert_int_equal(a->res[a->n - 1], -ECANCELED);
    assert_int_equal(a->n, 5);
    assert_int_equal(rw_io_cancel(f->l, &a->op), -ENOENT);
    close(lfd);
    rec_free(a);
}

struct reader {
    int fd;
    size_t want;
    uint8_t *got; /* owned */
    size_t len;
};

/* Drains slowly, in small reads with pauses, so the sender hits short writes. */
static void *reader_main(void *arg)
{
    struct reader *rd = arg;
    struct timespec pause = {0, 100 * 1000};

    rd->got = malloc(rd->want);
    while (rd->len < rd->want) {
        size_t chunk = rd->want - rd->len < 32768 ? rd->want - rd->len : 32768;
        ssize_t n = read(rd->fd, rd->got + rd->len, chunk);
        if (n <= 0)
            break;
        rd->len += (size_t)n;
        nanosleep(&pause, NULL);
    }
    return NULL;
}

static void io_send_short_writes(void **state)
{
    struct fx *f = fx_get(state);
    const size_t total = 4u << 20;
    uint16_t port;
    int lfd = tcp_listener(&port), cli = tcp_client(port), srv, small = 16384;
    uint8_t *src = malloc(total);
    struct rec *s = rec_new(f->l);
    struct reader rd = {.want = total};
    struct iovec iov[3];
    pthread_t th;

    srv = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    assert_true(srv >= 0);
    /* A 4 MiB send into a small send buffer cannot complete in one write. */
    setsockopt(srv, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    for (size_t i = 0; i < total; i++)
        src[i] = (uint8_t)((i * 2654435761u) >> 13);
    iov[0] = (struct iovec){src, 1000};
    iov[1] = (struct iovec){src + 1000, total / 2};
    iov[2] = (struct iovec){src + 1000 + total / 2, total - 1000 - total / 2};
    rd.fd = cli;
    assert_int_equal(pthread_create(&th, NULL, reader_main, &rd), 0);
    assert_int_equal(START(rw_io_send(f->l, &s->op, srv, iov, 3)), 0);
    for (int i = 0; i < 100000 && s->finals == 0; i++)
        assert_true(rw_loop_run_once(f->l, TURN_NS) >= 0);
    pthread_join(th, NULL);
    assert_int_equal(s->n, 1); /* one completion, with the whole total */
    assert_int_equal(s->res[0], (int32_t)total);
    assert_int_equal(rd.len, total);
    assert_memory_equal(rd.got, src, total);
    free(rd.got);
    free(src);
    close(srv);
    close(cli);
    close(lfd);
    rec_free(s);
}

static void io_send_iovecs(void **state)
{
    struct fx *f = fx_get(state);
    struct rec *s = rec_new(f->l);
    struct iovec iov[4] = {{"GET ", 4}, {"", 0}, {"/index.html", 11}, {" HTTP/1.1\r\n", 11}};
    char buf[64] = {0};
    int sv[2];

    stream_pair(sv);
    assert_int_equal(START(rw_io_send(f->l, &s->op, sv[0], iov, 4)), 0);
    assert_int_equal(s->n, 0);
    run_until(f->l, &s->finals, 1);
    assert_int_equal(s->res[0], 26);
    assert_int_equal(read(sv[1], buf, sizeof(buf)), 26);
    assert_string_equal(buf, "GET /index.html HTTP/1.1\r\n");
    /* Too many iovecs is refused at start, with no completion. */
    {
        struct iovec many[RW_IO_MAX_IOV + 1];
        for (int i = 0; i <= RW_IO_MAX_IOV; i++)
            many[i] = (struct iovec){"x", 1};
        assert_int_equal(rw_io_send(f->l, &s->op, sv[0], many, RW_IO_MAX_IOV + 1), -EINVAL);
    }
    /* A send to a closed peer fails with -EPIPE, not SIGPIPE. */
    close(sv[1]);
    s->finals = 0;
    s->n = 0;
    assert_int_equal(START(rw_io_send(f->l, &s->op, sv[0], iov, 1)), 0);
    run_until(f->l, &s->finals, 1);
    assert_int_equal(s->res[0], -EPIPE);
    close(sv[0]);
    rec_free(s);
}

static void io_connect_ok_and_refused(void **state)
{
    struct fx *f = fx_get(state);
    uint16_t port, dead;
    int lfd = tcp_listener(&port), tmp = tcp_listener(&dead);
    struct sockaddr_in ok = loopback(port), bad = loopback(dead);
    int c1 = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int c2 = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct rec *a = rec_new(f->l), *b = rec_new(f->l);

    close(tmp); /* nothing listens on `dead` any more */
    assert_int_equal(START(rw_io_connect(f->l, &a->op, c1, (struct sockaddr *)&ok, sizeof(ok))), 0);
    assert_int_equal(START(rw_io_connect(f->l, &b->op, c2, (struct sockaddr *)&bad, sizeof(bad))),
                     0);
    run_until(f->l, &a->finals, 1);
    run_until(f->l, &b->finals, 1);
    assert_int_equal(a->n, 1);
    assert_int_equal(a->res[0], 0);
    assert_int_equal(b->n, 1);
    assert_int_equal(b->res[0], -ECONNREFUSED);
    close(c1);
    close(c2);
    close(lfd);
    rec_free(a);
    rec_free(b);
}

static void io_cancel_armed_recv(void **state)
{
    struct fx *f = fx_get(state);
    struct rec *r = rec_new(f->l), *o = rec_new(f->l);
    int sv[2];

    stream_pair(sv);
    assert_int_equal(START(rw_io_recv(f->l, &r->op, sv[0], RW_RECV_MULTISHOT)), 0);
    run_idle(f->l, 2); /* really armed, waiting */
    assert_int_equal(START(rw_io_cancel(f->l, &r->op)), 0);
    assert_int_equal(r->n, 0);
    run_until(f->l, &r->finals, 1);
    run_idle(f->l, 3);
    assert_int_equal(r->n, 1);
    assert_int_equal(r->res[0], -ECANCELED);
    assert_int_equal(rw_io_cancel(f->l, &r->op), -ENOENT);
    /* One-shot, cancelled in the same turn it was started. */
    assert_int_equal(START(rw_io_recv(f->l, &o->op, sv[0], RW_RECV_ONESHOT)), 0);
    assert_int_equal(START(rw_io_cancel(f->l, &o->op)), 0);
    run_until(f->l, &o->finals, 1);
    run_idle(f->l, 3);
    assert_int_equal(o->n, 1);
    assert_int_equal(o->res[0], -ECANCELED);
    /* The fd is still usable by a new op afterwards. */
    r->finals = 0;
    r->n = 0;
    assert_int_equal(START(rw_io_recv(f->l, &r->op, sv[0], RW_RECV_ONESHOT)), 0);
    write_all(sv[1], "ok", 2);
    run_until(f->l, &r->finals, 1);
    assert_int_equal(r->res[0], 2);
    close(sv[0]);
    close(sv[1]);
    rec_free(r);
    rec_free(o);
}

static void io_cancel_races_completion(void **state)
{
    struct fx *f = fx_get(state);
    int sv[2];

    stream_pair(sv);
    for (int round = 0; round < 20; round++) {
        struct rec *r = rec_new(f->l), *m = rec_new(f->l), *s = rec_new(f->l);
        struct iovec iov = {"pong", 4};
        char sink[64];

        /* Data is already there: the recv may complete or be cancelled, never both. */
        write_all(sv[1], "ping", 4);
        assert_int_equal(START(rw_io_recv(f->l, &r->op, sv[0], RW_RECV_ONESHOT)), 0);
        if (round % 2)
            run_idle(f->l, 1);
        assert_true(START(rw_io_cancel(f->l, &r->op)) == 0 || r->finals == 1);
        /* A send that can complete at once, cancelled straight away. */
        assert_int_equal(START(rw_io_send(f->l, &s->op, sv[1], &iov, 1)), 0);
        assert_int_equal(START(rw_io_cancel(f->l, &s->op)), 0);
        run_until(f->l, &r->finals, 1);
        run_until(f->l, &s->finals, 1);
        /* A multishot recv with data queued, cancelled before the loop turns. */
        write_all(sv[1], "more", 4);
        assert_int_equal(START(rw_io_recv(f->l, &m->op, sv[0], RW_RECV_MULTISHOT)), 0);
        assert_int_equal(START(rw_io_cancel(f->l, &m->op)), 0);
        run_until(f->l, &m->finals, 1);
        run_idle(f->l, 2);
        assert_int_equal(r->finals, 1);
        assert_int_equal(s->finals, 1);
        assert_int_equal(m->finals, 1);
        assert_int_equal(r->n, 1);
        assert_true(r->res[0] == 4 || r->res[0] == -ECANCELED);
        assert_true(s->res[0] == 4 || s->res[0] == -ECANCELED);
        assert_true(m->res[m->n - 1] == -ECANCELED);
        /* Drain whatever the cancelled ops left behind before the next round. */
        while (read(sv[0], sink, sizeof(sink)) > 0)
            ;
        while (read(sv[1], sink, sizeof(sink)) > 0)
            ;
        rec_free(r);
        rec_free(m);
        rec_free(s);
    }
    close(sv[0]);
    close(sv[1]);
}

static void io_close_completes(void **state)
{
    struct fx *f = fx_get(state);
    struct rec *c = rec_new(f->l);
    int sv[2];

    stream_pair(sv);
    assert_int_equal(START(rw_io_close(f->l, &c->op, sv[0])), 0);
    assert_int_equal(c->n, 0);
    run_until(f->l, &c->finals, 1);
    assert_int_equal(c->n, 1);
    assert_int_equal(c->res[0], 0);
    assert_int_equal(fcntl(sv[0], F_GETFD), -1); /* closed (nothing reopened it) */
    assert_int_equal(errno, EBADF);
    close(sv[1]);
    rec_free(c);
}

/* An op whose final completion came may carry the next op, of another kind too: a
 * client connection closes its socket with its read op (proxy/client.c). */
static void io_close_on_finished_recv(void **state)
{
    struct fx *f = fx_get(state);
    struct rec *r = rec_new(f->l);
    int sv[2];

    stream_pair(sv);
    write_all(sv[1], "ping", 4);
    assert_int_equal(START(rw_io_recv(f->l, &r->op, sv[0], RW_RECV_ONESHOT)), 0);
    run_until(f->l, &r->finals, 1);
    assert_int_equal(r->res[0], 4);
    /* armed again and cancelled, as the read of a closing connection is */
    r->n = r->finals = 0;
    assert_int_equal(START(rw_io_recv(f->l, &r->op, sv[0], RW_RECV_ONESHOT)), 0);
    run_idle(f->l, 1);
    assert_int_equal(START(rw_io_cancel(f->l, &r->op)), 0);
    run_until(f->l, &r->finals, 1);
    assert_int_equal(r->res[0], -ECANCELED);
    r->n = r->finals = 0;
    assert_int_equal(START(rw_io_close(f->l, &r->op, sv[0])), 0);
    run_until(f->l, &r->finals, 1);
    run_idle(f->l, 2);
    assert_int_equal(r->n, 1);
    assert_int_equal(r->res[0], 0);
    assert_int_equal(fcntl(sv[0], F_GETFD), -1);
    assert_int_equal(errno, EBADF);
    close(sv[1]);
    rec_free(r);
}

struct waker {
    struct rw_loop *l; /* borrowed */
    pthread_t loop_thread;
    int runs;
    bool wrong_thread;
    bool sync_first; /* rw_rcu_synchronize() before waking */
};

static void wake_cb(struct rw_loop *l, void *arg)
{
    struct waker *w = arg;

    if (!pthread_equal(pthread_self(), w->loop_thread))
        w->wrong_thread = true;
    w->runs++;
}

static void *waker_main(void *arg)
{
    struct waker *w = arg;

    /* Only returns if the loop thread is offline while it waits. */
    if (w->sync_first)
        rw_rcu_synchronize();
    rw_loop_wake(w->l);
    return NULL;
}

static void io_wake_cross_thread(void **state)
{
    struct fx *f = fx_get(state);
    struct waker w = {.l = f->l, .loop_thread = pthread_self()};
    pthread_t th;

    rw_loop_set_wake(f->l, wake_cb, &w);
    for (int round = 0; round < 3; round++) {
        w.sync_first = round == 2;
        if (w.sync_first)
            rw_rcu_register();
        assert_int_equal(pthread_create(&th, NULL, waker_main, &w), 0);
        /* -1: only the wake (or an unrelated event) ends this wait. */
        for (int i = 0; i < 100 && w.runs == round; i++)
            assert_true(rw_loop_run_once(f->l, -1) >= 0);
        pthread_join(th, NULL);
        if (w.sync_first)
            rw_rcu_unregister();
        assert_int_equal(w.runs, round + 1);
    }
    assert_false(w.wrong_thread);
    rw_loop_set_wake(f->l, NULL, NULL);
}

struct syncer {
    int fd; /* borrowed: written once the grace period ended */
    bool synced;
};

static void *syncer_main(void *arg)
{
    struct syncer *s = arg;

    rw_rcu_synchronize();
    __atomic_store_n(&s->synced, true, __ATOMIC_RELEASE);
    write_all(s->fd, "x", 1);
    return NULL;
}

/* The loop thread starts a recv and waits with no bound: the wait begins with a
 * submission pending, which io_uring may do RCU-online (most such waits end at once).
 * A writer's grace period must still end while nothing arrives: only after it does
 * is the byte that ends the wait written. */
static void io_wait_ends_grace_period(void **state)
{
    struct fx *f = fx_get(state);
    struct rec *r = rec_new(f->l);
    struct syncer s;
    pthread_t th;
    int sv[2];

    stream_pair(sv);
    s.fd = sv[1];
    s.synced = false;
    rw_rcu_register();
    assert_int_equal(START(rw_io_recv(f->l, &r->op, sv[0], RW_RECV_ONESHOT)), 0);
    assert_int_equal(pthread_create(&th, NULL, syncer_main, &s), 0);
    for (int i = 0; i < MAX_TURNS && r->finals == 0; i++)
        assert_true(rw_loop_run_once(f->l, -1) >= 0);
    pthread_join(th, NULL);
    rw_rcu_unregister();
    assert_true(__atomic_load_n(&s.synced, __ATOMIC_ACQUIRE));
    assert_int_equal(r->finals, 1);
    assert_int_equal(r->res[0], 1);
    rec_give_back(r);
    close(sv[0]);
    close(sv[1]);
    rec_free(r);
}

struct loop_timer {
    struct rw_timer t;
    struct rw_loop *l; /* borrowed */
    uint64_t fired_now;
    int fired;
};

static void loop_timer_cb(struct rw_timer *t)
{
    struct loop_timer *lt = t->owner;

    lt->fired++;
    lt->fired_now = rw_loop_now(lt->l);
}

static void io_timer_bounds_wait(void **state)
{
    struct fx *f = fx_get(state);
    struct loop_timer lt = {.l = f->l};
    uint64_t due;
    int turns = 0;

    rw_timer_init(&lt.t, loop_timer_cb, &lt);
    due = rw_loop_now(f->l) + 30;
    rw_timer_arm(rw_loop_wheel(f->l), &lt.t, due);
    /* No I/O and an unbounded timeout: only the timer can end these waits. */
    while (!lt.fired && turns < 1000) {
        assert_true(rw_loop_run_once(f->l, -1) >= 0);
        turns++;
    }
    assert_int_equal(lt.fired, 1);
    assert_true(lt.fired_now >= due);
    assert_true(rw_loop_now(f->l) >= due);
}

static void io_no_reentrant_callbacks(void **state)
{
    struct fx *f = fx_get(state);
    struct rec *s = rec_new(f->l), *c = rec_new(f->l), *k = rec_new(f->l), *r = rec_new(f->l);
    struct rec *x = rec_new(f->l);
    struct iovec iov = {"hi", 2};
    uint16_t port;
    int lfd = tcp_listener(&port), sv[2], sv2[2];
    int cfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = loopback(port);

    stream_pair(sv);
    stream_pair(sv2);
    rw_rcu_register(); /* also exercises offline/online/quiescent in run_once */
    /* Every one of these can finish at start time; none may call back yet. */
    assert_int_equal(START(rw_io_send(f->l, &s->op, sv[0], &iov, 1)), 0);
    assert_int_equal(START(rw_io_connect(f->l, &c->op, cfd, (struct sockaddr *)&sa, sizeof(sa))),
                     0);
    assert_int_equal(START(rw_io_close(f->l, &k->op, sv2[0])), 0);
    write_all(sv[1], "data", 4);
    assert_int_equal(START(rw_io_recv(f->l, &r->op, sv[0], RW_RECV_ONESHOT)), 0);
    assert_int_equal(START(rw_io_recv(f->l, &x->op, sv2[1], RW_RECV_ONESHOT)), 0);
    assert_int_equal(START(rw_io_cancel(f->l, &x->op)), 0);
    assert_int_equal(s->n + c->n + k->n + r->n + x->n, 0);
    run_until(f->l, &s->finals, 1);
    run_until(f->l, &c->finals, 1);
    run_until(f->l, &k->finals, 1);
    run_until(f->l, &r->finals, 1);
    run_until(f->l, &x->finals, 1);
    rw_rcu_unregister();
    assert_int_equal(s->res[0], 2);
    assert_int_equal(c->res[0], 0);
    assert_int_equal(k->res[0], 0);
    assert_int_equal(r->res[0], 4);
    assert_int_equal(x->res[0], -ECANCELED);
    close(sv[0]);
    close(sv[1]);
    close(sv2[1]);
    close(cfd);
    close(lfd);
    rec_free(s);
    rec_free(c);
    rec_free(k);
    rec_free(r);
    rec_free(x);
}

static void io_select_names(void **state)
{
    int err = 0;
    const struct rw_io_ops *a = rw_io_select("auto", &err);

    assert_non_null(a);
    assert_true(strcmp(a->name, "io_uring") == 0 || strcmp(a->name, "epoll") == 0);
    assert_non_null(rw_io_select("epoll", &err));
    assert_null(rw_io_select("kqueue", &err));
    assert_int_equal(err, -ENOTSUP);
    if (!rw_io_select("io_uring", &err)) {
        assert_int_equal(err, -ENOSYS);
        assert_string_equal(a->name, "epoll");
    }
}

#define SUITE(be)                                                                                  \
    {                                                                                              \
        IO_T(io_accept_multishot, be), IO_T(io_send_short_writes, be), IO_T(io_send_iovecs, be),   \
            IO_T(io_connect_ok_and_refused, be), IO_T(io_cancel_armed_recv, be),                   \
            IO_T(io_cancel_races_completion, be), IO_T(io_close_completes, be),                    \
            IO_T(io_close_on_finished_recv, be), IO_T(io_wake_cross_thread, be), IO_T(io_wait_ends_grace_period, be),                   \
            IO_T(io_timer_bounds_wait, be), IO_T(io_no_reentrant_callbacks, be)                    \
    }

int rw_test_io_conformance(void)
{
    const struct CMUnitTest sel[] = {cmocka_unit_test(io_select_names)};

    return cmocka_run_group_tests_name("core/io select", sel, NULL, NULL) +
           IO_RUN_BOTH("conformance", SUITE);
}
