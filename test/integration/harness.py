# SPDX-License-Identifier: MIT
# Integration harness: start/stop ringwall and origins, raw-socket and http.client helpers.
"""Helpers shared by every test_*.py.

Environment:
  RINGWALL_BIN     the binary (default <repo>/build/ringwall)
  RW_IO_BACKEND    io_uring | epoll | auto: written into each config's "io_backend"
  RW_BIG_BYTES     size of the big upload/download tests (default 1 GiB)
  RW_RSS_LIMIT_MB  VmRSS ceiling during big transfers (default 64; 0 disables)
  RW_KEEP_LOGS     keep temp dirs (configs, stderr logs) after the run
  RW_STANDIN       "nginx": run the same tests against nginx with a translated config
                   (debugs the harness itself; many ringwall-specific tests fail there)
"""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
ORIGIN_PY = HERE / "origin.py"
sys.path.insert(0, str(HERE))
import origin as origin_mod  # noqa: E402  (pattern helpers shared with the origin)

pattern_bytes = origin_mod.pattern_bytes
pattern_sha256 = origin_mod.pattern_sha256

SANITIZER_RE = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer|ThreadSanitizer)|"
                          r"runtime error:|SUMMARY: (Address|Undefined|Leak)Sanitizer")


def binary():
    return os.environ.get("RINGWALL_BIN") or str(REPO / "build" / "ringwall")


def io_backend():
    return os.environ.get("RW_IO_BACKEND", "auto")


def big_bytes():
    v = os.environ.get("RW_BIG_BYTES", str(1 << 30)).strip()
    units = {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
    for u, m in units.items():
        if v.endswith(u):
            return int(v[:-len(u)]) * m
    return int(v)


def rss_limit_kib():
    return int(os.environ.get("RW_RSS_LIMIT_MB", "64")) * 1024


def standin():
    return os.environ.get("RW_STANDIN", "")


_used_ports = set()
_port_lock = threading.Lock()


def free_port(host="127.0.0.1"):
    """A loopback port nobody listens on right now (never handed out twice per run)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with _port_lock:
        for _ in range(100):
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.bind((host, 0))
            p = s.getsockname()[1]
            s.close()
            if p not in _used_ports:
                _used_ports.add(p)
                return p
    raise RuntimeError("no free port")


def dead_port():
    """A port with no listener (connect is refused)."""
    return free_port()


class Blackhole:
    """A loopback listener whose accept queue is full, so new SYNs are dropped and a
    connect() to it hangs (neither accepted nor refused) until the caller gives up.

    listen(0) leaves room for one queued connection; that one is filled and a second
    connect is left retransmitting its SYN. .works is False if the kernel still completed
    a probe connect (the caller should skip: the trick does not hold on this host)."""

    def __init__(self, host="127.0.0.1"):
        self.host = host
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.bind((host, 0))
        self.ls.listen(0)
        self.port = self.ls.getsockname()[1]
        self.fill = []
        for _ in range(2):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex((host, self.port))
            self.fill.append(s)
            time.sleep(0.05)
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        probe.settimeout(0.3)
        try:
            probe.connect((host, self.port))
            self.works = False
        except OSError:
            self.works = True
        finally:
            probe.close()

    @property
    def address(self):
        return "%s:%d" % (self.host, self.port)

    def close(self):
        for s in self.fill:
            s.close()
        self.ls.close()


def wait_port(host, port, timeout=10.0, proc=None, what="server"):
    """Wait until host:port accepts a TCP connection; fail early if proc exits."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("%s exited with status %s before listening on %s:%d"
                               % (what, proc.returncode, host, port))
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(0.5)
        try:
            s.connect((host, port))
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("%s did not listen on %s:%d within %.1fs"
                                   % (what, host, port, timeout))
            time.sleep(0.02)
        finally:
            s.close()


def stop_process(proc, timeout=5.0):
    """SIGTERM, then SIGKILL after timeout. Returns (returncode, killed)."""
    if proc.poll() is not None:
        return proc.returncode, False
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
        return proc.returncode, False
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return proc.returncode, True


class TempDir:
    """A temp dir that survives when RW_KEEP_LOGS is set."""

    def __init__(self, prefix):
        self.path = Path(tempfile.mkdtemp(prefix=prefix))

    def cleanup(self):
        if not os.environ.get("RW_KEEP_LOGS"):
            shutil.rmtree(self.path, ignore_errors=True)


