# SPDX-License-Identifier: MIT
# Health checks and failover through the real binary: active checks (rise/fall, hung
# servers), passive ejection, all-down 503 with Retry-After, backups, and a server
# killed under continuous load.
import collections
import http.client
import socket
import threading
import time
import unittest

import harness as h


def origin_of(r):
    return r.header("X-Origin")


def poke(origin, path):
    c = http.client.HTTPConnection(origin.host, origin.port, timeout=5)
    try:
        c.request("GET", path, headers={"Connection": "close"})
        c.getresponse().read()
    finally:
        c.close()


def wait_until(pred, timeout, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


class Hung:
    """Accepts connections and never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                c, _ = self.sock.accept()
                self.conns.append(c)
            except OSError:
                pass

    def close(self):
        self.stop = True
        self.thread.join(2)
        for c in self.conns:
            c.close()
        self.sock.close()


CHECK = {"path": "/healthz", "interval": "100ms", "timeout": "80ms", "rise": 2, "fall": 2}


class ActiveCheckTest(h.ProxyCase):
    ORIGINS = ("a", "b")

    @classmethod
    def config(cls):
        return {"workers": 2, "listeners": [h.listener([h.proxy_route("app")])],
                "upstreams": {"app": h.upstream(*cls.origin_list(), health_check=CHECK)}}

    def split(self, n=20):
        return collections.Counter(origin_of(self.req()) for _ in range(n))

    def test_failing_server_leaves_and_comes_back(self):
        self.assertEqual(set(self.split()), {"a", "b"})
        poke(self.origins["a"], "/admin/fail")
        try:
            t0 = time.monotonic()
            # fall 2 x interval 100 ms + timeout: gone well within a second
            self.assertTrue(wait_until(lambda: self.split(10) == {"b": 10}, 2.0))
            self.assertLess(time.monotonic() - t0, 1.5)
            self.assertEqual(self.split(), {"b": 20})
        finally:
            poke(self.origins["a"], "/admin/ok")
        self.assertTrue(wait_until(lambda: "a" in self.split(10), 2.0), "back after rise")

    def test_state_changes_are_logged_once(self):
        poke(self.origins["b"], "/admin/fail")
        try:
            self.assertTrue(wait_until(lambda: "b" not in self.split(10), 2.0))
            time.sleep(0.5)
        finally:
            poke(self.origins["b"], "/admin/ok")
        self.assertTrue(wait_until(lambda: "b" in self.split(10), 2.0))
        addr = self.origins["b"].address
        log = self.proxy.wait_log("UP -> DOWN")  # a server's name defaults to its address
        downs = [l for l in log.splitlines() if "UP -> DOWN" in l and addr in l]
        self.assertGreaterEqual(len(downs), 1, log[-2000:])
        self.assertLessEqual(len(downs), 2, "one line per change, not per check: %s" % downs)
        self.assertIn("DOWN -> UP", log)


class HungServerTest(h.RwTestCase):
    def test_hung_server_detected_by_timeout(self):
        live = h.Origin("live").start()
        hung = Hung()
        try:
            cfg = {"workers": 1, "listeners": [h.listener([h.proxy_route("app")])],
                   "upstreams": {"app": h.upstream(
                       "127.0.0.1:%d" % hung.port, live, health_check=CHECK,
                       timeouts={"response": "5s"})}}
            p = h.start_proxy(self, cfg)
            time.sleep(0.5)  # first checks: the hung one times out after 80 ms
            t0 = time.monotonic()
            for _ in range(10):
                r = h.request(p.port, "GET", "/")
                self.assertEqual(r.status, 200)
                self.assertEqual(origin_of(r), "live")
            self.assertLess(time.monotonic() - t0, 3, "no request waited on the hung server")
        finally:
            hung.close()
            live.stop()


class AllDownTest(h.ProxyCase):
    ORIGINS = ("a", "b", "spare")

    @classmethod
    def config(cls):
        o = cls.origins
        return {"workers": 1, "listeners": [h.listener([
            h.proxy_route("app", {"path_prefix": "/app/"}, strip_prefix="/app"),
            h.proxy_route("withbackup")])],
            "upstreams": {
                "app": h.upstream(o["a"], o["b"], health_check=CHECK),
                "withbackup": h.upstream(o["a"], o["b"], h.server(o["spare"], backup=True),
                                         health_check=CHECK)}}

    def test_all_down_503_then_backup(self):
        for n in ("a", "b"):
            poke(self.origins[n], "/admin/fail")
        try:
            self.assertTrue(wait_until(lambda: self.req("GET", "/app/").status == 503, 2.0))
            r = self.req("GET", "/app/x")
            self.assertEqual(r.status, 503)
            self.assertEqual(r.header("Retry-After"), "1")
            self.assertNotIn(b"127.0.0.1", r.raw_head + r.body)
            # the other upstream checks the same servers on its own schedule
            self.assertTrue(wait_until(lambda: origin_of(self.req("GET", "/other")) == "spare",
                                       2.0))
            r = self.req("GET", "/other")
            self.assertEqual((r.status, origin_of(r)), (200, "spare"))
        finally:
            for n in ("a", "b"):
                poke(self.origins[n], "/admin/ok")
        self.assertTrue(wait_until(lambda: self.req("GET", "/app/").status == 200, 2.0))


class PanicTest(h.ProxyCase):
    ORIGINS = ("a", "b")

    @classmethod
    def config(cls):
        return {"workers": 1, "listeners": [h.listener([h.proxy_route("app")])],
                "upstreams": {"app": h.upstream(*cls.origin_list(), health_check=CHECK,
                                                panic_threshold=60)}}

    def test_panic_ignores_health(self):
        # both fail their checks but still answer requests: with fewer than 60% of the
        # servers healthy, balancing ignores health instead of answering 503
        for n in ("a", "b"):
            poke(self.origins[n], "/admin/fail")
        try:
            time.sleep(0.6)
            got = collections.Counter(origin_of(self.req()) for _ in range(10))
            self.assertEqual(sum(got.values()), 10)
            self.assertEqual(set(got), {"a", "b"})
        finally:
            for n in ("a", "b"):
                poke(self.origins[n], "/admin/ok")


class PassiveEjectionTest(h.ProxyCase):
    ORIGINS = ("a", "b", "c")

    @classmethod
    def config(cls):
        return {"workers": 1, "listeners": [h.listener([h.proxy_route("app")])],
                "upstreams": {"app": h.upstream(*cls.origin_list(), passive={
                    "consecutive_errors": 3, "eject": "2s", "max_eject_percent": 50})}}

    def test_erroring_server_is_ejected(self):
        poke(self.origins["a"], "/admin/fail-all")
        try:
            statuses = collections.Counter()
            for _ in range(30):
                r = self.req()
                statuses[(r.status, origin_of(r))] += 1
                time.sleep(0.01)  # paced traffic: the health thread folds reports in every 20 ms
            time.sleep(0.2)  # the health thread folds reports in on its sweep
            after = collections.Counter(origin_of(self.req()) for _ in range(20))
            self.assertNotIn("a", after, after)
            self.assertLessEqual(statuses[(500, "a")], 5, statuses)  # 3 to eject, + sweep lag
        finally:
            poke(self.origins["a"], "/admin/ok")
        time.sleep(2.3)
        back = collections.Counter(origin_of(self.req()) for _ in range(12))
        self.assertIn("a", back, "returns after the ejection time")


class KilledUnderLoadTest(h.RwTestCase):
    def test_killed_server_costs_few_errors(self):
        a, b = h.Origin("a").start(), h.Origin("b").start()
        try:
            cfg = {"workers": 2, "listeners": [h.listener([h.proxy_route("app")])],
                   "upstreams": {"app": h.upstream(a, b, health_check=CHECK,
                                                   passive={"consecutive_errors": 2})}}
            p = h.start_proxy(self, cfg)
            errors = collections.Counter()
            stop = time.monotonic() + 2.5
            lock = threading.Lock()

            def load():
                while time.monotonic() < stop:
                    try:
                        r = h.request(p.port, "GET", "/", timeout=5)
                        key = r.status
                    except Exception as e:  # noqa: BLE001 - counted
                        key = type(e).__name__
                    with lock:
                        errors[key] += 1

            threads = [threading.Thread(target=load) for _ in range(4)]
            for t in threads:
                t.start()
            time.sleep(0.8)
            a.stop()
            for t in threads:
                t.join(10)
            bad = sum(v for k, v in errors.items() if k != 200)
            print(" [%d requests, %d errors after kill]" % (sum(errors.values()), bad),
                  end="", flush=True)
            self.assertLessEqual(bad, 5, errors)
        finally:
            a.stop()
            b.stop()


if __name__ == "__main__":
    unittest.main()


class TlsCheckTest(h.RwTestCase):
    """Active HTTP checks over TLS: ringwall A -> TLS -> ringwall B (HTTPS) -> origin."""

    def chain(self, ca):
        import test_tls
        o = h.start_origin(self, "o1")
        b = h.start_proxy(self, {"workers": 1,
                                 "listeners": [test_tls.tls_listener([h.proxy_route("app")])],
                                 "upstreams": {"app": h.upstream(o)}})
        name = "127.0.0.1:%d" % b.port
        up = h.upstream(name, tls={"ca": ca, "sni": "example.com"}, health_check=CHECK,
                        timeouts={"connect": "2s"})
        a = h.start_proxy(self, {"workers": 1, "listeners": [h.listener([h.proxy_route("app")])],
                                 "upstreams": {"app": up}})
        return a, b, o, name

    def downs(self, a, name):
        return [l for l in a.stderr().splitlines() if "UP -> DOWN" in l and name in l]

    def test_healthy_stays_up_then_fails_and_returns(self):
        import test_tls
        a, _, o, name = self.chain(test_tls.data("root.crt"))
        o.stats(reset=True)
        time.sleep(1.0)  # about ten checks through TLS
        self.assertEqual(self.downs(a, name), [], a.stderr()[-2000:])
        self.assertGreaterEqual(o.stats()["requests"], 5, "checks reached the origin via TLS")
        for _ in range(5):
            self.assertEqual(h.request(a.port, "GET", "/").status, 200)
        poke(o, "/admin/fail")
        try:
            self.assertTrue(wait_until(lambda: self.downs(a, name), 3.0), a.stderr()[-2000:])
            self.assertIn("status 503", self.downs(a, name)[0])
            self.assertEqual(h.request(a.port, "GET", "/").status, 503)
        finally:
            poke(o, "/admin/ok")
        self.assertTrue(wait_until(lambda: "DOWN -> UP" in a.stderr(), 3.0), a.stderr()[-2000:])
        self.assertEqual(h.request(a.port, "GET", "/").status, 200)

    def test_wrong_ca_fails_the_check(self):
        import test_tls
        a, _, o, name = self.chain(test_tls.data("clientca.crt"))
        self.assertTrue(wait_until(lambda: self.downs(a, name), 3.0), a.stderr()[-2000:])
        line = self.downs(a, name)[0]
        self.assertIn("tls handshake", line)
        self.assertEqual(h.request(a.port, "GET", "/").status, 503)
