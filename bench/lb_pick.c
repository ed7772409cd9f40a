/* SPDX-License-Identifier: MIT */
/* Scratch benchmark: ns per rw_pool_pick() for round_robin at 10, 100 and 1,000 servers. */
/*
 * Not part of the build. From the repo root, after building rw_core and rw_balancers
 * in build-lb:
 *   cc -O2 -std=gnu11 -I. bench/lb_pick.c build-lb/balancers/librw_balancers.a \
 *      build-lb/core/librw_core.a $(pkg-config --libs liburcu-qsbr) -lpthread -o /tmp/lb_pick
 * Numbers are indicative only (one core, no contention).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "balancers/lb.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* mode 0: every server up; 1: one server draining (cache without it); 2: random weights
 * 1..1000 (cycle too long to record at 1,000: stepper, O(distinct weights)); 3: the
 * textbook O(n) scan over the same backend objects, inline, for comparison */
static double bench(uint32_t n, int mode, uint64_t picks)
{
    uint32_t *w = malloc(n * sizeof(*w));
    uint64_t seed = 88172645463325252ull;
    for (uint32_t i = 0; i < n; i++) {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        w[i] = mode == 2 ? 1 + seed % 1000 : 1 + i % 10;
    }
    int err = 0;
    struct rw_pool *p = rw_pool_new("b", "round_robin", NULL, NULL, NULL, w, n, 1, &err);
    if (!p)
        exit(1);
    if (mode == 1)
        rw_backend_set_state(p->backends[n / 2], RW_BE_DRAIN);
    uint64_t sum = 0;
    if (mode == 3) {
        int64_t *cw = calloc(n, sizeof(*cw));
        double t0 = now_ns();
        for (uint64_t i = 0; i < picks; i++) {
            int64_t total = 0;
            uint32_t best = UINT32_MAX;
            for (uint32_t k = 0; k < n; k++) {
                if (!rw_backend_usable(p->backends[k]))
                    continue;
                cw[k] += atomic_load_explicit(&p->backends[k]->eff_weight, memory_order_relaxed);
                total += atomic_load_explicit(&p->backends[k]->eff_weight, memory_order_relaxed);
                if (best == UINT32_MAX || cw[k] > cw[best])
                    best = k;
            }
            cw[best] -= total;
            sum += best;
        }
        double dt = now_ns() - t0;
        free(cw);
        rw_pool_free(p);
        free(w);
        return sum == 42 ? 0 : dt / picks;
    }
    /* Warm up: one whole cycle, so the schedule (if any) is recorded. */
    for (uint64_t i = 0; i < 20000; i++)
        sum += rw_pool_pick(p, 0, NULL)->id;
    double t0 = now_ns();
    for (uint64_t i = 0; i < picks; i++)
        sum += rw_pool_pick(p, 0, NULL)->id;
    double dt = now_ns() - t0;
    if (sum == 42)
        puts("");
    rw_pool_free(p);
    free(w);
    return dt / picks;
}

int main(void)
{
    static const uint32_t sizes[] = {10, 100, 1000};
    static const char *const modes[] = {"weights 1..10, all up", "weights 1..10, one draining",
                                        "weights 1..1000 random", "textbook scan (reference)"};
    for (int m = 0; m < 4; m++)
        for (int s = 0; s < 3; s++)
            printf("%-30s n=%-5u %7.1f ns/pick\n", modes[m], sizes[s],
                   bench(sizes[s], m, sizes[s] >= 1000 && m ? 2000000 : 20000000));
    return 0;
}
