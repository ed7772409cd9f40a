/* SPDX-License-Identifier: MIT */
/* The completion-style event loop: one interface, an io_uring and an epoll backend. */
#ifndef RW_CORE_IO_H
#define RW_CORE_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "core/timer.h"

/*
 * Contract shared by both backends (test/unit/core/test_io_conformance.c checks it):
 *
 * - Every operation is started with an rw_op owned by the caller. The op's memory
 *   stays valid, and the op may not be reused, until its *final* completion: one
 *   delivered without RW_CQE_MORE. From then on it may start any op again, of any
 *   kind. Exactly one final completion arrives for every successfully started op (a
 *   start that returns -errno delivers none).
 * - Completion callbacks run on the loop's thread from rw_loop_run_once(), never
 *   re-entrantly from inside a start call.
 * - res holds bytes, an fd, 0, or -errno. -ECANCELED means the op was cancelled.
 * - Multishot accept / recv stay armed while RW_CQE_MORE is set; a completion
 *   without it means the op ended and must be re-armed by the caller if wanted.
 * - recv takes its buffer from the loop's buffer pool: on success res > 0 and
 *   RW_CQE_BUF is set, bid names the buffer; the callee must give it back exactly
 *   once with rw_loop_buf_put(). res == 0 is EOF (no buffer). -ENOBUFS means the
 *   pool was empty: the op ended; re-arm after buffers are returned.
 *   RW_RECV_BULK asks for a buffer of the loop's bulk pool (bulk_size bytes) and
 *   quietly takes a normal one when that pool is empty or absent; -ENOBUFS then
 *   only when both are. bid is opaque: rw_loop_buf() and rw_loop_buf_put() know
 *   which pool it names.
 * - send writes the whole iovec or fails: the final completion has res == total
 *   bytes or -errno (short writes are continued inside the backend). The iovec
 *   array is copied at start; the bytes it points to must stay valid until the
 *   completion. At most one send per fd may be in flight.
 * - connect: fd is a non-blocking socket made by the caller; res 0 or -errno.
 * - close: the fd is closed; res 0 or -errno. Cancel other ops on the fd first.
 * - cancel: asks for target's final completion to arrive soon (-ECANCELED, or its
 *   real result if it raced); returns 0, or -ENOENT if target is not in flight.
 *   The cancel itself has no completion.
 */

struct rw_loop;
struct rw_op;
struct rw__op_ext;

struct rw_cqe {
    int32_t res;    /* bytes, fd, 0, or -errno */
    uint32_t flags; /* RW_CQE_* */
    uint16_t bid;   /* buffer id when RW_CQE_BUF */
};

enum {
    RW_CQE_MORE = 1u << 0, /* op still armed (multishot) */
    RW_CQE_BUF = 1u << 1,  /* bid is valid and must be returned */
};

enum rw_op_kind {
    RW_OP_NONE = 0,
    RW_OP_ACCEPT,
    RW_OP_RECV,
    RW_OP_SEND,
    RW_OP_CONNECT,
    RW_OP_CLOSE,
};

enum rw_recv_flags {
    RW_RECV_ONESHOT = 0,         /* one completion, then the op ends */
    RW_RECV_MULTISHOT = 1u << 0, /* stays armed until error/EOF/ENOBUFS/cancel */
    RW_RECV_BULK = 1u << 1,      /* prefer a bulk buffer (body data: fewer, larger reads) */
    /* One completion per call, as ONESHOT, but the backend may keep watching the
     * socket between calls (io_uring: a multishot recv with a byte limit), so that
     * the next call costs no submission. Such a completion carries RW_CQE_MORE: the
     * op is still held and the caller either calls rw_io_recv on it again (served
     * from what arrived meanwhile, or by the watch) or ends it with rw_io_cancel; it
     * must not reuse or free the op before a completion without RW_CQE_MORE. Bytes
     * that arrive while nobody asks are kept, at most one normal buffer per op
     * (back-pressure holds as with ONESHOT). A backend without it (epoll) treats it
     * as ONESHOT. BULK is ignored while the watch is held. */
    RW_RECV_KEEP = 1u << 2,
};

typedef void rw_op_fn(struct rw_op *op, const struct rw_cqe *cqe);

#define RW_IO_MAX_IOV 8

