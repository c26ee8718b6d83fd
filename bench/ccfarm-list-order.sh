#!/bin/bash
# ccfarm through the scheduler with --policy list-order (ccfarm.sh uses earliest-finish). See ccfarm.sh.
CCFARM_MODE=scheduler CCFARM_POLICY=list-order exec bash "$(dirname "${BASH_SOURCE[0]}")/ccfarm.sh" "$@"
