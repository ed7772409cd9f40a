# SPDX-License-Identifier: MIT
# Load balancing through the real binary: weights, least_conn, hashing, stickiness,
# backups, retries that avoid dead servers, the wait queue and max_conns.
import collections
import socket
import threading
import time
import unittest

import harness as h


def origin_of(r):
    return r.header("X-Origin")


def count(port, n, target="/", headers=()):
    c = collections.Counter()
    for _ in range(n):
        r = h.request(port, "GET", target, headers=headers)
        assert r.status == 200, r
        c[origin_of(r)] += 1
    return c


def request_from(port, src, target="/", headers=()):
    """One request from a chosen loopback source address."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(10)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    s.sendall(h.build_request("GET", target, headers=headers))
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    for line in head.split("\r\n")[1:]:
        k, _, v = line.partition(":")
        if k.lower() == "x-origin":
            return v.strip()
    return None


class WeightsTest(h.ProxyCase):
    ORIGINS = ("a", "b", "c")

    @classmethod
    def config(cls):
        o = cls.origins
        return h.simple_config([h.server(o["a"], weight=3), h.server(o["b"]),
                                h.server(o["c"])])

    def test_smooth_weighted_split(self):
        # one worker: the smooth sequence a b a c a over each cycle of 5
        got = [origin_of(self.req()) for _ in range(10)]
        self.assertEqual(got, ["a", "b", "a", "c", "a"] * 2)
        self.assertEqual(count(self.port, 50), {"a": 30, "b": 10, "c": 10})


class LeastConnTest(h.ProxyCase):
    ORIGINS = (("slow", {"delay_ms": 400}), "fast")

    @classmethod
    def config(cls):
        return {"workers": 1, "listeners": [h.listener([h.proxy_route("app")])],
                "upstreams": {"app": h.upstream(*cls.origin_list(), balance="least_conn")}}

    def test_steers_away_from_slow_server(self):
        got = collections.Counter()
        lock = threading.Lock()

        def one():
            r = self.req()
            with lock:
                got[origin_of(r)] += 1

        threads = []
        for _ in range(20):
            t = threading.Thread(target=one)
            t.start()
            threads.append(t)
            time.sleep(0.03)
        for t in threads:
            t.join(10)
        self.assertEqual(sum(got.values()), 20)
        # round robin would send 10 to each; the slow server holds its requests
        self.assertLessEqual(got["slow"], 5, got)


class IpHashTest(h.ProxyCase):
    ORIGINS = ("a", "b", "c")

    @classmethod
    def config(cls):
        return {"workers": 2, "listeners": [h.listener([h.proxy_route("app")])],
                "upstreams": {"app": h.upstream(*cls.origin_list(), balance="ip_hash")}}

    def test_same_client_same_server_and_spread(self):
        first = {}
        for i in range(2, 42):
            src = "127.0.%d.%d" % (i // 200, i % 200 + 1)
            got = {request_from(self.port, src) for _ in range(3)}
            self.assertEqual(len(got), 1, "client %s moved between %s" % (src, got))
            first[src] = got.pop()
        spread = collections.Counter(first.values())
        self.assertEqual(len(spread), 3, spread)


class HashKeyFailoverTest(h.ProxyCase):
    ORIGINS = ("a", "b", "c")

    @classmethod
    def config(cls):
        return {"workers": 1, "listeners": [h.listener([h.proxy_route("app")])],
                "upstreams": {"app": h.upstream(*cls.origin_list(), balance="hash",
                                                hash={"key": "header:x-user"})}}

    def test_key_sticks_and_moves_when_server_stops(self):
        owner = {}
        for user in ("alice", "bob", "carol", "dave", "erin"):
            got = count(self.port, 5, headers=[("X-User", user)])
            self.assertEqual(len(got), 1, got)
            owner[user] = next(iter(got))
        # without the key: round robin over all three
        self.assertEqual(len(count(self.port, 6)), 3)
        victim = owner["alice"]
        self.origins[victim].stop()
        try:
            got = count(self.port, 5, headers=[("X-User", "alice")])
            self.assertNotIn(victim, got)
            for user, o in owner.items():
                if o != victim:  # keys of the servers that stayed do not move
                    self.assertEqual(count(self.port, 2, headers=[("X-User", user)]), {o: 2})
        finally:
            self.origins[victim].start()


class CookieStickyTest(h.ProxyCase):
    ORIGINS = ("a", "b", "c")

    @classmethod
    def config(cls):
        return {"workers": 2, "listeners": [h.listener([h.proxy_route("app")])],
                "upstreams": {"app": h.upstream(*cls.origin_list(), sticky={
                    "mode": "cookie", "name": "rw_s", "ttl": "1h", "idle": "30m"})}}

    def cookie_of(self, r):
        for v in r.headers_all("Set-Cookie"):
            if v.startswith("rw_s="):
                return v.split(";", 1)[0]
        return None

    def test_cookie_keeps_client_on_server(self):
        r = self.req()
        cookie = self.cookie_of(r)
        self.assertIsNotNone(cookie, r)
        sc = [v for v in r.headers_all("Set-Cookie") if v.startswith("rw_s=")][0]
        self.assertIn("HttpOnly", sc)
        self.assertIn("SameSite=Lax", sc)
        self.assertIn("Path=/", sc)
        # the token is opaque: no address or port of any server in it
        token = cookie.split("=", 1)[1]
        self.assertNotIn("127.0.0.1", token)
        for o in self.origins.values():
            self.assertNotIn(str(o.port), token)
        home = origin_of(r)
        got = count(self.port, 12, headers=[("Cookie", "x=1; " + cookie)])
        self.assertEqual(got, {home: 12})

    def test_tampered_cookie_is_ignored(self):
        cookie = self.cookie_of(self.req())
        name, val = cookie.split("=", 1)
        bad = name + "=" + val[:-2] + ("A" if val[-2] != "A" else "B") + val[-1]
        r = self.req(headers=[("Cookie", bad)])
        self.assertEqual(r.status, 200)
        self.assertIsNotNone(self.cookie_of(r), "a fresh cookie replaces a forged one")

    def test_session_moves_when_server_stops(self):
        r = self.req()
        cookie, home = self.cookie_of(r), origin_of(r)
        self.origins[home].stop()
        try:
            r = self.req(headers=[("Cookie", cookie)])
            self.assertEqual(r.status, 200)
            self.assertNotEqual(origin_of(r), home)
            moved = self.cookie_of(r)
            self.assertIsNotNone(moved, "the moved session gets a new cookie")
            got = count(self.port, 6, headers=[("Cookie", moved)])
            self.assertEqual(got, {origin_of(r): 6})
        finally:
            self.origins[home].start()


class LearnStickyTest(h.ProxyCase):
    ORIGINS = ("a", "b")

    @classmethod
    def config(cls):
        return {"workers": 2, "listeners": [h.listener([h.proxy_route("app")])],
                "upstreams": {"app": h.upstream(*cls.origin_list(), sticky={
                    "mode": "learn", "cookie": "JSESSIONID", "idle": "5m"})}}

    def test_application_session_sticks(self):
        for _ in range(3):
            r = self.req("GET", "/login")
            sid = [v for v in r.headers_all("Set-Cookie") if v.startswith("JSESSIONID=")][0]
            sid = sid.split(";", 1)[0]
            home = origin_of(r)
            self.assertEqual(count(self.port, 8, headers=[("Cookie", sid)]), {home: 8})


class IpStickyTest(h.ProxyCase):
    ORIGINS = ("a", "b", "c")

    @classmethod
    def config(cls):
        return {"workers": 1, "listeners": [h.listener([h.proxy_route("app")])],
                "upstreams": {"app": h.upstream(*cls.origin_list(), sticky={
                    "mode": "ip", "idle": "5m", "table_size": 1024})}}

    def test_client_address_sticks(self):
        for src in ("127.0.5.1", "127.0.5.2", "127.0.5.3"):
            got = {request_from(self.port, src) for _ in range(6)}
            self.assertEqual(len(got), 1, (src, got))


class BackupTest(h.ProxyCase):
    ORIGINS = ("primary", "spare")

    @classmethod
    def config(cls):
        o = cls.origins
        return h.simple_config([h.server(o["primary"]), h.server(o["spare"], backup=True)])

    def test_backup_only_when_primary_unusable(self):
        self.assertEqual(count(self.port, 6), {"primary": 6})
        self.origins["primary"].stop()
        try:
            self.assertEqual(count(self.port, 4), {"spare": 4})
        finally:
            self.origins["primary"].start()
        self.assertEqual(count(self.port, 4), {"primary": 4})


class QueueTest(h.ProxyCase):
    ORIGINS = (("slow", {"delay_ms": 600}),)

    @classmethod
    def config(cls):
        o = cls.origins
        return {"workers": 1, "listeners": [h.listener([h.proxy_route("app")])],
                "upstreams": {"app": h.upstream(h.server(o["slow"], max_conns=1),
                                                queue={"size": 1, "timeout": "5s"})}}

    def test_full_server_queues_then_overflows_with_503(self):
        results = []
        lock = threading.Lock()

        def one():
            t0 = time.monotonic()
            r = self.req()
            with lock:
                results.append((r.status, time.monotonic() - t0))

        threads = [threading.Thread(target=one) for _ in range(3)]
        for t in threads:
            t.start()
            time.sleep(0.1)
        for t in threads:
            t.join(10)
        statuses = sorted(s for s, _ in results)
        # one served, one waited in the queue and was served, one found the queue full
        self.assertEqual(statuses, [200, 200, 503], results)
        fast_503 = [d for s, d in results if s == 503]
        self.assertLess(fast_503[0], 0.5, "a full queue answers at once")


class QueueTimeoutTest(h.ProxyCase):
    ORIGINS = (("slow", {"delay_ms": 1500}),)

    @classmethod
    def config(cls):
        o = cls.origins
        return {"workers": 1, "listeners": [h.listener([h.proxy_route("app")])],
                "upstreams": {"app": h.upstream(h.server(o["slow"], max_conns=1),
                                                queue={"size": 10, "timeout": "200ms"})}}

    def test_waiting_too_long_gives_503(self):
        first = threading.Thread(target=self.req)
        first.start()
        time.sleep(0.2)
        t0 = time.monotonic()
        r = self.req()
        waited = time.monotonic() - t0
        first.join(10)
        self.assertEqual(r.status, 503)
        self.assertEqual(r.header("Retry-After"), "1")
        self.assertLess(waited, 1.2, "the queue timeout, not the server, ended the wait")


class RetryPolicyTest(h.ProxyCase):
    ORIGINS = ("a", "b")

    @classmethod
    def config(cls):
        return {"workers": 1, "listeners": [h.listener([h.proxy_route("app")])],
                "upstreams": {"app": h.upstream(
                    "127.0.0.1:%d" % h.dead_port(), *cls.origin_list(),
                    retries={"count": 2, "on": ["connect_failure", "503"]})}}

    def test_retries_skip_dead_and_503_servers(self):
        for i in range(12):
            r = self.req("GET", "/echo?i=%d" % i)
            self.assertEqual(r.status, 200, r)
        # a 503 from one server is retried on another: both answer 503 here, so after
        # the retries the last 503 is what the client sees, never more than count + 1
        before = sum(o.stats()["requests"] for o in self.origins.values())
        r = self.req("GET", "/status/503")
        after = sum(o.stats()["requests"] for o in self.origins.values())
        self.assertEqual(r.status, 503)
        self.assertEqual(after - before, 2, "each live server tried once")

    def test_post_is_not_retried_after_sending(self):
        before = sum(o.stats()["requests"] for o in self.origins.values())
        r = self.req("POST", "/status/503", body=b"x" * 10)
        after = sum(o.stats()["requests"] for o in self.origins.values())
        self.assertEqual(r.status, 503)
        self.assertEqual(after - before, 1)


if __name__ == "__main__":
    unittest.main()


class DrainStickyTest(h.ProxyCase):
    """A draining server takes no new sessions; its existing sessions stay on it."""
    ORIGINS = ("a", "b")

    @classmethod
    def config(cls):
        import tempfile
        cls.sockdir = tempfile.mkdtemp(prefix="rw-admin-")
        cls.sock = cls.sockdir + "/admin.sock"
        return {"workers": 2, "admin": {"socket": cls.sock},
                "listeners": [h.listener([h.proxy_route("app")])],
                "upstreams": {"app": h.upstream(*cls.origin_list(), sticky={
                    "mode": "cookie", "name": "rw_s"})}}

    def admin(self, **kw):
        import json
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(self.sock)
        try:
            s.sendall(json.dumps(kw).encode() + b"\n")
            buf = b""
            while b"\n" not in buf:
                buf += s.recv(65536)
            return json.loads(buf.split(b"\n", 1)[0])
        finally:
            s.close()

    def session_on(self, name):
        for _ in range(20):
            r = self.req()
            if origin_of(r) == name:
                for v in r.headers_all("Set-Cookie"):
                    if v.startswith("rw_s="):
                        return v.split(";", 1)[0]
        self.fail("no session landed on %s" % name)

    def test_drain_keeps_sessions_refuses_new_ones(self):
        cookie = self.session_on("a")
        server = self.origins["a"].address  # a server's name defaults to its address
        r = self.admin(cmd="server.set", upstream="app", server=server, state="drain")
        self.assertTrue(r["ok"], r)
        try:
            # new clients (no cookie) never land on the draining server
            fresh = collections.Counter(origin_of(self.req()) for _ in range(20))
            self.assertEqual(fresh, {"b": 20})
            # the existing session is honoured until it expires
            self.assertEqual(count(self.port, 8, headers=[("Cookie", cookie)]), {"a": 8})
        finally:
            self.admin(cmd="server.set", upstream="app", server=server, state="up")
