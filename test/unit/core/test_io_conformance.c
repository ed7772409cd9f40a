/* SPDX-License-Identifier: MIT */
/* Conformance tests for core/io.c: one suite, run against the io_uring and epoll backends. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/io.h"
#include "core/log.h"
#include "core/rcu.h"
#include "test/unit/core/tests.h"

#define TURN_NS (20 * 1000 * 1000) /* bound of one test loop turn */
#define MAX_TURNS 1000             /* a broken backend fails, it does not hang */

struct backend {
    const char *name;
};

struct fx {
    const struct rw_io_ops *ops; /* borrowed: static backend table */
    struct rw_loop *l;           /* owned */
};

/* Records every completion of one op. */
struct rec {
    struct rw_op op;
    struct rw_loop *l; /* borrowed */
    int n;             /* completions */
    int finals;        /* completions without MORE */
    int32_t res[256];
    uint32_t flags[256];
    bool keep_bufs; /* do not return buffers from the callback */
    uint16_t kept[256];
    int nkept;
    uint8_t *data; /* owned: received bytes, in order */
    size_t len, cap;
};

static bool g_in_start; /* set while a test is inside a start call */

#define START(expr)                                                                                \
    ({                                                                                             \
        g_in_start = true;                                                                         \
        int r_ = (expr);                                                                           \
        g_in_start = false;                                                                        \
        r_;                                                                                        \
    })

static void rec_cb(struct rw_op *op, const struct rw_cqe *c)
{
    struct rec *r = op->owner;

    /* Completions never run from inside a start call. */
    assert_false(g_in_start);
    assert_int_equal(r->finals, 0); /* nothing after the final completion */
    if (r->n < 256) {
        r->res[r->n] = c->res;
        r->flags[r->n] = c->flags;
    }
    r->n++;
    if (c->flags & RW_CQE_BUF) {
        assert_true(c->res > 0);
        if (r->len + (size_t)c->res > r->cap) {
            r->cap = (r->len + (size_t)c->res) * 2;
            r->data = realloc(r->data, r->cap);
        }
        memcpy(r->data + r->len, rw_loop_buf(r->l, c->bid), (size_t)c->res);
        r->len += (size_t)c->res;
        if (r->keep_bufs)
            r->kept[r->nkept++] = c->bid;
        else
            rw_loop_buf_put(r->l, c->bid);
    } else if (c->res >= 0 && r->op._kind == RW_OP_RECV) {
        assert_int_equal(c->res, 0); /* recv without a buffer: only EOF */
    }
    if (!(c->flags & RW_CQE_MORE))
        r->finals++;
}

static struct rec *rec_new(struct rw_loop *l)
{
    struct rec *r = calloc(1, sizeof(*r));

    r->op.cb = rec_cb;
    r->op.owner = r;
    r->l = l;
    return r;
}

static void rec_free(struct rec *r)
{
    free(r->data);
    free(r);
}

static void run_until(struct rw_loop *l, const int *counter, int target)
{
    for (int i = 0; i < MAX_TURNS && *counter < target; i++)
        assert_true(rw_loop_run_once(l, TURN_NS) >= 0);
    assert_true(*counter >= target);
}

/* A few more turns, to show that nothing else arrives. */
static void run_idle(struct rw_loop *l, int turns)
{
    for (int i = 0; i < turns; i++)
        assert_true(rw_loop_run_once(l, 2 * 1000 * 1000) >= 0);
}

static int fx_setup(void **state)
{
    const struct backend *be = *state;
    struct fx *f = calloc(1, sizeof(*f));
    struct rw_loop_cfg cfg = {
        .backend = be->name, .entries = 64, .buf_count = 64, .buf_size = 4096};
    int err = 0;

    f->ops = rw_io_select(be->name, &err);
    if (f->ops) {
        f->l = rw_loop_new(f->ops, &cfg, &err);
        assert_non_null(f->l);
        assert_string_equal(rw_loop_backend(f->l), be->name);
    }
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;

    rw_loop_free(f->l);
    free(f);
    return 0;
}

static struct fx *fx_get(void **state)
{
    struct fx *f = *state;

    if (!f->l)
        skip(); /* backend not usable on this host */
    return f;
}

