/* SPDX-License-Identifier: MIT */
/* admin/alog_fmt.c: the JSON and combined line formats and request ids. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "admin/accesslog.h"
#include "test/unit/admin/tests.h"

static struct sockaddr_in client4(void)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(5555)};
    inet_pton(AF_INET, "192.0.2.7", &sin.sin_addr);
    return sin;
}

static struct rw_access_rec sample(const struct sockaddr_in *sin)
{
    return (struct rw_access_rec){
        .start = {.tv_sec = 1700000000, .tv_nsec = 123456789}, /* 2023-11-14T22:13:20.123Z */
        .request_id = "0123456789abcdef0123456789abcdef",
        .client = (const struct sockaddr *)sin,
        .method = "GETX",
        .method_len = 3,
        .path = "/a?b=1",
        .path_len = 6,
        .http_minor = 1,
        .status = 200,
        .bytes_sent = 1234,
        .bytes_received = 56,
        .duration_us = 12345,
        .upstream = "api",
        .server = "api-1",
        .upstream_us = 2001,
        .route = "default",
        .tls = "TLSv1.3",
        .referer = "http://x/",
        .referer_len = 9,
        .user_agent = "curl/8",
        .user_agent_len = 6,
    };
}

static void json_exact(void **state)
{
    struct sockaddr_in sin = client4();
    struct rw_access_rec r = sample(&sin);
    char buf[RW_ACCESSLOG_LINE_MAX];
    size_t n = rw_accesslog_format(RW_ACCESSLOG_JSON, &r, buf, sizeof(buf));
    buf[n] = '\0';
    assert_string_equal(buf,
                        "{\"time\":\"2023-11-14T22:13:20.123Z\",\"request_id\":"
                        "\"0123456789abcdef0123456789abcdef\",\"client\":\"192.0.2.7\","
                        "\"method\":\"GET\",\"path\":\"/a?b=1\",\"status\":200,\"bytes_sent\":1234,"
                        "\"bytes_received\":56,\"duration_ms\":12.345,\"upstream\":\"api\","
                        "\"server\":\"api-1\",\"upstream_ms\":2.001,\"route\":\"default\","
                        "\"tls\":\"TLSv1.3\"}\n");
    r.start.tv_sec = 951868799; /* leap day, last second */
    r.start.tv_nsec = 999999999;
    rw_accesslog_format(RW_ACCESSLOG_JSON, &r, buf, sizeof(buf));
    assert_memory_equal(buf, "{\"time\":\"2000-02-29T23:59:59.999Z\"", 34);
    r.start.tv_sec = 4102444800; /* 2100-01-01 */
    rw_accesslog_format(RW_ACCESSLOG_COMBINED, &r, buf, sizeof(buf));
    assert_memory_equal(buf, "192.0.2.7 - - [01/Jan/2100:00:00:00 +0000]", 42);
}

static void json_nulls_and_escapes(void **state)
{
    struct rw_access_rec r = {.start = {0},
                              .method = "GET",
                              .method_len = 3,
                              .path = "/q\"\\\x01\xff",
                              .path_len = 6,
                              .status = 502,
                              .upstream_us = -1};
    char buf[RW_ACCESSLOG_LINE_MAX];
    size_t n = rw_accesslog_format(RW_ACCESSLOG_JSON, &r, buf, sizeof(buf));
    assert_int_equal(buf[n - 1], '\n');
    json_error_t e;
    json_t *j = json_loadb(buf, n, 0, &e);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "path")), "/q\"\\\x01\xc3\xbf");
    assert_true(json_is_null(json_object_get(j, "upstream")));
    assert_true(json_is_null(json_object_get(j, "upstream_ms")));
    assert_true(json_is_null(json_object_get(j, "tls")));
    assert_true(json_is_null(json_object_get(j, "client")));
    assert_int_equal(json_integer_value(json_object_get(j, "status")), 502);
    static const char *const keys[] = {"time",        "request_id", "client",     "method",
                                       "path",        "status",     "bytes_sent", "bytes_received",
                                       "duration_ms", "upstream",   "server",     "upstream_ms",
                                       "route",       "tls"};
    assert_int_equal(json_object_size(j), sizeof(keys) / sizeof(keys[0]));
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        assert_non_null(json_object_get(j, keys[i]));
    json_decref(j);
}

