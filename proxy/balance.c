/* SPDX-License-Identifier: MIT */
/* Choosing a server: request keys, stickiness in front of the algorithm, the wait
 * queue for full upstreams, and the retry policy with its budget. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "balancers/sticky.h"
#include "health/health.h"
#include "core/log.h"
#include "proxy/ops.h"
#include "proxy/px.h"

#define PX_KEY_SEED 0x72696e6777616c6cull /* "ringwall" */
#define PX_QUEUE_POLL_MS 5
#define PX_BUDGET_MIN_RETRIES 3.0 /* concurrent retries always allowed */

uint32_t px_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return (uint32_t)ts.tv_sec;
}

/* ---- request keys ---- */

static bool field_value(const struct rw_h1_req *req, const char *name, const char **v, size_t *n)
{
    size_t nl = strlen(name);
    for (uint32_t i = 0; i < req->h.nhdrs; i++) {
        const struct rw_hdr *f = &req->h.hdrs[i];
        if (f->name_len == nl && !strncasecmp(f->name, name, nl)) {
            *v = f->value;
            *n = f->value_len;
            return true;
        }
    }
    return false;
}

/* Find name=value in a list of pairs separated by `sep` ("; " for cookies, "&" for queries). */
static bool pair_value(const char *s, size_t len, char sep, const char *name, const char **v,
                       size_t *n)
{
    size_t nl = strlen(name);
    const char *end = s + len;
    while (s < end) {
        while (s < end && (*s == ' ' || *s == sep))
            s++;
        const char *e = memchr(s, sep, (size_t)(end - s));
        if (!e)
            e = end;
        if ((size_t)(e - s) > nl && s[nl] == '=' && !memcmp(s, name, nl)) {
            *v = s + nl + 1;
            *n = (size_t)(e - s) - nl - 1;
            return true;
        }
        s = e;
    }
    return false;
}

bool px_cookie_value(const struct rw_h1_head *h, const char *name, const char **v, size_t *n)
{
    for (uint32_t i = 0; i < h->nhdrs; i++) {
        const struct rw_hdr *f = &h->hdrs[i];
        if (f->id == RW_H_COOKIE && pair_value(f->value, f->value_len, ';', name, v, n))
            return true;
    }
    return false;
}

/* Hash of the client address with its prefix mask applied. */
static uint64_t client_key(const struct px_conn *c, uint8_t m4, uint8_t m6)
{
    uint8_t a[17] = {0};
    size_t bytes;
    unsigned mask;
    if (c->peer.sa.sa_family == AF_INET6) {
        memcpy(a, &c->peer.v6.sin6_addr, 16);
        bytes = 16;
        mask = m6;
        a[16] = 6;
    } else {
        memcpy(a, &c->peer.v4.sin_addr, 4);
        bytes = 4;
        mask = m4;
    }
    for (size_t i = 0; i < bytes; i++) {
        unsigned keep = mask >= 8 * (i + 1) ? 8 : (mask > 8 * i ? mask - 8 * (unsigned)i : 0);
        a[i] &= (uint8_t)(0xff00u >> keep);
    }
    return rw_lb_hash(a, sizeof(a), PX_KEY_SEED);
}

/* The configured hash key of this request, if it has one. */
static bool request_key(const struct px_conn *c, const struct rw_h1_req *req,
                        const struct rw_cfg_upstream *u, uint64_t *hash)
{
    const struct rw_cfg_hash *hc = &u->hash;
    const char *v = NULL;
    size_t n = 0;
    switch (hc->key) {
    case RW_HASH_KEY_CLIENT_IP:
        *hash = client_key(c, hc->ipv4_mask, hc->ipv6_mask);
        return true;
    case RW_HASH_KEY_URI:
        v = req->path;
        n = req->path_len + (req->query ? req->query_len + 1 : 0);
        break;
    case RW_HASH_KEY_HEADER:
        if (!field_value(req, hc->key_name, &v, &n))
            return false;
        break;
    case RW_HASH_KEY_COOKIE:
        if (!px_cookie_value(&req->h, hc->key_name, &v, &n))
            return false;
        break;
    case RW_HASH_KEY_QUERY:
        if (!req->query || !pair_value(req->query, req->query_len, '&', hc->key_name, &v, &n))
            return false;
        break;
    }
    *hash = rw_lb_hash(v, n, PX_KEY_SEED);
    return true;
}

