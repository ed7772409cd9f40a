/* SPDX-License-Identifier: MIT */
/* core/io conformance: one-shot and multishot recvs, the buffer pools (empty, bulk, bursts). */
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

#include <cmocka.h>

#include "core/io.h"
#include "test/unit/core/io_fixture.h"
#include "test/unit/core/tests.h"

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
    rec_give_back(r);
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
    /* Buffers back: the rest arrives through bulk buffers again, in order. */
    rec_give_back(r);
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

#define SUITE(be)                                                                                  \
    {                                                                                              \
        IO_T(io_recv_multishot, be), IO_T(io_recv_oneshot_and_eof, be),                            \
            IO_T(io_recv_enobufs_then_rearm, be), IO_T(io_recv_bulk_and_fallback, be),             \
            IO_T(io_recv_burst_within_pool, be)                                                    \
    }

int rw_test_io_recv(void)
{
    return IO_RUN_BOTH("recv", SUITE);
}
