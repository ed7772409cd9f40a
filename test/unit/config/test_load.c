/* SPDX-License-Identifier: MIT */
/* Tests for config/load.c: the full example, defaults, and errors outside routes. */
#include "cfg-test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#define SRC RW_SOURCE_DIR "/"

static struct rw_cfg *load_path(const char *path)
{
    struct rw_cfg_errs errs = {0};
    struct rw_cfg *cfg = NULL;
    int rc = rw_cfg_load_file(path, &cfg, &errs);

    for (uint32_t i = 0; i < errs.n; i++)
        fprintf(stderr, "  error: %s\n", errs.msg[i]);
    assert_int_equal(rc, 0);
    assert_int_equal(errs.n, 0);
    assert_non_null(cfg);
    return cfg;
}

static uint16_t port_of(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
    return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

static void full_globals(const struct rw_cfg *cfg)
{
    assert_int_equal(cfg->workers, 0);
    assert_string_equal(cfg->io_backend, "auto");
    assert_string_equal(cfg->log_level, "info");
    assert_int_equal(cfg->max_connections, 100000);
    assert_int_equal(cfg->limit_request_line, 8192);
    assert_int_equal(cfg->limit_header_block, 16384);
    assert_int_equal(cfg->limit_headers, 100);
    assert_true(cfg->limit_body == 0);
    assert_string_equal(cfg->server_header, "ringwall");
    assert_true(cfg->hide_backend_headers);
    assert_string_equal(cfg->via, "ringwall");
    assert_int_equal(cfg->client_header_timeout_ms, 10000);
    assert_int_equal(cfg->client_body_timeout_ms, 60000);
    assert_int_equal(cfg->client_idle_timeout_ms, 75000);
    assert_string_equal(cfg->source, SRC "test/unit/config/full.json");
}

static void full_upstreams(const struct rw_cfg *cfg)
{
    const struct rw_cfg_upstream *api = &cfg->upstreams[0];

    assert_int_equal(cfg->nupstreams, 2);
    assert_string_equal(api->name, "api");
    assert_int_equal(api->index, 0);
    assert_string_equal(api->balance, "round_robin");
    assert_int_equal(api->nservers, 2);
    assert_string_equal(api->servers[0].name, "api-1");
    assert_string_equal(api->servers[0].address, "127.0.0.1:9001");
    assert_int_equal(api->servers[0].addr.ss_family, AF_INET);
    assert_int_equal(api->servers[0].addrlen, sizeof(struct sockaddr_in));
    assert_int_equal(port_of(&api->servers[0].addr), 9001);
    assert_int_equal(api->servers[0].weight, 3);
    assert_string_equal(api->servers[1].name, "[::1]:9002"); /* defaults to the address */
    assert_int_equal(api->servers[1].addr.ss_family, AF_INET6);
    assert_int_equal(port_of(&api->servers[1].addr), 9002);
    assert_int_equal(api->servers[1].weight, 1);
    assert_int_equal(api->connect_timeout_ms, 3000);
    assert_int_equal(api->response_timeout_ms, 60000);
    assert_int_equal(api->read_timeout_ms, 60000);
    assert_int_equal(api->keepalive_max_idle, 64);
    assert_int_equal(api->keepalive_idle_timeout_ms, 60000);
    assert_int_equal(api->servers[0].max_conns, 100);
    assert_false(api->servers[0].backup);
    assert_int_equal(api->servers[1].max_conns, 0);
    assert_true(api->servers[1].backup);
    assert_int_equal(api->slow_start_ms, 30000);
    assert_int_equal(api->sticky.mode, RW_STICKY_COOKIE);
    assert_string_equal(api->sticky.name, "rw_s");
    assert_int_equal(api->sticky.secure, 1);
    assert_int_equal(api->sticky.same_site, RW_SAME_SITE_STRICT);
    assert_int_equal(api->queue_size, 512);
    assert_int_equal(api->queue_timeout_ms, 2000);
    assert_int_equal(api->retries, 2);
    assert_int_equal(api->retry_on, RW_RETRY_CONNECT_FAILURE | RW_RETRY_503);
    assert_true(api->retry_budget == 0.1);
    assert_string_equal(cfg->upstreams[1].name, "web");
    assert_int_equal(cfg->upstreams[1].sticky.mode, RW_STICKY_NONE);
    assert_int_equal(cfg->upstreams[1].queue_size, 0);
    assert_int_equal(cfg->upstreams[1].index, 1);
}

static void full_route0(const struct rw_cfg *cfg)
{
    const struct rw_cfg_route *r = &cfg->listeners[0].routes[0];

    assert_int_equal(r->action, RW_ROUTE_PROXY);
    assert_ptr_equal(r->upstream, &cfg->upstreams[0]);
    assert_int_equal(r->match.nhosts, 1);
    assert_string_equal(r->match.hosts[0], "api.example.com");
    assert_string_equal(r->match.path_prefix, "/v1/");
    assert_null(r->match.path);
    assert_null(r->match.path_re);
    assert_int_equal(r->match.nmethods, 2);
    assert_string_equal(r->match.methods[0], "GET");
    assert_string_equal(r->match.methods[1], "POST");
    assert_int_equal(r->match.nheaders, 1);
    assert_string_equal(r->match.headers[0].name, "x-canary");
    assert_int_equal(r->match.headers[0].nvalues, 1);
    assert_string_equal(r->match.headers[0].values[0], "1");
    assert_false(r->match.headers[0].any);
    assert_string_equal(r->strip_prefix, "/v1");
    assert_null(r->add_prefix);
    assert_null(r->host);
    assert_int_equal(r->request_headers.nset, 1);
    assert_string_equal(r->request_headers.set[0].name, "x-env");
    assert_string_equal(r->request_headers.set[0].value, "prod");
    assert_int_equal(r->request_headers.nremove, 1);
    assert_string_equal(r->request_headers.remove[0], "x-debug");
    assert_int_equal(r->request_headers.nadd, 0);
    assert_int_equal(r->response_headers.nadd, 1);
    assert_string_equal(r->response_headers.add[0].name, "x-served-by");
    assert_string_equal(r->response_headers.add[0].value, "ringwall");
    assert_false(r->trailers_drop);
}

static void full_routes(const struct rw_cfg *cfg)
{
    const struct rw_cfg_listener *l = &cfg->listeners[0];
    const struct rw_cfg_route *r = l->routes;

    assert_int_equal(cfg->nlisteners, 1);
    assert_string_equal(l->name, "web");
    assert_string_equal(l->address, "0.0.0.0:8080");
    assert_int_equal(port_of(&l->addr), 8080);
    assert_false(l->defer_accept);
    assert_int_equal(l->nroutes, 4);
    full_route0(cfg);
    assert_int_equal(r[1].action, RW_ROUTE_RESPOND);
    assert_string_equal(r[1].match.path, "/healthz");
    assert_int_equal(r[1].respond_status, 200);
    assert_string_equal(r[1].respond_body, "ok\n");
    assert_int_equal(r[1].respond_body_len, 3);
    assert_int_equal(r[2].action, RW_ROUTE_REDIRECT);
    assert_string_equal(r[2].match.path_regex, "^/old/(.*)$");
    assert_non_null(r[2].match.path_re);
    assert_int_equal(r[2].redirect_status, 301);
    assert_string_equal(r[2].redirect_host, "www.example.com");
    assert_null(r[2].redirect_scheme);
    assert_null(r[2].redirect_path);
    assert_int_equal(r[2].redirect_port, 0);
    assert_false(r[2].redirect_strip_query);
    assert_int_equal(r[3].action, RW_ROUTE_PROXY);
    assert_ptr_equal(r[3].upstream, &cfg->upstreams[1]);
}

static void full_example_loads(void **state)
{
    struct rw_cfg *cfg = load_path(SRC "test/unit/config/full.json");

    full_globals(cfg);
    full_upstreams(cfg);
    full_routes(cfg);
    rw_cfg_free(cfg);
}

static void defaults_applied(void **state)
{
    struct rw_cfg *cfg =
        tcfg_expect_ok("{'listeners': [{'address': '*:80', 'routes': [{'upstream': 'u'}]}],"
                       " 'upstreams': {'u': {'servers': [{'address': 'localhost:81'}]}}}");
    const struct rw_cfg_upstream *u = &cfg->upstreams[0];
    const struct rw_cfg_route *r = &cfg->listeners[0].routes[0];

    assert_int_equal(cfg->workers, 0);
    assert_string_equal(cfg->io_backend, "auto");
    assert_string_equal(cfg->log_level, "info");
    assert_int_equal(cfg->max_connections, 100000);
    assert_int_equal(cfg->limit_request_line, 8192);
    assert_int_equal(cfg->limit_header_block, 16384);
    assert_int_equal(cfg->limit_headers, 100);
    assert_true(cfg->limit_body == 0);
    assert_string_equal(cfg->server_header, "ringwall");
    assert_true(cfg->hide_backend_headers);
    assert_string_equal(cfg->via, "ringwall");
    assert_int_equal(cfg->forwarded_headers, RW_FWD_ALL);
    assert_int_equal(cfg->io_coalesce_us, RW_CFG_IO_COALESCE_US);
    assert_int_equal(cfg->client_header_timeout_ms, 10000);
    assert_int_equal(cfg->client_body_timeout_ms, 60000);
    assert_int_equal(cfg->client_idle_timeout_ms, 75000);
    assert_string_equal(cfg->listeners[0].name, "*:80");
    assert_true(cfg->listeners[0].defer_accept);
    assert_string_equal(u->balance, "round_robin");
    assert_string_equal(u->servers[0].name, "localhost:81");
    assert_int_equal(u->servers[0].weight, 1);
    assert_int_equal(u->connect_timeout_ms, 3000);
    assert_int_equal(u->response_timeout_ms, 60000);
    assert_int_equal(u->read_timeout_ms, 60000);
    assert_int_equal(u->keepalive_max_idle, 64);
    assert_int_equal(u->keepalive_idle_timeout_ms, 60000);
    assert_int_equal(u->retries, 1);
    assert_int_equal(r->match.nhosts + r->match.nmethods + r->match.nheaders, 0);
    assert_null(r->match.path);
    assert_null(r->match.path_prefix);
    assert_null(r->match.path_regex);
    rw_cfg_free(cfg);
}

static void globals_set(void **state)
{
    struct rw_cfg *cfg = tcfg_expect_ok(
        "{'workers': 1024, 'io_backend': 'epoll', 'log': {'level': 'debug'},"
        " 'limits': {'max_connections': 10000000, 'request_line': 256, 'header_block': '1MiB',"
        "  'headers': 256, 'body': '10MB'}, 'server_header': '', 'hide_backend_headers': false,"
        " 'via': 'edge-1', 'timeouts': {'client_header': '250ms', 'client_body': '24d',"
        "  'client_idle': '1h'}, " TCFG_MIN "}");

    assert_int_equal(cfg->workers, 1024);
    assert_string_equal(cfg->io_backend, "epoll");
    assert_string_equal(cfg->log_level, "debug");
    assert_int_equal(cfg->max_connections, 10000000);
    assert_int_equal(cfg->limit_request_line, 256);
    assert_int_equal(cfg->limit_header_block, 1 << 20);
    assert_int_equal(cfg->limit_headers, 256);
    assert_true(cfg->limit_body == 10000000);
    assert_string_equal(cfg->server_header, "");
    assert_false(cfg->hide_backend_headers);
    assert_string_equal(cfg->via, "edge-1");
    assert_int_equal(cfg->client_header_timeout_ms, 250);
    assert_int_equal(cfg->client_body_timeout_ms, 2073600000u);
    assert_int_equal(cfg->client_idle_timeout_ms, 3600000);
    assert_int_equal(cfg->nupstreams, 0);
    rw_cfg_free(cfg);
}

static const struct bad {
    const char *json;
    const char *msg;
} bad_top[] = {
    /* unknown keys, at several depths, with and without a hint */
    {"{'wrokers': 1, " TCFG_MIN "}", "cfg.json: $.wrokers: unknown key; did you mean workers?"},
    {"{'zzz': 1, " TCFG_MIN "}", "cfg.json: $.zzz: unknown key"},
    {"{'log': {'levle': 'info'}, " TCFG_MIN "}", "$.log.levle: unknown key; did you mean level?"},
    {"{'listeners': [{'address': '*:1', 'routes': [{'respond': {}}], 'rotues': []}]}",
     "$.listeners[0].rotues: unknown key; did you mean routes?"},
    {"{'upstreams': {'api': {'servers': [{'address': '*:1', 'wieght': 2}]}}, " TCFG_MIN "}",
     "$.upstreams.api.servers[0].wieght: unknown key; did you mean weight?"},
    {"{'upstreams': {'we ird': {'servers': [{'address': '*:1'}], 'x': 1}}, " TCFG_MIN "}",
     "cfg.json: $.upstreams[\"we ird\"].x: unknown key"},
    /* wrong types */
    {"{'workers': '4', " TCFG_MIN "}", "$.workers: must be an integer 0..1024, got \"4\""},
    {"{'workers': 1.5, " TCFG_MIN "}", "$.workers: must be an integer 0..1024, got 1.5"},
    {"{'log': 'debug', " TCFG_MIN "}", "$.log: must be an object, got \"debug\""},
    {"{'hide_backend_headers': 'yes', " TCFG_MIN "}",
     "$.hide_backend_headers: must be true or false, got \"yes\""},
    {"{'server_header': 5, " TCFG_MIN "}", "$.server_header: must be a string, got 5"},
    {"{'listeners': {'address': '*:1'}}",
     "$.listeners: must be a non-empty list, got {\"address\""},
    {"{'upstreams': [], " TCFG_MIN "}", "$.upstreams: must be an object, got []"},
    {"[1, 2]", "cfg.json: $: must be an object, got [1,2]"},
    {"{'listeners': ['*:80']}", "$.listeners[0]: must be an object like"},
    {"{'listeners': [{'address': '*:1', 'defer_accept': 1, 'routes': [{'respond': {}}]}]}",
     "$.listeners[0].defer_accept: must be true or false, got 1"},
    /* out of range and bad enums */
    {"{'workers': 1025, " TCFG_MIN "}", "$.workers: must be an integer 0..1024, got 1025"},
    {"{'workers': -1, " TCFG_MIN "}", "$.workers: must be an integer 0..1024, got -1"},
    {"{'limits': {'headers': 0}, " TCFG_MIN "}",
     "$.limits.headers: must be an integer 1..256, got 0"},
    {"{'limits': {'max_connections': 10000001}, " TCFG_MIN "}",
     "$.limits.max_connections: must be an integer 1..10000000, got 10000001"},
    {"{'limits': {'request_line': '255B'}, " TCFG_MIN "}",
     "$.limits.request_line: must be a size 256B..1MiB, got \"255B\""},
    {"{'limits': {'header_block': '2MiB'}, " TCFG_MIN "}",
     "$.limits.header_block: must be a size 1KiB..1MiB, got \"2MiB\""},
    {"{'limits': {'request_line': '64KiB', 'header_block': '32KiB'}, " TCFG_MIN "}",
     "$.limits.header_block: must be at least limits.request_line (65536 bytes), got \"32KiB\""},
    {"{'limits': {'body': -1}, " TCFG_MIN "}", "$.limits.body: must be a size like \"16KiB\""},
    {"{'limits': {'body': '1.5MB'}, " TCFG_MIN "}", "$.limits.body: must be a size like"},
    {"{'limits': {'body': '99999999999999999999'}, " TCFG_MIN "}",
     "$.limits.body: must be a size like"},
    {"{'io_backend': 'kqueue', " TCFG_MIN "}",
     "$.io_backend: must be one of \"auto\", \"io_uring\", \"epoll\", got \"kqueue\""},
    {"{'log': {'level': 'trace'}, " TCFG_MIN "}", "$.log.level: must be one of \"error\""},
    {"{'via': 'my proxy', " TCFG_MIN "}", "$.via: must be a token"},
    {"{'server_header': 'a\\r\\nb', " TCFG_MIN "}",
     "$.server_header: must not contain CR, LF or other control characters, got \"a\\r\\nb\""},
    /* durations */
    {"{'timeouts': {'client_header': 10}, " TCFG_MIN "}",
     "$.timeouts.client_header: must be a duration like \"10s\" (an integer with unit ms, s, m, h "
     "or d), got 10"},
    {"{'timeouts': {'client_body': '1.5s'}, " TCFG_MIN "}",
     "$.timeouts.client_body: must be a duration like \"10s\""},
    {"{'timeouts': {'client_idle': '0s'}, " TCFG_MIN "}",
     "$.timeouts.client_idle: must be greater than 0, got \"0s\""},
    {"{'timeouts': {'client_idle': '25d'}, " TCFG_MIN "}",
     "$.timeouts.client_idle: must be at most 24d, got \"25d\""},
    {"{'upstreams': {'a': {'servers': [{'address': '*:1'}], 'keepalive': {'idle_timeout': '5x'}}},"
     " " TCFG_MIN "}",
     "$.upstreams.a.keepalive.idle_timeout: must be a duration"},
    /* addresses */
    {"{'listeners': [{'address': 'example.com:80', 'routes': [{'respond': {}}]}]}",
     "$.listeners[0].address: must be an IP address, * or localhost (host names are not resolved"},
    {"{'listeners': [{'address': '1.2.3.4', 'routes': [{'respond': {}}]}]}",
     "$.listeners[0].address: must end in \":port\" with a port 1..65535, got \"1.2.3.4\""},
    {"{'listeners': [{'address': '::1:80', 'routes': [{'respond': {}}]}]}",
     "$.listeners[0].address: must put an IPv6 address in brackets"},
    {"{'upstreams': {'a': {'servers': [{'address': '1.2.3.4:70000'}]}}, " TCFG_MIN "}",
     "$.upstreams.a.servers[0].address: must end in \":port\" with a port 1..65535"},
    /* required keys */
    {"{}", "cfg.json: $.listeners: required key is missing"},
    {"{'listeners': []}", "$.listeners: must be a non-empty list, got []"},
    {"{'listeners': [{'routes': [{'respond': {}}]}]}",
     "$.listeners[0].address: required key is missing"},
    {"{'listeners': [{'address': '*:1'}]}", "$.listeners[0].routes: required key is missing"},
    {"{'listeners': [{'address': '*:1', 'routes': []}]}",
     "$.listeners[0].routes: must be a non-empty list, got []"},
    {"{'upstreams': {'a': {}}, " TCFG_MIN "}", "$.upstreams.a.servers: required key is missing"},
    {"{'upstreams': {'a': {'servers': []}}, " TCFG_MIN "}",
     "$.upstreams.a.servers: must be a non-empty list, got []"},
    {"{'upstreams': {'a': {'servers': [{'name': 'x'}]}}, " TCFG_MIN "}",
     "$.upstreams.a.servers[0].address: required key is missing"},
    {"{'upstreams': {'': {'servers': [{'address': '*:1'}]}}, " TCFG_MIN "}",
     "cfg.json: $.upstreams[\"\"]: upstream names must not be empty"},
    /* upstream values */
    {"{'upstreams': {'a': {'servers': [{'address': '*:1', 'weight': 'x'}]}}, " TCFG_MIN "}",
     "cfg.json: $.upstreams.a.servers[0].weight: must be an integer 1..1000, got \"x\""},
    {"{'upstreams': {'a': {'servers': [{'address': '*:1', 'weight': 0}]}}, " TCFG_MIN "}",
     "$.upstreams.a.servers[0].weight: must be an integer 1..1000, got 0"},
    {"{'upstreams': {'a': {'servers': [{'address': '*:1'}], 'retries': 11}}, " TCFG_MIN "}",
     "$.upstreams.a.retries: must be an integer 0..10, got 11"},
    {"{'upstreams': {'a': {'servers': [{'address': '*:1'}], 'keepalive': {'max_idle': 100001}}},"
     " " TCFG_MIN "}",
     "$.upstreams.a.keepalive.max_idle: must be an integer 0..100000, got 100001"},
    {"{'upstreams': {'a': {'servers': [{'address': '*:1'}], 'balance': 'fastest'}}, " TCFG_MIN "}",
     "$.upstreams.a.balance: must be one of: "},
    /* duplicates */
    {"{'listeners': [{'name': 'w', 'address': '*:1', 'routes': [{'respond': {}}]},"
     " {'name': 'w', 'address': '*:2', 'routes': [{'respond': {}}]}]}",
     "$.listeners[1].name: listener names must be unique (same as listeners[0]), got \"w\""},
    {"{'listeners': [{'address': '0.0.0.0:1', 'routes': [{'respond': {}}]},"
     " {'address': '*:1', 'routes': [{'respond': {}}]}]}",
     "$.listeners[1].address: listener addresses must be unique (same as listeners[0]), got "
     "\"*:1\""},
    {"{'upstreams': {'a': {'servers': [{'name': 's', 'address': '*:1'}, {'name': 's', 'address':"
     " '*:2'}]}}, " TCFG_MIN "}",
     "$.upstreams.a.servers[1].name: server names must be unique in an upstream (same as "
     "servers[0]), got \"s\""},
    {"{'upstreams': {'a': {'servers': [{'address': '*:1'}, {'address': '*:1'}]}}, " TCFG_MIN "}",
     "$.upstreams.a.servers[1].address: server names must be unique"},
    {"{'workers': 1, 'workers': 2, " TCFG_MIN "}",
     "cfg.json:1:24: JSON syntax error: duplicate object key near '\"workers\"'"},
};

/* "forwarded_headers" is a set of names (any case) and "via" may be true or false. */
static void forwarding_fields_set(void **state)
{
    static const struct {
        const char *json;
        unsigned bits;
    } fwd[] = {
        {"[]", 0},
        {"['x-forwarded-for']", RW_FWD_XFF},
        {"['X-Forwarded-Host', 'Forwarded']", RW_FWD_HOST | RW_FWD_FORWARDED},
        {"['x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-for', 'forwarded']", RW_FWD_ALL},
    };
    char json[512];
    struct rw_cfg *cfg;

    assert_int_equal(RW_FWD_ALL, RW_FWD_FORWARDED | RW_FWD_XFF | RW_FWD_PROTO | RW_FWD_HOST);
    for (size_t i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++) {
        snprintf(json, sizeof(json), "{'forwarded_headers': %s, %s}", fwd[i].json, TCFG_MIN);
        cfg = tcfg_expect_ok(json);
        assert_int_equal(cfg->forwarded_headers, fwd[i].bits);
        assert_string_equal(cfg->via, "ringwall");
        rw_cfg_free(cfg);
    }
    cfg = tcfg_expect_ok("{'via': false, " TCFG_MIN "}");
    assert_null(cfg->via);
    assert_int_equal(cfg->forwarded_headers, RW_FWD_ALL);
    rw_cfg_free(cfg);
    cfg = tcfg_expect_ok("{'via': true, 'forwarded_headers': [], " TCFG_MIN "}");
    assert_string_equal(cfg->via, "ringwall");
    assert_int_equal(cfg->forwarded_headers, 0);
    rw_cfg_free(cfg);
}

#define FWD_ONE_OF                                                                                 \
    "must be one of \"forwarded\", \"x-forwarded-for\", \"x-forwarded-proto\", "                   \
    "\"x-forwarded-host\" (any case)"

/* Each error, whole: the file, the JSON path and what is wrong. */
static void forwarding_fields_errors(void **state)
{
    static const struct bad fwd_bad[] = {
        {"{'forwarded_headers': 'x-forwarded-for', " TCFG_MIN "}",
         "cfg.json: $.forwarded_headers: must be a list, got \"x-forwarded-for\""},
        {"{'forwarded_headers': {}, " TCFG_MIN "}",
         "cfg.json: $.forwarded_headers: must be a list, got {}"},
        {"{'forwarded_headers': ['forwarded', 1], " TCFG_MIN "}",
         "cfg.json: $.forwarded_headers[1]: " FWD_ONE_OF ", got 1"},
        {"{'forwarded_headers': [['forwarded']], " TCFG_MIN "}",
         "cfg.json: $.forwarded_headers[0]: " FWD_ONE_OF ", got [\"forwarded\"]"},
        {"{'forwarded_headers': ['x-forwarded-for', 'forwarded', 'x-real-ip'], " TCFG_MIN "}",
         "cfg.json: $.forwarded_headers[2]: " FWD_ONE_OF ", got \"x-real-ip\""},
        {"{'forwarded_headers': ['via'], " TCFG_MIN "}",
         "cfg.json: $.forwarded_headers[0]: " FWD_ONE_OF ", got \"via\""},
        {"{'forwarded_headers': ['forwarded', 'x-forwarded-for', 'Forwarded'], " TCFG_MIN "}",
         "cfg.json: $.forwarded_headers[2]: must appear once in the list, got \"Forwarded\""},
        {"{'via': 1, " TCFG_MIN "}",
         "cfg.json: $.via: must be a token like \"ringwall\", true or false, got 1"},
        {"{'via': null, " TCFG_MIN "}",
         "cfg.json: $.via: must be a token like \"ringwall\", true or false, got null"},
        {"{'via': '', " TCFG_MIN "}",
         "cfg.json: $.via: must be a token (letters, digits and !#$%&'*+-.^_`|~), got \"\""},
        {"{'forwarded_headres': [], " TCFG_MIN "}",
         "cfg.json: $.forwarded_headres: unknown key; did you mean forwarded_headers?"},
    };
    struct rw_cfg_errs errs = {0};
    struct rw_cfg *cfg = NULL;

    for (size_t i = 0; i < sizeof(fwd_bad) / sizeof(fwd_bad[0]); i++) {
        assert_int_equal(tcfg_load(fwd_bad[i].json, &cfg, &errs), -EINVAL);
        assert_null(cfg);
        assert_int_equal(errs.n, 1);
        assert_string_equal(errs.msg[0], fwd_bad[i].msg);
        rw_cfg_errs_clear(&errs);
    }
    /* every bad entry is reported, at its own index */
    assert_int_equal(tcfg_load("{'forwarded_headers': [5, 'x', 'forwarded', 'FORWARDED', "
                               "'x-forwarded-for', 'x-forwarded-for'], " TCFG_MIN "}",
                               &cfg, &errs),
                     -EINVAL);
    assert_int_equal(errs.n, 4);
    assert_true(tcfg_has(&errs, "$.forwarded_headers[0]: " FWD_ONE_OF ", got 5"));
    assert_true(tcfg_has(&errs, "$.forwarded_headers[1]: " FWD_ONE_OF ", got \"x\""));
    assert_true(tcfg_has(&errs, "$.forwarded_headers[3]: must appear once in the list"));
    assert_true(tcfg_has(&errs, "$.forwarded_headers[5]: must appear once in the list"));
    rw_cfg_errs_clear(&errs);
}

/* "io_coalesce": a duration in us or ms up to 1 ms, or false. */
static void io_coalesce_values(void **state)
{
    static const struct {
        const char *json;
        uint32_t us;
    } ok[] = {
        {"'100us'", 100}, {"'0us'", 0}, {"'1ms'", 1000}, {"'1000us'", 1000}, {"false", 0},
    };
    static const struct bad bad[] = {
        {"{'io_coalesce': '1001us', " TCFG_MIN "}",
         "cfg.json: $.io_coalesce: must be a duration of at most 1ms like \"100us\" (unit us or "
         "ms), or false, got \"1001us\""},
        {"{'io_coalesce': 100, " TCFG_MIN "}",
         "cfg.json: $.io_coalesce: must be a duration of at most 1ms like \"100us\" (unit us or "
         "ms), or false, got 100"},
        {"{'io_coalesce': '2s', " TCFG_MIN "}",
         "cfg.json: $.io_coalesce: must be a duration of at most 1ms like \"100us\" (unit us or "
         "ms), or false, got \"2s\""},
        {"{'io_coalesce': true, " TCFG_MIN "}",
         "cfg.json: $.io_coalesce: must be a duration of at most 1ms like \"100us\" (unit us or "
         "ms), or false, got true"},
        {"{'io_coalesce': '50 us', " TCFG_MIN "}",
         "cfg.json: $.io_coalesce: must be a duration of at most 1ms like \"100us\" (unit us or "
         "ms), or false, got \"50 us\""},
    };
    char json[256];
    struct rw_cfg_errs errs = {0};
    struct rw_cfg *cfg = NULL;

    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        snprintf(json, sizeof(json), "{'io_coalesce': %s, %s}", ok[i].json, TCFG_MIN);
        cfg = tcfg_expect_ok(json);
        assert_int_equal(cfg->io_coalesce_us, ok[i].us);
        rw_cfg_free(cfg);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(tcfg_load(bad[i].json, &cfg, &errs), -EINVAL);
        assert_null(cfg);
        assert_int_equal(errs.n, 1);
        assert_string_equal(errs.msg[0], bad[i].msg);
        rw_cfg_errs_clear(&errs);
    }
}

