//! One job on the servers the scheduler chose: the granted server and, when the
//! scheduler sees the job straggle there while a much faster server is idle
//! (`Speculate`), that server too. The first copy to finish decides.
//!
//! Each copy runs in its own thread and only talks to its server; this thread waits on
//! one channel for both the copies' verdicts and the scheduler's notices, decides,
//! releases leases and breaks off the copies no longer wanted. Nothing is written here:
//! the caller writes the deciding copy's outputs after every copy thread has been
//! joined, so the outputs are written once, from one copy, exactly as without
//! speculation.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Instant;

use ccfarm_proto::farm::JobResult;

use crate::exit;
use crate::hosts::{HostKind, HostSpec};
use crate::lease::{Lease, Notice, Offer};
use crate::log::Logger;
use crate::remote::{Breaker, Verdict};
use ccfarm_proto::farm::GrantProof;

/// The job, for the log.
pub struct Job<'a> {
    /// Logging.
    pub log: &'a Logger,
    /// The source file, as the log names the job.
    pub input: &'a str,
    /// Which grant of the job this is (the scheduler is asked again after a failure).
    pub attempt: u32,
}

/// The copy that decided the job: it finished on `host` with [`Verdict::Success`] or
/// [`Verdict::CompileError`] (a compile error is deterministic, so it decides as much
/// as a success does). Its lease was released with that result unless it had been
/// revoked or the scheduler connection was lost.
#[derive(Debug)]
pub struct Decided {
    /// The server that ran the deciding copy.
    pub host: HostSpec,
    /// What it answered.
    pub verdict: Verdict,
    /// How long that copy took, from its start to the reply (what its lease was released
    /// with).
    pub elapsed: std::time::Duration,
}

/// What the deciding thread waits for.
enum Event {
    /// From the lease connection.
    Notice(Notice),
    /// Copy number `.0` has ended.
    Done(usize, Verdict),
}

/// A copy of the job, as the deciding thread tracks it.
struct Copy {
    lease: u64,
    host: HostSpec,
    breaker: Arc<Breaker>,
    started: Instant,
    running: bool,
    /// The scheduler revoked its lease: not to be released.
    revoked: bool,
}

