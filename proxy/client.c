/* SPDX-License-Identifier: MIT */
/* Client connections: reading and parsing request heads, keep-alive, closing. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/rcu.h"
#include "proxy/ops.h"
#include "proxy/px.h"

#define PX_LINGER_MS 2000

static void c_on_read(struct rw_op *op, const struct rw_cqe *cqe);
static void c_on_write(struct rw_op *op, const struct rw_cqe *cqe);
static void c_on_close(struct rw_op *op, const struct rw_cqe *cqe);
static void c_on_timer(struct rw_timer *t);
static void c_parse(struct px_conn *c);

static void c_timer(struct px_conn *c, uint32_t ms)
{
    rw_timer_arm(rw_loop_wheel(c->w->loop), &c->timer, rw_loop_now(c->w->loop) + ms);
}

static void c_peer(struct px_conn *c, int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
        return;
    if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
        if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
            /* keep v4 clients on a dual-stack listener as plain IPv4 */
            c->peer.v4.sin_family = AF_INET;
            c->peer.v4.sin_port = s6->sin6_port;
            memcpy(&c->peer.v4.sin_addr, &s6->sin6_addr.s6_addr[12], 4);
        } else {
            c->peer.v6 = *s6;
        }
    } else if (ss.ss_family == AF_INET) {
        c->peer.v4 = *(const struct sockaddr_in *)&ss;
    } /* else the family stays 0: "unknown" (px_peer_text) */
}

void px_conn_accepted(struct px_worker *w, const struct px_listener_w *l, int fd)
{
    struct rw_proxy *px = w->px;
    const struct px_gen *g = w->gen;
    int32_t li = l->slot_id < g->nslots ? g->slot_lis[l->slot_id] : -1;
    if (li < 0 || atomic_fetch_add(&px->nconns, 1) >= g->cfg->max_connections) {
        if (li >= 0)
            atomic_fetch_sub(&px->nconns, 1);
        close(fd);
        return;
    }
    const struct rw_cfg_listener *lc = &g->cfg->listeners[li];
    struct px_conn *c = rw_slab_zalloc(w->conn_slab);
    if (!c) {
        atomic_fetch_sub(&px->nconns, 1);
        close(fd);
        return;
    }
    c->w = w;
    c->fd = fd;
    c->slot = l->slot_id;
    c->in.bid = -2;
    c->state = PX_C_HEAD;
    c_peer(c, fd);
    c->rd.owner = c->wr.owner = c;
    c->rd.cb = c_on_read;
    c->wr.cb = c_on_write;
    rw_timer_init(&c->timer, c_on_timer, c);
    c->all_next = w->conns;
    if (w->conns)
        w->conns->all_pprev = &c->all_next;
    c->all_pprev = &w->conns;
    w->conns = c;
    w->nconns++;
    px_ops_conn_open(c, (uint32_t)li);
    if (lc->tls.enabled &&
        px_tls_accept(c, rw_rcu_load((void *const *)&g->tls_ctx[li])) < 0) {
        px_conn_close(c);
        return;
    }
    c_timer(c, g->cfg->client_header_timeout_ms);
    px_conn_arm_read(c);
}

/* The worker's current generation for c's next request, with c's listener in it.
 * false: that listener was removed by a reload (the connection should close). */
bool px_conn_take_gen(struct px_conn *c)
{
    if (c->x->gen)
        return true;
    struct px_gen *g = c->w->gen;
    int32_t li = c->slot < g->nslots ? g->slot_lis[c->slot] : -1;
    if (li < 0)
        return false;
    px_gen_hold(c, g);
    c->x->lis = &g->cfg->listeners[li];
    return true;
}

/* While proxying, the client deadline runs only while we wait on the client: a
 * body read or a response write (client_body: between reads / writes). */
void px_conn_deadline(struct px_conn *c)
{
    if (c->state != PX_C_PROXY)
        return;
    if (c->rd_armed || c->wr_busy)
        c_timer(c, px_c_cfg(c)->client_body_timeout_ms);
    else
        rw_timer_stop(&c->timer);
}

void px_conn_arm_read(struct px_conn *c)
{
    if (c->tls) {
        if (c->rd_armed || c->state == PX_C_CLOSING)
            return;
        px_tls_want_read(c); /* plaintext may already wait inside TLS */
        px_conn_deadline(c);
        return;
    }
    px_conn_recv(c);
}

