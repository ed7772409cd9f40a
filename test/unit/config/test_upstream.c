/* SPDX-License-Identifier: MIT */
/* Tests for config/upstream.c: balance, hash options, servers, slow start, queue, retries,
 * panic threshold and initial server state. */
#include "cfg-test.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* One upstream "a" with these servers and these extra members. */
#define TUP_S(servers, body)                                                                       \
    "{'upstreams': {'a': {'servers': [" servers "]" body "}}, " TCFG_MIN "}"
#define TUP(body) TUP_S("{'address': '*:1'}", body)

/* Load TUP(body) for a body known at run time. */
static struct rw_cfg *up_ok(const char *body)
{
    static char json[4096];

    snprintf(json, sizeof(json), TUP("%s"), body);
    return tcfg_expect_ok(json);
}

static void upstream_defaults(void **state)
{
    struct rw_cfg *cfg = tcfg_expect_ok(TUP(""));
    const struct rw_cfg_upstream *u = &cfg->upstreams[0];

    assert_string_equal(u->balance, "round_robin");
    assert_int_equal(u->servers[0].max_conns, 0);
    assert_false(u->servers[0].backup);
    assert_int_equal(u->hash.key, RW_HASH_KEY_URI);
    assert_null(u->hash.key_name);
    assert_int_equal(u->hash.method, RW_HASH_MAGLEV);
    assert_true(u->hash.balance_factor == 0.0);
    assert_int_equal(u->hash.ipv4_mask, 32);
    assert_int_equal(u->hash.ipv6_mask, 64);
    assert_int_equal(u->slow_start_ms, 0);
    assert_int_equal(u->sticky.mode, RW_STICKY_NONE);
    assert_int_equal(u->queue_size, 0);
    assert_int_equal(u->queue_timeout_ms, 5000);
    assert_int_equal(u->retries, 1);
    assert_int_equal(u->retry_on, RW_RETRY_CONNECT_FAILURE);
    assert_true(u->retry_budget == 0.2);
    rw_cfg_free(cfg);
}

static void servers_limits_and_backup(void **state)
{
    struct rw_cfg *cfg = tcfg_expect_ok(
        TUP_S("{'address': '*:1', 'max_conns': 1000000}, {'address': '*:2', 'max_conns': 0,"
              " 'backup': true}, {'address': '*:3', 'backup': false, 'max_conns': 7}",
              ", 'slow_start': '30s'"));
    const struct rw_cfg_upstream *u = &cfg->upstreams[0];

    assert_int_equal(u->nservers, 3);
    assert_int_equal(u->servers[0].max_conns, 1000000);
    assert_false(u->servers[0].backup);
    assert_int_equal(u->servers[1].max_conns, 0);
    assert_true(u->servers[1].backup);
    assert_int_equal(u->servers[2].max_conns, 7);
    assert_false(u->servers[2].backup);
    assert_int_equal(u->slow_start_ms, 30000);
    rw_cfg_free(cfg);
}

static void panic_and_initial(void **state)
{
    static const struct {
        const char *servers, *body;
        uint32_t panic;
        bool down0, down1;
    } t[] = {
        {"{'address': '*:1'}, {'address': '*:2'}", "", 0, false, false},
        {"{'address': '*:1'}, {'address': '*:2'}", ", 'panic_threshold': 0", 0, false, false},
        {"{'address': '*:1'}, {'address': '*:2'}", ", 'panic_threshold': 100", 100, false, false},
        {"{'address': '*:1', 'initial': 'up'}, {'address': '*:2'}", ", 'panic_threshold': 50", 50,
         false, false},
        {"{'address': '*:1', 'initial': 'down'}, {'address': '*:2', 'initial': 'up'}",
         ", 'health_check': {}", 0, true, false},
        {"{'address': '*:1'}, {'address': '*:2', 'initial': 'down'}",
         ", 'health_check': {'type': 'tcp'}, 'panic_threshold': 1", 1, false, true},
    };

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char json[1024];
        struct rw_cfg *cfg;
        const struct rw_cfg_upstream *u;

        snprintf(json, sizeof(json), TUP_S("%s", "%s"), t[i].servers, t[i].body);
        cfg = tcfg_expect_ok(json);
        u = &cfg->upstreams[0];
        assert_int_equal(u->panic_threshold, t[i].panic);
        assert_int_equal(u->servers[0].initial_down, t[i].down0);
        assert_int_equal(u->servers[1].initial_down, t[i].down1);
        rw_cfg_free(cfg);
    }
}

