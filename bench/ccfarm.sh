#!/bin/bash
# ccfarm adapter for the shared benchmark harness (shared/bench, see its README,
# "Plugging in another system"). Pass this file's path to `bench.py run --systems`.
#
# Two modes (CCFARM_MODE):
#
# scheduler (default): the farm as ccfarm is meant to run.
#   * one `ccfarm-scheduler --listen 127.0.0.1:$CCFARM_SCHED_PORT
#     --http 127.0.0.1:$((CCFARM_SCHED_PORT+1)) --policy $CCFARM_POLICY`
#     (log: $RUN_DIR/ccfarm-scheduler.out);
#   * one `ccfarmd --scheduler 127.0.0.1:PORT --name NAME` per farm host, on
#     127.0.0.1:$((CCFARM_PORT_BASE+i)) (ports below the ephemeral range, see
#     below), --jobs = the host's slots, with the host's
#     FAKECC_* environment, allowing the compiler `fakegcc` (found on its PATH).
#     The daemons listen on 127.0.0.1 (not 127.0.0.11x as in static mode) because the
#     scheduler advertises the address a server *connected from* (the peer address of
#     its registration), not the address it listens on;
#   * `start` returns once the scheduler's /status lists every farm host as Up with
#     its full capacity (bounded wait);
#   * clients: `ccfarm fakegcc ...` with CCFARM_SCHEDULER=127.0.0.1:PORT, their own
#     CCFARM_DIR, and an explicitly EMPTY CCFARM_HOSTS (so neither a host list nor
#     /etc/distcc/hosts is used): every job goes through the scheduler, and anything
#     that goes wrong with it shows up as a local compile (`jobs_local`, host
#     local-c<k>) instead of silently bypassing the scheduler. The client never
#     hangs: the scheduler answers "compile locally" after its max wait (120 s),
#     and the client gives up on it after CCFARM_SCHEDULER_WAIT (600 s).
#     CCFARM_SCHED_FALLBACK=hosts also gives clients the static host list (the
#     client's own fallback when the scheduler cannot be reached or a granted host
#     fails 3 times); jobs that take it are then indistinguishable in jobs.log.
#   * each client is its own developer: USER=ccb-dev<k> (the scheduler's fair
#     queueing is per user) and HOSTNAME=ccb-client<k>. CCFARM_ONE_USER=1 keeps
#     the harness's USER for every client (one user: FIFO between clients).
#   * each client's CCFARM_DIR (where the client remembers each file's compile time)
#     is fresh per run by default: every build is a first build, the job costs
#     unknown but for their sizes. CCFARM_MEMORY=DIR keeps it in DIR/c<K> across runs
#     instead, so every build after the first of a workload is a rebuild whose files'
#     previous compile times the client sends (empty DIR before the first run for a
#     clean start; `describe` says which).
#   * CCFARM_OFFER_LOCAL=1 (bench/ccfarm-local.sh): each client offers its own machine's
#     LOCAL_SLOTS slots (CCFARM_LOCAL_SLOTS); the capacity model is then farm+local.
#   * CCFARM_WEIGHTS=1 / CCFARM_SPECULATION=0|1: a scheduler.toml (--config) with
#     [servers.hN] weight = 1/slowness / speculation on or off (newer schedulers only).
#   * diagnostics kept in $RUN_DIR: ccfarm-scheduler.out (its log; CCFARM_SCHED_LOG
#     sets its filter, default info), status-ready.json (at start),
#     status-final.json and metrics-final.txt (at stop), status.jsonl (one /status snapshot every
#     CCFARM_STATUS_EVERY seconds, default 1; 0 disables: learned speeds, queue
#     length, counters over time), ccfarmd-NAME.log. CCFARM_CLIENT_LOG=1: each client's
#     verbose log in ccfarm-client-cK.log (which jobs got a speculative copy).
#
# Security (CCFARM_SECURE, CCFARM_SANDBOX, CCFARM_PROCESS_CAP): this adapter is the farm
# with security OFF, as every result before the sandbox and the credentials existed
# was measured: no credentials (plaintext on loopback, which ccfarm allows without
# them) and ccfarmd with `--sandbox off --process-cap rlimit` (compiles unconfined,
# only the rlimits, which cost nothing measurable; no per-job pids cgroup, which a
# root-run ccfarmd would otherwise make by default).
#   * CCFARM_SECURE=1 (scheduler mode only): at `start`, an authority and credentials
#     made with `ccfarm ca` in $RUN_DIR/ca: `scheduler sched --host 127.0.0.1`,
#     `server NAME` per farm host, `user ccb-dev<k>` per client (one `user $USER`
#     with CCFARM_ONE_USER=1). The scheduler and every ccfarmd get `--credentials`,
#     each client CCFARM_CREDENTIALS; /status and /metrics are then fetched over HTTPS
#     (`curl --cacert $RUN_DIR/ca/ca.pem`).
#   * CCFARM_SANDBOX=off|auto|landlock|bwrap|default (default `off`; `default` passes no
#     --sandbox, i.e. ccfarmd's own default, auto) and CCFARM_PROCESS_CAP=rlimit|auto|
#     cgroup|default (default `rlimit`). bench/ccfarm-secure.sh: TLS + the sandbox as
#     shipped (both `default`: Landlock here, and a per-job pids cgroup because the
#     harness runs ccfarmd as root); bench/ccfarm-secure-rlimit.sh: the same with
#     `process_cap = rlimit`, which is what a deployed ccfarmd (`--user`, not root) gets.
#   * CCFARM_AGENT=0|1 (secure only; default: the client's own default, on): whether the
#     clients make their TLS connections through the user's agent (`ccfarm agent`, one
#     per client's credentials, started by its first compile and killed at `stop`).
#     bench/ccfarm-secure-direct.sh: ccfarm-secure-rlimit.sh with the agent off.
#
# static: no scheduler. ccfarmd per host on 127.0.0.$((CCFARM_ADDR_BASE+i)):
#   $((CCFARM_PORT_BASE+i)); clients get CCFARM_HOSTS listing the hosts in farm
#   order (the client's own slot sharing, as distcc). bench/ccfarm-static.sh.
#
# Variants for one harness run: bench/ccfarm-static.sh, bench/ccfarm-<policy>.sh
# set CCFARM_MODE / CCFARM_POLICY and run this script (the harness names a system
# by its script path).
#
# Binaries: $CCFARM_BIN (default: ../target/release beside this file; build them
# with `cargo build --release`). Ports: CCFARM_PORT_BASE (daemons: 27200 in scheduler
# mode, 37200 in static mode), CCFARM_SCHED_PORT (27290; the HTTP status port is the
# next one).
. "$BENCH_ROOT/adapters/common.sh"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=${CCFARM_BIN:-$here/../target/release}
MODE=${CCFARM_MODE:-scheduler}
POLICY=${CCFARM_POLICY:-earliest-finish}
ADDR_BASE=${CCFARM_ADDR_BASE:-110}
# Scheduler mode puts every daemon on 127.0.0.1, the source address of every loopback
# connection, so its ports must lie outside the kernel's ephemeral range (32768-60999
# here): a port in it can be held by some client's outgoing connection at start-up
# (seen: "cannot listen on 127.0.0.1:37202: Address already in use"). Static mode
# keeps 37200+i on 127.0.0.11x, addresses no connection uses as its source.
if [ "$MODE" = scheduler ]; then
    PORT_BASE=${CCFARM_PORT_BASE:-27200}
