//! The load generator against a real scheduler, small: every request is granted, every
//! lease comes back (checked through the scheduler's `/status`), and the scheduler's
//! counters agree with what the clients saw.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const LOADGEN: &str = env!("CARGO_BIN_EXE_ccfarm-loadgen");

/// The scheduler binary of this build profile. Cargo builds only this package's binaries
/// for its tests, so build the scheduler into the same target directory (a no-op when
/// the workspace is already built).
fn scheduler() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary under target/<profile>/deps");
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "-p",
            "ccfarm-scheduler",
            "--bin",
            "ccfarm-scheduler",
        ])
        .env("CARGO_TARGET_DIR", profile_dir.parent().unwrap())
        .status()
        .expect("run cargo");
    assert!(status.success(), "building ccfarm-scheduler failed");
    profile_dir.join("ccfarm-scheduler")
}

#[test]
fn twenty_clients_for_a_second_get_every_grant_and_return_every_lease() {
    let scheduler = scheduler();
    let started = Instant::now();
    let out = Command::new(LOADGEN)
        .arg("--scheduler-bin")
        .arg(&scheduler)
        .args([
            "--servers",
            "2",
            "--slots",
            "16",
            "--clients",
            "20",
            "--seconds",
            "1",
            "--warmup",
            "0",
            "--idle",
            "50",
            "--json",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let load = &report["load"];
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(report["errors"]["total"], 0, "{report:#}");
    assert_eq!(load["connected"], 20);
    assert!(load["cycles"].as_u64().unwrap() > 0, "{report:#}");
    assert_eq!(load["leases_after"], 0, "every lease returned: {report:#}");
    assert_eq!(load["queued_after"], 0, "{report:#}");
    assert_eq!(load["requests"], load["grants"], "{report:#}");
    assert_eq!(load["grants"], load["scheduler_grants"], "{report:#}");
    assert_eq!(load["requests"], load["scheduler_requests"], "{report:#}");
    assert_eq!(report["idle"]["connections"], 50, "{report:#}");
    assert!(
        report["idle"]["rss_bytes_per_connection"].is_number(),
        "{report:#}"
    );
    // A regression in the set-up (connect storms, missed registrations) shows as time.
    assert!(
        started.elapsed().as_secs() < 10,
        "took {:?}",
        started.elapsed()
    );
}