static void json_client_cert(void **state)
{
    struct sockaddr_in sin = client4();
    struct rw_access_rec r = sample(&sin);
    uint8_t fp[32];
    for (int i = 0; i < 32; i++)
        fp[i] = (uint8_t)(i * 8 + 1);
    r.tls_client_subject = "CN=alice,O=Ringwall\\, \"Test\",C=US";
    r.tls_client_san = "DNS:alice.client, email:alice@example.com";
    r.tls_client_sha256 = fp;
    char buf[RW_ACCESSLOG_LINE_MAX];
    size_t n = rw_accesslog_format(RW_ACCESSLOG_JSON, &r, buf, sizeof(buf));
    buf[n] = '\0';
    const char *tail = strstr(buf, ",\"tls\":");
    assert_non_null(tail);
    assert_string_equal(tail,
                        ","
                        "\"tls\":\"TLSv1.3\","
                        "\"tls_client_subject\":\"CN=alice,O=Ringwall\\\\, \\\"Test\\\",C=US\","
                        "\"tls_client_san\":\"DNS:alice.client, email:alice@example.com\","
                        "\"tls_client_sha256\":\"0109111921293139414951596169717981899199a1a9"
                        "b1b9c1c9d1d9e1e9f1f9\"}\n");
    json_t *j = json_loadb(buf, n, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "tls_client_subject")),
                        r.tls_client_subject);
    json_decref(j);
    /* combined has no place for them */
    n = rw_accesslog_format(RW_ACCESSLOG_COMBINED, &r, buf, sizeof(buf));
    buf[n] = '\0';
    assert_null(strstr(buf, "alice"));
}

static void combined_exact(void **state)
{
    struct sockaddr_in sin = client4();
    struct rw_access_rec r = sample(&sin);
    char buf[RW_ACCESSLOG_LINE_MAX];
    size_t n = rw_accesslog_format(RW_ACCESSLOG_COMBINED, &r, buf, sizeof(buf));
    buf[n] = '\0';
    assert_string_equal(buf, "192.0.2.7 - - [14/Nov/2023:22:13:20 +0000] \"GET /a?b=1 HTTP/1.1\" "
                             "200 1234 \"http://x/\" \"curl/8\"\n");
    r.bytes_sent = 0;
    r.referer = NULL;
    r.user_agent = "a\"b";
    r.user_agent_len = 3;
    r.path = "/\x7f";
    r.path_len = 2;
    n = rw_accesslog_format(RW_ACCESSLOG_COMBINED, &r, buf, sizeof(buf));
    buf[n] = '\0';
    assert_string_equal(buf, "192.0.2.7 - - [14/Nov/2023:22:13:20 +0000] \"GET /\\x7f HTTP/1.1\" "
                             "200 - \"-\" \"a\\\"b\"\n");
}

static void long_fields_are_cut_whole(void **state)
{
    size_t plen = 100000;
    char *path = malloc(plen);
    memset(path, '"', plen); /* every byte needs an escape */
    path[plen - 1] = '\0';   /* and the NUL-terminated fields are long too */
    struct rw_access_rec r = {.method = "GET",
                              .method_len = 3,
                              .path = path,
                              .path_len = (uint32_t)plen,
                              .upstream_us = -1,
                              .user_agent = path,
                              .user_agent_len = (uint32_t)plen,
                              .request_id = path + plen - 500,
                              .route = path + plen - 500,
                              .upstream = path + plen - 500,
                              .server = path + plen - 500,
                              .tls = path + plen - 500,
                              .tls_client_subject = path,
                              .tls_client_san = path};
    char buf[RW_ACCESSLOG_LINE_MAX];
    for (int f = RW_ACCESSLOG_JSON; f <= RW_ACCESSLOG_COMBINED; f++) {
        size_t n = rw_accesslog_format(f, &r, buf, sizeof(buf));
        assert_true(n <= sizeof(buf));
        assert_int_equal(buf[n - 1], '\n');
        assert_null(memchr(buf, '\n', n - 1));
        if (f == RW_ACCESSLOG_JSON) {
            json_t *j = json_loadb(buf, n, 0, NULL);
            assert_non_null(j); /* still valid JSON */
            assert_true(json_string_length(json_object_get(j, "path")) > 1000);
            assert_true(json_string_length(json_object_get(j, "tls_client_san")) > 100);
            json_decref(j);
        }
    }
    free(path);
}

