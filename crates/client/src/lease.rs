//! Asking a `ccfarm-scheduler` for a slot (`CCFARM_SCHEDULER=HOST:PORT`).
//!
//! The lease is held by the connection: the client keeps it open while the job runs
//! on the granted server and releases the lease with the job's figures; if the client
//! dies, the connection closes and the scheduler takes the slot back. Every failure to
//! talk to the scheduler is reported as an error, so the caller falls back to its
//! static host list or a local compile: a build never hangs on the scheduler.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use bytes::BytesMut;
use ccfarm_proto::farm::{
    self, DEFAULT_MAX_FRAME, FromScheduler, JobDescription, JobResult, PROTOCOL_VERSION, Role,
    ToScheduler,
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
    stream: TcpStream,
    /// The lease number.
    pub id: u64,
    /// The server's address.
    pub host: String,
    /// Its distcc port.
    pub port: u16,
    /// Whether it takes protocol 2.
    pub lzo: bool,
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
    let io = |e| LeaseError::Io(scheduler.to_owned(), e);
    let addr = scheduler
        .to_socket_addrs()
        .map_err(io)?
        .next()
        .ok_or_else(|| io(std::io::Error::other("no address")))?;
    let mut stream = TcpStream::connect_timeout(&addr, connect).map_err(io)?;
    stream.set_nodelay(true).map_err(io)?;
    stream.set_read_timeout(Some(connect)).map_err(io)?;
    stream.set_write_timeout(Some(connect)).map_err(io)?;
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
    match read(&mut stream, &mut buf, scheduler)? {
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
    stream.set_read_timeout(Some(wait)).map_err(io)?;
    match read(&mut stream, &mut buf, scheduler)? {
        FromScheduler::Grant {
            lease,
            host,
            port,
            lzo,
            ..
        } => Ok(Answer::Granted(Lease {
            stream,
            id: lease,
            host,
            port,
            lzo,
        })),
        FromScheduler::CompileLocally { reason, .. } => Ok(Answer::CompileLocally(reason)),
        FromScheduler::Refused { reason } => Err(LeaseError::Refused(scheduler.to_owned(), reason)),
        other => Err(LeaseError::Protocol(
            scheduler.to_owned(),
            format!("expected a grant, got {other:?}"),
        )),
    }
}

impl Lease {
    /// Give the slot back with the job's figures. Errors are ignored: closing the
    /// connection releases the lease anyway.
    pub fn release(mut self, result: JobResult, duration: Duration) {
        let release = ToScheduler::Release {
            lease: self.id,
            result,
            duration_ms: duration.as_millis() as u64,
        };
        let _ = self.stream.write_all(&farm::encode(&release));
    }
}

fn read(
    stream: &mut TcpStream,
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
mod tests {
    use std::net::TcpListener;

    use super::*;

    fn job() -> JobDescription {
        JobDescription {
            compiler: "gcc".into(),
            source: "a.c".into(),
            preprocessed_bytes: None,
            previous_ms: None,
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
            FromScheduler::Welcome { version: 1 },
            FromScheduler::Grant {
                request: 1,
                lease: 42,
                host: "10.1.2.3".into(),
                port: 3632,
                lzo: true,
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
            FromScheduler::Welcome { version: 1 },
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
}
