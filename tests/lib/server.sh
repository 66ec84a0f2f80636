# Shell helpers for scripts that test a real dev server from outside.
# Source it from the project root after `cargo build --bin colloquy`.

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

# Makes (or reuses) a virtualenv at $2 with the pinned requirements file $1.
venv() {
  local requirements=$1 dir=$2
  if ! cmp -s "$requirements" "$dir/requirements.txt" 2>/dev/null; then
    rm -rf "$dir"
    python3 -m venv "$dir"
    "$dir/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
    cp "$requirements" "$dir/requirements.txt"
  fi
}
