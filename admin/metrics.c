/* SPDX-License-Identifier: MIT */
/* Metrics registry: declaration, shard layout, scrape-time sums and Prometheus text. */
#include "admin/metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "admin/sbuf.h"

#define METRIC_PREFIX "ringwall_"
#define MAX_CAPACITY (1u << 24) /* series per family; slot numbers stay 32-bit */

/*
 * Shard layout: every family owns a fixed range of slots in every shard, sized for its
 * capacity at seal, so a series added later never moves and writers keep their plain
 * base + idx * stride address. Each shard is one anonymous mapping reserved with
 * MAP_NORESERVE: pages are committed on first write, so unused capacity costs address
 * space, not memory, and a new series' slots read as zero without being cleared.
 */

/* Default histogram: durations observed in microseconds, exposed in seconds. */
static const uint64_t default_bounds_us[] = {
    1000,   2500,   5000,    10000,   25000,   50000,    100000,
    250000, 500000, 1000000, 2500000, 5000000, 10000000, 30000000,
};

struct mfam {
    struct rw_metric m;     /* first: the public handle */
    struct rw_metrics *reg; /* borrowed: owning registry */
    enum rw_metric_type type;
    char *name;                         /* owned */
    char *help;                         /* owned */
    char *labels[RW_METRIC_MAX_LABELS]; /* owned */
    uint32_t nlabels;
    /* under reg->mu once sealed: the series table (adders and render) */
    char **values;                 /* owned: nseries * nlabels strings, each owned */
    uint8_t *hidden;               /* owned: per series, 1 = not rendered; NULL: none hidden */
    uint32_t vcap;                 /* series capacity of values and hidden */
    uint32_t *ix;                  /* owned: open addressing, series idx + 1 (0 = empty) */
    uint32_t ix_size;              /* power of two, or 0 */
    uint32_t max_series;           /* capacity: room reserved in every shard (at seal) */
    double divisor;                /* exposed = observed / divisor (histogram bounds and sum) */
    rw_metric_collect_fn *collect; /* collector families only */
    void *collect_arg;             /* borrowed: given to collect */
    struct mfam *next;
};

struct rw_metrics {
    uint32_t nshards;
    uint32_t nslots;
    bool sealed;
    size_t shard_bytes; /* length of each shard's mapping */
    uint64_t **shards;  /* owned: nshards mappings of nslots (NULL until mapped) */
    pthread_mutex_t mu; /* run-time series additions and hides against render */
    struct mfam *head;  /* owned list, in declaration order */
    struct mfam *tail;  /* borrowed: last of head */
};

struct rw_metric_sink {
    struct rw__sbuf *out; /* borrowed: render buffer */
    struct mfam *f;       /* borrowed: the collector family */
};

struct rw_metrics *rw_metrics_new(uint32_t nshards, int *err)
{
    if (nshards == 0) {
        *err = -EINVAL;
        return NULL;
    }
    struct rw_metrics *r = calloc(1, sizeof(*r));
    if (r)
        r->shards = calloc(nshards, sizeof(*r->shards));
    if (!r || !r->shards) {
        free(r);
        *err = -ENOMEM;
        return NULL;
    }
    r->nshards = nshards;
    pthread_mutex_init(&r->mu, NULL);
    return r;
}

static void fam_free(struct mfam *f)
{
    uint32_t n = f->m._nseries * f->nlabels;
    for (uint32_t i = 0; f->values && i < n; i++)
        free(f->values[i]);
    free(f->values);
    free(f->hidden);
    free(f->ix);
    for (uint32_t i = 0; i < f->nlabels; i++)
        free(f->labels[i]);
    free(f->name);
    free(f->help);
    free(f);
}

