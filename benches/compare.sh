#!/usr/bin/env bash
# Side-by-side load test: colloquy and the socketioxide peer, each pinned alone
# to core 0, the load generator on core 1, the same loads, three runs each.
#   bash benches/compare.sh [fanout|latency|rooms|conns|all]
# Needs taskset (util-linux). Builds what it runs (release).
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
cargo build -q --release --bin colloquy --example loadgen
(cd benches/peers/socketioxide && cargo build -q --release)
LG="taskset -c 1 ./target/release/examples/loadgen"

start_colloquy() {
  taskset -c 0 ./target/release/colloquy --bind 127.0.0.1:0 --workers 1 --arbiters 1 --rate-limit 0 \
    > /tmp/colloquy.out 2>/dev/null &
  PID=$!; sleep 0.5; URL=$(sed -n 's/listening on //p' /tmp/colloquy.out)
}
start_peer() {
  taskset -c 0 ./benches/peers/socketioxide/target/release/socketioxide-peer 127.0.0.1:0 > /tmp/peer.out 2>&1 &
  PID=$!; sleep 0.5; URL=$(sed -n 's/listening on //p' /tmp/peer.out)
}
run() { # name proto args...
  local name=$1 proto=$2; shift 2
  for i in 1 2 3; do
    if [ "$name" = colloquy ]; then start_colloquy; else start_peer; fi
    echo "## $name run $i"
    $LG --protocol "$proto" --url "$URL" --server-pid "$PID" "$@" | sed 's/^/    /'
    # TERM, not INT: background jobs of a script start with SIGINT ignored.
    kill -TERM "$PID"; wait "$PID" 2>/dev/null || true
  done
}
case_fanout() {
  for subs in 100 1000; do
    msgs=$((2000000 / subs))
    run colloquy colloquy fanout --subscribers $subs --messages $msgs --window 64
    run socketioxide socketio fanout --subscribers $subs --messages $msgs --window 64
  done
}
case_latency() { # fixed rates: RATE100 (100 subscribers) and RATE (1,000) in messages/s, about half the max rates above
  local r100=${RATE100:-9000} r=${RATE:-750}
  for who in colloquy:colloquy socketioxide:socketio; do
    run ${who%%:*} ${who##*:} fanout --subscribers 100 --messages $((r100 * 5)) --rate "$r100"
    run ${who%%:*} ${who##*:} fanout --subscribers 1000 --messages $((r * 5)) --rate "$r"
    # A light load: what one message's fanout to 1,000 sockets costs on its own.
    run ${who%%:*} ${who##*:} fanout --subscribers 1000 --messages 250 --rate 50
  done
}
case_rooms() {
  run colloquy colloquy rooms --rooms 100 --members 10 --rate 2 --seconds 10
}
case_conns() {
  run colloquy colloquy conns --connections 10000 --room-size 10
  run socketioxide socketio conns --connections 10000 --room-size 10
}
case $what in
  fanout) case_fanout ;;
  latency) case_latency ;;
  rooms) case_rooms ;;
  conns) case_conns ;;
  all) case_fanout; case_latency; case_rooms; case_conns ;;
esac
