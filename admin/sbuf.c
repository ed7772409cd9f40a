/* SPDX-License-Identifier: MIT */
/* A growable string buffer with a sticky error. */
#include "admin/sbuf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int sbuf_reserve(struct rw__sbuf *b, size_t n)
{
    if (b->err)
        return b->err;
    if (b->len + n + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->err = -ENOMEM;
        return b->err;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void rw__sbuf_putn(struct rw__sbuf *b, const char *s, size_t n)
{
    if (sbuf_reserve(b, n) < 0)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void rw__sbuf_puts(struct rw__sbuf *b, const char *s)
{
    rw__sbuf_putn(b, s, strlen(s));
}

void rw__sbuf_printf(struct rw__sbuf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(tmp)) {
        rw__sbuf_putn(b, tmp, (size_t)n);
        return;
    }
    if (sbuf_reserve(b, (size_t)n) < 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

int rw__sbuf_take(struct rw__sbuf *b, char **out, size_t *len)
{
    if (!b->err && sbuf_reserve(b, 0) < 0)
        b->err = -ENOMEM;
    if (b->err) {
        free(b->p);
        *b = (struct rw__sbuf){0};
        return -ENOMEM;
    }
    *out = b->p;
    *len = b->len;
    *b = (struct rw__sbuf){0};
    return 0;
}
