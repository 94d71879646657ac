# Sourced by the benchmark scripts. bench_env_up: a private 3-node cluster (RF 2) with one cache
# gateway (absent keys are cached as long as values: negativeTtlMs = softTtlMs),
# and a redis-server (appendonly yes, appendfsync everysec), on free ports in a
# temporary directory; everything is stopped and removed when the script exits.
#   bench_env_up SOFT_TTL_MS HARD_TTL_MS GATEWAY_MAX_MB
# sets: work (the directory, with cluster.json), gateway_port, redis_port.
bench_env_up() {
  local soft=$1 hard=$2 max_mb=$3 base
  work=$(mktemp -d /tmp/strata-bench.XXXXXX)
  base=$((20000 + RANDOM % 5000))
  redis_port=$((base + 50))
  gateway_port=$((base + 40))
  cat >"$work/cluster.json" <<JSON
{
  "coordinator": { "host": "127.0.0.1", "port": $base, "metricsPort": $((base + 1)), "dataDir": "$work/coordinator" },
  "replicationFactor": 2, "shardCount": 64, "vnodes": 256, "defaultTenant": "loopback",
  "internalSecret": "bench-internal-secret",
  "nodes": [
    { "id": "n1", "host": "127.0.0.1", "dataPort": $((base + 11)), "dataDir": "$work/n1" },
    { "id": "n2", "host": "127.0.0.1", "dataPort": $((base + 12)), "dataDir": "$work/n2" },
    { "id": "n3", "host": "127.0.0.1", "dataPort": $((base + 13)), "dataDir": "$work/n3" }
  ],
  "tenants": { "default": { "cache": { "softTtlMs": $soft, "hardTtlMs": $hard, "negativeTtlMs": $soft } } },
  "caches": [ { "id": "c1", "host": "127.0.0.1", "port": $gateway_port, "metricsPort": $((base + 41)), "maxMB": $max_mb } ]
}
JSON
  redis_pid=
  trap bench_env_down EXIT
  CONFIG="$work/cluster.json" CLUSTER_STATE="$work/state" SKIP_BUILD=1 Scripts/cluster.sh up >/dev/null
  bench_redis_start $redis_port "$work"
  redis_pid=$redis_started
  bench_wait_ping $redis_port
}

# Starts redis-server (appendonly yes, appendfsync everysec) on PORT with its
# data in DIR/redis and its log in DIR/redis.log; sets redis_started to its pid.
bench_redis_start() {
  mkdir -p "$2/redis"
  redis-server --port "$1" --dir "$2/redis" --appendonly yes --appendfsync everysec --save "" --daemonize no >"$2/redis.log" 2>&1 &
  redis_started=$!
}

# Waits up to 10 s for a server on PORT to answer PING.
bench_wait_ping() {
  for _ in $(seq 1 100); do [ "$(redis-cli -p "$1" PING 2>/dev/null)" = PONG ] && return 0; sleep 0.1; done
}

bench_env_down() {
  CONFIG="$work/cluster.json" CLUSTER_STATE="$work/state" SKIP_BUILD=1 Scripts/cluster.sh down >/dev/null 2>&1 || true
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}

# A standalone Strata node and a redis-server (appendonly yes, appendfsync
# everysec) side by side, both fresh, for the single-server benchmarks.
#   bench_pair_up STRATA_PORT REDIS_PORT DIR    (sets pair_pids)
#   bench_pair_down
# Fails with a clear message when a port is already taken (a stale server would
# otherwise answer in our server's place) or a server does not come up.
bench_port_free() { ! (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pair_pids=()

bench_pair_up() {
  local strata_port=$1 redis_port=$2 dir=$3 port pid
  for port in "$strata_port" "$redis_port"; do
    bench_port_free "$port" || { echo "port $port is already in use (a stale server?); stop it first" >&2; return 1; }
  done
  rm -rf "$dir/strata" "$dir/redis"
  .build/release/strata node --standalone --port "$strata_port" --data-dir "$dir/strata" --log-level warning >"$dir/strata.log" 2>&1 &
  pair_pids=($!)
  bench_redis_start "$redis_port" "$dir"
  pair_pids+=("$redis_started")
  bench_wait_ping "$strata_port"
  bench_wait_ping "$redis_port"
  for pid in "${pair_pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || { echo "a server exited at start; see $dir/strata.log and $dir/redis.log" >&2; return 1; }
  done
}

# Stops the pair and waits until both have exited (a node flushes on shutdown).
bench_pair_down() {
  local pid
  for pid in "${pair_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pair_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pair_pids=()
}
