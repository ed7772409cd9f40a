# SPDX-License-Identifier: MIT
# HTTPS listeners through the real binary with real clients (Python's ssl, curl, openssl
# s_client): SNI and the default certificate, old versions refused, ALPN, OCSP stapling,
# resumption across workers and across a certificate reload, forwarding headers, bodies both
# ways, keep-alive, a bad certificate at start-up, client certificates on routes (403, routing
# by subject / SAN / fingerprint, access-log fields; the identity kept by resumed sessions),
# TLS to upstreams.
import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest
import urllib.request

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
                "reused": s.session_reused, "alpn": s.selected_alpn_protocol()}
        return int(lines[0].split()[1]), hdrs, rest, info
    finally:
        s.close()


def version_ctx(v, **kw):
    """A client context for exactly TLS version v."""
    ctx = client_ctx(**kw)
    ctx.minimum_version = ctx.maximum_version = v
    return ctx


def s_client(port, *args, sni="example.com", request=None, timeout=15):
    """openssl s_client against port; stdout text. With request (bytes), -quiet and the
    response follows; without, the handshake report (-status, ALPN...)."""
    cmd = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-servername", sni,
           "-CAfile", data("root.crt"), "-verify_return_error"] + list(args)
    if request is not None:
        cmd.append("-quiet")
    out = subprocess.run(cmd, input=request or b"", capture_output=True, timeout=timeout)
    return out.stdout.decode("latin-1") + out.stderr.decode("latin-1")


def curl_https(port, target="/", *args, sni="example.com"):
    """curl over HTTPS; (returncode, stdout ending in "\n<status> <http version>", stderr)."""
    out = subprocess.run(
        ["curl", "-sS", "--max-time", "20", "--cacert", data("root.crt"), "--resolve",
         "%s:%d:127.0.0.1" % (sni, port), "https://%s:%d%s" % (sni, port, target),
         "-o", "-", "-w", "\n%{http_code} %{http_version}"] + list(args),
        capture_output=True, text=True, timeout=30)
    return out.returncode, out.stdout, out.stderr


def metric_counts(admin_port, name="ringwall_tls_handshakes_total", label="result"):
    """{label value: count} of one metric family from the HTTP admin listener."""
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % admin_port, timeout=5).read()
    counts = {}
    for line in text.decode().splitlines():
        if line.startswith(name + "{"):
            key = line.split(label + '="', 1)[1].split('"', 1)[0]
            counts[key] = counts.get(key, 0) + float(line.rsplit(" ", 1)[1])
    return counts


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

    def test_no_alpn_configured(self):
        """Without "alpn" the listener ignores what clients offer and serves HTTP/1.1."""
        ctx = client_ctx()
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        st, _, _, info = https(self.port, ctx=ctx)
        self.assertEqual((st, info["alpn"]), (200, None))

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



class TlsHotReloadTest(h.RwTestCase):
    """New certificate files are picked up without a restart while HTTPS traffic runs;
    a broken one is refused and the old one keeps serving."""

    def test_certificate_swap_under_load(self):
        import threading
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
        log = p.wait_log("certificates reloaded", "site.pem", "old ones keep serving")
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

    def test_require_resumed_session_keeps_subject(self):
        """require mode: a resumed session (TLS 1.2 and 1.3) asks for no certificate (its
        ticket carries the identity), and the subject still goes upstream."""
        p = self.proxy_with("require")
        for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            ctx = self.with_cert()
            ctx.minimum_version = ctx.maximum_version = v
            _, _, _, first = https(p.port, "/echo", ctx=ctx)
            self.assertFalse(first["reused"])
            st, _, body, info = https(p.port, "/echo", ctx=ctx, session=first["session"],
                                      headers=[("X-Client-Cert-Subject", "CN=forged")])
            self.assertEqual((st, info["reused"]), (200, True), v)
            got = [x for k, x in json.loads(body)["headers"]
                   if k.lower() == "x-client-cert-subject"]
            self.assertEqual(got, [ALICE_SUBJECT], v)

    def test_optional_never_trusts_the_client_header(self):
        p = self.proxy_with("optional")
        self.assertEqual(self.subject_seen(p.port, client_ctx(), forged=True), [])
        got = self.subject_seen(p.port, self.with_cert(), forged=True)
        self.assertEqual(len(got), 1)
        self.assertNotEqual(got[0], "CN=forged")


