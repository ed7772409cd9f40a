#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Runs the integration suite once per I/O backend and prints per-suite totals.
"""Usage: run.py [-v] [-k PATTERN ...] [MODULE ...]

  RW_BACKENDS     backends to run (default "io_uring epoll"); io_uring is skipped with a
                  message when ringwall reports it unavailable on this host
  RINGWALL_BIN    binary under test (default build/ringwall)
  RW_SUITE_NAME   label for the totals lines (default "integration")
  (see harness.py for RW_BIG_BYTES, RW_RSS_LIMIT_MB, RW_KEEP_LOGS, RW_STANDIN)

Prints "<label>[<backend>]: N passed, N failed, N skipped" per backend, then
"RW_TOTALS passed=N failed=N skipped=N"; exits 1 on any failure.
"""

import argparse
import os
import sys
import time
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import harness as h  # noqa: E402


def run_backend(backend, args, label):
    os.environ["RW_IO_BACKEND"] = backend
    loader = unittest.TestLoader()
    if args.k:
        loader.testNamePatterns = ["*%s*" % k if "*" not in k else k for k in args.k]
    if args.modules:
        suite = unittest.TestSuite(loader.loadTestsFromName(m.removesuffix(".py"))
                                   for m in args.modules)
    else:
        suite = loader.discover(str(HERE), pattern="test_*.py", top_level_dir=str(HERE))
    print("=== %s[%s]: %s ===" % (label, backend, h.binary()), flush=True)
    t0 = time.monotonic()
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2 if args.verbose else 1)
    res = runner.run(suite)
    failed = len(res.failures) + len(res.errors) + len(res.unexpectedSuccesses)
    skipped = len(res.skipped)
    passed = res.testsRun - len(res.failures) - len(res.errors) - skipped \
        - len(res.unexpectedSuccesses)
    print("%s[%s]: %d passed, %d failed, %d skipped (%.1fs)"
          % (label, backend, max(passed, 0), failed, skipped, time.monotonic() - t0), flush=True)
    return max(passed, 0), failed, skipped


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("-k", action="append", default=[], help="only tests matching this pattern")
    ap.add_argument("modules", nargs="*", help="test modules, e.g. test_bodies")
    args = ap.parse_args()
    os.chdir(HERE)
    label = os.environ.get("RW_SUITE_NAME", "integration")
    backends = os.environ.get("RW_BACKENDS", "io_uring epoll").split()
    totals = [0, 0, 0]
    ran = 0
    if not h.standin() and not os.path.exists(h.binary()):
        print("%s: binary not found: %s (build it first, or set RINGWALL_BIN)"
              % (label, h.binary()))
        print("%s: 0 passed, 1 failed" % label)
        print("RW_TOTALS passed=0 failed=1 skipped=0")
        return 1
    for b in backends:
        try:
            ok, why = h.backend_available(b)
        except Exception as e:  # noqa: BLE001 - a crash at start-up is a failure
            print("%s[%s]: FAILED to start: %s" % (label, b, e), flush=True)
            totals[1] += 1
            continue
        if not ok:
            print("%s[%s]: SKIPPED: ringwall reports the backend unavailable here: %s"
                  % (label, b, why), flush=True)
            continue
        ran += 1
        p, f, s = run_backend(b, args, label)
        totals = [totals[0] + p, totals[1] + f, totals[2] + s]
    if ran == 0 and totals[1] == 0:
        print("%s: no backend could run" % label)
        totals[1] += 1
    print("%s: %d passed, %d failed, %d skipped" % (label, *totals))
    print("RW_TOTALS passed=%d failed=%d skipped=%d" % tuple(totals), flush=True)
    return 1 if totals[1] else 0


if __name__ == "__main__":
    sys.exit(main())
