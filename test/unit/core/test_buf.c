/* SPDX-License-Identifier: MIT */
/* Tests for core/buf.c: the receive buffer pool. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "test/unit/core/tests.h"

static void buf_rejects_bad_sizes(void **state)
{
    struct rw_bufpool p;

    assert_int_equal(rw_bufpool_init(&p, 0, 64), -EINVAL);
    assert_int_equal(rw_bufpool_init(&p, 3, 64), -EINVAL);
    assert_int_equal(rw_bufpool_init(&p, 65536, 64), -EINVAL);
    assert_int_equal(rw_bufpool_init(&p, 4, 0), -EINVAL);
    rw_bufpool_fini(&p);
}

static void buf_take_put(void **state)
{
    struct rw_bufpool p;
    int a, b;

    assert_int_equal(rw_bufpool_init(&p, 8, 128), 0);
    a = rw_bufpool_take(&p);
    b = rw_bufpool_take(&p);
    assert_true(a >= 0 && a < 8);
    assert_true(b >= 0 && b < 8);
    assert_int_not_equal(a, b);
    assert_int_equal(rw_bufpool_lent_count(&p), 2);
    /* Buffers do not overlap and are writable over their whole size. */
    assert_int_equal(rw_bufpool_addr(&p, (uint16_t)b) - rw_bufpool_addr(&p, (uint16_t)a),
                     (b - a) * 128);
    memset(rw_bufpool_addr(&p, (uint16_t)a), 0xaa, 128);
    memset(rw_bufpool_addr(&p, (uint16_t)b), 0xbb, 128);
    assert_int_equal(rw_bufpool_addr(&p, (uint16_t)a)[127], 0xaa);
    rw_bufpool_put(&p, (uint16_t)a);
    assert_int_equal(rw_bufpool_lent_count(&p), 1);
    /* LIFO: the buffer just returned is the next one lent (still warm in cache). */
    assert_int_equal(rw_bufpool_take(&p), a);
    rw_bufpool_put(&p, (uint16_t)a);
    rw_bufpool_put(&p, (uint16_t)b);
    assert_int_equal(rw_bufpool_lent_count(&p), 0);
    rw_bufpool_fini(&p);
}

static void buf_exhaustion(void **state)
{
    struct rw_bufpool p;
    int seen[16] = {0};

    assert_int_equal(rw_bufpool_init(&p, 16, 64), 0);
    for (int i = 0; i < 16; i++) {
        int id = rw_bufpool_take(&p);
        assert_true(id >= 0 && id < 16);
        assert_int_equal(seen[id], 0);
        seen[id] = 1;
    }
    assert_int_equal(rw_bufpool_take(&p), -ENOBUFS);
    assert_int_equal(rw_bufpool_take(&p), -ENOBUFS);
    rw_bufpool_put(&p, 5);
    assert_int_equal(rw_bufpool_take(&p), 5);
    assert_int_equal(rw_bufpool_take(&p), -ENOBUFS);
    for (uint16_t i = 0; i < 16; i++)
        rw_bufpool_put(&p, i);
    assert_int_equal(rw_bufpool_lent_count(&p), 0);
    rw_bufpool_fini(&p);
}

static void buf_lend_mirror(void **state)
{
    struct rw_bufpool p;

    /* The io_uring mirror only tracks lending; the free stack is untouched. */
    assert_int_equal(rw_bufpool_init(&p, 4, 64), 0);
    rw_bufpool_lend(&p, 2);
    assert_int_equal(rw_bufpool_lent_count(&p), 1);
    assert_int_equal(p.nfree, 4);
    rw_bufpool_unlend(&p, 2);
    assert_int_equal(rw_bufpool_lent_count(&p), 0);
    rw_bufpool_fini(&p);
    rw_bufpool_fini(&p); /* safe on a zeroed pool */
}

int rw_test_buf(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(buf_rejects_bad_sizes),
        cmocka_unit_test(buf_take_put),
        cmocka_unit_test(buf_exhaustion),
        cmocka_unit_test(buf_lend_mirror),
    };
    return cmocka_run_group_tests_name("core/buf", t, NULL, NULL);
}
