#!/bin/bash
# ccfarm through the scheduler, each client also offering its own machine's slots
# (CCFARM_LOCAL_SLOTS = the harness's LOCAL_SLOTS, default 2): the scheduler decides per
# job whether it runs on the farm or on the client's machine. Capacity model farm+local,
# beside distcc+local (localhost/2) and icecream+local. See ccfarm.sh.
CCFARM_MODE=scheduler CCFARM_OFFER_LOCAL=1 exec bash "$(dirname "${BASH_SOURCE[0]}")/ccfarm.sh" "$@"
