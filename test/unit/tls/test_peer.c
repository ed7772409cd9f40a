/* SPDX-License-Identifier: MIT */
/* tls/peer.c: client certificate modes, RFC 4514 subject, SAN and fingerprint; the identity
 * sealed in session tickets (TLS 1.3 and 1.2 resumption, rotation, other keys, other CAs). */
#include "tests.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <wolfssl/wolfcrypt/sha256.h>

static struct rw_tls_ctx *auth_ctx(enum rw_tls_client_auth mode)
{
    struct rw_tls_server_params p = srv_params();
    p.client_auth = mode;
    p.client_ca_file = D("clientca.crt");
    return srv_ctx(&p, NULL);
}

static struct rw_tls_client_ctx *client_with(const char *cert, const char *key)
{
    struct rw_tls_client_params cp = cli_params();
    cp.cert_file = cert;
    cp.key_file = key;
    return cli_ctx(&cp);
}

/* Handshake; returns the server's read result, fills info when it succeeded. */
static int run(enum rw_tls_client_auth mode, const char *cert, const char *key,
               struct rw_tls_info *si, uint8_t fp[32])
{
    struct rw_tls_ctx *s = auth_ctx(mode);
    struct rw_tls_client_ctx *c = client_with(cert, key);
    struct side srv, cli;
    connect_pair(s, c, "example.com", NULL, &srv, &cli);
    int r = rw_tls_conn_ready(srv.t) ? 0 : srv.err ? srv.err : -EAGAIN;
    if (r == 0) {
        assert_int_equal(rw_tls_conn_info(srv.t, si), 0);
        if (si->peer_sha256)
            memcpy(fp, si->peer_sha256, 32);
        if (si->peer_subject)
            si->peer_subject = strdup(si->peer_subject);
        if (si->peer_san)
            si->peer_san = strdup(si->peer_san);
    } else {
        assert_false(rw_tls_conn_ready(cli.t)); /* the client got the alert */
    }
    side_free(&srv);
    side_free(&cli);
    rw_tls_ctx_unref(s);
    rw_tls_client_ctx_unref(c);
    return r;
}

static void info_free(struct rw_tls_info *i)
{
    free((char *)i->peer_subject);
    free((char *)i->peer_san);
}

static void require_verified_identity(void **state)
{
    (void)state;
    struct rw_tls_info si;
    uint8_t fp[32], want[32];
    assert_int_equal(run(RW_TLS_CLIENT_AUTH_REQUIRE, D("client.pem"), D("client.key"), &si, fp), 0);
    assert_true(si.peer_cert);
    assert_true(si.peer_verified);
    assert_string_equal(si.peer_subject, "CN=alice,O=Ringwall\\, Test,C=US");
    assert_string_equal(si.peer_san, "DNS:alice.client, email:alice@example.com");
    size_t len = 0;
    uint8_t *der = pem_der(D("client.pem"), &len);
    assert_int_equal(wc_Sha256Hash(der, (word32)len, want), 0);
    free(der);
    assert_memory_equal(fp, want, 32);
    info_free(&si);
}

static void require_refuses_missing_and_unverifiable(void **state)
{
    (void)state;
    struct rw_tls_info si;
    uint8_t fp[32];
    assert_int_equal(run(RW_TLS_CLIENT_AUTH_REQUIRE, NULL, NULL, &si, fp), -EPROTO);
    assert_int_equal(
        run(RW_TLS_CLIENT_AUTH_REQUIRE, D("selfclient.pem"), D("selfclient.key"), &si, fp),
        -EPROTO);
}

