#!/usr/bin/env bash
# The fault-injection suite, full set: each fault strikes in the middle of a real strict
# build (CCFARM_FALLBACK=0, or a stock distcc build through the proxy with no fallback),
# one scenario at a time, and each build must succeed with every object identical to a
# local build. Servers behind links of their own run in network namespaces the tests
# create and remove (needs root, ip, tc and nft: `.ci/setup` installs them).
#
# Prints one line per scenario: its result, how long it took, and the figures it
# reports (recovery times, packets dropped). `cargo test` runs the reduced set.
set -euo pipefail
cd "$(dirname "$0")/.."

scenarios=(
  # Across a network link (crates/scheduler/tests/it/faults.rs).
  faults::no_fault_baseline
  faults::a_partitioned_server_costs_no_compile_and_comes_back
  faults::a_lossy_link_costs_no_compile
  faults::a_delayed_link_costs_no_compile
  faults::a_slow_link_costs_no_compile
  faults::a_server_killed_across_a_link_costs_no_compile
  faults::a_server_stopped_across_a_link_costs_no_compile
  # On loopback (failures.rs, hostile.rs, proxy.rs).
  failures::a_scheduler_restarted_in_place_mid_build_fails_no_compile_in_strict_mode
  failures::a_scheduler_killed_mid_build_with_a_standby_fails_no_compile
  failures::a_server_whose_disk_fills_mid_build_costs_no_compile_and_is_held_responsible
  failures::a_stopped_compiler_costs_seconds_not_the_io_timeout
  failures::a_stopped_client_gives_its_slot_back
  failures::a_hung_compiler_costs_seconds_not_the_io_timeout
  hostile::a_downer_and_a_hoarder_do_not_hold_a_real_build_back
  proxy::a_server_killed_mid_build_costs_no_job
  proxy::an_upgrade_mid_build_loses_no_proxied_job_and_fails_no_compile
)

cargo test --locked -p ccfarm-scheduler --test it --no-run 2>&1 | tail -1
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)   $(git rev-parse --short HEAD)   $(date -u +%Y-%m-%dT%H:%MZ)"
failed=0
for scenario in "${scenarios[@]}"; do
  start=$(date +%s.%N)
  if out=$(cargo test --locked -q -p ccfarm-scheduler --test it -- \
      --exact "$scenario" --include-ignored --nocapture 2>&1); then
    result=ok
  else
    result=FAILED
    failed=$((failed + 1))
  fi
  took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
  figures=$(grep -o 'FAULT .*' <<<"$out" | sed 's/^FAULT //' || true)
  printf '%-6s %6.1f s  %s\n' "$result" "$took" "${figures:-$scenario}"
  if [ "$result" = FAILED ]; then
    echo "$out" | tail -40
  fi
done
echo "$((${#scenarios[@]} - failed)) of ${#scenarios[@]} scenarios survived"
[ "$failed" = 0 ]
