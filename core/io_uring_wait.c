/* SPDX-License-Identifier: MIT */
/* The io_uring backend's waits: one io_uring_enter per turn, coalesced when busy. */
#include "core/io_uring-int.h"

#include <signal.h>
#include <time.h>

void rw__ur_co_init(struct rw__ur_co *c, uint32_t budget_us, bool always, uint64_t now_ns)
{
    c->budget_us = budget_us < RW__CO_BUDGET_MAX ? budget_us : RW__CO_BUDGET_MAX;
    c->always = always && c->budget_us;
    c->target = c->always ? RW__CO_MAX : 0;
    c->events = 0;
    c->bytes = 0;
    c->window_from = now_ns;
    c->cpu_from = 0;
    c->filled = c->short_ = 0;
    c->hold_until = 0;
    c->hold_ns = RW__CO_HOLD_NS;
    c->waits = 0;
}

uint64_t rw__ur_thread_cpu_ns(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void rw__ur_co_window(struct rw__ur_co *c, uint64_t now_ns, uint64_t cpu_ns)
{
    uint64_t span = now_ns - c->window_from;
    /* completions one budget would bring at this window's rate */
    uint64_t per_budget = span ? c->events * c->budget_us * 1000 / span : 0;
    uint64_t busy_pct = span && cpu_ns > c->cpu_from ? (cpu_ns - c->cpu_from) * 100 / span : 0;
    bool bulk = c->bytes > c->events * RW__CO_BYTES;
    bool came_short = c->short_ > c->filled;

    c->events = 0;
    c->bytes = 0;
    c->window_from = now_ns;
    c->cpu_from = cpu_ns;
    if (c->always || !c->budget_us)
        return;
    if (c->target && (c->filled || c->short_)) {
        if (came_short) { /* what it asks for is not there to be had: hold off */
            c->hold_until = now_ns + c->hold_ns;
            c->hold_ns = c->hold_ns < RW__CO_HOLD_MAX_NS / 2 ? 2 * c->hold_ns
                                                              : RW__CO_HOLD_MAX_NS;
        } else {
            c->hold_ns = RW__CO_HOLD_NS;
        }
    }
    c->filled = c->short_ = 0;
    if (bulk || came_short || now_ns < c->hold_until ||
        per_budget < (c->target ? RW__CO_OFF : RW__CO_ON) ||
        busy_pct < (c->target ? RW__CO_BUSY_OFF : RW__CO_BUSY_ON)) {
        c->target = 0;
        return;
    }
    /* ask for half of what a budget brings: the wait then fills in about half its
     * budget while the rate holds, and sooner on a burst */
    per_budget /= 2;
    c->target = per_budget < RW__CO_MAX ? (uint32_t)per_budget : RW__CO_MAX;
}

int rw__ur_enter(struct io_uring *ring, bool reg_ring, unsigned co_target, unsigned min_us,
                 const struct __kernel_timespec *ts, unsigned *asked)
{
    struct io_uring_sq *sq = &ring->sq;
    unsigned tail = sq->sqe_tail;
    unsigned flags = IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG;
    struct io_uring_getevents_arg arg = {
        .sigmask = 0,
        .sigmask_sz = _NSIG / 8,
        .pad = 0, /* min_wait_usec since 6.12 */
        .ts = (uint64_t)(uintptr_t)ts,
    };
    unsigned submit, want = 1;

    /* what io_uring_submit does: publish the prepared SQEs to the kernel */
    if (sq->sqe_head != tail) {
        sq->sqe_head = tail;
        io_uring_smp_store_release(sq->ktail, tail);
    }
    submit = tail - IO_URING_READ_ONCE(*sq->khead);
    *asked = 0;
    if (co_target) {
        /* sends complete as they are submitted: count those on top */
        want = submit + co_target;
        arg.pad = min_us;
        *asked = want;
    }
    if (reg_ring)
        flags |= IORING_ENTER_REGISTERED_RING;
    return io_uring_enter2(reg_ring ? (unsigned)ring->enter_ring_fd : (unsigned)ring->ring_fd,
                           submit, want, flags, (sigset_t *)&arg, sizeof(arg));
}
