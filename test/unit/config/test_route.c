/* SPDX-License-Identifier: MIT */
/* Tests for config/route.c: matchers, header edits, actions, and their errors. */
#include "cfg-test.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define UP "'upstreams': {'api': {'servers': [{'address': '127.0.0.1:9001'}]}}"
/* A config whose only route is R (an object's members, without braces). */
#define ROUTE(R) "{" UP ", 'listeners': [{'address': '*:80', 'routes': [{" R "}]}]}"
#define AT "cfg.json: $.listeners[0].routes[0]"

static void route_every_proxy_key(void **state)
{
    struct rw_cfg *cfg = tcfg_expect_ok(
        ROUTE("'match': {'host': ['API.Example.com', '*.example.org', '[::1]'], 'path': '/exact',"
              " 'path_prefix': '/p/', 'path_regex': '^/r/[0-9]+$', 'methods': ['GET', 'PURGE'],"
              " 'headers': {'X-A': '*', 'x-b': ['1', '2'], 'x-c': 'v'}},"
              " 'upstream': 'api', 'strip_prefix': '/p', 'add_prefix': '/internal', 'host': "
              "'Back.END:8080',"
              " 'request_headers': {'set': {'X-Env': 'prod'}, 'add': {'x-a': '1', 'X-A': '2'},"
              "  'remove': ['X-Debug', 'cookie']},"
              " 'response_headers': {'set': {'server': 'x'}, 'remove': ['x-powered-by']},"
              " 'trailers': 'drop'"));
    const struct rw_cfg_route *r = &cfg->listeners[0].routes[0];
    const struct rw_cfg_match *m = &r->match;

    assert_int_equal(r->action, RW_ROUTE_PROXY);
    assert_ptr_equal(r->upstream, &cfg->upstreams[0]);
    assert_int_equal(m->nhosts, 3);
    assert_string_equal(m->hosts[0], "api.example.com");
    assert_string_equal(m->hosts[1], "*.example.org");
    assert_string_equal(m->hosts[2], "[::1]");
    assert_string_equal(m->path, "/exact");
    assert_string_equal(m->path_prefix, "/p/");
    assert_non_null(m->path_re);
    assert_int_equal(m->nmethods, 2);
    assert_string_equal(m->methods[1], "PURGE");
    assert_int_equal(m->nheaders, 3);
    assert_string_equal(m->headers[0].name, "x-a");
    assert_true(m->headers[0].any);
    assert_int_equal(m->headers[0].nvalues, 0);
    assert_int_equal(m->headers[1].nvalues, 2);
    assert_string_equal(m->headers[1].values[1], "2");
    assert_string_equal(m->headers[2].values[0], "v");
    assert_string_equal(r->strip_prefix, "/p");
    assert_string_equal(r->add_prefix, "/internal");
    assert_string_equal(r->host, "back.end:8080");
    assert_string_equal(r->request_headers.set[0].name, "x-env");
    assert_int_equal(r->request_headers.nadd, 2);
    assert_string_equal(r->request_headers.add[1].name, "x-a");
    assert_string_equal(r->request_headers.add[1].value, "2");
    assert_int_equal(r->request_headers.nremove, 2);
    assert_string_equal(r->request_headers.remove[0], "x-debug");
    assert_string_equal(r->response_headers.set[0].name, "server");
    assert_string_equal(r->response_headers.remove[0], "x-powered-by");
    assert_true(r->trailers_drop);
    rw_cfg_free(cfg);
}

static void route_respond_and_redirect(void **state)
{
    struct rw_cfg *cfg = tcfg_expect_ok(
        "{'listeners': [{'address': '*:80', 'routes': ["
        " {'match': {}, 'respond': {'status': 503, 'body': 'down', 'headers': {'Retry-After': "
        "'5'}}},"
        " {'respond': {}},"
        " {'redirect': {'scheme': 'https'}},"
        " {'redirect': {'status': 302, 'host': 'WWW.example.com', 'port': 8443, 'path': '/new',"
        "  'strip_query': true}}]}]}");
    const struct rw_cfg_route *r = cfg->listeners[0].routes;

    assert_int_equal(r[0].action, RW_ROUTE_RESPOND);
    assert_int_equal(r[0].respond_status, 503);
    assert_string_equal(r[0].respond_body, "down");
    assert_int_equal(r[0].respond_body_len, 4);
    assert_int_equal(r[0].nrespond_headers, 1);
    assert_string_equal(r[0].respond_headers[0].name, "retry-after");
    assert_string_equal(r[0].respond_headers[0].value, "5");
    assert_int_equal(r[1].respond_status, 200);
    assert_string_equal(r[1].respond_body, "");
    assert_int_equal(r[1].respond_body_len, 0);
    assert_int_equal(r[2].action, RW_ROUTE_REDIRECT);
    assert_int_equal(r[2].redirect_status, 308);
    assert_string_equal(r[2].redirect_scheme, "https");
    assert_null(r[2].redirect_host);
    assert_int_equal(r[3].redirect_status, 302);
    assert_string_equal(r[3].redirect_host, "www.example.com");
    assert_int_equal(r[3].redirect_port, 8443);
    assert_string_equal(r[3].redirect_path, "/new");
    assert_true(r[3].redirect_strip_query);
    assert_int_equal(cfg->nupstreams, 0);
    rw_cfg_free(cfg);
}

