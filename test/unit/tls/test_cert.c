/* SPDX-License-Identifier: MIT */
/* tls/cert.c: OCSP stapling from a DER file (TLS 1.2 and 1.3), full chains, SAN names. */
#include "tests.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static uint8_t buf[8192];
    *n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    return buf;
}

/* Server ciphertext of a TLS 1.2 handshake with a client asking for a staple: the
 * CertificateStatus message is plaintext in 1.2, so the DER response shows verbatim. */
static bool staple_seen(struct rw_tls_ctx *s, const char *der_file)
{
    struct rw_tls_client_params cp = cli_params();
    cp.verify = false;
    cp.ocsp = true;
    cp.max_version = RW_TLS_V12;
    struct rw_tls_client_ctx *c = cli_ctx(&cp);
    int err = 0;
    struct side srv = {.t = rw_tls_conn_server(s, &err)}, cli = {0};
    cli.t = rw_tls_conn_client(c, "example.com", NULL, &err);
    struct iovec iov[16];
    int n = rw_tls_conn_output(cli.t, iov, 16);
    for (int i = 0; i < n; i++)
        assert_int_equal(rw_tls_conn_input(srv.t, iov[i].iov_base, iov[i].iov_len), 0);
    int hr = rw_tls_conn_handshake(srv.t);
    if (hr != -EAGAIN)
        fail_msg("server: %d %s", hr, rw_tls_conn_error(srv.t));

    size_t dlen, total = 0;
    const uint8_t *der = slurp(der_file, &dlen);
    static uint8_t flight[65536];
    n = rw_tls_conn_output(srv.t, iov, 16);
    for (int i = 0; i < n; i++) {
        memcpy(flight + total, iov[i].iov_base, iov[i].iov_len);
        total += iov[i].iov_len;
    }
    side_free(&srv);
    side_free(&cli);
    rw_tls_client_ctx_unref(c);
    return memmem(flight, total, der, dlen) != NULL;
}

static struct rw_tls_ctx *ocsp_ctx(const char *ocsp_file)
{
    struct rw_tls_cert_params cp = {
        .cert_file = D("ec.pem"), .key_file = D("ec.key"), .ocsp_file = ocsp_file};
    struct rw_tls_server_params p = srv_params();
    p.certs = &cp;
    p.ncerts = 1;
    return srv_ctx(&p, NULL);
}

/* A verifying client that asks for a staple and checks it; with must_staple it also fails
 * the handshake when none comes. Returns the client's result. */
static int stapled_sni(struct rw_tls_ctx *s, uint16_t version, bool must_staple, const char *sni)
{
    struct rw_tls_client_params cp = cli_params();
    cp.ocsp = true;
    cp.min_version = cp.max_version = version;
    struct rw_tls_client_ctx *c = cli_ctx(&cp);
    if (must_staple)
        assert_int_equal(wolfSSL_CTX_EnableOCSPMustStaple(c->ssl_ctx), WOLFSSL_SUCCESS);
    struct side srv, cli;
    connect_pair(s, c, sni, NULL, &srv, &cli);
    int r = rw_tls_conn_ready(cli.t) ? 0 : cli.err ? cli.err : -EAGAIN;
    if (r == 0) {
        struct rw_tls_info i;
        assert_int_equal(rw_tls_conn_info(cli.t, &i), 0);
        assert_string_equal(i.version, version == RW_TLS_V13 ? "TLSv1.3" : "TLSv1.2");
    }
    side_free(&srv);
    side_free(&cli);
    rw_tls_client_ctx_unref(c);
    return r;
}

static int stapled_handshake(struct rw_tls_ctx *s, uint16_t version, bool must_staple)
{
    return stapled_sni(s, version, must_staple, "example.com");
}

static void ocsp_staple_sent_tls12(void **state)
{
    (void)state;
    struct rw_tls_ctx *with = ocsp_ctx(D("ec.ocsp.der")), *without = ocsp_ctx(NULL);
    assert_true(staple_seen(with, D("ec.ocsp.der")));
    assert_false(staple_seen(without, D("ec.ocsp.der")));
    assert_int_equal(stapled_handshake(with, RW_TLS_V12, false), 0);
    assert_int_equal(stapled_handshake(with, RW_TLS_V12, true), 0);
    assert_int_equal(stapled_handshake(without, RW_TLS_V12, true), -EPROTO);
    rw_tls_ctx_unref(with);
    rw_tls_ctx_unref(without);
}

/* TLS 1.3 carries the staple encrypted, in the Certificate entry's extension: prove it is
 * there through the client, which verifies it and, when it insists on a staple, fails
 * without one. Every handshake after the first is answered from wolfSSL's cache. */
static void ocsp_staple_sent_tls13(void **state)
{
    (void)state;
    struct rw_tls_ctx *good = ocsp_ctx(D("ec.ocsp.der"));
    struct rw_tls_ctx *none = ocsp_ctx(NULL);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(stapled_handshake(good, RW_TLS_V13, false), 0);
        assert_int_equal(stapled_handshake(good, RW_TLS_V13, true), 0);
    }
    assert_int_equal(stapled_handshake(none, RW_TLS_V13, false), 0);
    assert_int_equal(stapled_handshake(none, RW_TLS_V13, true), -EPROTO);
    rw_tls_ctx_unref(good);
    rw_tls_ctx_unref(none);
}

