#!/usr/bin/env bash
# A membership change under load, measured: starts a private 3-node cluster
# (cluster.json's settings on other ports, data in a temporary directory),
# optionally preloads data, runs `strata membership-load` (an open-loop mix
# of writes and reads through StrataClient, acks=all), and while it runs adds
# a 4th node (Scripts/cluster.sh add n4), decommissions n3
# (Scripts/cluster.sh remove n3) or splits the first --splits shards one after
# another (strata cluster split). Then it reports:
#   - replicas moved / ideal (RF x shards / nodes after an add; the leaving node's copies on a remove)
#   - latency p50/p99 before, during and after the change; failures after the client's retries;
#     reads that missed an acknowledged write; acknowledged writes lost at the end
#   - the time the moves took and the bytes that moved (MB/s)
#   - every copy's checksum equal (strata cluster verify)
#   - each old node's disk usage before the change and once the shards it gave up were deleted
# Exits non-zero when a write was lost, an operation failed, a read was wrong or copies differ.
#   Scripts/elastic.sh [--change add|remove|split] [--splits 8] [--rf 2] [--rate 1000] [--seconds 60] [--before 15]
#                      [--preload-mb 0] [--transfer-mb-per-second 10 (the node default; 0: none)] [--shards 64]
# 1 GB add: Scripts/elastic.sh --preload-mb 1024 --seconds 300
# Environment: DROP_DELAY=seconds before a moved-off shard is deleted (5; the node default is 60),
# KEEP=1 keeps the cluster directory, TIMELINE=file gets each second's p99, SKIP_BUILD=1, BUILD=debug.
set -euo pipefail
cd "$(dirname "$0")/.."
change=add
rf=2
rate=1000
seconds=60
before=15
preload=0
throttle=10
shards=64
splits=8
while [ $# -gt 0 ]; do
  case "$1" in
    --change) change=$2; shift 2 ;;
    --rf) rf=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --before) before=$2; shift 2 ;;
    --preload-mb) preload=$2; shift 2 ;;
    --transfer-mb-per-second) throttle=$2; shift 2 ;;
    --shards) shards=$2; shift 2 ;;
    --splits) splits=$2; shift 2 ;;
    *) echo "usage: $0 [--change add|remove|split] [--splits N] [--rf N] [--rate N] [--seconds N] [--before N] [--preload-mb N] [--transfer-mb-per-second N] [--shards N]" >&2; exit 2 ;;
  esac
