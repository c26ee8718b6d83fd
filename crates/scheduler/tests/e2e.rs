//! The farm end to end: ccfarm-scheduler, two ccfarmd registering with it, and the
//! ccfarm client asking it for every slot while building demo/strkit with make -j16.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ccfarm_testkit::*;

const SCHEDULER: &str = env!("CARGO_BIN_EXE_ccfarm-scheduler");

fn status(http: u16) -> serde_json::Value {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", http)).unwrap();
    s.write_all(b"GET /status HTTP/1.0\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    serde_json::from_str(out.split("\r\n\r\n").nth(1).unwrap()).unwrap()
}

#[test]
fn a_farm_builds_a_project_with_every_job_granted_by_the_scheduler() {
    let http = free_port();
    let (port, mut scheduler) = spawn_listening(|port| {
        let mut c = Command::new(SCHEDULER);
        c.args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--http",
            &format!("127.0.0.1:{http}"),
        ])
        .stderr(Stdio::null());
        c
    });
    let address = format!("127.0.0.1:{port}");
    let a = Server::start(&["--scheduler", &address, "--name", "a"]);
    let b = Server::start(&["--scheduler", &address, "--name", "b"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while status(http)["hosts"].as_array().map_or(0, Vec::len) < 2 {
        assert!(
            Instant::now() < deadline,
            "the servers never registered: {}",
            status(http)
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let scratch = Scratch::new();
    let project = demo_dir("strkit");
    let local_out = scratch.path().join("local");
    let farm_out = scratch.path().join("farm");
    let out = Command::new("make")
        .arg("-C")
        .arg(&project)
        .arg(format!("OUT={}", local_out.display()))
        .args(["-j4"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "local build: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let client = ccfarm_client();
    let log = scratch.path().join("ccfarm.log");
    let out = Command::new("make")
        .arg("-C")
        .arg(&project)
        .arg(format!("OUT={}", farm_out.display()))
        .arg(format!("CC={} gcc", client.display()))
        .args(["-j16", "check"])
        // No host list: every remote job must come through the scheduler.
        .env("CCFARM_HOSTS", "")
        .env("CCFARM_SCHEDULER", &address)
        .env("CCFARM_DIR", scratch.path().join(".ccfarm"))
        .env("CCFARM_FALLBACK", "0")
        .env("CCFARM_VERBOSE", "1")
        .env("CCFARM_LOG_FILE", &log)
        .output()
        .unwrap();
    let client_log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        out.status.success(),
        "farm build: {}\n{client_log}",
        String::from_utf8_lossy(&out.stderr)
    );
    let local = objects_under(&local_out);
    let farm = objects_under(&farm_out);
    assert_eq!(
        local.keys().collect::<Vec<_>>(),
        farm.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &local {
        assert!(farm[name] == *bytes, "{name} differs from the local build");
    }
    let done_a = a.status()["results"]["compile_ok"].as_u64().unwrap();
    let done_b = b.status()["results"]["compile_ok"].as_u64().unwrap();
    assert_eq!(done_a + done_b, local.len() as u64, "{client_log}");
    assert!(
        done_a > 0 && done_b > 0,
        "one server did everything: {done_a} / {done_b}"
    );
    assert!(!client_log.contains("using the host list"), "{client_log}");
    let s = status(http);
    assert_eq!(s["leases"], 0, "every lease was released: {s}");
    let _ = scheduler.kill();
    let _ = scheduler.wait();
}

#[test]
fn a_server_killed_mid_build_costs_no_job() {
    let http = free_port();
    let (port, mut scheduler) = spawn_listening(|port| {
        let mut c = Command::new(SCHEDULER);
        c.args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--http",
            &format!("127.0.0.1:{http}"),
        ])
        .stderr(Stdio::null());
        c
    });
    let address = format!("127.0.0.1:{port}");
    let mut victim = Server::start(&["--scheduler", &address, "--name", "victim"]);
    let b = Server::start(&["--scheduler", &address, "--name", "b"]);
    let c = Server::start(&["--scheduler", &address, "--name", "c"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while status(http)["hosts"].as_array().map_or(0, Vec::len) < 3 {
        assert!(
            Instant::now() < deadline,
            "the servers never registered: {}",
            status(http)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let scratch = Scratch::new();
    let project = demo_dir("strkit");
    let local_out = scratch.path().join("local");
    let farm_out = scratch.path().join("farm");
    let out = Command::new("make")
        .arg("-C")
        .arg(&project)
        .arg(format!("OUT={}", local_out.display()))
        .args(["-j4"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let log = scratch.path().join("ccfarm.log");
    let build = Command::new("make")
        .arg("-C")
        .arg(&project)
        .arg(format!("OUT={}", farm_out.display()))
        .arg(format!("CC={} gcc", ccfarm_client().display()))
        .args(["-j16", "check"])
        .env("CCFARM_HOSTS", "")
        .env("CCFARM_SCHEDULER", &address)
        .env("CCFARM_DIR", scratch.path().join(".ccfarm"))
        .env("CCFARM_FALLBACK", "0")
        .env("CCFARM_VERBOSE", "1")
        .env("CCFARM_LOG_FILE", &log)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Kill the victim once it has done some of the work.
    let deadline = Instant::now() + Duration::from_secs(60);
    while victim.status()["results"]["compile_ok"]
        .as_u64()
        .unwrap_or(0)
        < 3
    {
        assert!(Instant::now() < deadline, "the victim never got work");
        std::thread::sleep(Duration::from_millis(10));
    }
    victim.child.kill().unwrap();
    let _ = victim.child.wait();
    let out = build.wait_with_output().unwrap();
    let client_log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        out.status.success(),
        "farm build: {}\n{client_log}",
        String::from_utf8_lossy(&out.stderr)
    );
    let local = objects_under(&local_out);
    let farm = objects_under(&farm_out);
    assert_eq!(
        local.keys().collect::<Vec<_>>(),
        farm.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &local {
        assert!(farm[name] == *bytes, "{name} differs from the local build");
    }
    assert!(b.status()["results"]["compile_ok"].as_u64().unwrap() > 0);
    assert!(c.status()["results"]["compile_ok"].as_u64().unwrap() > 0);
    let s = status(http);
    let victim_status = s["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "victim")
        .cloned()
        .unwrap();
    assert_ne!(
        victim_status["health"], "Up",
        "the scheduler still thinks the killed server is up: {s}"
    );
    assert_eq!(s["leases"], 0, "{s}");
    let _ = scheduler.kill();
    let _ = scheduler.wait();
}
