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

#include <wolfssl/openssl/evp.h>
#include <wolfssl/openssl/pem.h>
#include <wolfssl/openssl/ssl.h>
#include <wolfssl/wolfcrypt/asn.h>

#define OCSP_MAX (64u * 1024u)

/* Server preference: the first of ours the client offers; no overlap = no ALPN. */
static int cert_alpn_select(WOLFSSL *ssl, const unsigned char **out, unsigned char *outlen,
                            const unsigned char *in, unsigned int inlen, void *arg)
{
    const struct rw_tls_ctx *c = arg;
    (void)ssl;
    for (size_t o = 0; o < c->alpn_len; o += 1u + c->alpn[o]) {
        for (unsigned i = 0; i < inlen; i += 1u + in[i]) {
            if (i + 1u + in[i] > inlen)
                break;
            if (in[i] == c->alpn[o] && memcmp(in + i + 1, c->alpn + o + 1, in[i]) == 0) {
                *out = c->alpn + o + 1;
                *outlen = c->alpn[o];
                return SSL_TLSEXT_ERR_OK;
            }
        }
    }
    return SSL_TLSEXT_ERR_NOACK;
}

/* OCSP stapling: hand wolfSSL a copy of the response the ctx read at build time. */
static int cert_status_cb(WOLFSSL *ssl, void *arg)
{
    const struct rw_tls_conn *t = wolfSSL_get_app_data(ssl);
    (void)arg;
    if (!t || !t->cert || !t->cert->ocsp)
        return SSL_TLSEXT_ERR_NOACK;
    unsigned char *copy = malloc(t->cert->ocsp_len);
    if (!copy)
        return SSL_TLSEXT_ERR_NOACK;
    memcpy(copy, t->cert->ocsp, t->cert->ocsp_len);
    if (wolfSSL_set_tlsext_status_ocsp_resp(ssl, copy, (int)t->cert->ocsp_len) != WOLFSSL_SUCCESS) {
        free(copy);
        return SSL_TLSEXT_ERR_NOACK;
    }
    return SSL_TLSEXT_ERR_OK;
}