static void bad_configs(void **state)
{
    for (size_t i = 0; i < sizeof(bad_top) / sizeof(bad_top[0]); i++)
        tcfg_expect_err(bad_top[i].json, bad_top[i].msg);
}

static void syntax_error_has_line_and_column(void **state)
{
    tcfg_expect_err("{\n  'workers': 1,\n  'io_backend' 'auto'\n}",
                    "cfg.json:3:21: JSON syntax error: ':' expected near '\"auto\"'");
    tcfg_expect_err("{'workers': 1,\n", "cfg.json:2:0: JSON syntax error:");
    tcfg_expect_err("", "cfg.json:1:0: JSON syntax error:");
}

static void many_errors_reported_together(void **state)
{
    struct rw_cfg_errs errs = {0};
    struct rw_cfg *cfg = NULL;
    int rc =
        tcfg_load("{'workers': 'x', 'bogus': 1, 'limits': {'headers': 0},"
                  " 'listeners': [{'address': 'nope', 'routes': [{'upstream': 'missing'},"
                  " {}]}], 'upstreams': {'a': {'servers': [{'address': '*:1', 'weight': 0}]}}}",
                  &cfg, &errs);

    assert_int_equal(rc, -EINVAL);
    assert_null(cfg);
    assert_int_equal(errs.n, 7);
    assert_true(tcfg_has(&errs, "$.workers:"));
    assert_true(tcfg_has(&errs, "$.bogus: unknown key"));
    assert_true(tcfg_has(&errs, "$.limits.headers:"));
    assert_true(tcfg_has(&errs, "$.listeners[0].address:"));
    assert_true(tcfg_has(&errs, "$.listeners[0].routes[0].upstream: must name an upstream"));
    assert_true(tcfg_has(&errs, "$.listeners[0].routes[1]: must have exactly one of"));
    assert_true(tcfg_has(&errs, "$.upstreams.a.servers[0].weight:"));
    rw_cfg_errs_clear(&errs);
}

