/* SPDX-License-Identifier: MIT */
/* Tests for config/errs.c: paths, value display, hints, clearing. */
#include "cfg-test.h"

#include <errno.h>
#include <string.h>

#include "config/cfg-int.h"

static void edit_distance(void **state)
{
    assert_int_equal(rw__cfg_edit_distance("path_prefix", "path_prefix", 2), 0);
    assert_int_equal(rw__cfg_edit_distance("pathprefix", "path_prefix", 2), 1);
    assert_int_equal(rw__cfg_edit_distance("wrokers", "workers", 2), 1); /* transposition */
    assert_int_equal(rw__cfg_edit_distance("Workers", "workers", 2), 0);
    assert_int_equal(rw__cfg_edit_distance("abc", "xyz", 2), 3);
    assert_int_equal(rw__cfg_edit_distance("a", "abcdef", 2), 3);
}

static void paths_quote_odd_keys(void **state)
{
    struct rw_cfg_errs errs = {0};
    struct rw__cfg_ctx c = {.errs = &errs, .file = "f", .path = "$", .plen = 1};
    size_t m = rw__cfg_enter_key(&c, "upstreams");

    rw__cfg_enter_key(&c, "a\"b\\c\n");
    rw__cfg_enter_index(&c, 3);
    rw__cfg_enter_key(&c, "_ok9");
    rw__cfg_err(&c, "x");
    rw__cfg_leave(&c, m);
    rw__cfg_enter_key(&c, "9lives");
    rw__cfg_err(&c, "y");
    assert_int_equal(errs.n, 2);
    assert_string_equal(errs.msg[0], "f: $.upstreams[\"a\\\"b\\\\c\\u000a\"][3]._ok9: x");
    assert_string_equal(errs.msg[1], "f: $[\"9lives\"]: y");
    rw_cfg_errs_clear(&errs);
}

static void long_values_truncated(void **state)
{
    tcfg_expect_err(
        "{'via': 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa b', " TCFG_MIN
        "}",
        "$.via: must be a token (letters, digits and !#$%&'*+-.^_`|~), got "
        "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...");
    tcfg_expect_err("{'workers': {'a': [1, 2, {'b': null}]}, " TCFG_MIN "}",
                    "$.workers: must be an integer 0..1024, got {\"a\":[1,2,{\"b\":null}]}");
}

static void path_key_depth_is_bounded(void **state)
{
    char json[8192];
    size_t o = 0;
    struct rw_cfg_errs errs = {0};
    struct rw_cfg *cfg = NULL;

    /* A long, deep path is cut, not overflowed. */
    o += (size_t)snprintf(json + o, sizeof(json) - o, "{\"upstreams\": {\"");
    for (int i = 0; i < 1000; i++)
        json[o++] = 'k';
    o += (size_t)snprintf(json + o, sizeof(json) - o, "\": {\"servers\": [{\"address\": 1}]}}}");
    assert_int_equal(rw_cfg_load_buf(json, o, "f", &cfg, &errs), -EINVAL);
    assert_true(errs.n >= 2);
    assert_non_null(strstr(errs.msg[0], "kkk...\"]: upstream names must be at most 255 bytes"));
    assert_non_null(strstr(errs.msg[1], "kkk...\"].servers[0].address: must be a string"));
    rw_cfg_errs_clear(&errs);
    rw_cfg_errs_clear(NULL);
}

int test_errs_group(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(edit_distance),
        cmocka_unit_test(paths_quote_odd_keys),
        cmocka_unit_test(long_values_truncated),
        cmocka_unit_test(path_key_depth_is_bounded),
    };
    return cmocka_run_group_tests_name("config/errs", t, NULL, NULL);
}
