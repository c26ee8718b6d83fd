//! One job on one distcc-protocol host: connect, send the request, read the reply.
//!
//! Blocking sockets with timeouts: the client is one short-lived process per job, so
//! there is nothing to multiplex. The connection is never half-closed before the reply
//! is read (a distcc server takes that as the client going away).

use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use bytes::BytesMut;
use ccfarm_proto::distcc::{Limits, ProtoError, Reply, ReplyDecoder, Version};
use ccfarm_proto::farm::{self, CompileHello, GrantProof};

use crate::agent::wire::Peer;
use crate::agent::{DialError, Dialer};
use crate::channel::{Channel, Socket};
use crate::exit;

/// Why a job could not be run on a host. Every variant is an infrastructure failure:
/// the host is at fault (or unreachable), never the user's code.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The host name did not resolve.
    #[error("cannot resolve {0}")]
    Resolve(String),
    /// The TCP connect failed or timed out.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// Where.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// A read or write failed or timed out.
    #[error("network error talking to {addr}: {source}")]
    Io {
        /// Where.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The server closed the connection before the reply was complete.
    #[error("{0} closed the connection without a complete reply")]
    Closed(String),
    /// The reply broke the protocol.
    #[error("protocol error from {addr}: {source}")]
    Protocol {
        /// Where.
        addr: String,
        /// Why.
        source: ProtoError,
    },
    /// The connection cannot be made as the grant requires (credentials missing or
    /// unusable).
    #[error("cannot reach {addr} securely: {why}")]
    Refused {
        /// Where.
        addr: String,
        /// Why.
        why: String,
    },
    /// The job was broken off (by a [`Breaker`]) before its connection was open.
    #[error("the job on {0} was broken off")]
    BrokenOff(String),
}

impl RemoteError {
    /// distcc's exit code for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            RemoteError::Resolve(_) | RemoteError::Connect { .. } | RemoteError::Refused { .. } => {
                exit::CONNECT_FAILED
            }
            RemoteError::Io { source, .. } if is_timeout(source) => exit::TIMEOUT,
            RemoteError::Io { .. } | RemoteError::Closed(_) | RemoteError::BrokenOff(_) => {
                exit::IO_ERROR
            }
            RemoteError::Protocol { .. } => exit::PROTOCOL_ERROR,
        }
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
    )
}

/// Network timeouts.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// For the TCP connect.
    pub connect: Duration,
    /// For each read and write (the wait for the reply includes the compile).
    pub io: Duration,
}

/// Breaks a [`Connection`] off from another thread: the job's blocked read or write
/// returns at once (as a closed connection or an I/O error) instead of waiting for the
/// I/O timeout, and the server sees the client go away.
#[derive(Debug)]
pub struct Abort(Socket);

impl Abort {
    fn of(channel: &Channel) -> std::io::Result<Abort> {
        channel.try_clone_socket().map(Abort)
    }
}

impl Abort {
    /// Shut the connection down in both directions.
    pub fn abort(&self) {
        // A socket the server already closed may refuse the shutdown; the job's own
        // read or write reports that failure anyway.
        let _ = self.0.shutdown(Shutdown::Both);
    }
}

/// Breaks a job's connection off from another thread, whether or not the connection
/// is open yet: a job running in its own thread may still be connecting when another
/// thread decides it is no longer wanted, and an [`Abort`] only exists once it is open.
#[derive(Debug, Default)]
pub struct Breaker {
    state: Mutex<Switch>,
}

#[derive(Debug, Default)]
struct Switch {
    tripped: bool,
    abort: Option<Abort>,
}

impl Breaker {
    /// Break the job off: its open connection at once, a connection still being made
    /// as soon as [`Breaker::guard`] sees it.
    pub fn trip(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.tripped = true;
        if let Some(abort) = &state.abort {
            abort.abort();
        }
    }

    /// Whether [`Breaker::trip`] was called.
    pub fn tripped(&self) -> bool {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .tripped
    }

    /// Put `connection` under this breaker; an error if it was already tripped (the
    /// job is no longer wanted, so it must not be sent). A connection that cannot be
    /// duplicated for the abort runs unguarded, bounded by its I/O timeout, as jobs
    /// did before breakers: better than failing a job over a missing descriptor.
    pub fn guard(&self, connection: &Connection) -> Result<(), RemoteError> {
        // Under the lock, so that a trip either sees the handle or is seen here.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.tripped {
            return Err(RemoteError::BrokenOff(connection.addr.clone()));
        }
        state.abort = connection.abort_handle().ok();
        Ok(())
    }
}

/// An open connection to a host, for one job.
pub struct Connection {
    stream: Channel,
    addr: String,
    through_agent: bool,
}