# ---------------------------------------------------------------------------
# origins

class Origin:
    """test/integration/origin.py in a child process."""

    def __init__(self, name="origin", host="127.0.0.1", port=None, idle_close_ms=0, delay_ms=0):
        self.name = name
        self.host = host
        self.port = port or free_port(host)
        self.idle_close_ms = idle_close_ms
        self.delay_ms = delay_ms
        self.proc = None
        self.tmp = None

    @property
    def address(self):
        return ("[%s]:%d" if ":" in self.host else "%s:%d") % (self.host, self.port)

    def start(self):
        self.tmp = TempDir("rw-origin-")
        self.log = open(self.tmp.path / "origin.log", "wb")
        cmd = [sys.executable, str(ORIGIN_PY), "--host", self.host, "--port", str(self.port),
               "--name", self.name]
        if self.idle_close_ms:
            cmd += ["--idle-close-ms", str(self.idle_close_ms)]
        if self.delay_ms:
            cmd += ["--delay-ms", str(self.delay_ms)]
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        wait_port(self.host, self.port, proc=self.proc, what="origin " + self.name)
        return self

    def stats(self, reset=False):
        c = http.client.HTTPConnection(self.host, self.port, timeout=5)
        try:
            c.request("GET", "/stats?reset=1" if reset else "/stats",
                      headers={"Connection": "close"})
            return json.loads(c.getresponse().read())
        finally:
            c.close()

    def reset(self):
        self.stats(reset=True)

    def stop(self):
        if self.proc:
            stop_process(self.proc, 3)
            self.proc = None
            self.log.close()
            self.tmp.cleanup()


# ---------------------------------------------------------------------------
# ringwall

def server(origin_or_addr, **kw):
    addr = origin_or_addr.address if isinstance(origin_or_addr, Origin) else origin_or_addr
    d = {"address": addr}
    d.update(kw)
    return d


def upstream(*servers, **kw):
    d = {"servers": [s if isinstance(s, dict) else server(s) for s in servers]}
    d.update(kw)
    return d


def listener(routes, port=None, host="127.0.0.1", name=None):
    port = port or free_port(host)
    addr = ("[%s]:%d" if ":" in host else "%s:%d") % (host, port)
    d = {"address": addr, "routes": routes}
    if name:
        d["name"] = name
    return d


def proxy_route(up, match=None, **kw):
    d = {"match": match or {"path_prefix": "/"}, "upstream": up}
    d.update(kw)
    return d


def simple_config(origins, routes=None, workers=1, **top):
    """One listener on a free port, one upstream "app" over the given origins."""
    cfg = {"workers": workers,
           "listeners": [listener(routes or [proxy_route("app")])],
           "upstreams": {"app": upstream(*origins)}}
    cfg.update(top)
    return cfg


def _listener_endpoints(cfg):
    out = []
    for lst in cfg.get("listeners", []):
        m = re.match(r"^\[(.*)\]:(\d+)$|^(.*):(\d+)$", lst["address"])
        host = m.group(1) or m.group(3)
        port = int(m.group(2) or m.group(4))
        if host in ("0.0.0.0", "*"):
            host = "127.0.0.1"
        if host == "::":
            host = "::1"
        out.append((host, port))
    return out


