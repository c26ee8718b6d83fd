//! The agent process (`ccfarm agent`): takes requests on its local socket, hands out
//! a connection kept ready or makes one, and relays.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use ccfarm_trust::credentials::{CA_FILE, CERT_FILE, CRL_FILE, KEY_FILE};
use ccfarm_trust::tls::rustls::ClientConfig;
use ccfarm_trust::{CredentialError, Credentials};

use super::connect::{self, Failure};
use super::pool::Pool;
use super::wire::{Answer, Peer, Request, Stage};
use crate::channel::Channel;

/// The agent exits after this long with no request and no relay.
pub const IDLE_EXIT: Duration = Duration::from_secs(600);

/// How long a connection kept ready waits for the member's resumption ticket.
const TICKET_WAIT: Duration = Duration::from_millis(200);

/// How long a compile may take to send its request.
const REQUEST_DEADLINE: Duration = Duration::from_secs(5);

/// How long a compile's local connection waits, after a handoff, for its next request
/// (the server's connection follows the scheduler's once a grant comes, which may wait
/// in the scheduler's queue).
const NEXT_REQUEST: Duration = IDLE_EXIT;

/// Why the agent cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The credentials do not load.
    #[error("{0}")]
    Credentials(#[from] CredentialError),
    /// The socket cannot be made.
    #[error("the agent's socket: {0}")]
    Socket(io::Error),
}

type Key = (String, Peer);

/// The files whose change means the credentials were renewed or revoked.
#[derive(Debug, PartialEq, Eq)]
struct Stamp(Vec<Option<SystemTime>>);

impl Stamp {
    fn of(dir: &Path) -> Stamp {
        Stamp(
            [CERT_FILE, KEY_FILE, CA_FILE, CRL_FILE]
                .iter()
                .map(|f| dir.join(f).metadata().and_then(|m| m.modified()).ok())
                .collect(),
        )
    }
}

struct State {
    credentials: Arc<Credentials>,
    stamp: Stamp,
    configs: HashMap<Peer, Arc<ClientConfig>>,
    pool: Pool<Key, Channel>,
    relays: usize,
    last_request: Instant,
}

struct Agent {
    dir: PathBuf,
    state: Mutex<State>,
}

impl Agent {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn config(&self, peer: &Peer) -> Result<Arc<ClientConfig>, Failure> {
        let credentials = {
            let state = self.state();
            if let Some(config) = state.configs.get(peer) {
                return Ok(config.clone());
            }
            state.credentials.clone()
        };
        let mut config = (*connect::config(&credentials, peer)?).clone();
        // The compile continues each session from its keys (see `serve`).
        config.enable_secret_extraction = true;
        let config = Arc::new(config);
        self.state().configs.insert(peer.clone(), config.clone());
        Ok(config)
    }

    fn make(&self, key: &Key, connect: Duration) -> Result<Channel, Failure> {
        connect::connect(&key.0, self.config(&key.1)?, connect)
    }

    /// A ready connection for `key` if one is fresh and open, and whether the next
    /// is to be made (by [`Agent::refill`], once the compile has its answer).
    fn take_ready(&self, key: &Key, connect: Duration) -> (Option<Channel>, Option<Duration>) {
        let now = Instant::now();
        let taken = {
            let mut state = self.state();
            state.last_request = now;
            state.pool.take(key, connect, now)
        };
        let ready = taken.ready.filter(|channel| !channel.is_closed());
        (ready, taken.refill)
    }

    /// Make the next ready connection for `key` in the background.
    fn refill(self: &Arc<Self>, key: Key, connect: Duration) {
        let agent = self.clone();
        std::thread::spawn(move || {
            let made = agent.make(&key, connect).ok();
            // Wait for the member's resumption ticket while nobody waits for the
            // connection: the next one then resumes, half the handshake's work.
            if let Some(channel) = &made {
                let _ = channel.settle(TICKET_WAIT);
            }
            agent.state().pool.made(&key, made, Instant::now());
        });
    }

    /// Once a second: replace stale ready connections, forget members no longer
    /// wanted, reload renewed credentials; exit when idle or orphaned.
    fn tend(self: &Arc<Self>) {
        loop {
            std::thread::sleep(Duration::from_secs(1));
            if !self.dir.is_dir() {
                std::process::exit(0);
            }
            let now = Instant::now();
            let stamp = Stamp::of(&self.dir);
            let refill = {
                let mut state = self.state();
                if state.relays == 0 && now.duration_since(state.last_request) > IDLE_EXIT {
                    std::process::exit(0);
                }
                if stamp != state.stamp {
                    // Renewed or revoked: nothing made with the old credentials is
                    // handed out again. Credentials that no longer load end the agent;
                    // compiles then connect by themselves and say why.
                    match Credentials::load(&self.dir) {
                        Ok(credentials) => state.credentials = Arc::new(credentials),
                        Err(_) => std::process::exit(1),
                    }
                    state.stamp = stamp;
                    state.configs.clear();
                    state.pool.drop_ready();
                }
                state.pool.tend(now)
            };
            for (key, connect) in refill {
                self.refill(key, connect);
            }
        }
    }