static int tcp_listener(uint16_t *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 64), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static struct sockaddr_in loopback(uint16_t port)
{
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    return sa;
}

/* A blocking client connected to port (the kernel completes it from the backlog). */
static int tcp_client(uint16_t port)
{
    struct sockaddr_in sa = loopback(port);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static void stream_pair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
}

static void write_all(int fd, const void *p, size_t n)
{
    assert_int_equal(write(fd, p, n), (ssize_t)n);
}

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

static void io_recv_multishot(void **state)
{
    struct fx *f = fx_get(state);
    const char *msg[3] = {"alpha", "bravo!", "charlie-delta"};
    struct rec *r = rec_new(f->l);
    int sv[2];

    stream_pair(sv);
    assert_int_equal(START(rw_io_recv(f->l, &r->op, sv[0], RW_RECV_MULTISHOT)), 0);
    for (int i = 0; i < 3; i++) {
        write_all(sv[1], msg[i], strlen(msg[i]));
        run_until(f->l, &r->n, i + 1);
        assert_true(r->flags[i] & RW_CQE_BUF);
        assert_true(r->flags[i] & RW_CQE_MORE);
    }
    assert_int_equal(r->len, 5 + 6 + 13);
    assert_memory_equal(r->data, "alphabravo!charlie-delta", r->len);
    /* Buffers went back: many more rounds than the pool holds still work. */
    for (int i = 0; i < 100; i++) {
        write_all(sv[1], "x", 1);
        run_until(f->l, &r->n, 4 + i);
    }
    assert_int_equal(r->finals, 0);
    assert_int_equal(START(rw_io_cancel(f->l, &r->op)), 0);
    run_until(f->l, &r->finals, 1);
    assert_int_equal(r->res[r->n - 1], -ECANCELED);
    close(sv[0]);
    close(sv[1]);
    rec_free(r);
}

static void io_recv_oneshot_and_eof(void **state)
{
    struct fx *f = fx_get(state);
    struct rec *one = rec_new(f->l), *multi = rec_new(f->l);
    int sv[2];

    stream_pair(sv);
    write_all(sv[1], "ping", 4);
    assert_int_equal(START(rw_io_recv(f->l, &one->op, sv[0], RW_RECV_ONESHOT)), 0);
    run_until(f->l, &one->finals, 1);
    assert_int_equal(one->n, 1);
    assert_int_equal(one->res[0], 4);
    assert_true(one->flags[0] & RW_CQE_BUF);
    assert_false(one->flags[0] & RW_CQE_MORE);

    assert_int_equal(START(rw_io_recv(f->l, &multi->op, sv[0], RW_RECV_MULTISHOT)), 0);
    write_all(sv[1], "last", 4);
    close(sv[1]);
    run_until(f->l, &multi->finals, 1);
    assert_int_equal(multi->len, 4);
    assert_memory_equal(multi->data, "last", 4);
    assert_int_equal(multi->res[multi->n - 1], 0); /* EOF ends the op, no buffer */
    assert_int_equal(multi->flags[multi->n - 1], 0);
    run_idle(f->l, 3);
    assert_int_equal(multi->finals, 1);
    close(sv[0]);
    rec_free(one);
    rec_free(multi);
}

