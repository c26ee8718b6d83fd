#!/bin/bash
# ccfarm with security on, as shipped: credentials from `ccfarm ca` for the scheduler,
# every server and every client (TLS everywhere, grant tickets), and ccfarmd's default
# sandbox (Landlock, else bubblewrap; with the harness running ccfarmd as root, also a
# per-job pids cgroup). See ccfarm.sh ("Security").
CCFARM_SECURE=1 CCFARM_SANDBOX=default CCFARM_PROCESS_CAP=default \
    exec bash "$(dirname "${BASH_SOURCE[0]}")/ccfarm.sh" "$@"
