/* SPDX-License-Identifier: MIT */
/* libFuzzer: bytes as a ClientHello, and as records mid-stream after a real handshake. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tls/tls.h"

#ifndef RW_TLS_TESTDATA
#error "RW_TLS_TESTDATA must name test/unit/tls/data"
#endif
#define D(f) RW_TLS_TESTDATA "/" f

static struct rw_tls_ctx *srv;
static struct rw_tls_client_ctx *cli;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static const struct rw_tls_cert_params certs[] = {
        {.cert_file = D("ec.pem"), .key_file = D("ec.key")},
        {.cert_file = D("rsa.pem"), .key_file = D("rsa.key")},
        {.cert_file = D("other.pem"), .key_file = D("other.key")},
    };
    static const char *const alpn[] = {"h2", "http/1.1"};
    struct rw_tls_server_params p = {.certs = certs, .ncerts = 3, .alpn = alpn, .nalpn = 2};
    struct rw_tls_client_params cp = {.verify = false};
    char err[RW_TLS_ERRLEN];
    if (rw_tls_ctx_new(&p, NULL, &srv, err, sizeof(err)) < 0 ||
        rw_tls_client_ctx_new(&cp, &cli, err, sizeof(err)) < 0)
        abort();
    return 0;
}

static void drain(struct rw_tls_conn *t)
{
    uint8_t buf[4096];
    struct iovec iov[16];
    while (rw_tls_conn_read(t, buf, sizeof(buf)) > 0)
        ;
    int n;
    while ((n = rw_tls_conn_output(t, iov, 16)) > 0)
        for (int i = 0; i < n; i++)
            rw_tls_conn_consumed(t, iov[i].iov_len);
}

static void move(struct rw_tls_conn *from, struct rw_tls_conn *to)
{
    struct iovec iov[16];
    int n;
    while ((n = rw_tls_conn_output(from, iov, 16)) > 0)
        for (int i = 0; i < n; i++) {
            rw_tls_conn_input(to, iov[i].iov_base, iov[i].iov_len);
            rw_tls_conn_consumed(from, iov[i].iov_len);
        }
}

/* Mode byte: even = the input is the first flight; odd = records after a handshake.
 * The rest is cut into chunks whose sizes come from the input too. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    int err = 0;
    struct rw_tls_conn *s = rw_tls_conn_server(srv, &err);
    if (!s)
        return 0;
    uint8_t mode = data[0];
    data++;
    size--;
    if (mode & 1) {
        struct rw_tls_conn *c =
            rw_tls_conn_client(cli, (mode & 2) ? "example.com" : NULL, NULL, &err);
        for (int i = 0; c && i < 8 && !rw_tls_conn_ready(s); i++) {
            move(c, s);
            drain(s);
            move(s, c);
            rw_tls_conn_handshake(c);
        }
        rw_tls_conn_free(c);
    }
    size_t chunk = 1 + (mode >> 2) * 7;
    for (size_t off = 0; off < size; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        rw_tls_conn_input(s, data + off, n);
        drain(s);
    }
    if (mode & 0x80) {
        rw_tls_conn_input_eof(s);
        drain(s);
    }
    rw_tls_conn_write(s, &(struct iovec){(void *)"x", 1}, 1);
    rw_tls_conn_close(s);
    rw_tls_conn_free(s);
    return 0;
}
