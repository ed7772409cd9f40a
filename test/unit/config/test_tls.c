/* SPDX-License-Identifier: MIT */
/* Tests for config/tls.c (and the file checks of get.c): listener and upstream "tls". */
#include "cfg-test.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SRC RW_SOURCE_DIR "/"
#define D(f) SRC "test/unit/tls/data/" f

/* A listener with "tls": {body}. */
#define TTLS(body)                                                                                 \
    "{'listeners': [{'address': '127.0.0.1:8443', 'tls': {" body "}, 'routes': [{'respond':"       \
    " {}}]}]}"
#define CERT(extra) "{'cert': '" D("ec.pem") "', 'key': '" D("ec.key") "'" extra "}"
#define CERTS "'certificates': [" CERT("") "]"
/* An upstream "a" with "tls": {body}. */
#define TUTLS(body)                                                                                \
    "{'upstreams': {'a': {'servers': [{'address': '*:1'}], 'tls': {" body "}}}, " TCFG_MIN "}"

static const struct rw_cfg_tls *tls_of(const struct rw_cfg *cfg)
{
    return &cfg->listeners[0].tls;
}

static void tls_absent(void **state)
{
    struct rw_cfg *cfg =
        tcfg_expect_ok("{'upstreams': {'a': {'servers': [{'address': '*:1'}]}}, " TCFG_MIN "}");
    const struct rw_cfg_tls *t = tls_of(cfg);
    const struct rw_cfg_upstream_tls *u = &cfg->upstreams[0].tls;

    assert_false(t->enabled);
    assert_null(t->certs);
    assert_int_equal(t->ncerts, 0);
    assert_null(t->client_ca);
    assert_false(u->enabled);
    assert_true(u->verify);
    assert_null(u->ca);
    assert_null(u->sni);
    assert_null(u->cert);
    assert_null(u->key);
    rw_cfg_free(cfg);
}

static void tls_defaults(void **state)
{
    struct rw_cfg *cfg = tcfg_expect_ok(TTLS(CERTS));
    const struct rw_cfg_tls *t = tls_of(cfg);

    assert_true(t->enabled);
    assert_int_equal(t->ncerts, 1);
    assert_string_equal(t->certs[0].cert, D("ec.pem"));
    assert_string_equal(t->certs[0].key, D("ec.key"));
    assert_null(t->certs[0].names);
    assert_int_equal(t->certs[0].nnames, 0);
    assert_null(t->certs[0].ocsp);
    assert_false(t->certs[0].is_default);
    assert_int_equal(t->min_version, 0x0303);
    assert_int_equal(t->max_version, 0x0304);
    assert_null(t->ciphers);
    assert_null(t->ciphersuites);
    assert_null(t->groups);
    assert_null(t->alpn);
    assert_true(t->session_tickets);
    assert_int_equal(t->ticket_key_rotation_ms, 12 * 3600 * 1000);
    assert_null(t->ticket_key_file);
    assert_int_equal(t->client_auth, RW_CFG_CLIENT_AUTH_OFF);
    assert_null(t->client_ca);
    assert_null(t->client_header);
    rw_cfg_free(cfg);
}

