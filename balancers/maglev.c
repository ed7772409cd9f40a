/* SPDX-License-Identifier: MIT */
/* Maglev lookup tables (Eisenbud et al., NSDI 2016), weighted, for the hash balancers. */
#include "balancers/algos.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/*
 * Each server has a permutation of the m slots, offset + j * skip (mod m, m prime),
 * both from its uid, so every worker (and every ringwall sharing the config) builds
 * the same table. Servers take turns claiming their next free slot; a server of
 * weight w takes a turn in w of every wmax rounds, so slots follow weights. Turns
 * go in uid order, which keeps the table independent of the snapshot's order.
 */

#define MAGLEV_MIN_SIZE 65537u
#define MAGLEV_SEED_OFFSET 0x6f66667365746d67ull
#define MAGLEV_SEED_SKIP 0x736b69706d676c76ull

struct mg_server {
    uint64_t uid;
    uint32_t pos;    /* in the view */
    uint32_t weight; /* > 0 */
    uint32_t next;   /* next slot of its permutation to try */
    uint32_t skip;
    uint32_t credit;
};

static bool mg_is_prime(uint32_t v)
{
    if (v < 2)
        return false;
    for (uint32_t d = 2; (uint64_t)d * d <= v; d++)
        if (v % d == 0)
            return false;
    return true;
}

uint32_t rw__maglev_size(uint32_t n)
{
    uint64_t want = (uint64_t)n * 100;
    if (want <= MAGLEV_MIN_SIZE)
        return MAGLEV_MIN_SIZE;
    uint32_t v = (uint32_t)want;
    while (!mg_is_prime(v))
        v++;
    return v;
}

static int mg_server_cmp(const void *a, const void *b)
{
    const struct mg_server *x = a, *y = b;
    if (x->uid != y->uid)
        return x->uid < y->uid ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

void rw__maglev_free(struct rw__maglev *t)
{
    free(t->slot);
    *t = (struct rw__maglev){0};
}

static void mg_fill(uint32_t *slot, uint32_t m, struct mg_server *s, uint32_t k, uint32_t wmax)
{
    memset(slot, 0xff, (size_t)m * sizeof(*slot));
    uint32_t filled = 0;
    for (;;) {
        for (uint32_t i = 0; i < k; i++) {
            s[i].credit += s[i].weight;
            if (s[i].credit < wmax)
                continue;
            s[i].credit -= wmax;
            uint32_t c = s[i].next;
            while (slot[c] != UINT32_MAX)
                c = c + s[i].skip >= m ? c + s[i].skip - m : c + s[i].skip;
            slot[c] = s[i].pos;
            s[i].next = c + s[i].skip >= m ? c + s[i].skip - m : c + s[i].skip;
            if (++filled == m)
                return;
        }
    }
}

int rw__maglev_build(struct rw__maglev *t, const struct rw_backend_set *set, const uint32_t *w)
{
    uint32_t m = rw__maglev_size(set->n), k = 0, wmax = 0;
    struct mg_server *s = malloc((size_t)(set->n ? set->n : 1) * sizeof(*s));
    if (!s)
        return -ENOMEM;
    for (uint32_t i = 0; i < set->n; i++) {
        if (!w[i])
            continue;
        uint64_t uid = set->b[i]->uid;
        s[k] = (struct mg_server){.uid = uid, .pos = i, .weight = w[i]};
        s[k].next = (uint32_t)(rw_lb_hash(&uid, sizeof(uid), MAGLEV_SEED_OFFSET) % m);
        s[k].skip = (uint32_t)(rw_lb_hash(&uid, sizeof(uid), MAGLEV_SEED_SKIP) % (m - 1)) + 1;
        wmax = w[i] > wmax ? w[i] : wmax;
        k++;
    }
    if (k == 0) {
        free(s);
        rw__maglev_free(t);
        return -ENOENT;
    }
    if (t->m != m || !t->slot) {
        free(t->slot);
        t->slot = malloc((size_t)m * sizeof(*t->slot));
        t->m = t->slot ? m : 0;
        if (!t->slot) {
            free(s);
            return -ENOMEM;
        }
    }
    qsort(s, k, sizeof(*s), mg_server_cmp);
    mg_fill(t->slot, m, s, k, wmax);
    t->nusable = k;
    free(s);
    return 0;
}
