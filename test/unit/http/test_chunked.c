/* SPDX-License-Identifier: MIT */
/* Tests for http/chunked.c: sizes, extensions, CRLF rules, trailers, arbitrary splits. */
#include "test/unit/http/test_http.h"

#include <string.h>

#include "http/h1.h"

struct out {
    char data[512];
    size_t data_len;
    char trailer[256];
    size_t consumed; /* total bytes consumed over all calls */
    enum rw_parse r;
};

/* Feed in[0..len) to d in pieces cut at the given positions (ascending, may be empty),
 * calling again while a piece has unconsumed bytes, as a caller would. */
static void feed(struct rw_chunked *d, const char *in, size_t len, const size_t *cuts, size_t ncuts,
                 struct out *o)
{
    size_t start = 0;
    memset(o, 0, sizeof(*o));
    o->r = RW_PARSE_AGAIN;
    for (size_t c = 0; c <= ncuts && o->r == RW_PARSE_AGAIN; c++) {
        size_t stop = c < ncuts ? cuts[c] : len;
        while (start < stop) {
            size_t used, off, n;
            o->r = rw_chunked_decode(d, in + start, stop - start, &used, &off, &n);
            assert_true(used <= stop - start);
            if (n) {
                assert_true(off + n <= used);
                assert_true(o->data_len + n <= sizeof(o->data));
                memcpy(o->data + o->data_len, in + start + off, n);
                o->data_len += n;
            }
            start += used;
            o->consumed += used;
            if (o->r != RW_PARSE_AGAIN)
                break;
            assert_true(used > 0);
        }
    }
    if (d->trailer)
        memcpy(o->trailer, d->trailer, d->trailer_len);
}

static enum rw_parse decode_all(struct rw_chunked *d, const char *in, struct out *o)
{
    feed(d, in, strlen(in), NULL, 0, o);
    return o->r;
}

static void basic_and_leftover(void **state)
{
    struct rw_chunked d = {0};
    struct out o;
    const char *in = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nGET / HTTP/1.1";
    assert_int_equal(decode_all(&d, in, &o), RW_PARSE_DONE);
    assert_int_equal(o.data_len, 11);
    assert_memory_equal(o.data, "hello world", 11);
    assert_int_equal(o.consumed, strlen(in) - strlen("GET / HTTP/1.1"));
    assert_false(d.trailers_seen);
    /* Once done, further calls consume nothing and stay done. */
    size_t used = 9, off, n;
    assert_int_equal(rw_chunked_decode(&d, "x", 1, &used, &off, &n), RW_PARSE_DONE);
    assert_int_equal(used, 0);
    assert_int_equal(n, 0);
    rw_chunked_init(&d);
    assert_int_equal(decode_all(&d, "A\r\n0123456789\r\n0\r\n\r\n", &o), RW_PARSE_DONE);
    assert_int_equal(o.data_len, 10);
    assert_int_equal(decode_all(&d, "x", &o), RW_PARSE_DONE); /* init not called: still done */
}

static void sizes(void **state)
{
    static const struct {
        const char *in;
        enum rw_parse r;
    } t[] = {
        {"0000000000000000\r\n\r\n", RW_PARSE_DONE}, /* 16 digits */
        {"00000000000000000\r\n\r\n", RW_PARSE_BAD}, /* 17 digits */
        {"11111111111111111\r\n", RW_PARSE_BAD},     /* 17 digits */
        {"7fffffffffffffff\r\n", RW_PARSE_AGAIN},    /* 2^63-1: data follows */
        {"8000000000000000\r\n", RW_PARSE_BAD},      /* 2^63 */
        {"ffffffffffffffff\r\n", RW_PARSE_BAD},
        {"aB\r\n", RW_PARSE_AGAIN},
        {"g\r\n", RW_PARSE_BAD},
        {"\r\n", RW_PARSE_BAD}, /* empty size */
        {"-1\r\n", RW_PARSE_BAD},
        {"+1\r\n", RW_PARSE_BAD},
        {"0x1\r\n", RW_PARSE_BAD},
        {" 1\r\n", RW_PARSE_BAD},
        {"1 \r\n", RW_PARSE_BAD},
        {"1\t\r\n", RW_PARSE_BAD},
        {"1\n", RW_PARSE_BAD},  /* bare LF */
        {"1\rx", RW_PARSE_BAD}, /* bare CR */
    };
    struct out o;
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct rw_chunked d = {0};
        if (decode_all(&d, t[i].in, &o) != t[i].r)
            fail_msg("case %zu '%s': got %d", i, t[i].in, o.r);
    }
}