    /// Answer a compile's requests on one local connection: after a handoff the
    /// compile may ask for its next connection (the server, after the scheduler) on
    /// the same one; a relay or a failure ends it.
    fn serve(self: &Arc<Self>, mut local: UnixStream) -> io::Result<()> {
        super::same_user(&local)?;
        local.set_write_timeout(Some(REQUEST_DEADLINE))?;
        let mut wait = REQUEST_DEADLINE;
        loop {
            local.set_read_timeout(Some(wait))?;
            let line = match super::read_line(&local) {
                Ok(line) => line,
                // The compile is done with the connection (or went quiet after its
                // first answer): nothing is owed to it.
                Err(_) if wait == NEXT_REQUEST => return Ok(()),
                Err(e) => return Err(e),
            };
            match self.answer(&mut local, &line)? {
                Served::HandedOff => wait = NEXT_REQUEST,
                Served::Done => return Ok(()),
            }
        }
    }

    fn answer(self: &Arc<Self>, local: &mut UnixStream, line: &str) -> io::Result<Served> {
        let request = match Request::decode(line) {
            Ok(request) => request,
            Err(e) => {
                let refusal = Answer::Failed {
                    stage: Stage::Connect,
                    why: e.to_string(),
                };
                local.write_all(refusal.encode().as_bytes())?;
                return Ok(Served::Done);
            }
        };
        let connect = Duration::from_millis(request.connect_ms);
        let key = (request.addr, request.peer);
        let (ready, refill) = self.take_ready(&key, connect);
        // The next ready connection is started after this answer, not before: its
        // thread and handshake would otherwise delay the compile that waits for it.
        let refill = Refill {
            agent: self,
            key: key.clone(),
            connect: refill,
        };
        let made = match ready {
            Some(channel) => Ok(channel),
            None => self.make(&key, connect),
        };
        let channel = match made {
            Ok(channel) => channel,
            Err(Failure { stage, source }) => {
                let failed = Answer::Failed {
                    stage,
                    why: source.to_string(),
                };
                local.write_all(failed.encode().as_bytes())?;
                return Ok(Served::Done);
            }
        };
        let user = self.state().credentials.identity.name.clone();
        // Hand the connection over when the session allows: the compile then talks to
        // the member directly, and nothing passes through here. Else relay.
        let channel = match channel.hand_off() {
            Ok(handoff) => {
                let answer = Answer::Handoff {
                    user,
                    tx: handoff.tx,
                    rx: handoff.rx,
                };
                super::send_with_socket(local, answer.encode().as_bytes(), &handoff.tcp)?;
                drop(refill);
                return Ok(Served::HandedOff);
            }
            Err(channel) => channel,
        };
        local.write_all(Answer::Ready { user }.encode().as_bytes())?;
        drop(refill);
        let idle = Some(Duration::from_millis(request.idle_ms.max(1)));
        local.set_read_timeout(idle)?;
        local.set_write_timeout(idle)?;
        channel.socket().set_read_timeout(idle)?;
        channel.socket().set_write_timeout(idle)?;
        self.state().relays += 1;
        relay(local.try_clone()?, channel);
        let mut state = self.state();
        state.relays -= 1;
        state.last_request = Instant::now();
        Ok(Served::Done)
    }
}

/// Starts the refill it holds when dropped, that is once the request is answered
/// (or its answer failed).
struct Refill<'a> {
    agent: &'a Arc<Agent>,
    key: Key,
    connect: Option<Duration>,
}

impl Drop for Refill<'_> {
    fn drop(&mut self) {
        if let Some(connect) = self.connect.take() {
            self.agent.refill(self.key.clone(), connect);
        }
    }
}

/// How a request on a local connection ended.
enum Served {
    /// A connection was handed over: the compile may ask again.
    HandedOff,
    /// Answered for good (a failure, or a relay that has ended).
    Done,
}

/// Copy both ways until either side closes or falls silent for too long; then close
/// both, so each end sees the other go. Nothing goes towards the compile before the
/// compile has spoken (every ccfarm protocol starts with the client), so the answer
/// line is all the compile reads before its own first write.
fn relay(local: UnixStream, channel: Channel) {
    let Ok(local_up) = local.try_clone() else {
        return;
    };
    let up_channel = channel.clone();
    let (spoke, first_words) = std::sync::mpsc::channel::<()>();
    let up = std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        let mut spoke = Some(spoke);
        loop {
            match (&local_up).read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if up_channel.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    if let Some(spoke) = spoke.take() {
                        let _ = spoke.send(());
                    }
                }
            }
        }
        let _ = up_channel.shutdown(Shutdown::Both);
        let _ = local_up.shutdown(Shutdown::Both);
    });
    // Also returns when the up side ends without a word (its sender dropped).
    let _ = first_words.recv();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match channel.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if (&local).write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = local.shutdown(Shutdown::Both);
    let _ = channel.shutdown(Shutdown::Both);
    let _ = up.join();
}

/// Run the agent for the credentials in `dir` until it is idle or orphaned. Returns
/// at once, successfully, if another agent already serves them.
pub fn run(dir: &Path) -> Result<(), ServeError> {
    let credentials = Credentials::load(dir)?;
    let address = super::address(dir).map_err(ServeError::Socket)?;
    let listener = match UnixListener::bind_addr(&address) {
        Ok(listener) => listener,
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => return Ok(()),
        Err(e) => return Err(ServeError::Socket(e)),
    };
    let agent = Arc::new(Agent {
        dir: dir.to_owned(),
        state: Mutex::new(State {
            credentials: Arc::new(credentials),
            stamp: Stamp::of(dir),
            configs: HashMap::new(),
            pool: Pool::default(),
            relays: 0,
            last_request: Instant::now(),
        }),
    });
    {
        let agent = agent.clone();
        std::thread::spawn(move || agent.tend());
    }
    for local in listener.incoming() {
        let Ok(local) = local else { continue };
        let agent = agent.clone();
        std::thread::spawn(move || {
            let _ = agent.serve(local);
        });
    }
    Ok(())
}