static void errors_are_capped(void **state)
{
    char json[16384];
    size_t o = 0;
    struct rw_cfg_errs errs = {0};
    struct rw_cfg *cfg = NULL;

    o += (size_t)snprintf(json + o, sizeof(json) - o, "{");
    for (int i = 0; i < 150; i++)
        o += (size_t)snprintf(json + o, sizeof(json) - o, "\"bad%d\": 1, ", i);
    snprintf(json + o, sizeof(json) - o, "\"listeners\": 1}");
    assert_int_equal(rw_cfg_load_buf(json, strlen(json), "cfg.json", &cfg, &errs), -EINVAL);
    assert_int_equal(errs.n, 101);
    assert_string_equal(errs.msg[100], "cfg.json: 51 more errors not shown");
    rw_cfg_errs_clear(&errs);
    assert_int_equal(errs.n, 0);
    assert_null(errs.msg);
}

static void unreadable_file(void **state)
{
    struct rw_cfg_errs errs = {0};
    struct rw_cfg *cfg = (struct rw_cfg *)1;

    assert_int_equal(rw_cfg_load_file("/nonexistent/ringwall.json", &cfg, &errs), -ENOENT);
    assert_null(cfg);
    assert_int_equal(errs.n, 1);
    assert_string_equal(errs.msg[0], "/nonexistent/ringwall.json: cannot read: No such file or "
                                     "directory");
    rw_cfg_errs_clear(&errs);
    assert_int_equal(rw_cfg_load_file(SRC "test", &cfg, &errs), -EISDIR);
    assert_int_equal(errs.n, 1);
    rw_cfg_errs_clear(&errs);
}

