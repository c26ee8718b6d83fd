//! Asking a `ccfarm-scheduler` for a slot (`CCFARM_SCHEDULER=HOST:PORT`).
//!
//! The lease is held by the connection: the client keeps it open while the job runs
//! on the granted server and releases the lease with the job's figures; if the client
//! dies, the connection closes and the scheduler takes the slot back. Every failure to
//! talk to the scheduler is reported as an error, so the caller falls back to its
//! static host list or a local compile: a build never hangs on the scheduler.
//!
//! While the job runs, [`Lease::watch`] listens on the lease connection for the
//! scheduler revoking the lease (`Cancel`: the server stopped heartbeating, was
//! removed, or another copy of the job won), so the caller can abandon a hung server
//! within seconds instead of its I/O timeout, and for the scheduler offering a second,
//! faster server for a straggling job (`Speculate`).

use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::BytesMut;
use ccfarm_trust::{Credentials, Expect, Role as Proven};

use crate::channel::Channel;
use ccfarm_proto::farm::{
    self, DEFAULT_MAX_FRAME, FromScheduler, GrantProof, JobDescription, JobResult,
    PROTOCOL_VERSION, Role, ToScheduler,
};

/// What the scheduler said.
#[derive(Debug)]
pub enum Answer {
    /// Run the job on this server; release the lease afterwards.
    Granted(Lease),
    /// Compile here, for this reason.
    CompileLocally(String),
}

/// A granted slot, held until released or dropped.
#[derive(Debug)]
pub struct Lease {
    stream: Channel,
    /// Bytes read after the grant (a `Cancel` may follow it in the same segment).
    pending: BytesMut,
    /// The lease number.
    pub id: u64,
    /// The server's address.
    pub host: String,
    /// Its distcc port.
    pub port: u16,
    /// Whether it takes protocol 2.
    pub lzo: bool,
    /// On a secure farm: the server to expect and the ticket to show it.
    pub proof: Option<GrantProof>,
}

/// Why the scheduler could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// Connecting or talking failed.
    #[error("scheduler {0}: {1}")]
    Io(String, std::io::Error),
    /// The scheduler refused us.
    #[error("scheduler {0} refused: {1}")]
    Refused(String, String),
    /// The scheduler broke the protocol.
    #[error("scheduler {0}: {1}")]
    Protocol(String, String),
}

/// Ask `scheduler` for a slot for `job`. `connect` bounds the connection and the
/// greeting; the wait for a grant is bounded by `wait` (the scheduler itself answers
/// "compile locally" after its own maximum wait, normally much sooner).
pub fn request(
    scheduler: &str,
    user: &str,
    machine: &str,
    job: JobDescription,
    connect: Duration,
    wait: Duration,
) -> Result<Answer, LeaseError> {
    ask(scheduler, user, machine, job, connect, wait)?.wait()
}

/// A request the scheduler has received; its answer is read with [`Pending::wait`].
/// Until then the client can do other work (preprocess) and tell the scheduler what it
/// learns ([`Pending::size`]).
#[derive(Debug)]
pub struct Pending {
    stream: Channel,
    buf: BytesMut,
    scheduler: String,
    wait: Duration,
}

/// Send a request for `job` to `scheduler` and return once it is welcomed (bounded by
/// `connect`); the grant is read later, within `wait`.
pub fn ask(
    scheduler: &str,
    user: &str,
    machine: &str,
    job: JobDescription,
    connect: Duration,
    wait: Duration,
) -> Result<Pending, LeaseError> {
    ask_as(scheduler, user, machine, job, connect, wait, None)
}

