/* SPDX-License-Identifier: MIT */
/* Tests for balancers/lb.c: the algorithm registry. */
#include "tests.h"

#include <string.h>

static void lb_find_known_and_unknown(void **state)
{
    const struct rw_lb_ops *ops = rw_lb_find("round_robin");
    assert_non_null(ops);
    assert_string_equal(ops->name, "round_robin");
    assert_non_null(ops->create);
    assert_non_null(ops->destroy);
    assert_non_null(ops->rebuild);
    assert_non_null(ops->pick);
    assert_null(rw_lb_find("roundrobin"));
    assert_null(rw_lb_find(""));
    assert_null(rw_lb_find(NULL));
}

static void lb_names_lists_every_algorithm(void **state)
{
    const char *names = rw_lb_names();
    assert_non_null(names);
    assert_non_null(strstr(names, "round_robin"));
    /* Stable across calls: the same buffer, built once. */
    assert_ptr_equal(names, rw_lb_names());
}

static void lb_create_destroy_through_vtable(void **state)
{
    const struct rw_lb_ops *ops = rw_lb_find("round_robin");
    struct rw_lb *lb = NULL;
    assert_int_equal(ops->create(&lb, 3), 0);
    assert_non_null(lb);
    assert_ptr_equal(lb->ops, ops);
    assert_int_equal(lb->nworkers, 3);
    ops->destroy(lb);
}

int test_lb_run(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(lb_find_known_and_unknown),
        cmocka_unit_test(lb_names_lists_every_algorithm),
        cmocka_unit_test(lb_create_destroy_through_vtable),
    };
    return cmocka_run_group_tests_name("balancers/lb", t, NULL, NULL);
}
