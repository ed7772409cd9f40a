/* SPDX-License-Identifier: MIT */
/* Upstreams at run time: add (servers inherit state by uid), remove, and the command queue. */
#include "health/health.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/rcu.h"
#include "health/health-int.h"

/*
 * Who owns what: h->ups (and every upstream's server objects) belong to the health
 * thread while it takes commands (cmd_live), and to the control thread otherwise
 * (before rw_health_start, after the thread's exit). The control thread never touches
 * them while the thread runs: it queues a command, wakes the loop and waits for the
 * thread to run it. A command the thread could not take before exiting is handed back
 * (bounced) and run by its submitter, so a wait always ends. Workers see upstreams
 * only through h->by_index, which only the control thread writes.
 */

#define HC_ACK_WARN_S 1   /* log each second a command waits for the health thread */
#define HC_RM_ACK_MS 1000 /* a removal is acknowledged by then even with ops still out */

/* ---- inheriting server state from the upstream being replaced ---- */

struct hc_uid_ent {
    uint64_t uid;
    const struct rw__hc_srv *s; /* borrowed: from's */
};

static int hc_uid_cmp(const void *a, const void *b)
{
    uint64_t x = ((const struct hc_uid_ent *)a)->uid, y = ((const struct hc_uid_ent *)b)->uid;
    return x < y ? -1 : x > y;
}

/* from's servers that hold state (tracked, or inherited and not yet tracked), sorted
 * by uid. NULL with *n = 0 when there are none; NULL with *n > 0 on -ENOMEM. */
static struct hc_uid_ent *hc_uid_index(const struct rw__hc_ups *from, uint32_t *n)
{
    *n = 0;
    for (uint32_t k = 0; k < from->nsrv; k++)
        if (from->srv[k] && (from->srv[k]->tracked || from->srv[k]->inherited))
            (*n)++;
    struct hc_uid_ent *ix = *n ? malloc(*n * sizeof(*ix)) : NULL;
    if (!ix)
        return NULL;
    uint32_t i = 0;
    for (uint32_t k = 0; k < from->nsrv; k++)
        if (from->srv[k] && (from->srv[k]->tracked || from->srv[k]->inherited))
            ix[i++] = (struct hc_uid_ent){.uid = from->srv[k]->uid, .s = from->srv[k]};
    qsort(ix, *n, sizeof(*ix), hc_uid_cmp);
    return ix;
}

static void hc_copy64(_Atomic uint64_t *dst, const _Atomic uint64_t *src)
{
    atomic_store_explicit(dst, atomic_load_explicit(src, memory_order_relaxed),
                          memory_order_relaxed);
}

/* s starts where o stands: each input is taken over only when both upstreams have
 * that check type (else it starts as for a new server); the figures always. */
static void hc_srv_inherit(struct rw__hc_srv *s, const struct rw__hc_srv *o)
{
    struct rw__hc_ups *u = s->u;
    const struct rw__hc_ups *f = o->u;
    s->inh_active = u->has_active && f->has_active;
    if (s->inh_active) {
        s->sm = o->sm;
        s->due_ms = o->due_ms;
        s->last_start_us = o->last_start_us;
        memcpy(s->reason, o->reason, sizeof(s->reason));
    } else {
        rw__hc_sm_init(&s->sm, u->has_active && (u->act.initial_down || s->b->initial_down));
    }
    struct rw__hp_srv *d = s->hp;
    const struct rw__hp_srv *x = o->hp;
    if (u->has_passive && f->has_passive) {
        s->ej = o->ej;
        s->cap_blocked = o->cap_blocked;
        atomic_store_explicit(&d->consec, atomic_load_explicit(&x->consec, memory_order_relaxed),
                              memory_order_relaxed);
        atomic_store_explicit(&d->probation_ok,
                              atomic_load_explicit(&x->probation_ok, memory_order_relaxed),
                              memory_order_relaxed);
        hc_copy64(&d->streak_ms, &x->streak_ms);
    } else {
        s->ej = (struct rw__ej){0};
    }
    hc_copy64(&d->checks, &x->checks);
    hc_copy64(&d->failures, &x->failures);
    hc_copy64(&d->ejections, &x->ejections);
    hc_copy64(&d->late_max_us, &x->late_max_us);
    hc_copy64(&d->late_sum_us, &x->late_sum_us);
    hc_copy64(&d->gap_max_us, &x->gap_max_us);
    s->inherited = true;
    rw__hc_publish_flags(s);
    /* The new pool shows the inherited state before anyone can pick from it: a server
     * down in the old upstream is never up here, not even for one request. */
    if (!u->has_active && !u->has_passive)
        return;
    bool healthy = !u->has_active || s->sm.healthy;
    uint32_t cur = atomic_load_explicit(&s->b->state, memory_order_relaxed), want;
    if (rw__hc_want(healthy, s->ej.ejected, cur, &want))
        rw_backend_set_state(s->b, (enum rw_be_state)want);
}