/* Ask the socket for bytes (ciphertext on TLS connections). */
void px_conn_recv(struct px_conn *c)
{
    if (c->rd_armed || c->state == PX_C_CLOSING || c->eof)
        return;
    /* Once a connection is kept alive, the backend may keep watching it for the
     * next heads (no submission per request); completions then carry MORE and the
     * op stays in flight until cancelled. A new connection (often one request,
     * then close) and a lingering one read one-shot: no watch to cancel at the
     * close; so do request bodies (the watch's reads are capped at half a buffer). */
    bool held = rw_op_busy(&c->rd);
    unsigned how = c->nreq && c->state == PX_C_HEAD ? RW_RECV_KEEP : RW_RECV_ONESHOT;
    int rc = rw_io_recv(c->w->loop, &c->rd, c->fd, how);
    if (rc < 0) {
        px_conn_close(c);
        return;
    }
    c->rd_armed = true;
    if (!held)
        c->inflight++;
    px_conn_deadline(c);
}

void px_conn_retry_read(struct px_conn *c)
{
    if (c->state == PX_C_CLOSING)
        return;
    if (c->state == PX_C_PROXY) {
        px_client_recv_body(c);
        px_resp_kick(c);
    } else
        px_conn_arm_read(c);
}

void px_conn_send_out(struct px_conn *c, const struct iovec *iov, int n)
{
    if (c->tls) {
        px_tls_send(c, iov, n);
        px_conn_deadline(c);
        return;
    }
    int rc = rw_io_send(c->w->loop, &c->wr, c->fd, iov, n);
    if (rc < 0) {
        px_conn_close(c);
        return;
    }
    c->wr_busy = true;
    c->inflight++;
    px_conn_deadline(c);
}

/* ---- closing ---- */

static void c_free(struct px_conn *c)
{
    struct px_worker *w = c->w;
    px_in_drop(w, &c->in);
    if (c->x) {
        px_ops_request_end(c); /* the connection closed during an exchange */
        /* pool buffers go back now (px_bury comes after this turn's buffer wake-ups) */
        px_in_drop(w, &c->x->rin);
        px_in_drop(w, &c->x->rtx);
    }
    px_gen_drop(c);
    px_ops_conn_close(c);
    px_tls_free(c);
    *c->all_pprev = c->all_next;
    if (c->all_next)
        c->all_next->all_pprev = c->all_pprev;
    w->nconns--;
    atomic_fetch_sub(&w->px->nconns, 1);
    /* callers up the stack may still look at c and its exchange (px_bury frees both) */
    c->next_wait = w->grave_c;
    w->grave_c = c;
}

static void c_maybe_free(struct px_conn *c)
{
    if (c->inflight || px_c_up(c) || c->state != PX_C_CLOSING)
        return;
    if (c->fd >= 0) {
        int fd = c->fd;
        c->fd = -1;
        /* Nothing is in flight, so rd had its final completion: the io contract lets
         * it carry the close, and an idle connection needs no third op. */
        c->rd.cb = c_on_close;
        if (rw_io_close(c->w->loop, &c->rd, fd) == 0) {
            c->inflight++;
            return;
        }
        close(fd);
    }
    c_free(c);
}

static void c_on_close(struct rw_op *op, const struct rw_cqe *cqe)
{
    struct px_conn *c = op->owner;
    c->inflight--;
    c_maybe_free(c);
}

static void c_unwait(struct px_conn *c)
{
    if (!c->waiting_buf)
        return;
    for (struct px_conn **pp = &c->w->buf_waiters; *pp; pp = &(*pp)->next_wait)
        if (*pp == c) {
            *pp = c->next_wait;
            break;
        }
    c->waiting_buf = false;
}

void px_conn_close(struct px_conn *c)
{
    if (c->state == PX_C_CLOSING)
        return;
    c->state = PX_C_CLOSING;
    rw_timer_cancel(&c->timer);
    if (c->x) {
        px_queue_leave(c);
        px_pick_release(c, 0, false);
        px_balance_end(c);
    }
    c_unwait(c);
    if (rw_op_busy(&c->rd))
        rw_io_cancel(c->w->loop, &c->rd);
    if (c->wr_busy || px_tls_writing(c))
        rw_io_cancel(c->w->loop, &c->wr);
    if (px_c_up(c))
        px_up_abort(px_c_up(c));
    c_maybe_free(c);
}

/* Close after the response: stop sending, read and drop what the client still
 * sends for a while, so that a close with unread data doesn't reset the
 * connection before the client read our answer. */
static void c_linger(struct px_conn *c)
{
    if (c->eof) {
        px_conn_close(c);
        return;
    }
    c->state = PX_C_LINGER;
    px_in_drop(c->w, &c->in);
    if (c->tls)
        px_tls_shutdown(c); /* close_notify first */
    else
        shutdown(c->fd, SHUT_WR);
    c_timer(c, PX_LINGER_MS);
    px_conn_arm_read(c);
}

