#!/bin/bash
# ccfarm adapter for the shared benchmark harness (shared/bench, see its README,
# "Plugging in another system"). Pass this file's path to `bench.py run --systems`.
#
# Farm: one ccfarmd per farm host, each on its own loopback address and port
# (127.0.0.$((CCFARM_ADDR_BASE+i)):$((CCFARM_PORT_BASE+i))), --jobs = the host's
# slots, with the host's FAKECC_* environment, allowing the compiler `fakegcc`
# (found on its PATH). Clients: `ccfarm fakegcc ...` with CCFARM_HOSTS listing the
# hosts in farm order and a state directory of their own (separate machines).
#
# Binaries: $CCFARM_BIN (default: ../target/release beside this file; build them
# with `cargo build --release`).
. "$BENCH_ROOT/adapters/common.sh"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=${CCFARM_BIN:-$here/../target/release}
ADDR_BASE=${CCFARM_ADDR_BASE:-110}
PORT_BASE=${CCFARM_PORT_BASE:-37200}

hosts_list() {   # "name slow slots addr port" in FARM_HOSTS order
    local i=0 spec name slow slots
    for spec in $FARM_HOSTS; do
        i=$((i + 1))
        IFS=: read -r name slow slots <<<"$spec"
        echo "$name $slow $slots 127.0.0.$((ADDR_BASE + i)) $((PORT_BASE + i))"
    done
}

case "${1:-}" in
start)
    [ -x "$BIN/ccfarmd" ] && [ -x "$BIN/ccfarm" ] || { echo "no ccfarm binaries in $BIN" >&2; exit 1; }
    while read -r name slow slots addr port; do
        mkdir -p "$RUN_DIR/jobs-$name"
        # shellcheck disable=SC2046
        bg "ccfarmd-$name" env $(host_env "$name" "$slow" "$slots") PATH="$BENCH_BIN:$PATH" \
            "$BIN/ccfarmd" --no-detach --listen "$addr" --port "$port" --allow 127.0.0.0/8 \
            --jobs "$slots" --allow-compiler fakegcc --tmp-dir "$RUN_DIR/jobs-$name" \
            --log-file "$RUN_DIR/ccfarmd-$name.log" --log-level warning
    done < <(hosts_list)
    while read -r name slow slots addr port; do
        wait_tcp "$addr" "$port" 20 || exit 1
    done < <(hosts_list)
    ;;
stop) kill_recorded ;;
client-env)
    h=""
    while read -r name slow slots addr port; do h="$h $addr:$port/$slots"; done < <(hosts_list)
    echo "CCFARM_HOSTS=${h# }"
    mkdir -p "$RUN_DIR/ccfarm-dir-c$2"
    echo "CCFARM_DIR=$RUN_DIR/ccfarm-dir-c$2"
    ;;
wrapper) echo "$BIN/ccfarm" ;;
exec-prefix) ;;
jobs) echo "$2" ;;
capacity-model) echo farm ;;
describe) echo "ccfarm $("$BIN/ccfarm" --version | head -1 | awk '{print $2}') (static host list, no scheduler)" ;;
*) echo "usage: $0 start|stop|client-env K|wrapper|exec-prefix|jobs J|describe" >&2; exit 2 ;;
esac
