//! `ccfarm simulate`: runs `ccfarm-sim` in its place (the simulator's own tests are
//! the placement crate's).

use std::process::Command;

use crate::common::CCFARM;

#[test]
fn simulate_runs_ccfarm_sim_with_its_arguments() {
    let sim = ccfarm_testkit::ccfarm_sim();
    let args = [
        "--workloads",
        "W1",
        "--policies",
        "list-order",
        "--seed",
        "3",
    ];
    let direct = Command::new(&sim).args(args).output().unwrap();
    let alias = Command::new(CCFARM)
        .arg("simulate")
        .args(args)
        .output()
        .unwrap();
    assert!(
        alias.status.success(),
        "{}",
        String::from_utf8_lossy(&alias.stderr)
    );
    assert!(String::from_utf8_lossy(&alias.stdout).contains("| W1 | list-order |"));
    assert_eq!(alias.stdout, direct.stdout);
    // Its exit status too: a bad argument is ccfarm-sim's 101.
    let bad = Command::new(CCFARM)
        .args(["simulate", "--policies", "bogus"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(101));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown policy \"bogus\""));
}
