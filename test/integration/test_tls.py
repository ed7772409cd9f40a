# SPDX-License-Identifier: MIT
# HTTPS listeners through the real binary with real clients (Python's ssl, curl):
# SNI and the default certificate, old versions refused, resumption across workers,
# forwarding headers, bodies both ways, keep-alive, a bad certificate at start-up, ALPN,
# OCSP staples, client certificates, TLS to upstreams.
import hashlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import unittest

import harness as h

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "unit", "tls", "data")


def data(name):
    return os.path.abspath(os.path.join(DATA, name))


def tls_listener(routes, **tls):
    lst = h.listener(routes)
    cfg = {"certificates": [
        {"cert": data("ec.pem"), "key": data("ec.key"), "default": True},
        {"cert": data("other.pem"), "key": data("other.key")}]}
    cfg.update(tls)
    lst["tls"] = cfg
    return lst


def client_ctx(**kw):
    ctx = ssl.create_default_context(cafile=data("root.crt"))
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


def https(port, target="/", sni="example.com", ctx=None, method="GET", body=b"",
          session=None, headers=()):
    """One request over a new TLS connection; (status, headers dict, body, ssl socket info)."""
    ctx = ctx or client_ctx()
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    s = ctx.wrap_socket(raw, server_hostname=sni, session=session)
    try:
        req = "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n" % (method, target, sni)
        for k, v in headers:
            req += "%s: %s\r\n" % (k, v)
        if body:
            req += "Content-Length: %d\r\n" % len(body)
        s.sendall(req.encode() + b"\r\n" + body)
        data_ = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ssl.SSLEOFError, ConnectionResetError):
                break
            if not chunk:
                break
            data_ += chunk
        head, _, rest = data_.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        hdrs = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        info = {"cert": s.getpeercert(), "version": s.version(), "session": s.session,
                "reused": s.session_reused}
        return int(lines[0].split()[1]), hdrs, rest, info
    finally:
        s.close()


class TlsListenerTest(h.ProxyCase):
    ORIGINS = ("o1",)

    @classmethod
    def config(cls):
        return {"workers": 2, "listeners": [tls_listener([h.proxy_route("app")])],
                "upstreams": {"app": h.upstream(*cls.origin_list())}}

    def cn(self, info):
        return dict(x[0] for x in info["cert"]["subject"])["commonName"]

    def test_sni_selects_certificate(self):
        st, _, body, info = https(self.port, sni="example.com")
        self.assertEqual(st, 200)
        self.assertEqual(self.cn(info), "example.com")
        st, _, _, info = https(self.port, sni="www.example.com")  # wildcard
        self.assertEqual(self.cn(info), "example.com")
        st, _, _, info = https(self.port, sni="other.test")
        self.assertEqual((st, self.cn(info)), (200, "other.test"))

    def test_default_certificate_without_sni(self):
        ctx = client_ctx(check_hostname=False)
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        s = ctx.wrap_socket(raw)  # no server_hostname: no SNI
        try:
            cert = s.getpeercert()
            self.assertEqual(dict(x[0] for x in cert["subject"])["commonName"], "example.com")
        finally:
            s.close()

    def test_old_versions_refused(self):
        ctx = client_ctx()
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        ctx.set_ciphers("ALL:@SECLEVEL=0")
        with self.assertRaises((ssl.SSLError, ConnectionResetError, OSError)):
            https(self.port, ctx=ctx)

    def test_tls12_and_13(self):
        for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            ctx = client_ctx()
            ctx.minimum_version = ctx.maximum_version = v
            st, _, _, info = https(self.port, ctx=ctx)
            self.assertEqual(st, 200)
            self.assertEqual(info["version"], {ssl.TLSVersion.TLSv1_2: "TLSv1.2",
                                               ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[v])

    def test_forwarding_headers_say_https(self):
        st, _, body, _ = https(self.port, "/echo", headers=[("X-Forwarded-Proto", "http")])
        self.assertEqual(st, 200)
        hdrs = {k.lower(): v for k, v in json.loads(body)["headers"]}
        self.assertEqual(hdrs["x-forwarded-proto"], "https")
        self.assertIn("proto=https", hdrs["forwarded"])

    def test_bodies_both_ways(self):
        payload = os.urandom(300000)
        st, _, body, _ = https(self.port, "/upload", method="POST", body=payload)
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(body)["sha256"], hashlib.sha256(payload).hexdigest())
        n = 3 << 20
        st, hdrs, body, _ = https(self.port, "/size/%d" % n)
        self.assertEqual((st, len(body)), (200, n))
        self.assertEqual(hashlib.sha256(body).hexdigest(), h.origin_mod.pattern_sha256(n))

    def test_keepalive_on_one_tls_connection(self):
        ctx = client_ctx()
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        s = ctx.wrap_socket(raw, server_hostname="example.com")
        f = s.makefile("rb")
        try:
            for i in range(20):
                s.sendall(b"GET /echo?i=%d HTTP/1.1\r\nHost: example.com\r\n\r\n" % i)
                status = f.readline()
                self.assertIn(b" 200 ", status)
                length = 0
                while True:
                    line = f.readline()
                    if line == b"\r\n":
                        break
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = json.loads(f.read(length))
                self.assertEqual(body["target"], "/echo?i=%d" % i)
        finally:
            f.close()
            s.close()

    def test_resumption_across_workers(self):
        ctx = client_ctx()
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2  # Python exposes 1.2 sessions reliably
        _, _, _, first = https(self.port, ctx=ctx)
        resumed = 0
        session = first["session"]
        for _ in range(8):  # new connections land on either of the 2 workers
            _, _, _, info = https(self.port, ctx=ctx, session=session)
            resumed += info["reused"]
        self.assertGreaterEqual(resumed, 6, "tickets are shared by every worker")

    @unittest.skipUnless(shutil.which("curl"), "curl not installed")
    def test_curl(self):
        out = subprocess.run(
            ["curl", "-sS", "--cacert", data("root.crt"), "--resolve",
             "example.com:%d:127.0.0.1" % self.port, "https://example.com:%d/" % self.port,
             "-o", "-", "-w", "\n%{http_code} %{ssl_verify_result}"],
            capture_output=True, text=True, timeout=20)
        self.assertTrue(out.stdout.endswith("200 0"), out.stdout + out.stderr)


