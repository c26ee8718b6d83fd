//! The request's way in: client socket → spool file, frame by frame as the distcc
//! grammar's walker directs, publishing how far it has come to the forwarding side.

use std::io;
use std::os::unix::fs::FileExt;

use ccfarm_proto::distcc::token::HEADER_LEN;
use ccfarm_proto::distcc::{Expect, Frame, RequestWalker, Token, Version};
use ccfarm_proto::farm::JobDescription;
use nix::fcntl::{SpliceFFlags, splice};
use tokio::io::Interest;
use tokio::sync::watch;

use super::io::{chunk, read_exact, ready};
use super::{Conn, Invalid};

/// Argument text kept to name the job's source: the name is only for the scheduler's
/// history and logs, and must not let a client make the proxy hold a huge command line.
const ARGV_KEPT: usize = 1 << 20;

/// How far the request has come, from the pump to the driver.
#[derive(Debug, Clone, Default)]
pub(super) struct Progress {
    /// Bytes of the request in the spool.
    pub(super) spooled: u64,
    /// The protocol version, once `DIST` has been read.
    pub(super) version: Option<Version>,
    /// What to ask the scheduler for, once the command line has been read.
    pub(super) job: Option<JobDescription>,
    /// The whole request is in the spool.
    pub(super) complete: bool,
}

/// How the pump stopped. It never stops on its own once the request is complete: it
/// then waits for the client to hang up, which is how a vanished client is noticed
/// while its job compiles.
#[derive(Debug)]
pub(super) enum PumpEnd {
    /// The client closed or reset the connection.
    ClientGone,
    /// The client sent nothing for the I/O timeout in the middle of its request.
    Stalled,
    /// The client did not send its whole request within the request deadline.
    TooSlow,
    /// The client broke the protocol or a limit.
    Invalid(Invalid),
    /// The spool could not be written (disk full...).
    Spool(io::Error),
}

impl Conn {
    /// Read the request into the spool, publishing progress; then wait for the client
    /// to hang up.
    pub(super) async fn pump(&self, tx: &watch::Sender<Progress>) -> PumpEnd {
        let mut spooler = Spooler {
            conn: self,
            tx,
            at: 0,
        };
        match tokio::time::timeout(self.settings.request_deadline, spooler.request()).await {
            Ok(Ok(())) => {}
            Ok(Err(end)) => return end,
            Err(_) => return PumpEnd::TooSlow,
        }
        tx.send_modify(|p| p.complete = true);
        // distcc sends one request per connection and never half-closes before reading
        // the reply, so the next thing from the client is its hang-up.
        loop {
            if self.client.readable().await.is_err() {
                return PumpEnd::ClientGone;
            }
            let mut byte = [0u8; 1];
            match self.client.try_read(&mut byte) {
                Ok(0) => return PumpEnd::ClientGone,
                Ok(_) => return PumpEnd::Invalid(Invalid::TrailingBytes),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(_) => return PumpEnd::ClientGone,
            }
        }
    }
}

/// Walks the request frame by frame as the grammar's walker says, spooling everything:
/// headers and small bodies through memory, bulk bodies (`DOTI`, `FILE`) by splice.
struct Spooler<'a> {
    conn: &'a Conn,
    tx: &'a watch::Sender<Progress>,
    /// Bytes in the spool.
    at: u64,
}

