/* SPDX-License-Identifier: MIT */
/* TLS: the "tls" object of a listener (HTTPS) and of an upstream (TLS to its servers). */
#include "config/cfg-int.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const tls_keys[] = {
    "certificates",
    "min_version",
    "max_version",
    "ciphers",
    "ciphersuites",
    "groups",
    "alpn",
    "session_tickets",
    "ticket_key_rotation",
    "ticket_key_file",
    "ocsp_staple",
    "client_auth",
    NULL,
};
static const char *const cert_keys[] = {"cert", "key", "names", "ocsp_staple", "default", NULL};
static const char *const client_auth_keys[] = {"ca", "mode", "header", NULL};
static const char *const client_auth_modes[] = {"off", "optional", "require", NULL};
static const char *const up_tls_keys[] = {"enabled", "verify", "ca", "sni", "cert", "key", NULL};
/* The spelling stored (and handed to wolfSSL); accepted in any case. */
static const char *const tls_groups[] = {"X25519", "X448", "P-256", "P-384", "P-521", NULL};

/* Fields ringwall writes itself, or that would break the request if reused. */
static const char *const tls_reserved_hdrs[] = {
    "connection", "content-length", "transfer-encoding", "keep-alive", "proxy-connection",
    "te",         "trailer",        "upgrade",           "host",       NULL,
};

#define TLS_V12 0x0303
#define TLS_V13 0x0304
#define TLS_ROTATION_MIN_MS (60u * 1000)
#define TLS_ROTATION_MAX_MS (7u * 24 * 60 * 60 * 1000)
#define TLS_ROTATION_DEFAULT_MS (12u * 60 * 60 * 1000)
#define TLS_CIPHERS_MAX 4096
/* A default of each key type (ECDSA and RSA) may be marked; tls/ tells them apart. */
#define TLS_MAX_DEFAULTS 2

/* A DNS name as SNI carries it: never an IP literal (RFC 6066 3). */
static const char *tls_check_dns(const char *s)
{
    struct in_addr a4;

    if (s[0] == '[' || inet_pton(AF_INET, s, &a4) == 1)
        return "must be a DNS name (SNI never carries an IP address)";
    if (strchr(s, ':'))
        return "must be a host name without a port";
    return rw__cfg_check_host(s) ? "must be a host name" : NULL;
}

static const char *tls_check_sni_name(const char *s)
{
    if (s[0] == '*' && s[1] == '.')
        s += 2;
    if (strchr(s, '*'))
        return "may use '*' only as a whole leading label, like \"*.example.com\"";
    return tls_check_dns(s);
}

/* ALPN protocol ids are opaque bytes; printable ones are all anyone uses. */
static const char *tls_check_alpn(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 255)
        return "must be 1..255 bytes, like \"http/1.1\"";
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return "must be printable ASCII without spaces, like \"http/1.1\"";
    return NULL;
}

static const char *tls_check_group(const char *s)
{
    for (size_t i = 0; tls_groups[i]; i++)
        if (strcasecmp(s, tls_groups[i]) == 0)
            return NULL;
    return "must be one of \"X25519\", \"X448\", \"P-256\", \"P-384\", \"P-521\"";
}

/* Suite names are checked by tls/ against what the library knows; here only the syntax. */
static const char *tls_check_ciphers(const char *s)
{
    size_t n = strlen(s);

    if (n == 0)
        return "must not be empty (leave the key out for the safe defaults)";
    if (n > TLS_CIPHERS_MAX)
        return "must be at most 4096 bytes";
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            return "must be printable ASCII, like \"ECDHE-ECDSA-AES128-GCM-SHA256:...\"";
    return NULL;
}

static const char *tls_check_header(const char *s)
{
    if (rw__cfg_check_token(s))
        return "must be a header name (a token)";
    for (size_t i = 0; tls_reserved_hdrs[i]; i++)
        if (strcasecmp(s, tls_reserved_hdrs[i]) == 0)
            return "must not be host or a framing or hop-by-hop header";
    return NULL;
}

/* parent[key]: a non-empty list of distinct strings passing check (duplicates compared
 * case-insensitively when nocase). *out and *n are set only when every entry is good. */
