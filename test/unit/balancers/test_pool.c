/* SPDX-License-Identifier: MIT */
/* Tests for balancers/pool.c: backend objects, snapshots, publishing under readers. */
#include "tests.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>

#include "core/rcu.h"

static void pool_new_creates_backends(void **state)
{
    static const char *const names[] = {"a", "b"};
    static const uint32_t w[] = {3, 1000};
    struct sockaddr_storage addrs[2];
    socklen_t lens[2] = {sizeof(struct sockaddr_in), sizeof(struct sockaddr_in)};
    memset(addrs, 0, sizeof(addrs));
    for (int i = 0; i < 2; i++) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&addrs[i];
        sin->sin_family = AF_INET;
        sin->sin_port = htons(8000 + i);
        sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    }
    int err = 0;
    struct rw_pool *p = rw_pool_new("up", "round_robin", names, addrs, lens, w, 2, 4, &err);
    assert_non_null(p);
    assert_string_equal(p->name, "up");
    assert_int_equal(p->nbackends, 2);
    assert_non_null(p->lb);
    assert_int_equal(p->lb->nworkers, 4);
    for (uint32_t i = 0; i < 2; i++) {
        struct rw_backend *b = p->backends[i];
        assert_int_equal(b->id, i);
        assert_int_equal(b->weight, w[i]);
        assert_ptr_equal(b->name, names[i]);
        assert_int_equal(b->addrlen, sizeof(struct sockaddr_in));
        assert_memory_equal(&b->addr, &addrs[i], sizeof(struct sockaddr_in));
        assert_int_equal(atomic_load(&b->state), RW_BE_UP);
        assert_int_equal(atomic_load(&b->eff_weight), w[i]);
        assert_int_equal(atomic_load(&b->inflight), 0);
        assert_true(rw_backend_usable(b));
        assert_int_equal((uintptr_t)&b->inflight % 64, 0);
    }
    const struct rw_backend_set *s = rw_pool_set(p);
    assert_int_equal(s->generation, 1);
    assert_int_equal(s->n, 2);
    assert_ptr_equal(s->b[0], p->backends[0]);
    assert_ptr_equal(s->b[1], p->backends[1]);
    rw_pool_free(p);
}

static void pool_new_rejects_bad_input(void **state)
{
    static const uint32_t ok[] = {1, 2};
    static const uint32_t zero[] = {1, 0};
    static const uint32_t big[] = {1001};
    socklen_t huge[] = {sizeof(struct sockaddr_storage) + 1};
    struct sockaddr_storage addr = {0};
    int err = 0;
    assert_null(rw_pool_new("x", "nope", NULL, NULL, NULL, ok, 2, 1, &err));
    assert_int_equal(err, -ENOENT);
    assert_null(rw_pool_new("x", "round_robin", NULL, NULL, NULL, zero, 2, 1, &err));
    assert_int_equal(err, -EINVAL);
    assert_null(rw_pool_new("x", "round_robin", NULL, NULL, NULL, big, 1, 1, &err));
    assert_int_equal(err, -EINVAL);
    assert_null(rw_pool_new("x", "round_robin", NULL, NULL, NULL, ok, 2, 0, &err));
    assert_int_equal(err, -EINVAL);
    assert_null(rw_pool_new("x", "round_robin", NULL, &addr, huge, ok, 1, 1, &err));
    assert_int_equal(err, -EINVAL);
    rw_pool_free(NULL);
}

static void pool_empty_picks_null(void **state)
{
    struct rw_pool *p = t_pool(NULL, 0, 1);
    assert_int_equal(rw_pool_set(p)->n, 0);
    assert_null(rw_pool_pick(p, 0, NULL));
    rw_pool_free(p);
}

