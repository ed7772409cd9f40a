/* SPDX-License-Identifier: MIT */
/* Tests for config/sticky.c: the three modes, their defaults, and every refused value. */
#include "cfg-test.h"

#include <stdio.h>
#include <string.h>

/* One upstream "a" with "sticky": {body}. */
#define TST(body)                                                                                  \
    "{'upstreams': {'a': {'servers': [{'address': '*:1'}], 'sticky': {" body "}}}, " TCFG_MIN "}"

static const struct rw_cfg_sticky *st_of(const struct rw_cfg *cfg)
{
    return &cfg->upstreams[0].sticky;
}

static void sticky_absent(void **state)
{
    struct rw_cfg *cfg =
        tcfg_expect_ok("{'upstreams': {'a': {'servers': [{'address': '*:1'}]}}, " TCFG_MIN "}");

    assert_int_equal(st_of(cfg)->mode, RW_STICKY_NONE);
    assert_null(st_of(cfg)->name);
    assert_null(st_of(cfg)->cookie);
    assert_null(st_of(cfg)->path);
    assert_null(st_of(cfg)->key_file);
    rw_cfg_free(cfg);
}

static void cookie_defaults(void **state)
{
    struct rw_cfg *cfg = tcfg_expect_ok(TST("'mode': 'cookie'"));
    const struct rw_cfg_sticky *st = st_of(cfg);

    assert_int_equal(st->mode, RW_STICKY_COOKIE);
    assert_string_equal(st->name, "rw_s");
    assert_int_equal(st->ttl_ms, 3600000);
    assert_int_equal(st->idle_ms, 1800000);
    assert_int_equal(st->secure, -1);
    assert_true(st->http_only);
    assert_int_equal(st->same_site, RW_SAME_SITE_LAX);
    assert_string_equal(st->path, "/");
    assert_null(st->key_file);
    assert_null(st->cookie);
    rw_cfg_free(cfg);
}

static void cookie_every_key(void **state)
{
    struct rw_cfg *cfg = tcfg_expect_ok(
        TST("'mode': 'cookie', 'name': 'SRV_id', 'ttl': '2h', 'idle': '10m', 'secure': true,"
            " 'http_only': false, 'same_site': 'none', 'path': '/app x/', 'key_file':"
            " '/etc/ringwall/sticky.key'"));
    const struct rw_cfg_sticky *st = st_of(cfg);

    assert_int_equal(st->mode, RW_STICKY_COOKIE);
    assert_string_equal(st->name, "SRV_id");
    assert_int_equal(st->ttl_ms, 7200000);
    assert_int_equal(st->idle_ms, 600000);
    assert_int_equal(st->secure, 1);
    assert_false(st->http_only);
    assert_int_equal(st->same_site, RW_SAME_SITE_NONE);
    assert_string_equal(st->path, "/app x/");
    assert_string_equal(st->key_file, "/etc/ringwall/sticky.key");
    rw_cfg_free(cfg);
}

static void cookie_same_site_any_case(void **state)
{
    static const struct {
        const char *body;
        uint8_t same_site;
        int8_t secure;
    } t[] = {
        {"'mode': 'cookie', 'same_site': 'Lax'", RW_SAME_SITE_LAX, -1},
        {"'mode': 'cookie', 'same_site': 'lAX', 'secure': false", RW_SAME_SITE_LAX, 0},
        {"'mode': 'cookie', 'same_site': 'STRICT'", RW_SAME_SITE_STRICT, -1},
        {"'mode': 'cookie', 'same_site': 'Strict', 'secure': true", RW_SAME_SITE_STRICT, 1},
        {"'mode': 'cookie', 'secure': true, 'same_site': 'None'", RW_SAME_SITE_NONE, 1},
    };

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char json[1024];
        struct rw_cfg *cfg;

        snprintf(json, sizeof(json), TST("%s"), t[i].body);
        cfg = tcfg_expect_ok(json);
        assert_int_equal(st_of(cfg)->same_site, t[i].same_site);
        assert_int_equal(st_of(cfg)->secure, t[i].secure);
        rw_cfg_free(cfg);
    }
}

