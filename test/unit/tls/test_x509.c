/* SPDX-License-Identifier: MIT */
/* tls/x509.c: certificate facts from the test PKI, RFC 4514 and SAN text, malformed DER. */
#include "tests.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void parse_file(const char *path, uint8_t **der, size_t *len, struct tls_x509 *x)
{
    *der = pem_der(path, len);
    assert_int_equal(rw__tls_x509_parse(*der, *len, x), 0);
}

static void test_pki_facts(void **state)
{
    (void)state;
    uint8_t *der;
    size_t len;
    struct tls_x509 x;
    char *s = NULL;
    parse_file(D("ec.pem"), &der, &len, &x);
    assert_int_equal(x.key, TLS_KEY_EC);
    assert_true(x.not_before < (int64_t)time(NULL) && x.not_after > (int64_t)time(NULL));
    assert_int_equal(rw__tls_subject_rfc4514(&x.subject, &s), 0);
    assert_string_equal(s, "CN=example.com");
    free(s);
    s = rw__tls_san_text(&x.san);
    assert_string_equal(s, "DNS:example.com, DNS:*.example.com");
    free(s);
    char **names;
    size_t n;
    assert_int_equal(rw__tls_san_dns(&x.san, &names, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "example.com");
    assert_string_equal(names[1], "*.example.com");
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    assert_true(x.spki.p > der && x.spki.p + x.spki.n < der + len && x.spki.p[0] == 0x30);
    free(der);

    parse_file(D("rsa.pem"), &der, &len, &x);
    assert_int_equal(x.key, TLS_KEY_RSA);
    free(der);
    parse_file(D("expired.pem"), &der, &len, &x);
    assert_int_equal(x.not_before, 1577836800); /* 2020-01-01 00:00:00 UTC */
    assert_int_equal(x.not_after, 1580515200);  /* 2020-02-01 00:00:00 UTC */
    free(der);
    parse_file(D("client.pem"), &der, &len, &x);
    assert_int_equal(rw__tls_subject_rfc4514(&x.subject, &s), 0);
    assert_string_equal(s, "CN=alice,O=Ringwall\\, Test,C=US");
    free(s);
    s = rw__tls_san_text(&x.san);
    assert_string_equal(s, "DNS:alice.client, email:alice@example.com");
    free(s);
    free(der);
    parse_file(D("selfclient.pem"), &der, &len, &x);
    assert_int_equal(x.san.n, 0);
    s = rw__tls_san_text(&x.san);
    assert_string_equal(s, "");
    free(s);
    free(der);
}

/* Every truncation and many corruptions of a real certificate: no overrun (ASan), no
 * false success on a truncation. */
static void malformed_der_is_refused(void **state)
{
    (void)state;
    size_t len;
    uint8_t *der = pem_der(D("client.pem"), &len);
    struct tls_x509 x;
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1); /* exact size: ASan sees any overread */
        memcpy(copy, der, cut);
        assert_int_equal(rw__tls_x509_parse(copy, cut, &x), -EINVAL);
        free(copy);
    }
    uint8_t *copy = malloc(len);
    for (size_t i = 0; i < len; i++) {
        static const uint8_t flips[] = {0x00, 0xff, 0x80, 0x81, 0x84, 0x1f};
        for (size_t k = 0; k < sizeof(flips); k++) {
            memcpy(copy, der, len);
            copy[i] = flips[k];
            if (rw__tls_x509_parse(copy, len, &x) == 0) {
                char *s = NULL;
                if (rw__tls_subject_rfc4514(&x.subject, &s) == 0)
                    free(s);
                free(rw__tls_san_text(&x.san));
            }
        }
    }
    free(copy);
    free(der);
}

/* Build DER by hand: tag, then contents of n bytes (n < 128). */
static size_t tlv(uint8_t *out, uint8_t tag, const void *p, size_t n)
{
    out[0] = tag;
    out[1] = (uint8_t)n;
    memcpy(out + 2, p, n);
    return n + 2;
}

