#!/usr/bin/env bash
# Cluster overhead on one machine: the same loads against one plain
# node, against a 3-node cluster (3 NATS servers with JetStream) with every
# connection on one node, and with connections spread over the 3 nodes.
# Three runs each; medians of deliveries/s, p50/p99 and the CPU-µs that every
# colloquy and nats-server process together spent per delivery.
#   bash benches/cluster.sh
# On 2 cores nothing gets faster with more nodes: this measures what crossing
# nodes costs per delivery. Needs python3 (scripts/nats-server).
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/cluster-lib.sh
acks() { # label url-list: acknowledged messages/s, ack latency, CPU per ack (medians of 3)
  local out=$work/acks.txt hz before after run
  hz=$(getconf CLK_TCK)
  : > "$out"
  for i in 1 2 3; do
    before=$(ticks "${pids[@]}")
    run=$($LG --url "$2" acks --senders 16 --seconds 5)
    after=$(ticks "${pids[@]}")
    echo "$run" | sed "s/^/    /"
    echo "$run" >> "$out"
    awk -v t=$((after - before)) -v hz="$hz" \
      -v n="$(echo "$run" | sed -n 's/.*acknowledged \([0-9]*\) = .*/\1/p')" \
      'BEGIN { printf "  CPU all processes %.0f µs per ack\n", t * 1e6 / hz / (n > 0 ? n : 1) }' |
      tee -a "$out" | sed "s/^/    /"
  done
  echo "== $1: acknowledged/s $(sed -n 's/.*acknowledged [0-9]* = \([0-9]*\)\/s.*/\1/p' "$out" | sort -g | sed -n 2p)," \
    "ack p50 $(sed -n 's/.*p50 \([0-9.]*\) ms, p99.*/\1/p' "$out" | sort -g | sed -n 2p) ms," \
    "p99 $(sed -n 's/.*p99 \([0-9.]*\) ms, max.*/\1/p' "$out" | sort -g | sed -n 2p) ms," \
    "$(sed -n 's/.*all processes \([0-9]*\) µs per ack/\1/p' "$out" | sort -g | sed -n 2p) CPU-µs per ack"
}
run() { # label url-list loadgen-args...
  local label=$1 url=$2; shift 2
  local out=$work/runs.txt hz
  hz=$(getconf CLK_TCK)
  : > "$out"
  for i in 1 2 3; do
    local before after
    before=$(ticks "${pids[@]}")
    $LG --reader tungstenite --url "$url" "$@" > "$work/run.txt"
    after=$(ticks "${pids[@]}")
    local got
    got=$(sed -n 's/.*deliveries *\([0-9]*\) of.*/\1/p' "$work/run.txt")
    awk -v t=$((after - before)) -v hz="$hz" -v n="$got" \
      'BEGIN { printf "  CPU all processes %.3f µs per delivery\n", t * 1e6 / hz / (n > 0 ? n : 1) }' >> "$work/run.txt"
    echo "## $label run $i"; sed 's/^/    /' "$work/run.txt"; cat "$work/run.txt" >> "$out"
  done
  med() { sort -g | sed -n 2p; }
  echo "== $label median: $(sed -n 's/.*all processes *\([0-9.]*\) µs.*/\1/p' "$out" | med) CPU-µs/delivery," \
    "$(sed -n 's/.*deliveries\/s *\([0-9]*\).*/\1/p' "$out" | med) deliveries/s," \
    "p50 $(sed -n 's/.*latency ms *p50 \([0-9.]*\).*/\1/p' "$out" | med) ms," \
    "p99 $(sed -n 's/.*latency ms.*p99 \([0-9.]*\) .*/\1/p' "$out" | med) ms," \
    "lost at most $(sed -n 's/.*(lost \([0-9]*\)).*/\1/p' "$out" | sort -g | tail -1)"
}
loads() { # label url-list
  acks "$1, 16 senders waiting for each answer" "$2"
  run "$1, max rate (300 subscribers, 16 in flight, 4 publishers)" "$2" \
    fanout --subscribers 300 --window 16 --publishers 4 --messages 6000 --payload 100
  run "$1, 300 subscribers x 50 msg/s" "$2" \
    fanout --subscribers 300 --publishers 1 --rate 50 --messages 500 --payload 100
  run "$1, 400 rooms of 5, each member sending 1 msg/s" "$2" \
    rooms --rooms 400 --members 5 --rate 1 --seconds 10 --payload 100
}

node single
loads "one node, no cluster" "${urls[0]}"
stop; urls=()

nats_cluster bench
for n in a b c; do node "$n" --nats "$NATS_URLS" --node-id "$n"; done
loads "3-node cluster, every connection on one node" "${urls[0]}"
loads "3-node cluster, connections spread over 3 nodes" "$(IFS=,; echo "${urls[*]}")"
