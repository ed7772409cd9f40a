/* SPDX-License-Identifier: MIT */
/* The health thread: lifecycle, server discovery, schedule, state writes and logs. */
#include "health/health.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/rcu.h"
#include "health/health-int.h"

#define HC_STOP_TURNS 500 /* x 10 ms: bound on waiting for cancelled ops at stop */

static const char *const hc_state_names[] = {"UP", "DOWN", "DRAIN"};

uint64_t rw__hc_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

void rw_health_status_add(uint64_t *bits, int code)
{
    if (code >= 100 && code <= 599)
        bits[(code - 100) / 64] |= 1ull << ((code - 100) % 64);
}

bool rw_health_status_has(const uint64_t *bits, int code)
{
    return code >= 100 && code <= 599 && ((bits[(code - 100) / 64] >> ((code - 100) % 64)) & 1);
}

static const char *hc_state_name(uint32_t s)
{
    return s < 3 ? hc_state_names[s] : "?";
}

void rw__hc_apply(struct rw__hc_srv *s, const char *what, const char *reason)
{
    struct rw_backend *b = s->b;
    const char *name = b->name ? b->name : "?";
    uint32_t cur = atomic_load_explicit(&b->state, memory_order_relaxed), want = cur;
    bool healthy = !s->u->has_active || s->sm.healthy;
    rw__hc_publish_flags(s);
    if (rw__hc_want(healthy, s->ej.ejected, cur, &want)) {
        rw_backend_set_state(b, (enum rw_be_state)want);
        rw_log(want == RW_BE_UP ? RW_LOG_INFO : RW_LOG_WARN, "upstream %s server %s: %s -> %s (%s)",
               s->u->name, name, hc_state_name(cur), hc_state_name(want), reason);
        return;
    }
    rw_log(RW_LOG_INFO, "upstream %s server %s: %s (%s); state stays %s", s->u->name, name, what,
           reason, hc_state_name(cur));
}

void rw__hc_result(struct rw__hc_srv *s, bool ok)
{
    struct rw__hp_srv *hp = s->hp;
    atomic_fetch_add_explicit(&hp->checks, 1, memory_order_relaxed);
    if (!ok)
        atomic_fetch_add_explicit(&hp->failures, 1, memory_order_relaxed);
    const struct rw_hc_params *a = &s->u->act;
    bool first = !s->sm.first_done;
    if (rw__hc_sm_feed(&s->sm, ok, a->rise, a->fall)) {
        char why[192];
        if (first && ok)
            snprintf(why, sizeof(why), "first health check passed");
        else if (first)
            snprintf(why, sizeof(why), "first health check failed: %s", s->reason);
        else if (ok)
            snprintf(why, sizeof(why), "health check passed %u times", a->rise);
        else
            snprintf(why, sizeof(why), "health check failed %u times: %s", a->fall, s->reason);
        rw__hc_apply(s, ok ? "healthy" : "unhealthy", why);
    } else if (first) {
        rw__hc_publish_flags(s);
    }
    rw__hc_schedule_next(s);
}

void rw__hc_schedule_next(struct rw__hc_srv *s)
{
    if (!s->tracked || atomic_load(&s->h->stop))
        return;
    uint64_t now = rw_loop_now(s->h->loop), iv = s->u->act.interval_ms;
    /* Anchored on the schedule, not on when the check ended: no cumulative drift;
     * slots that passed while a check ran (or the thread lagged) are skipped. */
    if (s->slot_fresh)
        s->slot_fresh = false;
    else
        s->base_ms += iv;
    if (s->base_ms <= now)
        s->base_ms += ((now - s->base_ms) / iv + 1) * iv;
    s->h->rng += 0x9e3779b97f4a7c15ull;
    uint64_t z = s->h->rng;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    uint64_t due = rw__hc_due(s->base_ms, (uint32_t)iv, s->u->act.jitter_pct, z ^ (z >> 31));
    s->due_ms = due > now ? due : now;
    rw_timer_arm(rw_loop_wheel(s->h->loop), &s->sched, s->due_ms);
}

static void hc_on_sched(struct rw_timer *t)
{
    rw__hc_check_start(t->owner);
}

