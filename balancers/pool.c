/* SPDX-License-Identifier: MIT */
/* An upstream's backend objects, its RCU-published snapshots, pick/reserve/release. */
#include "balancers/lb.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "balancers/algos.h"
#include "core/log.h"
#include "core/rcu.h"

#define POOL_MAX_WEIGHT 1000
/* A pick whose reservation loses a race for a server's last slot tries again; the
 * algorithm then sees that server full. Bounded so a pick never spins. */
#define POOL_RESERVE_TRIES 4
#define POOL_RAMP_PENDING UINT64_MAX

/* One worker's pool-level state, on its own cache line. */
struct rw__pool_worker {
    _Alignas(64) uint64_t seen_gen; /* generation last rebuilt for; 0 = never */
    uint64_t now_ms;                /* the last pick's req->now_ms (for release) */
    /* panic threshold: the decision is cached until the snapshot or counter moves */
    uint64_t panic_gen;     /* generation it was evaluated for; 0 = never */
    uint64_t panic_changes; /* the pool's change counter then */
    uint64_t rng;           /* panic picks: splitmix64 state */
    bool panic;
};

struct pool_uid {
    uint64_t uid;
    struct rw_backend *b; /* borrowed: pool's */
};

/* A snapshot and its views, in one allocation followed by the arrays. */
struct pool_snap {
    struct rw_backend_set set; /* first: rw_backend_set pointers are pool_snap pointers */
    struct rw_backend_set prim, bak;
    struct pool_uid *uids; /* borrowed from the allocation: set.n entries, by uid */
};

static int pool_uid_cmp(const void *a, const void *b)
{
    const struct pool_uid *x = a, *y = b;
    if (x->uid != y->uid)
        return x->uid < y->uid ? -1 : 1;
    return x->b->id < y->b->id ? -1 : x->b->id > y->b->id;
}

static void pool_view_init(struct rw_backend_set *v, const struct rw_pool *p, uint64_t generation,
                           struct rw_backend **arr)
{
    v->generation = generation;
    v->n = 0;
    v->b = arr;
    v->changes = &p->_changes;
    v->total_inflight = &p->_total_inflight;
    v->primary = v->backup = NULL;
}

static struct rw_backend_set *pool_set_new(const struct rw_pool *p, struct rw_backend *const *b,
                                           uint32_t n, uint64_t generation)
{
    size_t ptrs = (size_t)n * 2 * sizeof(struct rw_backend *);
    struct pool_snap *s = malloc(sizeof(*s) + ptrs + (size_t)n * sizeof(struct pool_uid));
    if (!s)
        return NULL;
    struct rw_backend **all = (struct rw_backend **)(s + 1), **views = all + n;
    s->uids = (struct pool_uid *)(views + n);
    pool_view_init(&s->set, p, generation, all);
    s->set.n = n;
    if (n)
        memcpy(all, b, (size_t)n * sizeof(*all));
    uint32_t nbak = 0;
    for (uint32_t i = 0; i < n; i++)
        nbak += b[i]->backup;
    /* Primaries fill the view array from the front, backups from n - nbak. */
    pool_view_init(&s->prim, p, generation, views);
    pool_view_init(&s->bak, p, generation, views + (n - nbak));
    for (uint32_t i = 0; i < n; i++) {
        struct rw_backend_set *v = b[i]->backup ? &s->bak : &s->prim;
        v->b[v->n++] = b[i];
        s->uids[i] = (struct pool_uid){.uid = b[i]->uid, .b = b[i]};
    }
    qsort(s->uids, n, sizeof(*s->uids), pool_uid_cmp);
    s->set.primary = &s->prim;
    s->set.backup = &s->bak;
    return &s->set;
}

static bool pool_def_ok(const struct rw_server_def *d)
{
    return d && d->weight >= 1 && d->weight <= POOL_MAX_WEIGHT &&
           d->addrlen <= sizeof(struct sockaddr_storage);
}

static uint64_t pool_uid_of(const char *name, uint32_t id)
{
    if (name)
        return rw_lb_hash(name, strlen(name), RW_LB_UID_SEED);
    /* Nameless (tests): stable across reloads as long as the position is. */
    return rw_lb_hash(&id, sizeof(id), RW_LB_UID_SEED ^ 1);
}

