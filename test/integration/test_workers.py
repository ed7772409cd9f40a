# SPDX-License-Identifier: MIT
# Workers: two workers serve many parallel keep-alive clients.
import threading
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

    def test_workers_zero_means_per_cpu(self):
        p = h.start_proxy(self, h.simple_config(self.origin_list(), workers=0))
        for _ in range(10):
            self.assertEqual(h.request(p.port, "GET", "/").status, 200)


if __name__ == "__main__":
    unittest.main()