class TlsPlainMixTest(h.ProxyCase):
    """A plain and a TLS listener side by side; a plain request to the TLS port fails."""
    ORIGINS = ("o1",)

    @classmethod
    def config(cls):
        return {"workers": 1, "listeners": [tls_listener([h.proxy_route("app")]),
                                            h.listener([h.proxy_route("app")])],
                "upstreams": {"app": h.upstream(*cls.origin_list())}}

    def test_plain_to_tls_port_gets_no_http(self):
        tls_port = h._listener_endpoints(self.proxy.config)[0][1]
        plain_port = h._listener_endpoints(self.proxy.config)[1][1]
        self.assertEqual(h.request(plain_port, "GET", "/").status, 200)
        with socket.create_connection(("127.0.0.1", tls_port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            data_ = b""
            try:
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data_ += chunk
            except (ConnectionResetError, socket.timeout):
                pass
        self.assertNotIn(b"HTTP/1.1 200", data_)
        st, _, _, _ = https(tls_port)
        self.assertEqual(st, 200, "the TLS listener still serves after garbage")


class TlsBadCertTest(h.RwTestCase):
    def test_mismatched_key_is_reported(self):
        lst = h.listener([{"respond": {"status": 200}}])
        lst["tls"] = {"certificates": [{"cert": data("ec.pem"), "key": data("other.key")}]}
        p = h.Proxy({"workers": 1, "listeners": [lst]})
        p.write_config()
        out = subprocess.run([h.binary(), "-c", str(p.cfg_path)], capture_output=True,
                             text=True, timeout=20)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("ec.pem", out.stderr + out.stdout)


if __name__ == "__main__":
    unittest.main()


class TlsHotReloadTest(h.RwTestCase):
    """New certificate files are picked up without a restart while HTTPS traffic runs;
    a broken one is refused and the old one keeps serving."""

    def test_certificate_swap_under_load(self):
        import tempfile
        import threading
        import time
        d = tempfile.mkdtemp(prefix="rw-certs-")
        self.addCleanup(shutil.rmtree, d, True)

        def put(src_cert, src_key):
            for src, dst in ((src_cert, "site.pem"), (src_key, "site.key")):
                tmp = os.path.join(d, dst + ".tmp")
                shutil.copyfile(src, tmp)
                os.replace(tmp, os.path.join(d, dst))

        put(data("ec.pem"), data("ec.key"))
        o = h.start_origin(self, "o1")
        lst = h.listener([h.proxy_route("app")])
        lst["tls"] = {"certificates": [{"cert": os.path.join(d, "site.pem"),
                                        "key": os.path.join(d, "site.key")}]}
        p = h.start_proxy(self, {"workers": 2, "listeners": [lst],
                                 "upstreams": {"app": h.upstream(o)}})
        ctx = client_ctx(check_hostname=False)

        def cn():
            _, _, _, info = https(p.port, ctx=ctx)
            return dict(x[0] for x in info["cert"]["subject"])["commonName"]

        self.assertEqual(cn(), "example.com")
        failures, done = [], [0]
        stop = threading.Event()

        def load():
            while not stop.is_set():
                try:
                    st, _, _, _ = https(p.port, ctx=ctx)
                    if st != 200:
                        failures.append(st)
                except Exception as e:  # noqa: BLE001 - counted
                    failures.append(repr(e))
                done[0] += 1

        threads = [threading.Thread(target=load) for _ in range(3)]
        for t in threads:
            t.start()
        try:
            time.sleep(0.3)
            put(data("other.pem"), data("other.key"))
            deadline = time.monotonic() + 5
            while cn() != "other.test":
                self.assertLess(time.monotonic(), deadline, "new certificate not picked up")
                time.sleep(0.1)
            # a broken certificate: refused, the current one keeps serving
            with open(os.path.join(d, "site.pem.tmp"), "w") as f:
                f.write("-----BEGIN CERTIFICATE-----\nnot a certificate\n"
                        "-----END CERTIFICATE-----\n")
            os.replace(os.path.join(d, "site.pem.tmp"), os.path.join(d, "site.pem"))
            time.sleep(0.8)
            self.assertEqual(cn(), "other.test")
        finally:
            stop.set()
            for t in threads:
                t.join(10)
        self.assertEqual(failures, [], "requests failed during the swap")
        self.assertGreater(done[0], 20)
        log = p.stderr()
        self.assertIn("certificates reloaded", log)
        self.assertIn("site.pem", log)  # the broken file is named
        self.assertIn("old ones keep serving", log)


class TlsClientAuthTest(h.RwTestCase):
    def proxy_with(self, mode):
        o = h.start_origin(self, "o1")
        lst = tls_listener([h.proxy_route("app")], client_auth={
            "ca": data("clientca.crt"), "mode": mode, "header": "x-client-cert-subject"})
        return h.start_proxy(self, {"workers": 1, "listeners": [lst],
                                    "upstreams": {"app": h.upstream(o)}})

    def with_cert(self):
        ctx = client_ctx()
        ctx.load_cert_chain(data("client.pem"), data("client.key"))
        return ctx

    def subject_seen(self, port, ctx, forged=False):
        hdrs = [("X-Client-Cert-Subject", "CN=forged")] if forged else []
        st, _, body, _ = https(port, "/echo", ctx=ctx, headers=hdrs)
        self.assertEqual(st, 200)
        got = [v for k, v in json.loads(body)["headers"] if k.lower() == "x-client-cert-subject"]
        return got

    def test_require(self):
        p = self.proxy_with("require")
        with self.assertRaises((ssl.SSLError, ConnectionResetError, OSError)):
            st, _, _, _ = https(p.port, ctx=client_ctx())
            if st:  # TLS 1.3: the alert can arrive with the first read
                raise ssl.SSLError("handshake should have failed, got %r" % st)
        got = self.subject_seen(p.port, self.with_cert())
        self.assertEqual(len(got), 1)
        self.assertIn("CN=", got[0])

    def test_optional_never_trusts_the_client_header(self):
        p = self.proxy_with("optional")
        self.assertEqual(self.subject_seen(p.port, client_ctx(), forged=True), [])
        got = self.subject_seen(p.port, self.with_cert(), forged=True)
        self.assertEqual(len(got), 1)
        self.assertNotEqual(got[0], "CN=forged")


class TlsAlpnOcspTest(h.RwTestCase):
    """ALPN by server preference, and OCSP staples in TLS 1.2 and 1.3 (openssl s_client)."""

    def test_alpn_server_preference(self):
        o = h.start_origin(self, "o1")
        p = h.start_proxy(self, {"workers": 1, "listeners": [
            tls_listener([h.proxy_route("app")], alpn=["http/1.1", "x-test"])],
            "upstreams": {"app": h.upstream(o)}})
        for offer, want in ((["x-test", "http/1.1"], "http/1.1"), (["x-test"], "x-test"),
                            (["h2"], None), (None, None)):
            for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
                ctx = client_ctx()
                ctx.minimum_version = ctx.maximum_version = v
                if offer:
                    ctx.set_alpn_protocols(offer)
                raw = socket.create_connection(("127.0.0.1", p.port), timeout=10)
                with ctx.wrap_socket(raw, server_hostname="example.com") as s:
                    self.assertEqual(s.selected_alpn_protocol(), want, (offer, v))
        st, _, _, _ = https(p.port, ctx=client_ctx())  # and the listener still serves
        self.assertEqual(st, 200)

    def status(self, port, sni, version):
        r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
                            "-servername", sni, "-status", version, "-CAfile", data("root.crt")],
                           input=b"", capture_output=True, timeout=20)
        return r.stdout.decode("latin-1")

    def test_ocsp_staple(self):
        if not shutil.which("openssl"):
            self.skipTest("no openssl command")
        o = h.start_origin(self, "o1")
        # The listener-wide staple answers for ec.pem only: other.pem staples nothing.
        p = h.start_proxy(self, {"workers": 1, "listeners": [
            tls_listener([h.proxy_route("app")], ocsp_staple=data("ec.ocsp.der"))],
            "upstreams": {"app": h.upstream(o)}})
        for version in ("-tls1_2", "-tls1_3"):
            for _ in range(2):  # the second one is answered from wolfSSL's cache
                out = self.status(p.port, "example.com", version)
                self.assertIn("OCSP Response Status: successful", out, version)
                self.assertIn("Cert Status: good", out, version)
                self.assertIn("Verify return code: 0 (ok)", out, version)
            out = self.status(p.port, "other.test", version)
            self.assertIn("OCSP response: no response sent", out, version)


