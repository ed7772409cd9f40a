/* SPDX-License-Identifier: MIT */
/* TLS sessions without I/O: contexts, ticket keys, and connections pumped by the caller. */
#ifndef RW_TLS_TLS_H
#define RW_TLS_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#define RW_TLS_V12 0x0303
#define RW_TLS_V13 0x0304
#define RW_TLS_ERRLEN 256 /* a good size for the err buffers below */

enum rw_tls_client_auth {
    RW_TLS_CLIENT_AUTH_OFF = 0,
    RW_TLS_CLIENT_AUTH_OPTIONAL, /* ask; handshake succeeds without a verified certificate */
    RW_TLS_CLIENT_AUTH_REQUIRE,  /* missing or unverifiable certificate: alert, handshake fails */
};

struct rw_tls_ctx;        /* server side: immutable once built, refcounted */
struct rw_tls_client_ctx; /* upstream side: immutable once built, refcounted */
struct rw_tls_keys;       /* ticket keys: shared by every ctx, every worker, every reload */
struct rw_tls_conn;       /* one connection, owned by one worker */
struct rw_tls_session;    /* a resumable upstream session (opaque) */

struct rw_tls_cert_params {
    const char *cert_file;    /* borrowed: PEM, leaf first then its chain (all sent) */
    const char *key_file;     /* borrowed: PEM private key (ECDSA or RSA) */
    const char *const *names; /* borrowed: "a.example", "*.example"; NULL: the SAN */
    size_t nnames;
    const char *ocsp_file; /* borrowed, optional: DER OCSP response to staple */
    bool ocsp_shared;      /* ocsp_file is shared by several certificates: staple it only if it
                            * answers for this one (it must answer for one of the ctx) */
    bool is_default;       /* serve clients without SNI or with an unknown name */
};

struct rw_tls_server_params {
    const struct rw_tls_cert_params *certs; /* borrowed; at least one */
    size_t ncerts;
    uint16_t min_version;      /* RW_TLS_V12 (0 = default) or RW_TLS_V13 */
    uint16_t max_version;      /* RW_TLS_V13 (0 = default) or RW_TLS_V12 */
    const char *ciphers;       /* TLS 1.2 suites, OpenSSL names ':'-separated; NULL: safe */
    const char *ciphersuites;  /* TLS 1.3 suites (TLS_AES_128_GCM_SHA256...); NULL: all */
    const char *const *groups; /* "X25519", "P-256", "P-384", "P-521", "X448"; NULL: X25519,P-256 */
    size_t ngroups;
    const char *const *alpn; /* server preference order, e.g. "h2", "http/1.1"; may be NULL */
    size_t nalpn;
    bool session_tickets;       /* TLS 1.2 and 1.3 tickets sealed with keys (below) */
    const char *client_ca_file; /* borrowed: PEM CAs for client certificates */
    enum rw_tls_client_auth client_auth;
};

struct rw_tls_keys_params {
    uint64_t rotation_ms; /* a key encrypts for this long, then decrypts for as long again */
    const char *key_file; /* optional, >= 32 bytes of secret shared by several instances */
};

/* What a finished handshake negotiated. Strings are borrowed from the conn (or static) and
 * stay valid until rw_tls_conn_free(); absent values are NULL (alpn: alpn_len 0). A resumed
 * server conn reports the peer_* of the full handshake that made the session (sealed in
 * the ticket: see ticket keys). */
struct rw_tls_info {
    const char *version; /* "TLSv1.3" */
    const char *cipher;  /* wolfSSL name: "TLS13-AES128-GCM-SHA256", "ECDHE-RSA-..." */
    const char *alpn;    /* not NUL-terminated */
    size_t alpn_len;
    const char *sni;            /* server name the client sent (server side) */
    bool resumed;               /* abbreviated handshake from a ticket or session */
    bool peer_cert;             /* the peer presented a certificate */
    bool peer_verified;         /* ... and it chained to the configured CAs */
    const char *peer_subject;   /* RFC 4514 string of a verified peer certificate */
    const char *peer_san;       /* "DNS:a, email:b, ..." of a verified peer certificate */
    const uint8_t *peer_sha256; /* 32 bytes, SHA-256 of the DER certificate (verified) */
};

