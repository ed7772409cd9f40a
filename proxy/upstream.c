/* SPDX-License-Identifier: MIT */
/* Upstream connections: pick, keep-alive pool, connect with retry, timeouts. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "tls/tls.h"
#include "health/health.h"
#include "proxy/px.h"

static void u_on_connect(struct rw_op *op, const struct rw_cqe *cqe);
static void u_on_read(struct rw_op *op, const struct rw_cqe *cqe);
static void u_on_write(struct rw_op *op, const struct rw_cqe *cqe);
static void u_on_close(struct rw_op *op, const struct rw_cqe *cqe);
static void u_on_timer(struct rw_timer *t);
static void u_tls_keep_session(struct px_up *u);

static const struct rw_cfg_upstream *u_cfg(const struct px_up *u)
{
    return u->pu->cfg;
}

static void u_timer(struct px_up *u, uint32_t ms)
{
    rw_timer_arm(rw_loop_wheel(u->w->loop), &u->timer, rw_loop_now(u->w->loop) + ms);
}

/* A busy connection's deadline: the response head by resp_deadline once the request
 * is sent; otherwise "read" between reads or writes while we wait on the server;
 * none while we wait on the client. */
static void u_deadline(struct px_up *u)
{
    struct px_conn *c = u->c;
    if (u->state != PX_UP_BUSY || !c)
        return;
    if (!(c->xf & PX_X_RESP_HEAD) && (c->xf & PX_X_REQ_DONE))
        rw_timer_arm(rw_loop_wheel(u->w->loop), &u->timer, u->resp_deadline);
    else if (u->wr_busy || (u->rd_armed && (c->xf & PX_X_RESP_HEAD)))
        u_timer(u, u_cfg(u)->read_timeout_ms);
    else
        rw_timer_stop(&u->timer);
}

/* Room for n servers in this worker's idle lists (servers added at run time). The
 * list heads move: their first entries' back links follow. Worker thread. */
static void u_grow(struct px_upstream_w *uw, uint32_t n)
{
    struct px_up **idle = realloc(uw->idle, n * sizeof(*idle));
    if (!idle)
        return;
    uw->idle = idle;
    for (uint32_t i = 0; i < n; i++) {
        if (i >= uw->nslots)
            idle[i] = NULL;
        else if (idle[i])
            idle[i]->pprev = &idle[i];
    }
    uint32_t *nidle = realloc(uw->nidle, n * sizeof(*nidle));
    if (!nidle)
        return;
    uw->nidle = nidle;
    struct rw_tls_session **ss = uw->sessions;
    if (ss && !(ss = realloc(ss, n * sizeof(*ss))))
        return;
    uw->sessions = ss;
    for (uint32_t i = uw->nslots; i < n; i++) {
        nidle[i] = 0;
        if (ss)
            ss[i] = NULL;
    }
    uw->nslots = n;
}

static void idle_unlink(struct px_up *u)
{
    if (!u->pprev)
        return;
    *u->pprev = u->next;
    if (u->next)
        u->next->pprev = u->pprev;
    u->next = NULL;
    u->pprev = NULL;
    u->pu->w[u->w->id].nidle[u->be->id]--;
}

static void u_free(struct px_up *u)
{
    u->w->nups--;
    u_tls_keep_session(u);
    if (u->tls_queued)
        for (struct px_up **pp = &u->w->utls_ready; *pp; pp = &(*pp)->tls_next)
            if (*pp == u) {
                *pp = u->tls_next;
                break;
            }
    rw_tls_conn_free(u->tls);
    u->tls = NULL;
    px_ups_unref(u->w->px, u->pu);
    u->pu = NULL;
    u->next = u->w->grave_u; /* callers up the stack may still look at u */
    u->w->grave_u = u;
}

static void u_maybe_free(struct px_up *u)
{
    if (u->inflight || u->state != PX_UP_DEAD)
        return;
    if (u->fd >= 0) {
        int fd = u->fd;
        u->fd = -1;
        if (rw_io_close(u->w->loop, &u->cl, fd) == 0) {
            u->inflight++;
            return;
        }
        close(fd);
    }
    u_free(u);
}

/* Detach from the client (if any) and close. */
static void u_close(struct px_up *u)
{
    if (u->state == PX_UP_DEAD)
        return;
    idle_unlink(u);
    if (u->wr_busy || u->tls_phys) {
        /* A send in flight may still read the client's buffers (request bytes, head,
         * chunk lines) that the client side reuses from now on: after shutdown the
         * kernel copies nothing more from them and the send just fails. */
        shutdown(u->fd, SHUT_RDWR);
    }
    if (u->c) {
        u->c->x->up = NULL;
        u->c = NULL;
    }
    u->state = PX_UP_DEAD;
    rw_timer_cancel(&u->timer);
    if (rw_op_busy(&u->rd))
        rw_io_cancel(u->w->loop, &u->rd);
    if (u->wr_busy || u->tls_phys)
        rw_io_cancel(u->w->loop, &u->wr);
    u_maybe_free(u);
}

