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

use std::time::{Duration, Instant};

use bytes::BytesMut;

use crate::agent::wire::Peer;
use crate::agent::{DialError, Dialer};
use crate::channel::{self, Channel};
use ccfarm_proto::farm::{
    self, DEFAULT_MAX_FRAME, FromScheduler, GrantProof, JobDescription, JobResult,
    PROTOCOL_VERSION, Role, ToScheduler,
};

mod watch;

pub use watch::{Notice, Offer, Watched};

/// What the scheduler said.
#[derive(Debug)]
pub enum Answer {
    /// Run the job on this server; release the lease afterwards.
    Granted(Lease),
    /// Run the job on this machine, in a slot it offered; release the lease afterwards.
    RunHere(HereLease),
    /// Compile here, for this reason.
    CompileLocally(String),
}

/// A slot of this machine's own that the scheduler placed the job in, held until
/// released or dropped (closing the connection gives it back unmeasured).
#[derive(Debug)]
pub struct HereLease {
    stream: Channel,
    /// The lease number.
    pub id: u64,
}

impl HereLease {
    /// Give the slot back with the compile's figures, which teach the scheduler this
    /// machine's speed. Errors are ignored: closing the connection releases it anyway.
    pub fn release(self, result: JobResult, duration: Duration) {
        send_release(&self.stream, self.id, result, duration);
    }
}

/// Tells the scheduler on `stream` that `lease` is done, with the job's figures. Errors
/// are ignored: closing the connection releases every lease on it anyway.
pub(crate) fn send_release(stream: &Channel, lease: u64, result: JobResult, duration: Duration) {
    let release = ToScheduler::Release {
        lease,
        result,
        duration_ms: duration.as_millis() as u64,
    };
    let _ = stream.write_all(&farm::encode(&release));
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
    /// The user's credentials cannot be used.
    #[error("{0}")]
    Credentials(String),
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
    through_agent: bool,
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

/// [`ask`], over TLS proving the user's credentials when `secure` is given: the user
/// is then the one they name.
pub fn ask_as(
    scheduler: &str,
    user: &str,
    machine: &str,
    job: JobDescription,
    connect: Duration,
    wait: Duration,
    secure: Option<&Dialer>,
) -> Result<Pending, LeaseError> {
    // Silences on a lease connection are bounded by the scheduler's pings; the relay's
    // own bound only has to outlast the longest wait for a grant.
    let greeted = greet(
        scheduler,
        Caller {
            user,
            machine,
            secure,
        },
        connect,
        wait + connect,
        Some(ToScheduler::Request { request: 1, job }),
    )?;
    Ok(Pending {
        stream: greeted.stream,
        buf: greeted.buf,
        scheduler: scheduler.to_owned(),
        wait,
        through_agent: greeted.through_agent,
    })
}

/// Who asks the scheduler: the user and machine a hello names, and on a secure farm how
/// to reach it over TLS (the user is then the one the credentials name).
#[derive(Clone, Copy)]
pub struct Caller<'a> {
    /// The user.
    pub user: &'a str,
    /// The client machine.
    pub machine: &'a str,
    /// The user's credentials, on a secure farm.
    pub secure: Option<&'a Dialer>,
}

/// A connection the scheduler has welcomed.
#[derive(Debug)]
pub(crate) struct Greeted {
    pub(crate) stream: Channel,
    /// Bytes read after the welcome.
    pub(crate) buf: BytesMut,
    /// Whether it answers look-ups in a shared result cache.
    pub(crate) cache: bool,
    /// Whether the connection goes through the user's agent.
    pub(crate) through_agent: bool,
}

