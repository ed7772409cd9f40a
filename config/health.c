/* SPDX-License-Identifier: MIT */
/* High availability: an upstream's "health_check" (active) and "passive" (outlier) objects. */
#include "config/cfg-int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char *const health_keys[] = {
    "type",    "path", "method", "host",   "expect_status", "expect_body", "interval",
    "timeout", "rise", "fall",   "jitter", "port",          NULL,
};
/* Keys that make sense only when a check sends an HTTP request. */
static const char *const health_http_keys[] = {
    "path", "method", "host", "expect_status", "expect_body", NULL,
};
static const char *const health_types[] = {"http", "tcp", NULL};
static const char *const passive_keys[] = {
    "consecutive_errors", "error_statuses",    "window", "eject",
    "max_eject",          "max_eject_percent", NULL,
};

#define HEALTH_BODY_MAX 4096
#define HEALTH_JITTER_MAX 50
#define HEALTH_STATUS_SHAPE "a status code 100..599 or a class \"1xx\"..\"5xx\""

/* Codes 100..599 into a bitmap of RW_CFG_STATUS_WORDS words (bit code - 100). */
static void status_set(uint64_t *bm, unsigned code)
{
    bm[(code - 100) / 64] |= 1ull << ((code - 100) % 64);
}

static void status_set_range(uint64_t *bm, unsigned lo, unsigned hi)
{
    for (unsigned s = lo; s <= hi; s++)
        status_set(bm, s);
}

/* One status entry: an integer code, or "Nxx" with N 1..5. *lo..*hi is what it covers;
 * false when e is neither. */
static bool status_entry(const json_t *e, unsigned *lo, unsigned *hi)
{
    if (json_is_integer(e) && json_integer_value(e) >= 100 && json_integer_value(e) <= 599) {
        *lo = *hi = (unsigned)json_integer_value(e);
        return true;
    }
    if (json_is_string(e)) {
        const char *s = json_string_value(e);

        if (strlen(s) == 3 && s[0] >= '1' && s[0] <= '5' && strcmp(s + 1, "xx") == 0) {
            *lo = (unsigned)(s[0] - '0') * 100;
            *hi = *lo + 99;
            return true;
        }
    }
    return false;
}

/* Entry i of a status list (at the list's path); duplicates are reported. */
static void status_list_entry(struct rw__cfg_ctx *c, const json_t *arr, size_t i, uint64_t *bm)
{
    const json_t *e = json_array_get(arr, i);
    size_t mark = rw__cfg_enter_index(c, i);
    unsigned lo, hi;

    if (!status_entry(e, &lo, &hi)) {
        rw__cfg_err_got(c, e, "must be " HEALTH_STATUS_SHAPE);
    } else {
        for (size_t j = 0; j < i; j++) {
            if (json_equal(json_array_get(arr, j), (json_t *)e)) {
                rw__cfg_err_got(c, e, "must appear once in the list");
                break;
            }
        }
        status_set_range(bm, lo, hi);
    }
    rw__cfg_leave(c, mark);
}

/* parent[key]: a code, a class, or a list of them (nonempty: [] refused). *bm is replaced
 * only when the value is present and valid. */
static void status_list(struct rw__cfg_ctx *c, const json_t *parent, const char *key, bool nonempty,
                        uint64_t *bm)
{
    const json_t *v = json_object_get(parent, key);
    uint64_t out[RW_CFG_STATUS_WORDS] = {0};
    uint32_t before = c->nerr;
    unsigned lo, hi;
    size_t mark;

    if (!v)
        return;
    mark = rw__cfg_enter_key(c, key);
    if (status_entry(v, &lo, &hi)) {
        status_set_range(out, lo, hi);
    } else if (!json_is_array(v) || (nonempty && json_array_size(v) == 0)) {
        rw__cfg_err_got(c, v,
                        "must be " HEALTH_STATUS_SHAPE ", or a %slist of them, like "
                        "[\"2xx\", 301]",
                        nonempty ? "non-empty " : "");
    } else {
        for (size_t i = 0; i < json_array_size(v); i++)
            status_list_entry(c, v, i, out);
    }
    rw__cfg_leave(c, mark);
    if (c->nerr == before)
        memcpy(bm, out, sizeof(out));
}

/* "N%" with N 0..HEALTH_JITTER_MAX, digits only. */
static void health_jitter(struct rw__cfg_ctx *c, const json_t *o, uint32_t *out)
{
    const json_t *v = json_object_get(o, "jitter");
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    size_t n = strspn(s, "0123456789");
    size_t mark;

    if (!v)
        return;
    if (n > 0 && n <= 3 && strcmp(s + n, "%") == 0 && atoi(s) <= HEALTH_JITTER_MAX) {
        *out = (uint32_t)atoi(s);
        return;
    }
    mark = rw__cfg_enter_key(c, "jitter");
    rw__cfg_err_got(c, v, "must be a percentage \"0%%\"..\"%d%%\", like \"10%%\"",
                    HEALTH_JITTER_MAX);
    rw__cfg_leave(c, mark);
}

static const char *health_check_body(const char *s)
{
    if (!*s)
        return "must not be empty";
    if (strlen(s) > HEALTH_BODY_MAX)
        return "must be at most 4096 bytes";
    return NULL;
}

