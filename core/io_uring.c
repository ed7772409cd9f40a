/* SPDX-License-Identifier: MIT */
/* The io_uring backend (liburing 2.3): multishot accept/recv over a provided-buffer ring. */
#include "core/io_uring-int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>

#include "core/log.h"

#define UR_PROBE_TIMEOUT_MS 2000
#define UR_RING_WANT 64 /* buffers a provided-buffer ring starts topped up to */

/*
 * A provided-buffer ring fed from its pool's free stack. Only `want` buffers sit in
 * the ring; the rest wait on the stack, the most recently returned on top, so the
 * kernel receives into buffers that are still in cache. (A ring holding the whole
 * pool hands out every buffer in turn: 16 MiB of cold memory for 1024 x 16 KiB, and
 * copy_to_iter of a 300-byte request was 4.5% of the proxy's samples.) A recv that
 * finds the ring empty while the stack is not widens the window and is re-issued:
 * callers see -ENOBUFS only when the pool is really empty.
 */
struct ur_ring {
    struct io_uring_buf_ring *br; /* owned (posix_memalign); NULL: no such pool */
    struct rw_bufpool *pool;      /* borrowed: the loop's */
    unsigned mask;
    uint32_t in;   /* buffers in the ring (added, not yet reported consumed) */
    uint32_t want; /* the ring is topped up to this many */
    bool added;    /* buffers were added since the kernel last ran */
};

enum { UR_NORMAL = 0, UR_BULK = 1 };

struct ur {
    struct io_uring ring;
    struct ur_ring rings[2]; /* UR_NORMAL, UR_BULK (group buf_group + 1) */
    struct rw_op *ready;     /* KEEP recvs to answer from what they kept (via _next) */
    uint32_t keep_limit;     /* KEEP: per-recv and per-arm byte limit; 0: no KEEP here */
    bool keep_refused;       /* test hook: KEEP recvs are sent as a pre-6.17 kernel sees them */
    bool ring_ok;      /* ring initialised */
    bool reg_ring;     /* the ring fd is registered */
    bool min_wait;     /* the kernel has min_wait: waits enter through rw__ur_enter */
    bool wake_armed;   /* the eventfd read is in flight */
    uint64_t wake_val; /* target of the eventfd read */
    /* sockets named by a slot of the ring's fixed-file table */
    struct rw__ur_files files;
    struct rw__ur_co co; /* coalesced waits (min_wait) */
};

/* Setup flags, best first; each later set is tried only on -EINVAL. */
static const unsigned ur_flag_sets[] = {
    IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER |
        IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
    IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
        IORING_SETUP_TASKRUN_FLAG,
    IORING_SETUP_CQSIZE,
    0,
};

static int ur_queue_init(struct io_uring *ring, unsigned entries)
{
    int ret = -EINVAL;

    for (size_t i = 0; i < sizeof(ur_flag_sets) / sizeof(ur_flag_sets[0]); i++) {
        struct io_uring_params p;

        memset(&p, 0, sizeof(p));
        p.flags = ur_flag_sets[i];
        if (p.flags & IORING_SETUP_CQSIZE) {
            p.flags |= IORING_SETUP_CLAMP; /* entries * 4 may exceed the CQ limit */
            p.cq_entries = entries * 4;
        }
        ret = io_uring_queue_init_params(entries, ring, &p);
        if (ret != -EINVAL)
            return ret;
    }
    return ret;
}

/* Register an empty buffer ring of n entries (power of two) for group bgid. */
static int ur_bufring_register(struct io_uring *ring, unsigned n, uint16_t bgid,
                               struct io_uring_buf_ring **out)
{
    struct io_uring_buf_reg reg;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t bytes = ((n * sizeof(struct io_uring_buf)) + page - 1) & ~(page - 1);
    void *mem;
    int ret;

    if (posix_memalign(&mem, page, bytes) != 0)
        return -ENOMEM;
    memset(mem, 0, bytes);
    memset(&reg, 0, sizeof(reg));
    reg.ring_addr = (uint64_t)(uintptr_t)mem;
    reg.ring_entries = n;
    reg.bgid = bgid;
    ret = io_uring_register_buf_ring(ring, &reg, 0);
    if (ret < 0) {
        free(mem);
        return ret;
    }
    *out = mem;
    io_uring_buf_ring_init(*out);
    return 0;
}

static struct io_uring_sqe *ur_sqe(struct ur *u)
{
    return rw__ur_sqe(&u->ring);
}

