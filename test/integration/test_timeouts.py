# SPDX-License-Identifier: MIT
# Timeouts: client header (408, slowloris), client body, client idle, upstream connect and
# read, pooled upstream connections closed by either side.
import hashlib
import select
import time
import unittest

import harness as h


class ClientTimeoutTest(h.ProxyCase):
    ORIGINS = ("o1",)

    @classmethod
    def config(cls):
        return h.simple_config(cls.origin_list(),
                               timeouts={"client_header": "300ms", "client_idle": "300ms",
                                         "client_body": "300ms"})

    def test_header_timeout_408(self):
        with h.RawConn(self.port) as c:
            c.send(b"GET / HTTP/1.1\r\nHost: a\r\n")
            c.sock.settimeout(5)
            t0 = time.monotonic()
            r = c.read_response()
            self.assertEqual(r.status, 408)
            self.assertTrue(c.is_closed(3), "connection left open after 408")
            self.assertLess(time.monotonic() - t0, 4)

    def test_slowloris_drip_still_times_out(self):
        """A head sent one byte at a time never resets the header deadline."""
        with h.RawConn(self.port) as c:
            t0 = time.monotonic()
            got = None
            for b in b"GET / HTTP/1.1\r\nHost: a\r\nX-Drip: " + b"a" * 100:
                try:
                    c.send(bytes([b]))
                except (BrokenPipeError, ConnectionResetError):
                    break
                if c.is_closed(0.05) or c.buf:
                    break
            if c.buf:
                got = c.read_response()
            self.assertLess(time.monotonic() - t0, 4, "drip-fed head kept the connection open")
            if got is not None:
                self.assertEqual(got.status, 408)

    def test_idle_keepalive_closes(self):
        with h.RawConn(self.port) as c:
            c.send(h.build_request("GET", "/"))
            self.assertEqual(c.read_response().status, 200)
            t0 = time.monotonic()
            self.assertTrue(c.is_closed(3), "idle keep-alive connection not closed")
            self.assertEqual(c.buf, b"")
            self.assertGreater(time.monotonic() - t0, 0.1)

    def test_silent_connection_closed(self):
        with h.RawConn(self.port) as c:
            t0 = time.monotonic()
            self.assertTrue(c.is_closed(3))
            self.assertLess(time.monotonic() - t0, 3)

    def test_body_timeout(self):
        """10 of 100 body bytes, then silence: 408 (or a bare close), the connection closes,
        and the origin never sees a complete request."""
        o = self.origins["o1"]
        before = o.stats()["requests"]
        with h.RawConn(self.port) as c:
            c.send(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n"
                   + b"0123456789")
            c.sock.settimeout(5)
            try:
                r = c.read_response()
                self.assertEqual(r.status, 408, r)
            except EOFError:
                pass
            self.assertTrue(c.is_closed(3), "connection left open after the body timeout")
        # the upstream side (if any) must be given up too, not completed or padded
        time.sleep(0.2)
        self.assertEqual(o.stats()["requests"], before,
                         "the origin saw a complete request from a stalled body")

    def test_active_connection_not_cut(self):
        """Requests spaced below the idle timeout keep working on one connection."""
        with h.RawConn(self.port) as c:
            for _ in range(4):
                c.send(h.build_request("GET", "/"))
                self.assertEqual(c.read_response().status, 200)
                time.sleep(0.1)