static void optional_and_off(void **state)
{
    (void)state;
    struct rw_tls_info si;
    uint8_t fp[32];
    assert_int_equal(run(RW_TLS_CLIENT_AUTH_OPTIONAL, NULL, NULL, &si, fp), 0);
    assert_false(si.peer_cert);
    assert_false(si.peer_verified);
    assert_int_equal(
        run(RW_TLS_CLIENT_AUTH_OPTIONAL, D("selfclient.pem"), D("selfclient.key"), &si, fp), 0);
    assert_true(si.peer_cert);
    assert_false(si.peer_verified);
    assert_null(si.peer_subject);
    assert_int_equal(run(RW_TLS_CLIENT_AUTH_OPTIONAL, D("client.pem"), D("client.key"), &si, fp),
                     0);
    assert_true(si.peer_verified);
    assert_string_equal(si.peer_subject, "CN=alice,O=Ringwall\\, Test,C=US");
    info_free(&si);
    assert_int_equal(run(RW_TLS_CLIENT_AUTH_OFF, D("client.pem"), D("client.key"), &si, fp), 0);
    assert_false(si.peer_cert);
    assert_null(si.peer_subject);
}

/* ---- identity across resumption ---------------------------------------------------------
 * ringwall's wolfSSL build leaves 512 bytes after wolfSSL's ticket state, where alice's
 * identity (133 bytes) fits; the system library leaves 32: tickets of verified clients are
 * sealed unusable there, so they make full handshakes (and keep their identity), while
 * clients without a verified certificate (17 bytes) still resume. */
#if defined(WOLFSSL_TICKET_EXTRA_PADDING_SZ) && WOLFSSL_TICKET_EXTRA_PADDING_SZ >= 256
#define IDENT_FITS true
#else
#define IDENT_FITS false
#endif
/* The system library's TLS 1.2 client aborts when the server refuses its ticket and makes a
 * full handshake (test_keys.c): there, TLS 1.2 runs only where tickets are accepted. */
#ifdef RW_WOLFSSL_TLS12_TICKET_FIX
#define TLS12_REFUSAL_OK true
#else
#define TLS12_REFUSAL_OK false
#endif
#define HOUR_MS (3600u * 1000u)
#define ALICE_SUBJECT "CN=alice,O=Ringwall\\, Test,C=US"

/* What the server reported for one connection. */
struct seen {
    bool ok, resumed, cert, verified;
    char subject[256], san[2048];
    uint8_t sha256[32];
    unsigned ticket_len; /* of the ticket the client now holds */
};

static struct rw_tls_ctx *tk_ctx(enum rw_tls_client_auth mode, const char *ca,
                                 struct rw_tls_keys *k, uint16_t maxv)
{
    struct rw_tls_server_params p = srv_params();
    p.client_auth = mode;
    p.client_ca_file = ca;
    p.session_tickets = true;
    p.max_version = maxv;
    return srv_ctx(&p, k);
}

static struct rw_tls_client_ctx *tk_client(const char *name, uint16_t maxv)
{
    char cert[256], key[256];
    struct rw_tls_client_params cp = cli_params();
    cp.max_version = maxv;
    if (name) {
        snprintf(cert, sizeof(cert), "%s/%s.pem", RW_TLS_TESTDATA, name);
        snprintf(key, sizeof(key), "%s/%s.key", RW_TLS_TESTDATA, name);
        cp.cert_file = cert;
        cp.key_file = key;
    }
    return cli_ctx(&cp);
}

/* One connection offering *sess; *sess becomes the session the client got from it (kept
 * when none came: a resumed TLS 1.2 connection gets no new ticket). */