class TlsAlpnOcspServerTest(h.RwTestCase):
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

    def test_bad_body_read_before_the_handshake_ends(self):
        """A chunked body already read when a new TLS connection to the server becomes
        ready is framed then: a bad chunk fails the exchange with 400 right there."""
        a, _, _ = self.chain(data("root.crt"))
        r, closed = h.raw_exchange(a.port, b"POST /upload HTTP/1.1\r\nHost: x\r\n"
                                           b"Transfer-Encoding: chunked\r\n\r\nzz\r\n")
        self.assertIsNotNone(r)
        self.assertEqual(r.status, 400)
        self.assertTrue(closed)
        self.assertEqual(h.request(a.port, "GET", "/").status, 200)  # still serving

    def test_wrong_ca_gives_502_and_is_logged(self):
        a, _, _ = self.chain(data("clientca.crt"))
        r = h.request(a.port, "GET", "/")
        self.assertEqual(r.status, 502)
        self.assertNotIn(b"127.0.0.1", r.raw_head + r.body)
        self.assertIn("tls handshake", a.wait_log("tls handshake"))


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
        counts = metric_counts(mport)
        self.assertGreaterEqual(counts.get("full", 0), 1, counts)
        self.assertGreaterEqual(counts.get("resumed", 0), 5, counts)
        versions = metric_counts(mport, "ringwall_tls_versions_total", "version")
        self.assertEqual(versions.get("TLSv1.3", 0) + versions.get("TLSv1.2", 0),
                         counts.get("full", 0) + counts.get("resumed", 0), versions)
        print(" [upstream handshakes %s]" % counts, end="", flush=True)


class TlsAlpnOcspTest(h.ProxyCase):
    """ALPN and OCSP stapling as real clients see them: "alpn": ["http/1.1"], and a staple on
    the ECDSA certificate only (other.test has none)."""
    ORIGINS = ()

    @classmethod
    def config(cls):
        lst = h.listener([{"respond": {"status": 200, "body": "ok\n"}}])
        lst["tls"] = {"alpn": ["http/1.1"], "certificates": [
            {"cert": data("ec.pem"), "key": data("ec.key"), "ocsp_staple": data("ec.ocsp.der"),
             "default": True},
            {"cert": data("other.pem"), "key": data("other.key")}]}
        return {"workers": 1, "listeners": [lst]}

    def test_alpn_http11(self):
        for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            for offer in (["http/1.1"], ["h2", "http/1.1"]):
                ctx = version_ctx(v)
                ctx.set_alpn_protocols(offer)
                st, _, body, info = https(self.port, ctx=ctx)
                self.assertEqual((st, body, info["alpn"]), (200, b"ok\n", "http/1.1"), (v, offer))

    def test_alpn_h2_only_continues_without_alpn(self):
        """A client offering only h2 gets no ALPN and a working HTTP/1.1 connection (what
        nginx and HAProxy do; wolfSSL's select callback answers NOACK, not an alert)."""
        for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            ctx = version_ctx(v)
            ctx.set_alpn_protocols(["h2"])
            st, _, body, info = https(self.port, ctx=ctx)
            self.assertEqual((st, body, info["alpn"]), (200, b"ok\n", None), v)

    @unittest.skipUnless(shutil.which("openssl"), "openssl not installed")
    def test_alpn_with_s_client(self):
        self.assertIn("ALPN protocol: http/1.1", s_client(self.port, "-alpn", "h2,http/1.1"))
        out = s_client(self.port, "-alpn", "h2")
        self.assertIn("No ALPN negotiated", out)
        self.assertIn("Verify return code: 0 (ok)", out)

    @unittest.skipUnless(shutil.which("curl"), "curl not installed")
    def test_alpn_with_curl_http2(self):
        rc, out, err = curl_https(self.port, "/", "--http2")
        self.assertEqual(rc, 0, err)
        self.assertTrue(out.endswith("ok\n\n200 1.1"), out)

    @unittest.skipUnless(shutil.which("openssl"), "openssl not installed")
    def test_ocsp_staple_seen_by_s_client(self):
        for v in ("-tls1_2", "-tls1_3"):
            out = s_client(self.port, "-status", v)
            self.assertIn("OCSP Response Status: successful", out, v)
            self.assertIn("Cert Status: good", out, v)
            self.assertIn("Verify return code: 0 (ok)", out, v)
            out = s_client(self.port, "-status", v, sni="other.test")
            self.assertIn("OCSP response: no response sent", out, v)

    @unittest.skipUnless(shutil.which("curl"), "curl not installed")
    def test_ocsp_staple_verified_by_curl(self):
        """curl --cert-status verifies the stapled response against the chain."""
        rc, out, err = curl_https(self.port, "/", "--cert-status")
        self.assertEqual(rc, 0, err)
        self.assertTrue(out.endswith("200 1.1"), out)
        rc, _, err = curl_https(self.port, "/", "--cert-status", sni="other.test")
        self.assertNotEqual(rc, 0)
        self.assertIn("OCSP", err)