/* Read what the request says about its server, while its bytes are still here. */
void px_balance_prepare(struct px_conn *c, const struct rw_h1_req *req)
{
    const struct rw_cfg_upstream *u = c->x->route->upstream;
    const struct px_ups *pu = px_c_ups(c);
    struct px_pick *pk = &c->x->pick;
    memset(pk, 0, sizeof(*pk));
    if (!strcmp(u->balance, "hash") || !strcmp(u->balance, "ip_hash"))
        pk->has_hash = request_key(c, req, u, &pk->hash);
    const struct rw_cfg_sticky *st = &u->sticky;
    const char *v;
    size_t n;
    uint32_t now = px_now_s();
    switch (st->mode) {
    case RW_STICKY_COOKIE: {
        uint32_t issued, last;
        if (px_cookie_value(&req->h, st->name, &v, &n) &&
            rw_sticky_open(pu->key, u->name, v, n, &pk->sticky_uid, &issued, &last) == 0 &&
            rw_sticky_fresh(now, issued, last, st->ttl_ms / 1000, st->idle_ms / 1000)) {
            pk->sticky = true;
            pk->issued = issued;
            /* slide the idle window: re-issue when a good part of it has passed */
            pk->refresh = now > last && now - last >= st->idle_ms / 1000 / 8;
        }
        break;
    }
    case RW_STICKY_LEARN:
        if (px_cookie_value(&req->h, st->cookie, &v, &n)) {
            pk->table_key = rw_lb_hash(v, n, PX_KEY_SEED);
            pk->sticky = rw_sticky_table_get(pu->table->t, pk->table_key, now, st->idle_ms / 1000,
                                             &pk->sticky_uid);
        }
        break;
    case RW_STICKY_IP:
        pk->table_key = client_key(c, 32, 128);
        pk->sticky = rw_sticky_table_get(pu->table->t, pk->table_key, now, st->idle_ms / 1000,
                                         &pk->sticky_uid);
        break;
    }
}

/* ---- picking ---- */

/* A reserved server for this attempt, or NULL (*full: every usable server was full). */
struct rw_backend *px_pick(struct px_conn *c, bool *full)
{
    struct px_worker *w = c->w;
    struct rw_pool *pool = px_c_ups(c)->pool;
    struct px_pick *pk = &c->x->pick;
    *full = false;
    if (pk->sticky) {
        struct rw_backend *b = rw_pool_find_uid(pool, pk->sticky_uid);
        if (b && !rw_lb_tried(&(struct rw_lb_req){.tried = c->x->tried, .ntried_words = 4}, b) &&
            rw_backend_try_reserve(b)) {
            pk->from_sticky = true;
            return b;
        }
        pk->sticky = false; /* gone, down or full: the session moves */
        pk->refresh = false;
    }
    pk->from_sticky = false;
    struct rw_lb_req req = {
        .tried = c->x->tried,
        .ntried_words = 4,
        .hash = pk->hash,
        .has_hash = pk->has_hash,
        .now_ms = rw_loop_now(w->loop),
    };
    struct rw_backend *b = rw_pool_pick(pool, w->id, &req);
    *full = !b && req.saw_full;
    return b;
}

/* The attempt on c->x->be ended; latency_us 0 when no response head came. */
void px_pick_release(struct px_conn *c, uint64_t latency_us, bool ok)
{
    struct rw_backend *b = c->x->be;
    if (!b)
        return;
    c->x->be = NULL;
    struct px_worker *w = c->w;
    struct px_ups *pu = px_c_ups(c);
    rw_pool_release(pu->pool, w->id, b, latency_us, ok);
    px_queue_kick(w, &pu->w[w->id]);
}

/* The response head arrived from c->x->be: remember the session where the mode says so.
 * Cookie mode returns the Set-Cookie field to add (in buf), or 0. */
