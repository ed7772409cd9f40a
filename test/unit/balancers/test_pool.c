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
    struct rw_server_def defs[2] = {
        {.name = "a", .weight = 3, .max_conns = 5, .addrlen = sizeof(struct sockaddr_in)},
        {.name = "b", .weight = 1000, .backup = true, .addrlen = sizeof(struct sockaddr_in)},
    };
    for (int i = 0; i < 2; i++) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&defs[i].addr;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(8000 + i);
        sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    }
    int err = 0;
    struct rw_pool *p = rw_pool_new("up", "round_robin", NULL, defs, 2, 4, &err);
    assert_non_null(p);
    assert_string_equal(p->name, "up");
    assert_int_equal(p->nbackends, 2);
    assert_non_null(p->lb);
    assert_int_equal(p->lb->nworkers, 4);
    for (uint32_t i = 0; i < 2; i++) {
        struct rw_backend *b = p->backends[i];
        assert_int_equal(b->id, i);
        assert_int_equal(b->weight, defs[i].weight);
        assert_int_equal(b->max_conns, defs[i].max_conns);
        assert_int_equal(b->backup, defs[i].backup);
        assert_ptr_equal(b->name, defs[i].name);
        assert_true(b->uid == rw_lb_hash(defs[i].name, 1, RW_LB_UID_SEED));
        assert_int_equal(b->addrlen, sizeof(struct sockaddr_in));
        assert_memory_equal(&b->addr, &defs[i].addr, sizeof(struct sockaddr_in));
        assert_int_equal(atomic_load(&b->state), RW_BE_UP);
        assert_int_equal(atomic_load(&b->eff_weight), defs[i].weight);
        assert_int_equal(atomic_load(&b->inflight), 0);
        assert_true(rw_backend_usable(b));
        assert_int_equal((uintptr_t)&b->inflight % 64, 0);
    }
    const struct rw_backend_set *s = rw_pool_set(p);
    assert_int_equal(s->generation, 1);
    assert_int_equal(s->n, 2);
    assert_ptr_equal(s->b[0], p->backends[0]);
    assert_ptr_equal(s->b[1], p->backends[1]);
    assert_int_equal(s->primary->n, 1);
    assert_ptr_equal(s->primary->b[0], p->backends[0]);
    assert_int_equal(s->backup->n, 1);
    assert_ptr_equal(s->backup->b[0], p->backends[1]);
    assert_int_equal(s->primary->generation, 1);
    rw_pool_free(p);
}

static void pool_new_rejects_bad_input(void **state)
{
    struct rw_server_def ok[2] = {{.weight = 1}, {.weight = 2}};
    struct rw_server_def zero[2] = {{.weight = 1}, {.weight = 0}};
    struct rw_server_def big[1] = {{.weight = 1001}};
    struct rw_server_def huge[1] = {{.weight = 1, .addrlen = sizeof(struct sockaddr_storage) + 1}};
    struct rw_lb_params bad_c = {.balance_factor = 0.5}, bad_m = {.hash_method = 7};
    int err = 0;
    assert_null(rw_pool_new("x", "nope", NULL, ok, 2, 1, &err));
    assert_int_equal(err, -ENOENT);
    assert_null(rw_pool_new("x", "round_robin", NULL, zero, 2, 1, &err));
    assert_int_equal(err, -EINVAL);
    assert_null(rw_pool_new("x", "round_robin", NULL, big, 1, 1, &err));
    assert_int_equal(err, -EINVAL);
    assert_null(rw_pool_new("x", "round_robin", NULL, ok, 2, 0, &err));
    assert_int_equal(err, -EINVAL);
    assert_null(rw_pool_new("x", "round_robin", NULL, huge, 1, 1, &err));
    assert_int_equal(err, -EINVAL);
    assert_null(rw_pool_new("x", "hash", &bad_c, ok, 2, 1, &err));
    assert_int_equal(err, -EINVAL);
    assert_null(rw_pool_new("x", "hash", &bad_m, ok, 2, 1, &err));
    assert_int_equal(err, -EINVAL);
    assert_null(rw_pool_new("x", "round_robin", NULL, NULL, 2, 1, &err));
    assert_int_equal(err, -EINVAL);
    rw_pool_free(NULL);
}

