/* SPDX-License-Identifier: MIT */
/* Sticky session tables: a bounded, lock-free key -> server uid cache with idle expiry. */
#include "balancers/sticky.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define TABLE_CAP_MAX (1u << 26)
#define KEY_EMPTY 0u
/* Caller key 0 is stored as this value (0 marks an empty slot). */
#define KEY_ZERO_ALIAS 0x9e3779b97f4a7c15ull
/* How often a reader re-reads a slot that a writer held, and a delete retries. */
#define READ_TRIES 3
#define DEL_TRIES 8

/* One entry. seq is even when the slot is stable and odd while one writer owns it; the
 * other fields are only trusted when seq read the same even value before and after. */
struct sticky_slot {
    _Atomic uint64_t seq;
    _Atomic uint64_t key; /* KEY_EMPTY when free */
    _Atomic uint64_t uid;
    _Atomic uint32_t ts; /* last use, caller's seconds */
    uint32_t _pad;
};
_Static_assert(sizeof(struct sticky_slot) == 32, "two slots per cache line");

struct rw_sticky_table {
    /* config time, read-only after */
    uint64_t mask; /* nslots - 1 */
    uint64_t seed; /* random: callers' keys do not choose their window alone */
    uint32_t nslots;
    struct sticky_slot *slots; /* owned; atomic contents, any thread */
};

/* A consistent copy of one slot. */
struct slot_view {
    uint64_t seq, key, uid;
    uint32_t ts;
};

static uint64_t table_map_key(uint64_t key)
{
    return key == KEY_EMPTY ? KEY_ZERO_ALIAS : key;
}

/* splitmix64's finalizer over the seeded key: spreads even poorly mixed keys. */
static uint64_t table_home(const struct rw_sticky_table *t, uint64_t key)
{
    uint64_t z = key ^ t->seed;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (z ^ (z >> 31)) & t->mask;
}

/* Seconds from ts to now; 0 when ts is ahead (another worker's clock ticked first). */
static uint32_t table_age(uint32_t now_s, uint32_t ts)
{
    int32_t d = (int32_t)(now_s - ts);
    return d > 0 ? (uint32_t)d : 0;
}

/* Seqlock read (see Boehm, "Can seqlocks get along with programming language memory
 * models?"): acquire on the first seq load, an acquire fence before the second. */
static bool slot_read(const struct sticky_slot *s, struct slot_view *v)
{
    uint64_t s1 = atomic_load_explicit(&s->seq, memory_order_acquire);
    if (s1 & 1)
        return false;
    v->key = atomic_load_explicit(&s->key, memory_order_relaxed);
    v->uid = atomic_load_explicit(&s->uid, memory_order_relaxed);
    v->ts = atomic_load_explicit(&s->ts, memory_order_relaxed);
    atomic_thread_fence(memory_order_acquire);
    if (atomic_load_explicit(&s->seq, memory_order_relaxed) != s1)
        return false;
    v->seq = s1;
    return true;
}

static bool slot_read_retry(const struct sticky_slot *s, struct slot_view *v)
{
    for (int i = 0; i < READ_TRIES; i++)
        if (slot_read(s, v))
            return true;
    return false;
}

/* Take the slot if it is still at the version `seen` (one CAS: never waits), then write
 * all fields and publish the next even version. False when another writer got there. */
static bool slot_write(struct sticky_slot *s, uint64_t seen, uint64_t key, uint64_t uid,
                       uint32_t ts)
{
    if (!atomic_compare_exchange_strong_explicit(&s->seq, &seen, seen + 1, memory_order_relaxed,
                                                 memory_order_relaxed))
        return false;
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&s->key, key, memory_order_relaxed);
    atomic_store_explicit(&s->uid, uid, memory_order_relaxed);
    atomic_store_explicit(&s->ts, ts, memory_order_relaxed);
    atomic_store_explicit(&s->seq, seen + 2, memory_order_release);
    return true;
}

static uint64_t table_seed(void)
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed)) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        seed = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)ts.tv_sec;
    }
    return seed;
}

struct rw_sticky_table *rw_sticky_table_new(uint32_t capacity, int *err)
{
    int dummy;
    if (!err)
        err = &dummy;
    if (capacity == 0 || capacity > TABLE_CAP_MAX) {
        *err = -EINVAL;
        return NULL;
    }
    uint32_t n = RW_STICKY_TABLE_WINDOW;
    while (n < capacity)
        n <<= 1;
    struct rw_sticky_table *t = calloc(1, sizeof(*t));
    size_t bytes = (size_t)n * sizeof(struct sticky_slot);
    if (t)
        t->slots = aligned_alloc(64, bytes);
    if (!t || !t->slots) {
        free(t);
        *err = -ENOMEM;
        return NULL;
    }
    memset(t->slots, 0, bytes); /* seq 0 (stable), key KEY_EMPTY */
    t->nslots = n;
    t->mask = n - 1;
    t->seed = table_seed();
    *err = 0;
    return t;
}