static struct seen tk_connect(struct rw_tls_ctx *s, struct rw_tls_client_ctx *c,
                              struct rw_tls_session **sess)
{
    struct seen o;
    struct side srv, cli;
    struct rw_tls_info si, ci;
    memset(&o, 0, sizeof(o));
    connect_pair(s, c, "example.com", *sess, &srv, &cli);
    o.ok = rw_tls_conn_ready(srv.t) && rw_tls_conn_ready(cli.t);
    if (o.ok) {
        assert_int_equal(rw_tls_conn_info(srv.t, &si), 0);
        assert_int_equal(rw_tls_conn_info(cli.t, &ci), 0);
        assert_int_equal(si.resumed, ci.resumed);
        o.resumed = si.resumed;
        o.cert = si.peer_cert;
        o.verified = si.peer_verified;
        assert_true(!si.peer_subject == !si.peer_verified);
        if (si.peer_verified) {
            snprintf(o.subject, sizeof(o.subject), "%s", si.peer_subject);
            snprintf(o.san, sizeof(o.san), "%s", si.peer_san);
            memcpy(o.sha256, si.peer_sha256, 32);
        }
        struct rw_tls_session *got = rw_tls_conn_take_session(cli.t);
        if (got) {
            rw_tls_session_free(*sess);
            *sess = got;
        }
        uint8_t buf[2048];
        word32 len = sizeof(buf);
        if (wolfSSL_get_SessionTicket(cli.t->ssl, buf, &len) == WOLFSSL_SUCCESS)
            o.ticket_len = len;
    }
    side_free(&srv);
    side_free(&cli);
    return o;
}

static void assert_alice(const struct seen *o)
{
    uint8_t want[32];
    size_t len = 0;
    uint8_t *der = pem_der(D("client.pem"), &len);
    assert_int_equal(wc_Sha256Hash(der, (word32)len, want), 0);
    free(der);
    assert_true(o->ok);
    assert_true(o->cert);
    assert_true(o->verified);
    assert_string_equal(o->subject, ALICE_SUBJECT);
    assert_string_equal(o->san, "DNS:alice.client, email:alice@example.com");
    assert_memory_equal(o->sha256, want, 32);
}

/* Full handshake, then three resumptions (TLS 1.3: each from the ticket the previous
 * resumed connection was given, so the identity is carried forward), in both modes. */
static void identity_survives_resumption(uint16_t maxv)
{
    for (int mode = RW_TLS_CLIENT_AUTH_OPTIONAL; mode <= RW_TLS_CLIENT_AUTH_REQUIRE; mode++) {
        struct rw_tls_keys *k = keys_new(12 * HOUR_MS, NULL);
        struct rw_tls_ctx *s = tk_ctx(mode, D("clientca.crt"), k, maxv);
        struct rw_tls_client_ctx *c = tk_client("client", maxv);
        struct rw_tls_session *sess = NULL;
        struct seen o = tk_connect(s, c, &sess);
        assert_alice(&o);
        assert_false(o.resumed);
        assert_non_null(sess);
        print_message("TLS %s ticket with alice's identity: %u bytes\n",
                      maxv == RW_TLS_V12 ? "1.2" : "1.3", o.ticket_len);
        for (int i = 0; i < 3; i++) {
            o = tk_connect(s, c, &sess);
            assert_alice(&o);
            assert_int_equal(o.resumed, IDENT_FITS);
        }
        rw_tls_session_free(sess);
        rw_tls_ctx_unref(s);
        rw_tls_client_ctx_unref(c);
        rw_tls_keys_unref(k);
    }
}

static void tls13_resumption_keeps_identity(void **state)
{
    (void)state;
    identity_survives_resumption(0);
}

/* With the system library, a verified client's ticket is unusable (refused). */
static void tls12_resumption_keeps_identity(void **state)
{
    (void)state;
    if (!IDENT_FITS && !TLS12_REFUSAL_OK)
        skip();
    identity_survives_resumption(RW_TLS_V12);
}

/* Without a certificate, or with one that did not verify (optional), a session resumes as
 * it was made: no identity. "require" refuses a session made without a verified one. */
