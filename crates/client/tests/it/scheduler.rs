//! `CCFARM_SCHEDULER`: the client's side of leases. Until the scheduler service
//! exists, the test plays the scheduler's end of the protocol (ccfarm-proto's codec);
//! the compile itself goes to a real ccfarmd.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use bytes::BytesMut;
use ccfarm_proto::farm::{
    self, DEFAULT_MAX_FRAME, FromScheduler, JobDescription, JobResult, ToScheduler,
};
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
        s.write_all(&farm::encode(&FromScheduler::Welcome {
            version: 1,
            tickets: None,
            cache: false,
        }))
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
                // A signal for another test's child, not the client's doing.
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
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
        proof: None,
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
    scratch.write("v.c", "int v(void) { return 5; }\n");
    let dead = format!("127.0.0.1:{}", free_port());
    let also_dead = format!("127.0.0.1:{}", free_port());
    let list = format!("{dead},{also_dead}");
    // Both schedulers are asked, then both again after a pause, within the 1 s budget.
    ccfarm_ok_with(
        &scratch,
        &server.host(""),
        &[
            ("CCFARM_SCHEDULER", list.as_str()),
            ("CCFARM_SCHEDULER_RETRY", "1"),
        ],
        &["gcc", "-c", "u.c", "-o", "u.o"],
    );
    let log = client_log(&scratch);
    assert!(log.contains("asking the next scheduler"), "{log}");
    assert!(log.contains("asking again in 250 ms"), "{log}");
    assert!(log.contains("using the host list"), "{log}");
    // The next compile does not wait: the schedulers were found unreachable moments ago.
    ccfarm_ok_with(
        &scratch,
        &server.host(""),
        &[
            ("CCFARM_SCHEDULER", list.as_str()),
            ("CCFARM_SCHEDULER_RETRY", "1"),
        ],
        &["gcc", "-c", "v.c", "-o", "v.o"],
    );
    let log = client_log(&scratch);
    assert!(
        log.contains("no scheduler could be reached moments ago; using the host list"),
        "{log}"
    );
}

/// One compile of `l.c` whose scheduler answers "compile locally: farm saturated", with
/// `CCFARM_FALLBACK` set to `fallback`; the client's output and its scratch directory.
fn told_to_compile_locally(fallback: &str) -> (std::process::Output, Scratch) {
    let (addr, sched) = scripted(|| FromScheduler::CompileLocally {
        request: 1,
        reason: "farm saturated".into(),
    });
    let scratch = Scratch::new();
    scratch.write("l.c", "int l(void) { return 5; }\n");
    let out = ccfarm(&scratch, "")
        .env("CCFARM_SCHEDULER", &addr)
        .env("CCFARM_FALLBACK", fallback)
        .args(["gcc", "-c", "l.c", "-o", "l.o"])
        .output()
        .unwrap();
    drop(sched);
    (out, scratch)
}

#[test]
fn compile_locally_is_obeyed_with_fallback_on() {
    let (out, scratch) = told_to_compile_locally("1");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(scratch.path().join("l.o").exists());
    let log = client_log(&scratch);
    assert!(log.contains("farm saturated"), "{log}");
}

/// Strict mode: "compile locally" from the farm fails the compile, saying why, and
/// nothing is compiled here.
#[test]
fn compile_locally_fails_with_fallback_off() {
    let (out, scratch) = told_to_compile_locally("0");
    assert_eq!(
        out.status.code(),
        Some(116),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!scratch.path().join("l.o").exists());
    let log = client_log(&scratch);
    assert!(
        log.contains("farm saturated") && log.contains("CCFARM_FALLBACK=0"),
        "{log}"
    );
}

/// What the scripted scheduler does on one client connection, after the client's
/// request: answer `grant`, then send each of `after_grant` after its delay, then, if
/// set, send `Cancel` for that lease after the delay, or close the connection after
/// the delay and say so on the channel. `on_release` is sent when the client releases
/// that lease (as the scheduler cancels the twin of a speculation's winner).
struct Step {
    grant: FromScheduler,
    after_grant: Vec<(Duration, FromScheduler)>,
    cancel_after: Option<Duration>,
    close_after: Option<(Duration, std::sync::mpsc::Sender<()>)>,
    on_release: Option<(u64, FromScheduler)>,
}

impl Step {
    fn grant(grant: FromScheduler) -> Step {
        Step {
            grant,
            after_grant: Vec::new(),
            cancel_after: None,
            close_after: None,
            on_release: None,
        }
    }
}

