/* SPDX-License-Identifier: MIT */
/* Certificate details: SAN lists, RFC 4514 subjects, the verify callback, peer identity. */
#include "tls/tls-int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/openssl/ssl.h>
#include <wolfssl/openssl/x509v3.h>
#include <wolfssl/wolfcrypt/sha256.h>

/* A growable string; on allocation failure it stays NULL and every append is a no-op. */
struct sbuf {
    char *p;
    size_t len, cap;
    bool fail;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->fail)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            free(b->p);
            *b = (struct sbuf){.fail = true};
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static char *sb_take(struct sbuf *b)
{
    if (!b->fail && !b->p)
        sb_add(b, "", 0);
    return b->p;
}

int rw__tls_san_dns(WOLFSSL_X509 *x, char ***names, size_t *n)
{
    *names = NULL;
    *n = 0;
    WOLFSSL_STACK *sk = wolfSSL_X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    if (!sk)
        return 0;
    int cnt = wolfSSL_sk_GENERAL_NAME_num(sk), r = 0;
    *names = calloc(cnt > 0 ? (size_t)cnt : 1, sizeof(char *));
    if (!*names)
        r = -ENOMEM;
    for (int i = 0; r == 0 && i < cnt; i++) {
        WOLFSSL_GENERAL_NAME *g = wolfSSL_sk_GENERAL_NAME_value(sk, i);
        if (!g || g->type != GEN_DNS || !g->d.dNSName)
            continue;
        int len = wolfSSL_ASN1_STRING_length(g->d.dNSName);
        const unsigned char *d = wolfSSL_ASN1_STRING_data(g->d.dNSName);
        char *s = malloc((size_t)len + 1);
        if (!s) {
            r = -ENOMEM;
            break;
        }
        for (int k = 0; k < len; k++)
            s[k] = (char)tolower(d[k]);
        s[len] = '\0';
        (*names)[(*n)++] = s;
    }
    wolfSSL_GENERAL_NAMES_free(sk);
    return r;
}

static void san_ip(struct sbuf *b, const unsigned char *d, int len)
{
    char tmp[64];
    if (len == 4) {
        snprintf(tmp, sizeof(tmp), "%u.%u.%u.%u", d[0], d[1], d[2], d[3]);
    } else if (len == 16) {
        int o = 0;
        for (int i = 0; i < 16; i += 2)
            o += snprintf(tmp + o, sizeof(tmp) - (size_t)o, i ? ":%x" : "%x", d[i] << 8 | d[i + 1]);
    } else {
        snprintf(tmp, sizeof(tmp), "?");
    }
    sb_add(b, tmp, strlen(tmp));
}

char *rw__tls_san_text(WOLFSSL_X509 *x)
{
    struct sbuf b = {0};
    WOLFSSL_STACK *sk = wolfSSL_X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    int cnt = sk ? wolfSSL_sk_GENERAL_NAME_num(sk) : 0;
    for (int i = 0; i < cnt; i++) {
        WOLFSSL_GENERAL_NAME *g = wolfSSL_sk_GENERAL_NAME_value(sk, i);
        const char *tag = !g                     ? NULL
                          : g->type == GEN_DNS   ? "DNS:"
                          : g->type == GEN_EMAIL ? "email:"
                          : g->type == GEN_URI   ? "URI:"
                          : g->type == GEN_IPADD ? "IP:"
                                                 : NULL;
        if (!tag || !g->d.ia5)
            continue;
        if (b.len)
            sb_add(&b, ", ", 2);
        sb_add(&b, tag, strlen(tag));
        int len = wolfSSL_ASN1_STRING_length(g->d.ia5);
        const unsigned char *d = wolfSSL_ASN1_STRING_data(g->d.ia5);
        if (g->type == GEN_IPADD) {
            san_ip(&b, d, len);
            continue;
        }
        for (int k = 0; k < len; k++) /* controls and commas would forge list entries */
            sb_add(&b, d[k] < 0x20 || d[k] == 0x7f || d[k] == ',' ? "?" : (const char *)d + k, 1);
    }
    if (sk)
        wolfSSL_GENERAL_NAMES_free(sk);
    return sb_take(&b);
}