static void io_recv_enobufs_then_rearm(void **state)
{
    struct fx *f = fx_get(state);
    struct rw_loop_cfg cfg = {.entries = 32, .buf_count = 4, .buf_size = 64};
    int err = 0, sv[2];
    struct rw_loop *l = rw_loop_new(f->ops, &cfg, &err);
    struct rec *r = rec_new(l);
    uint8_t payload[1024];

    assert_non_null(l);
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)(i * 7 + 3);
    stream_pair(sv);
    write_all(sv[1], payload, sizeof(payload));
    r->keep_bufs = true;
    assert_int_equal(START(rw_io_recv(l, &r->op, sv[0], RW_RECV_MULTISHOT)), 0);
    run_until(l, &r->finals, 1);
    assert_int_equal(r->res[r->n - 1], -ENOBUFS);
    assert_false(r->flags[r->n - 1] & RW_CQE_MORE);
    assert_int_equal(r->nkept, 4); /* every buffer was lent before it ran dry */
    /* With the pool still empty a new recv ends the same way. */
    r->finals = 0;
    assert_int_equal(START(rw_io_recv(l, &r->op, sv[0], RW_RECV_MULTISHOT)), 0);
    run_until(l, &r->finals, 1);
    assert_int_equal(r->res[r->n - 1], -ENOBUFS);
    /* Buffers back, re-arm: the rest of the bytes arrive, in order. */
    for (int i = 0; i < r->nkept; i++)
        rw_loop_buf_put(l, r->kept[i]);
    r->nkept = 0;
    r->keep_bufs = false;
    close(sv[1]);
    /* io_uring may run dry again (the kernel fills buffers faster than callbacks
     * return them): -ENOBUFS is back-pressure, so re-arm until EOF. */
    for (int rounds = 0; rounds < 64; rounds++) {
        r->finals = 0;
        assert_int_equal(START(rw_io_recv(l, &r->op, sv[0], RW_RECV_MULTISHOT)), 0);
        run_until(l, &r->finals, 1);
        if (r->res[r->n - 1] != -ENOBUFS)
            break;
    }
    assert_int_equal(r->res[r->n - 1], 0);
    assert_int_equal(r->len, sizeof(payload));
    assert_memory_equal(r->data, payload, sizeof(payload));
    close(sv[0]);
    rec_free(r);
    rw_loop_free(l);
}

/* ---- RW_RECV_KEEP: one completion per ask; bytes that come between asks wait ---- */

struct keeper {
    struct rw_op op;
    struct rw_loop *l; /* borrowed */
    int asked;         /* asks not answered yet */
    int n;             /* completions */
    bool held;         /* the last completion carried MORE */
    bool cancelled;    /* a cancel was issued; its final completion ends the op */
    int32_t last;
    int nmore;         /* completions with MORE */
    uint8_t *data;     /* owned: received bytes, in order */
    size_t len, cap;
};

static void keeper_cb(struct rw_op *op, const struct rw_cqe *c)
{
    struct keeper *k = op->owner;

    assert_false(g_in_start);
    /* an answer only to an ask (or the end of a cancelled op) */
    assert_true(k->asked > 0 || (k->cancelled && !(c->flags & RW_CQE_MORE)));
    if (k->asked > 0)
        k->asked--;
    k->n++;
    k->last = c->res;
    k->held = c->flags & RW_CQE_MORE;
    if (k->held)
        k->nmore++;
    if (c->flags & RW_CQE_BUF) {
        assert_true(c->res > 0);
        assert_true((uint32_t)c->res <= rw_loop_buf_size(k->l));
        if (k->len + (size_t)c->res > k->cap) {
            k->cap = (k->len + (size_t)c->res) * 2;
            k->data = realloc(k->data, k->cap);
        }
        memcpy(k->data + k->len, rw_loop_buf(k->l, c->bid), (size_t)c->res);
        k->len += (size_t)c->res;
        rw_loop_buf_put(k->l, c->bid);
    } else {
        assert_true(c->res <= 0);
        assert_false(k->held); /* EOF and errors end the op */
    }
}

static struct keeper *keeper_new(struct rw_loop *l)
{
    struct keeper *k = calloc(1, sizeof(*k));

    k->op.cb = keeper_cb;
    k->op.owner = k;
    k->l = l;
    return k;
}

static void keeper_free(struct keeper *k)
{
    assert_false(rw_op_busy(&k->op));
    free(k->data);
    free(k);
}

/* Ask once and run until answered. */
static void keeper_ask(struct keeper *k, int fd, unsigned flags)
{
    int n = k->n;

    assert_int_equal(k->asked, 0);
    k->asked = 1;
    assert_int_equal(START(rw_io_recv(k->l, &k->op, fd, flags)), 0);
    run_until(k->l, &k->n, n + 1);
}

/* io_uring on Linux 6.17 or later keeps a watch (multishot with a byte limit). */
static bool keep_expected(struct rw_loop *l)
{
    struct utsname u;
    int major = 0, minor = 0;

    if (strcmp(rw_loop_backend(l), "io_uring") != 0 || uname(&u) != 0 ||
        sscanf(u.release, "%d.%d", &major, &minor) != 2)
        return false;
    return major > 6 || (major == 6 && minor >= 17);
}

