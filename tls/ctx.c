/* SPDX-License-Identifier: MIT */
/* Server contexts: certificates checked and loaded off the request path, SNI selection. */
#include "tls/tls-int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <wolfssl/wolfcrypt/sha256.h>

#define OCSP_MAX (64u * 1024u)

/* Forward-secret AEAD only; server order AES-GCM first (fast with AES-NI), with ChaCha20 put
 * first for clients that list it first (rw__tls_chacha_first). */
static const char ciphers12_default[] = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                        "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                        "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
static const char ciphers13_default[] =
    "TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384:TLS13-CHACHA20-POLY1305-SHA256";

void rw__tls_err(char *err, size_t cap, const char *fmt, ...)
{
    if (!err || cap == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

int rw__tls_readable(const char *path, char *err, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = -errno;
        rw__tls_err(err, cap, "%s: cannot read: %s", path, strerror(-e));
        return e;
    }
    close(fd);
    return 0;
}

int rw__tls_stamp_add(struct tls_stamp **v, size_t *n, const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return -errno;
    struct tls_stamp *nv = realloc(*v, (*n + 1) * sizeof(**v));
    if (!nv)
        return -ENOMEM;
    *v = nv;
    struct tls_stamp *s = &nv[*n];
    s->path = strdup(path);
    if (!s->path)
        return -ENOMEM;
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    s->size = st.st_size;
    s->mtime = st.st_mtim;
    (*n)++;
    return 0;
}

void rw__tls_stamps_free(struct tls_stamp *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].path);
    free(v);
}

bool rw_tls_ctx_stale(const struct rw_tls_ctx *c)
{
    for (size_t i = 0; i < c->nstamps; i++) {
        const struct tls_stamp *s = &c->stamps[i];
        struct stat st;
        if (stat(s->path, &st) < 0 || st.st_dev != s->dev || st.st_ino != s->ino ||
            st.st_size != s->size || st.st_mtim.tv_sec != s->mtime.tv_sec ||
            st.st_mtim.tv_nsec != s->mtime.tv_nsec)
            return true;
    }
    return false;
}

static bool is_chacha(const char *name, size_t len)
{
    return memmem(name, len, "CHACHA20", 8) != NULL;
}

char *rw__tls_chacha_first(const char *list)
{
    size_t n = strlen(list);
    char *out = malloc(n + 2);
    if (!out)
        return NULL;
    size_t o = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (const char *p = list; *p;) {
            const char *e = strchr(p, ':');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            if (len > 0 && is_chacha(p, len) == (pass == 0)) {
                if (o)
                    out[o++] = ':';
                memcpy(out + o, p, len);
                o += len;
            }
            p += len + (e != NULL);
        }
    }
    out[o] = '\0';
    return out;
}

static int group_id(const char *name)
{
    static const struct {
        const char *name;
        int id;
    } g[] = {{"X25519", WOLFSSL_ECC_X25519},        {"P-256", WOLFSSL_ECC_SECP256R1},
             {"prime256v1", WOLFSSL_ECC_SECP256R1}, {"P-384", WOLFSSL_ECC_SECP384R1},
             {"P-521", WOLFSSL_ECC_SECP521R1},      {"X448", WOLFSSL_ECC_X448}};
    for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++)
        if (strcasecmp(name, g[i].name) == 0)
            return g[i].id;
    return -1;
}

/* The method fixes the highest version; a range needs the downgrading method and a floor. */
static WOLFSSL_METHOD *ctx_method(bool server, int vmin, int vmax)
{
    if (vmin == WOLFSSL_TLSV1_3)
        return server ? wolfTLSv1_3_server_method() : wolfTLSv1_3_client_method();
    if (vmax == WOLFSSL_TLSV1_2)
        return server ? wolfTLSv1_2_server_method() : wolfTLSv1_2_client_method();
    return server ? wolfSSLv23_server_method() : wolfSSLv23_client_method();
}

