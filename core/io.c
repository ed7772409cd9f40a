/* SPDX-License-Identifier: MIT */
/* Backend selection and the loop functions common to both backends. */
#include "core/io.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/io-int.h"
#include "core/log.h"
#include "core/rcu-int.h"
#include "core/rcu.h"

_Static_assert(RW__OP_ARMED == 1u, "rw_op_busy() in io.h tests bit 0 of _state");

static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static int probe_uring_res;

static void probe_uring_run(void)
{
    probe_uring_res = rw__io_uring_ops.probe();
}

/* The io_uring probe forks: run it once per process. */
static int probe_uring_cached(void)
{
    pthread_once(&probe_once, probe_uring_run);
    return probe_uring_res;
}

const struct rw_io_ops *rw_io_select(const char *name, int *err)
{
    int e;

    if (!name || strcmp(name, "auto") == 0) {
        if (probe_uring_cached() == 0)
            return &rw__io_uring_ops;
        name = "epoll";
    }
    if (strcmp(name, "io_uring") == 0) {
        e = probe_uring_cached();
        if (e == 0)
            return &rw__io_uring_ops;
    } else if (strcmp(name, "epoll") == 0) {
        e = rw__io_epoll_ops.probe();
        if (e == 0)
            return &rw__io_epoll_ops;
    } else {
        *err = -ENOTSUP;
        return NULL;
    }
    *err = -ENOSYS;
    return NULL;
}

static uint64_t clock_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The loop's clocks from one reading. */
static void loop_set_now(struct rw_loop *l, uint64_t ns)
{
    l->now_us = ns / 1000u;
    l->now_ms = ns / 1000000u;
}

static int loop_cfg_check(struct rw_loop_cfg *c)
{
    if (c->entries == 0)
        c->entries = 1024;
    if (c->buf_count == 0)
        c->buf_count = 1024;
    if (c->buf_size == 0)
        c->buf_size = 16384;
    if (c->bulk_count && c->bulk_size == 0)
        c->bulk_size = 131072;
    if (c->entries > 32768)
        return -EINVAL;
    return 0;
}

struct rw_loop *rw_loop_new(const struct rw_io_ops *ops, const struct rw_loop_cfg *cfg, int *err)
{
    struct rw_loop_cfg c = {0};
    struct rw_loop *l;
    int e;

    if (cfg)
        c = *cfg;
    e = loop_cfg_check(&c);
    if (e < 0 || !ops) {
        *err = e < 0 ? e : -EINVAL;
        return NULL;
    }
    l = calloc(1, sizeof(*l));
    if (!l) {
        *err = -ENOMEM;
        return NULL;
    }
    l->ops = ops;
    l->wake_fd = -1;
    l->buf_group = c.buf_group;
    l->entries = c.entries;
    loop_set_now(l, clock_ns());
    l->wheel = rw_wheel_new(l->now_ms);
    e = l->wheel ? rw_bufpool_init(&l->pool, c.buf_count, c.buf_size) : -ENOMEM;
    if (e == 0 && c.bulk_count)
        e = rw_bufpool_init(&l->bulk, c.bulk_count, c.bulk_size);
    if (e == 0)
        e = ops->init(l, &c);
    if (e < 0) {
        if (l->wake_fd >= 0)
            close(l->wake_fd);
        rw_bufpool_fini(&l->pool);
        rw_bufpool_fini(&l->bulk);
        rw_wheel_free(l->wheel);
        free(l);
        *err = e;
        return NULL;
    }
    return l;
}

void rw_loop_free(struct rw_loop *l)
{
    if (!l)
        return;
    l->ops->fini(l);
    if (l->wake_fd >= 0)
        close(l->wake_fd);
    rw_wheel_free(l->wheel);
    rw_bufpool_fini(&l->pool);
    rw_bufpool_fini(&l->bulk);
    while (l->ext_free) {
        struct rw__op_ext *x = l->ext_free;
        l->ext_free = x->next;
        free(x);
    }
    free(l);
}

const char *rw_loop_backend(const struct rw_loop *l)
{
    return l->ops->name;
}

const struct rw_io_ops *rw__loop_ops(const struct rw_loop *l)
{
    return l->ops;
}

uint64_t rw_loop_now(const struct rw_loop *l)
{
    return l->now_ms;
}

uint64_t rw_loop_now_us(const struct rw_loop *l)
{
    return l->now_us;
}

struct rw_wheel *rw_loop_wheel(struct rw_loop *l)
{
    return l->wheel;
}

uint8_t *rw_loop_buf(struct rw_loop *l, uint16_t bid)
{
    struct rw_bufpool *p = rw__loop_pool(l, &bid);

    return rw_bufpool_addr(p, bid);
}

