#!/bin/bash
# distcc's own integration suite (test/testdistcc.py) with ccfarm as the client and/or
# ccfarmd as the server, for anyone who has distcc's source.
#
#   scripts/distcc-suite.sh DISTCC_SOURCE [CLIENT [SERVER [lzo]]]
#
# CLIENT is `ccfarm` (default) or `distcc`, SERVER `ccfarmd` (default) or `distccd`;
# `lzo` runs the suite with compression (`--lzo`). DISTCC_SOURCE is a checkout of
# distcc (tag v3.4 is what Debian ships); it is copied, built there if needed
# (autoconf, automake and libpopt-dev), and the copy's `distcc`/`distccd` are replaced
# by ccfarm's binaries (CCFARM_BIN, default target/release) as chosen. The suite must
# not run as root (distccd then drops to `nobody`): as root, set SUITE_USER to an
# unprivileged user, who gets the copy. Prints the count of each outcome and every case
# that did not pass; the full log is kept (its path is printed).
#
# The suite's NoDetachDaemon case kills the shell that started the daemon, not the
# daemon, so a daemon of each run outlives it (with distcc's own distccd as well); this
# script stops them afterwards.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${CCFARM_BIN:-$here/target/release}
src=${1:?usage: scripts/distcc-suite.sh DISTCC_SOURCE [ccfarm|distcc [ccfarmd|distccd [lzo]]]}
client=${2:-ccfarm}
server=${3:-ccfarmd}
opts=
[ "${4:-}" = lzo ] && opts=--lzo
case "$client/$server" in
ccfarm/ccfarmd | ccfarm/distccd | distcc/ccfarmd | distcc/distccd) ;;
*) echo "CLIENT is ccfarm or distcc, SERVER ccfarmd or distccd" >&2; exit 2 ;;
esac
user=${SUITE_USER:-$(id -un)}
if [ "$(id -u "$user")" = 0 ]; then
    echo "the suite must not run as root: set SUITE_USER to an unprivileged user" >&2
    exit 2
fi
for b in ccfarm ccfarmd; do
    [ -x "$BIN/$b" ] || { echo "$BIN/$b is missing (cargo build --release)" >&2; exit 2; }
done

home=$(getent passwd "$user" | cut -d: -f6)
work=$(mktemp -d "${home:-/tmp}/distcc-suite.XXXXXX")
log="$work.log"
cp -a "$src/." "$work/"
cd "$work"
if [ ! -x distcc ] || [ ! -x h_strip ]; then
    echo "building distcc's programs in $work"
    {
        [ -x configure ] || ./autogen.sh
        [ -f Makefile ] || ./configure --disable-pump-mode --without-libiberty --disable-Werror
        make -j"$(nproc)"
        make -j"$(nproc)" check_programs
    } >"$work.build.log" 2>&1 || { echo "the build failed: $work.build.log" >&2; exit 1; }
fi
rm -rf _testtmp
# Newer than distcc's objects, so make keeps them.
[ "$client" = ccfarm ] && cp "$BIN/ccfarm" distcc && touch distcc
[ "$server" = ccfarmd ] && cp "$BIN/ccfarmd" distccd && touch distccd
[ "$user" != "$(id -un)" ] && chown -R "$user": "$work"
run=(make PYTHON=python3 TESTDISTCC_OPTS="$opts" distcc-maintainer-check)
status=0
if [ "$user" = "$(id -un)" ]; then
    "${run[@]}" >"$log" 2>&1 || status=$?
else
    su "$user" -c "cd '$work' && ${run[*]@Q}" >"$log" 2>&1 || status=$?
fi
pkill -KILL -u "$user" -f "^distccd .*$work/_testtmp" 2>/dev/null || true

echo "client $client, server $server${opts:+, $opts}; make exited $status; log: $log"
grep -E '^[A-Za-z_0-9]+_Case +' "$log" | awk '{ print $2 }' | sed 's/,$//' | sort | uniq -c
grep -E '^[A-Za-z_0-9]+_Case +' "$log" | grep -Ev ' (OK|NOTRUN,.*)$' || true
