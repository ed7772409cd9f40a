/* SPDX-License-Identifier: MIT */
/* Tests for proxy/body.c: every input framing to every output framing. */
#include "fixture.h"

#include <stdio.h>
#include <string.h>

struct sink {
    char buf[65536];
    size_t len;
};

static void collect(struct sink *s, const struct iovec *iov, int n)
{
    for (int i = 0; i < n; i++) {
        assert_true(s->len + iov[i].iov_len <= sizeof(s->buf));
        memcpy(s->buf + s->len, iov[i].iov_base, iov[i].iov_len);
        s->len += iov[i].iov_len;
    }
}

/* Feed `in` in pieces of `piece` bytes (as separate reads), like the proxy does:
 * step until each piece is consumed or the message ends. Returns bytes consumed. */
static size_t feed(struct px_body *b, const char *in, size_t len, size_t piece, struct sink *s,
                   enum px_body_res *res)
{
    size_t pos = 0;
    *res = PX_B_OK;
    while (pos < len && !b->done) {
        size_t end = pos + piece < len ? pos + piece : len;
        while (pos < end && !b->done) {
            struct iovec iov[RW_IO_MAX_IOV];
            uint32_t used = 0;
            int n = 0;
            *res = px_body_step(b, in + pos, (uint32_t)(end - pos), &used, iov, &n, 7);
            if (*res != PX_B_OK)
                return pos;
            collect(s, iov, n);
            pos += used;
            if (!used && !n)
                break;
        }
    }
    struct iovec iov[RW_IO_MAX_IOV];
    if (b->done)
        collect(s, iov, px_body_finish(b, iov, RW_IO_MAX_IOV));
    return pos;
}

static void length_passes_exact_bytes(void **state)
{
    struct px_body b;
    struct sink s = {0};
    enum px_body_res r;
    px_body_init(&b, PX_F_LENGTH, PX_F_LENGTH, 10, 0, false);
    size_t used = feed(&b, "0123456789GET / HTTP/1.1", 24, 4, &s, &r);
    assert_int_equal(r, PX_B_OK);
    assert_int_equal(used, 10); /* the pipelined request stays unconsumed */
    assert_true(b.done && b.fin_sent);
    assert_int_equal(s.len, 10);
    assert_memory_equal(s.buf, "0123456789", 10);
    px_body_free(&b);
}

static void chunked_rechunked_with_trailers(void **state)
{
    static const char in[] = "3;ext=1\r\nabc\r\n5\r\ndefgh\r\n0\r\nX-Sum: 9\r\n\r\nNEXT";
    struct px_body b;
    struct sink s = {0};
    enum px_body_res r;
    px_body_init(&b, PX_F_CHUNKED, PX_F_CHUNKED, 0, 0, true);
    size_t used = feed(&b, in, sizeof(in) - 1, 1000, &s, &r);
    assert_int_equal(r, PX_B_OK);
    assert_int_equal(used, sizeof(in) - 1 - 4);
    s.buf[s.len] = '\0';
    /* extensions are not forwarded: our own chunking, trailers kept */
    assert_string_equal(s.buf, "3\r\nabc\r\n5\r\ndefgh\r\n0\r\nX-Sum: 9\r\n\r\n");
    px_body_free(&b);
}

static void chunked_trailers_dropped(void **state)
{
    static const char in[] = "3\r\nabc\r\n0\r\nX-Sum: 9\r\n\r\n";
    struct px_body b;
    struct sink s = {0};
    enum px_body_res r;
    px_body_init(&b, PX_F_CHUNKED, PX_F_CHUNKED, 0, 0, false);
    feed(&b, in, sizeof(in) - 1, 1000, &s, &r);
    s.buf[s.len] = '\0';
    assert_string_equal(s.buf, "3\r\nabc\r\n0\r\n\r\n");
    px_body_free(&b);
}

