/* SPDX-License-Identifier: MIT */
/* Tests for config/units.c: durations, sizes, addresses and the syntax checks. */
#include "cfg-test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "config/cfg-int.h"

static void durations_valid(void **state)
{
    static const struct {
        const char *s;
        uint64_t ms;
    } ok[] = {
        {"250ms", 250},      {"10s", 10000},
        {"5m", 300000},      {"1h", 3600000},
        {"1d", 86400000},    {"0s", 0},
        {"0ms", 0},          {"007s", 7000},
        {"24d", 2073600000}, {"18446744073709551615ms", UINT64_MAX},
    };

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint64_t ms = 1;

        assert_int_equal(rw_cfg_parse_duration(ok[i].s, &ms), 0);
        assert_true(ms == ok[i].ms);
    }
}

static void durations_invalid(void **state)
{
    static const char *const bad[] = {
        "",
        "10",
        "s",
        "1.5s",
        "-1s",
        "+1s",
        " 1s",
        "1s ",
        "1 s",
        "1S",
        "1sec",
        "1ms2",
        "1us",
        "1w",
        "1hh",
        "0x10s",
        "1e3ms",
        "18446744073709551616ms", /* digits overflow */
        "18446744073709551615s",  /* unit overflow */
        "213503982334601d",       /* just past 2^64 ms */
    };
    uint64_t ms;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(rw_cfg_parse_duration(bad[i], &ms), -EINVAL);
    assert_int_equal(rw_cfg_parse_duration(NULL, &ms), -EINVAL);
}

static void sizes_valid(void **state)
{
    static const struct {
        const char *s;
        uint64_t b;
    } ok[] = {
        {"0", 0},
        {"512", 512},
        {"512B", 512},
        {"1KB", 1000},
        {"1KiB", 1024},
        {"16KiB", 16384},
        {"2MB", 2000000},
        {"64MiB", 64ull << 20},
        {"1GB", 1000000000},
        {"1GiB", 1ull << 30},
        {"3TB", 3000000000000ull},
        {"1TiB", 1ull << 40},
        {"18446744073709551615", UINT64_MAX},
        {"16777215TiB", 16777215ull << 40},
    };

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint64_t b = 1;

        assert_int_equal(rw_cfg_parse_size(ok[i].s, &b), 0);
        assert_true(b == ok[i].b);
    }
}

static void sizes_invalid(void **state)
{
    static const char *const einval[] = {
        "",       "B",  "KiB", "1kb",  "1kib",  "1K", "1 KiB",
        "1.5KiB", "-1", "+1",  "0x10", "1KiBB", "1b", "99999999999999999999999x",
    };
    static const char *const erange[] = {
        "18446744073709551616",
        "16777216TiB",
        "99999999999999999999999KiB",
        "18446744073709552KB",
    };
    uint64_t b;

    for (size_t i = 0; i < sizeof(einval) / sizeof(einval[0]); i++)
        assert_int_equal(rw_cfg_parse_size(einval[i], &b), -EINVAL);
    for (size_t i = 0; i < sizeof(erange) / sizeof(erange[0]); i++)
        assert_int_equal(rw_cfg_parse_size(erange[i], &b), -ERANGE);
    assert_int_equal(rw_cfg_parse_size(NULL, &b), -EINVAL);
}

static void check_v4(const char *s, const char *ip, uint16_t port)
{
    struct sockaddr_storage ss;
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    socklen_t len = 0;
    char buf[INET_ADDRSTRLEN];

    assert_int_equal(rw_cfg_parse_addr(s, &ss, &len), 0);
    assert_int_equal(len, sizeof(struct sockaddr_in));
    assert_int_equal(sin->sin_family, AF_INET);
    assert_int_equal(ntohs(sin->sin_port), port);
    assert_non_null(inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf)));
    assert_string_equal(buf, ip);
}

static void check_v6(const char *s, const char *ip, uint16_t port)
{
    struct sockaddr_storage ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    socklen_t len = 0;
    char buf[INET6_ADDRSTRLEN];

    assert_int_equal(rw_cfg_parse_addr(s, &ss, &len), 0);
    assert_int_equal(len, sizeof(struct sockaddr_in6));
    assert_int_equal(sin6->sin6_family, AF_INET6);
    assert_int_equal(ntohs(sin6->sin6_port), port);
    assert_non_null(inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf)));
    assert_string_equal(buf, ip);
}

static void addrs_valid(void **state)
{
    check_v4("1.2.3.4:80", "1.2.3.4", 80);
    check_v4("0.0.0.0:8080", "0.0.0.0", 8080);
    check_v4("*:80", "0.0.0.0", 80);
    check_v4("localhost:9000", "127.0.0.1", 9000);
    check_v4("LocalHost:1", "127.0.0.1", 1);
    check_v4("255.255.255.255:65535", "255.255.255.255", 65535);
    check_v6("[::1]:80", "::1", 80);
    check_v6("[::]:443", "::", 443);
    check_v6("[2001:db8::1]:8443", "2001:db8::1", 8443);
    check_v6("[::ffff:1.2.3.4]:80", "::ffff:1.2.3.4", 80);
}

static void addrs_invalid(void **state)
{
    static const char *const bad[] = {
        "",
        "1.2.3.4",
        "1.2.3.4:",
        ":80",
        "1.2.3.4:0",
        "1.2.3.4:65536",
        "1.2.3.4:99999999999999999999",
        "1.2.3.4:+80",
        "1.2.3.4:-1",
        "1.2.3.4:80 ",
        " 1.2.3.4:80",
        "1.2.3:80",
        "01.2.3.4:80",
        "256.1.1.1:80",
        "::1:80",
        "[::1]",
        "[::1]80",
        "[::1:80",
        "[1.2.3.4]:80",
        "[fe80::1%lo]:80",
        "example.com:80",
        "[]:80",
        "**:80",
        "1.2.3.4:0x50",
        "1.2.3.4:080a",
    };
    struct sockaddr_storage ss;
    socklen_t len;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (rw_cfg_parse_addr(bad[i], &ss, &len) != -EINVAL)
            fail_msg("accepted \"%s\"", bad[i]);
    }
}