static void hc_inherit(struct rw_health *h, struct rw__hc_ups *u, const struct rw__hc_ups *from)
{
    uint32_t n = 0, hits = 0;
    struct hc_uid_ent *ix = hc_uid_index(from, &n);
    if (!ix) {
        if (n)
            rw_log(RW_LOG_ERR, "upstream %s: cannot carry health state over from %s: %s", u->name,
                   from->name, rw_strerror(-ENOMEM));
        return;
    }
    const struct rw_backend_set *set = rw_pool_set(u->pool);
    for (uint32_t i = 0; i < set->n; i++) {
        struct rw_backend *b = set->b[i];
        struct hc_uid_ent key = {.uid = b->uid};
        const struct hc_uid_ent *e = bsearch(&key, ix, n, sizeof(*ix), hc_uid_cmp);
        if (!e)
            continue;
        struct rw__hc_srv *s = rw__hc_srv_get(h, u, b);
        if (!s) {
            rw_log(RW_LOG_ERR, "upstream %s: cannot track server %u", u->name, b->id);
            continue;
        }
        hc_srv_inherit(s, e->s);
        hits++;
    }
    free(ix);
    rw_log(RW_LOG_INFO, "upstream %s: %u of %u servers keep their health state (from %s)", u->name,
           hits, set->n, from->name);
}

/* ---- commands ---- */

/* running: on the health thread with its loop; else on the control thread, no loop. */
static int hc_exec_add(struct rw_health *h, struct rw__hc_ups *u, const struct rw__hc_ups *from,
                       bool running)
{
    if (h->nups == h->ups_cap) {
        uint32_t cap = h->ups_cap ? h->ups_cap * 2 : 8;
        struct rw__hc_ups **ups = realloc(h->ups, cap * sizeof(*ups));
        if (!ups)
            return -ENOMEM;
        h->ups = ups;
        h->ups_cap = cap;
    }
    h->ups[h->nups++] = u;
    if (from)
        hc_inherit(h, u, from);
    if (running && !atomic_load(&h->stop))
        rw__hc_discover(h, u, rw_loop_now(h->loop)); /* first checks start now */
    return 0;
}

/* Returns false when the removal is acknowledged later (rw__hc_reap): it waits for the
 * final completions of the closes it started, so the connections are gone on return. */
static bool hc_exec_remove(struct rw_health *h, struct rw__hc_cmd *c, bool running)
{
    struct rw__hc_ups *u = c->u;
    for (uint32_t i = 0; i < h->nups; i++) {
        if (h->ups[i] == u) {
            memmove(h->ups + i, h->ups + i + 1, (h->nups - i - 1) * sizeof(*h->ups));
            h->nups--;
            break;
        }
    }
    for (uint32_t k = 0; k < u->nsrv; k++) {
        struct rw__hc_srv *s = u->srv[k];
        if (!s)
            continue;
        s->tracked = s->inherited = s->start_pending = false;
        rw_timer_cancel(&s->sched);
        rw_timer_cancel(&s->deadline);
        rw_timer_cancel(&s->eject_tm);
        if (running)
            rw__hc_conn_abort(s);
        /* What is left of a check (final completions, closes) never reads these. */
        s->b = NULL;
    }
    u->pool = NULL;
    u->name = "(removed)";
    if (running && rw__hc_ups_busy(u)) {
        u->rm_cmd = c;
        u->rm_deadline_ms = rw_loop_now(h->loop) + HC_RM_ACK_MS;
        u->dying_next = h->dying;
        h->dying = u;
        return false;
    }
    rw__hc_ups_free(u);
    return true;
}

/* False when c is acknowledged later (hc_ack). */
static bool hc_exec(struct rw_health *h, struct rw__hc_cmd *c, bool running)
{
    if (c->kind == RW__HC_CMD_REMOVE)
        return hc_exec_remove(h, c, running);
    c->rc = hc_exec_add(h, c->u, c->from, running);
    return true;
}

static void hc_ack(struct rw_health *h, struct rw__hc_cmd *c)
{
    pthread_mutex_lock(&h->cmd_mu);
    c->done = true; /* c lives on the submitter's stack: not touched after this */
    pthread_cond_broadcast(&h->cmd_cv);
    pthread_mutex_unlock(&h->cmd_mu);
}

void rw__hc_cmd_drain(struct rw_health *h)
{
    for (;;) {
        pthread_mutex_lock(&h->cmd_mu);
        struct rw__hc_cmd *c = h->cmd_head;
        if (c) {
            h->cmd_head = c->next;
            if (!h->cmd_head)
                h->cmd_tail = &h->cmd_head;
        }
        pthread_mutex_unlock(&h->cmd_mu);
        if (!c)
            return;
        if (hc_exec(h, c, true))
            hc_ack(h, c);
    }
}

