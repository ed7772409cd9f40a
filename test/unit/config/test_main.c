/* SPDX-License-Identifier: MIT */
/* The config/ test runner and the helpers every group uses. */
#include "cfg-test.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

const char *tcfg_json(const char *sq)
{
    static char buf[16384];
    size_t n = strlen(sq);

    assert_true(n < sizeof(buf));
    for (size_t i = 0; i <= n; i++)
        buf[i] = sq[i] == '\'' ? '"' : sq[i];
    return buf;
}

int tcfg_load(const char *sq, struct rw_cfg **cfg, struct rw_cfg_errs *errs)
{
    const char *j = tcfg_json(sq);

    return rw_cfg_load_buf(j, strlen(j), "cfg.json", cfg, errs);
}

int tcfg_has(const struct rw_cfg_errs *errs, const char *sub)
{
    for (uint32_t i = 0; i < errs->n; i++)
        if (strstr(errs->msg[i], sub))
            return 1;
    return 0;
}

static void tcfg_dump(const char *sq, const struct rw_cfg_errs *errs)
{
    fprintf(stderr, "config: %s\n", tcfg_json(sq));
    for (uint32_t i = 0; i < errs->n; i++)
        fprintf(stderr, "  error: %s\n", errs->msg[i]);
}

void tcfg_expect_err(const char *sq, const char *sub)
{
    struct rw_cfg_errs errs = {0};
    struct rw_cfg *cfg = (struct rw_cfg *)1;
    int rc = tcfg_load(sq, &cfg, &errs);

    if (rc != -EINVAL || !tcfg_has(&errs, sub)) {
        tcfg_dump(sq, &errs);
        fprintf(stderr, "  wanted: %s\n", sub);
    }
    assert_int_equal(rc, -EINVAL);
    assert_null(cfg);
    assert_true(tcfg_has(&errs, sub));
    rw_cfg_errs_clear(&errs);
}

struct rw_cfg *tcfg_expect_ok(const char *sq)
{
    struct rw_cfg_errs errs = {0};
    struct rw_cfg *cfg = NULL;
    int rc = tcfg_load(sq, &cfg, &errs);

    if (rc != 0)
        tcfg_dump(sq, &errs);
    assert_int_equal(rc, 0);
    assert_int_equal(errs.n, 0);
    assert_non_null(cfg);
    return cfg;
}

int main(void)
{
    int fails = 0;

    fails += test_units_group();
    fails += test_errs_group();
    fails += test_load_group();
    fails += test_route_group();
    fails += test_upstream_group();
    fails += test_sticky_group();
    fails += test_health_group();
    fails += test_ops_group();
    fails += test_tls_group();
    return fails ? 1 : 0;
}
