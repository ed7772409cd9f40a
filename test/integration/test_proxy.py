# SPDX-License-Identifier: MIT
# Proxying basics: GET through, keep-alive reuse on both sides, HTTP/1.0, pipelining, WRR.
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
