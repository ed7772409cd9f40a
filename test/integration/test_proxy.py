# SPDX-License-Identifier: MIT
# Proxying basics: GET through, keep-alive reuse on both sides, HTTP/1.0 (keep-alive too),
# pipelining (with bodies), WRR.
import hashlib
import socket
import unittest

import harness as h


class BasicProxyTest(h.ProxyCase):
    ORIGINS = ("o1",)

    def test_get_through(self):
        r = self.req("GET", "/")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"hello from o1\n")
        self.assertEqual(r.header("X-Origin"), "o1")

    def test_http_client_and_curl(self):
        c = h.http_conn(self.port)
        c.request("GET", "/anything?x=1")
        resp = c.getresponse()
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.read(), b"hello from o1\n")
        c.close()
        out = h.curl("http://127.0.0.1:%d/" % self.port)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout, b"hello from o1\n")

    def test_keepalive_both_sides(self):
        o = self.origins["o1"]
        h.request(self.port, "GET", "/")           # warm the pool
        o.reset()
        with h.RawConn(self.port) as c:
            for i in range(50):
                c.send(h.build_request("GET", "/echo?i=%d" % i))
                r = c.read_response()
                self.assertEqual(r.status, 200)
                self.assertEqual(r.json()["target"], "/echo?i=%d" % i)
                self.assertNotIn("close", (r.header("Connection") or "").lower())
        # separate client connections share the upstream pool too
        for i in range(20):
            self.assertEqual(h.request(self.port, "GET", "/").status, 200)
        st = o.stats()
        self.assertEqual(st["requests"], 70)
        self.assertLessEqual(st["connections"], 2, st)

    def test_http10_client(self):
        r, closed = self.raw(b"GET / HTTP/1.0\r\n\r\n")
        self.assertIsNotNone(r, "no response to an HTTP/1.0 request")
        self.assertEqual(r.status, 200)
        self.assertIn(r.version, ("HTTP/1.0", "HTTP/1.1"))
        self.assertEqual(r.body, b"hello from o1\n")
        self.assertTrue(closed, "HTTP/1.0 request without keep-alive: connection must close")

    def _clean_eof(self, c):
        """After the response: a FIN (recv -> b""), not a reset, within 3 s."""
        self.assertEqual(c.buf, b"")
        c.sock.settimeout(3)
        try:
            return c.sock.recv(65536) == b""
        except ConnectionResetError:
            return False

    def test_client_close_answered_then_closed(self):
        # the client asked to close: the whole response, then a clean close
        with h.RawConn(self.port) as c:
            c.send(h.build_request("GET", "/", headers=[("Connection", "close")]))
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, b"hello from o1\n")
            self.assertTrue(self._clean_eof(c), "Connection: close: no clean close")
        # bytes after the request (a client breaking RFC 9112 9.6) are read and dropped
        # while the connection lingers: it ends with a FIN, never a reset (which can
        # destroy a response the client has not read yet)
        for extra in (b"GET /more HTTP/1.1\r\nHost: a\r\n\r\n", b"x" * 50000):
            with h.RawConn(self.port) as c:
                c.send(h.build_request("GET", "/", headers=[("Connection", "close")]) + extra)
                r = c.read_response()
                self.assertEqual(r.status, 200)
                self.assertTrue(r.complete)
                self.assertEqual(r.body, b"hello from o1\n")
                c.sock.shutdown(socket.SHUT_WR)  # lingering ends at our EOF
                self.assertTrue(self._clean_eof(c), "reset instead of a lingering close")

    def test_http10_with_host(self):
        r, _ = self.raw(b"GET /echo HTTP/1.0\r\nHost: old.test\r\n\r\n")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["method"], "GET")

    def test_pipelined_in_order(self):
        reqs = b"".join([
            h.build_request("GET", "/echo?n=1"),
            h.build_request("POST", "/echo?n=2", body=b"x" * 1000),
            h.build_request("GET", "/slow-head/100?n=3"),
            h.build_request("GET", "/echo?n=4"),
        ])
        with h.RawConn(self.port) as c:
            c.send(reqs)
            r1 = c.read_response()
            r2 = c.read_response()
            r3 = c.read_response()
            r4 = c.read_response()
        self.assertEqual(r1.json()["target"], "/echo?n=1")
        self.assertEqual(r2.json()["target"], "/echo?n=2")
        self.assertEqual(r2.json()["body_len"], 1000)
        self.assertEqual(r3.body, b"slow head\n")
        self.assertEqual(r4.json()["target"], "/echo?n=4")

    def test_pipelined_with_bodies(self):
        """GET, POST with Content-Length, POST chunked (several chunks), all in one send."""
        cl_body = bytes(range(256)) * 40
        ch_body = b"chunked-" * 3000
        pieces = (ch_body[:1], ch_body[1:4097], ch_body[4097:])
        chunked = b"".join(b"%x\r\n%s\r\n" % (len(x), x) for x in pieces) + b"0\r\n\r\n"
        data = (h.build_request("GET", "/echo?n=1")
                + h.build_request("POST", "/upload", body=cl_body)
                + b"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                + chunked)
        with h.RawConn(self.port) as c:
            c.send(data)
            r1 = c.read_response()
            r2 = c.read_response()
            r3 = c.read_response()
            self.assertEqual(r1.status, 200)
            self.assertEqual(r1.json()["target"], "/echo?n=1")
            self.assertEqual(r1.json()["body_len"], 0)
            self.assertEqual(r2.status, 200)
            self.assertEqual(r2.json()["len"], len(cl_body))
            self.assertEqual(r2.json()["sha256"], hashlib.sha256(cl_body).hexdigest())
            self.assertEqual(r3.status, 200)
            self.assertEqual(r3.json()["len"], len(ch_body))
            self.assertEqual(r3.json()["sha256"], hashlib.sha256(ch_body).hexdigest())
            self.assertFalse(c.is_closed(0.2), "connection closed after pipelined requests")
            self.assertEqual(c.buf, b"", "bytes after the third response")

    def test_http10_keepalive(self):
        """HTTP/1.0 with Connection: keep-alive: several responses on one connection, each
        saying keep-alive; a chunked origin response is de-chunked for the 1.0 client."""
        ka = [("Connection", "keep-alive")]
        with h.RawConn(self.port) as c:
            for i in range(2):
                c.send(h.build_request("GET", "/echo?ka=%d" % i, headers=ka, version="HTTP/1.0"))
                r = c.read_response()
                self.assertEqual(r.status, 200)
                self.assertEqual(r.json()["target"], "/echo?ka=%d" % i)
                self.assertEqual(r.framing, "length", "keep-alive 1.0 response needs a length")
                self.assertIn("keep-alive", (r.header("Connection") or "").lower(), r.raw_head)
            n = 70000
            c.send(h.build_request("GET", "/chunked/%d" % n, headers=ka, version="HTTP/1.0"))
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertIsNone(r.header("Transfer-Encoding"), "chunked sent to an HTTP/1.0 client")
            self.assertTrue(r.complete)
            self.assertEqual(r.body, b"".join(h.pattern_bytes(o, min(65536, n - o))
                                              for o in range(0, n, 65536)))
            if r.framing == "close":
                self.assertTrue(c.eof)
            else:
                self.assertEqual(r.framing, "length")

    def test_http10_chunked_origin_delimited_by_close(self):
        n = 70000
        r, closed = self.raw(b"GET /chunked/%d HTTP/1.0\r\nHost: a\r\n\r\n" % n)
        self.assertEqual(r.status, 200)
        self.assertIsNone(r.header("Transfer-Encoding"), "chunked sent to an HTTP/1.0 client")
        self.assertEqual(r.framing, "close", r.raw_head)
        self.assertTrue(closed)
        self.assertEqual(r.body_len, n)
        self.assertEqual(r.body, b"".join(h.pattern_bytes(o, min(65536, n - o))
                                          for o in range(0, n, 65536)))

    def test_absolute_form_target(self):
        r = self.req("GET", "http://abs.test/echo?q=1", host="other.test")
        self.assertEqual(r.status, 200)
        doc = r.json()
        self.assertEqual(doc["target"], "/echo?q=1")
        hosts = [v for k, v in doc["headers"] if k.lower() == "host"]
        self.assertEqual(hosts, ["abs.test"])

    def test_methods_and_bodies_pass(self):
        for m in ("PUT", "DELETE", "PATCH", "OPTIONS"):
            r = self.req(m, "/echo", body=b"abc" if m != "OPTIONS" else b"")
            self.assertEqual(r.status, 200, m)
            self.assertEqual(r.json()["method"], m)

    def test_options_asterisk(self):
        r, _ = self.raw(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertIsNotNone(r)
        self.assertLess(r.status, 500)


class WeightedRoundRobinTest(h.ProxyCase):
    ORIGINS = ("a", "b")

    @classmethod
    def config(cls):
        a, b = cls.origin_list()
        return h.simple_config([], upstreams={"app": h.upstream(h.server(a, weight=3),
                                                                 h.server(b, weight=1))})

    def test_weights_followed(self):
        seen = {"a": 0, "b": 0}
        for _ in range(40):
            r = self.req("GET", "/")
            self.assertEqual(r.status, 200)
            seen[r.header("X-Origin")] += 1
        self.assertEqual(seen, {"a": 30, "b": 10})


if __name__ == "__main__":
    unittest.main()
