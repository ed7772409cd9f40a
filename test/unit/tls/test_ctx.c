/* SPDX-License-Identifier: MIT */
/* tls/ctx.c: SNI selection (exact, wildcard, default, ECDSA/RSA), errors, staleness, reload. */
#include "tests.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fx {
    struct rw_tls_ctx *s;
    struct rw_tls_client_ctx *c;
    struct side srv, cli;
};

static const char *const other_names[] = {"other.test"};
static const struct rw_tls_cert_params other_default[] = {
    {.cert_file = D("ec.pem"), .key_file = D("ec.key")},
    {.cert_file = D("rsa.pem"), .key_file = D("rsa.key")},
    {.cert_file = D("other.pem"),
     .key_file = D("other.key"),
     .names = other_names,
     .nnames = 1,
     .is_default = true},
};

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct rw_tls_server_params p = srv_params();
    struct rw_tls_client_params cp = cli_params();
    cp.verify = false; /* names that the certificate does not cover are part of the test */
    f->s = srv_ctx(&p, NULL);
    f->c = cli_ctx(&cp);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    side_free(&f->srv);
    side_free(&f->cli);
    rw_tls_ctx_unref(f->s);
    rw_tls_client_ctx_unref(f->c);
    free(f);
    return 0;
}

static const char *cn_for(struct fx *f, struct rw_tls_ctx *s, const char *sni)
{
    side_free(&f->srv);
    side_free(&f->cli);
    connect_pair(s, f->c, sni, NULL, &f->srv, &f->cli);
    assert_true(rw_tls_conn_ready(f->srv.t));
    return served_cn(&f->cli);
}

static void sni_exact_wildcard_and_first_default(void **state)
{
    struct fx *f = *state;
    assert_string_equal(cn_for(f, f->s, "other.test"), "other.test");
    assert_string_equal(cn_for(f, f->s, "OTHER.test"), "other.test");
    assert_string_equal(cn_for(f, f->s, "example.com"), "example.com");
    assert_string_equal(cn_for(f, f->s, "www.example.com"), "example.com");
    assert_string_equal(cn_for(f, f->s, "unknown.test"), "example.com"); /* first = default */
    assert_string_equal(cn_for(f, f->s, NULL), "example.com");
    struct rw_tls_info i;
    assert_int_equal(rw_tls_conn_info(f->srv.t, &i), 0);
    assert_null(i.sni);
}

static void explicit_default_and_wildcard_depth(void **state)
{
    struct fx *f = *state;
    struct rw_tls_server_params p = srv_params();
    p.certs = other_default;
    struct rw_tls_ctx *s = srv_ctx(&p, NULL);
    assert_string_equal(cn_for(f, s, "www.example.com"), "example.com");
    assert_string_equal(cn_for(f, s, "a.b.example.com"), "other.test"); /* one label only */
    assert_string_equal(cn_for(f, s, "unknown.test"), "other.test");
    assert_string_equal(cn_for(f, s, NULL), "other.test");
    rw_tls_ctx_unref(s);
}

static void ecdsa_preferred_rsa_for_rsa_only_clients(void **state)
{
    struct fx *f = *state;
    cn_for(f, f->s, "example.com");
    assert_true(served_ecdsa(&f->cli));
    struct rw_tls_client_params cp = cli_params();
    cp.max_version = RW_TLS_V12;
    cp.ciphers = "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305";
    struct rw_tls_client_ctx *rsa_only = cli_ctx(&cp);
    side_free(&f->srv);
    side_free(&f->cli);
    connect_pair(f->s, rsa_only, "www.example.com", NULL, &f->srv, &f->cli);
    assert_true(rw_tls_conn_ready(f->cli.t));
    assert_false(served_ecdsa(&f->cli));
    side_free(&f->srv);
    side_free(&f->cli);
    connect_pair(f->s, rsa_only, NULL, NULL, &f->srv, &f->cli); /* default twin too */
    assert_true(rw_tls_conn_ready(f->cli.t));
    assert_false(served_ecdsa(&f->cli));
    rw_tls_client_ctx_unref(rsa_only);
}

static void expect_error(const struct rw_tls_cert_params *cp, const char *a, const char *b)
{
    struct rw_tls_server_params p = srv_params();
    p.certs = cp;
    p.ncerts = 1;
    char err[RW_TLS_ERRLEN] = "";
    struct rw_tls_ctx *c = (struct rw_tls_ctx *)1;
    int r = rw_tls_ctx_new(&p, NULL, &c, err, sizeof(err));
    assert_true(r < 0);
    assert_null(c);
    if (!strstr(err, a) || !strstr(err, b))
        fail_msg("error \"%s\" lacks \"%s\" / \"%s\"", err, a, b);
}