static void learn_and_ip(void **state)
{
    struct rw_cfg *cfg =
        tcfg_expect_ok(TST("'mode': 'learn', 'cookie': 'JSESSIONID', 'idle': '5m', 'table_size':"
                           " 1024"));
    const struct rw_cfg_sticky *st = st_of(cfg);

    assert_int_equal(st->mode, RW_STICKY_LEARN);
    assert_string_equal(st->cookie, "JSESSIONID");
    assert_int_equal(st->idle_ms, 300000);
    assert_int_equal(st->table_size, 1024);
    assert_null(st->name);
    assert_null(st->path);
    rw_cfg_free(cfg);
    cfg = tcfg_expect_ok(TST("'mode': 'learn', 'cookie': 'app.sid[1]'"));
    assert_string_equal(st_of(cfg)->cookie, "app.sid[1]");
    assert_int_equal(st_of(cfg)->idle_ms, 1800000);
    assert_int_equal(st_of(cfg)->table_size, 65536);
    rw_cfg_free(cfg);
    cfg = tcfg_expect_ok(TST("'mode': 'ip'"));
    assert_int_equal(st_of(cfg)->mode, RW_STICKY_IP);
    assert_int_equal(st_of(cfg)->idle_ms, 1800000);
    assert_int_equal(st_of(cfg)->table_size, 65536);
    assert_null(st_of(cfg)->cookie);
    rw_cfg_free(cfg);
    cfg = tcfg_expect_ok(TST("'mode': 'ip', 'idle': '1h', 'table_size': 16777216"));
    assert_int_equal(st_of(cfg)->idle_ms, 3600000);
    assert_int_equal(st_of(cfg)->table_size, 16777216);
    rw_cfg_free(cfg);
}

#define P "$.upstreams.a.sticky"
#define COOKIE_KEYS "(its keys: name, ttl, idle, secure, http_only, same_site, path, key_file)"

