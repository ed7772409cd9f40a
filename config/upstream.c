/* SPDX-License-Identifier: MIT */
/* Upstreams: balance and hash options, servers, slow start, queue, retries, timeouts. */
#include "config/cfg-int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char *const upstream_keys[] = {
    "balance",   "hash",    "servers",      "slow_start", "sticky",          "queue", "timeouts",
    "keepalive", "retries", "health_check", "passive",    "panic_threshold", "tls",   NULL,
};
static const char *const server_keys[] = {
    "name", "address", "weight", "max_conns", "backup", "initial", NULL,
};
static const char *const server_initial[] = {"up", "down", NULL};
static const char *const up_timeout_keys[] = {"connect", "response", "read", NULL};
static const char *const keepalive_keys[] = {"max_idle", "idle_timeout", NULL};
static const char *const hash_keys[] = {
    "key", "method", "balance_factor", "ipv4_mask", "ipv6_mask", NULL,
};
static const char *const hash_methods[] = {"maglev", "ring", NULL};
static const char *const queue_keys[] = {"size", "timeout", NULL};
static const char *const retry_keys[] = {"count", "on", "budget", NULL};

/* retries.on: entry i is RW_RETRY_* bit i. */
static const char *const retry_conds[] = {
    "connect_failure", "reset", "timeout", "502", "503", "504", NULL,
};
_Static_assert(RW_RETRY_CONNECT_FAILURE == 1u << 0 && RW_RETRY_RESET == 1u << 1 &&
                   RW_RETRY_TIMEOUT == 1u << 2 && RW_RETRY_502 == 1u << 3 &&
                   RW_RETRY_503 == 1u << 4 && RW_RETRY_504 == 1u << 5,
               "retry_conds[] follows the RW_RETRY_* bits");

#define UP_RETRY_BUDGET 0.2

static void load_server(struct rw__cfg_ctx *c, const json_t *js, struct rw_cfg_server *s)
{
    unsigned initial = 0;

    s->weight = 1;
    if (!json_is_object(js)) {
        rw__cfg_err_got(c, js, "must be an object like {\"address\": \"127.0.0.1:9000\"}");
        return;
    }
    rw__cfg_check_keys(c, js, server_keys);
    if (rw__cfg_require(c, js, "address", NULL))
        rw__cfg_get_addr(c, js, "address", &s->address, &s->addr, &s->addrlen);
    rw__cfg_get_str(c, js, "name", rw__cfg_check_name, &s->name);
    rw__cfg_get_u32(c, js, "weight", 1, 1000, &s->weight);
    rw__cfg_get_u32(c, js, "max_conns", 0, 1000000, &s->max_conns);
    rw__cfg_get_bool(c, js, "backup", &s->backup);
    if (rw__cfg_get_choice(c, js, "initial", server_initial, false, &initial))
        s->initial_down = initial == 1;
    if (!s->name && json_is_string(json_object_get(js, "address")))
        s->name = rw__cfg_xstrdup(json_string_value(json_object_get(js, "address")));
}

/* Server names are unique within their upstream (they key runtime state). */
static void load_server_dups(struct rw__cfg_ctx *c, const json_t *jservers,
                             const struct rw_cfg_upstream *up)
{
    for (uint32_t j = 1; j < up->nservers; j++) {
        const json_t *js = json_array_get(jservers, j);
        const char *key = json_object_get(js, "name") ? "name" : "address";

        for (uint32_t i = 0; i < j; i++) {
            size_t mark;

            if (!up->servers[i].name || !up->servers[j].name ||
                strcmp(up->servers[i].name, up->servers[j].name) != 0)
                continue;
            mark = rw__cfg_enter_key(c, "servers");
            rw__cfg_enter_index(c, j);
            rw__cfg_enter_key(c, key);
            rw__cfg_err_got(c, json_object_get(js, key),
                            "server names must be unique in an upstream (same as servers[%" PRIu32
                            "]%s)",
                            i, key[0] == 'a' ? "; give each server a distinct \"name\"" : "");
            rw__cfg_leave(c, mark);
            break;
        }
    }
}