/// Run the job under `lease`: `copy` runs one copy on a server and says how it went
/// (it is called on a thread of its own, once per copy, and must give up promptly
/// once its [`Breaker`] trips). Returns once a copy has decided the job, or with `None`
/// once every copy has failed (each failure logged and its lease released as a
/// transport failure; the caller asks the scheduler again). Either way every copy
/// thread and the lease watcher have been joined and the lease connection is closed,
/// which gives back any lease not released.
/// `copy` is also given the scheduler's proof of the grant, on a secure farm.
pub fn run<F>(job: &Job<'_>, lease: Lease, copy: F) -> Option<Decided>
where
    F: Fn(&HostSpec, Option<&GrantProof>, &Breaker) -> Verdict + Sync,
{
    let first = (
        lease.id,
        server(&lease.host, lease.port, lease.lzo),
        lease.proof.clone(),
    );
    let (tx, rx) = mpsc::channel();
    let watched = lease.watch(tx.clone(), Event::Notice);
    let copy = &copy;
    std::thread::scope(|scope| {
        let mut copies: Vec<Copy> = Vec::new();
        let start =
            |copies: &mut Vec<Copy>, lease: u64, host: HostSpec, proof: Option<GrantProof>| {
                let number = copies.len();
                let breaker = Arc::new(Breaker::default());
                copies.push(Copy {
                    lease,
                    host: host.clone(),
                    breaker: breaker.clone(),
                    started: Instant::now(),
                    running: true,
                    revoked: false,
                });
                let done = tx.clone();
                let spawned = std::thread::Builder::new()
                    .name(format!("copy-{lease}"))
                    .spawn_scoped(scope, move || {
                        // A copy that panicked must still report, or this thread would wait
                        // for it forever.
                        let verdict = std::panic::catch_unwind(AssertUnwindSafe(|| {
                            copy(&host, proof.as_ref(), &breaker)
                        }))
                        .unwrap_or_else(|_| Verdict::HostFailed {
                            code: exit::GENERAL,
                            why: "the job's thread panicked".into(),
                            back_off: false,
                        });
                        let _ = done.send(Event::Done(number, verdict));
                    });
                if let Err(e) = spawned {
                    let _ = tx.send(Event::Done(
                        number,
                        Verdict::HostFailed {
                            code: exit::GENERAL,
                            why: format!("cannot start a thread: {e}"),
                            back_off: false,
                        },
                    ));
                }
            };
        start(&mut copies, first.0, first.1, first.2);
        let mut lost = false;
        // Every pass starts with at least one copy running, so a message will come.
        let outcome = loop {
            let event = rx.recv().expect("this thread holds a sender");
            match event {
                Event::Notice(Notice::Cancel(lease)) => {
                    // A cancel for a copy that has already ended (or for a lease that
                    // is not ours) changes nothing.
                    if let Some(c) = copies.iter_mut().find(|c| c.running && c.lease == lease) {
                        c.revoked = true;
                        c.breaker.trip();
                    }
                }
                Event::Notice(Notice::Speculate(offer)) => {
                    let running: Vec<&Copy> = copies.iter().filter(|c| c.running).collect();
                    match running[..] {
                        [straggler] if straggler.lease == offer.lease && !lost => {
                            job.log.info(&format!(
                                "scheduler: {} straggles on {} (lease {}); also running it on {}:{} (lease {})",
                                job.input,
                                straggler.host.display(),
                                offer.lease,
                                offer.host,
                                offer.port,
                                offer.new_lease
                            ));
                            let Offer {
                                new_lease,
                                host,
                                port,
                                lzo,
                                proof,
                                ..
                            } = offer;
                            start(&mut copies, new_lease, server(&host, port, lzo), proof);
                        }
                        // Two copies already, or an offer for a copy that has ended:
                        // not taken. Its lease is given back when this job's connection
                        // closes, as soon as the job is decided; releasing it now would
                        // have to report a result for a job that never ran.
                        _ => job.log.info(&format!(
                            "scheduler: speculative lease {} for lease {} of {} not taken",
                            offer.new_lease, offer.lease, job.input
                        )),
                    }
                }
                Event::Notice(Notice::Lost(why)) => {
                    // Not a reason to stop the job: the scheduler may just be
                    // restarting, and closing the connection released the leases.
                    lost = true;
                    let hosts: Vec<String> = copies
                        .iter()
                        .filter(|c| c.running)
                        .map(|c| c.host.display())
                        .collect();
                    job.log.info(&format!(
                        "lost the scheduler connection while {} ran on {}: {why}",
                        job.input,
                        hosts.join(" and ")
                    ));
                }
                Event::Done(number, verdict) => {
                    let speculative = number > 0;
                    let c = &mut copies[number];
                    c.running = false;
                    let elapsed = c.started.elapsed();
                    let result = match &verdict {
                        Verdict::Success(_) => JobResult::Ok,
                        Verdict::CompileError(_) => JobResult::CompileError,
                        Verdict::HostFailed { .. } => JobResult::TransportFailure,
                    };
                    // A revoked lease is already gone on the scheduler's side; after
                    // the connection was lost there is nobody to tell.
                    if !c.revoked && !lost {
                        watched.release(c.lease, result, elapsed);
                    }
                    let c = &copies[number];
                    match verdict {
                        Verdict::HostFailed { why, .. } => {
                            // After a revocation the failure is our own abort; the
                            // revocation is the real cause.
                            let why = if c.revoked {
                                format!("the scheduler revoked lease {}", c.lease)
                            } else {
                                why
                            };
                            let message = format!(
                                "failed to distribute {} to {} ({}, attempt {}): {why}",
                                job.input,
                                c.host.display(),
                                if speculative {
                                    "a speculative copy"
                                } else {
                                    "granted by the scheduler"
                                },
                                job.attempt
                            );
                            if copies.iter().any(|c| c.running) {
                                // The job carries on elsewhere, unharmed: not worth a
                                // warning on the user's terminal.
                                job.log
                                    .info(&format!("{message}; the other copy carries on"));
                            } else {
                                job.log.warn(&message);
                                break None;
                            }
                        }
                        verdict => {
                            if c.revoked {
                                // The reply was complete before the abort took
                                // effect: the outputs are good, whatever became of
                                // the lease.
                                job.log.info(&format!(
                                    "the scheduler revoked lease {} on {} after {} was compiled there; result kept",
                                    c.lease,
                                    c.host.display(),
                                    job.input
                                ));
                            }
                            if copies.iter().any(|c| c.running) {
                                job.log.info(&format!(
                                    "{}: the copy on {} (lease {}) finished first",
                                    job.input,
                                    c.host.display(),
                                    c.lease
                                ));
                            }
                            break Some(Decided {
                                host: c.host.clone(),
                                verdict,
                                elapsed,
                            });
                        }
                    }
                }
            }
        };
        // The losers are not waited for, and not released: the scheduler cancels a
        // winner's twin itself, and closing the connection (below) gives back any lease
        // still held. Leaving the scope joins their threads, which the trip ends at once
        // (or, for one still connecting, within the connect timeout).
        for c in copies.iter().filter(|c| c.running) {
            c.breaker.trip();
        }
        watched.end();
        outcome
    })
}

/// A granted server as a host entry (for the log and the protocol version).
fn server(host: &str, port: u16, lzo: bool) -> HostSpec {
    let mut spec = HostSpec::new(HostKind::Tcp {
        host: host.to_owned(),
        port,
    });
    spec.lzo = lzo;
    spec
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::sync::Mutex;
    use std::time::Duration;

    use bytes::{Bytes, BytesMut};
    use ccfarm_proto::distcc::{Reply, Version};
    use ccfarm_proto::farm::{self, DEFAULT_MAX_FRAME, FromScheduler, ToScheduler};

    use super::*;
    use crate::lease::tests::{granted, granting};

    /// The server of the first grant (see `granting`).
    const FIRST: &str = "10.1.2.3";

    /// How a fake server answers a copy.
    #[derive(Clone, Copy)]
    enum Server {
        /// Succeeds (with its own name as the object) after this long, unless broken off.
        Ok(u64),
        /// Reports a compile error after this long, unless broken off.
        CompileError(u64),
        /// Refuses the job at once.
        Dead,
        /// Never answers: only breaking it off ends it (after 20 s it fails the test).
        Hung,
    }

    fn reply(status: u32, object: &str) -> Reply {
        Reply {
            version: Version::V1,
            status,
            stderr: Bytes::new(),
            stdout: Bytes::new(),
            object: Bytes::copy_from_slice(object.as_bytes()),
            dotd: None,
        }
    }

    /// Fake copies: which servers were asked, and which copies were broken off.
    #[derive(Default)]
    struct Farm {
        servers: HashMap<&'static str, Server>,
        asked: Mutex<Vec<String>>,
        broken_off: Mutex<Vec<String>>,
    }

    impl Farm {
        fn new(servers: &[(&'static str, Server)]) -> Farm {
            Farm {
                servers: servers.iter().copied().collect(),
                ..Farm::default()
            }
        }

        /// The servers asked, sorted: copy threads start in no particular order.
        fn asked(&self) -> Vec<String> {
            let mut asked = self.asked.lock().unwrap().clone();
            asked.sort();
            asked
        }

        fn copy(&self, host: &HostSpec, breaker: &Breaker) -> Verdict {
            let HostKind::Tcp { host: name, .. } = &host.kind else {
                unreachable!()
            };
            self.asked.lock().unwrap().push(name.clone());
            let (wait, answer) = match self.servers[name.as_str()] {
                Server::Ok(ms) => (ms, Some(reply(0, name))),
                Server::CompileError(ms) => (ms, Some(reply(1 << 8, name))),
                Server::Dead => {
                    return Verdict::HostFailed {
                        code: exit::CONNECT_FAILED,
                        why: "connection refused".into(),
                        back_off: true,
                    };
                }
                Server::Hung => (20_000, None),
            };
            let until = Instant::now() + Duration::from_millis(wait);
            while Instant::now() < until {
                if breaker.tripped() {
                    self.broken_off.lock().unwrap().push(name.clone());
                    return Verdict::HostFailed {
                        code: exit::IO_ERROR,
                        why: "broken off".into(),
                        back_off: true,
                    };
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            match answer {
                Some(r) => crate::remote::judge(Ok(r)),
                None => panic!("{name} was never broken off"),
            }
        }
    }

    fn speculate(lease: u64, new_lease: u64, host: &str) -> FromScheduler {
        FromScheduler::Speculate {
            lease,
            new_lease,
            host: host.into(),
            port: 3632,
            lzo: false,
            proof: None,
        }
    }

    fn release(lease: u64, result: JobResult) -> ToScheduler {
        ToScheduler::Release {
            lease,
            result,
            duration_ms: 0,
        }
    }

    /// The releases the client sent, durations zeroed.
    fn releases(sent: Vec<ToScheduler>) -> Vec<ToScheduler> {
        sent.into_iter()
            .filter_map(|m| match m {
                ToScheduler::Release { lease, result, .. } => Some(release(lease, result)),
                _ => None,
            })
            .collect()
    }

    /// Run a race on `farm` with the lease of `addr`; the outcome, how long it took, and
    /// the log.
    fn race(addr: &str, farm: &Farm) -> (Option<Decided>, Duration, String) {
        let dir = tempfile::tempdir().unwrap();
        let log = Logger::new("ccfarm", true, Some(dir.path().join("log")));
        let job = Job {
            log: &log,
            input: "a.c",
            attempt: 1,
        };
        let started = Instant::now();
        let outcome = run(&job, granted(addr), |host, _proof, breaker| {
            farm.copy(host, breaker)
        });
        let took = started.elapsed();
        let log = std::fs::read_to_string(dir.path().join("log")).unwrap_or_default();
        (outcome, took, log)
    }

    /// The deciding server, and whether it succeeded.
    fn winner(outcome: &Option<Decided>) -> (String, bool) {
        match outcome {
            Some(Decided {
                host,
                verdict: Verdict::Success(r) | Verdict::CompileError(r),
                ..
            }) => {
                assert_eq!(
                    host.display(),
                    format!("{}:3632/4", r.object.escape_ascii())
                );
                (String::from_utf8(r.object.to_vec()).unwrap(), r.status == 0)
            }
            other => panic!("not decided: {other:?}"),
        }
    }

    #[test]
    fn the_faster_copy_wins_and_the_straggler_is_broken_off() {
        let farm = Farm::new(&[(FIRST, Server::Hung), ("fast", Server::Ok(50))]);
        let (addr, sched) = granting(vec![speculate(42, 43, "fast")], |_| {});
        let (outcome, took, log) = race(&addr, &farm);
        assert_eq!(winner(&outcome), ("fast".into(), true));
        assert!(took < Duration::from_secs(5), "{took:?}");
        assert!(
            log.contains("a.c: the copy on fast:3632/4 (lease 43) finished first"),
            "{log}"
        );
        assert_eq!(*farm.broken_off.lock().unwrap(), [FIRST]);
        // The winner is released; the scheduler cancels the loser itself.
        assert_eq!(
            releases(sched.join().unwrap()),
            [release(43, JobResult::Ok)]
        );
    }

    #[test]
    fn a_failed_speculative_copy_leaves_the_first_to_finish() {
        let farm = Farm::new(&[(FIRST, Server::Ok(500)), ("dead", Server::Dead)]);
        let (addr, sched) = granting(vec![speculate(42, 43, "dead")], |_| {});
        let (outcome, _, _) = race(&addr, &farm);
        assert_eq!(winner(&outcome), (FIRST.into(), true));
        assert_eq!(farm.asked(), [FIRST, "dead"]);
        assert_eq!(
            releases(sched.join().unwrap()),
            [
                release(43, JobResult::TransportFailure),
                release(42, JobResult::Ok)
            ]
        );
    }

    #[test]
    fn a_revoked_first_copy_leaves_the_speculative_one_running() {
        let farm = Farm::new(&[(FIRST, Server::Hung), ("spare", Server::Ok(1000))]);
        let (addr, sched) = granting(
            vec![
                speculate(42, 43, "spare"),
                FromScheduler::Cancel { lease: 42 },
            ],
            |_| {},
        );
        let (outcome, _, _) = race(&addr, &farm);
        assert_eq!(winner(&outcome), ("spare".into(), true));
        assert_eq!(*farm.broken_off.lock().unwrap(), [FIRST]);
        // The revoked lease is gone on the scheduler's side: not released.
        assert_eq!(
            releases(sched.join().unwrap()),
            [release(43, JobResult::Ok)]
        );
    }

    #[test]
    fn a_compile_error_decides_the_race() {
        let farm = Farm::new(&[(FIRST, Server::CompileError(300)), ("slow", Server::Hung)]);
        let (addr, sched) = granting(vec![speculate(42, 43, "slow")], |_| {});
        let (outcome, _, _) = race(&addr, &farm);
        assert_eq!(winner(&outcome), (FIRST.into(), false));
        assert_eq!(*farm.broken_off.lock().unwrap(), ["slow"]);
        assert_eq!(
            releases(sched.join().unwrap()),
            [release(42, JobResult::CompileError)]
        );
    }

    #[test]
    fn every_copy_failing_is_a_failure_with_each_lease_released() {
        let farm = Farm::new(&[(FIRST, Server::Hung), ("dead", Server::Dead)]);
        let (addr, sched) = granting(vec![speculate(42, 43, "dead")], |s| {
            // Revoke the first copy only once the second has failed, so both end as
            // failures.
            let mut buf = BytesMut::new();
            assert_eq!(read(s, &mut buf), release(43, JobResult::TransportFailure));
            s.write_all(&farm::encode(&FromScheduler::Cancel { lease: 42 }))
                .unwrap();
        });
        let (outcome, _, log) = race(&addr, &farm);
        assert!(outcome.is_none(), "{outcome:?}");
        // The failure that ended the job is a warning; the one before it, with the job
        // still running elsewhere, only information.
        assert!(
            log.contains("] failed to distribute a.c to dead:3632/4 (a speculative copy, attempt 1): connection refused; the other copy carries on\n"),
            "{log}"
        );
        assert!(
            log.contains("] Warning: failed to distribute a.c to 10.1.2.3:3632/4 (granted by the scheduler, attempt 1): the scheduler revoked lease 42\n"),
            "{log}"
        );
        assert_eq!(*farm.broken_off.lock().unwrap(), [FIRST]);
        // 43's release was read by the script; 42 was revoked.
        assert_eq!(releases(sched.join().unwrap()), []);
    }

    #[test]
    fn offers_not_for_the_one_running_copy_are_not_taken() {
        let farm = Farm::new(&[
            (FIRST, Server::Hung),
            ("fast", Server::Ok(800)),
            ("third", Server::Ok(0)),
            ("stranger", Server::Ok(0)),
        ]);
        let (addr, sched) = granting(
            vec![
                // For a lease that is not ours.
                speculate(99, 44, "stranger"),
                speculate(42, 43, "fast"),
                // A third copy while two run.
                speculate(42, 45, "third"),
            ],
            |_| {},
        );
        let (outcome, _, _) = race(&addr, &farm);
        assert_eq!(winner(&outcome), ("fast".into(), true));
        assert_eq!(farm.asked(), [FIRST, "fast"]);
        assert_eq!(
            releases(sched.join().unwrap()),
            [release(43, JobResult::Ok)]
        );
    }

    #[test]
    fn an_offer_after_the_job_is_decided_is_ignored() {
        let farm = Farm::new(&[(FIRST, Server::Ok(0)), ("late", Server::Ok(0))]);
        let (addr, sched) = granting(vec![], |s| {
            let mut buf = BytesMut::new();
            assert_eq!(read(s, &mut buf), release(42, JobResult::Ok));
            let _ = s.write_all(&farm::encode(&speculate(42, 43, "late")));
        });
        let (outcome, _, _) = race(&addr, &farm);
        assert_eq!(winner(&outcome), (FIRST.into(), true));
        // The offer may reach the watcher or not before it stops; either way no copy.
        assert_eq!(farm.asked(), [FIRST]);
        sched.join().unwrap();
    }

    /// Read one client message from the scripted scheduler's side (durations zeroed).
    fn read(s: &mut TcpStream, buf: &mut BytesMut) -> ToScheduler {
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(m) = farm::decode::<ToScheduler>(buf, DEFAULT_MAX_FRAME).unwrap() {
                if matches!(m, ToScheduler::Release { .. }) {
                    return releases(vec![m]).remove(0);
                }
                continue;
            }
            let n = s.read(&mut chunk).unwrap();
            assert!(n > 0, "the client closed the connection");
            buf.extend_from_slice(&chunk[..n]);
        }
    }
}
