#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Build ringwall: release -> build/, asan -> build-asan/ (ASan+UBSan), fuzz -> build-fuzz/ (clang).
# RW_BUILD_ROOT puts those directories somewhere else (default: the repo root).
set -euo pipefail
cd "$(dirname "$0")/.."

kind="${1:-release}"
jobs="$(nproc 2>/dev/null || echo 2)"
root="${RW_BUILD_ROOT:-.}"
case "$kind" in
  release)
    dir="$root/build"
    args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
    cc="${CC:-cc}" ;;
  asan)
    dir="$root/build-asan"
    args=(-DCMAKE_BUILD_TYPE=Debug -DRW_SANITIZE=ON)
    cc="${CC:-cc}" ;;
  fuzz)
    dir="$root/build-fuzz"
    args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DRW_FUZZ=ON)
    cc=clang ;;
  *)
    echo "usage: $0 [release|asan|fuzz]" >&2
    exit 2 ;;
esac

# wolfSSL with its x86-64 assembly, built once into a cache (scripts/wolfssl.sh, docs/wolfssl.md);
# on any failure (offline, no deb-src, not x86-64) the system library, reported by CMake.
# RW_WOLFSSL=system skips it.
wolfssl_prefix="$(scripts/wolfssl.sh build)" || wolfssl_prefix=""
args+=("-DRW_WOLFSSL_PREFIX=${wolfssl_prefix:-system}")

echo "build: $kind -> $dir/"
CC="$cc" cmake -S . -B "$dir" -G "Unix Makefiles" "${args[@]}"
cmake --build "$dir" -- -j"$jobs"