static void pool_empty_picks_null(void **state)
{
    for (size_t a = 0; a < T_NALGOS; a++) {
        struct rw_pool *p = t_pool_ex(t_algos[a], NULL, NULL, NULL, NULL, 0, 1);
        assert_int_equal(rw_pool_set(p)->n, 0);
        struct rw_lb_req req = {.has_hash = true, .hash = 5, .saw_full = true};
        assert_null(rw_pool_pick(p, 0, NULL));
        assert_null(rw_pool_pick(p, 0, &req));
        assert_false(req.saw_full);
        rw_pool_free(p);
    }
}

static void pool_state_weight_and_reservations(void **state)
{
    static const uint32_t w[] = {4};
    struct rw_pool *p = t_pool(w, 1, 1);
    struct rw_backend *b = p->backends[0];
    const struct rw_backend_set *s = rw_pool_set(p);
    uint64_t c0 = atomic_load(s->changes);
    rw_backend_set_state(b, RW_BE_DRAIN);
    assert_int_equal(atomic_load(&b->state), RW_BE_DRAIN);
    assert_false(rw_backend_usable(b));
    assert_null(rw_pool_pick(p, 0, NULL));
    /* Drain still honours sticky sessions. */
    assert_true(rw_backend_try_reserve(b));
    assert_int_equal(atomic_load(&b->inflight), 1);
    rw_pool_release(p, 0, b, 0, true);
    rw_backend_set_state(b, RW_BE_DOWN);
    assert_false(rw_backend_try_reserve(b));
    rw_backend_set_state(b, RW_BE_UP);
    rw_backend_set_weight(b, 0);
    assert_int_equal(atomic_load(&b->eff_weight), 0);
    assert_false(rw_backend_usable(b));
    rw_backend_set_weight(b, 9);
    assert_true(rw_backend_usable(b));
    assert_int_equal(b->weight, 4); /* configured weight is untouched */
    assert_int_equal(atomic_load(s->changes), c0 + 5);
    struct rw_backend *x = t_pick_hold(p, 0, NULL), *y = t_pick_hold(p, 0, NULL);
    assert_ptr_equal(x, b);
    assert_int_equal(atomic_load(&b->inflight), 2);
    rw_pool_release(p, 0, x, 0, true);
    rw_pool_release(p, 0, y, 0, true);
    assert_int_equal(atomic_load(&b->inflight), 0);
    rw_pool_free(p);
}

/* max_conns is a hard limit on reservations; a full pool reports saw_full. */
static void pool_max_conns_and_saw_full(void **state)
{
    static const uint32_t mc[] = {2, 1};
    struct rw_pool *p = t_pool_ex("round_robin", NULL, NULL, mc, NULL, 2, 1);
    struct rw_backend *held[3];
    for (int i = 0; i < 3; i++)
        held[i] = t_pick_hold(p, 0, NULL);
    assert_int_equal(atomic_load(&p->backends[0]->inflight), 2);
    assert_int_equal(atomic_load(&p->backends[1]->inflight), 1);
    struct rw_lb_req req = {0};
    assert_null(rw_pool_pick(p, 0, &req));
    assert_true(req.saw_full);
    assert_false(rw_backend_try_reserve(p->backends[1]));
    /* Full and down: nothing to wait for. */
    rw_backend_set_state(p->backends[0], RW_BE_DOWN);
    rw_backend_set_state(p->backends[1], RW_BE_DOWN);
    assert_null(rw_pool_pick(p, 0, &req));
    assert_false(req.saw_full);
    rw_backend_set_state(p->backends[0], RW_BE_UP);
    rw_backend_set_state(p->backends[1], RW_BE_UP);
    rw_pool_release(p, 0, held[2], 0, true);
    struct rw_backend *b = t_pick_hold(p, 0, &req);
    assert_ptr_equal(b, held[2]);
    rw_pool_release(p, 0, b, 0, true);
    for (int i = 0; i < 3; i++)
        rw_pool_release(p, 0, held[i], 0, true);
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
        assert_int_not_equal(t_pick_rel(p, 0, NULL), 1);
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
    assert_null(rw_pool_add_backend(p, &(struct rw_server_def){.name = "z"}, &err));
    assert_int_equal(err, -EINVAL);
    /* Enough to make the owner's array grow a few times. */
    for (uint32_t i = 1; i < 40; i++) {
        struct rw_backend *b =
            rw_pool_add_backend(p, &(struct rw_server_def){.name = "n", .weight = 7}, &err);
        assert_non_null(b);
        assert_int_equal(b->id, i);
        assert_int_equal(atomic_load(&b->eff_weight), 7);
    }
    assert_int_equal(p->nbackends, 40);
    assert_int_equal(rw_pool_set(p)->n, 1); /* not in a snapshot until published */
    assert_int_equal(t_pick_rel(p, 0, NULL), 0);
    rw_pool_free(p);
}

