/* SPDX-License-Identifier: MIT */
/* core/io conformance: reads across asks: RW_RECV_KEEP (io_uring keeps its recv armed
 * between asks) and epoll keeping a socket's read interest between recvs. */
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
#include <stdio.h>
#include <sys/utsname.h>

#include <cmocka.h>

#include "core/io.h"
#include "test/unit/core/io_fixture.h"
#include "test/unit/core/tests.h"

/* ---- RW_RECV_KEEP: one completion per ask; bytes that come between asks wait ---- */

struct keeper {
    struct rw_op op;
    struct rw_loop *l; /* borrowed */
    int asked;         /* asks not answered yet */
    int n;             /* completions */
    bool held;         /* the last completion carried MORE */
    bool cancelled;    /* a cancel was issued; its final completion ends the op */
    int32_t last;
    int nmore;     /* completions with MORE */
    uint8_t *data; /* owned: received bytes, in order */
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

#define SUITE(be)                                                                                  \
    {                                                                                              \
        IO_T(io_recv_keep_asks, be), IO_T(io_recv_keep_fallback, be),                              \
            IO_T(io_recv_keep_backpressure, be), IO_T(io_recv_keep_cancel, be),                    \
            IO_T(io_recv_keep_then_plain, be), IO_T(io_recv_unasked_no_spin, be),                  \
            IO_T(io_fd_reuse_after_plain_close, be)                                                \
    }

int rw_test_io_keep(void)
{
    return IO_RUN_BOTH("keep", SUITE);
}