impl Spooler<'_> {
    async fn request(&mut self) -> Result<(), PumpEnd> {
        let mut walker = RequestWalker::new(self.conn.settings.limits.clone());
        // Only what the scheduler is told is kept; the arguments themselves are in the
        // spool.
        let mut argv = Vec::new();
        let mut kept = 0;
        loop {
            let expected = match walker.expect() {
                Expect::Complete => return Ok(()),
                Expect::Header(expected) => expected,
                Expect::Body { .. } => unreachable!("each body is moved whole after its header"),
            };
            if expected == [Token::Nfil] {
                // A pump job's size is spread over its files; the scheduler goes by the
                // job's history and its own estimate, as for a client that sends no size.
                self.publish(&argv, None);
            }
            let mut header = [0u8; HEADER_LEN];
            self.read(&mut header).await?;
            let frame = walker.header(&header).map_err(invalid)?;
            self.spool(&header)?;
            let body = match frame {
                Frame::Version(version) => {
                    self.tx.send_modify(|p| p.version = Some(version));
                    continue;
                }
                Frame::Count {
                    token: Token::Argc,
                    count: 0,
                } => return Err(PumpEnd::Invalid(Invalid::NoArguments)),
                Frame::Count { .. } => continue,
                Frame::Body(body) => body,
            };
            if body.token == Token::Doti {
                // The lease is asked for once the preprocessed source's length is known,
                // not with the arguments: distcc sends those and then runs the
                // preprocessor, which would hold a slot idle meanwhile. The scheduler then
                // places the job by its size, as it does a ccfarm client's. An LZO body's
                // length says little about the source's and would mislead the size model,
                // so it is not passed on.
                let size = (!body.compressed).then_some(u64::from(body.len));
                self.publish(&argv, size);
            }
            if body.is_bulk() {
                self.bulk(body.len).await?;
            } else {
                let data = self.small(body.len).await?;
                if body.token == Token::Argv && kept + data.len() <= ARGV_KEPT {
                    kept += data.len();
                    argv.push(String::from_utf8_lossy(&data).into_owned());
                }
            }
            walker.body(body.len as usize).map_err(invalid)?;
        }
    }

    /// Tell the driver what to ask the scheduler for. The source is named as ccfarmd
    /// and the ccfarm client name it.
    fn publish(&self, argv: &[String], preprocessed_bytes: Option<u64>) {
        let job = JobDescription {
            compiler: argv.first().cloned().unwrap_or_default(),
            source: ccfarm_compiler::source_name(argv)
                .unwrap_or_default()
                .to_owned(),
            preprocessed_bytes,
            previous_ms: None,
            previous_server: None,
            compiler_identity: None,
            avoid: Vec::new(),
            local_slots: 0,
        };
        self.tx.send_modify(|p| p.job = Some(job));
    }

    /// Read and spool a body small enough to hold (an argument, a path); the walker has
    /// checked its length against its cap.
    async fn small(&mut self, len: u32) -> Result<Vec<u8>, PumpEnd> {
        let mut body = vec![0u8; len as usize];
        self.read(&mut body).await?;
        self.spool(&body)?;
        Ok(body)
    }

    /// Splice a bulk body from the client into the spool; the walker has checked its
    /// length against its cap.
    async fn bulk(&mut self, len: u32) -> Result<(), PumpEnd> {
        let conn = self.conn;
        let pipe = &conn.pipe;
        let mut left = u64::from(len);
        while left > 0 {
            let want = chunk(left, pipe.capacity);
            let moved = loop {
                ready(&conn.client, Interest::READABLE, conn.settings.io_timeout)
                    .await
                    .map_err(client_error)?;
                match conn.client.try_io(Interest::READABLE, || {
                    splice(
                        &conn.client,
                        None,
                        &pipe.write,
                        None,
                        want,
                        SpliceFFlags::SPLICE_F_NONBLOCK | SpliceFFlags::SPLICE_F_MOVE,
                    )
                    .map_err(io::Error::from)
                }) {
                    Ok(0) => return Err(PumpEnd::ClientGone),
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => return Err(client_error(e)),
                }
            };
            // Drained at once, with no await in between, so the pipe is empty whenever
            // this task waits. A regular file never says "would block"; the write goes
            // to the page cache, which is why it is done inline on the runtime.
            let mut offset = self.at as i64;
            let mut pending = moved;
            while pending > 0 {
                match splice(
                    &pipe.read,
                    None,
                    &conn.spool,
                    Some(&mut offset),
                    pending,
                    SpliceFFlags::SPLICE_F_MOVE,
                ) {
                    Ok(0) => {
                        return Err(PumpEnd::Spool(io::Error::new(
                            io::ErrorKind::WriteZero,
                            "the spool took no bytes",
                        )));
                    }
                    Ok(n) => pending -= n,
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => return Err(PumpEnd::Spool(e.into())),
                }
            }
            self.at += moved as u64;
            left -= moved as u64;
            let at = self.at;
            self.tx.send_modify(|p| p.spooled = at);
        }
        Ok(())
    }

    async fn read(&self, buf: &mut [u8]) -> Result<(), PumpEnd> {
        read_exact(&self.conn.client, buf, self.conn.settings.io_timeout)
            .await
            .map_err(client_error)
    }

    fn spool(&mut self, bytes: &[u8]) -> Result<(), PumpEnd> {
        self.conn
            .spool
            .write_all_at(bytes, self.at)
            .map_err(PumpEnd::Spool)?;
        self.at += bytes.len() as u64;
        let at = self.at;
        self.tx.send_modify(|p| p.spooled = at);
        Ok(())
    }
}

fn invalid(e: ccfarm_proto::distcc::ProtoError) -> PumpEnd {
    PumpEnd::Invalid(Invalid::Grammar(e))
}

fn client_error(e: io::Error) -> PumpEnd {
    match e.kind() {
        io::ErrorKind::TimedOut => PumpEnd::Stalled,
        _ => PumpEnd::ClientGone,
    }
}
