/* SPDX-License-Identifier: MIT */
/* Sticky cookie tokens: key setup (file + HKDF or random), ChaCha20-Poly1305 seal/open. */
#include "balancers/sticky.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The Debian build's feature macros live in options.h; without it struct layouts and
 * available functions would not match the library. */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/chacha20_poly1305.h>
#include <wolfssl/wolfcrypt/hmac.h>
#include <wolfssl/wolfcrypt/random.h>

#define TOK_VERSION 1u
#define TOK_NONCE 12u
#define TOK_PLAIN 16u
#define TOK_TAG 16u
#define TOK_RAW (1u + TOK_NONCE + TOK_PLAIN + TOK_TAG) /* 45 bytes -> 60 base64url chars */
#define KEY_LEN 32u
#define AAD_MAX 256u /* version byte + ctx; longer contexts are hashed (see tok_aad) */

_Static_assert(TOK_RAW % 3 == 0, "token must encode to whole base64 groups");
_Static_assert(TOK_RAW / 3 * 4 == RW_STICKY_TOKEN_LEN, "token length");
_Static_assert(KEY_LEN == CHACHA20_POLY1305_AEAD_KEYSIZE, "key size");
_Static_assert(TOK_NONCE == CHACHA20_POLY1305_AEAD_IV_SIZE, "nonce size");
_Static_assert(TOK_TAG == CHACHA20_POLY1305_AEAD_AUTHTAG_SIZE, "tag size");

/* Domain separation for the KDF: changing it (or the cipher) needs a new version byte. */
static const char kdf_info[] = "ringwall sticky token v1 chacha20-poly1305";

struct rw_sticky_key {
    uint8_t key[KEY_LEN]; /* config time, read-only after */
};

static const char b64u_alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* ---- per-thread DRBG for nonces --------------------------------------------------------
 * A WC_RNG is not safe for concurrent use, and a lock is not allowed on the request path,
 * so each thread gets its own, freed by a thread-specific destructor. The Hash_DRBG costs
 * about 0.9 us per call whatever the size up to a few blocks, so nonces are drawn in
 * batches of NONCE_BATCH (about 90 ns per nonce instead of 750 ns measured). */

#define NONCE_BATCH 64u

struct nonce_pool {
    WC_RNG rng;
    unsigned forks; /* rng_forks when rng was seeded */
    uint32_t used;  /* nonces consumed from buf; NONCE_BATCH = refill */
    uint8_t buf[NONCE_BATCH * TOK_NONCE];
};

static pthread_once_t rng_once = PTHREAD_ONCE_INIT;
static pthread_key_t rng_tkey;
static int rng_tkey_err;
static _Thread_local struct nonce_pool *rng_tl;
/* Bumped in a forked child: the DRBG state and the batch were copied from the parent and
 * would repeat its nonces (fatal for ChaCha20-Poly1305), so the child reseeds first. */
static atomic_uint rng_forks;

static void rng_atfork_child(void)
{
    atomic_fetch_add_explicit(&rng_forks, 1, memory_order_relaxed);
}

static void rng_destroy(void *p)
{
    struct nonce_pool *np = p;
    wc_FreeRng(&np->rng);
    explicit_bzero(np, sizeof(*np));
    free(np);
}

static void rng_tkey_init(void)
{
    rng_tkey_err = pthread_key_create(&rng_tkey, rng_destroy);
    if (rng_tkey_err == 0)
        rng_tkey_err = pthread_atfork(NULL, NULL, rng_atfork_child);
}

static struct nonce_pool *rng_thread(void)
{
    if (rng_tl)
        return rng_tl;
    if (pthread_once(&rng_once, rng_tkey_init) != 0 || rng_tkey_err != 0)
        return NULL;
    struct nonce_pool *np = calloc(1, sizeof(*np));
    if (!np)
        return NULL;
    if (wc_InitRng(&np->rng) != 0) {
        free(np);
        return NULL;
    }
    np->used = NONCE_BATCH;
    np->forks = atomic_load_explicit(&rng_forks, memory_order_relaxed);
    if (pthread_setspecific(rng_tkey, np) != 0) {
        rng_destroy(np);
        return NULL;
    }
    rng_tl = np;
    return np;
}