void rw__hc_cmd_close(struct rw_health *h)
{
    for (struct rw__hc_ups *u = h->dying; u; u = u->dying_next) {
        if (u->rm_cmd) /* ops still out at exit: the loop is leaked with them */
            hc_ack(h, u->rm_cmd);
        u->rm_cmd = NULL;
    }
    pthread_mutex_lock(&h->cmd_mu);
    h->cmd_live = false;
    struct rw__hc_cmd *c = h->cmd_head;
    h->cmd_head = NULL;
    h->cmd_tail = &h->cmd_head;
    while (c) {
        struct rw__hc_cmd *next = c->next;
        c->bounced = true;
        c = next;
    }
    pthread_cond_broadcast(&h->cmd_cv);
    pthread_mutex_unlock(&h->cmd_mu);
}

void rw__hc_reap(struct rw_health *h)
{
    struct rw__hc_ups **pp = &h->dying;
    while (*pp) {
        struct rw__hc_ups *u = *pp;
        if (rw__hc_ups_busy(u)) {
            if (u->rm_cmd && rw_loop_now(h->loop) >= u->rm_deadline_ms) {
                rw_log(RW_LOG_WARN, "health: removed upstream %u still closing after %u ms",
                       u->index, HC_RM_ACK_MS);
                hc_ack(h, u->rm_cmd);
                u->rm_cmd = NULL;
            }
            pp = &u->dying_next;
            continue;
        }
        *pp = u->dying_next;
        if (u->rm_cmd)
            hc_ack(h, u->rm_cmd);
        rw__hc_ups_free(u);
    }
}

/* Run c on the health thread if it takes commands, else here. Returns once c ran. */
static void hc_submit(struct rw_health *h, struct rw__hc_cmd *c)
{
    pthread_mutex_lock(&h->cmd_mu);
    if (h->cmd_live) {
        c->next = NULL;
        *h->cmd_tail = c;
        h->cmd_tail = &c->next;
        rw_loop_wake(h->loop); /* under cmd_mu: the loop outlives cmd_live */
        unsigned waited = 0;
        while (!c->done && !c->bounced) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += HC_ACK_WARN_S;
            if (pthread_cond_timedwait(&h->cmd_cv, &h->cmd_mu, &ts) != 0 && !c->done && !c->bounced)
                rw_log(RW_LOG_WARN, "health: command waiting for the health thread for %u s",
                       (waited += HC_ACK_WARN_S));
        }
    }
    bool here = !c->done;
    pthread_mutex_unlock(&h->cmd_mu);
    if (here)
        hc_exec(h, c, false); /* no loop: nothing is left outstanding */
}

/* ---- public ---- */

int rw_health_add_upstream_ex(struct rw_health *h, uint32_t index, const char *name,
                              struct rw_pool *pool, const struct rw_hc_params *active,
                              const struct rw_passive_params *passive, int32_t inherit_from)
{
    if (index >= RW__HC_MAX_UPSTREAMS || !pool || !name || inherit_from < -1 ||
        inherit_from >= RW__HC_MAX_UPSTREAMS ||
        atomic_load_explicit(&h->by_index[index], memory_order_relaxed))
        return -EINVAL;
    struct rw__hc_ups *from = NULL;
    if (inherit_from >= 0 &&
        !(from = atomic_load_explicit(&h->by_index[inherit_from], memory_order_relaxed)))
        return -ENOENT;
    struct rw__hc_ups *u = NULL;
    int rc = rw__hc_ups_new(index, name, pool, active, passive, &u);
    if (rc < 0)
        return rc;
    struct rw__hc_cmd c = {.kind = RW__HC_CMD_ADD, .u = u, .from = from};
    hc_submit(h, &c);
    if (c.rc < 0) {
        rw__hc_ups_free(u);
        return c.rc;
    }
    atomic_store_explicit(&h->by_index[index], u, memory_order_release);
    return 0;
}

int rw_health_add_upstream(struct rw_health *h, uint32_t index, const char *name,
                           struct rw_pool *pool, const struct rw_hc_params *active,
                           const struct rw_passive_params *passive)
{
    return rw_health_add_upstream_ex(h, index, name, pool, active, passive, -1);
}

void rw_health_remove_upstream(struct rw_health *h, uint32_t index)
{
    if (index >= RW__HC_MAX_UPSTREAMS)
        return;
    struct rw__hc_ups *u = atomic_load_explicit(&h->by_index[index], memory_order_relaxed);
    if (!u)
        return;
    atomic_store_explicit(&h->by_index[index], NULL, memory_order_release);
    /* A worker inside rw_health_report (or a registered stats reader) may still hold u:
     * wait until every reader passed a quiescent point before u can be freed. */
    rw_rcu_synchronize();
    struct rw__hc_cmd c = {.kind = RW__HC_CMD_REMOVE, .u = u};
    hc_submit(h, &c);
}