void px_up_abort(struct px_up *u)
{
    u_close(u);
}

/* Mark this attempt's server as tried and give its slot back. */
void px_attempt_failed(struct px_conn *c)
{
    struct rw_backend *be = c->x->be;
    if (be && be->id < 64 * 4)
        c->x->tried[be->id / 64] |= 1ull << (be->id % 64);
    px_pick_release(c, 0, false);
}

/* Connect failed or timed out: try another server, or answer 502/504. */
static void u_connect_failed(struct px_conn *c, struct px_up *u, int err)
{
    rw_log(RW_LOG_WARN, "upstream %s server %s: connect: %s", u_cfg(u)->name, u->be->name,
           rw_strerror(err));
    u_close(u);
    px_report(c, err == -ETIMEDOUT ? RW_OUT_TIMEOUT : RW_OUT_CONNECT, 0);
    px_attempt_failed(c);
    c->x->fail_status = err == -ETIMEDOUT ? 504 : 502;
    if (px_may_retry(c, RW_RETRY_CONNECT_FAILURE, false)) {
        px_up_start(c);
        return;
    }
    px_exchange_fail(c, c->x->fail_status);
}

static struct px_up *u_new(struct px_worker *w, struct px_conn *c, struct rw_backend *be)
{
    struct px_up *u = rw_slab_zalloc(w->up_slab);
    if (!u)
        return NULL;
    u->w = w;
    u->be = be;
    u->pu = px_c_ups(c);
    atomic_fetch_add(&u->pu->refs, 1); /* the connection may outlive the generation */
    u->fd = -1;
    u->rd.owner = u->wr.owner = u->cl.owner = u;
    u->rd.cb = u_on_read;
    u->wr.cb = u_on_write;
    u->cl.cb = u_on_close;
    rw_timer_init(&u->timer, u_on_timer, u);
    w->nups++;
    return u;
}

static void u_attach(struct px_conn *c, struct px_up *u)
{
    u->c = c;
    c->x->up = u;
    u->state = PX_UP_BUSY;
    u->keep_alive = false;
}