static int pool_backend_create(struct rw_pool *p, const struct rw_server_def *d,
                               struct rw_backend **out)
{
    if (!pool_def_ok(d))
        return -EINVAL;
    if (p->nbackends == p->_cap) {
        uint32_t cap = p->_cap ? p->_cap * 2 : 8;
        struct rw_backend **nb = realloc(p->backends, (size_t)cap * sizeof(*nb));
        if (!nb)
            return -ENOMEM;
        p->backends = nb;
        p->_cap = cap;
    }
    /* inflight is cache-line aligned, so the object is too. */
    struct rw_backend *b = aligned_alloc(_Alignof(struct rw_backend), sizeof(*b));
    if (!b)
        return -ENOMEM;
    memset(b, 0, sizeof(*b));
    b->id = p->nbackends;
    b->weight = d->weight;
    b->max_conns = d->max_conns;
    b->backup = d->backup;
    b->initial_down = d->initial_down;
    b->name = d->name;
    b->uid = pool_uid_of(d->name, b->id);
    if (d->addrlen) {
        memcpy(&b->addr, &d->addr, d->addrlen);
        b->addrlen = d->addrlen;
    }
    b->_slow_start_ms = p->_params.slow_start_ms;
    b->_changes = &p->_changes;
    b->_total_inflight = p->_params.balance_factor > 0 ? &p->_total_inflight : NULL;
    atomic_init(&b->state, RW_BE_UP);
    atomic_init(&b->eff_weight, d->weight);
    atomic_init(&b->_ramp, 0);
    atomic_init(&b->inflight, 0);
    atomic_init(&b->_peak, 0);
    p->backends[p->nbackends++] = b;
    *out = b;
    return 0;
}

static int pool_init(struct rw_pool *p, const struct rw_lb_ops *ops,
                     const struct rw_server_def *defs, uint32_t n)
{
    p->_w = aligned_alloc(64, (size_t)p->_nworkers * sizeof(*p->_w));
    if (!p->_w)
        return -ENOMEM;
    /* Generation 0 is never published, so every worker rebuilds before its first pick. */
    memset(p->_w, 0, (size_t)p->_nworkers * sizeof(*p->_w));
    for (uint32_t i = 0; i < p->_nworkers; i++)
        p->_w[i].rng = rw_lb_hash(&i, sizeof(i), RW_LB_UID_SEED ^ 2);
    for (uint32_t i = 0; i < n; i++) {
        struct rw_backend *b;
        int rc = pool_backend_create(p, &defs[i], &b);
        if (rc < 0)
            return rc;
    }
    int rc = ops->create(&p->lb, &p->_params, p->_nworkers);
    if (rc < 0)
        return rc;
    rc = ops->create(&p->_lb_backup, &p->_params, p->_nworkers);
    if (rc < 0)
        return rc;
    p->_set = pool_set_new(p, p->backends, n, 1);
    return p->_set ? 0 : -ENOMEM;
}

static bool pool_params_ok(const struct rw_lb_params *pr)
{
    return pr->hash_method <= RW_LB_HASH_RING && pr->panic_threshold <= 100 &&
           !isnan(pr->balance_factor) &&
           (pr->balance_factor == 0 || (pr->balance_factor >= 1 && pr->balance_factor <= 1e6));
}

struct rw_pool *rw_pool_new(const char *name, const char *algo, const struct rw_lb_params *params,
                            const struct rw_server_def *defs, uint32_t n, uint32_t nworkers,
                            int *err)
{
    static const struct rw_lb_params none;
    const struct rw_lb_ops *ops = rw_lb_find(algo);
    if (!ops) {
        *err = -ENOENT;
        return NULL;
    }
    if (!params)
        params = &none;
    if (nworkers == 0 || (n && !defs) || !pool_params_ok(params)) {
        *err = -EINVAL;
        return NULL;
    }
    struct rw_pool *p = aligned_alloc(_Alignof(struct rw_pool), sizeof(*p));
    if (!p) {
        *err = -ENOMEM;
        return NULL;
    }
    memset(p, 0, sizeof(*p));
    p->name = name;
    p->_nworkers = nworkers;
    p->_params = *params;
    atomic_init(&p->_changes, 0);
    atomic_init(&p->_total_inflight, 0);
    int rc = pool_init(p, ops, defs, n);
    if (rc < 0) {
        rw_pool_free(p);
        *err = rc;
        return NULL;
    }
    return p;
}