void rw_metrics_free(struct rw_metrics *r)
{
    if (!r)
        return;
    while (r->head) {
        struct mfam *f = r->head;
        r->head = f->next;
        fam_free(f);
    }
    for (uint32_t i = 0; i < r->nshards; i++)
        if (r->shards[i])
            munmap(r->shards[i], r->shard_bytes);
    free(r->shards);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static bool name_ok(const char *s, bool colon)
{
    if (!s || !*s || (*s >= '0' && *s <= '9'))
        return false;
    for (; *s; s++) {
        char c = *s;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || (colon && c == ':');
        if (!ok)
            return false;
    }
    return true;
}

static struct mfam *fam_find(struct rw_metrics *r, const char *name)
{
    for (struct mfam *f = r->head; f; f = f->next)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

static int fam_check(struct rw_metrics *r, enum rw_metric_type type, const char *name,
                     const char *const *labels, uint32_t nlabels)
{
    if (r->sealed || type > RW_METRIC_HISTOGRAM || nlabels > RW_METRIC_MAX_LABELS)
        return -EINVAL;
    if (!name_ok(name, true) || strncmp(name, METRIC_PREFIX, strlen(METRIC_PREFIX)) != 0)
        return -EINVAL;
    if (fam_find(r, name))
        return -EINVAL;
    for (uint32_t i = 0; i < nlabels; i++) {
        if (!name_ok(labels[i], false) || strncmp(labels[i], "__", 2) == 0)
            return -EINVAL;
        if (type == RW_METRIC_HISTOGRAM && strcmp(labels[i], "le") == 0)
            return -EINVAL;
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(labels[i], labels[j]) == 0)
                return -EINVAL;
    }
    return 0;
}

static struct mfam *fam_new(struct rw_metrics *r, enum rw_metric_type type, const char *name,
                            const char *help, const char *const *labels, uint32_t nlabels, int *err)
{
    *err = fam_check(r, type, name, labels, nlabels);
    if (*err < 0)
        return NULL;
    struct mfam *f = calloc(1, sizeof(*f));
    if (!f)
        goto nomem;
    f->reg = r;
    f->type = type;
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    f->nlabels = nlabels;
    f->m._shards = (uint64_t *const *)r->shards;
    f->m._stride = 1;
    f->divisor = 1;
    f->max_series = RW_METRIC_DEFAULT_CAPACITY;
    for (uint32_t i = 0; i < nlabels; i++)
        if (!(f->labels[i] = strdup(labels[i])))
            f->nlabels = i; /* free what was copied */
    if (!f->name || !f->help || f->nlabels != nlabels) {
        fam_free(f);
        goto nomem;
    }
    if (r->tail)
        r->tail->next = f;
    else
        r->head = f;
    r->tail = f;
    return f;
nomem:
    *err = -ENOMEM;
    return NULL;
}

struct rw_metric *rw_metrics_add(struct rw_metrics *r, enum rw_metric_type type, const char *name,
                                 const char *help, const char *const *labels, uint32_t nlabels,
                                 int *err)
{
    struct mfam *f = fam_new(r, type, name, help, labels, nlabels, err);
    if (!f)
        return NULL;
    if (type == RW_METRIC_HISTOGRAM)
        rw_metric_set_buckets(&f->m, default_bounds_us,
                              sizeof(default_bounds_us) / sizeof(default_bounds_us[0]), 1e-6);
    if (nlabels == 0) {
        f->max_series = 1;
        f->m._nseries = 1;
    }
    return &f->m;
}

int rw_metric_set_buckets(struct rw_metric *m, const uint64_t *bounds, uint32_t n, double scale)
{
    struct mfam *f = (struct mfam *)m;
    if (f->type != RW_METRIC_HISTOGRAM || f->reg->sealed || n == 0 || n > RW_METRIC_MAX_BUCKETS ||
        !(scale > 0) || (f->nlabels && m->_nseries))
        return -EINVAL;
    for (uint32_t i = 1; i < n; i++)
        if (bounds[i] <= bounds[i - 1])
            return -EINVAL;
    memcpy(m->_bounds, bounds, n * sizeof(*bounds));
    m->_nbuckets = n;
    m->_stride = n + 2;
    /* dividing by an exact integer keeps 1000 us == "0.001" s instead of 0.0010000000000000002 */
    double inv = 1.0 / scale;
    f->divisor = fabs(inv - round(inv)) < 1e-9 * inv ? round(inv) : inv;
    return 0;
}

int rw_metric_set_capacity(struct rw_metric *m, uint32_t max_series)
{
    struct mfam *f = (struct mfam *)m;
    if (f->reg->sealed || f->collect || f->nlabels == 0 || max_series == 0 ||
        max_series > MAX_CAPACITY)
        return -EINVAL;
    f->max_series = max_series;
    return 0;
}

/* FNV-1a over the values, each with its terminating NUL (so "a","bc" != "ab","c"). */
static uint32_t tuple_hash(const char *const *values, uint32_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (uint32_t i = 0; i < n; i++) {
        const unsigned char *p = (const unsigned char *)values[i];
        do {
            h ^= *p;
            h *= 0x100000001b3ull;
        } while (*p++);
    }
    return (uint32_t)(h ^ (h >> 32));
}

static bool row_equal(const struct mfam *f, uint32_t idx, const char *const *values)
{
    char *const *row = f->values + (size_t)idx * f->nlabels;
    for (uint32_t i = 0; i < f->nlabels; i++)
        if (strcmp(row[i], values[i]) != 0)
            return false;
    return true;
}

static void ix_put(uint32_t *ix, uint32_t mask, uint32_t hash, uint32_t idx)
{
    uint32_t k = hash & mask;
    while (ix[k])
        k = (k + 1) & mask;
    ix[k] = idx + 1;
}

/* The series with these values, or -1. */
static int ix_find(const struct mfam *f, const char *const *values, uint32_t hash)
{
    if (!f->ix_size)
        return -1;
    uint32_t mask = f->ix_size - 1;
    for (uint32_t k = hash & mask; f->ix[k]; k = (k + 1) & mask)
        if (row_equal(f, f->ix[k] - 1, values))
            return (int)(f->ix[k] - 1);
    return -1;
}

/* Room for one more series: the rows, and the index kept at most half full. */
static int series_reserve(struct mfam *f)
{
    uint32_t n = f->m._nseries;
    if (n == f->vcap) {
        uint32_t cap = f->vcap ? f->vcap * 2 : 8;
        char **v = realloc(f->values, (size_t)cap * f->nlabels * sizeof(*v));
        if (!v)
            return -ENOMEM;
        f->values = v;
        uint8_t *hd = realloc(f->hidden, cap);
        if (!hd)
            return -ENOMEM;
        f->hidden = hd;
        f->vcap = cap;
    }
    if ((uint64_t)(n + 1) * 2 <= f->ix_size)
        return 0;
    uint32_t size = f->ix_size ? f->ix_size * 2 : 16;
    uint32_t *ix = calloc(size, sizeof(*ix));
    if (!ix)
        return -ENOMEM;
    for (uint32_t i = 0; i < n; i++)
        ix_put(ix, size - 1,
               tuple_hash((const char *const *)f->values + (size_t)i * f->nlabels, f->nlabels), i);
    free(f->ix);
    f->ix = ix;
    f->ix_size = size;
    return 0;
}

static int series_find_or_add(struct mfam *f, const char *const *values)
{
    uint32_t hash = tuple_hash(values, f->nlabels);
    int idx = ix_find(f, values, hash);
    if (idx >= 0) {
        f->hidden[idx] = 0;
        return idx;
    }
    struct rw_metric *m = &f->m;
    if (f->reg->sealed && m->_nseries >= f->max_series)
        return -ENOSPC;
    int rc = series_reserve(f);
    if (rc < 0)
        return rc;
    char **row = f->values + (size_t)m->_nseries * f->nlabels;
    for (uint32_t i = 0; i < f->nlabels; i++) {
        row[i] = strdup(values[i]);
        if (!row[i]) {
            while (i--)
                free(row[i]);
            return -ENOMEM;
        }
    }
    f->hidden[m->_nseries] = 0;
    ix_put(f->ix, f->ix_size - 1, hash, m->_nseries);
    return (int)m->_nseries++;
}

int rw_metric_series(struct rw_metric *m, const char *const *values)
{
    struct mfam *f = (struct mfam *)m;
    if (f->nlabels == 0 || f->collect)
        return -EINVAL;
    for (uint32_t i = 0; i < f->nlabels; i++)
        if (!values[i])
            return -EINVAL;
    pthread_mutex_lock(&f->reg->mu);
    int rc = series_find_or_add(f, values);
    pthread_mutex_unlock(&f->reg->mu);
    return rc;
}

void rw_metric_series_hide(struct rw_metric *m, uint32_t idx, bool hidden)
{
    struct mfam *f = (struct mfam *)m;
    pthread_mutex_lock(&f->reg->mu);
    if (!f->hidden && !f->collect && f->nlabels == 0)
        f->hidden = calloc(1, sizeof(*f->hidden)); /* the implicit series 0 */
    if (f->hidden && idx < m->_nseries)
        f->hidden[idx] = hidden;
    pthread_mutex_unlock(&f->reg->mu);
}

int rw_metrics_collector(struct rw_metrics *r, enum rw_metric_type type, const char *name,
                         const char *help, const char *const *labels, uint32_t nlabels,
                         rw_metric_collect_fn *fn, void *arg)
{
    int err = 0;
    if (!fn || type == RW_METRIC_HISTOGRAM)
        return -EINVAL;
    struct mfam *f = fam_new(r, type, name, help, labels, nlabels, &err);
    if (!f)
        return err;
    f->collect = fn;
    f->collect_arg = arg;
    return 0;
}

int rw_metrics_seal(struct rw_metrics *r)
{
    if (r->sealed)
        return -EINVAL;
    uint64_t slots = 0;
    for (struct mfam *f = r->head; f; f = f->next) {
        if (f->collect)
            continue;
        if (f->max_series < f->m._nseries)
            f->max_series = f->m._nseries;
        f->m._base = (uint32_t)slots;
        slots += (uint64_t)f->max_series * f->m._stride;
        if (slots > UINT32_MAX)
            return -EOVERFLOW;
    }
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t bytes = ((size_t)(slots ? slots : 1) * sizeof(uint64_t) + page - 1) / page * page;
    r->shard_bytes = bytes;
    for (uint32_t i = 0; i < r->nshards; i++) {
        void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) {
            while (i--) {
                munmap(r->shards[i], bytes);
                r->shards[i] = NULL;
            }
            return -ENOMEM;
        }
        r->shards[i] = p;
    }
    r->nslots = (uint32_t)slots;
    r->sealed = true;
    return 0;
}

