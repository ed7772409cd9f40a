/* SPDX-License-Identifier: MIT */
/* Per-worker weighted tables (prefix sums) shared by random and p2c. */
#include "balancers/algos.h"

#include <errno.h>
#include <stdlib.h>

void rw__wtab_free(struct rw__wtab *t)
{
    free(t->pos);
    free(t->cum);
    *t = (struct rw__wtab){0};
}

int rw__wtab_build(struct rw__wtab *t, const struct rw_backend_set *set)
{
    /* Read the counter before the states: a change racing with us moves it again. */
    t->seen_changes = atomic_load_explicit(set->changes, memory_order_acquire);
    if (t->cap < set->n) {
        uint32_t cap = set->n;
        uint32_t *pos = realloc(t->pos, (size_t)cap * sizeof(*pos));
        if (pos)
            t->pos = pos;
        uint64_t *cum = realloc(t->cum, (size_t)cap * sizeof(*cum));
        if (cum)
            t->cum = cum;
        if (!pos || !cum) {
            t->n = 0;
            t->total = 0;
            t->ready = false;
            return -ENOMEM;
        }
        t->cap = cap;
    }
    uint64_t total = 0;
    uint32_t k = 0;
    for (uint32_t i = 0; i < set->n; i++) {
        uint32_t w = rw__lb_weight(set->b[i]);
        if (!w)
            continue;
        total += w;
        t->pos[k] = i;
        t->cum[k++] = total;
    }
    t->n = k;
    t->total = total;
    t->ready = true;
    return 0;
}

int rw__wtab_refresh(struct rw__wtab *t, const struct rw_backend_set *set)
{
    if (t->ready && atomic_load_explicit(set->changes, memory_order_acquire) == t->seen_changes)
        return 0;
    return rw__wtab_build(t, set);
}

uint32_t rw__wtab_find(const struct rw__wtab *t, uint64_t r)
{
    /* The first entry whose cumulative weight exceeds r. */
    uint32_t lo = 0, hi = t->n - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (t->cum[mid] > r)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}
