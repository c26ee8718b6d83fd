#!/bin/bash
# ccfarm through the scheduler with --policy icecream (ccfarm.sh uses earliest-finish). See ccfarm.sh.
CCFARM_MODE=scheduler CCFARM_POLICY=icecream exec bash "$(dirname "${BASH_SOURCE[0]}")/ccfarm.sh" "$@"
