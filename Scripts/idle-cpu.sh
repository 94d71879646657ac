#!/usr/bin/env bash
# The CPU an idle local cluster burns: starts `Scripts/cluster.sh up` (unless
# one is running), lets it settle, then sums every process's user and system
# time (/proc/PID/stat fields 14 and 15) over an interval and prints each
# process's share and the total, as a percentage of one core.
#   Scripts/idle-cpu.sh [--seconds 60] [--settle 5]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=60
settle=5
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --settle) settle=$2; shift 2 ;;
    *) echo "usage: $0 [--seconds N] [--settle N]" >&2; exit 2 ;;
  esac
done
state=${CLUSTER_STATE:-.cluster}
started=0
if ! ls "$state"/*.pid >/dev/null 2>&1; then
  Scripts/cluster.sh up >/dev/null
  started=1
fi
cleanup() { if [ "$started" = 1 ]; then Scripts/cluster.sh down >/dev/null; fi; }
trap cleanup EXIT
sleep "$settle"

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
declare -A before
names=()
for pidfile in "$state"/*.pid; do
  name=$(basename "$pidfile" .pid)
  pid=$(cat "$pidfile")
  before[$name]=$(ticks "$pid")
  names+=("$name")
done
sleep "$seconds"
hz=$(getconf CLK_TCK)
total=0
printf "%-12s %s\n" process "CPU (% of one core over ${seconds} s)"
for name in "${names[@]}"; do
  pid=$(cat "$state/$name.pid")
  used=$(( $(ticks "$pid") - ${before[$name]} ))
  total=$(( total + used ))
  awk -v n="$name" -v u="$used" -v hz="$hz" -v s="$seconds" 'BEGIN { printf "%-12s %.2f\n", n, 100 * u / hz / s }'
done
awk -v u="$total" -v hz="$hz" -v s="$seconds" 'BEGIN { printf "%-12s %.2f\n", "total", 100 * u / hz / s }'
