/* SPDX-License-Identifier: MIT */
/* Metrics registry: per-worker sharded counters, gauges and histograms; Prometheus text. */
#ifndef RW_ADMIN_METRICS_H
#define RW_ADMIN_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Life cycle (DESIGN.md "Counters"):
 *  1. start-up, one thread: rw_metrics_new(), declare families with
 *     rw_metrics_add() / rw_metrics_collector() (optionally rw_metric_set_buckets(),
 *     rw_metric_set_capacity()), the label-value tuples known from configuration with
 *     rw_metric_series(), then rw_metrics_seal(). The set of families is fixed there.
 *  2. run time: shard s (one per writer thread: each worker, plus one for the
 *     health thread if it writes) is written only by its owner with relaxed
 *     stores, no lock and no read-modify-write; readers (the admin thread) sum the
 *     shards at scrape time with rw_metrics_render() or rw_metric_*_read().
 *     Series may still be added (configuration reload: a new route or server) with
 *     rw_metric_series(), up to each family's capacity, and hidden with
 *     rw_metric_series_hide() when their route or server leaves the configuration.
 *     Additions and hides take the registry's mutex, as does rendering; writers and
 *     rw_metric_*_read() never do. A series never moves and its index is never
 *     reused, so writers may keep indexes across reloads, and a tuple that comes back
 *     gets its old index with its counters where they were (counters stay monotonic).
 * Each family reserves address space for its capacity in every shard at seal; pages
 * are committed as series are written, so unused capacity costs no memory.
 * Series whose values are read from elsewhere (server state) belong in collectors.
 */

enum rw_metric_type {
    RW_METRIC_COUNTER = 0,
    RW_METRIC_GAUGE,
    RW_METRIC_HISTOGRAM,
};

#define RW_METRIC_MAX_LABELS 8
#define RW_METRIC_MAX_BUCKETS 32
#define RW_METRIC_DEFAULT_CAPACITY 4096 /* series per family (rw_metric_set_capacity) */

struct rw_metrics;
struct rw_metric_sink;

/* One family. Public so the hot-path writers below can be inline; every field is
 * private to admin/metrics.c. */
struct rw_metric {
    uint64_t *const *_shards; /* borrowed: the registry's shard array (valid after seal) */
    uint32_t _base;           /* slot of series 0 in every shard */
    uint32_t _stride;         /* slots per series: 1, or nbuckets + 2 for histograms */
    uint32_t _nseries;        /* grows at run time, under the registry's mutex */
    uint32_t _nbuckets;       /* finite bucket bounds (histograms) */
    uint64_t _bounds[RW_METRIC_MAX_BUCKETS]; /* ascending upper bounds, in observed units */
};

/* Collector callback: runs on the scraping thread inside rw_metrics_render(); it
 * calls rw_metric_emit() once per series it wants to expose. */
typedef void rw_metric_collect_fn(void *arg, struct rw_metric_sink *sink);

/* A registry with nshards writer shards (>= 1). NULL and *err = -errno. Start-up. */
struct rw_metrics *rw_metrics_new(uint32_t nshards, int *err);

/* Free the registry and every family. No writer, reader or adder may still use it. */
void rw_metrics_free(struct rw_metrics *r);

/* Declare a family. name must start with "ringwall_" and be a valid metric name
 * (counters should end in _total); labels[0..nlabels) are valid label names.
 * Histograms get the default duration buckets (microsecond observations exposed as
 * seconds: 1ms..30s, log-spaced) unless rw_metric_set_buckets() follows.
 * Returns the family (owned by r) or NULL with *err = -EINVAL (bad name, duplicate,
 * sealed registry) or -ENOMEM. Start-up, before seal. */
struct rw_metric *rw_metrics_add(struct rw_metrics *r, enum rw_metric_type type, const char *name,
                                 const char *help, const char *const *labels, uint32_t nlabels,
                                 int *err);

/* Replace a histogram's buckets: n (1..RW_METRIC_MAX_BUCKETS) ascending upper bounds in
 * observed units; scale converts observed units to exposed ones (1e-6: us -> s).
 * +Inf is implicit. 0 or -EINVAL. Before seal and before any series is added. */
int rw_metric_set_buckets(struct rw_metric *m, const uint64_t *bounds, uint32_t n, double scale);

/* Set the family's capacity: the most series it can hold (1..16777216; default
 * RW_METRIC_DEFAULT_CAPACITY). At seal the capacity becomes at least the number of
 * series declared so far; that much room is reserved (not committed) in every shard.
 * 0, or -EINVAL (sealed, collector or label-less family, out of range). Before seal. */
int rw_metric_set_capacity(struct rw_metric *m, uint32_t max_series);

