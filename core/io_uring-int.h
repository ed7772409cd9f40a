/* SPDX-License-Identifier: MIT */
/* Module-internal: the io_uring backend's fixed-file table (core/io_uring_files.c) and
 * its coalesced waits (core/io_uring_wait.c). */
#ifndef RW_CORE_IO_URING_INT_H
#define RW_CORE_IO_URING_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <liburing.h>

#include "core/io-int.h"

/*
 * Sockets in io_uring's fixed-file table: an SQE with IOSQE_FIXED_FILE names a slot,
 * and the kernel takes no reference on the file per op (fget/fput are atomics in a
 * threaded process). Slot index = fd number, so nothing is allocated and any SQE can
 * name it. Per fd below the table's size the loop keeps a state (this ring only; the
 * kernel's table is the truth):
 *
 *   NONE  - not ours: a socket the loop did not see made, or closed. Ops name the fd.
 *   NEW   - the loop saw it made (an accept completion, rw_io_connect). The slot may
 *           hold anything: nothing, or a socket that had this number before. Its
 *           first RW__FF_AFTER ops name the fd.
 *   WAIT  - its RW__FF_AFTER-th op queued a FILES_UPDATE that puts the file in the
 *           slot; ops still name the fd until that update's completion says it
 *           worked.
 *   FIXED - the kernel confirmed the slot holds this file: ops name the slot.
 *
 * So an op names a slot only after the kernel said the slot holds the file the fd
 * names now: a failed update leaves the fd in use (logged, counted), never a slot
 * that may still hold an earlier socket. Nothing relies on the update running before
 * a later SQE: not IOSQE_IO_LINK (a failed update would end the linked op with
 * -ECANCELED, and a linked op is issued later from task work, where by our reading
 * of the kernel a cancel submitted meanwhile may not find it; not tested), and not
 * the in-order inline issue of the SQ (true today for FILES_UPDATE, but a failed
 * update would then leave the op on the slot's old content).
 *
 * rw_io_close empties the slot with the close, or the table would keep the socket
 * open (no FIN). A socket closed with close(2) while in the table stays open until
 * the loop sees its number made again: then the slot is emptied and a warning logged
 * (rw__ur_files_new).
 */

/* user_data of the table's own requests: ops are user-space pointers (bit 63 clear). */
#define RW__UD_FILES (1ull << 63)

enum {
    RW__FF_NONE = 0,
    RW__FF_NEW = 1,
    RW__FF_WAIT = 2,
    RW__FF_FIXED = 3,
};
#define RW__FF_STATE 3u /* state bits of a slot byte; the rest is a generation */

/* Slots at most, whatever RLIMIT_NOFILE allows (kernel memory: 8-16 bytes a slot). */
#define RW__FF_MAX 65536u

/* A socket goes into the table at its 8th op. Entering and leaving it costs two SQEs
 * and a CQE (the update, the removal at close): with one request per client
 * connection, registering at the first op took 5.8 SQEs a request instead of 3.85
 * and about 1 us more CPU a request (33.5 against 32.4 us, 3 runs of 2 s each, noisy
 * on a shared host), while a lookup saved is worth about 0.1 us (by the profile:
 * fget+fput ~1% of the CPU of a keep-alive request of ~2 SQEs). So a connection pays
 * only once it has shown it lives on: for the proxy, a client connection at about its
 * 4th request, a pooled upstream one at about its 3rd. */
#define RW__FF_AFTER 8

struct rw__ur_files {
    uint8_t *slot; /* owned: per fd < size: RW__FF_* and a generation (bits 2-7) */
    int *val;      /* owned: per fd < size: NEW: ops so far; then what its update reads */
    uint32_t size; /* 0: no table, every op names its fd */
    int none;      /* -1: what a removal reads */
    bool fail;     /* test hook: registering updates name an invalid fd */
    struct rw__io_files_stats st;
};

/* Register a sparse table of min(RLIMIT_NOFILE, RW__FF_MAX) slots when want (and no
 * test hook says otherwise); on any failure t->size stays 0 and the ring runs without
 * one (logged). Loop thread, at ring init. */
void rw__ur_files_init(struct rw__ur_files *t, struct io_uring *ring, bool want);

