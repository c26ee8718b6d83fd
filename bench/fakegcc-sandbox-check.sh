#!/usr/bin/env bash
# Does the benchmark's fake compiler keep its semantics under ccfarmd's sandbox?
# fakegcc enforces a host's slot count itself, by binding abstract unix sockets
# ("\0<ns>/<host>/<i>"), so that a daemon that over-commits still gets only `slots`
# jobs at full speed. A sandbox that gives each compile its own abstract-socket
# namespace (a new network namespace: bubblewrap's --unshare-all) would let every job
# take "slot 0" at once: over-committed jobs would run unthrottled and the figures
# would be false. (Landlock's ABI 6 scoping denies *connecting* to abstract sockets
# made outside the sandbox; fakegcc only binds.)
#
# For each mechanism: one ccfarmd with --jobs 3 whose host has FAKECC_SLOTS=1, and
# three 300 ms jobs sent at once through the distcc client. Slots enforced: the jobs
# wait about 0, 300 and 600 ms for the slot. Not enforced: none waits.
#
#   bench/fakegcc-sandbox-check.sh [MECHANISM...]   (default: off landlock bwrap)
#
# Needs distcc, gcc, python3 (bwrap for that row); FAKEGCC=path/to/fakegcc (the
# harness's BENCH_BUILD/bin/fakegcc), CCFARMD (default target/release/ccfarmd).
set -euo pipefail
cd "$(dirname "$0")/.."
ccfarmd=${CCFARMD:-target/release/ccfarmd}
fakegcc=${FAKEGCC:?set FAKEGCC to the harness-built fakegcc}
mechs=("$@")
[ ${#mechs[@]} -gt 0 ] || mechs=(off landlock bwrap)
work=$(mktemp -d /tmp/ccfarm-fakegcc-check.XXXXXX)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/bin" "$work/distcc"
cp "$fakegcc" "$work/bin/fakegcc"
for k in 1 2 3; do
  printf 'const char *c = "FAKECC_COST_MS=300"; const char *j = "FAKECC_JOB=check.j%s";\n' "$k" >"$work/j$k.c"
done
export DISTCC_DIR="$work/distcc" DISTCC_FALLBACK=0 DISTCC_BACKOFF_PERIOD=0 TMPDIR="$work"
echo "commit: $(git rev-parse --short HEAD)  kernel: $(uname -r)  load: $(cut -d' ' -f1-3 /proc/loadavg)"
status=0
for mech in "${mechs[@]}"; do
  port=$((21000 + RANDOM % 9000))
  mkdir -p "$work/jobs-$mech"
  env FAKECC_HOST=hx FAKECC_SLOWNESS=1 FAKECC_SLOTS=1 FAKECC_SLOT_NS="check-$$-$mech" FAKECC_TRAILER=1 \
    PATH="$work/bin:$PATH" "$ccfarmd" --no-detach --listen 127.0.0.1 --port "$port" --jobs 3 \
    --allow-compiler fakegcc --sandbox "$mech" --process-cap rlimit --tmp-dir "$work/jobs-$mech" \
    --log-file "$work/ccfarmd-$mech.log" &
  pid=$!
  for _ in $(seq 100); do
    grep -q "listening for distcc clients" "$work/ccfarmd-$mech.log" 2>/dev/null && break
    sleep 0.1
  done
  in_force=$(grep -oE 'sandbox="[^"]*"|NOT confined' "$work/ccfarmd-$mech.log" | head -1 || true)
  for k in 1 2 3; do
    DISTCC_HOSTS="127.0.0.1:$port/3" PATH="$work/bin:$PATH" distcc fakegcc -c "$work/j$k.c" -o "$work/j$k-$mech.o" \
      2>"$work/err-$mech-$k" &
  done
  wait $(jobs -p | grep -v "^$pid\$") 2>/dev/null || true
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
  cat "$work"/err-"$mech"-* | python3 -c '
import re, sys
mech, in_force = sys.argv[1], sys.argv[2]
waits = sorted(float(m.group(2)) - float(m.group(1))
               for m in re.finditer(r"t0=([0-9.]+) t1=([0-9.]+)", sys.stdin.read()))
ms = " ".join(f"{w*1000:.0f}" for w in waits) or "none (no trailer)"
ok = len(waits) == 3 and waits[-1] > 0.45
verdict = "slots enforced" if ok else "NOT ENFORCED"
print(f"{mech:<9} slot waits (ms): {ms}  -> {verdict}   [{in_force}]")
sys.exit(0 if ok else 1)' "$mech" "$in_force" || status=1
done
exit $status
