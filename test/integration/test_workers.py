# SPDX-License-Identifier: MIT
# Workers: two workers serve many parallel keep-alive clients, also under a mixed
# GET/download/upload load.
import hashlib
import random
import threading
import time
import unittest

import harness as h


class WorkersTest(h.ProxyCase):
    ORIGINS = ("o1", "o2")

    @classmethod
    def config(cls):
        return h.simple_config(cls.origin_list(), workers=2)

    def test_parallel_clients(self):
        errors = []
        counts = {"o1": 0, "o2": 0}
        lock = threading.Lock()

        def client(k):
            try:
                with h.RawConn(self.port, timeout=15) as c:
                    for i in range(10):
                        c.send(h.build_request("GET", "/echo?c=%d&i=%d" % (k, i)))
                        r = c.read_response()
                        if r.status != 200 or r.json()["target"] != "/echo?c=%d&i=%d" % (k, i):
                            errors.append("client %d req %d: %r" % (k, i, r))
                            return
                        with lock:
                            counts[r.json()["origin"]] += 1
            except Exception as e:  # noqa: BLE001 - report every failure
                errors.append("client %d: %r" % (k, e))

        threads = [threading.Thread(target=client, args=(k,)) for k in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(errors, [])
        self.assertEqual(sum(counts.values()), 400)
        self.assertGreater(counts["o1"], 0)
        self.assertGreater(counts["o2"], 0)

    def test_mixed_stress(self):
        """40 keep-alive clients x 50 requests: GET /, GET /size/<up to 200 KiB>, POST
        /upload with random bodies (Content-Length and multi-chunk chunked); every status
        and body checked. Seeds are in the failure messages."""
        nclients, nreq, max_size = 40, 50, 200 << 10
        expected = b"".join(h.pattern_bytes(o, 65536) for o in range(0, max_size, 65536))
        errors = []
        done = [0]
        lock = threading.Lock()

        def one(c, rng, what):
            kind = rng.randrange(4)
            if kind == 0:
                c.send(h.build_request("GET", "/"))
                r = c.read_response()
                ok = r.status == 200 and r.body in (b"hello from o1\n", b"hello from o2\n")
            elif kind == 1:
                n = rng.randrange(max_size + 1)
                c.send(h.build_request("GET", "/size/%d" % n))
                r = c.read_response()
                ok = r.status == 200 and r.complete and r.body == expected[:n]
            else:
                body = rng.randbytes(rng.randrange(64 << 10))
                if kind == 2:
                    c.send(h.build_request("POST", "/upload", body=body))
                else:
                    cuts = sorted(rng.sample(range(len(body) + 1), min(3, len(body) + 1)))
                    parts = [body[a:b] for a, b in zip([0] + cuts, cuts + [len(body)]) if b > a]
                    c.send(b"POST /upload HTTP/1.1\r\nHost: s\r\nTransfer-Encoding: chunked"
                           b"\r\n\r\n" + b"".join(b"%x\r\n%s\r\n" % (len(x), x) for x in parts)
                           + b"0\r\n\r\n")
                r = c.read_response()
                ok = (r.status == 200 and r.json()["len"] == len(body)
                      and r.json()["sha256"] == hashlib.sha256(body).hexdigest())
            if not ok:
                raise AssertionError("%s kind %d: %r" % (what, kind, r))

        def client(k):
            seed = 1000 + k
            rng = random.Random(seed)
            try:
                with h.RawConn(self.port, timeout=20) as c:
                    for i in range(nreq):
                        one(c, rng, "client %d (seed %d) request %d" % (k, seed, i))
                        with lock:
                            done[0] += 1
            except Exception as e:  # noqa: BLE001 - report every failure
                errors.append("client %d (seed %d): %r" % (k, seed, e))

        t0 = time.monotonic()
        threads = [threading.Thread(target=client, args=(k,)) for k in range(nclients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(1, 90 - (time.monotonic() - t0)))
        self.assertFalse(any(t.is_alive() for t in threads), "clients still running after 90 s")
        self.assertEqual(errors, [])
        self.assertEqual(done[0], nclients * nreq)
        print(" [%d requests in %.1fs]" % (done[0], time.monotonic() - t0), end="", flush=True)

    def test_workers_zero_means_per_cpu(self):
        p = h.start_proxy(self, h.simple_config(self.origin_list(), workers=0))
        for _ in range(10):
            self.assertEqual(h.request(p.port, "GET", "/").status, 200)


if __name__ == "__main__":
    unittest.main()