else
    PORT_BASE=${CCFARM_PORT_BASE:-37200}
fi
SCHED_PORT=${CCFARM_SCHED_PORT:-27290}
HTTP_PORT=$((SCHED_PORT + 1))
SCHED=127.0.0.1:$SCHED_PORT
STATUS_EVERY=${CCFARM_STATUS_EVERY:-1}
SECURE=${CCFARM_SECURE:-0}
SANDBOX=${CCFARM_SANDBOX:-off}
PROCESS_CAP=${CCFARM_PROCESS_CAP:-rlimit}
CA=${RUN_DIR:-.}/ca
if [ "$SECURE" = 1 ]; then
    SCHEME=https
    CURL_TLS=(--cacert "$CA/ca.pem")
else
    SCHEME=http
    CURL_TLS=()
fi

case $MODE in
scheduler | static) ;;
*) echo "CCFARM_MODE must be scheduler or static, not '$MODE'" >&2; exit 2 ;;
esac
if [ "$SECURE" = 1 ] && [ "$MODE" != scheduler ]; then
    echo "CCFARM_SECURE=1 needs CCFARM_MODE=scheduler" >&2; exit 2
fi
case $SANDBOX in off | auto | landlock | bwrap | default) ;;
*) echo "CCFARM_SANDBOX must be off, auto, landlock, bwrap or default, not '$SANDBOX'" >&2; exit 2 ;;
esac
case $PROCESS_CAP in rlimit | auto | cgroup | default) ;;
*) echo "CCFARM_PROCESS_CAP must be rlimit, auto, cgroup or default, not '$PROCESS_CAP'" >&2; exit 2 ;;
esac