/* Stop for shutdown: idle connections close now, busy ones after this exchange. */
void px__conns_stop_all(struct px_worker *w, bool force)
{
    struct px_conn *c = w->conns, *next;
    for (; c; c = next) {
        next = c->all_next;
        c->keep_alive = false;
        if (force || (c->state == PX_C_HEAD && c->in.bid == -2) || c->state == PX_C_LINGER)
            px_conn_close(c);
    }
}

/* ---- exchange end and keep-alive ---- */

static void c_reset_exchange(struct px_conn *c)
{
    px_pick_release(c, 0, false);
    px_balance_end(c);
    px_gen_drop(c); /* the next request takes the generation current then */
    px_xchg_put(c->w, c->x);
    c->x = NULL;
    c->xf = 0;
    c->scanned = 0;
    c->line_ok = false;
}

/* The client asked for this close (Connection: close, or HTTP/1.0 without
 * keep-alive) and its whole request was read: it sends nothing more (RFC 9112
 * 9.6). If nothing more has arrived either, a plain close cannot reset the
 * connection under our response, and lingering would only cost a shutdown, a read
 * and a wake-up per connection. */
static bool c_close_now(const struct px_conn *c)
{
    int pending = -1;
    if (c->tls || (c->in.bid != -2 && c->in.off < c->in.len))
        return false;
    return ioctl(c->fd, FIONREAD, &pending) == 0 && pending == 0;
}

void px_conn_exchange_done(struct px_conn *c)
{
    /* the next request starts at a clean boundary only if this body was all read */
    bool req_done = c->state == PX_C_LOCAL ? !(c->xf & PX_X_REQ_BODY) : c->x->req_body.done;
    bool client_close = (c->xf & PX_X_CLIENT_CLOSE) && req_done;
    px_ops_request_end(c);
    c_reset_exchange(c);
    c->nreq++;
    if (!c->keep_alive || !req_done || c->w->stopping) {
        if (client_close && c_close_now(c))
            px_conn_close(c);
        else
            c_linger(c);
        return;
    }
    c->state = PX_C_HEAD;
    if (c->in.bid != -2 && c->in.off < c->in.len) {
        c_timer(c, c->w->gen->cfg->client_header_timeout_ms);
        c_parse(c); /* a pipelined request is already here */
        return;
    }
    px_in_drop(c->w, &c->in);
    c_timer(c, c->w->gen->cfg->client_idle_timeout_ms);
    px_conn_arm_read(c);
}

/* ---- reading ---- */

void px_conn_on_eof(struct px_conn *c)
{
    c->eof = true;
    if (c->state == PX_C_PROXY && (c->xf & PX_X_REQ_DONE)) {
        c->keep_alive = false; /* half-close after a full request: answer, then close */
        return;
    }
    if (c->state == PX_C_LOCAL) {
        c->keep_alive = false;
        return;
    }
    px_conn_close(c);
}

static void c_on_read(struct rw_op *op, const struct rw_cqe *cqe)
{
    struct px_conn *c = op->owner;
    struct px_worker *w = c->w;
    if (!(cqe->flags & RW_CQE_MORE))
        c->inflight--; /* else still held (RW_RECV_KEEP) */
    c->rd_armed = false;
    if (c->state == PX_C_CLOSING) {
        if (cqe->flags & RW_CQE_BUF)
            px_buf_put(w, cqe->bid);
        c_maybe_free(c);
        return;
    }
    if (c->state == PX_C_LINGER && !c->tls) {
        if (cqe->flags & RW_CQE_BUF)
            px_buf_put(w, cqe->bid);
        if (cqe->res == -ENOBUFS)
            px_wait_buf(w, c);
        else if (cqe->res > 0)
            px_conn_arm_read(c);
        else
            px_conn_close(c);
        return;
    }
    px_conn_deadline(c);
    if (cqe->res == -ENOBUFS) {
        px_wait_buf(w, c);
        return;
    }
    if (cqe->res < 0) {
        if (cqe->res != -ECANCELED)
            px_conn_close(c);
        return;
    }
    if (c->tls) {
        /* ciphertext: decrypted into c->in by the TLS layer, which calls back */
        if (cqe->res == 0)
            c->eof = true;
        char *cb = cqe->res > 0 ? (char *)rw_loop_buf(w->loop, cqe->bid) : NULL;
        px_tls_input(c, cb, cqe->res > 0 ? (size_t)cqe->res : 0);
        if (cqe->res > 0)
            px_buf_put(w, cqe->bid);
        return;
    }
    if (cqe->res == 0) {
        px_conn_on_eof(c);
        return;
    }
    px_in_take(w, &c->in, cqe->bid, (uint32_t)cqe->res);
    px_conn_got_plaintext(c);
}