static void queue_values(void **state)
{
    static const struct {
        const char *body;
        uint32_t size, timeout_ms;
    } t[] = {
        {", 'queue': {}", 1024, 5000},
        {", 'queue': {'size': 0}", 0, 5000},
        {", 'queue': {'size': 1000000, 'timeout': '250ms'}", 1000000, 250},
        {", 'queue': {'timeout': '1m'}", 1024, 60000},
    };

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct rw_cfg *cfg = up_ok(t[i].body);

        assert_int_equal(cfg->upstreams[0].queue_size, t[i].size);
        assert_int_equal(cfg->upstreams[0].queue_timeout_ms, t[i].timeout_ms);
        rw_cfg_free(cfg);
    }
}

static void retry_values(void **state)
{
    static const uint32_t all = RW_RETRY_CONNECT_FAILURE | RW_RETRY_RESET | RW_RETRY_TIMEOUT |
                                RW_RETRY_502 | RW_RETRY_503 | RW_RETRY_504;
    static const struct {
        const char *body;
        uint32_t count, on;
        double budget;
    } t[] = {
        /* the issue-2 form: a count, with the default policy */
        {", 'retries': 0", 0, RW_RETRY_CONNECT_FAILURE, 0.2},
        {", 'retries': 10", 10, RW_RETRY_CONNECT_FAILURE, 0.2},
        /* the object form */
        {", 'retries': {}", 1, RW_RETRY_CONNECT_FAILURE, 0.2},
        {", 'retries': {'count': 2, 'on': ['connect_failure', 'reset', '503'], 'budget': 0.5}", 2,
         RW_RETRY_CONNECT_FAILURE | RW_RETRY_RESET | RW_RETRY_503, 0.5},
        {", 'retries': {'on': ['504', 'timeout', '502', 'reset', '503', 'connect_failure']}", 1,
         all, 0.2},
        {", 'retries': {'on': ['reset']}", 1, RW_RETRY_RESET, 0.2},
        {", 'retries': {'count': 0, 'on': []}", 0, 0, 0.2},
        {", 'retries': {'count': 10, 'budget': 0}", 10, RW_RETRY_CONNECT_FAILURE, 0.0},
        {", 'retries': {'budget': 1}", 1, RW_RETRY_CONNECT_FAILURE, 1.0},
    };

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct rw_cfg *cfg = up_ok(t[i].body);
        const struct rw_cfg_upstream *u = &cfg->upstreams[0];

        assert_int_equal(u->retries, t[i].count);
        assert_int_equal(u->retry_on, t[i].on);
        assert_true(u->retry_budget == t[i].budget);
        rw_cfg_free(cfg);
    }
}

/* Every algorithm name of issue 3. Passes once balancers/ registers them all. */
static void balance_names_accepted(void **state)
{
    static const char *const names[] = {
        "round_robin", "least_conn", "random", "p2c", "first", "ip_hash",
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char body[128];
        struct rw_cfg *cfg;

        snprintf(body, sizeof(body), ", 'balance': '%s'", names[i]);
        cfg = up_ok(body);
        assert_string_equal(cfg->upstreams[0].balance, names[i]);
        rw_cfg_free(cfg);
    }
}