/* A fresh random nonce for this thread; false on an RNG failure. */
static bool rng_nonce(uint8_t nonce[TOK_NONCE])
{
    struct nonce_pool *np = rng_thread();
    if (!np)
        return false;
    unsigned forks = atomic_load_explicit(&rng_forks, memory_order_relaxed);
    if (np->forks != forks) {
        wc_FreeRng(&np->rng);
        if (wc_InitRng(&np->rng) != 0) {
            /* leave a state rng_destroy can still free, and retry on the next call */
            memset(&np->rng, 0, sizeof(np->rng));
            return false;
        }
        np->forks = forks;
        np->used = NONCE_BATCH;
    }
    if (np->used == NONCE_BATCH) {
        if (wc_RNG_GenerateBlock(&np->rng, np->buf, sizeof(np->buf)) != 0)
            return false;
        np->used = 0;
    }
    uint8_t *src = np->buf + np->used++ * TOK_NONCE;
    memcpy(nonce, src, TOK_NONCE);
    explicit_bzero(src, TOK_NONCE); /* a nonce is used once, never handed out again */
    return true;
}

/* ---- little helpers --------------------------------------------------------------------- */

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Encode n (a multiple of 3) bytes as base64url; writes n / 3 * 4 characters. */
static void b64u_encode(const uint8_t *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *out++ = b64u_alpha[v >> 18 & 63];
        *out++ = b64u_alpha[v >> 12 & 63];
        *out++ = b64u_alpha[v >> 6 & 63];
        *out++ = b64u_alpha[v & 63];
    }
}

static int b64u_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* Decode len (a multiple of 4) characters; false on any character outside the alphabet.
 * With whole groups every encoding is canonical, so one token has one spelling. */
static bool b64u_decode(const char *in, size_t len, uint8_t *out)
{
    for (size_t i = 0; i < len; i += 4) {
        uint32_t v = 0;
        for (size_t j = 0; j < 4; j++) {
            int d = b64u_value((unsigned char)in[i + j]);
            if (d < 0)
                return false;
            v = v << 6 | (uint32_t)d;
        }
        *out++ = (uint8_t)(v >> 16);
        *out++ = (uint8_t)(v >> 8);
        *out++ = (uint8_t)v;
    }
    return true;
}

/* AAD = version byte | ctx. A ctx longer than the stack buffer is replaced by its
 * HMAC-SHA256 under a zero key (HKDF-Extract without salt), which still binds it, and
 * the version byte gets its top bit set. Returns the AAD length, or 0 on a hashing failure. */
static uint32_t tok_aad(const char *ctx, uint8_t aad[AAD_MAX])
{
    size_t n = ctx ? strlen(ctx) : 0;
    aad[0] = TOK_VERSION;
    if (n < AAD_MAX) {
        if (n)
            memcpy(aad + 1, ctx, n);
        return (uint32_t)(1 + n);
    }
    aad[0] = TOK_VERSION | 0x80; /* a hashed ctx never collides with a literal one */
    if (wc_HKDF_Extract(WC_SHA256, NULL, 0, (const byte *)ctx, (word32)n, aad + 1) != 0)
        return 0;
    return 1 + WC_SHA256_DIGEST_SIZE;
}

/* ---- key ---------------------------------------------------------------------------------- */

/* Read the whole file into buf (cap bytes); -EINVAL when it holds more. */
static ssize_t key_read_file(const char *path, uint8_t *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = -errno;
            close(fd);
            return e;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == cap) {
            uint8_t extra;
            r = read(fd, &extra, 1);
            close(fd);
            return r == 0 ? (ssize_t)n : -EINVAL;
        }
    }
    close(fd);
    return (ssize_t)n;
}

static int key_from_file(const char *path, uint8_t key[KEY_LEN])
{
    uint8_t *secret = malloc(RW_STICKY_SECRET_MAX);
    if (!secret)
        return -ENOMEM;
    ssize_t n = key_read_file(path, secret, RW_STICKY_SECRET_MAX);
    int ret = 0;
    if (n >= 0) {
        while (n > 0 && (secret[n - 1] == '\n' || secret[n - 1] == '\r'))
            n--;
        if (n < RW_STICKY_SECRET_MIN)
            ret = -EINVAL;
        else if (wc_HKDF(WC_SHA256, secret, (word32)n, NULL, 0, (const byte *)kdf_info,
                         sizeof(kdf_info) - 1, key, KEY_LEN) != 0)
            ret = -EIO;
    } else {
        ret = (int)n;
    }
    explicit_bzero(secret, RW_STICKY_SECRET_MAX);
    free(secret);
    return ret;
}

