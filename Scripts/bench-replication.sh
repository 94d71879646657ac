#!/usr/bin/env bash
# Replication latency under a steady write load: starts the local cluster
# (`Scripts/cluster.sh up`, cluster.json: three nodes, RF 2), runs
# `strata repl-latency` (an open-loop SET load through StrataClient; one
# write in five followed by WAITSEQ on its replica) for each round, and stops
# the cluster. Prints one CSV line per round.
#   Scripts/bench-replication.sh [--rate 5000] [--seconds 10] [--rounds 3]
# SERVER_BUILD=NAME runs the servers from .build/NAME/strata (say, an older
# build copied there, to compare two builds with the same measuring tool).
set -euo pipefail
cd "$(dirname "$0")/.."
rate=5000
seconds=10
rounds=3
while [ $# -gt 0 ]; do
  case "$1" in
    --rate) rate=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) echo "usage: $0 [--rate N] [--seconds N] [--rounds N]" >&2; exit 2 ;;
  esac
done
Scripts/bootstrap.sh
swift build -c release --product strata 2>&1 | tail -n 1
if [ -n "${SERVER_BUILD:-}" ]; then
  [ -x ".build/$SERVER_BUILD/strata" ] || { echo "bench-replication.sh: no .build/$SERVER_BUILD/strata" >&2; exit 1; }
  BUILD=$SERVER_BUILD SKIP_BUILD=1 Scripts/cluster.sh up >/dev/null
else
  SKIP_BUILD=1 Scripts/cluster.sh up >/dev/null
fi
trap 'Scripts/cluster.sh down >/dev/null' EXIT
sleep 2
echo "round,writes,samples,timed_out,p50_ms,p99_ms"
for round in $(seq 1 "$rounds"); do
  line=$(.build/release/strata repl-latency --config cluster.json --rate "$rate" --seconds "$seconds" | tail -n 1)
  echo "$round,$line"
done