void rw_pool_free(struct rw_pool *p)
{
    if (!p)
        return;
    if (p->lb)
        p->lb->ops->destroy(p->lb);
    if (p->_lb_backup)
        p->_lb_backup->ops->destroy(p->_lb_backup);
    free(p->_set);
    for (uint32_t i = 0; i < p->nbackends; i++)
        free(p->backends[i]);
    free(p->backends);
    free(p->_w);
    free(p);
}

const struct rw_backend_set *rw_pool_set(struct rw_pool *p)
{
    return rw_rcu_load((void *const *)&p->_set);
}

static bool pool_reserve(struct rw_backend *b)
{
    int64_t old = atomic_fetch_add_explicit(&b->inflight, 1, memory_order_relaxed);
    if (b->max_conns && old >= (int64_t)b->max_conns) {
        atomic_fetch_sub_explicit(&b->inflight, 1, memory_order_relaxed);
        return false;
    }
    if (b->_total_inflight)
        atomic_fetch_add_explicit(b->_total_inflight, 1, memory_order_relaxed);
    return true;
}

bool rw_backend_try_reserve(struct rw_backend *b)
{
    uint32_t st = atomic_load_explicit(&b->state, memory_order_relaxed);
    return (st == RW_BE_UP || st == RW_BE_DRAIN) && pool_reserve(b);
}

/* In panic mode DOWN counts as usable; DRAIN and weight 0 never do. */
static bool pool_panic_usable(const struct rw_backend *b)
{
    return atomic_load_explicit(&b->state, memory_order_relaxed) != RW_BE_DRAIN &&
           atomic_load_explicit(&b->eff_weight, memory_order_relaxed) > 0;
}

/* Only on the NULL path: was any otherwise eligible server full? */
static bool pool_saw_full(const struct rw_backend_set *set, const struct rw_lb_req *req, bool panic)
{
    for (uint32_t i = 0; i < set->n; i++) {
        const struct rw_backend *b = set->b[i];
        bool usable = panic && !b->backup ? pool_panic_usable(b) : rw_backend_usable(b);
        if (usable && !rw_lb_tried(req, b) && rw_backend_full(b))
            return true;
    }
    return false;
}

/* Is this worker's pick in panic mode? Recounted only when the snapshot or the pool's
 * change counter moved: every state change bumps the counter after its store, and the
 * counter is read before the states, so a racing change is seen at the next pick. */
static bool pool_panic(const struct rw_pool *p, struct rw__pool_worker *pw,
                       const struct rw_backend_set *set)
{
    uint32_t thr = p->_params.panic_threshold;
    if (!thr)
        return false;
    uint64_t ch = atomic_load_explicit(set->changes, memory_order_acquire);
    if (pw->panic_gen == set->generation && pw->panic_changes == ch)
        return pw->panic;
    pw->panic_gen = set->generation;
    pw->panic_changes = ch;
    const struct rw_backend_set *prim = set->primary, *bak = set->backup;
    uint32_t up = 0;
    for (uint32_t i = 0; i < prim->n; i++)
        up += atomic_load_explicit(&prim->b[i]->state, memory_order_relaxed) == RW_BE_UP;
    bool backup_ok = false;
    for (uint32_t i = 0; i < bak->n && !backup_ok; i++)
        backup_ok = rw_backend_usable(bak->b[i]);
    pw->panic = prim->n && !backup_ok && (uint64_t)up * 100 < (uint64_t)thr * prim->n;
    return pw->panic;
}

static bool pool_panic_ok(const struct rw_backend *b, const struct rw_lb_req *req)
{
    return pool_panic_usable(b) && !rw_lb_tried(req, b) && !rw_backend_full(b);
}

/* Weighted rendezvous: the server with the smallest -ln(u)/w wins, u uniform in (0, 1)
 * from hash(key, uid); a key keeps its server while the candidate set is stable. */
static struct rw_backend *pool_panic_hash(const struct rw_backend_set *v,
                                          const struct rw_lb_req *req)
{
    struct rw_backend *best = NULL;
    double best_score = 0;
    for (uint32_t i = 0; i < v->n; i++) {
        struct rw_backend *b = v->b[i];
        if (!pool_panic_ok(b, req))
            continue;
        uint64_t h = rw_lb_hash(&req->hash, sizeof(req->hash), b->uid);
        double u = ((double)(h >> 11) + 0.5) * 0x1p-53;
        double score = -log(u) / atomic_load_explicit(&b->eff_weight, memory_order_relaxed);
        if (!best || score < best_score) {
            best = b;
            best_score = score;
        }
    }
    return best;
}

