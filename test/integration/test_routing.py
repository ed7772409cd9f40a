# SPDX-License-Identifier: MIT
# Routing: host/path/regex/method/header matchers, order, 404, respond, redirect, rewrites.
import unittest

import harness as h


def respond(match, body, **kw):
    r = {"status": 200, "body": body}
    r.update(kw)
    return {"match": match, "respond": r}


def redirect(prefix, **kw):
    return {"match": {"path_prefix": prefix}, "redirect": kw}


class RoutingTest(h.ProxyCase):
    ORIGINS = ("o1",)

    @classmethod
    def config(cls):
        routes = [
            respond({"host": ["exact.test"]}, "exact"),
            respond({"host": ["*.example.com"]}, "wild"),
            respond({"host": ["example.com", "other.test"]}, "apex"),
            respond({"path": "/p/exact"}, "path-exact"),
            respond({"path_prefix": "/pre/"}, "prefix"),
            respond({"path_regex": "/rx/[0-9]+"}, "regex"),
            respond({"path": "/m", "methods": ["POST", "PUT"]}, "post-put"),
            respond({"path": "/h", "headers": {"x-canary": "1"}}, "canary"),
            respond({"path": "/h", "headers": {"x-env": ["a", "b"]}}, "env"),
            respond({"path": "/h", "headers": {"x-any": "*"}}, "any"),
            respond({"path": "/both", "methods": ["GET"], "headers": {"x-k": "v"}}, "both"),
            respond({"path": "/first"}, "one"),
            respond({"path": "/first"}, "two"),
            respond({"path": "/resp"}, "made\n", status=201,
                    headers={"x-made": "yes", "content-type": "text/x-test"}),
            redirect("/redir/default/", host="www.example.com"),
            redirect("/redir/https/", scheme="https"),
            redirect("/redir/strip/", status=301, host="x.test", strip_query=True),
            redirect("/redir/path/", status=302, path="/new"),
            redirect("/redir/port/", scheme="https", port=8443),
            h.proxy_route("app", {"path_prefix": "/api/"}, strip_prefix="/api", add_prefix="/echo",
                          request_headers={"set": {"x-set": "s"}, "add": {"x-add": "a"},
                                           "remove": ["x-remove"]},
                          response_headers={"set": {"x-resp-set": "rs"},
                                            "add": {"x-resp-add": "ra"},
                                            "remove": ["x-origin"]}),
        ]
        return h.simple_config(cls.origin_list(), routes=routes)

    def body(self, target="/", host="plain.test", method="GET", headers=()):
        r = self.req(method, target, host=host, headers=headers)
        return r.body.decode() if r.status == 200 else r.status

    def test_host_exact_case_and_port(self):
        for host in ("exact.test", "EXACT.Test", "exact.test:8080"):
            self.assertEqual(self.body("/x", host), "exact", host)

    def test_host_wildcard(self):
        for host in ("a.example.com", "a.b.example.com", "A.EXAMPLE.COM:81"):
            self.assertEqual(self.body("/", host), "wild", host)
        self.assertEqual(self.body("/", "example.com"), "apex")
        self.assertEqual(self.body("/", "other.test:1234"), "apex")
        self.assertEqual(self.body("/", "xexample.com"), 404)

    def test_path_exact(self):
        self.assertEqual(self.body("/p/exact"), "path-exact")
        self.assertEqual(self.body("/p/exact?q=1"), "path-exact")
        self.assertEqual(self.body("/p/exact/"), 404)
        self.assertEqual(self.body("/p/exactly"), 404)

    def test_path_prefix(self):
        self.assertEqual(self.body("/pre/"), "prefix")
        self.assertEqual(self.body("/pre/a/b?c"), "prefix")
        self.assertEqual(self.body("/pre"), 404)

    def test_path_regex_anchored(self):
        self.assertEqual(self.body("/rx/123"), "regex")
        self.assertEqual(self.body("/zz/rx/1"), 404)

    def test_methods(self):
        self.assertEqual(self.body("/m", method="POST"), "post-put")
        self.assertEqual(self.body("/m", method="PUT"), "post-put")
        self.assertEqual(self.body("/m", method="GET"), 404)

    def test_headers(self):
        self.assertEqual(self.body("/h", headers=[("X-Canary", "1")]), "canary")
        self.assertEqual(self.body("/h", headers=[("X-Canary", "2")]), 404)
        self.assertEqual(self.body("/h", headers=[("X-Env", "b")]), "env")
        self.assertEqual(self.body("/h", headers=[("X-Env", "c")]), 404)
        self.assertEqual(self.body("/h", headers=[("X-Any", "whatever")]), "any")
        self.assertEqual(self.body("/h"), 404)

    def test_all_keys_must_match(self):
        self.assertEqual(self.body("/both", headers=[("X-K", "v")]), "both")
        self.assertEqual(self.body("/both", method="POST", headers=[("X-K", "v")]), 404)
        self.assertEqual(self.body("/both"), 404)

    def test_first_match_wins(self):
        self.assertEqual(self.body("/first"), "one")

    def test_no_match_404(self):
        r = self.req("GET", "/nothing/here", host="plain.test")
        self.assertEqual(r.status, 404)
        self.assertTrue(r.complete)
        with h.RawConn(self.port) as c:  # the connection stays usable after a 404
            c.send(h.build_request("GET", "/nothing", host="plain.test"))
            self.assertEqual(c.read_response().status, 404)
            c.send(h.build_request("GET", "/first", host="plain.test"))
            self.assertEqual(c.read_response().body, b"one")

    def test_respond(self):
        r = self.req("GET", "/resp", host="plain.test")
        self.assertEqual(r.status, 201)
        self.assertEqual(r.body, b"made\n")
        self.assertEqual(r.header("x-made"), "yes")
        self.assertEqual(r.header("content-type"), "text/x-test")
        r = self.req("HEAD", "/resp", host="plain.test")
        self.assertEqual(r.status, 201)
        self.assertEqual(r.body_len, 0)

    def location(self, target, host="plain.test", status=308):
        r = self.req("GET", target, host=host)
        self.assertEqual(r.status, status, target)
        return r.header("Location")

    def test_redirect_default_keeps_path_and_query(self):
        self.assertEqual(self.location("/redir/default/a?q=1"),
                         "http://www.example.com/redir/default/a?q=1")

    def test_redirect_https_drops_port(self):
        self.assertEqual(self.location("/redir/https/a?q=1", host="plain.test:8080"),
                         "https://plain.test/redir/https/a?q=1")

    def test_redirect_strip_query(self):
        self.assertEqual(self.location("/redir/strip/a?q=1", status=301),
                         "http://x.test/redir/strip/a")

    def test_redirect_path(self):
        self.assertEqual(self.location("/redir/path/a?q=1", status=302),
                         "http://plain.test/new?q=1")

    def test_redirect_port(self):
        self.assertEqual(self.location("/redir/port/a", host="plain.test:8080"),
                         "https://plain.test:8443/redir/port/a")

    def test_prefix_rewrite_and_header_edits(self):
        r = self.req("GET", "/api/users?x=1", host="plain.test",
                     headers=[("X-Set", "client"), ("X-Add", "c"), ("X-Remove", "1")])
        self.assertEqual(r.status, 200)
        doc = r.json()
        self.assertEqual(doc["target"], "/echo/users?x=1")

        def vals(n):
            return [v for k, v in doc["headers"] if k.lower() == n]
        self.assertEqual(vals("x-set"), ["s"])
        self.assertEqual(", ".join(vals("x-add")), "c, a")
        self.assertEqual(vals("x-remove"), [])
        self.assertIsNone(r.header("x-origin"))
        self.assertEqual(r.headers_all("x-resp-set"), ["rs"])
        self.assertEqual(r.headers_all("x-resp-add"), ["ra"])


if __name__ == "__main__":
    unittest.main()