static const struct rw_cfg_upstream *find_up(const struct rw_cfg *cfg, const char *name)
{
    for (uint32_t i = 0; i < cfg->nupstreams; i++)
        if (strcmp(cfg->upstreams[i].name, name) == 0)
            return &cfg->upstreams[i];
    fail_msg("no upstream %s", name);
    return NULL;
}

/* The issue-4 keys of examples/reference.json reach their fields. */
static void reference_health(const struct rw_cfg_upstream *api, const struct rw_cfg_upstream *ses)
{
    assert_true(api->health.enabled);
    assert_int_equal(api->health.type, RW_CFG_HC_HTTP);
    assert_string_equal(api->health.path, "/healthz");
    assert_string_equal(api->health.host, "api.internal");
    assert_true(rw_cfg_status_has(api->health.expect_status, 301));
    assert_false(rw_cfg_status_has(api->health.expect_status, 302));
    assert_string_equal(api->health.expect_body, "ok");
    assert_int_equal(api->health.port, 9100);
    assert_true(api->passive.enabled);
    assert_true(rw_cfg_status_has(api->passive.error_status, 429));
    assert_int_equal(api->passive.max_eject_ms, 300000);
    assert_int_equal(api->panic_threshold, 50);
    assert_false(api->servers[0].initial_down);
    assert_true(api->servers[2].initial_down);
    assert_int_equal(ses->health.type, RW_CFG_HC_TCP);
    assert_int_equal(ses->health.timeout_ms, 2000);
    assert_int_equal(ses->health.jitter_pct, 0);
    assert_true(ses->passive.enabled);
}

