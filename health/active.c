/* SPDX-License-Identifier: MIT */
/* Active checks: TCP connect, and HTTP/1.1 requests (plain or TLS) over kept-alive connections. */
#include "health/health-int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"

/* Head, the bounded body, and one more read. */
#define HC_RBUF_MAX (RW__HC_HEAD_MAX + RW_HEALTH_BODY_MAX + 16384)

enum hc_step {
    HC_MORE = 0, /* need more bytes */
    HC_DONE,     /* judged: s->reason set when failed */
    HC_BAD,      /* not a valid response */
};

static void hc_connect(struct rw__hc_srv *s);
static void hc_maybe_close(struct rw__hc_srv *s);
static void hc_tls_start(struct rw__hc_srv *s);
static void hc_tls_request(struct rw__hc_srv *s);
static void hc_tls_input(struct rw__hc_srv *s, bool eof);

bool rw__hc_busy(const struct rw__hc_srv *s)
{
    return s->fd >= 0 || s->rd_busy || s->wr_busy || s->cl_busy;
}

/* End the check: record, close unless kept alive, feed the state machine. */
static void hc_finish(struct rw__hc_srv *s, bool ok, bool keep)
{
    s->running = false;
    s->retry_fresh = false;
    rw_timer_cancel(&s->deadline);
    free(s->rbuf);
    s->rbuf = NULL;
    s->rlen = s->rcap = 0;
    if (!keep)
        rw__hc_conn_abort(s);
    rw__hc_result(s, ok);
}

static void hc_fail(struct rw__hc_srv *s, const char *fmt, const char *detail)
{
    snprintf(s->reason, sizeof(s->reason), fmt, detail);
    hc_finish(s, false, false);
}

void rw__hc_conn_abort(struct rw__hc_srv *s)
{
    s->running = false;
    s->retry_fresh = false;
    if (s->fd < 0 && !s->rd_busy && !s->wr_busy)
        return;
    s->closing = true;
    if (s->rd_busy)
        rw_io_cancel(s->h->loop, &s->rd);
    if (s->wr_busy)
        rw_io_cancel(s->h->loop, &s->wr);
    hc_maybe_close(s);
}

/* After the connection is gone: reconnect for a stale kept-alive one, or start a
 * check that came due meanwhile. */
static void hc_after_close(struct rw__hc_srv *s)
{
    if (s->running && s->retry_fresh) {
        s->retry_fresh = false;
        s->reused = false;
        hc_connect(s);
        return;
    }
    if (s->start_pending && !atomic_load(&s->h->stop)) {
        s->start_pending = false;
        rw__hc_check_start(s);
    }
}

static void hc_on_close(struct rw_op *op, const struct rw_cqe *cqe)
{
    struct rw__hc_srv *s = op->owner;
    s->cl_busy = false;
    s->closing = false;
    hc_after_close(s);
}

static void hc_maybe_close(struct rw__hc_srv *s)
{
    if (!s->closing || s->rd_busy || s->wr_busy || s->cl_busy)
        return;
    if (s->fd < 0) {
        rw_tls_conn_free(s->tls);
        s->tls = NULL;
        s->closing = false;
        hc_after_close(s);
        return;
    }
    int fd = s->fd;
    s->fd = -1;
    rw_tls_conn_free(s->tls); /* no send is in flight: its iovecs are gone with it */
    s->tls = NULL;
    s->cl.cb = hc_on_close;
    s->cl.owner = s;
    if (rw_io_close(s->h->loop, &s->cl, fd) < 0) {
        close(fd);
        s->closing = false;
        hc_after_close(s);
        return;
    }
    s->cl_busy = true;
}

/* A kept-alive connection failed before any response byte: the server closed it
 * while idle. Reconnect once within the same deadline. */
static bool hc_stale(struct rw__hc_srv *s)
{
    if (!s->reused || s->rlen)
        return false;
    s->retry_fresh = true;
    s->closing = true;
    if (s->rd_busy)
        rw_io_cancel(s->h->loop, &s->rd);
    if (s->wr_busy)
        rw_io_cancel(s->h->loop, &s->wr);
    hc_maybe_close(s);
    return true;
}

static void hc_recv_arm(struct rw__hc_srv *s);

static int hc_append(struct rw__hc_srv *s, const uint8_t *p, uint32_t n)
{
    if (s->rlen + n > s->rcap) {
        uint32_t cap = s->rcap ? s->rcap : 4096;
        while (cap < s->rlen + n)
            cap *= 2;
        if (cap > HC_RBUF_MAX)
            cap = HC_RBUF_MAX;
        if (s->rlen + n > cap)
            return -E2BIG;
        char *nb = realloc(s->rbuf, cap);
        if (!nb)
            return -ENOMEM;
        s->rbuf = nb;
        s->rcap = cap;
    }
    memcpy(s->rbuf + s->rlen, p, n);
    s->rlen += n;
    return 0;
}

