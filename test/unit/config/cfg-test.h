/* SPDX-License-Identifier: MIT */
/* Helpers shared by the config/ unit tests. */
#ifndef RW_TEST_CONFIG_CFG_TEST_H
#define RW_TEST_CONFIG_CFG_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "config/config.h"

/* Each test file's group; 0 when every test passed. */
int test_units_group(void);
int test_load_group(void);
int test_route_group(void);
int test_errs_group(void);
int test_upstream_group(void);
int test_sticky_group(void);
int test_health_group(void);
int test_ops_group(void);
int test_tls_group(void);

/* JSON written with ' for " (readable in C); returns a static buffer. */
const char *tcfg_json(const char *single_quoted);

/* Load single-quoted JSON as "cfg.json"; returns the rc, fills *cfg and errs. */
int tcfg_load(const char *single_quoted, struct rw_cfg **cfg, struct rw_cfg_errs *errs);

/* True when some message in errs contains sub. */
int tcfg_has(const struct rw_cfg_errs *errs, const char *sub);

/* Assert the config fails to load with a message containing sub (prints all on failure). */
void tcfg_expect_err(const char *single_quoted, const char *sub);

/* Assert the config loads; returns it (free with rw_cfg_free). */
struct rw_cfg *tcfg_expect_ok(const char *single_quoted);

/* A minimal valid config with these extra top-level members and this route body. */
#define TCFG_MIN "'listeners': [{'address': '127.0.0.1:8080', 'routes': [{'respond': {}}]}]"

#endif
