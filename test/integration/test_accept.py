# SPDX-License-Identifier: MIT
# Deferred accept (a listener's "defer_accept", on by default): the kernel hands a
# connection to ringwall once the client has sent something, or about a second later if
# it sends nothing; "defer_accept": false accepts at once; a reload switches it on a
# listener whose socket stays open.
import json
import os
import socket
import time

import harness as h
from test_ops import AdminSock, metric, parse_metrics, wait_until
from test_reload import scrape


class DeferAcceptTest(h.RwTestCase):
    def setUp(self):
        super().setUp()
        self.o = h.start_origin(self, "A")
        self.tmp = h.TempDir("rw-accept-")
        self.addCleanup(self.tmp.cleanup)
        self.sock = str(self.tmp.path / "admin.sock")
        self.port = h.free_port()
        self.admin_port = h.free_port()

    def config(self, client_header="500ms", **listener):
        lis = h.listener([h.proxy_route("a")], port=self.port, name="web")
        lis.update(listener)
        return {"workers": 1, "listeners": [lis],
                "timeouts": {"client_header": client_header},
                "admin": {"socket": self.sock, "http": "127.0.0.1:%d" % self.admin_port},
                "upstreams": {"a": h.upstream(h.server(self.o, name="a1"))}}

    def start(self, cfg):
        self.p = h.start_proxy(self, cfg)
        self.assertTrue(wait_until(lambda: os.path.exists(self.sock), 5))
        self.settle()

    def settle(self):
        """Wait until every earlier connection (the harness's start-up probe too) is
        counted and gone: the counts hold still across two scrapes and none is open."""
        last = []

        def still():
            now = (self.accepted(), self.active())
            held = last == [now] and now[1] == 0
            last[:] = [now]
            return held
        self.assertTrue(wait_until(still, 5, step=0.2), "connections did not settle")

    def metric(self, name):
        return metric(parse_metrics(scrape(self.admin_port)), name, listener="web") or 0

    def accepted(self):
        return self.metric("ringwall_connections_total")

    def active(self):
        return self.metric("ringwall_connections_active")

    def silent(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        self.addCleanup(s.close)
        return s

    def try_reload(self, cfg):
        """Write cfg and ask for a reload; the admin socket's answer."""
        tmp = str(self.p.cfg_path) + ".tmp"
        with open(tmp, "w") as f:
            json.dump(cfg, f)
        os.replace(tmp, self.p.cfg_path)
        a = AdminSock(self.sock)
        try:
            return a.cmd("reload")
        finally:
            a.close()

    def reload(self, cfg):
        r = self.try_reload(cfg)
        self.assertTrue(r["ok"], r)

    def assert_deferred(self):
        """A connected client that has sent nothing is not ringwall's yet; its request,
        once sent, is accepted and answered."""
        self.settle()
        n = self.accepted()
        s = self.silent()
        # the kernel keeps it until the client sends, or until its SYN-ACK is sent again
        # after 1 s (TCP_TIMEOUT_INIT): never sooner, however slow this machine
        time.sleep(0.5)
        self.assertEqual(self.accepted(), n, "a silent connection was accepted at once")
        self.assertEqual(self.active(), 0)
        s.sendall(h.build_request("GET", "/", headers=[("Connection", "close")]))
        self.assertTrue(wait_until(lambda: self.accepted() == n + 1, 3))
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
        self.assertTrue(data.startswith(b"HTTP/1.1 200 "), data[:80])

    def assert_immediate(self):
        self.settle()
        n = self.accepted()
        self.silent()
        self.assertTrue(wait_until(lambda: self.accepted() == n + 1, 0.5),
                        "a silent connection was not accepted at once")

    def test_default_defers_until_the_client_sends(self):
        self.start(self.config())
        self.assert_deferred()

    def test_deferred_from_the_first_connection(self):
        """The socket defers before it listens: a client connecting as soon as the port
        answers is not ringwall's either (nor counted, nor open) until it sends."""
        self.p = h.start_proxy(self, self.config(client_header="10s"))
        self.silent()
        time.sleep(0.5)
        # the harness's start-up probe (connect, close) has come and gone; the silent
        # client, accepted, would stay open for client_header's 10 s
        self.assertTrue(wait_until(lambda: self.active() == 0, 0.3),
                        "a silent connection made at start-up was accepted at once")

    def test_silent_client_is_handed_over_and_timed_out(self):
        """Deferring never keeps a connection from ringwall for good: a client that sends
        nothing is accepted after about a second and then meets client_header."""
        self.start(self.config())
        n = self.accepted()
        t0 = time.monotonic()
        s = self.silent()
        self.assertTrue(wait_until(lambda: self.accepted() == n + 1, 5),
                        "a silent connection was never handed over")
        self.assertGreater(time.monotonic() - t0, 0.5)
        s.settimeout(5)
        self.assertEqual(s.recv(1), b"", "the silent connection was not closed")
        self.assertLess(time.monotonic() - t0, 5)

    def test_client_closing_without_a_request_is_handed_over_at_once(self):
        """A TCP health probe (connect, then close): its FIN is not a bare ACK, so the
        kernel hands the connection over at once and ringwall closes it."""
        self.start(self.config())
        n = self.accepted()
        s = self.silent()
        s.shutdown(socket.SHUT_WR)
        self.assertTrue(wait_until(lambda: self.accepted() == n + 1, 0.5),
                        "a connection closed by its client was not handed over at once")
        s.settimeout(5)
        self.assertEqual(s.recv(1), b"")

    def test_off_accepts_at_once(self):
        self.start(self.config(defer_accept=False))
        self.assert_immediate()
        # and the request of an ordinary client is served as ever
        self.assertEqual(h.request(self.port).status, 200)

    def test_reload_switches_it_on_the_open_socket(self):
        self.start(self.config(defer_accept=False))
        self.assert_immediate()
        self.reload(self.config())
        self.assert_deferred()
        self.reload(self.config(defer_accept=False))
        self.assert_immediate()

    def test_bad_value_is_refused_and_the_instance_keeps_serving(self):
        self.start(self.config())
        r = self.try_reload(self.config(defer_accept="yes"))
        self.assertFalse(r["ok"], r)
        self.assertIn("$.listeners[0].defer_accept: must be true or false", json.dumps(r))
        self.assert_deferred()