size_t px_sticky_response(struct px_conn *c, const struct rw_h1_resp *resp, char *buf, size_t cap)
{
    const struct rw_cfg_upstream *u = c->x->route->upstream;
    const struct rw_cfg_sticky *st = &u->sticky;
    const struct rw_backend *be = c->x->be;
    if (!be || st->mode == RW_STICKY_NONE)
        return 0;
    const struct px_ups *pu = px_c_ups(c);
    struct px_pick *pk = &c->x->pick;
    uint32_t now = px_now_s();
    if (st->mode == RW_STICKY_IP) {
        rw_sticky_table_put(pu->table->t, pk->table_key, be->uid, now);
        return 0;
    }
    if (st->mode == RW_STICKY_LEARN) {
        /* the application set (or renewed) its session cookie: bind it to this server */
        for (uint32_t i = 0; i < resp->h.nhdrs; i++) {
            const struct rw_hdr *f = &resp->h.hdrs[i];
            size_t nl = strlen(st->cookie);
            if (f->name_len == 10 && !strncasecmp(f->name, "set-cookie", 10) &&
                f->value_len > nl && f->value[nl] == '=' && !memcmp(f->value, st->cookie, nl)) {
                const char *v = f->value + nl + 1;
                const char *e = memchr(v, ';', f->value_len - nl - 1);
                size_t vn = e ? (size_t)(e - v) : f->value_len - nl - 1;
                rw_sticky_table_put(pu->table->t, rw_lb_hash(v, vn, PX_KEY_SEED), be->uid, now);
            }
        }
        if (pk->sticky && pk->from_sticky)
            rw_sticky_table_put(pu->table->t, pk->table_key, be->uid, now);
        return 0;
    }
    if (pk->from_sticky && !pk->refresh)
        return 0;
    uint32_t issued = pk->from_sticky ? pk->issued : now;
    char tok[256];
    int tl = rw_sticky_seal(pu->key, u->name, be->uid, issued, now, tok, sizeof(tok));
    if (tl < 0)
        return 0;
    bool secure = st->secure > 0; /* plain listeners: TLS listeners arrive later */
    static const char *const same_site[] = {"", "; SameSite=Lax", "; SameSite=Strict",
                                            "; SameSite=None"};
    char age[32] = "";
    if (st->ttl_ms) {
        uint32_t left = issued + st->ttl_ms / 1000 - now;
        snprintf(age, sizeof(age), "; Max-Age=%u", left);
    }
    int n = snprintf(buf, cap, "Set-Cookie: %s=%.*s; Path=%s%s%s%s%s\r\n", st->name, tl, tok,
                     st->path, age, st->http_only ? "; HttpOnly" : "", secure ? "; Secure" : "",
                     same_site[st->same_site & 3]);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* Tell passive health how this attempt on c->x->be went (RW_OUT_OK with the status
 * for a response). Lock-free; a no-op without an attempt. */
void px_report(struct px_conn *c, int outcome, int status)
{
    if (!c->x->be)
        return;
    px_ops_attempt(c, outcome, status);
    rw_health_report(c->w->px->health, c->w->id, px_c_ups(c)->id, c->x->be->id,
                     (enum rw_outcome)outcome, status);
}

/* ---- waiting for a free server ---- */

static void queue_timer(struct rw_timer *t);

/* Park c until a server of its upstream has room. false: the queue is full. */
bool px_queue_wait(struct px_conn *c)
{
    struct px_worker *w = c->w;
    const struct rw_cfg_upstream *u = c->x->route->upstream;
    struct px_ups *pu = px_c_ups(c);
    if (!u->queue_size)
        return false;
    if (atomic_fetch_add(&pu->queued, 1) >= u->queue_size) {
        atomic_fetch_sub(&pu->queued, 1);
        return false;
    }
    struct px_upstream_w *uw = &pu->w[w->id];
    if (!uw->q_listed) {
        uw->q_listed = true;
        uw->q_next = w->qlist;
        w->qlist = uw;
    }
    c->x->q_next = NULL;
    if (uw->q_tail)
        uw->q_tail->x->q_next = c;
    else
        uw->q_head = c;
    uw->q_tail = c;
    c->x->queued = true;
    c->x->q_deadline = rw_loop_now(w->loop) + u->queue_timeout_ms;
    if (!rw_timer_armed(&w->queue_timer)) {
        rw_timer_init(&w->queue_timer, queue_timer, w);
        rw_timer_arm(rw_loop_wheel(w->loop), &w->queue_timer,
                     rw_loop_now(w->loop) + PX_QUEUE_POLL_MS);
    }
    return true;
}

/* Take c out of its upstream's queue (it got a server, timed out, or closed). */
void px_queue_leave(struct px_conn *c)
{
    if (!c->x->queued)
        return;
    struct px_worker *w = c->w;
    struct px_ups *pu = px_c_ups(c);
    struct px_upstream_w *uw = &pu->w[w->id];
    struct px_conn *prev = NULL;
    for (struct px_conn *q = uw->q_head; q; prev = q, q = q->x->q_next) {
        if (q != c)
            continue;
        if (prev)
            prev->x->q_next = c->x->q_next;
        else
            uw->q_head = c->x->q_next;
        if (uw->q_tail == c)
            uw->q_tail = prev;
        break;
    }
    c->x->queued = false;
    atomic_fetch_sub(&pu->queued, 1);
    if (!uw->q_head && uw->q_listed) {
        /* off the worker's list now: the upstream may go once nothing waits */
        for (struct px_upstream_w **pp = &w->qlist; *pp; pp = &(*pp)->q_next)
            if (*pp == uw) {
                *pp = uw->q_next;
                break;
            }
        uw->q_listed = false;
    }
}

/* Try the waiting requests of an upstream in order, while servers have room. */
void px_queue_kick(struct px_worker *w, struct px_upstream_w *uw)
{
    uint64_t now = rw_loop_now(w->loop);
    while (uw->q_head) {
        struct px_conn *c = uw->q_head;
        if (now >= c->x->q_deadline) {
            px_queue_leave(c);
            px_exchange_fail(c, 503);
            continue;
        }
        bool full;
        struct rw_backend *b = px_pick(c, &full);
        if (!b)
            return;
        px_queue_leave(c);
        px_up_start_on(c, b);
    }
}

/* Other workers free servers too: poll while anything waits. */
static void queue_timer(struct rw_timer *t)
{
    struct px_worker *w = t->owner;
    bool waiting = false;
    for (struct px_upstream_w **pp = &w->qlist; *pp;) {
        struct px_upstream_w *uw = *pp;
        px_queue_kick(w, uw);
        if (uw->q_head) {
            waiting = true;
            pp = &uw->q_next;
        } else {
            *pp = uw->q_next;
            uw->q_listed = false;
        }
    }
    if (waiting)
        rw_timer_arm(rw_loop_wheel(w->loop), t, rw_loop_now(w->loop) + PX_QUEUE_POLL_MS);
}

/* ---- retries ---- */

static bool idempotent(uint8_t m)
{
    return m == RW_M_GET || m == RW_M_HEAD || m == RW_M_OPTIONS || m == RW_M_TRACE ||
           m == RW_M_PUT || m == RW_M_DELETE;
}

/* Envoy's retry budget: retries in progress on an upstream may not exceed
 * `budget` times the requests in progress on it (at least PX_BUDGET_MIN_RETRIES),
 * so that retries cannot multiply an outage. Counted per worker. */
void px_balance_begin(struct px_conn *c)
{
    px_c_ups(c)->w[c->w->id].active++;
    c->xf |= PX_X_ACTIVE;
}

void px_balance_end(struct px_conn *c)
{
    if (!(c->xf & PX_X_ACTIVE))
        return;
    struct px_upstream_w *uw = &px_c_ups(c)->w[c->w->id];
    uw->active--;
    if (c->xf & PX_X_RETRIED)
        uw->retrying--;
    c->xf &= ~(PX_X_ACTIVE | PX_X_RETRIED);
}

/* Sending this request again is harmless: an idempotent method without a body. */
bool px_replayable(const struct px_conn *c)
{
    return idempotent(c->x->req_method) && c->x->req_body.in == PX_F_NONE;
}

/* May this exchange go to another server after failing with `why` (RW_RETRY_*)?
 * Only before any response byte reached the client, only a replayable request
 * once it was sent, never beyond retries.count, and within the retry budget. */
bool px_may_retry(struct px_conn *c, uint32_t why, bool request_sent)
{
    const struct rw_cfg_upstream *u = c->x->route->upstream;
    struct px_upstream_w *uw = &px_c_ups(c)->w[c->w->id];
    if (!(u->retry_on & why) || c->x->tries > u->retries || (c->xf & PX_X_CLIENT_BYTES))
        return false;
    if (request_sent && !px_replayable(c))
        return false;
    if (!(c->xf & PX_X_RETRIED)) {
        double allowed = u->retry_budget * (double)uw->active;
        if (allowed < PX_BUDGET_MIN_RETRIES)
            allowed = PX_BUDGET_MIN_RETRIES;
        if ((double)uw->retrying + 1 > allowed)
            return false;
        uw->retrying++;
        c->xf |= PX_X_RETRIED;
    }
    px_ops_retry(c);
    return true;
}