/// [`ask`], over TLS proving `credentials` when given: the user is then the one they
/// name.
pub fn ask_as(
    scheduler: &str,
    user: &str,
    machine: &str,
    job: JobDescription,
    connect: Duration,
    wait: Duration,
    credentials: Option<&Credentials>,
) -> Result<Pending, LeaseError> {
    let io = |e| LeaseError::Io(scheduler.to_owned(), e);
    let addr = scheduler
        .to_socket_addrs()
        .map_err(io)?
        .next()
        .ok_or_else(|| io(std::io::Error::other("no address")))?;
    let tcp = TcpStream::connect_timeout(&addr, connect).map_err(io)?;
    tcp.set_nodelay(true).map_err(io)?;
    tcp.set_read_timeout(Some(connect)).map_err(io)?;
    tcp.set_write_timeout(Some(connect)).map_err(io)?;
    let (stream, user) = match credentials {
        Some(credentials) => {
            let config = credentials
                .client_config(Expect::Role(Proven::Scheduler))
                .map_err(|e| LeaseError::Protocol(scheduler.to_owned(), e.to_string()))?;
            let host = scheduler.rsplit_once(':').map_or(scheduler, |(h, _)| h);
            let channel =
                Channel::tls(tcp, config, ccfarm_trust::tls::server_name(host)).map_err(io)?;
            (channel, credentials.identity.name.as_str())
        }
        None => (Channel::plain(tcp), user),
    };
    let hello = ToScheduler::Hello {
        version: PROTOCOL_VERSION,
        role: Role::Client {
            user: user.to_owned(),
            machine: machine.to_owned(),
        },
    };
    let mut out = farm::encode(&hello);
    out.extend_from_slice(&farm::encode(&ToScheduler::Request { request: 1, job }));
    stream.write_all(&out).map_err(io)?;
    let mut buf = BytesMut::new();
    match read(&stream, &mut buf, scheduler)? {
        FromScheduler::Welcome { .. } => {}
        FromScheduler::Refused { reason } => {
            return Err(LeaseError::Refused(scheduler.to_owned(), reason));
        }
        other => {
            return Err(LeaseError::Protocol(
                scheduler.to_owned(),
                format!("expected welcome, got {other:?}"),
            ));
        }
    }
    Ok(Pending {
        stream,
        buf,
        scheduler: scheduler.to_owned(),
        wait,
    })
}

impl Pending {
    /// Wait for the answer.
    pub fn wait(self) -> Result<Answer, LeaseError> {
        let Pending {
            stream,
            mut buf,
            scheduler,
            wait,
        } = self;
        let scheduler = scheduler.as_str();
        stream
            .socket()
            .set_read_timeout(Some(wait))
            .map_err(|e| LeaseError::Io(scheduler.to_owned(), e))?;
        match read(&stream, &mut buf, scheduler)? {
            FromScheduler::Grant {
                lease,
                host,
                port,
                lzo,
                proof,
                ..
            } => Ok(Answer::Granted(Lease {
                stream,
                pending: buf,
                id: lease,
                host,
                port,
                lzo,
                proof,
            })),
            FromScheduler::CompileLocally { reason, .. } => Ok(Answer::CompileLocally(reason)),
            FromScheduler::Refused { reason } => {
                Err(LeaseError::Refused(scheduler.to_owned(), reason))
            }
            other => Err(LeaseError::Protocol(
                scheduler.to_owned(),
                format!("expected a grant, got {other:?}"),
            )),
        }
    }
}

impl Lease {
    /// Give the slot back with the job's figures. Errors are ignored: closing the
    /// connection releases the lease anyway.
    pub fn release(self, result: JobResult, duration: Duration) {
        let release = ToScheduler::Release {
            lease: self.id,
            result,
            duration_ms: duration.as_millis() as u64,
        };
        let _ = self.stream.write_all(&farm::encode(&release));
    }

    /// Watch the lease connection while the job runs: what the scheduler says about
    /// this job (a revocation, a speculative copy, or the connection ending) is sent to
    /// `tx`, wrapped by `wrap`, as it arrives, so the caller can wait on it together
    /// with its own events. [`Watched::end`] stops the watcher.
    ///
    /// If the socket refuses the watcher's read timeout, the lease is held
    /// unwatched: the job then runs as it did before revocation existed (bounded by the
    /// I/O timeout), which is better than failing a job over a missing descriptor.
    pub fn watch<T: Send + 'static>(
        mut self,
        tx: Sender<T>,
        wrap: impl Fn(Notice) -> T + Send + 'static,
    ) -> Watched {
        let stop = Arc::new(AtomicBool::new(false));
        let watcher = Some(self.stream.clone())
            .filter(|stream| {
                // A backstop only: `end` wakes the read at once with a shutdown; the
                // tick bounds `end` should a platform not wake a blocked read that way.
                stream.socket().set_read_timeout(Some(WATCH_TICK)).is_ok()
            })
            .and_then(|stream| {
                let pending = std::mem::take(&mut self.pending);
                let stop = stop.clone();
                std::thread::Builder::new()
                    .name("lease-watch".into())
                    .spawn(move || watch(stream, pending, &stop, |n| tx.send(wrap(n)).is_ok()))
                    .ok()
            });
        Watched {
            lease: self,
            stop,
            watcher,
        }
    }
}

/// How long one watcher read may block before the stop flag is checked again.
const WATCH_TICK: Duration = Duration::from_secs(5);

/// What the scheduler said on a lease connection while its job ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// This lease (the first one or a speculative one) is revoked: the server stopped
    /// heartbeating, was removed, or another copy of the job won. It is gone on the
    /// scheduler's side, so there is nothing to release.
    Cancel(u64),
    /// The job running under `lease` is a straggler: also run it on this faster server.
    Speculate(Offer),
    /// The connection closed or broke, for this reason; nothing more will come, and the
    /// close released every lease it held.
    Lost(String),
}

