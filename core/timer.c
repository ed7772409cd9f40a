/* SPDX-License-Identifier: MIT */
/* Hierarchical timing wheel: 6 levels of 64 slots, 1 ms tick, cascading. */
#include "core/timer.h"

#include <stdlib.h>

#define WHEEL_LEVELS 6
#define WHEEL_BITS 6
#define WHEEL_SLOTS (1u << WHEEL_BITS)
#define WHEEL_MASK (WHEEL_SLOTS - 1)
/* Deltas at or beyond this (2^36 ms, about 2.2 years) are parked in the top level
 * at its far edge and re-placed (with their true expiry) when cascaded. */
#define WHEEL_SPAN (1ull << (WHEEL_LEVELS * WHEEL_BITS))

/*
 * Placement follows the classic cascading wheel: a timer whose delta from `cur`
 * is below 64^(L+1) sits in level L at slot (expires >> 6L) & 63. Level L slot s
 * is emptied ("cascaded", its timers placed again) at the first tick that is a
 * multiple of 64^L and whose level-L index is s; level 0 slots fire. Instead of
 * visiting every tick, advance jumps straight to the next tick at which some
 * non-empty slot is due (found from per-level occupancy bitmaps), so a wheel
 * can be advanced by days in a few hundred steps.
 */
struct rw_wheel {
    uint64_t cur;                  /* next tick to process; ticks < cur are done */
    uint64_t bitmap[WHEEL_LEVELS]; /* bit set: slot may be non-empty (hint) */
    struct rw_timer *expired;      /* armed in the past: fire on the next advance */
    struct rw_timer *slots[WHEEL_LEVELS][WHEEL_SLOTS];
};

struct rw_wheel *rw_wheel_new(uint64_t now_ms)
{
    struct rw_wheel *w = calloc(1, sizeof(*w));

    if (w)
        w->cur = now_ms + 1;
    return w;
}

static void list_clear(struct rw_timer *t)
{
    while (t) {
        struct rw_timer *n = t->_next;
        t->_next = NULL;
        t->_pprev = NULL;
        t = n;
    }
}

void rw_wheel_free(struct rw_wheel *w)
{
    if (!w)
        return;
    /* Leave stray armed timers disarmed, so a late rw_timer_cancel is harmless. */
    list_clear(w->expired);
    for (unsigned l = 0; l < WHEEL_LEVELS; l++)
        for (unsigned s = 0; s < WHEEL_SLOTS; s++)
            list_clear(w->slots[l][s]);
    free(w);
}

void rw_timer_init(struct rw_timer *t, rw_timer_fn *cb, void *owner)
{
    t->cb = cb;
    t->owner = owner;
    t->_expires = 0;
    t->_at = 0;
    t->_next = NULL;
    t->_pprev = NULL;
}

static void list_push(struct rw_timer **head, struct rw_timer *t)
{
    t->_next = *head;
    if (*head)
        (*head)->_pprev = &t->_next;
    *head = t;
    t->_pprev = head;
}

static void timer_unlink(struct rw_timer *t)
{
    *t->_pprev = t->_next;
    if (t->_next)
        t->_next->_pprev = t->_pprev;
    t->_next = NULL;
    t->_pprev = NULL;
}

static void wheel_place(struct rw_wheel *w, struct rw_timer *t)
{
    uint64_t exp = t->_expires;
    uint64_t delta;
    unsigned lvl = 0, slot;

    if (exp < w->cur) {
        t->_at = exp;
        list_push(&w->expired, t);
        return;
    }
    delta = exp - w->cur;
    if (delta >= WHEEL_SPAN) {
        delta = WHEEL_SPAN - 1;
        exp = w->cur + delta;
    }
    t->_at = exp;
    while (lvl + 1 < WHEEL_LEVELS && delta >= (1ull << (WHEEL_BITS * (lvl + 1))))
        lvl++;
    slot = (unsigned)(exp >> (WHEEL_BITS * lvl)) & WHEEL_MASK;
    list_push(&w->slots[lvl][slot], t);
    w->bitmap[lvl] |= 1ull << slot;
}

void rw_timer_arm(struct rw_wheel *w, struct rw_timer *t, uint64_t expires_ms)
{
    if (expires_ms == RW__TIMER_OFF)
        expires_ms--; /* never, but armed */
    if (t->_pprev) {
        if (expires_ms >= t->_at) {
            /* its slot comes due first, and wheel_due() places it again then */
            t->_expires = expires_ms;
            return;
        }
        timer_unlink(t);
    }
    t->_expires = expires_ms;
    wheel_place(w, t);
}

