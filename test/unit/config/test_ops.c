/* SPDX-License-Identifier: MIT */
/* Tests for config/ops.c: admin, access_log, request_id and shutdown_timeout. */
#include "cfg-test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#define SRC RW_SOURCE_DIR "/"
#define TOKEN "0123456789abcdef" /* 16 bytes: the shortest token */

/* A minimal config with these top-level members. */
#define TOPS(members) "{" members ", " TCFG_MIN "}"

static uint16_t ops_port(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
    return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

static void ops_defaults(void **state)
{
    struct rw_cfg *cfg = tcfg_expect_ok("{" TCFG_MIN "}");

    assert_null(cfg->admin.socket);
    assert_int_equal(cfg->admin.mode, 0660);
    assert_null(cfg->admin.http);
    assert_int_equal(cfg->admin.http_addrlen, 0);
    assert_null(cfg->admin.token);
    assert_null(cfg->access_log.path);
    assert_int_equal(cfg->access_log.format, 0);
    assert_string_equal(cfg->request_id.header, "x-request-id");
    assert_true(cfg->request_id.trust_client);
    assert_int_equal(cfg->shutdown_timeout_ms, 30000);
    rw_cfg_free(cfg);
}

static void admin_every_key(void **state)
{
    struct rw_cfg *cfg =
        tcfg_expect_ok(TOPS("'admin': {'socket': '/run/ringwall/admin.sock', 'mode': '0600',"
                            " 'http': '0.0.0.0:9901', 'token': '" TOKEN "'}"));

    assert_string_equal(cfg->admin.socket, "/run/ringwall/admin.sock");
    assert_int_equal(cfg->admin.mode, 0600);
    assert_string_equal(cfg->admin.http, "0.0.0.0:9901");
    assert_int_equal(cfg->admin.http_addr.ss_family, AF_INET);
    assert_int_equal(cfg->admin.http_addrlen, sizeof(struct sockaddr_in));
    assert_int_equal(ops_port(&cfg->admin.http_addr), 9901);
    assert_string_equal(cfg->admin.token, TOKEN);
    rw_cfg_free(cfg);
}

/* Accepted "admin" objects: socket, mode and http values. */
static void admin_good_values(void **state)
{
    static const struct {
        const char *body;
        const char *socket;
        uint32_t mode;
        const char *http;
        int family;
    } t[] = {
        {"'socket': 'admin.sock'", "admin.sock", 0660, NULL, 0},
        {"'socket': 'run/a b/é.sock', 'mode': '600'", "run/a b/é.sock", 0600, NULL, 0},
        {"'socket': '/s', 'mode': '0777'", "/s", 0777, NULL, 0},
        {"'socket': '/s', 'mode': '777'", "/s", 0777, NULL, 0},
        {"'socket': '/s', 'mode': '0640'", "/s", 0640, NULL, 0},
        /* 107 bytes: the longest sun_path that keeps its NUL */
        {"'socket': '/"
         "0123456789012345678901234567890123456789012345678901234567890123456789"
         "012345678901234567890123456789012345'",
         "/0123456789012345678901234567890123456789012345678901234567890123456789"
         "012345678901234567890123456789012345",
         0660, NULL, 0},
        {"'http': '127.0.0.1:9901'", NULL, 0660, "127.0.0.1:9901", AF_INET},
        {"'http': '127.1.2.3:1'", NULL, 0660, "127.1.2.3:1", AF_INET},
        {"'http': 'localhost:9901'", NULL, 0660, "localhost:9901", AF_INET},
        {"'http': '[::1]:9901'", NULL, 0660, "[::1]:9901", AF_INET6},
        {"'http': '[::ffff:127.0.0.1]:9901'", NULL, 0660, "[::ffff:127.0.0.1]:9901", AF_INET6},
        {"'http': '*:9901', 'token': '" TOKEN "'", NULL, 0660, "*:9901", AF_INET},
        {"'http': '[::]:9901', 'token': '" TOKEN "'", NULL, 0660, "[::]:9901", AF_INET6},
        {"'socket': '/s', 'http': '[::1]:1', 'mode': '0660'", "/s", 0660, "[::1]:1", AF_INET6},
    };

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char json[1024];
        struct rw_cfg *cfg;

        snprintf(json, sizeof(json), TOPS("'admin': {%s}"), t[i].body);
        cfg = tcfg_expect_ok(json);
        if (t[i].socket)
            assert_string_equal(cfg->admin.socket, t[i].socket);
        else
            assert_null(cfg->admin.socket);
        assert_int_equal(cfg->admin.mode, t[i].mode);
        if (t[i].http) {
            assert_string_equal(cfg->admin.http, t[i].http);
            assert_int_equal(cfg->admin.http_addr.ss_family, t[i].family);
        } else {
            assert_null(cfg->admin.http);
        }
        rw_cfg_free(cfg);
    }
}

