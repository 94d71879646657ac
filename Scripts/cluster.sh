#!/usr/bin/env bash
# Starts, stops and inspects the local Strata cluster described by cluster.json.
#   Scripts/cluster.sh up       bootstrap, build release once, start every node, wait until healthy
#   Scripts/cluster.sh down     stop exactly the processes `up` started
#   Scripts/cluster.sh status   one line per process: pid, port, health
#   Scripts/cluster.sh logs [N] the last N (default 40) lines of every log
#   Scripts/cluster.sh add ID   start one more node (next free ports, data in .cluster/ID) that joins
#                               the running cluster online; shards move onto it as it catches up
#   Scripts/cluster.sh remove ID decommission a node: its shards move off, it leaves the map, then it stops
# Pid files and logs live in .cluster/ (git ignores it).
# Environment: CONFIG=path overrides cluster.json; CLUSTER_STATE=dir overrides .cluster;
# BUILD=debug uses a debug build; SKIP_BUILD=1 uses the binary as it is (the tests do both);
# NODE_ARGS="..." adds options to every `strata node` (e.g. "--log-retention 1000 --transfer-mb-per-second 20").
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
config=${CONFIG:-cluster.json}
state=${CLUSTER_STATE:-.cluster}
build=${BUILD:-release}
strata=.build/$build/strata

die() { echo "cluster.sh: $*" >&2; exit 1; }

# "id host port metricsPort" per process (coordinator first), from cluster.json via strata itself.
coordinator() { "$strata" config coordinator --config "$config" | awk '{print "coordinator", $0}'; }
nodes() { "$strata" config nodes --config "$config"; }
caches() { "$strata" config caches --config "$config"; }
processes() { coordinator; nodes; caches; }
is_cache() { caches | awk '{print $1}' | grep -qx "$1"; }

