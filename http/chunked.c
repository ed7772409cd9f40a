/* SPDX-License-Identifier: MIT */
/* Incremental chunked transfer-coding decoder (RFC 9112 7.1) with bounded extensions and trailers.
 */
#include "http/h1.h"

#include <string.h>

#include "http/h1_int.h"

/* Decoder states. CK_SIZE is 0 so that a zeroed struct is ready to use. */
enum ck_state {
    CK_SIZE = 0,   /* chunk-size hex digits */
    CK_EXT_NAME0,  /* after ';': first byte of an extension name */
    CK_EXT_NAME,   /* extension name */
    CK_EXT_VAL0,   /* after '=': token or quoted-string */
    CK_EXT_TOKEN,  /* token value */
    CK_EXT_QUOTED, /* inside a quoted-string */
    CK_EXT_QESC,   /* after a backslash in a quoted-string */
    CK_EXT_QEND,   /* after the closing quote */
    CK_SIZE_LF,    /* CR of the size line seen */
    CK_DATA,       /* chunk data */
    CK_DATA_CR,    /* CRLF after the data */
    CK_DATA_LF,    /*   ... its LF */
    CK_TR_LINE,    /* start of a trailer line (or the final CRLF) */
    CK_TR_NAME,    /* trailer field name */
    CK_TR_VALUE,   /* trailer field value */
    CK_TR_LF,      /* CR of a trailer line seen */
    CK_FINAL_LF,   /* CR of the final empty line seen */
    CK_DONE,       /* message complete */
    CK_BAD,        /* sticky error */
};

enum { CK_CONT = 0, CK_END = 1, CK_ERR = -1 };

static int ck_bad(struct rw_chunked *d)
{
    d->state = CK_BAD;
    return CK_ERR;
}

void rw_chunked_init(struct rw_chunked *d)
{
    d->state = CK_SIZE;
    d->ndigits = 0;
    d->trailers_seen = false;
    d->remaining = 0;
    d->ext_bytes = 0;
    d->trailer_len = 0;
    d->line_len = 0;
}

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* The size line: digits, then optional extensions, then CR. No whitespace anywhere. */
static int ck_size(struct rw_chunked *d, uint8_t c)
{
    int v = hexval(c);
    if (v >= 0) {
        /* 16 digits at most, and the value must fit in 63 bits. */
        if (++d->ndigits > 16 || (d->remaining >> 59) != 0)
            return ck_bad(d);
        d->remaining = (d->remaining << 4) | (uint64_t)v;
        return CK_CONT;
    }
    if (d->ndigits == 0)
        return ck_bad(d);
    if (c == '\r')
        d->state = CK_SIZE_LF;
    else if (c == ';')
        d->state = CK_EXT_NAME0;
    else
        return ck_bad(d); /* includes BWS before ';' and a bare LF */
    if (c == ';' && ++d->ext_bytes > (d->max_ext ? d->max_ext : 4096))
        return ck_bad(d);
    return CK_CONT;
}

/* Where an extension element may end: another ';' or the CR of the size line. */
static int ck_ext_sep(struct rw_chunked *d, uint8_t c)
{
    if (c == ';')
        d->state = CK_EXT_NAME0;
    else if (c == '\r')
        d->state = CK_SIZE_LF;
    else
        return ck_bad(d);
    return CK_CONT;
}

/* chunk-ext = *( ";" name [ "=" ( token / quoted-string ) ] ), with no BWS. */
static int ck_ext(struct rw_chunked *d, uint8_t c)
{
    if (c != '\r' && ++d->ext_bytes > (d->max_ext ? d->max_ext : 4096))
        return ck_bad(d);
    bool tchar = rw__is(c, RW__C_TCHAR);
    switch (d->state) {
    case CK_EXT_NAME0:
        if (!tchar)
            return ck_bad(d);
        d->state = CK_EXT_NAME;
        return CK_CONT;
    case CK_EXT_NAME:
        if (tchar)
            return CK_CONT;
        if (c == '=') {
            d->state = CK_EXT_VAL0;
            return CK_CONT;
        }
        return ck_ext_sep(d, c);
    case CK_EXT_VAL0:
        if (c == '"')
            d->state = CK_EXT_QUOTED;
        else if (tchar)
            d->state = CK_EXT_TOKEN;
        else
            return ck_bad(d);
        return CK_CONT;
    case CK_EXT_TOKEN:
        return tchar ? CK_CONT : ck_ext_sep(d, c);
    case CK_EXT_QUOTED:
        if (c == '"')
            d->state = CK_EXT_QEND;
        else if (c == '\\')
            d->state = CK_EXT_QESC;
        else if (!rw__is(c, RW__C_QDTEXT))
            return ck_bad(d);
        return CK_CONT;
    case CK_EXT_QESC:
        if (!rw__is(c, RW__C_VALUE))
            return ck_bad(d);
        d->state = CK_EXT_QUOTED;
        return CK_CONT;
    default:
        return ck_ext_sep(d, c); /* CK_EXT_QEND */
    }
}

