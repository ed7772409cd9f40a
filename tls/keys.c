/* SPDX-License-Identifier: MIT */
/* Session ticket keys owned by ringwall: epoch-derived ChaCha20-Poly1305 keys, shared by all. */
#include "tls/tls-int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <wolfssl/wolfcrypt/chacha20_poly1305.h>
#include <wolfssl/wolfcrypt/hmac.h>

#define KEYS_SECRET 32u
#define KEYS_ID 8u
#define KEYS_FILE_MAX 4096

_Static_assert(KEYS_ID + 8 == WOLFSSL_TICKET_NAME_SZ, "key name = id + epoch");
_Static_assert(CHACHA20_POLY1305_AEAD_IV_SIZE + 4 <= WOLFSSL_TICKET_IV_SZ, "nonce + format fit");
_Static_assert(CHACHA20_POLY1305_AEAD_AUTHTAG_SIZE <= WOLFSSL_TICKET_MAC_SZ, "tag fits the mac");

/* Domain separation: changing the cipher or the derivation needs a new label. */
static const char keys_label[] = "ringwall tls ticket v1 chacha20-poly1305";
static const char keys_id_label[] = "ringwall tls ticket id v1";

struct rw_tls_keys {
    atomic_uint refs;
    atomic_uint_fast64_t bumps; /* manual rotations, added to the clock epoch */
    /* config time, read-only after */
    uint64_t rotation_ms;
    uint8_t secret[KEYS_SECRET];
    uint8_t id[KEYS_ID]; /* names tickets of this secret, so foreign ones are rejected fast */
};

static int keys_from_file(struct rw_tls_keys *k, const char *path, char *err, size_t cap)
{
    uint8_t buf[KEYS_FILE_MAX];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = -errno;
        rw__tls_err(err, cap, "%s: cannot open: %s", path, strerror(-e));
        return e;
    }
    ssize_t n = read(fd, buf, sizeof(buf));
    int e = n < 0 ? -errno : 0;
    close(fd);
    if (n < 0) {
        rw__tls_err(err, cap, "%s: cannot read: %s", path, strerror(-e));
        return e;
    }
    if ((size_t)n < KEYS_SECRET) {
        rw__tls_err(err, cap, "%s: ticket key file needs at least %u bytes, has %zd", path,
                    KEYS_SECRET, n);
        return -EINVAL;
    }
    int r = wc_HKDF_Extract(WC_SHA256, (const byte *)keys_label, sizeof(keys_label) - 1, buf,
                            (word32)n, k->secret);
    memset(buf, 0, sizeof(buf));
    if (r != 0) {
        rw__tls_err(err, cap, "%s: key derivation failed (%d)", path, r);
        return -EINVAL;
    }
    return 0;
}

int rw_tls_keys_new(const struct rw_tls_keys_params *p, struct rw_tls_keys **out, char *err,
                    size_t errcap)
{
    *out = NULL;
    if (p->rotation_ms < 1000) {
        rw__tls_err(err, errcap, "ticket key rotation must be at least 1s");
        return -EINVAL;
    }
    struct rw_tls_keys *k = calloc(1, sizeof(*k));
    if (!k)
        return -ENOMEM;
    atomic_init(&k->refs, 1);
    k->rotation_ms = p->rotation_ms;
    int r = 0;
    if (p->key_file) {
        r = keys_from_file(k, p->key_file, err, errcap);
    } else if (getrandom(k->secret, sizeof(k->secret), 0) != (ssize_t)sizeof(k->secret)) {
        r = -EIO;
        rw__tls_err(err, errcap, "getrandom failed");
    }
    if (r == 0 && wc_HKDF(WC_SHA256, k->secret, KEYS_SECRET, NULL, 0, (const byte *)keys_id_label,
                          sizeof(keys_id_label) - 1, k->id, KEYS_ID) != 0) {
        r = -EINVAL;
        rw__tls_err(err, errcap, "ticket key id derivation failed");
    }
    if (r < 0) {
        memset(k, 0, sizeof(*k));
        free(k);
        return r;
    }
    *out = k;
    return 0;
}

void rw_tls_keys_ref(struct rw_tls_keys *k)
{
    atomic_fetch_add_explicit(&k->refs, 1, memory_order_relaxed);
}