static bool tls_strv(struct rw__cfg_ctx *c, const json_t *parent, const char *key,
                     rw__cfg_check_fn *check, bool nocase, char ***out, uint32_t *n)
{
    const json_t *arr = rw__cfg_get_arr(c, parent, key, true);
    size_t len = json_array_size(arr), mark;
    char **v;
    bool ok = true;

    if (!arr)
        return !json_object_get(parent, key);
    v = rw__cfg_xcalloc(len, sizeof(*v));
    mark = rw__cfg_enter_key(c, key);
    for (size_t i = 0; i < len; i++) {
        const json_t *e = json_array_get(arr, i);
        const char *why = json_is_string(e) ? check(json_string_value(e)) : "must be a string";
        size_t m2 = rw__cfg_enter_index(c, i);

        for (size_t j = 0; !why && j < i; j++) {
            const char *prev = json_string_value(json_array_get(arr, j));

            if (prev && (nocase ? strcasecmp(prev, json_string_value(e)) == 0
                                : strcmp(prev, json_string_value(e)) == 0))
                why = "must appear once in the list";
        }
        if (why) {
            rw__cfg_err_got(c, e, "%s", why);
            ok = false;
        }
        rw__cfg_leave(c, m2);
    }
    rw__cfg_leave(c, mark);
    for (size_t i = 0; ok && i < len; i++)
        v[i] = rw__cfg_xstrdup(json_string_value(json_array_get(arr, i)));
    if (!ok) {
        free(v);
        return false;
    }
    *out = v;
    *n = (uint32_t)len;
    return true;
}

/* "1.2" / "1.3" into *out. */
static bool tls_version(struct rw__cfg_ctx *c, const json_t *o, const char *key, uint16_t *out)
{
    const json_t *v = json_object_get(o, key);
    const char *s = json_string_value(v);
    size_t mark;

    if (!v)
        return true;
    if (s && strcmp(s, "1.2") == 0) {
        *out = TLS_V12;
        return true;
    }
    if (s && strcmp(s, "1.3") == 0) {
        *out = TLS_V13;
        return true;
    }
    mark = rw__cfg_enter_key(c, key);
    if (s && (strcmp(s, "1.0") == 0 || strcmp(s, "1.1") == 0 || strcmp(s, "1") == 0))
        rw__cfg_err_got(c, v, "TLS 1.0 and 1.1 are not supported (use \"1.2\" or \"1.3\")");
    else
        rw__cfg_err_got(c, v, "must be \"1.2\" or \"1.3\" (a string)");
    rw__cfg_leave(c, mark);
    return false;
}

static void tls_versions(struct rw__cfg_ctx *c, const json_t *o, struct rw_cfg_tls *t)
{
    bool ok = tls_version(c, o, "min_version", &t->min_version);
    size_t mark;

    ok &= tls_version(c, o, "max_version", &t->max_version);
    if (!ok || t->min_version <= t->max_version)
        return;
    mark = rw__cfg_enter_key(c, "min_version");
    rw__cfg_err_got(c, json_object_get(o, "min_version"),
                    "must not be above max_version (\"1.2\")");
    rw__cfg_leave(c, mark);
}

/* One entry of "certificates" (at its path). */
static void tls_cert(struct rw__cfg_ctx *c, const json_t *jc, struct rw_cfg_tls_cert *ct)
{
    if (!json_is_object(jc)) {
        rw__cfg_err_got(c, jc,
                        "must be an object like {\"cert\": \"site.pem\", \"key\": "
                        "\"site.key\"}");
        return;
    }
    rw__cfg_check_keys(c, jc, cert_keys);
    if (rw__cfg_require(c, jc, "cert", "PEM file: the certificate, then its chain"))
        rw__cfg_get_file(c, jc, "cert", &ct->cert);
    if (rw__cfg_require(c, jc, "key", "PEM file: the private key"))
        rw__cfg_get_file(c, jc, "key", &ct->key);
    if (tls_strv(c, jc, "names", tls_check_sni_name, true, &ct->names, &ct->nnames))
        for (uint32_t i = 0; i < ct->nnames; i++)
            rw__cfg_lower(ct->names[i]);
    rw__cfg_get_file(c, jc, "ocsp_staple", &ct->ocsp);
    rw__cfg_get_bool(c, jc, "default", &ct->is_default);
}

