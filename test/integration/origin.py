#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Demo and test origin server: raw sockets + threads, exact control over every byte.
"""A small HTTP/1.1 origin for ringwall's integration tests and quickstart demo.

    python3 origin.py --port 9001 --name origin-1 [--host 127.0.0.1] [--idle-close-ms N]

Endpoints (the path decides; anything unknown answers like "/"):
  /                      200 "hello from <name>\\n", X-Origin: <name>
  /echo...               200 JSON of the request as received (method, target, version,
                         headers as [[name, value], ...] in order, raw_head, body_len,
                         body_sha256, trailers)
  /status/<code>         that status
  /size/<n>              n pattern bytes with Content-Length, streamed
  /chunked/<n>           n pattern bytes chunked; ?trailer=1 adds X-Checksum trailer
  /close/<n>             n pattern bytes, no CL/TE, body ends at close
  /slow-head/<ms>        sleep, then answer
  /slow-body/<ms>        head now (CL 11), body after the delay
  /die-mid-body          CL 1000, 100 bytes, close
  /bad-framing/<kind>    ambiguous response framing, body "SMUGGLED-BODY", then close;
                         kind: cl-te, te-cl (CL 13 and TE chunked, either order),
                         cl-cl (CL 13 and CL 5), cl-list (CL "13, 5")
  /head-info             CL 1234 (HEAD: no body)
  /304, /204             no body
  /1xx                   103 Early Hints, then 200
  /upload                reads the body (CL or chunked), JSON {len, sha256}
  /server-header         Server: secret-backend/1.2, X-Powered-By: PHP/8
  /hop                   hop-by-hop response fields plus X-End: 1
  /via                   Via: 1.1 origin-cache (a response that already passed a proxy)
  /login                 sets a JSESSIONID cookie naming this origin (sticky learn mode)
  /healthz               200 "ok" while healthy, 503 after /admin/fail
  /admin/fail, /admin/ok make /healthz fail / pass; /admin/fail-all: every request gets 500
  --delay-ms N           every request but /stats waits N ms first (a slow server)
  /trailers              chunked with trailer fields
  /stats                 JSON {connections, open, requests}, not counting /stats itself;
                         ?reset=1 zeroes connections and requests
The body pattern is PATTERN repeated (see pattern_bytes()).
"""

import argparse
import random
import hashlib
import json
import socket
import sys
import threading
import time
import urllib.parse

PATTERN = bytes((i * 7 + 3) & 0xFF for i in range(65536))
PATTERN2 = PATTERN + PATTERN


def pattern_bytes(offset, n):
    """n bytes of the endless pattern starting at offset (n <= 65536)."""
    o = offset % len(PATTERN)
    return PATTERN2[o:o + n]


def pattern_sha256(n):
    h = hashlib.sha256()
    full, rest = divmod(n, len(PATTERN))
    for _ in range(full):
        h.update(PATTERN)
    h.update(PATTERN[:rest])
    return h.hexdigest()


class BadRequest(Exception):
    pass


