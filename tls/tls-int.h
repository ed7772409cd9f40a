/* SPDX-License-Identifier: MIT */
/* tls/ internals shared by its files: context, connection and ClientHello layouts. */
#ifndef RW_TLS_TLS_INT_H
#define RW_TLS_TLS_INT_H

#include "tls/tls.h"

#include <stdatomic.h>
#include <sys/stat.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#define TLS_SHA256_LEN 32u

/* A file the ctx was built from, to notice changes (rw_tls_ctx_stale). */
struct tls_stamp {
    char *path; /* owned */
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
};

struct tls_cert {
    WOLFSSL_CTX *ssl_ctx; /* owned */
    char **names;         /* owned, lower case; "*.x" wildcards */
    size_t nnames;
    uint8_t *ocsp; /* owned, DER response or NULL */
    size_t ocsp_len;
    bool ecdsa;
    bool is_default;
};

struct rw_tls_ctx {
    atomic_uint refs;
    /* config time, read-only after */
    struct tls_cert *certs; /* owned */
    size_t ncerts;
    struct rw_tls_keys *keys; /* owned reference, or NULL */
    uint8_t *alpn;            /* owned, wire format (len-prefixed) */
    size_t alpn_len;
    char *ciphers_chacha; /* owned: the cipher list with ChaCha20 suites first, or NULL */
    enum rw_tls_client_auth client_auth;
    bool tls13;               /* max_version allows TLS 1.3 */
    struct tls_stamp *stamps; /* owned */
    size_t nstamps;
};

struct rw_tls_client_ctx {
    atomic_uint refs;
    WOLFSSL_CTX *ssl_ctx; /* owned */
    char *alpn;           /* owned: "a,b" or NULL */
    bool verify;
    bool ocsp;
};

/* A chunk of the output queue; data never moves once written. */
struct tls_chunk {
    struct tls_chunk *next; /* owned */
    uint32_t off, len, cap;
    uint8_t data[];
};

enum tls_state {
    TLS_S_HELLO = 0, /* server: waiting for the whole ClientHello */
    TLS_S_HANDSHAKE,
    TLS_S_READY,
    TLS_S_CLOSED, /* close_notify sent */
    TLS_S_FAILED,
};

/* Peer certificate details, one allocation, only when a client certificate was verified. */
struct tls_peer {
    uint8_t sha256[TLS_SHA256_LEN];
    char *subject; /* borrowed: points into text[] */
    char *san;     /* borrowed: points into text[] */
    char text[];
};

struct rw_tls_conn {
    WOLFSSL *ssl;                   /* owned; NULL on a server until the ClientHello is in */
    struct rw_tls_ctx *ctx;         /* owned reference (server) or NULL */
    struct rw_tls_client_ctx *cctx; /* owned reference (client) or NULL */
    const struct tls_cert *cert;    /* borrowed from ctx: the chosen certificate */
    uint8_t *in;                    /* owned: received ciphertext; freed when drained */
    uint32_t in_off, in_len, in_cap;
    struct tls_chunk *out_head; /* owned queue */
    struct tls_chunk *out_tail; /* borrowed: last of out_head's list */
    size_t out_bytes;
    struct tls_peer *peer; /* owned, or NULL */
    char *sni;             /* owned, or NULL */
    int last_err;          /* wolfSSL error code of the failure */
    int fail;              /* -errno reported once failed */
    uint8_t state;         /* enum tls_state */
    bool is_server;
    bool eof;
    bool nomem;
    bool verify_failed; /* optional client auth: a certificate did not verify */
    bool peer_closed;
    bool peer_seen;   /* a client certificate was presented */
    bool ticket_seen; /* client: a session ticket arrived (take_session) */
};

/* ---- hello.c: the ClientHello peek used to pick a certificate ---------------------------- */
enum tls_hello_res { TLS_HELLO_OK = 0, TLS_HELLO_AGAIN, TLS_HELLO_BAD };
struct tls_hello {
    char sni[256];     /* lower case, "" when absent */
    bool ecdsa_sig;    /* signature_algorithms lists ECDSA (or is absent) */
    bool ecdsa_suite;  /* a TLS 1.2 ECDHE-ECDSA AEAD suite is offered */
    bool offers13;     /* supported_versions lists TLS 1.3 */
    bool chacha_first; /* the client's first known AEAD suite is ChaCha20-Poly1305 */
};
/* Parse the ClientHello at the start of p[0..n) (records of type 22, fragments joined). */
enum tls_hello_res rw__tls_hello_parse(const uint8_t *p, size_t n, struct tls_hello *h);