/* Readers pick (holding a few reservations, releasing with latency samples) while a
 * writer flips states, changes weights, ticks slow start and publishes new snapshots,
 * for every algorithm. Servers 0 and 1 stay down the whole time and must never be
 * picked, nor tried ones; at the end every reservation is released (no lost update).
 * (A reservation's fetch_add + undo may show max_conns + 1 for an instant, so the
 * limit itself is checked by pool_max_conns_across_threads with its own count.) */
enum { RACE_READERS = 2, RACE_PICKS = 60000, RACE_PUBLISHES = 80, RACE_HOLD = 4 };

struct race {
    struct rw_pool *pools[2]; /* small and large */
    _Atomic int bad_picks;
    _Atomic int picked;
};

struct race_reader_arg {
    struct race *r;
    uint32_t worker;
};

static void race_check(struct race *r, const struct rw_backend *b, const struct rw_lb_req *req)
{
    if (b->id < 2 || rw_lb_tried(req, b))
        atomic_fetch_add(&r->bad_picks, 1);
}

static void *race_reader(void *arg)
{
    struct race_reader_arg *a = arg;
    struct race *r = a->r;
    struct rw_backend *held[2][RACE_HOLD] = {{0}};
    rw_rcu_register();
    int picked = 0;
    for (int i = 0; i < RACE_PICKS; i++) {
        uint64_t tried = 1ull << (i % 64);
        struct rw_lb_req req = {.tried = &tried,
                                .ntried_words = (i % 3) == 0,
                                .hash = (uint64_t)i * 0x9e3779b97f4a7c15ull % 977,
                                .has_hash = i % 5 != 0,
                                .now_ms = (uint64_t)i / 8};
        struct rw_pool *p = r->pools[i % 2];
        struct rw_backend **slot = &held[i % 2][(i / 2) % RACE_HOLD];
        if (*slot)
            rw_pool_release(p, a->worker, *slot, 100 + i % 5000, i % 7 != 0);
        *slot = rw_pool_pick(p, a->worker, &req);
        if (*slot) {
            race_check(r, *slot, &req);
            picked++;
        }
        if (i % 16 == 0)
            rw_rcu_quiescent();
    }
    for (int k = 0; k < 2; k++)
        for (int j = 0; j < RACE_HOLD; j++)
            if (held[k][j])
                rw_pool_release(r->pools[k], a->worker, held[k][j], 0, true);
    atomic_fetch_add(&r->picked, picked);
    rw_rcu_unregister();
    return NULL;
}

static void race_write_one(struct rw_pool *p, uint64_t *seed, uint64_t now_ms)
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
    rw_pool_tick(p, now_ms);
    /* A new list: a rotation of every object, minus one, sometimes a new one. */
    if (t_rand(seed) % 8 == 0 && p->nbackends < 64) {
        int err = 0;
        struct rw_server_def d = {.weight = 1 + t_rand(seed) % 5,
                                  .max_conns = (uint32_t)(t_rand(seed) % 3),
                                  .backup = t_rand(seed) % 4 == 0};
        assert_non_null(rw_pool_add_backend(p, &d, &err));
    }
    uint32_t n = 0, rot = t_rand(seed) % p->nbackends, skip = t_rand(seed) % p->nbackends;
    for (uint32_t i = 0; i < p->nbackends; i++) {
        uint32_t j = (i + rot) % p->nbackends;
        if (j != skip)
            list[n++] = p->backends[j];
    }
    assert_int_equal(rw_pool_publish(p, list, n), 0);
}

