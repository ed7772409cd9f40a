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
  autoconf          # scripts/wolfssl.sh: wolfSSL with assembly, from Debian's source package
  automake
  libtool
  dpkg-dev          # dpkg-source (unpacks and checks the source package)
)

# scripts/wolfssl.sh builds wolfSSL from `apt-get source wolfssl`, which needs a deb-src entry.
# Mirror every Debian archive `deb` entry as `deb-src` (in a file of our own), as root, when
# there is none. Failure here is not fatal: the build then uses the system wolfSSL and says so.
DEB_SRC_FILE=/etc/apt/sources.list.d/ringwall-deb-src.sources
need_update=0
deb_src_present() {
  grep -Eqs '^[[:space:]]*(deb-src[[:space:]]|Types:.*deb-src)' /etc/apt/sources.list \
    /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources
}
deb_src_mirror() { # deb822 stanzas for the Debian archives among the enabled deb entries
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk 'BEGIN { RS = ""; ORS = "\n\n" }
      /(^|\n)Types:[^\n]*deb([ \t\n]|$)/ && /(^|\n)URIs:[^\n]*\/debian(-security)?\/?([ \t\n]|$)/ \
        && !/(^|\n)Enabled:[ \t]*no/ {
        sub(/(^|\n)Types:[^\n]*/, "\nTypes: deb-src"); sub(/^\n/, ""); print }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk '$1 == "deb" && $0 ~ /\/debian(-security)?\/?[ \t]/ {
        opts = ""; i = 2
        if ($2 ~ /^\[/) { while ($i !~ /\]$/) { opts = opts " " $i; i++ }; opts = opts " " $i; i++ }
        uri = $i; suite = $(i + 1); comps = ""
        for (j = i + 2; j <= NF; j++) comps = comps (comps == "" ? "" : " ") $j
        print "Types: deb-src\nURIs: " uri "\nSuites: " suite "\nComponents: " comps
        if (opts ~ /signed-by=/) { sub(/.*signed-by=/, "", opts); sub(/[ \]].*/, "", opts)
          print "Signed-By: " opts }
        print "" }' "$f"
  done
}
if ! deb_src_present; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps: no deb-src entry: scripts/wolfssl.sh cannot fetch wolfSSL's source and the" >&2
    echo "  build will use the system wolfSSL (slow bulk TLS); as root, scripts/deps.sh adds one" >&2
  else
    stanzas="$(deb_src_mirror)"
    if [ -n "$stanzas" ]; then
      printf '# Added by ringwall scripts/deps.sh: sources for scripts/wolfssl.sh.\n%s\n' \
        "$stanzas" >"$DEB_SRC_FILE"
      echo "deps: added $DEB_SRC_FILE (deb-src mirroring the Debian deb entries)"
      need_update=1
    else
      echo "deps: no Debian deb entry to mirror as deb-src; the build will use the system wolfSSL" >&2
    fi
  fi
elif [ "$(id -u)" -eq 0 ] && command -v apt-cache >/dev/null && \
     [ -z "$(apt-cache showsrc wolfssl 2>/dev/null | head -n1)" ]; then
  need_update=1   # deb-src configured but its index was never fetched
fi

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

missing=()
for p in "${PKGS[@]}"; do
  installed "$p" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#PKGS[@]} packages present"
  if [ "$need_update" -eq 1 ]; then
    apt-get update -q >/dev/null 2>&1 || echo "deps: apt-get update failed (offline?)" >&2
  fi
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