static void resumption_without_identity(void **state)
{
    (void)state;
    for (int v = 0; v < 2; v++) {
        uint16_t maxv = v ? RW_TLS_V12 : 0;
        struct rw_tls_keys *k = keys_new(12 * HOUR_MS, NULL);
        struct rw_tls_ctx *opt = tk_ctx(RW_TLS_CLIENT_AUTH_OPTIONAL, D("clientca.crt"), k, maxv);
        struct rw_tls_ctx *req = tk_ctx(RW_TLS_CLIENT_AUTH_REQUIRE, D("clientca.crt"), k, maxv);
        const char *who[] = {NULL, "selfclient"};
        for (int i = 0; i < 2; i++) {
            struct rw_tls_client_ctx *c = tk_client(who[i], maxv);
            struct rw_tls_session *sess = NULL;
            struct seen o = tk_connect(opt, c, &sess);
            assert_true(o.ok);
            assert_false(o.resumed);
            assert_int_equal(o.cert, i == 1);
            assert_false(o.verified);
            o = tk_connect(opt, c, &sess);
            assert_true(o.ok);
            assert_true(o.resumed);
            assert_int_equal(o.cert, i == 1);
            assert_false(o.verified);
            assert_string_equal(o.subject, "");
            o = tk_connect(req, c, &sess); /* a full handshake, which needs a certificate */
            assert_false(o.ok);
            rw_tls_session_free(sess);
            rw_tls_client_ctx_unref(c);
        }
        /* a verified session made in optional mode resumes in require mode (same CA) */
        struct rw_tls_client_ctx *c = tk_client("client", maxv);
        struct rw_tls_session *sess = NULL;
        struct seen o = tk_connect(opt, c, &sess);
        if (maxv != RW_TLS_V12 || IDENT_FITS || TLS12_REFUSAL_OK) {
            o = tk_connect(req, c, &sess);
            assert_alice(&o);
            assert_int_equal(o.resumed, IDENT_FITS);
        }
        rw_tls_session_free(sess);
        rw_tls_client_ctx_unref(c);
        rw_tls_ctx_unref(opt);
        rw_tls_ctx_unref(req);
        rw_tls_keys_unref(k);
    }
}

/* bigclient's identity (24 long DNS names) does not fit: its ticket is sealed unusable, so
 * every connection makes a full handshake and shows the certificate again. */
static void identity_too_big_makes_full_handshakes(void **state)
{
    (void)state;
    for (int v = 0; v < 2; v++) {
        uint16_t maxv = v ? RW_TLS_V12 : 0;
        if (maxv == RW_TLS_V12 && !TLS12_REFUSAL_OK)
            continue;
        struct rw_tls_keys *k = keys_new(12 * HOUR_MS, NULL);
        struct rw_tls_ctx *s = tk_ctx(RW_TLS_CLIENT_AUTH_OPTIONAL, D("bigca.crt"), k, maxv);
        struct rw_tls_client_ctx *c = tk_client("bigclient", maxv);
        struct rw_tls_session *sess = NULL;
        struct seen first = tk_connect(s, c, &sess);
        assert_true(first.verified);
        assert_string_equal(first.subject, "CN=big,O=Ringwall Test");
        assert_true(strlen(first.san) > 1000);
        assert_non_null(sess); /* a ticket came, and is refused when offered */
        for (int i = 0; i < 2; i++) {
            struct seen o = tk_connect(s, c, &sess);
            assert_true(o.ok);
            assert_false(o.resumed);
            assert_true(o.verified);
            assert_string_equal(o.san, first.san);
            assert_memory_equal(o.sha256, first.sha256, 32);
        }
        rw_tls_session_free(sess);
        rw_tls_ctx_unref(s);
        rw_tls_client_ctx_unref(c);
        rw_tls_keys_unref(k);
    }
}

/* A session of alice's made on one ctx, offered to another; returns what the second saw. */
static struct seen resume_elsewhere(struct rw_tls_ctx *a, struct rw_tls_ctx *b, uint16_t maxv)
{
    struct rw_tls_client_ctx *c = tk_client("client", maxv);
    struct rw_tls_session *sess = NULL;
    struct seen o = tk_connect(a, c, &sess);
    assert_true(o.ok);
    o = tk_connect(b, c, &sess);
    rw_tls_session_free(sess);
    rw_tls_client_ctx_unref(c);
    return o;
}

