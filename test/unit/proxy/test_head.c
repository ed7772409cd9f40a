/* SPDX-License-Identifier: MIT */
/* Tests for proxy/head.c: heads are re-serialised with hop-by-hop fields removed. */
#include "fixture.h"

#include <arpa/inet.h>
#include <string.h>

static const char cfg_json[] =
    "{ \"listeners\": [ { \"address\": \"127.0.0.1:1\", \"routes\": ["
    "  { \"match\": {\"path_prefix\": \"/v1/\"}, \"upstream\": \"a\", \"strip_prefix\": \"/v1\","
    "    \"request_headers\": {\"set\": {\"x-env\": \"prod\"}, \"add\": {\"x-add\": \"1\"},"
    "                          \"remove\": [\"x-debug\"]},"
    "    \"response_headers\": {\"set\": {\"cache-control\": \"no-store\"}, \"remove\": "
    "[\"x-internal\"]} },"
    "  { \"upstream\": \"a\", \"host\": \"backend.internal\", \"add_prefix\": \"/app\" } ] } ],"
    "  \"upstreams\": { \"a\": { \"servers\": [ { \"address\": \"127.0.0.1:2\" } ] } } }";

/* No forwarding fields and no Via; route 1 removes a client's X-Forwarded-Host. */
static const char cfg_none_json[] =
    "{ \"forwarded_headers\": [], \"via\": false,"
    "  \"listeners\": [ { \"address\": \"127.0.0.1:1\", \"routes\": ["
    "  { \"match\": {\"path_prefix\": \"/v1/\"}, \"upstream\": \"a\" },"
    "  { \"upstream\": \"a\", \"request_headers\": {\"remove\": [\"x-forwarded-host\"]} } ] } ],"
    "  \"upstreams\": { \"a\": { \"servers\": [ { \"address\": \"127.0.0.1:2\" } ] } } }";

/* Two of the four, in any case; Via on. */
static const char cfg_some_json[] =
    "{ \"forwarded_headers\": [\"X-Forwarded-Host\", \"x-forwarded-for\"], \"via\": \"edge-2\","
    "  \"listeners\": [ { \"address\": \"127.0.0.1:1\", \"routes\": [ { \"upstream\": \"a\" } ] } "
    "],"
    "  \"upstreams\": { \"a\": { \"servers\": [ { \"address\": \"127.0.0.1:2\" } ] } } }";

/* A request carrying every forwarding field, twice for X-Forwarded-For. */
static const char fwd_req[] = "GET /v1/x HTTP/1.1\r\nHost: a.example:8080\r\n"
                              "X-Forwarded-For: 10.0.0.1\r\nx-forwarded-for: 10.0.0.2\r\n"
                              "Forwarded: for=10.0.0.1;proto=https\r\nVia: 1.0 edge\r\n"
                              "X-Forwarded-Proto: https\r\nX-FORWARDED-HOST: evil\r\n"
                              "Accept: */*\r\n\r\n";

static int setup(void **state)
{
    *state = fx_new(cfg_json);
    return 0;
}

static int setup_none(void **state)
{
    *state = fx_new(cfg_none_json);
    return 0;
}

static int setup_some(void **state)
{
    *state = fx_new(cfg_some_json);
    return 0;
}

static int teardown(void **state)
{
    fx_free(*state);
    return 0;
}

static void hop_by_hop_removed(void **state)
{
    struct fx *f = *state;
    fx_parse(f, "GET /v1/x HTTP/1.1\r\nHost: a.example\r\nConnection: x-foo, keep-alive\r\n"
                "X-Foo: secret\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nUpgrade: h2c\r\n"
                "Proxy-Connection: keep-alive\r\nTrailer: x\r\nAccept: */*\r\n\r\n");
    const char *h = fx_upstream_head(f, 0);
    assert_non_null(strstr(h, "GET /x HTTP/1.1\r\nHost: a.example\r\n"));
    assert_non_null(strstr(h, "\r\nAccept: */*\r\n"));
    const char *gone[] = {
        "Connection", "X-Foo", "Keep-Alive", "TE:", "Upgrade", "Proxy-Conn", "Trailer"};
    for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
        assert_null(strstr(h, gone[i]));
}

