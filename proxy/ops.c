/* SPDX-License-Identifier: MIT */
/* What operators see: per-request records, request ids, access log lines, counters. */
#include "proxy/ops.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/rcu.h"
#include "health/health.h"

/* One proxy per process has ops (the binary runs one; tests that build several get
 * ops on the first). Written by the main thread before any worker starts. */
static struct px_ops *_Atomic ops_cur;

struct px_ops *px__ops_of(const struct rw_proxy *p)
{
    struct px_ops *o = atomic_load_explicit(&ops_cur, memory_order_acquire);
    return o && o->p == p ? o : NULL;
}

/* Request timings use the loop's time of this turn (no clock read per request). */
static uint64_t ops_now_us(const struct px_conn *c)
{
    return rw_loop_now_us(c->w->loop);
}

/* "x-request-id" -> "X-Request-Id" */
static void ops_title_case(char *dst, size_t cap, const char *src)
{
    size_t i = 0;
    bool up = true;
    for (; src[i] && i + 1 < cap; i++) {
        char ch = src[i];
        dst[i] = up && ch >= 'a' && ch <= 'z' ? (char)(ch - 32) : ch;
        up = ch == '-';
    }
    dst[i] = '\0';
}

static int ops_access_log(struct px_ops *o)
{
    const struct rw_cfg_access_log *al = &o->cfg->access_log;
    if (!al->path)
        return 0;
    struct rw_accesslog_cfg lc = {
        .path = al->path,
        .format = al->format == 1 ? RW_ACCESSLOG_COMBINED : RW_ACCESSLOG_JSON,
        .nworkers = o->p->nworkers,
    };
    int err = 0;
    o->alog = rw_accesslog_new(&lc, &err);
    if (!o->alog)
        rw_log(RW_LOG_ERR, "access log %s: %s", al->path, rw_strerror(err));
    return o->alog ? 0 : err;
}

static void ops_destroy(struct px_ops *o)
{
    if (!o)
        return;
    rw_admin_free(o->admin);
    if (o->alog)
        rw_accesslog_free(o->alog); /* drains what the workers queued */
    rw_metrics_free(o->metrics);
    json_decref(o->config_json);
    for (uint32_t i = 0; o->w && i < o->p->nworkers; i++) {
        while (o->w[i].free) {
            struct px_ops_rec *r = o->w[i].free;
            o->w[i].free = r->next;
            free(r);
        }
    }
    free(o->w);
    for (uint32_t i = 0; i < o->nnames; i++)
        free(o->names[i]);
    free(o->names);
    pthread_mutex_destroy(&o->writer);
    free(o);
}

int px_ops_start(struct rw_proxy *p)
{
    if (atomic_load(&ops_cur))
        return 0; /* another proxy in this process has them */
    struct px_ops *o = calloc(1, sizeof(*o));
    if (!o)
        return -ENOMEM;
    o->p = p;
    o->cfg = p->cfg;
    pthread_mutex_init(&o->writer, NULL);
    size_t wsz = (size_t)p->nworkers * sizeof(*o->w); /* a multiple of its 64-byte alignment */
    o->w = aligned_alloc(_Alignof(struct px_ops_w), wsz);
    if (o->w)
        memset(o->w, 0, wsz);
    int rc = o->w ? 0 : -ENOMEM;
    for (uint32_t i = 0; rc == 0 && i < p->nworkers; i++)
        rc = rw_reqid_init(&o->w[i].gen);
    if (o->cfg->request_id.header) {
        ops_title_case(o->reqid_name, sizeof(o->reqid_name), o->cfg->request_id.header);
        o->reqid_name_len = strlen(o->reqid_name);
        o->reqid_hdr_len = strlen(o->cfg->request_id.header);
    }
    if (o->cfg->source) {
        json_error_t jerr;
        o->config_json = json_load_file(o->cfg->source, 0, &jerr); /* NULL: "config" says so */
    }
    if (rc == 0)
        rc = px__ops_metrics_build(o);
    if (rc == 0)
        rc = ops_access_log(o);
    if (rc == 0)
        rc = px__ops_admin_build(o);
    if (rc == 0 && o->admin) {
        rc = rw_admin_start(o->admin);
        if (rc < 0)
            rw_log(RW_LOG_ERR, "admin: %s%s%s", o->cfg->admin.socket ? o->cfg->admin.socket : "",
                   o->cfg->admin.socket ? ": " : "", rw_strerror(rc));
    }
    if (rc < 0) {
        ops_destroy(o);
        return rc;
    }
    atomic_store_explicit(&ops_cur, o, memory_order_release);
    return 0;
}

void px_ops_stop(struct rw_proxy *p)
{
    struct px_ops *o = px__ops_of(p);
    if (o && o->admin)
        rw_admin_stop(o->admin); /* no command runs while the proxy is torn down */
}

