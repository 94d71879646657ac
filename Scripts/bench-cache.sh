#!/usr/bin/env bash
# The cache tier, side by side in one run:
#  1. gateway GET throughput on cached keys vs Redis GET (redis-server appendonly
#     everysec), same redis-benchmark settings (-r 100000 -d 100 -c 50) at -P 1
#     and -P 16, rounds interleaved, medians;
#  2. a stampede: N readers on one key that expires every second, storage loads
#     with the cache's coalescing and with plain cache-aside;
#  3. hit ratio of the eviction policy (S3-FIFO) vs LRU (strata cache-sim).
# Starts a private 3-node cluster with one gateway on free ports, and stops it.
#   Scripts/bench-cache.sh [--rounds 3] [--requests 500000] [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=3
requests=500000
accesses=10000000
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --requests) requests=$2; shift 2 ;;
    --quick) rounds=1; requests=100000; accesses=2000000; shift ;;
    *) echo "usage: $0 [--rounds N] [--requests N] [--quick]" >&2; exit 2 ;;
  esac
done
Scripts/bootstrap.sh
swift build -c release --product strata 2>&1 | tail -n 1
strata=.build/release/strata
. Scripts/bench-env.sh
bench_env_up 600000 1200000 512

# Fill both with the same 100,000 keys (through the gateway: write-through fills its cache).
for port in $gateway_port $redis_port; do
  redis-benchmark -p $port -t set -n 300000 -r 100000 -d 100 -c 50 -q >/dev/null 2>&1
done
# Every key once more through the gateway, so all are cached.
redis-benchmark -p $gateway_port -t get -n 300000 -r 100000 -d 100 -c 50 -q >/dev/null 2>&1

rps() { # port pipeline
  redis-benchmark -p "$1" -t get -n "$requests" -r 100000 -d 100 -c 50 -P "$2" -q 2>/dev/null \
    | tr '\r' '\n' | grep 'requests per second' | tail -n 1 | sed -E 's/.*: ([0-9.]+) requests per second.*/\1/'
}
results="$work/results.txt"
: >"$results"
for round in $(seq 1 "$rounds"); do
  for pipeline in 1 16; do
    if [ $((round % 2)) -eq 1 ]; then order="gateway redis"; else order="redis gateway"; fi
    for server in $order; do
      port=$gateway_port; [ "$server" = redis ] && port=$redis_port
      echo "$round $pipeline $server $(rps $port $pipeline)" | tee -a "$results"
    done
  done
done
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo
echo "| GET on cached keys | gateway req/s (median) | Redis req/s (median) | gateway/Redis |"
echo "| --- | --- | --- | --- |"
for pipeline in 1 16; do
  g=$(awk -v p=$pipeline '$2==p && $3=="gateway" {print $4}' "$results" | median)
  r=$(awk -v p=$pipeline '$2==p && $3=="redis" {print $4}' "$results" | median)
  echo "| -P $pipeline | $g | $r | $(awk -v g="$g" -v r="$r" 'BEGIN{printf "%.2fx", g/r}') |"
done
echo
redis-cli -p $gateway_port INFO cache | tr -d '\r' | grep -E "cache_(hits|misses|loads)" | tr '\n' ' '
echo
echo
seconds=10; [ "$rounds" -eq 1 ] && seconds=5
"$strata" cache-stampede --config "$work/cluster.json" --readers 64 --seconds $seconds
echo
"$strata" cache-sim --accesses "$accesses"
