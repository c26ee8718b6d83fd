#!/bin/bash
# ccfarm without the scheduler: static host list (CCFARM_HOSTS in farm order). See ccfarm.sh.
CCFARM_MODE=static exec bash "$(dirname "${BASH_SOURCE[0]}")/ccfarm.sh" "$@"
