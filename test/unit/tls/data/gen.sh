#!/bin/sh
# SPDX-License-Identifier: MIT
# Regenerates the fixed test PKI for unit.tls and fuzz_tls (run from anywhere; needs openssl).
# root (P-256) -> inter (P-256) -> leaves; the leaf files hold leaf + inter (full chain).
set -eu
cd "$(dirname "$0")"
D=36500
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
rsa() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null; }
# sign <name> <issuer> <subj> <ext-lines>: leaf/CA cert <name>.crt signed by <issuer>
sign() {
    printf '%b\n' "$4" > "$T/ext"
    openssl req -new -key "$1.key" -subj "$3" -out "$T/csr" 2>/dev/null
    openssl x509 -req -in "$T/csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial -days $D \
        -extfile "$T/ext" -out "$1.crt" 2>/dev/null
}
# selfca <name> <subj> <key-usage>: a self-signed P-256 CA, <name>.key and <name>.crt
selfca() {
    ec "$1.key"
    openssl req -x509 -new -key "$1.key" -subj "$2" -days $D \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,$3" \
        -out "$1.crt" 2>/dev/null
}
selfca root "/CN=ringwall test root" "keyCertSign,cRLSign"
ec inter.key
sign inter root "/CN=ringwall test intermediate" \
    "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign"
LEAF="basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth"
ec ec.key
sign ec inter "/CN=example.com" "$LEAF\nsubjectAltName=DNS:example.com,DNS:*.example.com"
rsa rsa.key
sign rsa inter "/CN=example.com" "$LEAF\nsubjectAltName=DNS:example.com,DNS:*.example.com"
ec other.key
sign other inter "/CN=other.test" "$LEAF\nsubjectAltName=DNS:other.test"
for n in ec rsa other; do cat $n.crt inter.crt > $n.pem; rm $n.crt; done
# expired leaf: openssl ca is the 3.0 way to set explicit dates
ec expired.key
mkdir -p "$T/db" && : > "$T/db/index" && echo 1000 > "$T/db/serial"
cat > "$T/ca.cnf" <<CNF
[ca]
default_ca = c
[c]
dir = $T/db
database = $T/db/index
serial = $T/db/serial
new_certs_dir = $T/db
default_md = sha256
policy = p
unique_subject = no
copy_extensions = copy
[p]
commonName = supplied
CNF
openssl req -new -key expired.key -subj "/CN=expired.example.com" \
    -addext "subjectAltName=DNS:expired.example.com" -out "$T/csr" 2>/dev/null
openssl ca -batch -config "$T/ca.cnf" -cert inter.crt -keyfile inter.key -in "$T/csr" \
    -startdate 20200101000000Z -enddate 20200201000000Z -notext -out expired.pem 2>/dev/null
# client certificates: one from the client CA (root -> clientca), one self-signed
ec clientca.key
openssl req -x509 -new -key clientca.key -subj "/CN=ringwall client CA" -days $D \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" \
    -out clientca.crt 2>/dev/null
ec client.key
sign client clientca "/C=US/O=Ringwall, Test/CN=alice" \
    "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\nsubjectAltName=DNS:alice.client,email:alice@example.com"
mv client.crt client.pem
ec selfclient.key
openssl req -x509 -new -key selfclient.key -subj "/CN=mallory" -days $D -out selfclient.pem 2>/dev/null
# a second client CA, and a certificate from it whose identity (24 long DNS names: about 1.2 KB
# of SAN text) is too big for a session ticket (tls/keys.c seals at most 512 bytes)
selfca bigca "/CN=ringwall big client CA" "keyCertSign"
ec bigclient.key
sign bigclient bigca "/O=Ringwall Test/CN=big" \
    "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\nsubjectAltName=$(seq -f 'DNS:host-%02g.a-rather-long-client-name.ringwall.test' -s , 1 24)"
mv bigclient.crt bigclient.pem
# OCSP responses signed by the leaves' issuer: ec.ocsp.der for the ECDSA leaf (no certificates
# inside, as most CAs send them); ec.ocsp-embedded.der also carries the issuer's certificate,
# which cannot be verified without the root (refused at load); rsa.ocsp.der is for the RSA
# leaf (refused at load as the ECDSA leaf's staple).
ocsp_resp() { # ocsp_resp CERT OUT [openssl ocsp options]
    local cert=$1 out=$2
    shift 2
    printf 'V\t%s\t\t%s\tunknown\t/CN=x\n' 491231235959Z \
        "$(openssl x509 -in "$cert" -noout -serial | cut -d= -f2)" > "$T/oidx"
    openssl ocsp -issuer inter.crt -cert "$cert" -no_nonce -reqout "$T/req" 2>/dev/null
    openssl ocsp -index "$T/oidx" -rsigner inter.crt -rkey inter.key -CA inter.crt \
        -reqin "$T/req" -ndays $D -respout "$out" "$@" 2>/dev/null
}
ocsp_resp ec.pem ec.ocsp.der -resp_no_certs
ocsp_resp ec.pem ec.ocsp-embedded.der
ocsp_resp rsa.pem rsa.ocsp.der -resp_no_certs
rm -f ./*.srl root.key clientca.key bigca.key
ls
