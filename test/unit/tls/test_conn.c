/* SPDX-License-Identifier: MIT */
/* tls/conn.c: handshakes, data both ways, queues, close_notify, EOF, versions, ALPN. */
#include "tests.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fx {
    struct rw_tls_ctx *s;
    struct rw_tls_client_ctx *c;
    struct side srv, cli;
};

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct rw_tls_server_params p = srv_params();
    struct rw_tls_client_params cp = cli_params();
    static const char *const alpn[] = {"http/1.1"};
    cp.alpn = alpn;
    cp.nalpn = 1;
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

static void handshake_reports_parameters(void **state)
{
    struct fx *f = *state;
    struct rw_tls_info si, ci;
    int err = 0;
    struct rw_tls_conn *fresh = rw_tls_conn_server(f->s, &err);
    assert_int_equal(rw_tls_conn_info(fresh, &si), -EAGAIN);
    assert_false(rw_tls_conn_ready(fresh));
    rw_tls_conn_free(fresh);
    connect_pair(f->s, f->c, "example.com", NULL, &f->srv, &f->cli);
    assert_int_equal(f->srv.err, 0);
    assert_int_equal(f->cli.err, 0);
    assert_true(rw_tls_conn_ready(f->srv.t));
    assert_true(rw_tls_conn_ready(f->cli.t));
    assert_int_equal(rw_tls_conn_info(f->srv.t, &si), 0);
    assert_int_equal(rw_tls_conn_info(f->cli.t, &ci), 0);
    assert_string_equal(si.version, "TLSv1.3");
    assert_string_equal(ci.version, "TLSv1.3");
    assert_string_equal(si.cipher, ci.cipher);
    assert_non_null(strstr(si.cipher, "AES128-GCM"));
    assert_string_equal(si.sni, "example.com");
    assert_int_equal(si.alpn_len, 8);
    assert_memory_equal(si.alpn, "http/1.1", 8);
    assert_false(si.resumed);
    assert_false(si.peer_cert);
    assert_null(si.peer_subject);
    assert_true(served_ecdsa(&f->cli)); /* the client verified the chain: inter was sent */
    assert_string_equal(rw_tls_conn_error(f->srv.t), "");
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 31u + seed + (i >> 9));
}

static void data_flows_both_ways(void **state)
{
    struct fx *f = *state;
    connect_pair(f->s, f->c, "example.com", NULL, &f->srv, &f->cli);
    /* Many small iovecs are packed into records; a large one is split into full records. */
    static uint8_t big[100000], small[3000];
    fill(big, sizeof(big), 1);
    fill(small, sizeof(small), 7);
    struct iovec iov[40];
    for (int i = 0; i < 30; i++)
        iov[i] = (struct iovec){small + i * 100, 100};
    iov[30] = (struct iovec){big, sizeof(big)};
    assert_int_equal(rw_tls_conn_write(f->cli.t, iov, 31), 3000 + sizeof(big));
    struct iovec out[8];
    int n = rw_tls_conn_output(f->cli.t, out, 8);
    assert_true(n >= 1);
    size_t first = out[0].iov_len;
    /* Queued ciphertext never moves: a later write leaves earlier iovecs intact. */
    uint8_t *keep = out[0].iov_base;
    uint8_t snapshot[64];
    memcpy(snapshot, keep, sizeof(snapshot));
    assert_int_equal(rw_tls_conn_write(f->cli.t, &(struct iovec){small, 10}, 1), 10);
    assert_memory_equal(keep, snapshot, sizeof(snapshot));
    assert_true(rw_tls_conn_output_pending(f->cli.t) > 3010 + sizeof(big));
    assert_true(first > 3000);
    pump(&f->cli, &f->srv);
    assert_int_equal(f->srv.ngot, 3010 + sizeof(big));
    assert_memory_equal(f->srv.got, small, 3000);
    assert_memory_equal(f->srv.got + 3000, big, sizeof(big));
    assert_memory_equal(f->srv.got + 3000 + sizeof(big), small, 10);
    assert_int_equal(rw_tls_conn_write(f->srv.t, &(struct iovec){big, 5000}, 1), 5000);
    pump(&f->srv, &f->cli);
    assert_int_equal(f->cli.ngot, 5000);
    assert_memory_equal(f->cli.got, big, 5000);
}

