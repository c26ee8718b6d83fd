//! Clients that would take the farm from everyone else: one that reports every lease it
//! gets as the server's failure (to take the servers down), one that asks for a hundred
//! slots on one connection and sits on what it is granted. A real strict build running
//! beside each progresses: it finishes with fallback off and no compile runs locally,
//! and every server is still up afterwards; its times, beside the same build alone on
//! the same farm, are reported for `scripts/faults.sh`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use ccfarm_proto::farm::{
    self, FromScheduler, JobDescription, JobResult, PROTOCOL_VERSION, Role, ToScheduler,
};

use crate::farm::*;

fn hello(user: &str) -> Vec<u8> {
    farm::encode(&ToScheduler::Hello {
        version: PROTOCOL_VERSION,
        role: Role::Client {
            user: user.into(),
            machine: "m".into(),
        },
    })
    .to_vec()
}

fn request(number: u64) -> Vec<u8> {
    farm::encode(&ToScheduler::Request {
        request: number,
        job: JobDescription {
            compiler: "gcc".into(),
            source: format!("hostile{number}.c"),
            preprocessed_bytes: Some(1_000),
            previous_ms: None,
            previous_server: None,
            compiler_identity: None,
            avoid: Vec::new(),
            local_slots: 0,
        },
    })
    .to_vec()
}

/// Messages on `s` until `stop` is set or it closes, each handed to `on`, which may
/// answer on the stream.
fn serve(mut s: TcpStream, stop: &AtomicBool, mut on: impl FnMut(FromScheduler, &mut TcpStream)) {
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 4096];
    while !stop.load(Ordering::SeqCst) {
        match s.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => {}
        }
        while let Ok(Some(m)) = farm::decode::<FromScheduler>(&mut buf, 1 << 20) {
            if m == FromScheduler::Ping {
                let _ = s.write_all(&farm::encode(&ToScheduler::Pong));
                continue;
            }
            on(m, &mut s);
        }
    }
}

/// Build demo/strkit (strict) into `scratch/<dir>`; how long it took.
fn timed_build(farm: &Farm, scratch: &Scratch, dir: &str) -> Duration {
    let started = Instant::now();
    let build = farm.spawn_make(scratch, dir, "ann", &["check"], &[]);
    let (objects, log) = finish_build(scratch, dir, build);
    assert!(objects > 0);
    assert!(!log.contains("running locally"), "{log}");
    started.elapsed()
}

#[test]
fn a_downer_and_a_hoarder_do_not_hold_a_real_build_back() {
    let farm = Farm::start(&["a", "b", "c"]);
    let scratch = Scratch::new();
    local_build(&scratch);
    // The first build pays for cold caches (and the client's first compiler
    // identification): not the normal rate.
    timed_build(&farm, &scratch, "warm");
    let alone = timed_build(&farm, &scratch, "alone");

    // The downer: every lease it is granted, released at once as the server's failure.
    let stop = Arc::new(AtomicBool::new(false));
    let reported = Arc::new(AtomicU64::new(0));
    let downer = {
        let (stop, reported) = (stop.clone(), reported.clone());
        let mut s = TcpStream::connect(&farm.address).unwrap();
        let mut out = hello("mallory");
        out.extend(request(1));
        s.write_all(&out).unwrap();
        std::thread::spawn(move || {
            let mut next = 1;
            serve(s, &stop, |m, s| {
                if let FromScheduler::Grant { lease, .. }
                | FromScheduler::Speculate {
                    new_lease: lease, ..
                } = m
                {
                    let release = farm::encode(&ToScheduler::Release {
                        lease,
                        result: JobResult::TransportFailure,
                        duration_ms: 1,
                    });
                    let _ = s.write_all(&release);
                    reported.fetch_add(1, Ordering::SeqCst);
                }
                if matches!(
                    m,
                    FromScheduler::Grant { .. } | FromScheduler::CompileLocally { .. }
                ) {
                    next += 1;
                    let _ = s.write_all(&request(next));
                }
            });
        })
    };
    let with_downer = timed_build(&farm, &scratch, "downer");
    stop.store(true, Ordering::SeqCst);
    downer.join().unwrap();
    assert!(
        reported.load(Ordering::SeqCst) > 10,
        "the downer reported {} failures",
        reported.load(Ordering::SeqCst)
    );
    let s = farm.status();
    assert_eq!(registered(&s), 3, "every server still up: {s}");
    assert!(
        s["counters"]["unvouched_failures"].as_u64().unwrap() > 0,
        "{s}"
    );

    // The hoarder: a hundred requests on one connection, every grant kept.
    let stop = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(AtomicU64::new(0));
    let hoarder = {
        let (stop, refused) = (stop.clone(), refused.clone());
        let mut s = TcpStream::connect(&farm.address).unwrap();
        let mut out = hello("hoarder");
        for n in 1..=100 {
            out.extend(request(n));
        }
        s.write_all(&out).unwrap();
        std::thread::spawn(move || {
            serve(s, &stop, |m, _| {
                if let FromScheduler::CompileLocally { reason, .. } = m {
                    assert!(reason.contains("max_requests_per_connection"), "{reason}");
                    refused.fetch_add(1, Ordering::SeqCst);
                }
            });
        })
    };
    let with_hoarder = timed_build(&farm, &scratch, "hoarder");
    stop.store(true, Ordering::SeqCst);
    hoarder.join().unwrap();
    assert!(
        refused.load(Ordering::SeqCst) >= 90,
        "the hoarder was refused {} of its 100 requests",
        refused.load(Ordering::SeqCst)
    );
    report_fault(
        "a downer and a hoarder client beside a build",
        &format!(
            "builds ok, 0 lost, 3 servers up; build alone {:.1} s, beside a downer {:.1} s ({} failures reported), beside a hoarder {:.1} s ({} of its 100 requests refused)",
            alone.as_secs_f64(),
            with_downer.as_secs_f64(),
            reported.load(Ordering::SeqCst),
            with_hoarder.as_secs_f64(),
            refused.load(Ordering::SeqCst)
        ),
    );
    // Times are figures, not assertions (the suite shares a loaded machine): what
    // proves the build kept going is that it finished strict, with every compile on the
    // farm. A farm the downer took down, or the hoarder filled, would have sent its
    // requests home after `max_wait_s`, which fails a strict build.
}
