/* SPDX-License-Identifier: MIT */
/* Module-internal: a growable string buffer with a sticky error, for admin/ output. */
#ifndef RW_ADMIN_SBUF_H
#define RW_ADMIN_SBUF_H

#include <stdarg.h>
#include <stddef.h>

struct rw__sbuf {
    char *p; /* owned: NUL-terminated when non-NULL */
    size_t len;
    size_t cap;
    int err; /* 0, or -ENOMEM once any append failed (later appends are no-ops) */
};

/* Append n bytes / a C string / printf output. Failures are sticky in b->err. */
void rw__sbuf_putn(struct rw__sbuf *b, const char *s, size_t n);
void rw__sbuf_puts(struct rw__sbuf *b, const char *s);
void rw__sbuf_printf(struct rw__sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Hand the buffer to the caller: 0 with *out (malloc'd, caller frees) and *len, or
 * the sticky error (buffer freed). */
int rw__sbuf_take(struct rw__sbuf *b, char **out, size_t *len);

#endif
