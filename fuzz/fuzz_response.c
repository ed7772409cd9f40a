/* SPDX-License-Identifier: MIT */
/* libFuzzer target: rw_h1_parse_response, whole and split, with invariants checked by abort(). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/h1.h"

static struct rw_hdr hdrs_a[RW_H1_MAX_HEADERS], hdrs_b[RW_H1_MAX_HEADERS];

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

static void check_span(const char *p, size_t n, const char *buf, size_t len)
{
    CHECK(p >= buf && p <= buf + len && n <= (size_t)(buf + len - p));
}

static void check_done(const struct rw_h1_resp *r, uint8_t method, const char *buf, size_t len)
{
    const struct rw_h1_head *h = &r->h;
    CHECK(h->head_len > 0 && h->head_len <= len);
    CHECK(r->status >= 100 && r->status <= 599);
    check_span(r->reason, r->reason_len, buf, h->head_len);
    for (uint32_t i = 0; i < h->nhdrs; i++) {
        check_span(h->hdrs[i].name, h->hdrs[i].name_len, buf, h->head_len);
        check_span(h->hdrs[i].value, h->hdrs[i].value_len, buf, h->head_len);
    }
    for (int id = 0; id < RW_H__COUNT; id++)
        CHECK(h->first[id] == -1 ||
              ((uint32_t)h->first[id] < h->nhdrs && h->hdrs[h->first[id]].id == id));
    if (r->status < 200 || r->status == 204 || r->status == 304 || method == RW_M_HEAD)
        CHECK(h->body == RW_BODY_NONE);
    if (h->body == RW_BODY_CLOSE)
        CHECK(!h->keep_alive);
    if (h->body == RW_BODY_CHUNKED)
        CHECK(h->first[RW_H_CONTENT_LENGTH] == -1 && h->minor == 1);
}

static char *dup_exact(const uint8_t *p, size_t n)
{
    char *c = malloc(n ? n : 1);
    if (!c)
        abort();
    if (n)
        memcpy(c, p, n);
    return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t methods[4] = {RW_M_GET, RW_M_HEAD, RW_M_CONNECT, RW_M_POST};
    if (size < 2)
        return 0;
    uint8_t method = methods[data[0] & 3];
    struct rw_h1_limits lim = {0};
    if (data[0] & 4)
        lim = (struct rw_h1_limits){.request_line = 48, .header_block = 200, .headers = 3};
    size_t len = size - 2, k = (size_t)data[1] * len / 255;
    char *buf = dup_exact(data + 2, len), *pre = dup_exact(data + 2, k);
    struct rw_h1_resp a, b;
    int sa = 0, sb = 0;

    enum rw_parse ra = rw_h1_parse_response(buf, len, &lim, method, &a, hdrs_a, &sa);
    enum rw_parse rb = rw_h1_parse_response(pre, k, &lim, method, &b, hdrs_b, &sb);
    if (ra == RW_PARSE_DONE)
        check_done(&a, method, buf, len);
    if (ra == RW_PARSE_BAD)
        CHECK(sa == 502);
    if (ra == RW_PARSE_DONE && k < a.h.head_len)
        CHECK(rb == RW_PARSE_AGAIN);
    if (ra == RW_PARSE_DONE && k >= a.h.head_len)
        CHECK(rb == RW_PARSE_DONE && b.h.head_len == a.h.head_len && b.h.body == a.h.body &&
              b.status == a.status);
    if (ra == RW_PARSE_AGAIN)
        CHECK(rb == RW_PARSE_AGAIN);
    if (ra == RW_PARSE_BAD)
        CHECK(rb != RW_PARSE_DONE);
    if (rb == RW_PARSE_DONE)
        check_done(&b, method, pre, k);
    free(buf);
    free(pre);
    return 0;
}
