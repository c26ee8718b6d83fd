#!/bin/bash
# CPU per job of security: a one-server farm on loopback (scheduler and ccfarmd) with
# security off, then on (credentials from `ccfarm ca`, TLS everywhere, Landlock) with and
# without the user's agent; N compiles of a trivial file with real gcc, one after
# another, per variant and repetition. Reports, per job, the wall time and the CPU time
# of every process involved (the compiles and their children, the scheduler, ccfarmd
# and its compilers, the agent), which on a shared machine is steadier than latency.
#
#   bench/secure-cpu.sh [N [REPS]]    (default 200 jobs, 3 repetitions; target/release)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${CCFARM_BIN:-$here/target/release}
N=${1:-200}
REPS=${2:-3}
BASE=${PORT_BASE:-27700}
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    pkill -f "ccfarm agent --credentials $work/" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
tick=$(getconf CLK_TCK)
echo 'int f(int x) { return x + 1; }' >"$work/t.c"

# start MODE PORT: a scheduler on PORT and a ccfarmd on PORT+10; prints "sched daemon".
start() {
    local mode=$1 port=$2 d=$work/$1 sflags=() dflags=(--sandbox off)
    mkdir -p "$d/jobs"
    if [ "$mode" = secure ]; then
        "$BIN/ccfarm" ca init --ca "$d/ca" --farm cpu >/dev/null
        "$BIN/ccfarm" ca issue scheduler sched --host 127.0.0.1 --ca "$d/ca" --out "$d/scheduler" >/dev/null
        "$BIN/ccfarm" ca issue server h1 --ca "$d/ca" --out "$d/server" >/dev/null
        "$BIN/ccfarm" ca issue user bench --ca "$d/ca" --out "$d/user" >/dev/null
        sflags=(--credentials "$d/scheduler")
        dflags=(--credentials "$d/server")
    fi
    CCFARM_LOG=warn "$BIN/ccfarm-scheduler" --listen "127.0.0.1:$port" --http "127.0.0.1:$((port + 1))" \
        "${sflags[@]}" >"$d/scheduler.log" 2>&1 &
    local s=$!
    sleep 0.5
    "$BIN/ccfarmd" --no-detach --listen 127.0.0.1 --port $((port + 10)) --allow 127.0.0.0/8 --jobs 2 \
        --tmp-dir "$d/jobs" --scheduler "127.0.0.1:$port" --name h1 --process-cap rlimit \
        --log-file "$d/ccfarmd.log" "${dflags[@]}" >"$d/ccfarmd.out" 2>&1 &
    local c=$!
    sleep 2
    echo "$s $c"
}

cpu_of() {   # total CPU ticks of the processes given, children included
    local t=0 p
    for p in "$@"; do
        [ -r "/proc/$p/stat" ] && t=$((t + $(awk '{print $14+$15+$16+$17}' "/proc/$p/stat")))
    done
    echo $t
}

read -r ps pd < <(start plain "$BASE")
pids+=("$ps" "$pd")
read -r ss sd < <(start secure $((BASE + 20)))
pids+=("$ss" "$sd")

# run VARIANT: N compiles; prints "wall_us cpu_us" per job.
run() {
    local variant=$1 env=(CCFARM_HOSTS= CCFARM_FALLBACK=0 CCFARM_DIR="$work/dir-$1")
    local services=()
    case $variant in
    plain) env+=(CCFARM_SCHEDULER="127.0.0.1:$BASE"); services=("$ps" "$pd") ;;
    agent | direct)
        env+=(CCFARM_SCHEDULER="127.0.0.1:$((BASE + 20))" CCFARM_CREDENTIALS="$work/secure/user")
        [ "$variant" = direct ] && env+=(CCFARM_AGENT=0)
        services=("$ss" "$sd")
        ;;
    esac
    # Warm up (and, for the agent, start it) before measuring.
    (cd "$work" && env "${env[@]}" "$BIN/ccfarm" gcc -c t.c -o t.o && sleep 1 &&
        env "${env[@]}" "$BIN/ccfarm" gcc -c t.c -o t.o)
    local agent
    agent=$(pgrep -f "ccfarm agent --credentials $work/secure/user" || true)
    [ "$variant" = agent ] && services+=($agent)
    local c0 t0 t1 c1 children
    c0=$(cpu_of "${services[@]}")
    t0=$(date +%s%N)
    children=$(cd "$work" && env "${env[@]}" bash -c \
        "for i in \$(seq $N); do '$BIN/ccfarm' gcc -c t.c -o t.o || exit 1; done; times" | tail -1)
    t1=$(date +%s%N)
    c1=$(cpu_of "${services[@]}")
    # Every compile must have run on the farm, or the figure means nothing.
    local remote
    remote=$(awk -F'\t' '$2 == "farm"' "$work/dir-$variant/jobs.log" | wc -l)
    if [ "$remote" -lt $((N + 2)) ]; then
        echo "$variant: only $remote of $((N + 2)) compiles ran on the farm" >&2
        exit 1
    fi
    rm -f "$work/dir-$variant/jobs.log"
    awk -v c="$children" -v n="$N" -v s=$((c1 - c0)) -v tick="$tick" -v w=$((t1 - t0)) 'BEGIN {
        gsub(/[ms]/, " ", c); split(c, f, " ");
        client = (f[1] * 60 + f[2] + f[3] * 60 + f[4]) * 1e6;
        printf "%d %d\n", w / n / 1000, (client + s * 1e6 / tick) / n }'
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

declare -A wall cpu
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for rep in $(seq "$REPS"); do
    for variant in plain agent direct; do
        read -r w c < <(run "$variant")
        wall[$variant]+="$w "
        cpu[$variant]+="$c "
    done
done
echo "$N trivial compiles per variant and repetition, $REPS repetitions; load average before $load_before, after $(cut -d' ' -f1-3 /proc/loadavg)"
for v in plain agent direct; do
    printf '%-7s wall us/job: %s(median %s)   cpu us/job: %s(median %s)\n' "$v" \
        "${wall[$v]}" "$(echo "${wall[$v]}" | tr ' ' '\n' | grep . | median)" \
        "${cpu[$v]}" "$(echo "${cpu[$v]}" | tr ' ' '\n' | grep . | median)"
done
