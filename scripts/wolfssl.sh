#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Build (once, cached) a static wolfSSL with its x86-64 assembly from Debian's pinned source package.
#
#   scripts/wolfssl.sh [build]   ensure the cached build exists; print its prefix on stdout
#                                (nothing when falling back to the system library); exit 0 either way
#   scripts/wolfssl.sh prefix    print the prefix of a valid cached build, or exit 1 (never builds)
#   scripts/wolfssl.sh bench     wolfCrypt benchmark: system library vs the cached build
#
# Messages go to stderr. Environment:
#   RW_WOLFSSL=system            never build; use the system library
#   RW_WOLFSSL_CACHE=DIR         cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/ringwall)
#   RW_WOLFSSL_CC=CC             compiler for wolfSSL (default cc; CC is ignored so that the
#                                clang fuzz build shares the gcc-built cache)
# Source: `apt-get source wolfssl=$DEB_VERSION` (needs a deb-src entry: scripts/deps.sh adds one),
# the orig tarball, Debian tarball and .dsc checked against the SHA-256 pinned below, then
# `dpkg-source -x` (checks every file against the .dsc and applies Debian's security patches).
# Configure: the TLS features ringwall uses (not Debian's --enable-distro, whose options make
# every connection about 60 KB), plus AES-NI, Intel assembly and SP math assembly, static only,
# -fPIC. See docs/wolfssl.md.
set -euo pipefail

UPSTREAM_VERSION=5.5.4
DEB_VERSION=5.5.4-2+deb12u3
ORIG_SHA256=b7ee150e49def77c765bc02aac92ddeb0bebefd4cb12aa263d8f95e405221fb8
DEBIAN_SHA256=79565eb855d557eb062cb88b033b6fe96e2a6e598236021b81b9840bef5ab6f4
DSC_SHA256=41cc3bce69a14214cc16f03f87e1292d8a2f95c03bbf94f49ca36b010989a81a
RECIPE=5   # bump when the build steps below change: it is part of the cache key

# What tls/ and balancers/ use, nothing more: every option that grows the per-connection
# structs (SESSION_CERTS, WOLFSSL_ALT_CERT_CHAINS, post-handshake auth, Ed25519/Ed448 message
# caching, DTLS) stays off, so an idle TLS connection stays small (docs/wolfssl.md).
# No OpenSSL compatibility layer (--enable-opensslextra/opensslall): it forces KEEP_PEER_CERT
# (a 3.8 KB WOLFSSL_X509 inside every WOLFSSL) and keeps suites and verify params per
# connection; tls/ uses native wolfSSL/wolfCrypt calls and reads certificates itself.
# --enable-aesgcm=word: no 512-byte GHASH table in each of a connection's two AES contexts
# (the AES-NI code never uses it; only CPUs without AES-NI fall back to the table-less C).
# TLS 1.0/1.1 stay compiled in (as in Debian's build): contexts refuse them, and the unit
# tests need a TLS 1.1 client to prove it.
FEATURE_FLAGS=(--disable-examples --disable-crypttests --disable-benchmark --disable-silent-rules
               --enable-tls13
               --enable-sni --enable-alpn --enable-session-ticket --enable-extended-master
               --enable-ocsp --enable-ocspstapling --enable-supportedcurves
               --enable-ecc --enable-curve25519 --enable-curve448 --enable-rsapss --enable-hkdf
               --enable-aesgcm=word --enable-chacha --enable-poly1305
               --disable-sessioncerts --disable-postauth --disable-dtls)
# configure copies these into options.h:
# WOLFSSL_ALWAYS_VERIFY_CB: the verify callback also runs for a verified leaf, where tls/peer.c
#   keeps the client certificate's identity (wolfSSL forgets the certificate afterwards);
# WOLFSSL_FORCE_CACHE_ON_TICKET: wolfSSL_set_session() takes a ticket session although the
#   session cache is off (upstream resumption);
# WOLFSSL_EXTRA_ALERTS, WOLFSSL_TICKET_HAVE_ID: as the compatibility layer set them, so
#   alerts and tickets stay as they were;
# WOLFSSL_CIPHER_INTERNALNAME: cipher names as tls.h documents them
#   ("TLS13-AES128-GCM-SHA256", as Debian's build reports);
# RW_WOLFSSL_TLS12_TICKET_FIX: marks the TLS 1.2 ticket patch below (the unit tests run the
#   full TLS 1.2 resumption matrix only with it);
# WOLFSSL_TICKET_EXTRA_PADDING_SZ=512: room after wolfSSL's own 108-byte ticket state that the
#   ticket callback may fill (default 32): tls/keys.c seals the client certificate's identity
#   there, so a resumed session keeps it (tls/NOTES.md). Costs 480 B in every WOLFSSL_SESSION,
#   so in every connection (the ticket buffer is inline).
CPPFLAGS_W="-DWOLFSSL_ALWAYS_VERIFY_CB -DWOLFSSL_FORCE_CACHE_ON_TICKET -DWOLFSSL_EXTRA_ALERTS"
CPPFLAGS_W+=" -DWOLFSSL_TICKET_HAVE_ID -DWOLFSSL_CIPHER_INTERNALNAME -DRW_WOLFSSL_TLS12_TICKET_FIX"
CPPFLAGS_W+=" -DWOLFSSL_TICKET_EXTRA_PADDING_SZ=512"
ASM_FLAGS=(--enable-aesni --enable-intelasm --enable-sp --enable-sp-asm)
CFLAGS_W="-g -O2 -fPIC -fstack-protector-strong"

