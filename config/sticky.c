/* SPDX-License-Identifier: MIT */
/* Session persistence: the "sticky" object of an upstream (cookie, learn and ip modes). */
#include "config/cfg-int.h"

#include <stdlib.h>
#include <string.h>

static const char *const sticky_keys[] = {
    "mode",      "name", "ttl",      "idle",   "secure",     "http_only",
    "same_site", "path", "key_file", "cookie", "table_size", NULL,
};
static const char *const mode_names[] = {"cookie", "learn", "ip", NULL};
static const uint8_t mode_values[] = {RW_STICKY_COOKIE, RW_STICKY_LEARN, RW_STICKY_IP};

/* Keys each mode accepts, in mode_names order. */
static const char *const cookie_keys[] = {
    "mode", "name", "ttl", "idle", "secure", "http_only", "same_site", "path", "key_file", NULL,
};
static const char *const learn_keys[] = {"mode", "cookie", "idle", "table_size", NULL};
static const char *const ip_keys[] = {"mode", "idle", "table_size", NULL};
static const char *const *const mode_keys[] = {cookie_keys, learn_keys, ip_keys};
static const char *const mode_allowed[] = {
    "name, ttl, idle, secure, http_only, same_site, path, key_file",
    "cookie, idle, table_size",
    "idle, table_size",
};

/* Same order as enum rw_same_site from LAX on. */
static const char *const same_sites[] = {"Lax", "Strict", "None", NULL};

static void sticky_defaults(struct rw_cfg_sticky *st)
{
    st->mode = RW_STICKY_NONE;
    st->ttl_ms = 60 * 60 * 1000;
    st->idle_ms = 30 * 60 * 1000;
    st->secure = -1;
    st->http_only = true;
    st->same_site = RW_SAME_SITE_LAX;
    st->table_size = 65536;
}

static bool sticky_key_in(const char *key, const char *const *keys)
{
    for (size_t i = 0; keys[i]; i++)
        if (strcmp(key, keys[i]) == 0)
            return true;
    return false;
}

/* Keys of another mode: named with the mode in use (unknown keys were reported already). */
static void sticky_check_mode_keys(struct rw__cfg_ctx *c, const json_t *o, unsigned m)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)o, key, v)
    {
        size_t mark;

        if (!sticky_key_in(key, sticky_keys) || sticky_key_in(key, mode_keys[m]))
            continue;
        mark = rw__cfg_enter_key(c, key);
        rw__cfg_err(c, "not allowed with \"mode\": \"%s\" (its keys: %s)", mode_names[m],
                    mode_allowed[m]);
        rw__cfg_leave(c, mark);
    }
}

static void sticky_cookie_mode(struct rw__cfg_ctx *c, const json_t *o, struct rw_cfg_sticky *st)
{
    unsigned ss = 0;
    bool secure = false;
    size_t mark;

    st->name = rw__cfg_xstrdup("rw_s");
    st->path = rw__cfg_xstrdup("/");
    rw__cfg_get_str(c, o, "name", rw__cfg_check_token, &st->name);
    rw__cfg_get_duration(c, o, "ttl", &st->ttl_ms);
    if (json_object_get(o, "secure") && rw__cfg_get_bool(c, o, "secure", &secure))
        st->secure = secure ? 1 : 0;
    rw__cfg_get_bool(c, o, "http_only", &st->http_only);
    if (json_object_get(o, "same_site") &&
        rw__cfg_get_choice(c, o, "same_site", same_sites, true, &ss)) {
        st->same_site = (uint8_t)(RW_SAME_SITE_LAX + ss);
        /* Browsers drop a SameSite=None cookie that is not also Secure. */
        if (st->same_site == RW_SAME_SITE_NONE && st->secure != 1) {
            mark = rw__cfg_enter_key(c, "same_site");
            rw__cfg_err_got(c, json_object_get(o, "same_site"),
                            "\"None\" needs \"secure\": true (browsers refuse SameSite=None "
                            "without Secure)");
            rw__cfg_leave(c, mark);
        }
    }
    rw__cfg_get_str(c, o, "path", rw__cfg_check_cookie_path, &st->path);
    rw__cfg_get_str(c, o, "key_file", rw__cfg_check_file, &st->key_file);
}

/* Values of every key present, whatever the mode (so that a bad mode still gets the
 * other values checked); cookie-mode keys only when the mode is cookie or unknown. */
static void sticky_values(struct rw__cfg_ctx *c, const json_t *o, int m, struct rw_cfg_sticky *st)
{
    rw__cfg_get_duration(c, o, "idle", &st->idle_ms);
    rw__cfg_get_u32(c, o, "table_size", 1024, 16777216, &st->table_size);
    if (m < 0 || m == 1)
        rw__cfg_get_str(c, o, "cookie", rw__cfg_check_cookie_name, &st->cookie);
    if (m == 1)
        rw__cfg_require(c, o, "cookie", "the application's session cookie, like \"JSESSIONID\"");
    if (m <= 0)
        sticky_cookie_mode(c, o, st);
}

void rw__cfg_load_sticky(struct rw__cfg_ctx *c, const json_t *ju, struct rw_cfg_sticky *st)
{
    const json_t *o;
    unsigned m = 0;
    int mode = -1;
    size_t mark;

    sticky_defaults(st);
    if (!ju || !(o = rw__cfg_enter_obj(c, ju, "sticky", sticky_keys, &mark)))
        return;
    if (rw__cfg_require(c, o, "mode", "\"cookie\", \"learn\" or \"ip\"") &&
        rw__cfg_get_choice(c, o, "mode", mode_names, false, &m)) {
        mode = (int)m;
        st->mode = mode_values[m];
        sticky_check_mode_keys(c, o, m);
    }
    sticky_values(c, o, mode, st);
    rw__cfg_leave(c, mark);
}