/* The issue-3 keys of examples/reference.json reach their fields. */
static void reference_upstreams(const struct rw_cfg *cfg)
{
    const struct rw_cfg_upstream *api = find_up(cfg, "api");
    const struct rw_cfg_upstream *ses = find_up(cfg, "sessions");
    const struct rw_cfg_upstream *pin = find_up(cfg, "pinned");

    assert_int_equal(api->servers[0].max_conns, 200);
    assert_true(api->servers[2].backup);
    assert_int_equal(api->sticky.mode, RW_STICKY_COOKIE);
    assert_string_equal(api->sticky.key_file, "/etc/ringwall/sticky.key");
    assert_int_equal(api->queue_size, 1024);
    assert_int_equal(api->retries, 2);
    assert_int_equal(api->retry_on, 0x3f);
    assert_string_equal(ses->balance, "hash");
    assert_int_equal(ses->hash.key, RW_HASH_KEY_COOKIE);
    assert_string_equal(ses->hash.key_name, "JSESSIONID");
    assert_true(ses->hash.balance_factor == 1.25);
    assert_int_equal(ses->sticky.mode, RW_STICKY_LEARN);
    assert_string_equal(ses->sticky.cookie, "JSESSIONID");
    assert_string_equal(pin->balance, "ip_hash");
    assert_int_equal(pin->hash.key, RW_HASH_KEY_CLIENT_IP);
    assert_int_equal(pin->hash.method, RW_HASH_RING);
    assert_int_equal(pin->hash.ipv4_mask, 24);
    assert_int_equal(pin->sticky.mode, RW_STICKY_IP);
    assert_int_equal(pin->sticky.table_size, 4096);
    assert_string_equal(find_up(cfg, "web")->balance, "least_conn");
    assert_false(find_up(cfg, "web")->health.enabled);
    reference_health(api, ses);
}

