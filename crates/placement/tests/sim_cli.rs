//! `ccfarm-sim`: the policy comparison from the command line.

use std::process::Command;

const SIM: &str = env!("CARGO_BIN_EXE_ccfarm-sim");

#[test]
fn compares_every_policy_on_both_workloads() {
    let out = Command::new(SIM).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8(out.stdout).unwrap();
    for policy in [
        "list-order",
        "random",
        "least-connections",
        "fastest-free",
        "icecream",
        "earliest-finish",
    ] {
        for workload in ["W1", "W2"] {
            assert!(
                table.contains(&format!("| {workload} | {policy} |")),
                "missing {workload}/{policy}:\n{table}"
            );
        }
    }
    // Deterministic: the same table twice.
    let again = Command::new(SIM).output().unwrap();
    assert_eq!(String::from_utf8(again.stdout).unwrap(), table);
}

#[test]
fn options_and_mistakes() {
    let out = Command::new(SIM)
        .args([
            "--workloads",
            "W1",
            "--policies",
            "earliest-finish",
            "--farm",
            "a:1:4,b:3:4",
            "--seed",
            "7",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("| W1 |"))
            .count(),
        1
    );
    let out = Command::new(SIM)
        .args(["--policies", "bogus"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(101));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown policy \"bogus\""));
    let out = Command::new(SIM).args(["--farm", "x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(101));
    for bad in ["-1", "lots"] {
        let out = Command::new(SIM).args(["--noise", bad]).output().unwrap();
        assert_eq!(out.status.code(), Some(101), "--noise {bad}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--noise"));
    }
    // Noise changes the run times, so list order (which ignores estimates) ends elsewhere.
    let makespan = |noise: &str| {
        let out = Command::new(SIM)
            .args(["--workloads", "W1", "--policies", "list-order"])
            .args(["--noise", noise])
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find(|l| l.starts_with("| W1 |"))
            .and_then(|l| l.split('|').nth(3).map(|c| c.trim().to_owned()))
            .unwrap()
    };
    assert_ne!(makespan("0"), makespan("0.2"));
}
