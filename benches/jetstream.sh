#!/usr/bin/env bash
# The JetStream floor (BENCHMARKS.md, "What JetStream spends per entry"):
# what 3 NATS servers with JetStream spend per log entry with no colloquy at
# all, at several append rates, and what reading the entries back on every
# server adds. An open loop of 300-byte entries (each append awaited), from
# one client per server in turn; readers as colloquy's nodes read the log
# (an ordered consumer each), or a plain subscription to a republished copy.
#   bash benches/jetstream.sh   (RUNS=2 rounds, a fresh cluster each; SECONDS_EACH=8 a run)
# Needs python3 (scripts/nats-server).
set -euo pipefail
cd "$(dirname "$0")/.."
(cd benches/peers/jetstream && cargo build -q --release)
FLOOR=benches/peers/jetstream/target/release/jetstream-floor
source benches/nats-lib.sh
for round in $(seq "${RUNS:-2}"); do
  stop
  rm -rf "${work:?}"/nats*
  nats_cluster floor
  # A first run settles the new cluster (its leaders, its first stream).
  $FLOOR --urls "$NATS_URLS" --pids "$(IFS=,; echo "${pids[*]}")" --seconds 2 > /dev/null
  before=$(ticks "${pids[@]}")
  sleep 5
  echo "idle (the stream made, nothing appended): NATS servers" \
    "$(( ($(ticks "${pids[@]}") - before) * 1000000 / $(getconf CLK_TCK) / 5 )) CPU-µs per second"
  for run in "300 consumer" "1000 none" "1000 consumer" "1000 republish" "3000 consumer"; do
    set -- $run
    $FLOOR --urls "$NATS_URLS" --pids "$(IFS=,; echo "${pids[*]}")" \
      --rate "$1" --readers "$2" --seconds "${SECONDS_EACH:-8}"
  done
done