static void input_in_tiny_pieces(void **state)
{
    struct fx *f = *state;
    int err = 0;
    f->srv.t = rw_tls_conn_server(f->s, &err);
    f->cli.t = rw_tls_conn_client(f->c, "example.com", NULL, &err);
    /* Byte by byte: the ClientHello peek and wolfSSL both wait for more. */
    for (int round = 0; round < 20 && !rw_tls_conn_ready(f->srv.t); round++) {
        struct iovec iov[16];
        int n = rw_tls_conn_output(f->cli.t, iov, 16);
        for (int i = 0; i < n; i++) {
            const uint8_t *p = iov[i].iov_base;
            for (size_t k = 0; k < iov[i].iov_len; k++) {
                assert_int_equal(rw_tls_conn_input(f->srv.t, p + k, 1), 0);
                int r = rw_tls_conn_handshake(f->srv.t);
                assert_true(r == 0 || r == -EAGAIN);
            }
            rw_tls_conn_consumed(f->cli.t, iov[i].iov_len);
        }
        pump(&f->srv, &f->cli);
    }
    assert_true(rw_tls_conn_ready(f->srv.t));
    assert_int_equal(rw_tls_conn_input_pending(f->srv.t), 0);
}

static void close_notify_reads_zero(void **state)
{
    struct fx *f = *state;
    connect_pair(f->s, f->c, "example.com", NULL, &f->srv, &f->cli);
    assert_int_equal(rw_tls_conn_write(f->cli.t, &(struct iovec){"bye", 3}, 1), 3);
    assert_int_equal(rw_tls_conn_close(f->cli.t), 0);
    assert_int_equal(rw_tls_conn_close(f->cli.t), 0); /* once */
    assert_int_equal(rw_tls_conn_write(f->cli.t, &(struct iovec){"x", 1}, 1), -EPIPE);
    pump(&f->cli, &f->srv);
    assert_int_equal(f->srv.ngot, 3);
    assert_true(f->srv.eof);
    assert_int_equal(f->srv.err, 0);
    uint8_t b[8];
    assert_int_equal(rw_tls_conn_read(f->srv.t, b, sizeof(b)), 0);
}

static void eof_without_close_notify_is_reset(void **state)
{
    struct fx *f = *state;
    connect_pair(f->s, f->c, "example.com", NULL, &f->srv, &f->cli);
    uint8_t b[8];
    assert_int_equal(rw_tls_conn_read(f->srv.t, b, sizeof(b)), -EAGAIN);
    rw_tls_conn_input_eof(f->srv.t);
    assert_int_equal(rw_tls_conn_read(f->srv.t, b, sizeof(b)), -ECONNRESET);
    assert_false(rw_tls_conn_ready(f->srv.t));
}

static void garbage_fails_with_alert(void **state)
{
    struct fx *f = *state;
    int err = 0;
    f->srv.t = rw_tls_conn_server(f->s, &err);
    static const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(rw_tls_conn_input(f->srv.t, junk, sizeof(junk) - 1), 0);
    uint8_t b[8];
    assert_int_equal(rw_tls_conn_read(f->srv.t, b, sizeof(b)), -EPROTO);
    assert_int_equal(rw_tls_conn_read(f->srv.t, b, sizeof(b)), -EPROTO); /* sticky */
    assert_string_not_equal(rw_tls_conn_error(f->srv.t), "");
    assert_int_equal(rw_tls_conn_write(f->srv.t, &(struct iovec){"x", 1}, 1), -EPROTO);
}