/* Find or add the series with these label values (nlabels strings, copied when added).
 * Returns its index, the idx argument of the writers: the same index every time for
 * the same tuple (a hidden series is unhidden, its values kept); new tuples get 0, 1,
 * ... in order. -EINVAL (a NULL value, a label-less or collector family), -ENOSPC
 * (after seal, the family holds its capacity) or -ENOMEM. A family with no labels has
 * its single series 0 implicitly.
 * Before seal: the start-up thread. After seal: any thread that may block briefly
 * (main, admin; never a worker), one call at a time or concurrently (they serialise
 * on the registry's mutex with rw_metrics_render()); concurrent with the writers and
 * readers, which may use the new index as soon as this returns (its slots read 0). */
int rw_metric_series(struct rw_metric *m, const char *const *values);

/* Hide (true) or show series idx: a hidden series is left out of rw_metrics_render()
 * (its route or server is no longer configured) but keeps its slots, and writers may
 * still write it; rw_metric_series() with its tuple shows it again. Unknown idx: no-op.
 * Same threads as rw_metric_series(). */
void rw_metric_series_hide(struct rw_metric *m, uint32_t idx, bool hidden);

/* Declare a family whose values are computed at scrape time by fn(arg) (server
 * state, effective weight). type is COUNTER or GAUGE. 0 or -errno. Before seal. fn
 * runs with the registry's mutex held: it must not call rw_metric_series() or
 * rw_metric_series_hide(). */
int rw_metrics_collector(struct rw_metrics *r, enum rw_metric_type type, const char *name,
                         const char *help, const char *const *labels, uint32_t nlabels,
                         rw_metric_collect_fn *fn, void *arg);

/* From a collector: expose one series with label values[0..nlabels) and value v. */
void rw_metric_emit(struct rw_metric_sink *sink, const char *const *values, double v);

/* Lay out every family's capacity and reserve the shards (one page-aligned
 * MAP_NORESERVE mapping per shard, zero until written). After this: the writers,
 * readers, rw_metrics_render(), rw_metric_series() and rw_metric_series_hide(). 0,
 * -EINVAL (already sealed), -EOVERFLOW (capacities times slots per series exceed 2^32
 * slots) or -ENOMEM. Start-up thread. */
int rw_metrics_seal(struct rw_metrics *r);

/* Render every family in Prometheus text format 0.0.4 into a malloc'd buffer
 * (*out, *len; caller frees), without hidden series. 0, -EINVAL (not sealed) or
 * -ENOMEM. Any thread that may block briefly (admin): holds the registry's mutex
 * while it renders (run-time series additions wait), never blocking the writers. */
int rw_metrics_render(struct rw_metrics *r, char **out, size_t *len);

/* Sums across shards (tests, /stats), hidden series included. Any thread after seal,
 * lock-free; values may lag writers slightly. idx below the family's series count. */
uint64_t rw_metric_counter_read(const struct rw_metrics *r, const struct rw_metric *m,
                                uint32_t idx);
int64_t rw_metric_gauge_read(const struct rw_metrics *r, const struct rw_metric *m, uint32_t idx);
/* Histogram: total count and sum (observed units) of series idx. */
uint64_t rw_metric_hist_count(const struct rw_metrics *r, const struct rw_metric *m, uint32_t idx,
                              uint64_t *sum);

/* ---- writers: shard owner only, after seal; no lock, no atomic RMW; idx from
 * rw_metric_series() (or 0 for a label-less family) ---- */

static inline uint64_t *rw__metric_slot(const struct rw_metric *m, uint32_t shard, uint32_t idx)
{
    return m->_shards[shard] + m->_base + (size_t)idx * m->_stride;
}

static inline void rw__metric_bump(uint64_t *p, uint64_t v)
{
    __atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
}

/* counter[idx] += v on shard (the caller's worker id). */
static inline void rw_metric_counter_add(struct rw_metric *m, uint32_t shard, uint32_t idx,
                                         uint64_t v)
{
    rw__metric_bump(rw__metric_slot(m, shard, idx), v);
}

/* gauge[idx] += v on shard; the exposed gauge is the sum over shards. */
static inline void rw_metric_gauge_add(struct rw_metric *m, uint32_t shard, uint32_t idx, int64_t v)
{
    rw__metric_bump(rw__metric_slot(m, shard, idx), (uint64_t)v);
}

/* Set this shard's share of gauge[idx] (use one shard for process-wide gauges). */
static inline void rw_metric_gauge_set(struct rw_metric *m, uint32_t shard, uint32_t idx, int64_t v)
{
    __atomic_store_n(rw__metric_slot(m, shard, idx), (uint64_t)v, __ATOMIC_RELAXED);
}

/* Record one observation v (observed units, e.g. microseconds) in histogram[idx]. */
static inline void rw_metric_observe(struct rw_metric *m, uint32_t shard, uint32_t idx, uint64_t v)
{
    uint64_t *p = rw__metric_slot(m, shard, idx);
    uint32_t b = 0;
    while (b < m->_nbuckets && v > m->_bounds[b])
        b++;
    rw__metric_bump(&p[b], 1);                /* slots 0..nbuckets: per-bucket counts */
    rw__metric_bump(&p[m->_nbuckets + 1], v); /* last slot: sum */
}

#endif