static void tls_every_key(void **state)
{
    struct rw_cfg *cfg = tcfg_expect_ok(TTLS("'certificates': [" CERT(
        ", 'names': ['Example.COM', '*.example.com'], 'default': true,"
        " 'ocsp_staple': '" D(
            "ec.ocsp.der") "'") ", {'cert': '" D("rsa.pem") "', 'key': '" D("rsa.key") "', "
                                                                                       "'names': "
                                                                                       "['www."
                                                                                       "example."
                                                                                       "org']}],"
                                                                                       " 'min_"
                                                                                       "version': "
                                                                                       "'1.3', "
                                                                                       "'max_"
                                                                                       "version': "
                                                                                       "'1.3', "
                                                                                       "'ciphers':"
                                                                                       " 'ECDHE-"
                                                                                       "ECDSA-"
                                                                                       "AES128-GCM-"
                                                                                       "SHA256:"
                                                                                       "ECDHE-RSA-"
                                                                                       "CHACHA20-"
                                                                                       "POLY1305',"
                                                                                       " '"
                                                                                       "ciphersuite"
                                                                                       "s': "
                                                                                       "'TLS_AES_"
                                                                                       "128_GCM_"
                                                                                       "SHA256', "
                                                                                       "'groups': "
                                                                                       "['x25519', "
                                                                                       "'P-256',"
                                                                                       " 'p-384'], "
                                                                                       "'alpn': "
                                                                                       "['h2', "
                                                                                       "'http/"
                                                                                       "1.1'], "
                                                                                       "'session_"
                                                                                       "tickets': "
                                                                                       "false,"
                                                                                       " 'ticket_"
                                                                                       "key_"
                                                                                       "rotation': "
                                                                                       "'1h', "
                                                                                       "'ticket_"
                                                                                       "key_file': "
                                                                                       "'" SRC
                                                                                       "test/unit/"
                                                                                       "config/"
                                                                                       "data/"
                                                                                       "ticket.key'"
                                                                                       ", "
                                                                                       "'ocsp_"
                                                                                       "staple': "
                                                                                       "'" D("rsa."
                                                                                             "pem") "', 'client_auth': {'ca': '" D(
                                                                                           "clientc"
                                                                                           "a.crt") "',"
                                                                                                    " 'mode': 'require', 'header': 'X-Client-Cert-Subject'}"));
    const struct rw_cfg_tls *t = tls_of(cfg);

    assert_int_equal(t->ncerts, 2);
    assert_int_equal(t->certs[0].nnames, 2);
    assert_string_equal(t->certs[0].names[0], "example.com");
    assert_string_equal(t->certs[0].names[1], "*.example.com");
    assert_true(t->certs[0].is_default);
    assert_string_equal(t->certs[0].ocsp, D("ec.ocsp.der"));
    assert_string_equal(t->certs[1].cert, D("rsa.pem"));
    assert_string_equal(t->certs[1].names[0], "www.example.org");
    assert_false(t->certs[1].is_default);
    /* the listener-wide staple fills in only where a certificate has none */
    assert_string_equal(t->certs[1].ocsp, D("rsa.pem"));
    assert_false(t->certs[0].ocsp_inherited);
    assert_true(t->certs[1].ocsp_inherited);
    assert_int_equal(t->min_version, 0x0304);
    assert_int_equal(t->max_version, 0x0304);
    assert_string_equal(t->ciphers, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305");
    assert_string_equal(t->ciphersuites, "TLS_AES_128_GCM_SHA256");
    assert_int_equal(t->ngroups, 3);
    assert_string_equal(t->groups[0], "X25519");
    assert_string_equal(t->groups[1], "P-256");
    assert_string_equal(t->groups[2], "P-384");
    assert_int_equal(t->nalpn, 2);
    assert_string_equal(t->alpn[0], "h2");
    assert_string_equal(t->alpn[1], "http/1.1");
    assert_false(t->session_tickets);
    assert_int_equal(t->ticket_key_rotation_ms, 3600 * 1000);
    assert_string_equal(t->ticket_key_file, SRC "test/unit/config/data/ticket.key");
    assert_int_equal(t->client_auth, RW_CFG_CLIENT_AUTH_REQUIRE);
    assert_string_equal(t->client_ca, D("clientca.crt"));
    assert_string_equal(t->client_header, "x-client-cert-subject");
    rw_cfg_free(cfg);
}

static void tls_good_values(void **state)
{
    static const struct {
        const char *body;
        uint16_t min, max;
        uint32_t rotation_ms;
        uint8_t auth;
        bool has_ca;
    } t[] = {
        {"", 0x0303, 0x0304, 43200000, RW_CFG_CLIENT_AUTH_OFF, false},
        {", 'min_version': '1.2', 'max_version': '1.2'", 0x0303, 0x0303, 43200000, 0, false},
        {", 'max_version': '1.3'", 0x0303, 0x0304, 43200000, 0, false},
        {", 'min_version': '1.3'", 0x0304, 0x0304, 43200000, 0, false},
        {", 'ticket_key_rotation': '1m'", 0x0303, 0x0304, 60000, 0, false},
        {", 'ticket_key_rotation': '60s'", 0x0303, 0x0304, 60000, 0, false},
        {", 'ticket_key_rotation': '7d'", 0x0303, 0x0304, 604800000, 0, false},
        {", 'ticket_key_rotation': '168h'", 0x0303, 0x0304, 604800000, 0, false},
        {", 'client_auth': {}", 0x0303, 0x0304, 43200000, RW_CFG_CLIENT_AUTH_OFF, false},
        {", 'client_auth': {'mode': 'off'}", 0x0303, 0x0304, 43200000, 0, false},
        {", 'client_auth': {'mode': 'off', 'ca': '" D("clientca.crt") "'}", 0x0303, 0x0304,
         43200000, RW_CFG_CLIENT_AUTH_OFF, true},
        {", 'client_auth': {'mode': 'optional', 'ca': '" D("clientca.crt") "'}", 0x0303, 0x0304,
         43200000, RW_CFG_CLIENT_AUTH_OPTIONAL, true},
        {", 'client_auth': {'ca': '" D("root.crt") "', 'mode': 'require'}", 0x0303, 0x0304,
         43200000, RW_CFG_CLIENT_AUTH_REQUIRE, true},
    };

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char json[2048];
        struct rw_cfg *cfg;

        snprintf(json, sizeof(json), TTLS(CERTS "%s"), t[i].body);
        cfg = tcfg_expect_ok(json);
        assert_int_equal(tls_of(cfg)->min_version, t[i].min);
        assert_int_equal(tls_of(cfg)->max_version, t[i].max);
        assert_int_equal(tls_of(cfg)->ticket_key_rotation_ms, t[i].rotation_ms);
        assert_int_equal(tls_of(cfg)->client_auth, t[i].auth);
        assert_int_equal(tls_of(cfg)->client_ca != NULL, t[i].has_ca);
        rw_cfg_free(cfg);
    }
}

