//! Asking for, holding, releasing and watching leases, against a scripted scheduler.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::mpsc::Receiver;

use super::*;

fn job() -> JobDescription {
    JobDescription {
        compiler: "gcc".into(),
        source: "a.c".into(),
        preprocessed_bytes: None,
        previous_ms: None,
        previous_server: None,
        compiler_identity: None,
        avoid: Vec::new(),
        local_slots: 0,
    }
}

/// Plays the scheduler's side for one connection, answering with `answers`, and
/// returns what the client sent.
fn scheduler(answers: Vec<FromScheduler>) -> (String, std::thread::JoinHandle<Vec<ToScheduler>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let handle = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        for a in &answers {
            s.write_all(&farm::encode(a)).unwrap();
        }
        let mut got = Vec::new();
        let mut buf = BytesMut::new();
        let mut chunk = [0u8; 4096];
        loop {
            while let Ok(Some(m)) = farm::decode::<ToScheduler>(&mut buf, DEFAULT_MAX_FRAME) {
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
fn grant_then_release() {
    let (addr, sched) = scheduler(vec![
        FromScheduler::Welcome {
            version: 1,
            tickets: None,
            cache: false,
        },
        FromScheduler::Grant {
            request: 1,
            lease: 42,
            host: "10.1.2.3".into(),
            port: 3632,
            lzo: true,
            proof: None,
        },
    ]);
    let t = Duration::from_secs(5);
    let Answer::Granted(lease) = request(&addr, "ana", "laptop", job(), t, t).unwrap() else {
        panic!("no grant")
    };
    assert_eq!(
        (lease.id, lease.host.as_str(), lease.port, lease.lzo),
        (42, "10.1.2.3", 3632, true)
    );
    lease.release(JobResult::Ok, Duration::from_millis(1234));
    let got = sched.join().unwrap();
    assert!(
        matches!(&got[0], ToScheduler::Hello { role: Role::Client { user, .. }, .. } if user == "ana")
    );
    assert!(matches!(&got[1], ToScheduler::Request { request: 1, .. }));
    assert_eq!(
        got[2],
        ToScheduler::Release {
            lease: 42,
            result: JobResult::Ok,
            duration_ms: 1234
        }
    );
}

#[test]
fn compile_locally_and_refusals() {
    let t = Duration::from_secs(5);
    let (addr, _s) = scheduler(vec![
        FromScheduler::Welcome {
            version: 1,
            tickets: None,
            cache: false,
        },
        FromScheduler::CompileLocally {
            request: 1,
            reason: "farm full".into(),
        },
    ]);
    assert!(
        matches!(request(&addr, "u", "m", job(), t, t).unwrap(), Answer::CompileLocally(r) if r == "farm full")
    );
    let (addr, _s) = scheduler(vec![FromScheduler::Refused {
        reason: "version".into(),
    }]);
    assert!(matches!(
        request(&addr, "u", "m", job(), t, t),
        Err(LeaseError::Refused(..))
    ));
}

#[test]
fn an_unreachable_or_silent_scheduler_is_an_error_not_a_hang() {
    let t = Duration::from_millis(300);
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    assert!(matches!(
        request(&closed, "u", "m", job(), t, t),
        Err(LeaseError::Io(..))
    ));
    // Accepts but never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let started = std::time::Instant::now();
    assert!(matches!(
        request(&addr, "u", "m", job(), t, t),
        Err(LeaseError::Io(..))
    ));
    assert!(started.elapsed() < Duration::from_secs(2));
}

/// Plays the scheduler for one connection: welcome and grant lease 42 (plus
/// `after_grant` frames in the same write), then runs `script`, then returns what
/// the client sent until it closed (or until `script` closed the stream).
fn granting(
    after_grant: Vec<FromScheduler>,
    script: impl FnOnce(&mut TcpStream) + Send + 'static,
) -> (String, std::thread::JoinHandle<Vec<ToScheduler>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let handle = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut out = farm::encode(&FromScheduler::Welcome {
            version: 1,
            tickets: None,
            cache: false,
        });
        out.extend(farm::encode(&FromScheduler::Grant {
            request: 1,
            lease: 42,
            host: "10.1.2.3".into(),
            port: 3632,
            lzo: false,
            proof: None,
        }));
        for m in &after_grant {
            out.extend(farm::encode(m));
        }
        s.write_all(&out).unwrap();
        script(&mut s);
        let mut got = Vec::new();
        let mut buf = BytesMut::new();
        let mut chunk = [0u8; 4096];
        loop {
            while let Ok(Some(m)) = farm::decode::<ToScheduler>(&mut buf, DEFAULT_MAX_FRAME) {
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

fn granted(addr: &str) -> Lease {
    let t = Duration::from_secs(5);
    match request(addr, "u", "m", job(), t, t).unwrap() {
        Answer::Granted(lease) => lease,
        other => panic!("no grant: {other:?}"),
    }
}

/// A watch whose notices arrive on the returned channel.
fn watched(lease: Lease) -> (Watched, Receiver<Notice>) {
    let (tx, rx) = std::sync::mpsc::channel();
    (lease.watch(tx, |n| n), rx)
}

fn is_release(m: &ToScheduler) -> bool {
    matches!(m, ToScheduler::Release { .. })
}

fn offer() -> FromScheduler {
    FromScheduler::Speculate {
        lease: 42,
        new_lease: 43,
        host: "10.9.9.9".into(),
        port: 3633,
        lzo: true,
        proof: None,
    }
}

#[test]
fn notices_are_passed_on_as_they_arrive_and_a_cancel_does_not_end_the_watch() {
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let (addr, sched) = granting(vec![], move |s| {
        s.write_all(&farm::encode(&FromScheduler::Cancel { lease: 7 }))
            .unwrap();
        go_rx.recv().unwrap();
        s.write_all(&farm::encode(&FromScheduler::Cancel { lease: 42 }))
            .unwrap();
        // After our own lease's cancel: a speculative copy may still be running
        // under another lease, so the watch goes on.
        s.write_all(&farm::encode(&offer())).unwrap();
    });
    let (watch, notices) = watched(granted(&addr));
    let t = Duration::from_secs(5);
    assert_eq!(notices.recv_timeout(t).unwrap(), Notice::Cancel(7));
    let sent = std::time::Instant::now();
    go_tx.send(()).unwrap();
    assert_eq!(notices.recv_timeout(t).unwrap(), Notice::Cancel(42));
    assert!(
        sent.elapsed() < Duration::from_secs(1),
        "{:?}",
        sent.elapsed()
    );
    assert_eq!(
        notices.recv_timeout(t).unwrap(),
        Notice::Speculate(Offer {
            lease: 42,
            new_lease: 43,
            host: "10.9.9.9".into(),
            port: 3633,
            lzo: true,
            proof: None,
        })
    );
    watch.end();
    let got = sched.join().unwrap();
    assert!(!got.iter().any(is_release), "{got:?}");
}

#[test]
fn notices_in_the_same_segment_as_the_grant_are_not_lost() {
    // `request` reads these into its buffer together with the grant; the watcher
    // must start from those bytes, as nothing more will arrive.
    let (addr, sched) = granting(vec![FromScheduler::Cancel { lease: 42 }, offer()], |_| {});
    let (watch, notices) = watched(granted(&addr));
    let t = Duration::from_secs(5);
    assert_eq!(notices.recv_timeout(t).unwrap(), Notice::Cancel(42));
    assert!(matches!(
        notices.recv_timeout(t).unwrap(),
        Notice::Speculate(Offer { new_lease: 43, .. })
    ));
    watch.end();
    drop(sched);
}

#[test]
fn ending_a_quiet_watch_is_prompt_and_leases_are_released_on_its_connection() {
    let (addr, sched) = granting(vec![], |_| {});
    let (watch, notices) = watched(granted(&addr));
    // Let the watcher block in its read, so `end` has to wake it.
    std::thread::sleep(Duration::from_millis(200));
    // The lease itself and a speculative one granted on the same connection.
    watch.release(43, JobResult::TransportFailure, Duration::from_millis(7));
    watch.release(42, JobResult::Ok, Duration::from_millis(5));
    let ending = std::time::Instant::now();
    watch.end();
    // Well under WATCH_TICK: the shutdown woke the read, not the backstop.
    assert!(
        ending.elapsed() < Duration::from_secs(1),
        "{:?}",
        ending.elapsed()
    );
    // Stopping is not the scheduler closing the connection.
    assert!(notices.try_recv().is_err());
    let got = sched.join().unwrap();
    assert_eq!(
        got[2..],
        [
            ToScheduler::Release {
                lease: 43,
                result: JobResult::TransportFailure,
                duration_ms: 7
            },
            ToScheduler::Release {
                lease: 42,
                result: JobResult::Ok,
                duration_ms: 5
            }
        ]
    );
}

#[test]
fn a_closed_scheduler_connection_is_lost_not_a_cancel() {
    let (addr, sched) = granting(vec![], |s| s.shutdown(Shutdown::Both).unwrap());
    let (watch, notices) = watched(granted(&addr));
    sched.join().unwrap();
    let notice = notices.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(
        matches!(notice, Notice::Lost(ref why) if why.contains("closed")),
        "{notice:?}"
    );
    // And the watcher ends by itself: nothing more can come.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !watch.finished() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(watch.finished());
    assert!(notices.try_recv().is_err());
    watch.end();
}
