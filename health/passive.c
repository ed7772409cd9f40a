/* SPDX-License-Identifier: MIT */
/* Passive checks (outlier detection): workers' reports, ejection, probation, the cap. */
#include "health/health-int.h"

#include <stdio.h>
#include <time.h>

#include "core/log.h"

/*
 * Why per-server atomics rather than per-worker rings: "consecutive" errors are a
 * property of the server across all workers, and a ring per worker would have to be
 * merged in order by the health thread to know the streak. A success costs one
 * relaxed load of a line that only changes on errors (so it stays shared in every
 * worker's cache); errors are rare by nature and pay a few relaxed RMWs. Races
 * between workers can blur a streak's start time or length by a report or two,
 * which is within the precision an outlier detector needs. Nothing here wakes the
 * health thread: a trip raises a flag it polls every RW_HEALTH_SWEEP_MS, so a report
 * never makes a syscall and never touches the health loop's lifetime.
 */

static uint64_t hp_coarse_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct rw__hp_srv *hp_block(struct rw_health *h, uint32_t upstream, uint32_t id,
                                   struct rw__hc_ups **out)
{
    if (upstream >= RW__HC_MAX_UPSTREAMS || id >= RW_HEALTH_MAX_SERVERS)
        return NULL;
    /* Workers are RCU readers: a removed upstream is freed only after they all passed a
     * quiescent point (rw_health_remove_upstream), so u stays valid for this report. */
    struct rw__hc_ups *u = atomic_load_explicit(&h->by_index[upstream], memory_order_acquire);
    if (!u)
        return NULL;
    struct rw__hp_srv *chunk =
        atomic_load_explicit(&u->hp[id / RW__HC_CHUNK], memory_order_acquire);
    *out = u;
    return chunk ? &chunk[id % RW__HC_CHUNK] : NULL;
}

void rw_health_report(struct rw_health *h, uint32_t worker, uint32_t upstream, uint32_t server_id,
                      enum rw_outcome o, int status)
{
    (void)worker; /* per-server state: the reporting worker does not matter */
    struct rw__hc_ups *u = NULL;
    struct rw__hp_srv *s = hp_block(h, upstream, server_id, &u);
    if (!s || !u->has_passive)
        return;
    uint32_t fl = atomic_load_explicit(&s->flags, memory_order_relaxed);
    if (!(fl & RW__HP_ON) || (fl & RW__HP_EJECTED))
        return;
    bool err = o != RW_OUT_OK || rw_health_status_has(u->pas.error_status, status);
    if (!err) {
        if (atomic_load_explicit(&s->consec, memory_order_relaxed))
            atomic_store_explicit(&s->consec, 0, memory_order_relaxed);
        if (fl & RW__HP_PROBATION)
            atomic_fetch_add_explicit(&s->probation_ok, 1, memory_order_relaxed);
        return;
    }
    uint64_t now = hp_coarse_ms();
    uint32_t n = atomic_fetch_add_explicit(&s->consec, 1, memory_order_relaxed) + 1;
    if (n == 1) {
        atomic_store_explicit(&s->streak_ms, now, memory_order_relaxed);
    } else if (now - atomic_load_explicit(&s->streak_ms, memory_order_relaxed) > u->pas.window_ms) {
        /* The streak is older than the window: this error starts a new one. */
        atomic_store_explicit(&s->consec, 1, memory_order_relaxed);
        atomic_store_explicit(&s->streak_ms, now, memory_order_relaxed);
        n = 1;
    }
    if (fl & RW__HP_PROBATION)
        atomic_store_explicit(&s->probation_ok, 0, memory_order_relaxed);
    uint32_t thr = (fl & RW__HP_PROBATION) ? 1 : u->pas.consecutive_errors;
    if (n >= thr && !(fl & RW__HP_TRIPPED)) {
        atomic_fetch_or_explicit(&s->flags, RW__HP_TRIPPED, memory_order_relaxed);
        atomic_store_explicit(&u->tripped, 1, memory_order_release);
    }
}

static void hp_fmt_ms(char *out, size_t n, uint64_t ms)
{
    if (ms % 60000 == 0)
        snprintf(out, n, "%llum", (unsigned long long)(ms / 60000));
    else if (ms % 1000 == 0)
        snprintf(out, n, "%llus", (unsigned long long)(ms / 1000));
    else
        snprintf(out, n, "%llums", (unsigned long long)ms);
}

void rw__hc_publish_flags(struct rw__hc_srv *s)
{
    uint32_t f = (s->tracked ? 1u : 0) | (s->sm.healthy ? 2u : 0) | (s->ej.ejected ? 4u : 0);
    atomic_store_explicit(&s->hp->st_flags, f, memory_order_relaxed);
}

static void hp_return(struct rw_timer *t)
{
    struct rw__hc_srv *s = t->owner;
    if (!s->ej.ejected)
        return;
    rw__ej_return(&s->ej);
    s->u->nejected--;
    atomic_store_explicit(&s->hp->consec, 0, memory_order_relaxed);
    atomic_store_explicit(&s->hp->probation_ok, 0, memory_order_relaxed);
    uint32_t fl = atomic_load_explicit(&s->hp->flags, memory_order_relaxed);
    fl = (fl & ~(RW__HP_EJECTED | RW__HP_TRIPPED)) | RW__HP_PROBATION;
    atomic_store_explicit(&s->hp->flags, fl, memory_order_relaxed);
    rw__hc_publish_flags(s);
    rw__hc_apply(s, "back from ejection", "ejection time over, on probation");
}

