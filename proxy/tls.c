/* SPDX-License-Identifier: MIT */
/* HTTPS listeners: TLS between the socket and the client connection's byte stream. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/log.h"
#include "core/rcu.h"
#include "proxy/px.h"
#include "tls/tls.h"

/* Per client connection on a TLS listener. */
struct px_tls {
    struct rw_tls_conn *t; /* owned */
    bool wr_phys;          /* a ciphertext send is in flight on c->wr */
    bool logical;          /* a px_conn_send_out() waits for its ciphertext to leave */
    bool queued;           /* on the worker's pump list */
    bool shut_after;       /* shutdown(SHUT_WR) once the output is flushed (linger) */
    bool close_after;      /* close once the output is flushed (alert after a failure) */
    bool logged;           /* handshake outcome logged */
    struct px_conn *next;  /* pump list */
};

int px_tls_accept(struct px_conn *c, struct rw_tls_ctx *ctx)
{
    struct px_tls *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    int err = 0;
    s->t = rw_tls_conn_server(ctx, &err);
    if (!s->t) {
        free(s);
        return err ? err : -ENOMEM;
    }
    c->tls = s;
    return 0;
}

void px_tls_free(struct px_conn *c)
{
    struct px_tls *s = c->tls;
    if (!s)
        return;
    if (s->queued) {
        for (struct px_conn **pp = &c->w->tls_ready; *pp; pp = &(*pp)->tls->next)
            if (*pp == c) {
                *pp = s->next;
                break;
            }
    }
    rw_tls_conn_free(s->t);
    free(s);
    c->tls = NULL;
}

const char *px_tls_version(const struct px_conn *c)
{
    struct rw_tls_info info;
    if (!c->tls || rw_tls_conn_info(c->tls->t, &info) < 0)
        return NULL;
    return info.version;
}

/* ---- TLS over completion ops, for both sides (client and upstream connections) ---- */

/* Start one send of t's queued ciphertext on op. 1: started (op in flight), 0: nothing
 * queued, <0: the send could not start. */
int px_tls_send_queued(struct px_worker *w, struct rw_tls_conn *t, struct rw_op *op, int fd)
{
    struct iovec iov[RW_IO_MAX_IOV];
    int n = rw_tls_conn_output(t, iov, RW_IO_MAX_IOV);
    if (n <= 0)
        return 0;
    int rc = rw_io_send(w->loop, op, fd, iov, n);
    return rc < 0 ? rc : 1;
}

/* Decrypt t's plaintext into `in` (a heap buffer from the worker's list: plaintext never
 * sits in pool buffers) until TLS wants more ciphertext or the buffer is full. *got is
 * set when bytes came. Returns 0 (full), -EAGAIN (more ciphertext needed), 1
 * (close_notify) or another -errno (TLS error; -ENOMEM without a buffer). */
int px_tls_decrypt(struct px_worker *w, struct rw_tls_conn *t, struct px_in *in, bool *got)
{
    for (;;) {
        if (in->bid == -2) {
            char *hb = px_hbuf_get(w);
            if (!hb)
                return -ENOMEM;
            *in = (struct px_in){.base = hb, .off = 0, .len = 0, .bid = -1};
        }
        uint32_t room = w->hbuf_size - in->len;
        if (!room)
            return 0;
        ssize_t r = rw_tls_conn_read(t, in->base + in->len, room);
        if (r > 0) {
            in->len += (uint32_t)r;
            *got = true;
            continue;
        }
        if (in->len == in->off)
            px_in_drop(w, in);
        return r == -EAGAIN ? -EAGAIN : r == 0 ? 1 : (int)r;
    }
}

/* Send whatever ciphertext is queued (handshake, records, alerts), one send at a time. */
static void tls_flush(struct px_conn *c)
{
    struct px_tls *s = c->tls;
    if (s->wr_phys || c->state == PX_C_CLOSING)
        return;
    int n = px_tls_send_queued(c->w, s->t, &c->wr, c->fd);
    if (n == 0) {
        if (s->close_after) {
            px_conn_close(c);
        } else if (s->shut_after) {
            s->shut_after = false;
            shutdown(c->fd, SHUT_WR);
        }
        return;
    }
    if (n < 0) {
        px_conn_close(c);
        return;
    }
    s->wr_phys = true;
    c->inflight++;
}

/* Plaintext to the client: encrypt now, report completion once it has left. */
void px_tls_send(struct px_conn *c, const struct iovec *iov, int n)
{
    if (rw_tls_conn_write(c->tls->t, iov, n) < 0) {
        px_conn_close(c);
        return;
    }
    c->tls->logical = true;
    c->wr_busy = true;
    tls_flush(c);
}