/* Other ticket keys: refused (full handshake, the certificate again). One rotation: the
 * previous key still opens the ticket and the identity comes with it; two: refused. */
static void identity_with_other_keys_and_rotation(void **state)
{
    (void)state;
    for (int v = 0; v < 2; v++) {
        uint16_t maxv = v ? RW_TLS_V12 : 0;
        if (maxv == RW_TLS_V12 && !TLS12_REFUSAL_OK)
            continue;
        struct rw_tls_keys *k = keys_new(12 * HOUR_MS, NULL), *k2 = keys_new(12 * HOUR_MS, NULL);
        struct rw_tls_ctx *a = tk_ctx(RW_TLS_CLIENT_AUTH_OPTIONAL, D("clientca.crt"), k, maxv);
        struct rw_tls_ctx *b = tk_ctx(RW_TLS_CLIENT_AUTH_OPTIONAL, D("clientca.crt"), k, maxv);
        struct rw_tls_ctx *foreign =
            tk_ctx(RW_TLS_CLIENT_AUTH_OPTIONAL, D("clientca.crt"), k2, maxv);
        struct seen o = resume_elsewhere(a, b, maxv); /* another worker, or a reload */
        assert_alice(&o);
        assert_int_equal(o.resumed, IDENT_FITS);
        o = resume_elsewhere(a, foreign, maxv);
        assert_alice(&o);
        assert_false(o.resumed);
        struct rw_tls_client_ctx *c = tk_client("client", maxv);
        struct rw_tls_session *kept = NULL, *old = NULL;
        assert_true(tk_connect(a, c, &kept).ok);
        assert_true(tk_connect(a, c, &old).ok);
        rw_tls_keys_rotate(k); /* both sealed with the previous key */
        o = tk_connect(b, c, &kept);
        assert_alice(&o);
        assert_int_equal(o.resumed, IDENT_FITS);
        rw_tls_keys_rotate(k);
        o = tk_connect(b, c, &old); /* sealed two rotations ago */
        assert_alice(&o);
        assert_false(o.resumed);
        rw_tls_session_free(old);
        rw_tls_session_free(kept);
        rw_tls_client_ctx_unref(c);
        rw_tls_ctx_unref(a);
        rw_tls_ctx_unref(b);
        rw_tls_ctx_unref(foreign);
        rw_tls_keys_unref(k);
        rw_tls_keys_unref(k2);
    }
}

/* Ticket keys are shared by every listener: an identity verified against one listener's
 * CA never resumes on a listener trusting other CAs (full handshake: there alice's
 * certificate does not verify). A listener without client auth resumes it without an
 * identity; its own sessions (no record) make a full handshake on a client-auth one. */
static void identity_bound_to_its_trust_anchors(void **state)
{
    (void)state;
    struct rw_tls_keys *k = keys_new(12 * HOUR_MS, NULL);
    struct rw_tls_ctx *a = tk_ctx(RW_TLS_CLIENT_AUTH_OPTIONAL, D("clientca.crt"), k, 0);
    struct rw_tls_ctx *other = tk_ctx(RW_TLS_CLIENT_AUTH_OPTIONAL, D("bigca.crt"), k, 0);
    struct rw_tls_ctx *off = tk_ctx(RW_TLS_CLIENT_AUTH_OFF, NULL, k, 0);
    struct seen o = resume_elsewhere(a, other, 0);
    assert_true(o.ok);
    assert_false(o.resumed);
    assert_true(o.cert);
    assert_false(o.verified);
    o = resume_elsewhere(a, off, 0);
    assert_true(o.ok);
    assert_int_equal(o.resumed, IDENT_FITS); /* an unusable ticket is refused everywhere */
    assert_false(o.cert);
    assert_false(o.verified);
    o = resume_elsewhere(off, a, 0);
    assert_alice(&o);
    assert_false(o.resumed);
    rw_tls_ctx_unref(a);
    rw_tls_ctx_unref(other);
    rw_tls_ctx_unref(off);
    rw_tls_keys_unref(k);
}