static void pool_state_weight_and_inflight(void **state)
{
    static const uint32_t w[] = {4};
    struct rw_pool *p = t_pool(w, 1, 1);
    struct rw_backend *b = p->backends[0];
    const struct rw_backend_set *s = rw_pool_set(p);
    uint64_t c0 = atomic_load(s->changes);
    rw_backend_set_state(b, RW_BE_DRAIN);
    assert_int_equal(atomic_load(&b->state), RW_BE_DRAIN);
    assert_false(rw_backend_usable(b));
    rw_backend_set_state(b, RW_BE_UP);
    rw_backend_set_weight(b, 0);
    assert_int_equal(atomic_load(&b->eff_weight), 0);
    assert_false(rw_backend_usable(b));
    rw_backend_set_weight(b, 9);
    assert_true(rw_backend_usable(b));
    assert_int_equal(b->weight, 4); /* configured weight is untouched */
    assert_int_equal(atomic_load(s->changes), c0 + 4);
    rw_backend_inflight_inc(b);
    rw_backend_inflight_inc(b);
    rw_backend_inflight_dec(b);
    assert_int_equal(atomic_load(&b->inflight), 1);
    rw_pool_free(p);
}

static void pool_publish_replaces_snapshot(void **state)
{
    static const uint32_t w[] = {1, 2, 3};
    struct rw_pool *p = t_pool(w, 3, 1);
    struct rw_backend *list[] = {p->backends[2], p->backends[0]};
    assert_int_equal(rw_pool_publish(p, list, 2), 0);
    const struct rw_backend_set *s = rw_pool_set(p);
    assert_int_equal(s->generation, 2);
    assert_int_equal(s->n, 2);
    assert_ptr_equal(s->b[0], p->backends[2]);
    assert_ptr_equal(s->b[1], p->backends[0]);
    list[0] = p->backends[1]; /* the caller's array was copied */
    assert_ptr_equal(rw_pool_set(p)->b[0], p->backends[2]);
    for (int i = 0; i < 10; i++)
        assert_int_not_equal(rw_pool_pick(p, 0, NULL)->id, 1);
    assert_int_equal(rw_pool_publish(p, NULL, 0), 0);
    assert_int_equal(rw_pool_set(p)->generation, 3);
    assert_null(rw_pool_pick(p, 0, NULL));
    rw_pool_free(p);
}

static void pool_publish_rejects_bad_lists(void **state)
{
    static const uint32_t w[] = {1, 2};
    struct rw_pool *p = t_pool(w, 2, 1);
    struct rw_pool *q = t_pool(w, 2, 1);
    struct rw_backend *dup[] = {p->backends[0], p->backends[0]};
    struct rw_backend *foreign[] = {p->backends[0], q->backends[1]};
    struct rw_backend *hole[] = {p->backends[0], NULL};
    assert_int_equal(rw_pool_publish(p, dup, 2), -EINVAL);
    assert_int_equal(rw_pool_publish(p, foreign, 2), -EINVAL);
    assert_int_equal(rw_pool_publish(p, hole, 2), -EINVAL);
    assert_int_equal(rw_pool_publish(p, NULL, 1), -EINVAL);
    assert_int_equal(rw_pool_set(p)->generation, 1);
    rw_pool_free(q);
    rw_pool_free(p);
}

static void pool_add_backend(void **state)
{
    static const uint32_t w[] = {1};
    struct rw_pool *p = t_pool(w, 1, 1);
    int err = 0;
    assert_null(rw_pool_add_backend(p, "z", NULL, 0, 0, &err));
    assert_int_equal(err, -EINVAL);
    /* Enough to make the owner's array grow a few times. */
    for (uint32_t i = 1; i < 40; i++) {
        struct rw_backend *b = rw_pool_add_backend(p, "n", NULL, 0, 7, &err);
        assert_non_null(b);
        assert_int_equal(b->id, i);
        assert_int_equal(atomic_load(&b->eff_weight), 7);
    }
    assert_int_equal(p->nbackends, 40);
    assert_int_equal(rw_pool_set(p)->n, 1); /* not in a snapshot until published */
    assert_int_equal(rw_pool_pick(p, 0, NULL)->id, 0);
    rw_pool_free(p);
}

/* Readers pick while a writer flips states, changes weights and publishes new
 * snapshots. Servers 0 and 1 stay down the whole time and must never be picked. */
enum { RACE_READERS = 2, RACE_PICKS = 200000, RACE_PUBLISHES = 300 };

struct race {
    struct rw_pool *pools[2]; /* small (scan) and large (fast path) */
    _Atomic int bad_picks;
    _Atomic int picked;
};