static void asn1_date(const WOLFSSL_ASN1_TIME *t, char *buf, size_t cap)
{
    struct tm tm;
    if (!t || wolfSSL_ASN1_TIME_to_tm(t, &tm) != WOLFSSL_SUCCESS ||
        strftime(buf, cap, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        snprintf(buf, cap, "(unreadable date)");
}

/* Dates, key type and names from the leaf (the first certificate of the file). */
static int cert_leaf(struct tls_cert *ct, const struct rw_tls_cert_params *cp, char *err,
                     size_t cap)
{
    WOLFSSL_X509 *x = wolfSSL_X509_load_certificate_file(cp->cert_file, WOLFSSL_FILETYPE_PEM);
    if (!x) {
        rw__tls_err(err, cap, "%s: not a PEM certificate", cp->cert_file);
        return -EINVAL;
    }
    char date[64];
    int r = 0;
    if (wolfSSL_X509_cmp_current_time(wolfSSL_X509_get_notAfter(x)) <= 0) {
        asn1_date(wolfSSL_X509_get_notAfter(x), date, sizeof(date));
        rw__tls_err(err, cap, "%s: certificate expired on %s", cp->cert_file, date);
        r = -EINVAL;
    } else if (wolfSSL_X509_cmp_current_time(wolfSSL_X509_get_notBefore(x)) > 0) {
        asn1_date(wolfSSL_X509_get_notBefore(x), date, sizeof(date));
        rw__tls_err(err, cap, "%s: certificate not valid before %s", cp->cert_file, date);
        r = -EINVAL;
    }
    int kt = wolfSSL_X509_get_pubkey_type(x);
    if (r == 0 && kt != ECDSAk && kt != RSAk) {
        rw__tls_err(err, cap, "%s: key type must be ECDSA or RSA", cp->cert_file);
        r = -EINVAL;
    }
    ct->ecdsa = kt == ECDSAk;
    if (r == 0 && cp->names && cp->nnames) {
        ct->names = calloc(cp->nnames, sizeof(char *));
        r = ct->names ? 0 : -ENOMEM;
        for (size_t i = 0; r == 0 && i < cp->nnames; i++, ct->nnames++) {
            if (!(ct->names[i] = strdup(cp->names[i])))
                r = -ENOMEM;
            for (char *q = ct->names[i]; q && *q; q++)
                *q = (char)tolower((unsigned char)*q);
        }
    } else if (r == 0) {
        r = rw__tls_san_dns(x, &ct->names, &ct->nnames);
        if (r == 0 && ct->nnames == 0) {
            rw__tls_err(err, cap, "%s: no names given and no DNS subjectAltName", cp->cert_file);
            r = -EINVAL;
        }
    }
    wolfSSL_X509_free(x);
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

/* wolfSSL_CTX_check_private_key() in this build misses a wrong key of the same type, so
 * prove the pair: sign with the private key, verify with the certificate's public key. */
static int key_sign_check(WOLFSSL_EVP_PKEY *priv, WOLFSSL_EVP_PKEY *pub)
{
    static const unsigned char msg[] = "ringwall key check";
    unsigned char sig[1024];
    size_t slen = sizeof(sig);
    WOLFSSL_EVP_MD_CTX *md = wolfSSL_EVP_MD_CTX_new();
    bool ok = md && wolfSSL_EVP_DigestSignInit(md, NULL, wolfSSL_EVP_sha256(), NULL, priv) == 1 &&
              wolfSSL_EVP_DigestSignUpdate(md, msg, sizeof(msg)) == 1 &&
              wolfSSL_EVP_DigestSignFinal(md, sig, &slen) == 1;
    wolfSSL_EVP_MD_CTX_free(md);
    md = ok ? wolfSSL_EVP_MD_CTX_new() : NULL;
    ok = md && wolfSSL_EVP_DigestVerifyInit(md, NULL, wolfSSL_EVP_sha256(), NULL, pub) == 1 &&
         wolfSSL_EVP_DigestVerifyUpdate(md, msg, sizeof(msg)) == 1 &&
         wolfSSL_EVP_DigestVerifyFinal(md, sig, slen) == 1;
    wolfSSL_EVP_MD_CTX_free(md);
    return ok;
}

bool rw__tls_key_matches(const char *cert_file, const char *key_file)
{
    WOLFSSL_X509 *x = wolfSSL_X509_load_certificate_file(cert_file, WOLFSSL_FILETYPE_PEM);
    WOLFSSL_BIO *bio = wolfSSL_BIO_new_file(key_file, "rb");
    WOLFSSL_EVP_PKEY *priv = bio ? wolfSSL_PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    WOLFSSL_EVP_PKEY *pub = x ? wolfSSL_X509_get_pubkey(x) : NULL;
    bool ok = priv && pub && key_sign_check(priv, pub);
    wolfSSL_EVP_PKEY_free(pub);
    wolfSSL_EVP_PKEY_free(priv);
    if (bio)
        wolfSSL_BIO_free(bio);
    wolfSSL_X509_free(x);
    return ok;
}

static int cert_keys(WOLFSSL_CTX *wc, const struct rw_tls_cert_params *cp, char *err, size_t cap)
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
        !rw__tls_key_matches(cp->cert_file, cp->key_file)) {
        rw__tls_err(err, cap, "%s: private key does not match certificate %s", cp->key_file,
                    cp->cert_file);
        return -EINVAL;
    }
    return 0;
}

/* The response must verify against the chain after the leaf, as wolfSSL checks it on every
 * handshake (a response it cannot verify is silently not stapled): check it once here, in
 * a store of its own, so the failure names the file. */
static int cert_ocsp_verify(const struct tls_cert *ct, const uint8_t *chain, size_t len,
                            const char *ocsp_file, char *err, size_t cap)
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
        ret = wolfSSL_CertManagerEnableOCSP(cm, 0);
    if (ret == WOLFSSL_SUCCESS)
        ret = wolfSSL_CertManagerCheckOCSPResponse(cm, ct->ocsp, (int)ct->ocsp_len, NULL, st,
                                                   NULL, NULL);
    wolfSSL_CertManagerFree(cm);
    free(st);
    if (ret == WOLFSSL_SUCCESS)
        return 0;
    rw__tls_err(err, cap,
                "%s: OCSP response does not verify against the chain after the leaf (%s); "
                "a responder certificate inside the response needs its issuer in that chain",
                ocsp_file, wolfSSL_ERR_reason_error_string((unsigned long)ret));
    return -EINVAL;
}

