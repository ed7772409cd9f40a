/* SPDX-License-Identifier: MIT */
/* Module-internal: struct rw_loop and helpers shared by the io_uring and epoll backends. */
#ifndef RW_CORE_IO_INT_H
#define RW_CORE_IO_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/io.h"
#include "core/timer.h"

/* rw_op._state bits (both backends). */
enum {
    RW__OP_ARMED = 1u << 0,  /* started; its final completion has not been delivered */
    RW__OP_MULTI = 1u << 1,  /* multishot accept/recv */
    RW__OP_CANCEL = 1u << 2, /* cancel requested */
    RW__OP_READY = 1u << 3,  /* epoll: on the ready list, result in _pad */
    RW__OP_BULK = 1u << 4,   /* recv from the bulk pool (cleared when it falls back) */
    /* io_uring RW_RECV_KEEP: */
    RW__OP_KEEP = 1u << 5, /* held between the caller's asks (completions carry MORE) */
    RW__OP_WANT = 1u << 6, /* the caller asked and has not been answered yet */
    RW__OP_LIVE = 1u << 7, /* the kernel's multishot recv is still armed */
};

/* rw_op._hint bits: what the backend learnt from earlier ops on the same rw_op. */
enum {
    RW__HINT_DRAINED = 1u << 0, /* io_uring: the last recv left the socket empty */
    /* io_uring RW_RECV_KEEP, what arrived while nobody asked: */
    RW__HINT_STASH = 1u << 1, /* bytes: a lent normal buffer, bid and length in _pad */
    RW__HINT_TERM = 1u << 2,  /* the end (after the bytes): EOF, or errno in bits 8-15 */
};

/* A bid with this bit names a bulk-pool buffer (pools hold at most 32768). */
#define RW__BID_BULK 0x8000u

/* user_data values that are not ops (ops are pointers, never this small). */
enum {
    RW__UD_IGNORE = 0, /* cancel requests: their CQE is swallowed */
    RW__UD_WAKE = 1,   /* the eventfd read */
};

/* io_uring gathers a send of several iovecs up to this size into one buffer. */
#define RW__SEND_BOUNCE 1024

/* What a send or connect needs while in flight (copied iovecs, progress, the
 * msghdr io_uring reads, the connect address). Lent per op from a loop free list. */
struct rw__op_ext {
    struct rw__op_ext *next; /* loop free list */
    struct rw_loop *loop;    /* borrowed: owner of the free list */
    uint16_t iovcnt;
    size_t done;  /* send: bytes written so far */
    size_t total; /* send: bytes to write */
    struct iovec iov[RW_IO_MAX_IOV];
    struct msghdr msg;
    char bounce[RW__SEND_BOUNCE]; /* io_uring: a small multi-iovec send, gathered */
    struct sockaddr_storage sa;
    socklen_t salen;
};

struct rw_loop {
    const struct rw_io_ops *ops; /* borrowed: static backend table */
    void *be;                    /* owned: backend state (struct ur / struct ep) */
    struct rw_wheel *wheel;      /* owned */
    struct rw_bufpool pool;
    struct rw_bufpool bulk; /* count 0: none */
    uint64_t now_ms; /* cached CLOCK_MONOTONIC, ms */
    uint64_t now_us; /* the same, us */
    uint64_t turn_ns; /* CLOCK_MONOTONIC ns when this turn started */
    uint16_t buf_group;
    uint32_t entries;
    struct rw__op_ext *ext_free; /* owned: free op extensions */
    int wake_fd;         /* owned: eventfd, -1 if none */
    rw_wake_fn *wake_fn; /* run on the loop thread after a wake */
    void *wake_arg;      /* borrowed: from rw_loop_set_wake() */
    uint64_t iters;      /* loop turns */
    uint64_t busy_ns;    /* time not blocked in a wait, up to the last wait */
    uint64_t busy_from;  /* CLOCK_MONOTONIC ns when the last wait ended */
    bool offline;        /* RCU offline for the wait in progress */
};

extern const struct rw_io_ops rw__io_uring_ops;
extern const struct rw_io_ops rw__io_epoll_ops;

/* The pool that bid names, and bid within it. */
static inline struct rw_bufpool *rw__loop_pool(struct rw_loop *l, uint16_t *bid)
{
    if (*bid & RW__BID_BULK) {
        *bid &= (uint16_t)~RW__BID_BULK;
        return &l->bulk;
    }
    return &l->pool;
}

/* Around a blocking wait: busy-time accounting and time refresh, and, when `offline`,
 * RCU offline (if registered) / online. A backend that stays online must bound its
 * wait by RW__ONLINE_WAIT_NS: writers' grace periods wait for it. */
#define RW__ONLINE_WAIT_NS (1000 * 1000)
void rw__loop_wait_begin(struct rw_loop *l, bool offline);
void rw__loop_wait_end(struct rw_loop *l);

/* Run the wake callback, if set (loop thread). */
void rw__loop_run_wake(struct rw_loop *l);

/* Copy iov[0..n) into op and set _iovcnt/_total/_done. -EINVAL if n is out of range. */
/* Lend op an extension (op->_x); -ENOMEM. Given back by the final completion, or
 * by rw__op_ext_put() when the start fails. */
int rw__op_ext_get(struct rw_loop *l, struct rw_op *op);
void rw__op_ext_put(struct rw_op *op);

/* Lend op an extension holding a copy of iov; 0, -EINVAL or -ENOMEM. */
int rw__op_set_iov(struct rw_loop *l, struct rw_op *op, const struct iovec *iov, int n);

/* Drop the first n bytes (n <= remaining) from op's iovec copy after a short write. */
void rw__op_iov_advance(struct rw_op *op, size_t n);

/* Deliver a completion to op's callback; a final one (no RW_CQE_MORE) clears the
 * op's backend state first so the callback may restart or free it. */
void rw__op_complete(struct rw_op *op, int32_t res, uint32_t flags, uint16_t bid);

/* io_uring's fixed-file table (core/io_uring-int.h), as counted by its loop. */
struct rw__io_files_stats {
    uint32_t size;         /* slots; 0: no table */
    uint64_t fixed_sqes;   /* SQEs that named a slot instead of an fd */
    uint64_t updates;      /* files put in a slot (FILES_UPDATE queued) */
    uint64_t update_fails; /* of which the kernel refused (their ops named the fd) */
    uint64_t removals;     /* slots emptied at close */
    uint64_t reclaims;     /* slots emptied when their number came back (close(2) used) */
};

/* The counters of loop l; all zero on a loop without a table (and on epoll). Loop
 * thread (tests). */
void rw__io_uring_files_stats(const struct rw_loop *l, struct rw__io_files_stats *out);

/* Coalesced waits of loop l (core/io_uring-int.h): its budget (0: it never
 * coalesces, as on epoll and kernels without min_wait) and the waits that did. Loop
 * thread (tests). */
void rw__io_uring_co_stats(const struct rw_loop *l, uint32_t *budget_us, uint64_t *waits);

#endif