class UpstreamTlsTest(h.RwTestCase):
    """ringwall A -> TLS -> ringwall B (HTTPS listener) -> plain origin."""

    def chain(self, ca, sni="example.com"):
        o = h.start_origin(self, "o1")
        b = h.start_proxy(self, {"workers": 1, "listeners": [tls_listener([h.proxy_route("app")])],
                                 "upstreams": {"app": h.upstream(o)}})
        up = h.upstream("127.0.0.1:%d" % b.port, tls={"ca": ca, "sni": sni},
                        timeouts={"connect": "2s"})
        a = h.start_proxy(self, {"workers": 2, "listeners": [h.listener([h.proxy_route("app")])],
                                 "upstreams": {"app": up}})
        return a, b, o

    def test_verified_tls_to_upstream(self):
        a, b, o = self.chain(data("root.crt"))
        for i in range(30):
            r = h.request(a.port, "GET", "/echo?i=%d" % i)
            self.assertEqual(r.status, 200, r)
            doc = r.json()
            self.assertEqual(doc["target"], "/echo?i=%d" % i)
            hdrs = {k.lower(): v for k, v in doc["headers"]}
            self.assertEqual(hdrs["x-forwarded-proto"], "https")  # set by B, the TLS hop
        payload = os.urandom(200000)
        r = h.request(a.port, "POST", "/upload", body=payload)
        self.assertEqual(r.json()["sha256"], hashlib.sha256(payload).hexdigest())
        r = h.request(a.port, "GET", "/size/%d" % (2 << 20))
        self.assertEqual(len(r.body), 2 << 20)
        # keep-alive to the TLS upstream: far fewer connections than requests
        self.assertLess(o.stats()["connections"], 10)

    def test_wrong_ca_gives_502_and_is_logged(self):
        a, _, _ = self.chain(data("clientca.crt"))
        r = h.request(a.port, "GET", "/")
        self.assertEqual(r.status, 502)
        self.assertNotIn(b"127.0.0.1", r.raw_head + r.body)
        self.assertIn("tls handshake", a.stderr())


