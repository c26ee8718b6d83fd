#!/bin/bash
# The shared result cache on two real projects, demo/strkit and zstd's library (from the
# zstd-sys crate's sources in the cargo registry), each built cold and warm:
#   - ccache, local, in its default direct mode and in preprocessor mode;
#   - sccache (Debian's), local disk cache, when it is installed;
#   - ccfarm's local cache (CCFARM_CACHE=1, misses compiled by a plain ccfarmd);
#   - the shared cache: ccfarm clients against a ccfarmd with --cache on a real
#     redis-server, the client's own cache off; warm = the store filled by the cold
#     build, every job answered by the server without compiling;
#   - the shared cache through the scheduler (cache = the same Redis): clients with
#     their cache on (CCFARM_CACHE=1) but emptied before each build; warm = every job
#     answered in direct mode from the user's manifests and the servers' entries,
#     without preprocessing;
# beside a plain local build and the farm without any cache. REPS repetitions (default
# 3), each from empty caches; every repetition and the median, in seconds.
#
#   bench/cache-shared.sh [REPS]     (binaries from target/release; needs ccache, redis-server;
#                                    PROJECTS="strkit" for one project)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${CCFARM_BIN:-$here/target/release}
REPS=${1:-3}
J=${J:-2}
PORT=${PORT:-27660}
command -v ccache >/dev/null || { echo "ccache is not installed" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "redis-server is not installed" >&2; exit 1; }
zstd=$(ls -d "$HOME"/.cargo/registry/src/*/zstd-sys-*/zstd 2>/dev/null | head -1)
[ -n "$zstd" ] || { echo "no zstd-sys sources in the cargo registry" >&2; exit 1; }
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT

wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.1; done; echo "nothing on $1" >&2; exit 1; }

redis_port=$((PORT + 2))
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" >/dev/null &
pids+=($!)
wait_port "$redis_port"
mkdir -p "$work/jobs-plain" "$work/jobs-shared"
"$BIN/ccfarmd" --no-detach --listen 127.0.0.1 --port "$PORT" --allow 127.0.0.1 --jobs "$J" \
    --tmp-dir "$work/jobs-plain" --log-file "$work/plain.log" &
pids+=($!)
"$BIN/ccfarmd" --no-detach --listen 127.0.0.1 --port $((PORT + 1)) --allow 127.0.0.1 --jobs "$J" \
    --tmp-dir "$work/jobs-shared" --log-file "$work/shared.log" \
    --cache "redis://127.0.0.1:$redis_port" &
pids+=($!)
sched_port=$((PORT + 3))
printf 'cache = "redis://127.0.0.1:%s"\n' "$redis_port" > "$work/scheduler.toml"
"$BIN/ccfarm-scheduler" --listen "127.0.0.1:$sched_port" --http "127.0.0.1:$((PORT + 4))" \
    --config "$work/scheduler.toml" >"$work/scheduler.log" 2>&1 &
pids+=($!)
wait_port "$sched_port"
mkdir -p "$work/jobs-sched"
"$BIN/ccfarmd" --no-detach --listen 127.0.0.1 --port $((PORT + 5)) --allow 127.0.0.1 --jobs "$J" \
    --tmp-dir "$work/jobs-sched" --log-file "$work/sched-server.log" \
    --cache "redis://127.0.0.1:$redis_port" --scheduler "127.0.0.1:$sched_port" &
pids+=($!)
wait_port "$PORT"; wait_port $((PORT + 1)); wait_port $((PORT + 5))
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$((PORT + 4))/status" | grep -qiE '"health" *: *"up"' && break
    sleep 0.1
done

