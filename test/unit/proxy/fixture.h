/* SPDX-License-Identifier: MIT */
/* Test fixture for proxy/: a config, a worker without a loop, a connection. */
#ifndef RW_TEST_PROXY_FIXTURE_H
#define RW_TEST_PROXY_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "proxy/px.h"

struct fx {
    struct rw_cfg *cfg;
    struct px_gen gen; /* only cfg is set */
    struct px_worker w;
    struct px_conn c;
    struct rw_hdr hdrs[RW_H1_MAX_HEADERS];
    struct rw_h1_req req;
    char raw[8192]; /* the parsed request's bytes */
    char out[32768];
};

/* Load `json` (asserts it is valid) and set up a worker and a connection from 127.0.0.1. */
struct fx *fx_new(const char *json);
void fx_free(struct fx *f);
/* Parse a request into f->req (asserts success). */
void fx_parse(struct fx *f, const char *raw);
/* Serialise the upstream request head for route `route` of listener 0 into f->out. */
const char *fx_upstream_head(struct fx *f, uint32_t route);

#endif