static void race_run(const char *algo, uint8_t method)
{
    uint32_t w[40], mc[40];
    bool bk[40];
    for (int i = 0; i < 40; i++) {
        w[i] = 1 + i % 5;
        mc[i] = i % 4 == 3 ? 1 + i % 3 : 0;
        bk[i] = i % 7 == 6;
    }
    struct rw_lb_params params = {
        .hash_method = method, .balance_factor = 1.25, .slow_start_ms = 40};
    struct race r = {.pools = {t_pool_ex(algo, &params, w, mc, bk, 8, RACE_READERS),
                               t_pool_ex(algo, &params, w, mc, bk, 40, RACE_READERS)}};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 2; i++)
            rw_backend_set_state(r.pools[k]->backends[i], RW_BE_DOWN);
    pthread_t th[RACE_READERS];
    struct race_reader_arg args[RACE_READERS];
    for (uint32_t i = 0; i < RACE_READERS; i++) {
        args[i] = (struct race_reader_arg){.r = &r, .worker = i};
        assert_int_equal(pthread_create(&th[i], NULL, race_reader, &args[i]), 0);
    }
    uint64_t seed = 42;
    for (int i = 0; i < RACE_PUBLISHES; i++)
        race_write_one(r.pools[i % 2], &seed, (uint64_t)i * 5);
    for (int i = 0; i < RACE_READERS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    assert_int_equal(atomic_load(&r.bad_picks), 0);
    assert_true(atomic_load(&r.picked) > 0);
    for (int k = 0; k < 2; k++) {
        assert_true(rw_pool_set(r.pools[k])->generation > 1);
        for (uint32_t i = 0; i < r.pools[k]->nbackends; i++)
            assert_int_equal(atomic_load(&r.pools[k]->backends[i]->inflight), 0);
        assert_int_equal(atomic_load(&r.pools[k]->_total_inflight), 0);
        rw_pool_free(r.pools[k]);
    }
}

static void pool_publish_while_readers_pick(void **state)
{
    for (size_t a = 0; a < T_NALGOS; a++)
        race_run(t_algos[a], RW_LB_HASH_MAGLEV);
    race_run("hash", RW_LB_HASH_RING);
}

/* Two threads reserve on one server with max_conns 3 as fast as they can: the number
 * of reservations held at once never exceeds 3. */
enum { MC_LIMIT = 3, MC_ROUNDS = 200000 };

struct mc_race {
    struct rw_pool *p;
    _Atomic int held;
    _Atomic int max_held;
    _Atomic int granted;
};

static void *mc_thread(void *arg)
{
    struct mc_race *m = arg;
    static _Atomic uint32_t next;
    uint32_t worker = atomic_fetch_add(&next, 1) % 2;
    struct rw_backend *mine[MC_LIMIT + 1] = {0};
    uint64_t seed = 1234 + worker;
    for (int i = 0; i < MC_ROUNDS; i++) {
        int k = (int)(t_rand(&seed) % (MC_LIMIT + 1));
        if (mine[k]) {
            atomic_fetch_sub(&m->held, 1);
            rw_pool_release(m->p, worker, mine[k], 0, true);
            mine[k] = NULL;
            continue;
        }
        mine[k] = worker ? rw_pool_pick(m->p, worker, NULL)
                         : (rw_backend_try_reserve(m->p->backends[0]) ? m->p->backends[0] : NULL);
        if (mine[k]) {
            int h = atomic_fetch_add(&m->held, 1) + 1;
            int mx = atomic_load(&m->max_held);
            while (h > mx && !atomic_compare_exchange_weak(&m->max_held, &mx, h))
                ;
            atomic_fetch_add(&m->granted, 1);
        }
    }
    for (int k = 0; k <= MC_LIMIT; k++)
        if (mine[k]) {
            atomic_fetch_sub(&m->held, 1);
            rw_pool_release(m->p, worker, mine[k], 0, true);
        }
    return NULL;
}

static void pool_max_conns_across_threads(void **state)
{
    static const uint32_t mc[] = {MC_LIMIT};
    struct mc_race m = {.p = t_pool_ex("least_conn", NULL, NULL, mc, NULL, 1, 2)};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, mc_thread, &m), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    assert_true(atomic_load(&m.max_held) <= MC_LIMIT);
    assert_true(atomic_load(&m.granted) > 1000);
    assert_int_equal(atomic_load(&m.p->backends[0]->inflight), 0);
    rw_pool_free(m.p);
}

/* Backups take traffic only when no primary is usable; a retry goes to another
 * primary first. Same for every algorithm. */