static const struct bad {
    const char *json;
    const char *msg;
} bad_sticky[] = {
    {"{'upstreams': {'a': {'servers': [{'address': '*:1'}], 'sticky': 'cookie'}}, " TCFG_MIN "}",
     "cfg.json: " P ": must be an object, got \"cookie\""},
    /* mode */
    {TST(""), "cfg.json: " P ".mode: required key is missing (\"cookie\", \"learn\" or \"ip\")"},
    {TST("'idle': '1m'"), P ".mode: required key is missing"},
    {TST("'mode': 'session'"),
     P ".mode: must be one of \"cookie\", \"learn\", \"ip\", got \"session\""},
    {TST("'mode': 'Cookie'"), P ".mode: must be one of \"cookie\", \"learn\", \"ip\""},
    {TST("'mode': 5"), P ".mode: must be one of \"cookie\", \"learn\", \"ip\", got 5"},
    /* keys of another mode, and unknown keys */
    {TST("'mode': 'ip', 'ttl': '1h'"),
     P ".ttl: not allowed with \"mode\": \"ip\" (its keys: idle, table_size)"},
    {TST("'mode': 'ip', 'cookie': 'sid'"), P ".cookie: not allowed with \"mode\": \"ip\""},
    {TST("'mode': 'cookie', 'table_size': 2048"),
     P ".table_size: not allowed with \"mode\": \"cookie\" " COOKIE_KEYS},
    {TST("'mode': 'cookie', 'cookie': 'sid'"), P ".cookie: not allowed with \"mode\": \"cookie\""},
    {TST("'mode': 'learn', 'cookie': 'sid', 'name': 'x'"),
     P ".name: not allowed with \"mode\": \"learn\" (its keys: cookie, idle, table_size)"},
    {TST("'mode': 'learn', 'cookie': 'sid', 'same_site': 'Lax'"),
     P ".same_site: not allowed with \"mode\": \"learn\""},
    {TST("'mode': 'cookie', 'nmae': 'x'"), P ".nmae: unknown key; did you mean name?"},
    {TST("'mode': 'cookie', 'domain': 'x'"), P ".domain: unknown key"},
    /* learn */
    {TST("'mode': 'learn'"),
     P ".cookie: required key is missing (the application's session cookie, like "
       "\"JSESSIONID\")"},
    {TST("'mode': 'learn', 'cookie': ''"), P ".cookie: must not be empty, got \"\""},
    {TST("'mode': 'learn', 'cookie': 'a=b'"),
     P ".cookie: must not contain ';', '=', '&', spaces or control characters, got \"a=b\""},
    {TST("'mode': 'learn', 'cookie': 'a b'"), P ".cookie: must not contain ';'"},
    {TST("'mode': 'learn', 'cookie': 'a;'"), P ".cookie: must not contain ';'"},
    {TST("'mode': 'learn', 'cookie': 7"), P ".cookie: must be a string, got 7"},
    /* table_size, idle */
    {TST("'mode': 'ip', 'table_size': 1023"),
     P ".table_size: must be an integer 1024..16777216, got 1023"},
    {TST("'mode': 'learn', 'cookie': 's', 'table_size': 16777217"),
     P ".table_size: must be an integer 1024..16777216, got 16777217"},
    {TST("'mode': 'ip', 'idle': 60"), P ".idle: must be a duration like \"10s\""},
    {TST("'mode': 'ip', 'idle': '0ms'"), P ".idle: must be greater than 0, got \"0ms\""},
    /* cookie mode */
    {TST("'mode': 'cookie', 'name': 'my cookie'"),
     P ".name: must be a token (letters, digits and !#$%&'*+-.^_`|~), got \"my cookie\""},
    {TST("'mode': 'cookie', 'name': ''"), P ".name: must be a token"},
    {TST("'mode': 'cookie', 'name': 'a=b'"), P ".name: must be a token"},
    {TST("'mode': 'cookie', 'ttl': '1.5h'"), P ".ttl: must be a duration like \"10s\""},
    {TST("'mode': 'cookie', 'ttl': '30d'"), P ".ttl: must be at most 24d, got \"30d\""},
    {TST("'mode': 'cookie', 'secure': 'yes'"), P ".secure: must be true or false, got \"yes\""},
    {TST("'mode': 'cookie', 'secure': null"), P ".secure: must be true or false, got null"},
    {TST("'mode': 'cookie', 'http_only': 1"), P ".http_only: must be true or false, got 1"},
    {TST("'mode': 'cookie', 'same_site': 'lax '"),
     P ".same_site: must be one of \"Lax\", \"Strict\", \"None\" (any case), got \"lax \""},
    {TST("'mode': 'cookie', 'same_site': true"), P ".same_site: must be one of \"Lax\""},
    {TST("'mode': 'cookie', 'same_site': 'None'"),
     P ".same_site: \"None\" needs \"secure\": true (browsers refuse SameSite=None without "
       "Secure), got \"None\""},
    {TST("'mode': 'cookie', 'same_site': 'none', 'secure': false"),
     P ".same_site: \"None\" needs \"secure\": true"},
    {TST("'mode': 'cookie', 'path': 'app'"), P ".path: must start with '/', got \"app\""},
    {TST("'mode': 'cookie', 'path': ''"), P ".path: must start with '/'"},
    {TST("'mode': 'cookie', 'path': '/a;b'"),
     P ".path: must not contain ';' or control characters, got \"/a;b\""},
    {TST("'mode': 'cookie', 'path': '/a\\u007f'"), P ".path: must not contain ';'"},
    {TST("'mode': 'cookie', 'key_file': ''"), P ".key_file: must not be empty, got \"\""},
    {TST("'mode': 'cookie', 'key_file': '/k\\n'"),
     P ".key_file: must not contain control characters"},
    {TST("'mode': 'cookie', 'key_file': 5"), P ".key_file: must be a string, got 5"},
};

static void bad_stickies(void **state)
{
    for (size_t i = 0; i < sizeof(bad_sticky) / sizeof(bad_sticky[0]); i++)
        tcfg_expect_err(bad_sticky[i].json, bad_sticky[i].msg);
}

int test_sticky_group(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(sticky_absent),    cmocka_unit_test(cookie_defaults),
        cmocka_unit_test(cookie_every_key), cmocka_unit_test(cookie_same_site_any_case),
        cmocka_unit_test(learn_and_ip),     cmocka_unit_test(bad_stickies),
    };
    return cmocka_run_group_tests_name("config/sticky", t, NULL, NULL);
}
