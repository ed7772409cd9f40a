#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Quick start: install what is missing, build, start two demo origins, run ringwall in front.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
scripts/build.sh release

CONFIG=examples/quickstart.json
if [ ! -f "$CONFIG" ]; then
  echo "quickstart: $CONFIG not found" >&2
  exit 1
fi

pids=()
cleanup() {
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null || true
  done
  for p in "${pids[@]}"; do
    wait "$p" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_port HOST PORT PID: until HOST:PORT accepts, or PID dies
wait_port() {
  for _ in $(seq 1 100); do
    if ! kill -0 "$3" 2>/dev/null; then
      return 1
    fi
    if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

for i in 1 2; do
  port=$((9000 + i))
  python3 test/integration/origin.py --host 127.0.0.1 --port "$port" --name "origin-$i" &
  pids+=($!)
  if ! wait_port 127.0.0.1 "$port" "$!"; then
    echo "quickstart: demo origin-$i could not listen on 127.0.0.1:$port (port in use?)" >&2
    exit 1
  fi
done

"${RW_BUILD_ROOT:-.}/build/ringwall" -c "$CONFIG" &
rw=$!
pids+=("$rw")
if wait_port 127.0.0.1 8080 "$rw"; then
  echo
  echo "ringwall is running (pid $rw) on :8080 in front of origin-1 (:9001) and origin-2 (:9002)"
  echo "try: curl http://localhost:8080/"
  echo "stop: Ctrl-C"
  echo
fi
set +e
wait "$rw"
status=$?
exit "$status"