static void io_recv_keep_asks(void **state)
{
    struct fx *f = fx_get(state);
    struct keeper *k = keeper_new(f->l);
    int sv[2];

    stream_pair(sv);
    write_all(sv[1], "a", 1);
    keeper_ask(k, sv[0], RW_RECV_KEEP);
    assert_int_equal(k->last, 1);
    /* a held op is busy: it must not be freed; asking again is fine, a second
     * ask before the answer is not */
    assert_int_equal(rw_op_busy(&k->op), k->held);
    /* bytes while nobody asks: nothing is delivered, they wait */
    write_all(sv[1], "bc", 2);
    run_idle(f->l, 3);
    write_all(sv[1], "def", 3);
    run_idle(f->l, 3);
    assert_int_equal(k->n, 1);
    keeper_ask(k, sv[0], RW_RECV_KEEP);
    assert_int_equal(k->len, 6);
    assert_memory_equal(k->data, "abcdef", 6);
    /* ask before bytes: answered when they come */
    k->asked = 1;
    assert_int_equal(START(rw_io_recv(f->l, &k->op, sv[0], RW_RECV_KEEP)), 0);
    assert_int_equal(START(rw_io_recv(f->l, &k->op, sv[0], RW_RECV_KEEP)), -EBUSY);
    run_idle(f->l, 2);
    assert_int_equal(k->n, 2);
    write_all(sv[1], "g", 1);
    run_until(f->l, &k->n, 3);
    assert_memory_equal(k->data, "abcdefg", 7);
    /* bytes then EOF while nobody asks: the bytes, then the end */
    write_all(sv[1], "hi", 2);
    run_idle(f->l, 2);
    close(sv[1]);
    run_idle(f->l, 2);
    for (int i = 0; i < 4 && (k->len < 9 || k->last != 0); i++)
        keeper_ask(k, sv[0], RW_RECV_KEEP);
    assert_int_equal(k->len, 9);
    assert_memory_equal(k->data, "abcdefghi", 9);
    assert_int_equal(k->last, 0);
    assert_false(k->held);
    assert_false(rw_op_busy(&k->op));
    if (keep_expected(f->l))
        assert_true(k->nmore >= 3); /* held between asks: no submission per ask */
    close(sv[0]);
    keeper_free(k);
}

/* A kernel without the multishot byte limit (before 6.17) refuses the first KEEP
 * recv with -EINVAL: the backend falls back to one-shot recvs, unseen by callers. */
static void io_recv_keep_fallback(void **state)
{
    struct fx *f = fx_get(state);
    struct rw_loop_cfg cfg = {.entries = 32, .buf_count = 16, .buf_size = 4096};
    int err = 0, sv[2];

    setenv("RW_TEST_IO_URING_NO_RECV_LIMIT", "1", 1);
    struct rw_loop *l = rw_loop_new(f->ops, &cfg, &err);
    unsetenv("RW_TEST_IO_URING_NO_RECV_LIMIT");
    assert_non_null(l);
    struct keeper *k = keeper_new(l);
    stream_pair(sv);
    write_all(sv[1], "a", 1);
    keeper_ask(k, sv[0], RW_RECV_KEEP);
    assert_int_equal(k->last, 1);
    write_all(sv[1], "bc", 2);
    keeper_ask(k, sv[0], RW_RECV_KEEP);
    close(sv[1]);
    for (int i = 0; i < 4 && k->last != 0; i++)
        keeper_ask(k, sv[0], RW_RECV_KEEP);
    assert_int_equal(k->len, 3);
    assert_memory_equal(k->data, "abc", 3);
    assert_int_equal(k->last, 0);
    assert_int_equal(k->nmore, 0); /* one-shot: nothing held between asks */
    close(sv[0]);
    keeper_free(k);
    rw_loop_free(l);
}

/* A sender that does not wait for asks fills at most one buffer per op: the rest
 * stays in the socket (back-pressure) and arrives in order, ask by ask. */