static void write_before_handshake_waits(void **state)
{
    struct fx *f = *state;
    int err = 0;
    f->srv.t = rw_tls_conn_server(f->s, &err);
    assert_int_equal(rw_tls_conn_write(f->srv.t, &(struct iovec){"x", 1}, 1), -EAGAIN);
    assert_int_equal(rw_tls_conn_close(f->srv.t), -EAGAIN);
    assert_int_equal(rw_tls_conn_output_pending(f->srv.t), 0);
}

static void alpn_server_preference_and_mismatch(void **state)
{
    struct fx *f = *state;
    static const char *const offer[] = {"h2", "http/1.1"}, *const foo[] = {"foo"};
    static const char *const pref[] = {"http/1.1", "h2"};
    struct rw_tls_client_params cp = cli_params();
    cp.alpn = offer;
    cp.nalpn = 2;
    struct rw_tls_client_ctx *c2 = cli_ctx(&cp);
    struct rw_tls_server_params p = srv_params();
    p.alpn = pref;
    struct rw_tls_ctx *s2 = srv_ctx(&p, NULL);
    struct rw_tls_info i;
    connect_pair(s2, c2, "example.com", NULL, &f->srv, &f->cli);
    assert_int_equal(rw_tls_conn_info(f->cli.t, &i), 0);
    assert_int_equal(i.alpn_len, 8);
    assert_memory_equal(i.alpn, "http/1.1", 8);
    side_free(&f->srv);
    side_free(&f->cli);
    rw_tls_client_ctx_unref(c2);
    cp.alpn = foo;
    cp.nalpn = 1;
    c2 = cli_ctx(&cp);
    connect_pair(s2, c2, "example.com", NULL, &f->srv, &f->cli);
    assert_int_equal(f->srv.err, 0);
    assert_int_equal(rw_tls_conn_info(f->srv.t, &i), 0);
    assert_null(i.alpn);
    rw_tls_client_ctx_unref(c2);
    rw_tls_ctx_unref(s2);
}

static void chacha_first_when_client_prefers_it(void **state)
{
    struct fx *f = *state;
    struct rw_tls_client_params cp = cli_params();
    cp.ciphers = "TLS13-CHACHA20-POLY1305-SHA256:TLS13-AES128-GCM-SHA256";
    struct rw_tls_client_ctx *c2 = cli_ctx(&cp);
    struct rw_tls_info i;
    connect_pair(f->s, c2, "example.com", NULL, &f->srv, &f->cli);
    assert_int_equal(rw_tls_conn_info(f->srv.t, &i), 0);
    assert_non_null(strstr(i.cipher, "CHACHA20"));
    side_free(&f->srv);
    side_free(&f->cli);
    rw_tls_client_ctx_unref(c2);
    /* TLS 1.2 too. */
    cp.ciphers = "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256";
    cp.max_version = RW_TLS_V12;
    c2 = cli_ctx(&cp);
    connect_pair(f->s, c2, "example.com", NULL, &f->srv, &f->cli);
    assert_int_equal(rw_tls_conn_info(f->srv.t, &i), 0);
    assert_string_equal(i.version, "TLSv1.2");
    assert_non_null(strstr(i.cipher, "CHACHA20"));
    rw_tls_client_ctx_unref(c2);
}

/* A raw wolfSSL client of an old version against the server: must fail. */
static void tls11_client_refused(void **state)
{
    struct fx *f = *state;
    WOLFSSL_CTX *wc = wolfSSL_CTX_new(wolfTLSv1_1_client_method());
    assert_non_null(wc);
    wolfSSL_CTX_set_verify(wc, WOLFSSL_VERIFY_NONE, NULL);
    int err = 0;
    f->srv.t = rw_tls_conn_server(f->s, &err);
    f->cli.t = rw__tls_conn_alloc();
    f->cli.t->state = TLS_S_HANDSHAKE;
    rw__tls_conn_bind(f->cli.t, wolfSSL_new(wc));
    assert_int_equal(rw_tls_conn_handshake(f->cli.t), -EAGAIN);
    pump(&f->cli, &f->srv);
    assert_int_equal(f->srv.err, -EPROTO);
    assert_false(rw_tls_conn_ready(f->srv.t));
    assert_false(rw_tls_conn_ready(f->cli.t));
    side_free(&f->cli);
    wolfSSL_CTX_free(wc);
}