/// Play the scheduler for one client connection per step, in order, and return what
/// the client sent on each until it closed that connection.
fn scripted_steps(steps: Vec<Step>) -> (String, std::thread::JoinHandle<Vec<Vec<ToScheduler>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let handle = std::thread::spawn(move || {
        let mut sessions = Vec::new();
        for step in steps {
            let (mut s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            s.write_all(&farm::encode(&FromScheduler::Welcome {
                version: 1,
                tickets: None,
                cache: false,
            }))
            .unwrap();
            let mut got = Vec::new();
            let mut buf = BytesMut::new();
            let mut chunk = [0u8; 4096];
            let mut answered = false;
            loop {
                while let Ok(Some(m)) = farm::decode::<ToScheduler>(&mut buf, DEFAULT_MAX_FRAME) {
                    if let (ToScheduler::Release { lease, .. }, Some((released, then))) =
                        (&m, &step.on_release)
                        && lease == released
                    {
                        // The client may be gone already.
                        let _ = s.write_all(&farm::encode(then));
                    }
                    got.push(m);
                }
                if !answered && got.iter().any(|m| matches!(m, ToScheduler::Request { .. })) {
                    answered = true;
                    s.write_all(&farm::encode(&step.grant)).unwrap();
                    for (delay, message) in &step.after_grant {
                        std::thread::sleep(*delay);
                        s.write_all(&farm::encode(message)).unwrap();
                    }
                    if let Some(delay) = step.cancel_after {
                        std::thread::sleep(delay);
                        let FromScheduler::Grant { lease, .. } = step.grant else {
                            unreachable!("only grants are cancelled")
                        };
                        s.write_all(&farm::encode(&FromScheduler::Cancel { lease }))
                            .unwrap();
                    }
                    if let Some((delay, closed)) = &step.close_after {
                        std::thread::sleep(*delay);
                        s.shutdown(std::net::Shutdown::Both).unwrap();
                        closed.send(()).unwrap();
                        break;
                    }
                }
                match s.read(&mut chunk) {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            sessions.push(got);
        }
        sessions
    });
    (addr, handle)
}

fn grant(lease: u64, port: u16) -> FromScheduler {
    FromScheduler::Grant {
        request: 1,
        lease,
        host: "127.0.0.1".into(),
        port,
        lzo: false,
        proof: None,
    }
}

#[test]
fn a_revoked_lease_on_a_hung_server_moves_the_job_at_once() {
    // The hung server: accepts the job, reads it, never answers. It reports whether
    // the client broke the connection off (end of stream) and after what.
    let hung = TcpListener::bind("127.0.0.1:0").unwrap();
    let hung_port = hung.local_addr().unwrap().port();
    let hung_side = std::thread::spawn(move || {
        let (mut s, _) = hung.accept().unwrap();
        // Past the test's bound: should the client not break off, the test fails in
        // 25 s instead of waiting out the client's I/O timeout.
        s.set_read_timeout(Some(Duration::from_secs(25))).unwrap();
        let mut received = 0;
        let mut chunk = [0u8; 4096];
        loop {
            match s.read(&mut chunk) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Ok(0) => return (received, true),
                Ok(n) => received += n,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    return (received, true);
                }
                Err(_) => return (received, false),
            }
        }
    });
    let server = Server::start(&[]);
    let (addr, sched) = scripted_steps(vec![
        Step {
            cancel_after: Some(Duration::from_secs(1)),
            ..Step::grant(grant(1, hung_port))
        },
        Step::grant(grant(2, server.port)),
    ]);
    let scratch = Scratch::new();
    scratch.write("h.c", "int h(int x) { return x * 7; }\n");
    let started = std::time::Instant::now();
    // An I/O timeout far beyond the bound below: only the revocation can move the job
    // in time. No static hosts and no fallback: only the scheduler's second grant can
    // compile it.
    ccfarm_ok_with(
        &scratch,
        "",
        &[
            ("CCFARM_SCHEDULER", addr.as_str()),
            ("CCFARM_IO_TIMEOUT", "600"),
        ],
        &["gcc", "-c", "h.c", "-o", "h.o"],
    );
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");

    let (received, broken_off) = hung_side.join().unwrap();
    assert!(received > 0, "the job never reached the hung server");
    assert!(broken_off, "the client left the hung connection open");

    let sessions = sched.join().unwrap();
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    assert!(
        matches!(
            sessions[0][..],
            [
                ToScheduler::Hello { .. },
                // Asked once the source is preprocessed, so with its size.
                ToScheduler::Request {
                    job: JobDescription {
                        preprocessed_bytes: Some(1..),
                        ..
                    },
                    ..
                },
            ]
        ),
        "a revoked lease is not released: {:?}",
        sessions[0]
    );
    assert!(
        matches!(
            sessions[1][..],
            [
                ToScheduler::Hello { .. },
                ToScheduler::Request {
                    job: JobDescription {
                        preprocessed_bytes: Some(1..),
                        ..
                    },
                    ..
                },
                ToScheduler::Release {
                    lease: 2,
                    result: JobResult::Ok,
                    ..
                }
            ]
        ),
        "{:?}",
        sessions[1]
    );
    let log = client_log(&scratch);
    let revocation = format!(
        "to 127.0.0.1:{hung_port}/4 (granted by the scheduler, attempt 1): \
         the scheduler revoked lease 1\n"
    );
    assert!(log.contains(&revocation), "{log}");
    assert_eq!(server.status()["results"]["compile_ok"], 1);
    assert!(
        run(&scratch, "gcc", &["-c", "h.c", "-o", "ref.o"])
            .status
            .success()
    );
    assert_eq!(scratch.read("h.o"), scratch.read("ref.o"));
}

#[test]
fn losing_the_scheduler_mid_job_does_not_stop_the_job() {
    // A proxy in front of a real ccfarmd that holds the reply until the scheduler has
    // dropped the lease connection, so the drop happens while the job runs.
    let server = Server::start(&[]);
    let (closed_tx, closed_rx) = std::sync::mpsc::channel();
    let proxy = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_port = proxy.local_addr().unwrap().port();
    let server_port = server.port;
    let proxy_side = std::thread::spawn(move || {
        let (client, _) = proxy.accept().unwrap();
        let upstream = std::net::TcpStream::connect(("127.0.0.1", server_port)).unwrap();
        let (mut from_client, mut to_server) =
            (client.try_clone().unwrap(), upstream.try_clone().unwrap());
        let forward = std::thread::spawn(move || {
            let _ = std::io::copy(&mut from_client, &mut to_server);
        });
        closed_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the scheduler never dropped the connection");
        // Time for a client that wrongly gave up on the drop to do so, before the
        // finished reply races ahead of it.
        std::thread::sleep(Duration::from_millis(500));
        let (mut from_server, mut to_client) = (upstream, client);
        // A client that broke off resets these: the test then fails on its exit status.
        let _ = std::io::copy(&mut from_server, &mut to_client);
        let _ = to_client.shutdown(std::net::Shutdown::Write);
        forward.join().unwrap();
    });
    let (addr, sched) = scripted_steps(vec![Step {
        close_after: Some((Duration::from_millis(500), closed_tx)),
        ..Step::grant(grant(1, proxy_port))
    }]);
    let scratch = Scratch::new();
    scratch.write("d.c", "int d(void) { return 11; }\n");
    // No static hosts and no fallback: only the granted server can compile it, so
    // success means the job carried on there after the scheduler went away.
    ccfarm_ok_with(
        &scratch,
        "",
        &[("CCFARM_SCHEDULER", addr.as_str())],
        &["gcc", "-c", "d.c", "-o", "d.o"],
    );
    proxy_side.join().unwrap();
    let sessions = sched.join().unwrap();
    assert!(
        !sessions[0]
            .iter()
            .any(|m| matches!(m, ToScheduler::Release { .. })),
        "{sessions:?}"
    );
    let log = client_log(&scratch);
    assert!(log.contains("lost the scheduler connection"), "{log}");
    assert_eq!(server.status()["results"]["compile_ok"], 1);
    assert!(
        run(&scratch, "gcc", &["-c", "d.c", "-o", "ref.o"])
            .status
            .success()
    );
    assert_eq!(scratch.read("d.o"), scratch.read("ref.o"));
}

/// What became of a job sent through a [`slow_proxy`].
#[derive(Debug)]
struct Proxied {
    /// The client broke the connection off this long after connecting, before the
    /// reply was passed on.
    broken_off_after: Option<Duration>,
    /// The server's reply was passed on to the client.
    replied: bool,
}

/// A straggling server: a proxy in front of a real ccfarmd that passes the job on at
/// once but holds the reply back for `hold` (the client breaking off ends the hold).
fn slow_proxy(server_port: u16, hold: Duration) -> (u16, std::thread::JoinHandle<Proxied>) {
    let proxy = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = proxy.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (client, _) = proxy.accept().unwrap();
        let accepted = std::time::Instant::now();
        let upstream = std::net::TcpStream::connect(("127.0.0.1", server_port)).unwrap();
        let (mut from_client, mut to_server) =
            (client.try_clone().unwrap(), upstream.try_clone().unwrap());
        let (gone_tx, gone_rx) = std::sync::mpsc::channel();
        // A ccfarm client never half-closes before it has the reply, so the end of its
        // stream means it has gone.
        let forward = std::thread::spawn(move || {
            let _ = std::io::copy(&mut from_client, &mut to_server);
            let _ = gone_tx.send(accepted.elapsed());
        });
        if let Ok(after) = gone_rx.recv_timeout(hold) {
            forward.join().unwrap();
            return Proxied {
                broken_off_after: Some(after),
                replied: false,
            };
        }
        let (mut from_server, mut to_client) = (upstream, client);
        let replied = std::io::copy(&mut from_server, &mut to_client).is_ok_and(|n| n > 0);
        let _ = to_client.shutdown(std::net::Shutdown::Write);
        forward.join().unwrap();
        Proxied {
            broken_off_after: None,
            replied,
        }
    });
    (port, handle)
}

