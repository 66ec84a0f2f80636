#!/usr/bin/env bash
# Acknowledged messages per second with --data-dir (and in memory, for
# reference): N senders over WebSocket, each waiting for its answer before the
# next send, one conversation each; then 50 senders at 100 msg/s for ack
# latency at 5,000 msg/s. Three runs each, a fresh server and store every run.
#   bash benches/durable.sh [DIR]   (the store goes in DIR, default ./target/bench-store)
set -euo pipefail
cd "$(dirname "$0")/.."
store=${1:-./target/bench-store}
cargo build -q --release --bin colloquy --example loadgen
LG=./target/release/examples/loadgen

start() { # extra server args...
  rm -rf "$store"
  ./target/release/colloquy --bind 127.0.0.1:0 --rate-limit 0 "$@" > /tmp/colloquy-durable.out 2>/dev/null &
  PID=$!; sleep 0.5; URL=$(sed -n 's/listening on //p' /tmp/colloquy-durable.out)
}
run() { # label server-args -- loadgen-args
  local label=$1; shift
  local server=()
  while [ "$1" != "--" ]; do server+=("$1"); shift; done; shift
  for i in 1 2 3; do
    start "${server[@]}"
    echo "## $label run $i"
    $LG --url "$URL" --server-pid "$PID" acks "$@" | sed 's/^/    /'
    kill -TERM "$PID"; wait "$PID" 2>/dev/null || true
  done
}
for n in 1 16 64; do
  run "data-dir, $n senders" --data-dir "$store" -- --senders "$n" --seconds 5
done
run "data-dir, 5,000 msg/s" --data-dir "$store" -- --senders 50 --rate 100 --seconds 10
for n in 1 64; do
  run "in memory, $n senders" -- --senders "$n" --seconds 5
done
rm -rf "$store"