/* Panic is rare and short: an O(n) weighted random scan instead of the algorithm,
 * whose cached tables only know UP servers. */
static struct rw_backend *pool_panic_pick(struct rw__pool_worker *pw,
                                          const struct rw_backend_set *v,
                                          const struct rw_lb_req *req)
{
    if (req->has_hash)
        return pool_panic_hash(v, req);
    uint64_t total = 0;
    for (uint32_t i = 0; i < v->n; i++)
        if (pool_panic_ok(v->b[i], req))
            total += atomic_load_explicit(&v->b[i]->eff_weight, memory_order_relaxed);
    if (!total)
        return NULL;
    uint64_t r = rw__rand_below(&pw->rng, total);
    struct rw_backend *last = NULL;
    for (uint32_t i = 0; i < v->n; i++) {
        struct rw_backend *b = v->b[i];
        if (!pool_panic_ok(b, req))
            continue;
        uint64_t w = atomic_load_explicit(&b->eff_weight, memory_order_relaxed);
        last = b;
        if (r < w)
            return b;
        r -= w;
    }
    return last; /* a weight moved under us: any eligible server will do */
}

static struct rw_backend *pool_pick_once(struct rw_pool *p, uint32_t worker,
                                         const struct rw_backend_set *set, struct rw_lb_req *req)
{
    struct rw_backend *b = p->lb->ops->pick(p->lb, worker, set->primary, req);
    if (!b && set->backup->n)
        b = p->_lb_backup->ops->pick(p->_lb_backup, worker, set->backup, req);
    return b;
}

struct rw_backend *rw_pool_pick(struct rw_pool *p, uint32_t worker, struct rw_lb_req *req)
{
    RW_ASSERT(worker < p->_nworkers);
    struct rw_lb_req none = {0};
    if (!req)
        req = &none;
    req->saw_full = false;
    struct rw__pool_worker *pw = &p->_w[worker];
    pw->now_ms = req->now_ms;
    const struct rw_backend_set *set = rw_rcu_load((void *const *)&p->_set);
    /* Generations only grow, so "different" means "newer": rebuild this worker's
     * state against exactly the snapshot it is about to pick from. */
    if (pw->seen_gen != set->generation) {
        p->lb->ops->rebuild(p->lb, worker, set->primary);
        p->_lb_backup->ops->rebuild(p->_lb_backup, worker, set->backup);
        pw->seen_gen = set->generation;
    }
    bool panic = pool_panic(p, pw, set);
    req->panic = panic;
    for (int i = 0; i < POOL_RESERVE_TRIES; i++) {
        struct rw_backend *b =
            panic ? pool_panic_pick(pw, set->primary, req) : pool_pick_once(p, worker, set, req);
        if (!b)
            break;
        if (pool_reserve(b))
            return b;
    }
    req->saw_full = pool_saw_full(set, req, panic);
    return NULL;
}

void rw_pool_release(struct rw_pool *p, uint32_t worker, struct rw_backend *b, uint64_t latency_us,
                     bool ok)
{
    RW_ASSERT(worker < p->_nworkers);
    atomic_fetch_sub_explicit(&b->inflight, 1, memory_order_relaxed);
    if (b->_total_inflight)
        atomic_fetch_sub_explicit(b->_total_inflight, 1, memory_order_relaxed);
    if (latency_us)
        rw__peak_observe(b, (double)latency_us, p->_w[worker].now_ms, ok);
}

struct rw_backend *rw_pool_find_uid(struct rw_pool *p, uint64_t uid)
{
    const struct pool_snap *s = rw_rcu_load((void *const *)&p->_set);
    uint32_t lo = 0, hi = s->set.n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->uids[mid].uid < uid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->set.n && s->uids[lo].uid == uid ? s->uids[lo].b : NULL;
}

