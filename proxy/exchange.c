/* SPDX-License-Identifier: MIT */
/* One request/response exchange: routing, then both directions of streaming. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "health/health.h"
#include "proxy/px.h"

static const char continue_100[] = "HTTP/1.1 100 Continue\r\n\r\n";

static uint8_t frame_of(uint8_t body)
{
    switch (body) {
    case RW_BODY_LENGTH:
        return PX_F_LENGTH;
    case RW_BODY_CHUNKED:
        return PX_F_CHUNKED;
    case RW_BODY_CLOSE:
        return PX_F_CLOSE;
    default:
        return PX_F_NONE;
    }
}

static void consume_in(struct px_conn *c, uint32_t n)
{
    c->in.off += n;
    if (c->in.off >= c->in.len)
        px_in_drop(c->w, &c->in);
}

void px_handle_request(struct px_conn *c, const struct rw_h1_req *req)
{
    struct px_xchg *x = c->x;
    struct px_worker *w = c->w;
    const struct rw_cfg *cfg = c->x->gen->cfg;
    x->req_method = req->method;
    c->req_minor = req->h.minor;
    c->keep_alive = req->h.keep_alive && !w->stopping;
    c->xf = (req->method == RW_M_HEAD ? PX_X_HEAD_REQ : 0) |
            (req->h.body != RW_BODY_NONE ? PX_X_REQ_BODY : 0) |
            (!req->h.keep_alive ? PX_X_CLIENT_CLOSE : 0);
    uint32_t head_len = (uint32_t)req->h.head_len;
    int deny = 0;
    const struct rw_cfg_route *r = px_route_select(c, req, &deny);
    if (deny) { /* 404 without a route; 403: it needs a verified client certificate */
        x->route = r;
        consume_in(c, head_len);
        px_local_error(c, deny, req->h.body != RW_BODY_NONE);
        return;
    }
    if (cfg->limit_body && req->h.body == RW_BODY_LENGTH &&
        req->h.content_length > cfg->limit_body) {
        consume_in(c, head_len);
        px_local_error(c, 413, true);
        return;
    }
    if (r->action != RW_ROUTE_PROXY) {
        x->route = r;
        px_local_route(c, req);
        consume_in(c, head_len);
        return;
    }
    x->route = r;
    x->out = px_hbuf_get(w);
    int n = x->out ? px_head_request(c, req, x->out, w->hbuf_size) : -ENOMEM;
    if (n < 0) {
        consume_in(c, head_len);
        px_local_error(c, n == -ENOMEM ? 503 : 431, true);
        return;
    }
    x->out_len = (uint32_t)n;
    px_balance_prepare(c, req);
    px_balance_begin(c);
    x->fail_status = 0;
    uint8_t f = frame_of(req->h.body);
    px_body_init(&x->req_body, f, f, req->h.content_length, cfg->limit_body, !r->trailers_drop);
    if (req->expect_continue && f != PX_F_NONE && req->h.minor == 1)
        c->xf |= PX_X_CONTINUE;
    consume_in(c, head_len);
    c->state = PX_C_PROXY;
    x->tries = 0;
    memset(x->tried, 0, sizeof(x->tried));
    px_up_start(c);
}

/* The exchange cannot go on. Before any response byte reached the client, it gets
 * `status` from ringwall; after, the connection closes so the client sees a
 * truncated response, never a complete-looking one. */
void px_exchange_fail(struct px_conn *c, int status)
{
    struct px_xchg *x = c->x;
    px_queue_leave(c);
    if (x->up)
        px_up_abort(x->up);
    px_pick_release(c, 0, false);
    if ((c->xf & PX_X_CLIENT_BYTES) || c->wr_busy) {
        px_conn_close(c);
        return;
    }
    px_hbuf_put(c->w, x->rhead);
    x->rhead = NULL;
    x->rhead_len = 0;
    px_local_error(c, status, !(c->xf & PX_X_REQ_DONE));
}

/* This attempt failed before the response reached the client: move to another
 * server if the retry policy allows it (the request was sent, so only requests
 * without a body of idempotent methods). true: the exchange goes on elsewhere. */
