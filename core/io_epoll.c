/* SPDX-License-Identifier: MIT */
/* The epoll backend: emulates the completion contract with readiness + syscalls. */
#include "core/io-int.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/log.h"

/*
 * Level-triggered, one registration per fd, interest = the pending ops (EPOLLIN
 * for accept/recv, EPOLLOUT for send/connect). Level-triggered because we drain
 * at most EP_DRAIN_MAX accepts/buffers per fd per turn for fairness: whatever is
 * left is simply reported again next turn, with no "still readable" bookkeeping
 * that edge-triggering would need. The interest mask only changes when an op
 * starts or ends, so a long-lived multishot recv costs no epoll_ctl per turn.
 *
 * Completions run from ep_run_once() only: readiness handlers call back directly
 * (we are inside run_once), and results known at start time (inline sends,
 * connects, close, cancel, empty pool) go through the ready list, dispatched in
 * the same turn. A ready op keeps its result in _pad.
 */

#define EP_MAX_EVENTS 256
#define EP_DRAIN_MAX 16
#define EP_WAKE_DATA UINT64_MAX

struct ep_fd {
    struct rw_op *rd; /* borrowed: pending accept/recv */
    struct rw_op *wr; /* borrowed: pending send/connect */
    uint32_t gen;     /* bumped on EPOLL_CTL_ADD: stale events carry an old one */
    uint32_t mask;    /* registered events, 0 = not registered */
};

struct ep {
    int epfd;
    struct ep_fd *fds; /* owned: indexed by fd, grown on demand */
    uint32_t nfds;
    struct rw_op *ready_head; /* borrowed ops whose result is known */
    struct rw_op *ready_tail;
    struct epoll_event evs[EP_MAX_EVENTS];
};

/* The per-fd table is an anonymous mapping grown with mremap: pages past the
 * highest fd in use are never touched (a realloc that zeroed the doubled table cost
 * up to 48 bytes per open connection). */
