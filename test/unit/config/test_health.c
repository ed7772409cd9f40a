/* SPDX-License-Identifier: MIT */
/* Tests for config/health.c: "health_check" and "passive" values, defaults and refusals. */
#include "cfg-test.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* One upstream "a" with "health_check": {body} / "passive": {body}. */
#define THC(body)                                                                                  \
    "{'upstreams': {'a': {'servers': [{'address': '*:1'}], 'health_check': {" body                 \
    "}}}, " TCFG_MIN "}"
#define TPS(body)                                                                                  \
    "{'upstreams': {'a': {'servers': [{'address': '*:1'}], 'passive': {" body "}}}, " TCFG_MIN "}"

static const struct rw_cfg_health *hc_of(const struct rw_cfg *cfg)
{
    return &cfg->upstreams[0].health;
}

static const struct rw_cfg_passive *ps_of(const struct rw_cfg *cfg)
{
    return &cfg->upstreams[0].passive;
}

/* Exactly the codes lo..hi (and nothing else in 100..599) are in bm. */
static void assert_status_range(const uint64_t *bm, unsigned lo, unsigned hi)
{
    for (unsigned s = 100; s <= 599; s++) {
        if (rw_cfg_status_has(bm, s) != (s >= lo && s <= hi))
            fail_msg("status %u: expected %s", s, s >= lo && s <= hi ? "set" : "clear");
    }
}

static void absent_means_disabled(void **state)
{
    struct rw_cfg *cfg =
        tcfg_expect_ok("{'upstreams': {'a': {'servers': [{'address': '*:1'}]}}, " TCFG_MIN "}");
    const struct rw_cfg_health *h = hc_of(cfg);
    const struct rw_cfg_passive *p = ps_of(cfg);

    assert_false(h->enabled);
    assert_null(h->path);
    assert_null(h->method);
    assert_null(h->host);
    assert_null(h->expect_body);
    assert_false(p->enabled);
    assert_int_equal(p->consecutive_errors, 5);
    assert_int_equal(cfg->upstreams[0].panic_threshold, 0);
    rw_cfg_free(cfg);
}

static void health_defaults(void **state)
{
    struct rw_cfg *cfg = tcfg_expect_ok(THC(""));
    const struct rw_cfg_health *h = hc_of(cfg);

    assert_true(h->enabled);
    assert_int_equal(h->type, RW_CFG_HC_HTTP);
    assert_string_equal(h->path, "/");
    assert_string_equal(h->method, "GET");
    assert_null(h->host);
    assert_status_range(h->expect_status, 200, 399);
    assert_null(h->expect_body);
    assert_int_equal(h->interval_ms, 2000);
    assert_int_equal(h->timeout_ms, 1000);
    assert_int_equal(h->rise, 2);
    assert_int_equal(h->fall, 3);
    assert_int_equal(h->jitter_pct, 10);
    assert_int_equal(h->port, 0);
    rw_cfg_free(cfg);
}

static void health_every_key(void **state)
{
    struct rw_cfg *cfg = tcfg_expect_ok(
        THC("'type': 'http', 'path': '/healthz?full=1', 'method': 'HEAD', 'host':"
            " 'app.internal:8080', 'expect_status': [200, 204], 'expect_body': 'ok \\'fine\\'',"
            " 'interval': '5s', 'timeout': '5s', 'rise': 1, 'fall': 100, 'jitter': '50%',"
            " 'port': 65535"));
    const struct rw_cfg_health *h = hc_of(cfg);

    assert_int_equal(h->type, RW_CFG_HC_HTTP);
    assert_string_equal(h->path, "/healthz?full=1");
    assert_string_equal(h->method, "HEAD");
    assert_string_equal(h->host, "app.internal:8080");
    assert_true(rw_cfg_status_has(h->expect_status, 200));
    assert_true(rw_cfg_status_has(h->expect_status, 204));
    assert_false(rw_cfg_status_has(h->expect_status, 201));
    assert_false(rw_cfg_status_has(h->expect_status, 301));
    assert_string_equal(h->expect_body, "ok \"fine\"");
    assert_int_equal(h->interval_ms, 5000);
    assert_int_equal(h->timeout_ms, 5000);
    assert_int_equal(h->rise, 1);
    assert_int_equal(h->fall, 100);
    assert_int_equal(h->jitter_pct, 50);
    assert_int_equal(h->port, 65535);
    rw_cfg_free(cfg);
}