/* Empty the table (the sockets it still holds are released now) and free it. */
void rw__ur_files_fini(struct rw__ur_files *t, struct io_uring *ring);

/* fd was just made (accept completion, a socket about to connect): whatever the slot
 * holds belongs to an earlier file. If the loop still had it in the table (closed with
 * close(2)), the slot is emptied now and a warning logged. */
void rw__ur_files_new(struct rw__ur_files *t, struct io_uring *ring, int fd);

/* fd is about to be closed: empty its slot (a FILES_UPDATE with -1 queued ahead of the
 * close; synchronously if no SQE is free). Call it before taking the close's SQE. */
void rw__ur_files_close(struct rw__ur_files *t, struct io_uring *ring, int fd);

/* A completion whose user_data has RW__UD_FILES. */
void rw__ur_files_cqe(struct rw__ur_files *t, struct io_uring *ring,
                      const struct io_uring_cqe *cqe);

/* Queue the update that puts fd's file in its slot (state NEW -> WAIT). */
void rw__ur_files_register(struct rw__ur_files *t, struct io_uring *ring, int fd);

/*
 * Coalesced waits. io_uring wakes a task once per completion it waits for; a loop that
 * asks for one wakes, enters and turns once for every two completions or so under
 * load. On kernels with min_wait (6.12+, IORING_FEAT_MIN_TIMEOUT), a busy loop asks
 * instead for `target` completions beyond the ones its own submissions produce, and
 * takes whatever arrived once `budget_us` has passed: fewer turns, each with more
 * work, at the cost of at most budget_us more latency per wait. DEFER_TASKRUN then
 * does not even wake the task before that many completions are queued.
 *
 * "Busy" is measured, not guessed: over windows of about RW__CO_WINDOW_NS the loop
 * counts completions and the CPU time its thread used (most of the work, sends and
 * receives, runs inside io_uring_enter, so time outside waits would not tell). It
 * coalesces while the thread ran at least RW__CO_BUSY_ON percent of the window and a
 * budget's worth of time would bring at least RW__CO_ON completions, and stops below
 * RW__CO_BUSY_OFF or RW__CO_OFF. A quiet loop never waits for a second completion, so
 * a lone request pays nothing, and a loop with time to spare spends none of its
 * clients' time on this.
 * Nor does one moving bulk data (more than RW__CO_BYTES per completion): a turn's
 * overhead is small beside copying 64 KiB, and holding on only lets the pipes run
 * dry (measured with 64 KiB responses: 8% more CPU per response with coalescing).
 *
 * A fast rate does not say that many completions can be pending at once: a few
 * clients that each wait for their answer before asking again (4 connections at 49k
 * requests/s) make the same rate, yet a wait for more than they have in flight only
 * ever ends at its budget, and throughput collapsed to 14k. So the loop checks what
 * its coalesced waits got: a window where most of them ended at the budget, short of
 * what they asked for, stops coalescing and keeps it off for RW__CO_HOLD_NS, doubled
 * after each such window up to RW__CO_HOLD_MAX_NS (reset by a window where they
 * mostly filled). And a wait asks for half of what a budget brings at the measured
 * rate, so that it normally fills well within its budget.
 */
#ifndef IORING_FEAT_MIN_TIMEOUT
#define IORING_FEAT_MIN_TIMEOUT (1U << 15)
#endif

#define RW__CO_WINDOW_NS (1000 * 1000)
#define RW__CO_ON 8   /* completions a budget must bring to start coalescing */
#define RW__CO_OFF 4  /* ... and below which it stops */
#define RW__CO_MAX 64 /* most completions a wait asks for beyond its submissions */
#define RW__CO_BUSY_ON 50  /* percent of a window the thread ran, to start coalescing */
#define RW__CO_BUSY_OFF 25 /* ... and below which it stops */
#define RW__CO_BYTES 4096  /* most bytes per completion (results summed) to coalesce */
#define RW__CO_BUDGET_MAX 1000 /* us: a longer budget would outlast the online wait */
#define RW__CO_HOLD_NS (10 * 1000 * 1000ull)        /* off after a window of short waits */
#define RW__CO_HOLD_MAX_NS (1000 * 1000 * 1000ull) /* ... doubling up to this */

