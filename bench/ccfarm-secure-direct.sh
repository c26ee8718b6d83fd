#!/bin/bash
# ccfarm-secure-rlimit.sh with the user's agent off (CCFARM_AGENT=0): every compile
# makes its own two TLS handshakes, as before the agent. See ccfarm.sh ("Security").
CCFARM_SECURE=1 CCFARM_SANDBOX=default CCFARM_PROCESS_CAP=rlimit CCFARM_AGENT=0 \
    exec bash "$(dirname "${BASH_SOURCE[0]}")/ccfarm.sh" "$@"