static void health_tcp(void **state)
{
    struct rw_cfg *cfg = tcfg_expect_ok(
        THC("'type': 'tcp', 'interval': '10s', 'timeout': '3s', 'rise': 3, 'fall': 2, 'jitter':"
            " '0%', 'port': 1"));
    const struct rw_cfg_health *h = hc_of(cfg);

    assert_true(h->enabled);
    assert_int_equal(h->type, RW_CFG_HC_TCP);
    assert_null(h->path);
    assert_null(h->method);
    assert_int_equal(h->interval_ms, 10000);
    assert_int_equal(h->timeout_ms, 3000);
    assert_int_equal(h->rise, 3);
    assert_int_equal(h->fall, 2);
    assert_int_equal(h->jitter_pct, 0);
    assert_int_equal(h->port, 1);
    rw_cfg_free(cfg);
}

/* The default timeout never exceeds a short interval; a long interval keeps 1s. */
static void health_default_timeout_fits(void **state)
{
    static const struct {
        const char *body;
        uint32_t interval, timeout;
    } t[] = {
        {"'interval': '500ms'", 500, 500},
        {"'interval': '1s'", 1000, 1000},
        {"'interval': '1m'", 60000, 1000},
        {"'timeout': '250ms'", 2000, 250},
        {"'interval': '100ms', 'timeout': '100ms'", 100, 100},
    };

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char json[1024];
        struct rw_cfg *cfg;

        snprintf(json, sizeof(json), THC("%s"), t[i].body);
        cfg = tcfg_expect_ok(json);
        assert_int_equal(hc_of(cfg)->interval_ms, t[i].interval);
        assert_int_equal(hc_of(cfg)->timeout_ms, t[i].timeout);
        rw_cfg_free(cfg);
    }
}

static void status_forms(void **state)
{
    static const struct {
        const char *value;
        unsigned lo, hi; /* the whole set when lo2 == 0 */
        unsigned lo2, hi2;
    } t[] = {
        {"'2xx'", 200, 299, 0, 0},
        {"'5xx'", 500, 599, 0, 0},
        {"'1xx'", 100, 199, 0, 0},
        {"204", 204, 204, 0, 0},
        {"[100]", 100, 100, 0, 0},
        {"[599]", 599, 599, 0, 0},
        {"['2xx', 301]", 200, 299, 301, 301},
        {"[301, '2xx']", 200, 299, 301, 301},
        {"['3xx', '4xx']", 300, 499, 0, 0},
        {"['2xx', 204]", 200, 299, 0, 0},
    };

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char json[1024];
        struct rw_cfg *cfg;
        const uint64_t *bm;

        snprintf(json, sizeof(json), THC("'expect_status': %s"), t[i].value);
        cfg = tcfg_expect_ok(json);
        bm = hc_of(cfg)->expect_status;
        for (unsigned s = 100; s <= 599; s++) {
            bool want = (s >= t[i].lo && s <= t[i].hi) || (s >= t[i].lo2 && s <= t[i].hi2);

            if (rw_cfg_status_has(bm, s) != want)
                fail_msg("%s: status %u", t[i].value, s);
        }
        rw_cfg_free(cfg);
    }
}

static void status_has_bounds(void **state)
{
    uint64_t all[RW_CFG_STATUS_WORDS];

    memset(all, 0xff, sizeof(all));
    assert_false(rw_cfg_status_has(all, 0));
    assert_false(rw_cfg_status_has(all, 99));
    assert_true(rw_cfg_status_has(all, 100));
    assert_true(rw_cfg_status_has(all, 599));
    assert_false(rw_cfg_status_has(all, 600));
    assert_false(rw_cfg_status_has(all, 65535));
}

static void passive_defaults(void **state)
{
    struct rw_cfg *cfg = tcfg_expect_ok(TPS(""));
    const struct rw_cfg_passive *p = ps_of(cfg);

    assert_true(p->enabled);
    assert_int_equal(p->consecutive_errors, 5);
    assert_status_range(p->error_status, 500, 599);
    assert_int_equal(p->window_ms, 10000);
    assert_int_equal(p->eject_ms, 30000);
    assert_int_equal(p->max_eject_ms, 300000);
    assert_int_equal(p->max_eject_percent, 50);
    assert_false(hc_of(cfg)->enabled);
    rw_cfg_free(cfg);
}