/* The head: skip interim 1xx responses, then set up body framing. */
static enum hc_step hc_parse_head(struct rw__hc_srv *s)
{
    static const struct rw_h1_limits lim = {.header_block = RW__HC_HEAD_MAX};
    for (;;) {
        int st = 0;
        enum rw_parse r = rw_h1_parse_response(s->rbuf, s->rlen, &lim, s->u->method_id, &s->resp,
                                               s->h->hdrs, &st);
        if (r == RW_PARSE_AGAIN)
            return s->rlen >= RW__HC_HEAD_MAX ? HC_BAD : HC_MORE;
        if (r == RW_PARSE_BAD)
            return HC_BAD;
        uint32_t hl = (uint32_t)s->resp.h.head_len;
        if (s->resp.status >= 200)
            break;
        if (s->resp.status == 101)
            return HC_BAD;
        memmove(s->rbuf, s->rbuf + hl, s->rlen - hl);
        s->rlen -= hl;
    }
    s->head_done = true;
    s->body_end = s->raw_off = (uint32_t)s->resp.h.head_len;
    if (s->resp.h.body == RW_BODY_CHUNKED)
        rw_chunked_init(&s->ck);
    return HC_MORE;
}

/* Chunked: decode in place (decoded bytes never overtake raw ones), then move the
 * undecoded tail down so the buffer holds at most body + one read. */
static enum hc_step hc_chunked(struct rw__hc_srv *s, bool *complete)
{
    while (s->raw_off < s->rlen && s->body_end - s->resp.h.head_len < RW_HEALTH_BODY_MAX) {
        size_t used = 0, doff = 0, dlen = 0;
        enum rw_parse r = rw_chunked_decode(&s->ck, s->rbuf + s->raw_off, s->rlen - s->raw_off,
                                            &used, &doff, &dlen);
        if (r == RW_PARSE_BAD)
            return HC_BAD;
        if (dlen) {
            memmove(s->rbuf + s->body_end, s->rbuf + s->raw_off + doff, dlen);
            s->body_end += (uint32_t)dlen;
        }
        s->raw_off += (uint32_t)used;
        if (r == RW_PARSE_DONE) {
            *complete = true;
            return HC_DONE;
        }
        if (used == 0)
            break;
    }
    uint32_t tail = s->rlen - s->raw_off;
    memmove(s->rbuf + s->body_end, s->rbuf + s->raw_off, tail);
    s->rlen = s->body_end + tail;
    s->raw_off = s->body_end;
    return s->body_end - s->resp.h.head_len >= RW_HEALTH_BODY_MAX ? HC_DONE : HC_MORE;
}

/* Where the body stands; *complete when the message ended exactly (reusable). */
static enum hc_step hc_body(struct rw__hc_srv *s, bool eof, bool *complete)
{
    uint32_t hl = (uint32_t)s->resp.h.head_len, have = s->rlen - hl;
    *complete = false;
    switch (s->resp.h.body) {
    case RW_BODY_NONE:
        *complete = have == 0;
        s->body_end = hl;
        return HC_DONE;
    case RW_BODY_LENGTH:
        if (have >= s->resp.h.content_length) {
            *complete = have == s->resp.h.content_length;
            s->body_end = hl + (uint32_t)s->resp.h.content_length;
            return HC_DONE;
        }
        s->body_end = s->rlen;
        if (have >= RW_HEALTH_BODY_MAX)
            return HC_DONE; /* judged on the first 64 KiB; the rest is not read */
        return eof ? HC_BAD : HC_MORE;
    case RW_BODY_CHUNKED: {
        enum hc_step r = hc_chunked(s, complete);
        if (r == HC_DONE && *complete)
            *complete = s->raw_off == s->rlen;
        return r == HC_MORE && eof ? HC_BAD : r;
    }
    default: /* until close */
        s->body_end = s->rlen;
        return eof || have >= RW_HEALTH_BODY_MAX ? HC_DONE : HC_MORE;
    }
}