/* ---- readers ---- */

static uint64_t slot_sum(const struct rw_metrics *r, uint32_t slot)
{
    uint64_t s = 0;
    for (uint32_t i = 0; i < r->nshards; i++)
        s += __atomic_load_n(&r->shards[i][slot], __ATOMIC_RELAXED);
    return s;
}

static uint32_t slot_of(const struct rw_metric *m, uint32_t idx)
{
    return m->_base + idx * m->_stride;
}

uint64_t rw_metric_counter_read(const struct rw_metrics *r, const struct rw_metric *m, uint32_t idx)
{
    return slot_sum(r, slot_of(m, idx));
}

int64_t rw_metric_gauge_read(const struct rw_metrics *r, const struct rw_metric *m, uint32_t idx)
{
    return (int64_t)slot_sum(r, slot_of(m, idx));
}

uint64_t rw_metric_hist_count(const struct rw_metrics *r, const struct rw_metric *m, uint32_t idx,
                              uint64_t *sum)
{
    uint32_t s = slot_of(m, idx);
    uint64_t n = 0;
    for (uint32_t b = 0; b <= m->_nbuckets; b++)
        n += slot_sum(r, s + b);
    if (sum)
        *sum = slot_sum(r, s + m->_nbuckets + 1);
    return n;
}