void px_ops_free(struct rw_proxy *p)
{
    struct px_ops *o = px__ops_of(p);
    if (!o)
        return;
    atomic_store(&ops_cur, NULL);
    ops_destroy(o);
}

void rw_proxy_reopen_logs(struct rw_proxy *p)
{
    struct px_ops *o = px__ops_of(p);
    if (o && o->alog)
        rw_accesslog_reopen(o->alog);
}

void px_ops_lock(struct rw_proxy *p)
{
    struct px_ops *o = px__ops_of(p);
    if (o)
        pthread_mutex_lock(&o->writer);
}

void px_ops_unlock(struct rw_proxy *p)
{
    struct px_ops *o = px__ops_of(p);
    if (o)
        pthread_mutex_unlock(&o->writer);
}

/* ---- per-request records ---- */

static struct px_ops_rec *rec_get(struct px_ops_w *ow)
{
    struct px_ops_rec *r = ow->free;
    if (r) {
        ow->free = r->next;
        ow->nfree--;
        return r;
    }
    return malloc(sizeof(*r));
}

static void rec_put(struct px_ops_w *ow, struct px_ops_rec *r)
{
    if (ow->nfree >= PX_OPS_REC_KEEP) {
        free(r);
        return;
    }
    r->next = ow->free;
    ow->free = r;
    ow->nfree++;
}

static bool id_valid(const char *v, size_t n)
{
    if (n < 1 || n > PX_OPS_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x21 || (unsigned char)v[i] > 0x7e)
            return false;
    return true;
}

static uint16_t copy_field(char *dst, size_t cap, const char *src, size_t n)
{
    if (n > cap)
        n = cap;
    memcpy(dst, src, n);
    return (uint16_t)n;
}

/* Keep a trusted client's id, else make one. */
static void rec_id(struct px_ops *o, struct px_ops_w *ow, struct px_ops_rec *r,
                   const struct rw_h1_req *req)
{
    const struct rw_cfg_request_id *ri = &o->cfg->request_id;
    r->id_len = 0;
    if (!ri->header)
        return;
    size_t nl = o->reqid_hdr_len;
    for (uint32_t i = 0; req && ri->trust_client && i < req->h.nhdrs; i++) {
        const struct rw_hdr *f = &req->h.hdrs[i];
        if (f->name_len == nl && !strncasecmp(f->name, ri->header, nl)) {
            if (id_valid(f->value, f->value_len)) {
                memcpy(r->id, f->value, f->value_len);
                r->id[f->value_len] = '\0';
                r->id_len = (uint8_t)f->value_len;
                return;
            }
            break;
        }
    }
    rw_reqid_next(&ow->gen, r->id);
    r->id_len = RW_REQID_LEN;
}

/* What the access log line shows of the request (nothing to copy without a log). */
static void rec_request(struct px_ops *o, struct px_ops_rec *r, const struct rw_h1_req *req)
{
    r->http_minor = req->h.minor;
    r->rx = req->h.head_len;
    if (!o->alog)
        return;
    r->method_len =
        (uint8_t)copy_field(r->method, sizeof(r->method), req->method_str, req->method_len);
    r->target_len = copy_field(r->target, sizeof(r->target), req->target, req->target_len);
    for (uint32_t i = 0; i < req->h.nhdrs; i++) {
        const struct rw_hdr *f = &req->h.hdrs[i];
        if (f->name_len == 7 && !strncasecmp(f->name, "referer", 7))
            r->referer_len = copy_field(r->referer, sizeof(r->referer), f->value, f->value_len);
        else if (f->name_len == 10 && !strncasecmp(f->name, "user-agent", 10))
            r->ua_len = copy_field(r->ua, sizeof(r->ua), f->value, f->value_len);
    }
}

void px_ops_request_begin(struct px_conn *c, const struct rw_h1_req *req)
{
    struct px_ops *o = px__ops_of(c->w->px);
    if (!o || !c->x)
        return;
    struct px_ops_w *ow = &o->w[c->w->id];
    struct px_ops_rec *r = rec_get(ow);
    c->x->ops = r;
    if (!r)
        return;
    if (o->alog) /* the log line's timestamp; durations use the monotonic clock */
        clock_gettime(CLOCK_REALTIME, &r->start_rt);
    r->start_us = ops_now_us(c);
    r->rx = r->tx = 0;
    r->upstream_us = -1;
    r->head_tx = 0;
    r->status = 0;
    r->tx_exact = r->rx_exact = false;
    r->http_minor = 1;
    r->method_len = 0;
    r->target_len = r->referer_len = r->ua_len = 0;
    r->server[0] = '\0';
    if (req)
        rec_request(o, r, req);
    else /* a bad head, or one the header timeout cut: what came of it */
        r->rx = c->in.len - c->in.off;
    rec_id(o, ow, r, req);
}