/* The trust id names what verifies client certificates on a certificate's context: the CA
 * file's content, and the chain after the leaf once OCSP stapling has loaded it. */
static struct rw_tls_ctx *trust_ctx(const char *ca, const char *ocsp)
{
    struct rw_tls_cert_params cert = {
        .cert_file = D("ec.pem"), .key_file = D("ec.key"), .ocsp_file = ocsp};
    struct rw_tls_server_params p = srv_params();
    p.certs = &cert;
    p.ncerts = 1;
    p.client_auth = RW_TLS_CLIENT_AUTH_OPTIONAL;
    p.client_ca_file = ca;
    return srv_ctx(&p, NULL);
}

static void trust_id_follows_the_anchors(void **state)
{
    (void)state;
    struct rw_tls_ctx *a = trust_ctx(D("clientca.crt"), NULL),
                      *a2 = trust_ctx(D("clientca.crt"), NULL);
    struct rw_tls_ctx *other = trust_ctx(D("bigca.crt"), NULL);
    struct rw_tls_ctx *stapled = trust_ctx(D("clientca.crt"), D("ec.ocsp.der"));
    const uint8_t *id = a->certs[0].trust_id;
    assert_memory_equal(id, a2->certs[0].trust_id, TLS_TRUST_ID_LEN); /* a reload */
    assert_memory_not_equal(id, other->certs[0].trust_id, TLS_TRUST_ID_LEN);
    assert_memory_not_equal(id, stapled->certs[0].trust_id, TLS_TRUST_ID_LEN);
    rw_tls_ctx_unref(a);
    rw_tls_ctx_unref(a2);
    rw_tls_ctx_unref(other);
    rw_tls_ctx_unref(stapled);
}

/* ---- the ticket callback on conns bound to a WOLFSSL (no handshake) ---------------------- */
#define TK_STATE 108u /* wolfSSL's ticket state in 5.5.4, as CreateTicket passes it */
struct tk {
    unsigned char name[WOLFSSL_TICKET_NAME_SZ], iv[WOLFSSL_TICKET_IV_SZ];
    unsigned char mac[WOLFSSL_TICKET_MAC_SZ], buf[TK_STATE + 512];
    int len;
};

static struct rw_tls_conn *bound_conn(struct rw_tls_ctx *ctx)
{
    int err = 0;
    struct rw_tls_conn *t = rw_tls_conn_server(ctx, &err);
    assert_non_null(t);
    t->cert = &ctx->certs[0];
    WOLFSSL *ssl = wolfSSL_new(t->cert->ssl_ctx);
    assert_non_null(ssl);
    rw__tls_conn_bind(t, ssl);
    t->state = TLS_S_HANDSHAKE;
    return t;
}

static struct tk tk_seal(struct rw_tls_conn *t, struct rw_tls_keys *k, int cap)
{
    struct tk x;
    memset(&x, 0, sizeof(x));
    memset(x.buf, 0xa5, TK_STATE);
    x.len = cap;
    assert_int_equal(rw__tls_ticket_cb(t->ssl, x.name, x.iv, x.mac, 1, x.buf, TK_STATE, &x.len, k),
                     WOLFSSL_TICKET_RET_OK);
    return x;
}

static int tk_open(struct rw_tls_conn *t, struct rw_tls_keys *k, struct tk x)
{
    int out = x.len;
    int r = rw__tls_ticket_cb(t->ssl, x.name, x.iv, x.mac, 0, x.buf, x.len, &out, k);
    if (r == WOLFSSL_TICKET_RET_OK) {
        assert_int_equal(out, TK_STATE);
        for (int i = 0; i < x.len; i++)
            assert_int_equal(x.buf[i], i < (int)TK_STATE ? 0xa5 : 0); /* record wiped */
    }
    return r;
}

