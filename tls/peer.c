/* SPDX-License-Identifier: MIT */
/* Client certificates: the verify callback, the verified identity a conn keeps, and its
 * record in session tickets. */
#include "tls/tls-int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <wolfssl/wolfcrypt/sha256.h>

int rw__tls_peer_from_der(const uint8_t *der, size_t len, struct tls_peer **out)
{
    struct tls_x509 x;
    char *subj = NULL, *san = NULL;
    *out = NULL;
    int r = rw__tls_x509_parse(der, len, &x);
    if (r == 0)
        r = rw__tls_subject_rfc4514(&x.subject, &subj);
    if (r == 0 && !(san = rw__tls_san_text(&x.san)))
        r = -ENOMEM;
    size_t sl = subj ? strlen(subj) : 0, al = san ? strlen(san) : 0;
    struct tls_peer *p = r == 0 ? malloc(sizeof(*p) + sl + al + 2) : NULL;
    if (r == 0 && !p)
        r = -ENOMEM;
    if (p) {
        p->not_after = x.not_after;
        p->subject = p->text;
        p->san = p->text + sl + 1;
        memcpy(p->subject, subj, sl + 1);
        memcpy(p->san, san, al + 1);
        if (wc_Sha256Hash(der, (word32)len, p->sha256) != 0) {
            free(p);
            p = NULL;
            r = -EINVAL;
        }
    }
    free(subj);
    free(san);
    *out = p;
    return r;
}

/* wolfSSL calls this for every failure and, with WOLFSSL_ALWAYS_VERIFY_CB, for the leaf
 * (error_depth 0) last, with the verdict on the whole chain. Optional mode accepts an
 * unverifiable client certificate but remembers it, so the identity is never reported as
 * verified; every other mode keeps wolfSSL's verdict. The identity of a verified leaf is
 * kept now: without KEEP_PEER_CERT wolfSSL forgets the certificate after the handshake. */
int rw__tls_verify_cb(int preverify, WOLFSSL_X509_STORE_CTX *store)
{
    struct rw_tls_conn *t = store ? store->userCtx : NULL;
    if (!t || !t->is_server || !t->ctx)
        return preverify;
    if (store->totalCerts > 0 && store->certs)
        t->peer_seen = true;
    if (preverify && store->error_depth == 0 && store->totalCerts > 0 && store->certs &&
        !t->verify_failed && !t->peer) {
        int r = rw__tls_peer_from_der(store->certs[0].buffer, store->certs[0].length, &t->peer);
        if (r == -ENOMEM) {
            t->nomem = true;
            return 0;
        }
        preverify = r == 0; /* wolfSSL accepted what we cannot read: not an identity */
    }
    if (preverify)
        return 1;
    t->verify_failed = true;
    return t->ctx->client_auth == RW_TLS_CLIENT_AUTH_OPTIONAL;
}

/* ---- the identity in session tickets ----------------------------------------------------
 * Record, after wolfSSL's ticket state inside the sealed part (big-endian):
 *   trust_id[16] flags[1]                                   no certificate, or not verified
 *   ... sha256[32] not_after[8] subject_len[2] san_len[2] subject san    verified (flags 3)
 * Only ringwall writes it and the AEAD authenticates it, so it is trusted as sealed; the
 * checks below catch our own bugs, and decide where a sealed identity may resume. */
enum { PEER_REC_PRESENTED = 1u << 0, PEER_REC_VERIFIED = 1u << 1 };
#define PEER_REC_MIN (TLS_TRUST_ID_LEN + 1u) /* no certificate, or one that did not verify */
#define PEER_REC_IDENT (PEER_REC_MIN + TLS_SHA256_LEN + 8u + 4u)