/* Top r up to its window from the free stack, hottest buffers first. */
static void ur_ring_fill(struct ur_ring *r)
{
    int n = 0;

    while (r->in < r->want) {
        int bid = rw_bufpool_pop(r->pool);

        if (bid < 0)
            break;
        io_uring_buf_ring_add(r->br, rw_bufpool_addr(r->pool, (uint16_t)bid), r->pool->size,
                              (unsigned short)bid, (int)r->mask, n++);
        r->in++;
    }
    if (n) {
        io_uring_buf_ring_advance(r->br, n);
        r->added = true;
    }
}

/* Register pool p, all free, as provided-buffer group bgid. */
static int ur_ring_init(struct ur *u, struct ur_ring *r, struct rw_bufpool *p, uint16_t bgid)
{
    int ret = ur_bufring_register(&u->ring, p->count, bgid, &r->br);

    if (ret < 0)
        return ret;
    r->pool = p;
    r->mask = (unsigned)io_uring_buf_ring_mask(p->count);
    r->want = p->count < UR_RING_WANT ? p->count : UR_RING_WANT;
    ur_ring_fill(r);
    return 0;
}

static void ur_arm_wake(struct rw_loop *l, struct ur *u)
{
    struct io_uring_sqe *sqe = ur_sqe(u);

    if (!sqe)
        return; /* retried at the start of the next turn */
    io_uring_prep_read(sqe, l->wake_fd, &u->wake_val, sizeof(u->wake_val), 0);
    io_uring_sqe_set_data64(sqe, RW__UD_WAKE);
    u->wake_armed = true;
}

static void ur_fini(struct rw_loop *l)
{
    struct ur *u = l->be;

    if (!u)
        return;
    /* Tear the ring down before freeing memory the kernel may still reference. */
    if (u->ring_ok) {
        rw__ur_files_fini(&u->files, &u->ring);
        io_uring_queue_exit(&u->ring);
    }
    free(u->rings[UR_NORMAL].br);
    free(u->rings[UR_BULK].br);
    free(u);
    l->be = NULL;
}

static int ur_init(struct rw_loop *l, const struct rw_loop_cfg *cfg)
{
    struct ur *u = calloc(1, sizeof(*u));
    int ret;

    if (!u)
        return -ENOMEM;
    l->be = u;
    ret = ur_queue_init(&u->ring, cfg->entries);
    if (ret < 0)
        goto fail;
    u->ring_ok = true;
    /* io_uring_enter then skips the ring fd lookup; failure (old kernel) is harmless */
    u->reg_ring = io_uring_register_ring_fd(&u->ring) == 1;
    u->min_wait = (u->ring.features & IORING_FEAT_MIN_TIMEOUT) &&
                  !getenv("RW_TEST_IO_URING_NO_MIN_WAIT");
    /* Test hook: every wait coalesces, with the loop's budget or else the hook's value
     * in microseconds (loops configured without one) */
    const char *always = getenv("RW_TEST_IO_URING_COALESCE_ALWAYS");
    uint32_t budget = cfg->coalesce_us;
    if (always && !budget)
        budget = (uint32_t)strtoul(always, NULL, 10);
    rw__ur_co_init(&u->co, u->min_wait ? budget : 0, always != NULL, l->turn_ns);
    rw__ur_files_init(&u->files, &u->ring, cfg->fixed_files);
    /* Half a buffer per recv and per arm: what one arm brings while nobody asks then
     * always fits in one buffer (the kernel stops an arm once its limit is reached,
     * after a recv of at most the per-recv limit). Kernels before 6.17 refuse the
     * limit (-EINVAL on the first KEEP recv): KEEP falls back to ONESHOT there. */
    u->keep_limit = l->pool.size / 2 <= UINT16_MAX ? l->pool.size / 2 : 0;
    /* Tests of the fallback on kernels that have the limit: the first KEEP recv is
     * made invalid (addr2), so the kernel answers -EINVAL as an older one does. */
    u->keep_refused = getenv("RW_TEST_IO_URING_NO_RECV_LIMIT") != NULL;
    ret = ur_ring_init(u, &u->rings[UR_NORMAL], &l->pool, l->buf_group);
    if (ret == 0 && l->bulk.count)
        ret = ur_ring_init(u, &u->rings[UR_BULK], &l->bulk, (uint16_t)(l->buf_group + 1));
    if (ret < 0)
        goto fail;
    /* Blocking eventfd: the ring's read must wait for a write, not fail EAGAIN. */
    l->wake_fd = eventfd(0, EFD_CLOEXEC);
    if (l->wake_fd < 0) {
        ret = -errno;
        goto fail;
    }
    ur_arm_wake(l, u);
    return 0;
fail:
    ur_fini(l);
    return ret;
}