static void *race_reader(void *arg)
{
    struct race *r = arg;
    static _Atomic uint32_t next_worker;
    uint32_t worker = atomic_fetch_add(&next_worker, 1) % RACE_READERS;
    rw_rcu_register();
    int picked = 0;
    for (int i = 0; i < RACE_PICKS; i++) {
        uint64_t tried = 1ull << (i % 64);
        struct rw_lb_req req = {.tried = &tried, .ntried_words = (i % 3) == 0};
        struct rw_backend *b = rw_pool_pick(r->pools[i % 2], worker, &req);
        if (b) {
            rw_backend_inflight_inc(b);
            if (b->id < 2 || (req.ntried_words && b->id == (uint32_t)(i % 64)))
                atomic_fetch_add(&r->bad_picks, 1);
            rw_backend_inflight_dec(b);
            picked++;
        }
        if (i % 16 == 0)
            rw_rcu_quiescent();
    }
    atomic_fetch_add(&r->picked, picked);
    rw_rcu_unregister();
    return NULL;
}

static void race_write_one(struct rw_pool *p, uint64_t *seed)
{
    struct rw_backend *list[64];
    uint32_t k = 2 + t_rand(seed) % (p->nbackends - 2);
    struct rw_backend *b = p->backends[k];
    switch (t_rand(seed) % 4) {
    case 0:
        rw_backend_set_state(b, RW_BE_DOWN);
        break;
    case 1:
        rw_backend_set_state(b, RW_BE_DRAIN);
        break;
    case 2:
        rw_backend_set_weight(b, t_rand(seed) % 6);
        break;
    default:
        rw_backend_set_state(b, RW_BE_UP);
        break;
    }
    /* A new list: a rotation of every object, minus one, sometimes a new one. */
    if (t_rand(seed) % 8 == 0 && p->nbackends < 64) {
        int err = 0;
        assert_non_null(rw_pool_add_backend(p, NULL, NULL, 0, 1 + t_rand(seed) % 5, &err));
    }
    uint32_t n = 0, rot = t_rand(seed) % p->nbackends, skip = t_rand(seed) % p->nbackends;
    for (uint32_t i = 0; i < p->nbackends; i++) {
        uint32_t j = (i + rot) % p->nbackends;
        if (j != skip)
            list[n++] = p->backends[j];
    }
    assert_int_equal(rw_pool_publish(p, list, n), 0);
}

static void pool_publish_while_readers_pick(void **state)
{
    uint32_t w[40];
    for (int i = 0; i < 40; i++)
        w[i] = 1 + i % 5;
    struct race r = {.pools = {t_pool(w, 8, RACE_READERS), t_pool(w, 40, RACE_READERS)}};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 2; i++)
            rw_backend_set_state(r.pools[k]->backends[i], RW_BE_DOWN);
    pthread_t th[RACE_READERS];
    for (int i = 0; i < RACE_READERS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, race_reader, &r), 0);
    uint64_t seed = 42;
    for (int i = 0; i < RACE_PUBLISHES; i++)
        race_write_one(r.pools[i % 2], &seed);
    for (int i = 0; i < RACE_READERS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    assert_int_equal(atomic_load(&r.bad_picks), 0);
    assert_true(atomic_load(&r.picked) > 0);
    for (int k = 0; k < 2; k++) {
        assert_true(rw_pool_set(r.pools[k])->generation > 1);
        for (uint32_t i = 0; i < r.pools[k]->nbackends; i++)
            assert_int_equal(atomic_load(&r.pools[k]->backends[i]->inflight), 0);
        rw_pool_free(r.pools[k]);
    }
}

int test_pool_run(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(pool_new_creates_backends),
        cmocka_unit_test(pool_new_rejects_bad_input),
        cmocka_unit_test(pool_empty_picks_null),
        cmocka_unit_test(pool_state_weight_and_inflight),
        cmocka_unit_test(pool_publish_replaces_snapshot),
        cmocka_unit_test(pool_publish_rejects_bad_lists),
        cmocka_unit_test(pool_add_backend),
        cmocka_unit_test(pool_publish_while_readers_pick),
    };
    return cmocka_run_group_tests_name("balancers/pool", t, NULL, NULL);
}