static struct px_ops_rec *rec_of(const struct px_conn *c)
{
    return c->x ? c->x->ops : NULL;
}

bool px_ops_reqid(const struct px_conn *c, const char **name, size_t *nlen, const char **id,
                  size_t *idlen)
{
    struct px_ops_rec *r = rec_of(c);
    struct px_ops *o = r ? px__ops_of(c->w->px) : NULL;
    if (!o || !r->id_len)
        return false;
    *name = o->reqid_name;
    *nlen = o->reqid_name_len;
    *id = r->id;
    *idlen = r->id_len;
    return true;
}

void px_ops_status(struct px_conn *c, int status, size_t head_len, uint64_t body_len)
{
    struct px_ops_rec *r = rec_of(c);
    if (!r)
        return;
    r->status = (uint16_t)status;
    r->head_tx = (uint32_t)head_len;
    if (!r->tx_exact)
        r->tx = head_len + body_len; /* local answers; proxied bodies are added at the end */
}

void px_ops_sent(struct px_conn *c, uint64_t n)
{
    struct px_ops_rec *r = rec_of(c);
    if (!r)
        return;
    if (!r->tx_exact)
        r->tx = 0;
    r->tx_exact = true;
    r->tx += n;
}

void px_ops_received(struct px_conn *c, uint64_t n)
{
    struct px_ops_rec *r = rec_of(c);
    if (!r)
        return;
    if (!r->rx_exact)
        r->rx = 0;
    r->rx_exact = true;
    r->rx += n;
}

/* ---- request end: counters and the log line ---- */

static void end_counters(struct px_ops *o, struct px_conn *c, uint16_t status, uint64_t dur_us,
                         uint64_t rx, uint64_t tx)
{
    uint32_t shard = c->w->id;
    uint32_t slot = px__ops_route_slot(c);
    if (slot == UINT32_MAX)
        return;
    uint32_t cls = status / 100;
    if (cls < 1 || cls > 5)
        cls = 5;
    rw_metric_counter_add(o->f.req, shard, slot * 5 + cls - 1, 1);
    rw_metric_observe(o->f.dur, shard, slot, dur_us);
    rw_metric_counter_add(o->f.rx, shard, c->lis_m, rx);
    rw_metric_counter_add(o->f.tx, shard, c->lis_m, tx);
}

/* The log line of c's exchange (r: its record). */
static void end_log(struct px_ops *o, struct px_conn *c, const struct px_ops_rec *r,
                    uint16_t status, uint64_t dur_us, uint64_t rx, uint64_t tx)
{
    const struct rw_cfg_route *rt = c->x->route;
    const struct rw_cfg_listener *lis = c->x->lis;
    char route[160];
    if (rt && lis)
        snprintf(route, sizeof(route), "%s/%u", lis->name, (unsigned)(rt - lis->routes));
    struct rw_access_rec a = {
        .request_id = r->id_len ? r->id : NULL,
        .client = &c->peer.sa,
        .method = r->method,
        .method_len = r->method_len,
        .path = r->target,
        .path_len = r->target_len,
        .http_minor = r->http_minor,
        .status = status,
        .bytes_sent = tx,
        .bytes_received = rx,
        .duration_us = dur_us,
        .upstream = rt && rt->action == RW_ROUTE_PROXY ? rt->upstream->name : NULL,
        .server = r->server[0] ? r->server : NULL,
        .upstream_us = r->upstream_us,
        .route = rt && lis ? route : NULL,
        .tls = px_tls_version(c),
        .referer = r->referer,
        .referer_len = r->referer_len,
        .user_agent = r->ua,
        .user_agent_len = r->ua_len,
        .start = r->start_rt,
    };
    struct px_peer peer;
    if (lis->tls.client_auth != RW_CFG_CLIENT_AUTH_OFF && px_tls_peer(c, &peer)) {
        a.tls_client_subject = peer.subject;
        a.tls_client_san = peer.san;
        a.tls_client_sha256 = peer.sha256;
    }
    rw_accesslog_write(o->alog, c->w->id, &a);
}

void px_ops_request_end(struct px_conn *c)
{
    struct px_ops *o = px__ops_of(c->w->px);
    if (!o)
        return;
    struct px_ops_rec *r = rec_of(c);
    if (!r)
        return; /* no record (out of memory): nothing reliable to count */
    uint16_t status = r->status;
    if (!status)
        status = 499; /* the client left before any response head */
    uint64_t dur_us = ops_now_us(c) - r->start_us;
    uint64_t rx = r->rx, tx = r->tx;
    if (!r->tx_exact && c->state != PX_C_LOCAL && r->head_tx)
        tx = r->head_tx + c->x->resp_body.total;
    if (!r->rx_exact)
        rx += c->x->req_body.total;
    end_counters(o, c, status, dur_us, rx, tx);
    if (o->alog)
        end_log(o, c, r, status, dur_us, rx, tx);
    c->x->ops = NULL;
    rec_put(&o->w[c->w->id], r);
}

