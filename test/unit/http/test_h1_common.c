/* SPDX-License-Identifier: MIT */
/* Tests for http/h1_common.c: helpers, header ids, Content-Length and Host syntax. */
#include "test/unit/http/test_http.h"

#include <string.h>

#include "http/h1.h"
#include "http/h1_int.h"

static void streq_folds_ascii_case_only(void **state)
{
    assert_true(rw_h1_streq("Chunked", 7, "chunked"));
    assert_true(rw_h1_streq("CHUNKED", 7, "chunked"));
    assert_false(rw_h1_streq("chunke", 6, "chunked"));
    assert_false(rw_h1_streq("chunkedx", 8, "chunked"));
    assert_false(rw_h1_streq("chunked\x0b", 8, "chunked"));
    assert_false(rw_h1_streq("chunk\xc5\x84", 7, "chunked"));
    assert_true(rw_h1_streq("", 0, ""));
}

static void list_has_finds_tokens(void **state)
{
    const char *v = "Keep-Alive , Upgrade,,close ";
    assert_true(rw_h1_list_has(v, strlen(v), "keep-alive"));
    assert_true(rw_h1_list_has(v, strlen(v), "upgrade"));
    assert_true(rw_h1_list_has(v, strlen(v), "close"));
    assert_false(rw_h1_list_has(v, strlen(v), "clos"));
    assert_false(rw_h1_list_has(v, strlen(v), "alive"));
    assert_false(rw_h1_list_has("", 0, "close"));
    assert_false(rw_h1_list_has("x-close", 7, "close"));
}

static void reason_phrases(void **state)
{
    static const struct {
        int code;
        const char *text;
    } t[] = {{100, "Continue"},
             {101, "Switching Protocols"},
             {200, "OK"},
             {204, "No Content"},
             {206, "Partial Content"},
             {301, "Moved Permanently"},
             {304, "Not Modified"},
             {308, "Permanent Redirect"},
             {400, "Bad Request"},
             {413, "Content Too Large"},
             {414, "URI Too Long"},
             {417, "Expectation Failed"},
             {421, "Misdirected Request"},
             {429, "Too Many Requests"},
             {431, "Request Header Fields Too Large"},
             {500, "Internal Server Error"},
             {502, "Bad Gateway"},
             {505, "HTTP Version Not Supported"},
             {299, "Unknown"},
             {0, "Unknown"}};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        assert_string_equal(rw_h1_reason(t[i].code), t[i].text);
}

static void header_ids_case_insensitive(void **state)
{
    static const struct {
        const char *name;
        enum rw_hdr_id id;
    } t[] = {{"Host", RW_H_HOST},
             {"HOST", RW_H_HOST},
             {"content-length", RW_H_CONTENT_LENGTH},
             {"Transfer-Encoding", RW_H_TRANSFER_ENCODING},
             {"Transfer_Encoding", RW_H_OTHER},
             {"Transfer-Encodin", RW_H_OTHER},
             {"Connection", RW_H_CONNECTION},
             {"Keep-Alive", RW_H_KEEP_ALIVE},
             {"Proxy-Connection", RW_H_PROXY_CONNECTION},
             {"TE", RW_H_TE},
             {"Trailer", RW_H_TRAILER},
             {"Upgrade", RW_H_UPGRADE},
             {"Expect", RW_H_EXPECT},
             {"X-Forwarded-For", RW_H_X_FORWARDED_FOR},
             {"X-Forwarded-Proto", RW_H_X_FORWARDED_PROTO},
             {"X-Forwarded-Host", RW_H_X_FORWARDED_HOST},
             {"Forwarded", RW_H_FORWARDED},
             {"Via", RW_H_VIA},
             {"Server", RW_H_SERVER},
             {"X-Powered-By", RW_H_X_POWERED_BY},
             {"Date", RW_H_DATE},
             {"Cookie", RW_H_COOKIE},
             {"Cookie2", RW_H_OTHER},
             {"Hosu", RW_H_OTHER},
             {"~ost", RW_H_OTHER},
             {"Accept", RW_H_OTHER}};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        assert_int_equal(rw__h1_hdr_id(t[i].name, strlen(t[i].name)), t[i].id);
}

static void content_length_syntax(void **state)
{
    uint64_t v = 0;
    assert_int_equal(rw__h1_content_length("0", 1, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(rw__h1_content_length("9223372036854775807", 19, &v), 0);
    assert_true(v == 9223372036854775807ull);
    assert_int_equal(rw__h1_content_length("0000000000000000042", 19, &v), 0);
    assert_int_equal(v, 42);
    static const char *bad[] = {"",
                                "9223372036854775808",
                                "9999999999999999999",
                                "00000000000000000001",
                                "+5",
                                "-5",
                                "5 5",
                                "5,5",
                                "0x5",
                                " 5"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_true(rw__h1_content_length(bad[i], strlen(bad[i]), &v) < 0);
}

static void host_syntax(void **state)
{
    static const char *ok[] = {"example.com", "a",         "EXAMPLE.com:8080", "127.0.0.1",
                               "[::1]",       "[::1]:443", "[2001:db8::1]:80", "exa%41mple",
                               "a-b_c~d",     "a:65535",   "x!$&'()*+,;=y"};
    static const char *bad[] = {"",     ":80", "a:",   "a:65536", "a:123456", "a b",
                                "a@b",  "a/b", "[::1", "[zz::1]", "[]",       "[1]",
                                "a:8x", "%zz", "a%4",  "[::1]x",  "a\"b",     "[::1]:"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        assert_true(rw__h1_host_valid(ok[i], strlen(ok[i]), false));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(rw__h1_host_valid(bad[i], strlen(bad[i]), false));
    assert_true(rw__h1_host_valid("a:1", 3, true));
    assert_false(rw__h1_host_valid("a", 1, true));
}

static void limits_defaults_and_clamp(void **state)
{
    struct rw__lim l;
    rw__h1_limits(NULL, &l);
    assert_int_equal(l.request_line, 8192);
    assert_int_equal(l.header_block, 16384);
    assert_int_equal(l.headers, 100);
    struct rw_h1_limits in = {.request_line = 10, .headers = 1000};
    rw__h1_limits(&in, &l);
    assert_int_equal(l.request_line, 10);
    assert_int_equal(l.header_block, 16384);
    assert_int_equal(l.headers, RW_H1_MAX_HEADERS);
}

int rw_test_h1_common(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(streq_folds_ascii_case_only),
        cmocka_unit_test(list_has_finds_tokens),
        cmocka_unit_test(reason_phrases),
        cmocka_unit_test(header_ids_case_insensitive),
        cmocka_unit_test(content_length_syntax),
        cmocka_unit_test(host_syntax),
        cmocka_unit_test(limits_defaults_and_clamp),
    };
    return cmocka_run_group_tests_name("http/h1_common", t, NULL, NULL);
}