/* A complete trailer line sits at trailer[trailer_len .. +line_len): keep it unless it
 * names a framing, routing or hop-by-hop field. */
static void ck_trailer_commit(struct rw_chunked *d)
{
    d->trailers_seen = true;
    if (d->trailer) {
        const char *line = d->trailer + d->trailer_len;
        const char *colon = memchr(line, ':', d->line_len);
        enum rw_hdr_id id = rw__h1_hdr_id(line, (size_t)(colon - line));
        if (id != RW_H_CONTENT_LENGTH && id != RW_H_HOST && !rw__h1_hop_id(id))
            d->trailer_len += d->line_len;
    }
    d->line_len = 0;
}

/* Trailer section: field lines under the head rules, then the final CRLF. */
static int ck_trailer(struct rw_chunked *d, uint8_t c)
{
    /* remaining counts trailer-section bytes once the last chunk is seen. */
    if (++d->remaining > (d->max_trailer ? d->max_trailer : 16384))
        return ck_bad(d);
    switch (d->state) {
    case CK_TR_LINE:
        if (c == '\r') {
            d->state = CK_FINAL_LF;
            return CK_CONT;
        }
        if (!rw__is(c, RW__C_TCHAR))
            return ck_bad(d); /* obs-fold, leading whitespace, bare LF */
        d->state = CK_TR_NAME;
        break;
    case CK_TR_NAME:
        if (c == ':')
            d->state = CK_TR_VALUE;
        else if (!rw__is(c, RW__C_TCHAR))
            return ck_bad(d);
        break;
    case CK_TR_VALUE:
        if (c == '\r')
            d->state = CK_TR_LF;
        else if (!rw__is(c, RW__C_VALUE))
            return ck_bad(d);
        break;
    case CK_TR_LF:
        if (c != '\n')
            return ck_bad(d);
        break;
    default: /* CK_FINAL_LF */
        if (c != '\n')
            return ck_bad(d);
        d->state = CK_DONE;
        return CK_END;
    }
    if (d->trailer)
        d->trailer[d->trailer_len + d->line_len] = (char)c;
    d->line_len++;
    if (d->state == CK_TR_LF && c == '\n') {
        ck_trailer_commit(d);
        d->state = CK_TR_LINE;
    }
    return CK_CONT;
}

static int ck_crlf(struct rw_chunked *d, uint8_t c)
{
    switch (d->state) {
    case CK_SIZE_LF:
        if (c != '\n')
            return ck_bad(d);
        d->ndigits = 0;
        d->state = d->remaining ? CK_DATA : CK_TR_LINE; /* remaining now counts trailer */
        return CK_CONT;
    case CK_DATA_CR:
        if (c != '\r')
            return ck_bad(d);
        d->state = CK_DATA_LF;
        return CK_CONT;
    default: /* CK_DATA_LF */
        if (c != '\n')
            return ck_bad(d);
        d->state = CK_SIZE;
        return CK_CONT;
    }
}

static int ck_byte(struct rw_chunked *d, uint8_t c)
{
    switch (d->state) {
    case CK_SIZE:
        return ck_size(d, c);
    case CK_EXT_NAME0:
    case CK_EXT_NAME:
    case CK_EXT_VAL0:
    case CK_EXT_TOKEN:
    case CK_EXT_QUOTED:
    case CK_EXT_QESC:
    case CK_EXT_QEND:
        return ck_ext(d, c);
    case CK_SIZE_LF:
    case CK_DATA_CR:
    case CK_DATA_LF:
        return ck_crlf(d, c);
    case CK_TR_LINE:
    case CK_TR_NAME:
    case CK_TR_VALUE:
    case CK_TR_LF:
    case CK_FINAL_LF:
        return ck_trailer(d, c);
    default:
        return ck_bad(d);
    }
}

enum rw_parse rw_chunked_decode(struct rw_chunked *d, const char *in, size_t len, size_t *consumed,
                                size_t *data_off, size_t *data_len)
{
    size_t i = 0;
    *data_off = 0;
    *data_len = 0;
    *consumed = 0;
    if (d->state == CK_DONE)
        return RW_PARSE_DONE;
    if (d->state == CK_BAD)
        return RW_PARSE_BAD;
    while (i < len) {
        if (d->state == CK_DATA) {
            /* Hand back one span and stop: the caller forwards it before the next. */
            size_t n = len - i < d->remaining ? len - i : (size_t)d->remaining;
            *data_off = i;
            *data_len = n;
            d->remaining -= n;
            if (d->remaining == 0)
                d->state = CK_DATA_CR;
            *consumed = i + n;
            return RW_PARSE_AGAIN;
        }
        int r = ck_byte(d, (uint8_t)in[i++]);
        if (r == CK_ERR) {
            *consumed = i;
            return RW_PARSE_BAD;
        }
        if (r == CK_END) {
            *consumed = i;
            return RW_PARSE_DONE;
        }
    }
    *consumed = len;
    return RW_PARSE_AGAIN;
}