static void data_crlf(void **state)
{
    static const struct {
        const char *in;
        enum rw_parse r;
    } t[] = {
        {"3\r\nabcX\r\n0\r\n\r\n", RW_PARSE_BAD}, /* no CRLF after data */
        {"3\r\nabc\n0\r\n\r\n", RW_PARSE_BAD},    /* bare LF after data */
        {"3\r\nabc\r0\r\n\r\n", RW_PARSE_BAD},    /* bare CR after data */
        {"3\r\nabc0\r\n\r\n", RW_PARSE_BAD},
        {"3\r\nabc\r\n0\r\n\n", RW_PARSE_BAD}, /* bare LF at the end */
        {"3\r\nabc\r\n0\n\r\n", RW_PARSE_BAD},
        {"3\r\nabc\r\n0\r\n\r\r", RW_PARSE_BAD},
    };
    struct out o;
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct rw_chunked d = {0};
        if (decode_all(&d, t[i].in, &o) != t[i].r)
            fail_msg("case %zu: got %d", i, o.r);
    }
    /* A bad decoder stays bad. */
    struct rw_chunked d = {0};
    assert_int_equal(decode_all(&d, "z", &o), RW_PARSE_BAD);
    assert_int_equal(decode_all(&d, "0\r\n\r\n", &o), RW_PARSE_BAD);
}

static void extensions(void **state)
{
    static const struct {
        const char *in;
        enum rw_parse r;
    } t[] = {
        {"3;a\r\nabc\r\n0\r\n\r\n", RW_PARSE_DONE},
        {"3;a=b;c;d=\"x y\\\"z\"\r\nabc\r\n0;last=1\r\n\r\n", RW_PARSE_DONE},
        {"3;a=\r\nabc\r\n0\r\n\r\n", RW_PARSE_BAD},
        {"3 ;a\r\nabc\r\n0\r\n\r\n", RW_PARSE_BAD}, /* BWS before ';' */
        {"3\t;a\r\nabc\r\n0\r\n\r\n", RW_PARSE_BAD},
        {"3; a\r\nabc\r\n0\r\n\r\n", RW_PARSE_BAD}, /* whitespace after ';' */
        {"3;a =b\r\nabc\r\n0\r\n\r\n", RW_PARSE_BAD},
        {"3;\r\nabc\r\n0\r\n\r\n", RW_PARSE_BAD}, /* empty name */
        {"3;=b\r\nabc\r\n0\r\n\r\n", RW_PARSE_BAD},
        {"3;a=\"x\r\nabc\r\n0\r\n\r\n", RW_PARSE_BAD}, /* unterminated quote */
        {"3;a=\"x\"y\r\nabc\r\n0\r\n\r\n", RW_PARSE_BAD},
        {"3;a=b\nabc\r\n0\r\n\r\n", RW_PARSE_BAD}, /* bare LF */
        {"3;a\x01\r\nabc\r\n0\r\n\r\n", RW_PARSE_BAD},
    };
    struct out o;
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct rw_chunked d = {0};
        if (decode_all(&d, t[i].in, &o) != t[i].r)
            fail_msg("case %zu '%s': got %d", i, t[i].in, o.r);
        if (o.r == RW_PARSE_DONE)
            assert_memory_equal(o.data, "abc", 3);
    }
}

static void extension_bound(void **state)
{
    struct out o;
    struct rw_chunked d = {.max_ext = 8};
    /* ";abcdefg" is 8 bytes: at the bound. */
    assert_int_equal(decode_all(&d, "1;abcdefg\r\nx\r\n0\r\n\r\n", &o), RW_PARSE_DONE);
    rw_chunked_init(&d);
    assert_int_equal(d.max_ext, 8);
    assert_int_equal(decode_all(&d, "1;abcdefgh\r\nx\r\n0\r\n\r\n", &o), RW_PARSE_BAD);
    /* The bound is per message, not per chunk. */
    rw_chunked_init(&d);
    assert_int_equal(decode_all(&d, "1;abcd\r\nx\r\n1;abcd\r\ny\r\n0\r\n\r\n", &o), RW_PARSE_BAD);
    /* Default 4096. */
    static char big[5000];
    struct rw_chunked d2 = {0};
    big[0] = '1';
    big[1] = ';';
    memset(big + 2, 'e', 4095);
    memcpy(big + 4097, "\r\nx\r\n0\r\n\r\n", 11);
    assert_int_equal(decode_all(&d2, big, &o), RW_PARSE_DONE);
    rw_chunked_init(&d2);
    big[4097] = 'e';
    memcpy(big + 4098, "\r\nx\r\n0\r\n\r\n", 11);
    assert_int_equal(decode_all(&d2, big, &o), RW_PARSE_BAD);
}