class Proxy:
    """ringwall -c <tmp>/cfg.json, stderr captured to <tmp>/stderr.log."""

    def __init__(self, config, backend=None, extra_env=None):
        self.config = json.loads(json.dumps(config))
        if "io_backend" not in self.config:
            self.config["io_backend"] = backend or io_backend()
        self.extra_env = extra_env or {}
        self.proc = None
        self.tmp = None
        self.endpoints = _listener_endpoints(self.config)

    @property
    def port(self):
        return self.endpoints[0][1]

    @property
    def host(self):
        return self.endpoints[0][0]

    @property
    def pid(self):
        return self.proc.pid

    def write_config(self):
        self.tmp = TempDir("rw-proxy-")
        self.cfg_path = self.tmp.path / "cfg.json"
        self.cfg_path.write_text(json.dumps(self.config, indent=2))
        return self.cfg_path

    def start(self, wait=True):
        self.write_config()
        self.err_path = self.tmp.path / "stderr.log"
        self.err = open(self.err_path, "wb")
        env = dict(os.environ)
        env.update(self.extra_env)
        if standin() == "nginx":
            cmd = _nginx_cmd(self.config, self.tmp.path)
        else:
            cmd = [binary(), "-c", str(self.cfg_path)]
        self.proc = subprocess.Popen(cmd, stdout=self.err, stderr=subprocess.STDOUT, env=env,
                                     cwd=str(self.tmp.path))
        if wait:
            try:
                for host, port in self.endpoints:
                    wait_port(host, port, proc=self.proc, what="ringwall")
                # the listeners listen before the admin thread starts: wait for its socket
                sock = (self.config.get("admin") or {}).get("socket")
                end = time.monotonic() + 10
                while sock and standin() != "nginx" and not os.path.exists(sock):
                    if time.monotonic() > end or self.proc.poll() is not None:
                        raise RuntimeError("admin socket %s did not appear" % sock)
                    time.sleep(0.01)
            except RuntimeError as e:
                stop_process(self.proc)
                raise RuntimeError("%s\n--- ringwall stderr ---\n%s" % (e, self.stderr()))
        return self

    def stderr(self):
        if self.proc is None and getattr(self, "final_stderr", None) is not None:
            return self.final_stderr
        try:
            return self.err_path.read_text(errors="replace")
        except (OSError, AttributeError):
            return ""

    def wait_log(self, *texts, timeout=5.0):
        """stderr once every text is in it (the error log is written by a log thread, a
        moment after the event); the stderr seen at the deadline otherwise."""
        end = time.monotonic() + timeout
        while True:
            text = self.stderr()
            if all(t in text for t in texts) or time.monotonic() >= end:
                return text
            time.sleep(0.02)

    def sanitizer_report(self):
        text = self.stderr()
        return text if SANITIZER_RE.search(text) else None

    def stop(self):
        """Stop by PID; returns a problem description or None."""
        if not self.proc:
            return None
        rc, killed = stop_process(self.proc, 10)
        self.proc = None
        self.err.close()
        problems = []
        if killed:
            problems.append("did not exit within 10s of SIGTERM (SIGKILLed)")
        elif rc not in (0, -signal.SIGTERM, 128 + signal.SIGTERM):
            problems.append("exit status %s after SIGTERM" % rc)
        self.final_stderr = self.stderr()
        rep = self.sanitizer_report()
        if rep:
            problems.append("sanitizer report on stderr")
        if problems:
            msg = "ringwall: %s\n--- ringwall stderr (%s) ---\n%s" % (
                "; ".join(problems), self.err_path, self.stderr()[-20000:])
            return msg
        self.tmp.cleanup()
        return None


