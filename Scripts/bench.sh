#!/usr/bin/env bash
# The benchmark suite: YCSB workloads and a stampede, each against Strata through the
# embedded client (direct), Strata through the cache gateway over RESP, and Redis
# (appendonly yes, appendfsync everysec) over the same RESP path, with the same
# settings. Starts a private 3-node cluster with a gateway and a Redis on free ports,
# writes bench-results/<timestamp>/ (results.json, report.md, SVG charts), stops all.
#   Scripts/bench.sh [--quick] [--workloads "A B C D E F stampede"] [--seconds S] [--clients N] [--records R]
# Full: every workload, also through the client with its near-cache (strata-near-cache).
# --quick: workloads A, B, C and stampede, three targets, 10,000 records, 5 s each: under 3 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
workloads="A B C D E F stampede"
targets="direct near gateway redis"
seconds=20
warmup=3
clients=16
records=100000
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) workloads="A B C stampede"; targets="direct gateway redis"; seconds=5; warmup=1; records=10000; shift ;;
    --workloads) workloads=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    --records) records=$2; shift 2 ;;
    *) echo "usage: $0 [--quick] [--workloads LIST] [--seconds S] [--clients N] [--records R]" >&2; exit 2 ;;
  esac
done
Scripts/bootstrap.sh
swift build -c release --product strata 2>&1 | tail -n 1
strata=.build/release/strata
out="bench-results/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
echo "starting the cluster, the gateway and Redis..."
. Scripts/bench-env.sh
bench_env_up 1000 5000 256

results="$out/results.json"
: >"$results"
common=(--records "$records" --clients "$clients" --seconds "$seconds" --warm-up "$warmup" --json "$results")
loaded_strata=0
loaded_redis=0
for workload in $workloads; do
  for target in $targets; do
    load=(--no-load)
    case $target in
      direct) args=(--target client --name strata-direct --config "$work/cluster.json")
              [ $loaded_strata -eq 0 ] && load=() && loaded_strata=1 ;;
      near) args=(--target client-near --name strata-near-cache --config "$work/cluster.json") ;;
      gateway) args=(--target resp --name strata-gateway --port $gateway_port) ;;
      redis) args=(--target resp --name redis --port $redis_port)
             [ $loaded_redis -eq 0 ] && load=() && loaded_redis=1 ;;
    esac
    echo "== workload $workload, $target"
    "$strata" bench --workload "$workload" "${args[@]}" "${common[@]}" "${load[@]}" | tail -n 1
  done
done
"$strata" bench-report --json "$results" --out "$out" --title "Strata benchmark $(date -u +%Y-%m-%d)" \
  --note "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r). Settings: $records records, 100-byte values, $clients clients, ${seconds}s measured after ${warmup}s warm-up, closed loop." \
  --note "Targets: strata-direct = StrataClient (routes to primaries); strata-gateway = redis protocol through 'strata cache' (1 s soft TTL); redis = redis-server appendonly everysec. All on this machine, sharing its cores." \
  >/dev/null
echo
echo "report: $out/report.md"
cat "$out/report.md"
