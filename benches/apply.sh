#!/usr/bin/env bash
# What a cluster node spends applying ops none of its sessions asked
# (BENCHMARKS.md, "A node applying others' ops"): 16 senders on node a,
# each in a conversation of its own, each waiting for its answer before
# the next (a closed loop), 10 s; nodes b and c hold no session. Read
# "b" and "c" in the figures: CPU-µs per op on those nodes.
#   bash benches/apply.sh         (RUNS=, BIN= as for benches/spread.sh)
FIRST=1 exec bash "$(dirname "$0")/spread.sh" acks --senders 16 --seconds 10
