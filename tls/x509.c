/* SPDX-License-Identifier: MIT */
/* The X.509 facts ringwall needs (names, dates, key type), read from DER without wolfSSL. */
#include "tls/tls-int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <wolfssl/wolfcrypt/asn_public.h>

#define PEM_MAX (1024u * 1024u)

/* A bounds-checked DER reader: any malformed or overlong element sets bad. */
struct der {
    const uint8_t *p;
    size_t n;
    bool bad;
};

/* The next TLV: its tag (-1 at the end or when malformed) and its contents in *val. Only
 * low tag numbers and definite lengths (DER) are accepted. */
static int der_next(struct der *d, struct der *val)
{
    *val = (struct der){NULL, 0, true};
    if (d->bad || d->n < 2 || (d->p[0] & 0x1f) == 0x1f) {
        d->bad = d->bad || d->n != 0;
        return -1;
    }
    int tag = d->p[0];
    size_t len = d->p[1], hdr = 2;
    if (len & 0x80) {
        size_t nb = len & 0x7f;
        if (nb == 0 || nb > 4 || d->n < 2 + nb) {
            d->bad = true;
            return -1;
        }
        len = 0;
        for (size_t i = 0; i < nb; i++)
            len = len << 8 | d->p[2 + i];
        hdr += nb;
    }
    if (len > d->n - hdr) {
        d->bad = true;
        return -1;
    }
    *val = (struct der){d->p + hdr, len, false};
    d->p += hdr + len;
    d->n -= hdr + len;
    return tag;
}

/* The next TLV must have this tag. */
static struct der der_expect(struct der *d, int tag)
{
    struct der v;
    if (der_next(d, &v) != tag) {
        d->bad = true;
        v = (struct der){NULL, 0, true};
    }
    return v;
}