void rw_tls_keys_unref(struct rw_tls_keys *k)
{
    if (k && atomic_fetch_sub_explicit(&k->refs, 1, memory_order_acq_rel) == 1) {
        memset(k->secret, 0, sizeof(k->secret));
        free(k);
    }
}

void rw_tls_keys_rotate(struct rw_tls_keys *k)
{
    atomic_fetch_add_explicit(&k->bumps, 1, memory_order_relaxed);
}

int rw__tls_keys_hint_s(const struct rw_tls_keys *k)
{
    uint64_t s = k->rotation_ms / 1000;
    return s > 7 * 86400 ? 7 * 86400 : (int)s; /* RFC 8446 caps lifetimes at 7 days */
}

static uint64_t keys_epoch(struct rw_tls_keys *k)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    return ms / k->rotation_ms + atomic_load_explicit(&k->bumps, memory_order_relaxed);
}

static int keys_derive(const struct rw_tls_keys *k, uint64_t epoch, uint8_t key[32])
{
    uint8_t info[sizeof(keys_label) - 1 + 8];
    memcpy(info, keys_label, sizeof(keys_label) - 1);
    for (int i = 0; i < 8; i++)
        info[sizeof(keys_label) - 1 + i] = (uint8_t)(epoch >> (56 - 8 * i));
    return wc_HKDF(WC_SHA256, k->secret, KEYS_SECRET, NULL, 0, info, sizeof(info), key, 32);
}

static uint64_t name_epoch(const unsigned char *name)
{
    uint64_t e = 0;
    for (int i = 0; i < 8; i++)
        e = e << 8 | name[KEYS_ID + i];
    return e;
}

/* Ticket layout: name = id || epoch; iv = 12-byte random nonce || format || 0 || record
 * length (16 bits); mac = tag || 16 zero bytes. Name and iv are authenticated (AAD); the
 * sealed part is wolfSSL's ticket state followed by the identity record (peer.c), whose
 * length the iv gives, so both sides agree where wolfSSL's part ends without knowing its
 * size. A ticket whose identity did not fit is sealed as unusable: it never resumes, so the
 * client's next connection makes a full handshake and shows its certificate again. */
enum ticket_fmt {
    TICKET_PLAIN = 0, /* wolfSSL's state only (no client auth, or an older ringwall) */
    TICKET_IDENTITY,  /* followed by an identity record */
    TICKET_UNUSABLE,  /* the identity did not fit: refused when offered */
};
#define TICKET_NONCE CHACHA20_POLY1305_AEAD_IV_SIZE

static int ticket_aead(const struct rw_tls_keys *k, uint64_t epoch, bool enc,
                       const unsigned char *name, const unsigned char *iv, unsigned char *mac,
                       unsigned char *ticket, size_t len)
{
    uint8_t key[32], aad[WOLFSSL_TICKET_NAME_SZ + WOLFSSL_TICKET_IV_SZ];
    if (keys_derive(k, epoch, key) != 0)
        return -1;
    memcpy(aad, name, WOLFSSL_TICKET_NAME_SZ);
    memcpy(aad + WOLFSSL_TICKET_NAME_SZ, iv, WOLFSSL_TICKET_IV_SZ);
    int r;
    if (enc) {
        memset(mac, 0, WOLFSSL_TICKET_MAC_SZ);
        r = wc_ChaCha20Poly1305_Encrypt(key, iv, aad, sizeof(aad), ticket, (word32)len, ticket,
                                        mac);
    } else {
        static const uint8_t zero[WOLFSSL_TICKET_MAC_SZ - CHACHA20_POLY1305_AEAD_AUTHTAG_SIZE];
        if (memcmp(mac + CHACHA20_POLY1305_AEAD_AUTHTAG_SIZE, zero, sizeof(zero)) != 0)
            r = -1;
        else
            r = wc_ChaCha20Poly1305_Decrypt(key, iv, aad, sizeof(aad), ticket, (word32)len, mac,
                                            ticket);
    }
    memset(key, 0, sizeof(key));
    return r;
}

/* wolfSSL offers *out_len bytes (WOLFSSL_TICKET_ENC_SZ) for its in_len-byte state: the
 * identity record goes in the room after it. */