void rw_sticky_table_free(struct rw_sticky_table *t)
{
    if (!t)
        return;
    free(t->slots);
    free(t);
}

bool rw_sticky_table_get(struct rw_sticky_table *t, uint64_t key, uint32_t now_s, uint32_t idle_s,
                         uint64_t *server_uid)
{
    uint64_t k = table_map_key(key), home = table_home(t, k);
    for (uint32_t i = 0; i < RW_STICKY_TABLE_WINDOW; i++) {
        struct sticky_slot *s = &t->slots[(home + i) & t->mask];
        struct slot_view v;
        if (atomic_load_explicit(&s->key, memory_order_relaxed) != k)
            continue; /* cheap filter; a match is confirmed under the sequence below */
        if (!slot_read_retry(s, &v) || v.key != k)
            continue;
        if (idle_s && table_age(now_s, v.ts) >= idle_s) {
            slot_write(s, v.seq, KEY_EMPTY, 0, 0); /* lost if raced: eviction will do */
            continue;
        }
        /* Refresh at most once per second per entry, so hot keys do not bounce the
         * cache line between workers on every hit. */
        if ((int32_t)(now_s - v.ts) > 0)
            slot_write(s, v.seq, k, v.uid, now_s);
        if (server_uid)
            *server_uid = v.uid;
        return true;
    }
    return false;
}

/* The slot put should write: key's own entry, else the first free one, else the stalest.
 * NULL when every slot of the window is held by a writer. */
static struct sticky_slot *table_pick_slot(struct rw_sticky_table *t, uint64_t k, uint32_t now_s,
                                           uint64_t *seen)
{
    uint64_t home = table_home(t, k);
    struct sticky_slot *empty = NULL, *stale = NULL;
    uint64_t empty_seq = 0, stale_seq = 0;
    uint32_t stale_age = 0;
    for (uint32_t i = 0; i < RW_STICKY_TABLE_WINDOW; i++) {
        struct sticky_slot *s = &t->slots[(home + i) & t->mask];
        struct slot_view v;
        if (!slot_read(s, &v))
            continue;
        if (v.key == k) {
            *seen = v.seq;
            return s;
        }
        if (v.key == KEY_EMPTY) {
            if (!empty) {
                empty = s;
                empty_seq = v.seq;
            }
            continue;
        }
        uint32_t age = table_age(now_s, v.ts);
        if (!stale || age > stale_age) {
            stale = s;
            stale_seq = v.seq;
            stale_age = age;
        }
    }
    *seen = empty ? empty_seq : stale_seq;
    return empty ? empty : stale;
}

void rw_sticky_table_put(struct rw_sticky_table *t, uint64_t key, uint64_t server_uid,
                         uint32_t now_s)
{
    uint64_t k = table_map_key(key);
    for (int attempt = 0; attempt < READ_TRIES; attempt++) {
        uint64_t seen;
        struct sticky_slot *s = table_pick_slot(t, k, now_s, &seen);
        if (!s)
            return;
        if (slot_write(s, seen, k, server_uid, now_s))
            return;
    }
}

void rw_sticky_table_del(struct rw_sticky_table *t, uint64_t key)
{
    uint64_t k = table_map_key(key), home = table_home(t, k);
    /* Concurrent puts may have left a copy in more than one slot: clear every one. */
    for (int attempt = 0; attempt < DEL_TRIES; attempt++) {
        bool busy = false;
        for (uint32_t i = 0; i < RW_STICKY_TABLE_WINDOW; i++) {
            struct sticky_slot *s = &t->slots[(home + i) & t->mask];
            struct slot_view v;
            if (!slot_read(s, &v)) {
                busy = true;
                continue;
            }
            if (v.key == k && !slot_write(s, v.seq, KEY_EMPTY, 0, 0))
                busy = true;
        }
        if (!busy)
            return;
    }
}

uint32_t rw_sticky_table_count(const struct rw_sticky_table *t)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->nslots; i++)
        n += atomic_load_explicit(&t->slots[i].key, memory_order_relaxed) != KEY_EMPTY;
    return n;
}

uint32_t rw_sticky_table_slots(const struct rw_sticky_table *t)
{
    return t->nslots;
}

size_t rw_sticky_table_mem(const struct rw_sticky_table *t)
{
    return sizeof(*t) + (size_t)t->nslots * sizeof(struct sticky_slot);
}
