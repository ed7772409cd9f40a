/* SPDX-License-Identifier: MIT */
/* tls/hello.c: the ClientHello peek on real hellos, split, fragmented and broken ones. */
#include "tests.h"

#include <stdlib.h>
#include <string.h>

/* A real ClientHello from a client conn (ciphers as given, max version as given). */
static size_t real_hello(uint8_t *buf, size_t cap, const char *sni, const char *ciphers,
                         uint16_t maxv)
{
    struct rw_tls_client_params cp = cli_params();
    cp.ciphers = ciphers;
    cp.max_version = maxv;
    struct rw_tls_client_ctx *c = cli_ctx(&cp);
    int err = 0;
    struct rw_tls_conn *t = rw_tls_conn_client(c, sni, NULL, &err);
    assert_non_null(t);
    struct iovec iov[4];
    size_t n = 0;
    int k = rw_tls_conn_output(t, iov, 4);
    for (int i = 0; i < k; i++) {
        assert_true(n + iov[i].iov_len <= cap);
        memcpy(buf + n, iov[i].iov_base, iov[i].iov_len);
        n += iov[i].iov_len;
    }
    rw_tls_conn_free(t);
    rw_tls_client_ctx_unref(c);
    return n;
}

static void parses_real_hellos(void **state)
{
    (void)state;
    uint8_t buf[4096];
    struct tls_hello h;
    size_t n = real_hello(buf, sizeof(buf), "WWW.Example.com", NULL, 0);
    assert_int_equal(rw__tls_hello_parse(buf, n, NULL, 0, &h), TLS_HELLO_OK);
    assert_string_equal(h.sni, "www.example.com");
    assert_true(h.offers13);
    assert_true(h.ecdsa_sig);
    assert_false(h.chacha_first);
    for (size_t cut = 0; cut < n; cut += 7)
        assert_int_equal(rw__tls_hello_parse(buf, cut, NULL, 0, &h), TLS_HELLO_AGAIN);
    n = real_hello(buf, sizeof(buf), NULL,
                   "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256", RW_TLS_V12);
    assert_int_equal(rw__tls_hello_parse(buf, n, NULL, 0, &h), TLS_HELLO_OK);
    assert_string_equal(h.sni, "");
    assert_false(h.offers13);
    assert_false(h.ecdsa_suite);
    assert_true(h.chacha_first);
}

/* The same hello split over two records must give the same answer. */
static void joins_fragmented_records(void **state)
{
    (void)state;
    uint8_t buf[4096], frag[4200];
    struct tls_hello a, b;
    size_t n = real_hello(buf, sizeof(buf), "other.test", NULL, 0);
    assert_int_equal(rw__tls_hello_parse(buf, n, NULL, 0, &a), TLS_HELLO_OK);
    size_t body = n - 5, first = body / 3;
    memcpy(frag, buf, 5);
    frag[3] = (uint8_t)(first >> 8);
    frag[4] = (uint8_t)first;
    memcpy(frag + 5, buf + 5, first);
    memcpy(frag + 5 + first, buf, 5);
    frag[5 + first + 3] = (uint8_t)((body - first) >> 8);
    frag[5 + first + 4] = (uint8_t)(body - first);
    memcpy(frag + 10 + first, buf + 5 + first, body - first);
    assert_int_equal(rw__tls_hello_parse(frag, n + 5, NULL, 0, &b), TLS_HELLO_OK);
    assert_string_equal(b.sni, "other.test");
    assert_int_equal(a.offers13, b.offers13);
    assert_int_equal(rw__tls_hello_parse(frag, n, NULL, 0, &b), TLS_HELLO_AGAIN);
}

static void refuses_garbage(void **state)
{
    (void)state;
    struct tls_hello h;
    static const uint8_t http[] = "GET / HTTP/1.1\r\n\r\n";
    assert_int_equal(rw__tls_hello_parse(http, sizeof(http) - 1, NULL, 0, &h), TLS_HELLO_BAD);
    static const uint8_t not_hello[] = {22, 3, 1, 0, 4, 2, 0, 0, 0};
    assert_int_equal(rw__tls_hello_parse(not_hello, sizeof(not_hello), NULL, 0, &h), TLS_HELLO_BAD);
    static const uint8_t short_body[] = {22, 3, 1, 0, 8, 1, 0, 0, 4, 3, 3, 0, 0};
    assert_int_equal(rw__tls_hello_parse(short_body, sizeof(short_body), NULL, 0, &h),
                     TLS_HELLO_BAD);
    static const uint8_t empty_rec[] = {22, 3, 1, 0, 0};
    assert_int_equal(rw__tls_hello_parse(empty_rec, sizeof(empty_rec), NULL, 0, &h), TLS_HELLO_BAD);
}

int run_hello_tests(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(parses_real_hellos),
        cmocka_unit_test(joins_fragmented_records),
        cmocka_unit_test(refuses_garbage),
    };
    return cmocka_run_group_tests_name("tls/hello", t, NULL, NULL);
}
