/* SPDX-License-Identifier: MIT */
/* Tests for balancers/sticky_token.c: keys, seal/open, tamper resistance, freshness. */
#include "tests.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "balancers/sticky.h"

#define UID 0x0123456789abcdefull

static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Independent base64url decoder (whole groups only), for inspecting tokens. */
static size_t t_b64u_decode(const char *in, size_t len, uint8_t *out)
{
    size_t n = 0;
    for (size_t i = 0; i + 4 <= len; i += 4) {
        uint32_t v = 0;
        for (int j = 0; j < 4; j++) {
            const char *p = strchr(alpha, in[i + j]);
            assert_non_null(p);
            v = v << 6 | (uint32_t)(p - alpha);
        }
        out[n++] = (uint8_t)(v >> 16);
        out[n++] = (uint8_t)(v >> 8);
        out[n++] = (uint8_t)v;
    }
    return n;
}

/* Write len bytes to a fresh temporary file; returns its path (static buffer per slot). */
static const char *t_keyfile(int slot, const void *data, size_t len)
{
    static char paths[4][64];
    snprintf(paths[slot], sizeof(paths[slot]), "/tmp/rw-sticky-test-XXXXXX");
    int fd = mkstemp(paths[slot]);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
    return paths[slot];
}

static struct rw_sticky_key *t_key(const char *file)
{
    struct rw_sticky_key *k = NULL;
    assert_int_equal(rw_sticky_key_new(file, &k), 0);
    assert_non_null(k);
    return k;
}

static void t_seal(const struct rw_sticky_key *k, const char *ctx, uint64_t uid,
                   char tok[RW_STICKY_TOKEN_CAP])
{
    assert_int_equal(rw_sticky_seal(k, ctx, uid, 1000, 1100, tok, RW_STICKY_TOKEN_CAP),
                     RW_STICKY_TOKEN_LEN);
}

static void t_assert_bad(const struct rw_sticky_key *k, const char *ctx, const char *tok,
                         size_t len)
{
    uint64_t uid = 7;
    uint32_t is = 8, ls = 9;
    assert_int_equal(rw_sticky_open(k, ctx, tok, len, &uid, &is, &ls), -EBADMSG);
    assert_true(uid == 7 && is == 8 && ls == 9); /* outputs untouched */
}

static void token_round_trip(void **state)
{
    struct rw_sticky_key *k = t_key(NULL);
    const uint64_t uids[] = {UID, 0, UINT64_MAX, 1};
    for (size_t i = 0; i < sizeof(uids) / sizeof(uids[0]); i++) {
        char tok[RW_STICKY_TOKEN_CAP];
        assert_int_equal(
            rw_sticky_seal(k, "api", uids[i], 1700000000u, UINT32_MAX, tok, sizeof(tok)),
            RW_STICKY_TOKEN_LEN);
        assert_int_equal(strlen(tok), RW_STICKY_TOKEN_LEN);
        assert_int_equal(strspn(tok, alpha), RW_STICKY_TOKEN_LEN); /* cookie-safe */
        uint64_t uid = 0;
        uint32_t is = 0, ls = 0;
        assert_int_equal(rw_sticky_open(k, "api", tok, strlen(tok), &uid, &is, &ls), 0);
        assert_true(uid == uids[i]);
        assert_int_equal(is, 1700000000u);
        assert_int_equal(ls, UINT32_MAX);
        assert_int_equal(rw_sticky_open(k, "api", tok, strlen(tok), NULL, NULL, NULL), 0);
    }
    rw_sticky_key_free(k);
}

static void token_small_buffer_and_bad_args(void **state)
{
    struct rw_sticky_key *k = t_key(NULL);
    char tok[RW_STICKY_TOKEN_CAP] = "x";
    assert_int_equal(rw_sticky_seal(k, "a", 1, 1, 1, tok, RW_STICKY_TOKEN_LEN), -ENOSPC);
    assert_int_equal(rw_sticky_seal(NULL, "a", 1, 1, 1, tok, sizeof(tok)), -EINVAL);
    assert_int_equal(rw_sticky_seal(k, "a", 1, 1, 1, NULL, sizeof(tok)), -EINVAL);
    assert_int_equal(rw_sticky_key_new(NULL, NULL), -EINVAL);
    t_assert_bad(NULL, "a", "x", 1);
    rw_sticky_key_free(k);
    rw_sticky_key_free(NULL);
}

