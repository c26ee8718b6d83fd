//! Compiler identity: a job that names its compiler is granted only a server with the same
//! version and target, and is sent home, with what the farm has instead, when none has it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use ccfarm_proto::farm::{
    self, CompilerIdentity, CompilerKey, FromScheduler, JobDescription, PROTOCOL_VERSION, Role,
    ToScheduler,
};

use crate::farm::*;

/// A server registered from the test, reporting the compilers it is told to, with its
/// distcc port where nothing listens; it heartbeats until dropped.
struct Reported {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Reported {
    fn register(farm: &Farm, name: &str, port: u16, compilers: Vec<CompilerIdentity>) -> Reported {
        let mut s = TcpStream::connect(&farm.address).unwrap();
        send(
            &mut s,
            &ToScheduler::Hello {
                version: PROTOCOL_VERSION,
                role: Role::Server { name: name.into() },
            },
        );
        let mut buf = BytesMut::new();
        assert!(matches!(
            read(&mut s, &mut buf),
            FromScheduler::Welcome { .. }
        ));
        send(
            &mut s,
            &ToScheduler::Register {
                distcc_port: port,
                slots: 4,
                lzo: false,
                compilers,
                version: "test".into(),
                tls: false,
            },
        );
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                let beat = ToScheduler::Heartbeat {
                    slots: 4,
                    running: 0,
                    load_average: [0.0; 3],
                    free_memory_mb: 8_000,
                    calibration_ms: None,
                };
                if s.write_all(&farm::encode(&beat)).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        Reported {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Reported {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn send(s: &mut TcpStream, message: &ToScheduler) {
    s.write_all(&farm::encode(message)).unwrap();
}

fn read(s: &mut TcpStream, buf: &mut BytesMut) -> FromScheduler {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    loop {
        if let Some(m) = farm::decode(buf, 1 << 20).unwrap() {
            return m;
        }
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "the scheduler closed the connection");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Ask for a slot for a job compiled with `identity`; the answer (the lease is freed when
/// the connection closes, on return).
pub fn ask(farm: &Farm, identity: Option<CompilerKey>) -> FromScheduler {
    let mut s = TcpStream::connect(&farm.address).unwrap();
    let mut buf = BytesMut::new();
    send(
        &mut s,
        &ToScheduler::Hello {
            version: PROTOCOL_VERSION,
            role: Role::Client {
                user: "tester".into(),
                machine: "here".into(),
            },
        },
    );
    assert!(matches!(
        read(&mut s, &mut buf),
        FromScheduler::Welcome { .. }
    ));
    let job = JobDescription {
        compiler: "gcc".into(),
        source: "a.c".into(),
        preprocessed_bytes: Some(1_000),
        previous_ms: None,
        previous_server: None,
        compiler_identity: identity,
        avoid: Vec::new(),
        local_slots: 0,
    };
    send(&mut s, &ToScheduler::Request { request: 1, job });
    read(&mut s, &mut buf)
}

fn granted_port(answer: &FromScheduler) -> u16 {
    match answer {
        FromScheduler::Grant { port, .. } => *port,
        other => panic!("expected a grant, got {other:?}"),
    }
}

/// The compiler the real ccfarmd registered as `name` reported (its first: they all share
/// one version and target here).
fn reported_key(farm: &Farm, name: &str) -> CompilerKey {
    let host = farm.host(name);
    let c = &host["compilers"][0];
    CompilerKey {
        version: c["version"].as_str().expect("a reported compiler").into(),
        target: c["target"].as_str().unwrap().into(),
    }
}

fn gcc13(target: &str) -> Vec<CompilerIdentity> {
    vec![CompilerIdentity {
        name: "x86_64-linux-gnu-gcc-13".into(),
        version: "13.2.0".into(),
        target: target.into(),
    }]
}

#[test]
fn each_job_goes_only_to_the_server_with_its_compiler() {
    let farm = Farm::start(&["real"]);
    let real = reported_key(&farm, "real");
    let real_port = farm.server("real").port;
    // Listed after the real server and as fast: without matching, it would take nothing
    // or the same jobs; never exactly the gcc 13 ones.
    let other_port = free_port();
    let _other = Reported::register(&farm, "other", other_port, gcc13(&real.target));
    farm.wait_for(
        |_| farm.host("other")["compilers"][0]["version"] == "13.2.0",
        "the second server to register",
    );
    let wanted13 = CompilerKey {
        version: "13.2.0".into(),
        target: real.target.clone(),
    };
    for _ in 0..5 {
        assert_eq!(granted_port(&ask(&farm, Some(real.clone()))), real_port);
        assert_eq!(
            granted_port(&ask(&farm, Some(wanted13.clone()))),
            other_port
        );
    }
    // A job that names no compiler (an older client, the distcc proxy) goes anywhere.
    let anywhere = granted_port(&ask(&farm, None));
    assert!([real_port, other_port].contains(&anywhere));

    // No server has gcc 14: compile locally, at once, saying what the servers have.
    let wanted14 = CompilerKey {
        version: "14.1.0".into(),
        target: real.target.clone(),
    };
    let FromScheduler::CompileLocally { reason, .. } = ask(&farm, Some(wanted14)) else {
        panic!("expected compile locally")
    };
    assert_eq!(
        reason,
        format!(
            "no server has gcc 14.1.0 for {t}; servers have: {v} {t} on real; 13.2.0 {t} on other",
            t = real.target,
            v = real.version
        )
    );
    let metrics = farm.http_get("/metrics");
    assert!(
        metrics.contains(
            "ccfarm_scheduler_compile_locally_total{reason=\"no_matching_compiler\"} 1\n"
        ),
        "{metrics}"
    );
    let s = farm.status();
    assert_eq!(s["counters"]["grants"], 11, "{s}");
    assert_eq!(s["counters"]["local"], 1, "{s}");
}

#[test]
fn the_client_sends_its_compiler_and_builds_only_on_a_matching_server() {
    // The decoy is four times faster, so it would get the jobs if compilers were not
    // matched, and every one sent there would fail: nothing listens on its port.
    let farm = Farm::start_with(&["real"], "[servers.decoy]\nweight = 4.0\n");
    let real = reported_key(&farm, "real");
    let _decoy = Reported::register(&farm, "decoy", free_port(), gcc13(&real.target));
    farm.wait_for(
        |_| farm.host("decoy")["health"] == "Up",
        "the decoy to register",
    );
    let scratch = Scratch::new();
    local_build(&scratch);
    let log = farm.build_some(&scratch, "farm", 4);
    assert!(
        log.contains(&format!("gcc is {} for {}", real.version, real.target)),
        "{log}"
    );
    assert!(!log.contains("locally"), "{log}");
    assert!(compiled(farm.server("real")) >= 4);
    let decoy = farm.host("decoy");
    assert_eq!(decoy["consecutive_failures"], 0, "{decoy}");
    assert_eq!(decoy["samples"], 0, "{decoy}");
    assert_eq!(farm.status()["counters"]["released_transport"], 0);
    // The answer is remembered in the client's state directory.
    let cache = std::fs::read_to_string(scratch.path().join("farm/.ccfarm/compilers")).unwrap();
    assert!(cache.contains(&real.version), "{cache}");
}

#[test]
fn a_stock_distccd_is_identified_by_its_probe_unless_configured() {
    let probed = Distccd::start(&[]);
    let configured = Distccd::start(&[]);
    let config = format!(
        "probe_interval_s = 1\nprobe_timeout_s = 5\n\
         [[hosts]]\naddress = \"127.0.0.1:{}\"\nname = \"probed\"\nslots = 2\n\
         [[hosts]]\naddress = \"127.0.0.1:{}\"\nname = \"configured\"\nslots = 2\n\
         compilers = [{{ version = \"9.9.9\", target = \"pdp11-unix\" }}]\n",
        probed.port, configured.port
    );
    let farm = Farm::start_with(&["real"], &config);
    let up = |s: &serde_json::Value, name: &str| {
        s["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["name"] == name && h["health"] == "Up")
    };
    farm.wait_for(
        |s| ["real", "probed", "configured"].iter().all(|n| up(s, n)),
        "the server to register and the probes to pass",
    );
    let real = reported_key(&farm, "real");
    // The probe read gcc's version and the target from the object it got back: the same
    // as the real ccfarmd's gcc reports.
    let host = farm.host("probed");
    assert_eq!(
        host["compilers"][0]["version"],
        real.version.as_str(),
        "{host}"
    );
    assert_eq!(
        host["compilers"][0]["target"],
        real.target.as_str(),
        "{host}"
    );
    assert_eq!(host["compilers"].as_array().unwrap().len(), 1, "{host}");
    let host = farm.host("configured");
    assert_eq!(host["compilers"][0]["version"], "9.9.9", "{host}");
    assert_eq!(host["compilers"].as_array().unwrap().len(), 1, "{host}");
}