static int ticket_seal(struct rw_tls_keys *k, struct rw_tls_conn *t, unsigned char *name,
                       unsigned char *iv, unsigned char *mac, unsigned char *ticket, int in_len,
                       int *out_len)
{
    size_t cap = *out_len > in_len ? (size_t)(*out_len - in_len) : 0;
    ssize_t rec = t ? rw__tls_peer_seal(t, ticket + in_len, cap) : 0;
    enum ticket_fmt fmt = rec > 0 ? TICKET_IDENTITY : rec < 0 ? TICKET_UNUSABLE : TICKET_PLAIN;
    if (rec < 0)
        rec = 0;
    uint64_t epoch = keys_epoch(k);
    memcpy(name, k->id, KEYS_ID);
    for (int i = 0; i < 8; i++)
        name[KEYS_ID + i] = (uint8_t)(epoch >> (56 - 8 * i));
    memset(iv, 0, WOLFSSL_TICKET_IV_SZ);
    if (getrandom(iv, TICKET_NONCE, 0) != TICKET_NONCE)
        return WOLFSSL_TICKET_RET_FATAL;
    iv[TICKET_NONCE] = (uint8_t)fmt;
    iv[TICKET_NONCE + 2] = (uint8_t)(rec >> 8);
    iv[TICKET_NONCE + 3] = (uint8_t)rec;
    size_t len = (size_t)in_len + (size_t)rec;
    if (ticket_aead(k, epoch, true, name, iv, mac, ticket, len) != 0)
        return WOLFSSL_TICKET_RET_FATAL;
    *out_len = (int)len;
    return WOLFSSL_TICKET_RET_OK;
}

/* Accept the current and the previous epoch only. The identity record is handed to t and
 * wiped from the buffer (wolfSSL wipes only its own part after use). */
static int ticket_open(struct rw_tls_keys *k, struct rw_tls_conn *t, unsigned char *name,
                       unsigned char *iv, unsigned char *mac, unsigned char *ticket, int in_len,
                       int *out_len)
{
    size_t rec = (size_t)iv[TICKET_NONCE + 2] << 8 | iv[TICKET_NONCE + 3];
    enum ticket_fmt fmt = iv[TICKET_NONCE];
    if ((fmt != TICKET_PLAIN && fmt != TICKET_IDENTITY) || iv[TICKET_NONCE + 1] != 0 ||
        (fmt == TICKET_PLAIN) != (rec == 0) || rec > (size_t)in_len)
        return WOLFSSL_TICKET_RET_REJECT;
    uint64_t now = keys_epoch(k), epoch = name_epoch(name);
    if (memcmp(name, k->id, KEYS_ID) != 0 || (epoch != now && epoch + 1 != now))
        return WOLFSSL_TICKET_RET_REJECT;
    if (ticket_aead(k, epoch, false, name, iv, mac, ticket, (size_t)in_len) != 0)
        return WOLFSSL_TICKET_RET_REJECT;
    size_t state = (size_t)in_len - rec;
    int r = t ? rw__tls_peer_restore(t, ticket + state, rec) : 0;
    memset(ticket + state, 0, rec);
    if (r < 0) {
        rw__tls_peer_unstash(t); /* (r < 0 needs a conn) nothing of a refused ticket stays */
        return WOLFSSL_TICKET_RET_REJECT;
    }
    *out_len = (int)state;
    return epoch == now ? WOLFSSL_TICKET_RET_OK : WOLFSSL_TICKET_RET_CREATE;
}

int rw__tls_ticket_cb(WOLFSSL *ssl, unsigned char name[WOLFSSL_TICKET_NAME_SZ],
                      unsigned char iv[WOLFSSL_TICKET_IV_SZ],
                      unsigned char mac[WOLFSSL_TICKET_MAC_SZ], int enc, unsigned char *ticket,
                      int in_len, int *out_len, void *user)
{
    struct rw_tls_keys *k = user;
    struct rw_tls_conn *t = ssl ? rw__tls_conn_of(ssl) : NULL;
    if (!k || in_len < 0)
        return WOLFSSL_TICKET_RET_FATAL;
    if (enc)
        return ticket_seal(k, t, name, iv, mac, ticket, in_len, out_len);
    if (t)
        rw__tls_peer_unstash(t); /* an identity never outlives the ticket that carried it */
    return ticket_open(k, t, name, iv, mac, ticket, in_len, out_len);
}