class TlsResumptionTest(h.RwTestCase):
    """Sessions resume on any worker and across a certificate reload (SIGHUP), for TLS 1.3
    and TLS 1.2 (tickets sealed with ringwall's keys, shared by every worker and context).
    ringwall_tls_handshakes_total{result="resumed"} agrees with the clients' resumed flag."""

    VERSIONS = (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2)

    def start(self, workers=2):
        o = h.start_origin(self, "o1")
        mport = h.free_port()
        p = h.start_proxy(self, {"workers": workers,
                                 "listeners": [tls_listener([h.proxy_route("app")])],
                                 "admin": {"http": "127.0.0.1:%d" % mport},
                                 "upstreams": {"app": h.upstream(o)}})
        return p, mport

    def resume_all(self, port, ctx, session, n):
        v = ctx.maximum_version
        reused = []
        for _ in range(n):
            st, _, _, info = https(port, ctx=ctx, session=session)
            self.assertEqual(st, 200)
            self.assertEqual(info["version"], {ssl.TLSVersion.TLSv1_2: "TLSv1.2",
                                               ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[v])
            reused.append(info["reused"])
        return reused

    def test_resumption_across_workers(self):
        """16 new connections reuse one session: each lands on either worker (SO_REUSEPORT
        spreads them; all 16 on the worker that made the session has odds 2^-16), and
        every one resumes."""
        p, mport = self.start(workers=2)
        for v in self.VERSIONS:
            ctx = version_ctx(v)  # Python resumes a session only with the context that made it
            _, _, _, first = https(p.port, ctx=ctx)
            self.assertFalse(first["reused"])
            before = metric_counts(mport).get("resumed", 0)
            self.assertEqual(self.resume_all(p.port, ctx, first["session"], 16), [True] * 16, v)
            self.assertEqual(metric_counts(mport).get("resumed", 0) - before, 16, v)

    def test_resumption_across_certificate_reload(self):
        """SIGHUP reloads the configuration, which re-reads every certificate into new
        contexts; sessions made before resume after (the ticket keys outlive them)."""
        p, mport = self.start(workers=2)
        sessions = {}
        for v in self.VERSIONS:
            ctx = version_ctx(v)
            _, _, _, first = https(p.port, ctx=ctx)
            self.assertFalse(first["reused"])
            sessions[v] = (ctx, first["session"])
        os.kill(p.pid, signal.SIGHUP)
        deadline = time.monotonic() + 5
        while "generation 2 serving" not in p.stderr():
            self.assertLess(time.monotonic(), deadline, "SIGHUP did not reload:\n" + p.stderr())
            time.sleep(0.05)
        for v in self.VERSIONS:
            self.assertEqual(self.resume_all(p.port, *sessions[v], 6), [True] * 6, v)
        self.assertEqual(metric_counts(mport).get("full", 0), 2)


class ClientPki:
    """A client CA and certificates it signs, made with the openssl CLI in a temp dir.

    alice: O=Ringwall, Test; DNS:alice.client, email:alice@example.com
    bob:   URI:spiffe://ringwall.test/bob, IP:10.9.8.7
    carol: DNS:carol.client
    dave:  DNS:dave.client"""

    PEOPLE = {
        "alice": ("/C=US/O=Ringwall, Test/CN=alice", "DNS:alice.client,email:alice@example.com"),
        "bob": ("/O=Ringwall Test/CN=bob", "URI:spiffe://ringwall.test/bob,IP:10.9.8.7"),
        "carol": ("/O=Ringwall Test/CN=carol", "DNS:carol.client"),
        "dave": ("/CN=dave", "DNS:dave.client"),
    }

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="rw-client-pki-")
        self.ca = self.path("ca.crt")
        self.openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                     "-out", self.path("ca.key"))
        self.openssl("req", "-x509", "-new", "-key", self.path("ca.key"), "-subj",
                     "/CN=ringwall test client CA", "-days", "3650", "-addext",
                     "basicConstraints=critical,CA:TRUE", "-addext",
                     "keyUsage=critical,keyCertSign", "-out", self.ca)
        for i, (name, (subj, san)) in enumerate(sorted(self.PEOPLE.items())):
            key, csr, ext = self.path(name + ".key"), self.path(name + ".csr"), self.path("ext")
            self.openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                         "-out", key)
            self.openssl("req", "-new", "-key", key, "-subj", subj, "-out", csr)
            with open(ext, "w") as f:
                f.write("basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n"
                        "subjectAltName=%s\n" % san)
            self.openssl("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey",
                         self.path("ca.key"), "-set_serial", str(1000 + i), "-days", "3650",
                         "-extfile", ext, "-out", self.cert(name))

    def path(self, name):
        return os.path.join(self.dir, name)

    def cert(self, name):
        return self.path(name + ".crt")

    def key(self, name):
        return self.path(name + ".key")

    def sha256(self, name):
        with open(self.cert(name)) as f:
            return hashlib.sha256(ssl.PEM_cert_to_DER_cert(f.read())).hexdigest()

    def ctx(self, name=None):
        """A client context presenting name's certificate (None: no certificate)."""
        ctx = client_ctx()
        if name:
            ctx.load_cert_chain(self.cert(name), self.key(name))
        return ctx

    @staticmethod
    def openssl(*args):
        subprocess.run(["openssl"] + list(args), check=True, capture_output=True, timeout=30)

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