static int ep_slot(struct ep *b, int fd, struct ep_fd **out)
{
    if (fd < 0)
        return -EBADF;
    if ((uint32_t)fd >= b->nfds) {
        uint32_t n = b->nfds ? b->nfds : 1024;
        void *p;

        while (n <= (uint32_t)fd)
            n *= 2;
        if (b->fds)
            p = mremap(b->fds, b->nfds * sizeof(struct ep_fd), n * sizeof(struct ep_fd),
                       MREMAP_MAYMOVE);
        else
            p = mmap(NULL, n * sizeof(struct ep_fd), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return -ENOMEM;
        b->fds = p; /* new pages read as zero */
        b->nfds = n;
    }
    *out = &b->fds[fd];
    return 0;
}

static int ep_ctl(struct ep *b, int how, int fd, uint32_t events, uint32_t gen)
{
    struct epoll_event ev = {.events = events, .data.u64 = ((uint64_t)gen << 32) | (uint32_t)fd};

    return epoll_ctl(b->epfd, how, fd, &ev) < 0 ? -errno : 0;
}

/* Make fd's registration cover its pending ops. With keep_in, a registered EPOLLIN
 * stays even without a reader: a connection reads again soon after each read (the
 * next request, the next response), and dropping and re-adding the interest cost
 * two epoll_ctl calls per request. An event that finds no reader removes it then
 * (ep_on_event). Cancels and errors pass keep_in false: a socket closed with
 * close(2) after a cancel must not stay registered under a reused number. */
static int ep_sync(struct ep *b, int fd, bool keep_in)
{
    struct ep_fd *e = &b->fds[fd];
    uint32_t want = (e->rd ? EPOLLIN : 0) | (e->wr ? EPOLLOUT : 0);
    int err;

    if (keep_in)
        want |= e->mask & EPOLLIN;
    if (want == e->mask)
        return 0;
    if (want == 0) {
        e->mask = 0;
        return epoll_ctl(b->epfd, EPOLL_CTL_DEL, fd, NULL) < 0 ? -errno : 0;
    }
    if (e->mask == 0) {
        e->gen++;
        err = ep_ctl(b, EPOLL_CTL_ADD, fd, want, e->gen);
        if (err == -EEXIST) /* registered behind our back (dup'ed fd) */
            err = ep_ctl(b, EPOLL_CTL_MOD, fd, want, e->gen);
    } else {
        err = ep_ctl(b, EPOLL_CTL_MOD, fd, want, e->gen);
        if (err == -ENOENT) /* fd was closed and reused without rw_io_close */
            err = ep_ctl(b, EPOLL_CTL_ADD, fd, want, ++e->gen);
    }
    if (err == 0)
        e->mask = want;
    return err;
}

/* fd was just made (accept4, or a socket about to connect or listen): any state we
 * hold under its number belongs to an earlier file that was closed, perhaps with
 * close(2) while its EPOLLIN was kept, and the kernel dropped that registration
 * with it. Forget it, so the first op registers afresh (an ADD that finds the fd
 * registered after all falls back to MOD). */
static void ep_fd_new(struct ep *b, int fd)
{
    if (fd >= 0 && (uint32_t)fd < b->nfds && !b->fds[fd].rd && !b->fds[fd].wr)
        b->fds[fd].mask = 0;
}

static void ep_ready_push(struct ep *b, struct rw_op *op, int32_t res)
{
    op->_state |= RW__OP_READY;
    op->_pad = (uint32_t)res;
    op->_next = NULL;
    if (b->ready_tail)
        b->ready_tail->_next = op;
    else
        b->ready_head = op;
    b->ready_tail = op;
}

/* Only the ops queued before this call run; ops they queue wait for the next
 * turn (whose wait is then 0), so a callback cannot starve the loop. */
static int ep_ready_run(struct ep *b)
{
    struct rw_op *op = b->ready_head;
    int n = 0;

    b->ready_head = b->ready_tail = NULL;
    while (op) {
        struct rw_op *next = op->_next;

        op->_next = NULL;
        rw__op_complete(op, (int32_t)op->_pad, 0, 0);
        op = next;
        n++;
    }
    return n;
}

/* Begin an op that is known to finish with res without waiting. */
static void ep_start_ready(struct ep *b, struct rw_op *op, int fd, uint8_t kind, int32_t res)
{
    op->_fd = fd;
    op->_kind = kind;
    op->_state = RW__OP_ARMED;
    ep_ready_push(b, op, res);
}

/* Begin an op that waits for readiness: park it in fd's rd or wr slot. */
static int ep_start_wait(struct ep *b, struct rw_op *op, int fd, uint8_t kind, uint8_t state,
                         bool wr)
{
    struct ep_fd *e;
    struct rw_op **slot;
    int err = ep_slot(b, fd, &e);

    if (err < 0)
        return err;
    slot = wr ? &e->wr : &e->rd;
    if (*slot)
        return -EBUSY;
    op->_fd = fd;
    op->_kind = kind;
    op->_state = (uint8_t)(RW__OP_ARMED | state);
    op->_next = NULL;
    *slot = op;
    err = ep_sync(b, fd, true);
    if (err < 0) {
        *slot = NULL;
        op->_state = 0;
    }
    return err;
}

/* Remove a waiting op from its slot (before its final completion or on cancel);
 * keep_in: it ended normally (ep_sync). */
static void ep_detach_as(struct ep *b, struct rw_op *op, bool keep_in)
{
    struct ep_fd *e = &b->fds[op->_fd];

    if (e->rd == op)
        e->rd = NULL;
    else if (e->wr == op)
        e->wr = NULL;
    else
        return;
    (void)ep_sync(b, op->_fd, keep_in); /* a failed DEL/MOD only means the fd is gone */
}

static void ep_detach(struct ep *b, struct rw_op *op)
{
    ep_detach_as(b, op, false);
}

static bool ep_still(const struct ep *b, int fd, const struct rw_op *op)
{
    return (uint32_t)fd < b->nfds && (b->fds[fd].rd == op || b->fds[fd].wr == op);
}

static bool ep_slot_busy(struct ep *b, int fd, bool wr)
{
    struct ep_fd *e;

    if (ep_slot(b, fd, &e) < 0)
        return false; /* ep_start_wait reports the error */
    return wr ? e->wr != NULL : e->rd != NULL;
}

static int ep_accept(struct rw_loop *l, struct rw_op *op, int lfd)
{
    if (op->_state & RW__OP_ARMED)
        return -EBUSY;
    ep_fd_new(l->be, lfd);
    return ep_start_wait(l->be, op, lfd, RW_OP_ACCEPT, RW__OP_MULTI, false);
}

static int ep_recv(struct rw_loop *l, struct rw_op *op, int fd, unsigned flags)
{
    struct ep *b = l->be;
    uint8_t st = (flags & RW_RECV_MULTISHOT) ? RW__OP_MULTI : 0;

    if (op->_state & RW__OP_ARMED)
        return -EBUSY;
    if (fd < 0)
        return -EBADF;
    if (ep_slot_busy(b, fd, false))
        return -EBUSY;
    if ((flags & RW_RECV_BULK) && l->bulk.count)
        st |= RW__OP_BULK;
    /* Like a provided-buffer ring that is empty: the op ends at once. */
    if (l->pool.nfree == 0 && !((st & RW__OP_BULK) && l->bulk.nfree)) {
        ep_start_ready(b, op, fd, RW_OP_RECV, -ENOBUFS);
        return 0;
    }
    return ep_start_wait(b, op, fd, RW_OP_RECV, st, false);
}

/* Write as much as the socket takes: 1 when all is sent, 0 on EAGAIN, or -errno. */
static int ep_send_some(struct rw_op *op)
{
    struct rw__op_ext *x = op->_x;
    while (x->done < x->total) {
        struct msghdr m = {.msg_iov = x->iov, .msg_iovlen = x->iovcnt};
        ssize_t n = sendmsg(op->_fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno;
        }
        x->done += (size_t)n;
        rw__op_iov_advance(op, (size_t)n);
    }
    return 1;
}

static int ep_send(struct rw_loop *l, struct rw_op *op, int fd, const struct iovec *iov, int n)
{
    struct ep *b = l->be;
    int err;

    if (op->_state & RW__OP_ARMED)
        return -EBUSY;
    if (fd < 0)
        return -EBADF;
    if (ep_slot_busy(b, fd, true))
        return -EBUSY;
    err = rw__op_set_iov(l, op, iov, n);
    if (err < 0)
        return err;
    if (op->_x->total > INT32_MAX) {
        rw__op_ext_put(op);
        return -EINVAL;
    }
    op->_fd = fd;
    err = ep_send_some(op);
    if (err != 0) {
        ep_start_ready(b, op, fd, RW_OP_SEND, err < 0 ? err : (int32_t)op->_x->total);
        return 0;
    }
    err = ep_start_wait(b, op, fd, RW_OP_SEND, 0, true);
    if (err < 0)
        rw__op_ext_put(op);
    return err;
}

static int ep_connect(struct rw_loop *l, struct rw_op *op, int fd, const struct sockaddr *sa,
                      socklen_t len)
{
    struct ep *b = l->be;

    if (op->_state & RW__OP_ARMED)
        return -EBUSY;
    if (fd < 0)
        return -EBADF;
    if (len > sizeof(struct sockaddr_storage))
        return -EINVAL;
    if (ep_slot_busy(b, fd, true))
        return -EBUSY;
    ep_fd_new(b, fd);
    if (connect(fd, sa, len) == 0) {
        ep_start_ready(b, op, fd, RW_OP_CONNECT, 0);
        return 0;
    }
    /* EINTR on a non-blocking connect: it still proceeds in the background. */
    if (errno != EINPROGRESS && errno != EINTR) {
        ep_start_ready(b, op, fd, RW_OP_CONNECT, -errno);
        return 0;
    }
    return ep_start_wait(b, op, fd, RW_OP_CONNECT, 0, true);
}

static int ep_close(struct rw_loop *l, struct rw_op *op, int fd)
{
    struct ep *b = l->be;
    int res;

    if (op->_state & RW__OP_ARMED)
        return -EBUSY;
    if (fd < 0)
        return -EBADF;
    if ((uint32_t)fd < b->nfds) {
        struct ep_fd *e = &b->fds[fd];

        /* The contract asks callers to cancel first; stragglers end as cancelled. */
        if (e->rd)
            ep_ready_push(b, e->rd, -ECANCELED);
        if (e->wr)
            ep_ready_push(b, e->wr, -ECANCELED);
        e->rd = e->wr = NULL;
        if (e->mask)
            epoll_ctl(b->epfd, EPOLL_CTL_DEL, fd, NULL);
        e->mask = 0;
    }
    /* Linux releases the fd even when close(2) reports EINTR. */
    res = close(fd) < 0 && errno != EINTR ? -errno : 0;
    ep_start_ready(b, op, fd, RW_OP_CLOSE, res);
    return 0;
}

static int ep_cancel(struct rw_loop *l, struct rw_op *target)
{
    struct ep *b = l->be;

    if (!(target->_state & RW__OP_ARMED))
        return -ENOENT;
    target->_state |= RW__OP_CANCEL;
    if (target->_state & RW__OP_READY)
        return 0; /* its result is already queued: that is the final completion */
    ep_detach(b, target);
    ep_ready_push(b, target, -ECANCELED);
    return 0;
}

static void ep_buf_put(struct rw_loop *l, uint16_t bid)
{
    struct rw_bufpool *p = rw__loop_pool(l, &bid);

    rw_bufpool_put(p, bid);
}

static int ep_wake(struct rw_loop *l)
{
    uint64_t one = 1;

    if (write(l->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        return -errno;
    return 0;
}

static void ep_do_accept(struct ep *b, int fd, struct rw_op *op)
{
    for (int i = 0; i < EP_DRAIN_MAX && ep_still(b, fd, op); i++) {
        int nfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (nfd >= 0) {
            ep_fd_new(b, nfd);
            rw__op_complete(op, nfd, RW_CQE_MORE, 0);
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        /* Like io_uring's multishot accept, an error ends the op. */
        nfd = -errno;
        ep_detach(b, op);
        rw__op_complete(op, nfd, 0, 0);
        return;
    }
}

static void ep_do_recv(struct rw_loop *l, struct ep *b, int fd, struct rw_op *op)
{
    bool multi = op->_state & RW__OP_MULTI;
    int limit = multi ? EP_DRAIN_MAX : 1;

    for (int i = 0; i < limit && ep_still(b, fd, op); i++) {
        /* a bulk recv falls back to a normal buffer when the bulk pool is empty */
        struct rw_bufpool *p = (op->_state & RW__OP_BULK) && l->bulk.nfree ? &l->bulk : &l->pool;
        int bid = rw_bufpool_take(p);
        uint16_t tag = p == &l->bulk ? RW__BID_BULK : 0;
        ssize_t n;
        int err;

        if (bid < 0) {
            ep_detach(b, op);
            rw__op_complete(op, -ENOBUFS, 0, 0);
            return;
        }
        n = recv(fd, rw_bufpool_addr(p, (uint16_t)bid), p->size, MSG_DONTWAIT);
        if (n > 0) {
            if (!multi)
                ep_detach_as(b, op, true);
            rw__op_complete(op, (int32_t)n, RW_CQE_BUF | (multi ? RW_CQE_MORE : 0),
                            (uint16_t)(bid | tag));
            /* A short read almost always drained the socket; level-triggered
             * epoll reports it again if not. */
            if ((size_t)n < p->size)
                return;
            continue;
        }
        err = n == 0 ? 0 : errno;
        rw_bufpool_put(p, (uint16_t)bid);
        if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR)
            return;
        ep_detach(b, op);
        rw__op_complete(op, -err, 0, 0);
        return;
    }
}

static void ep_do_write(struct ep *b, int fd, struct rw_op *op)
{
    int res;

    if (op->_kind == RW_OP_CONNECT) {
        int err = 0;
        socklen_t len = sizeof(err);

        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        res = -err;
    } else {
        res = ep_send_some(op);
        if (res == 0)
            return;
        if (res > 0)
            res = (int)op->_x->total;
    }
    ep_detach_as(b, op, res >= 0);
    rw__op_complete(op, res, 0, 0);
}

static void ep_on_wake(struct rw_loop *l)
{
    uint64_t v;

    while (read(l->wake_fd, &v, sizeof(v)) < 0 && errno == EINTR)
        ;
    rw__loop_run_wake(l);
}

static void ep_on_event(struct rw_loop *l, struct ep *b, const struct epoll_event *ev)
{
    int fd = (int)(uint32_t)ev->data.u64;
    uint32_t gen = (uint32_t)(ev->data.u64 >> 32);
    uint32_t rd_ev = EPOLLIN | EPOLLERR | EPOLLHUP, wr_ev = EPOLLOUT | EPOLLERR | EPOLLHUP;
    struct ep_fd *e;

    if (ev->data.u64 == EP_WAKE_DATA) {
        ep_on_wake(l);
        return;
    }
    /* Earlier callbacks in this batch may have closed fd, or closed and reused it. */
    if ((uint32_t)fd >= b->nfds || b->fds[fd].gen != gen || b->fds[fd].mask == 0)
        return;
    e = &b->fds[fd];
    bool reader = e->rd != NULL;
    if ((ev->events & rd_ev) && e->rd) {
        if (e->rd->_kind == RW_OP_ACCEPT)
            ep_do_accept(b, fd, e->rd);
        else
            ep_do_recv(l, b, fd, e->rd);
    }
    if ((uint32_t)fd >= b->nfds || b->fds[fd].gen != gen)
        return;
    e = &b->fds[fd];
    if ((ev->events & wr_ev) && e->wr)
        ep_do_write(b, fd, e->wr);
    /* input (or a hangup) that nobody waits for: drop the kept EPOLLIN, or it is
     * reported again every turn */
    if (!reader && (ev->events & rd_ev) && (uint32_t)fd < b->nfds && b->fds[fd].gen == gen &&
        !b->fds[fd].rd && b->fds[fd].mask)
        (void)ep_sync(b, fd, false);
}

static int ep_timeout_ms(int64_t timeout_ns)
{
    int64_t ms;

    if (timeout_ns < 0)
        return -1;
    /* Round up: waking early would only spin until the timer is due. */
    ms = timeout_ns / 1000000 + (timeout_ns % 1000000 != 0);
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

static int ep_run_once(struct rw_loop *l, int64_t timeout_ns)
{
    struct ep *b = l->be;
    int timeout = b->ready_head ? 0 : ep_timeout_ms(timeout_ns);
    int n;

    if (timeout != 0)
        rw__loop_wait_begin(l, true);
    n = epoll_wait(b->epfd, b->evs, EP_MAX_EVENTS, timeout);
    if (timeout != 0)
        rw__loop_wait_end(l); /* else the turn's start time stands */
    if (n < 0) {
        if (errno != EINTR)
            return -errno;
        n = 0;
    }
    for (int i = 0; i < n; i++)
        ep_on_event(l, b, &b->evs[i]);
    return n + ep_ready_run(b);
}

static int ep_probe(void)
{
    int fd = epoll_create1(EPOLL_CLOEXEC);

    if (fd < 0)
        return -errno;
    close(fd);
    return 0;
}

static void ep_fini(struct rw_loop *l)
{
    struct ep *b = l->be;

    if (!b)
        return;
    if (b->epfd >= 0)
        close(b->epfd);
    if (b->fds)
        munmap(b->fds, b->nfds * sizeof(struct ep_fd));
    free(b);
    l->be = NULL;
}

static int ep_init(struct rw_loop *l, const struct rw_loop_cfg *cfg)
{
    struct ep *b = calloc(1, sizeof(*b));
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = EP_WAKE_DATA};
    int err;

    if (!b)
        return -ENOMEM;
    l->be = b;
    b->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (b->epfd < 0)
        goto fail;
    l->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->wake_fd < 0)
        goto fail;
    if (epoll_ctl(b->epfd, EPOLL_CTL_ADD, l->wake_fd, &ev) < 0)
        goto fail;
    return 0;
fail:
    err = -errno;
    ep_fini(l);
    return err;
}

const struct rw_io_ops rw__io_epoll_ops = {
    .name = "epoll",
    .probe = ep_probe,
    .init = ep_init,
    .fini = ep_fini,
    .accept = ep_accept,
    .recv = ep_recv,
    .send = ep_send,
    .connect = ep_connect,
    .close = ep_close,
    .cancel = ep_cancel,
    .buf_put = ep_buf_put,
    .run_once = ep_run_once,
    .wake = ep_wake,
};
