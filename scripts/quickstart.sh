#!/usr/bin/env bash
# ccfarm on one machine: `ccfarm farm` runs a scheduler (ccfarm-scheduler) and two compile
# servers (ccfarmd) on loopback as child processes, and builds the bundled C project (demo/wordstat) through them
# with `make -j8 CC="ccfarm gcc"`. Fallback to local compiles is off, so every object
# is compiled by a farm server on a slot the scheduler granted; the farm prints its
# status table (what each server compiled, what the scheduler granted) at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

for tool in cargo gcc make; do
  if ! command -v "$tool" >/dev/null; then
    echo "quickstart: '$tool' is missing; install it (on Debian/Ubuntu: sudo .ci/setup)" >&2
    exit 1
  fi
done

echo "== building ccfarm, ccfarmd and ccfarm-scheduler (cargo build --release --locked)"
cargo build --release --locked -q -p ccfarm-client --bin ccfarm \
  -p ccfarm-daemon --bin ccfarmd -p ccfarm-scheduler --bin ccfarm-scheduler
export PATH="$root/target/release:$PATH"

# The build's output and the client's state go to a scratch directory, removed on exit;
# the farm itself stops (servers, compilers, job directories) when make ends.
work=$(mktemp -d "${TMPDIR:-/tmp}/ccfarm-quickstart.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "== ccfarm farm -- make -j8 CC='ccfarm gcc' -C demo/wordstat check (CCFARM_FALLBACK=0: remote or fail)"
CCFARM_FALLBACK=0 CCFARM_DIR="$work/state" \
  ccfarm farm -- make -s -j8 CC="ccfarm gcc" -C demo/wordstat OUT="$work/build" check