static void pool_backup_only_when_primaries_unusable(void **state)
{
    static const bool bk[] = {false, true, false, true};
    static const uint32_t mc[] = {1, 0, 0, 0};
    for (size_t a = 0; a < T_NALGOS; a++) {
        struct rw_pool *p = t_pool_ex(t_algos[a], NULL, NULL, mc, bk, 4, 1);
        struct rw_lb_req req = {.hash = 77, .has_hash = true};
        for (int i = 0; i < 50; i++)
            assert_false(p->backends[t_pick_rel(p, 0, &req)]->backup);
        uint64_t tried = 0;
        req.tried = &tried;
        req.ntried_words = 1;
        t_tried_set(&tried, 0);
        for (int i = 0; i < 20; i++)
            assert_int_equal(t_pick_rel(p, 0, &req), 2); /* retry: the other primary */
        t_tried_set(&tried, 2);
        for (int i = 0; i < 20; i++)
            assert_true(p->backends[t_pick_rel(p, 0, &req)]->backup);
        /* Primary 0 full, primary 2 down: backups. */
        req.tried = NULL;
        struct rw_backend *h = t_pick_hold(p, 0, &req);
        rw_backend_set_state(p->backends[2], RW_BE_DOWN);
        if (h->id != 0) { /* an algorithm that chose 2 first: fill 0 by hand */
            rw_pool_release(p, 0, h, 0, true);
            assert_true(rw_backend_try_reserve(p->backends[0]));
            h = p->backends[0];
        }
        for (int i = 0; i < 20; i++)
            assert_true(p->backends[t_pick_rel(p, 0, &req)]->backup);
        rw_pool_release(p, 0, h, 0, true);
        assert_int_equal(t_pick_rel(p, 0, &req), 0);
        rw_pool_free(p);
    }
}

/* DOWN->UP (or being added) ramps eff_weight from 1 to weight via rw_pool_tick. */
static void pool_slow_start_ramps(void **state)
{
    static const uint32_t w[] = {100, 10};
    struct rw_lb_params params = {.slow_start_ms = 10000};
    struct rw_pool *p = t_pool_ex("round_robin", &params, w, NULL, NULL, 2, 1);
    struct rw_backend *b = p->backends[0];
    rw_pool_tick(p, 500);
    assert_int_equal(atomic_load(&b->eff_weight), 100); /* start-up servers: full weight */
    rw_backend_set_state(b, RW_BE_DOWN);
    rw_backend_set_state(b, RW_BE_UP);
    assert_int_equal(atomic_load(&b->eff_weight), 1);
    uint64_t c0 = atomic_load(rw_pool_set(p)->changes);
    rw_pool_tick(p, 1000); /* starts the clock */
    assert_int_equal(atomic_load(&b->eff_weight), 1);
    rw_pool_tick(p, 3500);
    assert_int_equal(atomic_load(&b->eff_weight), 1 + 99 * 2500 / 10000);
    assert_true(atomic_load(rw_pool_set(p)->changes) > c0); /* workers rebuild */
    rw_pool_tick(p, 6000);
    assert_int_equal(atomic_load(&b->eff_weight), 1 + 99 * 5000 / 10000);
    /* Round robin honours the ramped weight: 50 of every 60 picks. */
    uint32_t hits[2] = {0};
    for (int i = 0; i < 60; i++)
        hits[t_pick_rel(p, 0, NULL)]++;
    assert_int_equal(hits[0], 50);
    rw_pool_tick(p, 11000);
    assert_int_equal(atomic_load(&b->eff_weight), 100);
    rw_pool_tick(p, 20000);
    assert_int_equal(atomic_load(&b->eff_weight), 100);
    /* DRAIN->UP does not ramp; an added server does. */
    rw_backend_set_state(b, RW_BE_DRAIN);
    rw_backend_set_state(b, RW_BE_UP);
    assert_int_equal(atomic_load(&b->eff_weight), 100);
    int err = 0;
    struct rw_backend *n = rw_pool_add_backend(p, &(struct rw_server_def){.weight = 9}, &err);
    assert_non_null(n);
    assert_int_equal(atomic_load(&n->eff_weight), 1);
    rw_pool_tick(p, 30000);
    rw_pool_tick(p, 45000);
    assert_int_equal(atomic_load(&n->eff_weight), 9);
    /* Going down mid-ramp cancels it. */
    rw_backend_set_state(b, RW_BE_DOWN);
    rw_backend_set_state(b, RW_BE_UP);
    rw_pool_tick(p, 50000);
    rw_backend_set_state(b, RW_BE_DOWN);
    rw_pool_tick(p, 70000);
    assert_int_equal(atomic_load(&b->eff_weight), 1);
    rw_pool_free(p);
    /* Off: no ramp at all. */
    p = t_pool_ex("round_robin", NULL, w, NULL, NULL, 2, 1);
    rw_backend_set_state(p->backends[0], RW_BE_DOWN);
    rw_backend_set_state(p->backends[0], RW_BE_UP);
    assert_int_equal(atomic_load(&p->backends[0]->eff_weight), 100);
    rw_pool_free(p);
}