static void hash_values(void **state)
{
    static const struct {
        const char *body;
        uint8_t key;
        const char *name;
        uint8_t method;
        double factor;
        uint8_t v4, v6;
    } t[] = {
        {"'key': 'uri'", RW_HASH_KEY_URI, NULL, RW_HASH_MAGLEV, 0, 32, 64},
        {"'key': 'client_ip', 'ipv4_mask': 24, 'ipv6_mask': 48", RW_HASH_KEY_CLIENT_IP, NULL,
         RW_HASH_MAGLEV, 0, 24, 48},
        {"'key': 'header:X-User-Id', 'method': 'ring'", RW_HASH_KEY_HEADER, "x-user-id",
         RW_HASH_RING, 0, 32, 64},
        {"'key': 'cookie:SESSION.id', 'method': 'maglev', 'balance_factor': 1.25",
         RW_HASH_KEY_COOKIE, "SESSION.id", RW_HASH_MAGLEV, 1.25, 32, 64},
        {"'key': 'query:user[id]', 'balance_factor': 100", RW_HASH_KEY_QUERY, "user[id]",
         RW_HASH_MAGLEV, 100, 32, 64},
        {"'key': 'uri', 'balance_factor': 1.0001, 'ipv4_mask': 1, 'ipv6_mask': 128",
         RW_HASH_KEY_URI, NULL, RW_HASH_MAGLEV, 1.0001, 1, 128},
        {"'key': 'uri', 'ipv4_mask': 32, 'ipv6_mask': 1", RW_HASH_KEY_URI, NULL, RW_HASH_MAGLEV, 0,
         32, 1},
    };

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char body[512];
        struct rw_cfg *cfg;
        const struct rw_cfg_hash *h;

        snprintf(body, sizeof(body), ", 'balance': 'hash', 'hash': {%s}", t[i].body);
        cfg = up_ok(body);
        h = &cfg->upstreams[0].hash;
        assert_string_equal(cfg->upstreams[0].balance, "hash");
        assert_int_equal(h->key, t[i].key);
        if (t[i].name)
            assert_string_equal(h->key_name, t[i].name);
        else
            assert_null(h->key_name);
        assert_int_equal(h->method, t[i].method);
        assert_true(h->balance_factor == t[i].factor);
        assert_int_equal(h->ipv4_mask, t[i].v4);
        assert_int_equal(h->ipv6_mask, t[i].v6);
        rw_cfg_free(cfg);
    }
}

static void ip_hash_values(void **state)
{
    struct rw_cfg *cfg = up_ok(", 'balance': 'ip_hash'");
    const struct rw_cfg_hash *h = &cfg->upstreams[0].hash;

    assert_int_equal(h->key, RW_HASH_KEY_CLIENT_IP);
    assert_int_equal(h->method, RW_HASH_MAGLEV);
    assert_int_equal(h->ipv4_mask, 32);
    assert_int_equal(h->ipv6_mask, 64);
    rw_cfg_free(cfg);
    cfg = up_ok(", 'balance': 'ip_hash', 'hash': {'key': 'client_ip', 'method': 'ring',"
                " 'balance_factor': 2, 'ipv4_mask': 16, 'ipv6_mask': 56}");
    h = &cfg->upstreams[0].hash;
    assert_int_equal(h->key, RW_HASH_KEY_CLIENT_IP);
    assert_null(h->key_name);
    assert_int_equal(h->method, RW_HASH_RING);
    assert_true(h->balance_factor == 2.0);
    assert_int_equal(h->ipv4_mask, 16);
    assert_int_equal(h->ipv6_mask, 56);
    rw_cfg_free(cfg);
    cfg = up_ok(", 'balance': 'ip_hash', 'hash': {'ipv6_mask': 128}");
    assert_int_equal(cfg->upstreams[0].hash.key, RW_HASH_KEY_CLIENT_IP);
    assert_int_equal(cfg->upstreams[0].hash.ipv6_mask, 128);
    rw_cfg_free(cfg);
}

#define RETRY_ON_ONE_OF                                                                            \
    "must be one of \"connect_failure\", \"reset\", \"timeout\", \"502\", \"503\", \"504\""