/* ---- ticket keys -------------------------------------------------------------------------
 * The secret comes from p->key_file (HKDF-extracted, so instances sharing the file share
 * keys) or from getrandom(). Epoch e = wall-clock ms / rotation_ms + manual rotations; the
 * epoch-e key is HKDF(secret, e). New tickets use the current epoch; tickets of the current
 * or previous epoch decrypt (a previous-epoch ticket is answered with a fresh one). Keys are
 * derived on demand, so nothing is written on the request path. On a ctx with client_auth a
 * ticket also seals the client's identity (or its absence) and the CA it was verified
 * against: it resumes with that identity where the same CA is configured, and makes a full
 * handshake elsewhere, after the certificate expired, or when the identity did not fit in
 * the ticket (wolfSSL's ticket room: 512 bytes in ringwall's build, 32 in the system
 * library). Main thread, start-up: */
int rw_tls_keys_new(const struct rw_tls_keys_params *p, struct rw_tls_keys **out, char *err,
                    size_t errcap); /* 0 or -errno with err naming the file and reason */
/* References: every ctx built with the keys holds one. Any thread. */
void rw_tls_keys_ref(struct rw_tls_keys *k);
void rw_tls_keys_unref(struct rw_tls_keys *k);
/* Advance to a fresh key now (admin command, or tests): tickets two rotations old stop
 * resuming. Any thread; lock-free. Instances sharing a key file de-synchronise until the
 * next scheduled rotation, so prefer the schedule. */
void rw_tls_keys_rotate(struct rw_tls_keys *k);

/* ---- server contexts ---------------------------------------------------------------------
 * Build a server context off the request path (main or admin thread): reads and checks every
 * certificate (readable, parses, key matches, currently valid), CA and OCSP file. keys may be
 * NULL when p->session_tickets is false; the ctx takes a reference on keys. On failure
 * returns -errno (-EINVAL for bad content) and err names the file and reason, for example
 * "site.pem: certificate expired on 2020-02-01 00:00:00 UTC"; nothing is built, so the
 * caller keeps publishing its old ctx. *out holds one reference. */
int rw_tls_ctx_new(const struct rw_tls_server_params *p, struct rw_tls_keys *keys,
                   struct rw_tls_ctx **out, char *err, size_t errcap);
/* Reference counting (atomic): a published ctx holds one, each conn holds one, so live
 * connections keep the ctx they started with across reloads. Any thread. */
void rw_tls_ctx_ref(struct rw_tls_ctx *c);
void rw_tls_ctx_unref(struct rw_tls_ctx *c);
/* True when a file the ctx was built from (certificate, key, OCSP response, client CA) changed
 * on disk since (size, mtime or inode): poll it from the main thread and rebuild + publish
 * to pick up renewed certificates and fresh OCSP responses without a blocking fetch. */
bool rw_tls_ctx_stale(const struct rw_tls_ctx *c);

/* ---- upstream (client) contexts ----------------------------------------------------------- */
struct rw_tls_client_params {
    bool verify;             /* verify the chain against ca_file and the name against sni */
    const char *ca_file;     /* borrowed: PEM CAs (required when verify) */
    const char *cert_file;   /* borrowed, optional: client certificate chain (mTLS) */
    const char *key_file;    /* borrowed, optional */
    const char *ciphers;     /* optional, as rw_tls_server_params (both 1.2 and 1.3 names) */
    const char *const *alpn; /* optional, offered in order */
    size_t nalpn;
    uint16_t min_version, max_version; /* 0: 1.2 .. 1.3 */
    bool ocsp;                         /* ask for a stapled OCSP response and require it valid */
};
/* Main thread; same error convention as rw_tls_ctx_new(). */
int rw_tls_client_ctx_new(const struct rw_tls_client_params *p, struct rw_tls_client_ctx **out,
                          char *err, size_t errcap);
void rw_tls_client_ctx_ref(struct rw_tls_client_ctx *c);
void rw_tls_client_ctx_unref(struct rw_tls_client_ctx *c);

/* ---- connections --------------------------------------------------------------------------
 * Data flow, all on the owning worker: ciphertext received -> rw_tls_conn_input(); then call
 * rw_tls_conn_read() until it returns -EAGAIN (it drives the handshake); plaintext to send ->
 * rw_tls_conn_write(); after every call, rw_tls_conn_output() gives the ciphertext to send
 * and rw_tls_conn_consumed() releases it once the send completed. Output memory never moves
 * while queued, so iovecs stay valid across later writes until consumed. Nothing blocks and
 * no callback reaches the caller. */