static void io_recv_keep_backpressure(void **state)
{
    struct fx *f = fx_get(state);
    struct keeper *k = keeper_new(f->l);
    uint8_t payload[48 * 1024];
    int sv[2];

    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)(i * 13 + 1);
    stream_pair(sv);
    write_all(sv[1], "x", 1);
    keeper_ask(k, sv[0], RW_RECV_KEEP);
    write_all(sv[1], payload, sizeof(payload));
    close(sv[1]);
    run_idle(f->l, 5);
    assert_int_equal(k->n, 1);
    for (int i = 0; i < 1000 && k->last != 0; i++) {
        keeper_ask(k, sv[0], RW_RECV_KEEP);
        if (k->last > 0)
            run_idle(f->l, 1); /* let the watch run ahead of the next ask */
    }
    assert_int_equal(k->last, 0);
    assert_int_equal(k->len, 1 + sizeof(payload));
    assert_memory_equal(k->data + 1, payload, sizeof(payload));
    close(sv[0]);
    keeper_free(k);
}

/* Cancelling a held op gives one final completion and returns what it kept; done
 * more times than the pool has buffers, nothing leaks. */
static void io_recv_keep_cancel(void **state)
{
    struct fx *f = fx_get(state);

    for (int round = 0; round < 100; round++) {
        struct keeper *k = keeper_new(f->l);
        int sv[2];

        stream_pair(sv);
        write_all(sv[1], "hello", 5);
        keeper_ask(k, sv[0], RW_RECV_KEEP);
        write_all(sv[1], "kept", 4); /* arrives while nobody asks */
        run_idle(f->l, 1);
        if (rw_op_busy(&k->op)) {
            int n = k->n;
            k->cancelled = true;
            assert_int_equal(START(rw_io_cancel(f->l, &k->op)), 0);
            run_until(f->l, &k->n, n + 1);
            assert_int_equal(k->last, -ECANCELED);
            assert_false(rw_op_busy(&k->op));
        }
        close(sv[0]);
        close(sv[1]);
        keeper_free(k);
    }
}

/* A held op asked without KEEP (say, a body read that wants a bulk buffer) ends
 * with that answer once its watch is gone. */
static void io_recv_keep_then_plain(void **state)
{
    struct fx *f = fx_get(state);
    struct keeper *k = keeper_new(f->l);
    uint8_t big[12 * 1024];
    int sv[2];

    memset(big, 'z', sizeof(big));
    stream_pair(sv);
    write_all(sv[1], "q", 1);
    keeper_ask(k, sv[0], RW_RECV_KEEP);
    write_all(sv[1], big, sizeof(big));
    for (int i = 0; i < 100 && k->held; i++)
        keeper_ask(k, sv[0], RW_RECV_ONESHOT);
    assert_false(k->held);
    assert_false(rw_op_busy(&k->op));
    while (k->len < 1 + sizeof(big))
        keeper_ask(k, sv[0], RW_RECV_ONESHOT);
    assert_int_equal(k->len, 1 + sizeof(big));
    close(sv[0]);
    close(sv[1]);
    keeper_free(k);
}

/* Bytes (and then EOF) that arrive while no recv is pending are not reported over
 * and over (epoll keeps a socket's read interest between recvs and must drop it
 * then), and the next recv still gets them. */
static void io_recv_unasked_no_spin(void **state)
{
    struct fx *f = fx_get(state);
    struct rec *r = rec_new(f->l);
    int sv[2], events = 0;

    stream_pair(sv);
    write_all(sv[1], "one", 3);
    assert_int_equal(START(rw_io_recv(f->l, &r->op, sv[0], RW_RECV_ONESHOT)), 0);
    run_until(f->l, &r->finals, 1);
    write_all(sv[1], "two", 3);
    shutdown(sv[1], SHUT_WR);
    for (int i = 0; i < 10; i++) {
        int n = rw_loop_run_once(f->l, 2 * 1000 * 1000);
        assert_true(n >= 0);
        events += n;
    }
    assert_true(events <= 2); /* not one per turn */
    assert_int_equal(r->n, 1);
    r->finals = 0;
    assert_int_equal(START(rw_io_recv(f->l, &r->op, sv[0], RW_RECV_ONESHOT)), 0);
    run_until(f->l, &r->finals, 1);
    assert_int_equal(r->len, 6);
    assert_memory_equal(r->data, "onetwo", 6);
    r->finals = 0;
    assert_int_equal(START(rw_io_recv(f->l, &r->op, sv[0], RW_RECV_ONESHOT)), 0);
    run_until(f->l, &r->finals, 1);
    assert_int_equal(r->res[r->n - 1], 0);
    close(sv[0]);
    close(sv[1]);
    rec_free(r);
}

