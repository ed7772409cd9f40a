# SPDX-License-Identifier: MIT
# Bodies: big streaming transfers with bounded memory, CL/chunked, trailers, close-delimited,
# bodiless responses, 1xx, Expect: 100-continue.
import hashlib
import time
import unittest

import harness as h


class PatternCheck:
    """Sink that checks a body against the origin's pattern as it streams."""

    def __init__(self):
        self.off = 0
        self.bad_at = None

    def __call__(self, b):
        mv = memoryview(b)
        i = 0
        while i < len(mv) and self.bad_at is None:
            k = min(65536, len(mv) - i)
            if mv[i:i + k] != h.pattern_bytes(self.off, k):
                self.bad_at = self.off
            self.off += k
            i += k


def send_pattern(sock, n, chunked=False):
    off = 0
    while off < n:
        k = min(65536, n - off)
        data = h.pattern_bytes(off, k)
        if chunked:
            data = b"%x\r\n" % k + data + b"\r\n"
        sock.sendall(data)
        off += k
    if chunked:
        sock.sendall(b"0\r\n\r\n")


class BodiesTest(h.ProxyCase):
    ORIGINS = ("o1",)

    @classmethod
    def config(cls):
        o = cls.origin_list()
        return h.simple_config(o, routes=[
            h.proxy_route("app", {"path_prefix": "/drop/"}, strip_prefix="/drop", trailers="drop"),
            h.proxy_route("app")])

    def check_rss(self, sampler, what):
        peak = sampler.stop()
        limit = h.rss_limit_kib()
        self.assertGreater(sampler.samples, 0)
        if limit:
            self.assertLess(peak, limit, "%s: proxy VmRSS peaked at %d KiB (limit %d KiB)"
                            % (what, peak, limit))

    def test_big_download_bounded_memory(self):
        n = h.big_bytes()
        sampler = h.RssSampler(self.proxy.pid)
        sampler.start()
        check = PatternCheck()
        t0 = time.monotonic()
        with h.RawConn(self.port, timeout=30) as c:
            c.send(h.build_request("GET", "/size/%d" % n))
            r = c.read_response(sink=check, keep_body=False)
        self.check_rss(sampler, "download")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.complete)
        self.assertEqual(r.body_len, n)
        self.assertIsNone(check.bad_at, "body differs at offset %s" % check.bad_at)
        print(" [download %d MiB in %.1fs, peak RSS %d KiB]"
              % (n >> 20, time.monotonic() - t0, sampler.max_kib), end="", flush=True)

    def _upload(self, n, chunked):
        sampler = h.RssSampler(self.proxy.pid)
        sampler.start()
        with h.RawConn(self.port, timeout=30) as c:
            head = "POST /upload HTTP/1.1\r\nHost: up.test\r\n"
            head += "Transfer-Encoding: chunked\r\n" if chunked else "Content-Length: %d\r\n" % n
            c.send((head + "\r\n").encode())
            send_pattern(c.sock, n, chunked)
            r = c.read_response()
        self.check_rss(sampler, "upload")
        self.assertEqual(r.status, 200, r)
        doc = r.json()
        self.assertEqual(doc["len"], n)
        self.assertEqual(doc["sha256"], h.pattern_sha256(n))

    def test_big_upload_content_length_bounded_memory(self):
        self._upload(h.big_bytes(), chunked=False)

    def test_chunked_upload(self):
        self._upload(min(h.big_bytes(), 64 << 20), chunked=True)

    def test_small_uploads(self):
        for body in (b"", b"a", b"hello world" * 1000):
            r = self.req("POST", "/upload", body=body)
            self.assertEqual(r.json(), {"len": len(body), "sha256": hashlib.sha256(body).hexdigest(),
                                        "origin": "o1"})
            r = self.req("POST", "/upload", body=body, chunked=True)
            self.assertEqual(r.json()["sha256"], hashlib.sha256(body).hexdigest())

    def test_request_trailers_do_not_break_framing(self):
        data = (b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"3\r\nabc\r\n0\r\nX-Req-Trailer: 1\r\n\r\n" + h.build_request("GET", "/echo?next"))
        with h.RawConn(self.port) as c:
            c.send(data)
            r1 = c.read_response()
            r2 = c.read_response()
        self.assertEqual(r1.json()["body_len"], 3)
        self.assertEqual(r2.json()["target"], "/echo?next")

    def test_chunked_response_with_trailers(self):
        n = 300000
        r = self.req("GET", "/chunked/%d?trailer=1" % n)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.framing, "chunked")
        self.assertTrue(r.complete)
        self.assertEqual(r.body, b"".join(h.pattern_bytes(o, min(65536, n - o))
                                          for o in range(0, n, 65536)))
        tr = {k.lower(): v for k, v in r.trailers}
        self.assertEqual(tr.get("x-checksum"), h.pattern_sha256(n), r.trailers)
        self.assertEqual(tr.get("x-count"), str(n))

    def test_trailers_dropped_by_route(self):
        n = 5000
        r = self.req("GET", "/drop/chunked/%d?trailer=1" % n)
        self.assertEqual(r.status, 200)
        self.assertTrue(r.complete)
        self.assertEqual(r.body_len, n)
        self.assertEqual(r.trailers, [])

    def test_chunked_to_http10_client(self):
        n = 100000
        r, closed = self.raw(b"GET /chunked/%d?trailer=1 HTTP/1.0\r\nHost: a\r\n\r\n" % n)
        self.assertEqual(r.status, 200)
        self.assertIn(r.framing, ("length", "close"), "HTTP/1.0 client got %s" % r.framing)
        self.assertTrue(r.complete)
        check = PatternCheck()
        check(r.body)
        self.assertEqual(r.body_len, n)
        self.assertIsNone(check.bad_at)
        if r.framing == "close":
            self.assertTrue(closed)

    def test_read_until_close_upstream(self):
        n = 200000
        with h.RawConn(self.port) as c:
            c.send(h.build_request("GET", "/close/%d" % n))
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertTrue(r.complete)
            self.assertEqual(r.body_len, n)
            check = PatternCheck()
            check(r.body)
            self.assertIsNone(check.bad_at)
            if r.framing == "close":
                self.assertIn("close", (r.header("Connection") or "").lower())
            else:
                self.assertEqual(r.framing, "chunked")
                c.send(h.build_request("GET", "/"))
                self.assertEqual(c.read_response().status, 200)

    def test_bodiless_responses(self):
        with h.RawConn(self.port) as c:
            for method, target, status in (("HEAD", "/head-info", 200), ("GET", "/204", 204),
                                           ("GET", "/304", 304), ("HEAD", "/size/5000", 200),
                                           ("GET", "/status/204", 204)):
                c.send(h.build_request(method, target))
                r = c.read_response(method)
                self.assertEqual(r.status, status, target)
                self.assertEqual(r.body_len, 0)
                if target == "/head-info":
                    self.assertEqual(r.header("Content-Length"), "1234")
                # any stray body byte would corrupt this next response
                c.send(h.build_request("GET", "/echo?after=" + target))
                r2 = c.read_response()
                self.assertEqual(r2.status, 200, "after %s %s" % (method, target))
                self.assertEqual(r2.json()["target"], "/echo?after=" + target)

    def test_1xx_then_final(self):
        with h.RawConn(self.port) as c:
            c.send(h.build_request("GET", "/1xx"))
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, b"after early hints\n")
            for st, _ in r.interim:
                self.assertEqual(st, 103)
            c.send(h.build_request("GET", "/"))
            self.assertEqual(c.read_response().status, 200)

    def test_expect_100_continue(self):
        n = 100000
        with h.RawConn(self.port) as c:
            c.send(b"POST /upload HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                   b"Content-Length: %d\r\n\r\n" % n)
            c.sock.settimeout(5)
            _, status, _, _, _ = c.read_head()
            self.assertEqual(status, 100, "expected 100 Continue before sending the body")
            send_pattern(c.sock, n)
            r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["len"], n)
        self.assertEqual(r.json()["sha256"], h.pattern_sha256(n))

    def test_expect_100_continue_chunked(self):
        n = 100000
        with h.RawConn(self.port) as c:
            c.send(b"POST /upload HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n")
            c.sock.settimeout(5)
            _, status, _, _, _ = c.read_head()
            self.assertEqual(status, 100, "expected 100 Continue before sending the body")
            send_pattern(c.sock, n, chunked=True)
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.json()["len"], n)
            self.assertEqual(r.json()["sha256"], h.pattern_sha256(n))
            # exactly one interim response: nothing stray before the next exchange
            c.send(h.build_request("GET", "/echo?after"))
            r2 = c.read_response()
            self.assertEqual(r2.interim, [])
            self.assertEqual(r2.json()["target"], "/echo?after")

    def test_expect_100_continue_body_sent_at_once(self):
        """A client that does not wait for 100 Continue still gets its body through, and
        any 100 it gets precedes the final response."""
        body = b"no waiting " * 500
        with h.RawConn(self.port) as c:
            c.send(h.build_request("POST", "/upload", headers=[("Expect", "100-continue")],
                                   body=body))
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual([st for st, _ in r.interim], [100] * len(r.interim))
            self.assertLessEqual(len(r.interim), 1)
            self.assertEqual(r.json()["sha256"], hashlib.sha256(body).hexdigest())
            c.send(h.build_request("GET", "/echo?after"))
            r2 = c.read_response()
            self.assertEqual(r2.interim, [])
            self.assertEqual(r2.json()["target"], "/echo?after")

    def test_status_passthrough(self):
        for code in (201, 404, 418, 500, 503):
            r = self.req("GET", "/status/%d" % code)
            self.assertEqual(r.status, code)
            self.assertEqual(r.body, b"status %d\n" % code)


if __name__ == "__main__":
    unittest.main()