static bool exchange_retry(struct px_conn *c, uint32_t why)
{
    struct px_xchg *x = c->x;
    if (!px_may_retry(c, why, true))
        return false;
    if (x->up)
        px_up_abort(x->up);
    px_attempt_failed(c);
    x->fail_status = why == RW_RETRY_TIMEOUT ? 504 : 502;
    c->xf &= ~(PX_X_REQ_HEAD_SENT | PX_X_REQ_DONE | PX_X_RESP_HEAD | PX_X_FRESH);
    px_in_drop(c->w, &x->rin);
    px_hbuf_put(c->w, x->rhead);
    x->rhead = NULL;
    x->rhead_len = 0;
    px_body_free(&x->resp_body);
    memset(&x->resp_body, 0, sizeof(x->resp_body));
    px_up_start(c);
    return true;
}

void px_exchange_retry_or_fail(struct px_conn *c, uint32_t why, int status)
{
    px_report(c, why == RW_RETRY_TIMEOUT ? RW_OUT_TIMEOUT : RW_OUT_RESET, 0);
    if (!exchange_retry(c, why))
        px_exchange_fail(c, status);
}

/* ---- client -> upstream ---- */

void px_client_recv_body(struct px_conn *c)
{
    if (c->state != PX_C_PROXY || (c->xf & PX_X_REQ_DONE) || c->x->req_body.done ||
        c->in.bid != -2 || c->rd_armed)
        return;
    if ((c->xf & PX_X_CONTINUE) && !c->wr_busy && !(c->xf & PX_X_RESP_HEAD)) {
        struct iovec iov = {(void *)continue_100, sizeof(continue_100) - 1};
        c->xf &= ~PX_X_CONTINUE;
        px_conn_send_out(c, &iov, 1);
        if (c->state != PX_C_PROXY)
            return;
    }
    px_conn_arm_read(c);
}

void px_req_kick(struct px_conn *c)
{
    struct px_xchg *x = c->x;
    struct px_up *u = x->up;
    if (!u || u->state != PX_UP_BUSY || u->wr_busy || (c->xf & PX_X_REQ_DONE))
        return;
    struct px_body *b = &x->req_body;
    struct iovec iov[RW_IO_MAX_IOV];
    int n = 0;
    if (!(c->xf & PX_X_REQ_HEAD_SENT)) {
        iov[n++] = (struct iovec){x->out, x->out_len};
        c->xf |= PX_X_REQ_HEAD_SENT;
        x->t_sent_us = rw_loop_now_us(c->w->loop);
    }
    while (!b->done && c->in.bid != -2 && c->in.off < c->in.len && n < RW_IO_MAX_IOV) {
        uint32_t used = 0;
        int k = 0;
        enum px_body_res r = px_body_step(b, c->in.base + c->in.off, c->in.len - c->in.off, &used,
                                          iov + n, &k, RW_IO_MAX_IOV - n);
        if (r != PX_B_OK) {
            c->keep_alive = false;
            px_exchange_fail(c, r == PX_B_TOO_BIG ? 413 : 400);
            return;
        }
        c->in.off += used;
        n += k;
        if (!used && !k)
            break;
    }
    if (b->done && !b->fin_sent)
        n += px_body_finish(b, iov + n, RW_IO_MAX_IOV - n);
    if (n > 0) {
        px_up_send(u, iov, n);
        return;
    }
    if (b->done && b->fin_sent) {
        c->xf |= PX_X_REQ_DONE;
        if (c->in.bid != -2 && c->in.off >= c->in.len)
            px_in_drop(c->w, &c->in);
        if (!(c->xf & PX_X_RESP_HEAD))
            px_up_wait_response(u);
        return;
    }
    if (c->in.bid != -2 && c->in.off >= c->in.len)
        px_in_drop(c->w, &c->in);
    px_client_recv_body(c);
}

/* The upstream send finished: the request bytes it carried are no longer needed. */
void px_up_sent(struct px_conn *c)
{
    if (c->in.bid != -2 && c->in.off >= c->in.len)
        px_in_drop(c->w, &c->in);
    px_req_kick(c);
    px_resp_kick(c);
}

/* ---- upstream -> client ---- */

