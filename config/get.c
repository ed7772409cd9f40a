/* SPDX-License-Identifier: MIT */
/* Typed getters: read parent[key], check type and range, report errors at its path. */
#include "config/cfg-int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const json_t *rw__cfg_get_obj(struct rw__cfg_ctx *c, const json_t *parent, const char *key)
{
    const json_t *v = json_object_get(parent, key);
    size_t mark;

    if (!v || json_is_object(v))
        return v;
    mark = rw__cfg_enter_key(c, key);
    rw__cfg_err_got(c, v, "must be an object");
    rw__cfg_leave(c, mark);
    return NULL;
}

const json_t *rw__cfg_get_arr(struct rw__cfg_ctx *c, const json_t *parent, const char *key,
                              bool nonempty)
{
    const json_t *v = json_object_get(parent, key);
    size_t mark;

    if (!v || (json_is_array(v) && (!nonempty || json_array_size(v) > 0)))
        return v;
    mark = rw__cfg_enter_key(c, key);
    rw__cfg_err_got(c, v, nonempty ? "must be a non-empty list" : "must be a list");
    rw__cfg_leave(c, mark);
    return NULL;
}

bool rw__cfg_get_u32(struct rw__cfg_ctx *c, const json_t *parent, const char *key, uint32_t lo,
                     uint32_t hi, uint32_t *out)
{
    const json_t *v = json_object_get(parent, key);
    size_t mark;

    if (!v)
        return true;
    if (json_is_integer(v) && json_integer_value(v) >= (json_int_t)lo &&
        json_integer_value(v) <= (json_int_t)hi) {
        *out = (uint32_t)json_integer_value(v);
        return true;
    }
    mark = rw__cfg_enter_key(c, key);
    rw__cfg_err_got(c, v, "must be an integer %" PRIu32 "..%" PRIu32, lo, hi);
    rw__cfg_leave(c, mark);
    return false;
}

bool rw__cfg_get_bool(struct rw__cfg_ctx *c, const json_t *parent, const char *key, bool *out)
{
    const json_t *v = json_object_get(parent, key);
    size_t mark;

    if (!v)
        return true;
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return true;
    }
    mark = rw__cfg_enter_key(c, key);
    rw__cfg_err_got(c, v, "must be true or false");
    rw__cfg_leave(c, mark);
    return false;
}

static void get_replace(char **out, const char *s)
{
    free(*out);
    *out = rw__cfg_xstrdup(s);
}

bool rw__cfg_get_enum(struct rw__cfg_ctx *c, const json_t *parent, const char *key,
                      const char *const *choices, char **out)
{
    const json_t *v = json_object_get(parent, key);
    char list[256];
    size_t o = 0, mark;

    if (!v)
        return true;
    for (size_t i = 0; json_is_string(v) && choices[i]; i++) {
        if (strcmp(json_string_value(v), choices[i]) == 0) {
            get_replace(out, choices[i]);
            return true;
        }
    }
    list[0] = '\0';
    for (size_t i = 0; choices[i] && o < sizeof(list); i++)
        o += (size_t)snprintf(list + o, sizeof(list) - o, "%s\"%s\"", i ? ", " : "", choices[i]);
    mark = rw__cfg_enter_key(c, key);
    rw__cfg_err_got(c, v, "must be one of %s", list);
    rw__cfg_leave(c, mark);
    return false;
}

bool rw__cfg_get_str(struct rw__cfg_ctx *c, const json_t *parent, const char *key,
                     rw__cfg_check_fn *check, char **out)
{
    const json_t *v = json_object_get(parent, key);
    const char *why = "must be a string";
    size_t mark;

    if (!v)
        return true;
    if (json_is_string(v)) {
        why = check ? check(json_string_value(v)) : NULL;
        if (!why) {
            get_replace(out, json_string_value(v));
            return true;
        }
    }
    mark = rw__cfg_enter_key(c, key);
    rw__cfg_err_got(c, v, "%s", why);
    rw__cfg_leave(c, mark);
    return false;
}

bool rw__cfg_get_duration(struct rw__cfg_ctx *c, const json_t *parent, const char *key,
                          uint32_t *out_ms)
{
    const json_t *v = json_object_get(parent, key);
    uint64_t ms = 0;
    const char *why = NULL;
    size_t mark;

    if (!v)
        return true;
    if (!json_is_string(v) || rw_cfg_parse_duration(json_string_value(v), &ms) != 0)
        why = "must be a duration like \"10s\" (an integer with unit ms, s, m, h or d)";
    else if (ms == 0)
        why = "must be greater than 0";
    else if (ms > RW__CFG_DUR_MAX_MS)
        why = "must be at most 24d";
    if (!why) {
        *out_ms = (uint32_t)ms;
        return true;
    }
    mark = rw__cfg_enter_key(c, key);
    rw__cfg_err_got(c, v, "%s", why);
    rw__cfg_leave(c, mark);
    return false;
}

/* "1MiB", "8KiB" when exact, else "300B". */
static void get_size_text(uint64_t b, char *buf, size_t n)
{
    static const char *const u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    size_t i = 0;

    while (i < 4 && b >= 1024 && b % 1024 == 0) {
        b /= 1024;
        i++;
    }
    snprintf(buf, n, "%" PRIu64 "%s", b, u[i]);
}

bool rw__cfg_get_size(struct rw__cfg_ctx *c, const json_t *parent, const char *key, uint64_t lo,
                      uint64_t hi, bool zero_ok, uint64_t *out)
{
    const json_t *v = json_object_get(parent, key);
    uint64_t b = 0;
    bool ok = false;
    char los[32], his[32];
    size_t mark;

    if (!v)
        return true;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        b = (uint64_t)json_integer_value(v);
        ok = true;
    } else if (json_is_string(v)) {
        ok = rw_cfg_parse_size(json_string_value(v), &b) == 0;
    }
    if (ok && ((b >= lo && b <= hi) || (zero_ok && b == 0))) {
        *out = b;
        return true;
    }
    mark = rw__cfg_enter_key(c, key);
    get_size_text(lo, los, sizeof(los));
    get_size_text(hi, his, sizeof(his));
    if (!ok)
        rw__cfg_err_got(c, v,
                        "must be a size like \"16KiB\" (bytes, or a unit B, KB, MB, GB, TB, KiB, "
                        "MiB, GiB, TiB)");
    else if (hi == UINT64_MAX)
        rw__cfg_err_got(c, v, "must be a size of at least %s", los);
    else
        rw__cfg_err_got(c, v, "must be a size %s..%s%s", los, his, zero_ok ? " (or 0)" : "");
    rw__cfg_leave(c, mark);
    return false;
}

bool rw__cfg_get_addr(struct rw__cfg_ctx *c, const json_t *parent, const char *key, char **text,
                      struct sockaddr_storage *addr, socklen_t *len)
{
    const json_t *v = json_object_get(parent, key);
    const char *why = "must be a string like \"127.0.0.1:8080\"";
    size_t mark;

    if (!v)
        return true;
    if (json_is_string(v) && rw__cfg_parse_addr(json_string_value(v), addr, len, &why) == 0) {
        get_replace(text, json_string_value(v));
        return true;
    }
    mark = rw__cfg_enter_key(c, key);
    rw__cfg_err_got(c, v, "%s", why);
    rw__cfg_leave(c, mark);
    return false;
}