/* The ciphertext send on c->wr completed. Returns true when a px_conn_send_out() is
 * now complete (the caller continues as for a plain send). */
bool px_tls_sent(struct px_conn *c, int res)
{
    struct px_tls *s = c->tls;
    s->wr_phys = false;
    if (res < 0)
        return false;
    rw_tls_conn_consumed(s->t, (size_t)res);
    if (rw_tls_conn_output_pending(s->t)) {
        tls_flush(c);
        return false;
    }
    tls_flush(c); /* runs shut_after / close_after */
    if (!s->logical)
        return false;
    s->logical = false;
    c->wr_busy = false;
    return true;
}

/* Want plaintext: decrypt what is already here after this loop turn, or read the socket. */
void px_tls_want_read(struct px_conn *c)
{
    struct px_tls *s = c->tls;
    c->rd_armed = true; /* a read is wanted: served by the pump or by a recv */
    if (s->queued)
        return;
    s->queued = true;
    s->next = c->w->tls_ready;
    c->w->tls_ready = c;
}

static void tls_log_handshake(struct px_conn *c)
{
    struct px_tls *s = c->tls;
    if (s->logged || !rw_tls_conn_ready(s->t))
        return;
    s->logged = true;
    /* TLS 1.3 ends with the client's Finished, and without a ticket to send we have
     * nothing to piggyback its ACK on: a client with Nagle on (most: Python, curl
     * without NODELAY) then holds its first request until our delayed ACK fires,
     * 40 ms later. ACK now. */
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
    struct rw_tls_info info;
    if (rw_tls_conn_info(s->t, &info) == 0) {
        px_ops_tls_handshake(c, info.resumed ? 1 : 0, info.version);
        char ip[PX_PEER_TEXT]; /* a few ns per handshake, also where RW_DEBUG is off */
        px_peer_text(c, ip);
        RW_DEBUG("tls %s: %s %s%s", ip, info.version, info.cipher,
                 info.resumed ? " (resumed)" : "");
    }
}

/* Serve a wanted read: deliver plaintext to the connection's state machine, or ask
 * the socket for more ciphertext. */
void px_tls_pump(struct px_conn *c)
{
    struct px_tls *s = c->tls;
    if (c->state == PX_C_CLOSING)
        return;
    bool got = false;
    c->rd_armed = false;
    int rc = px_tls_decrypt(c->w, s->t, &c->in, &got);
    tls_log_handshake(c);
    if (rc < 0 && rc != -EAGAIN) {
        if (!s->logged) {
            char ip[PX_PEER_TEXT];
            px_peer_text(c, ip);
            s->logged = true;
            px_ops_tls_handshake(c, 2, NULL);
            rw_log(RW_LOG_INFO, "tls %s: handshake failed: %s", ip, rw_tls_conn_error(s->t));
        }
        s->close_after = true; /* send the alert, then close */
        tls_flush(c);
        return;
    }
    tls_flush(c);
    if (c->state == PX_C_CLOSING)
        return;
    if (got) {
        px_conn_got_plaintext(c);
        return;
    }
    if (rc == 1) { /* close_notify */
        px_conn_on_eof(c);
        return;
    }
    if (c->eof) {
        px_conn_on_eof(c);
        return;
    }
    px_conn_recv(c);
}

/* Ciphertext arrived (or the peer closed: n == 0). */
void px_tls_input(struct px_conn *c, const char *buf, size_t n)
{
    if (n)
        rw_tls_conn_input(c->tls->t, buf, n);
    else
        rw_tls_conn_input_eof(c->tls->t);
    px_tls_pump(c);
}

/* Run the pumps queued during this loop turn. */
void px_tls_run(struct px_worker *w)
{
    while (w->tls_ready) {
        struct px_conn *c = w->tls_ready;
        w->tls_ready = c->tls->next;
        c->tls->queued = false;
        px_tls_pump(c);
    }
}

/* Graceful end: close_notify, then shutdown the write side once it has left. */
void px_tls_shutdown(struct px_conn *c)
{
    rw_tls_conn_close(c->tls->t);
    c->tls->shut_after = true;
    tls_flush(c);
}

bool px_tls_writing(const struct px_conn *c)
{
    return c->tls && c->tls->wr_phys;
}

/* Build listener l's TLS context from its config (start-up and reload thread). The
 * ticket keys are created once per process and shared by every context, so that
 * sessions resume on any worker and across reloads. */
