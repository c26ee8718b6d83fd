#!/usr/bin/env bash
# The per-job cost of ccfarmd's compile sandbox: one ccfarmd per mechanism (off,
# landlock, bwrap) on loopback, and hyperfine timing the real distcc client compiling
# a trivial C file through each, back to back. The differences between the rows are
# what the sandbox adds to every job (the client's own preprocessing is the same in
# all of them).
#
#   bench/sandbox-cost.sh [RUNS]          (default 300 runs per mechanism)
#
# Needs hyperfine, distcc, gcc and bwrap; uses target/release/ccfarmd (built if
# missing) or $CCFARMD.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-300}
ccfarmd=${CCFARMD:-target/release/ccfarmd}
[ -x "$ccfarmd" ] || cargo build --release -p ccfarm-daemon --bin ccfarmd
for tool in hyperfine distcc gcc bwrap; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed" >&2; exit 1; }
done

work=$(mktemp -d /tmp/ccfarm-sandbox-cost.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

printf 'int answer(int x) { return x * 6 + 7; }\n' >"$work/t.c"
mkdir -p "$work/distcc"
declare -A port
base=$((20000 + RANDOM % 20000))
i=0
for mode in off landlock bwrap; do
  port[$mode]=$((base + i))
  i=$((i + 1))
  mkdir -p "$work/jobs-$mode"
  "$ccfarmd" --no-detach --listen 127.0.0.1 --port "${port[$mode]}" --jobs 2 \
    --sandbox "$mode" --tmp-dir "$work/jobs-$mode" --log-file "$work/ccfarmd-$mode.log" &
  pids+=($!)
done
# Start-up includes the trial run of the sandbox; wait until every log says it listens.
for mode in off landlock bwrap; do
  for _ in $(seq 100); do
    grep -q "listening for distcc clients" "$work/ccfarmd-$mode.log" 2>/dev/null && break
    sleep 0.1
  done
  grep -E "sandbox|NOT confined" "$work/ccfarmd-$mode.log" | sed "s/^/[$mode] /"
done

export DISTCC_DIR="$work/distcc" DISTCC_FALLBACK=0 DISTCC_BACKOFF_PERIOD=0 TMPDIR="$work"
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  commit: $(git rev-parse --short HEAD)  kernel: $(uname -r)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
hyperfine --runs "$runs" --warmup 20 --export-json "$work/result.json" \
  -n off "DISTCC_HOSTS=127.0.0.1:${port[off]} distcc gcc -c $work/t.c -o $work/t-off.o" \
  -n landlock "DISTCC_HOSTS=127.0.0.1:${port[landlock]} distcc gcc -c $work/t.c -o $work/t-landlock.o" \
  -n bwrap "DISTCC_HOSTS=127.0.0.1:${port[bwrap]} distcc gcc -c $work/t.c -o $work/t-bwrap.o"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$work/result.json" <<'EOF'
import json, sys
results = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
off = results["off"]
print(f"{'mechanism':<10} {'mean ms':>8} {'median ms':>10} {'stddev ms':>10} {'vs off (median)':>16}")
for name in ["off", "landlock", "bwrap"]:
    r = results[name]
    extra = (r["median"] - off["median"]) * 1000
    print(f"{name:<10} {r['mean']*1000:8.2f} {r['median']*1000:10.2f} {r['stddev']*1000:10.2f} {extra:+15.2f}")
EOF
cmp "$work/t-off.o" "$work/t-landlock.o" && cmp "$work/t-off.o" "$work/t-bwrap.o" && echo "objects identical"