struct rw__ur_co {
    uint32_t budget_us;   /* 0: never coalesce */
    uint32_t target;      /* 0: not now; else completions a wait asks for */
    uint64_t events;      /* completions in the current window */
    uint64_t bytes;       /* their positive results summed (bytes moved, mostly) */
    uint64_t window_from; /* ns: start of the current window */
    uint64_t cpu_from;    /* the thread's CPU time (ns) at that start */
    uint32_t filled;      /* coalesced waits of this window that got what they asked */
    uint32_t short_;      /* ... and that ended at the budget without it */
    uint64_t hold_until;  /* ns: no coalescing before this */
    uint64_t hold_ns;     /* the next hold's length */
    bool always;          /* test hook: every wait coalesces, asking for RW__CO_MAX */
    uint64_t waits;       /* coalesced waits made (for tests and the curious) */
};

/* budget_us is clamped to RW__CO_BUDGET_MAX. */
void rw__ur_co_init(struct rw__ur_co *c, uint32_t budget_us, bool always, uint64_t now_ns);

/* Close the current window at now_ns and decide for the next one; cpu_ns: the
 * thread's CPU time now. */
void rw__ur_co_window(struct rw__ur_co *c, uint64_t now_ns, uint64_t cpu_ns);

/* After a coalesced wait that asked for `asked` completions: `got` were there. */
static inline void rw__ur_co_result(struct rw__ur_co *c, unsigned asked, unsigned got)
{
    if (got >= asked)
        c->filled++;
    else
        c->short_++;
}

/* The calling thread's CPU time in ns (a syscall: once a window). */
uint64_t rw__ur_thread_cpu_ns(void);

/* After each turn: n completions were handled; the turn started at now_ns. cpu: where
 * the thread's CPU time comes from (rw__ur_thread_cpu_ns; tests pass their own). A loop
 * that never coalesces keeps no windows (no CPU-time syscall each millisecond). */
static inline void rw__ur_co_turn(struct rw__ur_co *c, unsigned n, uint64_t now_ns,
                                  uint64_t (*cpu)(void))
{
    if (!c->budget_us)
        return;
    c->events += n;
    if (now_ns - c->window_from >= RW__CO_WINDOW_NS)
        rw__ur_co_window(c, now_ns, cpu());
}

/* Submit what is prepared and, with GETEVENTS, wait: for one completion, or when
 * co_target > 0 for co_target beyond the ones this submission completes at once,
 * taking what arrived after min_us (*asked: the completions asked for then, else 0).
 * ts: NULL waits without bound. reg_ring: the ring fd is registered
 * (io_uring_register_ring_fd). Returns what io_uring_enter does (-errno on failure,
 * -ETIME when ts passed first). Needs IORING_FEAT_EXT_ARG, and IORING_FEAT_MIN_TIMEOUT
 * for min_us. */
int rw__ur_enter(struct io_uring *ring, bool reg_ring, unsigned co_target, unsigned min_us,
                 const struct __kernel_timespec *ts, unsigned *asked);

/* An SQE, submitting what is prepared to make room when the SQ is full (no
 * completions run); NULL if there is still none. */
static inline struct io_uring_sqe *rw__ur_sqe(struct io_uring *ring)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

    if (!sqe) {
        io_uring_submit(ring);
        sqe = io_uring_get_sqe(ring);
    }
    return sqe;
}

/* Call on a fully prepared SQE (user_data set) whose file is fd: it names fd's slot
 * if the kernel confirmed it, and the RW__FF_AFTER-th op on a NEW fd queues its
 * registration (this op still names the fd, so the update's order against it does
 * not matter). */
static inline void rw__ur_files_sqe(struct rw__ur_files *t, struct io_uring *ring,
                                    struct io_uring_sqe *sqe, int fd)
{
    unsigned st;

    if ((unsigned)fd >= t->size)
        return;
    st = t->slot[fd] & RW__FF_STATE;
    if (st == RW__FF_FIXED) {
        sqe->flags |= IOSQE_FIXED_FILE; /* sqe->fd already is the slot: slot = fd */
        t->st.fixed_sqes++;
    } else if (st == RW__FF_NEW && ++t->val[fd] >= RW__FF_AFTER) {
        rw__ur_files_register(t, ring, fd);
    }
}

#endif