/* Backups serve only when no primary is usable: a pool of backups alone has none. */
static void load_server_primary(struct rw__cfg_ctx *c, const json_t *arr,
                                const struct rw_cfg_upstream *up)
{
    size_t mark;

    if (up->nservers == 0 || json_array_size(arr) != up->nservers)
        return;
    for (uint32_t i = 0; i < up->nservers; i++)
        if (!up->servers[i].backup || !json_is_object(json_array_get(arr, i)))
            return;
    mark = rw__cfg_enter_key(c, "servers");
    rw__cfg_err_got(c, arr, "must include at least one server without \"backup\": true");
    rw__cfg_leave(c, mark);
}

static void load_upstream_servers(struct rw__cfg_ctx *c, const json_t *ju,
                                  struct rw_cfg_upstream *up)
{
    const json_t *arr;

    if (!rw__cfg_require(c, ju, "servers", NULL))
        return;
    arr = rw__cfg_get_arr(c, ju, "servers", true);
    if (!arr)
        return;
    up->servers = rw__cfg_xcalloc(json_array_size(arr), sizeof(*up->servers));
    for (size_t i = 0; i < json_array_size(arr); i++) {
        size_t mark = rw__cfg_enter_key(c, "servers");

        rw__cfg_enter_index(c, i);
        load_server(c, json_array_get(arr, i), &up->servers[i]);
        rw__cfg_leave(c, mark);
        up->nservers++;
    }
    load_server_dups(c, arr, up);
    load_server_primary(c, arr, up);
}

/* "uri", "client_ip", "header:NAME", "cookie:NAME" or "query:NAME" into h; NULL when
 * fine, else what was expected. */
static const char *up_hash_key_parse(const char *s, struct rw_cfg_hash *h)
{
    static const struct {
        const char *prefix;
        uint8_t key;
        rw__cfg_check_fn *check;
        const char *why;
    } named[] = {
        {"header:", RW_HASH_KEY_HEADER, rw__cfg_check_token,
         "must be \"header:NAME\" with NAME a header name (a token)"},
        {"cookie:", RW_HASH_KEY_COOKIE, rw__cfg_check_cookie_name,
         "must be \"cookie:NAME\" with a non-empty NAME without ';', '=', '&', spaces or control "
         "characters"},
        {"query:", RW_HASH_KEY_QUERY, rw__cfg_check_cookie_name,
         "must be \"query:NAME\" with a non-empty NAME without ';', '=', '&', spaces or control "
         "characters"},
    };

    if (strcmp(s, "uri") == 0 || strcmp(s, "client_ip") == 0) {
        h->key = s[0] == 'u' ? RW_HASH_KEY_URI : RW_HASH_KEY_CLIENT_IP;
        return NULL;
    }
    for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
        size_t n = strlen(named[i].prefix);

        if (strncmp(s, named[i].prefix, n) != 0)
            continue;
        if (named[i].check(s + n))
            return named[i].why;
        h->key = named[i].key;
        free(h->key_name);
        h->key_name = rw__cfg_xstrdup(s + n);
        if (h->key == RW_HASH_KEY_HEADER)
            rw__cfg_lower(h->key_name);
        return NULL;
    }
    return "must be \"uri\", \"client_ip\", \"header:NAME\", \"cookie:NAME\" or \"query:NAME\"";
}

/* hash.key; ip_hash allows only "client_ip". */
static void up_hash_key(struct rw__cfg_ctx *c, const json_t *o, bool ip_hash, struct rw_cfg_hash *h)
{
    const json_t *v = json_object_get(o, "key");
    const char *why = "must be a string";
    size_t mark;

    if (!v)
        return;
    if (json_is_string(v)) {
        why = up_hash_key_parse(json_string_value(v), h);
        if (!why && ip_hash && h->key != RW_HASH_KEY_CLIENT_IP)
            why = "must be \"client_ip\" with \"balance\": \"ip_hash\" (use \"balance\": \"hash\" "
                  "for other keys)";
    }
    if (!why)
        return;
    mark = rw__cfg_enter_key(c, "key");
    rw__cfg_err_got(c, v, "%s", why);
    rw__cfg_leave(c, mark);
}

static void up_hash_fields(struct rw__cfg_ctx *c, const json_t *o, bool ip_hash,
                           struct rw_cfg_hash *h)
{
    unsigned method = h->method;
    uint32_t m4 = h->ipv4_mask, m6 = h->ipv6_mask;