static const struct bad {
    const char *json;
    const char *msg;
} bad_routes[] = {
    /* actions */
    {ROUTE("'upstream': 'apii'"), AT
     ".upstream: must name an upstream defined in $.upstreams (did you mean api?), got \"apii\""},
    {ROUTE("'upstream': 'zzzzzz'"),
     AT ".upstream: must name an upstream defined in $.upstreams, got"},
    {"{'listeners': [{'address': '*:80', 'routes': [{'upstream': 'api'}]}]}",
     AT ".upstream: must name an upstream defined in $.upstreams, got \"api\""},
    {ROUTE("'upstream': 5"), AT ".upstream: must be the name of an upstream, got 5"},
    {ROUTE("'upstream': 'api', 'respond': {}"),
     AT ": must have exactly one of \"upstream\", \"respond\", \"redirect\", got \"upstream\" and "
        "\"respond\""},
    {ROUTE("'match': {'path': '/'}"),
     AT ": must have exactly one of \"upstream\", \"respond\", \"redirect\", got none"},
    {ROUTE("'respond': {}, 'strip_prefix': '/a'"),
     AT ".strip_prefix: only applies to routes with \"upstream\""},
    {ROUTE("'redirect': {'scheme': 'https'}, 'request_headers': {}"),
     AT ".request_headers: only applies to routes with \"upstream\""},
    {"{'listeners': [{'address': '*:80', 'routes': ['api']}]}",
     AT ": must be an object like {\"match\": {...}, \"upstream\": \"name\"}, got \"api\""},
    /* unknown keys at depth */
    {ROUTE("'match': {'pathprefix': '/'}, 'upstream': 'api'"),
     AT ".match.pathprefix: unknown key; did you mean path_prefix?"},
    {ROUTE("'upstream': 'api', 'request_headers': {'sett': {}}"),
     AT ".request_headers.sett: unknown key; did you mean set?"},
    {ROUTE("'respond': {'stauts': 200}"), AT ".respond.stauts: unknown key; did you mean status?"},
    {ROUTE("'upstrem': 'api'"), AT ".upstrem: unknown key; did you mean upstream?"},
    /* matchers */
    {ROUTE("'match': {'path_regex': '^/(a'}, 'upstream': 'api'"),
     AT ".match.path_regex: must be a valid regular expression (missing closing parenthesis at "
        "offset 4), got \"^/(a\""},
    {ROUTE("'match': {'path_regex': 7}, 'upstream': 'api'"),
     AT ".match.path_regex: must be a string, got 7"},
    {ROUTE("'match': {'path': 'healthz'}, 'upstream': 'api'"),
     AT ".match.path: must start with '/', got \"healthz\""},
    {ROUTE("'match': {'path_prefix': '/a?b'}, 'upstream': 'api'"),
     AT ".match.path_prefix: must not contain spaces, control characters, '?' or '#'"},
    {ROUTE("'match': {'host': 'a.*.com'}, 'upstream': 'api'"),
     AT ".match.host: may use '*' only as a whole leading label"},
    {ROUTE("'match': {'host': ['ok.com', 'bad host']}, 'upstream': 'api'"),
     AT ".match.host[1]: must be a host name or an IP address, got \"bad host\""},
    {ROUTE("'match': {'host': []}, 'upstream': 'api'"),
     AT ".match.host: must be a string or a non-empty list of strings, got []"},
    {ROUTE("'match': {'host': 'a.com:80'}, 'upstream': 'api'"),
     AT ".match.host: must be a host name without a port"},
    {ROUTE("'match': {'methods': 'GET'}, 'upstream': 'api'"),
     AT ".match.methods: must be a non-empty list of strings, got \"GET\""},
    {ROUTE("'match': {'methods': ['GET', 'BAD METHOD']}, 'upstream': 'api'"),
     AT ".match.methods[1]: must be a token"},
    {ROUTE("'match': {'headers': {'bad name': 'x'}}, 'upstream': 'api'"),
     AT ".match.headers[\"bad name\"]: must be a header name (a token), got \"bad name\""},
    {ROUTE("'match': {'headers': {'x-a': []}}, 'upstream': 'api'"),
     AT ".match.headers[\"x-a\"]: must be a string, a non-empty list of strings, or \"*\", got []"},
    {ROUTE("'match': {'headers': {'x-a': ['1', 2]}}, 'upstream': 'api'"),
     AT ".match.headers[\"x-a\"][1]: must be a string, got 2"},
    {ROUTE("'match': {'headers': {'x-a': '1', 'X-A': '2'}}, 'upstream': 'api'"),
     AT ".match.headers[\"X-A\"]: must appear once (header names are case-insensitive)"},
    {ROUTE("'match': [], 'upstream': 'api'"), AT ".match: must be an object, got []"},
    /* header edits */
    {ROUTE("'upstream': 'api', 'request_headers': {'set': {'x y': '1'}}"),
     AT ".request_headers.set[\"x y\"]: must be a header name (a token), got \"x y\""},
    {ROUTE("'upstream': 'api', 'request_headers': {'set': {'x-a': 'a\\nb'}}"),
     AT ".request_headers.set[\"x-a\"]: must not contain CR, LF or other control characters"},
    {ROUTE("'upstream': 'api', 'request_headers': {'add': {'x-a': 1}}"),
     AT ".request_headers.add[\"x-a\"]: must be a string, got 1"},
    {ROUTE("'upstream': 'api', 'request_headers': {'set': {'Content-Length': '1'}}"),
     AT ".request_headers.set[\"Content-Length\"]: must not be a framing or hop-by-hop header"},
    {ROUTE("'upstream': 'api', 'request_headers': {'remove': ['host']}"),
     AT ".request_headers.remove[0]: must not be host (use the route's \"host\" key)"},
    {ROUTE("'upstream': 'api', 'response_headers': {'remove': 'x-a'}"),
     AT ".response_headers.remove: must be a non-empty list of strings, got \"x-a\""},
    {ROUTE("'upstream': 'api', 'response_headers': {'set': {'a': '1', 'A': '2'}}"),
     AT ".response_headers.set.A: must appear once"},
    {ROUTE("'upstream': 'api', 'strip_prefix': 'v1'"), AT ".strip_prefix: must start with '/'"},
    {ROUTE("'upstream': 'api', 'host': 'a.com:0'"),
     AT ".host: must be a host name or IP address with an optional :port, got \"a.com:0\""},
    {ROUTE("'upstream': 'api', 'trailers': 'keep'"),
     AT ".trailers: must be one of \"forward\", \"drop\", got \"keep\""},
    /* respond and redirect */
    {ROUTE("'respond': {'status': 600}"),
     AT ".respond.status: must be an integer 100..599, got 600"},
    {ROUTE("'respond': {'status': 204, 'body': 'x'}"),
     AT ".respond.body: must be empty for status 204, got \"x\""},
    {ROUTE("'respond': {'headers': {'transfer-encoding': 'chunked'}}"),
     AT ".respond.headers[\"transfer-encoding\"]: must not be a framing"},
    {ROUTE("'respond': 'ok'"), AT ".respond: must be an object, got \"ok\""},
    {ROUTE("'redirect': {'status': 300, 'path': '/'}"),
     AT ".redirect.status: must be one of 301, 302, 303, 307, 308, got 300"},
    {ROUTE("'redirect': {'scheme': 'ftp'}"),
     AT ".redirect.scheme: must be one of \"http\", \"https\", got \"ftp\""},
    {ROUTE("'redirect': {'port': 0}"), AT ".redirect.port: must be an integer 1..65535, got 0"},
    {ROUTE("'redirect': {'path': 'x'}"), AT ".redirect.path: must start with '/', got \"x\""},
    {ROUTE("'redirect': {'host': '*.a.com'}"), AT ".redirect.host: must be a host name"},
    {ROUTE("'redirect': {'strip_query': true}"),
     AT ".redirect: must set at least one of \"scheme\", \"host\", \"port\", \"path\""},
    {ROUTE("'redirect': {'strip_query': 1, 'path': '/'}"),
     AT ".redirect.strip_query: must be true or false, got 1"},
};

static void route_bad_configs(void **state)
{
    for (size_t i = 0; i < sizeof(bad_routes) / sizeof(bad_routes[0]); i++)
        tcfg_expect_err(bad_routes[i].json, bad_routes[i].msg);
}

static void route_long_regex_rejected(void **state)
{
    static char json[8192];
    char re[4200];

    memset(re, 'a', sizeof(re) - 1);
    re[sizeof(re) - 1] = '\0';
    snprintf(json, sizeof(json), ROUTE("'match': {'path_regex': '%s'}, 'respond': {}"), re);
    tcfg_expect_err(json, AT ".match.path_regex: must be at most 4096 bytes");
}

int test_route_group(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(route_every_proxy_key),
        cmocka_unit_test(route_respond_and_redirect),
        cmocka_unit_test(route_bad_configs),
        cmocka_unit_test(route_long_regex_rejected),
    };
    return cmocka_run_group_tests_name("config/route", t, NULL, NULL);
}