/* Every single-character change, to every other base64url character, is rejected. */
static void token_tamper_every_byte(void **state)
{
    struct rw_sticky_key *k = t_key(NULL);
    char tok[RW_STICKY_TOKEN_CAP], bad[RW_STICKY_TOKEN_CAP];
    t_seal(k, "api", UID, tok);
    for (size_t i = 0; i < RW_STICKY_TOKEN_LEN; i++) {
        for (const char *c = alpha; *c; c++) {
            if (*c == tok[i])
                continue;
            memcpy(bad, tok, sizeof(bad));
            bad[i] = *c;
            t_assert_bad(k, "api", bad, RW_STICKY_TOKEN_LEN);
        }
        memcpy(bad, tok, sizeof(bad));
        bad[i] = '=';
        t_assert_bad(k, "api", bad, RW_STICKY_TOKEN_LEN);
    }
    /* and every single bit of the raw bytes, re-encoded validly */
    uint8_t raw[64];
    size_t n = t_b64u_decode(tok, RW_STICKY_TOKEN_LEN, raw);
    assert_int_equal(n, 45);
    for (size_t i = 0; i < n * 8; i++) {
        raw[i / 8] ^= (uint8_t)(1u << (i % 8));
        for (size_t g = 0; g < n; g += 3) {
            uint32_t v = (uint32_t)raw[g] << 16 | (uint32_t)raw[g + 1] << 8 | raw[g + 2];
            for (int j = 0; j < 4; j++)
                bad[g / 3 * 4 + (size_t)j] = alpha[v >> (18 - 6 * j) & 63];
        }
        t_assert_bad(k, "api", bad, RW_STICKY_TOKEN_LEN);
        raw[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
    rw_sticky_key_free(k);
}

static void token_malformed(void **state)
{
    struct rw_sticky_key *k = t_key(NULL);
    char tok[RW_STICKY_TOKEN_CAP], longer[RW_STICKY_TOKEN_CAP + 8];
    t_seal(k, "api", UID, tok);
    for (size_t len = 0; len < RW_STICKY_TOKEN_LEN; len++)
        t_assert_bad(k, "api", tok, len); /* every truncation, including empty */
    snprintf(longer, sizeof(longer), "%sA", tok);
    t_assert_bad(k, "api", longer, strlen(longer));
    snprintf(longer, sizeof(longer), "%s====", tok);
    t_assert_bad(k, "api", longer, strlen(longer));
    t_assert_bad(k, "api", NULL, RW_STICKY_TOKEN_LEN);
    t_assert_bad(k, "api", "", 0);
    char junk[RW_STICKY_TOKEN_CAP];
    memset(junk, '!', RW_STICKY_TOKEN_LEN);
    junk[RW_STICKY_TOKEN_LEN] = '\0';
    t_assert_bad(k, "api", junk, RW_STICKY_TOKEN_LEN);
    memset(junk, 'A', RW_STICKY_TOKEN_LEN); /* valid base64url, all zero bytes */
    t_assert_bad(k, "api", junk, RW_STICKY_TOKEN_LEN);
    /* standard base64 characters instead of the url-safe ones */
    memcpy(junk, tok, sizeof(junk));
    junk[5] = '+';
    t_assert_bad(k, "api", junk, RW_STICKY_TOKEN_LEN);
    junk[5] = '/';
    t_assert_bad(k, "api", junk, RW_STICKY_TOKEN_LEN);
    junk[5] = '\0';
    t_assert_bad(k, "api", junk, RW_STICKY_TOKEN_LEN);
    rw_sticky_key_free(k);
}

static void token_foreign_key_and_ctx(void **state)
{
    struct rw_sticky_key *k1 = t_key(NULL), *k2 = t_key(NULL);
    char tok[RW_STICKY_TOKEN_CAP];
    t_seal(k1, "api", UID, tok);
    t_assert_bad(k2, "api", tok, RW_STICKY_TOKEN_LEN); /* two random keys differ */
    t_assert_bad(k1, "web", tok, RW_STICKY_TOKEN_LEN);
    t_assert_bad(k1, "api ", tok, RW_STICKY_TOKEN_LEN);
    t_assert_bad(k1, "", tok, RW_STICKY_TOKEN_LEN);
    /* NULL and "" are the same context */
    t_seal(k1, NULL, UID, tok);
    assert_int_equal(rw_sticky_open(k1, "", tok, RW_STICKY_TOKEN_LEN, NULL, NULL, NULL), 0);
    /* long contexts (hashed into the AAD) still bind */
    char c1[600], c2[600];
    memset(c1, 'u', sizeof(c1) - 1);
    c1[sizeof(c1) - 1] = '\0';
    memcpy(c2, c1, sizeof(c2));
    c2[400] = 'v';
    t_seal(k1, c1, UID, tok);
    assert_int_equal(rw_sticky_open(k1, c1, tok, RW_STICKY_TOKEN_LEN, NULL, NULL, NULL), 0);
    t_assert_bad(k1, c2, tok, RW_STICKY_TOKEN_LEN);
    c1[300] = '\0';
    t_assert_bad(k1, c1, tok, RW_STICKY_TOKEN_LEN);
    rw_sticky_key_free(k1);
    rw_sticky_key_free(k2);
}

static bool t_contains(const uint8_t *hay, size_t n, const uint8_t *needle, size_t m)
{
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(hay + i, needle, m) == 0)
            return true;
    return false;
}

static void token_reveals_nothing(void **state)
{
    struct rw_sticky_key *k = t_key(NULL);
    char a[RW_STICKY_TOKEN_CAP], b[RW_STICKY_TOKEN_CAP];
    t_seal(k, "api", UID, a);
    t_seal(k, "api", UID, b);
    assert_string_not_equal(a, b); /* fresh nonce each time */
    uint8_t ra[64], rb[64], le[8], be[8];
    size_t n = t_b64u_decode(a, RW_STICKY_TOKEN_LEN, ra);
    t_b64u_decode(b, RW_STICKY_TOKEN_LEN, rb);
    for (int i = 0; i < 8; i++) {
        le[i] = (uint8_t)(UID >> (8 * i));
        be[i] = (uint8_t)(UID >> (56 - 8 * i));
    }
    /* no 4-byte run of the uid in either byte order appears in the token (a chance
     * match is about 1 in 10^7) */
    for (int i = 0; i + 4 <= 8; i++) {
        assert_false(t_contains(ra, n, le + i, 4));
        assert_false(t_contains(ra, n, be + i, 4));
    }
    /* the ciphertexts of equal plaintexts differ (bytes 13..28) */
    assert_memory_not_equal(ra + 13, rb + 13, 16);
    rw_sticky_key_free(k);
}

/* Nonces never repeat across the per-thread batches (300 seals span several refills). */
static void token_nonces_unique(void **state)
{
    struct rw_sticky_key *k = t_key(NULL);
    enum { N = 300 };
    static uint8_t nonces[N][12];
    char tok[RW_STICKY_TOKEN_CAP];
    uint8_t raw[64];
    for (int i = 0; i < N; i++) {
        t_seal(k, "api", UID, tok);
        t_b64u_decode(tok, RW_STICKY_TOKEN_LEN, raw);
        memcpy(nonces[i], raw + 1, 12);
        for (int j = 0; j < i; j++)
            assert_memory_not_equal(nonces[i], nonces[j], 12);
    }
    rw_sticky_key_free(k);
}

/* A forked child must not replay the parent's buffered nonces or DRBG stream. */
static void token_fork_reseeds(void **state)
{
    struct rw_sticky_key *k = t_key(NULL);
    char tok[RW_STICKY_TOKEN_CAP], ctok[RW_STICKY_TOKEN_CAP] = "";
    t_seal(k, "api", UID, tok); /* this thread's nonce batch now exists */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        int ok =
            rw_sticky_seal(k, "api", UID, 1000, 1100, ctok, sizeof(ctok)) == RW_STICKY_TOKEN_LEN;
        ssize_t w = write(fds[1], ctok, RW_STICKY_TOKEN_LEN);
        _exit(ok && w == RW_STICKY_TOKEN_LEN ? 0 : 1);
    }
    close(fds[1]);
    t_seal(k, "api", UID, tok);
    assert_int_equal(read(fds[0], ctok, RW_STICKY_TOKEN_LEN), RW_STICKY_TOKEN_LEN);
    close(fds[0]);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    uint8_t a[64], b[64];
    t_b64u_decode(tok, RW_STICKY_TOKEN_LEN, a);
    t_b64u_decode(ctok, RW_STICKY_TOKEN_LEN, b);
    assert_memory_not_equal(a + 1, b + 1, 12);
    assert_int_equal(rw_sticky_open(k, "api", ctok, RW_STICKY_TOKEN_LEN, NULL, NULL, NULL), 0);
    rw_sticky_key_free(k);
}