CC_W="${RW_WOLFSSL_CC:-cc}"
CACHE_ROOT="${RW_WOLFSSL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ringwall}"
DL_DIR="$CACHE_ROOT/wolfssl-src-$DEB_VERSION"
LOG="$CACHE_ROOT/wolfssl-build.log"

# ringwall's own fixes on top of Debian's patches (part of the cache key).
# TLS 1.3 OCSP stapling in 5.5.4 leaks on every handshake that asks for a staple: the decoded
# leaf certificate (TLSX_CSR_Parse never calls FreeDecodedCert) and the server's copy of the
# response (TLSX_CSR_Free never frees it).
# A TLS 1.2 client that offers a ticket sends an empty session ID and takes any ServerHello
# as an accepted resumption (DSH_CheckSessionId), so when the server refuses the ticket
# (unknown or expired key) and does a full handshake, the client aborts with "Out of order
# message". RFC 5077 3.4: the client may send a session ID with the ticket, and a server that
# accepts the ticket echoes it: the client now sends the session's ID and resumes only on
# the echo (an empty ID keeps the old guess). wolfSSL fixed the same check upstream in 2024
# (PR 8097, "Fix TLS v1.2 session resumption edge cases").
ringwall_patches() {
  cat <<'PATCH'
--- a/src/tls.c
+++ b/src/tls.c
@@ -2947,6 +2947,15 @@
         break;
     }
 
+#if defined(WOLFSSL_TLS13) && !defined(NO_WOLFSSL_SERVER)
+    /* A server's TLS 1.3 staple is its own copy (a client's points into input). */
+    if (csr->ssl != NULL && csr->ssl->options.side == WOLFSSL_SERVER_END &&
+            csr->response.buffer != NULL) {
+        XFREE(csr->response.buffer, csr->ssl->heap, DYNAMIC_TYPE_TMP_BUFFER);
+        csr->response.buffer = NULL;
+    }
+#endif
+
     XFREE(csr, heap, DYNAMIC_TYPE_TLSX);
     (void)heap;
 }
@@ -3196,14 +3205,17 @@
                             ssl->buffers.certificate->length, ssl->heap);
             ret = ParseCert(cert, CERT_TYPE, 1, SSL_CM(ssl));
             if (ret != 0 ) {
+                FreeDecodedCert(cert);
                 XFREE(cert, ssl->heap, DYNAMIC_TYPE_DCERT);
                 return ret;
             }
             ret = TLSX_CSR_InitRequest(ssl->extensions, cert, ssl->heap);
             if (ret != 0 ) {
+                FreeDecodedCert(cert);
                 XFREE(cert, ssl->heap, DYNAMIC_TYPE_DCERT);
                 return ret;
             }
+            FreeDecodedCert(cert);
             XFREE(cert, ssl->heap, DYNAMIC_TYPE_DCERT);
 
             extension = TLSX_Find(ssl->extensions, TLSX_STATUS_REQUEST);
--- a/src/internal.c
+++ b/src/internal.c
@@ -26082,7 +26082,8 @@
                 return ret;
             }
 
-            idSz = 0;
+            /* Keep the session ID (RFC 5077 3.4): an accepting server echoes
+             * it, which tells a resumption from a full handshake. */
         }
 #endif
         length = VERSION_SZ + RAN_LEN
@@ -26385,7 +26386,13 @@
 #ifdef HAVE_SESSION_TICKET
         /* server may send blank ticket which may not be expected to indicate
          * existing one ok but will also be sending a new one */
-        ret = ret || (ssl->session->ticketLen > 0);
+        /* RFC 5077 3.4: a server that accepts the ticket echoes the session ID
+         * sent with it; any other ID means it chose a full handshake. */
+        ret = ret || (ssl->session->ticketLen > 0 &&
+                      (ssl->session->sessionIDSz == 0 ||
+                       (ssl->arrays->sessionIDSz == ssl->session->sessionIDSz &&
+                        XMEMCMP(ssl->arrays->sessionID, ssl->session->sessionID,
+                                ssl->session->sessionIDSz) == 0)));
 #endif
 
         ret = ret ||
