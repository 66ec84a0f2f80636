#!/usr/bin/env bash
# One load on a fresh 3-node cluster (3 NATS servers with JetStream) per
# run, connections spread over the nodes: the load generator's report, then
# the CPU-µs that the NATS servers and the colloquy nodes each spent per
# delivery (per answer, for `acks`), and the log entries and ops the nodes
# appended.
#   bash benches/spread.sh LOADGEN-MODE-AND-ARGS...
#   RUNS=6 BIN=/path/to/colloquy bash benches/spread.sh acks --read
# RUNS runs (3 by default) of the release build (BIN: another build).
# FIRST=1 gives the load generator the first node only, so that the other
# two apply ops none of their sessions asked. benches/typing.sh,
# benches/reads.sh and benches/apply.sh are its uses. Needs python3
# (scripts/nats-server).
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
  given=("${urls[@]}")
  [ -z "${FIRST:-}" ] || given=("${urls[0]}")
  n0=$(ticks "${nats[@]}"); c0=$(ticks "${nodes[@]}")
  each0=(); for p in "${nodes[@]}"; do each0+=("$(ticks "$p")"); done
  $LG --reader tungstenite --url "$(IFS=,; echo "${given[*]}")" "$@" > "$work/run.txt"
  n1=$(ticks "${nats[@]}"); c1=$(ticks "${nodes[@]}")
  each=""; for i in 0 1 2; do each+=" $(($(ticks "${nodes[$i]}") - each0[i]))"; done
  entries=$(($(metric colloquy_cluster_entries_appended_total) - entries))
  ops=$(($(metric colloquy_cluster_ops_appended_total) - ops))
  got=$(sed -n -e 's/.*deliveries *\([0-9]*\) of.*/\1/p' \
    -e 's/.*acknowledged \([0-9]*\) = .*/\1/p' "$work/run.txt")
  echo "## run $run"
  sed 's/^/    /' "$work/run.txt"
  awk -v n=$((n1 - n0)) -v c=$((c1 - c0)) -v hz="$hz" -v d="$got" -v e="$entries" -v o="$ops" \
    -v each="$each" \
    'BEGIN { d = d > 0 ? d : 1; split(each, t, " ");
             printf "== CPU-µs per delivery: NATS %.1f, nodes %.1f (a %.1f, b %.1f, c %.1f), all %.1f; %d entries, %d ops appended\n",
                    n * 1e6 / hz / d, c * 1e6 / hz / d, t[1] * 1e6 / hz / d, t[2] * 1e6 / hz / d,
                    t[3] * 1e6 / hz / d, (n + c) * 1e6 / hz / d, e, o }'
  stop
done
