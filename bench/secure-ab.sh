#!/bin/bash
# Security's cost per job, compile by compile: a one-server farm on loopback with
# security off and one with it on (credentials from `ccfarm ca`, TLS everywhere, the
# user's agent, ccfarmd's default sandbox), then N rounds of one trivial compile with
# real gcc on each, alternating, so that the machine's load drifts alike for both.
# Prints the median wall time of each and the median of the per-round differences;
# every compile is checked to have run on its farm.
#
#   bench/secure-ab.sh [N]    (default 300 rounds; binaries from target/release)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${CCFARM_BIN:-$here/target/release}
N=${1:-300}
BASE=${PORT_BASE:-28700}
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    pkill -f "ccfarm agent --credentials $work/" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
echo 'int f(int x) { return x + 1; }' >"$work/t.c"

# start MODE PORT: a scheduler on PORT and a ccfarmd on PORT+10.
start() {
    local mode=$1 port=$2 d=$work/$1 sflags=() dflags=(--sandbox off)
    mkdir -p "$d/jobs"
    if [ "$mode" = secure ]; then
        "$BIN/ccfarm" ca init --ca "$d/ca" --farm ab >/dev/null
        "$BIN/ccfarm" ca issue scheduler sched --host 127.0.0.1 --ca "$d/ca" --out "$d/scheduler" >/dev/null
        "$BIN/ccfarm" ca issue server h1 --ca "$d/ca" --out "$d/server" >/dev/null
        "$BIN/ccfarm" ca issue user bench --ca "$d/ca" --out "$d/user" >/dev/null
        sflags=(--credentials "$d/scheduler")
        dflags=(--credentials "$d/server")
    fi
    CCFARM_LOG=warn "$BIN/ccfarm-scheduler" --listen "127.0.0.1:$port" --http "127.0.0.1:$((port + 1))" \
        "${sflags[@]}" >"$d/scheduler.log" 2>&1 &
    pids+=($!)
    sleep 0.5
    "$BIN/ccfarmd" --no-detach --listen 127.0.0.1 --port $((port + 10)) --allow 127.0.0.0/8 --jobs 2 \
        --tmp-dir "$d/jobs" --scheduler "127.0.0.1:$port" --name h1 --process-cap rlimit \
        --log-file "$d/ccfarmd.log" "${dflags[@]}" >"$d/ccfarmd.out" 2>&1 &
    pids+=($!)
}
start plain "$BASE"
start secure $((BASE + 20))
sleep 2
plain=(CCFARM_HOSTS= CCFARM_FALLBACK=0 CCFARM_DIR="$work/dir-plain" CCFARM_SCHEDULER="127.0.0.1:$BASE")
secure=(CCFARM_HOSTS= CCFARM_FALLBACK=0 CCFARM_DIR="$work/dir-secure"
    CCFARM_SCHEDULER="127.0.0.1:$((BASE + 20))" CCFARM_CREDENTIALS="$work/secure/user")
cd "$work"
# Warm up (the first secure compile starts the agent).
for i in 1 2; do
    env "${plain[@]}" "$BIN/ccfarm" gcc -c t.c -o t.o
    env "${secure[@]}" "$BIN/ccfarm" gcc -c t.c -o t.o
    sleep 1
done
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for i in $(seq "$N"); do
    t0=$(date +%s%N)
    env "${plain[@]}" "$BIN/ccfarm" gcc -c t.c -o t.o
    t1=$(date +%s%N)
    env "${secure[@]}" "$BIN/ccfarm" gcc -c t.c -o t.o
    t2=$(date +%s%N)
    echo "$(((t1 - t0) / 1000)) $(((t2 - t1) / 1000))"
done >"$work/times"
for v in plain secure; do
    remote=$(awk -F'\t' '$2 == "farm"' "$work/dir-$v/jobs.log" | wc -l)
    if [ "$remote" -lt $((N + 2)) ]; then
        echo "$v: only $remote of $((N + 2)) compiles ran on the farm" >&2
        exit 1
    fi
done
echo "$N rounds; load average before $load_before, after $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$work/times" <<'PY'
import statistics as st
import sys
plain, secure = zip(*(map(int, line.split()) for line in open(sys.argv[1])))
diff = [s - p for p, s in zip(plain, secure)]
ms = lambda us: f"{us / 1000:.2f} ms"
print(f"security off: median {ms(st.median(plain))}; on: median {ms(st.median(secure))}; "
      f"difference of the medians {ms(st.median(secure) - st.median(plain))}; "
      f"median of the per-round differences {ms(st.median(diff))}")
PY
