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
    free(s->leaf);
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

/* Keeps the leaf a client is served (wolfSSL forgets it after the handshake); passes the
 * verdict through unchanged. */
static int harness_verify_cb(int preverify, WOLFSSL_X509_STORE_CTX *store)
{
    struct side *s = store->userCtx;
    if (store->error_depth == 0 && store->totalCerts > 0 && !s->leaf) {
        s->leaf_len = store->certs[0].length;
        s->leaf = malloc(s->leaf_len);
        assert_non_null(s->leaf);
        memcpy(s->leaf, store->certs[0].buffer, s->leaf_len);
    }
    return preverify;
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
    /* The ClientHello is queued; the server's certificate has not been seen yet. */
    wolfSSL_set_verify(cli->t->ssl, c->verify ? WOLFSSL_VERIFY_PEER : WOLFSSL_VERIFY_NONE,
                       harness_verify_cb);
    wolfSSL_SetCertCbCtx(cli->t->ssl, cli);
    pump(cli, srv);
}

static void served(struct side *cli, struct tls_x509 *x)
{
    assert_non_null(cli->leaf);
    assert_int_equal(rw__tls_x509_parse(cli->leaf, cli->leaf_len, x), 0);
}

const char *served_cn(struct side *cli)
{
    static char cn[128];
    struct tls_x509 x;
    char *subj = NULL;
    served(cli, &x);
    assert_int_equal(rw__tls_subject_rfc4514(&x.subject, &subj), 0);
    const char *p = strncmp(subj, "CN=", 3) == 0 ? subj : strstr(subj, ",CN=");
    assert_non_null(p);
    p += p[0] == ',' ? 4 : 3;
    snprintf(cn, sizeof(cn), "%.*s", (int)strcspn(p, ","), p);
    free(subj);
    return cn;
}

bool served_ecdsa(struct side *cli)
{
    struct tls_x509 x;
    served(cli, &x);
    return x.key == TLS_KEY_EC;
}

uint8_t *pem_der(const char *path, size_t *len)
{
    uint8_t *der = NULL;
    assert_int_equal(rw__tls_pem_cert(path, &der, len), 0);
    return der;
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
