//! ccfarmd as a drop-in for distccd's command line.

use std::process::Command;
use std::time::{Duration, Instant};

use ccfarm_testkit::*;

const CCFARMD: &str = env!("CARGO_BIN_EXE_ccfarmd");

#[test]
fn version_help_and_bad_options() {
    let out = Command::new(CCFARMD).arg("--version").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .nth(1)
            .unwrap()
            .contains("(protocols 1, 2 and 3) (default port 3632)"),
        "{text}"
    );

    let out = Command::new(CCFARMD).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--port",
        "--listen",
        "--allow",
        "--jobs",
        "--job-lifetime",
        "--no-detach",
        "--pid-file",
        "--log-file",
        "--log-stderr",
        "--log-level",
        "--stats",
        "--stats-port",
        "--lifetime",
        "--config",
    ] {
        assert!(text.contains(flag), "--help lacks {flag}");
    }

    let out = Command::new(CCFARMD)
        .arg("--no-such-flag")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(101),
        "distccd's exit code for a bad option"
    );
    let out = Command::new(CCFARMD)
        .args(["--port", "80000"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(101));
}

#[test]
fn bind_failure_exits_102() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = Command::new(CCFARMD)
        .args(["--no-detach", "--listen", "127.0.0.1", "--port", &port])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(102),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot listen"));
}

#[test]
fn daemon_mode_detaches_writes_a_pid_file_and_honours_lifetime() {
    let scratch = Scratch::new();
    let pid_file = scratch.path().join("ccfarmd.pid");
    let port = free_port();
    let started = Instant::now();
    let status = Command::new(CCFARMD)
        .args([
            "--daemon",
            "--listen",
            "127.0.0.1",
            "--lifetime",
            "2",
            "--port",
            &port.to_string(),
        ])
        .arg("--pid-file")
        .arg(&pid_file)
        .arg("--log-file")
        .arg(scratch.path().join("log"))
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the parent must return at once"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while !pid_file.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        "the daemon listens"
    );
    // --lifetime 2: gone within a few seconds, pid file removed.
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!alive(pid), "daemon still running");
    assert!(!pid_file.exists(), "pid file not removed");
}
