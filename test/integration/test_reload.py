# SPDX-License-Identifier: MIT
# Hot reload: new generations per request, listeners kept, state carried, bad files refused,
# and a 1,000-reload soak with long downloads, slow uploads and idle keep-alives open.
import hashlib
import json
import os
import signal
import socket
import threading
import time

import harness as h
from test_ops import AdminSock, metric, parse_metrics, wait_until


def refuses(port):
    """True if nothing accepts connections on 127.0.0.1:port."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return False
    except OSError:
        return True


def origin_of(port, path="/", conn=None):
    c = conn or h.http_conn(port)
    c.request("GET", path, headers={"Host": "test.local"})
    r = c.getresponse()
    r.read()
    return r.status, r.getheader("X-Origin")


class ReloadTest(h.RwTestCase):
    def setUp(self):
        super().setUp()
        self.oa = h.start_origin(self, "A")
        self.ob = h.start_origin(self, "B")
        self.tmp = h.TempDir("rw-reload-")
        self.addCleanup(self.tmp.cleanup)
        self.sock = str(self.tmp.path / "admin.sock")
        self.port = h.free_port()
        self.admin_port = h.free_port()

    def config(self, target="a", extra_listener=None, **top):
        lst = [h.listener([h.proxy_route(target)], port=self.port, name="web")]
        if extra_listener:
            lst.append(extra_listener)
        cfg = {"workers": 2, "listeners": lst,
               "admin": {"socket": self.sock, "http": "127.0.0.1:%d" % self.admin_port},
               "upstreams": {"a": h.upstream(h.server(self.oa, name="a1")),
                             "b": h.upstream(h.server(self.ob, name="b1"))}}
        cfg.update(top)
        return cfg

    def start(self, cfg):
        self.p = h.start_proxy(self, cfg)
        wait_until(lambda: os.path.exists(self.sock), 5)
        return self.p

    def write(self, cfg):
        tmp = str(self.p.cfg_path) + ".tmp"
        with open(tmp, "w") as f:
            json.dump(cfg, f)
        os.replace(tmp, self.p.cfg_path)

    def reload(self, cfg=None, **kw):
        if cfg is not None:
            self.write(cfg)
        a = AdminSock(self.sock)
        try:
            return a.cmd("reload", **kw)
        finally:
            a.close()

    def test_reload_moves_new_requests_and_keeps_connections(self):
        p = self.start(self.config("a"))
        keep = h.http_conn(p.port)
        self.assertEqual(origin_of(p.port, conn=keep), (200, "A"))
        r = self.reload(self.config("b"))
        self.assertTrue(r["ok"], r)
        self.assertEqual(r["data"]["generation"], 2)
        # the open keep-alive connection's next request uses the new generation
        self.assertEqual(origin_of(p.port, conn=keep), (200, "B"))
        self.assertEqual(origin_of(p.port), (200, "B"))
        keep.close()

        # counters of a route that remains go on across the reload; a request is
        # counted when its response send completes, which may come after the client
        # read the response: read until the last one is in
        def counted():
            return (metric(parse_metrics(scrape(self.admin_port)), "ringwall_requests_total",
                           listener="web", route="web/0", code="2xx") or 0) >= 3
        wait_until(counted, 5)
        ms = parse_metrics(scrape(self.admin_port))
        self.assertEqual(metric(ms, "ringwall_config_generation"), 2)
        self.assertEqual(metric(ms, "ringwall_config_reloads_total", result="success"), 1)
        self.assertGreaterEqual(metric(ms, "ringwall_requests_total", listener="web",
                                       route="web/0", code="2xx"), 3)

    def test_sighup_reloads(self):
        p = self.start(self.config("a"))
        self.write(self.config("b"))
        os.kill(p.pid, signal.SIGHUP)
        self.assertTrue(wait_until(lambda: origin_of(p.port)[1] == "B", 5))
        self.assertIn("generation 2 serving", p.wait_log("generation 2 serving"))

    def test_invalid_file_changes_nothing(self):
        p = self.start(self.config("a"))
        bad = self.config("b")
        bad["listeners"][0]["routes"][0]["upstream"] = "nope"
        bad["upstreams"]["b"]["servers"][0]["weight"] = -3
        r = self.reload(bad)
        self.assertFalse(r["ok"])
        self.assertIn("$.listeners[0].routes[0].upstream", r["error"])
        self.assertIn("$.upstreams.b.servers[0].weight", r["error"])
        self.assertEqual(origin_of(p.port), (200, "A"))
        with open(p.cfg_path, "w") as f:
            f.write("{ not json")
        r = self.reload()
        self.assertFalse(r["ok"])
        self.assertEqual(origin_of(p.port), (200, "A"))
        self.assertIn("keeps serving", p.wait_log("keeps serving"))
        # an address in use by someone else: refused whole, nothing half-applied
        blocker = socket.socket()
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        self.addCleanup(blocker.close)
        taken = h.listener([h.proxy_route("b")], port=blocker.getsockname()[1])
        r = self.reload(self.config("b", extra_listener=taken))
        self.assertFalse(r["ok"], r)
        self.assertIn("listener", r["error"])
        self.assertEqual(origin_of(p.port), (200, "A"))
        r = self.reload(self.config("b"))
        self.assertTrue(r["ok"], r)
        self.assertEqual(origin_of(p.port), (200, "B"))
        ms = parse_metrics(scrape(self.admin_port))
        self.assertEqual(metric(ms, "ringwall_config_reloads_total", result="failure"), 3)

    def test_listeners_open_and_close(self):
        p = self.start(self.config("a"))
        port2 = h.free_port()
        second = h.listener([h.proxy_route("b")], port=port2, name="second")
        r = self.reload(self.config("a", extra_listener=second), path=str(p.cfg_path))
        self.assertTrue(r["ok"], r)
        h.wait_port("127.0.0.1", port2)
        self.assertEqual(origin_of(port2), (200, "B"))
        held = h.http_conn(port2)
        self.assertEqual(origin_of(port2, conn=held), (200, "B"))
        # a slow request in flight on the listener that goes away finishes
        slow = h.http_conn(port2, timeout=10)
        slow.request("GET", "/slow-head/800", headers={"Host": "test.local"})
        time.sleep(0.2)
        r = self.reload(self.config("a"))
        self.assertTrue(r["ok"], r)
        resp = slow.getresponse()
        self.assertEqual(resp.status, 200)
        resp.read()

        self.assertTrue(wait_until(lambda: refuses(port2), 5), "removed listener still accepts")
        self.assertEqual(origin_of(p.port), (200, "A"))  # the one that stayed never closed
        # the same address again later
        r = self.reload(self.config("a", extra_listener=second))
        self.assertTrue(r["ok"], r)
        h.wait_port("127.0.0.1", port2)
        self.assertEqual(origin_of(port2), (200, "B"))

    def test_listener_added_and_removed_at_once(self):
        """A listener added and removed again by two reloads in a row (workers may skip
        the generation in between) leaves no socket bound behind."""
        p = self.start(self.config("a"))
        for _ in range(5):
            port2 = h.free_port()
            second = h.listener([h.proxy_route("b")], port=port2, name="second")
            self.assertTrue(self.reload(self.config("a", extra_listener=second))["ok"])
            self.assertTrue(self.reload(self.config("a"))["ok"])

            self.assertTrue(wait_until(lambda: refuses(port2), 5),
                            "port %d still accepts" % port2)
        self.assertEqual(origin_of(p.port), (200, "A"))

    def test_server_state_carries_over(self):
        cfg = self.config("a")
        cfg["upstreams"]["a"] = h.upstream(h.server(self.oa, name="a1"),
                                           h.server(self.ob, name="a2"))
        p = self.start(cfg)
        a = AdminSock(self.sock)
        self.assertTrue(a.cmd("server.set", upstream="a", server="a2", state="drain")["ok"])
        a.close()
        for _ in range(6):
            self.assertEqual(origin_of(p.port), (200, "A"))
        # a change to the upstream (a weight) builds a new runtime: a2 stays drained
        cfg["upstreams"]["a"]["servers"][0]["weight"] = 3
        r = self.reload(cfg)
        self.assertTrue(r["ok"], r)
        for _ in range(6):
            self.assertEqual(origin_of(p.port), (200, "A"))
        a = AdminSock(self.sock)
        srv = {s["server"]: s for s in a.cmd("servers", upstream="a")["data"]}
        a.close()
        self.assertEqual(srv["a2"]["state"], "drain")
        self.assertEqual(srv["a1"]["weight"], 3)

    def test_health_state_carries_over(self):
        cfg = self.config("a")
        cfg["upstreams"]["a"] = h.upstream(
            h.server(self.oa, name="a1"), h.server(self.ob, name="a2"),
            health_check={"path": "/healthz", "interval": "200ms", "timeout": "150ms",
                          "rise": 2, "fall": 1})
        p = self.start(cfg)
        c = h.http_conn(self.ob.port)
        c.request("GET", "/admin/fail")
        c.getresponse().read()
        c.close()

        def a2_down():
            a = AdminSock(self.sock)
            try:
                srv = {s["server"]: s for s in a.cmd("servers", upstream="a")["data"]}
            finally:
                a.close()
            return srv["a2"]["state"] == "down"
        self.assertTrue(wait_until(a2_down, 5))
        cfg["upstreams"]["a"]["retries"] = 0
        cfg["upstreams"]["a"]["servers"][0]["weight"] = 2
        r = self.reload(cfg)
        self.assertTrue(r["ok"], r)
        self.assertTrue(a2_down(), "a down server came back up on reload")
        for _ in range(10):
            self.assertEqual(origin_of(p.port), (200, "A"))

    def test_restart_only_settings_are_named(self):
        self.start(self.config("a"))
        cfg = self.config("b")
        cfg["workers"] = 1
        r = self.reload(cfg)
        self.assertTrue(r["ok"], r)
        self.assertIn("workers", r["data"]["notes"])
        self.assertEqual(origin_of(self.p.port), (200, "B"))


def scrape(port):
    c = h.http_conn(port)
    c.request("GET", "/metrics")
    r = c.getresponse()
    body = r.read().decode()
    c.close()
    assert r.status == 200, r.status
    return body


class ReloadSoakTest(h.RwTestCase):
    """1,000 reloads alternating two valid configs (traffic moves between upstreams)
    while long downloads, slow uploads and idle keep-alive connections stay open and
    other clients send requests all along: nothing fails, nothing is cut, RSS is flat."""

    RELOADS = int(os.environ.get("RW_RELOADS", "1000"))

    def test_soak(self):
        oa = h.start_origin(self, "A")
        ob = h.start_origin(self, "B")
        tmp = h.TempDir("rw-soak-")
        self.addCleanup(tmp.cleanup)
        sock = str(tmp.path / "admin.sock")
        port = h.free_port()

        def cfg(target):
            return {"workers": 2, "admin": {"socket": sock},
                    "listeners": [h.listener([h.proxy_route(target)], port=port, name="web")],
                    "upstreams": {"a": h.upstream(h.server(oa, name="a1")),
                                  "b": h.upstream(h.server(ob, name="b1"))}}
        p = h.start_proxy(self, cfg("a"))
        wait_until(lambda: os.path.exists(sock), 5)
        paths = [str(tmp.path / "a.json"), str(tmp.path / "b.json")]
        for path, t in zip(paths, ("a", "b")):
            with open(path, "w") as f:
                json.dump(cfg(t), f)
        stop = threading.Event()
        errors = []
        counts = {"requests": 0, "downloads": 0, "uploads": 0}
        lock = threading.Lock()

        def fail(what):
            with lock:
                errors.append(what)

        def requests():
            c = h.http_conn(port)
            while not stop.is_set():
                try:
                    st, who = origin_of(port, conn=c)
                    if st != 200 or who not in ("A", "B"):
                        fail("request: %s %s" % (st, who))
                    with lock:
                        counts["requests"] += 1
                except Exception as e:  # noqa: BLE001 - counted
                    fail("request: %r" % e)
                    c.close()
                    c = h.http_conn(port)
            c.close()

        size = 24 << 20

        def download():
            # a long response read slowly: it spans hundreds of reloads
            while not stop.is_set():
                try:
                    s = socket.create_connection(("127.0.0.1", port), timeout=30)
                    s.sendall(b"GET /size/%d HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                              % size)
                    got = 0
                    while True:
                        b = s.recv(65536)
                        if not b:
                            break
                        got += len(b)
                        time.sleep(0.002)
                    s.close()
                    if got < size:
                        fail("download cut at %d of %d" % (got, size))
                    with lock:
                        counts["downloads"] += 1
                except Exception as e:  # noqa: BLE001 - counted
                    fail("download: %r" % e)

        def upload():
            body = os.urandom(64 << 10)
            want = hashlib.sha256(body).hexdigest()
            while not stop.is_set():
                try:
                    s = socket.create_connection(("127.0.0.1", port), timeout=30)
                    s.sendall(b"POST /upload HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                              b"Content-Length: %d\r\n\r\n" % len(body))
                    for i in range(0, len(body), 4096):
                        s.sendall(body[i:i + 4096])
                        time.sleep(0.05)
                    resp = b""
                    while True:
                        b = s.recv(65536)
                        if not b:
                            break
                        resp += b
                    s.close()
                    head, _, js = resp.partition(b"\r\n\r\n")
                    if not head.startswith(b"HTTP/1.1 200") or json.loads(js)["sha256"] != want:
                        fail("upload: %r" % head[:40])
                    with lock:
                        counts["uploads"] += 1
                except Exception as e:  # noqa: BLE001 - counted
                    fail("upload: %r" % e)

        idle = []
        for _ in range(20):
            c = h.http_conn(port, timeout=30)
            self.assertEqual(origin_of(port, conn=c)[0], 200)
            idle.append(c)
        threads = [threading.Thread(target=f) for f in
                   (requests, requests, download, download, upload, upload)]
        for t in threads:
            t.start()
        # warm up: the load touches the receive buffers (io_uring's provided-buffer ring
        # cycles through all of them) before RSS settles; reloads start after that
        prev, settle_end = h.vm_rss_kib(p.pid), time.monotonic() + 15
        while time.monotonic() < settle_end:
            time.sleep(1.0)
            cur = h.vm_rss_kib(p.pid)
            if cur - prev < 128:
                break
            prev = cur
        a = AdminSock(sock)
        rss = [h.vm_rss_kib(p.pid)]
        t0 = time.monotonic()
        try:
            for i in range(self.RELOADS):
                if i == self.RELOADS // 2:
                    with open(str(tmp.path / "bad.json"), "w") as f:
                        f.write('{"listeners": [{"address": "nowhere"}]}')
                    r = a.cmd("reload", path=str(tmp.path / "bad.json"))
                    self.assertFalse(r["ok"])
                r = a.cmd("reload", path=paths[(i + 1) % 2])
                self.assertTrue(r["ok"], r)
                time.sleep(0.005)  # about 10 reloads a second... times 20: a busy operator
                if (i + 1) % 100 == 0:
                    rss.append(h.vm_rss_kib(p.pid))
        finally:
            a.close()
            stop.set()
            for t in threads:
                t.join(120)
        elapsed = time.monotonic() - t0
        # the idle connections were never cut: each still serves a request
        for c in idle:
            self.assertEqual(origin_of(port, conn=c)[0], 200)
            c.close()
        self.assertEqual(errors, [])
        self.assertGreater(counts["requests"], 100)
        self.assertGreater(counts["downloads"], 0)
        self.assertGreater(counts["uploads"], 0)
        # judge the second half (the first may still see free lists and buffers grow)
        base = rss[len(rss) // 2]
        growth = rss[-1] - base
        print("\nRW_SOAK reloads=%d seconds=%.1f requests=%d downloads=%d uploads=%d "
              "rss_kib_start_then_every_100=%s growth_kib_second_half=%d per_reload_bytes=%.0f"
              % (self.RELOADS, elapsed, counts["requests"], counts["downloads"],
                 counts["uploads"], ",".join(str(x) for x in rss), growth,
                 growth * 1024.0 / max(1, self.RELOADS // 2)))
        if "asan" not in h.binary():
            self.assertLess(growth, 1024, "RSS grew %d KiB over 500 reloads" % growth)
