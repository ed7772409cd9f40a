/* SPDX-License-Identifier: MIT */
/* Tests for proxy/route.c: matching order and redirect targets. */
#include "fixture.h"

#include <errno.h>
#include <string.h>

static const char cfg_json[] =
    "{ \"listeners\": [ { \"address\": \"127.0.0.1:1\", \"routes\": ["
    "  { \"match\": {\"host\": [\"api.example.com\"], \"methods\": [\"GET\"]}, \"upstream\": \"a\" },"
    "  { \"match\": {\"host\": \"*.example.com\"}, \"respond\": {\"status\": 201} },"
    "  { \"match\": {\"path\": \"/exact\"}, \"respond\": {\"status\": 202} },"
    "  { \"match\": {\"path_regex\": \"^/old/(.*)$\"}, \"redirect\": {\"status\": 301, \"host\": \"www.example.com\"} },"
    "  { \"match\": {\"headers\": {\"x-canary\": [\"1\", \"yes\"], \"x-any\": \"*\"}}, \"respond\": {\"status\": 203} },"
    "  { \"match\": {\"path_prefix\": \"/secure/\"}, \"redirect\": {\"scheme\": \"https\"} },"
    "  { \"match\": {\"path_prefix\": \"/moved\"}, \"redirect\": {\"path\": \"/new\", \"strip_query\": true, \"port\": 8443} }"
    " ] } ],"
    "  \"upstreams\": { \"a\": { \"servers\": [ { \"address\": \"127.0.0.1:2\" } ] } } }";

static int setup(void **state)
{
    *state = fx_new(cfg_json);
    return 0;
}

static int teardown(void **state)
{
    fx_free(*state);
    return 0;
}

/* Index of the matching route for a raw request, or -1. */
static int match(struct fx *f, const char *raw)
{
    fx_parse(f, raw);
    const struct rw_cfg_route *r = px_route_match(&f->w, f->c.lis, &f->req);
    return r ? (int)(r - f->c.lis->routes) : -1;
}

static void first_match_wins(void **state)
{
    struct fx *f = *state;
    assert_int_equal(match(f, "GET / HTTP/1.1\r\nHost: API.Example.com:8080\r\n\r\n"), 0);
    assert_int_equal(match(f, "POST / HTTP/1.1\r\nHost: api.example.com\r\n\r\n"), 1);
    assert_int_equal(match(f, "GET / HTTP/1.1\r\nHost: a.b.example.com\r\n\r\n"), 1);
    assert_int_equal(match(f, "GET /exact HTTP/1.1\r\nHost: example.com\r\n\r\n"), 2);
    assert_int_equal(match(f, "GET /exact/ HTTP/1.1\r\nHost: example.com\r\n\r\n"), -1);
    assert_int_equal(match(f, "GET /old/x HTTP/1.1\r\nHost: x\r\n\r\n"), 3);
    assert_int_equal(match(f, "GET /a/old/x HTTP/1.1\r\nHost: x\r\n\r\n"), -1);
}

static void header_matchers(void **state)
{
    struct fx *f = *state;
    assert_int_equal(match(f, "GET / HTTP/1.1\r\nHost: x\r\nX-Canary: yes\r\nX-Any: \r\n\r\n"), 4);
    assert_int_equal(match(f, "GET / HTTP/1.1\r\nHost: x\r\nX-Canary: 1\r\n\r\n"), -1);
    assert_int_equal(match(f, "GET / HTTP/1.1\r\nHost: x\r\nX-Canary: 2\r\nX-Any: a\r\n\r\n"), -1);
}

static const char *location(struct fx *f, const char *raw, char *out, size_t cap)
{
    int i = match(f, raw);
    assert_true(i >= 0);
    assert_true(px_build_location(&f->c.lis->routes[i], &f->req, out, cap) > 0);
    return out;
}

static void redirect_targets(void **state)
{
    struct fx *f = *state;
    char loc[512];
    assert_string_equal(location(f, "GET /old/a?b=1 HTTP/1.1\r\nHost: x:8080\r\n\r\n", loc,
                                 sizeof(loc)),
                        "http://www.example.com/old/a?b=1");
    assert_string_equal(location(f, "GET /secure/p?q HTTP/1.1\r\nHost: Site.test:8080\r\n\r\n",
                                 loc, sizeof(loc)),
                        "https://Site.test/secure/p?q");
    assert_string_equal(location(f, "GET /moved?q=1 HTTP/1.1\r\nHost: s.test\r\n\r\n", loc,
                                 sizeof(loc)),
                        "http://s.test:8443/new");
    assert_int_equal(px_build_location(&f->c.lis->routes[6], &f->req, loc, 10), -ENOSPC);
}

int test_route_run(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test_setup_teardown(first_match_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(header_matchers, setup, teardown),
        cmocka_unit_test_setup_teardown(redirect_targets, setup, teardown),
    };
    return cmocka_run_group_tests_name("proxy/route", t, NULL, NULL);
}
