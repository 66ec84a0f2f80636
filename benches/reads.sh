#!/usr/bin/env bash
# Reads on a 3-node cluster (BENCHMARKS.md, "Reads that come together"):
# 64 sessions spread over the nodes, each asking `message.list` (30
# messages of 100 bytes) and waiting for the answer before the next, 5 s.
# "per delivery" in its figures is per read answered.
#   bash benches/reads.sh         (RUNS=, BIN= as for benches/spread.sh)
exec bash "$(dirname "$0")/spread.sh" acks --senders 64 --seconds 5 --read