/* Printable ASCII 0x21..0x7e, 16..256 bytes. */
static void admin_tokens(void **state)
{
    char tok[257], json[1024];
    struct rw_cfg *cfg;

    memset(tok, 'x', 256);
    tok[256] = '\0';
    snprintf(json, sizeof(json), TOPS("'admin': {'http': '*:1', 'token': '%s'}"), tok);
    cfg = tcfg_expect_ok(json);
    assert_int_equal(strlen(cfg->admin.token), 256);
    rw_cfg_free(cfg);
    cfg =
        tcfg_expect_ok(TOPS("'admin': {'http': '*:1', 'token': '!~#$%&()*+,-./:;<=>?@[]^_`{|}'}"));
    assert_string_equal(cfg->admin.token, "!~#$%&()*+,-./:;<=>?@[]^_`{|}");
    rw_cfg_free(cfg);
    /* a token on a loopback listener is fine too */
    cfg = tcfg_expect_ok(TOPS("'admin': {'http': '127.0.0.1:1', 'token': '" TOKEN "'}"));
    assert_string_equal(cfg->admin.token, TOKEN);
    rw_cfg_free(cfg);
}

static void access_log_values(void **state)
{
    static const struct {
        const char *body;
        const char *path;
        uint8_t format;
    } t[] = {
        {"'path': 'stdout'", "stdout", 0},
        {"'path': '/var/log/ringwall/access.log', 'format': 'combined'",
         "/var/log/ringwall/access.log", 1},
        {"'path': 'logs/access.log', 'format': 'json'", "logs/access.log", 0},
    };

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char json[1024];
        struct rw_cfg *cfg;

        snprintf(json, sizeof(json), TOPS("'access_log': {%s}"), t[i].body);
        cfg = tcfg_expect_ok(json);
        assert_string_equal(cfg->access_log.path, t[i].path);
        assert_int_equal(cfg->access_log.format, t[i].format);
        rw_cfg_free(cfg);
    }
}

static void request_id_values(void **state)
{
    static const struct {
        const char *value;
        const char *header; /* NULL: off */
        bool trust;
    } t[] = {
        {"false", NULL, false},
        {"true", "x-request-id", true},
        {"{}", "x-request-id", true},
        {"{'header': 'X-Trace-ID'}", "x-trace-id", true},
        {"{'trust_client': false}", "x-request-id", false},
        {"{'header': 'Request-Id', 'trust_client': true}", "request-id", true},
    };

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char json[1024];
        struct rw_cfg *cfg;

        snprintf(json, sizeof(json), TOPS("'request_id': %s"), t[i].value);
        cfg = tcfg_expect_ok(json);
        if (t[i].header)
            assert_string_equal(cfg->request_id.header, t[i].header);
        else
            assert_null(cfg->request_id.header);
        assert_int_equal(cfg->request_id.trust_client, t[i].trust);
        rw_cfg_free(cfg);
    }
}

