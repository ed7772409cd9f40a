/* SPDX-License-Identifier: MIT */
/* libFuzzer target: rw_h1_parse_request, whole and split, with invariants checked by abort(). */
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
    if (n == 0 && p == NULL)
        return;
    CHECK(p >= buf && p <= buf + len && n <= (size_t)(buf + len - p));
}

static void check_done(const struct rw_h1_req *q, const char *buf, size_t len, uint32_t maxh)
{
    const struct rw_h1_head *h = &q->h;
    CHECK(h->head_len > 0 && h->head_len <= len);
    CHECK(h->nhdrs <= maxh);
    CHECK(h->minor <= 1);
    check_span(q->method_str, q->method_len, buf, h->head_len);
    check_span(q->target, q->target_len, buf, h->head_len);
    CHECK(q->path != NULL);
    check_span(q->path, q->path_len, buf, h->head_len);
    check_span(q->query, q->query_len, buf, h->head_len);
    check_span(q->host, q->host_len, buf, h->head_len);
    CHECK(h->minor == 0 || q->host != NULL);
    for (uint32_t i = 0; i < h->nhdrs; i++) {
        const struct rw_hdr *f = &h->hdrs[i];
        check_span(f->name, f->name_len, buf, h->head_len);
        check_span(f->value, f->value_len, buf, h->head_len);
        CHECK(f->name_len > 0 && f->id < RW_H__COUNT);
        CHECK(h->first[f->id] >= 0 && (uint32_t)h->first[f->id] <= i);
        for (uint32_t j = 0; j < f->value_len; j++)
            CHECK(f->value[j] != '\r' && f->value[j] != '\n' && f->value[j] != '\0');
        if (f->value_len)
            CHECK(f->value[0] != ' ' && f->value[f->value_len - 1] != ' ');
    }
    for (int id = 0; id < RW_H__COUNT; id++)
        CHECK(h->first[id] == -1 || h->hdrs[h->first[id]].id == id);
    if (h->body == RW_BODY_CHUNKED)
        CHECK(h->minor == 1 && h->first[RW_H_CONTENT_LENGTH] == -1);
    CHECK(h->body != RW_BODY_CLOSE);
    CHECK(memcmp(buf + h->head_len - 4, "\r\n\r\n", 4) == 0 || h->head_len == 0);
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
    if (size < 2)
        return 0;
    struct rw_h1_limits lim = {0};
    if (data[0] & 1)
        lim = (struct rw_h1_limits){.request_line = 64, .header_block = 256, .headers = 4};
    uint32_t maxh = (data[0] & 1) ? 4 : 100;
    size_t len = size - 2, k = (size_t)data[1] * len / 255;
    char *buf = dup_exact(data + 2, len), *pre = dup_exact(data + 2, k);
    struct rw_h1_req a, b;
    int sa = 0, sb = 0;

    enum rw_parse ra = rw_h1_parse_request(buf, len, &lim, &a, hdrs_a, &sa);
    enum rw_parse rb = rw_h1_parse_request(pre, k, &lim, &b, hdrs_b, &sb);
    if (ra == RW_PARSE_DONE)
        check_done(&a, buf, len, maxh);
    if (ra == RW_PARSE_BAD)
        CHECK(sa == 400 || sa == 414 || sa == 417 || sa == 431 || sa == 501 || sa == 505);
    /* A prefix never does better than the whole, and a complete head is complete in
     * any prefix that holds it. */
    if (ra == RW_PARSE_DONE && k < a.h.head_len)
        CHECK(rb == RW_PARSE_AGAIN);
    if (ra == RW_PARSE_DONE && k >= a.h.head_len)
        CHECK(rb == RW_PARSE_DONE && b.h.head_len == a.h.head_len && b.h.nhdrs == a.h.nhdrs &&
              b.h.body == a.h.body && b.h.content_length == a.h.content_length);
    if (ra == RW_PARSE_AGAIN)
        CHECK(rb == RW_PARSE_AGAIN);
    if (ra == RW_PARSE_BAD)
        CHECK(rb != RW_PARSE_DONE);
    if (rb == RW_PARSE_DONE)
        check_done(&b, pre, k, maxh);
    free(buf);
    free(pre);
    return 0;
}
