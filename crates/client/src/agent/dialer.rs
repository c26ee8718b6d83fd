//! How a compile reaches a secure farm member: through the user's agent when one
//! answers, else by itself (and the agent is started for the compiles that follow).

use std::io::{self, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use ccfarm_trust::{CredentialError, Credentials};

use super::connect::{self, Failure};
use super::wire::{Answer, Peer, Request, Stage};
use crate::channel::{Channel, Handoff};

/// Why a secure connection could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// The user's credentials cannot be used.
    #[error("CCFARM_CREDENTIALS: {0}")]
    Credentials(String),
    /// No TCP connection to the member.
    #[error("cannot connect to {addr}: {source}")]
    Connect { addr: String, source: io::Error },
    /// The TLS handshake failed, or the member is not the one expected.
    #[error("TLS with {addr}: {source}")]
    Handshake { addr: String, source: io::Error },
}

impl DialError {
    fn new(addr: &str, stage: Stage, source: io::Error) -> DialError {
        let addr = addr.to_owned();
        match stage {
            Stage::Connect => DialError::Connect { addr, source },
            Stage::Handshake => DialError::Handshake { addr, source },
            Stage::Credentials => DialError::Credentials(source.to_string()),
        }
    }
}

/// A secure connection: the channel, and the user the credentials prove.
pub struct Dialed {
    /// Plaintext to the agent, or TLS to the member.
    pub channel: Channel,
    /// The identity's name, as the hello must give it.
    pub user: String,
    /// Whether the agent made the connection.
    pub through_agent: bool,
}

/// Makes the TLS connections of one compile, for one credential directory.
pub struct Dialer {
    dir: PathBuf,
    use_agent: bool,
    /// Set once the agent was found missing and started: a compile starts it once.
    started: AtomicBool,
    /// Loaded only if the compile connects by itself.
    credentials: OnceLock<Result<Credentials, Arc<CredentialError>>>,
    /// The local connection to the agent after a handoff, for the next request.
    agent: Mutex<Option<UnixStream>>,
    /// A connection being made ahead of need (see [`Dialer::dial_ahead`]).
    ahead: Mutex<Option<Ahead>>,
}

/// A connection made in the background, for the `dial` that asks for the same member.
struct Ahead {
    addr: String,
    peer: Peer,
    made: Receiver<Result<Dialed, DialError>>,
    started: Instant,
}

/// A connection made ahead is used only this soon after it was started: members cut
/// a connection that says nothing for ten seconds, and a long preprocessing must not
/// leave the request to a connection about to be cut.
const AHEAD_FRESH: Duration = super::pool::READY_FOR;

impl Dialer {
    /// A dialer for the credentials in `dir`, through the agent if `use_agent`.
    pub fn new(dir: &Path, use_agent: bool) -> Dialer {
        Dialer {
            dir: dir.to_owned(),
            use_agent,
            started: AtomicBool::new(false),
            credentials: OnceLock::new(),
            agent: Mutex::new(None),
            ahead: Mutex::new(None),
        }
    }

    /// Start connecting to `peer` at `addr` in the background; the next [`dial`] of
    /// the same member takes the result. The scheduler connection is made this way
    /// while the preprocessor runs, so its setup (the agent's handoff, or a compile's
    /// own handshake) is off the job's path. Nothing happens if one is already under
    /// way.
    ///
    /// [`dial`]: Dialer::dial
    pub fn dial_ahead(&'static self, addr: &str, peer: Peer, connect: Duration, idle: Duration) {
        let mut ahead = self.ahead.lock().unwrap_or_else(PoisonError::into_inner);
        if ahead.is_some() {
            return;
        }
        let (tx, made) = mpsc::channel();
        let (a, p) = (addr.to_owned(), peer.clone());
        let spawned = std::thread::Builder::new()
            .name("dial-ahead".into())
            .spawn(move || {
                let _ = tx.send(self.dial_now(&a, p, connect, idle));
            });
        if spawned.is_ok() {
            *ahead = Some(Ahead {
                addr: addr.to_owned(),
                peer,
                made,
                started: Instant::now(),
            });
        }
    }