class SlowClientTest(h.ProxyCase):
    """timeouts.client_header 500ms: a slowloris head is cut with 408."""
    ORIGINS = ("o1",)

    @classmethod
    def config(cls):
        return h.simple_config(cls.origin_list(), timeouts={"client_header": "500ms"})

    def test_slowloris_gets_408(self):
        with h.RawConn(self.port) as c:
            c.send(b"GET /echo HTTP/1.1\r\nHost: a\r\nX-Slow: ")
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                r, _, _ = select.select([c.sock], [], [], 0.1)
                if r:
                    break
                try:
                    c.send(b"a")  # never the final CRLF CRLF
                except (BrokenPipeError, ConnectionResetError):
                    break
            self.assertLess(time.monotonic(), deadline, "slowloris head kept the connection")
            c.sock.settimeout(3)
            r = c.read_response()
            self.assertEqual(r.status, 408)
            self.assertTrue(c.is_closed(3), "connection left open after 408")

    def test_trickled_head_completes(self):
        """A valid head (and body) arriving byte by byte, well within client_header, is
        answered correctly: partial reads never confuse the parser."""
        body = b"trickled body 0123456789"
        data = (b"POST /echo?trickle=1 HTTP/1.1\r\nHost: trickle.test\r\n"
                b"X-A: 1\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
        # a separate proxy whose header deadline leaves room for ~1.5 s of trickling
        p = h.start_proxy(self, h.simple_config(self.origin_list(),
                                                timeouts={"client_header": "5s"}))
        with h.RawConn(p.port) as c:
            for i in range(len(data)):
                c.send(data[i:i + 1])
                time.sleep(0.012)
            r = c.read_response()
            self.assertEqual(r.status, 200, r)
            doc = r.json()
            self.assertEqual(doc["target"], "/echo?trickle=1")
            self.assertEqual(doc["body_len"], len(body))
            self.assertEqual(doc["body_sha256"], hashlib.sha256(body).hexdigest())
            # and the connection is still a good keep-alive connection
            c.send(h.build_request("GET", "/echo?after"))
            self.assertEqual(c.read_response().json()["target"], "/echo?after")


class UpstreamTimeoutTest(h.ProxyCase):
    """Upstream connect (300ms) and read (300ms) timeouts on loopback.

    The connect timeout needs a peer that neither accepts nor refuses: h.Blackhole, a
    listener with a full accept queue, whose SYNs the kernel drops."""
    ORIGINS = ("live",)

    @classmethod
    def config(cls):
        cls.hole = h.Blackhole()
        to = {"connect": "300ms", "read": "300ms"}
        live = cls.origins["live"]
        return {
            "workers": 1,
            "listeners": [h.listener([
                h.proxy_route("hole", {"path_prefix": "/hole/"}, strip_prefix="/hole"),
                h.proxy_route("mix", {"path_prefix": "/mix/"}, strip_prefix="/mix"),
                h.proxy_route("app")])],
            "upstreams": {
                "hole": h.upstream(cls.hole.address, timeouts=to),
                "mix": h.upstream(cls.hole.address, live, timeouts=to),
                "app": h.upstream(live, timeouts=to),
            }}

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.hole.close()

    def setUp(self):
        if not self.hole.works:
            self.skipTest("kernel completed a connect to a full accept queue on loopback; "
                          "no way to make connect() hang here")

    def test_connect_timeout_504(self):
        for _ in range(2):
            t0 = time.monotonic()
            r = self.req("GET", "/hole/", timeout=10)
            self.assertEqual(r.status, 504, r)
            self.assertTrue(r.complete)
            self.assertNotIn(b"%d" % self.hole.port, r.raw_head + r.body)
            self.assertLess(time.monotonic() - t0, 5, "504 not bounded by the connect timeout")

    def test_connect_timeout_retried_on_live_server(self):
        """Round robin sends some of these to the black hole first; every one must still
        succeed on the live server."""
        for i in range(4):
            r = self.req("GET", "/mix/echo?i=%d" % i, timeout=10)
            self.assertEqual(r.status, 200, "request %d: %r" % (i, r))
            self.assertEqual(r.json()["target"], "/echo?i=%d" % i)

    def test_connect_timeout_retry_keeps_request_body(self):
        """A body that arrived while the first connect was hanging is still sent, whole,
        to the server the request is retried on (nothing went upstream yet)."""
        for i, n in enumerate((10, 20000, 10, 20000)):
            body = bytes([65 + i]) * n
            r = self.req("POST", "/mix/upload", body=body, timeout=5)
            self.assertEqual(r.status, 200, "POST %d: %r" % (i, r))
            self.assertEqual(r.json()["len"], n)
            self.assertEqual(r.json()["sha256"], hashlib.sha256(body).hexdigest())

    def test_read_timeout_closes_client(self):
        """The head arrives, the body stalls for longer than timeouts.read: the client
        connection closes without a complete body."""
        with h.RawConn(self.port, timeout=10) as c:
            c.send(h.build_request("GET", "/slow-body/3000"))
            t0 = time.monotonic()
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertFalse(r.complete, "a body cut by the read timeout ended cleanly")
            self.assertLess(r.body_len, 11)
            self.assertTrue(c.eof, "client connection not closed after the read timeout")
            self.assertLess(time.monotonic() - t0, 2.9, "closed only when the origin finished")


class PooledConnectionTest(h.ProxyCase):
    """The origin closes idle keep-alive connections after 200 ms."""
    ORIGINS = (("o1", {"idle_close_ms": 200}),)

    @classmethod
    def config(cls):
        o = cls.origin_list()
        return h.simple_config([], upstreams={"app": h.upstream(
            *o, keepalive={"max_idle": 8, "idle_timeout": "60s"})})

    def test_server_closed_pooled_connection_never_used(self):
        for i in range(20):
            r = self.req("GET", "/echo?i=%d" % i)
            self.assertEqual(r.status, 200, "request %d: %r" % (i, r))
            time.sleep(0.3 + (i % 3) * 0.05)
        # plus a POST, which may not be silently retried by the proxy
        for i in range(5):
            r = self.req("POST", "/upload", body=b"z" * 1000)
            self.assertEqual(r.status, 200, "POST %d" % i)
            time.sleep(0.3)


class PoolIdleTimeoutTest(h.ProxyCase):
    ORIGINS = ("o1",)

    @classmethod
    def config(cls):
        o = cls.origin_list()
        return h.simple_config([], upstreams={"app": h.upstream(
            *o, keepalive={"max_idle": 8, "idle_timeout": "200ms"})})

    def test_proxy_closes_idle_pooled_connections(self):
        o = self.origins["o1"]
        self.assertEqual(self.req("GET", "/").status, 200)
        deadline = time.monotonic() + 3
        while o.stats()["open"] > 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(o.stats()["open"], 0, "pooled connection outlived idle_timeout")
        self.assertEqual(self.req("GET", "/").status, 200)


if __name__ == "__main__":
    unittest.main()
