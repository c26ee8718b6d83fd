#!/bin/bash
# ccfarm through the scheduler (earliest-finish) with each server's weight set to
# 1/slowness in the scheduler's config, as an operator who knows the machines would. See ccfarm.sh.
CCFARM_MODE=scheduler CCFARM_WEIGHTS=1 exec bash "$(dirname "${BASH_SOURCE[0]}")/ccfarm.sh" "$@"
