//! The reply's way back: the committed server's frames forwarded to the client, the
//! bulk bodies spliced through the pipe, and the lease released with the result.

use std::io;

use ccfarm_proto::distcc::token::{HEADER_LEN, parse_header};
use ccfarm_proto::distcc::{ProtoError, Token, Version};
use ccfarm_proto::farm::JobResult;
use nix::fcntl::{SpliceFFlags, splice};
use tokio::io::Interest;
use tokio::net::TcpStream;
use tracing::{debug, info, warn};

use super::Conn;
use super::io::{chunk, read_exact, ready, write_all};
use super::lease::Committed;

impl Conn {
    /// Forward the committed server's reply and release the lease with the result.
    pub(super) async fn forward(&self, committed: Committed, version: Version) {
        let Committed {
            lease,
            server,
            head,
            status,
            started,
            attempts,
        } = committed;
        let host = lease.addr;
        let end = self.forward_reply(&server, &head, status, version).await;
        let took = started.elapsed();
        let result = match &end {
            Ok(()) | Err(Side::Client(_)) => judge(status),
            Err(Side::Server(_)) => JobResult::TransportFailure,
        };
        lease.release(result, took);
        match end {
            Ok(()) => debug!(
                peer = %self.peer,
                server = %host,
                ?result,
                ?took,
                attempts,
                "distcc proxy: job done"
            ),
            Err(Side::Server(why)) => warn!(
                peer = %self.peer,
                server = %host,
                "distcc proxy: the server failed in the middle of its reply ({why}); the client's connection is closed"
            ),
            Err(Side::Client(why)) => info!(
                peer = %self.peer,
                server = %host,
                "distcc proxy: the client did not take its reply: {why}"
            ),
        }
    }

    async fn forward_reply(
        &self,
        server: &TcpStream,
        head: &[u8],
        status: u32,
        version: Version,
    ) -> Result<(), Side> {
        let limits = &self.settings.limits;
        let io = self.settings.io_timeout;
        write_all(&self.client, head, io)
            .await
            .map_err(Side::Client)?;
        // The reply's frames after DONE and STAT, in order (see ccfarm_proto's Reply).
        let mut frames = vec![Token::Serr, Token::Sout, Token::Doto];
        if version == Version::V3 && status == 0 {
            frames.push(Token::Dotd);
        }
        let mut total: u64 = 0;
        for token in frames {
            let mut header = [0u8; HEADER_LEN];
            read_exact(server, &mut header, io)
                .await
                .map_err(|source| Side::Server(ServerFault::Header { token, source }))?;
            let (_, len) = parse_header(&header, &[token])
                .map_err(|e| Side::Server(ServerFault::Grammar(e)))?;
            total += u64::from(len);
            if len > limits.max_body_len || total > limits.max_message_len {
                return Err(Side::Server(ServerFault::TooLong {
                    token,
                    len,
                    body: limits.max_body_len,
                    message: limits.max_message_len,
                }));
            }
            write_all(&self.client, &header, io)
                .await
                .map_err(Side::Client)?;
            self.splice_between(server, &self.client, u64::from(len))
                .await?;
        }
        Ok(())
    }

    /// Move `len` bytes from the server to the client through the pipe.
    async fn splice_between(
        &self,
        from: &TcpStream,
        to: &TcpStream,
        mut len: u64,
    ) -> Result<(), Side> {
        let io = self.settings.io_timeout;
        let pipe = &self.pipe;
        while len > 0 {
            let want = chunk(len, pipe.capacity);
            let moved = loop {
                ready(from, Interest::READABLE, io)
                    .await
                    .map_err(|e| Side::Server(ServerFault::Io(e)))?;
                match from.try_io(Interest::READABLE, || {
                    splice(
                        from,
                        None,
                        &pipe.write,
                        None,
                        want,
                        SpliceFFlags::SPLICE_F_NONBLOCK | SpliceFFlags::SPLICE_F_MOVE,
                    )
                    .map_err(io::Error::from)
                }) {
                    Ok(0) => return Err(Side::Server(ServerFault::ClosedEarly)),
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => return Err(Side::Server(ServerFault::Io(e))),
                }
            };
            len -= moved as u64;
            let mut left = moved;
            while left > 0 {
                ready(to, Interest::WRITABLE, io)
                    .await
                    .map_err(Side::Client)?;
                match to.try_io(Interest::WRITABLE, || {
                    splice(
                        &pipe.read,
                        None,
                        to,
                        None,
                        left,
                        SpliceFFlags::SPLICE_F_NONBLOCK | SpliceFFlags::SPLICE_F_MOVE,
                    )
                    .map_err(io::Error::from)
                }) {
                    Ok(n) => left -= n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => return Err(Side::Client(e)),
                }
            }
        }
        Ok(())
    }
}

/// Which side broke a forwarding: the server is judged for it, the client is not.
#[derive(Debug)]
enum Side {
    Server(ServerFault),
    Client(io::Error),
}

/// How a committed server failed in the middle of its reply.
#[derive(Debug, thiserror::Error)]
enum ServerFault {
    #[error("reading {token}: {source}")]
    Header {
        token: Token,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Grammar(ProtoError),
    #[error("{token} of {len} bytes is over the limit ({body} per body, {message} per reply)")]
    TooLong {
        token: Token,
        len: u32,
        body: u32,
        message: u64,
    },
    #[error("the connection closed early")]
    ClosedEarly,
    #[error(transparent)]
    Io(io::Error),
}

/// The result for the scheduler, as the ccfarm client judges one: the server's own
/// distcc statuses (100..=120, except "access denied", which is about the job) and a
/// compiler killed by a signal are the host's failures; any other status is the code's.
fn judge(status: u32) -> JobResult {
    let (code, signal) = ((status >> 8) & 0xff, status & 0x7f);
    if status == 0 {
        JobResult::Ok
    } else if signal != 0 || ((100..=120).contains(&code) && code != 113) {
        JobResult::TransportFailure
    } else {
        JobResult::CompileError
    }
}
