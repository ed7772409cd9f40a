/* SPDX-License-Identifier: MIT */
/* Connections: ciphertext queues behind wolfSSL's I/O callbacks, handshake, read and write. */
#include "tls/tls-int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/wolfcrypt/ecc.h>

#include "core/log.h"

#define OUT_CHUNK 4096u /* smallest output chunk; a full record gets one of its own */
#define REC_MAX 16384u  /* plaintext per record */

/* ---- the two ciphertext queues -------------------------------------------------------- */

int rw_tls_conn_input(struct rw_tls_conn *t, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (n > UINT32_MAX - t->in_len)
        return -ENOMEM;
    if (t->in_off && t->in_len + n > t->in_cap) {
        memmove(t->in, t->in + t->in_off, t->in_len - t->in_off);
        t->in_len -= t->in_off;
        t->in_off = 0;
    }
    if (t->in_len + n > t->in_cap) {
        uint8_t *nb = realloc(t->in, t->in_len + n);
        if (!nb)
            return -ENOMEM;
        t->in = nb;
        t->in_cap = (uint32_t)(t->in_len + n);
    }
    memcpy(t->in + t->in_len, p, n);
    t->in_len += (uint32_t)n;
    return 0;
}

void rw_tls_conn_input_eof(struct rw_tls_conn *t)
{
    t->eof = true;
}

size_t rw_tls_conn_input_pending(const struct rw_tls_conn *t)
{
    return t->in_len - t->in_off;
}

/* wolfSSL asks for exact sizes (a record header, then its body); an idle connection holds no
 * input buffer at all. */
static int conn_recv_cb(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
    struct rw_tls_conn *t = ctx;
    uint32_t avail = t->in_len - t->in_off;
    (void)ssl;
    if (avail == 0)
        return t->eof ? WOLFSSL_CBIO_ERR_CONN_CLOSE : WOLFSSL_CBIO_ERR_WANT_READ;
    uint32_t n = (uint32_t)sz < avail ? (uint32_t)sz : avail;
    memcpy(buf, t->in + t->in_off, n);
    t->in_off += n;
    if (t->in_off == t->in_len) {
        free(t->in);
        t->in = NULL;
        t->in_off = t->in_len = t->in_cap = 0;
    }
    return (int)n;
}

static int out_append(struct rw_tls_conn *t, const void *p, size_t n)
{
    struct tls_chunk *c = t->out_tail;
    if (!c || c->cap - c->len < n) {
        size_t cap = n > OUT_CHUNK ? n : OUT_CHUNK;
        c = malloc(sizeof(*c) + cap);
        if (!c)
            return -ENOMEM;
        c->next = NULL;
        c->off = c->len = 0;
        c->cap = (uint32_t)cap;
        if (t->out_tail)
            t->out_tail->next = c;
        else
            t->out_head = c;
        t->out_tail = c;
    }
    memcpy(c->data + c->len, p, n);
    c->len += (uint32_t)n;
    t->out_bytes += n;
    return 0;
}

/* Never WANT_WRITE: everything is queued; back-pressure is the caller's, above TLS. */
static int conn_send_cb(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
    struct rw_tls_conn *t = ctx;
    (void)ssl;
    if (sz < 0 || out_append(t, buf, (size_t)sz) < 0) {
        t->nomem = true;
        return WOLFSSL_CBIO_ERR_GENERAL;
    }
    return sz;
}

int rw_tls_conn_output(const struct rw_tls_conn *t, struct iovec *iov, int max)
{
    int n = 0;
    for (const struct tls_chunk *c = t->out_head; c && n < max; c = c->next) {
        if (c->len == c->off)
            continue;
        iov[n].iov_base = (void *)(c->data + c->off);
        iov[n].iov_len = c->len - c->off;
        n++;
    }
    return n;
}

size_t rw_tls_conn_output_pending(const struct rw_tls_conn *t)
{
    return t->out_bytes;
}

void rw_tls_conn_consumed(struct rw_tls_conn *t, size_t n)
{
    RW_BUG_ON(n > t->out_bytes);
    t->out_bytes -= n;
    while (n > 0 && t->out_head) {
        struct tls_chunk *c = t->out_head;
        size_t take = c->len - c->off < n ? c->len - c->off : n;
        c->off += (uint32_t)take;
        n -= take;
        if (c->off == c->len) {
            t->out_head = c->next;
            if (!t->out_head)
                t->out_tail = NULL;
            free(c);
        }
    }
}

/* ---- life cycle ----------------------------------------------------------------------- */

struct rw_tls_conn *rw__tls_conn_alloc(void)
{
    return calloc(1, sizeof(struct rw_tls_conn));
}