/// Connect to `scheduler` as `caller` and say hello, with `then` in the same write;
/// return once welcomed. `connect` bounds the connection and the greeting; `relay`
/// bounds the silences the user's agent relays.
pub(crate) fn greet(
    scheduler: &str,
    caller: Caller<'_>,
    connect: Duration,
    relay: Duration,
    then: Option<ToScheduler>,
) -> Result<Greeted, LeaseError> {
    let io = |e| LeaseError::Io(scheduler.to_owned(), e);
    let mut through_agent = false;
    let (stream, user) = match caller.secure {
        Some(dialer) => {
            let dialed = dialer
                .dial(scheduler, Peer::Scheduler, connect, relay)
                .map_err(|e| match e {
                    DialError::Credentials(why) => LeaseError::Credentials(why),
                    DialError::Connect { source, .. } | DialError::Handshake { source, .. } => {
                        io(source)
                    }
                })?;
            through_agent = dialed.through_agent;
            (dialed.channel, dialed.user)
        }
        None => (
            Channel::plain(channel::connect_any(scheduler, connect).map_err(io)?),
            caller.user.to_owned(),
        ),
    };
    stream
        .socket()
        .set_read_timeout(Some(connect))
        .map_err(io)?;
    stream
        .socket()
        .set_write_timeout(Some(connect))
        .map_err(io)?;
    let hello = ToScheduler::Hello {
        version: PROTOCOL_VERSION,
        role: Role::Client {
            user,
            machine: caller.machine.to_owned(),
        },
    };
    let mut out = farm::encode(&hello);
    if let Some(then) = then {
        out.extend_from_slice(&farm::encode(&then));
    }
    stream.write_all(&out).map_err(io)?;
    let mut buf = BytesMut::new();
    match read(&stream, &mut buf, scheduler, DEFAULT_MAX_FRAME)? {
        FromScheduler::Welcome { cache, .. } => Ok(Greeted {
            stream,
            buf,
            cache,
            through_agent,
        }),
        FromScheduler::Refused { reason } => Err(LeaseError::Refused(scheduler.to_owned(), reason)),
        other => Err(LeaseError::Protocol(
            scheduler.to_owned(),
            format!("expected welcome, got {other:?}"),
        )),
    }
}

impl Pending {
    /// Whether the request went through the user's agent.
    pub fn through_agent(&self) -> bool {
        self.through_agent
    }

    /// Wait for the answer.
    pub fn wait(self) -> Result<Answer, LeaseError> {
        let Pending {
            stream,
            mut buf,
            scheduler,
            wait,
            through_agent: _,
        } = self;
        let scheduler = scheduler.as_str();
        let deadline = Instant::now() + wait;
        match answer(&stream, &mut buf, scheduler, deadline, DEFAULT_MAX_FRAME)? {
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
            FromScheduler::RunHere { lease, .. } => {
                Ok(Answer::RunHere(HereLease { stream, id: lease }))
            }
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
        send_release(&self.stream, self.id, result, duration);
    }
}

/// The scheduler's next message other than a ping, by `deadline`, in frames of at most
/// `max_frame` bytes. A ping is answered at once: still waiting, and alive, so the
/// wait goes on.
pub(crate) fn answer(
    stream: &Channel,
    buf: &mut BytesMut,
    scheduler: &str,
    deadline: Instant,
    max_frame: u32,
) -> Result<FromScheduler, LeaseError> {
    let io = |e| LeaseError::Io(scheduler.to_owned(), e);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io(std::io::ErrorKind::TimedOut.into()));
        }
        stream.socket().set_read_timeout(Some(left)).map_err(io)?;
        match read(stream, buf, scheduler, max_frame)? {
            FromScheduler::Ping => stream
                .write_all(&farm::encode(&ToScheduler::Pong))
                .map_err(io)?,
            message => return Ok(message),
        }
    }
}

/// The next message from `scheduler`, in frames of at most `max_frame` bytes.
pub(crate) fn read(
    stream: &Channel,
    buf: &mut BytesMut,
    scheduler: &str,
    max_frame: u32,
) -> Result<FromScheduler, LeaseError> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match farm::decode(buf, max_frame) {
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
mod tests;
