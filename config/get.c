/* SPDX-License-Identifier: MIT */
/* Typed getters: read parent[key], check type and range, report errors at its path. */
#include "config/cfg-int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* "\"a\", \"b\", \"c\"" into buf. */
static void get_choice_list(const char *const *choices, char *buf, size_t n)
{
    size_t o = 0;

    buf[0] = '\0';
    for (size_t i = 0; choices[i] && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s\"%s\"", i ? ", " : "", choices[i]);
}

/* Index of v among choices, or -1 when v is not a string or none matches. */
static int get_choice_find(const json_t *v, const char *const *choices, bool nocase)
{
    const char *s = json_string_value(v);

    for (int i = 0; s && choices[i]; i++)
        if (nocase ? strcasecmp(s, choices[i]) == 0 : strcmp(s, choices[i]) == 0)
            return i;
    return -1;
}

/* "must be one of ..." for v, at the current path. */
static void get_choice_err(struct rw__cfg_ctx *c, const json_t *v, const char *const *choices,
                           bool nocase)
{
    char list[256];

    get_choice_list(choices, list, sizeof(list));
    rw__cfg_err_got(c, v, "must be one of %s%s", list, nocase ? " (any case)" : "");
}

bool rw__cfg_get_choice(struct rw__cfg_ctx *c, const json_t *parent, const char *key,
                        const char *const *choices, bool nocase, unsigned *idx)
{
    const json_t *v = json_object_get(parent, key);
    size_t mark;
    int i;

    if (!v)
        return true;
    if ((i = get_choice_find(v, choices, nocase)) >= 0) {
        *idx = (unsigned)i;
        return true;
    }
    mark = rw__cfg_enter_key(c, key);
    get_choice_err(c, v, choices, nocase);
    rw__cfg_leave(c, mark);
    return false;
}

bool rw__cfg_get_flags(struct rw__cfg_ctx *c, const json_t *parent, const char *key,
                       const char *const *choices, bool nocase, uint32_t *out)
{
    const json_t *arr = rw__cfg_get_arr(c, parent, key, false);
    uint32_t bits = 0, before = c->nerr;
    size_t mark;

    if (!arr)
        return !json_object_get(parent, key);
    mark = rw__cfg_enter_key(c, key);
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const json_t *e = json_array_get(arr, i);
        int k = get_choice_find(e, choices, nocase);
        size_t m2 = rw__cfg_enter_index(c, i);

        if (k < 0)
            get_choice_err(c, e, choices, nocase);
        else if (bits & (1u << k))
            rw__cfg_err_got(c, e, "must appear once in the list");
        else
            bits |= 1u << k;
        rw__cfg_leave(c, m2);
    }
    rw__cfg_leave(c, mark);
    if (c->nerr != before)
        return false;
    *out = bits;
    return true;
}