hosts_list() {   # "name slow slots addr port" in FARM_HOSTS order
    local i=0 spec name slow slots addr
    for spec in $FARM_HOSTS; do
        i=$((i + 1))
        IFS=: read -r name slow slots <<<"$spec"
        if [ "$MODE" = scheduler ]; then addr=127.0.0.1; else addr=127.0.0.$((ADDR_BASE + i)); fi
        echo "$name $slow $slots $addr $((PORT_BASE + i))"
    done
}

port_free() {
    if ss -ltnH "sport = :$1" 2>/dev/null | grep -q .; then
        echo "port $1 already in use (another farm running?); set CCFARM_PORT_BASE / CCFARM_SCHED_PORT" >&2
        return 1
    fi
}

status() {   # the scheduler's /status JSON on stdout (bounded)
    curl -sf --max-time 2 "${CURL_TLS[@]}" "$SCHEME://127.0.0.1:$HTTP_PORT/status"
}

# The name each client runs as (and, secure, its user credential's name).
client_user() {
    if [ "${CCFARM_ONE_USER:-0}" = 0 ]; then echo "ccb-dev$1"; else echo "${USER:-$(id -un)}"; fi
}

# Secure mode: an authority and every member's credentials, made with `ccfarm ca` as
# an operator would (scheduler, one server per farm host named as the host, one user
# per client), in $RUN_DIR/ca.
make_credentials() {
    local spec name slow slots k
    "$BIN/ccfarm" ca init --ca "$CA" --farm ccbench >"$RUN_DIR/ca.out" 2>&1 || return 1
    "$BIN/ccfarm" ca issue scheduler sched --host 127.0.0.1 --ca "$CA" --out "$CA/scheduler" \
        >>"$RUN_DIR/ca.out" 2>&1 || return 1
    for spec in $FARM_HOSTS; do
        IFS=: read -r name slow slots <<<"$spec"
        "$BIN/ccfarm" ca issue server "$name" --ca "$CA" --out "$CA/server-$name" \
            >>"$RUN_DIR/ca.out" 2>&1 || return 1
    done
    if [ "${CCFARM_ONE_USER:-0}" = 0 ]; then
        for ((k = 0; k < N_CLIENTS; k++)); do
            "$BIN/ccfarm" ca issue user "$(client_user "$k")" --ca "$CA" --out "$CA/user-c$k" \
                >>"$RUN_DIR/ca.out" 2>&1 || return 1
        done
    else
        "$BIN/ccfarm" ca issue user "$(client_user 0)" --ca "$CA" --out "$CA/user-one" \
            >>"$RUN_DIR/ca.out" 2>&1 || return 1
    fi
}

# Whether this ccfarmd times a calibration compile (newer ones): it then calibrates with
# fakegcc, whose cost for a source without a cost marker is FAKECC_DEFAULT_COST_MS
# (CCFARM_CALIBRATION_COST_MS, default 200) times the host's slowness, and the farm is
# ready once every host has reported its calibration.
calibrates() {
    [ -z "${CALIBRATES:-}" ] && { "$BIN/ccfarmd" --help 2>&1 | grep -q -- --calibrate-with && CALIBRATES=1 || CALIBRATES=0; }
    [ "$CALIBRATES" = 1 ]
}

calibration_flags() {
    calibrates || return 0
    printf '%s\n' --calibrate-with fakegcc
}

# ccfarmd's sandbox flags for this variant; none for a ccfarmd from before the sandbox
# (which has no such flags and runs compiles unconfined).
sandbox_flags() {
    "$BIN/ccfarmd" --help 2>&1 | grep -q -- --sandbox || return 0
    [ "$SANDBOX" = default ] || printf '%s\n' --sandbox "$SANDBOX"
    [ "$PROCESS_CAP" = default ] || printf '%s\n' --process-cap "$PROCESS_CAP"
}

