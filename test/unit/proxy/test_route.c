/* SPDX-License-Identifier: MIT */
/* Tests for proxy/route.c: matching order, client certificates, and redirect targets. */
#include "fixture.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char cfg_json[] =
    "{ \"listeners\": [ { \"address\": \"127.0.0.1:1\", \"routes\": ["
    "  { \"match\": {\"host\": [\"api.example.com\"], \"methods\": [\"GET\"]}, \"upstream\": \"a\" "
    "},"
    "  { \"match\": {\"host\": \"*.example.com\"}, \"respond\": {\"status\": 201} },"
    "  { \"match\": {\"path\": \"/exact\"}, \"respond\": {\"status\": 202} },"
    "  { \"match\": {\"path_regex\": \"^/old/(.*)$\"}, \"redirect\": {\"status\": 301, \"host\": "
    "\"www.example.com\"} },"
    "  { \"match\": {\"headers\": {\"x-canary\": [\"1\", \"yes\"], \"x-any\": \"*\"}}, "
    "\"respond\": {\"status\": 203} },"
    "  { \"match\": {\"path_prefix\": \"/secure/\"}, \"redirect\": {\"scheme\": \"https\"} },"
    "  { \"match\": {\"path_prefix\": \"/moved\"}, \"redirect\": {\"path\": \"/new\", "
    "\"strip_query\": true, \"port\": 8443} }"
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
    const struct rw_cfg_route *r = px_route_match(&f->w, f->c.x->lis, &f->req, NULL);
    return r ? (int)(r - f->c.x->lis->routes) : -1;
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

