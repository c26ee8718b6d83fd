//! Choosing a server: leases taken one after another until a server answers, the
//! spool replayed to each from its first byte while the client keeps sending into it.

use std::io;
use std::time::{Duration, Instant};

use ccfarm_proto::distcc::token::{HEADER_LEN, parse_header};
use ccfarm_proto::distcc::{ProtoError, Token, Version};
use ccfarm_proto::farm::JobResult;
use nix::sys::sendfile::sendfile64;
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::timeout;
use tracing::info;

use super::spool::Progress;
use super::{BUSY, Conn, user_of};
use crate::handle::{Handle, InternalLease, NoLease};

/// What the driver decided.
pub(super) enum Verdict {
    /// A server answered; its `DONE` and `STAT` headers are held back in `head`.
    Committed(Committed),
    /// No server will run this job.
    Refuse(String),
    /// The shared result cache had the reply: no server is needed.
    Cached(ccfarm_proto::distcc::Reply),
}

pub(super) struct Committed {
    pub(super) lease: InternalLease,
    pub(super) server: TcpStream,
    pub(super) head: [u8; 2 * HEADER_LEN],
    pub(super) status: u32,
    pub(super) started: Instant,
    pub(super) attempts: u32,
}

/// Why a server was left before any of its reply reached the client, so that another
/// may be tried.
#[derive(Debug, thiserror::Error)]
pub(super) enum AttemptError {
    #[error("cannot connect: {0}")]
    Connect(#[source] io::Error),
    #[error("no connection within {0:?}")]
    ConnectTimeout(Duration),
    #[error("sending the request: {0}")]
    Send(#[source] io::Error),
    #[error("the server closed the connection without a reply")]
    Closed,
    #[error("reading the reply: {0}")]
    Read(#[source] io::Error),
    #[error("unreadable reply: {0}")]
    Unreadable(#[source] ProtoError),
    #[error("the reply is protocol {replied}, the request {requested}")]
    Version { replied: u32, requested: u32 },
    #[error("the server is busy")]
    Busy,
    #[error("the scheduler revoked the lease (the server went down)")]
    Revoked,
}

impl Conn {
    /// Wait for the command line, then take leases until a server answers.
    pub(super) async fn drive(
        &self,
        handle: &Handle,
        mut rx: watch::Receiver<Progress>,
    ) -> Verdict {
        let (version, job) = loop {
            {
                let p = rx.borrow_and_update();
                if let (Some(version), Some(job)) = (p.version, &p.job) {
                    break (version, job.clone());
                }
            }
            if rx.changed().await.is_err() {
                // The pump has stopped; the caller handles that.
                std::future::pending::<()>().await;
            }
        };
        let user = user_of(self.peer);
        let mut failures = Vec::new();
        // Grants of servers that cannot take this job's protocol, held while asking
        // again so that the scheduler places the next one elsewhere if it can.
        let mut unsuitable = Vec::new();
        for attempt in 1..=self.settings.attempts {
            let mut lease = match handle.lease(&user, job.clone()).await {
                Ok(lease) => lease,
                Err(NoLease::CompileLocally(reason)) => {
                    return Verdict::Refuse(format!(
                        "the scheduler has no server for this job ({reason})"
                    ));
                }
                Err(NoLease::Gone) => {
                    return Verdict::Refuse("the scheduler is shutting down".into());
                }
            };
            if version.compressed() && !lease.lzo {
                failures.push(format!(
                    "{} does not take protocol {} (LZO); set lzo = true on its [[hosts]] \
                     entry if it does, or drop \",lzo\" from DISTCC_HOSTS",
                    lease.addr,
                    version.number()
                ));
                unsuitable.push(lease);
                continue;
            }
            unsuitable.clear();
            let started = Instant::now();
            match self.attempt(&mut rx, &mut lease, version).await {
                Ok((server, head, status)) => {
                    return Verdict::Committed(Committed {
                        lease,
                        server,
                        head,
                        status,
                        started,
                        attempts: attempt,
                    });
                }
                Err(why) => {
                    info!(
                        peer = %self.peer,
                        server = %lease.addr,
                        attempt,
                        "distcc proxy: {why}; trying another server"
                    );
                    failures.push(format!("{}: {why}", lease.addr));
                    lease.release(JobResult::TransportFailure, started.elapsed());
                }
            }
        }
        Verdict::Refuse(format!(
            "no server took the job in {} attempts: {}",
            self.settings.attempts,
            failures.join("; ")
        ))
    }

    /// Send the spool to the lease's server (and what arrives meanwhile) until the
    /// reply's `DONE` and `STAT` are in. `Err`: the server failed before any reply byte
    /// was forwarded, so another may be tried.
    async fn attempt(
        &self,
        rx: &mut watch::Receiver<Progress>,
        lease: &mut InternalLease,
        version: Version,
    ) -> Result<(TcpStream, [u8; 2 * HEADER_LEN], u32), AttemptError> {
        let server = match timeout(
            self.settings.connect_timeout,
            TcpStream::connect(lease.addr),
        )
        .await
        {
            Ok(Ok(server)) => server,
            Ok(Err(e)) => return Err(AttemptError::Connect(e)),
            Err(_) => return Err(AttemptError::ConnectTimeout(self.settings.connect_timeout)),
        };
        let _ = server.set_nodelay(true);
        // The spool offset sent so far; sendfile advances it.
        let mut sent: i64 = 0;
        let mut head = [0u8; 2 * HEADER_LEN];
        let mut got = 0;
        // A server that refuses a job may answer and close before the request is all
        // there; sending then fails, but its answer (with the reason) is still to be read,
        // so a failed send stops the sending and the reading decides.
        let mut send_failed: Option<io::Error> = None;
        let closed = |send_failed: &mut Option<io::Error>| match send_failed.take() {
            Some(e) => AttemptError::Send(e),
            None => AttemptError::Closed,
        };
        while got < head.len() {
            let (spooled, complete) = {
                let p = rx.borrow_and_update();
                (p.spooled, p.complete)
            };
            let behind = if send_failed.is_some() {
                0
            } else {
                (spooled as i64).saturating_sub(sent).max(0) as usize
            };
            let more_to_come = !complete && send_failed.is_none();
            tokio::select! {
                changed = rx.changed(), if behind == 0 && more_to_come => {
                    if changed.is_err() {
                        // The pump has stopped; the caller handles that.
                        std::future::pending::<()>().await;
                    }
                }
                ready = server.writable(), if behind > 0 => {
                    let sent_now = ready.and_then(|()| server.try_io(Interest::WRITABLE, || {
                        sendfile64(&server, &self.spool, Some(&mut sent), behind)
                            .map_err(io::Error::from)
                    }));
                    match sent_now {
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => send_failed = Some(e),
                    }
                }
                ready = server.readable() => {
                    ready.map_err(AttemptError::Read)?;
                    match server.try_read(&mut head[got..]) {
                        Ok(0) => return Err(closed(&mut send_failed)),
                        Ok(n) => got += n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => return Err(match send_failed.take() {
                            Some(sending) => AttemptError::Send(sending),
                            None => AttemptError::Read(e),
                        }),
                    }
                }
                () = lease.revoked() => {
                    return Err(AttemptError::Revoked);
                }
            }
        }
        let (done, stat) = head.split_at(HEADER_LEN);
        let header = |bytes: &[u8]| -> [u8; HEADER_LEN] { bytes.try_into().expect("12 bytes") };
        let (_, replied) =
            parse_header(&header(done), &[Token::Done]).map_err(AttemptError::Unreadable)?;
        if replied != version.number() {
            return Err(AttemptError::Version {
                replied,
                requested: version.number(),
            });
        }
        let (_, status) =
            parse_header(&header(stat), &[Token::Stat]).map_err(AttemptError::Unreadable)?;
        if status == BUSY << 8 {
            return Err(AttemptError::Busy);
        }
        Ok((server, head, status))
    }
}