    /// Connect to `peer` at `addr`: the handshake and connect bounded by `connect`,
    /// the relay's silences (through the agent) by `idle`.
    pub fn dial(
        &self,
        addr: &str,
        peer: Peer,
        connect: Duration,
        idle: Duration,
    ) -> Result<Dialed, DialError> {
        let ahead = {
            let mut ahead = self.ahead.lock().unwrap_or_else(PoisonError::into_inner);
            match ahead.take() {
                Some(a) if a.addr == addr && a.peer == peer => {
                    Some(a).filter(|a| a.started.elapsed() < AHEAD_FRESH)
                }
                other => {
                    *ahead = other;
                    None
                }
            }
        };
        // A failure made ahead is not trusted to stand for this attempt: the member
        // may have come back since, so it is tried again now.
        if let Some(Ok(dialed)) = ahead.and_then(|a| a.made.recv().ok()) {
            return Ok(dialed);
        }
        self.dial_now(addr, peer, connect, idle)
    }

    fn dial_now(
        &self,
        addr: &str,
        peer: Peer,
        connect: Duration,
        idle: Duration,
    ) -> Result<Dialed, DialError> {
        if self.use_agent {
            let request = Request {
                peer: peer.clone(),
                addr: addr.to_owned(),
                connect_ms: connect.as_millis() as u64,
                idle_ms: idle.as_millis() as u64,
            };
            match self.through_agent(&request, connect) {
                Ok(Ok((channel, user))) => {
                    return Ok(Dialed {
                        channel,
                        user,
                        through_agent: true,
                    });
                }
                // The agent reached the member and failed as a direct attempt would:
                // trying again directly would only double the wait.
                Ok(Err((stage, why))) => {
                    return Err(DialError::new(addr, stage, io::Error::other(why)));
                }
                Err(_) => self.start_agent(),
            }
        }
        let credentials = self
            .credentials
            .get_or_init(|| Credentials::load(&self.dir).map_err(Arc::new))
            .as_ref()
            .map_err(|e| DialError::Credentials(e.to_string()))?;
        let to = |Failure { stage, source }| DialError::new(addr, stage, source);
        let config = connect::config(credentials, &peer).map_err(to)?;
        let channel = connect::connect(addr, config, connect).map_err(to)?;
        Ok(Dialed {
            channel,
            user: credentials.identity.name.clone(),
            through_agent: false,
        })
    }

    /// Start the agent in the background for the compiles that follow; this one goes
    /// on by itself. A second agent started by a concurrent compile finds the name
    /// taken and exits.
    fn start_agent(&self) {
        if self.started.swap(true, Ordering::Relaxed) {
            return;
        }
        // Only the real `ccfarm` (or a copy named distcc) has the agent's command: a
        // program that links this library would take the arguments for its own.
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        if !exe
            .file_name()
            .is_some_and(|name| name == "ccfarm" || name == "distcc")
        {
            return;
        }
        let _ = Command::new(exe)
            .arg("agent")
            .arg("--credentials")
            .arg(&self.dir)
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn();
    }
}

type Reached = Result<(Channel, String), (Stage, String)>;

impl Dialer {
    /// Ask the agent for the connection, on the local connection kept from the last
    /// handoff if it still works, else on a new one. The outer error: no usable agent
    /// (none running, another user's, or not speaking this version); the inner one:
    /// the agent's own attempt failed.
    fn through_agent(&self, request: &Request, connect: Duration) -> io::Result<Reached> {
        let kept = self
            .agent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(stream) = kept
            && let Ok(reached) = self.ask_agent(stream, request, connect)
        {
            return Ok(reached);
        }
        let stream = UnixStream::connect_addr(&super::address(&self.dir)?)?;
        super::same_user(&stream)?;
        self.ask_agent(stream, request, connect)
    }

    fn ask_agent(
        &self,
        mut stream: UnixStream,
        request: &Request,
        connect: Duration,
    ) -> io::Result<Reached> {
        // The agent's own connect and handshake are bounded by `connect`; a second more
        // covers its answer.
        let bound = Some(connect + Duration::from_secs(1));
        stream.set_read_timeout(bound)?;
        stream.set_write_timeout(bound)?;
        let line = request.encode().map_err(io::Error::other)?;
        stream.write_all(line.as_bytes())?;
        let (answer, socket) = super::read_line_with_socket(&stream)?;
        match Answer::decode(&answer).map_err(io::Error::other)? {
            Answer::Ready { user } => Ok(Ok((Channel::through_agent(stream), user))),
            Answer::Handoff { user, tx, rx } => {
                let socket = socket.ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidData, "a handoff without its socket")
                })?;
                let tcp = std::net::TcpStream::from(socket);
                let channel = Channel::handed(Handoff { tcp, tx, rx })?;
                // The agent waits on this connection for the compile's next request.
                *self.agent.lock().unwrap_or_else(PoisonError::into_inner) = Some(stream);
                Ok(Ok((channel, user)))
            }
            Answer::Failed { stage, why } => Ok(Err((stage, why))),
        }
    }
}