static void ticket_identity_never_outlives_its_ticket(void **state)
{
    (void)state;
    struct rw_tls_keys *k = keys_new(HOUR_MS, NULL);
    struct rw_tls_ctx *s = tk_ctx(RW_TLS_CLIENT_AUTH_OPTIONAL, D("clientca.crt"), k, 0);
    struct rw_tls_conn *alice = bound_conn(s), *anon = bound_conn(s), *t = bound_conn(s);
    size_t len = 0;
    uint8_t *der = pem_der(D("client.pem"), &len);
    assert_int_equal(rw__tls_peer_from_der(der, len, &alice->peer), 0);
    free(der);
    alice->peer_seen = true;
    int cap = (int)(TK_STATE + 512);
    struct tk ta = tk_seal(alice, k, cap), tn = tk_seal(anon, k, cap);
    assert_int_equal(ta.len, TK_STATE + 133); /* 61 + subject 31 + SAN 41 */
    assert_int_equal(tn.len, TK_STATE + 17);  /* trust id + flags */
    assert_int_equal(tk_open(t, k, ta), WOLFSSL_TICKET_RET_OK);
    assert_non_null(t->resume_peer);
    assert_string_equal(t->resume_peer->subject, ALICE_SUBJECT);
    assert_memory_equal(t->resume_peer->sha256, alice->peer->sha256, 32);
    assert_true(t->resume_seen);
    assert_int_equal(tk_open(t, k, tn), WOLFSSL_TICKET_RET_OK); /* next PSK: identity gone */
    assert_null(t->resume_peer);
    assert_false(t->resume_seen);
    assert_int_equal(tk_open(t, k, ta), WOLFSSL_TICKET_RET_OK);
    struct tk bad = ta;
    bad.iv[12] = 0; /* claims "no record": the AAD no longer matches */
    assert_int_equal(tk_open(t, k, bad), WOLFSSL_TICKET_RET_REJECT);
    assert_null(t->resume_peer);
    assert_int_equal(tk_open(t, k, ta), WOLFSSL_TICKET_RET_OK);
    bad = ta;
    bad.buf[TK_STATE + 20] ^= 1; /* inside the sealed record */
    assert_int_equal(tk_open(t, k, bad), WOLFSSL_TICKET_RET_REJECT);
    assert_null(t->resume_peer);
    /* too little room: sealed unusable, refused when offered */
    struct tk small = tk_seal(alice, k, (int)TK_STATE + 32);
    assert_int_equal(small.len, TK_STATE);
    assert_int_equal(tk_open(t, k, small), WOLFSSL_TICKET_RET_REJECT);
    assert_int_equal(tk_seal(anon, k, (int)TK_STATE + 32).len, TK_STATE + 17);
    /* a certificate that has expired since: refused (a full handshake would refuse it) */
    alice->peer->not_after = (int64_t)time(NULL) - 1;
    assert_int_equal(tk_open(t, k, tk_seal(alice, k, cap)), WOLFSSL_TICKET_RET_REJECT);
    assert_null(t->resume_peer);
    rw_tls_conn_free(alice);
    rw_tls_conn_free(anon);
    rw_tls_conn_free(t);
    rw_tls_ctx_unref(s);
    rw_tls_keys_unref(k);
}

int run_peer_tests(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(require_verified_identity),
        cmocka_unit_test(require_refuses_missing_and_unverifiable),
        cmocka_unit_test(optional_and_off),
        cmocka_unit_test(tls13_resumption_keeps_identity),
        cmocka_unit_test(tls12_resumption_keeps_identity),
        cmocka_unit_test(resumption_without_identity),
        cmocka_unit_test(identity_too_big_makes_full_handshakes),
        cmocka_unit_test(identity_with_other_keys_and_rotation),
        cmocka_unit_test(identity_bound_to_its_trust_anchors),
        cmocka_unit_test(trust_id_follows_the_anchors),
        cmocka_unit_test(ticket_identity_never_outlives_its_ticket),
    };
    return cmocka_run_group_tests_name("tls/peer", t, NULL, NULL);
}
