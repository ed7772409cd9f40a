/* SPDX-License-Identifier: MIT */
/* Tests for http/h1_fields.c: field lines (shared by requests and responses) and Connection. */
#include "test/unit/http/test_http.h"

#include <stdio.h>
#include <string.h>

#include "http/h1.h"

static struct rw_hdr hdrs[RW_H1_MAX_HEADERS];

static enum rw_parse req_parse(const char *in, size_t len, struct rw_h1_req *req, int *st)
{
    return rw_h1_parse_request(in, len, NULL, req, hdrs, st);
}

/* Put byte c at every offset of a long value: the 8-byte scanner must agree with the
 * byte-wise rules wherever the byte lands. */
static void value_bytes_at_every_offset(void **state)
{
    static const struct {
        uint8_t c;
        bool ok;
    } t[] = {{'\t', true},  {' ', true},   {0x80, true},  {0xff, true},  {'~', true},
             {0x00, false}, {0x01, false}, {0x1f, false}, {0x7f, false}, {'\n', false}};
    char buf[256];
    struct rw_h1_req req;
    int st;
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        for (size_t off = 0; off < 40; off++) {
            int n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\nX: v");
            size_t vstart = (size_t)n;
            memset(buf + n, 'v', 41);
            buf[vstart + off] = (char)t[i].c;
            memcpy(buf + vstart + 41, "\r\n\r\n", 4);
            size_t len = vstart + 45;
            enum rw_parse r = req_parse(buf, len, &req, &st);
            if ((r == RW_PARSE_DONE) != t[i].ok)
                fail_msg("byte 0x%02x at %zu: %d", t[i].c, off, r);
            if (!t[i].ok)
                assert_int_equal(st, 400);
        }
    }
}

/* Same for field names: the 16-byte scanner must agree with the token table anywhere. */
static void name_bytes_at_every_offset(void **state)
{
    static const struct {
        uint8_t c;
        bool ok;
    } t[] = {{'_', true},   {'~', true},   {'^', true},   {'`', true},  {'9', true},
             {'Z', true},   {' ', false},  {'@', false},  {'[', false}, {'{', false},
             {0x80, false}, {0xc1, false}, {0x7f, false}, {'/', false}, {'\t', false}};
    char buf[256];
    struct rw_h1_req req;
    int st;
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        for (size_t off = 0; off < 40; off++) {
            int n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\n");
            size_t nstart = (size_t)n;
            memset(buf + n, 'n', 40);
            buf[nstart + off] = (char)t[i].c;
            memcpy(buf + nstart + 40, ": v\r\n\r\n", 7);
            enum rw_parse r = req_parse(buf, nstart + 47, &req, &st);
            if ((r == RW_PARSE_DONE) != t[i].ok)
                fail_msg("byte 0x%02x at %zu: %d", t[i].c, off, r);
            if (t[i].ok)
                assert_int_equal(req.h.hdrs[1].name_len, 40);
        }
    }
}

static void values_trimmed_and_empty(void **state)
{
    struct rw_h1_req req;
    int st;
    const char *in = "GET / HTTP/1.1\r\nHost:a\r\nE:\r\nW: \t \r\nX:\t in ner \t\r\n\r\n";
    assert_int_equal(req_parse(in, strlen(in), &req, &st), RW_PARSE_DONE);
    assert_int_equal(req.h.nhdrs, 4);
    assert_int_equal(req.h.hdrs[0].value_len, 1);
    assert_int_equal(req.h.hdrs[1].value_len, 0);
    assert_int_equal(req.h.hdrs[2].value_len, 0);
    assert_int_equal(req.h.hdrs[3].value_len, 6);
    assert_memory_equal(req.h.hdrs[3].value, "in ner", 6);
    assert_int_equal(req.h.hdrs[3].name_len, 1);
    assert_memory_equal(req.h.hdrs[3].name, "X", 1);
}

static void first_index_per_id(void **state)
{
    struct rw_h1_req req;
    int st;
    const char *in = "GET / HTTP/1.1\r\nA: 1\r\nHost: a\r\nVia: 1\r\nCOOKIE: a\r\ncookie: b\r\n"
                     "Date: x\r\nServer: s\r\n\r\n";
    assert_int_equal(req_parse(in, strlen(in), &req, &st), RW_PARSE_DONE);
    assert_int_equal(req.h.first[RW_H_OTHER], 0);
    assert_int_equal(req.h.first[RW_H_HOST], 1);
    assert_int_equal(req.h.first[RW_H_VIA], 2);
    assert_int_equal(req.h.first[RW_H_COOKIE], 3);
    assert_int_equal(req.h.first[RW_H_DATE], 5);
    assert_int_equal(req.h.first[RW_H_SERVER], 6);
    assert_int_equal(req.h.hdrs[4].id, RW_H_COOKIE);
    for (int id = RW_H_CONTENT_LENGTH; id < RW_H__COUNT; id++) {
        if (id != RW_H_VIA && id != RW_H_COOKIE && id != RW_H_DATE && id != RW_H_SERVER)
            assert_int_equal(req.h.first[id], -1);
    }
}

static void name_is_token(void **state)
{
    struct rw_h1_req req;
    int st;
    static const char *bad[] = {"X(: a", "X): a", "X/: a", "X\": a", "X[: a",   "X]: a",  "X{: a",
                                "X=: a", "X,: a", "X;: a", "X\\: a", "\x80: a", "X\t: a", "\tX: a"};
    char buf[128];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\n%s\r\n\r\n", bad[i]);
        assert_int_equal(req_parse(buf, (size_t)n, &req, &st), RW_PARSE_BAD);
        assert_int_equal(st, 400);
    }
    const char *ok = "GET / HTTP/1.1\r\nHost: a\r\n!#$%&'*+-.^_`|~09azAZ: a\r\n\r\n";
    assert_int_equal(req_parse(ok, strlen(ok), &req, &st), RW_PARSE_DONE);
    assert_int_equal(req.h.hdrs[1].name_len, 21);
}

static void response_fields_share_rules(void **state)
{
    struct rw_h1_resp resp;
    int st = 0;
    const char *bad = "HTTP/1.1 200 OK\r\nX : a\r\nContent-Length: 0\r\n\r\n";
    assert_int_equal(rw_h1_parse_response(bad, strlen(bad), NULL, RW_M_GET, &resp, hdrs, &st),
                     RW_PARSE_BAD);
    assert_int_equal(st, 502);
    const char *ok = "HTTP/1.1 200 OK\r\nConnection: X-A\r\nX-A: 1\r\nContent-Length: 0\r\n\r\n";
    assert_int_equal(rw_h1_parse_response(ok, strlen(ok), NULL, RW_M_GET, &resp, hdrs, &st),
                     RW_PARSE_DONE);
    assert_true(resp.h.hdrs[0].flags & RW_HDR_HOP);
    assert_true(resp.h.hdrs[1].flags & RW_HDR_HOP);
    assert_false(resp.h.hdrs[2].flags & RW_HDR_HOP);
}

int rw_test_h1_fields(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(value_bytes_at_every_offset),
        cmocka_unit_test(name_bytes_at_every_offset),
        cmocka_unit_test(values_trimmed_and_empty),
        cmocka_unit_test(first_index_per_id),
        cmocka_unit_test(name_is_token),
        cmocka_unit_test(response_fields_share_rules),
    };
    return cmocka_run_group_tests_name("http/h1_fields", t, NULL, NULL);
}
