/* SPDX-License-Identifier: MIT */
/* Ketama-style hash rings for the hash balancers ("method": "ring"). */
#include "balancers/algos.h"

#include <errno.h>
#include <stdlib.h>

/*
 * About RING_POINTS points per server on average, shared out by effective weight (at
 * least one each), at rw_lb_hash(uid, j): a server's points do not depend on the
 * others', so removing one server moves only the keys it owned. Lookups binary-search
 * the sorted points.
 */

#define RING_POINTS 160
#define RING_SEED 0x72696e67706f696eull

struct ring_pt {
    uint64_t h;
    uint32_t pos;
};

static int ring_pt_cmp(const void *a, const void *b)
{
    const struct ring_pt *x = a, *y = b;
    if (x->h != y->h)
        return x->h < y->h ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

void rw__ring_free(struct rw__ring *r)
{
    free(r->point);
    free(r->pos);
    *r = (struct rw__ring){0};
}

static uint32_t ring_points_of(uint32_t w, uint64_t total, uint32_t k)
{
    uint64_t pts = ((uint64_t)RING_POINTS * k * w + total / 2) / total;
    return pts ? (uint32_t)pts : 1;
}

static struct ring_pt *ring_points(const struct rw_backend_set *set, const uint32_t *w,
                                   uint32_t *count, uint32_t *nusable)
{
    uint64_t total = 0;
    uint32_t k = 0, npts = 0;
    for (uint32_t i = 0; i < set->n; i++)
        if (w[i]) {
            total += w[i];
            k++;
        }
    for (uint32_t i = 0; i < set->n; i++)
        if (w[i])
            npts += ring_points_of(w[i], total, k);
    *nusable = k;
    *count = npts;
    if (!k)
        return NULL;
    struct ring_pt *pt = malloc((size_t)npts * sizeof(*pt));
    if (!pt)
        return NULL;
    uint32_t at = 0;
    for (uint32_t i = 0; i < set->n; i++) {
        if (!w[i])
            continue;
        uint64_t key[2] = {set->b[i]->uid, 0};
        for (uint32_t j = ring_points_of(w[i], total, k); j > 0; j--) {
            key[1] = j;
            pt[at++] = (struct ring_pt){.h = rw_lb_hash(key, sizeof(key), RING_SEED), .pos = i};
        }
    }
    qsort(pt, npts, sizeof(*pt), ring_pt_cmp);
    return pt;
}

int rw__ring_build(struct rw__ring *r, const struct rw_backend_set *set, const uint32_t *w)
{
    uint32_t npts = 0, k = 0;
    struct ring_pt *pt = ring_points(set, w, &npts, &k);
    rw__ring_free(r);
    if (!k)
        return -ENOENT;
    if (!pt)
        return -ENOMEM;
    r->point = malloc((size_t)npts * sizeof(*r->point));
    r->pos = malloc((size_t)npts * sizeof(*r->pos));
    if (!r->point || !r->pos) {
        free(pt);
        rw__ring_free(r);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < npts; i++) {
        r->point[i] = pt[i].h;
        r->pos[i] = pt[i].pos;
    }
    free(pt);
    r->npoints = npts;
    r->nusable = k;
    return 0;
}

uint32_t rw__ring_find(const struct rw__ring *r, uint64_t h)
{
    uint32_t lo = 0, hi = r->npoints;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (r->point[mid] < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo == r->npoints ? 0 : lo;
}
