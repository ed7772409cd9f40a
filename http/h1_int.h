/* SPDX-License-Identifier: MIT */
/* http/ internals shared by the head parsers and the chunked decoder (not a public API). */
#ifndef RW_HTTP_H1_INT_H
#define RW_HTTP_H1_INT_H

#include "http/h1.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Character classes, bit flags in rw__h1_ctab[]. */
enum {
    RW__C_TCHAR = 1u << 0, /* token character (RFC 9110 5.6.2) */
    RW__C_VALUE = 1u << 1, /* field-value byte: VCHAR, obs-text, SP, HTAB */
    RW__C_HEX = 1u << 2,   /* HEXDIG */
    RW__C_DIGIT = 1u << 3, /* DIGIT */
    RW__C_REG = 1u << 4,   /* reg-name: unreserved or sub-delims (not '%') */
    RW__C_QDTEXT = 1u << 5 /* quoted-string text: HTAB, SP, VCHAR except '"' '\\', obs-text */
};

/* Internal results of the shared head pieces: 0 done, 1 need more bytes, or an HTTP status
 * (request terms: 400, 414, 431, ...) when the input is bad. */
enum {
    RW__OK = 0,
    RW__MORE = 1,
};

/* Resolved limits (zero fields replaced by defaults, headers clamped). */
struct rw__lim {
    size_t request_line;
    size_t header_block;
    uint32_t headers;
};

/* Per-message counts of the framing-relevant fields, filled by rw__h1_fields(). */
struct rw__hcount {
    uint16_t n[RW_H__COUNT]; /* fields seen per id */
};

extern const uint8_t rw__h1_ctab[256];

static inline bool rw__is(uint8_t c, unsigned cls)
{
    return (rw__h1_ctab[c] & cls) != 0;
}

/* Resolve lim (may be NULL) into out. Pure, any thread. */
void rw__h1_limits(const struct rw_h1_limits *lim, struct rw__lim *out);

/* Header id for the token name[0..len), case-insensitive; RW_H_OTHER when unknown.
 * name must already be a valid token. Pure, any thread. */
enum rw_hdr_id rw__h1_hdr_id(const char *name, size_t len);

/* True for the fixed hop-by-hop ids (Connection, Keep-Alive, Proxy-Connection, TE,
 * Trailer, Transfer-Encoding, Upgrade). */
bool rw__h1_hop_id(unsigned id);

/* Parse field lines from p up to and including the empty line that ends the head.
 * buf/len: the whole message buffer (limits count from buf). Fills h->hdrs[0..nhdrs),
 * h->first[], h->head_len and cnt. Returns RW__OK, RW__MORE (no limit exceeded),
 * 400 (syntax) or 431 (block/count limit). Pure, any thread. */
int rw__h1_fields(const char *buf, size_t len, const char *p, const struct rw__lim *lim,
                  struct rw_h1_head *h, struct rw__hcount *cnt);

/* Apply Connection semantics to a parsed head: mark hop-by-hop fields (fixed list and
 * every token a Connection field lists), set keep_alive (version default, "close",
 * "keep-alive") and conn_upgrade. Returns 0, or 400 when a Connection value is not a
 * list of tokens. */
int rw__h1_connection(struct rw_h1_head *h, const struct rw__hcount *cnt);

/* Parse a Content-Length value: 1-19 DIGITs fitting in 63 bits. 0 or -EINVAL. */
int rw__h1_content_length(const char *v, size_t n, uint64_t *out);

/* True if h[0..n) is a valid host[:port] (reg-name/IPv4 or [IPv6], port 1-5 digits
 * up to 65535). need_port: the port is mandatory (authority-form). */
bool rw__h1_host_valid(const char *h, size_t n, bool need_port);

/* Parse "HTTP/d.d" followed by the bytes of tail ("\r\n" or " ") at p (avail bytes).
 * Returns RW__OK with *minor set, RW__MORE, 400 when malformed, or 505 for a
 * well-formed version other than 1.0/1.1. */
int rw__h1_version(const char *p, size_t avail, const char *tail, uint8_t *minor);

/* The start line ran out of bytes at end (end <= buf + len): 414 when the line seen so
 * far is already longer than lim->request_line, 431 when len fills the header block,
 * else RW__MORE. */
int rw__h1_line_more(const char *buf, size_t len, const char *end, const struct rw__lim *lim);

/* Scan token bytes from p; returns the first non-tchar byte (or end). */
const char *rw__h1_scan_name(const char *p, const char *end);

/* Scan field-value bytes from p; returns the first byte that is not VCHAR, obs-text,
 * SP or HTAB (or end). */
const char *rw__h1_scan_value(const char *p, const char *end);

#endif