impl Connection {
    /// Connect to `host:port` (any of its addresses) within the connect timeout.
    pub fn open(host: &str, port: u16, timeouts: Timeouts) -> Result<Connection, RemoteError> {
        let addr = format!("{host}:{port}");
        let addrs: Vec<SocketAddr> = (host, port)
            .to_socket_addrs()
            .map_err(|_| RemoteError::Resolve(addr.clone()))?
            .collect();
        let mut last = None;
        for a in &addrs {
            match TcpStream::connect_timeout(a, timeouts.connect) {
                Ok(stream) => {
                    let io = |source| RemoteError::Io {
                        addr: addr.clone(),
                        source,
                    };
                    stream.set_nodelay(true).map_err(io)?;
                    stream.set_read_timeout(Some(timeouts.io)).map_err(io)?;
                    stream.set_write_timeout(Some(timeouts.io)).map_err(io)?;
                    return Ok(Connection {
                        stream: Channel::plain(stream),
                        addr,
                        through_agent: false,
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        let source = last.unwrap_or_else(|| std::io::Error::other("no address"));
        Err(RemoteError::Connect { addr, source })
    }

    /// Connect to the server a secure grant names, over TLS: its certificate must name
    /// that server, ours proves the user, and the grant's ticket goes first.
    pub fn open_granted(
        host: &str,
        port: u16,
        timeouts: Timeouts,
        dialer: &Dialer,
        proof: &GrantProof,
    ) -> Result<Connection, RemoteError> {
        let addr = format!("{host}:{port}");
        let dialed = dialer
            .dial(
                &addr,
                Peer::Server(proof.server.clone()),
                timeouts.connect,
                timeouts.io,
            )
            .map_err(|e| match e {
                DialError::Credentials(why) => RemoteError::Refused {
                    addr: addr.clone(),
                    why,
                },
                DialError::Connect { source, .. } | DialError::Handshake { source, .. } => {
                    RemoteError::Connect {
                        addr: addr.clone(),
                        source,
                    }
                }
            })?;
        let (stream, through_agent) = (dialed.channel, dialed.through_agent);
        let io = |source| RemoteError::Io {
            addr: addr.clone(),
            source,
        };
        stream
            .socket()
            .set_read_timeout(Some(timeouts.io))
            .map_err(io)?;
        stream
            .socket()
            .set_write_timeout(Some(timeouts.io))
            .map_err(io)?;
        let mut connection = Connection {
            stream,
            addr,
            through_agent,
        };
        connection.send(&farm::encode(&CompileHello {
            ticket: Some(proof.ticket.clone()),
        }))?;
        Ok(connection)
    }

    /// Whether the user's agent made the connection.
    pub fn through_agent(&self) -> bool {
        self.through_agent
    }

    /// Whether this process continues a TLS session the agent handed over (rather
    /// than the agent relaying it).
    pub fn handed_over(&self) -> bool {
        self.stream.handed_over()
    }

    /// A handle that breaks this connection off from another thread.
    pub fn abort_handle(&self) -> std::io::Result<Abort> {
        Abort::of(&self.stream)
    }

    /// Send request bytes.
    pub fn send(&mut self, bytes: &[u8]) -> Result<(), RemoteError> {
        self.stream
            .write_all(bytes)
            .map_err(|source| RemoteError::Io {
                addr: self.addr.clone(),
                source,
            })
    }

    /// Read the whole reply to a request of `version`.
    pub fn read_reply(&mut self, version: Version) -> Result<Reply, RemoteError> {
        let mut decoder = ReplyDecoder::new(version, Limits::default());
        let mut buf = BytesMut::with_capacity(64 * 1024);
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(reply)) => return Ok(reply),
                Ok(None) => {}
                Err(source) => {
                    return Err(RemoteError::Protocol {
                        addr: self.addr.clone(),
                        source,
                    });
                }
            }
            let n = self
                .stream
                .read(&mut chunk)
                .map_err(|source| RemoteError::Io {
                    addr: self.addr.clone(),
                    source,
                })?;
            if n == 0 {
                return Err(RemoteError::Closed(self.addr.clone()));
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::net::TcpListener;
    use std::time::Instant;

    use super::*;

    #[test]
    fn abort_ends_a_wait_for_a_reply_that_never_comes() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let timeouts = Timeouts {
            connect: Duration::from_secs(5),
            io: Duration::from_secs(120),
        };
        let mut connection = Connection::open("127.0.0.1", port, timeouts).unwrap();
        // The "server" accepts and never answers.
        let (mut held, _) = listener.accept().unwrap();
        let abort = connection.abort_handle().unwrap();
        let aborter = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            abort.abort();
        });
        let started = Instant::now();
        let result = connection.read_reply(Version::V1);
        assert!(
            matches!(result, Err(RemoteError::Closed(_) | RemoteError::Io { .. })),
            "{result:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        aborter.join().unwrap();
        // And the server sees the client go away.
        held.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert_eq!(held.read(&mut [0u8; 16]).unwrap(), 0);
    }

    #[test]
    fn a_breaker_tripped_before_the_connection_is_open_stops_the_job() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let timeouts = Timeouts {
            connect: Duration::from_secs(5),
            io: Duration::from_secs(120),
        };
        let breaker = Breaker::default();
        breaker.trip();
        let connection = Connection::open("127.0.0.1", port, timeouts).unwrap();
        assert!(matches!(
            breaker.guard(&connection),
            Err(RemoteError::BrokenOff(_))
        ));
    }

    #[test]
    fn a_breaker_tripped_later_ends_a_wait_for_a_reply() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let timeouts = Timeouts {
            connect: Duration::from_secs(5),
            io: Duration::from_secs(120),
        };
        let mut connection = Connection::open("127.0.0.1", port, timeouts).unwrap();
        let (_held, _) = listener.accept().unwrap();
        let breaker = Breaker::default();
        breaker.guard(&connection).unwrap();
        let started = Instant::now();
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(200));
                breaker.trip();
            });
            let result = connection.read_reply(Version::V1);
            assert!(
                matches!(result, Err(RemoteError::Closed(_) | RemoteError::Io { .. })),
                "{result:?}"
            );
        });
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