/* RFC 4514 section 2.4 escaping of one attribute value. */
static void rfc4514_value(struct sbuf *b, const unsigned char *d, int len)
{
    for (int i = 0; i < len; i++) {
        unsigned char ch = d[i];
        char tmp[4];
        if (ch < 0x20 || ch == 0x7f) {
            snprintf(tmp, sizeof(tmp), "\\%02X", ch);
            sb_add(b, tmp, 3);
            continue;
        }
        if (strchr("\"+,;<>\\", ch) || (i == 0 && (ch == '#' || ch == ' ')) ||
            (i == len - 1 && ch == ' '))
            sb_add(b, "\\", 1);
        sb_add(b, (const char *)&d[i], 1);
    }
}

char *rw__tls_subject_rfc4514(WOLFSSL_X509 *x)
{
    struct sbuf b = {0};
    WOLFSSL_X509_NAME *nm = wolfSSL_X509_get_subject_name(x);
    int cnt = nm ? wolfSSL_X509_NAME_entry_count(nm) : 0;
    for (int i = cnt - 1; i >= 0; i--) { /* RFC 4514: last RDN first */
        WOLFSSL_X509_NAME_ENTRY *e = wolfSSL_X509_NAME_get_entry(nm, i);
        WOLFSSL_ASN1_OBJECT *o = e ? wolfSSL_X509_NAME_ENTRY_get_object(e) : NULL;
        WOLFSSL_ASN1_STRING *v = e ? wolfSSL_X509_NAME_ENTRY_get_data(e) : NULL;
        if (!o || !v)
            continue;
        char type[80];
        int nid = wolfSSL_OBJ_obj2nid(o);
        const char *sn = nid > 0 ? wolfSSL_OBJ_nid2sn(nid) : NULL;
        if (sn && strcmp(sn, "emailAddress") != 0)
            snprintf(type, sizeof(type), "%s", sn);
        else if (wolfSSL_OBJ_obj2txt(type, sizeof(type), o, 1) <= 0)
            continue;
        if (b.len)
            sb_add(&b, ",", 1);
        sb_add(&b, type, strlen(type));
        sb_add(&b, "=", 1);
        rfc4514_value(&b, wolfSSL_ASN1_STRING_data(v), wolfSSL_ASN1_STRING_length(v));
    }
    return sb_take(&b);
}

/* Optional mode accepts an unverifiable client certificate but remembers it, so the
 * identity is never reported as verified; every other mode keeps wolfSSL's verdict. */
int rw__tls_verify_cb(int preverify, WOLFSSL_X509_STORE_CTX *store)
{
    WOLFSSL *ssl =
        wolfSSL_X509_STORE_CTX_get_ex_data(store, wolfSSL_get_ex_data_X509_STORE_CTX_idx());
    struct rw_tls_conn *t = ssl ? wolfSSL_get_app_data(ssl) : NULL;
    if (preverify)
        return 1;
    if (t) {
        t->verify_failed = true;
        if (t->is_server && t->ctx && t->ctx->client_auth == RW_TLS_CLIENT_AUTH_OPTIONAL)
            return 1;
    }
    return 0;
}

/* After a server handshake: the verified client certificate's identity, if any. */
int rw__tls_peer_capture(struct rw_tls_conn *t)
{
    if (!t->is_server || !t->ctx || t->ctx->client_auth == RW_TLS_CLIENT_AUTH_OFF)
        return 0;
    WOLFSSL_X509 *x = wolfSSL_get_peer_certificate(t->ssl);
    if (!x)
        return 0;
    t->peer_seen = true;
    if (t->verify_failed) {
        wolfSSL_X509_free(x);
        return 0;
    }
    int der_len = 0, r = 0;
    const unsigned char *der = wolfSSL_X509_get_der(x, &der_len);
    char *subj = rw__tls_subject_rfc4514(x), *san = rw__tls_san_text(x);
    size_t sl = subj ? strlen(subj) : 0, al = san ? strlen(san) : 0;
    t->peer = subj && san && der ? malloc(sizeof(*t->peer) + sl + al + 2) : NULL;
    if (!t->peer) {
        r = -ENOMEM;
    } else {
        t->peer->subject = t->peer->text;
        t->peer->san = t->peer->text + sl + 1;
        memcpy(t->peer->subject, subj, sl + 1);
        memcpy(t->peer->san, san, al + 1);
        if (wc_Sha256Hash(der, (word32)der_len, t->peer->sha256) != 0)
            r = -EINVAL;
    }
    free(subj);
    free(san);
    wolfSSL_X509_free(x);
    return r;
}