# [SPECS]: exit 0 when /status lists every farm host (or every host in SPECS,
# "name:slow:slots ...") Up with its full capacity.
all_registered() {
    status | python3 -c '
import json, sys
want = {s.split(":")[0]: int(s.split(":")[2]) for s in sys.argv[1].split()}
try:
    snap = json.load(sys.stdin)
except ValueError:
    sys.exit(1)
have = {h["name"]: h for h in snap.get("hosts", [])}
calibrated = sys.argv[2] == "1"
ok = all(n in have and str(have[n]["health"]).lower() == "up" and have[n]["capacity"] == k
         and (not calibrated or have[n].get("calibration_ms") is not None)
         for n, k in want.items())
sys.exit(0 if ok else 1)' "${1:-$FARM_HOSTS}" "$(calibrates && echo 1 || echo 0)"
}

# The scheduler's TOML file (needs a ccfarm-scheduler with --config): CCFARM_WEIGHTS=1
# gives each registered server the weight 1/slowness ([servers.NAME] weight, "relative
# speed guess", which seeds its learned speed), as an operator who knows the machines
# would; CCFARM_SPECULATION=0|1 sets `speculation`.
write_sched_config() {
    local spec name slow slots
    case ${CCFARM_SPECULATION:-} in
    0) echo "speculation = false" ;;
    1) echo "speculation = true" ;;
    esac
    if [ "${CCFARM_WEIGHTS:-0}" = 1 ]; then
        for spec in $FARM_HOSTS; do
            IFS=: read -r name slow slots <<<"$spec"
            printf '[servers.%s]\nweight = %s\n' "$name" "$(python3 -c "print(1/$slow)")"
        done
    fi
}

start_daemons() {   # [NAME]: all farm hosts, or only NAME
    local name slow slots addr port extra
    while read -r name slow slots addr port; do
        [ -n "${1:-}" ] && [ "$1" != "$name" ] && continue
        port_free "$port" || exit 1
        mkdir -p "$RUN_DIR/jobs-$name"
        extra=()
        [ "$MODE" = scheduler ] && extra=(--scheduler "$SCHED" --name "$name")
        if [ "$SECURE" = 1 ]; then extra+=(--credentials "$CA/server-$name"); fi
        mapfile -t sbx < <(sandbox_flags)
        mapfile -t cal < <(calibration_flags)
        # shellcheck disable=SC2046
        # The sandbox in force is logged at info by ccfarmd's main module; keep that line.
        logf=()
        [ -z "${CCFARM_DAEMON_LOG:-}" ] && logf=(CCFARM_LOG="warn,ccfarmd=info")
        bg "ccfarmd-$name" env $(host_env "$name" "$slow" "$slots") PATH="$BENCH_BIN:$PATH" "${logf[@]}" \
            FAKECC_DEFAULT_COST_MS="${CCFARM_CALIBRATION_COST_MS:-200}" \
            "$BIN/ccfarmd" --no-detach --listen "$addr" --port "$port" --allow 127.0.0.0/8 \
            --jobs "$slots" --allow-compiler fakegcc --tmp-dir "$RUN_DIR/jobs-$name" \
            --log-file "$RUN_DIR/ccfarmd-$name.log" --log-level "${CCFARM_DAEMON_LOG:-warning}" \
            "${sbx[@]}" "${cal[@]}" "${extra[@]}"
    done < <(hosts_list)
    while read -r name slow slots addr port; do
        [ -n "${1:-}" ] && [ "$1" != "$name" ] && continue
        wait_tcp "$addr" "$port" 20 || exit 1
        note_sandbox "$name"
    done < <(hosts_list)
}