ALICE_SUBJECT = "CN=alice,O=Ringwall\\, Test,C=US"  # RFC 4514: last RDN first, ',' escaped


@unittest.skipUnless(shutil.which("openssl"), "openssl not installed")
class TlsClientCertRoutesTest(h.ProxyCase):
    """client_auth "optional": routes that require a verified certificate (403 made by
    ringwall otherwise), routing by subject / SAN / SHA-256 fingerprint, and the access-log
    fields of the verified certificate."""
    ORIGINS = ("o1",)

    @classmethod
    def setUpClass(cls):
        cls.pki = ClientPki()
        cls.logdir = h.TempDir("rw-tls-log-")
        cls.log = cls.logdir.path / "access.log"
        try:
            super().setUpClass()
        except Exception:
            cls.pki.cleanup()
            cls.logdir.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.pki.cleanup()
            cls.logdir.cleanup()

    @classmethod
    def config(cls):
        bob_fp = cls.pki.sha256("bob").upper()
        routes = [
            {"match": {"path": "/id", "client_cert": {"san": "DNS:Alice.Client"}},
             "respond": {"body": "alice by SAN\n"}},
            {"match": {"path": "/id", "client_cert": {
                "sha256": ":".join(bob_fp[i:i + 2] for i in range(0, 64, 2))}},
             "respond": {"body": "bob by fingerprint\n"}},
            {"match": {"path": "/id", "client_cert": {"subject": "CN=carol,O=Ringwall Test"}},
             "respond": {"body": "carol by subject\n"}},
            {"match": {"path": "/id", "client_cert": {"san": ["IP:10.9.8.7", "DNS:dave.client"]}},
             "respond": {"body": "dave by SAN\n"}},
            {"match": {"path": "/id", "client_cert": {}}, "respond": {"body": "verified\n"}},
            {"match": {"path": "/id"}, "respond": {"body": "anonymous\n"}},
            {"match": {"path_prefix": "/private/"}, "client_cert": "required", "upstream": "app",
             "strip_prefix": "/private"},
            h.proxy_route("app"),
        ]
        lst = tls_listener(routes, client_auth={"ca": cls.pki.ca, "mode": "optional",
                                                "header": "x-client-cert-subject"})
        lst["name"] = "tls"
        return {"workers": 2, "listeners": [lst], "access_log": {"path": str(cls.log)},
                "upstreams": {"app": h.upstream(*cls.origin_list())}}

    def get(self, target, who=None, ctx=None, **kw):
        st, hdrs, body, info = https(self.port, target, ctx=ctx or self.pki.ctx(who), **kw)
        return st, body, info

    def origin_requests(self):
        return self.origins["o1"].stats()["requests"]

    def test_required_route_403_without_verified_cert(self):
        before = self.origin_requests()
        untrusted = client_ctx()
        untrusted.load_cert_chain(data("selfclient.pem"), data("selfclient.key"))
        for ctx in (client_ctx(), untrusted):  # none, and one the client CA did not sign
            st, body, _ = self.get("/private/x", ctx=ctx)
            self.assertEqual(st, 403)
            self.assertIn(b"403 Forbidden", body)
            st, body, _ = self.get("/private/upload", ctx=ctx, method="POST", body=b"x" * 5000)
            self.assertEqual(st, 403)
            st, body, _ = self.get("/elsewhere", ctx=ctx)  # routes without the key still serve
            self.assertEqual(st, 200)
        self.assertEqual(self.origin_requests() - before, 2, "a 403 must never reach the origin")

    def test_required_route_200_with_verified_cert(self):
        before = self.origin_requests()
        for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            ctx = self.pki.ctx("alice")
            ctx.minimum_version = ctx.maximum_version = v
            st, body, _ = self.get("/private/echo", ctx=ctx)
            self.assertEqual(st, 200, v)
            hdrs = [(k.lower(), x) for k, x in json.loads(body)["headers"]]
            self.assertIn(("x-client-cert-subject", ALICE_SUBJECT), hdrs)
        self.assertEqual(self.origin_requests() - before, 2)

    @unittest.skipUnless(shutil.which("curl"), "curl not installed")
    def test_required_route_with_curl(self):
        rc, out, err = curl_https(self.port, "/private/echo")
        self.assertEqual(rc, 0, err)
        self.assertTrue(out.endswith("\n403 1.1"), out)
        rc, out, err = curl_https(self.port, "/private/echo", "--cert", self.pki.cert("bob"),
                                  "--key", self.pki.key("bob"))
        self.assertEqual(rc, 0, err)
        self.assertTrue(out.endswith("\n200 1.1"), out)
        self.assertIn("CN=bob,O=Ringwall Test", out)

    def test_required_route_with_s_client(self):
        req = b"GET /private/echo HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"
        for v in ("-tls1_2", "-tls1_3"):
            out = s_client(self.port, v, request=req)
            self.assertIn("HTTP/1.1 403 Forbidden", out, v)
            out = s_client(self.port, v, "-cert", self.pki.cert("carol"), "-key",
                           self.pki.key("carol"), request=req)
            self.assertIn("HTTP/1.1 200 OK", out, v)
            self.assertIn("CN=carol,O=Ringwall Test", out, v)

    def test_routing_by_subject_san_fingerprint(self):
        want = {"alice": b"alice by SAN\n", "bob": b"bob by fingerprint\n",
                "carol": b"carol by subject\n", "dave": b"dave by SAN\n", None: b"anonymous\n"}
        for who, body in want.items():
            self.assertEqual(self.get("/id", who)[:2], (200, body), who)
        untrusted = client_ctx()
        untrusted.load_cert_chain(data("selfclient.pem"), data("selfclient.key"))
        self.assertEqual(self.get("/id", ctx=untrusted)[:2], (200, b"anonymous\n"))
        # the client CA of the unit tests is not trusted here: "alice" from it is anonymous
        other = client_ctx()
        other.load_cert_chain(data("client.pem"), data("client.key"))
        self.assertEqual(self.get("/id", ctx=other)[:2], (200, b"anonymous\n"))

    def log_lines(self, pred, n, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            lines = []
            if self.log.exists():
                lines = [json.loads(x) for x in self.log.read_text().splitlines() if x]
            got = [x for x in lines if pred(x)]
            if len(got) >= n or time.monotonic() > deadline:
                return got
            time.sleep(0.05)

    def test_access_log_fields(self):
        self.assertEqual(self.get("/id?log=alice", "alice")[0], 200)
        self.assertEqual(self.get("/private/echo?log=bob", "bob")[0], 200)
        self.assertEqual(self.get("/private/echo?log=anon")[0], 403)
        mark = "?log="
        got = {x["path"].split(mark)[1]: x
               for x in self.log_lines(lambda x: mark in (x.get("path") or ""), 3)}
        self.assertEqual(set(got), {"alice", "bob", "anon"}, got)
        a, b, anon = got["alice"], got["bob"], got["anon"]
        self.assertEqual(a["tls_client_subject"], ALICE_SUBJECT)
        self.assertEqual(set(a["tls_client_san"].split(", ")),
                         {"DNS:alice.client", "email:alice@example.com"})
        self.assertEqual(a["tls_client_sha256"], self.pki.sha256("alice"))
        self.assertEqual(b["tls_client_subject"], "CN=bob,O=Ringwall Test")
        self.assertEqual(set(b["tls_client_san"].split(", ")),
                         {"URI:spiffe://ringwall.test/bob", "IP:10.9.8.7"})
        self.assertEqual(b["tls_client_sha256"], self.pki.sha256("bob"))
        self.assertEqual((b["status"], b["upstream"]), (200, "app"))
        self.assertEqual((anon["status"], anon["route"], anon["server"]), (403, "tls/6", None))
        for k in ("tls_client_subject", "tls_client_san", "tls_client_sha256"):
            self.assertNotIn(k, anon)

    def session_of(self, who, v, target="/id"):
        """A context presenting who's certificate (None: none) at TLS version v, and the
        session of one full handshake made with it."""
        ctx = self.pki.ctx(who)
        ctx.minimum_version = ctx.maximum_version = v
        _, _, first = self.get(target, ctx=ctx)
        self.assertFalse(first["reused"])
        return ctx, first["session"]

    def test_resumed_session_keeps_identity(self):
        """ringwall seals the verified identity in its session tickets: a resumed connection
        (TLS 1.2 and 1.3) has the certificate of the full handshake that made the session.
        A required route answers 200 and sends the subject upstream, routing by SAN and by
        fingerprint matches, the access log has the tls_client_* fields; a session made
        without a certificate still gets 403."""
        before = self.origin_requests()
        for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            ctx, sess = self.session_of("alice", v)
            st, body, info = self.get("/private/echo?log=resumed-alice-" + v.name, ctx=ctx,
                                      session=sess)
            self.assertEqual((st, info["reused"]), (200, True), v)
            hdrs = [(k.lower(), x) for k, x in json.loads(body)["headers"]]
            self.assertIn(("x-client-cert-subject", ALICE_SUBJECT), hdrs)
            st, body, info = self.get("/id", ctx=ctx, session=sess)
            self.assertEqual((st, body, info["reused"]), (200, b"alice by SAN\n", True), v)
            ctx, sess = self.session_of("bob", v)
            st, body, info = self.get("/id", ctx=ctx, session=sess)
            self.assertEqual((st, body, info["reused"]), (200, b"bob by fingerprint\n", True), v)
            ctx, sess = self.session_of(None, v)
            st, body, info = self.get("/private/echo", ctx=ctx, session=sess)
            self.assertEqual((st, info["reused"]), (403, True), v)
            self.assertIn(b"403 Forbidden", body)
        self.assertEqual(self.origin_requests() - before, 2, "one resumed request per version")
        mark = "?log=resumed-alice-"
        got = self.log_lines(lambda x: mark in (x.get("path") or ""), 2)
        self.assertEqual(len(got), 2, got)
        for x in got:
            self.assertEqual((x["status"], x["upstream"]), (200, "app"))
            self.assertEqual(x["tls_client_subject"], ALICE_SUBJECT)
            self.assertEqual(set(x["tls_client_san"].split(", ")),
                             {"DNS:alice.client", "email:alice@example.com"})
            self.assertEqual(x["tls_client_sha256"], self.pki.sha256("alice"))

    def test_without_tickets_every_connection_keeps_its_identity(self):
        """"session_tickets": false: no session resumes, so every connection makes a full
        handshake and shows its certificate."""
        lst = tls_listener([{"match": {"path": "/id", "client_cert": {"san": "DNS:alice.client"}},
                             "respond": {"body": "alice\n"}},
                            {"client_cert": "required", "respond": {"body": "verified\n"}}],
                           session_tickets=False,
                           client_auth={"ca": self.pki.ca, "mode": "optional"})
        p = h.start_proxy(self, {"workers": 1, "listeners": [lst]})
        for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            ctx = self.pki.ctx("alice")
            ctx.minimum_version = ctx.maximum_version = v
            _, _, _, first = https(p.port, "/id", ctx=ctx)
            st, _, body, info = https(p.port, "/id", ctx=ctx, session=first["session"])
            self.assertEqual((st, body, info["reused"]), (200, b"alice\n", False), v)
            st, _, body, _ = https(p.port, "/x", ctx=version_ctx(v))
            self.assertEqual(st, 403, v)
            self.assertIn(b"403 Forbidden", body)


class TlsRedirectHstsTest(h.RwTestCase):
    """A plain listener sends everyone to HTTPS ("redirect": {"scheme": "https"}); the TLS
    listener answers with Strict-Transport-Security (a response header edit)."""

    def test_http_to_https_and_hsts(self):
        o = h.start_origin(self, "o1")
        tls_port = h.free_port()
        hsts = "max-age=31536000; includeSubDomains"
        secure = tls_listener([h.proxy_route("app", response_headers={
            "set": {"strict-transport-security": hsts}})])
        secure["address"] = "127.0.0.1:%d" % tls_port
        plain = h.listener([{"match": {"path_prefix": "/"},
                             "redirect": {"scheme": "https", "port": tls_port, "status": 301}}])
        p = h.start_proxy(self, {"workers": 1, "listeners": [plain, secure],
                                 "upstreams": {"app": h.upstream(o)}})
        c = h.http_conn(p.port)
        c.request("GET", "/account?x=1", headers={"Host": "example.com"})
        r = c.getresponse()
        r.read()
        c.close()
        self.assertEqual(r.status, 301)
        loc = r.getheader("Location")
        self.assertEqual(loc, "https://example.com:%d/account?x=1" % tls_port)
        self.assertIsNone(r.getheader("Strict-Transport-Security"))  # never over plain HTTP
        st, hdrs, _, _ = https(tls_port, "/account?x=1", sni="example.com")
        self.assertEqual(st, 200)
        got = {k.lower(): v for k, v in hdrs.items()} if isinstance(hdrs, dict) else dict(hdrs)
        self.assertEqual(got.get("strict-transport-security"), hsts)
        # curl follows the redirect to the HTTPS listener
        r = h.curl("-L", "--cacert", data("root.crt"), "--resolve",
                   "example.com:%d:127.0.0.1" % p.port, "--resolve",
                   "example.com:%d:127.0.0.1" % tls_port, "-o", "/dev/null", "-w",
                   "%{http_code} %{url_effective}", "http://example.com:%d/x" % p.port)
        self.assertEqual(r.stdout.decode(), "200 https://example.com:%d/x" % tls_port, r.stderr)


class TlsFirstRequestTest(h.RwTestCase):
    """TLS 1.3 without tickets: the handshake ends with the client's Finished and the
    server has nothing to send back. A client with Nagle on (Python's default) holds its
    first request until that Finished is ACKed; ringwall must ACK at once instead of after
    the 40 ms delayed-ACK timer (it did: every first request took 40+ ms)."""

    def test_first_request_not_held_by_delayed_ack(self):
        o = h.start_origin(self, "o1")
        lst = tls_listener([h.proxy_route("app")], session_tickets=False)
        p = h.start_proxy(self, {"workers": 1, "listeners": [lst],
                                 "upstreams": {"app": h.upstream(o)}})
        ctx = client_ctx()
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        took = []
        for _ in range(15):
            raw = socket.create_connection(("127.0.0.1", p.port), timeout=10)
            with ctx.wrap_socket(raw, server_hostname="example.com") as s:
                t0 = time.monotonic()
                s.sendall(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
                data = b""
                while b"\r\n\r\n" not in data:
                    data += s.recv(16384)
                took.append(time.monotonic() - t0)
        took.sort()
        # 40 ms is the delayed-ACK signature; a loaded machine stays well under it
        self.assertLess(took[len(took) // 2], 0.030, ["%.1f ms" % (t * 1e3) for t in took])