/* A name given to two certificates would make SNI selection ambiguous. */
static void tls_name_dups(struct rw__cfg_ctx *c, const json_t *arr, const struct rw_cfg_tls *t)
{
    for (uint32_t j = 1; j < t->ncerts; j++) {
        for (uint32_t k = 0; k < t->certs[j].nnames; k++) {
            const char *name = t->certs[j].names[k];
            bool dup = false;

            for (uint32_t i = 0; !dup && i < j; i++) {
                for (uint32_t m = 0; !dup && m < t->certs[i].nnames; m++) {
                    size_t mark;

                    if (strcmp(t->certs[i].names[m], name) != 0)
                        continue;
                    dup = true;
                    mark = rw__cfg_enter_key(c, "certificates");
                    rw__cfg_enter_index(c, j);
                    rw__cfg_enter_key(c, "names");
                    rw__cfg_enter_index(c, k);
                    rw__cfg_err_got(
                        c, json_array_get(json_object_get(json_array_get(arr, j), "names"), k),
                        "already names certificates[%" PRIu32 "]", i);
                    rw__cfg_leave(c, mark);
                }
            }
        }
    }
}

static void tls_defaults_count(struct rw__cfg_ctx *c, const json_t *arr, const struct rw_cfg_tls *t)
{
    uint32_t n = 0;

    for (uint32_t i = 0; i < t->ncerts; i++) {
        size_t mark;

        if (!t->certs[i].is_default || ++n <= TLS_MAX_DEFAULTS)
            continue;
        mark = rw__cfg_enter_key(c, "certificates");
        rw__cfg_enter_index(c, i);
        rw__cfg_enter_key(c, "default");
        rw__cfg_err_got(c, json_object_get(json_array_get(arr, i), "default"),
                        "at most two certificates may be the default (one ECDSA and one RSA)");
        rw__cfg_leave(c, mark);
    }
}

static void tls_certs(struct rw__cfg_ctx *c, const json_t *o, struct rw_cfg_tls *t)
{
    const json_t *arr;
    char *ocsp = NULL;

    if (!rw__cfg_require(c, o, "certificates",
                         "a list like [{\"cert\": \"site.pem\", \"key\": \"site.key\"}]") ||
        !(arr = rw__cfg_get_arr(c, o, "certificates", true)))
        return;
    t->certs = rw__cfg_xcalloc(json_array_size(arr), sizeof(*t->certs));
    for (size_t i = 0; i < json_array_size(arr); i++) {
        size_t mark = rw__cfg_enter_key(c, "certificates");

        rw__cfg_enter_index(c, i);
        tls_cert(c, json_array_get(arr, i), &t->certs[i]);
        t->ncerts++;
        rw__cfg_leave(c, mark);
    }
    tls_name_dups(c, arr, t);
    tls_defaults_count(c, arr, t);
    /* The listener-wide staple is the default of every certificate without its own. */
    if (rw__cfg_get_file(c, o, "ocsp_staple", &ocsp) && ocsp)
        for (uint32_t i = 0; i < t->ncerts; i++)
            if (!t->certs[i].ocsp) {
                t->certs[i].ocsp = rw__cfg_xstrdup(ocsp);
                t->certs[i].ocsp_inherited = true;
            }
    free(ocsp);
}

static void tls_tickets(struct rw__cfg_ctx *c, const json_t *o, struct rw_cfg_tls *t)
{
    uint32_t ms = TLS_ROTATION_DEFAULT_MS;
    size_t mark;

    rw__cfg_get_bool(c, o, "session_tickets", &t->session_tickets);
    rw__cfg_get_file(c, o, "ticket_key_file", &t->ticket_key_file);
    if (!rw__cfg_get_duration(c, o, "ticket_key_rotation", &ms))
        return;
    if (ms >= TLS_ROTATION_MIN_MS && ms <= TLS_ROTATION_MAX_MS) {
        t->ticket_key_rotation_ms = ms;
        return;
    }
    mark = rw__cfg_enter_key(c, "ticket_key_rotation");
    rw__cfg_err_got(c, json_object_get(o, "ticket_key_rotation"), "must be between 1m and 7d");
    rw__cfg_leave(c, mark);
}

static void tls_client_auth(struct rw__cfg_ctx *c, const json_t *o, struct rw_cfg_tls *t)
{
    unsigned mode = RW_CFG_CLIENT_AUTH_OFF;
    const json_t *ca;
    size_t mark;

    if (!(ca = rw__cfg_enter_obj(c, o, "client_auth", client_auth_keys, &mark)))
        return;
    if (rw__cfg_get_choice(c, ca, "mode", client_auth_modes, false, &mode)) {
        t->client_auth = (uint8_t)mode;
        if (mode != RW_CFG_CLIENT_AUTH_OFF)
            rw__cfg_require(c, ca, "ca",
                            "PEM file of the CAs that sign client certificates; needed unless "
                            "\"mode\" is \"off\"");
    }
    rw__cfg_get_file(c, ca, "ca", &t->client_ca);
    if (rw__cfg_get_str(c, ca, "header", tls_check_header, &t->client_header) && t->client_header)
        rw__cfg_lower(t->client_header);
    rw__cfg_leave(c, mark);
}