uint32_t rw_loop_buf_size(const struct rw_loop *l)
{
    return l->pool.size;
}

void rw_loop_set_wake(struct rw_loop *l, rw_wake_fn *fn, void *arg)
{
    l->wake_fn = fn;
    l->wake_arg = arg;
}

void rw__loop_run_wake(struct rw_loop *l)
{
    if (l->wake_fn)
        l->wake_fn(l, l->wake_arg);
}

void rw__loop_wait_begin(struct rw_loop *l, bool offline)
{
    /* the turn's start stands for now: filling the rings since took no time */
    uint64_t now = l->turn_ns;

    if (l->busy_from && now > l->busy_from)
        l->busy_ns += now - l->busy_from;
    l->offline = offline && rw__rcu_registered();
    if (l->offline)
        rw_rcu_offline();
}

void rw__loop_wait_end(struct rw_loop *l)
{
    if (l->offline)
        rw_rcu_online();
    l->busy_from = clock_ns();
    loop_set_now(l, l->busy_from);
}

void rw_loop_stats(const struct rw_loop *l, uint64_t *iters, uint64_t *busy_ns)
{
    *iters = l->iters;
    *busy_ns = l->busy_ns;
}

/* The wait bound: the caller's timeout, cut to the next timer deadline. */
static int64_t loop_wait_ns(struct rw_loop *l, int64_t timeout_ns)
{
    int64_t next = rw_wheel_next_ms(l->wheel, l->now_ms);
    int64_t bound;

    if (next < 0)
        return timeout_ns;
    bound = next > INT64_MAX / 1000000 ? INT64_MAX : next * 1000000;
    if (timeout_ns < 0 || bound < timeout_ns)
        return bound;
    return timeout_ns;
}

int rw_loop_run_once(struct rw_loop *l, int64_t timeout_ns)
{
    int n;

    l->turn_ns = clock_ns();
    loop_set_now(l, l->turn_ns);
    l->iters++;
    n = l->ops->run_once(l, loop_wait_ns(l, timeout_ns));
    if (n < 0)
        return n;
    n += (int)rw_wheel_advance(l->wheel, l->now_ms);
    if (rw__rcu_registered())
        rw_rcu_quiescent();
    return n;
}

int rw__op_ext_get(struct rw_loop *l, struct rw_op *op)
{
    struct rw__op_ext *x = l->ext_free;
    if (x) {
        l->ext_free = x->next;
    } else {
        x = malloc(sizeof(*x));
        if (!x)
            return -ENOMEM;
        x->loop = l;
    }
    x->next = NULL;
    x->iovcnt = 0;
    x->done = x->total = 0;
    op->_x = x;
    return 0;
}

void rw__op_ext_put(struct rw_op *op)
{
    struct rw__op_ext *x = op->_x;
    if (!x)
        return;
    op->_x = NULL;
    x->next = x->loop->ext_free;
    x->loop->ext_free = x;
}

int rw__op_set_iov(struct rw_loop *l, struct rw_op *op, const struct iovec *iov, int n)
{
    size_t total = 0;

    if (n < 0 || n > RW_IO_MAX_IOV || (n > 0 && !iov))
        return -EINVAL;
    int err = rw__op_ext_get(l, op);
    if (err < 0)
        return err;
    struct rw__op_ext *x = op->_x;
    for (int i = 0; i < n; i++) {
        x->iov[i] = iov[i];
        total += iov[i].iov_len;
    }
    x->iovcnt = (uint16_t)n;
    x->total = total;
    x->done = 0;
    return 0;
}

void rw__op_iov_advance(struct rw_op *op, size_t n)
{
    struct rw__op_ext *x = op->_x;
    unsigned i = 0, k = 0;

    while (i < x->iovcnt && n >= x->iov[i].iov_len) {
        n -= x->iov[i].iov_len;
        i++;
    }
    if (i < x->iovcnt) {
        x->iov[i].iov_base = (uint8_t *)x->iov[i].iov_base + n;
        x->iov[i].iov_len -= n;
    }
    for (; i < x->iovcnt; i++, k++)
        x->iov[k] = x->iov[i];
    x->iovcnt = (uint16_t)k;
}

void rw__op_complete(struct rw_op *op, int32_t res, uint32_t flags, uint16_t bid)
{
    struct rw_cqe cqe = {.res = res, .flags = flags, .bid = bid};

    if (!(flags & RW_CQE_MORE)) {
        op->_state = 0;
        rw__op_ext_put(op);
    }
    op->cb(op, &cqe);
}