static void shutdown_timeout_values(void **state)
{
    static const struct {
        const char *value;
        uint32_t ms;
    } t[] = {
        {"'1ms'", 1},     {"'250ms'", 250},    {"'5s'", 5000},
        {"'30s'", 30000}, {"'24h'", 86400000}, {"'1d'", 86400000},
    };

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char json[1024];
        struct rw_cfg *cfg;

        snprintf(json, sizeof(json), TOPS("'shutdown_timeout': %s"), t[i].value);
        cfg = tcfg_expect_ok(json);
        assert_int_equal(cfg->shutdown_timeout_ms, t[i].ms);
        rw_cfg_free(cfg);
    }
}

#define A "cfg.json: $.admin"
#define MODE_MSG                                                                                   \
    "must be an octal string \"0600\"..\"0777\" like \"0660\" (a string, so it reads as octal; "   \
    "the owner keeps read and write)"
#define LOOPBACK_MSG                                                                               \
    "a non-loopback admin listener needs a token (set \"token\", or listen on 127.0.0.1 or "       \
    "[::1])"
#define TOKEN_LEN "must be 16..256 characters long, got a string of "

static const struct bad {
    const char *json;
    const char *msg;
} bad_ops[] = {
    /* admin: shape and keys */
    {TOPS("'admin': '/run/a.sock'"), A ": must be an object, got \"/run/a.sock\""},
    {TOPS("'admin': {}"), A ": must have \"socket\" or \"http\" (or leave \"admin\" out), got {}"},
    {TOPS("'admin': {'sockt': '/s'}"), A ".sockt: unknown key; did you mean socket?"},
    {TOPS("'admin': {'socket': '/s', 'tokn': 'x'}"), A ".tokn: unknown key; did you mean token?"},
    {TOPS("'admin': {'mode': '0660'}"), A ": must have \"socket\" or \"http\""},
    {TOPS("'admin': {'http': '127.0.0.1:1', 'mode': '0660'}"),
     A ".mode: only with \"socket\" (it is the socket file's mode)"},
    {TOPS("'admin': {'socket': '/s', 'token': '" TOKEN "'}"),
     A ".token: only with \"http\" (it guards control commands over HTTP)"},
    /* socket */
    {TOPS("'admin': {'socket': ''}"), A ".socket: must not be empty, got \"\""},
    {TOPS("'admin': {'socket': 5}"), A ".socket: must be a string, got 5"},
    {TOPS("'admin': {'socket': null}"), A ".socket: must be a string, got null"},
    {TOPS("'admin': {'socket': '/run/a\\nb'}"),
     A ".socket: must not contain control characters, got \"/run/a\\nb\""},
    {TOPS("'admin': {'socket': '/run/a\\u007f'}"), A ".socket: must not contain control"},
    {TOPS("'admin': {'socket': '/run/ringwall/'}"),
     A ".socket: must name a file, not a directory (it ends in '/'), got \"/run/ringwall/\""},
    {TOPS("'admin': {'socket': '/"
          "0123456789012345678901234567890123456789012345678901234567890123"
          "4567890123456789012345678901234567890123456'}"),
     A ".socket: must be at most 107 bytes (the limit of a Unix socket address), got \"/0123"},
    {TOPS("'admin': {'socket': '/a\\u0000b'}"), "JSON syntax error"},
    /* mode */
    {TOPS("'admin': {'socket': '/s', 'mode': 660}"), A ".mode: " MODE_MSG ", got 660"},
    {TOPS("'admin': {'socket': '/s', 'mode': 432}"), A ".mode: " MODE_MSG ", got 432"},
    {TOPS("'admin': {'socket': '/s', 'mode': '0800'}"), A ".mode: " MODE_MSG ", got \"0800\""},
    {TOPS("'admin': {'socket': '/s', 'mode': '0500'}"), A ".mode: " MODE_MSG ", got \"0500\""},
    {TOPS("'admin': {'socket': '/s', 'mode': '0000'}"), A ".mode: " MODE_MSG},
    {TOPS("'admin': {'socket': '/s', 'mode': '1777'}"), A ".mode: " MODE_MSG ", got \"1777\""},
    {TOPS("'admin': {'socket': '/s', 'mode': '04660'}"), A ".mode: " MODE_MSG},
    {TOPS("'admin': {'socket': '/s', 'mode': '66'}"), A ".mode: " MODE_MSG},
    {TOPS("'admin': {'socket': '/s', 'mode': ''}"), A ".mode: " MODE_MSG ", got \"\""},
    {TOPS("'admin': {'socket': '/s', 'mode': ' 660'}"), A ".mode: " MODE_MSG},
    {TOPS("'admin': {'socket': '/s', 'mode': '0x1b0'}"), A ".mode: " MODE_MSG},
    {TOPS("'admin': {'socket': '/s', 'mode': '-660'}"), A ".mode: " MODE_MSG},
    /* http */
    {TOPS("'admin': {'http': '9901'}"),
     A ".http: must end in \":port\" with a port 1..65535, got \"9901\""},
    {TOPS("'admin': {'http': ':9901'}"), A ".http: must be \"host:port\""},
    {TOPS("'admin': {'http': '127.0.0.1:0'}"), A ".http: must end in \":port\""},
    {TOPS("'admin': {'http': 'admin.local:9901'}"),
     A ".http: must be an IP address, * or localhost (host names are not resolved"},
    {TOPS("'admin': {'http': 9901}"),
     A ".http: must be a string like \"127.0.0.1:8080\", got 9901"},
    {TOPS("'admin': {'http': '0.0.0.0:9901'}"), A ".http: " LOOPBACK_MSG ", got \"0.0.0.0:9901\""},
    {TOPS("'admin': {'http': '*:9901'}"), A ".http: " LOOPBACK_MSG ", got \"*:9901\""},
    {TOPS("'admin': {'http': '[::]:9901'}"), A ".http: " LOOPBACK_MSG},
    {TOPS("'admin': {'http': '10.0.0.1:9901'}"), A ".http: " LOOPBACK_MSG},
    {TOPS("'admin': {'http': '128.0.0.1:9901'}"), A ".http: " LOOPBACK_MSG},
    {TOPS("'admin': {'http': '[::2]:9901'}"), A ".http: " LOOPBACK_MSG},
    {TOPS("'admin': {'http': '[::ffff:10.0.0.1]:9901'}"), A ".http: " LOOPBACK_MSG},
    /* token: never echoed */
    {TOPS("'admin': {'http': '*:1', 'token': 'short'}"),
     A ".token: " TOKEN_LEN "5 bytes (not shown"},
    {TOPS("'admin': {'http': '*:1', 'token': ''}"), A ".token: " TOKEN_LEN "0 bytes"},
    {TOPS("'admin': {'http': '*:1', 'token': '0123456789abcde'}"), A ".token: " TOKEN_LEN "15 "},
    {TOPS("'admin': {'http': '*:1', 'token': '0123456789 abcdef'}"),
     A ".token: must be printable ASCII without spaces, got a string of 17 bytes (not shown: it "
       "is a secret)"},
    {TOPS("'admin': {'http': '*:1', 'token': '0123456789abcdef\\t'}"),
     A ".token: must be printable ASCII without spaces"},
    {TOPS("'admin': {'http': '*:1', 'token': '0123456789abcdef\\u007f'}"),
     A ".token: must be printable ASCII without spaces"},
    {TOPS("'admin': {'http': '*:1', 'token': '0123456789abcdefé'}"),
     A ".token: must be printable ASCII without spaces"},
    {TOPS("'admin': {'http': '*:1', 'token': 12345678901234567}"),
     A ".token: must be a string, got a JSON number (not shown: it is a secret)"},
    {TOPS("'admin': {'http': '*:1', 'token': null}"),
     A ".token: must be a string, got a JSON literal"},
    /* a bad token does not add the loopback error, and a bad http address no token error */
    {TOPS("'admin': {'http': '*:1', 'token': 5}"), A ".token: must be a string"},
    /* access_log */
    {TOPS("'access_log': 'stdout'"), "cfg.json: $.access_log: must be an object, got \"stdout\""},
    {TOPS("'access_log': {}"),
     "cfg.json: $.access_log.path: required key is missing (a file name or \"stdout\")"},
    {TOPS("'access_log': {'format': 'json'}"), "$.access_log.path: required key is missing"},
    {TOPS("'access_log': {'path': ''}"), "$.access_log.path: must not be empty, got \"\""},
    {TOPS("'access_log': {'path': 1}"), "$.access_log.path: must be a string, got 1"},
    {TOPS("'access_log': {'path': '/var/log/a\\rb'}"),
     "$.access_log.path: must not contain control characters"},
    {TOPS("'access_log': {'path': 'stdout', 'format': 'clf'}"),
     "$.access_log.format: must be one of \"json\", \"combined\", got \"clf\""},
    {TOPS("'access_log': {'path': 'stdout', 'format': 'JSON'}"),
     "$.access_log.format: must be one of \"json\", \"combined\", got \"JSON\""},
    {TOPS("'access_log': {'path': 'stdout', 'fromat': 'json'}"),
     "$.access_log.fromat: unknown key; did you mean format?"},
    /* request_id */
    {TOPS("'request_id': 'x-request-id'"),
     "cfg.json: $.request_id: must be an object like {\"header\": \"x-request-id\"}, or false, "
     "got \"x-request-id\""},
    {TOPS("'request_id': null"), "$.request_id: must be an object like"},
    {TOPS("'request_id': {'header': ''}"),
     "$.request_id.header: must be a header name (a token), got \"\""},
    {TOPS("'request_id': {'header': 'x request id'}"),
     "$.request_id.header: must be a header name"},
    {TOPS("'request_id': {'header': 'x-id:'}"), "$.request_id.header: must be a header name"},
    {TOPS("'request_id': {'header': 'Content-Length'}"),
     "$.request_id.header: must not be host or a framing or hop-by-hop header, got "
     "\"Content-Length\""},
    {TOPS("'request_id': {'header': 'host'}"), "$.request_id.header: must not be host"},
    {TOPS("'request_id': {'header': 'connection'}"), "$.request_id.header: must not be host"},
    {TOPS("'request_id': {'trust_client': 'yes'}"),
     "$.request_id.trust_client: must be true or false, got \"yes\""},
    {TOPS("'request_id': {'trust': true}"), "$.request_id.trust: unknown key"},
    /* shutdown_timeout */
    {TOPS("'shutdown_timeout': 30"),
     "cfg.json: $.shutdown_timeout: must be a duration like \"10s\""},
    {TOPS("'shutdown_timeout': '0s'"), "$.shutdown_timeout: must be greater than 0, got \"0s\""},
    {TOPS("'shutdown_timeout': '1.5s'"), "$.shutdown_timeout: must be a duration like \"10s\""},
    {TOPS("'shutdown_timeout': '86400001ms'"),
     "$.shutdown_timeout: must be at most 24h, got \"86400001ms\""},
    {TOPS("'shutdown_timeout': '2d'"), "$.shutdown_timeout: must be at most 24h, got \"2d\""},
    {TOPS("'shutdown_timeout': '30d'"), "$.shutdown_timeout: must be at most 24d"},
    {TOPS("'shutdown_timeot': '30s'"),
     "$.shutdown_timeot: unknown key; did you mean shutdown_timeout?"},
    {TOPS("'acces_log': {}"), "$.acces_log: unknown key; did you mean access_log?"},
    {TOPS("'requestid': false"), "$.requestid: unknown key; did you mean request_id?"},
    {TOPS("'admn': {}"), "$.admn: unknown key; did you mean admin?"},
};