static void key_files(void **state)
{
    uint8_t s1[48], s2[48];
    for (int i = 0; i < 48; i++) {
        s1[i] = (uint8_t)(i * 7 + 1);
        s2[i] = (uint8_t)(i * 7 + 2);
    }
    const char *f1 = t_keyfile(0, s1, sizeof(s1)), *f2 = t_keyfile(1, s2, sizeof(s2));
    struct rw_sticky_key *a = t_key(f1), *b = t_key(f1), *c = t_key(f2);
    char tok[RW_STICKY_TOKEN_CAP];
    uint64_t uid = 0;
    t_seal(a, "api", UID, tok);
    assert_int_equal(rw_sticky_open(b, "api", tok, RW_STICKY_TOKEN_LEN, &uid, NULL, NULL), 0);
    assert_true(uid == UID);
    t_assert_bad(c, "api", tok, RW_STICKY_TOKEN_LEN);
    /* a trailing newline is not part of the secret */
    char text[34];
    memcpy(text, s1, 32);
    text[32] = '\n';
    const char *f3 = t_keyfile(2, text, 33), *f4 = t_keyfile(3, s1, 32);
    struct rw_sticky_key *d = t_key(f3), *e = t_key(f4);
    t_seal(d, "api", UID, tok);
    assert_int_equal(rw_sticky_open(e, "api", tok, RW_STICKY_TOKEN_LEN, NULL, NULL, NULL), 0);
    t_assert_bad(a, "api", tok, RW_STICKY_TOKEN_LEN);
    rw_sticky_key_free(a);
    rw_sticky_key_free(b);
    rw_sticky_key_free(c);
    rw_sticky_key_free(d);
    rw_sticky_key_free(e);
    unlink(f1);
    unlink(f2);
    unlink(f3);
    unlink(f4);
}