static void passive_every_key(void **state)
{
    struct rw_cfg *cfg = tcfg_expect_ok(
        TPS("'consecutive_errors': 1000, 'error_statuses': ['5xx', 429], 'window': '1m',"
            " 'eject': '10s', 'max_eject': '10s', 'max_eject_percent': 100"));
    const struct rw_cfg_passive *p = ps_of(cfg);

    assert_int_equal(p->consecutive_errors, 1000);
    assert_true(rw_cfg_status_has(p->error_status, 429));
    assert_true(rw_cfg_status_has(p->error_status, 503));
    assert_false(rw_cfg_status_has(p->error_status, 404));
    assert_false(rw_cfg_status_has(p->error_status, 430));
    assert_int_equal(p->window_ms, 60000);
    assert_int_equal(p->eject_ms, 10000);
    assert_int_equal(p->max_eject_ms, 10000);
    assert_int_equal(p->max_eject_percent, 100);
    rw_cfg_free(cfg);
}

static void passive_edges(void **state)
{
    struct rw_cfg *cfg = tcfg_expect_ok(TPS("'error_statuses': [], 'max_eject_percent': 0,"
                                            " 'consecutive_errors': 1"));

    assert_status_range(ps_of(cfg)->error_status, 0, 0);
    assert_int_equal(ps_of(cfg)->max_eject_percent, 0);
    assert_int_equal(ps_of(cfg)->consecutive_errors, 1);
    rw_cfg_free(cfg);
    /* An eject longer than the default cap raises the cap with it. */
    cfg = tcfg_expect_ok(TPS("'eject': '10m'"));
    assert_int_equal(ps_of(cfg)->eject_ms, 600000);
    assert_int_equal(ps_of(cfg)->max_eject_ms, 600000);
    rw_cfg_free(cfg);
    cfg = tcfg_expect_ok(TPS("'error_statuses': '4xx', 'max_eject': '1h'"));
    assert_status_range(ps_of(cfg)->error_status, 400, 499);
    assert_int_equal(ps_of(cfg)->max_eject_ms, 3600000);
    rw_cfg_free(cfg);
}

#define P "$.upstreams.a.health_check"
#define Q "$.upstreams.a.passive"
#define SHAPE "a status code 100..599 or a class \"1xx\"..\"5xx\""
#define ONLY_HTTP "only for http checks, not with \"type\": \"tcp\""

