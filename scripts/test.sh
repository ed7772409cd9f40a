#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Every test: deps, release + ASan/UBSan builds, unit tests in both, integration suite on both
# I/O backends against the release and the ASan binaries, and each fuzz target briefly.
# Prints per-suite totals and a final "N passed, N failed" line; non-zero exit on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS="${RW_FUZZ_SECONDS:-15}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
LOG_DIR="$(mktemp -d /tmp/ringwall-test.XXXXXX)"
B="$(mkdir -p "${RW_BUILD_ROOT:-.}" && cd "${RW_BUILD_ROOT:-.}" && pwd)"   # absolute: where build/, build-asan/, build-fuzz/ live (see build.sh)
start_time=$(date +%s)

total_pass=0
total_fail=0
summary=()

record() { # record SUITE PASSED FAILED [NOTE]
  total_pass=$((total_pass + $2))
  total_fail=$((total_fail + $3))
  summary+=("$(printf '%-28s %4d passed, %4d failed%s' "$1" "$2" "$3" "${4:+  ($4)}")")
  printf '>>> %s: %d passed, %d failed%s\n' "$1" "$2" "$3" "${4:+ ($4)}"
}

step() { # step SUITE CMD...: one pass or one fail, output to a log (shown on failure)
  local name="$1"; shift
  local log="$LOG_DIR/$name.log"
  echo ">>> $name: $*"
  if "$@" >"$log" 2>&1; then
    record "$name" 1 0
  else
    tail -n 60 "$log"
    record "$name" 0 1 "log: $log"
    return 1
  fi
}

unit() { # unit SUITE BUILD_DIR
  local name="$1" dir="$2" log="$LOG_DIR/$1.log"
  echo ">>> $name: ctest in $dir"
  if [ ! -d "$dir" ]; then
    record "$name" 0 1 "no $dir"
    return
  fi
  ctest --test-dir "$dir" --output-on-failure -j2 >"$log" 2>&1
  local rc=$?
  cat "$log"
  local line passed failed total
  line=$(grep -E "tests passed, [0-9]+ tests? failed out of [0-9]+" "$log" | tail -n1)
  if [ -n "$line" ]; then
    failed=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
    total=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$line")
    passed=$((total - failed))
  elif grep -q "No tests were found" "$log"; then
    passed=0 failed=0
  else
    passed=0 failed=1
  fi
  [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
  record "$name" "$passed" "$failed"
}

integration() { # integration SUITE BINARY [ENV=VALUE...]
  local name="$1" bin="$2"; shift 2
  local log="$LOG_DIR/$name.log"
  echo ">>> $name: test/integration/run.py against $bin"
  env RINGWALL_BIN="$bin" RW_SUITE_NAME="$name" "$@" \
    python3 test/integration/run.py 2>&1 | tee "$log"
  local line
  line=$(grep -E '^RW_TOTALS ' "$log" | tail -n1)
  if [ -z "$line" ]; then
    record "$name" 0 1 "run.py did not finish"
    return
  fi
  local p f
  p=$(sed -E 's/.*passed=([0-9]+).*/\1/' <<<"$line")
  f=$(sed -E 's/.*failed=([0-9]+).*/\1/' <<<"$line")
  record "$name" "$p" "$f"
}

fuzz() {
  local dir="$B/build-fuzz" found=0
  for t in "$dir"/fuzz/fuzz_* "$dir"/fuzz_*; do
    [ -x "$t" ] && [ -f "$t" ] || continue
    found=1
    local name base scratch log args=()
    base=$(basename "$t")
    name=${base#fuzz_}
    scratch="$LOG_DIR/corpus-$name"
    log="$LOG_DIR/fuzz-$name.log"
    mkdir -p "$scratch" "$LOG_DIR/artifacts-$name"
    if [ -d "fuzz/corpus/$name" ]; then
      cp -r "fuzz/corpus/$name/." "$scratch/"
    fi
    [ -f "fuzz/$name.dict" ] && args+=("-dict=fuzz/$name.dict")
    echo ">>> fuzz.$name: ${FUZZ_SECONDS}s"
    if "$t" "${args[@]}" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$LOG_DIR/artifacts-$name/" \
        "$scratch" >"$log" 2>&1; then
      record "fuzz.$name" 1 0 "$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2 " runs"}')"
    else
      tail -n 40 "$log"
      record "fuzz.$name" 0 1 "log: $log"
    fi
  done
  if [ "$found" -eq 0 ]; then
    record "fuzz" 0 1 "no fuzz targets built in $dir"
  fi
}

echo "ringwall tests; logs in $LOG_DIR"
if ! scripts/deps.sh; then
  echo "0 passed, 1 failed"
  exit 1
fi

step build.release scripts/build.sh release
step build.asan scripts/build.sh asan

unit unit.release "$B/build"
unit unit.asan "$B/build-asan"

# Integration, release binary: both backends, full-size (1 GiB) transfers.
integration integration.release "$B/build/ringwall"
# io_uring as a kernel before 6.17 runs it (Debian 12 has 6.1): no byte limit on multishot
# receives, so kept-alive reads fall back to one-shot recvs (core/io_uring.c test hook).
# And every wait coalesced, as a busy worker's are with io_coalesce on (core/io_uring-int.h):
# tests never load a worker enough for that otherwise. The suite's configs leave io_coalesce
# off, so the hook's value is the budget: "100us".
integration integration.release-nolimit "$B/build/ringwall" RW_BACKENDS=io_uring \
  RW_TEST_IO_URING_NO_RECV_LIMIT=1 RW_TEST_IO_URING_COALESCE_ALWAYS=100
# Integration, ASan+UBSan binary: both backends; a looser RSS ceiling (shadow memory and the
# allocator's quarantine count in RSS). A sanitizer report on the proxy's stderr fails the
# test class that ran it (harness.py), as does a non-clean exit after SIGTERM.
integration integration.asan "$B/build-asan/ringwall" RW_BIG_BYTES="${RW_ASAN_BIG_BYTES:-1GiB}" \
  RW_RSS_LIMIT_MB="${RW_ASAN_RSS_LIMIT_MB:-256}"

if step build.fuzz scripts/build.sh fuzz; then
  fuzz
fi

# Benchmark smoke run: ringwall beside nginx and HAProxy under a few seconds of load each.
# Fails on any error or non-2xx under load, or throughput below half of HAProxy's (a gross
# regression guard, not a timing test); prints the comparison table into the log.
echo ">>> bench.smoke: bench/run --smoke"
if bench/run --smoke --no-install --ringwall "$B/build/ringwall" 2>&1 | tee "$LOG_DIR/bench.smoke.log"; then
  record bench.smoke 1 0
else
  record bench.smoke 0 1 "log: $LOG_DIR/bench.smoke.log"
fi

echo
echo "==================== summary ($(( $(date +%s) - start_time ))s) ===================="
for s in "${summary[@]}"; do
  echo "$s"
done
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
