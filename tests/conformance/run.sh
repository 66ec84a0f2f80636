#!/usr/bin/env bash
# Conformance against a real dev server, as outside tools see it:
# - the Autobahn fuzzing-client cases that apply to a chat server (kosoku);
# - schemathesis with every check against /openapi.json.
# Both come pinned (requirements.txt) into a virtualenv this script makes.
# Run by .ci/run; alone: bash tests/conformance/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
here=tests/conformance
venv=target/conformance-venv
if ! cmp -s "$here/requirements.txt" "$venv/requirements.txt" 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  cp "$here/requirements.txt" "$venv/requirements.txt"
fi
cargo build --locked --quiet --bin colloquy

pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT

# Starts the dev server with the given flags on a free port; sets $addr.
start() {
  local out
  out=$(mktemp)
  RUST_LOG=error target/debug/colloquy --bind 127.0.0.1:0 "$@" >"$out" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    addr=$(sed -n 's|^listening on http://||p' "$out")
    [ -n "$addr" ] && return 0
    sleep 0.1
  done
  echo "the server did not start:" >&2
  cat "$out" >&2
  return 1
}

echo "== Autobahn fuzzing-client cases (kosoku)"
start --rate-limit 0
(cd target && "../$venv/bin/python" "../$here/autobahn.py" "ws://$addr/v1/ws?identity=fuzz")

echo "== schemathesis --checks all against /openapi.json"
key=conformance-admin-key
start --rate-limit 0 --jwt-secret conformance-secret --admin-key "$key"
"$venv/bin/python" "$here/seed.py" "$addr" "$key" > target/schemathesis.toml
"$venv/bin/schemathesis" --config-file target/schemathesis.toml run "http://$addr/openapi.json" \
  --checks all --max-time "${SCHEMATHESIS_SECONDS:-90}" --workers 2 \
  -H "Authorization: Bearer $key" --seed "${SCHEMATHESIS_SEED:-1}" --no-color
