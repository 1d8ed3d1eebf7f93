#!/usr/bin/env bash
# Makes a throw-away PKI for the TLS tests in directory $1: ca.{crt,key} (a CA), server.{crt,key}
# (for 127.0.0.1 and localhost, signed by the CA), client.{crt,key} (a client certificate signed
# by the CA), and stranger.key (a key that belongs to no certificate). EC P-256, valid two days.
set -euo pipefail
dir=$1
mkdir -p "$dir"
cd "$dir"
new_key=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
openssl req -x509 -new "${new_key[@]}" -keyout ca.key -out ca.crt -days 2 \
  -subj /CN=idem-test-ca 2>/dev/null
sign() {  # name, subject, extensions
  openssl req -new "${new_key[@]}" -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
  printf '%s\n' "$3" >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$1.crt" \
    -days 2 -extfile "$1.ext" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
sign server /CN=127.0.0.1 "subjectAltName=IP:127.0.0.1,DNS:localhost"
sign client /CN=idem-test-client "extendedKeyUsage=clientAuth"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out stranger.key 2>/dev/null