class UpstreamTlsResumeTest(h.RwTestCase):
    """New TLS connections to an upstream resume the last session instead of a full
    handshake; the HTTPS listener counts handshakes by result in /metrics."""

    def test_resumption_to_upstream(self):
        o = h.start_origin(self, "o1")
        mport = h.free_port()
        b_lst = tls_listener([h.proxy_route("app")])
        b_lst["name"] = "tls"
        b = h.start_proxy(self, {"workers": 1, "listeners": [b_lst],
                                 "admin": {"http": "127.0.0.1:%d" % mport},
                                 "upstreams": {"app": h.upstream(o)}})
        up = h.upstream("127.0.0.1:%d" % b.port, tls={"ca": data("root.crt"),
                                                     "sni": "example.com"},
                        keepalive={"max_idle": 0})  # a new TLS connection per request
        a = h.start_proxy(self, {"workers": 1, "listeners": [h.listener([h.proxy_route("app")])],
                                 "upstreams": {"app": up}})
        for i in range(10):
            self.assertEqual(h.request(a.port, "GET", "/?i=%d" % i).status, 200)
        import urllib.request
        text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport, timeout=5).read()
        counts = {}
        for line in text.decode().splitlines():
            if line.startswith("ringwall_tls_handshakes_total{"):
                result = line.split('result="', 1)[1].split('"', 1)[0]
                counts[result] = float(line.rsplit(" ", 1)[1])
        self.assertGreaterEqual(counts.get("full", 0), 1, counts)
        self.assertGreaterEqual(counts.get("resumed", 0), 5, counts)
        print(" [upstream handshakes %s]" % counts, end="", flush=True)