/* Common start: claim an SQE and mark op in flight. NULL with *err on failure. */
static struct io_uring_sqe *ur_start(struct rw_loop *l, struct rw_op *op, int fd, uint8_t kind,
                                     int *err)
{
    struct ur *u = l->be;
    struct io_uring_sqe *sqe;

    if (op->_state & RW__OP_ARMED) {
        *err = -EBUSY;
        return NULL;
    }
    sqe = ur_sqe(u);
    if (!sqe) {
        *err = -EBUSY;
        return NULL;
    }
    op->_fd = fd;
    op->_kind = kind;
    op->_state = RW__OP_ARMED;
    op->_next = NULL;
    return sqe;
}

static int ur_accept(struct rw_loop *l, struct rw_op *op, int lfd)
{
    int err = 0;
    struct io_uring_sqe *sqe = ur_start(l, op, lfd, RW_OP_ACCEPT, &err);

    if (!sqe)
        return err;
    op->_state |= RW__OP_MULTI;
    io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    io_uring_sqe_set_data(sqe, op);
    return 0;
}

/* A recv SQE for op (its MULTI and BULK state bits say which). */
static void ur_prep_recv(struct rw_loop *l, struct io_uring_sqe *sqe, struct rw_op *op)
{
    struct ur *u = l->be;

    if (op->_state & RW__OP_KEEP) {
        io_uring_prep_recv_multishot(sqe, op->_fd, NULL, u->keep_limit, 0);
        /* the arm's byte limit (sqe->optlen, which liburing 2.3 calls file_index) */
        sqe->file_index = u->keep_limit;
        if (u->keep_refused)
            sqe->addr2 = 1;
    } else if (op->_state & RW__OP_MULTI) {
        io_uring_prep_recv_multishot(sqe, op->_fd, NULL, 0, 0);
    } else {
        io_uring_prep_recv(sqe, op->_fd, NULL, 0, 0);
    }
    /* The last recv emptied the socket (a request was read and its response is
     * being sent; a response was read and the server is idle): more bytes are not
     * there yet, so wait for them instead of trying a recv that fails first. */
    if (op->_hint & RW__HINT_DRAINED)
        sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = l->buf_group + ((op->_state & RW__OP_BULK) ? 1 : 0);
    io_uring_sqe_set_data(sqe, op);
    rw__ur_files_sqe(&u->files, &u->ring, sqe, op->_fd);
}

/* Answer a held KEEP recv after this batch of completions (never from inside
 * rw_io_recv or rw_io_cancel: the caller does not expect its callback there). */
static void ur_ready_push(struct ur *u, struct rw_op *op)
{
    if (op->_state & RW__OP_READY)
        return;
    op->_state |= RW__OP_READY;
    op->_next = u->ready;
    u->ready = op;
}

/* A held KEEP recv asked again: answer from what it kept, let the live multishot
 * answer, or arm again (a multishot if the caller still wants KEEP). */
static int ur_keep_ask(struct rw_loop *l, struct ur *u, struct rw_op *op, unsigned flags)
{
    struct io_uring_sqe *sqe;

    if (op->_state & (RW__OP_WANT | RW__OP_CANCEL))
        return -EBUSY;
    op->_state |= RW__OP_WANT;
    if (op->_hint & (RW__HINT_STASH | RW__HINT_TERM)) {
        ur_ready_push(u, op);
        return 0;
    }
    if (op->_state & RW__OP_LIVE)
        return 0;
    sqe = ur_sqe(u);
    if (!sqe) {
        op->_state &= (uint8_t)~RW__OP_WANT;
        return -EBUSY;
    }
    if (!(flags & RW_RECV_KEEP) || !u->keep_limit) {
        /* an ordinary recv from now on: its completion (no MORE) ends the op */
        op->_state &= (uint8_t)~(RW__OP_KEEP | RW__OP_MULTI);
        if ((flags & RW_RECV_BULK) && l->bulk.count)
            op->_state |= RW__OP_BULK;
    } else {
        op->_state |= RW__OP_LIVE;
    }
    ur_prep_recv(l, sqe, op);
    return 0;
}

static int ur_recv(struct rw_loop *l, struct rw_op *op, int fd, unsigned flags)
{
    struct ur *u = l->be;
    int err = 0;
    struct io_uring_sqe *sqe;

    if (op->_state & RW__OP_KEEP)
        return ur_keep_ask(l, u, op, flags);
    sqe = ur_start(l, op, fd, RW_OP_RECV, &err);
    if (!sqe)
        return err;
    if ((flags & RW_RECV_KEEP) && !(flags & RW_RECV_MULTISHOT) && u->keep_limit)
        op->_state |= RW__OP_KEEP | RW__OP_WANT | RW__OP_LIVE | RW__OP_MULTI;
    else if (flags & RW_RECV_MULTISHOT)
        op->_state |= RW__OP_MULTI;
    if ((flags & RW_RECV_BULK) && l->bulk.count && !(op->_state & RW__OP_KEEP))
        op->_state |= RW__OP_BULK;
    ur_prep_recv(l, sqe, op);
    return 0;
}