static void forwarding_fields(void **state)
{
    struct fx *f = *state;
    fx_parse(f, "GET /v1/x?q=1 HTTP/1.1\r\nHost: a.example:8080\r\n"
                "X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-For: 10.0.0.2\r\n"
                "Forwarded: for=10.0.0.1\r\nVia: 1.0 edge\r\nX-Forwarded-Proto: https\r\n"
                "X-Forwarded-Host: evil\r\n\r\n");
    const char *h = fx_upstream_head(f, 0);
    assert_non_null(strstr(h, "GET /x?q=1 HTTP/1.1\r\n"));
    assert_non_null(strstr(h, "\r\nX-Forwarded-For: 10.0.0.1, 10.0.0.2, 127.0.0.1\r\n"));
    assert_non_null(strstr(
        h, "\r\nForwarded: for=10.0.0.1, for=127.0.0.1;host=\"a.example:8080\";proto=http\r\n"));
    assert_non_null(strstr(h, "\r\nVia: 1.0 edge, 1.1 ringwall\r\n"));
    assert_non_null(strstr(h, "\r\nX-Forwarded-Proto: http\r\n"));
    assert_non_null(strstr(h, "\r\nX-Forwarded-Host: a.example:8080\r\n"));
    assert_null(strstr(h, "https"));
    assert_null(strstr(h, "evil"));
}

/* The default writes all four fields and Via, in this order, after the client's others. */
static void forwarding_default_exact(void **state)
{
    struct fx *f = *state;
    fx_parse(f, fwd_req);
    const char *h = fx_upstream_head(f, 0);
    assert_string_equal(h, "GET /x HTTP/1.1\r\nHost: a.example:8080\r\nAccept: */*\r\n"
                           "X-Forwarded-For: 10.0.0.1, 10.0.0.2, 127.0.0.1\r\n"
                           "Forwarded: for=10.0.0.1;proto=https, "
                           "for=127.0.0.1;host=\"a.example:8080\";proto=http\r\n"
                           "Via: 1.0 edge, 1.1 ringwall\r\n"
                           "X-Forwarded-Proto: http\r\n"
                           "X-Forwarded-Host: a.example:8080\r\n"
                           "x-env: prod\r\nx-add: 1\r\n\r\n");
}

/* "forwarded_headers": [] and "via": false: ringwall adds none of them, and the client's
 * pass as sent (header edits still apply to them). */
static void forwarding_none_passes_client_fields(void **state)
{
    struct fx *f = *state;
    fx_parse(f, fwd_req);
    const char *h = fx_upstream_head(f, 0);
    assert_string_equal(h, "GET /v1/x HTTP/1.1\r\nHost: a.example:8080\r\n"
                           "X-Forwarded-For: 10.0.0.1\r\nx-forwarded-for: 10.0.0.2\r\n"
                           "Forwarded: for=10.0.0.1;proto=https\r\nVia: 1.0 edge\r\n"
                           "X-Forwarded-Proto: https\r\nX-FORWARDED-HOST: evil\r\n"
                           "Accept: */*\r\n\r\n");
    h = fx_upstream_head(f, 1);
    assert_null(strstr(h, "evil"));
    assert_non_null(strstr(h, "\r\nX-Forwarded-Proto: https\r\n"));
    fx_parse(f, "GET /v1/x HTTP/1.0\r\n\r\n");
    h = fx_upstream_head(f, 0);
    assert_string_equal(h, "GET /v1/x HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n");
}

/* Only the listed fields are ringwall's; the others pass through untouched. */
static void forwarding_subset(void **state)
{
    struct fx *f = *state;
    fx_parse(f, fwd_req);
    const char *h = fx_upstream_head(f, 0);
    assert_string_equal(h, "GET /v1/x HTTP/1.1\r\nHost: a.example:8080\r\n"
                           "Forwarded: for=10.0.0.1;proto=https\r\n"
                           "X-Forwarded-Proto: https\r\nAccept: */*\r\n"
                           "X-Forwarded-For: 10.0.0.1, 10.0.0.2, 127.0.0.1\r\n"
                           "Via: 1.0 edge, 1.1 edge-2\r\n"
                           "X-Forwarded-Host: a.example:8080\r\n\r\n");
}

static void ipv6_client_quoted_in_forwarded(void **state)
{
    struct fx *f = *state;
    f->c.peer.v6 = (struct sockaddr_in6){.sin6_family = AF_INET6, .sin6_addr = in6addr_loopback};
    fx_parse(f, "GET / HTTP/1.0\r\n\r\n");
    const char *h = fx_upstream_head(f, 1);
    assert_non_null(strstr(h, "\r\nForwarded: for=\"[::1]\";proto=http\r\n"));
    assert_non_null(strstr(h, "\r\nVia: 1.0 ringwall\r\n"));
    assert_non_null(strstr(h, "\r\nX-Forwarded-For: ::1\r\n"));
}

