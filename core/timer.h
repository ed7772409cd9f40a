/* SPDX-License-Identifier: MIT */
/* Hierarchical timing wheel (1 ms tick), one per loop, for every connection deadline. */
#ifndef RW_CORE_TIMER_H
#define RW_CORE_TIMER_H

#include <stdbool.h>
#include <stdint.h>

/* rw_timer._expires of a stopped timer */
#define RW__TIMER_OFF UINT64_MAX

struct rw_timer;
typedef void rw_timer_fn(struct rw_timer *t);

/* A timer is embedded in its owner (connection); zero-initialise it or call
 * rw_timer_init(). Fields starting with '_' belong to the wheel. */
struct rw_timer {
    rw_timer_fn *cb;          /* run on expiry, on the loop thread */
    void *owner;              /* borrowed: the embedding object */
    uint64_t _expires;        /* absolute ms; RW__TIMER_OFF: stopped */
    uint64_t _at;             /* the slot it sits in comes due by this ms (<= _expires) */
    struct rw_timer *_next;   /* wheel slot list */
    struct rw_timer **_pprev; /* NULL when not in the wheel */
};

struct rw_wheel;

/* Create / destroy a wheel whose clock starts at now_ms. NULL on -ENOMEM. */
struct rw_wheel *rw_wheel_new(uint64_t now_ms);
void rw_wheel_free(struct rw_wheel *w);

/* Initialise a timer with its callback and owner (not armed). */
void rw_timer_init(struct rw_timer *t, rw_timer_fn *cb, void *owner);

/* Arm (or re-arm) t to fire at absolute time expires_ms. O(1). Moving a deadline
 * later, as connections do on every request, only records it: the timer stays in
 * its slot and is placed again when that slot comes due. */
void rw_timer_arm(struct rw_wheel *w, struct rw_timer *t, uint64_t expires_ms);

/* Disarm t, leaving it in the wheel (the wheel drops it when its slot comes due, or a
 * later arm reuses its place): for an owner that lives on and re-arms soon. Its owner
 * must still rw_timer_cancel() it before being freed. O(1). */
void rw_timer_stop(struct rw_timer *t);

/* Disarm t and take it out of the wheel: after this the wheel holds no reference to
 * it and its owner may be freed. O(1). Safe on a timer that is not armed. */
void rw_timer_cancel(struct rw_timer *t);

/* Advance the wheel to now_ms, running the callback of every expired timer (a
 * timer is disarmed before its callback runs; the callback may re-arm it or free
 * its owner). Returns the number fired. */
unsigned rw_wheel_advance(struct rw_wheel *w, uint64_t now_ms);

/* Milliseconds until the next armed timer may fire (an upper bound on the wait
 * that never oversleeps; a moved or stopped timer may end a wait early, once), or -1
 * when the wheel is empty. */
int64_t rw_wheel_next_ms(const struct rw_wheel *w, uint64_t now_ms);

static inline bool rw_timer_armed(const struct rw_timer *t)
{
    return t->_pprev != 0 && t->_expires != RW__TIMER_OFF;
}

#endif
