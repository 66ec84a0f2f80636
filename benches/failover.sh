#!/usr/bin/env bash
# What a NATS server's death costs the clients of a 3-node cluster: chat
# traffic (200 rooms of 5 spread over the 3 nodes, each member sending 1
# msg/s, 12 s) while one NATS server is killed (-9) 4 s in. Each round starts
# a fresh cluster, finds which server leads what from the servers' own logs,
# and kills
#   other:  a server that leads neither the log's stream nor JetStream's
#           metadata (it may hold the nodes' readers and connections);
#   stream: the log's stream leader (JetStream elects another first);
#   meta:   JetStream's metadata leader (a round where it also leads the
#           stream says so);
#   stall:  the log's stream leader stopped (SIGSTOP) rather than killed: a
#           server that stops answering without closing its connections,
#           as a paused VM or a network dropping packets does; let go
#           (SIGCONT) only once the load has ended.
# The longest delivery latency is the outage the worst-off client saw.
#   bash benches/failover.sh [other|stream|meta|stall] [rounds]
# BIN=path/to/colloquy measures another build with the same load.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-other}
rounds=${2:-3}
source benches/cluster-lib.sh

# The NATS server (0-2) whose log says it took the lead named by $1
# (waiting up to 10 s for one to say so).
leader() {
  local f
  for _ in $(seq 100); do
    f=$(grep -l "$1" "$work"/nats*.log 2>/dev/null | head -1 || true)
    if [ -n "$f" ]; then echo "$f" | sed 's/.*nats\([0-9]\)\.log/\1/'; return; fi
    sleep 0.1
  done
  echo "no NATS server says: $1" >&2; exit 1
}

up() { # a fresh cluster: 3 NATS servers, 3 nodes; sets urls, stream, meta
  rm -rf "${work:?}"/*
  nats_cluster failover
  urls=()
  for n in a b c; do node "$n" --node-id "$n" --nats "$NATS_URLS"; done
  sleep 3
  stream=$(leader "new stream leader for '\$G > COLLOQUY'")
  meta=$(leader "Self is new JetStream cluster metadata leader")
}

for round in $(seq "$rounds"); do
  up
  # `meta` measures the metadata leader alone: a cluster where one server
  # leads both is started again (up to 5 times).
  for _ in 1 2 3 4; do
    [ "$what" = meta ] && [ "$stream" = "$meta" ] || break
    stop; up
  done
  victim=$stream
  if [ "$what" = meta ]; then victim=$meta; fi
  if [ "$what" = other ]; then
    for v in 0 1 2; do
      if [ "$v" != "$stream" ] && [ "$v" != "$meta" ]; then victim=$v; break; fi
    done
  fi
  how=-9
  if [ "$what" = stall ]; then how=-STOP; fi
  (sleep 4; kill "$how" "${pids[$victim]}") &
  out=$($LG --reader tungstenite --url "$(IFS=,; echo "${urls[*]}")" \
    rooms --rooms 200 --members 5 --rate 1 --seconds 12 --payload 100)
  { wait $!; } 2>/dev/null  # (and quiet: bash reports the server it killed)
  if [ "$what" = stall ]; then kill -CONT "${pids[$victim]}"; fi
  reopened=$(cat "$work"/[abc].err | grep -c "reopening it" || true)
  left=$(cat "$work"/[abc].err | grep -c "NATS: disconnected" || true)
  echo "round $round: $how n$victim (stream leader n$stream, metadata leader n$meta):" \
    "$(echo "$out" | grep -o 'lost [0-9]*'), $(echo "$out" | grep latency | tr -s ' ' | sed 's/^ //')," \
    "readers reopened after a stall: $reopened, nodes that left a server: $left"
  stop
done
