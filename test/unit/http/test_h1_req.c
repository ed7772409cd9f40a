/* SPDX-License-Identifier: MIT */
/* Tests for http/h1_req.c: request line, target forms, Host, framing, Expect, limits. */
#include "test/unit/http/test_http.h"

#include <stdio.h>
#include <string.h>

#include "http/h1.h"

#define AGAIN (-1)

static struct rw_hdr hdrs[RW_H1_MAX_HEADERS];

/* DONE -> 0, AGAIN -> -1, BAD -> its status. */
static int parse(const char *in, size_t len, const struct rw_h1_limits *lim, struct rw_h1_req *req)
{
    int status = -7;
    enum rw_parse r = rw_h1_parse_request(in, len, lim, req, hdrs, &status);
    if (r == RW_PARSE_DONE)
        return 0;
    if (r == RW_PARSE_AGAIN)
        return AGAIN;
    assert_true(status >= 400 && status <= 505);
    return status;
}

static int parse_s(const char *in, struct rw_h1_req *req)
{
    return parse(in, strlen(in), NULL, req);
}

struct rcase {
    const char *name;
    const char *in;
    size_t len; /* 0: strlen(in) */
    int want;   /* 0: DONE, else the status */
};

static const struct rcase cases[] = {
    {"simple", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 0},
    {"http/1.0 no host", "GET / HTTP/1.0\r\n\r\n", 0, 0},
    {"lowercase method is a token", "get / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 0},
    {"double SP after method", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400},
    {"double SP after target", "GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400},
    {"HTAB separator", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400},
    {"leading SP", " GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400},
    {"leading CRLF", "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400},
    {"trailing junk after version", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 0, 400},
    {"HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 0, 505},
    {"HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 0, 505},
    {"HTTP/0.9 style", "GET /\r\n\r\n", 0, 400},
    {"HTTP/1.10", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", 0, 400},
    {"HTTP/1", "GET / HTTP/1\r\nHost: a\r\n\r\n", 0, 400},
    {"lowercase http", "GET / http/1.1\r\nHost: a\r\n\r\n", 0, 400},
    {"method with @", "G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400},
    {"empty method", " / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400},
    {"CTL in target", "GET /a\x01z HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400},
    {"DEL in target", "GET /a\x7fz HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400},
    {"8-bit in target", "GET /a\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400},
    {"fragment in target", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400},
    {"relative target", "GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400},
    {"bare LF after request line", "GET / HTTP/1.1\nHost: a\r\n\r\n", 0, 400},
    {"bare CR after request line", "GET / HTTP/1.1\rHost: a\r\n\r\n", 0, 400},
    {"bare LF in field", "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", 0, 400},
    {"bare LF terminator", "GET / HTTP/1.1\r\nHost: a\r\n\n", 0, 400},
    {"bare CR in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 0, 400},
    {"CR CR LF terminator", "GET / HTTP/1.1\r\nHost: a\r\n\r\r\n", 0, 400},
    {"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 0, 400},
    {"obs-fold HTAB", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", 0, 400},
    {"SP before first field", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 0, 400},
    {"SP before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 0, 400},
    {"TE with SP before colon", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n",
     0, 400},
    {"SP in name", "GET / HTTP/1.1\r\nHost: a\r\nX Y: a\r\n\r\n", 0, 400},
    {"@ in name", "GET / HTTP/1.1\r\nHost: a\r\nX@Y: a\r\n\r\n", 0, 400},
    {"empty name", "GET / HTTP/1.1\r\nHost: a\r\n: a\r\n\r\n", 0, 400},
    {"no colon", "GET / HTTP/1.1\r\nHost: a\r\nXa\r\n\r\n", 0, 400},
    {"NUL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 35, 400},
    {"CTL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01z\r\n\r\n", 0, 400},
    {"VT in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x0bz\r\n\r\n", 0, 400},
    {"DEL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fz\r\n\r\n", 0, 400},
    {"obs-text and HTAB in value", "GET / HTTP/1.1\r\nHost: a\r\nX: caf\xe9\tok\r\n\r\n", 0, 0},
    /* Transfer-Encoding */
    {"TE chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 0, 0},
    {"TE no OWS", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:chunked\r\n\r\n", 0, 0},
    {"TE trailing OWS", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked \t\r\n\r\n", 0,
     0},
    {"TE leading OWS", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:   chunked\r\n\r\n", 0, 0},
    {"TE Chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n", 0, 0},
    {"TE CHUNKED", "POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding: CHUNKED\r\n\r\n", 0, 0},
    {"TE chunked VT", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\x0b\r\n\r\n", 0,
     400},
    {"TE chunked;q=1", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", 0,
     400},
    {"TE identity, chunked",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity, chunked\r\n\r\n", 0, 400},
    {"TE gzip, chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
     0, 400},
    {"TE chunked, chunked",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 0, 400},
    {"TE x-chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: x-chunked\r\n\r\n", 0, 400},
    {"TE xchunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", 0, 400},
    {"TE quoted", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n", 0, 400},
    {"TE gzip", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 0, 400},
    {"TE empty", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n", 0, 400},
    {"two TE fields",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
     "chunked\r\n\r\n",
     0, 400},
    {"TE on HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 0, 400},
    {"CL.TE",
     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n", 0,
     400},
    {"TE.CL",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n", 0,
     400},
    {"Transfer_Encoding is not TE",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\n\r\n", 0, 0},
    /* Content-Length */
    {"CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", 0, 0},
    {"CL duplicate equal",
     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 0, 400},
    {"CL duplicate differ",
     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\ncontent-length: 6\r\n\r\n", 0, 400},
    {"CL list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", 0, 400},
    {"CL plus", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", 0, 400},
    {"CL minus", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\n", 0, 400},
    {"CL inner space", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 0\r\n\r\n", 0, 400},
    {"CL empty", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", 0, 400},
    {"CL hex", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n", 0, 400},
    {"CL 20 digits", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 00000000000000000001\r\n\r\n",
     0, 400},
    {"CL 2^63", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n", 0,
     400},
    {"CL 2^63-1", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n", 0,
     0},
    /* Host */
    {"missing Host", "GET / HTTP/1.1\r\nX: a\r\n\r\n", 0, 400},
    {"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 0, 400},
    {"two Hosts on 1.0", "GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", 0, 400},
    {"empty Host", "GET / HTTP/1.1\r\nHost: \r\n\r\n", 0, 400},
    {"Host with space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 0, 400},
    {"Host with userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 0, 400},
    {"Host with path", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 0, 400},
    {"Host bad port", "GET / HTTP/1.1\r\nHost: a:99999\r\n\r\n", 0, 400},
    {"Host empty port", "GET / HTTP/1.1\r\nHost: a:\r\n\r\n", 0, 400},
    {"Host IPv6", "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", 0, 0},
    {"Host bad IPv6", "GET / HTTP/1.1\r\nHost: [::g]\r\n\r\n", 0, 400},
    /* target forms */
    {"absolute-form", "GET http://ex.com/p?q HTTP/1.1\r\nHost: other\r\n\r\n", 0, 0},
    {"absolute-form https no path", "GET HTTPS://ex.com:8443 HTTP/1.1\r\nHost: ex.com\r\n\r\n", 0,
     0},
    {"absolute-form userinfo", "GET http://u@ex.com/ HTTP/1.1\r\nHost: ex.com\r\n\r\n", 0, 400},
    {"absolute-form empty authority", "GET http:///p HTTP/1.1\r\nHost: ex.com\r\n\r\n", 0, 400},
    {"absolute-form bare scheme", "GET http:// HTTP/1.1\r\nHost: ex.com\r\n\r\n", 0, 400},
    {"absolute-form other scheme", "GET ftp://ex.com/ HTTP/1.1\r\nHost: ex.com\r\n\r\n", 0, 400},
    {"absolute-form still needs Host", "GET http://ex.com/ HTTP/1.1\r\n\r\n", 0, 400},
    {"asterisk OPTIONS", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 0, 0},
    {"asterisk GET", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400},
    {"asterisk plus", "OPTIONS *x HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400},
    {"authority CONNECT", "CONNECT ex.com:443 HTTP/1.1\r\nHost: ex.com:443\r\n\r\n", 0, 0},
    {"authority CONNECT no port", "CONNECT ex.com HTTP/1.1\r\nHost: ex.com\r\n\r\n", 0, 400},
    {"authority GET", "GET ex.com:443 HTTP/1.1\r\nHost: ex.com\r\n\r\n", 0, 400},
    /* Expect */
    {"Expect 100-continue", "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n\r\n", 0, 0},
    {"Expect other", "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", 0, 417},
    {"Expect second bad", "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nExpect: x\r\n\r\n",
     0, 417},
    {"Expect on 1.0 ignored", "PUT / HTTP/1.0\r\nExpect: whatever\r\n\r\n", 0, 0},
    /* Connection syntax */
    {"Connection not a token list", "GET / HTTP/1.1\r\nHost: a\r\nConnection: a b\r\n\r\n", 0, 400},
    {"Connection bad byte", "GET / HTTP/1.1\r\nHost: a\r\nConnection: a@\r\n\r\n", 0, 400},
    {"Connection empty elements", "GET / HTTP/1.1\r\nHost: a\r\nConnection: , close ,\r\n\r\n", 0,
     0},
};

static void request_table(void **state)
{
    struct rw_h1_req req;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct rcase *c = &cases[i];
        size_t len = c->len ? c->len : strlen(c->in);
        int got = parse(c->in, len, NULL, &req);
        if (got != c->want)
            fail_msg("case '%s': got %d, want %d", c->name, got, c->want);
        if (got == 0 && req.h.head_len != len)
            fail_msg("case '%s': head_len %zu of %zu", c->name, req.h.head_len, len);
        /* Every strict prefix: AGAIN for a valid head, AGAIN or BAD for a bad one. */
        for (size_t k = 0; k < len; k++) {
            int p = parse(c->in, k, NULL, &req);
            if (p == 0 || (c->want == 0 && p != AGAIN))
                fail_msg("case '%s': prefix %zu gave %d", c->name, k, p);
        }
    }
}

static void origin_form_fields(void **state)
{
    struct rw_h1_req req;
    const char *in = "POST /a/b?x=1&y HTTP/1.1\r\nHost: ex.com:81\r\nContent-Length: 3\r\n"
                     "X-Pad:   v  \t\r\n\r\nabc";
    assert_int_equal(parse_s(in, &req), 0);
    assert_int_equal(req.method, RW_M_POST);
    assert_memory_equal(req.method_str, "POST", 4);
    assert_int_equal(req.method_len, 4);
    assert_int_equal(req.target_len, 10);
    assert_memory_equal(req.path, "/a/b", 4);
    assert_int_equal(req.path_len, 4);
    assert_memory_equal(req.query, "x=1&y", 5);
    assert_int_equal(req.query_len, 5);
    assert_memory_equal(req.host, "ex.com:81", 9);
    assert_int_equal(req.host_len, 9);
    assert_false(req.absolute_form);
    assert_int_equal(req.h.minor, 1);
    assert_int_equal(req.h.body, RW_BODY_LENGTH);
    assert_int_equal(req.h.content_length, 3);
    assert_int_equal(req.h.head_len, strlen(in) - 3);
    assert_int_equal(req.h.nhdrs, 3);
    assert_int_equal(req.h.hdrs[2].value_len, 1);
    assert_memory_equal(req.h.hdrs[2].value, "v", 1);
    assert_int_equal(req.h.first[RW_H_HOST], 0);
    assert_int_equal(req.h.first[RW_H_CONTENT_LENGTH], 1);
    assert_int_equal(req.h.first[RW_H_OTHER], 2);
    assert_int_equal(req.h.first[RW_H_TRANSFER_ENCODING], -1);
    assert_int_equal(req.h.first[RW_H_COOKIE], -1);
}

static void query_presence(void **state)
{
    struct rw_h1_req req;
    assert_int_equal(parse_s("GET /a? HTTP/1.1\r\nHost: a\r\n\r\n", &req), 0);
    assert_non_null(req.query);
    assert_int_equal(req.query_len, 0);
    assert_int_equal(parse_s("GET /a HTTP/1.1\r\nHost: a\r\n\r\n", &req), 0);
    assert_null(req.query);
    assert_int_equal(req.path_len, 2);
}

static void method_ids(void **state)
{
    static const struct {
        const char *m;
        enum rw_method id;
    } t[] = {{"GET", RW_M_GET},        {"HEAD", RW_M_HEAD},     {"POST", RW_M_POST},
             {"PUT", RW_M_PUT},        {"DELETE", RW_M_DELETE}, {"OPTIONS", RW_M_OPTIONS},
             {"PATCH", RW_M_PATCH},    {"TRACE", RW_M_TRACE},   {"get", RW_M_OTHER},
             {"PROPFIND", RW_M_OTHER}, {"GETX", RW_M_OTHER}};
    char buf[128];
    struct rw_h1_req req;
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        snprintf(buf, sizeof(buf), "%s / HTTP/1.1\r\nHost: a\r\n\r\n", t[i].m);
        assert_int_equal(parse_s(buf, &req), 0);
        assert_int_equal(req.method, t[i].id);
    }
    assert_int_equal(parse_s("CONNECT a:1 HTTP/1.1\r\nHost: a:1\r\n\r\n", &req), 0);
    assert_int_equal(req.method, RW_M_CONNECT);
}

static void absolute_form_overrides_host(void **state)
{
    struct rw_h1_req req;
    assert_int_equal(parse_s("GET http://ex.com/p?q HTTP/1.1\r\nHost: other\r\n\r\n", &req), 0);
    assert_true(req.absolute_form);
    assert_int_equal(req.host_len, 6);
    assert_memory_equal(req.host, "ex.com", 6);
    assert_int_equal(req.path_len, 2);
    assert_memory_equal(req.path, "/p", 2);
    assert_int_equal(req.query_len, 1);
    assert_memory_equal(req.query, "q", 1);

    const char *in = "GET HTTPS://ex.com:8443?x=1 HTTP/1.1\r\nHost: ex.com\r\n\r\n";
    assert_int_equal(parse_s(in, &req), 0);
    assert_memory_equal(req.host, "ex.com:8443", 11);
    assert_int_equal(req.path_len, 1);
    assert_memory_equal(req.path, "/", 1);
    assert_true(req.path >= in && req.path < in + strlen(in));
    assert_memory_equal(req.query, "x=1", 3);
}

static void asterisk_and_authority_forms(void **state)
{
    struct rw_h1_req req;
    assert_int_equal(parse_s("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", &req), 0);
    assert_int_equal(req.path_len, 1);
    assert_memory_equal(req.path, "*", 1);
    assert_int_equal(parse_s("CONNECT [::1]:443 HTTP/1.1\r\nHost: x\r\n\r\n", &req), 0);
    assert_int_equal(req.host_len, 9);
    assert_memory_equal(req.host, "[::1]:443", 9);
    assert_int_equal(req.path_len, 0);
    assert_false(req.absolute_form);
}

static void framing_results(void **state)
{
    struct rw_h1_req req;
    assert_int_equal(
        parse_s("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked \r\n\r\n", &req), 0);
    assert_int_equal(req.h.body, RW_BODY_CHUNKED);
    assert_int_equal(parse_s("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", &req), 0);
    assert_int_equal(req.h.body, RW_BODY_LENGTH);
    assert_int_equal(req.h.content_length, 0);
    assert_int_equal(
        parse_s("POST / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\n\r\n", &req), 0);
    assert_int_equal(req.h.body, RW_BODY_NONE);
    assert_int_equal(req.h.hdrs[1].id, RW_H_OTHER);
    assert_int_equal(parse_s("GET / HTTP/1.1\r\nHost: a\r\n\r\n", &req), 0);
    assert_int_equal(req.h.body, RW_BODY_NONE);
}

static void host_on_http10_optional(void **state)
{
    struct rw_h1_req req;
    assert_int_equal(parse_s("GET / HTTP/1.0\r\n\r\n", &req), 0);
    assert_null(req.host);
    assert_int_equal(req.h.minor, 0);
    assert_int_equal(parse_s("GET / HTTP/1.0\r\nHost: h\r\n\r\n", &req), 0);
    assert_memory_equal(req.host, "h", 1);
}

static void expect_handling(void **state)
{
    struct rw_h1_req req;
    assert_int_equal(parse_s("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n", &req), 0);
    assert_true(req.expect_continue);
    assert_int_equal(parse_s("PUT / HTTP/1.1\r\nHost: a\r\n\r\n", &req), 0);
    assert_false(req.expect_continue);
    assert_int_equal(parse_s("PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n", &req), 0);
    assert_false(req.expect_continue);
}

static void keep_alive_defaults(void **state)
{
    static const struct {
        const char *in;
        bool ka;
    } t[] = {
        {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", true},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, CLOSE\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: x\r\nConnection: close\r\n\r\n", false},
        {"GET / HTTP/1.0\r\n\r\n", false},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
        {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true},
        {"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false},
        {"GET / HTTP/1.0\r\nKeep-Alive: 5\r\n\r\n", false},
    };
    struct rw_h1_req req;
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        assert_int_equal(parse_s(t[i].in, &req), 0);
        if (req.h.keep_alive != t[i].ka)
            fail_msg("case %zu: keep_alive %d", i, req.h.keep_alive);
    }
}

static void hop_by_hop_marking(void **state)
{
    struct rw_h1_req req;
    const char *in = "GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Foo, x-bar ,cookie\r\n"
                     "X-Foo: 1\r\nX-BAR: 2\r\nX-Baz: 3\r\nKeep-Alive: 5\r\nTE: trailers\r\n"
                     "Cookie: c=1\r\nProxy-Connection: x\r\nTrailer: x\r\nUpgrade: y\r\n"
                     "Accept: */*\r\n\r\n";
    static const bool hop[] = {false, true, true, true, false, true,
                               true,  true, true, true, true,  false};
    assert_int_equal(parse_s(in, &req), 0);
    assert_int_equal(req.h.nhdrs, 12);
    for (uint32_t i = 0; i < req.h.nhdrs; i++) {
        if (((req.h.hdrs[i].flags & RW_HDR_HOP) != 0) != hop[i])
            fail_msg("field %u: flags %u", i, req.h.hdrs[i].flags);
    }
    assert_false(req.h.conn_upgrade);
}

static void connection_upgrade(void **state)
{
    struct rw_h1_req req;
    assert_int_equal(
        parse_s("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
                &req),
        0);
    assert_true(req.h.conn_upgrade);
    assert_true(req.h.keep_alive);
    assert_int_equal(parse_s("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n", &req), 0);
    assert_false(req.h.conn_upgrade);
    assert_int_equal(parse_s("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n", &req), 0);
    assert_false(req.h.conn_upgrade);
}

static void request_line_limit_414(void **state)
{
    struct rw_h1_limits lim = {.request_line = 32};
    struct rw_h1_req req;
    char buf[256];
    /* "GET /" + path + " HTTP/1.1" is exactly 32 bytes: accepted. */
    snprintf(buf, sizeof(buf), "GET /%s HTTP/1.1\r\nHost: a\r\n\r\n", "aaaaaaaaaaaaaaaaaa");
    assert_int_equal(parse(buf, strlen(buf), &lim, &req), 0);
    snprintf(buf, sizeof(buf), "GET /%s HTTP/1.1\r\nHost: a\r\n\r\n", "aaaaaaaaaaaaaaaaaaa");
    assert_int_equal(parse(buf, strlen(buf), &lim, &req), 414);
    /* Known too long before any CRLF: 33 bytes of request line so far. */
    const char *partial = "GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    assert_int_equal(parse(partial, 32, &lim, &req), AGAIN);
    assert_int_equal(parse(partial, 33, &lim, &req), 414);
    /* A CR waiting for its LF is not counted in the line. */
    snprintf(buf, sizeof(buf), "GET /%s HTTP/1.1\r", "aaaaaaaaaaaaaaaaaa");
    assert_int_equal(parse(buf, strlen(buf), &lim, &req), AGAIN);
    /* The default limit is 8192. */
    static char big[9000];
    memcpy(big, "GET /", 5);
    memset(big + 5, 'a', sizeof(big) - 5);
    assert_int_equal(parse(big, 8192, NULL, &req), AGAIN);
    assert_int_equal(parse(big, 8193, NULL, &req), 414);
}

static void header_block_limit_431(void **state)
{
    struct rw_h1_limits lim = {.header_block = 64};
    struct rw_h1_req req;
    /* 16 + 9 + 37 + 2 = 64 bytes */
    const char *exact = "GET / HTTP/1.1\r\nHost: a\r\nX: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    assert_int_equal(strlen(exact), 64);
    assert_int_equal(parse(exact, 64, &lim, &req), 0);
    const char *over = "GET / HTTP/1.1\r\nHost: a\r\nX: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    assert_int_equal(parse(over, strlen(over), &lim, &req), 431);
    /* No terminator yet but the block is already full: refuse now. */
    assert_int_equal(parse(over, 63, &lim, &req), AGAIN);
    assert_int_equal(parse(over, 64, &lim, &req), 431);
    /* Slow drip with the default limit. */
    static char big[20000];
    const char *head = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
    memcpy(big, head, strlen(head));
    memset(big + strlen(head), 'v', sizeof(big) - strlen(head));
    assert_int_equal(parse(big, 16383, NULL, &req), AGAIN);
    assert_int_equal(parse(big, 16384, NULL, &req), 431);
    assert_int_equal(parse(big, sizeof(big), NULL, &req), 431);
}

static void header_count_limit_431(void **state)
{
    struct rw_h1_limits lim = {.headers = 3};
    struct rw_h1_req req;
    const char *three = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n";
    const char *four = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    assert_int_equal(parse(three, strlen(three), &lim, &req), 0);
    assert_int_equal(req.h.nhdrs, 3);
    assert_int_equal(parse(four, strlen(four), &lim, &req), 431);
    assert_int_equal(parse(four, strlen(three) - 2 + 1, &lim, &req), 431); /* 4th just began */
    /* 101 fields with the default limit of 100. */
    static char buf[4096];
    size_t n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < 99; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X%d: v\r\n", i);
    memcpy(buf + n, "\r\n", 3);
    assert_int_equal(parse(buf, n + 2, NULL, &req), 0);
    assert_int_equal(req.h.nhdrs, 100);
    memcpy(buf + n, "Y: 1\r\n\r\n", 9);
    assert_int_equal(parse(buf, n + 8, NULL, &req), 431);
}

static void incremental_typical_request(void **state)
{
    const char *in =
        "GET /index.html?a=b HTTP/1.1\r\nHost: www.example.com\r\n"
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\nAccept: text/html,*/*;q=0.8\r\n"
        "Accept-Encoding: gzip, deflate, br\r\nCookie: a=1; b=2\r\n"
        "Connection: keep-alive\r\n\r\n";
    size_t len = strlen(in);
    struct rw_h1_req full, part;
    static struct rw_hdr h2[RW_H1_MAX_HEADERS];
    int st = 0;
    assert_int_equal(parse(in, len, NULL, &full), 0);
    for (size_t k = 0; k < len; k++)
        assert_int_equal(rw_h1_parse_request(in, k, NULL, &part, h2, &st), RW_PARSE_AGAIN);
    assert_int_equal(rw_h1_parse_request(in, len, NULL, &part, h2, &st), RW_PARSE_DONE);
    part.h.hdrs = full.h.hdrs; /* the arrays differ; the contents must not */
    assert_memory_equal(&part, &full, sizeof(full));
    assert_memory_equal(h2, hdrs, sizeof(struct rw_hdr) * full.h.nhdrs);
    assert_int_equal(full.h.nhdrs, 6);
    assert_int_equal(full.h.first[RW_H_COOKIE], 4);
    assert_true(full.h.keep_alive);
}

int rw_test_h1_req(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(request_table),
        cmocka_unit_test(origin_form_fields),
        cmocka_unit_test(query_presence),
        cmocka_unit_test(method_ids),
        cmocka_unit_test(absolute_form_overrides_host),
        cmocka_unit_test(asterisk_and_authority_forms),
        cmocka_unit_test(framing_results),
        cmocka_unit_test(host_on_http10_optional),
        cmocka_unit_test(expect_handling),
        cmocka_unit_test(keep_alive_defaults),
        cmocka_unit_test(hop_by_hop_marking),
        cmocka_unit_test(connection_upgrade),
        cmocka_unit_test(request_line_limit_414),
        cmocka_unit_test(header_block_limit_431),
        cmocka_unit_test(header_count_limit_431),
        cmocka_unit_test(incremental_typical_request),
    };
    return cmocka_run_group_tests_name("http/h1_req", t, NULL, NULL);
}