bool rw__cfg_get_enum(struct rw__cfg_ctx *c, const json_t *parent, const char *key,
                      const char *const *choices, char **out)
{
    unsigned i = 0;

    if (!json_object_get(parent, key))
        return true;
    if (!rw__cfg_get_choice(c, parent, key, choices, false, &i))
        return false;
    get_replace(out, choices[i]);
    return true;
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

void rw__cfg_set_dir(struct rw__cfg_ctx *c, const char *file)
{
    const char *slash = strrchr(file, '/');
    size_t n = slash ? (size_t)(slash - file) : 0;
    char cwd[PATH_MAX];

    free(c->dir);
    c->dir = NULL;
    if (slash && file[0] == '/') {
        /* "/x.json": the root itself. */
        c->dir = n ? strndup(file, n) : rw__cfg_xstrdup("/");
        if (!c->dir)
            abort();
        return;
    }
    /* Relative: anchor it now, so a later chdir() cannot move the files. */
    if (!getcwd(cwd, sizeof(cwd))) {
        if (slash && !(c->dir = strndup(file, n)))
            abort();
        return;
    }
    while (n >= 2 && file[0] == '.' && file[1] == '/') {
        file += 2;
        n -= 2;
        while (n && file[0] == '/') {
            file++;
            n--;
        }
    }
    if (n == 1 && file[0] == '.')
        n = 0;
    if (asprintf(&c->dir, "%s%s%.*s", cwd, n ? (cwd[1] ? "/" : "") : "", (int)n, file) < 0)
        abort();
}

/* name as a path ringwall will open: relative names hang off the config's directory. */
static char *get_resolve(const struct rw__cfg_ctx *c, const char *name)
{
    char *out = NULL;

    if (name[0] == '/' || !c->dir)
        return rw__cfg_xstrdup(name);
    while (name[0] == '.' && name[1] == '/') {
        name += 2;
        while (name[0] == '/')
            name++;
    }
    if (asprintf(&out, "%s%s%s", c->dir, strcmp(c->dir, "/") ? "/" : "", name) < 0)
        abort();
    return out;
}

/* 0 when path is a regular file this process can open for reading, else -errno. */
static int get_readable(const char *path)
{
    struct stat st;
    int fd;

    /* stat first: opening a FIFO or a device could block or have side effects. */
    if (stat(path, &st) < 0)
        return -errno;
    if (S_ISDIR(st.st_mode))
        return -EISDIR;
    if (!S_ISREG(st.st_mode))
        return -EINVAL;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    close(fd);
    return 0;
}

bool rw__cfg_get_file(struct rw__cfg_ctx *c, const json_t *parent, const char *key, char **out)
{
    const json_t *v = json_object_get(parent, key);
    char *path, ebuf[128];
    size_t mark;
    int r;

    if (!v)
        return true;
    if (!rw__cfg_get_str(c, parent, key, rw__cfg_check_file, out))
        return false;
    path = get_resolve(c, json_string_value(v));
    r = get_readable(path);
    if (r == 0) {
        free(*out);
        *out = path;
        return true;
    }
    mark = rw__cfg_enter_key(c, key);
    rw__cfg_err(c, "%s: cannot read: %s", path,
                r == -EINVAL ? "not a regular file" : strerror_r(-r, ebuf, sizeof(ebuf)));
    rw__cfg_leave(c, mark);
    free(path);
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

bool rw__cfg_get_number(struct rw__cfg_ctx *c, const json_t *parent, const char *key, double lo,
                        double hi, bool lo_open, double *out)
{
    const json_t *v = json_object_get(parent, key);
    double d;
    size_t mark;

    if (!v)
        return true;
    d = json_number_value(v);
    if (json_is_number(v) && (lo_open ? d > lo : d >= lo) && d <= hi) {
        *out = d;
        return true;
    }
    mark = rw__cfg_enter_key(c, key);
    if (lo_open)
        rw__cfg_err_got(c, v, "must be a number greater than %g and at most %g", lo, hi);
    else
        rw__cfg_err_got(c, v, "must be a number %g..%g", lo, hi);
    rw__cfg_leave(c, mark);
    return false;
}

bool rw__cfg_require(struct rw__cfg_ctx *c, const json_t *obj, const char *key, const char *hint)
{
    size_t mark;

    if (json_object_get(obj, key))
        return true;
    mark = rw__cfg_enter_key(c, key);
    if (hint)
        rw__cfg_err(c, "required key is missing (%s)", hint);
    else
        rw__cfg_err(c, "required key is missing");
    rw__cfg_leave(c, mark);
    return false;
}

const json_t *rw__cfg_enter_obj(struct rw__cfg_ctx *c, const json_t *parent, const char *key,
                                const char *const *keys, size_t *mark)
{
    const json_t *o = rw__cfg_get_obj(c, parent, key);

    if (!o)
        return NULL;
    *mark = rw__cfg_enter_key(c, key);
    rw__cfg_check_keys(c, o, keys);
    return o;
}
