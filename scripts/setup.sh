#!/usr/bin/env bash
# Installs the Debian 12 packages idem needs to build, test and run its demo.
# Idempotent: does nothing when every package is already installed.
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang-format
  liblmdb-dev lmdb-utils
  capnproto libcapnp-dev
  libspdlog-dev libfmt-dev
  catch2
  libsodium-dev
  libcli11-dev nlohmann-json3-dev
  libnats-dev nats-server
  spin
  ccache jq
  clang-14 libclang-rt-14-dev libfuzzer-14-dev
  libboost1.81-dev libssl-dev openssl libcurl4-openssl-dev curl wrk
  libtomlplusplus-dev libsystemd-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
