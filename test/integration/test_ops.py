# SPDX-License-Identifier: MIT
# Operating ringwall: admin socket and `ringwall ctl`, /metrics, access log, request ids.
import collections
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import unittest

import harness as h


def wait_until(pred, timeout, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


class AdminSock:
    """One connection to the admin socket: a JSON line out, a JSON line back."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(10)
        self.s.connect(path)
        self.buf = b""

    def line(self, data):
        self.s.sendall(data if data.endswith(b"\n") else data + b"\n")
        while b"\n" not in self.buf:
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise EOFError("admin socket closed")
            self.buf += chunk
        ln, self.buf = self.buf.split(b"\n", 1)
        return json.loads(ln)

    def cmd(self, cmd, **kw):
        kw["cmd"] = cmd
        return self.line(json.dumps(kw).encode())

    def close(self):
        self.s.close()


def parse_metrics(text):
    """{(name, frozenset(labels)): value} from Prometheus text."""
    out = {}
    rx = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
    for ln in text.splitlines():
        if not ln or ln.startswith("#"):
            continue
        m = rx.match(ln)
        assert m, "bad metrics line %r" % ln
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def metric(ms, name, **labels):
    return ms.get((name, frozenset(labels.items())))


class OpsCase(h.ProxyCase):
    """Two origins, an admin socket, an HTTP admin listener and a JSON access log."""

    ORIGINS = ("a", "b")

    @classmethod
    def setUpClass(cls):
        cls.dir = h.TempDir("rw-ops-")
        cls.sock = str(cls.dir.path / "admin.sock")
        cls.log = cls.dir.path / "access.log"
        cls.admin_port = h.free_port()
        try:
            super().setUpClass()
        except Exception:
            cls.dir.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.dir.cleanup()

    @classmethod
    def config(cls):
        routes = [{"match": {"path": "/local"}, "respond": {"status": 200, "body": "local"}},
                  h.proxy_route("app")]
        return {"workers": 2,
                "listeners": [h.listener(routes, name="web")],
                "upstreams": {"app": h.upstream(*[h.server(o, name=o.name)
                                                  for o in cls.origin_list()])},
                "admin": {"socket": cls.sock, "http": "127.0.0.1:%d" % cls.admin_port},
                "access_log": {"path": str(cls.log), "format": "json"}}

    def admin(self):
        a = AdminSock(self.sock)
        self.addCleanup(a.close)
        return a

    def ctl(self, *args):
        return subprocess.run([h.binary(), "ctl", "-s", self.sock] + list(args),
                              capture_output=True, text=True, timeout=20)

    def scrape(self):
        c = h.http_conn(self.admin_port)
        try:
            c.request("GET", "/metrics")
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            return r.read().decode()
        finally:
            c.close()

    def log_lines(self):
        try:
            text = self.log.read_text()
        except FileNotFoundError:
            return []
        return [json.loads(ln) for ln in text.splitlines() if ln.strip()]

    def wait_log(self, pred, timeout=5.0):
        got = []

        def ok():
            got[:] = self.log_lines()
            return pred(got)
        self.assertTrue(wait_until(ok, timeout), "access log: %d lines" % len(got))
        return got

    def split(self, n=20):
        return collections.Counter(self.req().header("X-Origin") for _ in range(n))


class AdminSocketTest(OpsCase):
    def test_every_command_over_the_socket(self):
        a = self.admin()
        v = a.cmd("version")
        self.assertTrue(v["ok"])
        self.assertIn("version", v["data"])
        help_ = a.cmd("help")["data"]
        names = {c["command"] for c in help_}
        for c in ("stats", "servers", "server.set", "server.add", "server.remove", "config",
                  "reload", "version"):
            self.assertIn(c, names)
        cfg = a.cmd("config")
        self.assertTrue(cfg["ok"])
        self.assertEqual(cfg["data"]["admin"]["socket"], self.sock)
        st = a.cmd("stats")["data"]
        self.assertEqual([l["listener"] for l in st["listeners"]], ["web"])
        self.assertEqual({r["route"] for r in st["routes"]}, {"web/0", "web/1", "web/none"})
        self.assertEqual([u["upstream"] for u in st["upstreams"]], ["app"])
        srv = a.cmd("servers")["data"]
        self.assertEqual({(s["upstream"], s["server"], s["state"]) for s in srv},
                         {("app", "a", "up"), ("app", "b", "up")})
        self.assertEqual(srv[0]["address"], self.origins[srv[0]["server"]].address)
        r = a.cmd("reload")  # the same file again: a new generation, nothing else changes
        self.assertTrue(r["ok"], r)
        self.assertEqual(r["data"]["generation"], r["data"]["previous"] + 1)

    def test_errors_name_what_is_wrong(self):
        a = self.admin()
        r = a.cmd("server.set", upstream="api", server="a", state="down")
        self.assertEqual(r, {"ok": False, "error": 'no upstream "api"'})
        r = a.cmd("server.set", upstream="app", server="api-9", state="down")
        self.assertEqual(r, {"ok": False, "error": 'no server "api-9" in upstream "app"'})
        r = a.cmd("server.set", upstream="app", server="a", state="sideways")
        self.assertFalse(r["ok"])
        self.assertIn("state", r["error"])
        r = a.cmd("server.add", upstream="app", server={"address": "nowhere"})
        self.assertFalse(r["ok"])
        self.assertIn("address", r["error"])
        r = a.cmd("no.such.command")
        self.assertFalse(r["ok"])

    def test_malformed_line_keeps_serving(self):
        a = self.admin()
        for bad in (b"garbage", b"{\"cmd\": ", b"[1,2]", b"{\"nocmd\": 1}"):
            r = a.line(bad)
            self.assertFalse(r["ok"], bad)
            self.assertTrue(r["error"])
        self.assertTrue(a.cmd("version")["ok"])
        b = self.admin()  # and new connections too
        self.assertTrue(b.cmd("servers")["ok"])

    def test_ctl_tables_json_and_exit_codes(self):
        r = self.ctl("servers")
        self.assertEqual(r.returncode, 0, r.stderr)
        head = r.stdout.splitlines()[0].split()
        for col in ("upstream", "server", "address", "state", "weight", "in_flight"):
            self.assertIn(col, head)
        r = self.ctl("--json", "servers")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual({s["server"] for s in json.loads(r.stdout)}, {"a", "b"})
        r = self.ctl("stats")
        self.assertEqual(r.returncode, 0, r.stderr)
        for section in ("listeners:", "routes:", "upstreams:", "servers:"):
            self.assertIn(section, r.stdout)
        r = self.ctl("--json", "stats")
        self.assertEqual(set(json.loads(r.stdout)), {"listeners", "routes", "upstreams",
                                                     "servers"})
        for cmd in (("version",), ("config",), ("--json", "config")):
            r = self.ctl(*cmd)
            self.assertEqual(r.returncode, 0, (cmd, r.stderr))
        self.assertEqual(json.loads(self.ctl("--json", "config").stdout)["workers"], 2)
        r = self.ctl("server.set", "upstream=app", "server=zz", "state=down")
        self.assertEqual(r.returncode, 1)
        self.assertIn('no server "zz" in upstream "app"', r.stderr)
        r = self.ctl("reload")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = subprocess.run([h.binary(), "ctl", "-s", str(self.dir.path / "nope.sock"),
                            "version"], capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 2)

    def test_added_server_reuses_connections(self):
        c = h.start_origin(self, "c2")
        r = self.admin().cmd("server.add", upstream="app", server={"name": "c2", "address":
                                                                   c.address})
        self.assertTrue(r["ok"], r)
        try:
            for s in ("a", "b"):
                self.assertTrue(self.admin().cmd("server.set", upstream="app", server=s,
                                                 state="drain")["ok"])
            c.reset()
            for _ in range(20):
                self.assertEqual(self.req().header("X-Origin"), "c2")
            st = c.stats()
            self.assertEqual(st["requests"], 20)
            self.assertLessEqual(st["connections"], 2)  # one per worker at most: pooled
        finally:
            for s in ("a", "b"):
                self.admin().cmd("server.set", upstream="app", server=s, state="up")
            self.admin().cmd("server.remove", upstream="app", server="c2")

    def test_drain_and_down_steer_traffic_and_back(self):
        self.assertEqual(set(self.split()), {"a", "b"})
        for state in ("drain", "down"):
            r = self.ctl("server.set", "upstream=app", "server=a", "state=" + state)
            self.assertEqual(r.returncode, 0, r.stderr)
            try:
                self.assertEqual(self.split(), {"b": 20}, state)
                srv = {s["server"]: s for s in self.admin().cmd("servers")["data"]}
                self.assertEqual(srv["a"]["state"], state)
            finally:
                self.ctl("server.set", "upstream=app", "server=a", "state=up")
            self.assertEqual(set(self.split()), {"a", "b"})
        r = self.ctl("--json", "server.set", "upstream=app", "server=b", "weight=0")
        self.assertEqual(json.loads(r.stdout)["effective_weight"], 0)
        try:
            self.assertEqual(self.split(), {"a": 20})
        finally:
            self.ctl("server.set", "upstream=app", "server=b", "weight=1")
        self.assertEqual(set(self.split()), {"a", "b"})

    def test_server_add_and_remove_at_run_time(self):
        c = h.start_origin(self, "c")
        r = self.ctl("--json", "server.add", "upstream=app", "server.name=c",
                     "server.address=" + c.address, "server.weight=2")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["server"], "c")
        try:
            self.assertTrue(wait_until(lambda: "c" in self.split(12), 3))
            self.assertEqual(self.ctl("server.add", "upstream=app", "server.name=c",
                                      "server.address=" + c.address).returncode, 1)
            names = {s["server"] for s in self.admin().cmd("servers")["data"]}
            self.assertEqual(names, {"a", "b", "c"})
        finally:
            r = self.ctl("server.remove", "upstream=app", "server=c")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(set(self.split(30)), {"a", "b"})
        self.assertEqual(self.ctl("server.remove", "upstream=app", "server=c").returncode, 1)
        # a server added at run time gets its own series and pooled connections
        ms = parse_metrics(self.scrape())
        self.assertGreaterEqual(metric(ms, "ringwall_upstream_requests_total", upstream="app",
                                       server="c"), 1)
        # a server named by its address by default
        r = self.admin().cmd("server.add", upstream="app", server={"address": c.address})
        self.assertTrue(r["ok"], r)
        self.assertEqual(r["data"]["server"], c.address)
        self.assertTrue(self.admin().cmd("server.remove", upstream="app",
                                         server=c.address)["ok"])


class MetricsTest(OpsCase):
    def idle(self):
        # every earlier connection (the harness's start-up probe too) is counted and closed
        self.assertTrue(wait_until(
            lambda: metric(parse_metrics(self.scrape()), "ringwall_connections_active",
                           listener="web") == 0, 3))

    def test_metrics_parse_and_match_requests(self):
        self.req(target="/local")
        self.idle()
        before = parse_metrics(self.scrape())
        for _ in range(7):
            self.assertEqual(self.req(target="/").status, 200)
        for _ in range(3):
            self.assertEqual(self.req(target="/local").status, 200)
        for _ in range(2):
            self.assertEqual(self.req(target="/status/404").status, 404)
        time.sleep(0.1)
        text = self.scrape()
        after = parse_metrics(text)

        def delta(name, **lab):
            return (metric(after, name, **lab) or 0) - (metric(before, name, **lab) or 0)
        self.assertEqual(delta("ringwall_requests_total", listener="web", route="web/1",
                               code="2xx"), 7)
        self.assertEqual(delta("ringwall_requests_total", listener="web", route="web/1",
                               code="4xx"), 2)
        self.assertEqual(delta("ringwall_requests_total", listener="web", route="web/0",
                               code="2xx"), 3)
        self.assertEqual(delta("ringwall_request_duration_seconds_count", listener="web",
                               route="web/1"), 9)
        ups = sum(delta("ringwall_upstream_requests_total", upstream="app", server=s)
                  for s in ("a", "b"))
        self.assertEqual(ups, 9)
        self.assertEqual(delta("ringwall_connections_total", listener="web"), 12)
        self.assertGreater(delta("ringwall_bytes_sent_total", listener="web"), 12 * 100)
        self.assertGreater(delta("ringwall_bytes_received_total", listener="web"), 12 * 30)
        self.assertEqual(metric(after, "ringwall_server_up", upstream="app", server="a"), 1)
        self.assertEqual(metric(after, "ringwall_server_state", upstream="app", server="a",
                                state="up"), 1)
        self.assertEqual(metric(after, "ringwall_build_info", version=self.version()), 1)
        backends = [k for k in after if k[0] == "ringwall_io_backend"]
        self.assertEqual(len(backends), 1)
        self.assertIn("ringwall_access_log_dropped_total", {k[0] for k in after})
        iters = [v for k, v in after.items() if k[0] == "ringwall_worker_loop_iterations_total"]
        busy = [v for k, v in after.items() if k[0] == "ringwall_worker_busy_seconds_total"]
        self.assertEqual(len(iters), 2)  # one per worker
        self.assertGreater(sum(iters), 12)
        self.assertGreater(sum(busy), 0)
        self.idle()
        if shutil.which("promtool"):
            p = subprocess.run(["promtool", "check", "metrics"], input=text, text=True,
                               capture_output=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_upstream_errors_counted(self):
        before = parse_metrics(self.scrape())
        for _ in range(4):
            self.assertEqual(self.req(target="/status/503").status, 503)
        after = parse_metrics(self.scrape())
        n = sum((metric(after, "ringwall_upstream_errors_total", upstream="app", server=s,
                        kind="5xx") or 0) -
                (metric(before, "ringwall_upstream_errors_total", upstream="app", server=s,
                        kind="5xx") or 0) for s in ("a", "b"))
        self.assertEqual(n, 4)

    def test_stats_counts_match(self):
        before = self.admin().cmd("stats")["data"]
        for _ in range(5):
            self.req(target="/")
        after = self.admin().cmd("stats")["data"]
        r0 = {r["route"]: r for r in before["routes"]}["web/1"]
        r1 = {r["route"]: r for r in after["routes"]}["web/1"]
        self.assertEqual(r1["2xx"] - r0["2xx"], 5)
        self.assertEqual(after["upstreams"][0]["requests"] - before["upstreams"][0]["requests"],
                         5)

    def version(self):
        return self.admin().cmd("version")["data"]["version"]


class AccessLogTest(OpsCase):
    def test_lines_match_requests_under_concurrency(self):
        tag = "conc%d" % os.getpid()
        errors = []

        def client(t):
            try:
                for i in range(50):
                    target = "/echo/%s/%d/%d" % (tag, t, i) if i % 5 else \
                        "/status/%d?%s-%d-%d" % (404 if i % 2 else 201, tag, t, i)
                    r = self.req(target=target)
                    want = 200 if i % 5 else (404 if i % 2 else 201)
                    if r.status != want:
                        errors.append((target, r.status))
            except Exception as e:  # noqa: BLE001
                errors.append(e)
        ts = [threading.Thread(target=client, args=(t,)) for t in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        self.assertEqual(errors, [])
        lines = self.wait_log(lambda ls: sum(tag in l["path"] for l in ls) >= 200)
        mine = [l for l in lines if tag in l["path"]]
        self.assertEqual(len(mine), 200)
        self.assertEqual(len({l["path"] for l in mine}), 200)
        for l in mine:
            self.assertEqual(set(l), {"time", "request_id", "client", "method", "path", "status",
                                      "bytes_sent", "bytes_received", "duration_ms", "upstream",
                                      "server", "upstream_ms", "route", "tls"})
            if l["path"].startswith("/echo/"):
                self.assertEqual(l["status"], 200)
            else:
                want = 404 if l["path"].split("-")[-1] and int(l["path"].split("-")[-1]) % 2 \
                    else 201
                self.assertEqual(l["status"], want, l)
            self.assertEqual(l["method"], "GET")
            self.assertEqual(l["client"], "127.0.0.1")
            self.assertEqual(l["upstream"], "app")
            self.assertIn(l["server"], ("a", "b"))
            self.assertEqual(l["route"], "web/1")
            self.assertIsNone(l["tls"])
            self.assertRegex(l["request_id"], r"^[0-9a-f]{32}$")
            self.assertGreater(l["bytes_sent"], 0)
            self.assertGreater(l["bytes_received"], 0)
            self.assertGreaterEqual(l["duration_ms"], l["upstream_ms"])
        self.assertEqual(len({l["request_id"] for l in mine}), 200)

    def test_local_answer_logged(self):
        r = self.req(target="/local?x=logged-local")
        self.assertEqual(r.status, 200)
        lines = self.wait_log(lambda ls: any(l["path"] == "/local?x=logged-local" for l in ls))
        l = [l for l in lines if l["path"] == "/local?x=logged-local"][0]
        self.assertEqual(l["route"], "web/0")
        self.assertIsNone(l["upstream"])
        self.assertIsNone(l["upstream_ms"])
        self.assertEqual(l["request_id"], r.header("X-Request-Id"))
        self.assertEqual(l["bytes_sent"], len(r.raw_head) + len(r.body))

    def test_malformed_request_logged(self):
        resp, _ = self.raw(b"GET /bad\x01 HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(resp.status, 400)
        rid = resp.header("X-Request-Id")
        self.assertTrue(rid)
        self.wait_log(lambda ls: any(l["request_id"] == rid and l["status"] == 400
                                     for l in ls))

    def test_reopen_after_rename_on_sigusr1(self):
        self.req(target="/?before-rotate")
        self.wait_log(lambda ls: any(l["path"] == "/?before-rotate" for l in ls))
        rotated = self.log.with_name("access.log.1")
        os.rename(self.log, rotated)
        try:
            self.req(target="/?between")  # still goes to the renamed file
            os.kill(self.proxy.pid, signal.SIGUSR1)
            self.assertTrue(wait_until(self.log.exists, 5), "log not reopened")
            self.req(target="/?after-rotate")
            lines = self.wait_log(lambda ls: any(l["path"] == "/?after-rotate" for l in ls))
            self.assertNotIn("/?before-rotate", [l["path"] for l in lines])
            old = [json.loads(x)["path"] for x in rotated.read_text().splitlines()]
            self.assertIn("/?before-rotate", old)
            self.assertNotIn("/?after-rotate", old)
        finally:
            rotated.unlink()


class RequestIdTest(OpsCase):
    def echo(self, headers=()):
        r = self.req(target="/echo", headers=headers)
        self.assertEqual(r.status, 200)
        sent = [v for k, v in r.json()["headers"] if k.lower() == "x-request-id"]
        return r, sent

    def test_client_id_kept(self):
        r, sent = self.echo([("X-Request-Id", "client-id-123")])
        self.assertEqual(sent, ["client-id-123"])
        self.assertEqual(r.headers_all("X-Request-Id"), ["client-id-123"])
        self.wait_log(lambda ls: any(l["request_id"] == "client-id-123" for l in ls))

    def test_generated_when_absent_or_invalid(self):
        for hdrs in ((), [("X-Request-Id", "x" * 200)]):
            r, sent = self.echo(hdrs)
            self.assertEqual(len(sent), 1)
            self.assertRegex(sent[0], r"^[0-9a-f]{32}$")
            self.assertEqual(r.headers_all("X-Request-Id"), sent)
            rid = sent[0]
            self.wait_log(lambda ls: any(l["request_id"] == rid for l in ls))

    def test_local_answers_carry_it(self):
        r = self.req(target="/local", headers=[("X-Request-Id", "local-77")])
        self.assertEqual(r.header("X-Request-Id"), "local-77")


class UntrustedIdTest(h.RwTestCase):
    def test_client_id_replaced_when_not_trusted(self):
        o = h.start_origin(self, "o")
        cfg = h.simple_config([o], request_id={"header": "x-trace", "trust_client": False})
        p = h.start_proxy(self, cfg)
        r = h.request(p.port, target="/echo", headers=[("X-Trace", "mine")])
        sent = [v for k, v in r.json()["headers"] if k.lower() == "x-trace"]
        self.assertEqual(len(sent), 1)
        self.assertNotEqual(sent[0], "mine")
        self.assertEqual(r.header("X-Trace"), sent[0])

    def test_off(self):
        o = h.start_origin(self, "o")
        p = h.start_proxy(self, h.simple_config([o], request_id=False))
        r = h.request(p.port, target="/echo")
        self.assertFalse(r.has("X-Request-Id"))
        self.assertEqual([k for k, _ in r.json()["headers"] if k.lower() == "x-request-id"], [])


class ShutdownTimeoutTest(h.RwTestCase):
    def test_shutdown_timeout_bounds_the_drain(self):
        o = h.start_origin(self, "o")
        p = h.start_proxy(self, h.simple_config([o], shutdown_timeout="1s"))
        conn = h.RawConn(p.port)
        self.addCleanup(conn.close)
        conn.send(h.build_request(target="/slow-head/10000"))
        time.sleep(0.3)
        t0 = time.monotonic()
        os.kill(p.pid, signal.SIGTERM)
        p.proc.wait(8)
        self.assertLess(time.monotonic() - t0, 5)
        self.assertEqual(p.proc.returncode, 0)


if __name__ == "__main__":
    unittest.main()
