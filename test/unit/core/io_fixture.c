/* SPDX-License-Identifier: MIT */
/* Shared fixture of the core/io conformance tests (see io_fixture.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "test/unit/core/io_fixture.h"

bool g_in_start;

struct backend rw_io_be_uring = {"io_uring", NULL};
/* as a kernel that refuses the fixed-file table (or the table's registration failed) */
struct backend rw_io_be_uring_nofiles = {"io_uring", "RW_TEST_IO_URING_NO_FIXED_FILES"};
/* every wait coalesces (core/io_uring-int.h), as a busy loop's do */
struct backend rw_io_be_uring_co = {"io_uring", "RW_TEST_IO_URING_COALESCE_ALWAYS"};
struct backend rw_io_be_epoll = {"epoll", NULL};

void rec_cb(struct rw_op *op, const struct rw_cqe *c)
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

struct rec *rec_new(struct rw_loop *l)
{
    struct rec *r = calloc(1, sizeof(*r));

    r->op.cb = rec_cb;
    r->op.owner = r;
    r->l = l;
    return r;
}

void rec_free(struct rec *r)
{
    free(r->data);
    free(r);
}

void rec_give_back(struct rec *r)
{
    for (int i = 0; i < r->nkept; i++)
        rw_loop_buf_put(r->l, r->kept[i]);
    r->nkept = 0;
    r->keep_bufs = false;
}

void run_until(struct rw_loop *l, const int *counter, int target)
{
    for (int i = 0; i < MAX_TURNS && *counter < target; i++)
        assert_true(rw_loop_run_once(l, TURN_NS) >= 0);
    assert_true(*counter >= target);
}

/* A few more turns, to show that nothing else arrives. */
void run_idle(struct rw_loop *l, int turns)
{
    for (int i = 0; i < turns; i++)
        assert_true(rw_loop_run_once(l, 2 * 1000 * 1000) >= 0);
}

/* A loop on f's backend, made with env set to val (if env). */
static struct rw_loop *fx_loop(struct fx *f, const char *env, const char *val)
{
    struct rw_loop_cfg cfg = {.backend = f->ops->name,
                              .entries = 64,
                              .buf_count = 64,
                              .buf_size = 4096,
                              .fixed_files = true,
                              .coalesce_us = FX_COALESCE_US};
    struct rw_loop *l;
    int err = 0;

    if (env)
        setenv(env, val, 1);
    l = rw_loop_new(f->ops, &cfg, &err);
    if (env)
        unsetenv(env);
    assert_non_null(l);
    assert_string_equal(rw_loop_backend(l), f->ops->name);
    return l;
}

int fx_setup(void **state)
{
    const struct backend *be = *state;
    struct fx *f = calloc(1, sizeof(*f));
    int err = 0;

    f->ops = rw_io_select(be->name, &err);
    f->env = be->env;
    if (f->ops)
        f->l = fx_loop(f, be->env, "1");
    *state = f;
    return 0;
}

void fx_reopen(struct fx *f, const char *env, const char *val)
{
    rw_loop_free(f->l);
    /* the test's hook joins the group's */
    if (f->env)
        setenv(f->env, "1", 1);
    f->l = fx_loop(f, env, val);
    if (f->env)
        unsetenv(f->env);
}

int fx_teardown(void **state)
{
    struct fx *f = *state;

    rw_loop_free(f->l);
    free(f);
    return 0;
}

struct fx *fx_get(void **state)
{
    struct fx *f = *state;

    if (!f->l)
        skip(); /* backend not usable on this host */
    return f;
}

int tcp_listener(uint16_t *port)
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

struct sockaddr_in loopback(uint16_t port)
{
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    return sa;
}

/* A blocking client connected to port (the kernel completes it from the backlog). */
int tcp_client(uint16_t port)
{
    struct sockaddr_in sa = loopback(port);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

void stream_pair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
}

void write_all(int fd, const void *p, size_t n)
{
    assert_int_equal(write(fd, p, n), (ssize_t)n);
}
