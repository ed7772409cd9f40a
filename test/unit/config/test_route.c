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
#define TD(f) RW_SOURCE_DIR "/test/unit/tls/data/" f
/* The same on a TLS listener whose client_auth.mode is MODE. */
#define CERTS "'certificates': [{'cert': '" TD("ec.pem") "', 'key': '" TD("ec.key") "'}]"
#define CLIENT_AUTH(MODE) "'client_auth': {'ca': '" TD("clientca.crt") "', 'mode': '" MODE "'}"
#define CTLS(MODE) "'tls': {" CERTS ", " CLIENT_AUTH(MODE) "}"
#define CROUTE(MODE, R)                                                                            \
    "{" UP ", 'listeners': [{'address': '*:443', " CTLS(MODE) ", 'routes': [{" R "}]}]}"
#define FP_HEX "93bdbfa7fba1bb361330faf90d15452cc0a67d9c37ab6fc2a6bc3f6cbc155aac"
#define FP_COLONS                                                                                  \
    "93:BD:BF:A7:FB:A1:BB:36:13:30:FA:F9:0D:15:45:2C:C0:A6:7D:9C:37:AB:6F:C2:A6:BC:3F:6C:BC:15:"   \
    "5A:AC"

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

static void route_client_cert_keys(void **state)
{
    static const uint8_t fp[32] = {0x93, 0xbd, 0xbf, 0xa7, 0xfb, 0xa1, 0xbb, 0x36, 0x13, 0x30, 0xfa,
                                   0xf9, 0x0d, 0x15, 0x45, 0x2c, 0xc0, 0xa6, 0x7d, 0x9c, 0x37, 0xab,
                                   0x6f, 0xc2, 0xa6, 0xbc, 0x3f, 0x6c, 0xbc, 0x15, 0x5a, 0xac};
    struct rw_cfg *cfg = tcfg_expect_ok(CROUTE(
        "optional", "'match': {'path_prefix': '/admin/', 'client_cert': {"
                    "  'subject': 'CN=alice,O=Ringwall\\\\, Test,C=US',"
                    "  'san': ['dns:Alice.Client', 'EMAIL:Alice@example.com', 'IP:::1', "
                    "'URI:spiffe://a/B'],"
                    "  'sha256': ['" FP_COLONS "', '" FP_HEX "']}},"
                    " 'client_cert': 'required', 'upstream': 'api'}, "
                    "{'match': {'client_cert': {}}, 'client_cert': 'optional', 'respond': {}}, "
                    "{'client_cert': 'required', 'redirect': {'path': '/'}"));
    const struct rw_cfg_route *r = cfg->listeners[0].routes;
    const struct rw_cfg_cert_match *m = &r[0].match.cert;

    assert_true(r[0].client_cert_required);
    assert_true(m->present);
    assert_int_equal(m->nsubjects, 1);
    assert_string_equal(m->subjects[0], "CN=alice,O=Ringwall\\, Test,C=US");
    assert_int_equal(m->nsans, 4);
    assert_string_equal(m->sans[0], "DNS:alice.client"); /* DNS names compare in any case */
    assert_string_equal(m->sans[1], "email:Alice@example.com");
    assert_string_equal(m->sans[2], "IP:::1");
    assert_string_equal(m->sans[3], "URI:spiffe://a/B");
    assert_int_equal(m->nsha256, 2);
    assert_memory_equal(m->sha256[0], fp, 32);
    assert_memory_equal(m->sha256[1], fp, 32);
    assert_false(r[1].client_cert_required);
    assert_true(r[1].match.cert.present); /* {}: any verified certificate */
    assert_int_equal(r[1].match.cert.nsubjects + r[1].match.cert.nsans + r[1].match.cert.nsha256,
                     0);
    assert_true(r[2].client_cert_required);
    assert_false(r[2].match.cert.present);
    rw_cfg_free(cfg);
    /* "require" listeners accept the keys too (every client has a verified certificate) */
    rw_cfg_free(tcfg_expect_ok(CROUTE("require", "'client_cert': 'required', 'respond': {}")));
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
    /* client certificates */
    {ROUTE("'client_cert': 'required', 'upstream': 'api'"),
     AT ".client_cert: needs a listener that asks for client certificates "
        "(tls.client_auth.mode \"optional\" or \"require\")"},
    {ROUTE("'match': {'client_cert': {'san': 'DNS:a'}}, 'upstream': 'api'"),
     AT ".match.client_cert: needs a listener that asks for client certificates"},
    {CROUTE("off", "'client_cert': 'optional', 'respond': {}"),
     AT ".client_cert: needs a listener that asks for client certificates"},
    {CROUTE("off", "'match': {'client_cert': {}}, 'respond': {}"),
     AT ".match.client_cert: needs a listener that asks for client certificates"},
    {CROUTE("optional", "'client_cert': 'require', 'upstream': 'api'"),
     AT ".client_cert: must be one of \"required\", \"optional\", got \"require\""},
    {CROUTE("optional", "'client_cert': true, 'upstream': 'api'"),
     AT ".client_cert: must be one of \"required\", \"optional\", got true"},
    {CROUTE("optional", "'match': {'client_cert': 'CN=a'}, 'upstream': 'api'"),
     AT ".match.client_cert: must be an object, got \"CN=a\""},
    {CROUTE("optional", "'match': {'client_cert': {'sans': 'DNS:a'}}, 'upstream': 'api'"),
     AT ".match.client_cert.sans: unknown key; did you mean san?"},
    {CROUTE("optional", "'match': {'client_cert': {'subject': ''}}, 'upstream': 'api'"),
     AT ".match.client_cert.subject: must not be empty"},
    {CROUTE("optional", "'match': {'client_cert': {'subject': []}}, 'upstream': 'api'"),
     AT ".match.client_cert.subject: must be a string or a non-empty list of strings, got []"},
    {CROUTE("optional", "'match': {'client_cert': {'subject': 'CN=a\\u0001'}}, 'upstream': 'api'"),
     AT ".match.client_cert.subject: must not contain control characters"},
    {CROUTE("optional", "'match': {'client_cert': {'san': 'alice.client'}}, 'upstream': 'api'"),
     AT ".match.client_cert.san: must be \"DNS:<name>\", \"email:<address>\", \"URI:<uri>\" or "
        "\"IP:<address>\", got \"alice.client\""},
    {CROUTE("optional", "'match': {'client_cert': {'san': ['DNS:a', 'otherName:x']}}, 'upstream': "
                        "'api'"),
     AT ".match.client_cert.san[1]: must be \"DNS:<name>\""},
    {CROUTE("optional", "'match': {'client_cert': {'san': 'DNS:'}}, 'upstream': 'api'"),
     AT ".match.client_cert.san: must have a value after the type"},
    {CROUTE("optional", "'match': {'client_cert': {'san': 'email:a,b@x'}}, 'upstream': 'api'"),
     AT ".match.client_cert.san: must not contain ',' or control characters"},
    {CROUTE("optional", "'match': {'client_cert': {'san': 'IP:10.0.0'}}, 'upstream': 'api'"),
     AT ".match.client_cert.san: must be an IPv4 or IPv6 address after \"IP:\""},
    {CROUTE("optional", "'match': {'client_cert': {'sha256': 'abc'}}, 'upstream': 'api'"),
     AT ".match.client_cert.sha256: must be a SHA-256 fingerprint: 64 hex digits, optionally in "
        "pairs separated by ':', got \"abc\""},
    {CROUTE("optional", "'match': {'client_cert': {'sha256': ['" FP_HEX "', '" FP_HEX
                        "0']}}, 'upstream': 'api'"),
     AT ".match.client_cert.sha256[1]: must be a SHA-256 fingerprint"},
    {CROUTE("optional", "'match': {'client_cert': {'sha256': 'g3bdbfa7fba1bb361330faf90d15452cc0a"
                        "67d9c37ab6fc2a6bc3f6cbc155aac'}}, 'upstream': 'api'"),
     AT ".match.client_cert.sha256: must be a SHA-256 fingerprint"},
    {CROUTE("optional", "'match': {'client_cert': {'sha256': '93:BD:BF:A7:FB:A1:BB:36:13:30:FA:F9:"
                        "0D:15:45:2C:C0:A6:7D:9C:37:AB:6F:C2:A6:BC:3F:6C:BC:155A:AC'}}, "
                        "'upstream': 'api'"),
     AT ".match.client_cert.sha256: must be a SHA-256 fingerprint"},
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
        cmocka_unit_test(route_every_proxy_key),     cmocka_unit_test(route_respond_and_redirect),
        cmocka_unit_test(route_client_cert_keys),    cmocka_unit_test(route_bad_configs),
        cmocka_unit_test(route_long_regex_rejected),
    };
    return cmocka_run_group_tests_name("config/route", t, NULL, NULL);
}