static int key_random(uint8_t key[KEY_LEN])
{
    WC_RNG rng;
    if (wc_InitRng(&rng) != 0)
        return -EIO;
    int rc = wc_RNG_GenerateBlock(&rng, key, KEY_LEN);
    wc_FreeRng(&rng);
    return rc == 0 ? 0 : -EIO;
}

int rw_sticky_key_new(const char *key_file, struct rw_sticky_key **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    struct rw_sticky_key *k = calloc(1, sizeof(*k));
    if (!k)
        return -ENOMEM;
    int rc = key_file && key_file[0] ? key_from_file(key_file, k->key) : key_random(k->key);
    if (rc != 0) {
        rw_sticky_key_free(k);
        return rc;
    }
    *out = k;
    return 0;
}

void rw_sticky_key_free(struct rw_sticky_key *k)
{
    if (!k)
        return;
    explicit_bzero(k, sizeof(*k));
    free(k);
}

/* ---- seal / open ---------------------------------------------------------------------------- */

int rw_sticky_seal(const struct rw_sticky_key *k, const char *ctx, uint64_t server_uid,
                   uint32_t issued_s, uint32_t last_s, char *out, size_t cap)
{
    if (!k || !out)
        return -EINVAL;
    if (cap < RW_STICKY_TOKEN_CAP)
        return -ENOSPC;
    out[0] = '\0';
    uint8_t raw[TOK_RAW], plain[TOK_PLAIN], aad[AAD_MAX];
    uint8_t *nonce = raw + 1, *ct = raw + 1 + TOK_NONCE, *tag = ct + TOK_PLAIN;
    uint32_t aadlen = tok_aad(ctx, aad);
    if (!aadlen || !rng_nonce(nonce))
        return -EIO;
    raw[0] = TOK_VERSION;
    put_le64(plain, server_uid);
    put_le32(plain + 8, issued_s);
    put_le32(plain + 12, last_s);
    int rc = wc_ChaCha20Poly1305_Encrypt(k->key, nonce, aad, aadlen, plain, TOK_PLAIN, ct, tag);
    explicit_bzero(plain, sizeof(plain));
    if (rc != 0)
        return -EIO;
    b64u_encode(raw, TOK_RAW, out);
    out[RW_STICKY_TOKEN_LEN] = '\0';
    return RW_STICKY_TOKEN_LEN;
}

int rw_sticky_open(const struct rw_sticky_key *k, const char *ctx, const char *tok, size_t len,
                   uint64_t *server_uid, uint32_t *issued_s, uint32_t *last_s)
{
    uint8_t raw[TOK_RAW], plain[TOK_PLAIN], aad[AAD_MAX];
    if (!k || !tok || len != RW_STICKY_TOKEN_LEN || !b64u_decode(tok, len, raw) ||
        raw[0] != TOK_VERSION)
        return -EBADMSG;
    uint32_t aadlen = tok_aad(ctx, aad);
    const uint8_t *nonce = raw + 1, *ct = raw + 1 + TOK_NONCE, *tag = ct + TOK_PLAIN;
    if (!aadlen ||
        wc_ChaCha20Poly1305_Decrypt(k->key, nonce, aad, aadlen, ct, TOK_PLAIN, tag, plain) != 0) {
        explicit_bzero(plain, sizeof(plain));
        return -EBADMSG;
    }
    if (server_uid)
        *server_uid = get_le64(plain);
    if (issued_s)
        *issued_s = get_le32(plain + 8);
    if (last_s)
        *last_s = get_le32(plain + 12);
    explicit_bzero(plain, sizeof(plain));
    return 0;
}

/* ---- expiry policy helper ----------------------------------------------------------------- */

/* Seconds elapsed from t to now; -1 when t lies more than the tolerated skew ahead. */
static int64_t fresh_elapsed(uint32_t now_s, uint32_t t)
{
    int64_t d = (int64_t)now_s - (int64_t)t;
    if (d < -(int64_t)RW_STICKY_SKEW_S)
        return -1;
    return d < 0 ? 0 : d;
}

bool rw_sticky_fresh(uint32_t now_s, uint32_t issued_s, uint32_t last_s, uint32_t ttl_s,
                     uint32_t idle_s)
{
    int64_t age = fresh_elapsed(now_s, issued_s), idle = fresh_elapsed(now_s, last_s);
    if (age < 0 || idle < 0)
        return false;
    if (ttl_s && age >= ttl_s)
        return false;
    if (idle_s && idle >= idle_s)
        return false;
    return true;
}