/* One in-flight operation. Public fields are set by the caller before starting it;
 * fields starting with '_' belong to the backend. */
struct rw_op {
    rw_op_fn *cb; /* completion callback */
    void *owner;  /* borrowed: caller's context (connection, listener) */
    /* backend-owned */
    int _fd;
    uint8_t _kind;  /* enum rw_op_kind */
    uint8_t _state; /* backend flags: armed, multishot, cancelling */
    uint16_t _hint; /* backend hints that outlive one op (RW__HINT_*) */
    uint32_t _pad;  /* backend scratch (epoll: a ready result; io_uring: a kept buffer) */
    /* send/connect state, lent by the loop only while such an op is in flight, so
     * that an idle connection's ops stay small */
    struct rw__op_ext *_x;
    struct rw_op *_next; /* epoll ready list */
};

/* The op was started and its final completion (one without RW_CQE_MORE) has not
 * been delivered yet: it must not be freed; rw_io_cancel ends it. */
static inline bool rw_op_busy(const struct rw_op *op)
{
    return op->_state & 1u; /* RW__OP_ARMED */
}

/* Loop creation parameters. */
struct rw_loop_cfg {
    const char *backend;   /* "auto" | "io_uring" | "epoll" */
    uint32_t entries;      /* SQ size hint (default 1024) */
    uint32_t buf_count;    /* buffers in the pool, power of two (default 1024) */
    uint32_t buf_size;     /* bytes per buffer (default 16384) */
    uint16_t buf_group;    /* provided-buffer group id (default 0; the bulk pool uses +1) */
    uint32_t bulk_count;   /* bulk buffers, power of two (default 0: no bulk pool) */
    uint32_t bulk_size;    /* bytes per bulk buffer (default 131072 when bulk_count) */
    /* io_uring: name the sockets this loop accepts or connects by a slot of a fixed-file
     * table (no file lookup per op). The caller then closes each of them that carried
     * an op with rw_io_close (see there). Ignored by epoll and where the kernel has no
     * table. */
    bool fixed_files;
    /* io_uring on 6.12+: while the loop is busy, a wait may hold on up to this many
     * microseconds for more completions (fewer turns per request; see
     * core/io_uring-int.h). 0: every wait returns at the first completion. Clamped
     * to 1000. Ignored by epoll and older kernels. */
    uint32_t coalesce_us;
};

/* A backend, as chosen at start-up. Callers use the rw_io_*() wrappers, never these. */
struct rw_io_ops {
    const char *name; /* "io_uring" | "epoll" */
    int (*probe)(void); /* 0 if usable on this host */
    int (*init)(struct rw_loop *l, const struct rw_loop_cfg *cfg);
    void (*fini)(struct rw_loop *l);
    int (*accept)(struct rw_loop *l, struct rw_op *op, int lfd);
    int (*recv)(struct rw_loop *l, struct rw_op *op, int fd, unsigned flags);
    int (*send)(struct rw_loop *l, struct rw_op *op, int fd, const struct iovec *iov, int n);
    int (*connect)(struct rw_loop *l, struct rw_op *op, int fd, const struct sockaddr *sa,
                   socklen_t len);
    int (*close)(struct rw_loop *l, struct rw_op *op, int fd);
    int (*cancel)(struct rw_loop *l, struct rw_op *target);
    void (*buf_put)(struct rw_loop *l, uint16_t bid);
    int (*run_once)(struct rw_loop *l, int64_t timeout_ns);
    int (*wake)(struct rw_loop *l); /* any thread */
};

typedef void rw_wake_fn(struct rw_loop *l, void *arg);

/* Resolve a backend name ("auto" probes io_uring in a forked child, then epoll).
 * Returns the ops table, or NULL with *err = -errno (-ENOTSUP: unknown name,
 * -ENOSYS: the named backend is not usable here). Any thread; start-up only. */
const struct rw_io_ops *rw_io_select(const char *name, int *err);

/* Create a loop on the given backend (from rw_io_select). Must be called on the
 * thread that will run it (io_uring SINGLE_ISSUER). NULL and *err = -errno. */
struct rw_loop *rw_loop_new(const struct rw_io_ops *ops, const struct rw_loop_cfg *cfg, int *err);

