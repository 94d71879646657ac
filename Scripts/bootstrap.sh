#!/usr/bin/env bash
# Installs the system packages Strata needs on Debian 12: RocksDB and zstd for
# the storage engine, redis-tools and redis-server for tests and benchmarks,
# pkg-config so SwiftPM finds RocksDB, python3 for the scripts that edit JSON
# (Scripts/cluster.sh add), curl for the scripts that read /metrics. Idempotent: when everything is present it
# returns in well under a second without touching apt.
set -euo pipefail

packages=(librocksdb-dev libzstd-dev pkg-config redis-tools redis-server python3 curl)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "bootstrap: apt-get not found; install these packages by hand: ${missing[*]}" >&2
  exit 1
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "bootstrap: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi

echo "bootstrap: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! $sudo apt-get update -qq; then
  echo "bootstrap: apt-get update failed; check the network or the apt sources" >&2
  exit 1
fi
if ! $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
  echo "bootstrap: apt-get install failed for: ${missing[*]}" >&2
  exit 1
fi

if ! pkg-config --exists rocksdb; then
  echo "bootstrap: librocksdb-dev installed but pkg-config cannot find 'rocksdb'" >&2
  exit 1
fi
echo "bootstrap: done" >&2