static void put16(uint8_t *p, size_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static size_t get16(const uint8_t *p)
{
    return (size_t)p[0] << 8 | p[1];
}

/* Until the server handshake completes, a resumed conn's identity is still its ticket's:
 * a TLS 1.3 server sends the next ticket before wolfSSL_accept() returns. */
static const struct tls_peer *peer_current(const struct rw_tls_conn *t, bool *seen)
{
    if (t->state == TLS_S_HANDSHAKE && wolfSSL_session_reused(t->ssl) == 1) {
        *seen = t->resume_seen;
        return t->resume_peer;
    }
    *seen = t->peer_seen;
    return t->peer;
}

ssize_t rw__tls_peer_seal(const struct rw_tls_conn *t, uint8_t *out, size_t cap)
{
    if (!t->is_server || !t->ctx || !t->cert || t->ctx->client_auth == RW_TLS_CLIENT_AUTH_OFF)
        return 0;
    bool seen;
    const struct tls_peer *p = peer_current(t, &seen);
    size_t sl = p ? strlen(p->subject) : 0, al = p ? strlen(p->san) : 0;
    size_t need = p ? PEER_REC_IDENT + sl + al : PEER_REC_MIN;
    if (need > cap || sl > 0xffff || al > 0xffff)
        return -ENOSPC;
    memcpy(out, t->cert->trust_id, TLS_TRUST_ID_LEN);
    out[TLS_TRUST_ID_LEN] =
        (uint8_t)((seen || p ? PEER_REC_PRESENTED : 0) | (p ? PEER_REC_VERIFIED : 0));
    if (!p)
        return (ssize_t)need;
    uint8_t *o = out + PEER_REC_MIN;
    memcpy(o, p->sha256, TLS_SHA256_LEN);
    o += TLS_SHA256_LEN;
    for (int i = 0; i < 8; i++)
        *o++ = (uint8_t)((uint64_t)p->not_after >> (56 - 8 * i));
    put16(o, sl);
    put16(o + 2, al);
    memcpy(o + 4, p->subject, sl);
    memcpy(o + 4 + sl, p->san, al);
    return (ssize_t)need;
}

/* The verified identity of a record (flags say verified): 0, -EACCES (expired), -EINVAL. */
static int peer_parse(const uint8_t *p, size_t n, struct tls_peer **out)
{
    *out = NULL;
    if (n < PEER_REC_IDENT)
        return -EINVAL;
    const uint8_t *q = p + PEER_REC_MIN;
    uint64_t na = 0;
    for (int i = 0; i < 8; i++)
        na = na << 8 | q[TLS_SHA256_LEN + i];
    size_t sl = get16(q + TLS_SHA256_LEN + 8), al = get16(q + TLS_SHA256_LEN + 10);
    const char *subj = (const char *)p + PEER_REC_IDENT, *san = subj + sl;
    if (n != PEER_REC_IDENT + sl + al || memchr(subj, 0, sl) || memchr(san, 0, al))
        return -EINVAL;
    if ((int64_t)na <= (int64_t)time(NULL))
        return -EACCES; /* a full handshake would refuse the certificate now */
    struct tls_peer *peer = malloc(sizeof(*peer) + sl + al + 2);
    if (!peer)
        return -ENOMEM;
    memcpy(peer->sha256, q, TLS_SHA256_LEN);
    peer->not_after = (int64_t)na;
    peer->subject = peer->text;
    peer->san = peer->text + sl + 1;
    memcpy(peer->subject, subj, sl);
    peer->subject[sl] = '\0';
    memcpy(peer->san, san, al);
    peer->san[al] = '\0';
    *out = peer;
    return 0;
}

void rw__tls_peer_unstash(struct rw_tls_conn *t)
{
    free(t->resume_peer);
    t->resume_peer = NULL;
    t->resume_seen = false;
}

int rw__tls_peer_restore(struct rw_tls_conn *t, const uint8_t *p, size_t n)
{
    rw__tls_peer_unstash(t);
    if (!t->is_server || !t->ctx || !t->cert)
        return -EACCES;
    enum rw_tls_client_auth mode = t->ctx->client_auth;
    if (mode == RW_TLS_CLIENT_AUTH_OFF)
        return 0; /* no certificate is asked for here: the session resumes without one */
    /* No record (issued without client auth, or by an older ringwall) or other anchors:
     * a full handshake asks for the certificate again. */
    if (n < PEER_REC_MIN || memcmp(p, t->cert->trust_id, TLS_TRUST_ID_LEN) != 0)
        return -EACCES;
    uint8_t flags = p[TLS_TRUST_ID_LEN];
    if (flags == (PEER_REC_PRESENTED | PEER_REC_VERIFIED)) {
        int r = peer_parse(p, n, &t->resume_peer);
        t->resume_seen = r == 0;
        return r;
    }
    if ((flags & ~PEER_REC_PRESENTED) != 0 || n != PEER_REC_MIN)
        return -EINVAL;
    if (mode == RW_TLS_CLIENT_AUTH_REQUIRE)
        return -EACCES;
    t->resume_seen = flags != 0;
    return 0;
}

void rw__tls_peer_commit(struct rw_tls_conn *t)
{
    if (t->is_server && wolfSSL_session_reused(t->ssl) == 1) {
        free(t->peer);
        t->peer = t->resume_peer;
        t->peer_seen = t->resume_seen;
        t->resume_peer = NULL;
    }
    rw__tls_peer_unstash(t);
}