/* A server connection holding a reference on ctx. The certificate is chosen when the whole
 * ClientHello has arrived (SNI exact > wildcard > default; ECDSA when the client can use it).
 * NULL and *err = -ENOMEM. */
struct rw_tls_conn *rw_tls_conn_server(struct rw_tls_ctx *ctx, int *err);
/* A client connection; sni (borrowed, copied) is sent and, when ctx verifies, checked
 * against the certificate; resume (borrowed, may be NULL) offers an earlier session. The
 * first flight is queued at once: send rw_tls_conn_output(). NULL and *err = -errno. */
struct rw_tls_conn *rw_tls_conn_client(struct rw_tls_client_ctx *ctx, const char *sni,
                                       const struct rw_tls_session *resume, int *err);
/* Free the connection (no close_notify: call rw_tls_conn_close() first for a clean close);
 * drops its ctx reference. Iovecs from rw_tls_conn_output() become invalid. NULL is a no-op. */
void rw_tls_conn_free(struct rw_tls_conn *t);

/* Ciphertext received from the peer (copied). 0 or -ENOMEM. */
int rw_tls_conn_input(struct rw_tls_conn *t, const void *p, size_t n);
/* The peer closed its side (recv returned 0): later reads report -ECONNRESET instead of
 * -EAGAIN once buffered input runs out, unless close_notify came first. */
void rw_tls_conn_input_eof(struct rw_tls_conn *t);
/* Received ciphertext not yet processed (stop receiving above a limit: back-pressure). */
size_t rw_tls_conn_input_pending(const struct rw_tls_conn *t);

/* Decrypt up to cap (> 0) bytes into out, driving the handshake first. Returns bytes (> 0);
 * 0 when the peer sent close_notify; -EAGAIN when more ciphertext is needed (and maybe some
 * output is queued); -EPROTO for a protocol or certificate failure (an alert may be queued:
 * send it, then close); -ECONNRESET for EOF without close_notify; -ENOMEM. */
ssize_t rw_tls_conn_read(struct rw_tls_conn *t, void *out, size_t cap);
/* Drive the handshake without reading application data: 0 when complete, else as
 * rw_tls_conn_read(). Useful for client conns and to learn rw_tls_conn_info() early. */
int rw_tls_conn_handshake(struct rw_tls_conn *t);
/* Encrypt every byte of iov[0..n) into the output queue, packing small iovecs into full
 * records. Returns the bytes taken (all of them), -EAGAIN before the handshake completed,
 * -EPIPE after close, -EPROTO after a failure, -ENOMEM. Back-pressure lives above TLS:
 * stop writing while rw_tls_conn_output_pending() is above your limit. */
ssize_t rw_tls_conn_write(struct rw_tls_conn *t, const struct iovec *iov, int n);
/* Queue close_notify (once). 0, or -EAGAIN if the handshake never completed (just free). */
int rw_tls_conn_close(struct rw_tls_conn *t);

/* Fill iov[0..max) with queued ciphertext, oldest first; returns the count (0: nothing). */
int rw_tls_conn_output(const struct rw_tls_conn *t, struct iovec *iov, int max);
/* Ciphertext bytes queued and not yet consumed. */
size_t rw_tls_conn_output_pending(const struct rw_tls_conn *t);
/* The first n queued bytes were sent: release them (n <= output_pending). */
void rw_tls_conn_consumed(struct rw_tls_conn *t, size_t n);

/* True once the handshake completed (and until a failure). */
bool rw_tls_conn_ready(const struct rw_tls_conn *t);
/* Negotiated parameters; -EAGAIN before the handshake completed. */
int rw_tls_conn_info(const struct rw_tls_conn *t, struct rw_tls_info *out);
/* wolfSSL's reason for the last failure, for logs ("" if none). Static string. */
const char *rw_tls_conn_error(const struct rw_tls_conn *t);

/* Client conns: a session (ticket) received since the last call, for the next connection
 * to the same server; NULL if none. The caller owns it: rw_tls_session_free(). */
struct rw_tls_session *rw_tls_conn_take_session(struct rw_tls_conn *t);
void rw_tls_session_free(struct rw_tls_session *s);

/* Free wolfSSL's per-thread caches; every worker calls it before it exits. */
void rw_tls_thread_cleanup(void);

#endif