/* wolfSSL builds an OCSP request for its own leaf before it asks for the staple and checks
 * the response it gets: both need the issuer in the context's store, so trust the chain
 * after the leaf. Note: that store also verifies client certificates (client_auth). */
static int cert_ocsp_issuer(WOLFSSL_CTX *wc, const struct tls_cert *ct, const char *cert_file,
                            const char *ocsp_file, char *err, size_t cap)
{
    static const char begin[] = "-----BEGIN CERTIFICATE-----";
    FILE *f = fopen(cert_file, "rb");
    char *buf = f ? malloc(OCSP_MAX * 4) : NULL;
    size_t n = buf ? fread(buf, 1, OCSP_MAX * 4 - 1, f) : 0;
    if (f)
        fclose(f);
    if (!buf)
        return -ENOMEM;
    buf[n] = '\0';
    char *first = strstr(buf, begin), *second = first ? strstr(first + 1, begin) : NULL;
    size_t clen = second ? (size_t)(buf + n - second) : 0;
    int r = 0;
    if (!second ||
        wolfSSL_CTX_load_verify_buffer(wc, (const unsigned char *)second, (long)clen,
                                       WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS) {
        rw__tls_err(err, cap, "%s: OCSP stapling needs the issuer certificate after the leaf",
                    cert_file);
        r = -EINVAL;
    }
    if (r == 0)
        r = cert_ocsp_verify(ct, (const uint8_t *)second, clen, ocsp_file, err, cap);
    free(buf);
    return r;
}

/* Options every server WOLFSSL_CTX of a ctx shares: tickets, client auth, ALPN, stapling. */
static int cert_options(struct tls_cert *ct, const struct rw_tls_cert_params *cp,
                        const struct rw_tls_server_params *p, struct rw_tls_ctx *c, char *err,
                        size_t cap)
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
    }
    if (c->alpn)
        wolfSSL_CTX_set_alpn_select_cb(wc, cert_alpn_select, c);
    if (ct->ocsp) {
        int r = cert_ocsp_issuer(wc, ct, cp->cert_file, cp->ocsp_file, err, cap);
        if (r < 0)
            return r;
        if (wolfSSL_CTX_EnableOCSPStapling(wc) != WOLFSSL_SUCCESS ||
            wolfSSL_CTX_set_tlsext_status_cb(wc, cert_status_cb) != WOLFSSL_SUCCESS) {
            rw__tls_err(err, cap, "cannot enable OCSP stapling");
            return -EINVAL;
        }
    }
    return 0;
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
    int r = rw__tls_readable(cp->cert_file, err, errcap);
    if (r == 0)
        r = rw__tls_readable(cp->key_file, err, errcap);
    if (r == 0)
        r = cert_leaf(ct, cp, err, errcap);
    if (r == 0 && cp->ocsp_file)
        r = cert_ocsp(ct, cp->ocsp_file, err, errcap);
    if (r < 0)
        return r;
    ct->ssl_ctx = wolfSSL_CTX_new(wolfSSLv23_server_method());
    if (!ct->ssl_ctx)
        return -ENOMEM;
    r = rw__tls_ctx_common(ct->ssl_ctx, p->min_version, p->max_version, ciphers, p->groups,
                           p->ngroups, err, errcap);
    if (r == 0)
        r = cert_keys(ct->ssl_ctx, cp, err, errcap);
    if (r == 0)
        r = cert_options(ct, cp, p, c, err, errcap);
    if (r == 0)
        r = rw__tls_stamp_add(&c->stamps, &c->nstamps, cp->cert_file);
    if (r == 0)
        r = rw__tls_stamp_add(&c->stamps, &c->nstamps, cp->key_file);
    if (r == 0 && cp->ocsp_file)
        r = rw__tls_stamp_add(&c->stamps, &c->nstamps, cp->ocsp_file);
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