void rw_timer_stop(struct rw_timer *t)
{
    if (t->_pprev)
        t->_expires = RW__TIMER_OFF;
}

void rw_timer_cancel(struct rw_timer *t)
{
    if (t->_pprev)
        timer_unlink(t);
}

/* t's slot came due and t is out of the wheel: true when t fires now (before the
 * wheel's next tick); otherwise it was stopped (dropped) or moved later (placed
 * again). */
static bool wheel_due(struct rw_wheel *w, struct rw_timer *t)
{
    if (t->_expires == RW__TIMER_OFF)
        return false;
    if (t->_expires < w->cur)
        return true;
    wheel_place(w, t);
    return false;
}

/* First tick >= from at which a non-empty slot of level lvl is due, or UINT64_MAX.
 * Bits of empty slots (left by cancel, which cannot see the wheel) are skipped. */
static uint64_t level_next(const struct rw_wheel *w, unsigned lvl, uint64_t from)
{
    unsigned shift = WHEEL_BITS * lvl;
    uint64_t k0 = (from + (1ull << shift) - 1) >> shift;
    uint64_t bm = w->bitmap[lvl];
    unsigned r = (unsigned)k0 & WHEEL_MASK;

    while (bm) {
        uint64_t rot = r ? (bm >> r) | (bm << (64 - r)) : bm;
        unsigned d = (unsigned)__builtin_ctzll(rot);
        unsigned slot = (r + d) & WHEEL_MASK;

        if (w->slots[lvl][slot])
            return (k0 + d) << shift;
        bm &= ~(1ull << slot);
    }
    return UINT64_MAX;
}

static uint64_t wheel_next_event(const struct rw_wheel *w)
{
    uint64_t ev = UINT64_MAX;

    for (unsigned l = 0; l < WHEEL_LEVELS; l++) {
        uint64_t t = level_next(w, l, w->cur);
        if (t < ev)
            ev = t;
    }
    return ev;
}

/* Detach a list so callbacks may arm, cancel or free timers while it is walked:
 * the local head stays valid and each timer is unlinked before its callback. */
static unsigned run_list(struct rw_wheel *w, struct rw_timer **headp)
{
    struct rw_timer *head = *headp, *t;
    unsigned n = 0;

    *headp = NULL;
    if (!head)
        return 0;
    head->_pprev = &head;
    while ((t = head) != NULL) {
        timer_unlink(t);
        if (!wheel_due(w, t))
            continue;
        n++;
        if (t->cb)
            t->cb(t);
    }
    return n;
}

static void wheel_cascade(struct rw_wheel *w, unsigned lvl, unsigned slot)
{
    struct rw_timer *t = w->slots[lvl][slot];

    w->slots[lvl][slot] = NULL;
    w->bitmap[lvl] &= ~(1ull << slot);
    while (t) {
        struct rw_timer *n = t->_next;
        t->_next = NULL;
        t->_pprev = NULL;
        if (t->_expires != RW__TIMER_OFF)
            wheel_place(w, t);
        t = n;
    }
}

unsigned rw_wheel_advance(struct rw_wheel *w, uint64_t now_ms)
{
    unsigned fired = run_list(w, &w->expired);

    for (;;) {
        uint64_t ev = wheel_next_event(w);
        unsigned slot;

        if (ev == UINT64_MAX || ev > now_ms)
            break;
        w->cur = ev;
        for (unsigned l = WHEEL_LEVELS - 1; l >= 1; l--) {
            if ((ev & ((1ull << (WHEEL_BITS * l)) - 1)) == 0)
                wheel_cascade(w, l, (unsigned)(ev >> (WHEEL_BITS * l)) & WHEEL_MASK);
        }
        slot = (unsigned)ev & WHEEL_MASK;
        w->bitmap[0] &= ~(1ull << slot);
        /* Timers armed by these callbacks are placed relative to the next tick;
         * one armed at or before ev lands on the expired list (next advance). */
        w->cur = ev + 1;
        fired += run_list(w, &w->slots[0][slot]);
    }
    if (w->cur <= now_ms)
        w->cur = now_ms + 1;
    return fired;
}

int64_t rw_wheel_next_ms(const struct rw_wheel *w, uint64_t now_ms)
{
    uint64_t ev;

    if (w->expired)
        return 0;
    ev = wheel_next_event(w);
    if (ev == UINT64_MAX)
        return -1;
    return ev <= now_ms ? 0 : (int64_t)(ev - now_ms);
}