static void u_connect(struct px_conn *c, struct rw_backend *be)
{
    struct px_worker *w = c->w;
    struct px_up *u = u_new(w, c, be);
    if (!u) {
        px_exchange_fail(c, 503);
        return;
    }
    u_attach(c, u);
    u->state = PX_UP_CONNECTING;
    int rc;
    u->fd = socket(be->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (u->fd < 0) {
        rc = -errno;
    } else {
        int one = 1;
        setsockopt(u->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        u->wr.cb = u_on_connect;
        rc = rw_io_connect(w->loop, &u->wr, u->fd, (const struct sockaddr *)&be->addr,
                           be->addrlen);
    }
    if (rc < 0) {
        u_connect_failed(c, u, rc);
        return;
    }
    u->wr_busy = true;
    u->inflight++;
    u_timer(u, c->x->route->upstream->connect_timeout_ms);
}

/* A request whose sending may not be repeated takes a pooled connection only after
 * checking that the server has not closed it (a replayable one is simply retried
 * on a fresh connection if that happens). */
static bool u_still_open(struct px_up *u)
{
    char b;
    ssize_t n = recv(u->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

void px_up_start(struct px_conn *c)
{
    bool full;
    struct rw_backend *be = px_pick(c, &full);
    if (!be) {
        if (full && px_queue_wait(c))
            return; /* px_queue_kick() continues with px_up_start_on() */
        px_exchange_fail(c, c->x->fail_status ? c->x->fail_status : c->x->tries ? 502 : 503);
        return;
    }
    px_up_start_on(c, be);
}

/* Continue on server be (reserved for c): a pooled connection, or a new one. */
void px_up_start_on(struct px_conn *c, struct rw_backend *be)
{
    struct px_upstream_w *uw = &px_c_ups(c)->w[c->w->id];
    c->x->be = be;
    c->x->tries++;
    struct px_up *u = NULL;
    while (!(c->xf & PX_X_FRESH) && be->id < uw->nslots && (u = uw->idle[be->id])) {
        if (px_replayable(c) || u_still_open(u))
            break;
        u_close(u); /* the server closed it; this request could not be replayed */
        u = NULL;
    }
    if (!u) {
        u_connect(c, be);
        return;
    }
    idle_unlink(u);
    rw_timer_stop(&u->timer);
    u->reused = true;
    u_attach(c, u);
    px_req_kick(c);
}

/* ---- TLS to the server: the same completion ops carry ciphertext ---- */

static void u_tls_flush(struct px_up *u)
{
    if (u->tls_phys || u->state == PX_UP_DEAD)
        return;
    if (px_tls_send_queued(u->w, u->tls, &u->wr, u->fd) <= 0)
        return; /* nothing to send; or the read side notices the broken connection */
    u->tls_phys = true;
    u->inflight++;
}

/* Keep the newest session (ticket) the server gave, to resume the next connection
 * to it without a full handshake. */
static void u_tls_keep_session(struct px_up *u)
{
    if (!u->tls || !rw_tls_conn_ready(u->tls))
        return;
    struct rw_tls_session *s = rw_tls_conn_take_session(u->tls);
    struct px_upstream_w *uw = &u->pu->w[u->w->id];
    if (!s)
        return;
    if (!uw->sessions || u->be->id >= uw->nslots) {
        rw_tls_session_free(s);
        return;
    }
    rw_tls_session_free(uw->sessions[u->be->id]);
    uw->sessions[u->be->id] = s;
}

static void u_tls_failed(struct px_up *u, const char *what)
{
    rw_log(RW_LOG_WARN, "upstream %s server %s: tls %s: %s", u_cfg(u)->name, u->be->name, what,
           rw_tls_conn_error(u->tls));
    u_connect_failed(u->c, u, -EPROTO);
}

/* After connect: the handshake runs with the connect deadline still armed. */
static void u_tls_start(struct px_up *u)
{
    const struct rw_cfg_upstream *cfg = u_cfg(u);
    int err = 0;
    struct px_upstream_w *uw = &u->pu->w[u->w->id];
    const struct rw_tls_session *resume =
        uw->sessions && u->be->id < uw->nslots ? uw->sessions[u->be->id] : NULL;
    u->tls = rw_tls_conn_client(u->pu->tls, cfg->tls.sni, resume, &err);
    if (!u->tls) {
        u_connect_failed(u->c, u, err ? err : -ENOMEM);
        return;
    }
    int rc = rw_tls_conn_handshake(u->tls);
    if (rc < 0 && rc != -EAGAIN) {
        u_tls_failed(u, "handshake");
        return;
    }
    u_tls_flush(u);
    if (rw_io_recv(u->w->loop, &u->rd, u->fd, RW_RECV_ONESHOT) == 0) {
        u->rd_armed = true;
        u->inflight++;
    }
}

/* Decrypt the server's bytes into the client's response buffer and hand them on. */
static void u_tls_deliver(struct px_up *u)
{
    struct px_conn *c = u->c;
    struct px_worker *w = u->w;
    bool got = false;
    int r = px_tls_decrypt(w, u->tls, &c->x->rin, &got);
    if (r == -ENOMEM) {
        px_exchange_fail(c, 502);
        return;
    }
    u_tls_flush(u);
    if (got) {
        px_resp_data(c);
        return;
    }
    if (r == -EAGAIN || r == 0) {
        if (!u->rd_armed && rw_io_recv(w->loop, &u->rd, u->fd, RW_RECV_ONESHOT) == 0) {
            u->rd_armed = true;
            u->inflight++;
            u_deadline(u);
        }
        return;
    }
    px_resp_eof(c, r == 1 ? 0 : -EPROTO);
}

/* Ciphertext from the server was fed to TLS (eof: the server closed). */
static void u_tls_input(struct px_up *u, bool eof)
{
    size_t n = !eof;
    if (eof)
        rw_tls_conn_input_eof(u->tls);
    if (u->state == PX_UP_CONNECTING) {
        int rc = rw_tls_conn_handshake(u->tls);
        u_tls_flush(u);
        if (rc == -EAGAIN && n) {
            if (rw_io_recv(u->w->loop, &u->rd, u->fd, RW_RECV_ONESHOT) == 0) {
                u->rd_armed = true;
                u->inflight++;
            }
            return;
        }
        if (rc < 0 || !rw_tls_conn_ready(u->tls)) {
            u_tls_failed(u, "handshake");
            return;
        }
        struct px_conn *c = u->c; /* a failed request kick detaches u: u->c is NULL then */
        u->state = PX_UP_BUSY;
        rw_timer_cancel(&u->timer);
        px_req_kick(c);
        px_resp_kick(c);
        return;
    }
    if (!u->c) { /* idle: tickets and alerts are fine, application data is not */
        char b;
        ssize_t r = rw_tls_conn_read(u->tls, &b, 1);
        u_tls_flush(u);
        if (r == -EAGAIN && n) {
            if (rw_io_recv(u->w->loop, &u->rd, u->fd, RW_RECV_ONESHOT) == 0) {
                u->rd_armed = true;
                u->inflight++;
            }
            return;
        }
        u_close(u);
        return;
    }
    u_tls_deliver(u);
}

void px_up_tls_run(struct px_worker *w)
{
    while (w->utls_ready) {
        struct px_up *u = w->utls_ready;
        w->utls_ready = u->tls_next;
        u->tls_queued = false;
        if (u->state == PX_UP_BUSY && u->c && !u->rd_armed)
            u_tls_deliver(u);
    }
}

static void u_on_connect(struct rw_op *op, const struct rw_cqe *cqe)
{
    struct px_up *u = op->owner;
    u->inflight--;
    u->wr_busy = false;
    u->wr.cb = u_on_write;
    if (u->state == PX_UP_DEAD) {
        u_maybe_free(u);
        return;
    }
    struct px_conn *c = u->c;
    if (cqe->res < 0) {
        u_connect_failed(c, u, cqe->res);
        return;
    }
    if (u->pu->tls) {
        u_tls_start(u); /* CONNECTING until the handshake is done */
        return;
    }
    u->state = PX_UP_BUSY;
    rw_timer_cancel(&u->timer);
    px_req_kick(c);
    px_resp_kick(c);
}

void px_up_send(struct px_up *u, const struct iovec *iov, int n)
{
    if (u->tls) {
        if (rw_tls_conn_write(u->tls, iov, n) < 0) {
            px_resp_eof(u->c, -EPROTO);
            return;
        }
        u->tls_logical = true;
        u->wr_busy = true;
        u_tls_flush(u);
        u_deadline(u);
        return;
    }
    int rc = rw_io_send(u->w->loop, &u->wr, u->fd, iov, n);
    if (rc < 0) {
        px_resp_eof(u->c, rc);
        return;
    }
    u->wr_busy = true;
    u->inflight++;
    u_deadline(u);
}

static void u_on_write(struct rw_op *op, const struct rw_cqe *cqe)
{
    struct px_up *u = op->owner;
    u->inflight--;
    if (u->tls) {
        u->tls_phys = false;
        if (u->state != PX_UP_DEAD && cqe->res >= 0) {
            rw_tls_conn_consumed(u->tls, (size_t)cqe->res);
            if (rw_tls_conn_output_pending(u->tls)) {
                u_tls_flush(u);
                return;
            }
        }
        if (!u->tls_logical && cqe->res >= 0 && u->state != PX_UP_DEAD)
            return; /* our own handshake or alert bytes left */
        u->tls_logical = false;
    }
    u->wr_busy = false;
    if (u->state == PX_UP_DEAD || !u->c) {
        u_maybe_free(u);
        return;
    }
    struct px_conn *c = u->c;
    if (cqe->res < 0) {
        /* The server stopped reading (it may have answered early and closed): stop
         * sending, keep reading, and let the response, or its absence, decide. */
        c->keep_alive = false;
        u->keep_alive = false;
        c->xf |= PX_X_REQ_DONE | PX_X_REQ_CUT;
        if (!(c->xf & PX_X_RESP_HEAD))
            px_up_wait_response(u);
        px_resp_kick(c);
        return;
    }
    u_deadline(u);
    px_up_sent(c);
}

void px_up_arm_read(struct px_up *u)
{
    if (!u || u->rd_armed || u->state == PX_UP_DEAD || u->state == PX_UP_CONNECTING)
        return;
    if (u->tls && u->c) {
        /* plaintext may wait inside TLS: served after this loop turn */
        if (!u->tls_queued) {
            u->tls_queued = true;
            u->tls_next = u->w->utls_ready;
            u->w->utls_ready = u;
        }
        return;
    }
    /* a response body goes into a bulk buffer: fewer, larger reads and client sends */
    bool body = u->c && (u->c->xf & PX_X_RESP_HEAD);
    /* heads (and idle waits) on a plain connection: the backend may keep watching
     * between responses, as on client connections */
    bool held = rw_op_busy(&u->rd);
    int rc = rw_io_recv(u->w->loop, &u->rd, u->fd,
                        body ? RW_RECV_BULK : u->tls ? RW_RECV_ONESHOT : RW_RECV_KEEP);
    if (rc < 0) {
        if (u->c)
            px_resp_eof(u->c, rc);
        else
            u_close(u);
        return;
    }
    u->rd_armed = true;
    if (!held)
        u->inflight++;
    u_deadline(u);
}

void px_up_wait_response(struct px_up *u)
{
    u->resp_deadline = rw_loop_now(u->w->loop) + u_cfg(u)->response_timeout_ms;
    u_deadline(u);
    px_up_arm_read(u);
}

void px_up_got_head(struct px_up *u)
{
    u_deadline(u);
}

static void u_on_read(struct rw_op *op, const struct rw_cqe *cqe)
{
    struct px_up *u = op->owner;
    struct px_worker *w = u->w;
    if (!(cqe->flags & RW_CQE_MORE))
        u->inflight--; /* else still held (RW_RECV_KEEP) */
    u->rd_armed = false;
    struct px_conn *c = u->c;
    if (u->tls && u->state != PX_UP_DEAD && cqe->res >= 0) {
        char *cb = cqe->res > 0 ? (char *)rw_loop_buf(w->loop, cqe->bid) : NULL;
        if (cqe->res > 0) {
            rw_tls_conn_input(u->tls, cb, (size_t)cqe->res);
            px_buf_put(w, cqe->bid);
        }
        if (c)
            u_deadline(u);
        u_tls_input(u, cqe->res == 0);
        return;
    }
    if (u->state == PX_UP_DEAD || !c) {
        if (cqe->flags & RW_CQE_BUF)
            px_buf_put(w, cqe->bid);
        if (u->state == PX_UP_IDLE)
            u_close(u); /* the server closed an idle connection, or spoke out of turn */
        else
            u_maybe_free(u);
        return;
    }
    u_deadline(u);
    if (cqe->res == -ENOBUFS) {
        px_wait_buf(w, c);
        return;
    }
    if (cqe->res <= 0) {
        if (cqe->res != -ECANCELED)
            px_resp_eof(c, cqe->res);
        return;
    }
    px_in_take(w, &c->x->rin, cqe->bid, (uint32_t)cqe->res);
    px_resp_data(c);
}

static void u_on_close(struct rw_op *op, const struct rw_cqe *cqe)
{
    struct px_up *u = op->owner;
    u->inflight--;
    u_maybe_free(u);
}

static void u_on_timer(struct rw_timer *t)
{
    struct px_up *u = t->owner;
    struct px_conn *c = u->c;
    switch (u->state) {
    case PX_UP_CONNECTING:
        u_connect_failed(c, u, -ETIMEDOUT);
        break;
    case PX_UP_BUSY:
        if (c && !(c->xf & PX_X_RESP_HEAD) && (c->xf & PX_X_REQ_DONE)) {
            rw_log(RW_LOG_WARN, "upstream %s server %s: no response in time", u_cfg(u)->name,
                   u->be->name);
            px_exchange_retry_or_fail(c, RW_RETRY_TIMEOUT, 504);
        } else if (c) {
            px_exchange_fail(c, 504); /* body read timeout: closes the client */
        }
        break;
    default:
        u_close(u);
        break;
    }
}

void px_up_release(struct px_up *u, bool reusable)
{
    u_tls_keep_session(u);
    struct px_worker *w = u->w;
    struct px_upstream_w *uw = &u->pu->w[w->id];
    const struct rw_cfg_upstream *cfg = u_cfg(u);
    if (u->be->id >= uw->nslots)
        u_grow(uw, u->be->id + 1);
    if (!reusable || w->stopping || u->be->id >= uw->nslots || atomic_load(&u->pu->retired) ||
        uw->nidle[u->be->id] >= cfg->keepalive_max_idle || u->rd_armed || u->wr_busy) {
        u_close(u);
        return;
    }
    u->c->x->up = NULL;
    u->c = NULL;
    u->state = PX_UP_IDLE;
    u->reused = false;
    u->next = uw->idle[u->be->id];
    if (u->next)
        u->next->pprev = &u->next;
    u->pprev = &uw->idle[u->be->id];
    uw->idle[u->be->id] = u;
    uw->nidle[u->be->id]++;
    u_timer(u, cfg->keepalive_idle_timeout_ms);
    px_up_arm_read(u); /* notices the server closing it while it waits */
}

/* Close this worker's pooled connections to upstream pu. */
void px_up_close_idle(struct px_worker *w, struct px_ups *pu)
{
    struct px_upstream_w *uw = &pu->w[w->id];
    for (uint32_t j = 0; j < uw->nslots; j++)
        while (uw->idle[j])
            u_close(uw->idle[j]);
}

void px_up_stop_worker(struct px_worker *w)
{
    const struct px_gen *g = w->gen;
    for (uint32_t i = 0; g && i < g->cfg->nupstreams; i++)
        px_up_close_idle(w, g->ups[i]);
}
