/* SPDX-License-Identifier: MIT */
/* Upstream TLS: client contexts (verification, mTLS, ALPN) and resumable sessions. */
#include "tls/tls-int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char client_ciphers[] =
    "TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384:TLS13-CHACHA20-POLY1305-SHA256:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

/* ALPN as wolfSSL_UseALPN wants it: "a,b,c". */
static char *client_alpn_list(const struct rw_tls_client_params *p)
{
    size_t len = 1;
    for (size_t i = 0; i < p->nalpn; i++)
        len += strlen(p->alpn[i]) + 1;
    char *s = calloc(1, len);
    for (size_t i = 0; s && i < p->nalpn; i++) {
        if (i)
            strcat(s, ",");
        strcat(s, p->alpn[i]);
    }
    return s;
}

static int client_setup(struct rw_tls_client_ctx *c, const struct rw_tls_client_params *p,
                        char *err, size_t cap)
{
    int r = rw__tls_ctx_common(&c->ssl_ctx, false, p->min_version, p->max_version,
                               p->ciphers ? p->ciphers : client_ciphers, NULL, 0, err, cap);
    if (r < 0)
        return r;
    WOLFSSL_CTX *wc = c->ssl_ctx;
    /* Sessions travel explicitly (rw_tls_conn_take_session); wolfSSL's process-wide cache
     * would also be searched by server conns of this process. */
    wolfSSL_CTX_set_session_cache_mode(wc, WOLFSSL_SESS_CACHE_OFF);
    if (p->verify) {
        if (!p->ca_file) {
            rw__tls_err(err, cap, "verify needs a CA file");
            return -EINVAL;
        }
        if ((r = rw__tls_readable(p->ca_file, err, cap)) < 0)
            return r;
        if (wolfSSL_CTX_load_verify_locations(wc, p->ca_file, NULL) != WOLFSSL_SUCCESS) {
            rw__tls_err(err, cap, "%s: cannot load CA certificates", p->ca_file);
            return -EINVAL;
        }
        wolfSSL_CTX_set_verify(wc, WOLFSSL_VERIFY_PEER, NULL);
    } else {
        wolfSSL_CTX_set_verify(wc, WOLFSSL_VERIFY_NONE, NULL);
    }
    if (p->cert_file || p->key_file) {
        if (!p->cert_file || !p->key_file) {
            rw__tls_err(err, cap, "a client certificate needs both cert and key files");
            return -EINVAL;
        }
        if ((r = rw__tls_readable(p->cert_file, err, cap)) < 0 ||
            (r = rw__tls_readable(p->key_file, err, cap)) < 0)
            return r;
        if (wolfSSL_CTX_use_certificate_chain_file(wc, p->cert_file) != WOLFSSL_SUCCESS) {
            rw__tls_err(err, cap, "%s: cannot load the certificate chain", p->cert_file);
            return -EINVAL;
        }
        if (wolfSSL_CTX_use_PrivateKey_file(wc, p->key_file, WOLFSSL_FILETYPE_PEM) !=
                WOLFSSL_SUCCESS ||
            !rw__tls_key_matches(p->cert_file, p->key_file)) {
            rw__tls_err(err, cap, "%s: unusable key or it does not match %s", p->key_file,
                        p->cert_file);
            return -EINVAL;
        }
    }
    if (p->ocsp && wolfSSL_CTX_EnableOCSPStapling(wc) != WOLFSSL_SUCCESS) {
        rw__tls_err(err, cap, "cannot enable OCSP stapling");
        return -EINVAL;
    }
    return 0;
}

int rw_tls_client_ctx_new(const struct rw_tls_client_params *p, struct rw_tls_client_ctx **out,
                          char *err, size_t errcap)
{
    *out = NULL;
    struct rw_tls_client_ctx *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    atomic_init(&c->refs, 1);
    c->verify = p->verify;
    c->ocsp = p->ocsp;
    if (p->nalpn && !(c->alpn = client_alpn_list(p))) {
        free(c);
        return -ENOMEM;
    }
    int r = client_setup(c, p, err, errcap);
    if (r < 0) {
        rw_tls_client_ctx_unref(c);
        return r;
    }
    *out = c;
    return 0;
}

