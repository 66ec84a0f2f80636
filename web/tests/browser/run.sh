#!/usr/bin/env bash
# Browser tests: installs Debian's chromium and playwright-core when absent,
# starts `colloquy serve --bind 127.0.0.1:0`, runs the tests, stops the server.
#   bash web/tests/browser/run.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
if ! command -v chromium >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
if [ ! -d "$here/node_modules/playwright-core" ]; then
  (cd "$here" && npm install --no-audit --no-fund --silent)
fi
# The debug build: `cargo test` has built it already, and speed is not tested here.
(cd "$root" && cargo build -q --bin colloquy)
"$root/target/debug/colloquy" serve --bind 127.0.0.1:0 > "$here/server.out" 2>"$here/server.log" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do grep -q "listening on" "$here/server.out" 2>/dev/null && break; sleep 0.1; done
export COLLOQUY_URL="$(sed -n 's/listening on //p' "$here/server.out")"
# Tests that restart a server, or need one in JWT mode, start their own.
export COLLOQUY_BIN="$root/target/debug/colloquy"
node --test --test-force-exit --test-reporter=spec "$here/chat.test.mjs" "$here/history.test.mjs"