static void hc_judge(struct rw__hc_srv *s, bool complete)
{
    const struct rw_hc_params *a = &s->u->act;
    int status = s->resp.status;
    bool keep = complete && s->resp.h.keep_alive && s->resp.h.body != RW_BODY_CLOSE;
    if (!rw_health_status_has(a->expect_status, status)) {
        snprintf(s->reason, sizeof(s->reason), "status %d", status);
        hc_finish(s, false, keep);
        return;
    }
    uint32_t hl = (uint32_t)s->resp.h.head_len;
    if (a->expect_body &&
        !memmem(s->rbuf + hl, s->body_end - hl, a->expect_body, strlen(a->expect_body))) {
        snprintf(s->reason, sizeof(s->reason), "status %d, body lacks the expected text", status);
        hc_finish(s, false, keep);
        return;
    }
    hc_finish(s, true, keep);
}

static void hc_process(struct rw__hc_srv *s, bool eof)
{
    enum hc_step r = HC_MORE;
    if (!s->head_done) {
        r = hc_parse_head(s);
        if (r == HC_MORE && !s->head_done) {
            if (eof)
                hc_fail(s, "%s",
                        s->rlen ? "closed inside the response head" : "closed without a response");
            else
                hc_recv_arm(s);
            return;
        }
    }
    bool complete = false;
    if (r != HC_BAD)
        r = hc_body(s, eof, &complete);
    if (r == HC_BAD) {
        hc_fail(s, "%s", "malformed or truncated response");
        return;
    }
    if (r == HC_MORE) {
        hc_recv_arm(s);
        return;
    }
    hc_judge(s, complete && !eof);
}

static void hc_on_recv(struct rw_op *op, const struct rw_cqe *cqe)
{
    struct rw__hc_srv *s = op->owner;
    s->rd_busy = false;
    int rc = 0;
    if (cqe->flags & RW_CQE_BUF) {
        if (s->running && s->tls)
            rc = rw_tls_conn_input(s->tls, rw_loop_buf(s->h->loop, cqe->bid), (size_t)cqe->res);
        else if (s->running)
            rc = hc_append(s, rw_loop_buf(s->h->loop, cqe->bid), (uint32_t)cqe->res);
        rw_loop_buf_put(s->h->loop, cqe->bid);
    }
    if (!s->running) {
        hc_maybe_close(s);
        return;
    }
    if (cqe->res == -ENOBUFS) {
        hc_recv_arm(s);
        return;
    }
    if (rc < 0) {
        hc_fail(s, "response: %s", rc == -E2BIG ? "too large" : rw_strerror(rc));
        return;
    }
    if (cqe->res < 0 || cqe->res == 0) {
        if (hc_stale(s))
            return;
        if (cqe->res < 0) {
            hc_fail(s, "recv: %s", rw_strerror(cqe->res));
            return;
        }
    }
    if (s->tls)
        hc_tls_input(s, cqe->res == 0);
    else
        hc_process(s, cqe->res == 0);
}

static void hc_recv_arm(struct rw__hc_srv *s)
{
    s->rd.cb = hc_on_recv;
    s->rd.owner = s;
    int rc = rw_io_recv(s->h->loop, &s->rd, s->fd, RW_RECV_ONESHOT);
    if (rc < 0) {
        hc_fail(s, "recv: %s", rw_strerror(rc));
        return;
    }
    s->rd_busy = true;
}

static void hc_on_send(struct rw_op *op, const struct rw_cqe *cqe)
{
    struct rw__hc_srv *s = op->owner;
    s->wr_busy = false;
    if (!s->running) {
        hc_maybe_close(s);
        return;
    }
    if (cqe->res < 0) {
        if (!hc_stale(s))
            hc_fail(s, "send: %s", rw_strerror(cqe->res));
        return;
    }
    hc_recv_arm(s);
}

static void hc_send(struct rw__hc_srv *s)
{
    struct iovec iov = {.iov_base = s->req, .iov_len = s->req_len};
    s->wr.cb = hc_on_send;
    s->wr.owner = s;
    int rc = rw_io_send(s->h->loop, &s->wr, s->fd, &iov, 1);
    if (rc < 0) {
        if (!hc_stale(s))
            hc_fail(s, "send: %s", rw_strerror(rc));
        return;
    }
    s->wr_busy = true;
}

static void hc_on_connect(struct rw_op *op, const struct rw_cqe *cqe)
{
    struct rw__hc_srv *s = op->owner;
    s->wr_busy = false;
    if (!s->running) {
        hc_maybe_close(s);
        return;
    }
    if (cqe->res < 0) {
        hc_fail(s, "connect: %s", rw_strerror(cqe->res));
        return;
    }
    if (s->u->act.type == RW_HC_TCP) {
        hc_finish(s, true, false);
        return;
    }
    if (s->u->act.tls) {
        hc_tls_start(s);
        return;
    }
    hc_send(s);
}