static void version_limits(void **state)
{
    struct fx *f = *state;
    struct rw_tls_server_params p = srv_params();
    p.max_version = RW_TLS_V12;
    struct rw_tls_ctx *s12 = srv_ctx(&p, NULL);
    struct rw_tls_info i;
    connect_pair(s12, f->c, "example.com", NULL, &f->srv, &f->cli);
    assert_int_equal(rw_tls_conn_info(f->srv.t, &i), 0);
    assert_string_equal(i.version, "TLSv1.2");
    assert_non_null(strstr(i.cipher, "ECDHE"));
    side_free(&f->srv);
    side_free(&f->cli);
    struct rw_tls_client_params cp = cli_params();
    cp.min_version = RW_TLS_V13;
    struct rw_tls_client_ctx *c13 = cli_ctx(&cp);
    connect_pair(s12, c13, "example.com", NULL, &f->srv, &f->cli);
    assert_false(rw_tls_conn_ready(f->srv.t));
    assert_true(f->srv.err < 0 || f->cli.err < 0);
    rw_tls_client_ctx_unref(c13);
    rw_tls_ctx_unref(s12);
}

/* Idle server connections after a handshake and one exchange: heap bytes per conn. */
static void idle_memory_measured(void **state)
{
    struct fx *f = *state;
    enum { N = 200 };
    static struct side srv[N], cli[N];
    uint8_t req[200];
    fill(req, sizeof(req), 3);
    size_t base = mallinfo2().uordblks;
    for (int i = 0; i < N; i++) {
        connect_pair(f->s, f->c, "example.com", NULL, &srv[i], &cli[i]);
        assert_int_equal(rw_tls_conn_write(cli[i].t, &(struct iovec){req, sizeof(req)}, 1), 200);
        pump(&cli[i], &srv[i]);
        assert_int_equal(rw_tls_conn_write(srv[i].t, &(struct iovec){req, sizeof(req)}, 1), 200);
        pump(&srv[i], &cli[i]);
        free(srv[i].got);
        srv[i].got = NULL;
    }
    size_t both = mallinfo2().uordblks;
    for (int i = 0; i < N; i++)
        side_free(&cli[i]);
    size_t srv_only = mallinfo2().uordblks;
    for (int i = 0; i < N; i++) {
        assert_int_equal(rw_tls_conn_output_pending(srv[i].t), 0);
        assert_int_equal(rw_tls_conn_input_pending(srv[i].t), 0);
        side_free(&srv[i]);
    }
    size_t per = (srv_only - base) / N;
    print_message("idle TLS 1.3 server conn: %zu bytes heap (client+server pair %zu)\n", per,
                  (both - base) / N);
#if defined(SESSION_CERTS)
    assert_true(per < 64 * 1024); /* the system library: 37.5 KB session object per conn */
#elif defined(OPENSSL_EXTRA)
    assert_true(per < 12 * 1024); /* a build with the compatibility layer: about 9 KB */
#else
    assert_true(per < 5 * 1024); /* ringwall's wolfSSL build: about 3.6 KB (tls/NOTES.md) */
#endif
}

int run_conn_tests(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test_setup_teardown(handshake_reports_parameters, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(data_flows_both_ways, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(input_in_tiny_pieces, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(close_notify_reads_zero, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(eof_without_close_notify_is_reset, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(garbage_fails_with_alert, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(write_before_handshake_waits, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(alpn_server_preference_and_mismatch, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(chacha_first_when_client_prefers_it, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(tls11_client_refused, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(version_limits, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(idle_memory_measured, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests_name("tls/conn", t, NULL, NULL);
}