# The projects: strkit as it is; zstd's library with a two-rule makefile.
cp -r "$here/demo/strkit" "$work/strkit"
mkdir -p "$work/zstd"
cp -r "$zstd/lib" "$work/zstd/lib"
cat > "$work/zstd/Makefile" <<'MK'
SRCS := $(sort $(wildcard lib/common/*.c lib/compress/*.c lib/decompress/*.c lib/dictBuilder/*.c))
OBJS := $(patsubst %.c,$(OUT)/%.o,$(SRCS))
all: $(OBJS)
$(OUT)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -DZSTD_DISABLE_ASM -DZSTD_MULTITHREAD=0 -Ilib -Ilib/common -c $< -o $@
MK

build() {   # build PROJECT CC...  -> seconds on stdout
    local project=$1; shift
    rm -rf "$work/out"
    local t0 t1
    t0=$(date +%s%N)
    make -s -C "$work/$project" OUT="$work/out" CC="$*" -j"$J" >/dev/null
    t1=$(date +%s%N)
    awk "BEGIN { printf \"%.3f\", ($t1 - $t0) / 1e9 }"
}

median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

sccache=$(command -v sccache || true)
kinds="local ccache-cold ccache-warm ccache-pp-cold ccache-pp-warm${sccache:+ sccache-cold sccache-warm} farm-nocache local-cache-cold local-cache-warm shared-cold shared-warm sched-cold sched-warm"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for project in ${PROJECTS:-strkit zstd}; do
    declare -A times=()
    for rep in $(seq "$REPS"); do
        times[local]+=" $(build $project gcc)"
        jobs=$(find "$work/out" -name '*.o' | wc -l)
        export CCACHE_DIR=$work/ccache
        rm -rf "$CCACHE_DIR"
        times[ccache-cold]+=" $(build $project ccache gcc)"
        times[ccache-warm]+=" $(build $project ccache gcc)"
        rm -rf "$CCACHE_DIR"
        export CCACHE_NODIRECT=1
        times[ccache-pp-cold]+=" $(build $project ccache gcc)"
        times[ccache-pp-warm]+=" $(build $project ccache gcc)"
        unset CCACHE_DIR CCACHE_NODIRECT
        if [ -n "$sccache" ]; then
            export SCCACHE_DIR=$work/sccache
            sccache --stop-server >/dev/null 2>&1 || true
            rm -rf "$SCCACHE_DIR"
            sccache --start-server >/dev/null 2>&1
            times[sccache-cold]+=" $(build $project sccache gcc)"
            times[sccache-warm]+=" $(build $project sccache gcc)"
            sccache --stop-server >/dev/null 2>&1 || true
            unset SCCACHE_DIR
        fi
        export CCFARM_DIR=$work/ccfarm CCFARM_FALLBACK=0 CCFARM_AGENT=0
        export CCFARM_HOSTS="127.0.0.1:$PORT/$J"
        rm -rf "$CCFARM_DIR"
        times[farm-nocache]+=" $(CCFARM_CACHE=0 build $project "$BIN/ccfarm" gcc)"
        rm -rf "$CCFARM_DIR"
        times[local-cache-cold]+=" $(CCFARM_CACHE=1 build $project "$BIN/ccfarm" gcc)"
        times[local-cache-warm]+=" $(CCFARM_CACHE=1 build $project "$BIN/ccfarm" gcc)"
        rm -rf "$CCFARM_DIR"
        redis-cli -p "$redis_port" FLUSHALL >/dev/null
        export CCFARM_HOSTS="127.0.0.1:$((PORT + 1))/$J"
        times[shared-cold]+=" $(CCFARM_CACHE=0 build $project "$BIN/ccfarm" gcc)"
        sleep 1  # the server stores after replying
        rm -rf "$CCFARM_DIR"
        times[shared-warm]+=" $(CCFARM_CACHE=0 build $project "$BIN/ccfarm" gcc)"
        redis-cli -p "$redis_port" FLUSHALL >/dev/null
        unset CCFARM_HOSTS
        export CCFARM_SCHEDULER="127.0.0.1:$sched_port"
        rm -rf "$CCFARM_DIR"
        times[sched-cold]+=" $(CCFARM_CACHE=1 build $project "$BIN/ccfarm" gcc)"
        sleep 1  # the server stores after replying
        rm -rf "$CCFARM_DIR"
        times[sched-warm]+=" $(CCFARM_CACHE=1 build $project "$BIN/ccfarm" gcc)"
        unset CCFARM_DIR CCFARM_SCHEDULER CCFARM_FALLBACK CCFARM_AGENT
    done
    echo "$project ($jobs compiles), make -j$J, $REPS repetitions"
    for k in $kinds; do
        printf '  %-17s %s   median %s\n' "$k" "${times[$k]}" "$(echo "${times[$k]}" | median)"
    done
    unset times
done
echo "load average before $load_before, after $(cut -d' ' -f1-3 /proc/loadavg)"
echo "shared server: $(grep -c 'cache hit' "$work/shared.log") jobs answered from the cache"
echo "scheduler: $(curl -s "http://127.0.0.1:$((PORT + 4))/metrics" | grep '^ccfarm_scheduler_client_cache_requests_total' | tr '\n' ' ')"
