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

/* A verifying client that asks for a staple and checks it (wolfSSL fails the handshake on a
 * staple for another certificate); returns the client's result. */
static int stapled_handshake(struct rw_tls_ctx *s, uint16_t version)
{
    struct rw_tls_client_params cp = cli_params();
    cp.ocsp = true;
    cp.min_version = cp.max_version = version;
    struct rw_tls_client_ctx *c = cli_ctx(&cp);
    struct side srv, cli;
    connect_pair(s, c, "example.com", NULL, &srv, &cli);
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

static void ocsp_staple_sent_tls12(void **state)
{
    (void)state;
    struct rw_tls_ctx *with = ocsp_ctx(D("ec.ocsp.der")), *without = ocsp_ctx(NULL);
    assert_true(staple_seen(with, D("ec.ocsp.der")));
    assert_false(staple_seen(without, D("ec.ocsp.der")));
    assert_int_equal(stapled_handshake(with, RW_TLS_V12), 0);
    rw_tls_ctx_unref(with);
    rw_tls_ctx_unref(without);
}

/* TLS 1.3 carries the staple encrypted, in the Certificate entry's extension: prove it is
 * there through the client, which accepts the right response and rejects a response for
 * another certificate (without a staple it would simply go on). */
static void ocsp_staple_sent_tls13(void **state)
{
    (void)state;
    struct rw_tls_ctx *good = ocsp_ctx(D("ec.ocsp.der"));
    struct rw_tls_ctx *wrong = ocsp_ctx(D("rsa.ocsp.der")); /* the RSA leaf's response */
    struct rw_tls_ctx *none = ocsp_ctx(NULL);
    assert_int_equal(stapled_handshake(good, RW_TLS_V13), 0);
    assert_int_equal(stapled_handshake(none, RW_TLS_V13), 0);
    assert_int_equal(stapled_handshake(wrong, RW_TLS_V13), -EPROTO);
    assert_int_equal(stapled_handshake(wrong, RW_TLS_V12), -EPROTO);
    rw_tls_ctx_unref(good);
    rw_tls_ctx_unref(wrong);
    rw_tls_ctx_unref(none);
}

/* A response wolfSSL could not verify would never be stapled: refused at load instead. */
static void ocsp_unverifiable_refused(void **state)
{
    (void)state;
    struct rw_tls_cert_params cp = {.cert_file = D("ec.pem"),
                                    .key_file = D("ec.key"),
                                    .ocsp_file = D("ec.ocsp-embedded.der")};
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

int run_cert_tests(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(ocsp_staple_sent_tls12),
        cmocka_unit_test(ocsp_staple_sent_tls13),
        cmocka_unit_test(ocsp_unverifiable_refused),
        cmocka_unit_test(names_from_san_when_absent),
    };
    return cmocka_run_group_tests_name("tls/cert", t, NULL, NULL);
}