class Conn:
    """A buffered reader over one accepted socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def fill(self):
        data = self.sock.recv(262144)
        if not data:
            raise EOFError
        self.buf += data

    def read_until(self, sep, limit=1 << 20):
        while True:
            i = self.buf.find(sep)
            if i >= 0:
                out, self.buf = self.buf[:i + len(sep)], self.buf[i + len(sep):]
                return out
            if len(self.buf) > limit:
                raise BadRequest("head too large")
            self.fill()

    def read_some(self, maxn):
        if not self.buf:
            self.fill()
        out, self.buf = self.buf[:maxn], self.buf[maxn:]
        return out

    def read_exact(self, n, sink):
        while n > 0:
            piece = self.read_some(min(n, 262144))
            sink(piece)
            n -= len(piece)


class Request:
    def __init__(self):
        self.method = self.target = self.version = ""
        self.headers = []
        self.raw_head = b""
        self.body_len = 0
        self.sha = hashlib.sha256()
        self.trailers = []

    def get(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def get_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def path(self):
        return urllib.parse.urlsplit(self.target).path

    def query(self):
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.target).query))


def parse_fields(lines):
    out = []
    for line in lines:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise BadRequest("field without colon")
        out.append([name, value.strip(" \t")])
    return out


def read_request(conn):
    head = conn.read_until(b"\r\n\r\n")
    req = Request()
    req.raw_head = head
    lines = head[:-4].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        raise BadRequest("request line")
    req.method, req.target, req.version = parts
    req.headers = parse_fields(lines[1:])
    te = req.get_all("transfer-encoding")
    cl = req.get_all("content-length")

    def sink(b):
        req.body_len += len(b)
        req.sha.update(b)

    if req.get("expect", ) and req.get("expect").lower() == "100-continue":
        conn.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    if te:
        if te[-1].lower().split(",")[-1].strip() != "chunked":
            raise BadRequest("te")
        while True:
            size_line = conn.read_until(b"\r\n").decode("latin-1")
            size = int(size_line.split(";")[0].strip(), 16)
            if size == 0:
                break
            conn.read_exact(size, sink)
            if conn.read_until(b"\r\n") != b"\r\n":
                raise BadRequest("chunk data not followed by CRLF")
        tr = conn.read_until(b"\r\n")
        tlines = []
        while tr != b"\r\n":
            tlines.append(tr[:-2].decode("latin-1"))
            tr = conn.read_until(b"\r\n")
        req.trailers = parse_fields(tlines)
    elif cl:
        conn.read_exact(int(cl[0]), sink)
    return req


class Origin:
    def __init__(self, name, idle_close_ms, delay_ms=0):
        self.name = name
        self.delay = delay_ms / 1000.0
        self.healthy = True  # /healthz answers 200 while true, 503 after /admin/fail
        self.fail_all = False  # every request but /stats and /admin/* answers 500
        self.idle_close = idle_close_ms / 1000.0 if idle_close_ms else None
        self.lock = threading.Lock()
        self.connections = 0
        self.open = 0
        self.requests = 0

    # ---- response helpers -------------------------------------------------
    def head(self, status, reason, headers, keep):
        lines = ["HTTP/1.1 %d %s" % (status, reason)]
        for k, v in headers:
            lines.append("%s: %s" % (k, v))
        if not keep:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def simple(self, sock, status, body, keep, extra=(), ctype="text/plain", method="GET"):
        hdrs = [("Content-Type", ctype), ("Content-Length", str(len(body))),
                ("X-Origin", self.name)] + list(extra)
        data = self.head(status, REASONS.get(status, "Other"), hdrs, keep)
        if method != "HEAD":
            data += body
        sock.sendall(data)

    def send_pattern(self, sock, n):
        off = 0
        while off < n:
            k = min(65536, n - off)
            sock.sendall(pattern_bytes(off, k))
            off += k

    # ---- endpoints --------------------------------------------------------
    def handle(self, sock, req, keep):
        """Answer one request; returns whether the connection stays open."""
        path = req.path()
        q = req.query()
        seg = path.split("/")
        m = req.method
        if path.startswith("/admin/"):
            self.healthy = path != "/admin/fail"
            self.fail_all = path == "/admin/fail-all"
            self.simple(sock, 200, b"ok\n", keep)
            return keep
        if self.delay:
            time.sleep(self.delay)
        if self.fail_all:
            self.simple(sock, 500, b"failing\n", keep, method=m)
        elif path == "/healthz":
            code = 200 if self.healthy else 503
            self.simple(sock, code, b"ok\n" if code == 200 else b"unhealthy\n", keep, method=m)
        elif path.startswith("/echo"):
            doc = {"method": req.method, "target": req.target, "version": req.version,
                   "headers": req.headers, "raw_head": req.raw_head.decode("latin-1"),
                   "body_len": req.body_len, "body_sha256": req.sha.hexdigest(),
                   "trailers": req.trailers, "origin": self.name}
            self.simple(sock, 200, json.dumps(doc).encode(), keep, ctype="application/json",
                        method=m)
        elif path == "/upload":
            doc = {"len": req.body_len, "sha256": req.sha.hexdigest(), "origin": self.name}
            self.simple(sock, 200, json.dumps(doc).encode(), keep, ctype="application/json")
        elif len(seg) == 3 and seg[1] == "status":
            code = int(seg[2])
            if code in (204, 304) or code < 200:
                sock.sendall(self.head(code, REASONS.get(code, "Other"),
                                       [("X-Origin", self.name)], keep))
            else:
                self.simple(sock, code, b"status %d\n" % code, keep, method=m)
        elif len(seg) == 3 and seg[1] == "size":
            n = int(seg[2])
            sock.sendall(self.head(200, "OK", [("Content-Type", "application/octet-stream"),
                                               ("Content-Length", str(n))], keep))
            if m != "HEAD":
                self.send_pattern(sock, n)
        elif (len(seg) == 3 and seg[1] == "chunked") or path == "/trailers":
            n = int(seg[2]) if seg[1] == "chunked" else 5000
            trailer = q.get("trailer") == "1" or path == "/trailers"
            hdrs = [("Content-Type", "application/octet-stream"), ("Transfer-Encoding", "chunked")]
            if trailer:
                hdrs.append(("Trailer", "X-Checksum, X-Count"))
            sock.sendall(self.head(200, "OK", hdrs, keep))
            if m == "HEAD":
                return keep
            off, step = 0, 1
            while off < n:
                k = min(step, n - off, 65536)
                sock.sendall(b"%x\r\n" % k + pattern_bytes(off, k) + b"\r\n")
                off += k
                step = step * 3 + 1
            tail = b"0\r\n"
            if trailer:
                tail += b"X-Checksum: " + pattern_sha256(n).encode() + b"\r\nX-Count: %d\r\n" % n
            sock.sendall(tail + b"\r\n")
        elif len(seg) == 3 and seg[1] == "close":
            n = int(seg[2])
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                         b"Connection: close\r\n\r\n")
            self.send_pattern(sock, n)
            return False
        elif len(seg) == 3 and seg[1] == "slow-head":
            time.sleep(int(seg[2]) / 1000.0)
            self.simple(sock, 200, b"slow head\n", keep)
        elif len(seg) == 3 and seg[1] == "slow-body":
            sock.sendall(self.head(200, "OK", [("Content-Length", "11")], keep))
            time.sleep(int(seg[2]) / 1000.0)
            sock.sendall(b"slow body\n\n")
        elif len(seg) == 3 and seg[1] == "bad-framing":
            body = b"SMUGGLED-BODY"
            kind = seg[2]
            cl, te = ("Content-Length", "13"), ("Transfer-Encoding", "chunked")
            hdrs = {"cl-te": [cl, te], "te-cl": [te, cl], "cl-cl": [cl, ("Content-Length", "5")],
                    "cl-list": [("Content-Length", "13, 5")]}[kind]
            if kind in ("cl-te", "te-cl"):
                body = b"d\r\n" + body + b"\r\n0\r\n\r\n"
            sock.sendall(self.head(200, "OK", [("X-Origin", self.name)] + hdrs, True) + body)
            return False
        elif path == "/die-mid-body":
            sock.sendall(self.head(200, "OK", [("Content-Length", "1000")], True))
            sock.sendall(pattern_bytes(0, 100))
            return False
        elif path == "/head-info":
            sock.sendall(self.head(200, "OK", [("Content-Type", "text/plain"),
                                               ("Content-Length", "1234")], keep))
            if m != "HEAD":
                self.send_pattern(sock, 1234)
        elif path == "/304":
            sock.sendall(self.head(304, "Not Modified", [("ETag", '"abc"'),
                                                         ("X-Origin", self.name)], keep))
        elif path == "/login":
            sid = "%s-%d" % (self.name, random.randrange(1 << 30))
            self.simple(sock, 200, ("session %s\n" % sid).encode(), keep,
                        extra=[("Set-Cookie", "JSESSIONID=%s; Path=/; HttpOnly" % sid)])
        elif path == "/204":
            sock.sendall(self.head(204, "No Content", [("X-Origin", self.name)], keep))
        elif path == "/1xx":
            sock.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
            time.sleep(0.05)
            self.simple(sock, 200, b"after early hints\n", keep)
        elif path == "/server-header":
            self.simple(sock, 200, b"server header\n", keep,
                        extra=[("Server", "secret-backend/1.2"), ("X-Powered-By", "PHP/8")])
        elif path == "/hop":
            self.simple(sock, 200, b"hop\n", keep,
                        extra=[("Connection", "x-hop"), ("X-Hop", "1"),
                               ("Keep-Alive", "timeout=5"), ("Proxy-Connection", "keep-alive"),
                               ("Upgrade", "foo"), ("X-End", "1")])
        elif path == "/via":
            self.simple(sock, 200, b"via\n", keep, extra=[("Via", "1.1 origin-cache")])
        else:
            self.simple(sock, 200, ("hello from %s\n" % self.name).encode(), keep, method=m)
        return keep

    def stats(self, sock, req, keep):
        with self.lock:
            doc = {"connections": self.connections, "open": self.open,
                   "requests": self.requests, "origin": self.name}
            if req.query().get("reset") == "1":
                self.connections = self.requests = 0
        self.simple(sock, 200, json.dumps(doc).encode(), keep, ctype="application/json")
        return keep

    def serve(self, sock):
        conn = Conn(sock)
        is_stats = False
        try:
            while True:
                sock.settimeout(self.idle_close)
                try:
                    if not conn.buf:
                        conn.fill()
                except socket.timeout:
                    return
                sock.settimeout(None)
                req = read_request(conn)
                conn_hdr = ",".join(req.get_all("connection")).lower()
                keep = req.version == "HTTP/1.1" and "close" not in conn_hdr
                if req.version == "HTTP/1.0" and "keep-alive" in conn_hdr:
                    keep = True
                if req.path() == "/stats":
                    if not is_stats:
                        is_stats = True
                        with self.lock:
                            self.connections -= 1
                            self.open -= 1
                    keep = self.stats(sock, req, keep)
                else:
                    with self.lock:
                        self.requests += 1
                    keep = self.handle(sock, req, keep)
                if not keep:
                    return
        except (EOFError, ConnectionError, BadRequest, ValueError, OSError):
            return
        finally:
            if not is_stats:
                with self.lock:
                    self.open -= 1
            try:
                sock.close()
            except OSError:
                pass


REASONS = {100: "Continue", 103: "Early Hints", 200: "OK", 201: "Created", 204: "No Content",
           301: "Moved Permanently", 302: "Found", 304: "Not Modified", 400: "Bad Request",
           404: "Not Found", 418: "I'm a teapot", 500: "Internal Server Error",
           502: "Bad Gateway", 503: "Service Unavailable"}


def main():
    ap = argparse.ArgumentParser(description="ringwall demo/test origin")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--name", default="origin")
    ap.add_argument("--idle-close-ms", type=int, default=0,
                    help="close keep-alive connections idle this long (0: never)")
    ap.add_argument("--delay-ms", type=int, default=0,
                    help="wait this long before answering any request but /stats")
    args = ap.parse_args()
    fam = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    ls = socket.socket(fam, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((args.host, args.port))
    ls.listen(512)
    origin = Origin(args.name, args.idle_close_ms, args.delay_ms)
    print("origin %s listening on %s:%d" % (args.name, args.host, args.port), flush=True)
    try:
        while True:
            s, _ = ls.accept()
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with origin.lock:
                origin.connections += 1
                origin.open += 1
            threading.Thread(target=origin.serve, args=(s,), daemon=True).start()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
