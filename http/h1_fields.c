/* SPDX-License-Identifier: MIT */
/* Field-line parsing shared by requests and responses, and Connection semantics. */
#include "http/h1_int.h"

#include <string.h>

static int fields_more(size_t len, const struct rw__lim *lim, struct rw_h1_head *h, uint32_t n)
{
    h->nhdrs = n;
    /* Nothing more can complete a head that already fills the block: refuse now, so a
     * slow sender cannot make the caller buffer without bound. */
    return len >= lim->header_block ? 431 : RW__MORE;
}

int rw__h1_fields(const char *buf, size_t len, const char *p, const struct rw__lim *lim,
                  struct rw_h1_head *h, struct rw__hcount *cnt)
{
    const char *end = buf + (len < lim->header_block ? len : lim->header_block);
    struct rw_hdr *hdrs = h->hdrs;
    uint32_t n = 0;

    memset(h->first, 0xff, sizeof(h->first));
    memset(cnt, 0, sizeof(*cnt));
    for (;;) {
        if (p >= end)
            return fields_more(len, lim, h, n);
        if (*p == '\r') {
            if (p + 1 == end)
                return fields_more(len, lim, h, n);
            if (p[1] != '\n')
                return 400;
            h->nhdrs = n;
            h->head_len = (size_t)(p + 2 - buf);
            return RW__OK;
        }
        if (n == lim->headers)
            return 431;
        /* A line starting with SP/HTAB (obs-fold, or whitespace before the first field)
         * and a bare LF both fail here: neither is a token byte nor ':'. */
        const char *name = p;
        p = rw__h1_scan_name(p, end);
        if (p == end)
            return fields_more(len, lim, h, n);
        if (*p != ':' || p == name)
            return 400;
        size_t nlen = (size_t)(p - name);
        if (nlen > UINT16_MAX)
            return 431;
        p++;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        const char *val = p;
        p = rw__h1_scan_value(p, end);
        if (p == end || (*p == '\r' && p + 1 == end))
            return fields_more(len, lim, h, n);
        if (p[0] != '\r' || p[1] != '\n')
            return 400;
        const char *ve = p;
        while (ve > val && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        enum rw_hdr_id id = rw__h1_hdr_id(name, nlen);
        struct rw_hdr *f = &hdrs[n];
        f->name = name;
        f->name_len = (uint16_t)nlen;
        f->value = val;
        f->value_len = (uint32_t)(ve - val);
        f->id = (uint16_t)id;
        f->flags = rw__h1_hop_id(id) ? RW_HDR_HOP : 0;
        if (h->first[id] < 0)
            h->first[id] = (int16_t)n;
        cnt->n[id]++;
        n++;
        p += 2;
    }
}

static inline uint8_t lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c | 0x20) : c;
}

static bool name_ieq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower((uint8_t)a[i]) != lower((uint8_t)b[i]))
            return false;
    return true;
}

/* Mark every field named tok as hop-by-hop (a Connection option names it). */
static void conn_mark(struct rw_h1_head *h, const char *tok, size_t tlen)
{
    enum rw_hdr_id id = rw__h1_hdr_id(tok, tlen);
    if (rw__h1_hop_id(id))
        return; /* already marked by the fixed list */
    for (uint32_t i = 0; i < h->nhdrs; i++) {
        struct rw_hdr *f = &h->hdrs[i];
        if (id != RW_H_OTHER ? f->id == id : (f->name_len == tlen && name_ieq(f->name, tok, tlen)))
            f->flags |= RW_HDR_HOP;
    }
}

struct conn_opts {
    bool close, keep_alive, upgrade;
};

/* One Connection field value: a comma-separated list of tokens (empty elements allowed). */
static int conn_field(struct rw_h1_head *h, const struct rw_hdr *f, struct conn_opts *o)
{
    const char *v = f->value, *end = f->value + f->value_len;
    while (v < end) {
        while (v < end && (*v == ' ' || *v == '\t' || *v == ','))
            v++;
        const char *t = v;
        while (v < end && rw__is((uint8_t)*v, RW__C_TCHAR))
            v++;
        size_t tlen = (size_t)(v - t);
        while (v < end && (*v == ' ' || *v == '\t'))
            v++;
        if (v < end && *v != ',')
            return 400;
        if (tlen == 0)
            continue;
        if (tlen == 5 && rw_h1_streq(t, tlen, "close"))
            o->close = true;
        else if (tlen == 10 && rw_h1_streq(t, tlen, "keep-alive"))
            o->keep_alive = true;
        else if (tlen == 7 && rw_h1_streq(t, tlen, "upgrade"))
            o->upgrade = true;
        conn_mark(h, t, tlen);
    }
    return 0;
}

int rw__h1_connection(struct rw_h1_head *h, const struct rw__hcount *cnt)
{
    struct conn_opts o = {false, false, false};
    if (cnt->n[RW_H_CONNECTION]) {
        for (uint32_t i = (uint32_t)h->first[RW_H_CONNECTION]; i < h->nhdrs; i++) {
            if (h->hdrs[i].id != RW_H_CONNECTION)
                continue;
            int r = conn_field(h, &h->hdrs[i], &o);
            if (r)
                return r;
        }
    }
    h->keep_alive = h->minor ? !o.close : (o.keep_alive && !o.close);
    h->conn_upgrade = o.upgrade && cnt->n[RW_H_UPGRADE] > 0;
    return 0;
}
