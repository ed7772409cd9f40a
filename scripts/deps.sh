#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install the Debian 12 packages ringwall needs to build and test (only the missing ones).
set -euo pipefail

PKGS=(
  build-essential   # gcc, make
  cmake
  pkg-config
  liburing-dev
  libjansson-dev
  libcmocka-dev
  libpcre2-dev
  liburcu-dev
  libwolfssl-dev    # AEAD for sticky-session tokens (later: TLS)
  clang             # libFuzzer targets
  libclang-rt-14-dev  # fuzzer and sanitizer runtimes for clang-14
  python3           # integration tests and demo origins
  curl
  wrk               # bench/run: HTTP load generator
  nghttp2-client    # bench/run: h2load
  nginx             # bench/run: anchor proxy
  haproxy           # bench/run: anchor proxy
  gnuplot-nox       # bench/run: result plot (PNG)
  procps            # bench/run: ps/pgrep when reading results by hand
  openssl           # bench/run: ECDSA P-256 test certificate
)

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

missing=()
for p in "${PKGS[@]}"; do
  installed "$p" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#PKGS[@]} packages present"
  exit 0
fi

echo "deps: missing: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: not root; install them with:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"
echo "deps: installed ${missing[*]}"
