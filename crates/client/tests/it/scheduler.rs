//! `CCFARM_SCHEDULER`: the client's side of leases. Until the scheduler service
//! exists, the test plays the scheduler's end of the protocol (ccfarm-proto's codec);
//! the compile itself goes to a real ccfarmd.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use bytes::BytesMut;
use ccfarm_proto::farm::{self, DEFAULT_MAX_FRAME, FromScheduler, JobResult, ToScheduler};
use ccfarm_testkit::*;

use crate::common::*;

/// Answer one client connection with `grant(request)` after the client's request,
/// and return everything the client sent until it closed.
fn scripted(
    answer: impl Fn() -> FromScheduler + Send + 'static,
) -> (String, std::thread::JoinHandle<Vec<ToScheduler>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let handle = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(&farm::encode(&FromScheduler::Welcome { version: 1 }))
            .unwrap();
        let mut got = Vec::new();
        let mut buf = BytesMut::new();
        let mut chunk = [0u8; 4096];
        loop {
            while let Ok(Some(m)) = farm::decode::<ToScheduler>(&mut buf, DEFAULT_MAX_FRAME) {
                if matches!(m, ToScheduler::Request { .. }) {
                    s.write_all(&farm::encode(&answer())).unwrap();
                }
                got.push(m);
            }
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => return got,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    });
    (addr, handle)
}

#[test]
fn a_granted_lease_is_used_and_released() {
    let server = Server::start(&[]);
    let port = server.port;
    let (addr, sched) = scripted(move || FromScheduler::Grant {
        request: 1,
        lease: 77,
        host: "127.0.0.1".into(),
        port,
        lzo: true,
    });
    let scratch = Scratch::new();
    scratch.write("s.c", "int s(void) { return 3; }\n");
    // No static hosts: the job can only go where the scheduler says.
    ccfarm_ok_with(
        &scratch,
        "",
        &[("CCFARM_SCHEDULER", addr.as_str())],
        &["gcc", "-c", "s.c", "-o", "s.o"],
    );
    let got = sched.join().unwrap();
    assert!(
        matches!(
            got.last(),
            Some(ToScheduler::Release {
                lease: 77,
                result: JobResult::Ok,
                ..
            })
        ),
        "{got:?}"
    );
    assert_eq!(server.status()["results"]["compile_ok"], 1);
    assert!(
        run(&scratch, "gcc", &["-c", "s.c", "-o", "ref.o"])
            .status
            .success()
    );
    assert_eq!(scratch.read("s.o"), scratch.read("ref.o"));
}

#[test]
fn an_unreachable_scheduler_falls_back_to_the_host_list() {
    let server = Server::start(&[]);
    let scratch = Scratch::new();
    scratch.write("u.c", "int u(void) { return 4; }\n");
    let dead = format!("127.0.0.1:{}", free_port());
    ccfarm_ok_with(
        &scratch,
        &server.host(""),
        &[("CCFARM_SCHEDULER", dead.as_str())],
        &["gcc", "-c", "u.c", "-o", "u.o"],
    );
    assert!(
        client_log(&scratch).contains("using the host list"),
        "{}",
        client_log(&scratch)
    );
}

#[test]
fn compile_locally_is_obeyed() {
    let (addr, sched) = scripted(|| FromScheduler::CompileLocally {
        request: 1,
        reason: "farm saturated".into(),
    });
    let scratch = Scratch::new();
    scratch.write("l.c", "int l(void) { return 5; }\n");
    let out = ccfarm(&scratch, "")
        .env("CCFARM_SCHEDULER", &addr)
        .args(["gcc", "-c", "l.c", "-o", "l.o"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(scratch.path().join("l.o").exists());
    assert!(
        client_log(&scratch).contains("farm saturated"),
        "{}",
        client_log(&scratch)
    );
    drop(sched);
}
