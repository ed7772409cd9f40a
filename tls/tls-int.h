/* SPDX-License-Identifier: MIT */
/* tls/ internals shared by its files: context, connection and ClientHello layouts. */
#ifndef RW_TLS_TLS_INT_H
#define RW_TLS_TLS_INT_H

#include "tls/tls.h"

#include <stdatomic.h>
#include <sys/stat.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

/* The client-auth verify callback keeps the verified leaf's identity (peer.c). Our build
 * (scripts/wolfssl.sh) and Debian's both define it. */
#ifndef WOLFSSL_ALWAYS_VERIFY_CB
#error "tls/ needs wolfSSL built with WOLFSSL_ALWAYS_VERIFY_CB"
#endif

#define TLS_SHA256_LEN 32u
#define TLS_TRUST_ID_LEN 16u /* names the anchors a client certificate was verified against */

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
    /* client_auth: digest of the client CA file, and of the chain after the leaf when OCSP
     * stapling put it in the same store. Sealed into tickets with a verified identity: a
     * ticket resumes with its identity only where the same anchors would verify it. */
    uint8_t trust_id[TLS_TRUST_ID_LEN];
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
    uint8_t client_ca_sha256[TLS_SHA256_LEN]; /* of the client CA file (client_auth only) */
    bool tls13;                               /* max_version allows TLS 1.3 */
    struct tls_stamp *stamps;                 /* owned */
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

/* Peer certificate details, one allocation, only when a client certificate was verified
 * (or restored from a ticket that carried one). */
struct tls_peer {
    uint8_t sha256[TLS_SHA256_LEN];
    int64_t not_after; /* the certificate's, seconds since the epoch: tickets stop resuming */
    char *subject;     /* borrowed: points into text[] */
    char *san;         /* borrowed: points into text[] */
    char text[];
};

struct rw_tls_conn {
    WOLFSSL *ssl;                   /* owned; NULL on a server until the ClientHello is in */
    struct rw_tls_ctx *ctx;         /* owned reference (server) or NULL */
    struct rw_tls_client_ctx *cctx; /* owned reference (client) or NULL */
    const struct tls_cert *cert;    /* borrowed from ctx: the chosen certificate */
    uint8_t *in;                    /* owned: received ciphertext; freed when drained */
    uint32_t in_off, in_len, in_cap;
    int last_err;               /* wolfSSL error code of the failure (here: no padding hole) */
    struct tls_chunk *out_head; /* owned queue */
    struct tls_chunk *out_tail; /* borrowed: last of out_head's list */
    size_t out_bytes;
    struct tls_peer *peer; /* owned, or NULL */
    /* Server, during the handshake: the identity sealed in the last ticket wolfSSL opened on
     * this conn (cleared before each one); it becomes peer/peer_seen only if the handshake
     * completes as a resumption (rw__tls_peer_commit), else it is dropped. */
    struct tls_peer *resume_peer; /* owned, or NULL */
    char *sni;                    /* owned, or NULL */
    int fail;                     /* -errno reported once failed */
    uint8_t state;                /* enum tls_state */
    bool is_server;
    bool eof;
    bool nomem;
    bool verify_failed; /* optional client auth: a certificate did not verify */
    bool peer_closed;
    bool peer_seen;   /* a client certificate was presented */
    bool ticket_seen; /* client: a session ticket arrived (take_session) */
    bool resume_seen; /* the session of that ticket had a client certificate */
};

/* ---- hello.c: the ClientHello peek used to pick a certificate ---------------------------- */
enum tls_hello_res { TLS_HELLO_OK = 0, TLS_HELLO_AGAIN, TLS_HELLO_BAD };
struct tls_hello {
    char sni[256];       /* lower case, "" when absent */
    bool ecdsa_sig;      /* signature_algorithms lists ECDSA (or is absent) */
    bool ecdsa_suite;    /* a TLS 1.2 ECDHE-ECDSA AEAD suite is offered */
    bool offers13;       /* supported_versions lists TLS 1.3 */
    bool chacha_first;   /* the client's first known AEAD suite is ChaCha20-Poly1305 */
    const uint8_t *alpn; /* borrowed from the server's list: the protocol chosen, or NULL */
    uint8_t alpn_len;
};
/* Parse the ClientHello at the start of p[0..n) (records of type 22, fragments joined).
 * alpn (wire format, server preference order; may be NULL) is matched against the client's
 * ALPN list: the first of ours the client offers goes to h->alpn. */
enum tls_hello_res rw__tls_hello_parse(const uint8_t *p, size_t n, const uint8_t *alpn,
                                       size_t alpn_len, struct tls_hello *h);

/* ---- x509.c: certificate facts from DER (no wolfSSL X509 objects) ------------------------- */
struct tls_span {
    const uint8_t *p; /* borrowed */
    size_t n;
};
enum tls_key { TLS_KEY_OTHER = 0, TLS_KEY_EC, TLS_KEY_RSA };
struct tls_x509 {
    struct tls_span subject;       /* Name, SEQUENCE contents */
    struct tls_span san;           /* GeneralNames, SEQUENCE contents; n == 0 when absent */
    struct tls_span spki;          /* SubjectPublicKeyInfo, the whole element */
    int64_t not_before, not_after; /* seconds since the epoch, UTC */
    enum tls_key key;
};
/* Walk one DER certificate (bounds-checked; spans point into der). 0 or -EINVAL. */
int rw__tls_x509_parse(const uint8_t *der, size_t len, struct tls_x509 *x);
/* The first certificate of a PEM file as DER (malloc). 0 or -errno (-EINVAL: no PEM cert). */
int rw__tls_pem_cert(const char *path, uint8_t **der, size_t *len);
/* RFC 4514 string of a Name (malloc): last RDN first, '+' inside multi-valued RDNs, RFC 4514
 * or RFC 4519 attribute names, else dotted OIDs. 0, -EINVAL (malformed) or -ENOMEM. */
