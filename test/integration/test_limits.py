# SPDX-License-Identifier: MIT
# Configured limits: header count, request line, header block (414/431), max_connections.
import time
import unittest

import harness as h


def head_with(n_fields, host="a", target="/echo", value=b"v"):
    """A GET head with Host plus n_fields - 1 extra fields."""
    extra = b"".join(b"X-F%d: %s\r\n" % (i, value) for i in range(n_fields - 1))
    return b"GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (target.encode(), host.encode(), extra)


class ConfiguredLimitsTest(h.ProxyCase):
    ORIGINS = ("o1",)

    @classmethod
    def config(cls):
        return h.simple_config(cls.origin_list(), limits={"headers": 5, "request_line": "256B",
                                                          "header_block": "1KiB"})

    def expect(self, data, status, what):
        o = self.origins["o1"]
        before = o.stats()["requests"]
        r, closed = self.raw(data, close_wait=0.1 if status == 200 else 3)
        self.assertIsNotNone(r, "%s: closed without a response" % what)
        self.assertEqual(r.status, status, "%s: %r" % (what, r.raw_head))
        if status != 200:
            self.assertTrue(closed, "%s: connection left open after %d" % (what, status))
            self.assertEqual(o.stats()["requests"], before, "%s reached the origin" % what)
        return r

    def test_header_count(self):
        r = self.expect(head_with(5), 200, "5 fields")
        self.assertEqual(r.json()["target"], "/echo")
        self.expect(head_with(6), 431, "6 fields")

    def test_request_line(self):
        ok = "/echo?" + "a" * 200          # request line 4 + 206 + 9 bytes
        r = self.expect(b"GET %s HTTP/1.1\r\nHost: a\r\n\r\n" % ok.encode(), 200, "short line")
        self.assertEqual(r.json()["target"], ok)
        self.expect(b"GET /echo?" + b"a" * 294 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414,
                    "300-byte target")

    def test_header_block(self):
        # 4 fields (within the count limit), about 600 bytes in all: passes
        self.expect(head_with(4, value=b"v" * 150), 200, "600-byte head")
        # 4 fields, about 1.2 KiB: over header_block
        self.expect(head_with(4, value=b"v" * 400), 431, "1.2 KiB head")


class MaxConnectionsTest(h.ProxyCase):
    ORIGINS = ("o1",)
    LIMIT = 5

    @classmethod
    def config(cls):
        return h.simple_config(cls.origin_list(), limits={"max_connections": cls.LIMIT})

    def test_extra_connection_closed(self):
        conns = []
        try:
            for i in range(self.LIMIT):
                c = h.RawConn(self.port)
                conns.append(c)
                # a full exchange makes sure ringwall has accepted and counted it
                c.send(h.build_request("GET", "/echo?c=%d" % i))
                self.assertEqual(c.read_response().status, 200)
            extra = h.RawConn(self.port)
            conns.append(extra)
            try:
                extra.send(h.build_request("GET", "/echo?extra"))
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.assertTrue(extra.is_closed(3), "connection over max_connections not closed")
            self.assertEqual(extra.buf, b"", "connection over the limit was answered")
            # the first five are untouched
            for i, c in enumerate(conns[:self.LIMIT]):
                c.send(h.build_request("GET", "/echo?again=%d" % i))
                r = c.read_response()
                self.assertEqual(r.status, 200)
                self.assertEqual(r.json()["target"], "/echo?again=%d" % i)
            # a slot freed by a client is usable again
            conns[0].close()
            deadline = time.monotonic() + 3
            while True:
                with h.RawConn(self.port) as c:
                    try:
                        c.send(h.build_request("GET", "/"))
                        r = c.read_response()
                        self.assertEqual(r.status, 200)
                        break
                    except (EOFError, ConnectionResetError, BrokenPipeError):
                        if time.monotonic() > deadline:
                            self.fail("freed connection slot never became usable")
                        time.sleep(0.05)
        finally:
            for c in conns:
                c.close()


if __name__ == "__main__":
    unittest.main()
