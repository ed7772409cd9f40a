/* SPDX-License-Identifier: MIT */
/* A read-only ClientHello peek: SNI, ECDSA support, cipher and ALPN choice, to pick a cert. */
#include "tls/tls-int.h"

#include <stdlib.h>
#include <string.h>

#define HELLO_MAX (64u * 1024u) /* a larger ClientHello is refused (wolfSSL would too) */
#define REC_HDR 5u
#define HS_HDR 4u

/* A bounds-checked reader; any overrun sets bad and yields zeros. */
struct rd {
    const uint8_t *p;
    size_t n;
    bool bad;
};

static uint32_t rd_u(struct rd *r, size_t w)
{
    uint32_t v = 0;
    if (r->bad || r->n < w) {
        r->bad = true;
        return 0;
    }
    for (size_t i = 0; i < w; i++)
        v = v << 8 | r->p[i];
    r->p += w;
    r->n -= w;
    return v;
}

/* Split off the next len bytes as a sub-reader. */
static struct rd rd_sub(struct rd *r, size_t len)
{
    struct rd s = {r->p, len, r->bad || r->n < len};
    if (s.bad) {
        r->bad = true;
        s.n = 0;
        return s;
    }
    r->p += len;
    r->n -= len;
    return s;
}

static void hello_sni(struct rd e, struct tls_hello *h)
{
    struct rd list = rd_sub(&e, rd_u(&e, 2));
    while (!list.bad && list.n > 0) {
        uint32_t type = rd_u(&list, 1);
        struct rd name = rd_sub(&list, rd_u(&list, 2));
        if (list.bad || type != 0)
            continue;
        if (name.n == 0 || name.n >= sizeof(h->sni))
            return;
        for (size_t i = 0; i < name.n; i++) {
            uint8_t c = name.p[i];
            if (c <= 0x20 || c >= 0x7f)
                return; /* not a host name: treat as no SNI */
            h->sni[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        h->sni[name.n] = '\0';
        return;
    }
}

static void hello_sigalgs(struct rd e, struct tls_hello *h)
{
    struct rd list = rd_sub(&e, rd_u(&e, 2));
    h->ecdsa_sig = false;
    while (!list.bad && list.n >= 2) {
        uint32_t a = rd_u(&list, 2);
        if (a == 0x0403 || a == 0x0503 || a == 0x0603)
            h->ecdsa_sig = true;
    }
}

static void hello_versions(struct rd e, struct tls_hello *h)
{
    struct rd list = rd_sub(&e, rd_u(&e, 1));
    while (!list.bad && list.n >= 2)
        if (rd_u(&list, 2) == RW_TLS_V13)
            h->offers13 = true;
}

static void hello_suites(struct rd s, struct tls_hello *h)
{
    bool known = false;
    while (!s.bad && s.n >= 2) {
        uint32_t c = rd_u(&s, 2);
        bool chacha = c == 0x1303 || c == 0xCCA8 || c == 0xCCA9;
        bool aes = c == 0x1301 || c == 0x1302 || (c >= 0xC02B && c <= 0xC030);
        if (c == 0xC02B || c == 0xC02C || c == 0xCCA9)
            h->ecdsa_suite = true;
        if (!known && (chacha || aes)) {
            known = true;
            h->chacha_first = chacha;
        }
    }
}

/* Server preference: the first protocol of ours (wire format) that the client lists. */
static void hello_alpn(struct rd e, const uint8_t *ours, size_t ours_len, struct tls_hello *h)
{
    struct rd list = rd_sub(&e, rd_u(&e, 2));
    for (size_t o = 0; !list.bad && o < ours_len; o += 1u + ours[o]) {
        struct rd c = list;
        while (!c.bad && c.n > 0) {
            struct rd name = rd_sub(&c, rd_u(&c, 1));
            if (!c.bad && name.n == ours[o] && memcmp(name.p, ours + o + 1, name.n) == 0) {
                h->alpn = ours + o + 1;
                h->alpn_len = ours[o];
                return;
            }
        }
    }
}

static enum tls_hello_res hello_body(struct rd b, const uint8_t *alpn, size_t alpn_len,
                                     struct tls_hello *h)
{
    memset(h, 0, sizeof(*h));
    h->ecdsa_sig = true; /* absent signature_algorithms: decided by the suites */
    rd_u(&b, 2);         /* legacy_version */
    rd_sub(&b, 32);      /* random */
    rd_sub(&b, rd_u(&b, 1));
    hello_suites(rd_sub(&b, rd_u(&b, 2)), h);
    rd_sub(&b, rd_u(&b, 1)); /* compression methods */
    if (b.bad)
        return TLS_HELLO_BAD;
    if (b.n == 0)
        return TLS_HELLO_OK;
    struct rd exts = rd_sub(&b, rd_u(&b, 2));
    while (!exts.bad && exts.n > 0) {
        uint32_t type = rd_u(&exts, 2);
        struct rd e = rd_sub(&exts, rd_u(&exts, 2));
        if (exts.bad)
            break;
        if (type == 0)
            hello_sni(e, h);
        else if (type == 13)
            hello_sigalgs(e, h);
        else if (type == 43)
            hello_versions(e, h);
        else if (type == 16)
            hello_alpn(e, alpn, alpn_len, h);
    }
    return exts.bad ? TLS_HELLO_BAD : TLS_HELLO_OK;
}

/* Gather the handshake bytes of consecutive type-22 records into dst (may be NULL to only
 * count); returns the number of bytes available, or -1 for a non-handshake record. */
static long hello_gather(const uint8_t *p, size_t n, uint8_t *dst, size_t want)
{
    size_t got = 0;
    while (n >= REC_HDR && got < want) {
        if (p[0] != 22)
            return -1;
        size_t len = (size_t)p[3] << 8 | p[4];
        if (len == 0 || len > 16384 + 2048)
            return -1;
        size_t avail = n - REC_HDR < len ? n - REC_HDR : len;
        size_t take = want - got < avail ? want - got : avail;
        if (dst)
            memcpy(dst + got, p + REC_HDR, take);
        got += take;
        if (avail < len)
            break;
        p += REC_HDR + len;
        n -= REC_HDR + len;
    }
    return (long)got;
}

enum tls_hello_res rw__tls_hello_parse(const uint8_t *p, size_t n, const uint8_t *alpn,
                                       size_t alpn_len, struct tls_hello *h)
{
    uint8_t hdr[HS_HDR];
    long got = hello_gather(p, n, hdr, HS_HDR);
    if (got < 0)
        return TLS_HELLO_BAD;
    if (got < (long)HS_HDR)
        return TLS_HELLO_AGAIN;
    if (hdr[0] != 1)
        return TLS_HELLO_BAD;
    size_t blen = (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
    if (blen > HELLO_MAX)
        return TLS_HELLO_BAD;
    size_t want = HS_HDR + blen;
    /* The usual case: the whole message sits in the first record. */
    if (n >= REC_HDR + want && ((size_t)p[3] << 8 | p[4]) >= want) {
        struct rd b = {p + REC_HDR + HS_HDR, blen, false};
        return hello_body(b, alpn, alpn_len, h);
    }
    got = hello_gather(p, n, NULL, want);
    if (got < 0)
        return TLS_HELLO_BAD;
    if ((size_t)got < want)
        return TLS_HELLO_AGAIN;
    uint8_t *buf = malloc(want);
    if (!buf)
        return TLS_HELLO_BAD;
    hello_gather(p, n, buf, want);
    struct rd b = {buf + HS_HDR, blen, false};
    enum tls_hello_res r = hello_body(b, alpn, alpn_len, h);
    free(buf);
    return r;
}
