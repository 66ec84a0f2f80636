#!/usr/bin/env bash
# Many small rooms whose members type before they send, on a 3-node cluster
# (3 NATS servers with JetStream) with connections spread over the nodes:
# what typing costs the cluster. Each member of 200 rooms of 5 sends one
# 100-byte message a second and one `typing.start` between two messages
# (`loadgen rooms --typing`), an open loop read by tokio-tungstenite.
# Prints, for each of RUNS runs (3 by default) on a fresh cluster: message
# deliveries, the CPU-µs that the NATS servers and the colloquy nodes each
# spent per delivery, and the log entries and ops the nodes appended.
#   bash benches/typing.sh               # the release build
#   BIN=/path/to/colloquy bash benches/typing.sh   # another build
# Needs python3 (scripts/nats-server).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --release --bin colloquy --example loadgen
NATS=$(scripts/nats-server)
LG=./target/release/examples/loadgen
work=$(mktemp -d)
pids=()
urls=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
source benches/cluster-lib.sh

ticks() { # total utime+stime (clock ticks) of the given pids
  local t=0 p
  for p in "$@"; do
    t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo "$t"
}
metric() { # name: its sum over the nodes' /metrics
  local u t=0 v
  for u in "${urls[@]}"; do
    v=$(curl -s "$u/metrics" | awk -v m="$1" '$1 == m {print $2}')
    t=$((t + ${v:-0}))
  done
  echo "$t"
}

hz=$(getconf CLK_TCK)
for run in $(seq "${RUNS:-3}"); do
  pids=(); urls=()
  rm -rf "$work"/nats*
  nats_cluster typing
  nats=("${pids[@]}")
  for n in a b c; do node "$n" --nats "$NATS_URLS" --node-id "$n"; done
  nodes=("${pids[@]:3}")
  entries=$(metric colloquy_cluster_entries_appended_total)
  ops=$(metric colloquy_cluster_ops_appended_total)
  n0=$(ticks "${nats[@]}"); c0=$(ticks "${nodes[@]}")
  $LG --reader tungstenite --url "$(IFS=,; echo "${urls[*]}")" \
    rooms --rooms 200 --members 5 --rate 1 --seconds 10 --payload 100 --typing \
    > "$work/run.txt"
  n1=$(ticks "${nats[@]}"); c1=$(ticks "${nodes[@]}")
  entries=$(($(metric colloquy_cluster_entries_appended_total) - entries))
  ops=$(($(metric colloquy_cluster_ops_appended_total) - ops))
  got=$(sed -n 's/.*deliveries *\([0-9]*\) of.*/\1/p' "$work/run.txt")
  echo "## run $run"
  sed 's/^/    /' "$work/run.txt"
  awk -v n=$((n1 - n0)) -v c=$((c1 - c0)) -v hz="$hz" -v d="$got" -v e="$entries" -v o="$ops" \
    'BEGIN { d = d > 0 ? d : 1;
             printf "== CPU-µs per delivery: NATS %.1f, nodes %.1f, all %.1f; %d entries, %d ops appended\n",
                    n * 1e6 / hz / d, c * 1e6 / hz / d, (n + c) * 1e6 / hz / d, e, o }'
  kill "${pids[@]}"; wait 2>/dev/null || true
done