static void bad_values(void **state)
{
    for (size_t i = 0; i < sizeof(bad_ops) / sizeof(bad_ops[0]); i++)
        tcfg_expect_err(bad_ops[i].json, bad_ops[i].msg);
}

/* Exactly one message for each of these (no follow-on errors). */
static void one_error_each(void **state)
{
    static const char *const t[] = {
        TOPS("'admin': {'http': '*:1', 'token': 5}"),
        TOPS("'admin': {'http': 'x:1', 'token': '" TOKEN "'}"),
        TOPS("'admin': {'mode': '0660'}"),
        TOPS("'admin': {'http': '127.0.0.1:1', 'mode': 660}"),
        TOPS("'admin': {'http': '0.0.0.0:1'}"),
    };

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct rw_cfg_errs errs = {0};
        struct rw_cfg *cfg = NULL;

        assert_int_equal(tcfg_load(t[i], &cfg, &errs), -EINVAL);
        assert_int_equal(errs.n, 1);
        rw_cfg_errs_clear(&errs);
    }
}

/* No message ever carries the token's text, whatever is wrong around it. */
static void token_never_printed(void **state)
{
    static const char *const t[] = {
        TOPS("'admin': {'http': '*:1', 'token': 'secret-secret!'}"),
        TOPS("'admin': {'http': '*:1', 'token': 'secret-secret! and more'}"),
        TOPS("'admin': {'socket': '/s', 'token': 'secret-secret-secret'}"),
        TOPS("'admin': {'socket': 1, 'token': 'secret-secret-secret', 'bogus': 1}"),
    };

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct rw_cfg_errs errs = {0};
        struct rw_cfg *cfg = NULL;

        assert_int_equal(tcfg_load(t[i], &cfg, &errs), -EINVAL);
        assert_true(errs.n > 0);
        assert_false(tcfg_has(&errs, "secret-"));
        rw_cfg_errs_clear(&errs);
    }
}