struct rw__hc_srv *rw__hc_srv_get(struct rw_health *h, struct rw__hc_ups *u, struct rw_backend *b)
{
    if (b->id >= RW_HEALTH_MAX_SERVERS)
        return NULL;
    if (b->id >= u->nsrv) {
        uint32_t n = u->nsrv ? u->nsrv : 16;
        while (n <= b->id)
            n *= 2;
        struct rw__hc_srv **ns = realloc(u->srv, (size_t)n * sizeof(*ns));
        if (!ns)
            return NULL;
        memset(ns + u->nsrv, 0, (size_t)(n - u->nsrv) * sizeof(*ns));
        u->srv = ns;
        u->nsrv = n;
    }
    if (u->srv[b->id])
        return u->srv[b->id];
    uint32_t c = b->id / RW__HC_CHUNK;
    struct rw__hp_srv *chunk = atomic_load_explicit(&u->hp[c], memory_order_relaxed);
    if (!chunk) {
        chunk = aligned_alloc(64, RW__HC_CHUNK * sizeof(*chunk));
        if (!chunk)
            return NULL;
        memset(chunk, 0, RW__HC_CHUNK * sizeof(*chunk));
        atomic_store_explicit(&u->hp[c], chunk, memory_order_release);
    }
    struct rw__hc_srv *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->h = h;
    s->u = u;
    s->b = b;
    s->uid = b->uid;
    s->hp = &chunk[b->id % RW__HC_CHUNK];
    s->fd = -1;
    rw_timer_init(&s->sched, hc_on_sched, s);
    if (u->has_active && rw__hc_build_request(s) < 0) {
        free(s);
        return NULL;
    }
    u->srv[b->id] = s;
    return s;
}

/* The first check runs now; the next lands on this server's phase of the interval,
 * so servers added together spread out afterwards. */
static void hc_first_check(struct rw__hc_srv *s, uint64_t now)
{
    s->base_ms = now + rw__hc_phase(s->uid, s->u->act.interval_ms);
    s->slot_fresh = true;
    s->due_ms = now;
    rw__hc_check_start(s);
}

/* A server that inherited its inputs from the upstream it replaces: no "first check"
 * treatment, an ejection keeps its end time, and the schedule keeps its next slot
 * (within one interval), so a reload neither bursts checks nor forgets failures. */
static void hc_track_inherited(struct rw__hc_srv *s, uint64_t now)
{
    struct rw__hc_ups *u = s->u;
    s->inherited = false;
    s->tracked = true;
    u->ntracked++;
    rw__hp_track_inherited(s);
    if (!u->has_active && !u->has_passive)
        return;
    rw__hc_apply(s, "tracked", "state carried over from the previous configuration");
    if (!u->has_active)
        return;
    if (!s->inh_active) {
        hc_first_check(s, now);
        return;
    }
    uint64_t iv = u->act.interval_ms, due = s->due_ms;
    due = due < now ? now : due > now + iv ? now + iv : due;
    s->base_ms = s->due_ms = due;
    s->slot_fresh = true;
    if (due <= now)
        rw__hc_check_start(s);
    else
        rw_timer_arm(rw_loop_wheel(s->h->loop), &s->sched, due);
}

static void hc_track(struct rw__hc_srv *s, uint64_t now)
{
    struct rw__hc_ups *u = s->u;
    if (s->inherited) {
        hc_track_inherited(s, now);
        return;
    }
    s->tracked = true;
    u->ntracked++;
    bool down = u->has_active && (u->act.initial_down || s->b->initial_down);
    rw__hc_sm_init(&s->sm, down);
    s->cap_blocked = false;
    rw__hp_track(s, true);
    if (!u->has_active && !u->has_passive)
        return; /* tracked only: health never writes its state */
    const char *why = down ? "initial: down, waiting for the first passing check"
                          : "added; counts as up until its first check";
    rw__hc_apply(s, "tracked", why);
    if (!u->has_active)
        return;
    hc_first_check(s, now);
}

static void hc_untrack(struct rw__hc_srv *s)
{
    s->tracked = false;
    s->u->ntracked--;
    s->start_pending = false;
    rw_timer_cancel(&s->sched);
    rw_timer_cancel(&s->deadline);
    rw__hc_conn_abort(s);
    rw__hp_track(s, false);
}

