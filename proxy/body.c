/* SPDX-License-Identifier: MIT */
/* Message bodies in transit: decode the sender's framing, produce our own. */
#include <stdlib.h>
#include <string.h>

#include "proxy/px.h"

#define PX_TRAILER_MAX 16384

static const char crlf[] = "\r\n";
static const char last_chunk[] = "0\r\n";
static const char last_chunk_end[] = "0\r\n\r\n";

void px_body_init(struct px_body *b, uint8_t in, uint8_t out, uint64_t len, uint64_t limit,
                  bool keep_trailers)
{
    memset(b, 0, sizeof(*b));
    b->in = in;
    b->out = out;
    b->remaining = len;
    b->limit = limit;
    b->keep_trailers = keep_trailers && out == PX_F_CHUNKED;
    if (in == PX_F_NONE) {
        b->done = true;
        b->fin_sent = true;
    } else if (in == PX_F_LENGTH && len == 0) {
        b->done = true;
    } else if (in == PX_F_CHUNKED) {
        rw_chunked_init(&b->dec);
        if (b->keep_trailers) {
            b->trailers = malloc(PX_TRAILER_MAX);
            b->dec.trailer = b->trailers;
            b->dec.max_trailer = b->trailers ? PX_TRAILER_MAX : 0;
        }
    }
}

void px_body_free(struct px_body *b)
{
    free(b->trailers);
    b->trailers = NULL;
    b->dec.trailer = NULL;
}

/* "<hex size>\r\n" into line (24 bytes); returns its length. */
static size_t chunk_line(char *line, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    char tmp[16];
    size_t i = 0;
    do {
        tmp[i++] = hex[n & 15];
        n >>= 4;
    } while (n);
    size_t l = 0;
    while (i)
        line[l++] = tmp[--i];
    line[l++] = '\r';
    line[l++] = '\n';
    return l;
}

/* Append one payload span, framed for the output. Returns false if it does not fit. */
static bool emit(struct px_body *b, const char *p, size_t n, struct iovec *iov, int *niov,
                 int maxiov)
{
    if (b->out != PX_F_CHUNKED) {
        if (*niov >= maxiov)
            return false;
        iov[(*niov)++] = (struct iovec){(void *)p, n};
        return true;
    }
    if (*niov + 3 > maxiov)
        return false;
    char *line = b->scratch[b->nscratch++ & 3];
    size_t l = chunk_line(line, n);
    iov[(*niov)++] = (struct iovec){line, l};
    iov[(*niov)++] = (struct iovec){(void *)p, n};
    iov[(*niov)++] = (struct iovec){(void *)crlf, 2};
    return true;
}

static int slots(const struct px_body *b)
{
    return b->out == PX_F_CHUNKED ? 3 : 1;
}

static enum px_body_res step_chunked(struct px_body *b, const char *in, uint32_t len,
                                     uint32_t *used, struct iovec *iov, int *niov, int maxiov)
{
    while (*used < len && maxiov - *niov >= slots(b)) {
        size_t cons = 0, off = 0, dlen = 0;
        enum rw_parse r = rw_chunked_decode(&b->dec, in + *used, len - *used, &cons, &off, &dlen);
        if (r == RW_PARSE_BAD)
            return PX_B_BAD;
        if (dlen) {
            b->total += dlen;
            if (b->limit && b->total > b->limit)
                return PX_B_TOO_BIG;
            emit(b, in + *used + off, dlen, iov, niov, maxiov);
        }
        *used += (uint32_t)cons;
        if (r == RW_PARSE_DONE) {
            b->done = true;
            break;
        }
        if (!cons)
            break;
    }
    return PX_B_OK;
}

enum px_body_res px_body_step(struct px_body *b, const char *in, uint32_t len, uint32_t *used,
                              struct iovec *iov, int *niov, int maxiov)
{
    *used = 0;
    *niov = 0;
    if (b->done || !len)
        return PX_B_OK;
    if (b->in == PX_F_CHUNKED)
        return step_chunked(b, in, len, used, iov, niov, maxiov);
    uint64_t n = len;
    if (b->in == PX_F_LENGTH && n > b->remaining)
        n = b->remaining;
    if (b->limit && b->total + n > b->limit)
        return PX_B_TOO_BIG;
    if (!emit(b, in, (size_t)n, iov, niov, maxiov))
        return PX_B_OK;
    b->total += n;
    *used = (uint32_t)n;
    if (b->in == PX_F_LENGTH) {
        b->remaining -= n;
        if (!b->remaining)
            b->done = true;
    }
    return PX_B_OK;
}

int px_body_finish(struct px_body *b, struct iovec *iov, int maxiov)
{
    if (b->fin_sent)
        return 0;
    if (b->out != PX_F_CHUNKED) {
        b->fin_sent = true;
        return 0;
    }
    if (b->keep_trailers && b->dec.trailer_len) {
        if (maxiov < 3)
            return 0;
        iov[0] = (struct iovec){(void *)last_chunk, 3};
        iov[1] = (struct iovec){b->trailers, b->dec.trailer_len};
        iov[2] = (struct iovec){(void *)crlf, 2};
        b->fin_sent = true;
        return 3;
    }
    if (maxiov < 1)
        return 0;
    iov[0] = (struct iovec){(void *)last_chunk_end, 5};
    b->fin_sent = true;
    return 1;
}