static const struct bad {
    const char *json;
    const char *msg;
} bad_health[] = {
    {"{'upstreams': {'a': {'servers': [{'address': '*:1'}], 'health_check': true}}, " TCFG_MIN "}",
     "cfg.json: " P ": must be an object, got true"},
    {THC("'intervall': '1s'"), "cfg.json: " P ".intervall: unknown key; did you mean interval?"},
    {THC("'expect': 200"), P ".expect: unknown key"},
    /* type */
    {THC("'type': 'https'"), P ".type: must be one of \"http\", \"tcp\", got \"https\""},
    {THC("'type': 'HTTP'"), P ".type: must be one of \"http\", \"tcp\", got \"HTTP\""},
    {THC("'type': 1"), P ".type: must be one of \"http\", \"tcp\", got 1"},
    /* http-only keys on a tcp check */
    {THC("'type': 'tcp', 'path': '/'"), "cfg.json: " P ".path: " ONLY_HTTP},
    {THC("'type': 'tcp', 'method': 'GET'"), P ".method: " ONLY_HTTP},
    {THC("'type': 'tcp', 'host': 'a'"), P ".host: " ONLY_HTTP},
    {THC("'type': 'tcp', 'expect_status': '2xx'"), P ".expect_status: " ONLY_HTTP},
    {THC("'type': 'tcp', 'expect_body': 'ok'"), P ".expect_body: " ONLY_HTTP},
    /* path */
    {THC("'path': 'healthz'"), P ".path: must start with '/', got \"healthz\""},
    {THC("'path': ''"), P ".path: must start with '/', got \"\""},
    {THC("'path': '/a b'"),
     P ".path: must not contain spaces, control characters or '#', got \"/a b\""},
    {THC("'path': '/a\\tb'"), P ".path: must not contain spaces, control characters or '#'"},
    {THC("'path': '/a\\u007f'"), P ".path: must not contain spaces"},
    {THC("'path': '/a#top'"), P ".path: must not contain spaces, control characters or '#'"},
    {THC("'path': 5"), P ".path: must be a string, got 5"},
    /* method */
    {THC("'method': 'GE T'"),
     P ".method: must be a token (letters, digits and !#$%&'*+-.^_`|~), got \"GE T\""},
    {THC("'method': ''"), P ".method: must be a token"},
    {THC("'method': 'GET\\r\\n'"), P ".method: must be a token"},
    {THC("'method': ['GET']"), P ".method: must be a string, got [\"GET\"]"},
    /* host */
    {THC("'host': 'a b'"),
     P ".host: must be a host name or IP address with an optional :port, got \"a b\""},
    {THC("'host': 'a:0'"), P ".host: must be a host name or IP address with an optional :port"},
    {THC("'host': 'a:65536'"), P ".host: must be a host name or IP address"},
    {THC("'host': ''"), P ".host: must be a host name or IP address"},
    {THC("'host': 'a/b'"), P ".host: must be a host name or IP address"},
    {THC("'host': '::1'"), P ".host: must be a host name or IP address"},
    /* expect_status */
    {THC("'expect_status': []"),
     P ".expect_status: must be " SHAPE ", or a non-empty list of them, like [\"2xx\", 301], "
       "got []"},
    {THC("'expect_status': 99"), P ".expect_status: must be " SHAPE ", or a non-empty list"},
    {THC("'expect_status': 600"), P ".expect_status: must be " SHAPE ", or a non-empty list"},
    {THC("'expect_status': '200'"), P ".expect_status: must be " SHAPE ", or a non-empty"},
    {THC("'expect_status': '6xx'"), P ".expect_status: must be " SHAPE},
    {THC("'expect_status': '2XX'"), P ".expect_status: must be " SHAPE},
    {THC("'expect_status': {}"), P ".expect_status: must be " SHAPE},
    {THC("'expect_status': [200, 99]"), P ".expect_status[1]: must be " SHAPE ", got 99"},
    {THC("'expect_status': ['2xx', 'xx']"), P ".expect_status[1]: must be " SHAPE ", got \"xx\""},
    {THC("'expect_status': [200.0]"), P ".expect_status[0]: must be " SHAPE ", got 200.0"},
    {THC("'expect_status': ['0xx']"), P ".expect_status[0]: must be " SHAPE},
    {THC("'expect_status': [[200]]"), P ".expect_status[0]: must be " SHAPE ", got [200]"},
    {THC("'expect_status': [200, 204, 200]"),
     P ".expect_status[2]: must appear once in the list, got 200"},
    {THC("'expect_status': ['2xx', '2xx']"), P ".expect_status[1]: must appear once in the list"},
    /* expect_body */
    {THC("'expect_body': ''"), P ".expect_body: must not be empty, got \"\""},
    {THC("'expect_body': 1"), P ".expect_body: must be a string, got 1"},
    /* interval, timeout */
    {THC("'interval': 2"), P ".interval: must be a duration like \"10s\""},
    {THC("'interval': '0s'"), P ".interval: must be greater than 0, got \"0s\""},
    {THC("'timeout': '1.5s'"), P ".timeout: must be a duration like \"10s\""},
    {THC("'timeout': '3s'"), P ".timeout: must be at most \"interval\" (2000ms), got \"3s\""},
    {THC("'interval': '500ms', 'timeout': '501ms'"),
     P ".timeout: must be at most \"interval\" (500ms), got \"501ms\""},
    {THC("'type': 'tcp', 'interval': '1s', 'timeout': '2s'"),
     P ".timeout: must be at most \"interval\" (1000ms)"},
    /* rise, fall, port */
    {THC("'rise': 0"), P ".rise: must be an integer 1..100, got 0"},
    {THC("'rise': 101"), P ".rise: must be an integer 1..100, got 101"},
    {THC("'fall': 0"), P ".fall: must be an integer 1..100, got 0"},
    {THC("'fall': '3'"), P ".fall: must be an integer 1..100, got \"3\""},
    {THC("'port': 0"), P ".port: must be an integer 1..65535, got 0"},
    {THC("'port': 65536"), P ".port: must be an integer 1..65535, got 65536"},
    {THC("'port': '80'"), P ".port: must be an integer 1..65535, got \"80\""},
    /* jitter */
    {THC("'jitter': '51%'"),
     P ".jitter: must be a percentage \"0%\"..\"50%\", like \"10%\", got \"51%\""},
    {THC("'jitter': 10"), P ".jitter: must be a percentage \"0%\"..\"50%\", like \"10%\", got 10"},
    {THC("'jitter': '10'"), P ".jitter: must be a percentage"},
    {THC("'jitter': '%'"), P ".jitter: must be a percentage"},
    {THC("'jitter': '-1%'"), P ".jitter: must be a percentage"},
    {THC("'jitter': '1.5%'"), P ".jitter: must be a percentage"},
    {THC("'jitter': '10 %'"), P ".jitter: must be a percentage"},
    {THC("'jitter': '100%'"), P ".jitter: must be a percentage"},
    {THC("'jitter': '00000010%'"), P ".jitter: must be a percentage"},
    /* passive */
    {"{'upstreams': {'a': {'servers': [{'address': '*:1'}], 'passive': []}}, " TCFG_MIN "}",
     "cfg.json: " Q ": must be an object, got []"},
    {TPS("'consecutive_error': 3"),
     Q ".consecutive_error: unknown key; did you mean consecutive_errors?"},
    {TPS("'consecutive_errors': 0"), Q ".consecutive_errors: must be an integer 1..1000, got 0"},
    {TPS("'consecutive_errors': 1001"), Q ".consecutive_errors: must be an integer 1..1000"},
    {TPS("'error_statuses': ['5xx', 5]"), Q ".error_statuses[1]: must be " SHAPE ", got 5"},
    {TPS("'error_statuses': [502, 502]"),
     Q ".error_statuses[1]: must appear once in the list, got 502"},
    {TPS("'error_statuses': null"),
     Q ".error_statuses: must be " SHAPE ", or a list of them, like [\"2xx\", 301], got null"},
    {TPS("'window': '0ms'"), Q ".window: must be greater than 0"},
    {TPS("'eject': 30"), Q ".eject: must be a duration like \"10s\""},
    {TPS("'max_eject': '25d'"), Q ".max_eject: must be at most 24d"},
    {TPS("'max_eject': '10s'"), Q ".max_eject: must be at least \"eject\" (30000ms), got \"10s\""},
    {TPS("'eject': '1m', 'max_eject': '59s'"),
     Q ".max_eject: must be at least \"eject\" (60000ms), got \"59s\""},
    {TPS("'max_eject_percent': 101"), Q ".max_eject_percent: must be an integer 0..100, got 101"},
    {TPS("'max_eject_percent': -1"), Q ".max_eject_percent: must be an integer 0..100, got -1"},
    {TPS("'max_eject_percent': '50%'"), Q ".max_eject_percent: must be an integer 0..100"},
};

