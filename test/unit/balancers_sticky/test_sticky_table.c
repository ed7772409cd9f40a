/* SPDX-License-Identifier: MIT */
/* Tests for balancers/sticky_table.c: put/get/refresh/expiry/delete, bounds, races. */
#include "tests.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "balancers/sticky.h"

static struct rw_sticky_table *t_table(uint32_t capacity)
{
    int err = 1;
    struct rw_sticky_table *t = rw_sticky_table_new(capacity, &err);
    assert_non_null(t);
    assert_int_equal(err, 0);
    return t;
}

/* The uid a key maps to in the race tests: any torn slot read shows as a mismatch. */
static uint64_t t_uid_of(uint64_t key)
{
    return key * 0x9e3779b97f4a7c15ull ^ 0x5bd1e995u;
}

static void table_new_bounds(void **state)
{
    int err = 0;
    assert_null(rw_sticky_table_new(0, &err));
    assert_int_equal(err, -EINVAL);
    assert_null(rw_sticky_table_new(UINT32_MAX, &err));
    assert_int_equal(err, -EINVAL);
    assert_null(rw_sticky_table_new(0, NULL));
    struct rw_sticky_table *t = t_table(1);
    assert_int_equal(rw_sticky_table_slots(t), RW_STICKY_TABLE_WINDOW);
    rw_sticky_table_free(t);
    t = t_table(100);
    assert_int_equal(rw_sticky_table_slots(t), 128);
    assert_int_equal(rw_sticky_table_count(t), 0);
    rw_sticky_table_free(t);
    rw_sticky_table_free(NULL);
}

static void table_put_get_replace(void **state)
{
    struct rw_sticky_table *t = t_table(64);
    uint64_t uid = 0;
    assert_false(rw_sticky_table_get(t, 42, 100, 30, &uid));
    rw_sticky_table_put(t, 42, 7, 100);
    assert_true(rw_sticky_table_get(t, 42, 100, 30, &uid));
    assert_true(uid == 7);
    assert_true(rw_sticky_table_get(t, 42, 100, 30, NULL));
    rw_sticky_table_put(t, 42, 9, 101); /* replaces in place */
    assert_true(rw_sticky_table_get(t, 42, 101, 30, &uid));
    assert_true(uid == 9);
    assert_int_equal(rw_sticky_table_count(t), 1);
    /* key 0 is usable too */
    rw_sticky_table_put(t, 0, 5, 100);
    assert_true(rw_sticky_table_get(t, 0, 100, 30, &uid));
    assert_true(uid == 5);
    assert_true(rw_sticky_table_get(t, 42, 101, 30, &uid));
    assert_true(uid == 9);
    rw_sticky_table_free(t);
}

static void table_refresh_and_expiry(void **state)
{
    struct rw_sticky_table *t = t_table(64);
    uint64_t uid = 0;
    rw_sticky_table_put(t, 1, 11, 100);
    rw_sticky_table_put(t, 2, 22, 100);
    assert_true(rw_sticky_table_get(t, 1, 120, 30, &uid)); /* refreshed to 120 */
    assert_true(rw_sticky_table_get(t, 1, 149, 30, &uid)); /* 29 s idle: fresh, now 149 */
    assert_true(uid == 11);
    assert_false(rw_sticky_table_get(t, 2, 130, 30, &uid)); /* 30 s idle: expired */
    assert_int_equal(rw_sticky_table_count(t), 1);          /* and removed */
    assert_false(rw_sticky_table_get(t, 2, 100, 30, &uid));
    assert_false(rw_sticky_table_get(t, 1, 179, 30, &uid));
    /* idle 0 = no limit; a clock that runs behind the stored time is not "old" */
    rw_sticky_table_put(t, 3, 33, 1000);
    assert_true(rw_sticky_table_get(t, 3, 999999, 0, &uid));
    assert_true(uid == 33);
    rw_sticky_table_put(t, 4, 44, 1000);
    assert_true(rw_sticky_table_get(t, 4, 990, 5, &uid));
    assert_true(uid == 44);
    rw_sticky_table_free(t);
}

static void table_delete(void **state)
{
    struct rw_sticky_table *t = t_table(64);
    uint64_t uid;
    rw_sticky_table_put(t, 5, 50, 1);
    rw_sticky_table_put(t, 6, 60, 1);
    rw_sticky_table_del(t, 5);
    rw_sticky_table_del(t, 12345); /* absent: no-op */
    assert_false(rw_sticky_table_get(t, 5, 1, 0, &uid));
    assert_true(rw_sticky_table_get(t, 6, 1, 0, &uid));
    assert_true(uid == 60);
    assert_int_equal(rw_sticky_table_count(t), 1);
    rw_sticky_table_put(t, 5, 51, 2); /* the slot is reusable */
    assert_true(rw_sticky_table_get(t, 5, 2, 0, &uid));
    assert_true(uid == 51);
    rw_sticky_table_free(t);
}