/* Bulk recvs read up to bulk_size at once from their own pool, and fall back to
 * normal buffers (not -ENOBUFS) while that pool is empty. */
static void io_recv_bulk_and_fallback(void **state)
{
    struct fx *f = fx_get(state);
    struct rw_loop_cfg cfg = {
        .entries = 32, .buf_count = 4, .buf_size = 64, .bulk_count = 2, .bulk_size = 1024};
    int err = 0, sv[2];
    struct rw_loop *l = rw_loop_new(f->ops, &cfg, &err);
    struct rec *r = rec_new(l);
    uint8_t payload[1000];

    assert_non_null(l);
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)(i * 13 + 1);
    stream_pair(sv);
    r->keep_bufs = true;
    /* Two bulk reads take the whole bulk pool, each far more than a normal buffer. */
    for (int i = 0; i < 2; i++) {
        write_all(sv[1], payload, sizeof(payload));
        r->finals = 0;
        assert_int_equal(START(rw_io_recv(l, &r->op, sv[0], RW_RECV_BULK)), 0);
        run_until(l, &r->finals, 1);
        assert_int_equal(r->res[r->n - 1], (int)sizeof(payload));
        assert_true(r->flags[r->n - 1] & RW_CQE_BUF);
    }
    assert_true(r->kept[0] != r->kept[1]);
    assert_memory_equal(rw_loop_buf(l, r->kept[1]), payload, sizeof(payload));
    /* Bulk pool empty: the next bulk read lands in a normal (64-byte) buffer. */
    write_all(sv[1], payload, sizeof(payload));
    r->finals = 0;
    assert_int_equal(START(rw_io_recv(l, &r->op, sv[0], RW_RECV_BULK)), 0);
    run_until(l, &r->finals, 1);
    assert_int_equal(r->res[r->n - 1], 64);
    assert_int_equal(r->nkept, 3);
    for (int i = 0; i < r->nkept; i++)
        rw_loop_buf_put(l, r->kept[i]);
    r->nkept = 0;
    /* Buffers back: the rest arrives through bulk buffers again, in order. */
    r->keep_bufs = false;
    close(sv[1]);
    for (int rounds = 0; rounds < 64; rounds++) {
        r->finals = 0;
        assert_int_equal(START(rw_io_recv(l, &r->op, sv[0], RW_RECV_BULK)), 0);
        run_until(l, &r->finals, 1);
        if (r->res[r->n - 1] == 0)
            break;
        assert_true(r->res[r->n - 1] > 0);
    }
    assert_int_equal(r->res[r->n - 1], 0);
    assert_int_equal(r->len, 3 * sizeof(payload));
    for (int i = 0; i < 3; i++)
        assert_memory_equal(r->data + i * sizeof(payload), payload, sizeof(payload));
    close(sv[0]);
    rec_free(r);
    rw_loop_free(l);
}

/* More recvs complete in one turn than a provided-buffer ring is topped up to:
 * while the pool has free buffers none of them sees -ENOBUFS. */