static void resp_frames(struct px_conn *c, const struct rw_h1_resp *resp)
{
    uint8_t in = frame_of(resp->h.body);
    uint8_t out = in;
    if (c->req_minor == 0) {
        /* HTTP/1.0 clients know no chunking: de-chunk and delimit by close */
        if (in == PX_F_CHUNKED || in == PX_F_CLOSE) {
            out = PX_F_CLOSE;
            c->keep_alive = false;
        }
    } else if (in == PX_F_CLOSE) {
        out = PX_F_CHUNKED; /* keep the client connection: re-chunk */
    }
    px_body_init(&c->x->resp_body, in, out, resp->h.content_length, 0,
                 c->req_minor == 1 && !c->x->route->trailers_drop);
}

/* Parse the response head in c->x->rin. Interim 1xx responses are dropped. */
static void resp_head(struct px_conn *c)
{
    struct px_xchg *x = c->x;
    struct px_worker *w = c->w;
    for (;;) {
        const char *p = x->rin.base + x->rin.off;
        uint32_t n = x->rin.len - x->rin.off;
        struct rw_h1_resp resp;
        int status = 502;
        enum rw_parse rc =
            rw_h1_parse_response(p, n, &w->lim, x->req_method, &resp, w->hdrs, &status);
        if (rc == RW_PARSE_AGAIN) {
            if (px_in_to_heap(w, &x->rin) < 0)
                px_exchange_fail(c, 502);
            else
                px_up_arm_read(x->up);
            return;
        }
        /* a transfer coding other than chunked cannot be re-framed: refuse it */
        bool odd_te = rc == RW_PARSE_DONE && resp.h.body == RW_BODY_CLOSE &&
                      resp.h.first[RW_H_TRANSFER_ENCODING] >= 0;
        if (rc == RW_PARSE_BAD || resp.status == 101 || odd_te) {
            px_exchange_fail(c, 502);
            return;
        }
        x->rin.off += (uint32_t)resp.h.head_len;
        if (resp.status < 200) {
            if (x->rin.off >= x->rin.len) {
                px_in_drop(w, &x->rin);
                px_up_arm_read(x->up);
                return;
            }
            continue;
        }
        uint32_t why = resp.status == 502 ? RW_RETRY_502 : resp.status == 503 ? RW_RETRY_503
                     : resp.status == 504 ? RW_RETRY_504 : 0;
        px_report(c, RW_OUT_OK, resp.status); /* passive health: the status decides */
        if (why && exchange_retry(c, why))
            return;
        x->lat_us = rw_loop_now_us(c->w->loop) - x->t_sent_us;
        /* Answered before the client's body was all read: close after. Reuse the
         * server connection only if our whole request had been queued to it. */
        bool all_read = x->req_body.done, all_queued = all_read && x->req_body.fin_sent;
        if (!all_read)
            c->keep_alive = false;
        x->up->keep_alive = resp.h.keep_alive && all_queued;
        resp_frames(c, &resp);
        x->rhead = px_hbuf_get(w);
        int hl = x->rhead ? px_head_response(c, &resp, x->rhead, w->hbuf_size) : -ENOMEM;
        if (hl < 0) {
            px_exchange_fail(c, 502);
            return;
        }
        x->rhead_len = (uint32_t)hl;
        c->xf |= PX_X_RESP_HEAD;
        if (x->rin.off >= x->rin.len)
            px_in_drop(w, &x->rin);
        px_up_got_head(x->up);
        px_resp_kick(c);
        return;
    }
}

void px_resp_data(struct px_conn *c)
{
    if (!(c->xf & PX_X_RESP_HEAD))
        resp_head(c);
    else
        px_resp_kick(c);
}

/* The upstream closed (res 0) or failed (res < 0). */
void px_resp_eof(struct px_conn *c, int res)
{
    struct px_xchg *x = c->x;
    struct px_up *u = x->up;
    if (!(c->xf & PX_X_RESP_HEAD)) {
        bool nothing = x->rin.bid == -2;
        if (u && u->reused && nothing && px_replayable(c) && !(c->xf & PX_X_FRESH)) {
            /* a pooled connection the server closed as we reused it: send the
             * request again on a new connection (not counted as a retry) */
            px_up_abort(u);
            px_pick_release(c, 0, true);
            x->tries--;
            c->xf = (c->xf & ~(PX_X_REQ_HEAD_SENT | PX_X_REQ_DONE)) | PX_X_FRESH;
            px_up_start(c);
            return;
        }
        px_exchange_retry_or_fail(c, RW_RETRY_RESET, 502);
        return;
    }
    if (x->resp_body.in == PX_F_CLOSE && res == 0) {
        x->resp_body.done = true;
        if (u)
            u->keep_alive = false;
        px_resp_kick(c);
        return;
    }
    px_exchange_fail(c, 502); /* truncated: closes the client */
}