/* Names, groups, ALPN and default marks that are accepted, as stored. */
static void tls_good_lists(void **state)
{
    static const struct {
        const char *body;
        const char *first; /* names[0] of certificates[0], groups[0] or alpn[0] */
    } t[] = {
        {"'certificates': [" CERT(", 'names': ['a']") "]", "a"},
        {"'certificates': [" CERT(", 'names': ['*.A-b.Example']") "]", "*.a-b.example"},
        {"'certificates': [" CERT(", 'names': ['xn--bcher-kva.example', 'localhost']") "]",
         "xn--bcher-kva.example"},
        {"'certificates': [" CERT(", 'default': true") ", " CERT(", 'default': true") "]", NULL},
        {"'certificates': [" CERT(", 'default': false") "]", NULL},
        {CERTS ", 'groups': ['X448', 'p-521']", "X448"},
        {CERTS ", 'groups': ['P-256']", "P-256"},
        {CERTS ", 'alpn': ['http/1.1']", "http/1.1"},
        {CERTS ", 'alpn': ['H2', 'h2']", "H2"},
        {CERTS ", 'ciphers': 'HIGH:!aNULL'", NULL},
    };

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char json[2048];
        struct rw_cfg *cfg;
        const struct rw_cfg_tls *tl;

        snprintf(json, sizeof(json), TTLS("%s"), t[i].body);
        cfg = tcfg_expect_ok(json);
        tl = tls_of(cfg);
        if (t[i].first && tl->certs[0].nnames)
            assert_string_equal(tl->certs[0].names[0], t[i].first);
        else if (t[i].first && tl->ngroups)
            assert_string_equal(tl->groups[0], t[i].first);
        else if (t[i].first)
            assert_string_equal(tl->alpn[0], t[i].first);
        rw_cfg_free(cfg);
    }
}

/* Relative names hang off the config file's directory and are stored resolved. */
static void relative_to_config_dir(void **state)
{
    const char *j = tcfg_json(TTLS("'certificates': [{'cert': 'ec.pem', 'key': './ec.key',"
                                   " 'ocsp_staple': '../data/ec.ocsp.der'}]"));
    struct rw_cfg_errs errs = {0};
    struct rw_cfg *cfg = NULL;
    char cwd[PATH_MAX], want[PATH_MAX + 256];

    assert_int_equal(rw_cfg_load_buf(j, strlen(j), D("cfg.json"), &cfg, &errs), 0);
    assert_string_equal(tls_of(cfg)->certs[0].cert, D("ec.pem"));
    assert_string_equal(tls_of(cfg)->certs[0].key, D("ec.key"));
    assert_string_equal(tls_of(cfg)->certs[0].ocsp, D("../data/ec.ocsp.der"));
    rw_cfg_free(cfg);
    /* A name without a directory: the current one, made absolute. */
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    j = tcfg_json(TTLS("'certificates': [{'cert': 'no-such.pem', 'key': '" D("ec.key") "'}]"));
    assert_int_equal(rw_cfg_load_buf(j, strlen(j), "cfg.json", &cfg, &errs), -EINVAL);
    snprintf(want, sizeof(want),
             "cfg.json: $.listeners[0].tls.certificates[0].cert: %s/no-such.pem: cannot read: No "
             "such file or directory",
             cwd);
    assert_int_equal(errs.n, 1);
    assert_string_equal(errs.msg[0], want);
    rw_cfg_errs_clear(&errs);
    /* A relative directory is anchored at the current one. */
    assert_int_equal(rw_cfg_load_buf(j, strlen(j), "./conf/cfg.json", &cfg, &errs), -EINVAL);
    snprintf(want, sizeof(want), ": %s/conf/no-such.pem: cannot read:", cwd);
    assert_true(tcfg_has(&errs, want));
    rw_cfg_errs_clear(&errs);
}