static bool der_is(const struct der *v, const uint8_t *bytes, size_t n)
{
    return !v->bad && v->n == n && memcmp(v->p, bytes, n) == 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const uint8_t *p, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

/* RFC 5280 4.1.2.5: UTCTime YYMMDDHHMMSSZ or GeneralizedTime YYYYMMDDHHMMSSZ. */
static int der_time(struct der *d, int64_t *out)
{
    struct der v;
    int tag = der_next(d, &v);
    size_t yl = tag == 0x17 ? 2 : 4;
    if ((tag != 0x17 && tag != 0x18) || v.n != yl + 11 || v.p[v.n - 1] != 'Z')
        return -EINVAL;
    int y = digits(v.p, yl), mo = digits(v.p + yl, 2), da = digits(v.p + yl + 2, 2);
    int h = digits(v.p + yl + 4, 2), mi = digits(v.p + yl + 6, 2), s = digits(v.p + yl + 8, 2);
    if (y < 0 || mo < 1 || mo > 12 || da < 1 || da > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
        s < 0 || s > 60)
        return -EINVAL;
    if (tag == 0x17)
        y += y < 50 ? 2000 : 1900;
    *out = days_from_civil(y, (unsigned)mo, (unsigned)da) * 86400 + h * 3600 + mi * 60 + s;
    return 0;
}

static enum tls_key spki_key(struct der spki)
{
    static const uint8_t ec[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01};
    static const uint8_t rsa[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01};
    struct der alg = der_expect(&spki, 0x30);
    struct der oid = der_expect(&alg, 0x06);
    return der_is(&oid, ec, sizeof(ec))     ? TLS_KEY_EC
           : der_is(&oid, rsa, sizeof(rsa)) ? TLS_KEY_RSA
                                            : TLS_KEY_OTHER;
}

/* Extensions: only subjectAltName (2.5.29.17) is kept. False when malformed. */
static bool x509_exts(struct der exts, struct tls_x509 *x)
{
    static const uint8_t san[] = {0x55, 0x1d, 0x11};
    struct der list = der_expect(&exts, 0x30), ext;
    while (!list.bad && list.n > 0) {
        ext = der_expect(&list, 0x30);
        struct der oid = der_expect(&ext, 0x06), v;
        int tag = der_next(&ext, &v);
        if (tag == 0x01) /* critical */
            tag = der_next(&ext, &v);
        if (tag != 0x04) {
            list.bad = true;
            break;
        }
        if (der_is(&oid, san, sizeof(san))) {
            struct der names = der_expect(&v, 0x30);
            x->san = (struct tls_span){names.p, names.bad ? 0 : names.n};
        }
    }
    return !list.bad && !exts.bad;
}

int rw__tls_x509_parse(const uint8_t *der, size_t len, struct tls_x509 *x)
{
    memset(x, 0, sizeof(*x));
    struct der all = {der, len, false}, v;
    struct der cert = der_expect(&all, 0x30);
    struct der tbs = der_expect(&cert, 0x30);
    if (tbs.bad || all.n != 0)
        return -EINVAL;
    int tag = der_next(&tbs, &v);
    if (tag == 0xa0) /* version */
        tag = der_next(&tbs, &v);
    if (tag != 0x02) /* serialNumber */
        return -EINVAL;
    der_expect(&tbs, 0x30); /* signature */
    der_expect(&tbs, 0x30); /* issuer */
    struct der validity = der_expect(&tbs, 0x30);
    if (tbs.bad || der_time(&validity, &x->not_before) < 0 ||
        der_time(&validity, &x->not_after) < 0)
        return -EINVAL;
    struct der subject = der_expect(&tbs, 0x30);
    x->subject = (struct tls_span){subject.p, subject.n};
    const uint8_t *mark = tbs.p;
    struct der spki = der_expect(&tbs, 0x30);
    if (tbs.bad)
        return -EINVAL;
    x->spki = (struct tls_span){mark, (size_t)(tbs.p - mark)};
    x->key = spki_key(spki);
    bool ok = true;
    while (ok && !tbs.bad && tbs.n > 0) {
        tag = der_next(&tbs, &v);
        if (tag == 0xa3) /* extensions; [1] and [2] unique ids are skipped */
            ok = x509_exts(v, x);
    }
    return tbs.bad || !ok ? -EINVAL : 0;
}

int rw__tls_pem_cert(const char *path, uint8_t **der, size_t *len)
{
    *der = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return -errno;
    uint8_t *pem = malloc(PEM_MAX);
    size_t n = pem ? fread(pem, 1, PEM_MAX, f) : 0;
    fclose(f);
    if (!pem)
        return -ENOMEM;
    int r = n > 0 && n < PEM_MAX ? wc_CertPemToDer(pem, (int)n, pem, (int)n, CERT_TYPE) : -1;
    if (r <= 0) {
        free(pem);
        return -EINVAL;
    }
    /* The DER is shorter than its PEM: decoded in place, then trimmed. */
    uint8_t *trim = realloc(pem, (size_t)r);
    *der = trim ? trim : pem;
    *len = (size_t)r;
    return 0;
}

/* ---- text: RFC 4514 subjects and subjectAltName lists ------------------------------------ */

/* A growable string; on allocation failure it stays NULL and every append is a no-op. */
struct sbuf {
    char *p;
    size_t len, cap;
    bool fail;
};

static void sb_add(struct sbuf *b, const void *s, size_t n)
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

static void sb_str(struct sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static char *sb_take(struct sbuf *b)
{
    if (!b->fail && !b->p)
        sb_add(b, "", 0);
    return b->p;
}

/* RFC 4514 section 2.4 escaping of one attribute value (UTF-8 passes through). */
static void rfc4514_value(struct sbuf *b, const uint8_t *d, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        uint8_t ch = d[i];
        char tmp[4];
        if (ch < 0x20 || ch == 0x7f) {
            snprintf(tmp, sizeof(tmp), "\\%02X", ch);
            sb_add(b, tmp, 3);
            continue;
        }
        if (strchr("\"+,;<>\\", ch) || (i == 0 && (ch == '#' || ch == ' ')) ||
            (i == len - 1 && ch == ' '))
            sb_add(b, "\\", 1);
        sb_add(b, &ch, 1);
    }
}

/* BMPString (w = 2) or UniversalString (w = 4), big-endian code points, as UTF-8. */
static void wide_value(struct sbuf *b, const uint8_t *d, size_t len, size_t w)
{
    struct sbuf u = {0};
    for (size_t i = 0; i + w <= len; i += w) {
        uint32_t c = 0;
        for (size_t k = 0; k < w; k++)
            c = c << 8 | d[i + k];
        uint8_t o[4];
        size_t n;
        if (c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
            c = 0xfffd;
        if (c < 0x80) {
            o[0] = (uint8_t)c, n = 1;
        } else if (c < 0x800) {
            o[0] = (uint8_t)(0xc0 | c >> 6), o[1] = (uint8_t)(0x80 | (c & 0x3f)), n = 2;
        } else if (c < 0x10000) {
            o[0] = (uint8_t)(0xe0 | c >> 12), o[1] = (uint8_t)(0x80 | (c >> 6 & 0x3f));
            o[2] = (uint8_t)(0x80 | (c & 0x3f)), n = 3;
        } else {
            o[0] = (uint8_t)(0xf0 | c >> 18), o[1] = (uint8_t)(0x80 | (c >> 12 & 0x3f));
            o[2] = (uint8_t)(0x80 | (c >> 6 & 0x3f)), o[3] = (uint8_t)(0x80 | (c & 0x3f)), n = 4;
        }
        sb_add(&u, o, n);
    }
    if (u.fail)
        b->fail = true;
    else if (u.p)
        rfc4514_value(b, (const uint8_t *)u.p, u.len);
    free(u.p);
}

/* Dotted-decimal text of an OID's contents; false when malformed. */
static bool oid_text(struct sbuf *b, const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        if (v > (UINT64_MAX >> 7) || (v == 0 && p[i] == 0x80))
            return false;
        v = v << 7 | (p[i] & 0x7f);
        if (p[i] & 0x80)
            continue;
        char tmp[48];
        if (first)
            snprintf(tmp, sizeof(tmp), "%u.%llu", v < 80 ? (unsigned)(v / 40) : 2u,
                     (unsigned long long)(v < 80 ? v % 40 : v - 80));
        else
            snprintf(tmp, sizeof(tmp), ".%llu", (unsigned long long)v);
        sb_str(b, tmp);
        first = false;
        v = 0;
    }
    return n > 0 && !(p[n - 1] & 0x80);
}

/* RFC 4514 section 3 names, and RFC 4519's for other common attributes; the rest (e.g.
 * emailAddress) as dotted decimal. */
static const char *attr_name(const uint8_t *p, size_t n)
{
    static const struct {
        uint8_t id;
        const char *name;
    } x520[] = {{3, "CN"},
                {4, "SN"},
                {5, "serialNumber"},
                {6, "C"},
                {7, "L"},
                {8, "ST"},
                {9, "STREET"},
                {10, "O"},
                {11, "OU"},
                {12, "title"},
                {15, "businessCategory"},
                {17, "postalCode"},
                {42, "GN"},
                {43, "initials"},
                {44, "generationQualifier"},
                {46, "dnQualifier"},
                {65, "pseudonym"}};
    static const uint8_t pilot[] = {0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01};
    if (n == 3 && p[0] == 0x55 && p[1] == 0x04) {
        for (size_t i = 0; i < sizeof(x520) / sizeof(x520[0]); i++)
            if (x520[i].id == p[2])
                return x520[i].name;
    }
    if (n == sizeof(pilot) + 1 && memcmp(p, pilot, sizeof(pilot)) == 0)
        return p[n - 1] == 25 ? "DC" : p[n - 1] == 1 ? "UID" : NULL;
    return NULL;
}

/* One AttributeTypeAndValue as type=value; false when malformed. */
static bool rfc4514_atv(struct sbuf *b, struct der atv)
{
    struct der oid = der_expect(&atv, 0x06), v;
    const uint8_t *tlv = atv.p;
    int tag = der_next(&atv, &v);
    if (oid.bad || tag < 0 || atv.n != 0)
        return false;
    const char *name = attr_name(oid.p, oid.n);
    if (name)
        sb_str(b, name);
    else if (!oid_text(b, oid.p, oid.n))
        return false;
    sb_add(b, "=", 1);
    switch (tag) {
    case 0x0c: /* UTF8String */
    case 0x12: /* NumericString */
    case 0x13: /* PrintableString */
    case 0x14: /* TeletexString */
    case 0x16: /* IA5String */
    case 0x1a: /* VisibleString */
        rfc4514_value(b, v.p, v.n);
        break;
    case 0x1c: /* UniversalString */
    case 0x1e: /* BMPString */
        wide_value(b, v.p, v.n, tag == 0x1e ? 2 : 4);
        break;
    default: /* RFC 4514 2.4: any other type as '#' and the hex of its BER encoding */
        sb_add(b, "#", 1);
        for (const uint8_t *q = tlv; q < v.p + v.n; q++) {
            char tmp[3];
            snprintf(tmp, sizeof(tmp), "%02X", *q);
            sb_add(b, tmp, 2);
        }
    }
    return true;
}

int rw__tls_subject_rfc4514(const struct tls_span *name, char **out)
{
    /* RFC 4514: the last RDN first; the RDNs are found by a forward pass. */
    struct der rdns[64], list = {name->p, name->n, false}, rdn;
    size_t nrdn = 0;
    bool ok = true;
    *out = NULL;
    while (ok && list.n > 0) {
        ok = der_next(&list, &rdn) == 0x31 && nrdn < sizeof(rdns) / sizeof(rdns[0]);
        if (ok)
            rdns[nrdn++] = rdn;
    }
    struct sbuf b = {0};
    for (size_t i = nrdn; ok && i-- > 0;) {
        if (b.len)
            sb_add(&b, ",", 1);
        struct der atv;
        for (int k = 0; ok && rdns[i].n > 0; k++) {
            ok = der_next(&rdns[i], &atv) == 0x30;
            if (ok && k)
                sb_add(&b, "+", 1); /* a multi-valued RDN */
            ok = ok && rfc4514_atv(&b, atv);
        }
    }
    if (!ok) {
        free(b.p);
        return -EINVAL;
    }
    *out = sb_take(&b);
    return *out ? 0 : -ENOMEM;
}

static void san_ip(struct sbuf *b, const uint8_t *d, size_t len)
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
    sb_str(b, tmp);
}

