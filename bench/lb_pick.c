/* SPDX-License-Identifier: MIT */
/* Micro-benchmark: ns per rw_pool_pick()+release for each algorithm at 10/100/1,000 servers. */
/*
 * Not in the default build. From the repo root:
 *   cmake -S . -B build-bench -DRW_BENCH=ON && make -C build-bench -j2 lb_pick
 *   ./build-bench/balancers/lb_pick
 * One thread, no contention, weights 1..10, every server up; each pick is followed by
 * its release (so least_conn/p2c/hash see idle servers, and the figure includes the
 * reservation's two atomic RMWs). hash uses a fresh key per pick. Indicative only.
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

static double bench(const char *algo, const struct rw_lb_params *params, uint32_t n, uint64_t picks)
{
    struct rw_server_def *defs = calloc(n, sizeof(*defs));
    for (uint32_t i = 0; i < n; i++)
        defs[i].weight = 1 + i % 10;
    int err = 0;
    struct rw_pool *p = rw_pool_new("b", algo, params, defs, n, 1, &err);
    if (!p) {
        fprintf(stderr, "%s: %d\n", algo, err);
        exit(1);
    }
    struct rw_lb_req req = {.has_hash = true, .now_ms = 1};
    uint64_t sum = 0;
    /* Warm up: builds tables, records the round-robin schedule. */
    for (uint64_t i = 0; i < 20000; i++) {
        req.hash = i * 0x9e3779b97f4a7c15ull;
        struct rw_backend *b = rw_pool_pick(p, 0, &req);
        rw_pool_release(p, 0, b, 1000, true);
    }
    double t0 = now_ns();
    for (uint64_t i = 0; i < picks; i++) {
        req.hash = i * 0x9e3779b97f4a7c15ull;
        struct rw_backend *b = rw_pool_pick(p, 0, &req);
        sum += b->id;
        rw_pool_release(p, 0, b, 1000 + (i & 1023), true);
    }
    double dt = now_ns() - t0;
    if (sum == 42)
        puts("");
    rw_pool_free(p);
    free(defs);
    return dt / picks;
}

int main(void)
{
    static const uint32_t sizes[] = {10, 100, 1000};
    static const struct {
        const char *label, *algo;
        struct rw_lb_params params;
    } rows[] = {
        {"round_robin", "round_robin", {0}},
        {"least_conn", "least_conn", {0}},
        {"random", "random", {0}},
        {"p2c", "p2c", {0}},
        {"hash (maglev)", "hash", {.hash_method = RW_LB_HASH_MAGLEV}},
        {"hash (maglev, c=1.25)",
         "hash",
         {.hash_method = RW_LB_HASH_MAGLEV, .balance_factor = 1.25}},
        {"hash (ring)", "hash", {.hash_method = RW_LB_HASH_RING}},
        {"first", "first", {0}},
    };
    printf("%-24s %10s %10s %10s   (ns per pick + release)\n", "algorithm", "n=10", "n=100",
           "n=1000");
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        printf("%-24s", rows[r].label);
        for (int s = 0; s < 3; s++)
            printf(" %10.1f", bench(rows[r].algo, &rows[r].params, sizes[s],
                                    sizes[s] >= 1000 ? 2000000 : 5000000));
        printf("\n");
    }
    return 0;
}