/* ---- exposition (text format 0.0.4) ---- */

static void put_escaped(struct rw__sbuf *b, const char *s, bool quote)
{
    const char *run = s;
    for (; *s; s++) {
        const char *rep = NULL;
        if (*s == '\\')
            rep = "\\\\";
        else if (*s == '\n')
            rep = "\\n";
        else if (quote && *s == '"')
            rep = "\\\"";
        if (!rep)
            continue;
        rw__sbuf_putn(b, run, (size_t)(s - run));
        rw__sbuf_puts(b, rep);
        run = s + 1;
    }
    rw__sbuf_putn(b, run, (size_t)(s - run));
}

static void put_double(struct rw__sbuf *b, double v)
{
    if (isnan(v))
        rw__sbuf_puts(b, "NaN");
    else if (isinf(v))
        rw__sbuf_puts(b, v > 0 ? "+Inf" : "-Inf");
    else
        rw__sbuf_printf(b, "%.15g", v);
}

/* name{l1="v1",...,extra}; extra (already formatted, e.g. le="0.1") may be NULL. */
static void put_series(struct rw__sbuf *b, const struct mfam *f, const char *suffix,
                       const char *const *values, const char *extra)
{
    rw__sbuf_puts(b, f->name);
    rw__sbuf_puts(b, suffix);
    if (f->nlabels == 0 && !extra) {
        rw__sbuf_putn(b, " ", 1);
        return;
    }
    rw__sbuf_putn(b, "{", 1);
    for (uint32_t i = 0; i < f->nlabels; i++) {
        rw__sbuf_printf(b, "%s%s=\"", i ? "," : "", f->labels[i]);
        put_escaped(b, values[i], true);
        rw__sbuf_putn(b, "\"", 1);
    }
    if (extra) {
        if (f->nlabels)
            rw__sbuf_putn(b, ",", 1);
        rw__sbuf_puts(b, extra);
    }
    rw__sbuf_putn(b, "} ", 2);
}