int px_tls_ctx_build(struct rw_proxy *p, const struct rw_cfg_listener *l, struct rw_tls_ctx **out)
{
    const struct rw_cfg_tls *t = &l->tls;
    char err[RW_TLS_ERRLEN] = "";
    int rc;
    if (!p->tls_keys) {
        struct rw_tls_keys_params kp = {.rotation_ms = t->ticket_key_rotation_ms,
                                        .key_file = t->ticket_key_file};
        if (!kp.rotation_ms)
            kp.rotation_ms = 12ull * 3600 * 1000;
        rc = rw_tls_keys_new(&kp, &p->tls_keys, err, sizeof(err));
        if (rc < 0) {
            rw_log(RW_LOG_ERR, "listener %s: tls ticket keys: %s", l->name, err);
            return rc;
        }
    }
    struct rw_tls_cert_params *certs = calloc(t->ncerts, sizeof(*certs));
    if (!certs)
        return -ENOMEM;
    for (uint32_t i = 0; i < t->ncerts; i++)
        certs[i] = (struct rw_tls_cert_params){
            .cert_file = t->certs[i].cert,
            .key_file = t->certs[i].key,
            .names = (const char *const *)t->certs[i].names,
            .nnames = t->certs[i].nnames,
            .ocsp_file = t->certs[i].ocsp,
            .ocsp_shared = t->certs[i].ocsp_inherited,
            .is_default = t->certs[i].is_default,
        };
    struct rw_tls_server_params sp = {
        .certs = certs,
        .ncerts = t->ncerts,
        .min_version = t->min_version,
        .max_version = t->max_version,
        .ciphers = t->ciphers,
        .ciphersuites = t->ciphersuites,
        .groups = (const char *const *)t->groups,
        .ngroups = t->ngroups,
        .alpn = (const char *const *)t->alpn,
        .nalpn = t->nalpn,
        .session_tickets = t->session_tickets,
        .client_ca_file = t->client_ca,
        .client_auth = t->client_auth == RW_CFG_CLIENT_AUTH_REQUIRE    ? RW_TLS_CLIENT_AUTH_REQUIRE
                       : t->client_auth == RW_CFG_CLIENT_AUTH_OPTIONAL ? RW_TLS_CLIENT_AUTH_OPTIONAL
                                                                       : RW_TLS_CLIENT_AUTH_OFF,
    };
    rc = rw_tls_ctx_new(&sp, p->tls_keys, out, err, sizeof(err));
    free(certs);
    if (rc < 0)
        rw_log(RW_LOG_ERR, "listener %s: tls: %s", l->name, err);
    return rc;
}

/* Rebuild the current generation's contexts whose files changed on disk (or all of
 * them when `all`): new handshakes use the new certificates at once, established
 * connections keep theirs, and a certificate that fails to load leaves the old one
 * serving. Main thread (not an RCU reader), writer lock. Returns the number of
 * contexts replaced. */
int px_tls_reload(struct rw_proxy *p, bool all)
{
    int n = 0;
    struct px_gen *g = p->gen;
    for (uint32_t i = 0; g && i < g->cfg->nlisteners; i++) {
        const struct rw_cfg_listener *l = &g->cfg->listeners[i];
        struct rw_tls_ctx *old = g->tls_ctx[i];
        if (!old || (!all && !rw_tls_ctx_stale(old)))
            continue;
        struct rw_tls_ctx *fresh = NULL;
        if (px_tls_ctx_build(p, l, &fresh) < 0) {
            rw_log(RW_LOG_ERR, "listener %s: certificates not reloaded: the old ones keep serving",
                   l->name);
            continue;
        }
        rw_rcu_store((void **)&g->tls_ctx[i], fresh);
        rw_rcu_synchronize(); /* no worker still reads `old` without holding a reference */
        rw_tls_ctx_unref(old);
        rw_log(RW_LOG_INFO, "listener %s: certificates reloaded", l->name);
        n++;
    }
    return n;
}

/* RFC 4514 subject of the client's verified certificate, or NULL. */
const char *px_tls_peer_subject(const struct px_conn *c)
{
    struct px_peer peer;
    return px_tls_peer(c, &peer) ? peer.subject : NULL;
}

/* The client's verified certificate: true with *out filled (valid while c lives), or false
 * with *out all NULL: a plain connection, no certificate, or one that did not verify. A
 * resumed session has the identity of the full handshake that made it (tls/ seals it in
 * the ticket). */
bool px_tls_peer(const struct px_conn *c, struct px_peer *out)
{
    struct rw_tls_info info;
    *out = (struct px_peer){0};
    if (!c->tls || rw_tls_conn_info(c->tls->t, &info) < 0 || !info.peer_verified ||
        !info.peer_subject || !info.peer_san || !info.peer_sha256)
        return false;
    *out = (struct px_peer){info.peer_subject, info.peer_san, info.peer_sha256};
    return true;
}
