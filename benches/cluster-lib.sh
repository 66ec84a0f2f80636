# Sourced by the cluster benchmarks (cluster.sh, failover.sh, spread.sh) from
# the repository's root: builds the server and the load generator, sets what
# nats-lib.sh sets, $LG (the load generator) and the array urls (the nodes'),
# and defines node and metric.

cargo build -q --release --bin colloquy --example loadgen
source benches/nats-lib.sh
LG=./target/release/examples/loadgen
urls=()

node() { # name [flags...]: starts a colloquy node ($BIN, else the release
         # build) and waits for it to listen; appends its pid to pids and its
         # URL to urls; its log in $work/NAME.err
  local name=$1; shift
  "${BIN:-./target/release/colloquy}" --bind 127.0.0.1:0 --rate-limit 0 "$@" \
    > "$work/$name.out" 2> "$work/$name.err" &
  pids+=($!)
  for _ in $(seq 400); do
    grep -q "listening on" "$work/$name.out" && break
    sleep 0.1
  done
  urls+=("$(sed -n 's/listening on //p' "$work/$name.out")")
}

metric() { # name: its sum over the nodes' /metrics (the nodes at $urls)
  local u t=0 v
  for u in "${urls[@]}"; do
    v=$(curl -s "$u/metrics" | awk -v m="$1" '$1 == m {print $2}')
    t=$((t + ${v:-0}))
  done
  echo "$t"
}