/* With 8 slots every key shares one window: the stalest entry is the one evicted. */
static void table_evicts_stalest(void **state)
{
    struct rw_sticky_table *t = t_table(8);
    uint64_t uid;
    for (uint64_t k = 1; k <= 8; k++)
        rw_sticky_table_put(t, k, k * 10, (uint32_t)k);
    assert_int_equal(rw_sticky_table_count(t), 8);
    assert_true(rw_sticky_table_get(t, 1, 9, 0, &uid)); /* key 1 used at 9: key 2 is stalest */
    rw_sticky_table_put(t, 9, 90, 10);
    assert_false(rw_sticky_table_get(t, 2, 10, 0, &uid));
    for (uint64_t k = 1; k <= 9; k++) {
        if (k == 2)
            continue;
        assert_true(rw_sticky_table_get(t, k, 10, 0, &uid));
        assert_true(uid == k * 10);
    }
    rw_sticky_table_free(t);
}

/* A flood of 10x capacity distinct keys: memory and occupancy stay put, the newest keys
 * are found, every hit is right. */
static void table_flood_bounded(void **state)
{
    const uint32_t cap = 1024;
    struct rw_sticky_table *t = t_table(cap);
    size_t mem = rw_sticky_table_mem(t);
    uint32_t slots = rw_sticky_table_slots(t);
    assert_int_equal(slots, cap);
    uint64_t uid;
    for (uint64_t k = 1; k <= 10u * cap; k++) {
        rw_sticky_table_put(t, k, t_uid_of(k), (uint32_t)(k / 16));
        assert_true(rw_sticky_table_get(t, k, (uint32_t)(k / 16), 0, &uid));
        assert_true(uid == t_uid_of(k));
    }
    assert_int_equal(rw_sticky_table_mem(t), mem);
    assert_int_equal(rw_sticky_table_slots(t), slots);
    assert_true(rw_sticky_table_count(t) <= slots);
    assert_true(rw_sticky_table_count(t) > slots / 2);
    uint32_t hits = 0;
    for (uint64_t k = 1; k <= 10u * cap; k++) {
        if (rw_sticky_table_get(t, k, 10u * cap / 16, 0, &uid)) {
            assert_true(uid == t_uid_of(k));
            hits++;
        }
    }
    assert_int_equal(hits, rw_sticky_table_count(t));
    rw_sticky_table_free(t);
}

struct t_race {
    struct rw_sticky_table *t;
    uint64_t seed;
    uint32_t hits, bad;
    atomic_int *go;
};

static uint64_t t_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void *t_race_thread(void *p)
{
    struct t_race *r = p;
    while (!atomic_load(r->go))
        ;
    for (int i = 0; i < 300000; i++) {
        uint64_t x = t_rand(&r->seed), key = x % 256, uid;
        uint32_t now = (uint32_t)(i / 1000);
        switch ((x >> 32) % 8) {
        case 0:
        case 1:
        case 2:
            rw_sticky_table_put(r->t, key, t_uid_of(key), now);
            break;
        case 3:
            rw_sticky_table_del(r->t, key);
            break;
        default:
            if (rw_sticky_table_get(r->t, key, now, 3, &uid)) {
                r->hits++;
                r->bad += uid != t_uid_of(key);
            }
        }
    }
    return NULL;
}

/* Two threads put/get/del overlapping keys on a table far too small for them: hits are
 * frequent and every one carries the uid stored for that key. */
static void table_concurrent_no_torn_reads(void **state)
{
    struct rw_sticky_table *t = t_table(64);
    atomic_int go = 0;
    struct t_race r[2] = {{.t = t, .seed = 0x1234567, .go = &go},
                          {.t = t, .seed = 0x89abcdef, .go = &go}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, t_race_thread, &r[i]), 0);
    atomic_store(&go, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(r[i].bad, 0);
        assert_true(r[i].hits > 1000);
    }
    assert_true(rw_sticky_table_count(t) <= rw_sticky_table_slots(t));
    rw_sticky_table_free(t);
}

int test_sticky_table_run(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(table_new_bounds),
        cmocka_unit_test(table_put_get_replace),
        cmocka_unit_test(table_refresh_and_expiry),
        cmocka_unit_test(table_delete),
        cmocka_unit_test(table_evicts_stalest),
        cmocka_unit_test(table_flood_bounded),
        cmocka_unit_test(table_concurrent_no_torn_reads),
    };
    return cmocka_run_group_tests_name("balancers/sticky_table", t, NULL, NULL);
}
