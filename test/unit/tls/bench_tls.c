/* SPDX-License-Identifier: MIT */
/* bench_tls: server-side handshake cost (full, resumed), bulk MB/s per AEAD, idle memory.
 * Not a test: prints figures. `bench_tls --hello FILE` writes a fuzz seed ClientHello. */
#include "tests.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void xfer(struct rw_tls_conn *from, struct rw_tls_conn *to)
{
    struct iovec iov[64];
    int n;
    while ((n = rw_tls_conn_output(from, iov, 64)) > 0)
        for (int i = 0; i < n; i++) {
            rw_tls_conn_input(to, iov[i].iov_base, iov[i].iov_len);
            rw_tls_conn_consumed(from, iov[i].iov_len);
        }
}

/* One handshake; returns the seconds spent in server calls only. */
static double handshake(struct rw_tls_ctx *s, struct rw_tls_client_ctx *c,
                        struct rw_tls_session **sess, bool *resumed)
{
    int err = 0;
    double spent = 0;
    struct rw_tls_conn *sv = rw_tls_conn_server(s, &err);
    struct rw_tls_conn *cl = rw_tls_conn_client(c, "example.com", *sess, &err);
    uint8_t b[256];
    for (int i = 0; i < 10 && !(rw_tls_conn_ready(sv) && rw_tls_conn_ready(cl)); i++) {
        xfer(cl, sv);
        double t0 = now_s();
        rw_tls_conn_read(sv, b, sizeof(b));
        spent += now_s() - t0;
        xfer(sv, cl);
        rw_tls_conn_read(cl, b, sizeof(b));
    }
    struct rw_tls_info inf;
    if (rw_tls_conn_info(sv, &inf) < 0) {
        fprintf(stderr, "handshake failed: %s\n", rw_tls_conn_error(sv));
        exit(1);
    }
    *resumed = inf.resumed;
    struct rw_tls_session *ns = rw_tls_conn_take_session(cl);
    if (ns) {
        rw_tls_session_free(*sess);
        *sess = ns;
    }
    rw_tls_conn_free(sv);
    rw_tls_conn_free(cl);
    return spent;
}

static void bench_handshakes(struct rw_tls_ctx *s, struct rw_tls_client_ctx *c)
{
    enum { N = 400 };
    struct rw_tls_session *sess = NULL;
    bool resumed;
    double full = 0, res = 0;
    int nres = 0;
    for (int i = 0; i < N; i++) {
        struct rw_tls_session *none = NULL;
        full += handshake(s, c, &none, &resumed);
        rw_tls_session_free(none);
    }
    handshake(s, c, &sess, &resumed);
    for (int i = 0; i < N; i++) {
        res += handshake(s, c, &sess, &resumed);
        nres += resumed;
    }
    rw_tls_session_free(sess);
    printf("TLS 1.3 X25519 + ECDSA P-256, server side: full %.3f ms (%.0f/s per core), "
           "resumed %.3f ms (%.0f/s), %d/%d resumed\n",
           full / N * 1e3, N / full, res / N * 1e3, N / res, nres, N);
}

static void bench_bulk(struct rw_tls_ctx *s, const char *ciphers, const char *label)
{
    struct rw_tls_client_params cp = cli_params();
    cp.ciphers = ciphers;
    struct rw_tls_client_ctx *c = cli_ctx(&cp);
    struct side srv, cli;
    connect_pair(s, c, "example.com", NULL, &srv, &cli);
    static uint8_t chunk[256 * 1024], out[16384];
    memset(chunk, 'a', sizeof(chunk));
    const size_t total = 128u << 20;
    double enc = 0, dec = 0;
    for (size_t done = 0; done < total; done += sizeof(chunk)) {
        double t0 = now_s();
        rw_tls_conn_write(srv.t, &(struct iovec){chunk, sizeof(chunk)}, 1);
        double t1 = now_s();
        xfer(srv.t, cli.t);
        double t2 = now_s();
        while (rw_tls_conn_read(cli.t, out, sizeof(out)) > 0)
            ;
        dec += now_s() - t2;
        enc += t1 - t0;
    }
    struct rw_tls_info inf;
    rw_tls_conn_info(srv.t, &inf);
    printf("bulk %-18s (%s): encrypt %.0f MB/s, decrypt %.0f MB/s\n", label, inf.cipher,
           total / enc / 1e6, total / dec / 1e6);
    side_free(&srv);
    side_free(&cli);
    rw_tls_client_ctx_unref(c);
}

static int write_hello(const char *path)
{
    struct rw_tls_client_params cp = cli_params();
    struct rw_tls_client_ctx *c = cli_ctx(&cp);
    int err = 0;
    struct rw_tls_conn *t = rw_tls_conn_client(c, "www.example.com", NULL, &err);
    struct iovec iov[4];
    int n = rw_tls_conn_output(t, iov, 4);
    FILE *f = fopen(path, "wb");
    if (!f)
        return 1;
    fputc(0, f); /* mode byte: first flight */
    for (int i = 0; i < n; i++)
        fwrite(iov[i].iov_base, 1, iov[i].iov_len, f);
    fclose(f);
    rw_tls_conn_free(t);
    rw_tls_client_ctx_unref(c);
    return 0;
}

int main(int argc, char **argv)
{
    wolfSSL_Init();
    if (argc == 3 && strcmp(argv[1], "--hello") == 0)
        return write_hello(argv[2]);
    struct rw_tls_keys *k = keys_new(12ull * 3600 * 1000, NULL);
    static const struct rw_tls_cert_params ec[] = {
        {.cert_file = D("ec.pem"), .key_file = D("ec.key")}};
    struct rw_tls_server_params p = srv_params();
    p.certs = ec;
    p.ncerts = 1;
    p.session_tickets = true;
    struct rw_tls_ctx *s = srv_ctx(&p, k);
    struct rw_tls_client_params cp = cli_params();
    struct rw_tls_client_ctx *c = cli_ctx(&cp);
    bench_handshakes(s, c);
    bench_bulk(s, "TLS13-AES128-GCM-SHA256", "AES-128-GCM");
    bench_bulk(s, "TLS13-CHACHA20-POLY1305-SHA256", "ChaCha20-Poly1305");
    rw_tls_client_ctx_unref(c);
    rw_tls_ctx_unref(s);
    rw_tls_keys_unref(k);
    rw_tls_thread_cleanup();
    return 0;
}