static void hc_connect(struct rw__hc_srv *s)
{
    s->fd = socket(s->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0) {
        hc_fail(s, "socket: %s", rw_strerror(-errno));
        return;
    }
    int one = 1;
    setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    s->wr.cb = hc_on_connect;
    s->wr.owner = s;
    int rc =
        rw_io_connect(s->h->loop, &s->wr, s->fd, (const struct sockaddr *)&s->addr, s->addrlen);
    if (rc < 0) {
        hc_fail(s, "connect: %s", rw_strerror(rc));
        return;
    }
    s->wr_busy = true;
}

static void hc_on_deadline(struct rw_timer *t)
{
    struct rw__hc_srv *s = t->owner;
    if (!s->running)
        return;
    char ms[24];
    snprintf(ms, sizeof(ms), "%u ms", s->u->act.timeout_ms);
    hc_fail(s, "no answer within %s", ms);
}

static void hc_stats_start(struct rw__hc_srv *s)
{
    uint64_t now = rw__hc_now_us(), due = s->due_ms * 1000;
    uint64_t late = now > due ? now - due : 0;
    struct rw__hp_srv *hp = s->hp;
    if (late > atomic_load_explicit(&hp->late_max_us, memory_order_relaxed))
        atomic_store_explicit(&hp->late_max_us, late, memory_order_relaxed);
    atomic_fetch_add_explicit(&hp->late_sum_us, late, memory_order_relaxed);
    if (s->last_start_us) {
        uint64_t gap = now - s->last_start_us;
        if (gap > atomic_load_explicit(&hp->gap_max_us, memory_order_relaxed))
            atomic_store_explicit(&hp->gap_max_us, gap, memory_order_relaxed);
    }
    s->last_start_us = now;
}

void rw__hc_check_start(struct rw__hc_srv *s)
{
    if (!s->tracked || s->running || atomic_load(&s->h->stop))
        return;
    if (s->closing || s->cl_busy || s->rd_busy || s->wr_busy) {
        s->start_pending = true; /* the previous connection is still closing */
        return;
    }
    hc_stats_start(s);
    s->running = true;
    s->reason[0] = '\0';
    s->head_done = false;
    s->rlen = 0;
    s->body_end = s->raw_off = 0;
    rw_timer_init(&s->deadline, hc_on_deadline, s);
    rw_timer_arm(rw_loop_wheel(s->h->loop), &s->deadline,
                 rw_loop_now(s->h->loop) + s->u->act.timeout_ms);
    if (s->fd >= 0 && s->u->act.type == RW_HC_HTTP) {
        s->reused = true;
        if (s->tls)
            hc_tls_request(s);
        else
            hc_send(s);
        return;
    }
    s->reused = false;
    hc_connect(s);
}

/* ---- TLS: the same ops carry ciphertext; one send in flight, recv armed while waiting ---- */

static void hc_tls_flush(struct rw__hc_srv *s);

static void hc_tls_on_send(struct rw_op *op, const struct rw_cqe *cqe)
{
    struct rw__hc_srv *s = op->owner;
    s->wr_busy = false;
    if (cqe->res > 0 && s->tls)
        rw_tls_conn_consumed(s->tls, (size_t)cqe->res);
    if (!s->running) {
        if (s->start_pending && !s->closing && s->fd >= 0) {
            s->start_pending = false; /* a check came due while these bytes were going out */
            rw__hc_check_start(s);
            return;
        }
        hc_maybe_close(s);
        return;
    }
    if (cqe->res < 0) {
        if (!hc_stale(s))
            hc_fail(s, "send: %s", rw_strerror(cqe->res));
        return;
    }
    hc_tls_flush(s);
}

/* Send queued ciphertext unless a send is in flight (its completion sends the rest). */
static void hc_tls_flush(struct rw__hc_srv *s)
{
    if (s->wr_busy || !s->running || !s->tls)
        return;
    struct iovec iov[8];
    int n = rw_tls_conn_output(s->tls, iov, 8);
    if (n <= 0)
        return;
    s->wr.cb = hc_tls_on_send;
    s->wr.owner = s;
    int rc = rw_io_send(s->h->loop, &s->wr, s->fd, iov, n);
    if (rc < 0) {
        if (!hc_stale(s))
            hc_fail(s, "send: %s", rw_strerror(rc));
        return;
    }
    s->wr_busy = true;
}

