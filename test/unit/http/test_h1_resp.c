/* SPDX-License-Identifier: MIT */
/* Tests for http/h1_resp.c: status line, no-body rules, CL/TE framing, close-delimited. */
#include "test/unit/http/test_http.h"

#include <string.h>

#include "http/h1.h"

#define AGAIN (-1)

static struct rw_hdr hdrs[RW_H1_MAX_HEADERS];

static int parse(const char *in, size_t len, uint8_t method, struct rw_h1_resp *resp)
{
    int st = -7;
    enum rw_parse r = rw_h1_parse_response(in, len, NULL, method, resp, hdrs, &st);
    if (r == RW_PARSE_DONE)
        return 0;
    if (r == RW_PARSE_AGAIN)
        return AGAIN;
    return st;
}

struct scase {
    const char *name;
    const char *in;
    uint8_t method;
    int want;     /* 0: DONE, else the status */
    uint8_t body; /* when DONE */
    bool ka;      /* when DONE */
};

static const struct scase cases[] = {
    {"200 CL", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", RW_M_GET, 0, RW_BODY_LENGTH, true},
    {"no reason", "HTTP/1.1 200\r\nContent-Length: 5\r\n\r\n", RW_M_GET, 0, RW_BODY_LENGTH, true},
    {"empty reason", "HTTP/1.1 200 \r\nContent-Length: 5\r\n\r\n", RW_M_GET, 0, RW_BODY_LENGTH,
     true},
    {"1.0 CL", "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n", RW_M_GET, 0, RW_BODY_LENGTH, false},
    {"1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\n",
     RW_M_GET, 0, RW_BODY_LENGTH, true},
    {"close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\n", RW_M_GET, 0,
     RW_BODY_LENGTH, false},
    {"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", RW_M_GET, 0,
     RW_BODY_CHUNKED, true},
    {"Chunked OWS", "HTTP/1.1 200 OK\r\nTransfer-Encoding:  Chunked \r\n\r\n", RW_M_GET, 0,
     RW_BODY_CHUNKED, true},
    {"TE gzip -> close", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", RW_M_GET, 0,
     RW_BODY_CLOSE, false},
    {"TE chunked, gzip -> close", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
     RW_M_GET, 0, RW_BODY_CLOSE, false},
    {"TE gzip, chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", RW_M_GET,
     502, 0, false},
    {"TE chunked twice",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
     RW_M_GET, 502, 0, false},
    {"TE + CL", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
     RW_M_GET, 502, 0, false},
    {"TE on 1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", RW_M_GET, 502, 0, false},
    {"CL twice", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", RW_M_GET, 502,
     0, false},
    {"CL list", "HTTP/1.1 200 OK\r\nContent-Length: 3,3\r\n\r\n", RW_M_GET, 502, 0, false},
    {"CL sign", "HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\n", RW_M_GET, 502, 0, false},
    {"close-delimited", "HTTP/1.1 200 OK\r\nServer: x\r\n\r\n", RW_M_GET, 0, RW_BODY_CLOSE, false},
    {"100", "HTTP/1.1 100 Continue\r\n\r\n", RW_M_PUT, 0, RW_BODY_NONE, true},
    {"101", "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
     RW_M_GET, 0, RW_BODY_NONE, true},
    {"204 with CL", "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n", RW_M_DELETE, 0,
     RW_BODY_NONE, true},
    {"304", "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", RW_M_GET, 0,
     RW_BODY_NONE, true},
    {"HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", RW_M_HEAD, 0, RW_BODY_NONE, true},
    {"CONNECT 200", "HTTP/1.1 200 Connection Established\r\n\r\n", RW_M_CONNECT, 0, RW_BODY_NONE,
     true},
    {"CONNECT 407", "HTTP/1.1 407 Auth\r\nContent-Length: 2\r\n\r\n", RW_M_CONNECT, 0,
     RW_BODY_LENGTH, true},
    {"status 99", "HTTP/1.1 099 X\r\n\r\n", RW_M_GET, 502, 0, false},
    {"status 600", "HTTP/1.1 600 X\r\n\r\n", RW_M_GET, 502, 0, false},
    {"two-digit status", "HTTP/1.1 20 OK\r\n\r\n", RW_M_GET, 502, 0, false},
    {"four-digit status", "HTTP/1.1 2000 OK\r\n\r\n", RW_M_GET, 502, 0, false},
    {"double SP", "HTTP/1.1  200 OK\r\n\r\n", RW_M_GET, 502, 0, false},
    {"HTTP/2.0", "HTTP/2.0 200 OK\r\n\r\n", RW_M_GET, 502, 0, false},
    {"HTTP/1.2", "HTTP/1.2 200 OK\r\n\r\n", RW_M_GET, 502, 0, false},
    {"lowercase", "http/1.1 200 OK\r\n\r\n", RW_M_GET, 502, 0, false},
    {"CTL in reason", "HTTP/1.1 200 O\x01K\r\n\r\n", RW_M_GET, 502, 0, false},
    {"bare LF status", "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", RW_M_GET, 502, 0, false},
    {"bare LF field", "HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n", RW_M_GET, 502, 0, false},
    {"obs-fold", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n", RW_M_GET, 502, 0,
     false},
};

static void response_table(void **state)
{
    struct rw_h1_resp resp;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct scase *c = &cases[i];
        size_t len = strlen(c->in);
        int got = parse(c->in, len, c->method, &resp);
        if (got != c->want)
            fail_msg("case '%s': got %d, want %d", c->name, got, c->want);
        if (got == 0 &&
            (resp.h.body != c->body || resp.h.keep_alive != c->ka || resp.h.head_len != len))
            fail_msg("case '%s': body %d keep_alive %d head_len %zu", c->name, resp.h.body,
                     resp.h.keep_alive, resp.h.head_len);
        for (size_t k = 0; k < len; k++) {
            int p = parse(c->in, k, c->method, &resp);
            if (p == 0 || (c->want == 0 && p != AGAIN))
                fail_msg("case '%s': prefix %zu gave %d", c->name, k, p);
        }
    }
}