/* The client address is formatted when a head needs it: the same text inet_ntop gives,
 * "unknown" without an IP peer. */
static void peer_text(void **state)
{
    struct fx *f = *state;
    static const char *const v4[] = {"0.0.0.0", "255.255.255.255", "10.0.100.9", "1.20.199.7"};
    char buf[PX_PEER_TEXT];
    for (size_t i = 0; i < sizeof(v4) / sizeof(v4[0]); i++) {
        f->c.peer.v4 = (struct sockaddr_in){.sin_family = AF_INET};
        assert_int_equal(inet_pton(AF_INET, v4[i], &f->c.peer.v4.sin_addr), 1);
        assert_int_equal(px_peer_text(&f->c, buf), strlen(v4[i]));
        assert_string_equal(buf, v4[i]);
    }
    for (unsigned v = 0; v < 256; v++) { /* every byte value, against inet_ntop */
        char want[INET_ADDRSTRLEN];
        uint8_t *a = (uint8_t *)&f->c.peer.v4.sin_addr;
        a[0] = (uint8_t)v, a[1] = (uint8_t)(255 - v), a[2] = (uint8_t)(v / 2), a[3] = (uint8_t)v;
        assert_non_null(inet_ntop(AF_INET, &f->c.peer.v4.sin_addr, want, sizeof(want)));
        assert_int_equal(px_peer_text(&f->c, buf), strlen(want));
        assert_string_equal(buf, want);
    }
    static const char longest[] = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255";
    f->c.peer.v6 = (struct sockaddr_in6){.sin6_family = AF_INET6};
    assert_int_equal(inet_pton(AF_INET6, longest, &f->c.peer.v6.sin6_addr), 1);
    assert_int_equal(px_peer_text(&f->c, buf), 39); /* inet_ntop: all eight groups in hex */
    assert_string_equal(buf, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    assert_int_equal(inet_pton(AF_INET6, "2001:db8::1", &f->c.peer.v6.sin6_addr), 1);
    assert_int_equal(px_peer_text(&f->c, buf), 11);
    assert_string_equal(buf, "2001:db8::1");
    f->c.peer.sa.sa_family = AF_UNSPEC;
    assert_int_equal(px_peer_text(&f->c, buf), 7);
    assert_string_equal(buf, "unknown");
    fx_parse(f, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    const char *h = fx_upstream_head(f, 1);
    assert_non_null(strstr(h, "\r\nX-Forwarded-For: unknown\r\n"));
    assert_non_null(strstr(h, "\r\nForwarded: for=unknown;host=\"a\";proto=http\r\n"));
}

static void edits_and_rewrites(void **state)
{
    struct fx *f = *state;
    fx_parse(f, "POST /v1/items HTTP/1.1\r\nHost: a\r\nX-Env: dev\r\nX-Debug: 1\r\n"
                "Content-Length: 5\r\n\r\n");
    const char *h = fx_upstream_head(f, 0);
    assert_non_null(strstr(h, "POST /items HTTP/1.1\r\n"));
    assert_non_null(strstr(h, "\r\nx-env: prod\r\n"));
    assert_null(strstr(h, "X-Env: dev"));
    assert_null(strstr(h, "X-Debug"));
    assert_non_null(strstr(h, "\r\nx-add: 1\r\n"));
    assert_non_null(strstr(h, "\r\nContent-Length: 5\r\n\r\n"));
    fx_parse(f, "GET /page HTTP/1.1\r\nHost: public.example\r\n\r\n");
    h = fx_upstream_head(f, 1);
    assert_non_null(strstr(h, "GET /app/page HTTP/1.1\r\nHost: backend.internal\r\n"));
    assert_non_null(strstr(h, "\r\nX-Forwarded-Host: public.example\r\n"));
}

static void framing_is_ours(void **state)
{
    struct fx *f = *state;
    fx_parse(f, "POST /v1/u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                "Expect: 100-continue\r\n\r\n");
    const char *h = fx_upstream_head(f, 0);
    assert_non_null(strstr(h, "\r\nTransfer-Encoding: chunked\r\n\r\n"));
    assert_null(strstr(h, "Expect"));
    assert_null(strstr(h, "Content-Length"));
}

static void response_head(void **state)
{
    struct fx *f = *state;
    static const char raw[] = "HTTP/1.1 200 Fine\r\nServer: secret/1.2\r\nX-Powered-By: PHP/8\r\n"
                              "Connection: x-hop\r\nX-Hop: 1\r\nVia: 1.1 cdn\r\n"
                              "X-Internal: yes\r\nCache-Control: public\r\n"
                              "Transfer-Encoding: chunked\r\nX-Keep: 1\r\n\r\n";
    struct rw_h1_resp resp;
    int status = 0;
    assert_int_equal(
        rw_h1_parse_response(raw, sizeof(raw) - 1, &f->w.lim, RW_M_GET, &resp, f->hdrs, &status),
        RW_PARSE_DONE);
    f->c.x->route = &f->cfg->listeners[0].routes[0];
    f->c.req_minor = 0; /* an HTTP/1.0 client: de-chunked, close-delimited */
    f->c.keep_alive = false;
    px_body_init(&f->c.x->resp_body, PX_F_CHUNKED, PX_F_CLOSE, 0, 0, false);
    int n = px_head_response(&f->c, &resp, f->out, sizeof(f->out) - 1);
    assert_true(n > 0);
    f->out[n] = '\0';
    const char *h = f->out;
    assert_non_null(strstr(h, "HTTP/1.1 200 Fine\r\nServer: ringwall\r\n"));
    assert_null(strstr(h, "secret"));
    assert_null(strstr(h, "PHP"));
    assert_null(strstr(h, "X-Hop"));
    assert_null(strstr(h, "X-Internal"));
    assert_null(strstr(h, "Transfer-Encoding"));
    assert_null(strstr(h, "public"));
    assert_non_null(strstr(h, "\r\ncache-control: no-store\r\n"));
    assert_non_null(strstr(h, "\r\nVia: 1.1 cdn, 1.1 ringwall\r\n"));
    assert_non_null(strstr(h, "\r\nX-Keep: 1\r\n"));
    assert_non_null(strstr(h, "\r\nConnection: close\r\n\r\n"));
    px_body_free(&f->c.x->resp_body);
}

/* "via": false: a backend's Via reaches the client unchanged, and none is added. */
static void response_via_off(void **state)
{
    struct fx *f = *state;
    static const char raw[] = "HTTP/1.1 200 OK\r\nVia: 1.1 cdn\r\nvia: 1.0 cache\r\n"
                              "Content-Length: 0\r\n\r\n";
    static const char raw_none[] = "HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n";
    struct rw_h1_resp resp;
    int status = 0;
    f->c.x->route = &f->cfg->listeners[0].routes[0];
    assert_int_equal(
        rw_h1_parse_response(raw, sizeof(raw) - 1, &f->w.lim, RW_M_GET, &resp, f->hdrs, &status),
        RW_PARSE_DONE);
    px_body_init(&f->c.x->resp_body, PX_F_LENGTH, PX_F_LENGTH, 0, 0, false);
    int n = px_head_response(&f->c, &resp, f->out, sizeof(f->out) - 1);
    assert_true(n > 0);
    f->out[n] = '\0';
    assert_string_equal(f->out, "HTTP/1.1 200 OK\r\nServer: ringwall\r\nVia: 1.1 cdn\r\n"
                                "via: 1.0 cache\r\nContent-Length: 0\r\n\r\n");
    px_body_free(&f->c.x->resp_body);
    assert_int_equal(rw_h1_parse_response(raw_none, sizeof(raw_none) - 1, &f->w.lim, RW_M_GET,
                                          &resp, f->hdrs, &status),
                     RW_PARSE_DONE);
    px_body_init(&f->c.x->resp_body, PX_F_NONE, PX_F_NONE, 0, 0, false);
    n = px_head_response(&f->c, &resp, f->out, sizeof(f->out) - 1);
    assert_true(n > 0);
    f->out[n] = '\0';
    assert_null(strcasestr(f->out, "via"));
    px_body_free(&f->c.x->resp_body);
}

int test_head_run(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test_setup_teardown(hop_by_hop_removed, setup, teardown),
        cmocka_unit_test_setup_teardown(forwarding_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(forwarding_default_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(forwarding_none_passes_client_fields, setup_none, teardown),
        cmocka_unit_test_setup_teardown(forwarding_subset, setup_some, teardown),
        cmocka_unit_test_setup_teardown(ipv6_client_quoted_in_forwarded, setup, teardown),
        cmocka_unit_test_setup_teardown(peer_text, setup, teardown),
        cmocka_unit_test_setup_teardown(edits_and_rewrites, setup, teardown),
        cmocka_unit_test_setup_teardown(framing_is_ours, setup, teardown),
        cmocka_unit_test_setup_teardown(response_head, setup, teardown),
        cmocka_unit_test_setup_teardown(response_via_off, setup_none, teardown),
    };
    return cmocka_run_group_tests_name("proxy/head", t, NULL, NULL);
}
