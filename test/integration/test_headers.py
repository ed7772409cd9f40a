# SPDX-License-Identifier: MIT
# Header rewriting: hop-by-hop, X-Forwarded-*, Forwarded, Via, Host, Server.
import re
import unittest

import harness as h

HOP = ("connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
       "upgrade")


def hdrs(doc, name):
    return [v for k, v in doc["headers"] if k.lower() == name.lower()]


def joined(doc, name):
    return ", ".join(hdrs(doc, name))


def parse_forwarded(value):
    """RFC 7239 list -> [{param: unquoted value}], plus the raw elements."""
    out = []
    for elem in re.split(r",(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)", value):
        d = {}
        for pair in elem.strip().split(";"):
            k, _, v = pair.strip().partition("=")
            if v.startswith('"') and v.endswith('"'):
                v = v[1:-1].replace('\\"', '"')
            d[k.lower()] = v
        out.append(d)
    return out


class HeaderRewriteTest(h.ProxyCase):
    ORIGINS = ("o1",)

    @classmethod
    def config(cls):
        o = cls.origin_list()
        return h.simple_config(o, routes=[
            h.proxy_route("app", {"path_prefix": "/sethost/"}, host="backend.internal",
                          strip_prefix="/sethost"),
            h.proxy_route("app")])

    def echo(self, headers=(), host="front.test:8080", target="/echo", **kw):
        r = self.req("GET", target, host=host, headers=headers, **kw)
        self.assertEqual(r.status, 200, r)
        return r, r.json()

    def test_request_hop_by_hop_removed(self):
        _, doc = self.echo(headers=[("Connection", "keep-alive, X-Foo, x-bar"), ("X-Foo", "1"),
                                    ("X-Bar", "2"), ("Keep-Alive", "timeout=300"),
                                    ("Proxy-Connection", "keep-alive"), ("TE", "deflate"),
                                    ("Trailer", "X-T"), ("Upgrade", "foo/1"), ("X-Keep", "yes")])
        names = [k.lower() for k, _ in doc["headers"]]
        for n in ("x-foo", "x-bar", "keep-alive", "proxy-connection", "trailer", "upgrade"):
            self.assertNotIn(n, names, doc["raw_head"])
        self.assertNotIn("deflate", joined(doc, "te"))
        self.assertNotIn("x-foo", joined(doc, "connection").lower())
        self.assertEqual(hdrs(doc, "x-keep"), ["yes"])
        self.assertEqual(hdrs(doc, "transfer-encoding"), [])

    def test_response_hop_by_hop_removed(self):
        r = self.req("GET", "/hop")
        self.assertEqual(r.status, 200)
        names = [k.lower() for k, _ in r.headers]
        for n in ("x-hop", "keep-alive", "proxy-connection", "upgrade"):
            self.assertNotIn(n, names, r.raw_head)
        self.assertNotIn("x-hop", (r.header("Connection") or "").lower())
        self.assertEqual(r.header("X-End"), "1")
        self.assertEqual(r.body, b"hop\n")

    def test_x_forwarded_for_appended(self):
        _, doc = self.echo(headers=[("X-Forwarded-For", "203.0.113.7")])
        self.assertEqual(joined(doc, "x-forwarded-for").replace(" ", ""),
                         "203.0.113.7,127.0.0.1")
        _, doc = self.echo()
        self.assertEqual(joined(doc, "x-forwarded-for"), "127.0.0.1")

    def test_forwarded_appended(self):
        _, doc = self.echo(headers=[("Forwarded", "for=203.0.113.7;proto=https")])
        raw = joined(doc, "forwarded")
        elems = parse_forwarded(raw)
        self.assertEqual(len(elems), 2, raw)
        self.assertEqual(elems[0], {"for": "203.0.113.7", "proto": "https"})
        self.assertEqual(elems[1].get("for"), "127.0.0.1", raw)
        self.assertEqual(elems[1].get("proto"), "http", raw)
        self.assertEqual(elems[1].get("host"), "front.test:8080", raw)
        self.assertTrue(raw.rstrip().split(",")[-1].strip().startswith("for=127.0.0.1"), raw)

    def test_x_forwarded_proto_and_host_replaced(self):
        _, doc = self.echo(headers=[("X-Forwarded-Proto", "https"),
                                    ("X-Forwarded-Host", "evil.test")])
        self.assertEqual(hdrs(doc, "x-forwarded-proto"), ["http"])
        self.assertEqual(hdrs(doc, "x-forwarded-host"), ["front.test:8080"])

    def test_via_request_and_response(self):
        r, doc = self.echo(headers=[("Via", "1.0 upstream-cache")])
        via = joined(doc, "via")
        self.assertIn("1.0 upstream-cache", via)
        self.assertTrue(via.replace(" ,", ",").endswith("1.1 ringwall"), via)
        self.assertIn("1.1 ringwall", ", ".join(r.headers_all("via")))
        r = self.req("GET", "/via")
        self.assertEqual(r.status, 200)
        self.assertEqual(", ".join(r.headers_all("via")), "1.1 origin-cache, 1.1 ringwall")

    def test_host_kept(self):
        _, doc = self.echo(host="Keep.Me.test:8080")
        self.assertEqual(hdrs(doc, "host"), ["Keep.Me.test:8080"])

    def test_host_set_per_route(self):
        _, doc = self.echo(target="/sethost/echo")
        self.assertEqual(hdrs(doc, "host"), ["backend.internal"])
        self.assertEqual(doc["target"], "/echo")

    def test_server_header(self):
        r = self.req("GET", "/server-header")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers_all("server"), ["ringwall"])
        self.assertIsNone(r.header("x-powered-by"))
        self.assertNotIn(b"secret-backend", r.raw_head)
        r = self.req("GET", "/")
        self.assertEqual(r.header("server"), "ringwall")

    def test_request_reserialised(self):
        """Odd spacing and case from the client never reach the origin verbatim."""
        raw = (b"GET /echo HTTP/1.1\r\nHost: front.test\r\nX-Spaced:    v1   \r\n"
               b"x-lower: v2\r\n\r\n")
        r, _ = self.raw(raw, close_wait=0.2)
        doc = r.json()
        self.assertEqual(hdrs(doc, "x-spaced"), ["v1"])
        self.assertNotIn("    v1", doc["raw_head"])
        self.assertEqual(hdrs(doc, "x-lower"), ["v2"])
        self.assertTrue(doc["raw_head"].endswith("\r\n\r\n"))
        self.assertEqual(doc["version"], "HTTP/1.1")


