#!/bin/bash
# Two identical compile servers on this machine, and what the scheduler believes of their
# speeds after real builds of three projects (demo/wordstat, demo/strkit, zstd's library
# from the zstd-sys crate's sources in the cargo registry), each built through the
# scheduler with `make -jJ`. Identical servers should read the same speed.
#
#   bench/speed-twins.sh [calibrated|learned]     (binaries from target/release)
#
# calibrated (default): each ccfarmd times its calibration compile (real cc) before it
# registers; learned: `--calibrate-with off`, speeds learned from the jobs each server got.
# Prints, after each build, each server's relative speed, placement speed, calibration
# time and jobs, and the ratio of the two speeds.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${CCFARM_BIN:-$here/target/release}
MODE=${1:-calibrated}
J=${J:-4}
PORT=${PORT:-27680}
case $MODE in calibrated) cal=() ;; learned) cal=(--calibrate-with off) ;;
*) echo "usage: $0 [calibrated|learned]" >&2; exit 2 ;; esac
zstd=$(ls -d "$HOME"/.cargo/registry/src/*/zstd-sys-*/zstd 2>/dev/null | head -1)
[ -n "$zstd" ] || { echo "no zstd-sys sources in the cargo registry" >&2; exit 1; }
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null; rm -rf "$work"' EXIT
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.1; done; echo "nothing on $1" >&2; exit 1; }
status() { curl -sf --max-time 2 "http://127.0.0.1:$((PORT + 1))/status"; }

"$BIN/ccfarm-scheduler" --listen "127.0.0.1:$PORT" --http "127.0.0.1:$((PORT + 1))" \
    >"$work/scheduler.log" 2>&1 &
pids+=($!)
wait_port "$PORT"
for i in 1 2; do
    mkdir -p "$work/jobs-$i"
    "$BIN/ccfarmd" --no-detach --listen 127.0.0.1 --port $((PORT + 1 + i)) --allow 127.0.0.1 \
        --jobs 2 --tmp-dir "$work/jobs-$i" --log-file "$work/twin-$i.log" \
        --scheduler "127.0.0.1:$PORT" --name "twin-$i" "${cal[@]}" &
    pids+=($!)
done
for _ in $(seq 300); do
    [ "$(status | python3 -c 'import json,sys; print(sum(h["health"]=="Up" for h in json.load(sys.stdin)["hosts"]))' 2>/dev/null)" = 2 ] && break
    sleep 0.1
done

report() {
    status | python3 -c '
import json, sys
s = json.load(sys.stdin)
hosts = sorted(s["hosts"], key=lambda h: h["name"])
for h in hosts:
    cal = "-" if h["calibration_ms"] is None else "%.0f ms" % h["calibration_ms"]
    print("  %-7s relative %.3f  speed %8.3f  calibration %8s  jobs %d"
          % (h["name"], h["relative_speed"], h["speed"], cal, h["samples"]))
a, b = (h["speed"] for h in hosts)
print("  %s: faster / slower = %.3f" % (sys.argv[1], max(a, b) / min(a, b)))' "$1"
}

echo "mode $MODE, make -j$J, load average $(cut -d' ' -f1-3 /proc/loadavg)"
report "at start"
export CCFARM_SCHEDULER="127.0.0.1:$PORT" CCFARM_HOSTS="" CCFARM_DIR="$work/client"
cp -r "$here/demo/wordstat" "$work/wordstat"
rm -rf "$work/wordstat/build"
make -s -C "$work/wordstat" -j"$J" CC="$BIN/ccfarm gcc" >/dev/null
report "after wordstat"
cp -r "$here/demo/strkit" "$work/strkit"
make -s -C "$work/strkit" clean >/dev/null 2>&1 || true
make -s -C "$work/strkit" -j"$J" CC="$BIN/ccfarm gcc" >/dev/null
report "after strkit"
cp -r "$zstd" "$work/zstd"
# The crate carries zstd's sources without their build files: every library source once.
cat >"$work/zstd/lib/objects.mk" <<'MK'
SRCS := $(wildcard common/*.c compress/*.c decompress/*.c dictBuilder/*.c)
OBJS := $(SRCS:%.c=out/%.o)
all: $(OBJS)
out/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -I. -Icommon -DZSTD_DISABLE_ASM -c $< -o $@
MK
make -s -C "$work/zstd/lib" -f objects.mk -j"$J" CC="$BIN/ccfarm gcc" >/dev/null
report "after zstd"
