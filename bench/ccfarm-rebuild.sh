#!/bin/bash
# ccfarm with each client's memory of compile times kept across runs (CCFARM_MEMORY,
# default $BENCH_BUILD/ccfarm-memory or /tmp/ccfarm-memory): every build of a workload
# after the first is a rebuild that knows each file's previous compile time. Prime it with
# one unmeasured run of the same workloads before measuring. See ccfarm.sh.
CCFARM_MEMORY=${CCFARM_MEMORY:-${BENCH_BUILD:-/tmp}/ccfarm-memory} exec bash "$(dirname "${BASH_SOURCE[0]}")/ccfarm.sh" "$@"