static void key_file_errors(void **state)
{
    struct rw_sticky_key *k = (struct rw_sticky_key *)&k;
    uint8_t big[RW_STICKY_SECRET_MAX + 1];
    memset(big, 'k', sizeof(big));
    const char *shortf = t_keyfile(0, big, 31);
    const char *nl = t_keyfile(1, "0123456789012345678901234567890\n\r\n", 34);
    const char *bigf = t_keyfile(2, big, sizeof(big)), *maxf = t_keyfile(3, big, sizeof(big) - 1);
    assert_int_equal(rw_sticky_key_new(shortf, &k), -EINVAL);
    assert_null(k);
    assert_int_equal(rw_sticky_key_new(nl, &k), -EINVAL); /* 31 bytes once CR/LF go */
    assert_int_equal(rw_sticky_key_new(bigf, &k), -EINVAL);
    assert_int_equal(rw_sticky_key_new("/nonexistent/rw-sticky-key", &k), -ENOENT);
    assert_int_equal(rw_sticky_key_new("/tmp", &k), -EISDIR);
    assert_null(k);
    assert_int_equal(rw_sticky_key_new(maxf, &k), 0);
    rw_sticky_key_free(k);
    if (geteuid() != 0) { /* root reads anything */
        chmod(shortf, 0);
        assert_int_equal(rw_sticky_key_new(shortf, &k), -EACCES);
    }
    unlink(shortf);
    unlink(nl);
    unlink(bigf);
    unlink(maxf);
}

