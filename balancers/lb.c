/* SPDX-License-Identifier: MIT */
/* The explicit registry of balancing algorithms, and the key hash they share. */
#include "balancers/lb.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "balancers/algos.h"

/* One line per algorithm; order is the order rw_lb_names() lists them in. */
static const struct rw_lb_ops *const lb_algos[] = {
    &rw_lb_round_robin, &rw_lb_least_conn, &rw_lb_random, &rw_lb_p2c,
    &rw_lb_hash_ops,    &rw_lb_ip_hash,    &rw_lb_first,  NULL,
};

static char lb_names_buf[256];
static pthread_once_t lb_names_once = PTHREAD_ONCE_INIT;

const struct rw_lb_ops *rw_lb_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; lb_algos[i]; i++)
        if (strcmp(lb_algos[i]->name, name) == 0)
            return lb_algos[i];
    return NULL;
}

static void lb_names_build(void)
{
    size_t off = 0;
    for (size_t i = 0; lb_algos[i]; i++) {
        size_t len = strlen(lb_algos[i]->name);
        /* The buffer is sized for every name we ship; truncate rather than overflow. */
        if (off + len + 3 > sizeof(lb_names_buf))
            break;
        if (off) {
            memcpy(lb_names_buf + off, ", ", 2);
            off += 2;
        }
        memcpy(lb_names_buf + off, lb_algos[i]->name, len);
        off += len;
    }
    lb_names_buf[off] = '\0';
}

const char *rw_lb_names(void)
{
    pthread_once(&lb_names_once, lb_names_build);
    return lb_names_buf;
}

void *rw__lb_workers_alloc(uint32_t nworkers, size_t sz)
{
    void *w = aligned_alloc(64, (size_t)nworkers * sz);
    if (w)
        memset(w, 0, (size_t)nworkers * sz);
    return w;
}

/*
 * rw_lb_hash: 16 bytes a round folded into the state by one 64x64->128 multiply
 * (high half xor low half), lengths mixed in up front, the tail read as two
 * overlapping words, then two more folds for avalanche. The constants are arbitrary
 * odd numbers with balanced bits.
 */
#define LBH_K0 0xa0761d6478bd642full
#define LBH_K1 0xe7037ed1a0b428dbull
#define LBH_K2 0x8ebc6af09c88c6e3ull
#define LBH_K3 0x589965cc75374cc3ull

static inline uint64_t lbh_fold(uint64_t a, uint64_t b)
{
    unsigned __int128 r = (unsigned __int128)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint64_t lbh_r64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v; /* host order: the figures are those of little-endian hosts */
}

static inline uint64_t lbh_r32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

uint64_t rw_lb_hash(const void *data, size_t len, uint64_t seed)
{
    const uint8_t *p = data;
    uint64_t h = lbh_fold(seed ^ LBH_K0, (uint64_t)len ^ LBH_K1);
    size_t left = len;
    while (left > 16) {
        h = lbh_fold(lbh_r64(p) ^ LBH_K1 ^ h, lbh_r64(p + 8) ^ LBH_K2);
        p += 16;
        left -= 16;
    }
    uint64_t a = 0, b = 0;
    if (left > 8) {
        a = lbh_r64(p);
        b = lbh_r64(p + left - 8);
    } else if (left >= 4) {
        a = lbh_r32(p);
        b = lbh_r32(p + left - 4);
    } else if (left > 0) {
        a = (uint64_t)p[0] << 16 | (uint64_t)p[left / 2] << 8 | p[left - 1];
    }
    h = lbh_fold(a ^ LBH_K1 ^ h, b ^ LBH_K2);
    return lbh_fold(h ^ LBH_K3, h ^ LBH_K0 ^ (uint64_t)len);
}