void rw__tls_conn_bind(struct rw_tls_conn *t, WOLFSSL *ssl)
{
    t->ssl = ssl;
    wolfSSL_SSLSetIORecv(ssl, conn_recv_cb);
    wolfSSL_SSLSetIOSend(ssl, conn_send_cb);
    wolfSSL_SetIOReadCtx(ssl, t);
    wolfSSL_SetIOWriteCtx(ssl, t);
    wolfSSL_SetCertCbCtx(ssl, t); /* the verify callback's store->userCtx */
}

struct rw_tls_conn *rw__tls_conn_of(WOLFSSL *ssl)
{
    struct rw_tls_conn *t = wolfSSL_GetIOReadCtx(ssl);
    return t && t->ssl == ssl && t->is_server ? t : NULL;
}

struct rw_tls_conn *rw_tls_conn_server(struct rw_tls_ctx *ctx, int *err)
{
    struct rw_tls_conn *t = rw__tls_conn_alloc();
    if (!t) {
        *err = -ENOMEM;
        return NULL;
    }
    rw_tls_ctx_ref(ctx);
    t->ctx = ctx;
    t->is_server = true;
    t->state = TLS_S_HELLO;
    return t;
}

void rw_tls_conn_free(struct rw_tls_conn *t)
{
    if (!t)
        return;
    if (t->ssl)
        wolfSSL_free(t->ssl);
    while (t->out_head) {
        struct tls_chunk *c = t->out_head;
        t->out_head = c->next;
        free(c);
    }
    free(t->in);
    free(t->peer);
    free(t->resume_peer);
    free(t->sni);
    rw_tls_ctx_unref(t->ctx);
    rw_tls_client_ctx_unref(t->cctx);
    free(t);
}

/* The whole ClientHello is in: choose the certificate and the ALPN protocol, then create the
 * WOLFSSL from the certificate's context (no context switch needed later) and offer it only
 * the chosen protocol, so wolfSSL's client-order match yields the server's preference. A
 * hello we cannot parse goes to the default certificate and wolfSSL answers it with the
 * proper alert. */
static int conn_server_start(struct rw_tls_conn *t)
{
    struct tls_hello h;
    enum tls_hello_res r =
        rw__tls_hello_parse(t->in ? t->in + t->in_off : NULL, t->in_len - t->in_off, t->ctx->alpn,
                            t->ctx->alpn_len, &h);
    if (r == TLS_HELLO_AGAIN && !t->eof)
        return -EAGAIN;
    if (r != TLS_HELLO_OK) {
        memset(&h, 0, sizeof(h));
        h.ecdsa_sig = h.offers13 = true;
    }
    t->cert = rw__tls_ctx_pick(t->ctx, &h);
    WOLFSSL *ssl = wolfSSL_new(t->cert->ssl_ctx);
    if (!ssl)
        return -ENOMEM;
    rw__tls_conn_bind(t, ssl);
    if (h.chacha_first && t->ctx->ciphers_chacha &&
        wolfSSL_set_cipher_list(ssl, t->ctx->ciphers_chacha) != WOLFSSL_SUCCESS)
        return -ENOMEM;
    if (h.alpn && wolfSSL_UseALPN(ssl, (char *)h.alpn, h.alpn_len,
                                  WOLFSSL_ALPN_CONTINUE_ON_MISMATCH) != WOLFSSL_SUCCESS)
        return -ENOMEM;
    if (h.sni[0] && !(t->sni = strdup(h.sni)))
        return -ENOMEM;
    t->state = TLS_S_HANDSHAKE;
    return 0;
}

/* Map a failed wolfSSL call; sticky once failed. */
static int conn_err(struct rw_tls_conn *t, int ret)
{
    int e = wolfSSL_get_error(t->ssl, ret);
    if (e == WOLFSSL_ERROR_WANT_READ || e == WOLFSSL_ERROR_WANT_WRITE)
        return -EAGAIN;
    if (e == WOLFSSL_ERROR_ZERO_RETURN) {
        t->peer_closed = true;
        return 0;
    }
    tls_err_clear();
    t->last_err = e;
    t->state = TLS_S_FAILED;
    if (t->nomem)
        t->fail = -ENOMEM;
    else if (t->eof && t->in_len == t->in_off)
        t->fail = -ECONNRESET;
    else
        t->fail = -EPROTO;
    return t->fail;
}

int rw_tls_conn_handshake(struct rw_tls_conn *t)
{
    if (t->state == TLS_S_FAILED)
        return t->fail;
    if (t->state == TLS_S_READY || t->state == TLS_S_CLOSED)
        return 0;
    if (t->state == TLS_S_HELLO) {
        int r = conn_server_start(t);
        if (r == -EAGAIN)
            return r;
        if (r < 0) {
            t->state = TLS_S_FAILED;
            return t->fail = r;
        }
    }
    int ret = t->is_server ? wolfSSL_accept(t->ssl) : wolfSSL_connect(t->ssl);
    if (ret != WOLFSSL_SUCCESS) {
        int r = conn_err(t, ret);
        if (r == -EAGAIN && t->eof && t->in_len == t->in_off) {
            t->state = TLS_S_FAILED;
            r = t->fail = -ECONNRESET;
        }
        return r == 0 ? -ECONNRESET : r;
    }
    if (t->is_server)
        rw__tls_peer_commit(t);
    t->state = TLS_S_READY;
    return 0;
}

