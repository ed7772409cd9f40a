/* SPDX-License-Identifier: MIT */
/* Client certificates: the verify callback and the verified identity a conn keeps. */
#include "tls/tls-int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