static void chunked_split_anywhere_same_payload(void **state)
{
    static const char in[] = "4\r\nwiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n";
    for (size_t piece = 1; piece < sizeof(in); piece++) {
        struct px_body b;
        struct sink s = {0};
        enum px_body_res r;
        px_body_init(&b, PX_F_CHUNKED, PX_F_CLOSE, 0, 0, false);
        size_t used = feed(&b, in, sizeof(in) - 1, piece, &s, &r);
        assert_int_equal(r, PX_B_OK);
        assert_int_equal(used, sizeof(in) - 1);
        assert_true(b.done);
        assert_int_equal(s.len, 23);
        assert_memory_equal(s.buf, "wikipedia in\r\n\r\nchunks.", 23);
        px_body_free(&b);
    }
}

static void close_delimited_rechunked(void **state)
{
    struct px_body b;
    struct sink s = {0};
    enum px_body_res r;
    px_body_init(&b, PX_F_CLOSE, PX_F_CHUNKED, 0, 0, false);
    feed(&b, "hello world", 11, 5, &s, &r);
    assert_false(b.done); /* only the peer's close ends it */
    b.done = true;
    struct iovec iov[RW_IO_MAX_IOV];
    collect(&s, iov, px_body_finish(&b, iov, RW_IO_MAX_IOV));
    s.buf[s.len] = '\0';
    assert_string_equal(s.buf, "5\r\nhello\r\n5\r\n worl\r\n1\r\nd\r\n0\r\n\r\n");
    px_body_free(&b);
}

static void limit_is_enforced(void **state)
{
    struct px_body b;
    struct sink s = {0};
    enum px_body_res r;
    px_body_init(&b, PX_F_CHUNKED, PX_F_CHUNKED, 0, 4, false);
    feed(&b, "3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n", 21, 100, &s, &r);
    assert_int_equal(r, PX_B_TOO_BIG);
    px_body_free(&b);
    px_body_init(&b, PX_F_LENGTH, PX_F_LENGTH, 10, 4, false);
    feed(&b, "0123456789", 10, 100, &s, &r);
    assert_int_equal(r, PX_B_TOO_BIG);
    px_body_free(&b);
}

static void bad_chunk_framing(void **state)
{
    static const char *const bad[] = {
        "g\r\nabc\r\n0\r\n\r\n",     /* not hex */
        "3\r\nabcX\r\n0\r\n\r\n",    /* no CRLF after the data */
        "3\nabc\r\n0\r\n\r\n",       /* bare LF */
        "11111111111111111\r\n",     /* 17 digits */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct px_body b;
        struct sink s = {0};
        enum px_body_res r;
        px_body_init(&b, PX_F_CHUNKED, PX_F_CHUNKED, 0, 0, false);
        feed(&b, bad[i], strlen(bad[i]), 100, &s, &r);
        assert_int_equal(r, PX_B_BAD);
        px_body_free(&b);
    }
}

static void empty_bodies(void **state)
{
    struct px_body b;
    px_body_init(&b, PX_F_NONE, PX_F_NONE, 0, 0, false);
    assert_true(b.done && b.fin_sent);
    px_body_init(&b, PX_F_LENGTH, PX_F_LENGTH, 0, 0, false);
    assert_true(b.done);
    struct iovec iov[RW_IO_MAX_IOV];
    assert_int_equal(px_body_finish(&b, iov, RW_IO_MAX_IOV), 0);
    assert_true(b.fin_sent);
}

int test_body_run(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(length_passes_exact_bytes),
        cmocka_unit_test(chunked_rechunked_with_trailers),
        cmocka_unit_test(chunked_trailers_dropped),
        cmocka_unit_test(chunked_split_anywhere_same_payload),
        cmocka_unit_test(close_delimited_rechunked),
        cmocka_unit_test(limit_is_enforced),
        cmocka_unit_test(bad_chunk_framing),
        cmocka_unit_test(empty_bodies),
    };
    return cmocka_run_group_tests_name("proxy/body", t, NULL, NULL);
}