PATCH
}

say() { echo "wolfssl: $*" >&2; }
fallback() {
  say "$*"
  say "falling back to the system library (no assembly: bulk TLS is slow)"
  exit 0
}

cache_key() {
  # Everything that changes the built library: source, flags, compiler.
  local ccv
  ccv="$("$CC_W" --version 2>/dev/null | head -n1 || echo none)"
  printf '%s\n' "$RECIPE" "$DEB_VERSION" "$ORIG_SHA256" "$DEBIAN_SHA256" \
    "${FEATURE_FLAGS[*]}" "${ASM_FLAGS[*]}" "$CFLAGS_W" "$CPPFLAGS_W" "$ccv" "$(uname -m)" \
    "$(ringwall_patches | sha256sum | cut -c1-16)"
}

prefix_dir() {
  local h
  h="$(cache_key | sha256sum | cut -c1-12)"
  echo "$CACHE_ROOT/wolfssl-$UPSTREAM_VERSION-asm-$h"
}

valid() { # valid PREFIX: a finished build with the same key
  [ -f "$1/.ringwall-key" ] && [ -f "$1/lib/libwolfssl.a" ] && \
    [ -f "$1/lib/pkgconfig/wolfssl.pc" ] && [ -f "$1/include/wolfssl/options.h" ] && \
    [ "$(cat "$1/.ringwall-key")" = "$(cache_key)" ]
}

check_sha() { # check_sha FILE SHA256
  [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]
}

fetch() { # the three source files in $DL_DIR, checksums verified
  local orig="$DL_DIR/wolfssl_$UPSTREAM_VERSION.orig.tar.gz"
  local deb="$DL_DIR/wolfssl_$DEB_VERSION.debian.tar.xz"
  local dsc="$DL_DIR/wolfssl_$DEB_VERSION.dsc"
  if check_sha "$orig" "$ORIG_SHA256" && check_sha "$deb" "$DEBIAN_SHA256" && \
     check_sha "$dsc" "$DSC_SHA256"; then
    return 0
  fi
  command -v apt-get >/dev/null || { say "apt-get not found"; return 1; }
  mkdir -p "$DL_DIR"
  say "downloading Debian source package wolfssl $DEB_VERSION"
  if ! (cd "$DL_DIR" && apt-get source --download-only -q "wolfssl=$DEB_VERSION") >>"$LOG" 2>&1; then
    say "apt-get source wolfssl=$DEB_VERSION failed (no deb-src entry, offline, or version gone;"
    say "  scripts/deps.sh as root adds deb-src; see $LOG)"
    return 1
  fi
  local f sum bad=0
  for f in "$orig:$ORIG_SHA256" "$deb:$DEBIAN_SHA256" "$dsc:$DSC_SHA256"; do
    sum="${f##*:}"
    if ! check_sha "${f%:*}" "$sum"; then
      say "checksum mismatch for ${f%:*} (expected SHA-256 $sum); removing it"
      rm -f "${f%:*}"
      bad=1
    fi
  done
  [ "$bad" -eq 0 ] || return 1
  say "source verified (SHA-256 pinned in scripts/wolfssl.sh)"
}

