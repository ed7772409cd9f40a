# SPDX-License-Identifier: MIT
# Timeouts: client header (408), client idle, pooled upstream connections closed by either side.
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
        with h.RawConn(self.port) as c:
            c.send(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc")
            t0 = time.monotonic()
            try:
                r = c.read_response()
                self.assertIn(r.status, (408, 400))
            except EOFError:
                pass
            self.assertTrue(c.is_closed(3))
            self.assertLess(time.monotonic() - t0, 4)

    def test_active_connection_not_cut(self):
        """Requests spaced below the idle timeout keep working on one connection."""
        with h.RawConn(self.port) as c:
            for _ in range(4):
                c.send(h.build_request("GET", "/"))
                self.assertEqual(c.read_response().status, 200)
                time.sleep(0.1)


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
