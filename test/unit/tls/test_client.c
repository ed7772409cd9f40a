/* SPDX-License-Identifier: MIT */
/* tls/client.c: upstream verification (CA, name), mTLS setup errors, ALPN offer. */
#include "tests.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int try(const char *ca, const char *sni)
{
    struct rw_tls_server_params p = srv_params();
    struct rw_tls_ctx *s = srv_ctx(&p, NULL);
    struct rw_tls_client_params cp = cli_params();
    cp.ca_file = ca;
    struct rw_tls_client_ctx *c = cli_ctx(&cp);
    struct side srv, cli;
    connect_pair(s, c, sni, NULL, &srv, &cli);
    int r = rw_tls_conn_ready(cli.t) ? 0 : cli.err;
    side_free(&srv);
    side_free(&cli);
    rw_tls_ctx_unref(s);
    rw_tls_client_ctx_unref(c);
    return r;
}

static void verification_passes_and_fails(void **state)
{
    (void)state;
    assert_int_equal(try(D("root.crt"), "api.example.com"), 0);
    assert_int_equal(try(D("clientca.crt"), "example.com"), -EPROTO); /* wrong CA */
    assert_int_equal(try(D("root.crt"), "other.test"), 0);
    /* The name check: an unknown name gets the default example.com certificate. */
    assert_int_equal(try(D("root.crt"), "wrong.test"), -EPROTO);
}

static void client_ctx_errors(void **state)
{
    (void)state;
    char err[RW_TLS_ERRLEN];
    struct rw_tls_client_ctx *c;
    struct rw_tls_client_params cp = {.verify = true};
    assert_int_equal(rw_tls_client_ctx_new(&cp, &c, err, sizeof(err)), -EINVAL);
    cp.ca_file = D("nope.crt");
    assert_int_equal(rw_tls_client_ctx_new(&cp, &c, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "nope.crt"));
    cp = cli_params();
    cp.cert_file = D("client.pem");
    cp.key_file = D("ec.key");
    assert_int_equal(rw_tls_client_ctx_new(&cp, &c, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "ec.key"));
    assert_null(c);
}

int run_client_tests(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(verification_passes_and_fails),
        cmocka_unit_test(client_ctx_errors),
    };
    return cmocka_run_group_tests_name("tls/client", t, NULL, NULL);
}
