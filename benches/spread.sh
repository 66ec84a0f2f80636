#!/usr/bin/env bash
# One load on a fresh 3-node cluster (3 NATS servers with JetStream) per
# run, connections spread over the nodes: the load generator's report, then
# the CPU-µs that the NATS servers and the colloquy nodes each spent per
# delivery (per answer, for `acks`), and the log entries and ops the nodes
# appended.
#   bash benches/spread.sh LOADGEN-MODE-AND-ARGS...
#   RUNS=6 BIN=/path/to/colloquy bash benches/spread.sh acks --read
# RUNS runs (3 by default) of the release build (BIN: another build).
# benches/typing.sh and benches/reads.sh are its two uses so far. Needs
# python3 (scripts/nats-server).
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/cluster-lib.sh

hz=$(getconf CLK_TCK)
for run in $(seq "${RUNS:-3}"); do
  pids=(); urls=()
  rm -rf "$work"/nats*
  nats_cluster spread
  nats=("${pids[@]}")
  for n in a b c; do node "$n" --nats "$NATS_URLS" --node-id "$n"; done
  nodes=("${pids[@]:3}")
  entries=$(metric colloquy_cluster_entries_appended_total)
  ops=$(metric colloquy_cluster_ops_appended_total)
  n0=$(ticks "${nats[@]}"); c0=$(ticks "${nodes[@]}")
  $LG --reader tungstenite --url "$(IFS=,; echo "${urls[*]}")" "$@" > "$work/run.txt"
  n1=$(ticks "${nats[@]}"); c1=$(ticks "${nodes[@]}")
  entries=$(($(metric colloquy_cluster_entries_appended_total) - entries))
  ops=$(($(metric colloquy_cluster_ops_appended_total) - ops))
  got=$(sed -n -e 's/.*deliveries *\([0-9]*\) of.*/\1/p' \
    -e 's/.*acknowledged \([0-9]*\) = .*/\1/p' "$work/run.txt")
  echo "## run $run"
  sed 's/^/    /' "$work/run.txt"
  awk -v n=$((n1 - n0)) -v c=$((c1 - c0)) -v hz="$hz" -v d="$got" -v e="$entries" -v o="$ops" \
    'BEGIN { d = d > 0 ? d : 1;
             printf "== CPU-µs per delivery: NATS %.1f, nodes %.1f, all %.1f; %d entries, %d ops appended\n",
                    n * 1e6 / hz / d, c * 1e6 / hz / d, (n + c) * 1e6 / hz / d, e, o }'
  stop
done