#define HASH_KEY_MSG                                                                               \
    "must be \"uri\", \"client_ip\", \"header:NAME\", \"cookie:NAME\" or \"query:NAME\""
#define NAME_CHARS "with a non-empty NAME without ';', '=', '&', spaces or control characters"

static const struct bad {
    const char *json;
    const char *msg;
} bad_up[] = {
    /* servers */
    {TUP_S("{'address': '*:1', 'max_conns': -1}", ""),
     "cfg.json: $.upstreams.a.servers[0].max_conns: must be an integer 0..1000000, got -1"},
    {TUP_S("{'address': '*:1', 'max_conns': 1000001}", ""),
     "$.upstreams.a.servers[0].max_conns: must be an integer 0..1000000, got 1000001"},
    {TUP_S("{'address': '*:1', 'max_conns': '10'}", ""),
     "$.upstreams.a.servers[0].max_conns: must be an integer 0..1000000, got \"10\""},
    {TUP_S("{'address': '*:1', 'backup': 'yes'}", ""),
     "$.upstreams.a.servers[0].backup: must be true or false, got \"yes\""},
    {TUP_S("{'address': '*:1', 'backpu': true}", ""),
     "$.upstreams.a.servers[0].backpu: unknown key; did you mean backup?"},
    {TUP_S("{'address': '*:1', 'backup': true}", ""),
     "cfg.json: $.upstreams.a.servers: must include at least one server without \"backup\": "
     "true, got [{\"address\":\"*:1\",\"backup\":true}]"},
    {TUP_S("{'address': '*:1', 'backup': true}, {'address': '*:2', 'backup': true}", ""),
     "$.upstreams.a.servers: must include at least one server without \"backup\": true"},
    /* initial, panic_threshold */
    {TUP_S("{'address': '*:1', 'initial': 'DOWN'}", ", 'health_check': {}"),
     "cfg.json: $.upstreams.a.servers[0].initial: must be one of \"up\", \"down\", got \"DOWN\""},
    {TUP_S("{'address': '*:1', 'initial': false}", ""),
     "$.upstreams.a.servers[0].initial: must be one of \"up\", \"down\", got false"},
    {TUP_S("{'address': '*:1', 'inital': 'up'}", ""),
     "$.upstreams.a.servers[0].inital: unknown key; did you mean initial?"},
    {TUP_S("{'address': '*:1'}, {'address': '*:2', 'initial': 'down'}", ""),
     "cfg.json: $.upstreams.a.servers[1].initial: \"down\" needs a \"health_check\" on the "
     "upstream (nothing else would bring the server up), got \"down\""},
    {TUP_S("{'address': '*:1', 'initial': 'down'}", ", 'passive': {}"),
     "$.upstreams.a.servers[0].initial: \"down\" needs a \"health_check\""},
    {TUP(", 'panic_threshold': 101"),
     "cfg.json: $.upstreams.a.panic_threshold: must be an integer 0..100, got 101"},
    {TUP(", 'panic_threshold': -1"), "$.upstreams.a.panic_threshold: must be an integer 0..100"},
    {TUP(", 'panic_threshold': 0.5"),
     "$.upstreams.a.panic_threshold: must be an integer 0..100, got 0.5"},
    {TUP(", 'panic_threshold': '50%'"),
     "$.upstreams.a.panic_threshold: must be an integer 0..100, got \"50%\""},
    {TUP(", 'panic': 50"), "$.upstreams.a.panic: unknown key"},
    {TUP(", 'healthcheck': {}"),
     "$.upstreams.a.healthcheck: unknown key; did you mean health_check?"},
    /* slow_start */
    {TUP(", 'slow_start': 30"), "$.upstreams.a.slow_start: must be a duration like \"10s\""},
    {TUP(", 'slow_start': '0s'"), "$.upstreams.a.slow_start: must be greater than 0, got \"0s\""},
    {TUP(", 'slow_start': true"), "$.upstreams.a.slow_start: must be a duration"},
    {TUP(", 'slow_strat': '1s'"),
     "$.upstreams.a.slow_strat: unknown key; did you mean slow_start?"},
    /* queue */
    {TUP(", 'queue': 5"), "$.upstreams.a.queue: must be an object, got 5"},
    {TUP(", 'queue': {'size': 1000001}"),
     "$.upstreams.a.queue.size: must be an integer 0..1000000, got 1000001"},
    {TUP(", 'queue': {'size': -1}"), "$.upstreams.a.queue.size: must be an integer 0..1000000"},
    {TUP(", 'queue': {'timeout': 5}"),
     "$.upstreams.a.queue.timeout: must be a duration like \"10s\" (an integer with unit ms, s, "
     "m, h or d), got 5"},
    {TUP(", 'queue': {'timeout': '25d'}"), "$.upstreams.a.queue.timeout: must be at most 24d"},
    {TUP(", 'queue': {'sise': 1}"), "$.upstreams.a.queue.sise: unknown key; did you mean size?"},
    /* retries */
    {TUP(", 'retries': 'x'"),
     "$.upstreams.a.retries: must be an integer 0..10 or an object like {\"count\": 2, \"on\": "
     "[\"connect_failure\"]}, got \"x\""},
    {TUP(", 'retries': [1]"), "$.upstreams.a.retries: must be an integer 0..10 or an object"},
    {TUP(", 'retries': 1.5"), "$.upstreams.a.retries: must be an integer 0..10 or an object"},
    {TUP(", 'retries': -1"), "$.upstreams.a.retries: must be an integer 0..10, got -1"},
    {TUP(", 'retries': {'count': 11}"),
     "$.upstreams.a.retries.count: must be an integer 0..10, got 11"},
    {TUP(", 'retries': {'count': '2'}"),
     "$.upstreams.a.retries.count: must be an integer 0..10, got \"2\""},
    {TUP(", 'retries': {'on': 'reset'}"),
     "$.upstreams.a.retries.on: must be a list, got \"reset\""},
    {TUP(", 'retries': {'on': ['reset', '500']}"),
     "$.upstreams.a.retries.on[1]: " RETRY_ON_ONE_OF ", got \"500\""},
    {TUP(", 'retries': {'on': [503]}"),
     "$.upstreams.a.retries.on[0]: " RETRY_ON_ONE_OF ", got 503"},
    {TUP(", 'retries': {'on': ['Reset']}"), "$.upstreams.a.retries.on[0]: " RETRY_ON_ONE_OF},
    {TUP(", 'retries': {'on': ['reset', '503', 'reset']}"),
     "$.upstreams.a.retries.on[2]: must appear once in the list, got \"reset\""},
    {TUP(", 'retries': {'budget': 1.5}"),
     "$.upstreams.a.retries.budget: must be a number 0..1, got 1.5"},
    {TUP(", 'retries': {'budget': -0.1}"),
     "$.upstreams.a.retries.budget: must be a number 0..1, got -0.1"},
    {TUP(", 'retries': {'budget': '0.2'}"),
     "$.upstreams.a.retries.budget: must be a number 0..1, got \"0.2\""},
    {TUP(", 'retries': {'cuont': 1}"),
     "$.upstreams.a.retries.cuont: unknown key; did you mean count?"},
    /* balance */
    {TUP(", 'balance': 'fastest'"), "cfg.json: $.upstreams.a.balance: must be one of: round_robin"},
    {TUP(", 'balance': 3"), "$.upstreams.a.balance: must be one of: "},
    /* hash: only with hash / ip_hash, required with hash */
    {TUP(", 'hash': {'key': 'uri'}"),
     "cfg.json: $.upstreams.a.hash: hash options need \"balance\": \"hash\" or \"ip_hash\", got "
     "\"balance\": \"round_robin\" (the default)"},
    {TUP(", 'balance': 'round_robin', 'hash': {}"),
     "$.upstreams.a.hash: hash options need \"balance\": \"hash\" or \"ip_hash\", got "
     "\"balance\": \"round_robin\""},
    {TUP(", 'balance': 'hash'"),
     "$.upstreams.a.hash: required key is missing (\"balance\": \"hash\" needs at least "
     "{\"key\": ...})"},
    {TUP(", 'balance': 'hash', 'hash': {'method': 'ring'}"),
     "$.upstreams.a.hash.key: required key is missing"},
    {TUP(", 'balance': 'hash', 'hash': 'uri'"),
     "$.upstreams.a.hash: must be an object, got \"uri\""},
    {TUP(", 'balance': 'hash', 'hash': {'key': 'uri', 'mehtod': 'ring'}"),
     "$.upstreams.a.hash.mehtod: unknown key; did you mean method?"},
    /* hash.key */
    {TUP(", 'balance': 'hash', 'hash': {'key': 'url'}"),
     "$.upstreams.a.hash.key: " HASH_KEY_MSG ", got \"url\""},
    {TUP(", 'balance': 'hash', 'hash': {'key': 'URI'}"), "$.upstreams.a.hash.key: " HASH_KEY_MSG},
    {TUP(", 'balance': 'hash', 'hash': {'key': 5}"),
     "$.upstreams.a.hash.key: must be a string, got 5"},
    {TUP(", 'balance': 'hash', 'hash': {'key': 'header:'}"),
     "$.upstreams.a.hash.key: must be \"header:NAME\" with NAME a header name (a token), got "
     "\"header:\""},
    {TUP(", 'balance': 'hash', 'hash': {'key': 'header:x user'}"),
     "$.upstreams.a.hash.key: must be \"header:NAME\" with NAME a header name (a token)"},
    {TUP(", 'balance': 'hash', 'hash': {'key': 'header:a:b'}"),
     "$.upstreams.a.hash.key: must be \"header:NAME\""},
    {TUP(", 'balance': 'hash', 'hash': {'key': 'cookie:'}"),
     "$.upstreams.a.hash.key: must be \"cookie:NAME\" " NAME_CHARS ", got \"cookie:\""},
    {TUP(", 'balance': 'hash', 'hash': {'key': 'cookie:a=b'}"),
     "$.upstreams.a.hash.key: must be \"cookie:NAME\" " NAME_CHARS},
    {TUP(", 'balance': 'hash', 'hash': {'key': 'cookie:a;b'}"),
     "$.upstreams.a.hash.key: must be \"cookie:NAME\""},
    {TUP(", 'balance': 'hash', 'hash': {'key': 'cookie:a b'}"),
     "$.upstreams.a.hash.key: must be \"cookie:NAME\""},
    {TUP(", 'balance': 'hash', 'hash': {'key': 'cookie:a\\u0001'}"),
     "$.upstreams.a.hash.key: must be \"cookie:NAME\""},
    {TUP(", 'balance': 'hash', 'hash': {'key': 'query:'}"),
     "$.upstreams.a.hash.key: must be \"query:NAME\" " NAME_CHARS},
    {TUP(", 'balance': 'hash', 'hash': {'key': 'query:a&b'}"),
     "$.upstreams.a.hash.key: must be \"query:NAME\""},
    {TUP(", 'balance': 'hash', 'hash': {'key': 'query:a\\tb'}"),
     "$.upstreams.a.hash.key: must be \"query:NAME\""},
    {TUP(", 'balance': 'ip_hash', 'hash': {'key': 'uri'}"),
     "$.upstreams.a.hash.key: must be \"client_ip\" with \"balance\": \"ip_hash\" (use "
     "\"balance\": \"hash\" for other keys), got \"uri\""},
    {TUP(", 'balance': 'ip_hash', 'hash': {'key': 'header:x'}"),
     "$.upstreams.a.hash.key: must be \"client_ip\" with \"balance\": \"ip_hash\""},
    /* hash: the other options */
    {TUP(", 'balance': 'hash', 'hash': {'key': 'uri', 'method': 'jump'}"),
     "$.upstreams.a.hash.method: must be one of \"maglev\", \"ring\", got \"jump\""},
    {TUP(", 'balance': 'ip_hash', 'hash': {'method': 'Maglev'}"),
     "$.upstreams.a.hash.method: must be one of \"maglev\", \"ring\", got \"Maglev\""},
    {TUP(", 'balance': 'hash', 'hash': {'key': 'uri', 'balance_factor': 1}"),
     "$.upstreams.a.hash.balance_factor: must be a number greater than 1 and at most 100, got 1"},
    {TUP(", 'balance': 'hash', 'hash': {'key': 'uri', 'balance_factor': 0.5}"),
     "$.upstreams.a.hash.balance_factor: must be a number greater than 1 and at most 100, got "
     "0.5"},
    {TUP(", 'balance': 'hash', 'hash': {'key': 'uri', 'balance_factor': 100.5}"),
     "$.upstreams.a.hash.balance_factor: must be a number greater than 1 and at most 100, got "
     "100.5"},
    {TUP(", 'balance': 'hash', 'hash': {'key': 'uri', 'balance_factor': '1.25'}"),
     "$.upstreams.a.hash.balance_factor: must be a number greater than 1 and at most 100, got "
     "\"1.25\""},
    {TUP(", 'balance': 'hash', 'hash': {'key': 'uri', 'ipv4_mask': 0}"),
     "$.upstreams.a.hash.ipv4_mask: must be an integer 1..32, got 0"},
    {TUP(", 'balance': 'hash', 'hash': {'key': 'uri', 'ipv4_mask': 33}"),
     "$.upstreams.a.hash.ipv4_mask: must be an integer 1..32, got 33"},
    {TUP(", 'balance': 'ip_hash', 'hash': {'ipv6_mask': 0}"),
     "$.upstreams.a.hash.ipv6_mask: must be an integer 1..128, got 0"},
    {TUP(", 'balance': 'ip_hash', 'hash': {'ipv6_mask': 129}"),
     "$.upstreams.a.hash.ipv6_mask: must be an integer 1..128, got 129"},
    {TUP(", 'balance': 'ip_hash', 'hash': {'ipv6_mask': 64.5}"),
     "$.upstreams.a.hash.ipv6_mask: must be an integer 1..128, got 64.5"},
};

