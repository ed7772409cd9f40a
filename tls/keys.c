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
_Static_assert(CHACHA20_POLY1305_AEAD_IV_SIZE <= WOLFSSL_TICKET_IV_SZ, "nonce fits the iv");
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

/* Seal: name = id || epoch, iv = 12 random bytes + 4 zero, mac = tag + 16 zero; the whole
 * name and iv are authenticated. Open: accept the current and the previous epoch only. */
int rw__tls_ticket_cb(WOLFSSL *ssl, unsigned char name[WOLFSSL_TICKET_NAME_SZ],
                      unsigned char iv[WOLFSSL_TICKET_IV_SZ],
                      unsigned char mac[WOLFSSL_TICKET_MAC_SZ], int enc, unsigned char *ticket,
                      int in_len, int *out_len, void *user)
{
    struct rw_tls_keys *k = user;
    uint8_t key[32], aad[WOLFSSL_TICKET_NAME_SZ + WOLFSSL_TICKET_IV_SZ];
    int ret = WOLFSSL_TICKET_RET_OK;
    if (!k || in_len < 0)
        return WOLFSSL_TICKET_RET_FATAL;
    uint64_t now = keys_epoch(k), epoch = now;
    if (enc) {
        memcpy(name, k->id, KEYS_ID);
        for (int i = 0; i < 8; i++)
            name[KEYS_ID + i] = (uint8_t)(epoch >> (56 - 8 * i));
        memset(iv, 0, WOLFSSL_TICKET_IV_SZ);
        if (getrandom(iv, CHACHA20_POLY1305_AEAD_IV_SIZE, 0) != CHACHA20_POLY1305_AEAD_IV_SIZE)
            return WOLFSSL_TICKET_RET_FATAL;
    } else {
        epoch = name_epoch(name);
        if (memcmp(name, k->id, KEYS_ID) != 0 || (epoch != now && epoch + 1 != now))
            return WOLFSSL_TICKET_RET_REJECT;
        ret = epoch == now ? WOLFSSL_TICKET_RET_OK : WOLFSSL_TICKET_RET_CREATE;
    }
    if (keys_derive(k, epoch, key) != 0)
        return WOLFSSL_TICKET_RET_FATAL;
    memcpy(aad, name, WOLFSSL_TICKET_NAME_SZ);
    memcpy(aad + WOLFSSL_TICKET_NAME_SZ, iv, WOLFSSL_TICKET_IV_SZ);
    int r;
    if (enc) {
        memset(mac, 0, WOLFSSL_TICKET_MAC_SZ);
        r = wc_ChaCha20Poly1305_Encrypt(key, iv, aad, sizeof(aad), ticket, (word32)in_len, ticket,
                                        mac);
    } else {
        static const uint8_t zero[WOLFSSL_TICKET_MAC_SZ - CHACHA20_POLY1305_AEAD_AUTHTAG_SIZE];
        if (memcmp(mac + CHACHA20_POLY1305_AEAD_AUTHTAG_SIZE, zero, sizeof(zero)) != 0)
            r = -1;
        else
            r = wc_ChaCha20Poly1305_Decrypt(key, iv, aad, sizeof(aad), ticket, (word32)in_len, mac,
                                            ticket);
    }
    memset(key, 0, sizeof(key));
    (void)ssl;
    if (r != 0)
        return enc ? WOLFSSL_TICKET_RET_FATAL : WOLFSSL_TICKET_RET_REJECT;
    *out_len = in_len;
    return ret;
}