/* ---- ctx.c ------------------------------------------------------------------------------ */
/* Pick the certificate for a ClientHello (never NULL). */
const struct tls_cert *rw__tls_ctx_pick(const struct rw_tls_ctx *c, const struct tls_hello *h);
/* Record path in the stamps; 0 or -errno. */
int rw__tls_stamp_add(struct tls_stamp **v, size_t *n, const char *path);
void rw__tls_stamps_free(struct tls_stamp *v, size_t n);
/* Shared context setup (versions, ciphers, groups) for both sides; 0 or -EINVAL + err. */
int rw__tls_ctx_common(WOLFSSL_CTX *wc, uint16_t minv, uint16_t maxv, const char *ciphers,
                       const char *const *groups, size_t ngroups, char *err, size_t errcap);
/* err formatting helper. */
void rw__tls_err(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Check that a file can be opened for reading: 0 or -errno with "<file>: <reason>". */
int rw__tls_readable(const char *path, char *err, size_t cap);
/* Cipher list with ChaCha20 suites moved first (malloc), or NULL when none or no memory. */
char *rw__tls_chacha_first(const char *list);

/* ---- cert.c ----------------------------------------------------------------------------- */
/* Check and load one certificate into its own WOLFSSL_CTX, recording its files in c's
 * stamps. 0 or -errno with err naming the file and reason. */
int rw__tls_cert_load(struct tls_cert *out, const struct rw_tls_cert_params *cp,
                      const struct rw_tls_server_params *p, struct rw_tls_ctx *c,
                      const char *ciphers, char *err, size_t errcap);
void rw__tls_cert_fini(struct tls_cert *ct);
/* True when key_file holds the private key of cert_file's leaf (sign + verify). */
bool rw__tls_key_matches(const char *cert_file, const char *key_file);
bool rw__tls_cert_same_names(const struct tls_cert *a, const struct tls_cert *b);
/* The DNS names of x's subjectAltName, lower case (malloc'ed vector of strings). */
int rw__tls_san_dns(WOLFSSL_X509 *x, char ***names, size_t *n);
/* "DNS:a, email:b, IP:..., URI:..." for x's subjectAltName (malloc), "" when none. */
char *rw__tls_san_text(WOLFSSL_X509 *x);
/* RFC 4514 string of x's subject (malloc). */
char *rw__tls_subject_rfc4514(WOLFSSL_X509 *x);

/* ---- keys.c ----------------------------------------------------------------------------- */
/* wolfSSL ticket callback (SessionTicketEncCb); userCtx is the struct rw_tls_keys. */
int rw__tls_ticket_cb(WOLFSSL *ssl, unsigned char name[WOLFSSL_TICKET_NAME_SZ],
                      unsigned char iv[WOLFSSL_TICKET_IV_SZ],
                      unsigned char mac[WOLFSSL_TICKET_MAC_SZ], int enc, unsigned char *ticket,
                      int in_len, int *out_len, void *user);
/* Ticket lifetime hint in seconds for these keys. */
int rw__tls_keys_hint_s(const struct rw_tls_keys *k);

/* ---- conn.c ----------------------------------------------------------------------------- */
/* Allocate a conn with its wolfSSL I/O callbacks installed on ssl (if not NULL). */
struct rw_tls_conn *rw__tls_conn_alloc(void);
void rw__tls_conn_bind(struct rw_tls_conn *t, WOLFSSL *ssl);
/* peer.c: after a server handshake, keep the verified client certificate's identity. */
int rw__tls_peer_capture(struct rw_tls_conn *t);
/* Verify callback shared by server client-auth and client sides. */
int rw__tls_verify_cb(int preverify, WOLFSSL_X509_STORE_CTX *store);

#endif
