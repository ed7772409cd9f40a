# SPDX-License-Identifier: MIT
# Command line: --version, --help, -t on good and bad configs, start-up log, SIGTERM.
import json
import os
import subprocess
import tempfile
import unittest

import harness as h


def run(*args, timeout=20):
    return subprocess.run([h.binary()] + list(args), capture_output=True, timeout=timeout,
                          text=True)


@unittest.skipIf(h.standin(), "ringwall CLI only")
class CliTest(h.RwTestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(h.binary()):
            raise unittest.SkipTest("binary not found: %s" % h.binary())

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="rw-cli-")
        self.addCleanup(self.tmp.cleanup)

    def write(self, name, text):
        p = os.path.join(self.tmp.name, name)
        with open(p, "w") as f:
            f.write(text)
        return p

    def good_config(self):
        return {"workers": 1,
                "listeners": [{"name": "web", "address": "127.0.0.1:%d" % h.free_port(),
                               "routes": [{"match": {"path_prefix": "/"}, "upstream": "app"}]}],
                "upstreams": {"app": {"servers": [{"address": "127.0.0.1:9"}]}}}

    def test_version(self):
        r = run("--version")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout.strip(), r"^ringwall \S+$")

    def test_help(self):
        r = run("--help")
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout + r.stderr
        self.assertIn("-c", out)
        self.assertIn("-t", out)

    def test_unknown_option_fails(self):
        r = run("--no-such-option")
        self.assertNotEqual(r.returncode, 0)
        self.assertTrue(r.stderr.strip())

    def test_check_valid(self):
        p = self.write("good.json", json.dumps(self.good_config()))
        r = run("-t", "-c", p)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stdout)
        self.assertIn("OK", lines[0])

    def test_check_valid_issue_example(self):
        """The example from the issue (addresses moved to free loopback ports) is valid."""
        cfg = {
            "workers": 0, "io_backend": "auto",
            "limits": {"max_connections": 100000, "request_line": "8KiB", "header_block": "16KiB",
                       "headers": 100, "body": "0"},
            "server_header": "ringwall",
            "timeouts": {"client_header": "10s", "client_body": "60s", "client_idle": "75s"},
            "listeners": [{"name": "web", "address": "127.0.0.1:%d" % h.free_port(), "routes": [
                {"match": {"host": ["api.example.com"], "path_prefix": "/v1/",
                           "methods": ["GET", "POST"], "headers": {"x-canary": "1"}},
                 "upstream": "api", "strip_prefix": "/v1",
                 "request_headers": {"set": {"x-env": "prod"}, "remove": ["x-debug"]},
                 "response_headers": {"add": {"x-served-by": "ringwall"}}},
                {"match": {"path": "/healthz"}, "respond": {"status": 200, "body": "ok\n"}},
                {"match": {"path_regex": "^/old/(.*)$"},
                 "redirect": {"status": 301, "host": "www.example.com"}},
                {"match": {"path_prefix": "/"}, "upstream": "web"}]}],
            "upstreams": {
                "api": {"balance": "round_robin",
                        "servers": [{"name": "api-1", "address": "127.0.0.1:9001", "weight": 3},
                                    {"address": "[::1]:9002"}],
                        "timeouts": {"connect": "3s", "response": "60s", "read": "60s"},
                        "keepalive": {"max_idle": 64, "idle_timeout": "60s"}},
                "web": {"servers": [{"address": "127.0.0.1:9003"}]}}}
        p = self.write("issue.json", json.dumps(cfg))
        r = run("-t", "-c", p)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("OK", r.stdout)

    def test_examples_valid(self):
        d = os.path.join(h.REPO, "examples")
        files = sorted(f for f in os.listdir(d) if f.endswith(".json")) if os.path.isdir(d) else []
        if "quickstart.json" not in files:
            self.fail("examples/quickstart.json is missing")
        for f in files:
            with self.subTest(f):
                r = run("-t", "-c", os.path.join(d, f))
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("OK", r.stdout)

    def test_check_reports_every_error(self):
        cfg = self.good_config()
        cfg["workers"] = "many"
        cfg["timeouts"] = {"client_header": "10 parsecs"}
        cfg["listeners"][0]["routes"][0]["upstream"] = "missing"
        cfg["listeners"][0]["bogus"] = True
        cfg["upstreams"]["app"]["servers"].append({"address": "127.0.0.1:9", "weight": "x"})
        p = self.write("bad.json", json.dumps(cfg, indent=1))
        r = run("-t", "-c", p)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        err = r.stderr
        for path in ("$.workers", "$.timeouts.client_header", "$.listeners[0].routes[0].upstream",
                     "$.listeners[0].bogus", "$.upstreams.app.servers[1].weight"):
            self.assertIn(path, err)
        # one error per line, "<file>: $.path: message"
        lines = [ln for ln in err.splitlines() if "$." in ln]
        self.assertGreaterEqual(len(lines), 5, err)
        for ln in lines:
            self.assertRegex(ln, r"bad\.json: \$[.\[][^:]*: \S")
        self.assertNotIn("OK", r.stdout)

    def test_unknown_key_names_the_key(self):
        cfg = self.good_config()
        cfg["upstreams"]["app"]["servers"][0]["wieght"] = 2
        p = self.write("typo.json", json.dumps(cfg))
        r = run("-t", "-c", p)
        self.assertEqual(r.returncode, 2)
        self.assertIn("$.upstreams.app.servers[0].wieght", r.stderr)

    def test_json_syntax_error_line_col(self):
        text = '{\n  "workers": 1,\n  "listeners": [ , ]\n}\n'
        p = self.write("syntax.json", text)
        r = run("-t", "-c", p)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("syntax.json", r.stderr)
        # line 3, some column: accept "line 3 column N", "line 3, column N" or "3:N"
        self.assertRegex(r.stderr, r"(line 3\D{1,10}\d+)|(:3:\d+)", r.stderr)

    def test_missing_file(self):
        r = run("-t", "-c", os.path.join(self.tmp.name, "nope.json"))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("nope.json", r.stderr)

    def test_startup_log_and_sigterm(self):
        """Start-up logs the io backend; SIGTERM stops the process cleanly."""
        backend = h.io_backend()
        cfg = {"workers": 2, "listeners": [h.listener([{"match": {"path": "/"},
                                                           "respond": {"status": 200}}])]}
        p = h.Proxy(cfg).start()
        try:
            r = h.request(p.port, "GET", "/")
            self.assertEqual(r.status, 200)
        finally:
            problem = p.stop()
        self.assertIsNone(problem)
        if backend in ("io_uring", "epoll"):
            self.assertIn("io backend: " + backend, p.final_stderr)
        else:
            self.assertRegex(p.final_stderr, r"io backend: (io_uring|epoll)")


if __name__ == "__main__":
    unittest.main()