static void addr_reasons(void **state)
{
    struct sockaddr_storage ss;
    socklen_t len;
    const char *why;

    assert_int_equal(rw__cfg_parse_addr("backend.local:80", &ss, &len, &why), -EINVAL);
    assert_non_null(strstr(why, "not resolved"));
    assert_int_equal(rw__cfg_parse_addr("::1:80", &ss, &len, &why), -EINVAL);
    assert_non_null(strstr(why, "brackets"));
    assert_int_equal(rw__cfg_parse_addr("1.2.3.4:0", &ss, &len, &why), -EINVAL);
    assert_non_null(strstr(why, "1..65535"));
}

static void syntax_checks(void **state)
{
    assert_null(rw__cfg_check_token("x-canary"));
    assert_null(rw__cfg_check_token("GET"));
    assert_non_null(rw__cfg_check_token(""));
    assert_non_null(rw__cfg_check_token("a b"));
    assert_non_null(rw__cfg_check_token("a:b"));
    assert_null(rw__cfg_check_hdr_value("a b\tc \xc3\xa9"));
    assert_non_null(rw__cfg_check_hdr_value("a\r\nb: c"));
    assert_non_null(rw__cfg_check_hdr_value("a\x7f"));
    assert_null(rw__cfg_check_path("/"));
    assert_null(rw__cfg_check_path("/a/b%20c"));
    assert_non_null(rw__cfg_check_path("a"));
    assert_non_null(rw__cfg_check_path(""));
    assert_non_null(rw__cfg_check_path("/a b"));
    assert_non_null(rw__cfg_check_path("/a?b"));
    assert_null(rw__cfg_check_host("api.example.com"));
    assert_null(rw__cfg_check_host("10.0.0.1"));
    assert_null(rw__cfg_check_host("[::1]"));
    assert_non_null(rw__cfg_check_host(""));
    assert_non_null(rw__cfg_check_host("-a.com"));
    assert_non_null(rw__cfg_check_host("a-.com"));
    assert_non_null(rw__cfg_check_host("a..com"));
    assert_non_null(rw__cfg_check_host("a.com."));
    assert_non_null(rw__cfg_check_host("a_b.com"));
    assert_non_null(rw__cfg_check_host("[::g]"));
    assert_non_null(
        rw__cfg_check_host("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com"));
    assert_null(rw__cfg_check_host_match("*.example.com"));
    assert_non_null(rw__cfg_check_host_match("*"));
    assert_non_null(rw__cfg_check_host_match("a.*.com"));
    assert_non_null(rw__cfg_check_host_match("*a.com"));
    assert_non_null(rw__cfg_check_host_match("a.com:80"));
    assert_null(rw__cfg_check_host_port("a.com"));
    assert_null(rw__cfg_check_host_port("a.com:8080"));
    assert_null(rw__cfg_check_host_port("[::1]:80"));
    assert_null(rw__cfg_check_host_port("[::1]"));
    assert_non_null(rw__cfg_check_host_port("a.com:"));
    assert_non_null(rw__cfg_check_host_port("a.com:0"));
    assert_non_null(rw__cfg_check_host_port("[::1]x"));
}

static void cookie_and_file_checks(void **state)
{
    char longname[4100];

    assert_null(rw__cfg_check_cookie_name("JSESSIONID"));
    assert_null(rw__cfg_check_cookie_name("a.b[1]:c/d"));
    assert_non_null(rw__cfg_check_cookie_name(""));
    assert_non_null(rw__cfg_check_cookie_name("a=b"));
    assert_non_null(rw__cfg_check_cookie_name("a;b"));
    assert_non_null(rw__cfg_check_cookie_name("a&b"));
    assert_non_null(rw__cfg_check_cookie_name("a b"));
    assert_non_null(rw__cfg_check_cookie_name("a\tb"));
    assert_non_null(rw__cfg_check_cookie_name("a\x7f"));
    assert_null(rw__cfg_check_cookie_path("/"));
    assert_null(rw__cfg_check_cookie_path("/a b/c=d"));
    assert_string_equal(rw__cfg_check_cookie_path(""), "must start with '/'");
    assert_string_equal(rw__cfg_check_cookie_path("a/"), "must start with '/'");
    assert_non_null(rw__cfg_check_cookie_path("/a;b"));
    assert_non_null(rw__cfg_check_cookie_path("/a\r\n"));
    assert_null(rw__cfg_check_file("/etc/ringwall/key"));
    assert_null(rw__cfg_check_file("relative key"));
    assert_non_null(rw__cfg_check_file(""));
    assert_non_null(rw__cfg_check_file("/k\n"));
    memset(longname, 'k', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_string_equal(rw__cfg_check_file(longname), "must be shorter than 4096 bytes");
    longname[4095] = '\0';
    assert_null(rw__cfg_check_file(longname));
}

int test_units_group(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(durations_valid),
        cmocka_unit_test(durations_invalid),
        cmocka_unit_test(sizes_valid),
        cmocka_unit_test(sizes_invalid),
        cmocka_unit_test(addrs_valid),
        cmocka_unit_test(addrs_invalid),
        cmocka_unit_test(addr_reasons),
        cmocka_unit_test(syntax_checks),
        cmocka_unit_test(cookie_and_file_checks),
    };
    return cmocka_run_group_tests_name("config/units", t, NULL, NULL);
}
