#!/usr/bin/env bash
# The Twilio face against the official `twilio` Python library (TWILIO.md):
# the same scenario in each auth mode, redirected both ways, with a WebSocket
# client watching. The library comes pinned into a virtualenv this script makes.
# Run by .ci/run; alone: bash tests/twilio/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
here=tests/twilio
py=target/twilio-venv/bin/python
source tests/lib/server.sh
venv "$here/requirements.txt" target/twilio-venv
cargo build --locked --quiet --bin colloquy

# TWILIO_EDGE/TWILIO_REGION would splice labels into the host (TWILIO.md §1).
unset TWILIO_EDGE TWILIO_REGION
sid=AC0123456789abcdef0123456789abcdef

echo "== Twilio face, dev mode (any credentials)"
start
"$py" "$here/scenario.py" "$addr" "$sid" any

echo "== Twilio face, --twilio-account-sid/--twilio-auth-token"
start --twilio-account-sid "$sid" --twilio-auth-token twilio-secret
"$py" "$here/scenario.py" "$addr" "$sid" twilio-secret

echo "== Twilio face, --admin-key as the auth token"
start --admin-key admin-secret
"$py" "$here/scenario.py" "$addr" "$sid" admin-secret

echo "== The README's example backend, twice (the second run finds what the first made)"
start
"$py" examples/twilio/backend.py "http://$addr" > /dev/null
"$py" examples/twilio/backend.py "http://$addr" | tee target/twilio-example.txt
test "$(grep -c 'support-bot: Hello alice' target/twilio-example.txt)" -eq 2