char *rw__tls_san_text(const struct tls_span *san)
{
    struct sbuf b = {0};
    struct der list = {san->p, san->n, false}, v;
    int tag;
    while ((tag = der_next(&list, &v)) >= 0) {
        const char *label = tag == 0x82   ? "DNS:"
                            : tag == 0x81 ? "email:"
                            : tag == 0x86 ? "URI:"
                            : tag == 0x87 ? "IP:"
                                          : NULL;
        if (!label)
            continue;
        if (b.len)
            sb_add(&b, ", ", 2);
        sb_str(&b, label);
        if (tag == 0x87) {
            san_ip(&b, v.p, v.n);
            continue;
        }
        for (size_t k = 0; k < v.n; k++) /* controls and commas would forge list entries */
            sb_add(&b,
                   v.p[k] < 0x20 || v.p[k] == 0x7f || v.p[k] == ',' ? "?" : (const char *)v.p + k,
                   1);
    }
    return sb_take(&b);
}

int rw__tls_san_dns(const struct tls_span *san, char ***names, size_t *n)
{
    *names = NULL;
    *n = 0;
    struct der list = {san->p, san->n, false}, v;
    size_t cnt = 0;
    while (der_next(&list, &v) >= 0)
        cnt++;
    if (cnt == 0)
        return 0;
    if (!(*names = calloc(cnt, sizeof(char *))))
        return -ENOMEM;
    list = (struct der){san->p, san->n, false};
    for (int tag; (tag = der_next(&list, &v)) >= 0;) {
        if (tag != 0x82)
            continue;
        char *s = malloc(v.n + 1);
        if (!s)
            return -ENOMEM;
        for (size_t k = 0; k < v.n; k++)
            s[k] = (char)(v.p[k] >= 'A' && v.p[k] <= 'Z' ? v.p[k] + 32 : v.p[k]);
        s[v.n] = '\0';
        (*names)[(*n)++] = s;
    }
    return 0;
}