static void ur_prep_send(struct ur *u, struct io_uring_sqe *sqe, struct rw_op *op)
{
    struct rw__op_ext *x = op->_x;

    if (x->iovcnt == 1) {
        /* plain send: no msghdr and iovec to copy in */
        io_uring_prep_send(sqe, op->_fd, x->iov[0].iov_base, x->iov[0].iov_len, MSG_NOSIGNAL);
    } else {
        memset(&x->msg, 0, sizeof(x->msg));
        x->msg.msg_iov = x->iov;
        x->msg.msg_iovlen = x->iovcnt;
        io_uring_prep_sendmsg(sqe, op->_fd, &x->msg, MSG_NOSIGNAL);
    }
    io_uring_sqe_set_data(sqe, op);
    rw__ur_files_sqe(&u->files, &u->ring, sqe, op->_fd);
}

static int ur_send(struct rw_loop *l, struct rw_op *op, int fd, const struct iovec *iov, int n)
{
    struct io_uring_sqe *sqe;
    int err;

    if (op->_state & RW__OP_ARMED)
        return -EBUSY;
    err = rw__op_set_iov(l, op, iov, n);
    if (err < 0)
        return err;
    if (op->_x->total > INT32_MAX) {
        rw__op_ext_put(op);
        return -EINVAL;
    }
    if (op->_x->iovcnt > 1 && op->_x->total <= sizeof(op->_x->bounce)) {
        /* a response head and a small body: copying them is cheaper than the
         * msghdr and iovec import of a sendmsg */
        struct rw__op_ext *x = op->_x;
        size_t off = 0;

        for (unsigned i = 0; i < x->iovcnt; i++) {
            memcpy(x->bounce + off, x->iov[i].iov_base, x->iov[i].iov_len);
            off += x->iov[i].iov_len;
        }
        x->iov[0] = (struct iovec){x->bounce, off};
        x->iovcnt = 1;
    }
    sqe = ur_start(l, op, fd, RW_OP_SEND, &err);
    if (!sqe) {
        rw__op_ext_put(op);
        return err;
    }
    ur_prep_send(l->be, sqe, op);
    return 0;
}

static int ur_connect(struct rw_loop *l, struct rw_op *op, int fd, const struct sockaddr *sa,
                      socklen_t len)
{
    struct ur *u = l->be;
    struct io_uring_sqe *sqe;
    int err = 0;

    if (len > sizeof(struct sockaddr_storage))
        return -EINVAL;
    if (op->_state & RW__OP_ARMED)
        return -EBUSY;
    err = rw__op_ext_get(l, op);
    if (err < 0)
        return err;
    /* a socket the caller just made: any slot under its number is an older file's */
    rw__ur_files_new(&u->files, &u->ring, fd);
    sqe = ur_start(l, op, fd, RW_OP_CONNECT, &err);
    if (!sqe) {
        rw__op_ext_put(op);
        return err;
    }
    memcpy(&op->_x->sa, sa, len);
    op->_x->salen = len;
    io_uring_prep_connect(sqe, fd, (struct sockaddr *)&op->_x->sa, len);
    io_uring_sqe_set_data(sqe, op);
    rw__ur_files_sqe(&u->files, &u->ring, sqe, fd); /* the socket's first op: names the fd */
    return 0;
}

static int ur_close(struct rw_loop *l, struct rw_op *op, int fd)
{
    struct ur *u = l->be;
    int err = 0;
    struct io_uring_sqe *sqe;

    /* The slot goes first, even if the close cannot start: a caller then closes fd
     * with close(2), and a socket the table still held would stay open. */
    rw__ur_files_close(&u->files, &u->ring, fd);
    sqe = ur_start(l, op, fd, RW_OP_CLOSE, &err);
    if (!sqe)
        return err;
    io_uring_prep_close(sqe, fd);
    io_uring_sqe_set_data(sqe, op);
    return 0;
}

static int ur_cancel(struct rw_loop *l, struct rw_op *target)
{
    struct ur *u = l->be;
    struct io_uring_sqe *sqe;

    if (!(target->_state & RW__OP_ARMED))
        return -ENOENT;
    if ((target->_state & RW__OP_KEEP) && !(target->_state & RW__OP_LIVE)) {
        /* held with no kernel op: its final completion comes from the ready list */
        target->_state |= RW__OP_CANCEL;
        ur_ready_push(u, target);
        return 0;
    }
    sqe = ur_sqe(u);
    if (!sqe)
        return -EBUSY;
    /* Its own CQE (0, -ENOENT or -EALREADY) is swallowed: the target's final
     * completion is the only answer the caller sees. */
    io_uring_prep_cancel(sqe, target, 0);
    io_uring_sqe_set_data64(sqe, RW__UD_IGNORE);
    target->_state |= RW__OP_CANCEL;
    return 0;
}