    up_hash_key(c, o, ip_hash, h);
    if (rw__cfg_get_choice(c, o, "method", hash_methods, false, &method))
        h->method = (uint8_t)method;
    rw__cfg_get_number(c, o, "balance_factor", 1.0, 100.0, true, &h->balance_factor);
    if (rw__cfg_get_u32(c, o, "ipv4_mask", 1, 32, &m4))
        h->ipv4_mask = (uint8_t)m4;
    if (rw__cfg_get_u32(c, o, "ipv6_mask", 1, 128, &m6))
        h->ipv6_mask = (uint8_t)m6;
}

/* "hash": required with "balance": "hash", optional with "ip_hash", refused otherwise.
 * The written balance is used even when balancers/ does not know it (already reported),
 * so that the hash object is still checked. */
static void up_hash(struct rw__cfg_ctx *c, const json_t *ju, struct rw_cfg_upstream *up)
{
    const json_t *jb = json_object_get(ju, "balance");
    const char *b = json_is_string(jb) ? json_string_value(jb) : "";
    bool is_hash = strcmp(b, "hash") == 0, is_ip = strcmp(b, "ip_hash") == 0;
    bool b_ok = !jb || (json_is_string(jb) && rw__cfg_balance_known(b));
    const json_t *o;
    size_t mark;

    up->hash.method = RW_HASH_MAGLEV;
    up->hash.ipv4_mask = 32;
    up->hash.ipv6_mask = 64;
    up->hash.key = is_ip ? RW_HASH_KEY_CLIENT_IP : RW_HASH_KEY_URI;
    if (!json_object_get(ju, "hash")) {
        if (is_hash)
            rw__cfg_require(c, ju, "hash", "\"balance\": \"hash\" needs at least {\"key\": ...}");
        return;
    }
    if (!(o = rw__cfg_enter_obj(c, ju, "hash", hash_keys, &mark)))
        return;
    if (!is_hash && !is_ip && b_ok) {
        rw__cfg_err(c,
                    "hash options need \"balance\": \"hash\" or \"ip_hash\", got \"balance\": "
                    "\"%s\"%s",
                    jb ? b : "round_robin", jb ? "" : " (the default)");
    } else {
        if (is_hash)
            rw__cfg_require(c, o, "key", "\"uri\", \"client_ip\", \"header:NAME\", ...");
        up_hash_fields(c, o, is_ip, &up->hash);
    }
    rw__cfg_leave(c, mark);
}

static void up_balance(struct rw__cfg_ctx *c, const json_t *ju, struct rw_cfg_upstream *up)
{
    const json_t *v = json_object_get(ju, "balance");
    size_t mark;

    if (!v)
        return;
    if (!json_is_string(v) || !rw__cfg_balance_known(json_string_value(v))) {
        mark = rw__cfg_enter_key(c, "balance");
        rw__cfg_err_got(c, v, "must be one of: %s", rw__cfg_balance_names());
        rw__cfg_leave(c, mark);
        return;
    }
    free(up->balance);
    up->balance = rw__cfg_xstrdup(json_string_value(v));
}

static void up_queue(struct rw__cfg_ctx *c, const json_t *ju, struct rw_cfg_upstream *up)
{
    const json_t *o;
    size_t mark;

    if (!(o = rw__cfg_enter_obj(c, ju, "queue", queue_keys, &mark)))
        return;
    up->queue_size = 1024;
    rw__cfg_get_u32(c, o, "size", 0, 1000000, &up->queue_size);
    rw__cfg_get_duration(c, o, "timeout", &up->queue_timeout_ms);
    rw__cfg_leave(c, mark);
}

/* "retries": N (the issue-2 form) or {"count", "on", "budget"}. */
static void up_retries(struct rw__cfg_ctx *c, const json_t *ju, struct rw_cfg_upstream *up)
{
    const json_t *v = json_object_get(ju, "retries");
    size_t mark;

    if (!v || json_is_integer(v)) {
        rw__cfg_get_u32(c, ju, "retries", 0, 10, &up->retries);
        return;
    }
    if (!json_is_object(v)) {
        mark = rw__cfg_enter_key(c, "retries");
        rw__cfg_err_got(c, v,
                        "must be an integer 0..10 or an object like {\"count\": 2, \"on\": "
                        "[\"connect_failure\"]}");
        rw__cfg_leave(c, mark);
        return;
    }
    mark = rw__cfg_enter_key(c, "retries");
    rw__cfg_check_keys(c, v, retry_keys);
    rw__cfg_get_u32(c, v, "count", 0, 10, &up->retries);
    rw__cfg_get_flags(c, v, "on", retry_conds, false, &up->retry_on);
    rw__cfg_get_number(c, v, "budget", 0.0, 1.0, false, &up->retry_budget);
    rw__cfg_leave(c, mark);
}