build() { # build PREFIX
  local prefix="$1" t0 work src stage
  t0=$(date +%s)
  for tool in autoreconf automake libtoolize dpkg-source patch make "$CC_W"; do
    command -v "$tool" >/dev/null || { say "missing $tool (scripts/deps.sh installs it)"; return 1; }
  done
  fetch || return 1
  rm -rf "$CACHE_ROOT"/.build.*   # leftovers of an interrupted build (we hold the lock)
  work="$(mktemp -d "$CACHE_ROOT/.build.XXXXXX")"
  src="$work/src"
  stage="$work/stage"
  say "building wolfSSL $DEB_VERSION with assembly into $prefix (log: $LOG)"
  (
    dpkg-source -x "$DL_DIR/wolfssl_$DEB_VERSION.dsc" "$src" &&
    cd "$src" &&
    ringwall_patches | patch -p1 --no-backup-if-mismatch &&
    ./autogen.sh &&
    CC="$CC_W" CFLAGS="$CFLAGS_W" CPPFLAGS="$CPPFLAGS_W" ./configure --prefix="$prefix" --libdir="$prefix/lib" \
      "${FEATURE_FLAGS[@]}" "${ASM_FLAGS[@]}" --enable-static --disable-shared --with-pic &&
    make -j"$(nproc 2>/dev/null || echo 2)" src/libwolfssl.la &&
    make DESTDIR="$stage" install-libLTLIBRARIES install-nobase_includeHEADERS \
      install-includeHEADERS install-pkgconfigDATA &&
    # options.h is installed by hand, as Debian does.
    install -m 644 wolfssl/options.h "$stage$prefix/include/wolfssl/options.h" &&
    install -m 644 cyassl/options.h "$stage$prefix/include/cyassl/options.h" &&
    # A static archive needs its own dependencies on every link line.
    sed -i 's/^Libs: .*/& -lm -pthread -ldl/' "$stage$prefix/lib/pkgconfig/wolfssl.pc" &&
    rm -f "$stage$prefix"/lib/*.la &&
    grep -q '^#define WOLFSSL_SP_X86_64_ASM' "$stage$prefix/include/wolfssl/options.h" &&
    grep -q '^#define WOLFSSL_AESNI' "$stage$prefix/include/wolfssl/options.h" &&
    grep -q '^#define WOLFSSL_ALWAYS_VERIFY_CB' "$stage$prefix/include/wolfssl/options.h" &&
    grep -q '^#define WOLFSSL_TICKET_EXTRA_PADDING_SZ 512' "$stage$prefix/include/wolfssl/options.h" &&
    ! grep -Eq '^#define (SESSION_CERTS|WOLFSSL_ALT_CERT_CHAINS|OPENSSL_EXTRA|KEEP_PEER_CERT)$' \
      "$stage$prefix/include/wolfssl/options.h"
  ) >>"$LOG" 2>&1 || {
    tail -n 20 "$LOG" >&2
    rm -rf "$work"
    say "build failed (log: $LOG)"
    return 1
  }
  cache_key >"$stage$prefix/.ringwall-key"
  rm -rf "$prefix"
  mv "$stage$prefix" "$prefix"
  rm -rf "$work"
  say "built in $(( $(date +%s) - t0 )) s: $prefix"
}

cmd_build() {
  if [ "${RW_WOLFSSL:-}" = "system" ]; then
    say "RW_WOLFSSL=system: not building"
    say "using the system library (no assembly: bulk TLS is slow)"
    exit 0
  fi
  case "$(uname -m)" in
    x86_64|amd64) ;;
    *) fallback "the assembly build is for x86-64 only (this is $(uname -m))" ;;
  esac
  mkdir -p "$CACHE_ROOT" 2>/dev/null || fallback "cannot create $CACHE_ROOT"
  local prefix
  prefix="$(prefix_dir)"
  # One builder at a time (parallel build directories share the cache).
  exec 9>"$CACHE_ROOT/.wolfssl.lock"
  flock 9
  if valid "$prefix"; then
    say "cached build: $prefix"
  else
    : >"$LOG"
    build "$prefix" || fallback "could not build the assembly wolfSSL"
  fi
  echo "$prefix"
}

cmd_prefix() {
  [ "${RW_WOLFSSL:-}" = "system" ] && exit 1
  local prefix
  prefix="$(prefix_dir)"
  valid "$prefix" || exit 1
  echo "$prefix"
}

cmd_bench() {
  # Builds wolfCrypt's own benchmark (from the same verified source) twice: against the
  # system library and against the cached assembly build, then runs both.
  local prefix args=(-aes-gcm -chacha20-poly1305 -x25519 -ecc -p256 -base10)
  prefix="$(cmd_build)"
  [ -n "$prefix" ] || { say "no assembly build to compare"; exit 1; }
  fetch || exit 1
  work="$(mktemp -d /tmp/wolfssl-bench.XXXXXX)"   # global: the EXIT trap needs it
  trap 'rm -rf "$work"' EXIT
  dpkg-source -x "$DL_DIR/wolfssl_$DEB_VERSION.dsc" "$work/src" >/dev/null 2>&1
  mkdir -p "$work/b/wolfcrypt/benchmark"
  cp "$work/src/wolfcrypt/benchmark/benchmark."[ch] "$work/b/wolfcrypt/benchmark/"
  "$CC_W" -O2 -I"$work/b" -o "$work/bench-system" "$work/b/wolfcrypt/benchmark/benchmark.c" \
    -lwolfssl -lm -lpthread
  "$CC_W" -O2 -I"$work/b" -I"$prefix/include" -o "$work/bench-asm" \
    "$work/b/wolfcrypt/benchmark/benchmark.c" "$prefix/lib/libwolfssl.a" -lm -pthread -ldl
  echo "== system library (libwolfssl35 $(dpkg-query -W -f='${Version}' libwolfssl35 2>/dev/null))"
  "$work/bench-system" "${args[@]}" | grep -E 'GCM-enc|CHA-POLY|SECP256R1|25519'
  echo "== assembly build ($prefix)"
  "$work/bench-asm" "${args[@]}" | grep -E 'GCM-enc|CHA-POLY|SECP256R1|25519'
}

case "${1:-build}" in
  build) cmd_build ;;
  prefix) cmd_prefix ;;
  bench) cmd_bench ;;
  *) echo "usage: $0 [build|prefix|bench]" >&2; exit 2 ;;
esac
