#!/usr/bin/env bash
# Many small rooms whose members type before they send: what typing costs
# a 3-node cluster (BENCHMARKS.md, "Typing beside the log"). Each member of
# 200 rooms of 5 sends one 100-byte message a second and one `typing.start`
# between two messages, an open loop read by tokio-tungstenite.
#   bash benches/typing.sh        (RUNS=, BIN= as for benches/spread.sh)
exec bash "$(dirname "$0")/spread.sh" \
  rooms --rooms 200 --members 5 --rate 1 --seconds 10 --payload 100 --typing