void rw__hc_discover(struct rw_health *h, struct rw__hc_ups *u, uint64_t now)
{
    const struct rw_backend_set *set = rw_pool_set(u->pool);
    if (set->generation == u->seen_gen)
        return;
    bool *keep = calloc(u->nsrv + set->n + 1, sizeof(bool));
    if (!keep)
        return; /* retried at the next sweep */
    u->seen_gen = set->generation;
    uint32_t nkeep = u->nsrv + set->n + 1;
    for (uint32_t i = 0; i < set->n; i++) {
        struct rw_backend *b = set->b[i];
        struct rw__hc_srv *s = rw__hc_srv_get(h, u, b);
        if (!s) {
            rw_log(RW_LOG_ERR, "upstream %s: cannot track server %u", u->name, b->id);
            u->seen_gen = 0; /* try again */
            continue;
        }
        if (b->id < nkeep)
            keep[b->id] = true;
        if (!s->tracked)
            hc_track(s, now);
    }
    for (uint32_t i = 0; i < u->nsrv; i++) {
        if (!u->srv[i] || (i < nkeep && keep[i]))
            continue;
        u->srv[i]->inherited = false; /* left before it was tracked: starts fresh if back */
        if (u->srv[i]->tracked)
            hc_untrack(u->srv[i]);
    }
    free(keep);
}

/* Someone (an admin leaving DRAIN, a test) wrote a state that contradicts the inputs:
 * write it back. One relaxed load per server when nothing is off. */
static void hc_reconcile(struct rw__hc_ups *u)
{
    for (uint32_t i = 0; i < u->nsrv; i++) {
        struct rw__hc_srv *s = u->srv[i];
        if (!s || !s->tracked)
            continue;
        uint32_t cur = atomic_load_explicit(&s->b->state, memory_order_relaxed), want;
        bool healthy = !u->has_active || s->sm.healthy;
        if (!rw__hc_want(healthy, s->ej.ejected, cur, &want))
            continue;
        const char *why = !healthy && s->ej.ejected ? "unhealthy and ejected"
                          : !healthy                ? "still failing health checks"
                          : s->ej.ejected           ? "still ejected"
                                                    : "healthy";
        rw__hc_apply(s, "state restored", why);
    }
}

/* Discovery, passive trips and probation, and state written back where someone
 * contradicted the inputs. */
static void hc_sweep_run(struct rw_health *h, uint64_t now)
{
    rw__hc_cmd_drain(h); /* normally done at once by the wake; this bounds a lost wake */
    rw__hc_reap(h);
    for (uint32_t i = 0; i < h->nups; i++) {
        struct rw__hc_ups *u = h->ups[i];
        rw__hc_discover(h, u, now);
        if (u->has_passive)
            rw__hp_sweep(u, now);
        if (u->has_active || u->has_passive)
            hc_reconcile(u);
    }
}

/* Passive trips and a removal's deadline are polled, so they keep the short period;
 * everything else arrives with a wake (rw_health_poke, a command) and the long one
 * only bounds a lost wake. An idle proxy without outlier detection so wakes once a
 * second, not fifty times. Never pushes an earlier sweep back. */
static void hc_sweep_arm(struct rw_health *h, uint64_t now)
{
    uint64_t period = h->dying ? RW_HEALTH_SWEEP_MS : RW_HEALTH_IDLE_SWEEP_MS;
    for (uint32_t i = 0; i < h->nups && period > RW_HEALTH_SWEEP_MS; i++)
        if (h->ups[i]->has_passive)
            period = RW_HEALTH_SWEEP_MS;
    if (rw_timer_armed(&h->sweep) && h->sweep_due <= now + period)
        return;
    h->sweep_due = now + period;
    rw_timer_arm(rw_loop_wheel(h->loop), &h->sweep, h->sweep_due);
}

static void hc_sweep(struct rw_timer *t)
{
    struct rw_health *h = t->owner;
    uint64_t now = rw_loop_now(h->loop);
    hc_sweep_run(h, now);
    hc_sweep_arm(h, now);
}

bool rw__hc_ups_busy(const struct rw__hc_ups *u)
{
    for (uint32_t k = 0; k < u->nsrv; k++)
        if (u->srv[k] && rw__hc_busy(u->srv[k]))
            return true;
    return false;
}

static bool hc_any_busy(struct rw_health *h)
{
    for (uint32_t i = 0; i < h->nups; i++)
        if (rw__hc_ups_busy(h->ups[i]))
            return true;
    for (const struct rw__hc_ups *u = h->dying; u; u = u->dying_next)
        if (rw__hc_ups_busy(u))
            return true;
    return false;
}

