//! The farm end to end: ccfarm-scheduler, ccfarmd servers registering with it, and the
//! ccfarm client asking it for every slot while building demo/strkit with make -j16.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ccfarm_testkit::*;

const SCHEDULER: &str = env!("CARGO_BIN_EXE_ccfarm-scheduler");

/// A running scheduler with servers registered under `names`.
struct Farm {
    scheduler: Child,
    address: String,
    http: u16,
    servers: Vec<Server>,
}

impl Farm {
    fn start(names: &[&str]) -> Farm {
        let http = free_port();
        let (port, scheduler) = spawn_listening(|port| {
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
        let servers = names
            .iter()
            .map(|name| Server::start(&["--scheduler", &address, "--name", name]))
            .collect();
        let farm = Farm {
            scheduler,
            address,
            http,
            servers,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while farm.status()["hosts"].as_array().map_or(0, Vec::len) < names.len() {
            assert!(
                Instant::now() < deadline,
                "the servers never registered: {}",
                farm.status()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        farm
    }

    fn status(&self) -> serde_json::Value {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.http)).unwrap();
        s.write_all(b"GET /status HTTP/1.0\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        serde_json::from_str(out.split("\r\n\r\n").nth(1).unwrap()).unwrap()
    }

    /// Start `make -j16 check` of demo/strkit into `scratch/farm` with every compile
    /// asking this scheduler: no host list, fallback off.
    fn spawn_build(&self, scratch: &Scratch) -> Child {
        Command::new("make")
            .arg("-C")
            .arg(demo_dir("strkit"))
            .arg(format!("OUT={}", scratch.path().join("farm").display()))
            .arg(format!("CC={} gcc", ccfarm_client().display()))
            .args(["-j16", "check"])
            .env("CCFARM_HOSTS", "")
            .env("CCFARM_SCHEDULER", &self.address)
            .env("CCFARM_DIR", scratch.path().join(".ccfarm"))
            .env("CCFARM_FALLBACK", "0")
            .env("CCFARM_VERBOSE", "1")
            .env("CCFARM_LOG_FILE", scratch.path().join("ccfarm.log"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
}

impl Drop for Farm {
    fn drop(&mut self) {
        let _ = self.scheduler.kill();
        let _ = self.scheduler.wait();
    }
}

/// Build demo/strkit locally into `scratch/local`, the reference.
fn local_build(scratch: &Scratch) {
    let out = Command::new("make")
        .arg("-C")
        .arg(demo_dir("strkit"))
        .arg(format!("OUT={}", scratch.path().join("local").display()))
        .arg("-j4")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "local build: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Wait for the farm build and check it against the local one; returns the number of
/// objects and the client's log.
fn finish_build(scratch: &Scratch, build: Child) -> (usize, String) {
    let out = build.wait_with_output().unwrap();
    let client_log = std::fs::read_to_string(scratch.path().join("ccfarm.log")).unwrap_or_default();
    assert!(
        out.status.success(),
        "farm build: {}\n{client_log}",
        String::from_utf8_lossy(&out.stderr)
    );
    let objects = assert_same_objects(&scratch.path().join("local"), &scratch.path().join("farm"));
    (objects, client_log)
}

fn compiled(server: &Server) -> u64 {
    server.status()["results"]["compile_ok"]
        .as_u64()
        .unwrap_or(0)
}

#[test]
fn a_farm_builds_a_project_with_every_job_granted_by_the_scheduler() {
    let farm = Farm::start(&["a", "b"]);
    let scratch = Scratch::new();
    local_build(&scratch);
    let (objects, client_log) = finish_build(&scratch, farm.spawn_build(&scratch));
    let (done_a, done_b) = (compiled(&farm.servers[0]), compiled(&farm.servers[1]));
    assert_eq!(done_a + done_b, objects as u64, "{client_log}");
    assert!(
        done_a > 0 && done_b > 0,
        "one server did everything: {done_a} / {done_b}"
    );
    assert!(!client_log.contains("using the host list"), "{client_log}");
    let s = farm.status();
    assert_eq!(s["leases"], 0, "every lease was released: {s}");
}

#[test]
fn a_server_killed_mid_build_costs_no_job() {
    let mut farm = Farm::start(&["victim", "b", "c"]);
    let scratch = Scratch::new();
    local_build(&scratch);
    let build = farm.spawn_build(&scratch);
    // Kill the victim once it has done some of the work.
    let deadline = Instant::now() + Duration::from_secs(60);
    while compiled(&farm.servers[0]) < 3 {
        assert!(Instant::now() < deadline, "the victim never got work");
        std::thread::sleep(Duration::from_millis(10));
    }
    let victim = &mut farm.servers[0];
    victim.child.kill().unwrap();
    let _ = victim.child.wait();
    finish_build(&scratch, build);
    assert!(compiled(&farm.servers[1]) > 0);
    assert!(compiled(&farm.servers[2]) > 0);
    let s = farm.status();
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
}
