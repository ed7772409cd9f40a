/* SPDX-License-Identifier: MIT */
/* tls/peer.c: client certificate modes, RFC 4514 subject, SAN and fingerprint. */
#include "tests.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/wolfcrypt/sha256.h>

static struct rw_tls_ctx *auth_ctx(enum rw_tls_client_auth mode)
{
    struct rw_tls_server_params p = srv_params();
    p.client_auth = mode;
    p.client_ca_file = D("clientca.crt");
    return srv_ctx(&p, NULL);
}

static struct rw_tls_client_ctx *client_with(const char *cert, const char *key)
{
    struct rw_tls_client_params cp = cli_params();
    cp.cert_file = cert;
    cp.key_file = key;
    return cli_ctx(&cp);
}

/* Handshake; returns the server's read result, fills info when it succeeded. */
static int run(enum rw_tls_client_auth mode, const char *cert, const char *key,
               struct rw_tls_info *si, uint8_t fp[32])
{
    struct rw_tls_ctx *s = auth_ctx(mode);
    struct rw_tls_client_ctx *c = client_with(cert, key);
    struct side srv, cli;
    connect_pair(s, c, "example.com", NULL, &srv, &cli);
    int r = rw_tls_conn_ready(srv.t) ? 0 : srv.err ? srv.err : -EAGAIN;
    if (r == 0) {
        assert_int_equal(rw_tls_conn_info(srv.t, si), 0);
        if (si->peer_sha256)
            memcpy(fp, si->peer_sha256, 32);
        if (si->peer_subject)
            si->peer_subject = strdup(si->peer_subject);
        if (si->peer_san)
            si->peer_san = strdup(si->peer_san);
    } else {
        assert_false(rw_tls_conn_ready(cli.t)); /* the client got the alert */
    }
    side_free(&srv);
    side_free(&cli);
    rw_tls_ctx_unref(s);
    rw_tls_client_ctx_unref(c);
    return r;
}

static void info_free(struct rw_tls_info *i)
{
    free((char *)i->peer_subject);
    free((char *)i->peer_san);
}

static void require_verified_identity(void **state)
{
    (void)state;
    struct rw_tls_info si;
    uint8_t fp[32], want[32];
    assert_int_equal(run(RW_TLS_CLIENT_AUTH_REQUIRE, D("client.pem"), D("client.key"), &si, fp), 0);
    assert_true(si.peer_cert);
    assert_true(si.peer_verified);
    assert_string_equal(si.peer_subject, "CN=alice,O=Ringwall\\, Test,C=US");
    assert_string_equal(si.peer_san, "DNS:alice.client, email:alice@example.com");
    size_t len = 0;
    uint8_t *der = pem_der(D("client.pem"), &len);
    assert_int_equal(wc_Sha256Hash(der, (word32)len, want), 0);
    free(der);
    assert_memory_equal(fp, want, 32);
    info_free(&si);
}

static void require_refuses_missing_and_unverifiable(void **state)
{
    (void)state;
    struct rw_tls_info si;
    uint8_t fp[32];
    assert_int_equal(run(RW_TLS_CLIENT_AUTH_REQUIRE, NULL, NULL, &si, fp), -EPROTO);
    assert_int_equal(
        run(RW_TLS_CLIENT_AUTH_REQUIRE, D("selfclient.pem"), D("selfclient.key"), &si, fp),
        -EPROTO);
}

static void optional_and_off(void **state)
{
    (void)state;
    struct rw_tls_info si;
    uint8_t fp[32];
    assert_int_equal(run(RW_TLS_CLIENT_AUTH_OPTIONAL, NULL, NULL, &si, fp), 0);
    assert_false(si.peer_cert);
    assert_false(si.peer_verified);
    assert_int_equal(
        run(RW_TLS_CLIENT_AUTH_OPTIONAL, D("selfclient.pem"), D("selfclient.key"), &si, fp), 0);
    assert_true(si.peer_cert);
    assert_false(si.peer_verified);
    assert_null(si.peer_subject);
    assert_int_equal(run(RW_TLS_CLIENT_AUTH_OPTIONAL, D("client.pem"), D("client.key"), &si, fp),
                     0);
    assert_true(si.peer_verified);
    assert_string_equal(si.peer_subject, "CN=alice,O=Ringwall\\, Test,C=US");
    info_free(&si);
    assert_int_equal(run(RW_TLS_CLIENT_AUTH_OFF, D("client.pem"), D("client.key"), &si, fp), 0);
    assert_false(si.peer_cert);
    assert_null(si.peer_subject);
}

int run_peer_tests(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(require_verified_identity),
        cmocka_unit_test(require_refuses_missing_and_unverifiable),
        cmocka_unit_test(optional_and_off),
    };
    return cmocka_run_group_tests_name("tls/peer", t, NULL, NULL);
}
