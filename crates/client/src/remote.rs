//! One job on one distcc-protocol host: connect, send the request, read the reply.
//!
//! Blocking sockets with timeouts: the client is one short-lived process per job, so
//! there is nothing to multiplex. The connection is never half-closed before the reply
//! is read (a distcc server takes that as the client going away).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use bytes::BytesMut;
use ccfarm_proto::distcc::{Limits, ProtoError, Reply, ReplyDecoder, Version};

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
}

impl RemoteError {
    /// distcc's exit code for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            RemoteError::Resolve(_) | RemoteError::Connect { .. } => exit::CONNECT_FAILED,
            RemoteError::Io { source, .. } if is_timeout(source) => exit::TIMEOUT,
            RemoteError::Io { .. } | RemoteError::Closed(_) => exit::IO_ERROR,
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
pub struct Abort(TcpStream);

impl Abort {
    /// Shut the connection down in both directions.
    pub fn abort(&self) {
        // A socket the server already closed may refuse the shutdown; the job's own
        // read or write reports that failure anyway.
        let _ = self.0.shutdown(Shutdown::Both);
    }
}

/// An open connection to a host, for one job.
pub struct Connection {
    stream: TcpStream,
    addr: String,
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
                    return Ok(Connection { stream, addr });
                }
                Err(e) => last = Some(e),
            }
        }
        let source = last.unwrap_or_else(|| std::io::Error::other("no address"));
        Err(RemoteError::Connect { addr, source })
    }

    /// A handle that breaks this connection off from another thread.
    pub fn abort_handle(&self) -> std::io::Result<Abort> {
        self.stream.try_clone().map(Abort)
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
}
