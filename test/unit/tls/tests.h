/* SPDX-License-Identifier: MIT */
/* unit.tls: shared fixtures (test PKI paths, in-memory pumping of two conns). */
#ifndef RW_TEST_UNIT_TLS_TESTS_H
#define RW_TEST_UNIT_TLS_TESTS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tls/tls-int.h"

#define D(f) RW_TLS_TESTDATA "/" f

/* One end of an in-memory connection and the plaintext it has read. */
struct side {
    struct rw_tls_conn *t;
    uint8_t *got; /* owned, grows */
    size_t ngot, cap;
    int err;       /* first error other than -EAGAIN */
    bool eof;      /* read returned 0 */
    uint8_t *leaf; /* owned: DER of the certificate a client side was served */
    size_t leaf_len;
};

/* Move ciphertext both ways and read on both sides until nothing moves. */
void pump(struct side *a, struct side *b);
void side_free(struct side *s);
/* Server ctx from params; asserts success. */
struct rw_tls_ctx *srv_ctx(const struct rw_tls_server_params *p, struct rw_tls_keys *k);
/* The default server params: ECDSA + RSA example.com, other.test, ALPN h2/http/1.1. */
struct rw_tls_server_params srv_params(void);
struct rw_tls_client_ctx *cli_ctx(const struct rw_tls_client_params *p);
/* Default verifying client params (root CA). */
struct rw_tls_client_params cli_params(void);
/* Run one handshake; fills a (server) and b (client); returns both sides' results. */
void connect_pair(struct rw_tls_ctx *s, struct rw_tls_client_ctx *c, const char *sni,
                  const struct rw_tls_session *resume, struct side *srv, struct side *cli);
/* CN of the certificate the client received (static buffer). */
const char *served_cn(struct side *cli);
bool served_ecdsa(struct side *cli);
/* DER of the first certificate in a PEM file (malloc); asserts success. */
uint8_t *pem_der(const char *path, size_t *len);
struct rw_tls_keys *keys_new(uint64_t rotation_ms, const char *file);

int run_hello_tests(void);
int run_ctx_tests(void);
int run_cert_tests(void);
int run_keys_tests(void);
int run_peer_tests(void);
int run_conn_tests(void);
int run_client_tests(void);
int run_x509_tests(void);

#endif