static void bad_files_named_with_reason(void **state)
{
    (void)state;
    struct rw_tls_cert_params cp = {.cert_file = D("missing.pem"), .key_file = D("ec.key")};
    expect_error(&cp, "missing.pem", "No such file");
    cp = (struct rw_tls_cert_params){.cert_file = D("ec.pem"), .key_file = D("rsa.key")};
    expect_error(&cp, "rsa.key", "does not match");
    cp = (struct rw_tls_cert_params){.cert_file = D("ec.pem"), .key_file = D("other.key")};
    expect_error(&cp, "other.key", "does not match"); /* same key type */
    cp = (struct rw_tls_cert_params){.cert_file = D("expired.pem"), .key_file = D("expired.key")};
    expect_error(&cp, "expired.pem", "expired on 2020-02-01");
    cp = (struct rw_tls_cert_params){.cert_file = D("ec.key"), .key_file = D("ec.key")};
    expect_error(&cp, "ec.key", "not a PEM certificate");
    cp = (struct rw_tls_cert_params){.cert_file = D("ec.pem"), .key_file = D("ec.pem")};
    expect_error(&cp, "ec.pem", "private key");
    cp = (struct rw_tls_cert_params){
        .cert_file = D("ec.pem"), .key_file = D("ec.key"), .ocsp_file = D("ec.pem")};
    expect_error(&cp, "ec.pem", "not a DER OCSP response");
}

static void bad_settings_refused(void **state)
{
    (void)state;
    struct rw_tls_server_params p = srv_params();
    char err[RW_TLS_ERRLEN];
    struct rw_tls_ctx *c;
    p.ciphers = "ECDHE-RSA-AES128-GCM-SHA256:AES128-SHA";
    assert_int_equal(rw_tls_ctx_new(&p, NULL, &c, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "AES128-SHA"));
    p = srv_params();
    p.min_version = 0x0302;
    assert_int_equal(rw_tls_ctx_new(&p, NULL, &c, err, sizeof(err)), -EINVAL);
    p = srv_params();
    static const char *const g[] = {"X25519", "brainpool"};
    p.groups = g;
    p.ngroups = 2;
    assert_int_equal(rw_tls_ctx_new(&p, NULL, &c, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "brainpool"));
    p = srv_params();
    p.session_tickets = true;
    assert_int_equal(rw_tls_ctx_new(&p, NULL, &c, err, sizeof(err)), -EINVAL);
    p = srv_params();
    p.client_auth = RW_TLS_CLIENT_AUTH_REQUIRE;
    assert_int_equal(rw_tls_ctx_new(&p, NULL, &c, err, sizeof(err)), -EINVAL);
}

static void copy_file(const char *from, const char *to)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", from, to);
    assert_int_equal(system(cmd), 0);
}

/* Reload: a ctx built from files goes stale when they change; a new ctx is built and
 * published while a connection on the old one keeps working. A broken new file fails the
 * build and the old ctx keeps serving. */
static void stale_and_reload_keep_old_conns(void **state)
{
    struct fx *f = *state;
    char dir[] = "/tmp/rwtlsXXXXXX", cert[64], key[64];
    assert_non_null(mkdtemp(dir));
    snprintf(cert, sizeof(cert), "%s/site.pem", dir);
    snprintf(key, sizeof(key), "%s/site.key", dir);
    copy_file(D("ec.pem"), cert);
    copy_file(D("ec.key"), key);
    struct rw_tls_cert_params cp = {.cert_file = cert, .key_file = key};
    struct rw_tls_server_params p = srv_params();
    p.certs = &cp;
    p.ncerts = 1;
    struct rw_tls_ctx *old = srv_ctx(&p, NULL);
    assert_false(rw_tls_ctx_stale(old));
    connect_pair(old, f->c, "example.com", NULL, &f->srv, &f->cli);
    assert_true(rw_tls_conn_ready(f->srv.t));
    copy_file(D("rsa.key"), key); /* broken: key of another certificate */
    assert_true(rw_tls_ctx_stale(old));
    char err[RW_TLS_ERRLEN];
    struct rw_tls_ctx *nc;
    assert_int_equal(rw_tls_ctx_new(&p, NULL, &nc, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "site.key"));
    copy_file(D("rsa.pem"), cert);
    nc = srv_ctx(&p, NULL);
    assert_false(rw_tls_ctx_stale(nc));
    rw_tls_ctx_unref(old); /* unpublished: only the live connection holds it now */
    assert_int_equal(rw_tls_conn_write(f->cli.t, &(struct iovec){"ping", 4}, 1), 4);
    pump(&f->cli, &f->srv);
    assert_int_equal(f->srv.ngot, 4);
    assert_true(served_ecdsa(&f->cli));
    side_free(&f->srv);
    side_free(&f->cli);
    connect_pair(nc, f->c, "example.com", NULL, &f->srv, &f->cli);
    assert_false(served_ecdsa(&f->cli));
    rw_tls_ctx_unref(nc);
    unlink(cert);
    unlink(key);
    rmdir(dir);
}

int run_ctx_tests(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test_setup_teardown(sni_exact_wildcard_and_first_default, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(explicit_default_and_wildcard_depth, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(ecdsa_preferred_rsa_for_rsa_only_clients, fx_setup,
                                        fx_teardown),
        cmocka_unit_test(bad_files_named_with_reason),
        cmocka_unit_test(bad_settings_refused),
        cmocka_unit_test_setup_teardown(stale_and_reload_keep_old_conns, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests_name("tls/ctx", t, NULL, NULL);
}
