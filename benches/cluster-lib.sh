# Sourced by the cluster benchmarks (cluster.sh, failover.sh, spread.sh) from
# the repository's root: builds the server and the load generator, and sets
# $NATS (scripts/nats-server's path), $LG (the load generator), $work (a
# scratch dir, removed at exit unless KEEP is set), and the arrays pids (what
# to stop at exit) and urls (the nodes').

cargo build -q --release --bin colloquy --example loadgen
NATS=$(scripts/nats-server)
LG=./target/release/examples/loadgen
work=$(mktemp -d)
pids=()
urls=()
stop() { kill "${pids[@]}" 2>/dev/null || true; { wait; } 2>/dev/null || true; pids=(); }
trap 'stop; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT

# The client URLs of the NATS servers nats_cluster starts.
NATS_URLS="nats://127.0.0.1:14222,nats://127.0.0.1:14223,nats://127.0.0.1:14224"

nats_cluster() { # name: 3 NATS servers with JetStream, logs in $work/natsN.log
  local routes="" i
  for i in 0 1 2; do routes+="nats-route://127.0.0.1:$((16222 + i)),"; done
  for i in 0 1 2; do
    "$NATS" --name "n$i" -a 127.0.0.1 -p $((14222 + i)) --cluster_name "$1" \
      --cluster "nats://127.0.0.1:$((16222 + i))" --routes "${routes%,}" \
      -js --store_dir "$work/nats$i" > "$work/nats$i.log" 2>&1 &
    pids+=($!)
  done
}

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

ticks() { # total utime+stime (clock ticks) of the given pids
  local t=0 p
  for p in "$@"; do
    t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo "$t"
}

metric() { # name: its sum over the nodes' /metrics (the nodes at $urls)
  local u t=0 v
  for u in "${urls[@]}"; do
    v=$(curl -s "$u/metrics" | awk -v m="$1" '$1 == m {print $2}')
    t=$((t + ${v:-0}))
  done
  echo "$t"
}