void rw_tls_client_ctx_ref(struct rw_tls_client_ctx *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

void rw_tls_client_ctx_unref(struct rw_tls_client_ctx *c)
{
    if (!c || atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (c->ssl_ctx)
        wolfSSL_CTX_free(c->ssl_ctx);
    free(c->alpn);
    free(c);
}

/* TLS 1.3 tickets arrive after the handshake, TLS 1.2 ones during it: only note the
 * arrival; rw_tls_conn_take_session() copies the session once it is complete. */
static int client_ticket_cb(WOLFSSL *ssl, const unsigned char *ticket, int len, void *arg)
{
    struct rw_tls_conn *t = arg;
    (void)ssl;
    (void)ticket;
    if (len > 0)
        t->ticket_seen = true;
    return 0;
}

static int client_configure(struct rw_tls_conn *t, const char *sni,
                            const struct rw_tls_session *resume)
{
    struct rw_tls_client_ctx *c = t->cctx;
    WOLFSSL *ssl = t->ssl;
    if (sni && *sni) {
        if (wolfSSL_UseSNI(ssl, WOLFSSL_SNI_HOST_NAME, sni, (unsigned short)strlen(sni)) !=
            WOLFSSL_SUCCESS)
            return -ENOMEM;
        if (c->verify && wolfSSL_check_domain_name(ssl, sni) != WOLFSSL_SUCCESS)
            return -ENOMEM;
        if (!(t->sni = strdup(sni)))
            return -ENOMEM;
    }
    if (c->alpn && wolfSSL_UseALPN(ssl, c->alpn, (unsigned)strlen(c->alpn),
                                   WOLFSSL_ALPN_CONTINUE_ON_MISMATCH) != WOLFSSL_SUCCESS)
        return -ENOMEM;
    if (c->ocsp && wolfSSL_UseOCSPStapling(ssl, WOLFSSL_CSR_OCSP, 0) != WOLFSSL_SUCCESS)
        return -ENOMEM;
    if (wolfSSL_UseSessionTicket(ssl) != WOLFSSL_SUCCESS ||
        wolfSSL_set_SessionTicket_cb(ssl, client_ticket_cb, t) != WOLFSSL_SUCCESS)
        return -ENOMEM;
    if (resume)
        wolfSSL_set_session(ssl, (WOLFSSL_SESSION *)resume); /* a stale one is just ignored */
    return 0;
}

struct rw_tls_conn *rw_tls_conn_client(struct rw_tls_client_ctx *ctx, const char *sni,
                                       const struct rw_tls_session *resume, int *err)
{
    struct rw_tls_conn *t = rw__tls_conn_alloc();
    if (!t) {
        *err = -ENOMEM;
        return NULL;
    }
    rw_tls_client_ctx_ref(ctx);
    t->cctx = ctx;
    t->state = TLS_S_HANDSHAKE;
    WOLFSSL *ssl = wolfSSL_new(ctx->ssl_ctx);
    int r = ssl ? 0 : -ENOMEM;
    if (ssl) {
        rw__tls_conn_bind(t, ssl);
        r = client_configure(t, sni, resume);
    }
    if (r == 0) {
        r = rw_tls_conn_handshake(t); /* queues the ClientHello */
        r = r == -EAGAIN ? 0 : r;
    }
    if (r < 0) {
        rw_tls_conn_free(t);
        *err = r;
        return NULL;
    }
    return t;
}

struct rw_tls_session *rw_tls_conn_take_session(struct rw_tls_conn *t)
{
    if (t->is_server || !t->ticket_seen || !rw_tls_conn_ready(t))
        return NULL;
    t->ticket_seen = false;
    return (struct rw_tls_session *)wolfSSL_get1_session(t->ssl);
}

void rw_tls_session_free(struct rw_tls_session *s)
{
    if (s)
        wolfSSL_SESSION_free((WOLFSSL_SESSION *)s);
}