def _nginx_cmd(cfg, tmp):
    """Translate the subset of a ringwall config that nginx can express (stand-in mode)."""
    def dur(s, default):
        return s if s else default

    to = cfg.get("timeouts", {})
    lim = cfg.get("limits", {})
    lines = ["daemon off;", "master_process on;", "worker_processes %d;" % (cfg.get("workers") or 1),
             "pid %s/nginx.pid;" % tmp, "error_log stderr warn;", "events { worker_connections 4096; }",
             "http {", "access_log off;", "server_tokens off;", "proxy_buffering off;",
             "proxy_request_buffering off;", "proxy_http_version 1.1;",
             "client_body_temp_path %s;" % tmp, "proxy_temp_path %s;" % tmp,
             "client_header_timeout %s;" % dur(to.get("client_header"), "10s"),
             "keepalive_timeout %s;" % dur(to.get("client_idle"), "75s"),
             "client_max_body_size %s;" % ({"0": "0"}.get(str(lim.get("body", "0")),
                                                          str(lim.get("body", "0")).replace("iB", ""))),
             ]
    if os.geteuid() == 0:
        lines.insert(0, "user root;")
    for name, up in cfg.get("upstreams", {}).items():
        ka = up.get("keepalive", {})
        lines.append("upstream u_%s {" % name)
        for s in up["servers"]:
            lines.append("  server %s weight=%d max_fails=0;" % (s["address"], s.get("weight", 1)))
        lines.append("  keepalive %d;" % ka.get("max_idle", 64))
        lines.append("  keepalive_timeout %s;" % ka.get("idle_timeout", "60s"))
        lines.append("}")
    for lst in cfg["listeners"]:
        lines += ["server {", "listen %s;" % lst["address"]]
        seen = set()
        for r in lst["routes"]:
            m = r.get("match", {})
            if set(m) - {"path", "path_prefix"}:
                continue
            loc = ("= " + m["path"]) if "path" in m else m.get("path_prefix", "/")
            if loc in seen:
                continue
            seen.add(loc)
            lines.append("location %s {" % loc)
            if "respond" in r:
                rs = r["respond"]
                lines.append("return %d %s;" % (rs.get("status", 200), json.dumps(rs.get("body", ""))))
            elif "upstream" in r:
                up = cfg["upstreams"][r["upstream"]]
                t = up.get("timeouts", {})
                lines += ["proxy_pass http://u_%s;" % r["upstream"],
                          'proxy_set_header Connection "";',
                          "proxy_set_header Host $http_host;",
                          "proxy_connect_timeout %s;" % t.get("connect", "3s"),
                          "proxy_read_timeout %s;" % t.get("response", "60s"),
                          "proxy_next_upstream error;"]
            lines.append("}")
        lines.append("}")
    lines.append("}")
    conf = Path(tmp) / "nginx.conf"
    conf.write_text("\n".join(lines) + "\n")
    return ["/usr/sbin/nginx", "-p", str(tmp), "-c", str(conf), "-e", "stderr"]


def backend_available(backend):
    """(True, "") if ringwall starts with this io_backend, else (False, reason)."""
    if standin():
        return True, ""
    cfg = {"workers": 1, "io_backend": backend,
           "listeners": [listener([{"match": {"path": "/"}, "respond": {"status": 200}}])]}
    p = Proxy(cfg)
    try:
        p.start()
    except RuntimeError as e:
        text = str(e)
        if "unavailable" in text and "io_uring" in text:
            return False, text.strip().splitlines()[-1]
        raise
    problem = p.stop()
    if problem:
        raise RuntimeError(problem)
    return True, ""


# ---------------------------------------------------------------------------
# clients

class Response:
    def __init__(self):
        self.version = None
        self.status = None
        self.reason = None
        self.headers = []          # [(name, value)] as received
        self.raw_head = b""
        self.body = b""
        self.body_len = 0
        self.trailers = []
        self.interim = []          # 1xx responses: (status, headers)
        self.framing = None        # "length" | "chunked" | "close" | "none"
        self.complete = False      # body ended by its framing (not by an early close)

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def headers_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def has(self, name):
        return self.header(name) is not None

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<Response %s %s framing=%s len=%d>" % (self.status, self.headers, self.framing,
                                                     self.body_len)


class ProtocolError(Exception):
    pass


