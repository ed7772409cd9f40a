/* SPDX-License-Identifier: MIT */
/* Pure state machines: rise/fall, ejection backoff and cap, state choice, schedule. */
#include "health/health-int.h"

void rw__hc_sm_init(struct rw__hc_sm *s, bool initial_down)
{
    /* Until the first result a server counts as up, unless "initial": "down". */
    *s = (struct rw__hc_sm){.healthy = !initial_down};
}

bool rw__hc_sm_feed(struct rw__hc_sm *s, bool ok, uint32_t rise, uint32_t fall)
{
    bool was = s->healthy;
    if (ok) {
        s->ok_run++;
        s->fail_run = 0;
    } else {
        s->fail_run++;
        s->ok_run = 0;
    }
    if (!s->first_done) {
        /* The first result sets the state directly: a fresh server is not held back
         * by rise, and a dead one is not served for fall intervals. */
        s->first_done = true;
        s->healthy = ok;
    } else if (ok && !s->healthy && s->ok_run >= rise) {
        s->healthy = true;
    } else if (!ok && s->healthy && s->fail_run >= fall) {
        s->healthy = false;
    }
    return s->healthy != was;
}

uint64_t rw__ej_eject(struct rw__ej *e, uint64_t now_ms, uint32_t eject_ms, uint32_t max_ms)
{
    uint64_t d = eject_ms;
    for (uint32_t i = 0; i < e->mult && d < max_ms; i++)
        d *= 2;
    if (d > max_ms)
        d = max_ms;
    e->mult++;
    e->ejected = true;
    e->probation = false;
    e->until_ms = now_ms + d;
    return d;
}

void rw__ej_return(struct rw__ej *e)
{
    e->ejected = false;
    e->probation = true;
}

void rw__ej_pass(struct rw__ej *e)
{
    e->probation = false;
    e->mult = 0;
}

bool rw__ej_cap_allows(uint32_t nejected, uint32_t n, uint32_t pct)
{
    return n && (uint64_t)(nejected + 1) * 100 <= (uint64_t)pct * n;
}

bool rw__hc_want(bool healthy, bool ejected, uint32_t cur, uint32_t *out)
{
    /* DRAIN is an admin's decision: health never overrides it. */
    if (cur == RW_BE_DRAIN)
        return false;
    uint32_t want = healthy && !ejected ? RW_BE_UP : RW_BE_DOWN;
    *out = want;
    return want != cur;
}

uint32_t rw__hc_phase(uint64_t uid, uint32_t interval_ms)
{
    /* Fibonacci-mix the uid so that neighbouring ids spread over the whole interval. */
    uint64_t x = uid * 0x9e3779b97f4a7c15ull;
    return interval_ms ? (uint32_t)((x >> 32) % interval_ms) : 0;
}

uint64_t rw__hc_due(uint64_t base_ms, uint32_t interval_ms, uint32_t jitter_pct, uint64_t rnd)
{
    uint64_t span = (uint64_t)interval_ms * jitter_pct / 100;
    if (!span)
        return base_ms;
    /* Uniform in [base - span, base + span]. */
    uint64_t off = rnd % (2 * span + 1);
    return base_ms + off >= span ? base_ms + off - span : 0;
}