int rw__tls_ctx_common(WOLFSSL_CTX **out, bool server, uint16_t minv, uint16_t maxv,
                       const char *ciphers, const char *const *groups, size_t ngroups, char *err,
                       size_t errcap)
{
    static const char *const def_groups[] = {"X25519", "P-256"};
    int ids[8];
    *out = NULL;
    if (!groups || ngroups == 0) {
        groups = def_groups;
        ngroups = 2;
    }
    if (ngroups > 8) {
        rw__tls_err(err, errcap, "at most 8 groups");
        return -EINVAL;
    }
    for (size_t i = 0; i < ngroups; i++)
        if ((ids[i] = group_id(groups[i])) < 0) {
            rw__tls_err(err, errcap, "unknown group \"%s\" (X25519, P-256, P-384, P-521, X448)",
                        groups[i]);
            return -EINVAL;
        }
    int vmin = minv == RW_TLS_V13 ? WOLFSSL_TLSV1_3 : WOLFSSL_TLSV1_2;
    int vmax = maxv == RW_TLS_V12 ? WOLFSSL_TLSV1_2 : WOLFSSL_TLSV1_3;
    if ((minv && minv != RW_TLS_V12 && minv != RW_TLS_V13) ||
        (maxv && maxv != RW_TLS_V12 && maxv != RW_TLS_V13) || vmin > vmax) {
        rw__tls_err(err, errcap, "versions must be 1.2 or 1.3 with min <= max");
        return -EINVAL;
    }
    WOLFSSL_CTX *wc = wolfSSL_CTX_new(ctx_method(server, vmin, vmax));
    if (!wc)
        return -ENOMEM;
    *out = wc;
    if (vmin != vmax && wolfSSL_CTX_SetMinVersion(wc, vmin) != WOLFSSL_SUCCESS) {
        rw__tls_err(err, errcap, "cannot set protocol versions");
        return -EINVAL;
    }
    if (wolfSSL_CTX_set_cipher_list(wc, ciphers) != WOLFSSL_SUCCESS) {
        rw__tls_err(err, errcap, "no usable cipher in \"%s\"", ciphers);
        return -EINVAL;
    }
    /* set_groups (the key share order) needs a TLS 1.3 method; 1.2 only needs the curves. */
    bool ok = true;
    if (vmax == WOLFSSL_TLSV1_3)
        ok = wolfSSL_CTX_set_groups(wc, ids, (int)ngroups) == WOLFSSL_SUCCESS;
    for (size_t i = 0; ok && vmax == WOLFSSL_TLSV1_2 && i < ngroups; i++)
        ok = wolfSSL_CTX_UseSupportedCurve(wc, (word16)ids[i]) == WOLFSSL_SUCCESS;
    if (!ok) {
        rw__tls_err(err, errcap, "cannot set groups");
        return -EINVAL;
    }
    return 0;
}

/* The 1.2 and 1.3 lists in one string, as wolfSSL takes them; only AEAD suites with
 * ECDHE survive a user list (anything else is an error naming the suite). */
static char *ctx_cipher_list(const struct rw_tls_server_params *p, char *err, size_t cap)
{
    const char *l12 = p->ciphers ? p->ciphers : ciphers12_default;
    const char *l13 = p->ciphersuites ? p->ciphersuites : ciphers13_default;
    for (const char *s = l12; *s;) {
        size_t len = strcspn(s, ":");
        bool ok = len >= 6 && strncmp(s, "ECDHE-", 6) == 0 &&
                  (memmem(s, len, "-GCM-", 5) || memmem(s, len, "CHACHA20-POLY1305", 17));
        if (!ok) {
            rw__tls_err(err, cap,
                        "cipher \"%.*s\" refused: only ECDHE with AES-GCM or "
                        "ChaCha20-Poly1305",
                        (int)len, s);
            return NULL;
        }
        s += len + (s[len] == ':');
    }
    char *out = malloc(strlen(l12) + strlen(l13) + 2);
    if (out)
        sprintf(out, "%s:%s", l13, l12);
    return out;
}

