#!/usr/bin/env bash
# ccfarm's main job on this machine, today: a ccfarmd compile server on loopback
# serving the stock Debian distcc client, which builds the bundled C project
# (demo/wordstat) with fallback to local compiles turned off, so every object is
# compiled by ccfarmd. Prints the server's statistics afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

for tool in distcc gcc make; do
  if ! command -v "$tool" >/dev/null; then
    echo "quickstart: '$tool' is missing; install it with: sudo .ci/setup" >&2
    exit 1
  fi
done

echo "== building ccfarmd"
cargo build --release --locked -q -p ccfarm-daemon
ccfarmd=$root/target/release/ccfarmd

work=$(mktemp -d "${TMPDIR:-/tmp}/ccfarm-quickstart.XXXXXX")
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
stats_port=$(free_port)
mkdir -p "$work/jobs" "$work/distcc"
"$ccfarmd" --no-detach --listen 127.0.0.1 --port "$port" --jobs 4 \
  --stats --stats-port "$stats_port" --tmp-dir "$work/jobs" --log-file "$work/ccfarmd.log" &
server=$!
cleanup() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
echo "== ccfarmd listening on 127.0.0.1:$port (stats on :$stats_port)"

echo "== make -j8 CC='distcc gcc' in demo/wordstat (DISTCC_FALLBACK=0: remote or fail)"
export DISTCC_HOSTS="127.0.0.1:$port/8,lzo" DISTCC_FALLBACK=0 DISTCC_DIR="$work/distcc" DISTCC_BACKOFF_PERIOD=0
make -s -C demo/wordstat OUT="$work/build" CC="distcc gcc" -j8 check

echo "== what the server did (http://127.0.0.1:$stats_port/status)"
curl -fsS "http://127.0.0.1:$stats_port/status" 2>/dev/null || python3 - "$stats_port" <<'PY'
import sys, urllib.request
print(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/status").read().decode())
PY
echo "== server log (per-job summary lines)"
grep -E "client: " "$work/ccfarmd.log" | sed -E 's/^.*client: /client: /' | head -20