static void bad_values(void **state)
{
    for (size_t i = 0; i < sizeof(bad_health) / sizeof(bad_health[0]); i++)
        tcfg_expect_err(bad_health[i].json, bad_health[i].msg);
}

/* A body of exactly 4096 bytes loads; one more is refused. */
static void expect_body_limit(void **state)
{
    static char body[4098], json[8192];
    struct rw_cfg *cfg;

    memset(body, 'x', 4096);
    body[4096] = '\0';
    snprintf(json, sizeof(json), THC("'expect_body': '%s'"), body);
    cfg = tcfg_expect_ok(json);
    assert_int_equal(strlen(hc_of(cfg)->expect_body), 4096);
    rw_cfg_free(cfg);
    body[4096] = 'x';
    body[4097] = '\0';
    snprintf(json, sizeof(json), THC("'expect_body': '%s'"), body);
    tcfg_expect_err(json, P ".expect_body: must be at most 4096 bytes, got \"xxx");
}

/* Every bad value is reported in one load, and a bad value keeps its default. */
static void errors_together(void **state)
{
    struct rw_cfg_errs errs = {0};
    struct rw_cfg *cfg = NULL;

    assert_int_equal(tcfg_load(THC("'type': 'tcp', 'path': '/', 'rise': 0, 'jitter': '60%',"
                                   " 'port': 0"),
                               &cfg, &errs),
                     -EINVAL);
    assert_null(cfg);
    assert_int_equal(errs.n, 4);
    assert_true(tcfg_has(&errs, P ".path: " ONLY_HTTP));
    assert_true(tcfg_has(&errs, P ".rise: must be"));
    assert_true(tcfg_has(&errs, P ".jitter: must be"));
    assert_true(tcfg_has(&errs, P ".port: must be"));
    rw_cfg_errs_clear(&errs);
}

int test_health_group(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(absent_means_disabled),
        cmocka_unit_test(health_defaults),
        cmocka_unit_test(health_every_key),
        cmocka_unit_test(health_tcp),
        cmocka_unit_test(health_default_timeout_fits),
        cmocka_unit_test(status_forms),
        cmocka_unit_test(status_has_bounds),
        cmocka_unit_test(passive_defaults),
        cmocka_unit_test(passive_every_key),
        cmocka_unit_test(passive_edges),
        cmocka_unit_test(bad_values),
        cmocka_unit_test(expect_body_limit),
        cmocka_unit_test(errors_together),
    };
    return cmocka_run_group_tests_name("config/health", t, NULL, NULL);
}