static void io_recv_burst_within_pool(void **state)
{
    enum { N = 200 };
    struct fx *f = fx_get(state);
    struct rw_loop_cfg cfg = {.entries = 512, .buf_count = 256, .buf_size = 256};
    int err = 0, sv[N][2], done = 0;
    struct rw_loop *l = rw_loop_new(f->ops, &cfg, &err);
    struct rec *r[N];

    assert_non_null(l);
    for (int i = 0; i < N; i++) {
        stream_pair(sv[i]);
        write_all(sv[i][1], "burst", 5);
        r[i] = rec_new(l);
        assert_int_equal(START(rw_io_recv(l, &r[i]->op, sv[i][0], RW_RECV_ONESHOT)), 0);
    }
    for (int t = 0; t < MAX_TURNS && done < N; t++) {
        assert_true(rw_loop_run_once(l, TURN_NS) >= 0);
        done = 0;
        for (int i = 0; i < N; i++)
            done += r[i]->finals;
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(r[i]->finals, 1);
        assert_int_equal(r[i]->res[0], 5);
        assert_memory_equal(r[i]->data, "burst", 5);
        close(sv[i][0]);
        close(sv[i][1]);
        rec_free(r[i]);
    }
    rw_loop_free(l);
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

/* A socket closed with close(2) after its recv ended, and its number reused by the
 * next accepted connection: the new connection's reads still complete (epoll keeps
 * a read interest between recvs, which the kernel dropped with the old file). */
static void io_fd_reuse_after_plain_close(void **state)
{
    struct fx *f = fx_get(state);
    uint16_t port;
    int lfd = tcp_listener(&port);
    struct rec *a = rec_new(f->l);

    assert_int_equal(START(rw_io_accept(f->l, &a->op, lfd)), 0);
    for (int round = 0; round < 3; round++) {
        struct rec *r = rec_new(f->l);
        int cli = tcp_client(port);

        run_until(f->l, &a->n, round + 1);
        int fd = a->res[round];
        assert_true(fd >= 0);
        write_all(cli, "ping", 4);
        assert_int_equal(START(rw_io_recv(f->l, &r->op, fd, RW_RECV_ONESHOT)), 0);
        run_until(f->l, &r->finals, 1);
        assert_int_equal(r->len, 4);
        close(fd); /* not rw_io_close: the next accept reuses the number */
        close(cli);
        if (round > 0)
            assert_int_equal(fd, a->res[0]);
        rec_free(r);
    }
    a->finals = 0;
    assert_int_equal(START(rw_io_cancel(f->l, &a->op)), 0);
    run_until(f->l, &a->finals, 1);
    close(lfd);
    rec_free(a);
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

static struct backend be_uring = {"io_uring"};
static struct backend be_epoll = {"epoll"};

#define IO_T(fn, be) cmocka_unit_test_prestate_setup_teardown(fn, fx_setup, fx_teardown, be)
#define IO_SUITE(be)                                                                               \
    {                                                                                              \
        IO_T(io_accept_multishot, be), IO_T(io_recv_multishot, be),                                \
            IO_T(io_recv_oneshot_and_eof, be), IO_T(io_recv_enobufs_then_rearm, be),               \
            IO_T(io_recv_bulk_and_fallback, be), IO_T(io_recv_burst_within_pool, be),              \
            IO_T(io_send_short_writes, be), IO_T(io_send_iovecs, be),                              \
            IO_T(io_connect_ok_and_refused, be), IO_T(io_cancel_armed_recv, be),                   \
            IO_T(io_cancel_races_completion, be), IO_T(io_close_completes, be),                    \
            IO_T(io_close_on_finished_recv, be), IO_T(io_wake_cross_thread, be),                   \
            IO_T(io_timer_bounds_wait, be), IO_T(io_no_reentrant_callbacks, be),                   \
            IO_T(io_recv_keep_asks, be), IO_T(io_recv_keep_backpressure, be),                      \
            IO_T(io_recv_keep_cancel, be), IO_T(io_recv_keep_then_plain, be),                      \
            IO_T(io_recv_unasked_no_spin, be), IO_T(io_fd_reuse_after_plain_close, be),            \
            IO_T(io_recv_keep_fallback, be),                                                       \
    }

int rw_test_io_conformance(void)
{
    const struct CMUnitTest sel[] = {cmocka_unit_test(io_select_names)};
    const struct CMUnitTest uring[] = IO_SUITE(&be_uring);
    const struct CMUnitTest epoll[] = IO_SUITE(&be_epoll);
    int failed = 0;

    failed += cmocka_run_group_tests_name("core/io select", sel, NULL, NULL);
    failed += cmocka_run_group_tests_name("core/io conformance [io_uring]", uring, NULL, NULL);
    failed += cmocka_run_group_tests_name("core/io conformance [epoll]", epoll, NULL, NULL);
    return failed;
}