static void exchange_end(struct px_conn *c)
{
    struct px_xchg *x = c->x;
    struct px_up *u = x->up;
    if (u) {
        bool reuse = u->keep_alive && (c->xf & PX_X_REQ_DONE) && x->rin.bid == -2 &&
                     x->resp_body.in != PX_F_CLOSE && !u->wr_busy;
        px_up_release(u, reuse);
    }
    px_pick_release(c, x->lat_us ? x->lat_us : 1, true);
    px_conn_exchange_done(c);
}

void px_resp_kick(struct px_conn *c)
{
    struct px_xchg *x = c->x;
    if (c->state != PX_C_PROXY || c->wr_busy || !(c->xf & PX_X_RESP_HEAD)) {
        if (c->state == PX_C_PROXY && !(c->xf & PX_X_RESP_HEAD) && x->up &&
            (c->xf & PX_X_REQ_HEAD_SENT) && x->rin.bid == -2)
            px_up_arm_read(x->up);
        return;
    }
    struct px_body *b = &x->resp_body;
    struct iovec iov[RW_IO_MAX_IOV];
    int n = 0;
    if (x->rhead_len) {
        iov[n++] = (struct iovec){x->rhead, x->rhead_len};
        x->rhead_len = 0; /* the buffer is returned when the exchange ends */
    }
    bool head_only = (c->xf & PX_X_HEAD_REQ) || b->in == PX_F_NONE;
    while (!head_only && !b->done && x->rin.bid != -2 && x->rin.off < x->rin.len &&
           n < RW_IO_MAX_IOV) {
        uint32_t used = 0;
        int k = 0;
        if (px_body_step(b, x->rin.base + x->rin.off, x->rin.len - x->rin.off, &used, iov + n, &k,
                         RW_IO_MAX_IOV - n) != PX_B_OK) {
            if (n)
                break; /* send what is good; the error surfaces on the next turn */
            c->keep_alive = false;
            px_exchange_fail(c, 502);
            return;
        }
        x->rin.off += used;
        n += k;
        if (!used && !k)
            break;
    }
    if (head_only)
        b->done = b->fin_sent = true;
    if (b->done && !b->fin_sent)
        n += px_body_finish(b, iov + n, RW_IO_MAX_IOV - n);
    if (n > 0) {
        c->xf |= PX_X_CLIENT_BYTES;
        bool overlap = x->rin.bid != -2 && x->rin.off >= x->rin.len;
        if (overlap) {
            /* the send keeps this buffer; the next one can be read meanwhile */
            x->rtx = x->rin;
            x->rin = (struct px_in){.bid = -2};
        }
        px_conn_send_out(c, iov, n);
        if (overlap && c->state == PX_C_PROXY && !b->done && x->up)
            px_up_arm_read(x->up);
        return;
    }
    if (x->rin.bid != -2 && x->rin.off >= x->rin.len)
        px_in_drop(c->w, &x->rin);
    if (b->done && b->fin_sent) {
        /* our last request bytes may still be on their way (their completion can
         * come after the response's): the exchange ends when both are done */
        if (x->up && x->up->wr_busy)
            return;
        if (!x->req_body.done)
            c->keep_alive = false; /* answered before the request body ended */
        exchange_end(c);
        return;
    }
    if (x->up && x->rin.bid == -2)
        px_up_arm_read(x->up);
}

/* A send to the client completed while proxying. */
void px_client_sent(struct px_conn *c)
{
    struct px_xchg *x = c->x;
    px_in_drop(c->w, &x->rtx);
    if (x->rin.bid != -2 && x->rin.off >= x->rin.len)
        px_in_drop(c->w, &x->rin);
    px_resp_kick(c);
    if (c->state == PX_C_PROXY)
        px_client_recv_body(c);
}

void px_client_timeout(struct px_conn *c)
{
    if (c->rd_armed && !(c->xf & PX_X_CLIENT_BYTES)) {
        c->keep_alive = false;
        px_exchange_fail(c, 408); /* the request body stalled */
        return;
    }
    px_conn_close(c);
}