static void hp_trip(struct rw__hc_srv *s, uint64_t now_ms)
{
    struct rw__hc_ups *u = s->u;
    struct rw__hp_srv *hp = s->hp;
    uint32_t n = atomic_exchange_explicit(&hp->consec, 0, memory_order_relaxed);
    atomic_fetch_and_explicit(&hp->flags, ~(uint32_t)RW__HP_TRIPPED, memory_order_relaxed);
    if (s->ej.ejected)
        return;
    if (!rw__ej_cap_allows(u->nejected, u->ntracked, u->pas.max_eject_percent)) {
        if (!s->cap_blocked)
            rw_log(RW_LOG_WARN,
                   "upstream %s server %s: not ejected after %u errors: max_eject_percent "
                   "%u%% reached (%u of %u ejected)",
                   u->name, s->b->name ? s->b->name : "?", n, u->pas.max_eject_percent, u->nejected,
                   u->ntracked);
        s->cap_blocked = true;
        return;
    }
    s->cap_blocked = false;
    bool probation = s->ej.probation;
    uint64_t d = rw__ej_eject(&s->ej, now_ms, u->pas.eject_ms, u->pas.max_eject_ms);
    u->nejected++;
    uint32_t fl = atomic_load_explicit(&hp->flags, memory_order_relaxed);
    fl = (fl | RW__HP_EJECTED) & ~(uint32_t)RW__HP_PROBATION;
    atomic_store_explicit(&hp->flags, fl, memory_order_relaxed);
    atomic_fetch_add_explicit(&hp->ejections, 1, memory_order_relaxed);
    rw__hc_publish_flags(s);
    rw_timer_arm(rw_loop_wheel(s->h->loop), &s->eject_tm, s->ej.until_ms);
    char dur[32], why[128];
    hp_fmt_ms(dur, sizeof(dur), d);
    if (probation)
        snprintf(why, sizeof(why), "ejected for %s after an error on probation", dur);
    else
        snprintf(why, sizeof(why), "ejected for %s after %u consecutive error%s", dur, n,
                 n == 1 ? "" : "s");
    rw__hc_apply(s, "ejected", why);
}

void rw__hp_sweep(struct rw__hc_ups *u, uint64_t now_ms)
{
    bool tripped = atomic_exchange_explicit(&u->tripped, 0, memory_order_acquire);
    for (uint32_t i = 0; i < u->nsrv; i++) {
        struct rw__hc_srv *s = u->srv[i];
        if (!s || !s->tracked)
            continue;
        uint32_t fl = atomic_load_explicit(&s->hp->flags, memory_order_relaxed);
        if (tripped && (fl & RW__HP_TRIPPED)) {
            hp_trip(s, now_ms);
            continue;
        }
        if (s->ej.probation && atomic_load_explicit(&s->hp->probation_ok, memory_order_relaxed) >=
                                   u->pas.consecutive_errors) {
            rw__ej_pass(&s->ej);
            atomic_fetch_and_explicit(&s->hp->flags, ~(uint32_t)RW__HP_PROBATION,
                                      memory_order_relaxed);
            rw_log(RW_LOG_INFO, "upstream %s server %s: probation passed after %u successes",
                   u->name, s->b->name ? s->b->name : "?", u->pas.consecutive_errors);
        }
    }
}

void rw__hp_track(struct rw__hc_srv *s, bool on)
{
    if (!on && s->ej.ejected) {
        rw_timer_cancel(&s->eject_tm);
        s->u->nejected--;
    }
    if (!on)
        s->ej = (struct rw__ej){0};
    rw_timer_init(&s->eject_tm, hp_return, s);
    atomic_store_explicit(&s->hp->consec, 0, memory_order_relaxed);
    atomic_store_explicit(&s->hp->probation_ok, 0, memory_order_relaxed);
    atomic_store_explicit(&s->hp->flags, on && s->u->has_passive ? RW__HP_ON : 0,
                          memory_order_release);
    rw__hc_publish_flags(s);
}

void rw__hp_track_inherited(struct rw__hc_srv *s)
{
    struct rw__hc_ups *u = s->u;
    uint32_t fl = 0;
    rw_timer_init(&s->eject_tm, hp_return, s);
    if (u->has_passive) {
        fl = RW__HP_ON | (s->ej.ejected ? RW__HP_EJECTED : 0) |
             (s->ej.probation ? RW__HP_PROBATION : 0);
        if (s->ej.ejected) {
            uint64_t now = rw_loop_now(s->h->loop);
            u->nejected++;
            rw_timer_arm(rw_loop_wheel(s->h->loop), &s->eject_tm,
                         s->ej.until_ms > now ? s->ej.until_ms : now);
        }
    }
    atomic_store_explicit(&s->hp->flags, fl, memory_order_release);
    rw__hc_publish_flags(s);
}
