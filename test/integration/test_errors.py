# SPDX-License-Identifier: MIT
# Upstream errors: retry after connect refusal, 502 (also for ambiguous response framing), 504,
# death mid-body, leak-free pages.
import time
import unittest

import harness as h


class UpstreamErrorTest(h.ProxyCase):
    ORIGINS = ("live",)

    @classmethod
    def config(cls):
        live = cls.origins["live"]
        cls.dead1, cls.dead2 = h.dead_port(), h.dead_port()
        return {
            "workers": 1,
            "listeners": [h.listener([
                h.proxy_route("mixed", {"path_prefix": "/mixed/"}, strip_prefix="/mixed"),
                h.proxy_route("dead", {"path_prefix": "/dead/"}, strip_prefix="/dead"),
                h.proxy_route("app")])],
            "upstreams": {
                "mixed": h.upstream("127.0.0.1:%d" % cls.dead1, live),
                "dead": h.upstream("127.0.0.1:%d" % cls.dead1, "127.0.0.1:%d" % cls.dead2),
                "app": h.upstream(live, timeouts={"connect": "1s", "response": "400ms",
                                                  "read": "400ms"}),
            }}

    def assert_no_leak(self, r):
        text = r.raw_head + r.body
        for bad in (b"127.0.0.1", b"secret-backend", b"%d" % self.dead1, b"%d" % self.dead2,
                    b"%d" % self.origins["live"].port):
            self.assertNotIn(bad, text, "error response names the backend: %r" % text)

    def test_dead_server_is_retried(self):
        for i in range(20):
            r = self.req("GET", "/mixed/echo?i=%d" % i)
            self.assertEqual(r.status, 200, "request %d: %r" % (i, r))
            self.assertEqual(r.json()["target"], "/echo?i=%d" % i)

    def test_all_dead_502(self):
        for _ in range(3):
            r = self.req("GET", "/dead/")
            self.assertEqual(r.status, 502)
            self.assertTrue(r.complete)
            self.assertGreater(r.body_len, 0)
            self.assert_no_leak(r)

    def test_connection_usable_after_502(self):
        with h.RawConn(self.port) as c:
            c.send(h.build_request("GET", "/dead/"))
            self.assertEqual(c.read_response().status, 502)
            if c.is_closed(0.2):
                return  # closing after an error is allowed
            c.send(h.build_request("GET", "/"))
            self.assertEqual(c.read_response().status, 200)

    def test_response_timeout_504(self):
        t0 = time.monotonic()
        r = self.req("GET", "/slow-head/3000")
        took = time.monotonic() - t0
        self.assertEqual(r.status, 504)
        self.assert_no_leak(r)
        self.assertLess(took, 2.9, "504 only after the origin answered")

    def test_read_timeout_mid_body(self):
        with h.RawConn(self.port) as c:
            c.send(h.build_request("GET", "/slow-body/3000"))
            r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertFalse(r.complete, "a body cut by a read timeout must not end cleanly")

    def test_backend_dies_mid_body(self):
        with h.RawConn(self.port) as c:
            c.send(h.build_request("GET", "/die-mid-body"))
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertFalse(r.complete, "truncated body delivered as complete (%s, %d bytes)"
                             % (r.framing, r.body_len))
            self.assertLess(r.body_len, 1000)
            self.assertTrue(c.eof or c.is_closed(3))

    def test_bad_response_framing_502(self):
        """CL with TE, or two different Content-Lengths, from the origin: 502, and none of
        the ambiguous body reaches the client."""
        for kind in ("cl-te", "te-cl", "cl-cl", "cl-list"):
            with self.subTest(kind), h.RawConn(self.port) as c:
                c.send(h.build_request("GET", "/bad-framing/" + kind))
                r = c.read_response()
                self.assertEqual(r.status, 502, "%s: %r" % (kind, r))
                self.assertTrue(r.complete)
                self.assert_no_leak(r)
                closed = c.is_closed(0.1)
                self.assertNotIn(b"SMUGGLED", r.raw_head + r.body + c.buf,
                                 "%s: ambiguous body relayed" % kind)
                if not closed:
                    c.send(h.build_request("GET", "/"))
                    r2 = c.read_response()
                    self.assertEqual(r2.status, 200, kind)
                    self.assertEqual(r2.body, b"hello from live\n")

    def test_backend_headers_hidden_in_errors(self):
        r = self.req("GET", "/dead/server-header")
        self.assertEqual(r.status, 502)
        self.assert_no_leak(r)
        self.assertEqual(r.header("Server"), "ringwall")


class UpstreamGoneTest(h.RwTestCase):
    """An origin that goes away while its connections sit in the pool."""

    def test_origin_restart(self):
        if not h.standin() and not h.os.path.exists(h.binary()):
            self.skipTest("no binary")
        o = h.start_origin(self, "gone")
        p = h.start_proxy(self, h.simple_config([o]))
        self.assertEqual(h.request(p.port, "GET", "/").status, 200)
        o.stop()
        r = h.request(p.port, "GET", "/")
        self.assertEqual(r.status, 502)
        o2 = h.Origin("back", port=o.port).start()
        self.addCleanup(o2.stop)
        self.assertEqual(h.request(p.port, "GET", "/").status, 200)


if __name__ == "__main__":
    unittest.main()