/* Keys of http checks on a tcp check (their values are not checked further). */
static void health_tcp_keys(struct rw__cfg_ctx *c, const json_t *o)
{
    for (size_t i = 0; health_http_keys[i]; i++) {
        size_t mark;

        if (!json_object_get(o, health_http_keys[i]))
            continue;
        mark = rw__cfg_enter_key(c, health_http_keys[i]);
        rw__cfg_err(c, "only for http checks, not with \"type\": \"tcp\"");
        rw__cfg_leave(c, mark);
    }
}

static void health_http(struct rw__cfg_ctx *c, const json_t *o, struct rw_cfg_health *h)
{
    h->path = rw__cfg_xstrdup("/");
    h->method = rw__cfg_xstrdup("GET");
    rw__cfg_get_str(c, o, "path", rw__cfg_check_target, &h->path);
    rw__cfg_get_str(c, o, "method", rw__cfg_check_token, &h->method);
    rw__cfg_get_str(c, o, "host", rw__cfg_check_host_port, &h->host);
    status_list(c, o, "expect_status", true, h->expect_status);
    rw__cfg_get_str(c, o, "expect_body", health_check_body, &h->expect_body);
}

/* interval and timeout: an explicit timeout must fit in the interval; the default one is
 * cut to the interval. */
static void health_times(struct rw__cfg_ctx *c, const json_t *o, struct rw_cfg_health *h)
{
    bool iv_ok = rw__cfg_get_duration(c, o, "interval", &h->interval_ms);
    bool to_ok = rw__cfg_get_duration(c, o, "timeout", &h->timeout_ms);
    size_t mark;

    if (!json_object_get(o, "timeout")) {
        if (h->timeout_ms > h->interval_ms)
            h->timeout_ms = h->interval_ms;
        return;
    }
    if (!iv_ok || !to_ok || h->timeout_ms <= h->interval_ms)
        return;
    mark = rw__cfg_enter_key(c, "timeout");
    rw__cfg_err_got(c, json_object_get(o, "timeout"),
                    "must be at most \"interval\" (%" PRIu32 "ms)", h->interval_ms);
    rw__cfg_leave(c, mark);
}

static void health_defaults(struct rw_cfg_health *h)
{
    memset(h, 0, sizeof(*h));
    h->type = RW_CFG_HC_HTTP;
    status_set_range(h->expect_status, 200, 399);
    h->interval_ms = 2 * 1000;
    h->timeout_ms = 1000;
    h->rise = 2;
    h->fall = 3;
    h->jitter_pct = 10;
}

void rw__cfg_load_health(struct rw__cfg_ctx *c, const json_t *ju, struct rw_cfg_health *h)
{
    const json_t *o;
    unsigned type = RW_CFG_HC_HTTP;
    uint32_t port = 0;
    size_t mark;

    health_defaults(h);
    if (!ju || !(o = rw__cfg_enter_obj(c, ju, "health_check", health_keys, &mark)))
        return;
    h->enabled = true;
    if (rw__cfg_get_choice(c, o, "type", health_types, false, &type))
        h->type = (uint8_t)type;
    if (h->type == RW_CFG_HC_TCP)
        health_tcp_keys(c, o);
    else
        health_http(c, o, h);
    health_times(c, o, h);
    rw__cfg_get_u32(c, o, "rise", 1, 100, &h->rise);
    rw__cfg_get_u32(c, o, "fall", 1, 100, &h->fall);
    health_jitter(c, o, &h->jitter_pct);
    if (rw__cfg_get_u32(c, o, "port", 1, 65535, &port))
        h->port = (uint16_t)port;
    rw__cfg_leave(c, mark);
}

static void passive_defaults(struct rw_cfg_passive *p)
{
    memset(p, 0, sizeof(*p));
    p->consecutive_errors = 5;
    status_set_range(p->error_status, 500, 599);
    p->window_ms = 10 * 1000;
    p->eject_ms = 30 * 1000;
    p->max_eject_ms = 5 * 60 * 1000;
    p->max_eject_percent = 50;
}

/* max_eject >= eject; the default max_eject grows to eject when eject is longer. */
static void passive_eject(struct rw__cfg_ctx *c, const json_t *o, struct rw_cfg_passive *p)
{
    bool e_ok = rw__cfg_get_duration(c, o, "eject", &p->eject_ms);
    bool m_ok = rw__cfg_get_duration(c, o, "max_eject", &p->max_eject_ms);
    size_t mark;

    if (!json_object_get(o, "max_eject")) {
        if (p->max_eject_ms < p->eject_ms)
            p->max_eject_ms = p->eject_ms;
        return;
    }
    if (!e_ok || !m_ok || p->max_eject_ms >= p->eject_ms)
        return;
    mark = rw__cfg_enter_key(c, "max_eject");
    rw__cfg_err_got(c, json_object_get(o, "max_eject"),
                    "must be at least \"eject\" (%" PRIu32 "ms)", p->eject_ms);
    rw__cfg_leave(c, mark);
}

void rw__cfg_load_passive(struct rw__cfg_ctx *c, const json_t *ju, struct rw_cfg_passive *p)
{
    const json_t *o;
    size_t mark;

    passive_defaults(p);
    if (!ju || !(o = rw__cfg_enter_obj(c, ju, "passive", passive_keys, &mark)))
        return;
    p->enabled = true;
    rw__cfg_get_u32(c, o, "consecutive_errors", 1, 1000, &p->consecutive_errors);
    status_list(c, o, "error_statuses", false, p->error_status);
    rw__cfg_get_duration(c, o, "window", &p->window_ms);
    passive_eject(c, o, p);
    rw__cfg_get_u32(c, o, "max_eject_percent", 0, 100, &p->max_eject_percent);
    rw__cfg_leave(c, mark);
}
