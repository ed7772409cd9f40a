# SPDX-License-Identifier: MIT
# Strict request parsing: every smuggling/malformed class gets its status, a close, and
# never reaches the origin.
import unittest

import harness as h

R = b"GET / HTTP/1.1\r\nHost: a.test\r\n"

# (name, raw request, expected status)
CASES = [
    ("cl+te", b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("te+cl", b"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
              b"Content-Length: 5\r\n\r\n0\r\n\r\n", 400),
    ("duplicate cl", b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                     b"Content-Length: 5\r\n\r\nhello", 400),
    ("cl list", b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello", 400),
    ("cl sign", b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello", 400),
    ("cl alpha", b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5x\r\n\r\nhello", 400),
    ("cl 20 digits", b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: "
                     b"10000000000000000000\r\n\r\n", 400),
    ("te gzip,chunked", b"POST /upload HTTP/1.1\r\nHost: a\r\n"
                        b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 400),
    ("te chunked,chunked", b"POST /upload HTTP/1.1\r\nHost: a\r\n"
                           b"Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400),
    ("te two fields", b"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("te xchunked", b"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n"
                    b"\r\n0\r\n\r\n", 400),
    ("te identity", b"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n"
                    b"\r\n", 400),
    ("te vertical tab", b"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\x0bchunked\r\n"
                        b"\r\n0\r\n\r\n", 400),
    ("te on http/1.0", b"POST /upload HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     400),
    ("te space before colon", b"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked"
                              b"\r\n\r\n0\r\n\r\n", 400),
    ("bare lf everywhere", b"GET / HTTP/1.1\nHost: a\n\n", 400),
    ("bare lf in headers", b"GET / HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n", 400),
    ("bare cr in value", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n", 400),
    ("obs-fold", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 400),
    ("nul in value", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x00c\r\n\r\n", 400),
    ("ctl in value", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x01c\r\n\r\n", 400),
    ("space in name", b"GET / HTTP/1.1\r\nHost: a\r\nX A: b\r\n\r\n", 400),
    ("space before colon", b"GET / HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n", 400),
    ("bad name char", b"GET / HTTP/1.1\r\nHost: a\r\nX(A): b\r\n\r\n", 400),
    ("empty name", b"GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", 400),
    ("no colon", b"GET / HTTP/1.1\r\nHost: a\r\nJustAName\r\n\r\n", 400),
    ("leading space first header", b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400),
    ("double sp", b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("double sp before version", b"GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("tab separator", b"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("trailing sp", b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400),
    ("bad method", b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("lowercase version", b"GET / http/1.1\r\nHost: a\r\n\r\n", 400),
    ("garbage version", b"GET / HTTP/1.x\r\nHost: a\r\n\r\n", 400),
    ("relative target", b"GET foo HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("asterisk for GET", b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("authority for GET", b"GET a.test:80 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("missing host", b"GET / HTTP/1.1\r\nX-A: b\r\n\r\n", 400),
    ("two hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("bad host", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    ("http/1.2", b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505),
    ("http/2.0", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    ("expect other", b"POST /upload HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n"
                     b"Content-Length: 0\r\n\r\n", 417),
    ("expect something-else", b"POST /upload HTTP/1.1\r\nHost: a\r\nExpect: something-else\r\n"
                              b"Content-Length: 5\r\n\r\nhello", 417),
    ("request line too long", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414),
    ("header block too big", R + b"".join(b"X-Big-%d: %s\r\n" % (i, b"v" * 1000)
                                          for i in range(20)) + b"\r\n", 431),
    ("too many headers", R + b"".join(b"X-H%d: v\r\n" % i for i in range(101)) + b"\r\n", 431),
    ("body over limit", b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 2048\r\n\r\n",
     413),
]

# Framing errors inside a chunked body: the head may already be on its way upstream, so
# only "400 or close, never a success" is required; the connection must close.
BODY_CASES = [
    ("chunk size not hex", b"zz\r\nhello\r\n0\r\n\r\n"),
    ("chunk size 17 digits", b"00000000000000005\r\nhello\r\n0\r\n\r\n"),
    ("chunk data without crlf", b"5\r\nhelloXX0\r\n\r\n"),
    ("chunk size with space", b"5 \r\nhello\r\n0\r\n\r\n"),
    ("chunk size bare lf", b"5\nhello\r\n0\r\n\r\n"),
    ("chunk ext with space before ;", b"5 ;a=b\r\nhello\r\n0\r\n\r\n"),
    ("chunk size overflow", b"fffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
]


class StrictParsingTest(h.ProxyCase):
    ORIGINS = ("o1",)

    @classmethod
    def config(cls):
        return h.simple_config(cls.origin_list(), limits={"body": "1KiB"})

    def test_rejected_before_origin(self):
        o = self.origins["o1"]
        for name, data, status in CASES:
            with self.subTest(name):
                before = o.stats()["requests"]
                r, closed = self.raw(data)
                self.assertIsNotNone(r, "%s: closed without a response" % name)
                self.assertEqual(r.status, status, "%s: %r" % (name, r.raw_head))
                self.assertTrue(closed, "%s: connection left open after %d" % (name, r.status))
                self.assertEqual(o.stats()["requests"], before, "%s reached the origin" % name)

    def test_bad_chunked_bodies(self):
        for name, body in BODY_CASES:
            with self.subTest(name):
                data = (b"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                        + body)
                r, closed = self.raw(data)
                if r is not None:
                    self.assertEqual(r.status, 400, "%s: %r" % (name, r.raw_head))
                self.assertTrue(closed, name)

    def test_good_after_bad_on_new_connection(self):
        """The proxy is still fine after all of that."""
        r = self.req("GET", "/")
        self.assertEqual(r.status, 200)

    def test_error_response_is_well_formed(self):
        r, closed = self.raw(b"GET / HTTP/1.1\r\nHost: a\r\nX A: b\r\n\r\n")
        self.assertEqual(r.status, 400)
        self.assertTrue(r.complete)
        self.assertIn("close", (r.header("Connection") or "").lower())
        self.assertEqual(r.header("Server"), "ringwall")

    def test_chunked_body_over_limit(self):
        data = (b"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                + b"400\r\n" + b"x" * 1024 + b"\r\n" + b"400\r\n" + b"x" * 1024 + b"\r\n0\r\n\r\n")
        r, closed = self.raw(data)
        if r is not None:
            self.assertEqual(r.status, 413)
        self.assertTrue(closed)

    def test_body_at_limit_passes(self):
        r = self.req("POST", "/upload", body=b"y" * 1024)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["len"], 1024)

    def test_accepted_edge_cases(self):
        """Valid but unusual requests must still pass."""
        ok = [
            b"GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nX-Tab:\tv\t\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nX-Obs: caf\xe9\r\n\r\n",
            b"GET / HTTP/1.1\r\nhOsT: a\r\n\r\n",
            b"GET /?q=%20&x=y HTTP/1.1\r\nHost: a:8080\r\n\r\n",
            b"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n"
            b"5;ext=1\r\nhello\r\n0\r\n\r\n",
            b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
            b"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n",
        ]
        for data in ok:
            with self.subTest(data[:60]):
                r, _ = self.raw(data, close_wait=0.1)
                self.assertIsNotNone(r)
                self.assertEqual(r.status, 200, data)


if __name__ == "__main__":
    unittest.main()
