#!/usr/bin/env bash
# The per-job cost of ccfarmd's compile sandbox, end to end: one ccfarmd per
# mechanism (off, landlock, bwrap) on loopback, and the real distcc client compiling a
# trivial C file through each, the mechanisms interleaved run by run (so that the
# load of a shared machine drifts over all of them alike; hyperfine would time one
# command's runs, then the next's). The differences between the rows are what the
# sandbox adds to every job: the client's own preprocessing is the same in all.
#
#   bench/sandbox-cost.sh [RUNS]               (default 300 runs per mechanism)
#   PROCESS_CAP=rlimit bench/sandbox-cost.sh   (the daemons' --process-cap; default auto)
#
# Needs distcc, gcc, python3 and bwrap; uses target/release/ccfarmd (built if
# missing) or $CCFARMD. The job runner alone, without client and network:
# cargo run --release -p ccfarm-daemon --example sandbox_cost.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-300}
ccfarmd=${CCFARMD:-target/release/ccfarmd}
[ -x "$ccfarmd" ] || cargo build --release -p ccfarm-daemon --bin ccfarmd
for tool in distcc gcc python3 bwrap; do
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
modes=(off landlock bwrap)
declare -A port
base=$((20000 + RANDOM % 20000))
for k in 0 1 2; do
  mode=${modes[$k]}
  port[$mode]=$((base + k))
  mkdir -p "$work/jobs-$mode"
  "$ccfarmd" --no-detach --listen 127.0.0.1 --port "${port[$mode]}" --jobs 2 \
    --sandbox "$mode" --process-cap "${PROCESS_CAP:-auto}" --tmp-dir "$work/jobs-$mode" \
    --log-file "$work/ccfarmd-$mode.log" &
  pids+=($!)
done
# Start-up includes the trial run of the sandbox; wait until every log says it listens.
for mode in "${modes[@]}"; do
  for _ in $(seq 100); do
    grep -q "listening for distcc clients" "$work/ccfarmd-$mode.log" 2>/dev/null && break
    sleep 0.1
  done
  grep -E "sandbox|NOT confined" "$work/ccfarmd-$mode.log" | sed "s/^/[$mode] /"
done

export DISTCC_DIR="$work/distcc" DISTCC_FALLBACK=0 DISTCC_BACKOFF_PERIOD=0 TMPDIR="$work"
compile() {
  DISTCC_HOSTS="127.0.0.1:${port[$1]}" distcc gcc -c "$work/t.c" -o "$work/t-$1.o"
}
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  commit: $(git rev-parse --short HEAD)  kernel: $(uname -r)  runs: $runs"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for mode in "${modes[@]}"; do compile "$mode"; done # warm-up
for round in $(seq "$runs"); do
  for k in 0 1 2; do
    mode=${modes[$(((round + k) % 3))]}
    start=$(date +%s%N)
    compile "$mode"
    echo "$mode $(($(date +%s%N) - start))" >>"$work/times"
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$work/times" <<'PY'
import statistics, sys
times = {}
for line in open(sys.argv[1]):
    mode, ns = line.split()
    times.setdefault(mode, []).append(int(ns) / 1e6)
base = statistics.median(times["off"])
print(f"{'mechanism':<10} {'runs':>5} {'mean ms':>8} {'median ms':>10} {'vs off (median)':>16}")
for mode in ["off", "landlock", "bwrap"]:
    t = times[mode]
    med = statistics.median(t)
    print(f"{mode:<10} {len(t):>5} {statistics.mean(t):8.2f} {med:10.2f} {med - base:+16.2f}")
PY
cmp "$work/t-off.o" "$work/t-landlock.o" && cmp "$work/t-off.o" "$work/t-bwrap.o" && echo "objects identical"