int rw__tls_subject_rfc4514(const struct tls_span *name, char **out);
/* "DNS:a, email:b, IP:..., URI:..." of GeneralNames (malloc), "" when none; NULL: no memory. */
char *rw__tls_san_text(const struct tls_span *san);
/* The DNS names of GeneralNames, lower case (malloc'ed vector of strings, *n of them even
 * on failure). 0 or -ENOMEM. */
int rw__tls_san_dns(const struct tls_span *san, char ***names, size_t *n);

/* ---- ctx.c ------------------------------------------------------------------------------ */
/* Pick the certificate for a ClientHello (never NULL). */
const struct tls_cert *rw__tls_ctx_pick(const struct rw_tls_ctx *c, const struct tls_hello *h);
/* Record path in the stamps; 0 or -errno. */
int rw__tls_stamp_add(struct tls_stamp **v, size_t *n, const char *path);
void rw__tls_stamps_free(struct tls_stamp *v, size_t n);
/* A new WOLFSSL_CTX for one side, set up for both (versions, ciphers, groups): *out, and 0,
 * -ENOMEM or -EINVAL + err. */
int rw__tls_ctx_common(WOLFSSL_CTX **out, bool server, uint16_t minv, uint16_t maxv,
                       const char *ciphers, const char *const *groups, size_t ngroups, char *err,
                       size_t errcap);
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

/* ---- keys.c ----------------------------------------------------------------------------- */
/* wolfSSL ticket callback (SessionTicketEncCb); userCtx is the struct rw_tls_keys. */
int rw__tls_ticket_cb(WOLFSSL *ssl, unsigned char name[WOLFSSL_TICKET_NAME_SZ],
                      unsigned char iv[WOLFSSL_TICKET_IV_SZ],
                      unsigned char mac[WOLFSSL_TICKET_MAC_SZ], int enc, unsigned char *ticket,
                      int in_len, int *out_len, void *user);
/* Ticket lifetime hint in seconds for these keys. */
int rw__tls_keys_hint_s(const struct rw_tls_keys *k);

/* ---- conn.c ----------------------------------------------------------------------------- */
/* Allocate a conn; bind installs its wolfSSL I/O callbacks and contexts on ssl. */
struct rw_tls_conn *rw__tls_conn_alloc(void);
void rw__tls_conn_bind(struct rw_tls_conn *t, WOLFSSL *ssl);
/* The server conn bound to ssl (from wolfSSL callbacks), or NULL. */
struct rw_tls_conn *rw__tls_conn_of(WOLFSSL *ssl);

/* ---- peer.c ----------------------------------------------------------------------------- */
/* Client-auth verify callback (needs WOLFSSL_ALWAYS_VERIFY_CB: it also runs for a verified
 * leaf); store->userCtx is the conn. Keeps the verified leaf's identity in t->peer. */
int rw__tls_verify_cb(int preverify, WOLFSSL_X509_STORE_CTX *store);
/* The identity of a verified DER certificate: 0, -EINVAL (unreadable) or -ENOMEM. */
int rw__tls_peer_from_der(const uint8_t *der, size_t len, struct tls_peer **out);
/* Identity records sealed in session tickets after wolfSSL's own ticket state (keys.c does
 * the sealing). A record is written only on a client-auth ctx: the cert's trust_id, whether
 * a certificate was presented and, when it verified, its identity and expiry. */
/* Write the record of t's identity into out[0..cap): its length, 0 when t needs none
 * (client_auth off), or -ENOSPC when it does not fit (nothing written). */
ssize_t rw__tls_peer_seal(const struct rw_tls_conn *t, uint8_t *out, size_t cap);
/* A ticket was opened on t with record p[0..n) (n == 0: none): 0 when it may resume, its
 * identity now in t->resume_peer/resume_seen; -EACCES when it must not resume here (no
 * record or other anchors on a client-auth ctx, an expired certificate, "require" without a
 * verified one), -EINVAL (malformed), -ENOMEM. Clears the previous ticket's identity first. */
int rw__tls_peer_restore(struct rw_tls_conn *t, const uint8_t *p, size_t n);
/* Forget the identity of the last ticket opened (another ticket is being opened). */
void rw__tls_peer_unstash(struct rw_tls_conn *t);
/* The server handshake completed: a resumed conn takes the identity of its ticket, a full
 * handshake keeps its certificate's. */
void rw__tls_peer_commit(struct rw_tls_conn *t);

/* Drop wolfSSL's queued errors: only the compatibility layer (the system library) keeps a
 * queue; ringwall's build has none. */
static inline void tls_err_clear(void)
{
#if defined(OPENSSL_EXTRA) || defined(DEBUG_WOLFSSL_VERBOSE)
    wolfSSL_ERR_clear_error();
#endif
}

#endif