class RawConn:
    """One client TCP connection speaking exact bytes."""

    def __init__(self, port, host="127.0.0.1", timeout=10.0):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.buf = b""
        self.eof = False

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        if self.eof:
            raise EOFError
        try:
            data = self.sock.recv(1 << 20)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            raise EOFError
        self.buf += data

    def _line(self, limit=1 << 20):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                return line
            if len(self.buf) > limit:
                raise ProtocolError("line too long")
            self._fill()

    def read_head(self):
        """Read one response head. Raises EOFError if the connection closed first."""
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > 1 << 20:
                raise ProtocolError("response head too large")
            self._fill()
        i = self.buf.index(b"\r\n\r\n")
        head, self.buf = self.buf[:i], self.buf[i + 4:]
        text = head.decode("latin-1")
        if "\n" in text.replace("\r\n", ""):
            raise ProtocolError("bare LF in response head: %r" % text)
        lines = text.split("\r\n")
        m = re.match(r"^(HTTP/\d\.\d) (\d{3}) ?(.*)$", lines[0])
        if not m:
            raise ProtocolError("bad status line %r" % lines[0])
        hdrs = []
        for ln in lines[1:]:
            name, sep, value = ln.partition(":")
            if not sep or not name or name != name.strip():
                raise ProtocolError("bad header line %r" % ln)
            hdrs.append((name, value.strip(" \t")))
        return m.group(1), int(m.group(2)), m.group(3), hdrs, head + b"\r\n\r\n"

    def read_response(self, method="GET", sink=None, keep_body=True):
        """Read a full response (1xx interim responses are collected in .interim).

        sink(bytes) receives body pieces; keep_body=False keeps only the length.
        An early close leaves .complete False instead of raising."""
        r = Response()
        while True:
            r.version, r.status, r.reason, r.headers, r.raw_head = self.read_head()
            if 100 <= r.status < 200:
                r.interim.append((r.status, r.headers))
                continue
            break
        te = [v for k, v in r.headers if k.lower() == "transfer-encoding"]
        cl = [v for k, v in r.headers if k.lower() == "content-length"]
        chunks = []

        def take(b):
            r.body_len += len(b)
            if sink:
                sink(b)
            if keep_body:
                chunks.append(b)

        try:
            if method == "HEAD" or r.status in (204, 304):
                r.framing = "none"
                r.complete = True
            elif te:
                if len(te) != 1 or te[0].lower() != "chunked" or cl:
                    raise ProtocolError("bad response framing TE=%r CL=%r" % (te, cl))
                r.framing = "chunked"
                self._read_chunked(r, take)
            elif cl:
                if len(cl) != 1 or not cl[0].isdigit():
                    raise ProtocolError("bad Content-Length %r" % cl)
                r.framing = "length"
                self._read_n(int(cl[0]), take)
                r.complete = True
            else:
                r.framing = "close"
                while True:
                    if self.buf:
                        b, self.buf = self.buf, b""
                        take(b)
                    self._fill()
        except EOFError:
            if r.framing == "close":
                r.complete = True
        r.body = b"".join(chunks)
        return r

    def _read_n(self, n, take):
        while n > 0:
            if not self.buf:
                self._fill()
            b, self.buf = self.buf[:n], self.buf[n:]
            n -= len(b)
            take(b)

    def _read_chunked(self, r, take):
        while True:
            line = self._line().decode("latin-1")
            if not re.match(r"^[0-9a-fA-F]{1,16}(;.*)?$", line):
                raise ProtocolError("bad chunk size line %r" % line)
            size = int(line.split(";")[0], 16)
            if size == 0:
                break
            self._read_n(size, take)
            if self._line() != b"":
                raise ProtocolError("chunk data not followed by CRLF")
        while True:
            ln = self._line().decode("latin-1")
            if ln == "":
                break
            name, _, value = ln.partition(":")
            r.trailers.append((name, value.strip(" \t")))
        r.complete = True

    def is_closed(self, timeout=3.0):
        """True when the peer closes (EOF or reset) within timeout with no further bytes."""
        if self.eof:
            return True
        if self.buf:
            return False
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
        finally:
            self.sock.settimeout(self.timeout)
        if data:
            self.buf += data
            return False
        self.eof = True
        return True


def build_request(method="GET", target="/", host="test.local", headers=(), body=b"",
                  version="HTTP/1.1", chunked=False):
    lines = ["%s %s %s" % (method, target, version)]
    if host is not None:
        lines.append("Host: " + host)
    for k, v in headers:
        lines.append("%s: %s" % (k, v))
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    elif body or method in ("POST", "PUT"):
        lines.append("Content-Length: %d" % len(body))
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if chunked:
        if body:
            data += b"%x\r\n" % len(body) + body + b"\r\n"
        data += b"0\r\n\r\n"
    else:
        data += body
    return data


def request(port, method="GET", target="/", host="test.local", headers=(), body=b"",
            version="HTTP/1.1", server="127.0.0.1", timeout=10.0, **kw):
    """One request over a fresh connection; returns the Response."""
    with RawConn(port, server, timeout) as c:
        c.send(build_request(method, target, host, headers, body, version, **kw))
        return c.read_response(method)


