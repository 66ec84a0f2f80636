#!/usr/bin/env bash
# Side-by-side load test: colloquy, the socketioxide peer and (in `shallow`)
# the floor, a bare broadcaster (benches/peers/floor), each pinned alone
# to core 0, the load generator on core 1, the same loads, three runs each.
#   bash benches/compare.sh [shallow|fanout|latency|rooms|conns|all]
# `shallow` is the case chat traffic has (issue 13): a few messages in flight,
# subscribers reading with tokio-tungstenite (a 4 KiB read buffer: its 128 KiB
# default is zeroed on every read, which made the readers the bottleneck; see
# loadgen --read-buffer); its headline is the server's
# CPU-µs per delivery (median of three runs). The other cases keep the deep
# window (64 in flight) and minimal reader of earlier figures, for comparison.
# `shallow` runs colloquy twice: v1 JSON, and compact frames (`--encoding
# compact`, colloquy-compact); the peer ignores the encoding.
# Needs taskset (util-linux). Builds what it runs (release).
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
cargo build -q --release --bin colloquy --example loadgen
(cd benches/peers/socketioxide && cargo build -q --release)
(cd benches/peers/floor && cargo build -q --release)
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
start_floor() {
  taskset -c 0 ./benches/peers/floor/target/release/floor-peer 127.0.0.1:0 > /tmp/floor.out 2>&1 &
  PID=$!; sleep 0.5; URL=$(sed -n 's/listening on //p' /tmp/floor.out)
}
run() { # name proto loadgen-args...
  local name=$1 proto=$2; shift 2
  local out=/tmp/compare-runs.txt
  : > "$out"
  for i in 1 2 3; do
    case $name in colloquy*) start_colloquy ;; floor) start_floor ;; *) start_peer ;; esac
    echo "## $name run $i"
    $LG --protocol "$proto" --url "$URL" --server-pid "$PID" "$@" | tee -a "$out" | sed 's/^/    /'
    # TERM, not INT: background jobs of a script start with SIGINT ignored.
    kill -TERM "$PID"; wait "$PID" 2>/dev/null || true
  done
  summary "$name" "$out"
}
# Medians of the three runs: CPU-µs per delivery (the headline), deliveries/s,
# p50/p99 latency, lost deliveries.
summary() {
  local name=$1 out=$2
  med() { sort -g | sed -n 2p; }
  local cpu rate p50 p99 lost
  cpu=$(sed -n 's/.*server CPU *\([0-9.]*\) µs per delivery.*/\1/p' "$out" | med)
  rate=$(sed -n 's/.*deliveries\/s *\([0-9]*\).*/\1/p' "$out" | med)
  p50=$(sed -n 's/.*latency ms *p50 \([0-9.]*\).*/\1/p' "$out" | med)
  p99=$(sed -n 's/.*latency ms.*p99 \([0-9.]*\) .*/\1/p' "$out" | med)
  lost=$(sed -n 's/.*(lost \([0-9]*\)).*/\1/p' "$out" | sort -g | tail -1)
  echo "== $name median: ${cpu:-?} CPU-µs/delivery, ${rate:-?} deliveries/s, p50 ${p50:-?} ms, p99 ${p99:-?} ms, lost at most ${lost:-?}"
}
case_shallow() { # subscribers, messages in flight, publishers sharing them, messages
  for spec in "100 16 4 20000" "1000 8 4 2000" "5000 4 4 400"; do
    set -- $spec
    for who in colloquy:colloquy:v1 colloquy-compact:colloquy:compact socketioxide:socketio:v1 floor:socketio:v1; do
      IFS=: read -r name proto enc <<< "$who"
      run "$name" "$proto" --reader tungstenite --encoding "$enc" fanout --subscribers "$1" \
        --window "$2" --publishers "$3" --messages "$4" --payload 100
    done
  done
  for who in colloquy:colloquy:v1 colloquy-compact:colloquy:compact socketioxide:socketio:v1 floor:socketio:v1; do
    IFS=: read -r name proto enc <<< "$who"
    run "$name" "$proto" --reader tungstenite --encoding "$enc" fanout --subscribers 1000 \
      --publishers 1 --rate 40 --messages 400 --payload 100
    run "$name" "$proto" --reader tungstenite --encoding "$enc" rooms --rooms 2000 --members 5 \
      --rate 1 --seconds 10
  done
}
case_fanout() {
  for subs in 100 1000; do
    msgs=$((2000000 / subs))
    run colloquy colloquy --reader raw fanout --subscribers $subs --messages $msgs --window 64
    run socketioxide socketio --reader raw fanout --subscribers $subs --messages $msgs --window 64
  done
}
case_latency() { # fixed rates: RATE100 (100 subscribers) and RATE (1,000) in messages/s, about half
  # the shallow max rates on the 2-core machine of docs/BENCHMARKS.md (2026-12-05); RATE / 3 too
  local r100=${RATE100:-4500} r=${RATE:-375}
  for who in colloquy:colloquy socketioxide:socketio; do
    run ${who%%:*} ${who##*:} fanout --subscribers 100 --messages $((r100 * 5)) --rate "$r100"
    run ${who%%:*} ${who##*:} fanout --subscribers 1000 --messages $((r * 5)) --rate "$r"
    run ${who%%:*} ${who##*:} fanout --subscribers 1000 --messages $((r * 5 / 3)) --rate $((r / 3))
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
  shallow) case_shallow ;;
  fanout) case_fanout ;;
  latency) case_latency ;;
  rooms) case_rooms ;;
  conns) case_conns ;;
  all) case_shallow; case_fanout; case_latency; case_rooms; case_conns ;;
esac
