/* SPDX-License-Identifier: MIT */
/* Tests for core/slab.c: the fixed-size object pool. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/slab.h"
#include "test/unit/core/tests.h"

static void slab_bad_sizes(void **state)
{
    (void)state;
    assert_null(rw_slab_new(0));
    assert_null(rw_slab_new(4097));
}

/* Objects are zeroed, distinct, writable over their size and 16-aligned; given
 * back, they are handed out again. */
static void slab_alloc_put_reuse(void **state)
{
    (void)state;
    struct rw_slab *s = rw_slab_new(280);
    enum { N = 1000 };
    uint8_t **p = calloc(N, sizeof(*p));

    assert_non_null(s);
    for (int i = 0; i < N; i++) {
        p[i] = rw_slab_zalloc(s);
        assert_non_null(p[i]);
        assert_int_equal((uintptr_t)p[i] % 16, 0);
        for (int k = 0; k < 280; k++)
            assert_int_equal(p[i][k], 0);
        memset(p[i], i & 0xff, 280);
    }
    assert_int_equal(rw_slab_live(s), N);
    for (int i = 0; i < N; i++)
        for (int k = 0; k < 280; k += 31)
            assert_int_equal(p[i][k], i & 0xff); /* no overlap */
    /* 1000 x 288 B: a few 64 KiB chunks, not one per object */
    assert_true(rw_slab_bytes(s) <= 6 * 65536);
    for (int i = 0; i < N; i += 2)
        rw_slab_put(s, p[i]);
    assert_int_equal(rw_slab_live(s), N / 2);
    for (int i = 0; i < N; i += 2) {
        p[i] = rw_slab_zalloc(s);
        assert_non_null(p[i]);
        assert_int_equal(p[i][0], 0);
    }
    assert_true(rw_slab_bytes(s) <= 6 * 65536); /* the holes were reused */
    for (int i = 0; i < N; i++)
        rw_slab_put(s, p[i]);
    assert_int_equal(rw_slab_live(s), 0);
    /* empty: at most the one spare chunk stays */
    assert_true(rw_slab_bytes(s) <= 65536);
    rw_slab_put(s, NULL);
    rw_slab_free(s);
    free(p);
}

/* A pool freed with objects still allocated releases everything (no leak report
 * under ASan, no crash). */
static void slab_free_with_live(void **state)
{
    (void)state;
    struct rw_slab *s = rw_slab_new(64);
    void *keep[300];

    for (int i = 0; i < 300; i++)
        keep[i] = rw_slab_zalloc(s);
    for (int i = 0; i < 300; i += 3)
        rw_slab_put(s, keep[i]);
#if defined(__SANITIZE_ADDRESS__)
    for (int i = 0; i < 300; i++)
        if (i % 3)
            rw_slab_put(s, keep[i]); /* plain calloc under ASan: free them */
#endif
    rw_slab_free(s);
}

int rw_test_slab(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(slab_bad_sizes),
        cmocka_unit_test(slab_alloc_put_reuse),
        cmocka_unit_test(slab_free_with_live),
    };
    return cmocka_run_group_tests_name("core/slab", tests, NULL, NULL);
}
