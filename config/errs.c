/* SPDX-License-Identifier: MIT */
/* Validation errors: JSON paths, message accumulation, unknown keys with hints. */
#include "config/cfg-int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *rw__cfg_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);

    if (!p)
        abort();
    return p;
}

char *rw__cfg_xstrdup(const char *s)
{
    char *p = strdup(s);

    if (!p)
        abort();
    return p;
}

void rw_cfg_errs_clear(struct rw_cfg_errs *errs)
{
    if (!errs)
        return;
    for (uint32_t i = 0; i < errs->n; i++)
        free(errs->msg[i]);
    free(errs->msg);
    errs->msg = NULL;
    errs->n = 0;
    errs->cap = 0;
}

static void errs_push_take(struct rw_cfg_errs *errs, char *msg)
{
    if (errs->n == errs->cap) {
        uint32_t cap = errs->cap ? errs->cap * 2 : 8;
        char **m = realloc(errs->msg, cap * sizeof(*m));

        if (!m)
            abort();
        errs->msg = m;
        errs->cap = cap;
    }
    errs->msg[errs->n++] = msg;
}

static bool key_is_ident(const char *k)
{
    if (!(isalpha((unsigned char)*k) || *k == '_'))
        return false;
    for (k++; *k; k++)
        if (!(isalnum((unsigned char)*k) || *k == '_'))
            return false;
    return true;
}

static void path_append(struct rw__cfg_ctx *c, const char *s)
{
    size_t room = sizeof(c->path) - c->plen;
    size_t n = strlen(s);

    if (n >= room)
        n = room - 1;
    memcpy(c->path + c->plen, s, n);
    c->plen += n;
    c->path[c->plen] = '\0';
}

size_t rw__cfg_enter_key(struct rw__cfg_ctx *c, const char *key)
{
    size_t mark = c->plen;
    char buf[160];
    size_t o = 0;

    if (key_is_ident(key) && strlen(key) < 64) {
        snprintf(buf, sizeof(buf), ".%s", key);
        path_append(c, buf);
        return mark;
    }
    /* Quote the key JSON-style; long keys are cut, since the path only has to point. */
    buf[o++] = '[';
    buf[o++] = '"';
    for (const unsigned char *k = (const unsigned char *)key; *k && o < 140; k++) {
        if (*k == '"' || *k == '\\')
            o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\\%c", *k);
        else if (*k < 0x20 || *k == 0x7f)
            o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\\u%04x", *k);
        else
            buf[o++] = (char)*k;
    }
    if (strlen(key) > 0 && o >= 140)
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "...");
    snprintf(buf + o, sizeof(buf) - o, "\"]");
    path_append(c, buf);
    return mark;
}

size_t rw__cfg_enter_index(struct rw__cfg_ctx *c, size_t i)
{
    size_t mark = c->plen;
    char buf[32];

    snprintf(buf, sizeof(buf), "[%zu]", i);
    path_append(c, buf);
    return mark;
}

void rw__cfg_leave(struct rw__cfg_ctx *c, size_t mark)
{
    c->plen = mark;
    c->path[mark] = '\0';
}

static void err_vadd(struct rw__cfg_ctx *c, bool with_path, const char *got, const char *fmt,
                     va_list ap)
{
    char *what = NULL, *msg = NULL;
    int r;

    c->nerr++;
    if (c->nerr > RW__CFG_MAX_ERRS)
        return;
    if (vasprintf(&what, fmt, ap) < 0)
        abort();
    if (with_path)
        r = asprintf(&msg, "%s: %s: %s%s%s", c->file, c->path, what, got ? ", got " : "",
                     got ? got : "");
    else
        r = asprintf(&msg, "%s", what);
    free(what);
    if (r < 0)
        abort();
    errs_push_take(c->errs, msg);
}

void rw__cfg_err(struct rw__cfg_ctx *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    err_vadd(c, true, NULL, fmt, ap);
    va_end(ap);
}

void rw__cfg_err_raw(struct rw__cfg_ctx *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    err_vadd(c, false, NULL, fmt, ap);
    va_end(ap);
}

/* Compact JSON of v, cut to RW__CFG_GOT_MAX characters on a UTF-8 boundary. */
static char *got_text(const json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    size_t cut;

    if (!s)
        return rw__cfg_xstrdup("?");
    if (strlen(s) <= RW__CFG_GOT_MAX)
        return s;
    cut = RW__CFG_GOT_MAX - 3;
    while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
        cut--;
    memcpy(s + cut, "...", 4);
    return s;
}

void rw__cfg_err_got(struct rw__cfg_ctx *c, const json_t *v, const char *fmt, ...)
{
    va_list ap;
    char *got;

    if (c->nerr >= RW__CFG_MAX_ERRS) {
        c->nerr++;
        return;
    }
    got = got_text(v);
    va_start(ap, fmt);
    err_vadd(c, true, got, fmt, ap);
    va_end(ap);
    free(got);
}

unsigned rw__cfg_edit_distance(const char *a, const char *b, unsigned cap)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned d[34][34];

    if (la > 32 || lb > 32)
        return cap + 1;
    if ((la > lb ? la - lb : lb - la) > cap)
        return cap + 1;
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (unsigned)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (unsigned)j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            unsigned cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            unsigned v = d[i - 1][j] + 1;

            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    }
    return d[la][lb] > cap ? cap + 1 : d[la][lb];
}

static const char *closest_key(const char *key, const char *const *allowed)
{
    const char *best = NULL;
    unsigned bestd = 3;

    for (size_t i = 0; allowed[i]; i++) {
        unsigned d = rw__cfg_edit_distance(key, allowed[i], 2);

        /* A distance as long as the shorter word means the words share nothing. */
        if (d < bestd && d < strlen(allowed[i]) && d < strlen(key)) {
            bestd = d;
            best = allowed[i];
        }
    }
    return best;
}

void rw__cfg_check_keys(struct rw__cfg_ctx *c, const json_t *obj, const char *const *allowed)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)obj, key, v)
    {
        size_t i, mark;
        const char *hint;

        for (i = 0; allowed[i]; i++)
            if (strcmp(key, allowed[i]) == 0)
                break;
        if (allowed[i])
            continue;
        mark = rw__cfg_enter_key(c, key);
        hint = closest_key(key, allowed);
        if (hint)
            rw__cfg_err(c, "unknown key; did you mean %s?", hint);
        else
            rw__cfg_err(c, "unknown key");
        rw__cfg_leave(c, mark);
    }
}

void rw__cfg_err_finish(struct rw__cfg_ctx *c)
{
    char *msg = NULL;

    if (c->nerr <= RW__CFG_MAX_ERRS)
        return;
    if (asprintf(&msg, "%s: %u more errors not shown", c->file, c->nerr - RW__CFG_MAX_ERRS) < 0)
        abort();
    errs_push_take(c->errs, msg);
}

char *rw__cfg_got_text(const json_t *v)
{
    return got_text(v);
}