static void examples_load(void **state)
{
    struct rw_cfg *cfg = load_path(SRC "examples/quickstart.json");
    const struct rw_cfg_listener *l = &cfg->listeners[0];

    assert_string_equal(l->name, "web");
    assert_string_equal(l->address, "127.0.0.1:8080");
    assert_int_equal(l->nroutes, 2);
    assert_int_equal(l->routes[0].action, RW_ROUTE_RESPOND);
    assert_string_equal(l->routes[0].respond_body, "ok\n");
    assert_int_equal(l->routes[1].action, RW_ROUTE_PROXY);
    assert_string_equal(l->routes[1].upstream->name, "demo");
    assert_int_equal(l->routes[1].upstream->nservers, 2);
    assert_string_equal(l->routes[1].response_headers.add[0].name, "x-served-by");
    rw_cfg_free(cfg);
    /* Needs balancers/ to know "hash", "ip_hash" and "least_conn". */
    cfg = load_path(SRC "examples/reference.json");
    assert_true(cfg->nlisteners >= 1);
    assert_int_equal(cfg->forwarded_headers, RW_FWD_ALL);
    reference_upstreams(cfg);
    rw_cfg_free(cfg);
}

int test_load_group(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(full_example_loads),
        cmocka_unit_test(defaults_applied),
        cmocka_unit_test(globals_set),
        cmocka_unit_test(bad_configs),
        cmocka_unit_test(forwarding_fields_set),
        cmocka_unit_test(forwarding_fields_errors),
        cmocka_unit_test(io_coalesce_values),
        cmocka_unit_test(syntax_error_has_line_and_column),
        cmocka_unit_test(many_errors_reported_together),
        cmocka_unit_test(errors_are_capped),
        cmocka_unit_test(unreadable_file),
        cmocka_unit_test(examples_load),
    };
    return cmocka_run_group_tests_name("config/load", t, NULL, NULL);
}
