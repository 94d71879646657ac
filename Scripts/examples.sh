#!/usr/bin/env bash
# Builds Examples/ the way an application builds against Strata: the Examples
# package depends on the StrataClient product by URL and version (`from:`),
# here a clone of this repository's committed HEAD tagged with Strata's version
# (ServerIdentity.strataVersion). SwiftPM refuses such a dependency if any
# target of the product carries unsafeFlags, so this is the check that the
# client stays embeddable. With --run it also runs the example against a
# coordinator and a node it starts on free ports, and checks what it prints.
# Usage: Scripts/examples.sh [--run]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
Scripts/bootstrap.sh

version=$(sed -n 's/.*static let strataVersion = "\(.*\)".*/\1/p' Sources/StrataServer/ClientSession.swift)
[ -n "$version" ] || { echo "examples.sh: cannot read strataVersion" >&2; exit 1; }

work=$(mktemp -d /tmp/strata-examples.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

git clone --quiet --no-local "$root" "$work/strata"
git -C "$work/strata" tag "$version"
# The example is built from this checkout's Examples/, against the tagged clone.
cp -R Examples "$work/Examples"
echo "examples.sh: building Examples/ against StrataClient $version from a tagged clone" >&2
STRATA_PACKAGE_URL="file://$work/strata" swift build --package-path "$work/Examples" --scratch-path "$work/build"

if [ "${1:-}" = "--run" ]; then
  [ -x .build/debug/strata ] || swift build --product strata
  ports=($(python3 -c 'import socket
socks=[socket.socket() for _ in range(2)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))'))
  cat > "$work/cluster.json" <<JSON
{ "coordinator": { "host": "127.0.0.1", "port": ${ports[0]}, "dataDir": "$work/coordinator" },
  "nodes": [ { "id": "n1", "host": "127.0.0.1", "dataPort": ${ports[1]}, "dataDir": "$work/n1" } ],
  "replicationFactor": 1, "shardCount": 8, "defaultTenant": "loopback" }
JSON
  .build/debug/strata coordinator --config "$work/cluster.json" > "$work/coordinator.log" 2>&1 &
  pids+=($!)
  .build/debug/strata node --config "$work/cluster.json" --id n1 > "$work/node.log" 2>&1 &
  pids+=($!)
  for port in "${ports[@]}"; do
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  done
  output=$(timeout 60 "$work/build/debug/StrataExample" "$work/cluster.json")
  echo "$output"
  [ "$output" = "hello from StrataClient; visit 1" ] || { echo "examples.sh: unexpected output" >&2; exit 1; }
fi
echo "examples.sh: ok" >&2