static void bad_upstreams(void **state)
{
    for (size_t i = 0; i < sizeof(bad_up) / sizeof(bad_up[0]); i++)
        tcfg_expect_err(bad_up[i].json, bad_up[i].msg);
}

/* A hash object with a wrong balance gets one error, not one per bad option inside. */
static void hash_mismatch_reported_once(void **state)
{
    struct rw_cfg_errs errs = {0};
    struct rw_cfg *cfg = NULL;

    assert_int_equal(tcfg_load(TUP(", 'hash': {'key': 'nope', 'ipv4_mask': 99}"), &cfg, &errs),
                     -EINVAL);
    assert_int_equal(errs.n, 1);
    assert_true(tcfg_has(&errs, "$.upstreams.a.hash: hash options need"));
    rw_cfg_errs_clear(&errs);
}

int test_upstream_group(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(upstream_defaults),
        cmocka_unit_test(servers_limits_and_backup),
        cmocka_unit_test(panic_and_initial),
        cmocka_unit_test(queue_values),
        cmocka_unit_test(retry_values),
        cmocka_unit_test(bad_upstreams),
        cmocka_unit_test(hash_mismatch_reported_once),
        /* These need balancers/ to register least_conn, random, p2c, first, hash, ip_hash. */
        cmocka_unit_test(balance_names_accepted),
        cmocka_unit_test(hash_values),
        cmocka_unit_test(ip_hash_values),
    };
    return cmocka_run_group_tests_name("config/upstream", t, NULL, NULL);
}