static void status_line_fields(void **state)
{
    struct rw_h1_resp resp;
    const char *in = "HTTP/1.1 404 Not Found Here\r\nContent-Length: 12\r\n\r\nbody";
    assert_int_equal(parse(in, strlen(in), RW_M_GET, &resp), 0);
    assert_int_equal(resp.status, 404);
    assert_int_equal(resp.reason_len, 14);
    assert_memory_equal(resp.reason, "Not Found Here", 14);
    assert_int_equal(resp.h.content_length, 12);
    assert_int_equal(resp.h.head_len, strlen(in) - 4);
    assert_int_equal(resp.h.minor, 1);
    assert_int_equal(parse("HTTP/1.0 200\r\n\r\n", 16, RW_M_GET, &resp), 0);
    assert_int_equal(resp.reason_len, 0);
    assert_int_equal(resp.h.minor, 0);
}

static void upgrade_response(void **state)
{
    struct rw_h1_resp resp;
    const char *in =
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
    assert_int_equal(parse(in, strlen(in), RW_M_GET, &resp), 0);
    assert_int_equal(resp.status, 101);
    assert_true(resp.h.conn_upgrade);
    assert_true(resp.h.hdrs[1].flags & RW_HDR_HOP);
}

static void status_line_limit(void **state)
{
    struct rw_h1_limits lim = {.request_line = 20};
    struct rw_h1_resp resp;
    int st = 0;
    const char *ok = "HTTP/1.1 200 OKOKOKO\r\n\r\n"; /* 20-byte line */
    const char *bad = "HTTP/1.1 200 OKOKOKOK\r\n\r\n";
    assert_int_equal(rw_h1_parse_response(ok, strlen(ok), &lim, RW_M_GET, &resp, hdrs, &st),
                     RW_PARSE_DONE);
    assert_int_equal(rw_h1_parse_response(bad, strlen(bad), &lim, RW_M_GET, &resp, hdrs, &st),
                     RW_PARSE_BAD);
    assert_int_equal(st, 502);
    st = 0;
    assert_int_equal(rw_h1_parse_response(bad, 21, &lim, RW_M_GET, &resp, hdrs, &st), RW_PARSE_BAD);
    assert_int_equal(st, 502);
    struct rw_h1_limits blk = {.header_block = 32};
    const char *big = "HTTP/1.1 200 OK\r\nX: aaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    assert_int_equal(rw_h1_parse_response(big, strlen(big), &blk, RW_M_GET, &resp, hdrs, &st),
                     RW_PARSE_BAD);
    assert_int_equal(rw_h1_parse_response(big, 31, &blk, RW_M_GET, &resp, hdrs, &st),
                     RW_PARSE_AGAIN);
}

int rw_test_h1_resp(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(response_table),
        cmocka_unit_test(status_line_fields),
        cmocka_unit_test(upgrade_response),
        cmocka_unit_test(status_line_limit),
    };
    return cmocka_run_group_tests_name("http/h1_resp", t, NULL, NULL);
}