def raw_exchange(port, data, server="127.0.0.1", timeout=5.0, close_wait=3.0):
    """Send raw bytes; returns (Response or None, closed_after). None means the proxy
    closed without answering."""
    with RawConn(port, server, timeout) as c:
        try:
            c.send(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            r = c.read_response()
        except EOFError:
            return None, True
        return r, c.is_closed(close_wait)


def http_conn(port, host="127.0.0.1", timeout=10.0):
    return http.client.HTTPConnection(host, port, timeout=timeout)


def curl(*args, timeout=30):
    """Run curl; returns CompletedProcess (stdout bytes)."""
    return subprocess.run(["curl", "-sS", "--max-time", str(timeout)] + list(args),
                          capture_output=True, timeout=timeout + 5)


class RssSampler(threading.Thread):
    """Samples VmRSS of a PID every interval; .max_kib after stop()."""

    def __init__(self, pid, interval=0.05):
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.max_kib = 0
        self.samples = 0
        self._stop_ev = threading.Event()

    def run(self):
        while not self._stop_ev.is_set():
            try:
                with open("/proc/%d/status" % self.pid) as f:
                    for ln in f:
                        if ln.startswith("VmRSS:"):
                            self.max_kib = max(self.max_kib, int(ln.split()[1]))
                            self.samples += 1
            except OSError:
                return
            self._stop_ev.wait(self.interval)

    def stop(self):
        self._stop_ev.set()
        self.join()
        return self.max_kib


def vm_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    return 0


# ---------------------------------------------------------------------------
# test base

def ipv6_available():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


class RwTestCase(unittest.TestCase):
    """Appends the stderr of the proxies a test used to its failure report."""

    def proxies_for_log(self):
        ps = list(getattr(self, "_rw_proxies", []))
        cls_proxy = getattr(type(self), "proxy", None)
        if cls_proxy is not None:
            ps.insert(0, cls_proxy)
        return ps

    def run(self, result=None):
        if result is None:
            return super().run(result)
        before = (len(result.failures), len(result.errors))
        out = super().run(result)
        for lst, n in ((result.failures, before[0]), (result.errors, before[1])):
            for i in range(n, len(lst)):
                test, tb = lst[i]
                logs = []
                for p in self.proxies_for_log():
                    text = getattr(p, "final_stderr", None) or p.stderr()
                    if text:
                        logs.append("--- ringwall stderr (last 4000 chars) ---\n" + text[-4000:])
                if logs:
                    lst[i] = (test, tb + "\n".join(logs))
        return out


class ProxyCase(RwTestCase):
    """One proxy (and its origins) per test class.

    Subclasses set ORIGINS (names, or (name, kwargs) pairs) and override config(cls)."""

    ORIGINS = ("o1",)
    origins = {}
    proxy = None

    @classmethod
    def config(cls):
        return simple_config(cls.origin_list())

    @classmethod
    def origin_list(cls):
        return [cls.origins[n] for n in cls.origin_names()]

    @classmethod
    def origin_names(cls):
        return [o if isinstance(o, str) else o[0] for o in cls.ORIGINS]

    @classmethod
    def setUpClass(cls):
        if not standin() and not os.path.exists(binary()):
            raise unittest.SkipTest("binary not found: %s (build first)" % binary())
        cls.origins = {}
        try:
            for o in cls.ORIGINS:
                name, kw = (o, {}) if isinstance(o, str) else o
                cls.origins[name] = Origin(name, **kw).start()
            cls.proxy = Proxy(cls.config()).start()
        except Exception:
            for o in cls.origins.values():
                o.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        problem = cls.proxy.stop() if cls.proxy else None
        for o in cls.origins.values():
            o.stop()
        if problem:
            raise AssertionError(problem)

    # convenience
    @property
    def port(self):
        return self.proxy.port

    def req(self, method="GET", target="/", **kw):
        return request(self.port, method, target, **kw)

    def raw(self, data, **kw):
        return raw_exchange(self.port, data, **kw)

    def fail_with_log(self, msg):
        self.fail("%s\n--- ringwall stderr ---\n%s" % (msg, self.proxy.stderr()[-5000:]))


def start_proxy(testcase, cfg, **kw):
    """Start a proxy for one test; stopped (and sanitizer-checked) at cleanup."""
    p = Proxy(cfg, **kw).start()
    if not hasattr(testcase, "_rw_proxies"):
        testcase._rw_proxies = []
    testcase._rw_proxies.append(p)

    def fin():
        problem = p.stop()
        if problem:
            raise AssertionError(problem)

    testcase.addCleanup(fin)
    return p


def start_origin(testcase, name="o", **kw):
    o = Origin(name, **kw).start()
    testcase.addCleanup(o.stop)
    return o