static void trailers_validated_and_copied(void **state)
{
    char tbuf[256];
    struct rw_chunked d = {.trailer = tbuf, .max_trailer = sizeof(tbuf)};
    struct out o;
    const char *in = "2\r\nok\r\n0\r\nX-T: 1\r\nContent-Length: 5\r\nHost: h\r\n"
                     "transfer-encoding: chunked\r\nConnection: x\r\nY:\t2 \r\n\r\nNEXT";
    assert_int_equal(decode_all(&d, in, &o), RW_PARSE_DONE);
    assert_int_equal(o.consumed, strlen(in) - 4);
    assert_true(d.trailers_seen);
    assert_int_equal(d.trailer_len, strlen("X-T: 1\r\nY:\t2 \r\n"));
    assert_memory_equal(tbuf, "X-T: 1\r\nY:\t2 \r\n", d.trailer_len);
    /* Without a buffer, trailers are validated and dropped. */
    struct rw_chunked d2 = {0};
    assert_int_equal(decode_all(&d2, in, &o), RW_PARSE_DONE);
    assert_true(d2.trailers_seen);
    assert_int_equal(d2.trailer_len, 0);

    static const char *bad[] = {
        "0\r\nX : a\r\n\r\n",      "0\r\nX: a\r\n b\r\n\r\n", "0\r\n X: a\r\n\r\n",
        "0\r\nX: a\nY: b\r\n\r\n", "0\r\nX: a\rb\r\n\r\n",    "0\r\n: a\r\n\r\n",
        "0\r\nX@: a\r\n\r\n",      "0\r\nX\r\n\r\n",          "0\r\nX: \x7f\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct rw_chunked e = {.trailer = tbuf, .max_trailer = sizeof(tbuf)};
        if (decode_all(&e, bad[i], &o) != RW_PARSE_BAD)
            fail_msg("bad trailer %zu accepted", i);
    }
    /* NUL inside a trailer value. */
    struct rw_chunked e = {0};
    size_t used, off, n;
    assert_int_equal(rw_chunked_decode(&e, "0\r\nX: a\0\r\n\r\n", 12, &used, &off, &n),
                     RW_PARSE_BAD);
}

static void trailer_bound(void **state)
{
    char tbuf[16];
    struct out o;
    /* "X: 0123456789\r\n" is 15 bytes, + final CRLF = 17 > 16. */
    struct rw_chunked d = {.trailer = tbuf, .max_trailer = sizeof(tbuf)};
    assert_int_equal(decode_all(&d, "0\r\nX: 0123456789\r\n\r\n", &o), RW_PARSE_BAD);
    struct rw_chunked d2 = {.trailer = tbuf, .max_trailer = sizeof(tbuf)};
    assert_int_equal(decode_all(&d2, "0\r\nX: 01234567\r\n\r\n", &o), RW_PARSE_DONE);
    assert_int_equal(d2.trailer_len, 13);
    assert_memory_equal(tbuf, "X: 01234567\r\n", 13);
    /* The bound also holds without a buffer. */
    struct rw_chunked d3 = {.max_trailer = 16};
    assert_int_equal(decode_all(&d3, "0\r\nX: 0123456789\r\n\r\n", &o), RW_PARSE_BAD);
}

static const char *const split_msgs[] = {
    "5\r\nhello\r\n0\r\n\r\n",
    "1;a=b\r\nx\r\n10\r\n0123456789abcdef\r\n3;q=\"a;b\\\"\"\r\nxyz\r\n0;z\r\nT: 1\r\nU: v "
    "w\r\n\r\n",
    "0\r\n\r\n",
    "2\r\nab\r\n2\r\ncd\r\n2\r\nef\r\n0\r\nHost: drop\r\nKeep: me\r\n\r\n",
    "3\r\nab\n\r\n0\r\n\r\n", /* bad: data then LF, found wherever the cut falls */
};

static void split_everywhere_same_result(void **state)
{
    for (size_t m = 0; m < sizeof(split_msgs) / sizeof(split_msgs[0]); m++) {
        const char *in = split_msgs[m];
        size_t len = strlen(in);
        char t1[256], t2[256];
        struct rw_chunked d = {.trailer = t1, .max_trailer = sizeof(t1)};
        struct out whole, part;
        feed(&d, in, len, NULL, 0, &whole);
        uint32_t tl = d.trailer_len;
        for (size_t a = 0; a <= len; a++) {
            for (size_t b = a; b <= len; b++) {
                size_t cuts[2] = {a, b};
                struct rw_chunked e = {.trailer = t2, .max_trailer = sizeof(t2)};
                feed(&e, in, len, cuts, 2, &part);
                if (part.r != whole.r || part.data_len != whole.data_len ||
                    memcmp(part.data, whole.data, whole.data_len) || e.trailer_len != tl ||
                    memcmp(part.trailer, whole.trailer, tl) ||
                    (whole.r == RW_PARSE_DONE && part.consumed != whole.consumed))
                    fail_msg("msg %zu cut at %zu,%zu differs", m, a, b);
            }
        }
        /* Byte by byte. */
        size_t cuts[512];
        for (size_t i = 0; i < len; i++)
            cuts[i] = i;
        struct rw_chunked e = {.trailer = t2, .max_trailer = sizeof(t2)};
        feed(&e, in, len, cuts, len, &part);
        assert_int_equal(part.r, whole.r);
        assert_int_equal(part.data_len, whole.data_len);
        assert_memory_equal(part.data, whole.data, whole.data_len);
    }
}

int rw_test_chunked(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(basic_and_leftover), cmocka_unit_test(sizes),
        cmocka_unit_test(data_crlf),          cmocka_unit_test(extensions),
        cmocka_unit_test(extension_bound),    cmocka_unit_test(trailers_validated_and_copied),
        cmocka_unit_test(trailer_bound),      cmocka_unit_test(split_everywhere_same_result),
    };
    return cmocka_run_group_tests_name("http/chunked", t, NULL, NULL);
}