/* rw_cfg_load_file(): files beside the config, then odd files in their place. */
static void files_beside_config(void **state)
{
    char dir[] = "/tmp/rw-cfg-tls.XXXXXX", path[256], want[512];
    static const char body[] =
        "{\"listeners\": [{\"address\": \"127.0.0.1:8443\", \"routes\": [{\"respond\": {}}],"
        " \"tls\": {\"certificates\": [{\"cert\": \"s/site.pem\", \"key\": \"s/site.key\"}]}}]}";
    struct rw_cfg_errs errs = {0};
    struct rw_cfg *cfg = NULL;
    FILE *f;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/s", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    /* Existence and readability are all config checks: contents are tls/'s business. */
    snprintf(path, sizeof(path), "%s/s/site.pem", dir);
    assert_non_null(f = fopen(path, "w"));
    fclose(f);
    snprintf(path, sizeof(path), "%s/s/site.key", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    snprintf(path, sizeof(path), "%s/rw.json", dir);
    assert_non_null(f = fopen(path, "w"));
    fputs(body, f);
    fclose(f);
    /* A FIFO is refused without opening it (which would block). */
    assert_int_equal(rw_cfg_load_file(path, &cfg, &errs), -EINVAL);
    snprintf(want, sizeof(want),
             "certificates[0].key: %s/s/site.key: cannot read: not a regular "
             "file",
             dir);
    assert_true(tcfg_has(&errs, want));
    assert_int_equal(errs.n, 1);
    rw_cfg_errs_clear(&errs);
    snprintf(path, sizeof(path), "%s/s/site.key", dir);
    unlink(path);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/rw.json", dir);
    assert_int_equal(rw_cfg_load_file(path, &cfg, &errs), -EINVAL);
    snprintf(want, sizeof(want), "%s/s/site.key: cannot read: Is a directory", dir);
    assert_true(tcfg_has(&errs, want));
    rw_cfg_errs_clear(&errs);
    snprintf(path, sizeof(path), "%s/s/site.key", dir);
    rmdir(path);
    assert_non_null(f = fopen(path, "w"));
    fclose(f);
    snprintf(path, sizeof(path), "%s/rw.json", dir);
    assert_int_equal(rw_cfg_load_file(path, &cfg, &errs), 0);
    snprintf(want, sizeof(want), "%s/s/site.pem", dir);
    assert_string_equal(tls_of(cfg)->certs[0].cert, want);
    rw_cfg_free(cfg);
    /* Unreadable (root reads anything, so only checked for others). */
    snprintf(path, sizeof(path), "%s/s/site.key", dir);
    if (geteuid() != 0) {
        assert_int_equal(chmod(path, 0), 0);
        snprintf(want, sizeof(want), "%s/rw.json", dir);
        assert_int_equal(rw_cfg_load_file(want, &cfg, &errs), -EINVAL);
        assert_true(tcfg_has(&errs, "site.key: cannot read: Permission denied"));
        rw_cfg_errs_clear(&errs);
    }
    unlink(path);
    snprintf(path, sizeof(path), "%s/s/site.pem", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/s", dir);
    rmdir(path);
    snprintf(path, sizeof(path), "%s/rw.json", dir);
    unlink(path);
    rmdir(dir);
}

#define P "$.listeners[0].tls"
#define NOFILE ": cannot read: No such file or directory"

static const struct bad {
    const char *json;
    const char *msg;
} bad_tls[] = {
    {"{'listeners': [{'address': '*:1', 'tls': true, 'routes': [{'respond': {}}]}]}",
     "cfg.json: " P ": must be an object, got true"},
    {"{'listeners': [{'address': '*:1', 'tsl': {}, 'routes': [{'respond': {}}]}]}",
     "$.listeners[0].tsl: unknown key; did you mean tls?"},
    {TTLS(CERTS ", 'min_versoin': '1.2'"),
     P ".min_versoin: unknown key; did you mean min_version?"},
    /* certificates */
    {TTLS(""), P ".certificates: required key is missing (a list like [{\"cert\": \"site.pem\""},
    {TTLS("'certificates': []"), P ".certificates: must be a non-empty list, got []"},
    {TTLS("'certificates': {}"), P ".certificates: must be a non-empty list, got {}"},
    {TTLS("'certificates': ['a.pem']"),
     P ".certificates[0]: must be an object like {\"cert\": \"site.pem\", \"key\": \"site.key\"}, "
       "got \"a.pem\""},
    {TTLS("'certificates': [{'key': '" D("ec.key") "'}]"),
     P ".certificates[0].cert: required key is missing (PEM file: the certificate, then its "
       "chain)"},
    {TTLS("'certificates': [{'cert': '" D("ec.pem") "'}]"),
     P ".certificates[0].key: required key is missing (PEM file: the private key)"},
    {TTLS("'certificates': [{'cert': '', 'key': '" D("ec.key") "'}]"),
     P ".certificates[0].cert: must not be empty, got \"\""},
    {TTLS("'certificates': [{'cert': 5, 'key': '" D("ec.key") "'}]"),
     P ".certificates[0].cert: must be a string, got 5"},
    {TTLS("'certificates': [{'cert': '/x\\n', 'key': '" D("ec.key") "'}]"),
     P ".certificates[0].cert: must not contain control characters"},
    {TTLS("'certificates': [{'cert': '/nonexistent/site.pem', 'key': '" D("ec.key") "'}]"),
     "cfg.json: " P ".certificates[0].cert: /nonexistent/site.pem" NOFILE},
    {TTLS("'certificates': [{'cert': '" D("ec.pem") "', 'key': '" D("nope.key") "'}]"),
     P ".certificates[0].key: " D("nope.key") NOFILE},
    {TTLS("'certificates': [{'cert': '" SRC "test', 'key': '" D("ec.key") "'}]"),
     P ".certificates[0].cert: " SRC "test: cannot read: Is a directory"},
    {TTLS("'certificates': [" CERT(", 'ocsp_staple': '/nonexistent/o.der'") "]"),
     P ".certificates[0].ocsp_staple: /nonexistent/o.der" NOFILE},
    {TTLS("'certificates': [" CERT(", 'chain': 'x'") "]"), P ".certificates[0].chain: unknown key"},
    {TTLS("'certificates': [" CERT(", 'default': 'yes'") "]"),
     P ".certificates[0].default: must be true or false, got \"yes\""},
    {TTLS("'certificates': [" CERT(", 'default': true") ", " CERT(", 'default': true") ", " CERT(
         ", 'default': true") "]"),
     P ".certificates[2].default: at most two certificates may be the default (one ECDSA and "
       "one RSA), got true"},
    /* names */
    {TTLS("'certificates': [" CERT(", 'names': []") "]"),
     P ".certificates[0].names: must be a non-empty list, got []"},
    {TTLS("'certificates': [" CERT(", 'names': 'example.com'") "]"),
     P ".certificates[0].names: must be a non-empty list, got \"example.com\""},
    {TTLS("'certificates': [" CERT(", 'names': ['a.com', 7]") "]"),
     P ".certificates[0].names[1]: must be a string, got 7"},
    {TTLS("'certificates': [" CERT(", 'names': ['a..com']") "]"),
     P ".certificates[0].names[0]: must be a host name, got \"a..com\""},
    {TTLS("'certificates': [" CERT(", 'names': ['']") "]"),
     P ".certificates[0].names[0]: must be a host name, got \"\""},
    {TTLS("'certificates': [" CERT(", 'names': ['a_b.com']") "]"),
     P ".certificates[0].names[0]: must be a host name"},
    {TTLS("'certificates': [" CERT(", 'names': ['*']") "]"),
     P ".certificates[0].names[0]: may use '*' only as a whole leading label"},
    {TTLS("'certificates': [" CERT(", 'names': ['a.*.com']") "]"),
     P ".certificates[0].names[0]: may use '*' only as a whole leading label"},
    {TTLS("'certificates': [" CERT(", 'names': ['*x.com']") "]"),
     P ".certificates[0].names[0]: may use '*' only"},
    {TTLS("'certificates': [" CERT(", 'names': ['10.0.0.1']") "]"),
     P ".certificates[0].names[0]: must be a DNS name (SNI never carries an IP address), got "
       "\"10.0.0.1\""},
    {TTLS("'certificates': [" CERT(", 'names': ['[::1]']") "]"),
     P ".certificates[0].names[0]: must be a DNS name"},
    {TTLS("'certificates': [" CERT(", 'names': ['a.com:443']") "]"),
     P ".certificates[0].names[0]: must be a host name without a port"},
    {TTLS("'certificates': [" CERT(", 'names': ['a.com', 'A.com']") "]"),
     P ".certificates[0].names[1]: must appear once in the list, got \"A.com\""},
    {TTLS("'certificates': [" CERT(", 'names': ['x.com', 'a.com']") ", " CERT(
         ", 'names': ['b.com', 'A.COM']") "]"),
     P ".certificates[1].names[1]: already names certificates[0], got \"A.COM\""},
    /* versions */
    {TTLS(CERTS ", 'min_version': '1.0'"),
     P ".min_version: TLS 1.0 and 1.1 are not supported (use \"1.2\" or \"1.3\"), got \"1.0\""},
    {TTLS(CERTS ", 'min_version': '1.1'"), P ".min_version: TLS 1.0 and 1.1 are not supported"},
    {TTLS(CERTS ", 'max_version': '1.1'"), P ".max_version: TLS 1.0 and 1.1 are not supported"},
    {TTLS(CERTS ", 'min_version': 1.2"),
     P ".min_version: must be \"1.2\" or \"1.3\" (a string), got 1.2"},
    {TTLS(CERTS ", 'max_version': 'TLSv1.3'"), P ".max_version: must be \"1.2\" or \"1.3\""},
    {TTLS(CERTS ", 'max_version': '1.4'"), P ".max_version: must be \"1.2\" or \"1.3\""},
    {TTLS(CERTS ", 'min_version': '1.3', 'max_version': '1.2'"),
     P ".min_version: must not be above max_version (\"1.2\"), got \"1.3\""},
    /* ciphers */
    {TTLS(CERTS ", 'ciphers': ''"),
     P ".ciphers: must not be empty (leave the key out for the safe defaults), got \"\""},
    {TTLS(CERTS ", 'ciphersuites': 'A\\nB'"), P ".ciphersuites: must be printable ASCII"},
    {TTLS(CERTS ", 'ciphersuites': ['TLS_AES_128_GCM_SHA256']"),
     P ".ciphersuites: must be a string"},
    /* groups, alpn */
    {TTLS(CERTS ", 'groups': []"), P ".groups: must be a non-empty list, got []"},
    {TTLS(CERTS ", 'groups': ['secp256r1']"),
     P ".groups[0]: must be one of \"X25519\", \"X448\", \"P-256\", \"P-384\", \"P-521\", got "
       "\"secp256r1\""},
    {TTLS(CERTS ", 'groups': ['X25519', 'x25519']"),
     P ".groups[1]: must appear once in the list, got \"x25519\""},
    {TTLS(CERTS ", 'groups': 'X25519'"), P ".groups: must be a non-empty list"},
    {TTLS(CERTS ", 'alpn': []"), P ".alpn: must be a non-empty list, got []"},
    {TTLS(CERTS ", 'alpn': ['']"), P ".alpn[0]: must be 1..255 bytes, like \"http/1.1\", got \"\""},
    {TTLS(CERTS ", 'alpn': ['http 1.1']"),
     P ".alpn[0]: must be printable ASCII without spaces, like \"http/1.1\""},
    {TTLS(CERTS ", 'alpn': ['h2', 'h2']"), P ".alpn[1]: must appear once in the list"},
    {TTLS(CERTS ", 'alpn': [true]"), P ".alpn[0]: must be a string, got true"},
    /* tickets */
    {TTLS(CERTS ", 'session_tickets': 1"), P ".session_tickets: must be true or false, got 1"},
    {TTLS(CERTS ", 'ticket_key_rotation': '59s'"),
     P ".ticket_key_rotation: must be between 1m and 7d, got \"59s\""},
    {TTLS(CERTS ", 'ticket_key_rotation': '8d'"),
     P ".ticket_key_rotation: must be between 1m and 7d, got \"8d\""},
    {TTLS(CERTS ", 'ticket_key_rotation': '12'"),
     P ".ticket_key_rotation: must be a duration like \"10s\""},
    {TTLS(CERTS ", 'ticket_key_file': '/nonexistent/t.key'"),
     P ".ticket_key_file: /nonexistent/t.key" NOFILE},
    {TTLS(CERTS ", 'ocsp_staple': '/nonexistent/o.der'"),
     P ".ocsp_staple: /nonexistent/o.der" NOFILE},
    /* client_auth */
    {TTLS(CERTS ", 'client_auth': 'require'"),
     P ".client_auth: must be an object, got \"require\""},
    {TTLS(CERTS ", 'client_auth': {'mode': 'require'}"),
     P ".client_auth.ca: required key is missing (PEM file of the CAs that sign client "
       "certificates; needed unless \"mode\" is \"off\")"},
    {TTLS(CERTS ", 'client_auth': {'mode': 'optional'}"), P ".client_auth.ca: required key"},
    {TTLS(CERTS ", 'client_auth': {'mode': 'on', 'ca': '" D("clientca.crt") "'}"),
     P ".client_auth.mode: must be one of \"off\", \"optional\", \"require\", got \"on\""},
    {TTLS(CERTS ", 'client_auth': {'mode': 'Require', 'ca': '" D("clientca.crt") "'}"),
     P ".client_auth.mode: must be one of"},
    {TTLS(CERTS ", 'client_auth': {'mode': 'require', 'ca': '/nonexistent/ca.pem'}"),
     P ".client_auth.ca: /nonexistent/ca.pem" NOFILE},
    {TTLS(CERTS ", 'client_auth': {'header': 'x client'}"),
     P ".client_auth.header: must be a header name (a token), got \"x client\""},
    {TTLS(CERTS ", 'client_auth': {'header': 'Host'}"),
     P ".client_auth.header: must not be host or a framing or hop-by-hop header"},
    {TTLS(CERTS ", 'client_auth': {'header': ''}"), P ".client_auth.header: must be a header name"},
    {TTLS(CERTS ", 'client_auth': {'mod': 'off'}"),
     P ".client_auth.mod: unknown key; did you mean mode?"},
};

static void bad_listener_tls(void **state)
{
    for (size_t i = 0; i < sizeof(bad_tls) / sizeof(bad_tls[0]); i++)
        tcfg_expect_err(bad_tls[i].json, bad_tls[i].msg);
}

/* Several problems in one "tls" object are all reported. */
static void all_reported(void **state)
{
    struct rw_cfg_errs errs = {0};
    struct rw_cfg *cfg = NULL;

    assert_int_equal(tcfg_load(TTLS("'certificates': [{'cert': '/nonexistent/a.pem'}],"
                                    " 'min_version': '1.0', 'groups': ['P-192'],"
                                    " 'client_auth': {'mode': 'require'}"),
                               &cfg, &errs),
                     -EINVAL);
    assert_int_equal(errs.n, 5);
    assert_true(tcfg_has(&errs, P ".certificates[0].cert: /nonexistent/a.pem" NOFILE));
    assert_true(tcfg_has(&errs, P ".certificates[0].key: required key is missing"));
    assert_true(tcfg_has(&errs, P ".min_version: TLS 1.0"));
    assert_true(tcfg_has(&errs, P ".groups[0]: must be one of"));
    assert_true(tcfg_has(&errs, P ".client_auth.ca: required key is missing"));
    rw_cfg_errs_clear(&errs);
}

static void upstream_tls_values(void **state)
{
    static const struct {
        const char *body;
        bool enabled, verify, ca, cert;
        const char *sni;
    } t[] = {
        {"'ca': '" D("root.crt") "'", true, true, true, false, NULL},
        {"'enabled': true, 'verify': true, 'ca': '" D("root.crt") "', 'sni': 'Backend.Internal'",
         true, true, true, false, "backend.internal"},
        {"'verify': false", true, false, false, false, NULL},
        {"'enabled': false", false, true, false, false, NULL},
        {"'verify': false, 'sni': 'a', 'cert': '" D("client.pem") "', 'key': '" D("client.key") "'",
         true, false, false, true, "a"},
        {"'ca': '" D("root.crt") "', 'cert': '" D("client.pem") "', 'key': '" D("client.key") "'",
         true, true, true, true, NULL},
    };

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char json[2048];
        struct rw_cfg *cfg;
        const struct rw_cfg_upstream_tls *u;

        snprintf(json, sizeof(json), TUTLS("%s"), t[i].body);
        cfg = tcfg_expect_ok(json);
        u = &cfg->upstreams[0].tls;
        assert_int_equal(u->enabled, t[i].enabled);
        assert_int_equal(u->verify, t[i].verify);
        assert_int_equal(u->ca != NULL, t[i].ca);
        assert_int_equal(u->cert != NULL, t[i].cert);
        assert_int_equal(u->key != NULL, t[i].cert);
        if (t[i].ca)
            assert_string_equal(u->ca, D("root.crt"));
        if (t[i].cert) {
            assert_string_equal(u->cert, D("client.pem"));
            assert_string_equal(u->key, D("client.key"));
        }
        if (t[i].sni)
            assert_string_equal(u->sni, t[i].sni);
        else
            assert_null(u->sni);
        rw_cfg_free(cfg);
    }
}

#define PU "$.upstreams.a.tls"

static const struct bad bad_up_tls[] = {
    {"{'upstreams': {'a': {'servers': [{'address': '*:1'}], 'tls': true}}, " TCFG_MIN "}",
     "cfg.json: " PU ": must be an object, got true"},
    {TUTLS(""),
     PU ".ca: required key is missing (PEM file of the CAs that sign the servers' certificates; "
        "or \"verify\": false)"},
    {TUTLS("'verify': true"), PU ".ca: required key is missing"},
    {TUTLS("'enabled': 'yes', 'verify': false"), PU ".enabled: must be true or false, got \"yes\""},
    {TUTLS("'verify': 0"), PU ".verify: must be true or false, got 0"},
    {TUTLS("'ca': '/nonexistent/ca.pem'"), PU ".ca: /nonexistent/ca.pem" NOFILE},
    {TUTLS("'ca': ''"), PU ".ca: must not be empty"},
    {TUTLS("'verify': false, 'cert': '" D("client.pem") "'"),
     PU ".key: required key is missing (a client certificate needs both \"cert\" and \"key\")"},
    {TUTLS("'verify': false, 'key': '" D("client.key") "'"),
     PU ".cert: required key is missing (a client certificate needs both"},
    {TUTLS("'verify': false, 'cert': '/nonexistent/c.pem', 'key': '" D("client.key") "'"),
     PU ".cert: /nonexistent/c.pem" NOFILE},
    {TUTLS("'verify': false, 'cert': '" D("client.pem") "', 'key': '/nonexistent/c.key'"),
     PU ".key: /nonexistent/c.key" NOFILE},
    {TUTLS("'verify': false, 'sni': '*.example.com'"), PU ".sni: must be a host name, got"},
    {TUTLS("'verify': false, 'sni': '10.1.2.3'"), PU ".sni: must be a DNS name (SNI never"},
    {TUTLS("'verify': false, 'sni': 'a.b:443'"), PU ".sni: must be a host name without a port"},
    {TUTLS("'verify': false, 'sni': ''"), PU ".sni: must be a host name, got \"\""},
    {TUTLS("'verify': false, 'sin': 'a'"), PU ".sin: unknown key; did you mean sni?"},
};

static void bad_upstream_tls(void **state)
{
    for (size_t i = 0; i < sizeof(bad_up_tls) / sizeof(bad_up_tls[0]); i++)
        tcfg_expect_err(bad_up_tls[i].json, bad_up_tls[i].msg);
}

/* The issue-5 keys of examples/reference.json reach their fields (files resolved), client
 * certificates on the HTTPS listener's routes included. */
static void reference_tls(void **state)
{
    struct rw_cfg_errs errs = {0};
    struct rw_cfg *cfg = NULL;
    const struct rw_cfg_listener *l = NULL;
    const struct rw_cfg_tls *t = NULL;
    const struct rw_cfg_upstream_tls *u = NULL;
    int rc = rw_cfg_load_file(SRC "examples/reference.json", &cfg, &errs);

    for (uint32_t i = 0; i < errs.n; i++)
        fprintf(stderr, "  error: %s\n", errs.msg[i]);
    assert_int_equal(rc, 0);
    for (uint32_t i = 0; i < cfg->nlisteners; i++)
        if (cfg->listeners[i].tls.enabled)
            l = &cfg->listeners[i];
    t = l ? &l->tls : NULL;
    for (uint32_t i = 0; i < cfg->nupstreams; i++)
        if (cfg->upstreams[i].tls.enabled)
            u = &cfg->upstreams[i].tls;
    assert_non_null(t);
    assert_non_null(u);
    assert_int_equal(t->ncerts, 2);
    assert_string_equal(t->certs[0].cert, SRC "examples/../test/unit/tls/data/ec.pem");
    assert_string_equal(t->certs[0].names[1], "*.example.com");
    assert_true(t->certs[0].is_default);
    assert_non_null(t->certs[0].ocsp);
    assert_non_null(t->certs[1].ocsp);
    assert_true(t->certs[1].ocsp_inherited); /* stapled only if it answers for other.pem */
    assert_int_equal(t->min_version, 0x0303);
    assert_int_equal(t->max_version, 0x0304);
    assert_non_null(t->ciphers);
    assert_non_null(t->ciphersuites);
    assert_int_equal(t->ngroups, 2);
    assert_int_equal(t->nalpn, 1);
    assert_true(t->session_tickets);
    assert_int_equal(t->ticket_key_rotation_ms, 12 * 3600 * 1000);
    assert_non_null(t->ticket_key_file);
    assert_int_equal(t->client_auth, RW_CFG_CLIENT_AUTH_OPTIONAL);
    assert_non_null(t->client_ca);
    assert_string_equal(t->client_header, "x-client-cert-subject");
    assert_int_equal(l->nroutes, 5);
    assert_int_equal(l->routes[0].match.cert.nsubjects, 1);
    assert_string_equal(l->routes[0].match.cert.subjects[0], "CN=alice,O=Ringwall\\, Test,C=US");
    assert_int_equal(l->routes[0].match.cert.nsans, 2);
    assert_int_equal(l->routes[0].match.cert.nsha256, 1);
    assert_int_equal(l->routes[0].match.cert.sha256[0][0], 0x93);
    assert_true(l->routes[2].client_cert_required);
    assert_true(l->routes[3].match.cert.present);
    assert_true(u->verify);
    assert_string_equal(u->ca, SRC "examples/../test/unit/tls/data/root.crt");
    assert_string_equal(u->sni, "backend.internal");
    assert_non_null(u->cert);
    assert_non_null(u->key);
    rw_cfg_free(cfg);
}

int test_tls_group(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(tls_absent),          cmocka_unit_test(tls_defaults),
        cmocka_unit_test(tls_every_key),       cmocka_unit_test(tls_good_values),
        cmocka_unit_test(tls_good_lists),      cmocka_unit_test(relative_to_config_dir),
        cmocka_unit_test(files_beside_config), cmocka_unit_test(bad_listener_tls),
        cmocka_unit_test(all_reported),        cmocka_unit_test(upstream_tls_values),
        cmocka_unit_test(bad_upstream_tls),    cmocka_unit_test(reference_tls),
    };
    return cmocka_run_group_tests_name("config/tls", t, NULL, NULL);
}