static const char *const type_names[] = {"counter", "gauge", "histogram"};

static void put_histogram(struct rw__sbuf *b, const struct rw_metrics *r, const struct mfam *f,
                          uint32_t idx, const char *const *values)
{
    const struct rw_metric *m = &f->m;
    uint32_t s = slot_of(m, idx);
    uint64_t cum = 0;
    char le[64];
    for (uint32_t i = 0; i <= m->_nbuckets; i++) {
        cum += slot_sum(r, s + i);
        if (i < m->_nbuckets)
            snprintf(le, sizeof(le), "le=\"%.15g\"", (double)m->_bounds[i] / f->divisor);
        else
            snprintf(le, sizeof(le), "le=\"+Inf\"");
        put_series(b, f, "_bucket", values, le);
        rw__sbuf_printf(b, "%" PRIu64 "\n", cum);
    }
    put_series(b, f, "_sum", values, NULL);
    put_double(b, (double)slot_sum(r, s + m->_nbuckets + 1) / f->divisor);
    rw__sbuf_putn(b, "\n", 1);
    put_series(b, f, "_count", values, NULL);
    rw__sbuf_printf(b, "%" PRIu64 "\n", cum);
}

void rw_metric_emit(struct rw_metric_sink *sink, const char *const *values, double v)
{
    for (uint32_t i = 0; i < sink->f->nlabels; i++)
        if (!values || !values[i])
            return;
    put_series(sink->out, sink->f, "", values, NULL);
    put_double(sink->out, v);
    rw__sbuf_putn(sink->out, "\n", 1);
}

static void put_family(struct rw__sbuf *b, struct rw_metrics *r, struct mfam *f)
{
    rw__sbuf_printf(b, "# HELP %s ", f->name);
    put_escaped(b, f->help, false);
    rw__sbuf_printf(b, "\n# TYPE %s %s\n", f->name, type_names[f->type]);
    if (f->collect) {
        struct rw_metric_sink sink = {.out = b, .f = f};
        f->collect(f->collect_arg, &sink);
        return;
    }
    for (uint32_t i = 0; i < f->m._nseries; i++) {
        if (f->hidden && f->hidden[i])
            continue;
        const char *const *values =
            f->values ? (const char *const *)f->values + (size_t)i * f->nlabels : NULL;
        if (f->type == RW_METRIC_HISTOGRAM) {
            put_histogram(b, r, f, i, values);
            continue;
        }
        put_series(b, f, "", values, NULL);
        uint64_t v = slot_sum(r, slot_of(&f->m, i));
        if (f->type == RW_METRIC_GAUGE)
            rw__sbuf_printf(b, "%" PRId64 "\n", (int64_t)v);
        else
            rw__sbuf_printf(b, "%" PRIu64 "\n", v);
    }
}

int rw_metrics_render(struct rw_metrics *r, char **out, size_t *len)
{
    struct rw__sbuf b = {0};
    if (!r->sealed)
        return -EINVAL;
    pthread_mutex_lock(&r->mu);
    for (struct mfam *f = r->head; f; f = f->next)
        put_family(&b, r, f);
    pthread_mutex_unlock(&r->mu);
    return rw__sbuf_take(&b, out, len);
}