struct t_seal_arg {
    const struct rw_sticky_key *k;
    uint64_t base;
    int bad;
};

static void *t_seal_thread(void *p)
{
    struct t_seal_arg *a = p;
    char tok[RW_STICKY_TOKEN_CAP];
    for (uint64_t i = 0; i < 3000; i++) {
        uint64_t uid = 0;
        if (rw_sticky_seal(a->k, "api", a->base + i, 1, 2, tok, sizeof(tok)) !=
                RW_STICKY_TOKEN_LEN ||
            rw_sticky_open(a->k, "api", tok, RW_STICKY_TOKEN_LEN, &uid, NULL, NULL) != 0 ||
            uid != a->base + i)
            a->bad++;
    }
    return NULL;
}

/* One key, several threads sealing and opening at once (per-thread RNG, stack state). */
static void token_concurrent(void **state)
{
    struct rw_sticky_key *k = t_key(NULL);
    struct t_seal_arg args[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        args[i] = (struct t_seal_arg){.k = k, .base = (uint64_t)i << 32};
        assert_int_equal(pthread_create(&th[i], NULL, t_seal_thread, &args[i]), 0);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].bad, 0);
    }
    rw_sticky_key_free(k);
}

static void fresh_limits(void **state)
{
    const uint32_t now = 1700000000u;
    /* no limits */
    assert_true(rw_sticky_fresh(now, 0, 0, 0, 0));
    /* ttl: age < ttl */
    assert_true(rw_sticky_fresh(now, now - 3599, now, 3600, 0));
    assert_false(rw_sticky_fresh(now, now - 3600, now, 3600, 0));
    /* idle: now - last < idle */
    assert_true(rw_sticky_fresh(now, now - 5000, now - 1799, 0, 1800));
    assert_false(rw_sticky_fresh(now, now - 5000, now - 1800, 0, 1800));
    assert_false(rw_sticky_fresh(now, now - 3600, now - 10, 3600, 1800)); /* ttl wins */
    /* clock skew: up to 60 s ahead counts as now, more is not fresh */
    assert_true(rw_sticky_fresh(now, now + 60, now + 60, 3600, 1800));
    assert_false(rw_sticky_fresh(now, now + 61, now, 3600, 1800));
    assert_false(rw_sticky_fresh(now, now, now + 61, 3600, 1800));
    assert_false(rw_sticky_fresh(now, now + 61, now + 61, 0, 0));
    /* near zero: no unsigned wrap-around */
    assert_true(rw_sticky_fresh(5, 0, 0, 10, 10));
    assert_false(rw_sticky_fresh(5, UINT32_MAX, 0, 0, 0));
}

int test_sticky_token_run(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(token_round_trip),
        cmocka_unit_test(token_small_buffer_and_bad_args),
        cmocka_unit_test(token_tamper_every_byte),
        cmocka_unit_test(token_malformed),
        cmocka_unit_test(token_foreign_key_and_ctx),
        cmocka_unit_test(token_reveals_nothing),
        cmocka_unit_test(token_nonces_unique),
        cmocka_unit_test(token_fork_reseeds),
        cmocka_unit_test(key_files),
        cmocka_unit_test(key_file_errors),
        cmocka_unit_test(token_concurrent),
        cmocka_unit_test(fresh_limits),
    };
    return cmocka_run_group_tests_name("balancers/sticky_token", t, NULL, NULL);
}
