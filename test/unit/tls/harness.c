/* SPDX-License-Identifier: MIT */
/* unit.tls fixtures: contexts over the test PKI and an in-memory pump between two conns. */
#include "tests.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void side_take(struct side *s)
{
    uint8_t buf[16384];
    for (;;) {
        ssize_t r = rw_tls_conn_read(s->t, buf, sizeof(buf));
        if (r > 0) {
            if (s->ngot + (size_t)r > s->cap) {
                s->cap = (s->ngot + (size_t)r) * 2;
                s->got = realloc(s->got, s->cap);
                assert_non_null(s->got);
            }
            memcpy(s->got + s->ngot, buf, (size_t)r);
            s->ngot += (size_t)r;
            continue;
        }
        if (r == 0)
            s->eof = true;
        else if (r != -EAGAIN && s->err == 0)
            s->err = (int)r;
        return;
    }
}

static size_t move(struct side *from, struct side *to)
{
    struct iovec iov[64];
    size_t moved = 0;
    int n;
    while ((n = rw_tls_conn_output(from->t, iov, 64)) > 0) {
        for (int i = 0; i < n; i++) {
            assert_int_equal(rw_tls_conn_input(to->t, iov[i].iov_base, iov[i].iov_len), 0);
            moved += iov[i].iov_len;
            rw_tls_conn_consumed(from->t, iov[i].iov_len);
        }
    }
    return moved;
}

void pump(struct side *a, struct side *b)
{
    for (int i = 0; i < 1000; i++) {
        size_t m = move(a, b) + move(b, a);
        side_take(a);
        side_take(b);
        if (m == 0 && rw_tls_conn_output_pending(a->t) == 0 &&
            rw_tls_conn_output_pending(b->t) == 0)
            return;
    }
    fail_msg("pump did not settle");
}

void side_free(struct side *s)
{
    rw_tls_conn_free(s->t);
    free(s->got);
    memset(s, 0, sizeof(*s));
}

struct rw_tls_ctx *srv_ctx(const struct rw_tls_server_params *p, struct rw_tls_keys *k)
{
    char err[RW_TLS_ERRLEN] = "";
    struct rw_tls_ctx *c = NULL;
    int r = rw_tls_ctx_new(p, k, &c, err, sizeof(err));
    if (r != 0)
        fail_msg("rw_tls_ctx_new: %d %s", r, err);
    return c;
}

static const char *const alpn_default[] = {"h2", "http/1.1"};
static const struct rw_tls_cert_params certs_default[] = {
    {.cert_file = D("ec.pem"), .key_file = D("ec.key")},
    {.cert_file = D("rsa.pem"), .key_file = D("rsa.key")},
    {.cert_file = D("other.pem"), .key_file = D("other.key")},
};

struct rw_tls_server_params srv_params(void)
{
    return (struct rw_tls_server_params){
        .certs = certs_default,
        .ncerts = 3,
        .alpn = alpn_default,
        .nalpn = 2,
        .session_tickets = false,
    };
}

struct rw_tls_client_ctx *cli_ctx(const struct rw_tls_client_params *p)
{
    char err[RW_TLS_ERRLEN] = "";
    struct rw_tls_client_ctx *c = NULL;
    int r = rw_tls_client_ctx_new(p, &c, err, sizeof(err));
    if (r != 0)
        fail_msg("rw_tls_client_ctx_new: %d %s", r, err);
    return c;
}

struct rw_tls_client_params cli_params(void)
{
    return (struct rw_tls_client_params){.verify = true, .ca_file = D("root.crt")};
}

void connect_pair(struct rw_tls_ctx *s, struct rw_tls_client_ctx *c, const char *sni,
                  const struct rw_tls_session *resume, struct side *srv, struct side *cli)
{
    int err = 0;
    memset(srv, 0, sizeof(*srv));
    memset(cli, 0, sizeof(*cli));
    srv->t = rw_tls_conn_server(s, &err);
    assert_non_null(srv->t);
    cli->t = rw_tls_conn_client(c, sni, resume, &err);
    assert_non_null(cli->t);
    pump(cli, srv);
}

const char *served_cn(struct side *cli)
{
    static char cn[128];
    WOLFSSL_X509 *x = wolfSSL_get_peer_certificate(cli->t->ssl);
    assert_non_null(x);
    cn[0] = '\0';
    wolfSSL_X509_NAME_get_text_by_NID(wolfSSL_X509_get_subject_name(x), NID_commonName, cn,
                                      sizeof(cn));
    wolfSSL_X509_free(x);
    return cn;
}

bool served_ecdsa(struct side *cli)
{
    WOLFSSL_X509 *x = wolfSSL_get_peer_certificate(cli->t->ssl);
    assert_non_null(x);
    bool ec = wolfSSL_X509_get_pubkey_type(x) == ECDSAk;
    wolfSSL_X509_free(x);
    return ec;
}

struct rw_tls_keys *keys_new(uint64_t rotation_ms, const char *file)
{
    char err[RW_TLS_ERRLEN] = "";
    struct rw_tls_keys *k = NULL;
    struct rw_tls_keys_params p = {.rotation_ms = rotation_ms, .key_file = file};
    int r = rw_tls_keys_new(&p, &k, err, sizeof(err));
    if (r != 0)
        fail_msg("rw_tls_keys_new: %d %s", r, err);
    return k;
}