ssize_t rw_tls_conn_read(struct rw_tls_conn *t, void *out, size_t cap)
{
    int r = rw_tls_conn_handshake(t);
    if (r < 0)
        return r;
    if (t->peer_closed)
        return 0;
    int ret = wolfSSL_read(t->ssl, out, cap > INT32_MAX ? INT32_MAX : (int)cap);
    if (ret > 0)
        return ret;
    r = conn_err(t, ret);
    if (r == -EAGAIN && t->eof && t->in_len == t->in_off) {
        t->state = TLS_S_FAILED;
        r = t->fail = -ECONNRESET;
    }
    return r;
}

static int conn_write_rec(struct rw_tls_conn *t, const void *p, size_t n)
{
    int ret = wolfSSL_write(t->ssl, p, (int)n);
    if (ret == (int)n)
        return 0;
    int r = conn_err(t, ret);
    return r < 0 && r != -EAGAIN ? r : -EPROTO;
}

ssize_t rw_tls_conn_write(struct rw_tls_conn *t, const struct iovec *iov, int n)
{
    static __thread uint8_t gather[REC_MAX];
    if (t->state == TLS_S_FAILED)
        return t->fail;
    if (t->state == TLS_S_CLOSED)
        return -EPIPE;
    if (t->state != TLS_S_READY)
        return -EAGAIN;
    size_t total = 0, g = 0;
    int r = 0;
    for (int i = 0; i < n && r == 0; i++) {
        const uint8_t *p = iov[i].iov_base;
        size_t len = iov[i].iov_len;
        total += len;
        while (len > 0 && r == 0) {
            if (g == 0 && len >= REC_MAX) { /* whole records straight from the caller */
                r = conn_write_rec(t, p, REC_MAX);
                p += REC_MAX;
                len -= REC_MAX;
                continue;
            }
            size_t take = REC_MAX - g < len ? REC_MAX - g : len;
            memcpy(gather + g, p, take);
            g += take;
            p += take;
            len -= take;
            if (g == REC_MAX) {
                r = conn_write_rec(t, gather, g);
                g = 0;
            }
        }
    }
    if (r == 0 && g > 0)
        r = conn_write_rec(t, gather, g);
    return r < 0 ? r : (ssize_t)total;
}

int rw_tls_conn_close(struct rw_tls_conn *t)
{
    if (t->state == TLS_S_CLOSED)
        return 0;
    if (t->state != TLS_S_READY)
        return -EAGAIN;
    wolfSSL_shutdown(t->ssl); /* queues close_notify; the peer's answer is not awaited */
    t->state = TLS_S_CLOSED;
    return t->nomem ? -ENOMEM : 0;
}

bool rw_tls_conn_ready(const struct rw_tls_conn *t)
{
    return t->state == TLS_S_READY;
}

int rw_tls_conn_info(const struct rw_tls_conn *t, struct rw_tls_info *out)
{
    memset(out, 0, sizeof(*out));
    if (t->state != TLS_S_READY && t->state != TLS_S_CLOSED)
        return -EAGAIN;
    out->version = wolfSSL_get_version(t->ssl);
    out->cipher = wolfSSL_get_cipher(t->ssl);
    char *alpn = NULL;
    unsigned short alen = 0;
    if (wolfSSL_ALPN_GetProtocol(t->ssl, &alpn, &alen) == WOLFSSL_SUCCESS && alen) {
        out->alpn = alpn;
        out->alpn_len = alen;
    }
    out->sni = t->sni;
    out->resumed = wolfSSL_session_reused(t->ssl) == 1;
    out->peer_cert = t->peer_seen || (!t->is_server && t->cctx);
    out->peer_verified = t->peer != NULL || (!t->is_server && t->cctx && t->cctx->verify);
    if (t->peer) {
        out->peer_subject = t->peer->subject;
        out->peer_san = t->peer->san;
        out->peer_sha256 = t->peer->sha256;
    }
    return 0;
}

const char *rw_tls_conn_error(const struct rw_tls_conn *t)
{
    if (t->last_err == 0)
        return "";
    const char *s = wolfSSL_ERR_reason_error_string((unsigned long)t->last_err);
    return s ? s : "unknown TLS error";
}

void rw_tls_thread_cleanup(void)
{
#ifdef FP_ECC /* the fixed-point cache (system library); the SP-math build has none */
    wc_ecc_fp_free();
#endif
#ifdef OPENSSL_ALL /* the per-thread error queue of the compatibility layer (system library) */
    wolfSSL_ERR_remove_thread_state(NULL);
#endif
}
