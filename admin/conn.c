/* SPDX-License-Identifier: MIT */
/* Admin connections: reads, the reply queue, closing, and the JSON-lines framing. */
#include "admin/admin-int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

#define AD_RECV_RETRY_MS 10

static void conn_on_recv(struct rw_op *op, const struct rw_cqe *cqe);
static void conn_on_send(struct rw_op *op, const struct rw_cqe *cqe);

/* Free c if it is closing and no op is in flight. Returns true if freed. */
static bool conn_reap(struct ad_conn *c)
{
    if (!c->closing || c->recv_armed || c->send_armed)
        return false;
    struct rw_admin *a = c->a;
    rw_timer_cancel(&c->retry);
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        a->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    a->nconns--;
    while (c->out) {
        struct ad_out *o = c->out;
        c->out = o->next;
        free(o);
    }
    free(c->in);
    free(c);
    return true;
}

void rw__admin_conn_close(struct ad_conn *c)
{
    c->closing = true;
    rw_timer_cancel(&c->retry);
    if (c->recv_armed)
        rw_io_cancel(c->a->loop, &c->rop);
    if (c->send_armed)
        rw_io_cancel(c->a->loop, &c->sop);
}

static void conn_arm_recv(struct ad_conn *c)
{
    if (c->recv_armed || c->closing || c->eof || c->paused || c->done)
        return;
    c->rop.cb = conn_on_recv;
    c->rop.owner = c;
    int rc = rw_io_recv(c->a->loop, &c->rop, c->fd, RW_RECV_ONESHOT);
    if (rc < 0) {
        rw_log(RW_LOG_WARN, "admin: recv: %s", rw_strerror(rc));
        rw__admin_conn_close(c);
        return;
    }
    c->recv_armed = true;
}

static void conn_retry(struct rw_timer *t)
{
    struct ad_conn *c = t->owner;
    conn_arm_recv(c);
    conn_reap(c);
}

static void conn_send_next(struct ad_conn *c)
{
    if (c->send_armed || c->closing)
        return;
    if (!c->out) {
        if (c->done || c->eof)
            rw__admin_conn_close(c); /* everything answered */
        return;
    }
    struct iovec iov = {c->out->data, c->out->len};
    c->sop.cb = conn_on_send;
    c->sop.owner = c;
    int rc = rw_io_send(c->a->loop, &c->sop, c->fd, &iov, 1);
    if (rc < 0) {
        rw__admin_conn_close(c);
        return;
    }
    c->send_armed = true;
}

int rw__admin_conn_send(struct ad_conn *c, const char *data, size_t len)
{
    struct ad_out *o = malloc(sizeof(*o) + len);
    if (!o) {
        rw__admin_conn_close(c);
        return -ENOMEM;
    }
    o->next = NULL;
    o->len = len;
    memcpy(o->data, data, len);
    if (c->out_tail)
        c->out_tail->next = o;
    else
        c->out = o;
    c->out_tail = o;
    c->out_bytes += len;
    conn_send_next(c);
    return 0;
}

static void conn_input(struct ad_conn *c)
{
    if (c->kind == AD_HTTP)
        rw__admin_http_input(c);
    else
        rw__admin_unix_input(c);
}

static void conn_on_send(struct rw_op *op, const struct rw_cqe *cqe)
{
    struct ad_conn *c = op->owner;
    struct ad_out *o = c->out;
    c->send_armed = false;
    c->out = o->next;
    if (!c->out)
        c->out_tail = NULL;
    c->out_bytes -= o->len;
    free(o);
    if (cqe->res < 0) {
        rw__admin_conn_close(c);
    } else if (c->paused && c->out_bytes < AD_OUT_HIGH / 2) {
        c->paused = false;
        conn_input(c); /* lines that waited for the queue to shrink */
        conn_arm_recv(c);
    }
    conn_send_next(c);
    conn_reap(c);
}

int rw__admin_conn_reserve(struct ad_conn *c, size_t n)
{
    if (c->in_len + n <= c->in_cap)
        return 0;
    size_t cap = c->in_cap ? c->in_cap : 4096;
    while (cap < c->in_len + n)
        cap *= 2;
    char *p = realloc(c->in, cap);
    if (!p)
        return -ENOMEM;
    c->in = p;
    c->in_cap = cap;
    return 0;
}