static size_t atv(uint8_t *out, const uint8_t *oid, size_t oid_len, uint8_t vtag, const void *v,
                  size_t vn)
{
    uint8_t in[128];
    size_t n = tlv(in, 0x06, oid, oid_len);
    n += tlv(in + n, vtag, v, vn);
    return tlv(out, 0x30, in, n);
}

static char *subject_of(const uint8_t *name, size_t n)
{
    struct tls_span s = {name, n};
    char *out = NULL;
    assert_int_equal(rw__tls_subject_rfc4514(&s, &out), 0);
    return out;
}

static void rfc4514_rules(void **state)
{
    (void)state;
    static const uint8_t cn[] = {0x55, 0x04, 0x03}, ou[] = {0x55, 0x04, 0x0b};
    static const uint8_t email[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01};
    static const uint8_t odd[] = {0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x3c};
    static const uint8_t bmp[] = {0x00, 'h', 0x00, 0xe9, 0x20, 0xac};
    uint8_t a[128], b[128], set[256], name[512];
    size_t n = 0, na, nb;
    /* RDN 1: a multi-valued RDN; RDN 2: an escaped value; RDN 3: a BMPString; RDN 4: an
     * unknown attribute type with a non-string value; RDN 5: emailAddress. */
    na = atv(a, cn, sizeof(cn), 0x0c, "x", 1);
    nb = atv(b, ou, sizeof(ou), 0x13, "y", 1);
    memcpy(set, a, na);
    memcpy(set + na, b, nb);
    n += tlv(name + n, 0x31, set, na + nb);
    na = atv(a, cn, sizeof(cn), 0x0c, "# a;b\x01 ", 7);
    n += tlv(name + n, 0x31, a, na);
    na = atv(a, cn, sizeof(cn), 0x1e, bmp, sizeof(bmp));
    n += tlv(name + n, 0x31, a, na);
    na = atv(a, odd, sizeof(odd), 0x02, "\x05", 1);
    n += tlv(name + n, 0x31, a, na);
    na = atv(a, email, sizeof(email), 0x16, "a@b", 3);
    n += tlv(name + n, 0x31, a, na);
    char *s = subject_of(name, n);
    assert_string_equal(s, "1.2.840.113549.1.9.1=a@b,1.3.6.1.4.1.311.60=#020105,"
                           "CN=h\xc3\xa9\xe2\x82\xac,CN=\\# a\\;b\\01\\ ,CN=x+OU=y");
    free(s);
    /* An empty Name is an empty string; a Name with a stray element is refused. */
    s = subject_of(name, 0);
    assert_string_equal(s, "");
    free(s);
    struct tls_span bad = {a, na};
    assert_int_equal(rw__tls_subject_rfc4514(&bad, &s), -EINVAL);
}

static void san_text_rules(void **state)
{
    (void)state;
    uint8_t san[256];
    size_t n = 0;
    n += tlv(san + n, 0x87, "\x0a\x00\x00\x01", 4);
    n += tlv(san + n, 0x87, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
    n += tlv(san + n, 0x86, "https://a,b", 11);
    n += tlv(san + n, 0x82, "EVIL\r\n.example", 14);
    n += tlv(san + n, 0xa0, "\x06\x01\x01", 3); /* otherName: skipped */
    struct tls_span s = {san, n};
    char *t = rw__tls_san_text(&s);
    assert_string_equal(t, "IP:10.0.0.1, IP:2001:db8:0:0:0:0:0:1, URI:https://a?b, "
                           "DNS:EVIL??.example");
    free(t);
    char **names;
    size_t cnt;
    assert_int_equal(rw__tls_san_dns(&s, &names, &cnt), 0);
    assert_int_equal(cnt, 1);
    assert_string_equal(names[0], "evil\r\n.example");
    free(names[0]);
    free(names);
}

int run_x509_tests(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(test_pki_facts),
        cmocka_unit_test(malformed_der_is_refused),
        cmocka_unit_test(rfc4514_rules),
        cmocka_unit_test(san_text_rules),
    };
    return cmocka_run_group_tests_name("tls/x509", t, NULL, NULL);
}