fn speculate(lease: u64, new_lease: u64, port: u16) -> FromScheduler {
    FromScheduler::Speculate {
        lease,
        new_lease,
        host: "127.0.0.1".into(),
        port,
        lzo: false,
        proof: None,
    }
}

fn releases(sent: &[ToScheduler]) -> Vec<(u64, JobResult)> {
    sent.iter()
        .filter_map(|m| match m {
            ToScheduler::Release { lease, result, .. } => Some((*lease, *result)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_speculative_copy_on_a_fast_server_beats_a_straggler() {
    let slow = Server::start(&[]);
    let fast = Server::start(&[]);
    // Far beyond the bound below: the job must not wait for the straggler's reply.
    let hold = Duration::from_secs(40);
    let (slow_port, slow_side) = slow_proxy(slow.port, hold);
    let (addr, sched) = scripted_steps(vec![Step {
        after_grant: vec![(Duration::from_millis(500), speculate(1, 2, fast.port))],
        // As the scheduler does: the winner's release cancels the other copy.
        on_release: Some((2, FromScheduler::Cancel { lease: 1 })),
        ..Step::grant(grant(1, slow_port))
    }]);
    let scratch = Scratch::new();
    scratch.write("f.c", "int f(int x) { return x * 13 + 1; }\n");
    let started = std::time::Instant::now();
    // No static hosts and no fallback: the job runs on the scheduler's servers or
    // fails. `ccfarm_ok_with` also checks that exactly one copy's outputs were
    // written ("completed ok" logged once).
    ccfarm_ok_with(
        &scratch,
        "",
        &[
            ("CCFARM_SCHEDULER", addr.as_str()),
            ("CCFARM_IO_TIMEOUT", "600"),
        ],
        &["gcc", "-c", "f.c", "-o", "f.o"],
    );
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(15), "took {elapsed:?}");

    // The client broke the straggler off rather than leave it hanging.
    let proxied = slow_side.join().unwrap();
    assert!(!proxied.replied, "{proxied:?}");
    assert!(
        proxied
            .broken_off_after
            .is_some_and(|t| t < Duration::from_secs(15)),
        "{proxied:?}"
    );

    let sessions = sched.join().unwrap();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(
        releases(&sessions[0]),
        [(2, JobResult::Ok)],
        "{:?}",
        sessions[0]
    );
    assert_eq!(fast.status()["results"]["compile_ok"], 1);
    let log = client_log(&scratch);
    assert!(
        log.contains(&format!(
            "f.c: the copy on 127.0.0.1:{}/4 (lease 2) finished first",
            fast.port
        )),
        "{log}"
    );
    assert!(
        run(&scratch, "gcc", &["-c", "f.c", "-o", "ref.o"])
            .status
            .success()
    );
    assert_eq!(scratch.read("f.o"), scratch.read("ref.o"));
}

#[test]
fn a_speculative_copy_on_a_dead_server_leaves_the_first_copy_to_finish() {
    let slow = Server::start(&[]);
    let (slow_port, slow_side) = slow_proxy(slow.port, Duration::from_secs(2));
    let dead = free_port();
    let (addr, sched) = scripted_steps(vec![Step {
        after_grant: vec![(Duration::from_millis(300), speculate(1, 2, dead))],
        ..Step::grant(grant(1, slow_port))
    }]);
    let scratch = Scratch::new();
    scratch.write("g.c", "int g(int x) { return x - 5; }\n");
    ccfarm_ok_with(
        &scratch,
        "",
        &[("CCFARM_SCHEDULER", addr.as_str())],
        &["gcc", "-c", "g.c", "-o", "g.o"],
    );
    let proxied = slow_side.join().unwrap();
    assert!(proxied.replied, "{proxied:?}");
    let sessions = sched.join().unwrap();
    assert_eq!(
        releases(&sessions[0]),
        [(2, JobResult::TransportFailure), (1, JobResult::Ok)],
        "{:?}",
        sessions[0]
    );
    assert_eq!(slow.status()["results"]["compile_ok"], 1);
    let log = client_log(&scratch);
    assert!(
        log.contains(&format!(
            "failed to distribute g.c to 127.0.0.1:{dead}/4 (a speculative copy, attempt 1)"
        )),
        "{log}"
    );
    assert!(
        run(&scratch, "gcc", &["-c", "g.c", "-o", "ref.o"])
            .status
            .success()
    );
    assert_eq!(scratch.read("g.o"), scratch.read("ref.o"));
}
