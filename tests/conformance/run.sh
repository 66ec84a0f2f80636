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
source tests/lib/server.sh
venv "$here/requirements.txt" "$venv"
cargo build --locked --quiet --bin colloquy

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