/* Cancel everything and wait (bounded) for the final completions. */
static void hc_shutdown(struct rw_health *h)
{
    rw_timer_cancel(&h->sweep);
    for (uint32_t i = 0; i < h->nups; i++) {
        struct rw__hc_ups *u = h->ups[i];
        for (uint32_t k = 0; k < u->nsrv; k++) {
            struct rw__hc_srv *s = u->srv[k];
            if (!s)
                continue;
            s->start_pending = false;
            rw_timer_cancel(&s->sched);
            rw_timer_cancel(&s->deadline);
            rw_timer_cancel(&s->eject_tm);
            rw__hc_conn_abort(s);
        }
    }
    for (int i = 0; i < HC_STOP_TURNS && hc_any_busy(h); i++)
        rw_loop_run_once(h->loop, 10 * 1000 * 1000);
}

static void hc_on_wake(struct rw_loop *l, void *arg)
{
    struct rw_health *h = arg;
    uint64_t now = rw_loop_now(l);
    rw__hc_cmd_drain(h);
    if (atomic_exchange(&h->poked, false))
        hc_sweep_run(h, now);
    hc_sweep_arm(h, now); /* an upstream added with outlier detection polls from now on */
}

static int hc_thread_setup(struct rw_health *h)
{
    struct rw_loop_cfg lc = {.backend = h->io->name, .entries = 256, .buf_count = 64};
    int err = 0;
    h->loop = rw_loop_new(h->io, &lc, &err);
    if (!h->loop)
        return err;
    h->hdrs = calloc(RW_H1_MAX_HEADERS, sizeof(*h->hdrs));
    if (!h->hdrs)
        return -ENOMEM;
    rw_loop_set_wake(h->loop, hc_on_wake, h);
    return 0;
}

static void *hc_thread(void *arg)
{
    struct rw_health *h = arg;
    rw_log_set_thread("health");
    int rc = hc_thread_setup(h);
    if (rc < 0) {
        rw_log(RW_LOG_ERR, "health: start: %s", rw_strerror(rc));
        if (h->loop)
            rw_loop_free(h->loop);
        h->loop = NULL;
        atomic_store(&h->started, rc);
        return NULL;
    }
    rw_rcu_register();
    h->rng = rw__hc_now_us();
    rw_timer_init(&h->sweep, hc_sweep, h);
    pthread_mutex_lock(&h->cmd_mu);
    h->cmd_live = true; /* from here on, h->ups belongs to this thread */
    pthread_mutex_unlock(&h->cmd_mu);
    hc_sweep(&h->sweep); /* every server tracked, first checks started */
    atomic_store(&h->started, 1);
    /* rw_health_stop wakes the loop; the sweep timer bounds every wait anyway. */
    while (!atomic_load(&h->stop)) {
        rc = rw_loop_run_once(h->loop, -1);
        if (rc < 0 && rc != -EINTR && rc != -ETIME && rc != -EAGAIN) {
            rw_log(RW_LOG_ERR, "health: loop: %s", rw_strerror(rc));
            usleep(10000);
        }
        if (h->dying)
            rw__hc_reap(h); /* a removal waits for its closes' final completions */
    }
    hc_shutdown(h);
    rw__hc_reap(h);
    bool busy = hc_any_busy(h);
    rw__hc_cmd_close(h); /* h->ups, h->dying: the control thread's again */
    rw_rcu_unregister();
    if (busy)
        rw_log(RW_LOG_ERR, "health: operations still in flight at exit; loop leaked");
    else
        rw_loop_free(h->loop);
    h->loop = NULL;
    rw_tls_thread_cleanup(); /* wolfSSL's per-thread caches */
    atomic_store(&h->started, 2);
    return NULL;
}

struct rw_health *rw_health_new(const struct rw_io_ops *io, uint32_t nworkers, int *err)
{
    if (!io || nworkers == 0) {
        *err = -EINVAL;
        return NULL;
    }
    struct rw_health *h = calloc(1, sizeof(*h));
    if (h)
        h->by_index = calloc(RW__HC_MAX_UPSTREAMS, sizeof(*h->by_index));
    if (!h || !h->by_index) {
        free(h);
        *err = -ENOMEM;
        return NULL;
    }
    h->io = io;
    h->nworkers = nworkers;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* rw__hc_submit's timed waits */
    pthread_mutex_init(&h->cmd_mu, NULL);
    pthread_cond_init(&h->cmd_cv, &ca);
    pthread_condattr_destroy(&ca);
    h->cmd_tail = &h->cmd_head;
    return h;
}