/* New request bytes are in c->in: feed them to whoever waits for them. */
void px_conn_got_plaintext(struct px_conn *c)
{
    if (c->state == PX_C_HEAD) {
        c_parse(c);
    } else if (c->state == PX_C_PROXY) {
        px_req_kick(c);
    } else if (c->state == PX_C_LINGER) {
        px_in_drop(c->w, &c->in); /* discarded while lingering */
        px_conn_arm_read(c);
    } else {
        px_in_drop(c->w, &c->in); /* LOCAL: a body we will not read */
    }
}

/* The head is incomplete: keep it in a heap buffer and read more. */
static void c_head_more(struct px_conn *c)
{
    struct px_worker *w = c->w;
    if (px_in_to_heap(w, &c->in) < 0) {
        px_conn_close(c);
        return;
    }
    if (!(c->xf & PX_X_HDR_TIMER)) {
        c->xf |= PX_X_HDR_TIMER;
        c_timer(c, w->gen->cfg->client_header_timeout_ms);
    }
    px_conn_arm_read(c);
}

/* Every request, answered by ringwall or proxied, gets its exchange state and the
 * generation current now. false: c was closed (out of memory, or its listener is
 * gone). req NULL: a bad or unfinished head. */
static inline bool c_begin(struct px_conn *c, const struct rw_h1_req *req)
{
    c->x = px_xchg_get(c->w);
    if (!c->x || !px_conn_take_gen(c)) {
        px_conn_close(c);
        return false;
    }
    px_ops_request_begin(c, req);
    return true;
}

/* The client header timeout struck in the middle of a head: 408, then close. */
static void c_head_timeout(struct px_conn *c)
{
    if (c_begin(c, NULL))
        px_local_error(c, 408, true);
}

static void c_parse(struct px_conn *c)
{
    struct px_worker *w = c->w;
    /* RFC 9112 2.2: ignore empty lines before a request line (some clients send a
     * CRLF after a body) */
    while (c->in.len - c->in.off >= 2 && c->in.base[c->in.off] == '\r' &&
           c->in.base[c->in.off + 1] == '\n' && c->scanned == 0)
        c->in.off += 2;
    if (c->in.off >= c->in.len) {
        px_in_drop(w, &c->in);
        px_conn_arm_read(c);
        return;
    }
    const char *p = c->in.base + c->in.off;
    uint32_t n = c->in.len - c->in.off;
    /* Parse only when a line ended or a limit may be crossed: a head trickling in
     * byte by byte then costs linear time, not quadratic. */
    if (!memchr(p + c->scanned, '\n', n - c->scanned) &&
        n < (c->line_ok ? w->lim.header_block : w->lim.request_line)) {
        c->scanned = n;
        c_head_more(c);
        return;
    }
    struct rw_h1_req req;
    int status = 400;
    enum rw_parse rc = rw_h1_parse_request(p, n, &w->lim, &req, w->hdrs, &status);
    if (rc == RW_PARSE_AGAIN) {
        c->scanned = n;
        if (n >= w->lim.request_line || memchr(p, '\n', n))
            c->line_ok = true;
        c_head_more(c);
        return;
    }
    rw_timer_stop(&c->timer);
    if (!c_begin(c, rc == RW_PARSE_DONE ? &req : NULL))
        return;
    if (rc == RW_PARSE_BAD) {
        c->req_minor = 1;
        px_local_error(c, status, true);
        return;
    }
    px_handle_request(c, &req);
}

/* ---- writing ---- */

static void c_on_write(struct rw_op *op, const struct rw_cqe *cqe)
{
    struct px_conn *c = op->owner;
    c->inflight--;
    if (c->state == PX_C_CLOSING) {
        c->wr_busy = false;
        c_maybe_free(c);
        return;
    }
    if (cqe->res >= 0)
        px_ops_sent(c, (uint64_t)cqe->res); /* bytes on the wire (ciphertext on TLS) */
    if (c->tls && cqe->res >= 0 && !px_tls_sent(c, cqe->res))
        return; /* more ciphertext to send, or a send of our own (handshake, alert) */
    c->wr_busy = false;
    if (cqe->res < 0) {
        px_conn_close(c);
        return;
    }
    px_conn_deadline(c);
    if (c->state == PX_C_LOCAL)
        px_conn_exchange_done(c);
    else if (c->state == PX_C_PROXY)
        px_client_sent(c);
}

static void c_on_timer(struct rw_timer *t)
{
    struct px_conn *c = t->owner;
    switch (c->state) {
    case PX_C_HEAD:
        if (c->in.bid != -2 && c->in.len > c->in.off)
            c_head_timeout(c); /* a head started but did not finish */
        else
            px_conn_close(c); /* idle keep-alive connection */
        break;
    case PX_C_PROXY:
        px_client_timeout(c);
        break;
    default:
        px_conn_close(c);
        break;
    }
}