static uint8_t *ctx_alpn_wire(const char *const *v, size_t n, size_t *len, char *err, size_t cap)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(v[i]);
        if (l == 0 || l > 255 || strchr(v[i], ',')) { /* wolfSSL_UseALPN splits on ',' */
            rw__tls_err(err, cap, "ALPN protocol \"%s\" must be 1..255 bytes without ','", v[i]);
            return NULL;
        }
        total += 1 + l;
    }
    uint8_t *w = malloc(total ? total : 1);
    if (!w)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(v[i]);
        w[o++] = (uint8_t)l;
        memcpy(w + o, v[i], l);
        o += l;
    }
    *len = total;
    return w;
}

static void ctx_free(struct rw_tls_ctx *c)
{
    for (size_t i = 0; i < c->ncerts; i++)
        rw__tls_cert_fini(&c->certs[i]);
    free(c->certs);
    rw_tls_keys_unref(c->keys);
    free(c->alpn);
    free(c->ciphers_chacha);
    rw__tls_stamps_free(c->stamps, c->nstamps);
    free(c);
}

void rw_tls_ctx_ref(struct rw_tls_ctx *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

void rw_tls_ctx_unref(struct rw_tls_ctx *c)
{
    if (c && atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
        ctx_free(c);
}

static int ctx_check(const struct rw_tls_server_params *p, const struct rw_tls_keys *keys,
                     char *err, size_t cap)
{
    if (!p->certs || p->ncerts == 0) {
        rw__tls_err(err, cap, "at least one certificate is required");
        return -EINVAL;
    }
    if (p->session_tickets && !keys) {
        rw__tls_err(err, cap, "session tickets need ticket keys");
        return -EINVAL;
    }
    if (p->client_auth != RW_TLS_CLIENT_AUTH_OFF && !p->client_ca_file) {
        rw__tls_err(err, cap, "client_auth needs a CA file");
        return -EINVAL;
    }
    int ndef = 0;
    for (size_t i = 0; i < p->ncerts; i++)
        ndef += p->certs[i].is_default;
    if (ndef > 2) {
        rw__tls_err(err, cap, "at most two default certificates (one ECDSA, one RSA)");
        return -EINVAL;
    }
    return 0;
}

/* SHA-256 of a whole file (the client CA bundle, which wolfSSL reads by path): 0 or -errno
 * with err naming the file. */
static int ctx_file_sha256(const char *path, uint8_t out[TLS_SHA256_LEN], char *err, size_t cap)
{
    uint8_t buf[4096];
    wc_Sha256 h;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || wc_InitSha256(&h) != 0) {
        int e = fd < 0 ? -errno : -ENOMEM;
        rw__tls_err(err, cap, "%s: cannot read: %s", path, strerror(-e));
        if (fd >= 0)
            close(fd);
        return e;
    }
    ssize_t n;
    int r = 0;
    while (r == 0 && (n = read(fd, buf, sizeof(buf))) != 0) {
        if (n < 0 && errno != EINTR)
            r = -errno;
        else if (n > 0 && wc_Sha256Update(&h, buf, (word32)n) != 0)
            r = -EINVAL;
    }
    if (r == 0 && wc_Sha256Final(&h, out) != 0)
        r = -EINVAL;
    wc_Sha256Free(&h);
    close(fd);
    if (r < 0)
        rw__tls_err(err, cap, "%s: cannot read: %s", path, strerror(-r));
    return r;
}

/* A staple shared by several certificates must answer for at least one of them; err still
 * holds the reason the last certificate dropped it. */
static int ctx_shared_staple_used(const struct rw_tls_server_params *p, const struct rw_tls_ctx *c)
{
    bool shared = false, used = false;
    for (size_t i = 0; i < c->ncerts; i++) {
        shared |= p->certs[i].ocsp_file && p->certs[i].ocsp_shared;
        used |= p->certs[i].ocsp_shared && c->certs[i].ocsp;
    }
    return shared && !used ? -EINVAL : 0;
}

int rw_tls_ctx_new(const struct rw_tls_server_params *p, struct rw_tls_keys *keys,
                   struct rw_tls_ctx **out, char *err, size_t errcap)
{
    *out = NULL;
    int r = ctx_check(p, keys, err, errcap);
    if (r < 0)
        return r;
    struct rw_tls_ctx *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    atomic_init(&c->refs, 1);
    c->client_auth = p->client_auth;
    c->tls13 = p->max_version != RW_TLS_V12;
    if (p->session_tickets) {
        rw_tls_keys_ref(keys);
        c->keys = keys;
    }
    char *ciphers = ctx_cipher_list(p, err, errcap);
    r = ciphers ? 0 : -EINVAL;
    if (r == 0 && p->client_auth != RW_TLS_CLIENT_AUTH_OFF)
        r = ctx_file_sha256(p->client_ca_file, c->client_ca_sha256, err, errcap);
    if (r == 0 && p->nalpn &&
        !(c->alpn = ctx_alpn_wire(p->alpn, p->nalpn, &c->alpn_len, err, errcap)))
        r = -EINVAL;
    if (r == 0)
        c->ciphers_chacha = rw__tls_chacha_first(ciphers);
    if (r == 0 && !(c->certs = calloc(p->ncerts, sizeof(*c->certs))))
        r = -ENOMEM;
    for (size_t i = 0; r == 0 && i < p->ncerts; i++) {
        r = rw__tls_cert_load(&c->certs[i], &p->certs[i], p, c, ciphers, err, errcap);
        if (r == 0)
            c->ncerts++;
        else
            rw__tls_cert_fini(&c->certs[i]); /* partly loaded */
    }
    if (r == 0)
        r = ctx_shared_staple_used(p, c);
    if (r == 0 && p->client_ca_file && p->client_auth != RW_TLS_CLIENT_AUTH_OFF)
        r = rw__tls_stamp_add(&c->stamps, &c->nstamps, p->client_ca_file);
    free(ciphers);
    if (r < 0) {
        ctx_free(c);
        return r;
    }
    /* Without an explicit default, the first certificate (and its twin of the other key
     * type, when one covers exactly the same names) answers unknown names. */
    bool any = false;
    for (size_t i = 0; i < c->ncerts; i++)
        any |= c->certs[i].is_default;
    for (size_t i = 0; !any && i < c->ncerts; i++)
        c->certs[i].is_default = i == 0 || rw__tls_cert_same_names(&c->certs[0], &c->certs[i]);
    *out = c;
    return 0;
}

/* 2: exact name, 1: wildcard covering exactly one label, 0: no match. */
static int cert_match(const struct tls_cert *ct, const char *sni)
{
    int best = 0;
    for (size_t i = 0; i < ct->nnames; i++) {
        const char *n = ct->names[i];
        if (strcmp(n, sni) == 0)
            return 2;
        if (n[0] == '*' && n[1] == '.') {
            const char *dot = strchr(sni, '.');
            if (dot && dot != sni && strcmp(dot + 1, n + 2) == 0)
                best = 1;
        }
    }
    return best;
}

const struct tls_cert *rw__tls_ctx_pick(const struct rw_tls_ctx *c, const struct tls_hello *h)
{
    bool ecdsa_ok = h->ecdsa_sig && ((h->offers13 && c->tls13) || h->ecdsa_suite);
    const struct tls_cert *best = NULL;
    int best_score = 0;
    for (size_t i = 0; i < c->ncerts; i++) {
        const struct tls_cert *ct = &c->certs[i];
        int m = h->sni[0] ? cert_match(ct, h->sni) : 0;
        if (m == 0 && ct->is_default)
            m = 1; /* below any name match: 2 + 2 for a name beats a default */
        else if (m)
            m += 2;
        if (m == 0)
            continue;
        /* One point for the key type the client can use best. */
        int score = m * 2 + (ct->ecdsa == ecdsa_ok);
        if (score > best_score) {
            best = ct;
            best_score = score;
        }
    }
    return best ? best : &c->certs[0];
}