static void pool_find_uid(void **state)
{
    static const char *const names[] = {"web-1", "web-2", "web-3", "db"};
    struct rw_server_def defs[4];
    memset(defs, 0, sizeof(defs));
    for (int i = 0; i < 4; i++) {
        defs[i].name = names[i];
        defs[i].weight = 1;
    }
    int err = 0;
    struct rw_pool *p = rw_pool_new("u", "hash", NULL, defs, 4, 1, &err);
    assert_non_null(p);
    for (int i = 0; i < 4; i++) {
        uint64_t uid = rw_lb_hash(names[i], strlen(names[i]), RW_LB_UID_SEED);
        assert_true(p->backends[i]->uid == uid);
        assert_ptr_equal(rw_pool_find_uid(p, uid), p->backends[i]);
    }
    assert_null(rw_pool_find_uid(p, 12345));
    /* Only the current snapshot counts. */
    struct rw_backend *list[] = {p->backends[3], p->backends[1]};
    assert_int_equal(rw_pool_publish(p, list, 2), 0);
    assert_null(rw_pool_find_uid(p, p->backends[0]->uid));
    assert_ptr_equal(rw_pool_find_uid(p, p->backends[3]->uid), p->backends[3]);
    rw_pool_free(p);
}

/* Panic threshold 50 over 4 primaries: at 2 UP every pick honours health; at 1 UP
 * (25%) picks spread over UP and DOWN servers, never DRAIN; recovery ends panic.
 * Same for every algorithm. */
static void pool_panic_ignores_health_below_threshold(void **state)
{
    struct rw_lb_params params = {.panic_threshold = 50};
    for (size_t a = 0; a < T_NALGOS; a++) {
        struct rw_pool *p = t_pool_ex(t_algos[a], &params, NULL, NULL, NULL, 4, 1);
        uint64_t seed = 7;
        rw_backend_set_state(p->backends[0], RW_BE_DOWN);
        rw_backend_set_state(p->backends[1], RW_BE_DOWN);
        for (int i = 0; i < 100; i++) {
            struct rw_lb_req req = {.hash = t_rand(&seed), .has_hash = true};
            assert_true(t_pick_rel(p, 0, &req) >= 2);
            assert_false(req.panic);
        }
        rw_backend_set_state(p->backends[2], RW_BE_DOWN);
        rw_backend_set_state(p->backends[3], RW_BE_DRAIN);
        unsigned hits[4] = {0};
        for (int i = 0; i < 600; i++) {
            struct rw_lb_req req = {.hash = t_rand(&seed), .has_hash = (i & 1) != 0};
            hits[t_pick_rel(p, 0, &req)]++;
            assert_true(req.panic);
        }
        assert_int_equal(hits[3], 0); /* DRAIN stays excluded */
        for (int i = 0; i < 3; i++)
            if (hits[i] < 100)
                fail_msg("%s: server %d got %u of 600 panic picks", t_algos[a], i, hits[i]);
        /* Back above the threshold: health counts again. */
        rw_backend_set_state(p->backends[3], RW_BE_UP);
        rw_backend_set_state(p->backends[1], RW_BE_UP);
        for (int i = 0; i < 100; i++) {
            struct rw_lb_req req = {.hash = t_rand(&seed), .has_hash = true};
            uint32_t id = t_pick_rel(p, 0, &req);
            assert_true(id == 1 || id == 3);
            assert_false(req.panic);
        }
        rw_pool_free(p);
    }
}

/* Off (0) by default: everything down answers NULL. A usable backup prevents panic;
 * with the backups down too, panic spreads over the primaries, not the backups. */
