# SPDX-License-Identifier: MIT
# Graceful shutdown: SIGTERM lets the request in flight finish, refuses new connections,
# closes idle keep-alive clients and exits 0.
import signal
import socket
import threading
import time
import unittest

import harness as h


@unittest.skipIf(h.standin(), "ringwall signals only")
class GracefulShutdownTest(h.RwTestCase):
    def test_sigterm_drains_in_flight_request(self):
        if not h.os.path.exists(h.binary()):
            self.skipTest("binary not found: %s" % h.binary())
        o = h.start_origin(self, "o1")
        p = h.start_proxy(self, h.simple_config([o], workers=2))
        self.assertEqual(h.request(p.port, "GET", "/").status, 200)
        idle = h.RawConn(p.port)             # an idle keep-alive client across the signal
        self.addCleanup(idle.close)
        idle.send(h.build_request("GET", "/"))
        self.assertEqual(idle.read_response().status, 200)
        o.reset()

        result = {}

        def in_flight():
            try:
                with h.RawConn(p.port, timeout=10) as c:
                    c.send(h.build_request("GET", "/slow-head/1500"))
                    result["r"] = c.read_response()
            except Exception as e:  # noqa: BLE001 - reported below
                result["err"] = e

        t = threading.Thread(target=in_flight)
        t.start()
        # SIGTERM once the origin has the request (it counts it before sleeping)
        deadline = time.monotonic() + 5
        while o.stats()["requests"] < 1:
            self.assertLess(time.monotonic(), deadline, "request never reached the origin")
            time.sleep(0.01)
        p.proc.send_signal(signal.SIGTERM)
        t_sig = time.monotonic()

        # new connections are refused once the listeners are closed
        refused = False
        while time.monotonic() < t_sig + 1.0:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(1)
            try:
                s.connect((p.host, p.port))
            except (ConnectionRefusedError, ConnectionResetError):
                # refused, or reset when it landed in the backlog as the listener closed
                refused = True
                break
            finally:
                s.close()
            time.sleep(0.02)
        self.assertTrue(refused, "new connections still accepted 1 s after SIGTERM")

        t.join(10)
        self.assertFalse(t.is_alive())
        self.assertNotIn("err", result, "in-flight request failed: %r" % result.get("err"))
        r = result["r"]
        self.assertEqual(r.status, 200)
        self.assertTrue(r.complete)
        self.assertEqual(r.body, b"slow head\n")
        # the idle keep-alive connection is closed, not kept until the drain time runs out
        self.assertTrue(idle.is_closed(5), "idle keep-alive connection kept open after SIGTERM")
        self.assertEqual(idle.buf, b"")
        try:
            rc = p.proc.wait(5)
        except h.subprocess.TimeoutExpired:
            self.fail("ringwall still running 5 s after its last request finished (SIGTERM)")
        self.assertEqual(rc, 0, "exit status after SIGTERM")


if __name__ == "__main__":
    unittest.main()
