#!/bin/bash
# What keeping comments for -Wimplicit-fallthrough costs: zstd's legacy decoders and
# its decompressor (from the zstd-sys crate's sources in the cargo registry; five of
# them have fall-through comments), compiled through one ccfarmd on loopback with
# `-O2 -Wall -Wextra` (preprocessed here with -fdirectives-only) and with
# `-O2 -Wall -Wextra -Wimplicit-fallthrough=5` (a level that ignores comments, so the
# text is fully expanded as before), alternating, ROUNDS times. Prints the preprocessed
# bytes per file for each way and the wall time of each round's compiles.
#
#   bench/fallthrough-cost.sh [ROUNDS]    (default 5; binaries from target/release)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${CCFARM_BIN:-$here/target/release}
ROUNDS=${1:-5}
PORT=${PORT:-28800}
zstd=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/zstd-sys-*/zstd 2>/dev/null | head -1)
[ -n "$zstd" ] || { echo "no zstd-sys sources in the cargo registry" >&2; exit 1; }
work=$(mktemp -d)
daemon=
cleanup() { [ -n "$daemon" ] && kill "$daemon" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/jobs"
"$BIN/ccfarmd" --no-detach --listen 127.0.0.1 --port "$PORT" --allow 127.0.0.0/8 --jobs 2 \
    --tmp-dir "$work/jobs" --sandbox off --process-cap rlimit --log-file "$work/ccfarmd.log" &
daemon=$!
sleep 1
files=("$zstd"/lib/legacy/zstd_v0{1,2,3,4,5,6,7}.c "$zstd"/lib/decompress/zstd_decompress.c "$zstd"/lib/decompress/zstd_decompress_block.c)
inc=(-I"$zstd/lib" -I"$zstd/lib/common" -I"$zstd/lib/legacy")
comments=(-O2 -Wall -Wextra)
expanded=(-O2 -Wall -Wextra -Wimplicit-fallthrough=5)
bytes() { local t=0 f; for f in "${files[@]}"; do t=$((t + $(gcc "$@" "${inc[@]}" -E "$f" 2>/dev/null | wc -c))); done; echo $((t / ${#files[@]})); }
echo "preprocessed bytes per file: expanded $(bytes), with -fdirectives-only $(bytes -fdirectives-only)"
# round FLAGS...: compile every file through the farm; prints the wall time in ms.
round() {
    local t0 t1 f
    t0=$(date +%s%N)
    for f in "${files[@]}"; do
        CCFARM_HOSTS="127.0.0.1:$PORT/2,lzo" CCFARM_FALLBACK=0 CCFARM_DIR="$work/dir" CCFARM_SCHEDULER= \
            "$BIN/ccfarm" gcc "$@" "${inc[@]}" -c "$f" -o "$work/out.o" 2>>"$work/stderr"
    done
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000000))
}
round "${comments[@]}" >/dev/null
round "${expanded[@]}" >/dev/null
a=() b=()
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq "$ROUNDS"); do
    a+=("$(round "${comments[@]}")")
    b+=("$(round "${expanded[@]}")")
done
remote=$(awk -F'\t' '$2 == "farm"' "$work/dir/jobs.log" | wc -l)
total=$(((ROUNDS + 1) * 2 * ${#files[@]}))
[ "$remote" -eq "$total" ] || { echo "only $remote of $total compiles ran on the farm" >&2; exit 1; }
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
echo "${#files[@]} files per round, $ROUNDS rounds; load average before $load_before, after $(cut -d' ' -f1-3 /proc/loadavg)"
echo "with comments (-fdirectives-only), ms per round: ${a[*]} (median $(median "${a[@]}"))"
echo "expanded, ms per round:                          ${b[*]} (median $(median "${b[@]}"))"