/* A server that starts down comes up only through an active check. */
static void up_initial_down(struct rw__cfg_ctx *c, const json_t *ju,
                            const struct rw_cfg_upstream *up)
{
    const json_t *arr = json_object_get(ju, "servers");

    if (up->health.enabled || json_array_size(arr) != up->nservers)
        return;
    for (uint32_t i = 0; i < up->nservers; i++) {
        size_t mark;

        if (!up->servers[i].initial_down)
            continue;
        mark = rw__cfg_enter_key(c, "servers");
        rw__cfg_enter_index(c, i);
        rw__cfg_enter_key(c, "initial");
        rw__cfg_err_got(c, json_object_get(json_array_get(arr, i), "initial"),
                        "\"down\" needs a \"health_check\" on the upstream (nothing else would "
                        "bring the server up)");
        rw__cfg_leave(c, mark);
    }
}

static void up_defaults(const char *name, struct rw_cfg_upstream *up)
{
    up->name = rw__cfg_xstrdup(name);
    up->balance = rw__cfg_xstrdup("round_robin");
    up->connect_timeout_ms = 3 * 1000;
    up->response_timeout_ms = 60 * 1000;
    up->read_timeout_ms = 60 * 1000;
    up->keepalive_max_idle = 64;
    up->keepalive_idle_timeout_ms = 60 * 1000;
    up->retries = 1;
    up->retry_on = RW_RETRY_CONNECT_FAILURE;
    up->retry_budget = UP_RETRY_BUDGET;
    up->queue_size = 0;
    up->queue_timeout_ms = 5 * 1000;
    up->slow_start_ms = 0;
    up->hash.method = RW_HASH_MAGLEV;
    up->hash.ipv4_mask = 32;
    up->hash.ipv6_mask = 64;
}

void rw__cfg_load_upstream(struct rw__cfg_ctx *c, const char *name, const json_t *ju,
                           struct rw_cfg_upstream *up)
{
    const char *why = rw__cfg_check_name(name);
    const json_t *o;
    size_t mark;

    up_defaults(name, up);
    rw__cfg_load_sticky(c, NULL, &up->sticky);
    rw__cfg_load_health(c, NULL, &up->health);
    rw__cfg_load_passive(c, NULL, &up->passive);
    rw__cfg_load_upstream_tls(c, NULL, &up->tls);
    if (why)
        rw__cfg_err(c, "upstream names %s", why);
    if (!json_is_object(ju)) {
        rw__cfg_err_got(c, ju, "must be an object like {\"servers\": [...]}");
        return;
    }
    rw__cfg_check_keys(c, ju, upstream_keys);
    up_balance(c, ju, up);
    up_hash(c, ju, up);
    load_upstream_servers(c, ju, up);
    rw__cfg_get_duration(c, ju, "slow_start", &up->slow_start_ms);
    rw__cfg_load_sticky(c, ju, &up->sticky);
    up_queue(c, ju, up);
    if ((o = rw__cfg_enter_obj(c, ju, "timeouts", up_timeout_keys, &mark))) {
        rw__cfg_get_duration(c, o, "connect", &up->connect_timeout_ms);
        rw__cfg_get_duration(c, o, "response", &up->response_timeout_ms);
        rw__cfg_get_duration(c, o, "read", &up->read_timeout_ms);
        rw__cfg_leave(c, mark);
    }
    if ((o = rw__cfg_enter_obj(c, ju, "keepalive", keepalive_keys, &mark))) {
        rw__cfg_get_u32(c, o, "max_idle", 0, 100000, &up->keepalive_max_idle);
        rw__cfg_get_duration(c, o, "idle_timeout", &up->keepalive_idle_timeout_ms);
        rw__cfg_leave(c, mark);
    }
    up_retries(c, ju, up);
    rw__cfg_load_health(c, ju, &up->health);
    rw__cfg_load_passive(c, ju, &up->passive);
    rw__cfg_get_u32(c, ju, "panic_threshold", 0, 100, &up->panic_threshold);
    rw__cfg_load_upstream_tls(c, ju, &up->tls);
    up_initial_down(c, ju, up);
    /* what a reload compares to keep an upstream's runtime (pool, connections) */
    up->sig = json_dumps(ju, JSON_COMPACT | JSON_SORT_KEYS);
}