static void select_without_route_is_404(void **state)
{
    struct fx *f = *state;
    int deny = -1;
    fx_parse(f, "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_null(px_route_select(&f->c, &f->req, &deny));
    assert_int_equal(deny, 404);
    fx_parse(f, "GET /exact HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_ptr_equal(px_route_select(&f->c, &f->req, &deny), &f->c.x->lis->routes[2]);
    assert_int_equal(deny, 0);
}

#define TD(f) RW_SOURCE_DIR "/test/unit/tls/data/" f
#define FP_A                                                                                       \
    "93:bd:bf:a7:fb:a1:bb:36:13:30:fa:f9:0d:15:45:2c:c0:a6:7d:9c:37:ab:6f:c2:a6:bc:3f:6c:bc:15:"   \
    "5a:ac"
static const uint8_t fp_a[32] = {0x93, 0xbd, 0xbf, 0xa7, 0xfb, 0xa1, 0xbb, 0x36, 0x13, 0x30, 0xfa,
                                 0xf9, 0x0d, 0x15, 0x45, 0x2c, 0xc0, 0xa6, 0x7d, 0x9c, 0x37, 0xab,
                                 0x6f, 0xc2, 0xa6, 0xbc, 0x3f, 0x6c, 0xbc, 0x15, 0x5a, 0xac};
static const uint8_t fp_b[32] = {1, 2, 3};

static const char cert_json[] =
    "{ \"listeners\": [ { \"address\": \"127.0.0.1:1\", \"tls\": {"
    "  \"certificates\": [ { \"cert\": \"" TD("ec.pem") "\", \"key\": \"" TD(
        "ec.key") "\" } ],"
                  "  \"client_auth\": { \"ca\": \"" TD(
                      "clientca.crt") "\", \"mode\": \"optional\" } },"
                                      "  \"routes\": ["
                                      "  { \"match\": {\"path_prefix\": \"/a/\", \"client_cert\": "
                                      "{\"subject\": [\"CN=x\","
                                      "     \"CN=alice,O=Ringwall\\\\, Test,C=US\"]}}, "
                                      "\"respond\": {\"status\": 200} },"
                                      "  { \"match\": {\"client_cert\": {\"san\": "
                                      "\"DNS:Bob.Client\"}}, \"respond\": {\"status\": 201} },"
                                      "  { \"match\": {\"client_cert\": {\"san\": "
                                      "[\"IP:10.0.0.1\", \"IP:2001:db8::1\"]}},"
                                      "    \"respond\": {\"status\": 202} },"
                                      "  { \"match\": {\"client_cert\": {\"sha256\": \"" FP_A
                                      "\", \"san\": \"email:a@x\"}},"
                                      "    \"respond\": {\"status\": 203} },"
                                      "  { \"match\": {\"path\": \"/any\", \"client_cert\": {}}, "
                                      "\"respond\": {\"status\": 204} },"
                                      "  { \"match\": {\"path\": \"/required\"}, \"client_cert\": "
                                      "\"required\", \"respond\": {} },"
                                      "  { \"respond\": {\"status\": 206} }"
                                      " ] } ] }";

static const struct px_peer alice = {"CN=alice,O=Ringwall\\, Test,C=US",
                                     "DNS:alice.client, email:a@x", fp_a};
static const struct px_peer bob = {"CN=bob", "email:DNS:bob.client, DNS:BOB.client", fp_b};
static const struct px_peer ip6 = {"CN=ip", "URI:x, IP:2001:db8:0:0:0:0:0:1", fp_b};
static const struct px_peer ip4 = {"CN=ip", "IP:10.0.0.10, IP:10.0.0.1", fp_b};
/* a's fingerprint without its SAN, and the same SAN in an entry of another type */
static const struct px_peer fp_only = {"CN=alice,O=Ringwall\\, Test,C=US", "DNS:a@x", fp_a};

static int cert_match(struct fx *f, const char *target, const struct px_peer *peer)
{
    char raw[256];
    snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", target);
    fx_parse(f, raw);
    const struct rw_cfg_route *r = px_route_match(&f->w, f->c.x->lis, &f->req, peer);
    return r ? (int)(r - f->c.x->lis->routes) : -1;
}

static void client_cert_matchers(void **state)
{
    struct fx *f = fx_new(cert_json);
    (void)state;
    assert_int_equal(cert_match(f, "/a/1", &alice), 0); /* subject, second in the list */
    assert_int_equal(cert_match(f, "/b", &alice), 3);   /* fingerprint and SAN together */
    assert_int_equal(cert_match(f, "/b", &fp_only), 6); /* fingerprint without the SAN */
    assert_int_equal(cert_match(f, "/a/1", &bob), 1);   /* DNS in any case, not in "email:" */
    assert_int_equal(cert_match(f, "/a/1", &ip6), 2);   /* IPv6 by value */
    assert_int_equal(cert_match(f, "/", &ip4), 2);
    assert_int_equal(cert_match(f, "/any", &ip4), 2);
    assert_int_equal(cert_match(f, "/any", &fp_only), 4); /* any verified certificate */
    /* without a verified certificate no client_cert matcher holds, not even {} */
    assert_int_equal(cert_match(f, "/a/1", NULL), 6);
    assert_int_equal(cert_match(f, "/any", NULL), 6);
    struct px_peer none = {0};
    assert_int_equal(cert_match(f, "/any", &none), 6);
    fx_free(f);
}

static void client_cert_required_is_403(void **state)
{
    struct fx *f = fx_new(cert_json);
    int deny = -1;
    (void)state;
    fx_parse(f, "GET /required HTTP/1.1\r\nHost: x\r\n\r\n"); /* a connection without TLS state */
    assert_ptr_equal(px_route_select(&f->c, &f->req, &deny), &f->c.x->lis->routes[5]);
    assert_int_equal(deny, 403);
    fx_parse(f, "GET /other HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_ptr_equal(px_route_select(&f->c, &f->req, &deny), &f->c.x->lis->routes[6]);
    assert_int_equal(deny, 0);
    fx_free(f);
}

static const char *location(struct fx *f, const char *raw, char *out, size_t cap)
{
    int i = match(f, raw);
    assert_true(i >= 0);
    assert_true(px_build_location(&f->c.x->lis->routes[i], &f->req, out, cap) > 0);
    return out;
}

static void redirect_targets(void **state)
{
    struct fx *f = *state;
    char loc[512];
    assert_string_equal(
        location(f, "GET /old/a?b=1 HTTP/1.1\r\nHost: x:8080\r\n\r\n", loc, sizeof(loc)),
        "http://www.example.com/old/a?b=1");
    assert_string_equal(
        location(f, "GET /secure/p?q HTTP/1.1\r\nHost: Site.test:8080\r\n\r\n", loc, sizeof(loc)),
        "https://Site.test/secure/p?q");
    assert_string_equal(
        location(f, "GET /moved?q=1 HTTP/1.1\r\nHost: s.test\r\n\r\n", loc, sizeof(loc)),
        "http://s.test:8443/new");
    assert_int_equal(px_build_location(&f->c.x->lis->routes[6], &f->req, loc, 10), -ENOSPC);
}

int test_route_run(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test_setup_teardown(first_match_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(header_matchers, setup, teardown),
        cmocka_unit_test_setup_teardown(redirect_targets, setup, teardown),
        cmocka_unit_test_setup_teardown(select_without_route_is_404, setup, teardown),
        cmocka_unit_test(client_cert_matchers),
        cmocka_unit_test(client_cert_required_is_403),
    };
    return cmocka_run_group_tests_name("proxy/route", t, NULL, NULL);
}