done
case "$change" in add | remove | split) ;; *) echo "elastic.sh: --change is add, remove or split" >&2; exit 2 ;; esac
Scripts/bootstrap.sh
if [ "${SKIP_BUILD:-0}" != 1 ]; then swift build -c release --product strata 2>&1 | tail -n 1; fi
strata=$(pwd)/.build/${BUILD:-release}/strata
work=$(mktemp -d /tmp/strata-elastic.XXXXXX)
export CONFIG=$work/cluster.json CLUSTER_STATE=$work/state SKIP_BUILD=1
export NODE_ARGS="--drop-delay-seconds ${DROP_DELAY:-5} --transfer-mb-per-second $throttle ${NODE_ARGS:-}"
load_pid=
cleanup() {
  [ -n "$load_pid" ] && kill "$load_pid" 2>/dev/null || true
  Scripts/cluster.sh down >/dev/null 2>&1 || true
  if [ "${KEEP:-0}" = 1 ]; then echo "elastic.sh: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# cluster.json's tenants and secrets, three nodes on ports 17511-17513, no cache gateway.
python3 - cluster.json "$work" "$rf" "$shards" <<'PY'
import json, sys
source, work, rf, shards = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
config = json.load(open(source))
config["coordinator"] = {"host": "127.0.0.1", "port": 17500, "metricsPort": 17501, "dataDir": f"{work}/state/coordinator"}
config["replicationFactor"] = rf
config["shardCount"] = shards
config["nodes"] = [{"id": f"n{i}", "host": "127.0.0.1", "dataPort": 17510 + i, "metricsPort": 17520 + i,
                    "dataDir": f"{work}/state/n{i}", "zone": f"z{i}", "weight": 1} for i in (1, 2, 3)]
config.pop("caches", None)
json.dump(config, open(f"{work}/cluster.json", "w"), indent=2)
PY
Scripts/cluster.sh up >/dev/null
map() { redis-cli -p 17500 CLUSTER MAP; }
moving() { ! "$strata" cluster moves --config "$CONFIG" | grep -q "no moves in progress"; }
disk() { for id in n1 n2 n3; do [ -d "$work/state/$id" ] && echo "$id $(du -sk "$work/state/$id" | cut -f1)"; done; }
now_ms() { date +%s%3N; }
copied_bytes() { # strata_copy_bytes_total over every node
  for port in 17521 17522 17523 17524; do curl -s "http://127.0.0.1:$port/metrics" 2>/dev/null || true; done |
    awk '/^strata_copy_bytes_total /{t += $2} END {printf "%.0f", t}'
}

if [ "$preload" -gt 0 ]; then
  "$strata" membership-load --config "$CONFIG" --seconds 0 --preload-mb "$preload"
  sleep "${SETTLE:-20}" # let the preload's flushes and compactions finish before measuring
fi
map >"$work/map-before.json"

marks=$work/marks
: >"$marks"
"$strata" membership-load --config "$CONFIG" --rate "$rate" --seconds "$seconds" --marks "$marks" \
  --timeline "${TIMELINE:-$work/timeline}" >"$work/load.out" 2>&1 &
load_pid=$!
sleep "$before"
disk >"$work/disk-before"
copied_before=$(copied_bytes)
echo "$(now_ms) moving" >>"$marks"
started=$(now_ms)
if [ "$change" = add ]; then
  Scripts/cluster.sh add n4 >/dev/null
elif [ "$change" = remove ]; then
  Scripts/cluster.sh remove n3 >/dev/null
else
  for shard in $(seq 0 $((splits - 1))); do "$strata" cluster split --config "$CONFIG" --shard "$shard" >/dev/null; done
fi
sleep 1
# A mark when only leadership hand-backs are left (replicas all placed): copying and handing back are reported apart.
handback_marked=0
for _ in $(seq 1 3000); do
  moves=$("$strata" cluster moves --config "$CONFIG")
  echo "$moves" | grep -q "no moves in progress" && break
  if [ $handback_marked = 0 ] && ! echo "$moves" | tail -n +4 | grep -qv "leadership returning"; then
    echo "$(now_ms) handing-back" >>"$marks"
    handback_marked=1
  fi
  sleep 0.2
done
if moving; then echo "elastic.sh: moves still in progress after 10 minutes" >&2; "$strata" cluster moves --config "$CONFIG" >&2; exit 1; fi
finished=$(now_ms)
copied_after=$(copied_bytes)
echo "$finished after" >>"$marks"
map >"$work/map-after.json"
if ! wait "$load_pid"; then load_failed=1; else load_failed=0; fi
load_pid=
# Deleted a few seconds after the map stopped placing a shard on a node (--drop-delay-seconds 5), then compacted,
# one shard after another: wait (up to 5 minutes) until every copy moved off n1-n3 is gone from its node.
moved_off=$(python3 - "$work/map-before.json" "$work/map-after.json" <<'PY'
import json, sys
before, after = (json.load(open(p)) for p in sys.argv[1:3])
def copies(m): return {(s["id"], r) for s in m["shards"] for r in s["replicas"]}
print(len({c for c in copies(before) - copies(after) if c[1] in ("n1", "n2", "n3")}))
PY
)
dropped() { cat "$work"/state/n[123].log | { grep -c "dropped the data of shard" || true; }; }
if [ "$change" = add ]; then
  for _ in $(seq 1 1500); do [ "$(dropped)" -ge "$moved_off" ] && break; sleep 0.2; done
fi
disk >"$work/disk-dropped"

echo
echo "== $change at RF $rf, $shards shards, $rate ops/s (half writes, acks=all), preload ${preload} MB, throttle ${throttle} MB/s (0: none)"
python3 - "$work/map-before.json" "$work/map-after.json" "$change" <<'PY'
import json, sys
before, after = (json.load(open(p)) for p in sys.argv[1:3])
change = sys.argv[3]
def copies(m): return {(s["id"], r) for s in m["shards"] for r in s["replicas"]}
moved = len(copies(after) - copies(before))
nodes = len(after["nodes"])
if change == "split":
    old = {s["id"] for s in before["shards"]}
    moved = len({c for c in copies(after) - copies(before) if c[0] in old})
    print(f"shards: {len(before['shards'])} -> {len(after['shards'])}; replicas of the old shards moved: {moved}")
    sys.exit(0)
if change == "add":
    ideal = after["replicationFactor"] * len(after["shards"]) / nodes
else:
    ideal = sum(1 for s in before["shards"] for r in s["replicas"] if r == "n3")
print(f"replicas moved: {moved}, ideal {ideal:g}, moved/ideal {moved / ideal:.2f}")
PY
seconds_taken=$(awk -v a="$started" -v b="$finished" 'BEGIN {printf "%.1f", (b - a) / 1000}')
copied_mb=$(awk -v a="$copied_before" -v b="$copied_after" 'BEGIN {printf "%.1f", (b - a) / 1e6}')
echo "moves took ${seconds_taken} s; copied ${copied_mb} MB of shard data" \
  "($(awk -v m="$copied_mb" -v s="$seconds_taken" 'BEGIN {printf "%.1f", m / s}') MB/s over the moves)"
cat "$work/load.out"
if [ "$change" = add ]; then
  echo "disk (KiB) before the change -> after the $(dropped) of $moved_off copies moved off were deleted (the load adds ~$((rate * seconds / 10240)) MiB per copy):"
  join "$work/disk-before" "$work/disk-dropped" | awk '{printf "  %s %d -> %d (%+.0f%%)\n", $1, $2, $3, ($3 - $2) * 100 / $2}'
fi
verify=0
"$strata" cluster verify --config "$CONFIG" || verify=1
[ "$load_failed" = 0 ] && [ "$verify" = 0 ]