# Record the sandbox host NAME's ccfarmd put in force in $RUN_DIR/sandbox.txt. Under
# bubblewrap every compile has its own network namespace, so fakegcc's slot limit
# (bound abstract unix sockets) no longer holds across jobs: say so loudly (the
# figures stay valid only because ccfarmd's --jobs equals the host's slots).
note_sandbox() {
    local line="" t
    # ccfarmd binds its port before the sandbox's trial run: wait (bounded) for the line.
    for ((t = 0; t < 50; t++)); do
        line=$(grep -oE 'sandbox="[^"]*"|NOT confined' "$RUN_DIR/ccfarmd-$1.log" 2>/dev/null | head -1)
        [ -n "$line" ] && break
        sleep 0.1
    done
    echo "$1 ${line:-unknown (no sandbox line in the log)}" >>"$RUN_DIR/sandbox.txt"
    case $line in
    *bwrap*) echo "warning: $1 runs compiles under bubblewrap: fakegcc's slot limit does not hold across its jobs (see docs/benchmarks.md)" >&2 ;;
    esac
}

# Scheduler mode: start the daemons one at a time, each after the previous one has
# registered, so the scheduler's join order (its "configured order": list-order's
# order, and every policy's tie-break) is the farm order, fastest first, as in
# distcc's DISTCC_HOSTS. Bounded: 20 s per host.
start_daemons_in_order() {
    local spec so_far="" t
    for spec in $FARM_HOSTS; do
        so_far="$so_far $spec"
        start_daemons "${spec%%:*}"
        for ((t = 0; t < 400; t++)); do
            all_registered "$so_far" && break
            sleep 0.05
        done
    done
}

case "${1:-}" in
start)
    [ -x "$BIN/ccfarmd" ] && [ -x "$BIN/ccfarm" ] || { echo "no ccfarm binaries in $BIN" >&2; exit 1; }
    if [ "$MODE" = scheduler ]; then
        [ -x "$BIN/ccfarm-scheduler" ] || { echo "no ccfarm-scheduler in $BIN" >&2; exit 1; }
        port_free "$SCHED_PORT" && port_free "$HTTP_PORT" || exit 1
        conf=()
        if [ -n "${CCFARM_WEIGHTS:-}${CCFARM_SPECULATION:-}" ]; then
            write_sched_config >"$RUN_DIR/scheduler.toml"
            conf=(--config "$RUN_DIR/scheduler.toml")
        fi
        if [ "$SECURE" = 1 ]; then
            make_credentials || { echo "ccfarm ca failed (see $RUN_DIR/ca.out)" >&2; exit 1; }
            conf+=(--credentials "$CA/scheduler")
        fi
        bg ccfarm-scheduler env CCFARM_LOG="${CCFARM_SCHED_LOG:-info}" \
            "$BIN/ccfarm-scheduler" --listen "$SCHED" --http "127.0.0.1:$HTTP_PORT" --policy "$POLICY" \
            "${conf[@]}"
        wait_listen "$SCHED_PORT" 20 && wait_listen "$HTTP_PORT" 20 || exit 1
    fi
    if [ "$MODE" = scheduler ]; then start_daemons_in_order; else start_daemons; fi
    if [ "$MODE" = scheduler ]; then
        ok=0
        for ((t = 0; t < 200; t++)); do   # <= 20 s
            if all_registered; then ok=1; break; fi
            sleep 0.1
        done
        status >"$RUN_DIR/status-ready.json" || true
        if [ $ok = 0 ]; then
            echo "not every farm host registered with the scheduler within 20 s (see $RUN_DIR/status-ready.json)" >&2
            exit 1
        fi
        if [ "$STATUS_EVERY" != 0 ]; then
            bg status-sampler bash -c '
                url=$1; shift; every=$1; shift; out=$1; shift
                while sleep "$every"; do
                    s=$(curl -sf --max-time 2 "$@" "$url") || continue
                    printf "%s %s\n" "$(date +%s.%N)" "$(printf "%s" "$s" | tr -d "\n ")" >>"$out"
                done' _ "$SCHEME://127.0.0.1:$HTTP_PORT/status" "$STATUS_EVERY" "$RUN_DIR/status.jsonl" \
                "${CURL_TLS[@]}"
        fi
    fi
    ;;
stop)
    if [ "$MODE" = scheduler ]; then
        status >"$RUN_DIR/status-final.json" || true
        curl -sf --max-time 2 "${CURL_TLS[@]}" "$SCHEME://127.0.0.1:$HTTP_PORT/metrics" >"$RUN_DIR/metrics-final.txt" || true
    fi
    kill_recorded
    # The clients' agents (secure runs) would otherwise idle on for ten minutes.
    pkill -f "ccfarm agent --credentials $CA/" 2>/dev/null || true
    ;;