/* Destroy a loop. All ops must have completed. Owning thread only. */
void rw_loop_free(struct rw_loop *l);

/* Name of the backend running this loop. */
const char *rw_loop_backend(const struct rw_loop *l);

/* Run one turn: submit pending work, wait up to timeout_ns (-1: until the next
 * timer or event; 0: poll), dispatch completions and expired timers. A thread
 * registered with RCU is a reader between turns: it goes offline around a wait that
 * may sleep, or bounds the wait to a millisecond (io_uring, when submissions or task
 * work make it likely to end at once), so a writer's grace period never waits on an
 * idle loop. Returns number of events handled or -errno. */
int rw_loop_run_once(struct rw_loop *l, int64_t timeout_ns);

/* Cached monotonic time in ms, refreshed once per loop turn (and after its wait). */
uint64_t rw_loop_now(const struct rw_loop *l);

/* The same clock in us: request timings read it instead of the clock (as nginx's
 * and HAProxy's per-iteration time), so that a request costs no clock reads. */
uint64_t rw_loop_now_us(const struct rw_loop *l);

/* The loop's timer wheel. */
struct rw_wheel *rw_loop_wheel(struct rw_loop *l);

/* Address of buffer bid (lent by a recv completion), and the size of the loop's
 * normal buffers (a completion's res never exceeds the size of its buffer). */
uint8_t *rw_loop_buf(struct rw_loop *l, uint16_t bid);
uint32_t rw_loop_buf_size(const struct rw_loop *l);

/* Loop turns so far, and the time spent outside blocking waits up to the last one
 * (ns). Loop thread. */
void rw_loop_stats(const struct rw_loop *l, uint64_t *iters, uint64_t *busy_ns);

/* Set the callback run on the loop thread after rw_loop_wake() from any thread. */
void rw_loop_set_wake(struct rw_loop *l, rw_wake_fn *fn, void *arg);

/* Backend access for the inline wrappers; not for direct use. */
const struct rw_io_ops *rw__loop_ops(const struct rw_loop *l);

static inline int rw_io_accept(struct rw_loop *l, struct rw_op *op, int lfd)
{
    return rw__loop_ops(l)->accept(l, op, lfd);
}
static inline int rw_io_recv(struct rw_loop *l, struct rw_op *op, int fd, unsigned flags)
{
    return rw__loop_ops(l)->recv(l, op, fd, flags);
}
static inline int rw_io_send(struct rw_loop *l, struct rw_op *op, int fd, const struct iovec *iov,
                             int n)
{
    return rw__loop_ops(l)->send(l, op, fd, iov, n);
}
static inline int rw_io_connect(struct rw_loop *l, struct rw_op *op, int fd,
                                const struct sockaddr *sa, socklen_t len)
{
    return rw__loop_ops(l)->connect(l, op, fd, sa, len);
}
/* Close fd once its ops have ended. A socket may also be closed with close(2) after
 * its ops ended; a number reused after that must reach the loop again through
 * rw_io_accept's completion or rw_io_connect (or a listener's rw_io_accept), which
 * tell the epoll backend the number names a new file, and io_uring that its
 * fixed-file slot holds an older one. With rw_loop_cfg.fixed_files, close a socket
 * that came from an accept completion or rw_io_connect and carried an op with
 * rw_io_close: io_uring's table holds the socket, and rw_io_close empties its slot
 * (also when it fails: close(2) may follow). After close(2) alone the socket stays
 * open (no FIN to the peer) until its number comes back as above (which empties the
 * slot: ops reach the new file), or the loop is freed. */
static inline int rw_io_close(struct rw_loop *l, struct rw_op *op, int fd)
{
    return rw__loop_ops(l)->close(l, op, fd);
}
static inline int rw_io_cancel(struct rw_loop *l, struct rw_op *target)
{
    return rw__loop_ops(l)->cancel(l, target);
}
/* Give buffer bid back to the pool; exactly once per RW_CQE_BUF completion. */
static inline void rw_loop_buf_put(struct rw_loop *l, uint16_t bid)
{
    rw__loop_ops(l)->buf_put(l, bid);
}
/* Wake the loop from any thread; its wake callback runs on the loop thread. */
static inline int rw_loop_wake(struct rw_loop *l)
{
    return rw__loop_ops(l)->wake(l);
}

#endif