struct rw_backend *rw_pool_add_backend(struct rw_pool *p, const struct rw_server_def *def, int *err)
{
    struct rw_backend *b = NULL;
    int rc = pool_backend_create(p, def, &b);
    if (rc < 0) {
        *err = rc;
        return NULL;
    }
    if (b->_slow_start_ms && b->weight > 1) {
        atomic_store_explicit(&b->eff_weight, 1, memory_order_relaxed);
        atomic_store_explicit(&b->_ramp, POOL_RAMP_PENDING, memory_order_relaxed);
    }
    return b;
}

static int pool_check_list(const struct rw_pool *p, struct rw_backend *const *b, uint32_t n)
{
    size_t words = ((size_t)p->nbackends + 63) / 64;
    uint64_t *seen = calloc(words ? words : 1, sizeof(uint64_t));
    if (!seen)
        return -ENOMEM;
    int rc = 0;
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        if (!b[i] || b[i]->id >= p->nbackends || p->backends[b[i]->id] != b[i]) {
            rc = -EINVAL;
            break;
        }
        uint64_t bit = 1ull << (b[i]->id % 64);
        if (seen[b[i]->id / 64] & bit)
            rc = -EINVAL;
        seen[b[i]->id / 64] |= bit;
    }
    free(seen);
    return rc;
}

int rw_pool_publish(struct rw_pool *p, struct rw_backend **b, uint32_t n)
{
    if (n && !b)
        return -EINVAL;
    int rc = pool_check_list(p, b, n);
    if (rc < 0)
        return rc;
    /* Only the writer stores p->_set, so a plain read of it is current here. */
    struct rw_backend_set *old = p->_set;
    struct rw_backend_set *s = pool_set_new(p, b, n, old->generation + 1);
    if (!s)
        return -ENOMEM;
    rw_rcu_store((void **)&p->_set, s);
    rw_rcu_synchronize();
    free(old);
    return 0;
}

static void backend_changed(struct rw_backend *b)
{
    if (b->_changes)
        atomic_fetch_add_explicit(b->_changes, 1, memory_order_release);
}

void rw_backend_set_state(struct rw_backend *b, enum rw_be_state s)
{
    uint32_t old = atomic_exchange_explicit(&b->state, (uint32_t)s, memory_order_relaxed);
    if (b->_slow_start_ms && b->weight > 1) {
        /* Back from DOWN: start low before any worker can see it up at full weight
         * (both stores precede the counter bump). Leaving UP cancels a ramp. */
        if (old == RW_BE_DOWN && s == RW_BE_UP) {
            atomic_store_explicit(&b->eff_weight, 1, memory_order_relaxed);
            atomic_store_explicit(&b->_ramp, POOL_RAMP_PENDING, memory_order_relaxed);
        } else if (s == RW_BE_DOWN) {
            atomic_store_explicit(&b->_ramp, 0, memory_order_relaxed);
        }
    }
    backend_changed(b);
}

void rw_backend_set_weight(struct rw_backend *b, uint32_t eff_weight)
{
    atomic_store_explicit(&b->eff_weight, eff_weight, memory_order_relaxed);
    backend_changed(b);
}

static void pool_ramp_step(struct rw_backend *b, uint64_t now_ms)
{
    uint64_t r = atomic_load_explicit(&b->_ramp, memory_order_relaxed);
    if (r == 0)
        return;
    if (r == POOL_RAMP_PENDING) {
        /* The first tick after the comeback starts the clock. */
        atomic_compare_exchange_strong(&b->_ramp, &r, now_ms + 1);
        return;
    }
    uint64_t start = r - 1, elapsed = now_ms > start ? now_ms - start : 0;
    uint32_t w = b->weight, eff;
    if (elapsed >= b->_slow_start_ms) {
        eff = w;
        /* Done, unless a comeback restarted it meanwhile. */
        atomic_compare_exchange_strong(&b->_ramp, &r, 0);
    } else {
        eff = 1 + (uint32_t)((uint64_t)(w - 1) * elapsed / b->_slow_start_ms);
    }
    if (atomic_load_explicit(&b->eff_weight, memory_order_relaxed) != eff &&
        atomic_load_explicit(&b->state, memory_order_relaxed) == RW_BE_UP)
        rw_backend_set_weight(b, eff);
}

void rw_pool_tick(struct rw_pool *p, uint64_t now_ms)
{
    if (!p->_params.slow_start_ms)
        return;
    for (uint32_t i = 0; i < p->nbackends; i++)
        pool_ramp_step(p->backends[i], now_ms);
}