client-env)
    if [ -n "${CCFARM_MEMORY:-}" ]; then
        dir=$CCFARM_MEMORY/c$2
        # What the client remembered before this run, for the record.
        n=$(cat "$dir"/times/[0-9][0-9] 2>/dev/null | wc -l)
        echo "client $2: $n compile times remembered before the run" >> "$RUN_DIR/ccfarm-memory.txt"
    else
        dir=$RUN_DIR/ccfarm-dir-c$2
    fi
    mkdir -p "$dir"
    echo "CCFARM_DIR=$dir"
    h=""
    while read -r name slow slots addr port; do h="$h $addr:$port/$slots"; done < <(hosts_list)
    if [ "$MODE" = scheduler ]; then
        echo "CCFARM_SCHEDULER=$SCHED"
        if [ "${CCFARM_SCHED_FALLBACK:-none}" = hosts ]; then
            echo "CCFARM_HOSTS=${h# }"
        else
            echo "CCFARM_HOSTS="
        fi
        if [ "${CCFARM_ONE_USER:-0}" = 0 ]; then
            echo "USER=$(client_user "$2")"
            echo "HOSTNAME=ccb-client$2"
            if [ "$SECURE" = 1 ]; then echo "CCFARM_CREDENTIALS=$CA/user-c$2"; fi
        elif [ "$SECURE" = 1 ]; then
            echo "CCFARM_CREDENTIALS=$CA/user-one"
        fi
        if [ "$SECURE" = 1 ] && [ -n "${CCFARM_AGENT:-}" ]; then echo "CCFARM_AGENT=$CCFARM_AGENT"; fi
    else
        echo "CCFARM_HOSTS=${h# }"
    fi
    if [ "${CCFARM_OFFER_LOCAL:-0}" = 1 ]; then echo "CCFARM_LOCAL_SLOTS=${LOCAL_SLOTS:-2}"; fi
    if [ "${CCFARM_CLIENT_LOG:-0}" = 1 ]; then
        # The client's own informational lines (speculative copies taken or not, granted
        # hosts, retries), one file per client: the only record of which jobs got a copy.
        echo "CCFARM_VERBOSE=1"
        echo "CCFARM_LOG_FILE=$RUN_DIR/ccfarm-client-c$2.log"
    fi
    ;;
wrapper) echo "$BIN/ccfarm" ;;
exec-prefix) ;;
jobs) echo "$2" ;;
capacity-model) if [ "${CCFARM_OFFER_LOCAL:-0}" = 1 ]; then echo farm+local; else echo farm; fi ;;
describe)
    v=$("$BIN/ccfarm" --version 2>/dev/null | head -1 | awk '{print $2}')
    c=$(git -C "$BIN" rev-parse --short HEAD 2>/dev/null || true)
    [ -n "$c" ] && v="$v@$c"
    if [ "$MODE" = scheduler ]; then
        fb=${CCFARM_SCHED_FALLBACK:-none}
        users=per-client
        [ "${CCFARM_ONE_USER:-0}" = 0 ] || users=one
        extra=""
        [ "${CCFARM_WEIGHTS:-0}" = 1 ] && extra="$extra, weights 1/slowness"
        [ -n "${CCFARM_SPECULATION:-}" ] && extra="$extra, speculation=${CCFARM_SPECULATION}"
        [ -n "${CCFARM_MEMORY:-}" ] && extra="$extra, client memory kept in $CCFARM_MEMORY"
        [ "${CCFARM_OFFER_LOCAL:-0}" = 1 ] && extra="$extra, clients offer ${LOCAL_SLOTS:-2} slots of their own"
        sec=plaintext
        [ "$SECURE" = 1 ] && sec="TLS with credentials, agent ${CCFARM_AGENT:-default}"
        echo "ccfarm $v (scheduler, policy $POLICY, host-list fallback: $fb, users: $users$extra; $sec, sandbox $SANDBOX, process cap $PROCESS_CAP)"
    else
        echo "ccfarm $v (static host list, no scheduler; sandbox $SANDBOX, process cap $PROCESS_CAP)"
    fi
    ;;
*) echo "usage: $0 start|stop|client-env K|wrapper|exec-prefix|jobs J|capacity-model|describe" >&2; exit 2 ;;
esac