static void pool_panic_off_and_backups_first(void **state)
{
    static const bool bk[] = {false, false, true};
    struct rw_pool *off = t_pool_ex("round_robin", NULL, NULL, NULL, NULL, 2, 1);
    rw_backend_set_state(off->backends[0], RW_BE_DOWN);
    rw_backend_set_state(off->backends[1], RW_BE_DOWN);
    struct rw_lb_req req = {0};
    assert_null(rw_pool_pick(off, 0, &req));
    assert_false(req.panic);
    rw_pool_free(off);

    struct rw_lb_params params = {.panic_threshold = 100};
    struct rw_pool *p = t_pool_ex("least_conn", &params, NULL, NULL, bk, 3, 2);
    rw_backend_set_state(p->backends[0], RW_BE_DOWN);
    rw_backend_set_state(p->backends[1], RW_BE_DOWN);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(t_pick_rel(p, 1, &req), 2);
        assert_false(req.panic);
    }
    rw_backend_set_state(p->backends[2], RW_BE_DOWN);
    unsigned hits[3] = {0};
    for (int i = 0; i < 200; i++) {
        hits[t_pick_rel(p, 1, &req)]++;
        assert_true(req.panic);
    }
    assert_int_equal(hits[2], 0);
    assert_true(hits[0] > 50 && hits[1] > 50);
    /* Weight 0 (admin) and the tried set are honoured in panic too. */
    rw_backend_set_weight(p->backends[0], 0);
    uint64_t tried = 0;
    for (int i = 0; i < 20; i++)
        assert_int_equal(t_pick_rel(p, 1, &req), 1);
    t_tried_set(&tried, 1);
    req.tried = &tried;
    req.ntried_words = 1;
    assert_null(rw_pool_pick(p, 1, &req));
    rw_pool_free(p);
}

/* Panic picks with a hash key are stable per key and spread across keys; max_conns
 * still holds (a full DOWN server is skipped and reported through saw_full). */
static void pool_panic_hash_stable_and_limits(void **state)
{
    static const uint32_t mc[] = {0, 0, 1};
    struct rw_lb_params params = {.panic_threshold = 60};
    struct rw_pool *p = t_pool_ex("hash", &params, NULL, mc, NULL, 3, 1);
    for (int i = 0; i < 3; i++)
        rw_backend_set_state(p->backends[i], RW_BE_DOWN);
    uint64_t seed = 99;
    unsigned hits[3] = {0};
    for (int i = 0; i < 300; i++) {
        struct rw_lb_req req = {.hash = t_rand(&seed), .has_hash = true};
        uint32_t id = t_pick_rel(p, 0, &req);
        for (int k = 0; k < 3; k++)
            assert_int_equal(t_pick_rel(p, 0, &req), id);
        hits[id]++;
    }
    for (int i = 0; i < 3; i++)
        assert_true(hits[i] > 50);
    struct rw_lb_req req = {0};
    struct rw_backend *held = p->backends[2];
    assert_true(atomic_fetch_add(&held->inflight, 1) == 0); /* server 2 at max_conns */
    for (int i = 0; i < 50; i++)
        assert_int_not_equal(t_pick_rel(p, 0, &req), 2);
    uint64_t tried = 3; /* 0 and 1 tried: only the full one is left */
    req.tried = &tried;
    req.ntried_words = 1;
    assert_null(rw_pool_pick(p, 0, &req));
    assert_true(req.saw_full);
    atomic_fetch_sub(&held->inflight, 1);
    rw_pool_free(p);

    struct rw_lb_params bad = {.panic_threshold = 101};
    struct rw_server_def def = {.weight = 1};
    int err = 0;
    assert_null(rw_pool_new("x", "round_robin", &bad, &def, 1, 1, &err));
    assert_int_equal(err, -EINVAL);
}

int test_pool_run(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(pool_new_creates_backends),
        cmocka_unit_test(pool_new_rejects_bad_input),
        cmocka_unit_test(pool_empty_picks_null),
        cmocka_unit_test(pool_state_weight_and_reservations),
        cmocka_unit_test(pool_max_conns_and_saw_full),
        cmocka_unit_test(pool_publish_replaces_snapshot),
        cmocka_unit_test(pool_publish_rejects_bad_lists),
        cmocka_unit_test(pool_add_backend),
        cmocka_unit_test(pool_publish_while_readers_pick),
        cmocka_unit_test(pool_max_conns_across_threads),
        cmocka_unit_test(pool_backup_only_when_primaries_unusable),
        cmocka_unit_test(pool_slow_start_ramps),
        cmocka_unit_test(pool_find_uid),
        cmocka_unit_test(pool_panic_ignores_health_below_threshold),
        cmocka_unit_test(pool_panic_off_and_backups_first),
        cmocka_unit_test(pool_panic_hash_stable_and_limits),
    };
    return cmocka_run_group_tests_name("balancers/pool", t, NULL, NULL);
}