static int cmp_str(const void *a, const void *b)
{
    return memcmp(a, b, RW_REQID_LEN);
}

/* Ids are the prefix and the counter in hex; the counter is counted up in place,
 * with carries through its digits and a wrap at 2^64. */
static void reqids_count_in_hex(void **state)
{
    (void)state;
    struct rw_reqid g;
    char id[RW_REQID_LEN + 1], want[RW_REQID_LEN + 1];
    assert_int_equal(rw_reqid_init(&g), 0);
    for (int i = 0; i < 300; i++) {
        uint64_t ctr = g.counter;
        snprintf(want, sizeof(want), "%016llx%016llx", (unsigned long long)g.prefix,
                 (unsigned long long)ctr);
        rw_reqid_next(&g, id);
        assert_string_equal(id, want);
        assert_true(g.counter == ctr + 1);
    }
    const char *from[] = {"0fffffffffffffff", "00000000000009ff", "ffffffffffffffff"};
    const char *to[] = {"1000000000000000", "0000000000000a00", "0000000000000000"};
    for (int i = 0; i < 3; i++) {
        memcpy(g.hex + 16, from[i], 16);
        rw_reqid_next(&g, id);
        assert_memory_equal(id + 16, from[i], 16);
        rw_reqid_next(&g, id);
        assert_memory_equal(id + 16, to[i], 16);
    }
}

static void reqids_unique_hex(void **state)
{
    enum { N = 20000 };
    struct rw_reqid g[2];
    assert_int_equal(rw_reqid_init(&g[0]), 0);
    assert_int_equal(rw_reqid_init(&g[1]), 0);
    char(*ids)[RW_REQID_LEN + 1] = calloc(N, sizeof(*ids));
    for (int i = 0; i < N; i++) {
        rw_reqid_next(&g[i & 1], ids[i]);
        assert_int_equal(strlen(ids[i]), RW_REQID_LEN);
        assert_int_equal(strspn(ids[i], "0123456789abcdef"), RW_REQID_LEN);
    }
    qsort(ids, N, sizeof(*ids), cmp_str);
    for (int i = 1; i < N; i++)
        assert_int_not_equal(memcmp(ids[i - 1], ids[i], RW_REQID_LEN), 0);
    free(ids);
    struct timespec t0, t1;
    char id[RW_REQID_LEN + 1];
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 1000000; i++)
        rw_reqid_next(&g[0], id);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    struct rw_access_rec r = {.method = "GET",
                              .method_len = 3,
                              .path = "/x",
                              .path_len = 2,
                              .request_id = id,
                              .upstream_us = 100};
    char buf[RW_ACCESSLOG_LINE_MAX];
    struct timespec t2;
    for (int i = 0; i < 200000; i++)
        rw_accesslog_format(RW_ACCESSLOG_JSON, &r, buf, sizeof(buf));
    clock_gettime(CLOCK_MONOTONIC, &t2);
    print_message("reqid %.1f ns/id; json line format %.0f ns/line\n",
                  ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / 1e6,
                  ((t2.tv_sec - t1.tv_sec) * 1e9 + (t2.tv_nsec - t1.tv_nsec)) / 2e5);
}

int rw_test_alog_fmt(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(json_exact),          cmocka_unit_test(json_nulls_and_escapes),
        cmocka_unit_test(combined_exact),      cmocka_unit_test(long_fields_are_cut_whole),
        cmocka_unit_test(reqids_count_in_hex), cmocka_unit_test(reqids_unique_hex),
        cmocka_unit_test(json_client_cert),
    };
    return cmocka_run_group_tests_name("admin/alog_fmt", t, NULL, NULL);
}