/* Back on the free stack: it re-enters the ring at the next top-up (next turn). */
static void ur_buf_put(struct rw_loop *l, uint16_t bid)
{
    struct rw_bufpool *p = rw__loop_pool(l, &bid);

    rw_bufpool_put(p, bid);
}

/* A recv found its ring empty. If its pool still has free buffers the window was
 * too small: widen it, top it up and re-issue the recv. A bulk recv whose pool is
 * really empty is re-issued on the normal ring. false: -ENOBUFS is the answer. */
static bool ur_enobufs(struct rw_loop *l, struct ur *u, struct rw_op *op)
{
    struct ur_ring *r = &u->rings[(op->_state & RW__OP_BULK) ? UR_BULK : UR_NORMAL];
    struct io_uring_sqe *sqe;

    if (op->_state & RW__OP_CANCEL)
        return false;
    if (!r->added)
        r->in = 0; /* nothing added since the kernel found it empty: it is */
    if (r->pool->nfree) {
        r->want = r->want * 2 < r->pool->count ? r->want * 2 : r->pool->count;
        ur_ring_fill(r);
    }
    if (r->in == 0 && (op->_state & RW__OP_BULK)) {
        op->_state &= (uint8_t)~RW__OP_BULK;
        r = &u->rings[UR_NORMAL];
        ur_ring_fill(r);
    }
    if (r->in == 0)
        return false;
    sqe = ur_sqe(u);
    if (!sqe)
        return false;
    ur_prep_recv(l, sqe, op);
    return true;
}