/* ---- upstream attempts ---- */

void px_ops_attempt(struct px_conn *c, int outcome, int status)
{
    struct px_ops *o = px__ops_of(c->w->px);
    const struct rw_backend *be = c->x ? c->x->be : NULL;
    if (!o || !be || !c->x->route)
        return;
    struct px_ops_rec *r = c->x->ops;
    uint64_t up_us = 0;
    if (outcome == RW_OUT_OK && c->x->t_sent_us) {
        uint64_t now = ops_now_us(c);
        up_us = now > c->x->t_sent_us ? now - c->x->t_sent_us : 0;
    }
    if (r) {
        if (o->alog) { /* only the log line names the server */
            size_t n = be->name ? strnlen(be->name, sizeof(r->server) - 1) : 0;
            memcpy(r->server, be->name ? be->name : "", n);
            r->server[n] = '\0';
        }
        r->upstream_us = outcome == RW_OUT_OK ? (int64_t)up_us : -1;
    }
    const struct px_srv_series *ss = rw_rcu_load((void *const *)&px_c_ups(c)->series);
    if (!ss || be->id >= ss->n)
        return;
    uint32_t s = ss->idx[be->id], shard = c->w->id;
    rw_metric_counter_add(o->f.up_req, shard, s, 1);
    int kind = -1;
    switch (outcome) {
    case RW_OUT_OK:
        rw_metric_observe(o->f.up_resp, shard, s, up_us);
        if (status >= 500)
            kind = PX_OPS_ERR_5XX;
        break;
    case RW_OUT_CONNECT:
        kind = PX_OPS_ERR_CONNECT;
        break;
    case RW_OUT_TIMEOUT:
        kind = PX_OPS_ERR_TIMEOUT;
        break;
    default:
        kind = PX_OPS_ERR_RESET;
        break;
    }
    if (kind >= 0)
        rw_metric_counter_add(o->f.up_err, shard, s * PX_OPS_NERR + (uint32_t)kind, 1);
}

void px_ops_retry(struct px_conn *c)
{
    struct px_ops *o = px__ops_of(c->w->px);
    if (o && c->x->route && c->x->route->upstream && px_c_ups(c)->series)
        rw_metric_counter_add(o->f.up_retry, c->w->id, px_c_ups(c)->retry_series, 1);
}

/* A TLS handshake on c's listener ended: result 0 full, 1 resumed, 2 failed. */
void px_ops_tls_handshake(struct px_conn *c, int result, const char *version)
{
    struct px_ops *o = px__ops_of(c->w->px);
    if (!o || result < 0 || result > 2 || c->lis_m == UINT32_MAX)
        return;
    rw_metric_counter_add(o->f.tls_hs, c->w->id, c->lis_m * 3 + (uint32_t)result, 1);
    if (version && strstr(version, "1.3"))
        rw_metric_counter_add(o->f.tls_ver, c->w->id, c->lis_m * 2 + 1, 1);
    else if (version && strstr(version, "1.2"))
        rw_metric_counter_add(o->f.tls_ver, c->w->id, c->lis_m * 2, 1);
}

/* ---- connections ---- */

/* A client connection was accepted on listener li of the worker's current generation. */
void px_ops_conn_open(struct px_conn *c, uint32_t li)
{
    struct px_ops *o = px__ops_of(c->w->px);
    const struct px_gen_ops *go = c->w->gen->ops;
    c->lis_m = UINT32_MAX;
    if (!o || !go)
        return;
    c->lis_m = go->lis[li];
    rw_metric_counter_add(o->f.conn_tot, c->w->id, c->lis_m, 1);
    rw_metric_gauge_add(o->f.conn_act, c->w->id, c->lis_m, 1);
}

void px_ops_conn_close(struct px_conn *c)
{
    struct px_ops *o = px__ops_of(c->w->px);
    if (o && c->lis_m != UINT32_MAX)
        rw_metric_gauge_add(o->f.conn_act, c->w->id, c->lis_m, -1);
}

void px_ops_hide_gone(struct rw_proxy *p, const struct px_gen *old, const struct px_gen *g)
{
    struct px_ops *o = px__ops_of(p);
    if (o)
        px__ops_hide_gone(o, old, g);
}

/* g was published: the "config" command shows its file; series of routes and
 * servers it no longer has stop being exposed. Writer lock. */
void px_ops_published(struct rw_proxy *p, struct px_gen *g, const char *path)
{
    (void)g;
    struct px_ops *o = px__ops_of(p);
    if (!o)
        return;
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    json_decref(o->config_json);
    o->config_json = j;
}