int rw_health_start(struct rw_health *h)
{
    if (h->has_thread)
        return -EALREADY;
    atomic_store(&h->stop, false);
    atomic_store(&h->started, 0);
    int rc = pthread_create(&h->th, NULL, hc_thread, h);
    if (rc)
        return -rc;
    h->has_thread = true;
    /* Start-up only: wait until the loop exists (or failed). */
    while ((rc = atomic_load(&h->started)) == 0)
        usleep(1000);
    if (rc < 0) {
        pthread_join(h->th, NULL);
        h->has_thread = false;
        return rc;
    }
    return 0;
}

/* Wake the health loop if the thread runs. Under cmd_mu: the loop outlives cmd_live. */
static void hc_wake(struct rw_health *h)
{
    pthread_mutex_lock(&h->cmd_mu);
    if (h->cmd_live)
        rw_loop_wake(h->loop);
    pthread_mutex_unlock(&h->cmd_mu);
}

void rw_health_poke(struct rw_health *h)
{
    if (!h)
        return;
    atomic_store(&h->poked, true);
    hc_wake(h);
}

void rw_health_stop(struct rw_health *h)
{
    if (!h || !h->has_thread)
        return;
    atomic_store(&h->stop, true);
    hc_wake(h);
    pthread_join(h->th, NULL);
    h->has_thread = false;
}

void rw__hc_ups_free(struct rw__hc_ups *u)
{
    for (uint32_t k = 0; k < u->nsrv; k++) {
        if (u->srv[k]) {
            if (u->srv[k]->fd >= 0) /* only when the loop was leaked with it */
                close(u->srv[k]->fd);
            rw_tls_conn_free(u->srv[k]->tls);
            free(u->srv[k]->req);
            free(u->srv[k]->rbuf);
            free(u->srv[k]);
        }
    }
    free(u->srv);
    for (uint32_t c = 0; c < RW_HEALTH_MAX_SERVERS / RW__HC_CHUNK; c++)
        free(atomic_load(&u->hp[c]));
    if (u->act.tls)
        rw_tls_client_ctx_unref(u->act.tls);
    free((char *)u->act.tls_sni);
    free((char *)u->act.path);
    free((char *)u->act.method);
    free((char *)u->act.host);
    free((char *)u->act.expect_body);
    free(u);
}

void rw_health_free(struct rw_health *h)
{
    if (!h)
        return;
    rw_health_stop(h);
    for (uint32_t i = 0; i < h->nups; i++)
        rw__hc_ups_free(h->ups[i]);
    while (h->dying) {
        struct rw__hc_ups *u = h->dying;
        h->dying = u->dying_next;
        rw__hc_ups_free(u);
    }
    free(h->ups);
    free(h->by_index);
    free(h->hdrs);
    pthread_mutex_destroy(&h->cmd_mu);
    pthread_cond_destroy(&h->cmd_cv);
    free(h);
}

int rw_health_stats(struct rw_health *h, uint32_t upstream, uint32_t server_id,
                    struct rw_health_stats *out)
{
    if (upstream >= RW__HC_MAX_UPSTREAMS || server_id >= RW_HEALTH_MAX_SERVERS)
        return -ENOENT;
    struct rw__hc_ups *u = atomic_load_explicit(&h->by_index[upstream], memory_order_acquire);
    if (!u)
        return -ENOENT;
    struct rw__hp_srv *c =
        atomic_load_explicit(&u->hp[server_id / RW__HC_CHUNK], memory_order_acquire);
    if (!c)
        return -ENOENT;
    const struct rw__hp_srv *s = &c[server_id % RW__HC_CHUNK];
    uint32_t f = atomic_load_explicit(&s->st_flags, memory_order_relaxed);
    *out = (struct rw_health_stats){
        .tracked = f & 1,
        .healthy = (f & 2) != 0,
        .ejected = (f & 4) != 0,
        .checks = atomic_load_explicit(&s->checks, memory_order_relaxed),
        .failures = atomic_load_explicit(&s->failures, memory_order_relaxed),
        .ejections = atomic_load_explicit(&s->ejections, memory_order_relaxed),
        .late_max_us = atomic_load_explicit(&s->late_max_us, memory_order_relaxed),
        .late_sum_us = atomic_load_explicit(&s->late_sum_us, memory_order_relaxed),
        .interval_max_us = atomic_load_explicit(&s->gap_max_us, memory_order_relaxed),
    };
    return 0;
}
