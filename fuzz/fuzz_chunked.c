/* SPDX-License-Identifier: MIT */
/* libFuzzer target: rw_chunked_decode whole vs. split into fuzzer-sized pieces; same output. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/h1.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

struct run {
    enum rw_parse r;
    size_t consumed;
    size_t out_len;
    char *out; /* owned: len bytes */
    char trailer[512];
    uint32_t trailer_len;
};

/* Feed in[0..len) in pieces of at most step bytes (0: all at once), each piece in its
 * own exact-size allocation so that ASan sees any read beyond what was handed over. */
static void run_decode(const uint8_t *in, size_t len, size_t step, uint8_t mode, struct run *o)
{
    struct rw_chunked d = {0};
    if (mode & 1)
        d.max_ext = 16;
    if (mode & 2) {
        d.trailer = o->trailer;
        d.max_trailer = (mode & 4) ? 24 : sizeof(o->trailer);
    } else if (mode & 4) {
        d.max_trailer = 24;
    }
    o->out = malloc(len ? len : 1);
    if (!o->out)
        abort();
    o->out_len = 0;
    o->consumed = 0;
    o->r = RW_PARSE_AGAIN;
    size_t pos = 0;
    while (pos < len && o->r == RW_PARSE_AGAIN) {
        size_t n = step && len - pos > step ? step : len - pos;
        char *piece = malloc(n);
        if (!piece)
            abort();
        memcpy(piece, in + pos, n);
        size_t at = 0;
        while (at < n) {
            size_t used = 0, off = 0, dl = 0;
            o->r = rw_chunked_decode(&d, piece + at, n - at, &used, &off, &dl);
            CHECK(used <= n - at);
            CHECK(dl == 0 || (off <= used && dl <= used - off));
            CHECK(o->r != RW_PARSE_DONE || dl == 0);
            memcpy(o->out + o->out_len, piece + at + off, dl);
            o->out_len += dl;
            at += used;
            if (o->r != RW_PARSE_AGAIN)
                break;
            CHECK(used > 0); /* AGAIN with bytes left must make progress */
        }
        free(piece);
        pos += at;
        o->consumed = pos;
        if (o->r != RW_PARSE_AGAIN)
            break;
    }
    CHECK(o->out_len <= o->consumed && o->consumed <= len);
    CHECK(d.trailer_len <= (d.max_trailer ? d.max_trailer : 16384));
    o->trailer_len = d.trailer ? d.trailer_len : 0;
    CHECK(d.trailer || d.trailer_len == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t mode = data[0];
    size_t step = data[1];
    struct run a, b;
    run_decode(data + 2, size - 2, 0, mode, &a);
    run_decode(data + 2, size - 2, step ? step : 1, mode, &b);
    CHECK(a.r == b.r && a.out_len == b.out_len && !memcmp(a.out, b.out, a.out_len));
    CHECK(a.trailer_len == b.trailer_len && !memcmp(a.trailer, b.trailer, a.trailer_len));
    CHECK(a.r == RW_PARSE_AGAIN || a.consumed == b.consumed);
    free(a.out);
    free(b.out);
    return 0;
}