/// A speculative copy offered by the scheduler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// The lease of the copy already running.
    pub lease: u64,
    /// The lease of the new copy.
    pub new_lease: u64,
    /// The faster server's address.
    pub host: String,
    /// Its distcc port.
    pub port: u16,
    /// Whether it takes protocol 2.
    pub lzo: bool,
    /// On a secure farm: the server to expect and the ticket to show it.
    pub proof: Option<GrantProof>,
}

/// A lease whose connection is being watched while its job runs.
#[derive(Debug)]
pub struct Watched {
    lease: Lease,
    stop: Arc<AtomicBool>,
    watcher: Option<JoinHandle<()>>,
}

impl Watched {
    /// Whether the watcher thread has already ended on its own.
    #[cfg(test)]
    fn finished(&self) -> bool {
        self.watcher.as_ref().is_some_and(|w| w.is_finished())
    }

    /// Release `lease` (the watched one, or a speculative one granted on the same
    /// connection) with the job's figures. Errors are ignored: closing the connection
    /// releases every lease on it anyway.
    pub fn release(&self, lease: u64, result: JobResult, duration: Duration) {
        let release = ToScheduler::Release {
            lease,
            result,
            duration_ms: duration.as_millis() as u64,
        };
        // The watcher only reads its duplicate, so writing here does not race it.
        let _ = self.lease.stream.write_all(&farm::encode(&release));
    }

    /// Stop watching; the thread is joined, so nothing outlives the job. Whatever the
    /// scheduler sends from now on (a speculation that came too late, the cancel of a
    /// losing copy) is not read. The connection is closed on return, which gives back
    /// any lease not released.
    pub fn end(self) {
        let Watched {
            lease,
            stop,
            watcher,
        } = self;
        let Some(watcher) = watcher else {
            return;
        };
        // Shutting the read half wakes the watcher's blocked read with an EOF, which
        // the flag tells apart from the scheduler closing.
        stop.store(true, Ordering::SeqCst);
        let _ = lease.stream.shutdown(Shutdown::Read);
        // A watcher that panicked has nothing more to say.
        let _ = watcher.join();
    }
}

/// The watcher thread: read scheduler messages and pass on what concerns the job until
/// `stop` is set, the connection ends, or `notify` says nobody listens any more.
fn watch(stream: Channel, mut buf: BytesMut, stop: &AtomicBool, notify: impl Fn(Notice) -> bool) {
    let mut chunk = [0u8; 4096];
    loop {
        loop {
            let notice = match farm::decode::<FromScheduler>(&mut buf, DEFAULT_MAX_FRAME) {
                Ok(Some(FromScheduler::Cancel { lease })) => Notice::Cancel(lease),
                Ok(Some(FromScheduler::Speculate {
                    lease,
                    new_lease,
                    host,
                    port,
                    lzo,
                    proof,
                })) => Notice::Speculate(Offer {
                    lease,
                    new_lease,
                    host,
                    port,
                    lzo,
                    proof,
                }),
                // Nothing else is expected on a lease connection; later protocol
                // versions may add messages, which must not disturb the job.
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(e) => {
                    notify(Notice::Lost(e.to_string()));
                    return;
                }
            };
            if !notify(notice) {
                return;
            }
        }
        let read = stream.read(&mut chunk);
        if stop.load(Ordering::SeqCst) {
            return;
        }
        match read {
            Ok(0) => {
                notify(Notice::Lost("the scheduler closed the connection".into()));
                return;
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) => {}
            Err(e) => {
                notify(Notice::Lost(e.to_string()));
                return;
            }
        }
    }
}

fn read(
    stream: &Channel,
    buf: &mut BytesMut,
    scheduler: &str,
) -> Result<FromScheduler, LeaseError> {
    let mut chunk = [0u8; 4096];
    loop {
        match farm::decode(buf, DEFAULT_MAX_FRAME) {
            Ok(Some(message)) => return Ok(message),
            Ok(None) => {}
            Err(e) => return Err(LeaseError::Protocol(scheduler.to_owned(), e.to_string())),
        }
        let n = stream
            .read(&mut chunk)
            .map_err(|e| LeaseError::Io(scheduler.to_owned(), e))?;
        if n == 0 {
            return Err(LeaseError::Io(
                scheduler.to_owned(),
                std::io::ErrorKind::UnexpectedEof.into(),
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;
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
        }
    }

    /// Plays the scheduler's side for one connection, answering with `answers`, and
    /// returns what the client sent.
    fn scheduler(
        answers: Vec<FromScheduler>,
    ) -> (String, std::thread::JoinHandle<Vec<ToScheduler>>) {
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
    pub(crate) fn granting(
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

    pub(crate) fn granted(addr: &str) -> Lease {
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
}
