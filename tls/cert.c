/* SPDX-License-Identifier: MIT */
/* One certificate: files checked (readable, parses, key matches, in date) and loaded. */
#include "tls/tls-int.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <wolfssl/error-ssl.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/rsa.h>
#include <wolfssl/wolfcrypt/sha256.h>
#include <wolfssl/wolfcrypt/signature.h>

#define OCSP_MAX (64u * 1024u)
#define KEY_MAX (64u * 1024u)
/* wolfSSL asks its OCSP I/O callback for the staple; any URL will do (no lookup happens). */
#define STAPLE_URL "ringwall:staple"

/* OCSP stapling: wolfSSL builds a request for the leaf and asks for a response, which it
 * checks against the request (certificate and issuer) and the store, then caches until its
 * nextUpdate. The answer is always the response the ctx read at build time. */
static int cert_staple_io(void *ctx, const char *url, int url_len, unsigned char *req, int req_len,
                          unsigned char **resp)
{
    const struct tls_cert *ct = ctx;
    (void)url;
    (void)url_len;
    (void)req;
    (void)req_len;
    *resp = ct->ocsp; /* only read; never freed (no free callback) */
    return (int)ct->ocsp_len;
}

static void format_date(int64_t t, char *buf, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || strftime(buf, cap, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        snprintf(buf, cap, "(unreadable date)");
}

/* Dates, key type and names from the leaf (the first certificate of the file). */
static int cert_leaf(struct tls_cert *ct, const struct tls_x509 *x,
                     const struct rw_tls_cert_params *cp, char *err, size_t cap)
{
    char date[64];
    int64_t now = (int64_t)time(NULL);
    if (x->not_after <= now) {
        format_date(x->not_after, date, sizeof(date));
        rw__tls_err(err, cap, "%s: certificate expired on %s", cp->cert_file, date);
        return -EINVAL;
    }
    if (x->not_before > now) {
        format_date(x->not_before, date, sizeof(date));
        rw__tls_err(err, cap, "%s: certificate not valid before %s", cp->cert_file, date);
        return -EINVAL;
    }
    if (x->key != TLS_KEY_EC && x->key != TLS_KEY_RSA) {
        rw__tls_err(err, cap, "%s: key type must be ECDSA or RSA", cp->cert_file);
        return -EINVAL;
    }
    ct->ecdsa = x->key == TLS_KEY_EC;
    int r = 0;
    if (cp->names && cp->nnames) {
        ct->names = calloc(cp->nnames, sizeof(char *));
        r = ct->names ? 0 : -ENOMEM;
        for (size_t i = 0; r == 0 && i < cp->nnames; i++, ct->nnames++) {
            if (!(ct->names[i] = strdup(cp->names[i])))
                r = -ENOMEM;
            for (char *q = ct->names[i]; q && *q; q++)
                *q = (char)tolower((unsigned char)*q);
        }
    } else {
        r = rw__tls_san_dns(&x->san, &ct->names, &ct->nnames);
        if (r == 0 && ct->nnames == 0) {
            rw__tls_err(err, cap, "%s: no names given and no DNS subjectAltName", cp->cert_file);
            r = -EINVAL;
        }
    }
    return r;
}

static int cert_ocsp(struct tls_cert *ct, const char *path, char *err, size_t cap)
{
    int r = rw__tls_readable(path, err, cap);
    if (r < 0)
        return r;
    FILE *f = fopen(path, "rb");
    if (!f)
        return -errno;
    ct->ocsp = malloc(OCSP_MAX);
    size_t n = ct->ocsp ? fread(ct->ocsp, 1, OCSP_MAX, f) : 0;
    fclose(f);
    if (!ct->ocsp)
        return -ENOMEM;
    /* A DER OCSPResponse is a SEQUENCE; anything else (PEM, empty) is a config mistake. */
    if (n < 8 || n == OCSP_MAX || ct->ocsp[0] != 0x30) {
        rw__tls_err(err, cap, "%s: not a DER OCSP response", path);
        return -EINVAL;
    }
    ct->ocsp_len = n;
    return 0;
}

/* A private key file (PEM; traditional or PKCS#8, unencrypted) as DER (malloc). */
static int key_der(const char *path, uint8_t **der, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -errno;
    uint8_t *pem = malloc(KEY_MAX);
    size_t n = pem ? fread(pem, 1, KEY_MAX, f) : 0;
    fclose(f);
    if (!pem)
        return -ENOMEM;
    int r = n > 0 && n < KEY_MAX ? wc_KeyPemToDer(pem, (int)n, pem, (int)n, NULL) : -1;
    if (r <= 0) {
        memset(pem, 0, KEY_MAX);
        free(pem);
        return -EINVAL;
    }
    *der = pem; /* KEY_MAX bytes: the caller wipes them all */
    *len = (size_t)r;
    return 0;
}

union key_any {
    ecc_key ec;
    RsaKey rsa;
};

/* Decode the private key and the certificate's public key of the same type. */
static int key_pair_load(const struct tls_x509 *x, uint8_t *key, size_t klen, union key_any *priv,
                         union key_any *pub)
{
    word32 idx = 0, pidx = 0;
    if (wc_GetPkcs8TraditionalOffset(key, &idx, (word32)klen) < 0)
        idx = 0; /* not PKCS#8: a traditional key */
    if (x->key == TLS_KEY_EC)
        return wc_EccPrivateKeyDecode(key, &idx, &priv->ec, (word32)klen) == 0 &&
                       wc_EccPublicKeyDecode(x->spki.p, &pidx, &pub->ec, (word32)x->spki.n) == 0
                   ? 0
                   : -EINVAL;
    return wc_RsaPrivateKeyDecode(key, &idx, &priv->rsa, (word32)klen) == 0 &&
                   wc_RsaPublicKeyDecode(x->spki.p, &pidx, &pub->rsa, (word32)x->spki.n) == 0
               ? 0
               : -EINVAL;
}

/* wolfSSL_CTX_check_private_key() in this build misses a wrong key of the same type, so
 * prove the pair: sign with the private key, verify with the certificate's public key. */
static bool key_sign_check(const struct tls_x509 *x, uint8_t *key, size_t klen)
{
    static const byte msg[] = "ringwall key check";
    byte sig[1024];
    word32 slen = sizeof(sig);
    union key_any priv, pub;
    WC_RNG rng;
    bool ec = x->key == TLS_KEY_EC;
    enum wc_SignatureType type = ec ? WC_SIGNATURE_TYPE_ECC : WC_SIGNATURE_TYPE_RSA_W_ENC;
    word32 ksz = ec ? sizeof(ecc_key) : sizeof(RsaKey);
    if (x->key != TLS_KEY_EC && x->key != TLS_KEY_RSA)
        return false;
    if (wc_InitRng(&rng) != 0)
        return false;
    int r = ec ? wc_ecc_init(&priv.ec) | wc_ecc_init(&pub.ec)
               : wc_InitRsaKey(&priv.rsa, NULL) | wc_InitRsaKey(&pub.rsa, NULL);
    bool ok =
        r == 0 && key_pair_load(x, key, klen, &priv, &pub) == 0 &&
        wc_SignatureGenerate(WC_HASH_TYPE_SHA256, type, msg, sizeof(msg), sig, &slen, &priv, ksz,
                             &rng) == 0 &&
        wc_SignatureVerify(WC_HASH_TYPE_SHA256, type, msg, sizeof(msg), sig, slen, &pub, ksz) == 0;
    if (ec) {
        wc_ecc_free(&priv.ec);
        wc_ecc_free(&pub.ec);
    } else {
        wc_FreeRsaKey(&priv.rsa);
        wc_FreeRsaKey(&pub.rsa);
    }
    wc_FreeRng(&rng);
    return ok;
}

static bool key_matches_x509(const struct tls_x509 *x, const char *key_file)
{
    uint8_t *key = NULL;
    size_t klen = 0;
    bool ok = key_der(key_file, &key, &klen) == 0 && key_sign_check(x, key, klen);
    if (key)
        memset(key, 0, KEY_MAX);
    free(key);
    return ok;
}

bool rw__tls_key_matches(const char *cert_file, const char *key_file)
{
    uint8_t *der = NULL;
    size_t len = 0;
    struct tls_x509 x;
    bool ok = rw__tls_pem_cert(cert_file, &der, &len) == 0 &&
              rw__tls_x509_parse(der, len, &x) == 0 && key_matches_x509(&x, key_file);
    free(der);
    return ok;
}

static int cert_keys(WOLFSSL_CTX *wc, const struct tls_x509 *x, const struct rw_tls_cert_params *cp,
                     char *err, size_t cap)
{
    if (wolfSSL_CTX_use_certificate_chain_file(wc, cp->cert_file) != WOLFSSL_SUCCESS) {
        rw__tls_err(err, cap, "%s: cannot load the certificate chain", cp->cert_file);
        return -EINVAL;
    }
    if (wolfSSL_CTX_use_PrivateKey_file(wc, cp->key_file, WOLFSSL_FILETYPE_PEM) !=
        WOLFSSL_SUCCESS) {
        rw__tls_err(err, cap,
                    "%s: not a usable PEM private key (encrypted keys are not "
                    "supported)",
                    cp->key_file);
        return -EINVAL;
    }
    if (wolfSSL_CTX_check_private_key(wc) != WOLFSSL_SUCCESS ||
        !key_matches_x509(x, cp->key_file)) {
        rw__tls_err(err, cap, "%s: private key does not match certificate %s", cp->key_file,
                    cp->cert_file);
        return -EINVAL;
    }
    return 0;
}

/* The response must verify against the chain after the leaf and answer for the leaf, as
 * wolfSSL checks both on every handshake (a response that fails is silently not stapled):
 * check it once here, in a store of its own, so the failure names the file. */
static int cert_ocsp_verify(struct tls_cert *ct, const uint8_t *chain, size_t len, uint8_t *leaf,
                            size_t leaf_len, const char *ocsp_file, char *err, size_t cap)
{
    WOLFSSL_CERT_MANAGER *cm = wolfSSL_CertManagerNew();
    CertStatus *st = calloc(1, sizeof(*st)); /* the check writes the status it read here */
    if (!cm || !st) {
        wolfSSL_CertManagerFree(cm);
        free(st);
        return -ENOMEM;
    }
    int ret = wolfSSL_CertManagerLoadCABuffer(cm, chain, (long)len, WOLFSSL_FILETYPE_PEM);
    if (ret == WOLFSSL_SUCCESS)
        ret = wolfSSL_CertManagerEnableOCSP(cm, WOLFSSL_OCSP_URL_OVERRIDE | WOLFSSL_OCSP_NO_NONCE);
    if (ret == WOLFSSL_SUCCESS)
        ret = wolfSSL_CertManagerCheckOCSPResponse(cm, ct->ocsp, (int)ct->ocsp_len, NULL, st, NULL,
                                                   NULL);
    int match = WOLFSSL_FAILURE;
    if (ret == WOLFSSL_SUCCESS &&
        wolfSSL_CertManagerSetOCSPOverrideURL(cm, STAPLE_URL) == WOLFSSL_SUCCESS &&
        wolfSSL_CertManagerSetOCSP_Cb(cm, cert_staple_io, NULL, ct) == WOLFSSL_SUCCESS)
        match = wolfSSL_CertManagerCheckOCSP(cm, leaf, (int)leaf_len);
    wolfSSL_CertManagerFree(cm);
    free(st);
    if (ret != WOLFSSL_SUCCESS) {
        rw__tls_err(err, cap,
                    "%s: OCSP response does not verify against the chain after the leaf (%s); "
                    "a responder certificate inside the response needs its issuer in that chain",
                    ocsp_file, wolfSSL_ERR_reason_error_string((unsigned long)ret));
        return -EINVAL;
    }
    /* A revoked status is still stapled, as any current response is: clients decide. */
    if (match != WOLFSSL_SUCCESS && match != OCSP_CERT_REVOKED) {
        rw__tls_err(err, cap, "%s: OCSP response is not for this certificate (%s)", ocsp_file,
                    wolfSSL_ERR_reason_error_string((unsigned long)match));
        return -EINVAL;
    }
    return 0;
}

/* Stapling through wolfSSL's OCSP I/O callback (the native way): the override URL makes
 * wolfSSL ask even for a leaf without an OCSP URL, and OCSP checking of peer certificates
 * stays off (enabling it is the only way to set the override flag). */
static int cert_stapling(WOLFSSL_CTX *wc, struct tls_cert *ct)
{
    return wolfSSL_CTX_EnableOCSPStapling(wc) == WOLFSSL_SUCCESS &&
                   wolfSSL_CTX_EnableOCSP(wc, WOLFSSL_OCSP_URL_OVERRIDE) == WOLFSSL_SUCCESS &&
                   wolfSSL_CTX_DisableOCSP(wc) == WOLFSSL_SUCCESS &&
                   wolfSSL_CTX_SetOCSP_OverrideURL(wc, STAPLE_URL) == WOLFSSL_SUCCESS &&
                   wolfSSL_CTX_SetOCSP_Cb(wc, cert_staple_io, NULL, ct) == WOLFSSL_SUCCESS
               ? 0
               : -EINVAL;
}

/* ct->trust_id = SHA-256(label || a || b), truncated: the anchors client certificates are
 * verified against on this certificate's context. 0 or -EINVAL. */
static int cert_trust_id(struct tls_cert *ct, const uint8_t *a, size_t an, const uint8_t *b,
                         size_t bn)
{
    static const char label[] = "ringwall client trust v1";
    uint8_t d[TLS_SHA256_LEN];
    wc_Sha256 h;
    int r = wc_InitSha256(&h);
    if (r == 0)
        r = wc_Sha256Update(&h, (const byte *)label, sizeof(label));
    if (r == 0)
        r = wc_Sha256Update(&h, a, (word32)an);
    if (r == 0 && bn)
        r = wc_Sha256Update(&h, b, (word32)bn);
    if (r == 0)
        r = wc_Sha256Final(&h, d);
    wc_Sha256Free(&h);
    memcpy(ct->trust_id, d, TLS_TRUST_ID_LEN);
    return r == 0 ? 0 : -EINVAL;
}

/* wolfSSL builds an OCSP request for its own leaf before it asks for the staple and checks
 * the response it gets: both need the issuer in the context's store, so trust the chain
 * after the leaf. Note: that store also verifies client certificates (client_auth). A
 * shared response that does not answer for this certificate is dropped (err says why). */
static int cert_staple_setup(WOLFSSL_CTX *wc, struct tls_cert *ct,
                             const struct rw_tls_cert_params *cp, uint8_t *leaf, size_t leaf_len,
                             char *err, size_t cap)
{
    static const char begin[] = "-----BEGIN CERTIFICATE-----";
    FILE *f = fopen(cp->cert_file, "rb");
    char *buf = f ? malloc(OCSP_MAX * 4) : NULL;
    size_t n = buf ? fread(buf, 1, OCSP_MAX * 4 - 1, f) : 0;
    if (f)
        fclose(f);
    if (!buf)
        return -ENOMEM;
    buf[n] = '\0';
    char *first = strstr(buf, begin), *second = first ? strstr(first + 1, begin) : NULL;
    size_t clen = second ? (size_t)(buf + n - second) : 0;
    int r = second ? 0 : -EINVAL;
    if (!second)
        rw__tls_err(err, cap, "%s: OCSP stapling needs the issuer certificate after the leaf",
                    cp->cert_file);
    if (r == 0)
        r = cert_ocsp_verify(ct, (const uint8_t *)second, clen, leaf, leaf_len, cp->ocsp_file, err,
                             cap);
    if (r == -EINVAL && cp->ocsp_shared) {
        free(ct->ocsp);
        ct->ocsp = NULL;
        ct->ocsp_len = 0;
        r = 0;
    } else if (r == 0 &&
               wolfSSL_CTX_load_verify_buffer(wc, (const unsigned char *)second, (long)clen,
                                              WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS) {
        rw__tls_err(err, cap, "%s: cannot load the chain after the leaf", cp->cert_file);
        r = -EINVAL;
    } else if (r == 0 && cert_stapling(wc, ct) < 0) {
        rw__tls_err(err, cap, "cannot enable OCSP stapling");
        r = -EINVAL;
    }
    if (r == 0 && ct->ocsp) /* the chain now also verifies client certificates */
        r = cert_trust_id(ct, ct->trust_id, TLS_TRUST_ID_LEN, (const uint8_t *)second, clen);
    free(buf);
    return r;
}

/* Options every server WOLFSSL_CTX of a ctx shares: tickets, client auth, stapling (ALPN is
 * chosen per conn from the ClientHello: conn.c). */
static int cert_options(struct tls_cert *ct, const struct rw_tls_cert_params *cp,
                        const struct rw_tls_server_params *p, struct rw_tls_ctx *c, uint8_t *leaf,
                        size_t leaf_len, char *err, size_t cap)
{
    WOLFSSL_CTX *wc = ct->ssl_ctx;
    wolfSSL_CTX_set_session_cache_mode(wc, WOLFSSL_SESS_CACHE_OFF);
    if (c->keys) {
        wolfSSL_CTX_set_TicketEncCb(wc, rw__tls_ticket_cb);
        wolfSSL_CTX_set_TicketEncCtx(wc, c->keys);
        wolfSSL_CTX_set_TicketHint(wc, rw__tls_keys_hint_s(c->keys));
    } else {
        wolfSSL_CTX_NoTicketTLSv12(wc);
        wolfSSL_CTX_no_ticket_TLSv13(wc);
    }
    if (p->client_auth != RW_TLS_CLIENT_AUTH_OFF) {
        if (wolfSSL_CTX_load_verify_locations(wc, p->client_ca_file, NULL) != WOLFSSL_SUCCESS) {
            rw__tls_err(err, cap, "%s: cannot load CA certificates", p->client_ca_file);
            return -EINVAL;
        }
        int mode = WOLFSSL_VERIFY_PEER;
        if (p->client_auth == RW_TLS_CLIENT_AUTH_REQUIRE)
            mode |= WOLFSSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        wolfSSL_CTX_set_verify(wc, mode, rw__tls_verify_cb);
        if (cert_trust_id(ct, c->client_ca_sha256, TLS_SHA256_LEN, NULL, 0) < 0) {
            rw__tls_err(err, cap, "cannot hash the client CA digest");
            return -EINVAL;
        }
    }
    return ct->ocsp ? cert_staple_setup(wc, ct, cp, leaf, leaf_len, err, cap) : 0;
}

/* The leaf as DER and its facts; -EINVAL with err when the file holds no readable one. */
static int cert_read_leaf(const char *path, uint8_t **der, size_t *len, struct tls_x509 *x,
                          char *err, size_t cap)
{
    int r = rw__tls_pem_cert(path, der, len);
    if (r == 0 && rw__tls_x509_parse(*der, *len, x) < 0)
        r = -EINVAL;
    if (r == -EINVAL)
        rw__tls_err(err, cap, "%s: not a PEM certificate", path);
    return r;
}

int rw__tls_cert_load(struct tls_cert *ct, const struct rw_tls_cert_params *cp,
                      const struct rw_tls_server_params *p, struct rw_tls_ctx *c,
                      const char *ciphers, char *err, size_t errcap)
{
    ct->is_default = cp->is_default;
    if (!cp->cert_file || !cp->key_file) {
        rw__tls_err(err, errcap, "a certificate needs both cert and key files");
        return -EINVAL;
    }
    uint8_t *leaf = NULL;
    size_t leaf_len = 0;
    struct tls_x509 x;
    int r = rw__tls_readable(cp->cert_file, err, errcap);
    if (r == 0)
        r = rw__tls_readable(cp->key_file, err, errcap);
    if (r == 0)
        r = cert_read_leaf(cp->cert_file, &leaf, &leaf_len, &x, err, errcap);
    if (r == 0)
        r = cert_leaf(ct, &x, cp, err, errcap);
    if (r == 0 && cp->ocsp_file)
        r = cert_ocsp(ct, cp->ocsp_file, err, errcap);
    if (r == 0)
        r = rw__tls_ctx_common(&ct->ssl_ctx, true, p->min_version, p->max_version, ciphers,
                               p->groups, p->ngroups, err, errcap);
    if (r == 0)
        r = cert_keys(ct->ssl_ctx, &x, cp, err, errcap);
    if (r == 0)
        r = cert_options(ct, cp, p, c, leaf, leaf_len, err, errcap);
    if (r == 0)
        r = rw__tls_stamp_add(&c->stamps, &c->nstamps, cp->cert_file);
    if (r == 0)
        r = rw__tls_stamp_add(&c->stamps, &c->nstamps, cp->key_file);
    if (r == 0 && cp->ocsp_file)
        r = rw__tls_stamp_add(&c->stamps, &c->nstamps, cp->ocsp_file);
    free(leaf);
    return r;
}

void rw__tls_cert_fini(struct tls_cert *ct)
{
    if (ct->ssl_ctx)
        wolfSSL_CTX_free(ct->ssl_ctx);
    for (size_t i = 0; i < ct->nnames; i++)
        free(ct->names[i]);
    free(ct->names);
    free(ct->ocsp);
}

bool rw__tls_cert_same_names(const struct tls_cert *a, const struct tls_cert *b)
{
    if (a->nnames != b->nnames)
        return false;
    for (size_t i = 0; i < a->nnames; i++) {
        bool found = false;
        for (size_t j = 0; j < b->nnames && !found; j++)
            found = strcmp(a->names[i], b->names[j]) == 0;
        if (!found)
            return false;
    }
    return true;
}
