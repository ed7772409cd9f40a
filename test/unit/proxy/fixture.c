/* SPDX-License-Identifier: MIT */
/* Test fixture for proxy/: a config, a worker without a loop, a connection. */
#include "fixture.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

struct fx *fx_new(const char *json)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    struct rw_cfg_errs errs = {0};
    int rc = rw_cfg_load_buf(json, strlen(json), "test.json", &f->cfg, &errs);
    for (uint32_t i = 0; i < errs.n; i++)
        print_error("%s\n", errs.msg[i]);
    rw_cfg_errs_clear(&errs);
    assert_int_equal(rc, 0);
    f->w.cfg0 = f->cfg;
    f->gen.cfg = f->cfg;
    f->w.gen = &f->gen;
    f->c.x = calloc(1, sizeof(*f->c.x));
    assert_non_null(f->c.x);
    f->c.x->gen = &f->gen;
    f->w.lim = (struct rw_h1_limits){.request_line = 8192, .header_block = 16384, .headers = 100};
    f->w.hbuf_size = sizeof(f->out);
    f->w.match_data = pcre2_match_data_create(1, NULL);
    f->c.w = &f->w;
    f->c.x->lis = &f->cfg->listeners[0];
    f->c.keep_alive = true;
    f->c.req_minor = 1;
    f->c.peer.v4.sin_family = AF_INET;
    f->c.peer.v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return f;
}

void fx_free(struct fx *f)
{
    free(f->c.x);
    pcre2_match_data_free(f->w.match_data);
    rw_cfg_free(f->cfg);
    free(f);
}

void fx_parse(struct fx *f, const char *raw)
{
    int status = 0;
    size_t n = strlen(raw);
    assert_true(n < sizeof(f->raw));
    memcpy(f->raw, raw, n);
    enum rw_parse rc = rw_h1_parse_request(f->raw, n, &f->w.lim, &f->req, f->hdrs, &status);
    assert_int_equal(rc, RW_PARSE_DONE);
}

const char *fx_upstream_head(struct fx *f, uint32_t route)
{
    f->c.x->route = &f->cfg->listeners[0].routes[route];
    int n = px_head_request(&f->c, &f->req, f->out, sizeof(f->out) - 1);
    assert_true(n > 0);
    f->out[n] = '\0';
    return f->out;
}
