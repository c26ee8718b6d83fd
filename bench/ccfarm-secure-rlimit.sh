#!/bin/bash
# ccfarm-secure.sh with `--process-cap rlimit`: the process cap a deployed ccfarmd gets
# (run with `--user`, not as root, `auto` means the rlimit, no per-job cgroup).
# TLS and ccfarmd's default sandbox as in ccfarm-secure.sh. See ccfarm.sh ("Security").
CCFARM_SECURE=1 CCFARM_SANDBOX=default CCFARM_PROCESS_CAP=rlimit \
    exec bash "$(dirname "${BASH_SOURCE[0]}")/ccfarm.sh" "$@"
