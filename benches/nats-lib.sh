# Sourced by the benchmarks that need NATS servers (cluster-lib.sh,
# jetstream.sh) from the repository's root: sets $NATS (scripts/nats-server's
# path), $work (a scratch dir, removed at exit unless KEEP is set), the array
# pids (what to stop at exit) and $NATS_URLS, and defines nats_cluster and ticks.

NATS=$(scripts/nats-server)
work=$(mktemp -d)
pids=()
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

ticks() { # total utime+stime (clock ticks) of the given pids
  local t=0 p
  for p in "$@"; do
    t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo "$t"
}