static void hc_tls_failed(struct rw__hc_srv *s, const char *what, int rc)
{
    const char *e = rw_tls_conn_error(s->tls);
    const char *msg = rc == -ECONNRESET || rc == 0 ? "connection closed by the server"
                      : e && *e                    ? e
                                                   : rw_strerror(rc);
    snprintf(s->reason, sizeof(s->reason), "tls %s: %.100s", what, msg);
    hc_finish(s, false, false);
}

/* After connect: queue the first flight, send it, and wait for the server's. */
static void hc_tls_start(struct rw__hc_srv *s)
{
    int err = 0;
    s->tls = rw_tls_conn_client(s->u->act.tls, s->u->act.tls_sni, NULL, &err);
    if (!s->tls) {
        hc_fail(s, "tls: %s", rw_strerror(err ? err : -ENOMEM));
        return;
    }
    int rc = rw_tls_conn_handshake(s->tls);
    if (rc < 0 && rc != -EAGAIN) {
        hc_tls_failed(s, "handshake", rc);
        return;
    }
    hc_tls_flush(s);
    if (s->running)
        hc_recv_arm(s);
}

/* The handshake is done (or the connection kept alive): encrypt the request. */
static void hc_tls_request(struct rw__hc_srv *s)
{
    struct iovec iov = {.iov_base = s->req, .iov_len = s->req_len};
    ssize_t rc = rw_tls_conn_write(s->tls, &iov, 1);
    if (rc < 0) {
        if (!hc_stale(s))
            hc_tls_failed(s, "write", (int)rc);
        return;
    }
    hc_tls_flush(s);
    if (s->running && !s->rd_busy && !s->closing)
        hc_recv_arm(s);
}

/* Ciphertext was fed to the session (eof: the server closed): advance the handshake,
 * or decrypt what arrived and judge the response so far. */
static void hc_tls_input(struct rw__hc_srv *s, bool eof)
{
    if (eof)
        rw_tls_conn_input_eof(s->tls);
    if (!rw_tls_conn_ready(s->tls)) {
        int rc = rw_tls_conn_handshake(s->tls);
        hc_tls_flush(s);
        if (!s->running)
            return;
        if (rc == -EAGAIN && !eof) {
            hc_recv_arm(s);
            return;
        }
        if (rc < 0 || !rw_tls_conn_ready(s->tls)) {
            hc_tls_failed(s, "handshake", rc == -EAGAIN ? -ECONNRESET : rc);
            return;
        }
        hc_tls_request(s);
        return;
    }
    uint8_t tmp[4096];
    ssize_t r = -EAGAIN;
    int rc = 0;
    while (rc == 0 && (r = rw_tls_conn_read(s->tls, tmp, sizeof(tmp))) > 0)
        rc = hc_append(s, tmp, (uint32_t)r);
    hc_tls_flush(s);
    if (!s->running)
        return;
    if (rc < 0) {
        hc_fail(s, "response: %s", rc == -E2BIG ? "too large" : rw_strerror(rc));
        return;
    }
    if (r == -EPROTO || r == -ENOMEM) {
        hc_tls_failed(s, "read", (int)r);
        return;
    }
    bool closed = r != -EAGAIN; /* close_notify or EOF */
    if (closed && hc_stale(s))
        return;
    hc_process(s, closed);
}

/* "host:port" of the check target, IPv6 in brackets. */
static void hc_authority(const struct rw__hc_srv *s, char *out, size_t n)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (s->addr.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&s->addr;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
        snprintf(out, n, "[%s]:%u", ip, ntohs(a->sin6_port));
    } else {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&s->addr;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
        snprintf(out, n, "%s:%u", ip, ntohs(a->sin_port));
    }
}

int rw__hc_build_request(struct rw__hc_srv *s)
{
    const struct rw_hc_params *a = &s->u->act;
    memcpy(&s->addr, &s->b->addr, s->b->addrlen);
    s->addrlen = s->b->addrlen;
    if (a->port && s->addr.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&s->addr)->sin6_port = htons(a->port);
    else if (a->port)
        ((struct sockaddr_in *)&s->addr)->sin_port = htons(a->port);
    if (a->type != RW_HC_HTTP)
        return 0;
    char auth[INET6_ADDRSTRLEN + 16];
    hc_authority(s, auth, sizeof(auth));
    const char *host = a->host ? a->host : auth;
    free(s->req);
    int n = asprintf(&s->req,
                     "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: ringwall-health/" RW_VERSION
                     "\r\nAccept: */*\r\n\r\n",
                     a->method, a->path, host);
    if (n < 0) {
        s->req = NULL;
        return -ENOMEM;
    }
    s->req_len = (uint32_t)n;
    return 0;
}
