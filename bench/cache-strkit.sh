#!/bin/bash
# The result cache on a real project: demo/strkit built cold and warm with ccache (in
# its default direct mode, and in preprocessor mode like ccfarm's cache) and with
# ccfarm's local cache (CCFARM_CACHE=1, misses compiled by one ccfarmd on loopback),
# beside a plain local build and the same farm build without the cache; REPS repetitions (default 3), each from empty caches.
# Prints every repetition and the median, in seconds.
#
#   bench/cache-strkit.sh [REPS]      (binaries from target/release; needs ccache)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${CCFARM_BIN:-$here/target/release}
REPS=${1:-3}
J=${J:-2}
PORT=${PORT:-27650}
command -v ccache >/dev/null || { echo "ccache is not installed" >&2; exit 1; }
work=$(mktemp -d)
trap 'kill $daemon 2>/dev/null || true; rm -rf "$work"' EXIT
cp -r "$here/demo/strkit" "$work/src"
mkdir -p "$work/jobs"
"$BIN/ccfarmd" --no-detach --listen 127.0.0.1 --port "$PORT" --allow 127.0.0.1 \
    --jobs "$J" --tmp-dir "$work/jobs" --log-file "$work/ccfarmd.log" &
daemon=$!
for _ in $(seq 50); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then break; fi
    sleep 0.1
done

build() {   # build OUT CC...  -> seconds on stdout
    local out=$1; shift
    rm -rf "$out"
    local t0 t1
    t0=$(date +%s%N)
    make -s -C "$work/src" OUT="$out" CC="$*" -j"$J" >/dev/null
    t1=$(date +%s%N)
    awk "BEGIN { printf \"%.3f\", ($t1 - $t0) / 1e9 }"
}

median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

declare -A times
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for rep in $(seq "$REPS"); do
    times[local]+=" $(build "$work/out" gcc)"
    export CCACHE_DIR=$work/ccache
    rm -rf "$CCACHE_DIR"
    times[ccache-cold]+=" $(build "$work/out" ccache gcc)"
    times[ccache-warm]+=" $(build "$work/out" ccache gcc)"
    rm -rf "$CCACHE_DIR"
    export CCACHE_NODIRECT=1
    times[ccache-pp-cold]+=" $(build "$work/out" ccache gcc)"
    times[ccache-pp-warm]+=" $(build "$work/out" ccache gcc)"
    unset CCACHE_DIR CCACHE_NODIRECT
    export CCFARM_DIR=$work/ccfarm CCFARM_CACHE=1 CCFARM_HOSTS="127.0.0.1:$PORT/$J" \
        CCFARM_FALLBACK=0
    rm -rf "$CCFARM_DIR"
    times[ccfarm-nocache]+=" $(CCFARM_CACHE=0 build "$work/out" "$BIN/ccfarm" gcc)"
    rm -rf "$CCFARM_DIR"
    times[ccfarm-cold]+=" $(build "$work/out" "$BIN/ccfarm" gcc)"
    times[ccfarm-warm]+=" $(build "$work/out" "$BIN/ccfarm" gcc)"
    unset CCFARM_DIR CCFARM_CACHE CCFARM_HOSTS CCFARM_FALLBACK
done
echo "strkit, make -j$J, $REPS repetitions, load average before $load_before, after $(cut -d' ' -f1-3 /proc/loadavg)"
for k in local ccache-cold ccache-warm ccache-pp-cold ccache-pp-warm ccfarm-nocache ccfarm-cold ccfarm-warm; do
    printf '%-12s %s   median %s\n' "$k" "${times[$k]}" "$(echo "${times[$k]}" | median)"
done
