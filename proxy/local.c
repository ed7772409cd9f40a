/* SPDX-License-Identifier: MIT */
/* Responses ringwall makes itself: errors, "respond" and "redirect" routes. */
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "proxy/px.h"

static void local_send(struct px_conn *c, char *buf, size_t head, const char *body, size_t blen)
{
    struct iovec iov[2] = {{buf, head}, {(void *)body, blen}};
    px_conn_send_out(c, iov, blen && !(c->xf & PX_X_HEAD_REQ) ? 2 : 1);
}

/* Take the connection into the LOCAL state with a head buffer, or close it. */
static char *local_begin(struct px_conn *c, bool close)
{
    struct px_xchg *x = c->x;
    if (c->wr_busy) {
        px_conn_close(c);
        return NULL;
    }
    if (x->up)
        px_up_abort(x->up);
    rw_timer_cancel(&c->timer);
    c->state = PX_C_LOCAL;
    if (close || (c->xf & PX_X_REQ_BODY) || c->w->stopping)
        c->keep_alive = false;
    if (!x->rhead)
        x->rhead = px_hbuf_get(c->w);
    char *buf = x->rhead;
    if (!buf)
        px_conn_close(c);
    return buf;
}

void px_local_error(struct px_conn *c, int status, bool close)
{
    char *buf = local_begin(c, close);
    if (!buf)
        return;
    /* names neither the backend nor its software */
    const char *reason = rw_h1_reason(status);
    char body[256];
    int blen = snprintf(body, sizeof(body),
                        "<!DOCTYPE html>\n<html><head><title>%d %s</title></head>"
                        "<body><h1>%d %s</h1></body></html>\n",
                        status, reason, status, reason);
    size_t cap = c->w->hbuf_size - sizeof(body);
    int n = px_head_local(c, status, NULL, 0, "text/html; charset=utf-8", (size_t)blen, NULL, buf,
                          cap);
    if (n < 0) {
        px_conn_close(c);
        return;
    }
    memcpy(buf + n, body, (size_t)blen);
    local_send(c, buf, (size_t)n + ((c->xf & PX_X_HEAD_REQ) ? 0 : (size_t)blen), NULL, 0);
}

void px_local_route(struct px_conn *c, const struct rw_h1_req *req)
{
    const struct rw_cfg_route *r = c->x->route;
    char *buf = local_begin(c, false);
    if (!buf)
        return;
    size_t cap = c->w->hbuf_size;
    int n;
    if (r->action == RW_ROUTE_RESPOND) {
        const char *ct = r->respond_body_len ? "text/plain; charset=utf-8" : NULL;
        n = px_head_local(c, r->respond_status, r->respond_headers, r->nrespond_headers, ct,
                          r->respond_body_len, NULL, buf, cap);
        if (n >= 0) {
            local_send(c, buf, (size_t)n, r->respond_body, r->respond_body_len);
            return;
        }
    } else {
        char loc[8192];
        if (px_build_location(r, req, loc, sizeof(loc)) < 0) {
            px_local_error(c, 414, false);
            return;
        }
        n = px_head_local(c, r->redirect_status, NULL, 0, NULL, 0, loc, buf, cap);
        if (n >= 0) {
            local_send(c, buf, (size_t)n, NULL, 0);
            return;
        }
    }
    px_conn_close(c);
}
