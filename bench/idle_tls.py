#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# bench helper: hold N idle HTTPS keep-alive connections (the TLS half of scenario 6).
"""idle_tls.py PORT N [HOLD_S] [TIMEOUT_S]

Opens N TLS connections to 127.0.0.1:PORT one after another (no certificate check: the
bench certificate is self-signed), sends one GET /small on each and reads its response,
prints "READY ok=X failed=Y" and keeps them all open until stdin reaches EOF or HOLD_S
seconds pass. Same protocol as `rwclient idle`.
"""

import re
import resource
import select
import socket
import ssl
import sys
import time


def one(ctx, port):
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    s = ctx.wrap_socket(raw, server_hostname="bench.local")
    s.sendall(b"GET /small HTTP/1.1\r\nHost: bench.local\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(16384)
        if not chunk:
            raise OSError("EOF before response head")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
    need = int(m.group(1)) if m else 0
    while len(body) < need:
        chunk = s.recv(16384)
        if not chunk:
            raise OSError("EOF in body")
        body += chunk
    if not re.match(rb"HTTP/1\.1 2\d\d", head):
        raise OSError("non-2xx")
    return s


def main():
    port, n = int(sys.argv[1]), int(sys.argv[2])
    hold = float(sys.argv[3]) if len(sys.argv) > 3 else 60.0
    timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 120.0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    held, failed = [], 0
    deadline = time.time() + timeout
    for _ in range(n):
        if time.time() > deadline:
            failed += 1
            continue
        try:
            held.append(one(ctx, port))
        except (OSError, ssl.SSLError):
            failed += 1
    print("READY ok=%d failed=%d" % (len(held), failed), flush=True)
    end = time.time() + hold
    while time.time() < end:
        r, _, _ = select.select([sys.stdin], [], [], 0.2)
        if r and not sys.stdin.buffer.read1(64):
            break
    for s in held:
        s.close()
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
