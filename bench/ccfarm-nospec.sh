#!/bin/bash
# ccfarm through the scheduler (earliest-finish) with speculation off. See ccfarm.sh.
CCFARM_MODE=scheduler CCFARM_SPECULATION=0 exec bash "$(dirname "${BASH_SOURCE[0]}")/ccfarm.sh" "$@"