/* Canonical spelling of each group (they are accepted in any case). */
static void tls_canon_groups(struct rw_cfg_tls *t)
{
    for (uint32_t i = 0; i < t->ngroups; i++) {
        for (size_t j = 0; tls_groups[j]; j++) {
            if (strcasecmp(t->groups[i], tls_groups[j]) == 0) {
                strcpy(t->groups[i], tls_groups[j]);
                break;
            }
        }
    }
}

void rw__cfg_load_tls(struct rw__cfg_ctx *c, const json_t *jl, struct rw_cfg_tls *t)
{
    const json_t *o;
    size_t mark;

    t->min_version = TLS_V12;
    t->max_version = TLS_V13;
    t->session_tickets = true;
    t->ticket_key_rotation_ms = TLS_ROTATION_DEFAULT_MS;
    t->client_auth = RW_CFG_CLIENT_AUTH_OFF;
    if (!(o = rw__cfg_enter_obj(c, jl, "tls", tls_keys, &mark)))
        return;
    t->enabled = true;
    tls_certs(c, o, t);
    tls_versions(c, o, t);
    rw__cfg_get_str(c, o, "ciphers", tls_check_ciphers, &t->ciphers);
    rw__cfg_get_str(c, o, "ciphersuites", tls_check_ciphers, &t->ciphersuites);
    if (tls_strv(c, o, "groups", tls_check_group, true, &t->groups, &t->ngroups))
        tls_canon_groups(t);
    tls_strv(c, o, "alpn", tls_check_alpn, false, &t->alpn, &t->nalpn);
    tls_tickets(c, o, t);
    tls_client_auth(c, o, t);
    rw__cfg_leave(c, mark);
}

void rw__cfg_load_upstream_tls(struct rw__cfg_ctx *c, const json_t *ju,
                               struct rw_cfg_upstream_tls *t)
{
    const json_t *o;
    size_t mark;

    t->verify = true;
    if (!ju || !(o = rw__cfg_enter_obj(c, ju, "tls", up_tls_keys, &mark)))
        return;
    t->enabled = true;
    rw__cfg_get_bool(c, o, "enabled", &t->enabled);
    rw__cfg_get_bool(c, o, "verify", &t->verify);
    if (t->enabled && t->verify)
        rw__cfg_require(c, o, "ca",
                        "PEM file of the CAs that sign the servers' certificates; or \"verify\": "
                        "false");
    rw__cfg_get_file(c, o, "ca", &t->ca);
    if (rw__cfg_get_str(c, o, "sni", tls_check_dns, &t->sni))
        if (t->sni)
            rw__cfg_lower(t->sni);
    rw__cfg_get_file(c, o, "cert", &t->cert);
    rw__cfg_get_file(c, o, "key", &t->key);
    if (!json_object_get(o, "cert") != !json_object_get(o, "key"))
        rw__cfg_require(c, o, json_object_get(o, "cert") ? "key" : "cert",
                        "a client certificate needs both \"cert\" and \"key\"");
    rw__cfg_leave(c, mark);
}

static void tls_free_strv(char **v, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void rw__cfg_free_tls(struct rw_cfg_tls *t)
{
    for (uint32_t i = 0; i < t->ncerts; i++) {
        free(t->certs[i].cert);
        free(t->certs[i].key);
        tls_free_strv(t->certs[i].names, t->certs[i].nnames);
        free(t->certs[i].ocsp);
    }
    free(t->certs);
    free(t->ciphers);
    free(t->ciphersuites);
    tls_free_strv(t->groups, t->ngroups);
    tls_free_strv(t->alpn, t->nalpn);
    free(t->ticket_key_file);
    free(t->client_ca);
    free(t->client_header);
}

void rw__cfg_free_upstream_tls(struct rw_cfg_upstream_tls *t)
{
    free(t->ca);
    free(t->sni);
    free(t->cert);
    free(t->key);
}