/* The issue-6 keys of examples/reference.json reach their fields. */
static void reference_ops(void **state)
{
    struct rw_cfg_errs errs = {0};
    struct rw_cfg *cfg = NULL;
    int rc = rw_cfg_load_file(SRC "examples/reference.json", &cfg, &errs);

    for (uint32_t i = 0; i < errs.n; i++)
        fprintf(stderr, "  error: %s\n", errs.msg[i]);
    assert_int_equal(rc, 0);
    assert_string_equal(cfg->admin.socket, "/run/ringwall/admin.sock");
    assert_int_equal(cfg->admin.mode, 0660);
    assert_string_equal(cfg->admin.http, "127.0.0.1:9901");
    assert_int_equal(ops_port(&cfg->admin.http_addr), 9901);
    assert_non_null(cfg->admin.token);
    assert_string_equal(cfg->access_log.path, "/var/log/ringwall/access.log");
    assert_int_equal(cfg->access_log.format, 0);
    assert_string_equal(cfg->request_id.header, "x-request-id");
    assert_true(cfg->request_id.trust_client);
    assert_int_equal(cfg->shutdown_timeout_ms, 30000);
    rw_cfg_free(cfg);
}

int test_ops_group(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(ops_defaults),
        cmocka_unit_test(admin_every_key),
        cmocka_unit_test(admin_good_values),
        cmocka_unit_test(admin_tokens),
        cmocka_unit_test(access_log_values),
        cmocka_unit_test(request_id_values),
        cmocka_unit_test(shutdown_timeout_values),
        cmocka_unit_test(bad_values),
        cmocka_unit_test(one_error_each),
        cmocka_unit_test(token_never_printed),
        cmocka_unit_test(reference_ops),
    };
    return cmocka_run_group_tests_name("config/ops", t, NULL, NULL);
}
