#!/usr/bin/env bash
# Side-by-side: a standalone Strata node against redis-server (appendonly yes,
# appendfsync everysec), both fresh, rounds interleaved, medians reported.
# Load: redis-benchmark -t set -n N -r 100000 -d 100 -c 50, then -t get with the
# same -r (so GETs hit), at -P 1 and -P 16.
#   Scripts/bench-node.sh [--rounds 3] [--requests 1000000]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=3
requests=1000000
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --requests) requests=$2; shift 2 ;;
    *) echo "usage: $0 [--rounds N] [--requests N]" >&2; exit 2 ;;
  esac
done
Scripts/bootstrap.sh
swift build -c release --product strata 2>&1 | tail -n 1
work=$(mktemp -d /tmp/strata-bench-node.XXXXXX)
strata_port=17379
redis_port=17380
. Scripts/bench-env.sh
cleanup() { bench_pair_down; rm -rf "$work"; }
trap cleanup EXIT


rps() { # port test pipeline
  redis-benchmark -p "$1" -t "$2" -n "$requests" -r 100000 -d 100 -c 50 -P "$3" -q 2>/dev/null \
    | tr '\r' '\n' | grep 'requests per second' | tail -n 1 | sed -E 's/.*: ([0-9.]+) requests per second.*/\1/'
}

results="$work/results.txt"
: >"$results"
for round in $(seq 1 "$rounds"); do
  bench_pair_up $strata_port $redis_port "$work"
  for pipeline in 1 16; do
    for test in set get; do
      # Interleave: alternate which server goes first each round.
      if [ $((round % 2)) -eq 1 ]; then order="strata redis"; else order="redis strata"; fi
      for server in $order; do
        port=$strata_port; [ "$server" = redis ] && port=$redis_port
        value=$(rps $port $test $pipeline)
        echo "$round $pipeline $test $server $value" | tee -a "$results"
      done
    done
  done
  bench_pair_down
done

echo
# Strata/Redis is the ratio of the two medians; the last column, the median
# of each round's own ratio, is steadier when one server has an outlier round.
echo "| test | pipeline | Strata req/s (median) | Redis req/s (median) | Strata/Redis | per-round ratios, sorted (median) |"
echo "| --- | --- | --- | --- | --- | --- |"
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for pipeline in 1 16; do
  for test in set get; do
    s=$(awk -v p=$pipeline -v t=$test '$2==p && $3==t && $4=="strata" {print $5}' "$results" | median)
    r=$(awk -v p=$pipeline -v t=$test '$2==p && $3==t && $4=="redis" {print $5}' "$results" | median)
    ratio=$(awk -v s="$s" -v r="$r" 'BEGIN {printf "%.2f", s/r}')
    rounds_ratios=$(awk -v p=$pipeline -v t=$test '$2==p && $3==t {v[$1, $4]=$5; n[$1]=1}
      END {for (k in n) printf "%.2f\n", v[k, "strata"] / v[k, "redis"]}' "$results" | sort -n)
    per_round=$(echo "$rounds_ratios" | median)
    echo "| ${test^^} | -P $pipeline | $s | $r | ${ratio}x | $(echo $rounds_ratios | sed 's/ /, /g') ($per_round) |"
  done
done