port_in_use() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# Starts a daemon whose output goes to a log, with no file descriptor of ours
# but 0-2 (a caller waiting for EOF on a pipe we inherited must not wait for the daemon).
spawn() { # log command...
  local log=$1; shift
  (
    for fd in /proc/self/fd/*; do
      fd=${fd##*/}
      [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null
    done
    exec nohup "$@" </dev/null >>"$log" 2>&1
  ) &
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_healthy() { # id host port pidfile log
  local id=$1 host=$2 port=$3 pidfile=$4 log=$5
  for _ in $(seq 1 150); do
    if ! pid_alive "$pidfile"; then
      echo "cluster.sh: node $id exited during start; last lines of $log:" >&2
      tail -n 20 "$log" >&2 || true
      return 1
    fi
    if [ "$(redis-cli -h "$host" -p "$port" PING 2>/dev/null)" = "PONG" ]; then return 0; fi
    sleep 0.2
  done
  echo "cluster.sh: node $id did not answer PING on $host:$port within 30 s; last lines of $log:" >&2
  tail -n 20 "$log" >&2 || true
  return 1
}

up() {
  Scripts/bootstrap.sh
  [ -f "$config" ] || die "$config not found"
  if [ -f "$state/membership-changed" ]; then
    die "$state holds a cluster changed by 'add' or 'remove' (its coordinator's map is not cluster.json's); remove $state to start afresh"
  fi
  if [ "${SKIP_BUILD:-0}" != 1 ]; then
    echo "building strata ($build)..."
    swift build -c "$build" --product strata 2>&1 | tail -n 1
  fi
  [ -x "$strata" ] || die "$strata is missing; build it with 'swift build -c $build --product strata'"
  mkdir -p "$state"
  # Check everything before starting anything, so a failed check leaves nothing running.
  while read -r id host port metrics; do
    local pidfile="$state/$id.pid"
    if pid_alive "$pidfile"; then
      die "$id is already running (pid $(cat "$pidfile")); run 'Scripts/cluster.sh down' first"
    fi
    if [ -f "$pidfile" ]; then
      echo "cluster.sh: removing stale pid file $pidfile (pid $(cat "$pidfile") is not running)" >&2
      rm -f "$pidfile"
    fi
    if port_in_use "$host" "$port"; then die "port $host:$port for $id is in use by another process"; fi
    if [ "$metrics" != "-" ] && port_in_use "$host" "$metrics"; then die "metrics port $host:$metrics for $id is in use"; fi
  done < <(processes)
  local started=()
  while read -r id host port metrics; do
    local pidfile="$state/$id.pid" log="$state/$id.log"
    if [ "$id" = coordinator ]; then
      spawn "$log" "$root/$strata" coordinator --config "$config"
    elif is_cache "$id"; then
      spawn "$log" "$root/$strata" cache --config "$config" --id "$id"
    else
      # shellcheck disable=SC2086
      spawn "$log" "$root/$strata" node --config "$config" --id "$id" ${NODE_ARGS:-}
    fi
    echo $! >"$pidfile"
    started+=("$id $host $port $pidfile $log")
  done < <(processes)
  for entry in "${started[@]}"; do
    # shellcheck disable=SC2086
    wait_healthy $entry || { down; exit 1; }
  done
  echo
  echo "Strata local cluster is up:"
  while read -r id host port metrics; do
    printf "  %-12s resp://%s:%s  metrics http://%s:%s/metrics  (pid %s)\n" "$id" "$host" "$port" "$host" "$metrics" "$(cat "$state/$id.pid")"
  done < <(processes)
  echo
  echo "Nodes serve the shards the coordinator's map gives them (with read replicas) and answer MOVED for"
  echo "the others; the cache gateways route for you and serve hot keys from memory."
  local first_port cache_port
  first_port=$(nodes | head -n 1 | awk '{print $3}')
  cache_port=$(caches | head -n 1 | awk '{print $3}')
  echo "Try:  redis-cli -c -p $first_port SET hello world && redis-cli -c -p $first_port GET hello"
  [ -n "$cache_port" ] && echo "      redis-cli -p $cache_port GET hello   (through the cache gateway)"
  true
}

down() {
  [ -d "$state" ] || { echo "nothing to stop"; return 0; }
  local any=0
  for pidfile in "$state"/*.pid; do
    [ -e "$pidfile" ] || continue
    any=1
    local pid name
    pid=$(cat "$pidfile"); name=$(basename "$pidfile" .pid)
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      if kill -0 "$pid" 2>/dev/null; then
        echo "cluster.sh: $name (pid $pid) ignored SIGTERM for 10 s; sending SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
      fi
      echo "stopped $name (pid $pid)"
    else
      echo "$name was not running (stale pid file)"
    fi
    rm -f "$pidfile"
  done
  [ $any -eq 1 ] || echo "nothing to stop"
}

status() {
  [ -x "$strata" ] || die "not built yet; run 'Scripts/cluster.sh up'"
  printf "%-12s %-8s %-22s %s\n" PROCESS PID ADDRESS HEALTH
  while read -r id host port metrics; do
    local pidfile="$state/$id.pid" pid="-" health="stopped"
    if pid_alive "$pidfile"; then
      pid=$(cat "$pidfile")
      if [ "$(redis-cli -h "$host" -p "$port" PING 2>/dev/null)" = "PONG" ]; then health="up"; else health="not answering"; fi
    fi
    printf "%-12s %-8s %-22s %s\n" "$id" "$pid" "$host:$port" "$health"
  done < <(processes)
  if [ -n "$(coordinator)" ] && pid_alive "$state/coordinator.pid"; then
    echo
    "$strata" status --config "$config" || true
  fi
}

logs() {
  local lines=${1:-40}
  for log in "$state"/*.log; do
    [ -e "$log" ] || { echo "no logs yet"; return 0; }
    echo "==> $log <=="
    tail -n "$lines" "$log"
  done
}

# cluster.json with one more node entry (the next free data and metrics ports) for `add`, written to $state/cluster-ID.json.
extended_config() { # id
  python3 - "$config" "$1" "$state" <<'PY'
import json, sys
path, node, state = sys.argv[1:4]
config = json.load(open(path))
if any(n["id"] == node for n in config["nodes"]):
    sys.exit(f"cluster.sh: {node} is already in {path}")
top = max(n["dataPort"] for n in config["nodes"])
metrics = max(n.get("metricsPort", n["dataPort"] + 100) for n in config["nodes"])
config["nodes"].append({"id": node, "host": "127.0.0.1", "dataPort": top + 1, "metricsPort": metrics + 1,
                        "dataDir": f"{state}/{node}", "zone": node, "weight": 1})
out = f"{state}/cluster-{node}.json"
json.dump(config, open(out, "w"), indent=2)
print(out, top + 1)
PY
}

add() { # id
  local id=${1:?usage: Scripts/cluster.sh add ID}
  [ -x "$strata" ] || die "not built yet; run 'Scripts/cluster.sh up'"
  pid_alive "$state/coordinator.pid" || die "the cluster is not running; run 'Scripts/cluster.sh up' first"
  pid_alive "$state/$id.pid" && die "$id is already running"
  local extended port
  read -r extended port < <(extended_config "$id")
  port_in_use 127.0.0.1 "$port" && die "port $port for $id is in use"
  touch "$state/membership-changed"
  # shellcheck disable=SC2086
  spawn "$state/$id.log" "$root/$strata" node --config "$extended" --id "$id" --join ${NODE_ARGS:-}
  echo $! >"$state/$id.pid"
  wait_healthy "$id" 127.0.0.1 "$port" "$state/$id.pid" "$state/$id.log" || exit 1
  echo "$id joined on 127.0.0.1:$port (pid $(cat "$state/$id.pid")); shards move onto it as it catches up:"
  "$strata" status --config "$config" || true
}

remove() { # id
  local id=${1:?usage: Scripts/cluster.sh remove ID}
  [ -x "$strata" ] || die "not built yet; run 'Scripts/cluster.sh up'"
  "$strata" cluster remove-node --config "$config" "$id"
  touch "$state/membership-changed"
  for _ in $(seq 1 600); do
    "$strata" status --config "$config" | awk '{print $1}' | grep -qx "$id" || break
    sleep 0.2
  done
  if "$strata" status --config "$config" | awk '{print $1}' | grep -qx "$id"; then
    die "$id still holds shards after 120 s; it keeps running (see 'Scripts/cluster.sh status')"
  fi
  local pidfile="$state/$id.pid"
  if pid_alive "$pidfile"; then
    kill -TERM "$(cat "$pidfile")"
    for _ in $(seq 1 50); do pid_alive "$pidfile" || break; sleep 0.2; done
  fi
  rm -f "$pidfile"
  echo "$id left the cluster map and stopped"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  logs) shift; logs "${1:-40}" ;;
  add) shift; add "${1:-}" ;;
  remove) shift; remove "${1:-}" ;;
  *) echo "usage: Scripts/cluster.sh up | down | status | logs [N] | add ID | remove ID" >&2; exit 2 ;;
esac
