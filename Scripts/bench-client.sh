#!/usr/bin/env bash
# Client round trips, one request in flight: StrataClient set/get against a
# standalone Strata node, side by side with redis-benchmark -c 1 against
# redis-server (appendonly yes, appendfsync everysec) and, for reference,
# redis-benchmark -c 1 against the same Strata node. Both servers fresh each
# round, rounds interleaved; medians of p50 and p99.
#   Scripts/bench-client.sh [--rounds 3] [--requests 100000]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=3
requests=100000
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --requests) requests=$2; shift 2 ;;
    *) echo "usage: $0 [--rounds N] [--requests N]" >&2; exit 2 ;;
  esac
done
Scripts/bootstrap.sh
swift build -c release --product strata 2>&1 | tail -n 1
work=$(mktemp -d /tmp/strata-bench-client.XXXXXX)
strata_port=17381
redis_port=17382
. Scripts/bench-env.sh
cleanup() { bench_pair_down; rm -rf "$work"; }
trap cleanup EXIT


# redis-benchmark --csv: "test","rps","avg","min","p50","p95","p99","max" (ms).
redis_bench() { # port label
  redis-benchmark -p "$1" -t set,get -n "$requests" -r 100000 -d 100 -c 1 --csv 2>/dev/null \
    | tr -d '"' | awk -F, -v label="$2" -v round="$round" '$1=="SET"||$1=="GET" {print round, label, tolower($1), $5, $7}'
}
client_bench() {
  .build/release/strata client-latency --port $strata_port --requests "$requests" --value-size 100 --keyspace 100000 \
    | awk -F, -v round="$round" '{print round, "client", $1, $3, $4}'
  # The same loop on the client's own event loop (StrataClient.preferredExecutor).
  .build/release/strata client-latency --port $strata_port --requests "$requests" --value-size 100 --keyspace 100000 \
    --client-executor | awk -F, -v round="$round" '{print round, "client-loop", $1, $3, $4}'
}

results="$work/results.txt"
: >"$results"
for round in $(seq 1 "$rounds"); do
  bench_pair_up $strata_port $redis_port "$work"
  if [ $((round % 2)) -eq 1 ]; then
    client_bench | tee -a "$results"; redis_bench $redis_port redis | tee -a "$results"
  else
    redis_bench $redis_port redis | tee -a "$results"; client_bench | tee -a "$results"
  fi
  redis_bench $strata_port strata-resp | tee -a "$results"
  bench_pair_down
done

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo
echo "| op | StrataClient p50 / p99 (ms) | on its event loop p50 / p99 | Redis (redis-benchmark -c 1) p50 / p99 | ratio p50 | ratio p99 | on its loop: ratio p50 / p99 | redis-benchmark -c 1 vs the Strata node p50 / p99 |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for op in set get; do
  c50=$(awk -v o=$op '$2=="client" && $3==o {print $4}' "$results" | median)
  c99=$(awk -v o=$op '$2=="client" && $3==o {print $5}' "$results" | median)
  l50=$(awk -v o=$op '$2=="client-loop" && $3==o {print $4}' "$results" | median)
  l99=$(awk -v o=$op '$2=="client-loop" && $3==o {print $5}' "$results" | median)
  r50=$(awk -v o=$op '$2=="redis" && $3==o {print $4}' "$results" | median)
  r99=$(awk -v o=$op '$2=="redis" && $3==o {print $5}' "$results" | median)
  s50=$(awk -v o=$op '$2=="strata-resp" && $3==o {print $4}' "$results" | median)
  s99=$(awk -v o=$op '$2=="strata-resp" && $3==o {print $5}' "$results" | median)
  ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2fx", a/b}'; }
  echo "| ${op^^} | $c50 / $c99 | $l50 / $l99 | $r50 / $r99 | $(ratio $c50 $r50) | $(ratio $c99 $r99) | $(ratio $l50 $r50) / $(ratio $l99 $r99) | $s50 / $s99 |"
done