/* A response for another certificate (the RSA leaf's) would never be stapled: refused at
 * load, with the file named. */
static void ocsp_wrong_certificate_refused(void **state)
{
    (void)state;
    struct rw_tls_cert_params cp = {
        .cert_file = D("ec.pem"), .key_file = D("ec.key"), .ocsp_file = D("rsa.ocsp.der")};
    struct rw_tls_server_params p = srv_params();
    p.certs = &cp;
    p.ncerts = 1;
    struct rw_tls_ctx *c = NULL;
    char err[RW_TLS_ERRLEN] = "";
    assert_int_equal(rw_tls_ctx_new(&p, NULL, &c, err, sizeof(err)), -EINVAL);
    assert_null(c);
    assert_non_null(strstr(err, "rsa.ocsp.der"));
    assert_non_null(strstr(err, "not for this certificate"));
    /* ... while the RSA leaf takes it. */
    cp = (struct rw_tls_cert_params){
        .cert_file = D("rsa.pem"), .key_file = D("rsa.key"), .ocsp_file = D("rsa.ocsp.der")};
    assert_int_equal(rw_tls_ctx_new(&p, NULL, &c, err, sizeof(err)), 0);
    rw_tls_ctx_unref(c);
}

/* A response wolfSSL could not verify would never be stapled: refused at load instead. */
static void ocsp_unverifiable_refused(void **state)
{
    (void)state;
    struct rw_tls_cert_params cp = {
        .cert_file = D("ec.pem"), .key_file = D("ec.key"), .ocsp_file = D("ec.ocsp-embedded.der")};
    struct rw_tls_server_params p = srv_params();
    p.certs = &cp;
    p.ncerts = 1;
    struct rw_tls_ctx *c = NULL;
    char err[RW_TLS_ERRLEN] = "";
    assert_int_equal(rw_tls_ctx_new(&p, NULL, &c, err, sizeof(err)), -EINVAL);
    assert_null(c);
    assert_non_null(strstr(err, "ec.ocsp-embedded.der"));
    assert_non_null(strstr(err, "does not verify"));
}

static void names_from_san_when_absent(void **state)
{
    (void)state;
    struct rw_tls_server_params p = srv_params();
    struct rw_tls_ctx *s = srv_ctx(&p, NULL);
    assert_int_equal(s->certs[0].nnames, 2);
    bool plain = strcmp(s->certs[0].names[0], "example.com") == 0;
    assert_string_equal(s->certs[0].names[plain ? 0 : 1], "example.com");
    assert_string_equal(s->certs[0].names[plain ? 1 : 0], "*.example.com");
    assert_true(s->certs[0].ecdsa);
    assert_false(s->certs[1].ecdsa);
    assert_true(s->certs[0].is_default && s->certs[1].is_default && !s->certs[2].is_default);
    rw_tls_ctx_unref(s);
}

/* A listener-wide staple is shared by the certificates without their own: each staples it
 * only if it answers for it; one that answers for none of them is refused. */
static void ocsp_shared_staple(void **state)
{
    (void)state;
    struct rw_tls_cert_params cps[2] = {
        {.cert_file = D("ec.pem"),
         .key_file = D("ec.key"),
         .ocsp_file = D("ec.ocsp.der"),
         .ocsp_shared = true},
        {.cert_file = D("other.pem"),
         .key_file = D("other.key"),
         .ocsp_file = D("ec.ocsp.der"),
         .ocsp_shared = true},
    };
    struct rw_tls_server_params p = srv_params();
    p.certs = cps;
    p.ncerts = 2;
    struct rw_tls_ctx *s = srv_ctx(&p, NULL);
    assert_non_null(s->certs[0].ocsp);
    assert_null(s->certs[1].ocsp);
    assert_int_equal(stapled_sni(s, RW_TLS_V13, true, "example.com"), 0);
    assert_int_equal(stapled_sni(s, RW_TLS_V13, true, "other.test"), -EPROTO);
    assert_int_equal(stapled_sni(s, RW_TLS_V13, false, "other.test"), 0);
    rw_tls_ctx_unref(s);
    cps[0].ocsp_file = cps[1].ocsp_file = D("rsa.ocsp.der");
    char err[RW_TLS_ERRLEN] = "";
    assert_int_equal(rw_tls_ctx_new(&p, NULL, &s, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "rsa.ocsp.der"));
}

int run_cert_tests(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(ocsp_staple_sent_tls12),
        cmocka_unit_test(ocsp_staple_sent_tls13),
        cmocka_unit_test(ocsp_unverifiable_refused),
        cmocka_unit_test(ocsp_wrong_certificate_refused),
        cmocka_unit_test(ocsp_shared_staple),
        cmocka_unit_test(names_from_san_when_absent),
    };
    return cmocka_run_group_tests_name("tls/cert", t, NULL, NULL);
}