class ForwardedHeadersConfigTest(h.ProxyCase):
    """forwarded_headers: only X-Forwarded-For; via: false. What ringwall does not write
    passes as the client (or the origin) sent it."""
    ORIGINS = ("o1",)

    @classmethod
    def config(cls):
        return h.simple_config(cls.origin_list(), forwarded_headers=["x-forwarded-for"],
                               via=False)

    def echo(self, headers=()):
        r = self.req("GET", "/echo", host="front.test:8080", headers=headers)
        self.assertEqual(r.status, 200, r)
        return r, r.json()

    def test_only_listed_field_written(self):
        r, doc = self.echo(headers=[("X-Forwarded-For", "203.0.113.7"),
                                    ("Forwarded", "for=203.0.113.7;proto=https"),
                                    ("X-Forwarded-Proto", "https"),
                                    ("X-Forwarded-Host", "client.test"),
                                    ("Via", "1.0 upstream-cache")])
        self.assertEqual(joined(doc, "x-forwarded-for").replace(" ", ""),
                         "203.0.113.7,127.0.0.1")
        self.assertEqual(hdrs(doc, "forwarded"), ["for=203.0.113.7;proto=https"])
        self.assertEqual(hdrs(doc, "x-forwarded-proto"), ["https"])
        self.assertEqual(hdrs(doc, "x-forwarded-host"), ["client.test"])
        self.assertEqual(hdrs(doc, "via"), ["1.0 upstream-cache"])
        self.assertEqual(r.headers_all("via"), [], r.raw_head)

    def test_nothing_else_added(self):
        r, doc = self.echo()
        self.assertEqual(hdrs(doc, "x-forwarded-for"), ["127.0.0.1"])
        for n in ("forwarded", "x-forwarded-proto", "x-forwarded-host", "via"):
            self.assertEqual(hdrs(doc, n), [], doc["raw_head"])
        self.assertEqual(r.headers_all("via"), [], r.raw_head)

    def test_origin_via_passes_unchanged(self):
        r = self.req("GET", "/via")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers_all("via"), ["1.1 origin-cache"], r.raw_head)


class ServerHeaderConfigTest(h.ProxyCase):
    ORIGINS = ("o1",)

    @classmethod
    def config(cls):
        return h.simple_config(cls.origin_list(), server_header="edge-proxy")

    def test_configured_server_header(self):
        r = self.req("GET", "/server-header")
        self.assertEqual(r.headers_all("server"), ["edge-proxy"])
        self.assertIsNone(r.header("x-powered-by"))


@unittest.skipUnless(h.ipv6_available(), "no IPv6 loopback (::1) on this host")
class IPv6ForwardedTest(h.ProxyCase):
    ORIGINS = ("o1",)

    @classmethod
    def config(cls):
        o = cls.origin_list()
        return {"workers": 1, "listeners": [h.listener([h.proxy_route("app")], host="::1")],
                "upstreams": {"app": h.upstream(*o)}}

    def test_forwarded_ipv6_quoted(self):
        r = h.request(self.port, "GET", "/echo", server="::1", host="v6.test")
        self.assertEqual(r.status, 200)
        doc = r.json()
        fwd = joined(doc, "forwarded")
        self.assertIn('for="[::1]"', fwd)
        self.assertEqual(joined(doc, "x-forwarded-for"), "::1")


if __name__ == "__main__":
    unittest.main()