static int ur_wake(struct rw_loop *l)
{
    uint64_t one = 1;

    if (write(l->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        return -errno;
    return 0;
}

/* A send CQE: continue a short write inside the backend, or deliver the total. */
static void ur_send_done(struct rw_loop *l, struct ur *u, struct rw_op *op, int32_t res)
{
    struct io_uring_sqe *sqe;

    if (res < 0) {
        rw__op_complete(op, res, 0, 0);
        return;
    }
    op->_x->done += (size_t)res;
    if (op->_x->done >= op->_x->total) {
        rw__op_complete(op, (int32_t)op->_x->done, 0, 0);
        return;
    }
    if (res == 0 || (op->_state & RW__OP_CANCEL)) {
        rw__op_complete(op, res == 0 ? -EPIPE : -ECANCELED, 0, 0);
        return;
    }
    rw__op_iov_advance(op, (size_t)res);
    sqe = ur_sqe(u);
    if (!sqe) {
        rw__op_complete(op, -EBUSY, 0, 0);
        return;
    }
    ur_prep_send(u, sqe, op);
}

/* The buffer a recv CQE names, which its ring gave up: lent to the caller when it
 * holds bytes (true; *bid as callers name it), else (EOF, or an error that still
 * consumed one) straight back on the free stack. */
static bool ur_cqe_buf(struct ur *u, const struct rw_op *op, const struct io_uring_cqe *cqe,
                       uint16_t *bid)
{
    bool bulk = op->_state & RW__OP_BULK;
    struct ur_ring *r = &u->rings[bulk ? UR_BULK : UR_NORMAL];
    uint16_t b;

    if (!(cqe->flags & IORING_CQE_F_BUFFER))
        return false;
    b = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
    /* (a count that drifted could only change the window's size: the ring is as
     * large as the pool and gets only buffers that are on the free stack) */
    if (r->in)
        r->in--;
    if (cqe->res <= 0) {
        rw_bufpool_push(r->pool, b);
        return false;
    }
    rw_bufpool_lend(r->pool, b);
    *bid = bulk ? (uint16_t)(b | RW__BID_BULK) : b;
    return true;
}

/* ---- RW_RECV_KEEP ---- */

static uint32_t keep_len(const struct rw_op *op)
{
    return op->_pad >> 16;
}

static uint16_t keep_bid(const struct rw_op *op)
{
    return (uint16_t)(op->_pad & 0xffffu);
}

/* Drop what a KEEP recv kept (it is being cancelled). */
static void ur_keep_drop(struct rw_loop *l, struct rw_op *op)
{
    if (op->_hint & RW__HINT_STASH)
        rw_bufpool_put(&l->pool, keep_bid(op));
    op->_hint &= (uint16_t)~(RW__HINT_STASH | RW__HINT_TERM | 0xff00u);
}

/* Keep n bytes in buffer bid (lent) until the caller asks: appended to the kept
 * buffer, whose room one arm's limit guarantees. false: no room (a kernel that
 * ignored the limit); the caller sees an error rather than lost bytes. */
static bool ur_keep_bytes(struct rw_loop *l, struct rw_op *op, uint16_t bid, uint32_t n)
{
    if (!(op->_hint & RW__HINT_STASH)) {
        op->_pad = (uint32_t)bid | (n << 16);
        op->_hint |= RW__HINT_STASH;
        return true;
    }
    uint32_t have = keep_len(op);
    if (have + n > l->pool.size || have + n > UINT16_MAX) {
        rw_bufpool_put(&l->pool, bid);
        return false;
    }
    memcpy(rw_bufpool_addr(&l->pool, keep_bid(op)) + have, rw_bufpool_addr(&l->pool, bid), n);
    rw_bufpool_put(&l->pool, bid);
    op->_pad = (uint32_t)keep_bid(op) | ((have + n) << 16);
    return true;
}

/* Keep the end of the stream (EOF: res 0, or an error) until the caller asks. */
static void ur_keep_term(struct rw_op *op, int32_t res)
{
    uint32_t e = res < 0 && -res < 256 ? (uint32_t)-res : (res < 0 ? EIO : 0);

    op->_hint = (uint16_t)((op->_hint & 0xffu) | RW__HINT_TERM | (e << 8));
}

/* The answer to a held KEEP recv that asked (or was cancelled), from what it kept. */
static void ur_keep_answer(struct rw_loop *l, struct rw_op *op)
{
    if (op->_state & RW__OP_CANCEL) {
        if (op->_state & RW__OP_LIVE)
            return; /* the kernel op's final CQE answers */
        ur_keep_drop(l, op);
        rw__op_complete(op, -ECANCELED, 0, 0);
        return;
    }
    if (!(op->_state & RW__OP_WANT))
        return;
    op->_state &= (uint8_t)~RW__OP_WANT;
    if (op->_hint & RW__HINT_STASH) {
        uint16_t bid = keep_bid(op);
        int32_t n = (int32_t)keep_len(op);
        bool more = (op->_state & RW__OP_LIVE) || (op->_hint & RW__HINT_TERM);

        op->_hint &= (uint16_t)~RW__HINT_STASH;
        if (!more)
            op->_state &= (uint8_t)~RW__OP_KEEP;
        rw__op_complete(op, n, RW_CQE_BUF | (more ? RW_CQE_MORE : 0), bid);
        return;
    }
    if (op->_hint & RW__HINT_TERM) {
        int32_t res = -(int32_t)(op->_hint >> 8);

        if (op->_state & RW__OP_LIVE) {
            op->_state |= RW__OP_WANT; /* its final CQE answers (ur_keep_cqe) */
            return;
        }

        op->_hint &= (uint16_t)~(RW__HINT_TERM | 0xff00u);
        rw__op_complete(op, res, 0, 0);
    }
}

static void ur_ready_run(struct rw_loop *l, struct ur *u)
{
    while (u->ready) {
        struct rw_op *op = u->ready;

        u->ready = op->_next;
        op->_next = NULL;
        op->_state &= (uint8_t)~RW__OP_READY;
        ur_keep_answer(l, op);
    }
}

/* A CQE of a KEEP recv. Bytes go to the caller if it asked and nothing is kept
 * before them, else they are kept; so does the end of the stream. */
static void ur_keep_cqe(struct rw_loop *l, struct ur *u, struct rw_op *op,
                        const struct io_uring_cqe *cqe)
{
    int32_t res = cqe->res;
    uint16_t bid = 0;
    bool live = cqe->flags & IORING_CQE_F_MORE;
    bool buf = ur_cqe_buf(u, op, cqe, &bid); /* a KEEP recv is never BULK: bid is plain */

    if (!live)
        op->_state &= (uint8_t)~RW__OP_LIVE;
    if (op->_state & RW__OP_CANCEL) {
        if (buf)
            rw_bufpool_put(&l->pool, bid);
        if (!live) {
            ur_keep_drop(l, op);
            rw__op_complete(op, -ECANCELED, 0, 0);
        }
        return;
    }
    if (res == -EINVAL && !buf && !(op->_hint & (RW__HINT_STASH | RW__HINT_TERM))) {
        /* a kernel without the multishot byte limit: ONESHOT from now on */
        struct io_uring_sqe *sqe = ur_sqe(u);

        u->keep_limit = 0;
        op->_state &= (uint8_t)~(RW__OP_KEEP | RW__OP_MULTI | RW__OP_LIVE);
        if (sqe) {
            ur_prep_recv(l, sqe, op);
            return;
        }
        res = -EBUSY;
    }
    if (res == -ENOBUFS && !live) {
        /* the ring ran dry and ended the arm: arm again now if asked, else at the
         * next ask */
        if (!(op->_state & RW__OP_WANT) || (op->_hint & (RW__HINT_STASH | RW__HINT_TERM)))
            return;
        op->_state |= RW__OP_LIVE;
        if (ur_enobufs(l, u, op))
            return;
        op->_state &= (uint8_t)~RW__OP_LIVE;
    }
    bool kept = op->_hint & (RW__HINT_STASH | RW__HINT_TERM);
    if ((op->_state & RW__OP_WANT) && !kept) {
        /* straight to the caller; held while the multishot lives */
        op->_state &= (uint8_t)~RW__OP_WANT;
        if (!live)
            op->_state &= (uint8_t)~RW__OP_KEEP;
        rw__op_complete(op, res, (buf ? RW_CQE_BUF : 0) | (live ? RW_CQE_MORE : 0), bid);
        return;
    }
    if (buf) {
        if (!ur_keep_bytes(l, op, bid, (uint32_t)res) && !(op->_hint & RW__HINT_TERM)) {
            /* no room: a kernel that ignored the limit. End with an error rather
             * than lose bytes, and stop the arm: the op must not outlive its end. */
            struct io_uring_sqe *sqe = live ? ur_sqe(u) : NULL;

            ur_keep_term(op, -EOVERFLOW);
            if (sqe) {
                io_uring_prep_cancel(sqe, op, 0);
                io_uring_sqe_set_data64(sqe, RW__UD_IGNORE);
            }
        }
    } else if (res != -ENOBUFS && !(op->_hint & RW__HINT_TERM)) {
        ur_keep_term(op, res);
    }
    if (op->_state & RW__OP_WANT)
        ur_ready_push(u, op);
}

static void ur_dispatch(struct rw_loop *l, struct ur *u, const struct io_uring_cqe *cqe)
{
    uint64_t ud = cqe->user_data;
    struct rw_op *op;
    uint32_t flags = 0;
    uint16_t bid = 0;

    if (ud == RW__UD_IGNORE)
        return;
    if (ud == RW__UD_WAKE) {
        u->wake_armed = false;
        if (cqe->res >= 0)
            rw__loop_run_wake(l);
        ur_arm_wake(l, u);
        return;
    }
    if (ud & RW__UD_FILES) {
        rw__ur_files_cqe(&u->files, &u->ring, cqe);
        return;
    }
    op = (struct rw_op *)(uintptr_t)ud;
    if (op->_kind == RW_OP_ACCEPT && cqe->res >= 0)
        rw__ur_files_new(&u->files, &u->ring, cqe->res); /* a new file under that number */
    if (op->_kind == RW_OP_SEND) {
        ur_send_done(l, u, op, cqe->res);
        return;
    }
    if (op->_kind == RW_OP_RECV) {
        if (cqe->res > 0 && !(cqe->flags & IORING_CQE_F_SOCK_NONEMPTY))
            op->_hint |= RW__HINT_DRAINED;
        else
            op->_hint &= (uint16_t)~RW__HINT_DRAINED;
        if (op->_state & RW__OP_KEEP) {
            ur_keep_cqe(l, u, op, cqe);
            return;
        }
    }
    if (cqe->flags & IORING_CQE_F_MORE)
        flags |= RW_CQE_MORE;
    else if (cqe->res == -ENOBUFS && ur_enobufs(l, u, op))
        return;
    if (ur_cqe_buf(u, op, cqe, &bid))
        flags |= RW_CQE_BUF;
    rw__op_complete(op, cqe->res, flags, bid);
}

static int ur_run_once(struct rw_loop *l, int64_t timeout_ns)
{
    struct ur *u = l->be;
    struct __kernel_timespec ts, *tsp = NULL;
    struct io_uring_cqe *cqe;
    unsigned head, n = 0, asked = 0;
    bool blocking, offline;
    int ret;

    if (!u->wake_armed)
        ur_arm_wake(l, u);
    /* buffers given back during the last turn go in before the kernel runs again */
    for (int i = UR_NORMAL; i <= UR_BULK; i++) {
        if (!u->rings[i].br)
            continue;
        ur_ring_fill(&u->rings[i]);
        u->rings[i].added = false;
    }
    if (u->ready)
        timeout_ns = 0; /* KEEP answers are waiting: do not sleep */
    blocking = timeout_ns != 0 && io_uring_cq_ready(&u->ring) == 0;
    /* Under load most waits return at once: sends complete inline as they are
     * submitted, and task work (a recv's data) is already queued. Going RCU offline
     * and online costs three full barriers, so only a wait that will likely sleep
     * does; any other is bounded so that it still ends a writer's grace period soon. */
    offline = blocking && !io_uring_sq_ready(&u->ring) &&
              !(IO_URING_READ_ONCE(*u->ring.sq.kflags) & IORING_SQ_TASKRUN);
    if (blocking && !offline && (timeout_ns < 0 || timeout_ns > RW__ONLINE_WAIT_NS))
        timeout_ns = RW__ONLINE_WAIT_NS;
    if (timeout_ns >= 0) {
        ts.tv_sec = timeout_ns / 1000000000;
        ts.tv_nsec = timeout_ns % 1000000000;
        tsp = &ts;
    }
    if (blocking)
        rw__loop_wait_begin(l, offline);
    if (u->min_wait) {
        unsigned co = blocking ? u->co.target : 0;

        u->co.waits += co != 0;
        ret = rw__ur_enter(&u->ring, u->reg_ring, co, u->co.budget_us, tsp, &asked);
    } else {
        ret = io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, tsp, NULL);
    }
    if (blocking)
        rw__loop_wait_end(l);
    if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
        return ret;
    io_uring_for_each_cqe(&u->ring, head, cqe)
    {
        n++;
        if (cqe->res > 0)
            u->co.bytes += (uint32_t)cqe->res;
        ur_dispatch(l, u, cqe);
    }
    io_uring_cq_advance(&u->ring, n);
    if (asked)
        rw__ur_co_result(&u->co, asked, n);
    if (u->ready) {
        ur_ready_run(l, u);
        n++;
    }
    rw__ur_co_turn(&u->co, n, l->turn_ns, rw__ur_thread_cpu_ns);
    return (int)n;
}

/* In the probe child: a ring with our flags, a buffer ring, and one multishot recv. */
static int ur_probe_child(void)
{
    struct io_uring ring;
    struct io_uring_buf_ring *br = NULL;
    struct io_uring_sqe *sqe;
    struct io_uring_cqe *cqe;
    static char bufs[2][64];
    int sv[2];

    if (ur_queue_init(&ring, 8) < 0)
        return 1;
    if (ur_bufring_register(&ring, 2, 0, &br) < 0)
        return 2;
    for (int i = 0; i < 2; i++)
        io_uring_buf_ring_add(br, bufs[i], sizeof(bufs[i]), (unsigned short)i,
                              io_uring_buf_ring_mask(2), i);
    io_uring_buf_ring_advance(br, 2);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
        return 3;
    sqe = io_uring_get_sqe(&ring);
    io_uring_prep_recv_multishot(sqe, sv[0], NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = 0;
    io_uring_submit(&ring);
    if (write(sv[1], "x", 1) != 1)
        return 4;
    if (io_uring_wait_cqe(&ring, &cqe) < 0)
        return 5;
    if (cqe->res != 1 || !(cqe->flags & IORING_CQE_F_MORE) || !(cqe->flags & IORING_CQE_F_BUFFER))
        return 6;
    return 0;
}

static int ur_probe(void)
{
    char c = '0';
    int fd = open("/proc/sys/kernel/io_uring_disabled", O_RDONLY | O_CLOEXEC);
    int status = 0;
    pid_t pid;

    if (fd >= 0) {
        if (read(fd, &c, 1) != 1)
            c = '0';
        close(fd);
        if (c == '2')
            return -ENOSYS;
    }
    /* A child, because some sandboxes kill the caller of io_uring_setup. */
    pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0)
        _exit(ur_probe_child());
    for (int waited = 0;; waited += 5) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        struct timespec ts = {0, 5 * 1000 * 1000};

        if (r == pid)
            break;
        if (r < 0 && errno != EINTR)
            return -ECHILD;
        if (waited >= UR_PROBE_TIMEOUT_MS) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -ETIMEDOUT;
        }
        nanosleep(&ts, NULL);
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ENOSYS;
}

void rw__io_uring_files_stats(const struct rw_loop *l, struct rw__io_files_stats *out)
{
    const struct ur *u = l->be;

    memset(out, 0, sizeof(*out));
    if (l->ops == &rw__io_uring_ops && u)
        *out = u->files.st;
}

void rw__io_uring_co_stats(const struct rw_loop *l, uint32_t *budget_us, uint64_t *waits)
{
    const struct ur *u = l->be;
    bool ours = l->ops == &rw__io_uring_ops && u;

    *budget_us = ours ? u->co.budget_us : 0;
    *waits = ours ? u->co.waits : 0;
}

const struct rw_io_ops rw__io_uring_ops = {
    .name = "io_uring",
    .probe = ur_probe,
    .init = ur_init,
    .fini = ur_fini,
    .accept = ur_accept,
    .recv = ur_recv,
    .send = ur_send,
    .connect = ur_connect,
    .close = ur_close,
    .cancel = ur_cancel,
    .buf_put = ur_buf_put,
    .run_once = ur_run_once,
    .wake = ur_wake,
};