static void conn_on_recv(struct rw_op *op, const struct rw_cqe *cqe)
{
    struct ad_conn *c = op->owner;
    struct rw_loop *l = c->a->loop;
    if (!(cqe->flags & RW_CQE_MORE))
        c->recv_armed = false;
    if (cqe->res > 0) {
        int e = rw__admin_conn_reserve(c, (size_t)cqe->res);
        if (e == 0) {
            memcpy(c->in + c->in_len, rw_loop_buf(l, cqe->bid), (size_t)cqe->res);
            c->in_len += (size_t)cqe->res;
        }
        if (cqe->flags & RW_CQE_BUF)
            rw_loop_buf_put(l, cqe->bid);
        if (e < 0)
            rw__admin_conn_close(c);
        else if (!c->closing)
            conn_input(c);
        conn_arm_recv(c);
    } else if (cqe->res == 0) {
        c->eof = true;
        if (!c->out && !c->send_armed)
            rw__admin_conn_close(c);
    } else if (cqe->res == -ENOBUFS && !c->closing) {
        rw_timer_arm(rw_loop_wheel(l), &c->retry, rw_loop_now(l) + AD_RECV_RETRY_MS);
    } else {
        rw__admin_conn_close(c);
    }
    conn_reap(c);
}

void rw__admin_conn_accepted(struct rw_admin *a, int fd, uint8_t kind)
{
    if (a->stopping || a->nconns >= a->max_clients) {
        static const char busy_unix[] = "{\"ok\":false,\"error\":\"too many admin clients\"}\n";
        static const char busy_http[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                                        "Connection: close\r\n\r\n";
        /* best effort on a fresh socket: its send buffer is empty */
        ssize_t n = kind == AD_HTTP ? write(fd, busy_http, sizeof(busy_http) - 1)
                                    : write(fd, busy_unix, sizeof(busy_unix) - 1);
        (void)n;
        close(fd);
        return;
    }
    struct ad_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        close(fd);
        return;
    }
    c->a = a;
    c->fd = fd;
    c->kind = kind;
    rw_timer_init(&c->retry, conn_retry, c);
    c->next = a->conns;
    if (a->conns)
        a->conns->prev = c;
    a->conns = c;
    a->nconns++;
    conn_arm_recv(c);
    conn_reap(c);
}

/* ---- JSON lines ---- */

static void unix_line(struct ad_conn *c, const char *p, size_t n)
{
    if (n && p[n - 1] == '\r')
        n--;
    size_t i = 0;
    while (i < n && (p[i] == ' ' || p[i] == '\t'))
        i++;
    if (i == n)
        return; /* blank lines are ignored, so `nc` users can press enter */
    size_t len = 0;
    char *reply = rw__admin_reply_line(c->a, p, n, &len);
    if (!reply) {
        rw__admin_conn_close(c);
        return;
    }
    rw__admin_conn_send(c, reply, len);
    free(reply);
}

static void unix_too_long(struct ad_conn *c)
{
    char msg[128];
    int n = snprintf(msg, sizeof(msg),
                     "{\"ok\":false,\"error\":\"request line longer than %zu bytes\"}\n",
                     c->a->max_line);
    rw__admin_conn_send(c, msg, (size_t)n);
}

void rw__admin_unix_input(struct ad_conn *c)
{
    size_t off = 0;
    while (!c->closing && off < c->in_len) {
        if (c->out_bytes >= AD_OUT_HIGH) {
            c->paused = true; /* the client is not reading its replies */
            break;
        }
        char *nl = memchr(c->in + off, '\n', c->in_len - off);
        if (!nl)
            break;
        size_t n = (size_t)(nl - (c->in + off));
        if (c->discard)
            c->discard = false; /* the end of an over-long line */
        else if (n > c->a->max_line)
            unix_too_long(c);
        else
            unix_line(c, c->in + off, n);
        off += n + 1;
    }
    if (c->closing)
        return;
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
    if (!c->paused && c->in_len > c->a->max_line) {
        if (!c->discard)
            unix_too_long(c);
        c->discard = true;
        c->in_len = 0;
    } else if (c->discard) {
        c->in_len = 0;
    }
}
