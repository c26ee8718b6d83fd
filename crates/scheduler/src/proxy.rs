//! The distcc proxy port (`--distcc-proxy`): stock distcc clients use the whole farm with
//! `DISTCC_HOSTS="scheduler-host:PORT/N,lzo"`. For each connection the proxy takes a
//! lease, connects to the granted server (ccfarmd or a stock distccd) and passes the
//! bytes through unchanged until the reply has been forwarded, then releases the lease
//! with the job's result (read from the reply's `STAT`) and duration.
//!
//! **Who the user is.** The distcc protocol carries no user name, so the fair-share "user"
//! is the client's IP address (`10.0.0.7`, IPv4-mapped addresses shown as IPv4): one share
//! per client machine, weighted under `[users]` in the configuration by that address.
//! The servers, in turn, see the scheduler connect, not the client: their allow-lists
//! (`--allow`) must admit the scheduler's address.
//!
//! **No copy through userspace for bulk data.** The request goes client socket → pipe →
//! spool file with splice(2), and spool file → server socket with sendfile(2); the reply's
//! bodies go server socket → pipe → client socket with splice(2). Only the 12-byte frame
//! headers and the command line's arguments (each capped) are read into memory, because
//! the proxy must know where the request ends, what to ask the scheduler for, and the
//! reply's status. Nothing holds a whole job in memory.
//!
//! **Transparent retry.** The spool is an unlinked temporary file (`O_TMPFILE` where the
//! file system offers it) in the scheduler's temporary directory (`TMPDIR`), so it
//! vanishes with the connection whatever happens. While nothing of the reply has been
//! forwarded — the server refused the connection, closed it or reset it, its lease was
//! revoked (the scheduler saw it go down), it answered garbage, or it said "busy" (114) —
//! the lease is released as a transport failure, a new one is taken, and the spool is
//! replayed to the new server from its first byte, while the client keeps sending into
//! the spool. The reply's `DONE` and `STAT` headers are held back (24 bytes) until the
//! proxy commits to a server, so a busy server can still be left. Once a reply byte has
//! gone to the client there is no going back: a server failing after that closes the
//! client's connection (distcc then reports the failure or compiles locally).
//!
//! **Protocol versions.** The proxy forwards bytes unchanged, so the client's choice
//! stands: protocol 2 (`,lzo`) and 3 (`,lzo,cpp`, pump) bodies are LZO-compressed and may
//! only go to a server that takes LZO. ccfarmd and distccd (≥ 3.0) both do, but a static
//! `[[hosts]]` entry says so only with `lzo = true`; a grant without it is set aside and
//! another lease is asked for, and a job that finds no LZO server is refused with the
//! reason. Protocol 3 is forwarded too: ccfarmd and distccd ≥ 3.0 both serve it.
//!
//! **Limits.** Every length read from either side is checked against
//! [`Limits::default`] (the same caps ccfarmd applies) before anything is read for it, and
//! the request is refused with the reason when one is exceeded. A client that sends
//! nothing for [`Settings::io_timeout`] in the middle of its request is cut off, as is a
//! server in the middle of its reply or a client that stops reading it. Waiting for the
//! compile itself has no timeout of its own: the server's job lifetime and the
//! scheduler's revocation of a dead server's leases bound it.
//!
//! **The lease ends on every path**: released with a result when the reply was read or
//! the server failed; dropped (the scheduler frees the slot without judging the server)
//! when the client went away or broke the protocol.
//!
//! **Costs.** A job holds five descriptors (client, server, spool, the pipe's two ends),
//! so the process's `RLIMIT_NOFILE` (often 1024) bounds the jobs in flight. Writes to the
//! spool are done inline on the runtime: they go to the page cache and never wait for
//! the disk unless memory is short.

use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ccfarm_proto::distcc::token::{HEADER_LEN, parse_header};
use ccfarm_proto::distcc::{Limits, Reply, Token, Version};
use ccfarm_proto::farm::{JobDescription, JobResult};
use ccfarm_trust::allow::AllowList;
use nix::fcntl::{FcntlArg, OFlag, SpliceFFlags, fcntl, splice};
use nix::sys::sendfile::sendfile64;
use tokio::io::Interest;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::timeout;
use tracing::{debug, info, warn};

use crate::handle::{Handle, InternalLease, NoLease};

/// distcc's exit code for "distcc itself failed" (`EXIT_DISTCC_FAILED`): what a client
/// gets, with the reason in its stderr, when the proxy cannot run its job.
const DISTCC_FAILED: u32 = 100;
/// A server's "busy, try another host" (ccfarmd's admission control).
const BUSY: u32 = 114;
/// Asked for: fewer splice calls per large body than the 64 KiB default, and within
/// the 1 MiB an unprivileged process may ask for (`/proc/sys/fs/pipe-max-size`).
const PIPE_SIZE: i32 = 256 * 1024;
/// Assumed when the pipe's size cannot be read (Linux's default).
const DEFAULT_PIPE_SIZE: usize = 64 * 1024;

/// The proxy's tunables.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Longest a peer may make no progress in the middle of a request or reply.
    pub io_timeout: Duration,
    /// Longest a granted server may take to accept the connection.
    pub connect_timeout: Duration,
    /// Servers tried for one job before it is refused.
    pub attempts: u32,
    /// Caps on every length either side sends.
    pub limits: Limits,
    /// Who may connect: the protocol carries no credential, and a proxied job reaches
    /// servers that trust the scheduler's address.
    pub allow: AllowList,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            // ccfarmd's default: a distcc client sends its command line, then runs the
            // preprocessor before the source follows, so the gap can be long.
            io_timeout: Duration::from_secs(120),
            // distcc's own (hard-coded) connect timeout.
            connect_timeout: Duration::from_secs(4),
            attempts: 4,
            limits: Limits::default(),
            allow: AllowList::new(Vec::new()),
        }
    }
}

/// Serve the proxy port to the addresses in `allow`.
pub async fn serve(
    listener: TcpListener,
    handle: Handle,
    allow: AllowList,
    metrics: Arc<crate::metrics::Metrics>,
) {
    let settings = Settings {
        allow,
        ..Settings::default()
    };
    serve_with(listener, handle, settings, Some(metrics)).await;
}

pub(crate) async fn serve_with(
    listener: TcpListener,
    handle: Handle,
    settings: Settings,
    metrics: Option<Arc<crate::metrics::Metrics>>,
) {
    let settings = Arc::new(settings);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, most likely (each job holds five): wait
                // rather than spin.
                warn!("distcc proxy: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if !settings.allow.allows(peer.ip()) {
            warn!(
                %peer,
                "distcc proxy: refusing {}: not in distcc_proxy_allow ({})",
                peer.ip(),
                settings.allow
            );
            if let Some(metrics) = &metrics {
                metrics.refusal("address");
            }
            continue;
        }
        tokio::spawn(proxy_connection(
            stream,
            peer,
            handle.clone(),
            settings.clone(),
        ));
    }
}

/// The fair-share user of a connection: its address (the protocol names no user).
fn user_of(peer: SocketAddr) -> String {
    peer.ip().to_canonical().to_string()
}

/// How far the request has come, from the pump to the driver.
#[derive(Debug, Clone, Default)]
struct Progress {
    /// Bytes of the request in the spool.
    spooled: u64,
    /// The protocol version, once `DIST` has been read.
    version: Option<Version>,
    /// What to ask the scheduler for, once the command line has been read.
    job: Option<JobDescription>,
    /// The whole request is in the spool.
    complete: bool,
}

/// How the pump stopped. It never stops on its own once the request is complete: it
/// then waits for the client to hang up, which is how a vanished client is noticed
/// while its job compiles.
#[derive(Debug)]
enum PumpEnd {
    /// The client closed or reset the connection.
    ClientGone,
    /// The client sent nothing for the I/O timeout in the middle of its request.
    Stalled,
    /// The client broke the protocol or a limit.
    Invalid(String),
    /// The spool could not be written (disk full...).
    Spool(io::Error),
}

/// What the driver decided.
enum Verdict {
    /// A server answered; its `DONE` and `STAT` headers are held back in `head`.
    Committed(Committed),
    /// No server will run this job.
    Refuse(String),
}

struct Committed {
    lease: InternalLease,
    server: TcpStream,
    head: [u8; 2 * HEADER_LEN],
    status: u32,
    started: Instant,
    attempts: u32,
}

/// A pipe: the kernel buffer splice(2) moves pages through. It is empty whenever a task
/// awaits with it unused, so a cancelled pump leaves nothing in it for the reply.
struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
    capacity: usize,
}

impl Pipe {
    fn new() -> io::Result<Pipe> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)?;
        let capacity = fcntl(&write, FcntlArg::F_SETPIPE_SZ(PIPE_SIZE))
            .ok()
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(DEFAULT_PIPE_SIZE);
        Ok(Pipe {
            read,
            write,
            capacity,
        })
    }
}

/// One client connection.
struct Conn {
    client: TcpStream,
    peer: SocketAddr,
    spool: File,
    pipe: Pipe,
    settings: Arc<Settings>,
}

async fn proxy_connection(
    client: TcpStream,
    peer: SocketAddr,
    handle: Handle,
    settings: Arc<Settings>,
) {
    // Small headers go out as soon as they are written, as distcc's own sockets do.
    let _ = client.set_nodelay(true);
    crate::keepalive::enable(&client);
    let spool = match tempfile::tempfile() {
        Ok(file) => file,
        Err(e) => {
            // Nothing read yet, so no protocol version to answer in: the log says why.
            warn!(%peer, "distcc proxy: cannot create the spool file, connection closed: {e}");
            return;
        }
    };
    let pipe = match Pipe::new() {
        Ok(pipe) => pipe,
        Err(e) => {
            warn!(%peer, "distcc proxy: cannot create a pipe, connection closed: {e}");
            return;
        }
    };
    let conn = Conn {
        client,
        peer,
        spool,
        pipe,
        settings,
    };
    conn.run(&handle).await;
}

impl Conn {
    async fn run(&self, handle: &Handle) {
        let (tx, rx) = watch::channel(Progress::default());
        let pump = self.pump(&tx);
        tokio::pin!(pump);
        let drive = self.drive(handle, rx.clone());
        tokio::pin!(drive);
        let verdict = tokio::select! {
            end = &mut pump => {
                let version = rx.borrow().version;
                return self.pump_ended(end, version, None).await;
            }
            verdict = &mut drive => verdict,
        };
        // A distcc client reads its reply only after sending the whole request, so a
        // server that answered early (or a refusal) waits until the request is in.
        let mut progress = rx.clone();
        let rest = tokio::select! {
            end = &mut pump => Some(end),
            _ = progress.wait_for(|p| p.complete) => None,
        };
        let version = rx
            .borrow()
            .version
            .expect("the driver decides only after DIST");
        match (verdict, rest) {
            (Verdict::Committed(committed), None) => self.forward(committed, version).await,
            (Verdict::Refuse(reason), None) => {
                info!(peer = %self.peer, "distcc proxy: job refused: {reason}");
                self.refuse(version, &reason).await;
            }
            (Verdict::Committed(committed), Some(end)) => {
                // The server answered but the client is gone or broken: the server is not
                // at fault, so the lease is dropped rather than judged.
                let host = committed.lease.addr;
                self.pump_ended(end, Some(version), Some(host)).await;
            }
            (Verdict::Refuse(reason), Some(end)) => {
                info!(peer = %self.peer, "distcc proxy: job refused: {reason}");
                self.pump_ended(end, Some(version), None).await;
            }
        }
    }

    /// Log why the client's side ended and, when the client can still read, tell it.
    async fn pump_ended(&self, end: PumpEnd, version: Option<Version>, host: Option<SocketAddr>) {
        let peer = self.peer;
        match end {
            PumpEnd::ClientGone => {
                debug!(%peer, ?host, "distcc proxy: the client went away");
            }
            PumpEnd::Stalled => info!(
                %peer,
                ?host,
                "distcc proxy: the client sent nothing for {:?} in the middle of its request; connection closed",
                self.settings.io_timeout
            ),
            PumpEnd::Invalid(reason) => {
                warn!(%peer, "distcc proxy: request refused: {reason}");
                if let Some(version) = version {
                    self.refuse(version, &reason).await;
                }
            }
            PumpEnd::Spool(e) => {
                let reason = format!("the proxy could not spool the request: {e}");
                warn!(%peer, "distcc proxy: {reason}");
                if let Some(version) = version {
                    self.refuse(version, &reason).await;
                }
            }
        }
    }

    /// Answer with a failed compile whose stderr says why (a client that still sends
    /// may not read it; it is also logged).
    async fn refuse(&self, version: Version, reason: &str) {
        let reply = Reply::failure(
            version,
            DISTCC_FAILED << 8,
            format!("ccfarm-scheduler (distcc proxy): {reason}\n"),
        );
        if let Err(e) = write_all(&self.client, &reply.encode(), self.settings.io_timeout).await {
            debug!(peer = %self.peer, "distcc proxy: could not send the refusal: {e}");
        }
    }

    // ---- the request: client → spool -------------------------------------------------

    /// Read the request into the spool, publishing progress; then wait for the client
    /// to hang up.
    async fn pump(&self, tx: &watch::Sender<Progress>) -> PumpEnd {
        let mut walker = Walker {
            conn: self,
            tx,
            at: 0,
        };
        if let Err(end) = walker.request().await {
            return end;
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
                Ok(_) => {
                    return PumpEnd::Invalid("bytes after the end of the request".into());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(_) => return PumpEnd::ClientGone,
            }
        }
    }

    // ---- choosing a server ------------------------------------------------------------

    /// Wait for the command line, then take leases until a server answers.
    async fn drive(&self, handle: &Handle, mut rx: watch::Receiver<Progress>) -> Verdict {
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
    ) -> Result<(TcpStream, [u8; 2 * HEADER_LEN], u32), String> {
        let server = match timeout(
            self.settings.connect_timeout,
            TcpStream::connect(lease.addr),
        )
        .await
        {
            Ok(Ok(server)) => server,
            Ok(Err(e)) => return Err(format!("cannot connect: {e}")),
            Err(_) => {
                return Err(format!(
                    "no connection within {:?}",
                    self.settings.connect_timeout
                ));
            }
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
        let closed = |send_failed: &Option<io::Error>| match send_failed {
            Some(e) => format!("sending the request: {e}"),
            None => "the server closed the connection without a reply".to_owned(),
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
                    ready.map_err(|e| format!("reading the reply: {e}"))?;
                    match server.try_read(&mut head[got..]) {
                        Ok(0) => return Err(closed(&send_failed)),
                        Ok(n) => got += n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => return Err(match &send_failed {
                            Some(_) => closed(&send_failed),
                            None => format!("reading the reply: {e}"),
                        }),
                    }
                }
                () = lease.revoked() => {
                    return Err("the scheduler revoked the lease (the server went down)".into());
                }
            }
        }
        let (done, stat) = head.split_at(HEADER_LEN);
        let header = |bytes: &[u8]| -> [u8; HEADER_LEN] { bytes.try_into().expect("12 bytes") };
        let (_, replied) = parse_header(&header(done), &[Token::Done])
            .map_err(|e| format!("unreadable reply: {e}"))?;
        if replied != version.number() {
            return Err(format!(
                "the reply is protocol {replied}, the request {}",
                version.number()
            ));
        }
        let (_, status) = parse_header(&header(stat), &[Token::Stat])
            .map_err(|e| format!("unreadable reply: {e}"))?;
        if status == BUSY << 8 {
            return Err("the server is busy".into());
        }
        Ok((server, head, status))
    }

    // ---- the reply: server → client ---------------------------------------------------

    /// Forward the committed server's reply and release the lease with the result.
    async fn forward(&self, committed: Committed, version: Version) {
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
            .map_err(|e| Side::Client(e.to_string()))?;
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
                .map_err(|e| Side::Server(format!("reading {token}: {e}")))?;
            let (_, len) =
                parse_header(&header, &[token]).map_err(|e| Side::Server(e.to_string()))?;
            total += u64::from(len);
            if len > limits.max_body_len || total > limits.max_message_len {
                return Err(Side::Server(format!(
                    "{token} of {len} bytes is over the limit ({} per body, {} per reply)",
                    limits.max_body_len, limits.max_message_len
                )));
            }
            write_all(&self.client, &header, io)
                .await
                .map_err(|e| Side::Client(e.to_string()))?;
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
                    .map_err(|e| Side::Server(e.to_string()))?;
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
                    Ok(0) => return Err(Side::Server("the connection closed early".into())),
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => return Err(Side::Server(e.to_string())),
                }
            };
            len -= moved as u64;
            let mut left = moved;
            while left > 0 {
                ready(to, Interest::WRITABLE, io)
                    .await
                    .map_err(|e| Side::Client(e.to_string()))?;
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
                    Err(e) => return Err(Side::Client(e.to_string())),
                }
            }
        }
        Ok(())
    }
}

/// Which side broke a forwarding.
#[derive(Debug)]
enum Side {
    Server(String),
    Client(String),
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

fn chunk(len: u64, capacity: usize) -> usize {
    usize::try_from(len).map_or(capacity, |len| len.min(capacity))
}

/// Walks the request frame by frame, spooling everything: headers and small bodies
/// through memory, bulk bodies (`DOTI`, `FILE`) by splice.
struct Walker<'a> {
    conn: &'a Conn,
    tx: &'a watch::Sender<Progress>,
    /// Bytes in the spool.
    at: u64,
}

impl Walker<'_> {
    async fn request(&mut self) -> Result<(), PumpEnd> {
        let limits = self.conn.settings.limits.clone();
        let (_, dist) = self.header(&[Token::Dist]).await?;
        let version = Version::from_number(dist).map_err(|e| PumpEnd::Invalid(e.to_string()))?;
        self.tx.send_modify(|p| p.version = Some(version));
        if version == Version::V3 {
            let (_, len) = self.header(&[Token::Cdir]).await?;
            self.small(Token::Cdir, len, limits.max_arg_len).await?;
        }
        let (_, argc) = self.header(&[Token::Argc]).await?;
        if argc == 0 || argc > limits.max_args {
            return Err(PumpEnd::Invalid(format!(
                "{argc} arguments (1 to {} accepted)",
                limits.max_args
            )));
        }
        // Only what the scheduler is told is kept; the arguments themselves are in the
        // spool. The source is the last argument that looks like a file to compile, as
        // ccfarmd names it in its logs.
        let mut job = JobDescription {
            compiler: String::new(),
            source: String::new(),
            preprocessed_bytes: None,
            previous_ms: None,
            previous_server: None,
            compiler_identity: None,
        };
        for i in 0..argc {
            let (_, len) = self.header(&[Token::Argv]).await?;
            let arg = self.small(Token::Argv, len, limits.max_arg_len).await?;
            let arg = String::from_utf8_lossy(&arg);
            if i == 0 {
                job.compiler = arg.into_owned();
            } else if !arg.starts_with('-') && arg.contains('.') && !arg.ends_with(".o") {
                job.source = arg.into_owned();
            }
        }
        if version == Version::V3 {
            // A pump job's size is spread over its files; the scheduler goes by the job's
            // history and its own estimate, as for a client that sends no size.
            self.tx.send_modify(|p| p.job = Some(job));
            let (_, files) = self.header(&[Token::Nfil]).await?;
            if files > limits.max_files {
                return Err(PumpEnd::Invalid(format!(
                    "{files} files (at most {} accepted)",
                    limits.max_files
                )));
            }
            for _ in 0..files {
                let (_, len) = self.header(&[Token::Name]).await?;
                self.small(Token::Name, len, limits.max_arg_len).await?;
                match self.header(&[Token::File, Token::Link]).await? {
                    (Token::File, len) => self.bulk(Token::File, len).await?,
                    (token, len) => {
                        self.small(token, len, limits.max_arg_len).await?;
                    }
                }
            }
        } else {
            // The lease is asked for once the preprocessed source's length is known, not
            // with the arguments: distcc sends those and then runs the preprocessor, which
            // would hold a slot idle meanwhile. The scheduler then places the job by its
            // size, as it does a ccfarm client's. An LZO body's length says little about the
            // source's and would mislead the size model, so it is not passed on.
            let (_, len) = self.header(&[Token::Doti]).await?;
            if !version.compressed() {
                job.preprocessed_bytes = Some(u64::from(len));
            }
            self.tx.send_modify(|p| p.job = Some(job));
            self.bulk(Token::Doti, len).await?;
        }
        Ok(())
    }

    /// Read and spool one frame header, which must carry one of `expected`.
    async fn header(&mut self, expected: &[Token]) -> Result<(Token, u32), PumpEnd> {
        let mut header = [0u8; HEADER_LEN];
        self.read(&mut header).await?;
        let parsed =
            parse_header(&header, expected).map_err(|e| PumpEnd::Invalid(e.to_string()))?;
        self.spool(&header)?;
        Ok(parsed)
    }

    /// Read and spool a body small enough to hold (an argument, a path).
    async fn small(&mut self, token: Token, len: u32, max: u32) -> Result<Vec<u8>, PumpEnd> {
        if len > max {
            return Err(PumpEnd::Invalid(format!(
                "{token} of {len} bytes (at most {max} accepted)"
            )));
        }
        self.budget(token, len)?;
        let mut body = vec![0u8; len as usize];
        self.read(&mut body).await?;
        self.spool(&body)?;
        Ok(body)
    }

    /// Splice a bulk body from the client into the spool.
    async fn bulk(&mut self, token: Token, len: u32) -> Result<(), PumpEnd> {
        let limits = &self.conn.settings.limits;
        if len > limits.max_body_len {
            return Err(PumpEnd::Invalid(format!(
                "{token} of {len} bytes (at most {} accepted)",
                limits.max_body_len
            )));
        }
        self.budget(token, len)?;
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

    /// Refuse a body that would take the request over the per-message cap.
    fn budget(&self, token: Token, len: u32) -> Result<(), PumpEnd> {
        let max = self.conn.settings.limits.max_message_len;
        if self.at + u64::from(len) > max {
            return Err(PumpEnd::Invalid(format!(
                "{token} of {len} bytes takes the request over {max} bytes"
            )));
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

fn client_error(e: io::Error) -> PumpEnd {
    match e.kind() {
        io::ErrorKind::TimedOut => PumpEnd::Stalled,
        _ => PumpEnd::ClientGone,
    }
}

/// Wait until `stream` is ready for `interest`, or fail after `limit` without progress.
async fn ready(stream: &TcpStream, interest: Interest, limit: Duration) -> io::Result<()> {
    match timeout(limit, stream.ready(interest)).await {
        Ok(ready) => ready.map(drop),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no progress in {limit:?}"),
        )),
    }
}

/// Fill `buf` from `stream`; each wait for data is limited to `limit`.
async fn read_exact(stream: &TcpStream, buf: &mut [u8], limit: Duration) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        ready(stream, Interest::READABLE, limit).await?;
        match stream.try_read(&mut buf[filled..]) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the connection closed",
                ));
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Write all of `buf` to `stream`; each wait for room is limited to `limit`.
async fn write_all(stream: &TcpStream, buf: &[u8], limit: Duration) -> io::Result<()> {
    let mut written = 0;
    while written < buf.len() {
        ready(stream, Interest::WRITABLE, limit).await?;
        match stream.try_write(&buf[written..]) {
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! The proxy against a scripted scheduler and scripted servers on loopback: every
    //! path a job can take, and which result each lease ends with.

    use std::collections::VecDeque;
    use std::sync::Mutex;

    use bytes::{Bytes, BytesMut};
    use ccfarm_proto::distcc::{
        Payload, ReplyDecoder, Request, RequestDecoder, TreeEntry, TreeEntryKind,
    };
    use ccfarm_proto::farm::FromScheduler;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::sync::mpsc;

    use super::*;
    use crate::event::Event;

    /// What the scripted scheduler hands out for one request.
    #[derive(Clone)]
    enum Grant {
        /// A lease on this server.
        To { addr: SocketAddr, lzo: bool },
        /// A lease on this server, revoked after this long.
        Revoked { addr: SocketAddr, after: Duration },
        /// "Compile locally" with this reason.
        Local(&'static str),
    }

    /// What the scheduler saw, by connection number.
    #[derive(Debug, Clone, PartialEq)]
    enum Seen {
        Request {
            conn: u64,
            user: String,
            job: JobDescription,
        },
        Release {
            conn: u64,
            result: JobResult,
        },
        Gone {
            conn: u64,
        },
    }

    type Log = Arc<Mutex<Vec<Seen>>>;

    fn scheduler(grants: Vec<Grant>) -> (Handle, Log) {
        let (events, mut rx) = mpsc::unbounded_channel();
        let log: Log = Arc::default();
        let seen = log.clone();
        let mut grants: VecDeque<Grant> = grants.into();
        tokio::spawn(async move {
            let mut lease = 0;
            // Kept so that a lease's message channel stays open (as in the real actor).
            let mut holders = Vec::new();
            while let Some(event) = rx.recv().await {
                match event {
                    Event::Request {
                        conn,
                        number,
                        user,
                        job,
                        tx,
                    } => {
                        seen.lock().unwrap().push(Seen::Request { conn, user, job });
                        lease += 1;
                        let grant = grants.pop_front().expect("more requests than scripted");
                        let (addr, lzo, revoke) = match grant {
                            Grant::To { addr, lzo } => (addr, lzo, None),
                            Grant::Revoked { addr, after } => (addr, true, Some(after)),
                            Grant::Local(reason) => {
                                let _ = tx.send(FromScheduler::CompileLocally {
                                    request: number,
                                    reason: reason.into(),
                                });
                                continue;
                            }
                        };
                        let _ = tx.send(FromScheduler::Grant {
                            request: number,
                            lease,
                            host: addr.ip().to_string(),
                            port: addr.port(),
                            lzo,
                            proof: None,
                        });
                        if let Some(after) = revoke {
                            let tx = tx.clone();
                            tokio::spawn(async move {
                                tokio::time::sleep(after).await;
                                let _ = tx.send(FromScheduler::Cancel { lease });
                            });
                        }
                        holders.push(tx);
                    }
                    Event::Release { conn, result, .. } => {
                        seen.lock().unwrap().push(Seen::Release { conn, result });
                    }
                    Event::Gone { conn } => seen.lock().unwrap().push(Seen::Gone { conn }),
                    _ => {}
                }
            }
        });
        (Handle::new(events), log)
    }

    async fn start_proxy(grants: Vec<Grant>, settings: Settings) -> (SocketAddr, Log) {
        let (handle, log) = scheduler(grants);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve_with(listener, handle, settings, None));
        (addr, log)
    }

    /// How a scripted server behaves once it has read a whole request.
    enum Behaviour {
        /// Send this reply.
        Answer(Vec<u8>),
        /// Close the connection.
        Close,
        /// Send nothing and wait for the proxy to close.
        Hang,
        /// Send this reply as soon as the command line is in, and close without reading
        /// the source (ccfarmd refusing a compiler).
        Early(Vec<u8>),
    }

    /// A server that takes one connection; resolves to the raw request bytes it read
    /// (and, for `Hang`, only once the proxy has closed the connection).
    async fn server(behaviour: Behaviour) -> (SocketAddr, tokio::task::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut decoder = RequestDecoder::new(Limits::default());
            let (mut raw, mut buf) = (Vec::new(), BytesMut::new());
            loop {
                let mut chunk = vec![0u8; 64 * 1024];
                let n = stream.read(&mut chunk).await.unwrap();
                assert!(n > 0, "the proxy closed before the request was complete");
                raw.extend_from_slice(&chunk[..n]);
                buf.extend_from_slice(&chunk[..n]);
                if decoder.decode(&mut buf).unwrap().is_some() {
                    break;
                }
                if let (Behaviour::Early(reply), true) = (&behaviour, decoder.awaiting_source()) {
                    stream.write_all(reply).await.unwrap();
                    return raw;
                }
            }
            match behaviour {
                Behaviour::Answer(reply) => stream.write_all(&reply).await.unwrap(),
                Behaviour::Close | Behaviour::Early(_) => {}
                Behaviour::Hang => {
                    let mut byte = [0u8; 1];
                    let n = stream.read(&mut byte).await.unwrap_or(0);
                    assert_eq!(n, 0, "the proxy sent bytes after the request");
                }
            }
            raw
        });
        (addr, task)
    }

    /// An address where nothing listens.
    async fn nobody() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    }

    /// Bytes that LZO cannot shrink, so bodies are big on the wire too.
    fn noise(len: usize, mut seed: u64) -> Bytes {
        (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect()
    }

    fn argv() -> Vec<Bytes> {
        ["gcc", "-O2", "-c", "src/ascii.c", "-o", "ascii.o"]
            .map(|a| Bytes::from_static(a.as_bytes()))
            .to_vec()
    }

    fn request(version: Version, source_len: usize) -> Request {
        Request {
            version,
            argv: argv(),
            payload: Payload::Preprocessed(noise(source_len, 7)),
        }
    }

    fn reply(version: Version, status: u32) -> Reply {
        Reply {
            version,
            status,
            stderr: Bytes::from_static(b"src/ascii.c:1: warning: something\n"),
            stdout: Bytes::new(),
            object: if status == 0 {
                noise(2 << 20, 11)
            } else {
                Bytes::new()
            },
            dotd: (version == Version::V3 && status == 0)
                .then(|| Bytes::from_static(b"ascii.o: src/ascii.c\n")),
        }
    }

    /// Send `request` as a distcc client does (no half-close) and read to the end,
    /// within 10 s so that a proxy that hangs fails the test.
    async fn client(proxy: SocketAddr, request: &[u8]) -> Vec<u8> {
        let exchange = async {
            let mut stream = TcpStream::connect(proxy).await.unwrap();
            // A write cut short by the proxy's refusal is fine: the answer is what counts.
            let _ = stream.write_all(request).await;
            let mut answer = Vec::new();
            let _ = stream.read_to_end(&mut answer).await;
            answer
        };
        timeout(Duration::from_secs(10), exchange)
            .await
            .expect("the proxy did not finish the job within 10 s")
    }

    fn decode(version: Version, bytes: &[u8]) -> Reply {
        let mut buf = BytesMut::from(bytes);
        ReplyDecoder::new(version, Limits::default())
            .decode(&mut buf)
            .unwrap()
            .expect("a whole reply")
    }

    fn releases(log: &Log) -> Vec<JobResult> {
        log.lock()
            .unwrap()
            .iter()
            .filter_map(|s| match s {
                Seen::Release { result, .. } => Some(*result),
                _ => None,
            })
            .collect()
    }

    /// Wait until the scheduler has seen `n` connections end.
    async fn gone(log: &Log, n: usize) {
        for _ in 0..200 {
            let count = log
                .lock()
                .unwrap()
                .iter()
                .filter(|s| matches!(s, Seen::Gone { .. }))
                .count();
            if count >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("only some leases ended: {:?}", log.lock().unwrap());
    }

    #[tokio::test]
    async fn forwards_both_ways_unchanged_and_releases_ok() {
        for version in [Version::V1, Version::V2] {
            let req = request(version, 3 << 20);
            let rep = reply(version, 0);
            let (server, received) = server(Behaviour::Answer(rep.encode())).await;
            let (proxy, log) = start_proxy(
                vec![Grant::To {
                    addr: server,
                    lzo: true,
                }],
                Settings::default(),
            )
            .await;
            let answer = client(proxy, &req.encode()).await;
            assert!(
                answer == rep.encode(),
                "the reply was changed ({version:?})"
            );
            assert!(
                received.await.unwrap() == req.encode(),
                "the request was changed"
            );
            gone(&log, 1).await;
            let seen = log.lock().unwrap().clone();
            let Seen::Request { user, job, .. } = &seen[0] else {
                panic!("{seen:?}");
            };
            assert_eq!(user, "127.0.0.1");
            assert_eq!((&*job.compiler, &*job.source), ("gcc", "src/ascii.c"));
            let size = (version == Version::V1).then_some(3 << 20);
            assert_eq!(
                job.preprocessed_bytes, size,
                "the size the scheduler is told"
            );
            assert_eq!(releases(&log), [JobResult::Ok]);
        }
    }

    #[tokio::test]
    async fn forwards_a_pump_request_with_its_tree() {
        let req = Request {
            version: Version::V3,
            argv: argv(),
            payload: Payload::Tree {
                cwd: Bytes::from_static(b"/home/ann/strkit"),
                entries: vec![
                    TreeEntry {
                        name: Bytes::from_static(b"/home/ann/strkit/src/ascii.c"),
                        kind: TreeEntryKind::File(noise(300_000, 3)),
                    },
                    TreeEntry {
                        name: Bytes::from_static(b"/home/ann/strkit/include/sk.h"),
                        kind: TreeEntryKind::Link(Bytes::from_static(b"../src/sk.h")),
                    },
                    TreeEntry {
                        name: Bytes::from_static(b"/home/ann/strkit/src/sk.h"),
                        kind: TreeEntryKind::File(Bytes::new()),
                    },
                ],
            },
        };
        let rep = reply(Version::V3, 0);
        let (server, received) = server(Behaviour::Answer(rep.encode())).await;
        let (proxy, log) = start_proxy(
            vec![Grant::To {
                addr: server,
                lzo: true,
            }],
            Settings::default(),
        )
        .await;
        let answer = client(proxy, &req.encode()).await;
        assert!(answer == rep.encode(), "the reply (with DOTD) was changed");
        assert!(received.await.unwrap() == req.encode());
        assert_eq!(decode(Version::V3, &answer).dotd, rep.dotd);
        gone(&log, 1).await;
        assert_eq!(releases(&log), [JobResult::Ok]);
    }

    #[tokio::test]
    async fn a_failed_compile_is_forwarded_and_released_as_the_code_s_fault() {
        let rep = reply(Version::V2, 1 << 8);
        let (server, _) = server(Behaviour::Answer(rep.encode())).await;
        let (proxy, log) = start_proxy(
            vec![Grant::To {
                addr: server,
                lzo: true,
            }],
            Settings::default(),
        )
        .await;
        let answer = client(proxy, &request(Version::V2, 1000).encode()).await;
        assert!(answer == rep.encode());
        gone(&log, 1).await;
        assert_eq!(releases(&log), [JobResult::CompileError]);
    }

    #[tokio::test]
    async fn failures_before_the_reply_are_retried_on_other_servers_with_the_whole_request() {
        let req = request(Version::V2, 3 << 20);
        let rep = reply(Version::V2, 0);
        let refused = nobody().await;
        let (closing, _) = server(Behaviour::Close).await;
        let busy = Reply::failure(Version::V2, BUSY << 8, "ccfarmd: server busy\n");
        let (busy, _) = server(Behaviour::Answer(busy.encode())).await;
        let (hung, hung_saw) = server(Behaviour::Hang).await;
        let (good, received) = server(Behaviour::Answer(rep.encode())).await;
        let lzo = true;
        let (proxy, log) = start_proxy(
            vec![
                Grant::To { addr: refused, lzo },
                Grant::To { addr: closing, lzo },
                Grant::To { addr: busy, lzo },
                Grant::Revoked {
                    addr: hung,
                    after: Duration::from_millis(300),
                },
                Grant::To { addr: good, lzo },
            ],
            Settings {
                attempts: 5,
                ..Settings::default()
            },
        )
        .await;
        let answer = client(proxy, &req.encode()).await;
        assert!(
            answer == rep.encode(),
            "the client did not get the good reply"
        );
        assert!(
            received.await.unwrap() == req.encode(),
            "the replay differs"
        );
        // The revoked server's connection was dropped, not left to compile.
        assert!(hung_saw.await.unwrap() == req.encode());
        gone(&log, 5).await;
        use JobResult::*;
        assert_eq!(
            releases(&log),
            [
                TransportFailure,
                TransportFailure,
                TransportFailure,
                TransportFailure,
                Ok
            ]
        );
    }

    #[tokio::test]
    async fn a_server_failing_after_the_first_reply_byte_is_not_retried() {
        let rep = reply(Version::V2, 0).encode();
        // DONE, STAT and part of SERR: the client already has bytes, so no replay.
        let cut = 3 * HEADER_LEN + 5;
        let (broken, _) = server(Behaviour::Answer(rep[..cut].to_vec())).await;
        let (proxy, log) = start_proxy(
            vec![Grant::To {
                addr: broken,
                lzo: true,
            }],
            Settings::default(),
        )
        .await;
        let answer = client(proxy, &request(Version::V2, 1000).encode()).await;
        assert_eq!(answer, &rep[..cut]);
        gone(&log, 1).await;
        assert_eq!(releases(&log), [JobResult::TransportFailure]);
        let requests = log
            .lock()
            .unwrap()
            .iter()
            .filter(|s| matches!(s, Seen::Request { .. }))
            .count();
        assert_eq!(requests, 1, "a second server was asked for");
    }

    #[tokio::test]
    async fn a_server_answering_before_the_source_is_in_is_heard() {
        let refusal = Reply::failure(Version::V2, 113 << 8, "ccfarmd: compiler not allowed\n");
        let (early, _) = server(Behaviour::Early(refusal.encode())).await;
        let (proxy, log) = start_proxy(
            vec![Grant::To {
                addr: early,
                lzo: true,
            }],
            Settings::default(),
        )
        .await;
        let answer = client(proxy, &request(Version::V2, 8 << 20).encode()).await;
        assert!(
            answer == refusal.encode(),
            "the server's own answer was lost"
        );
        gone(&log, 1).await;
        assert_eq!(releases(&log), [JobResult::CompileError]);
    }

    #[tokio::test]
    async fn a_client_stalled_mid_request_is_cut_off_and_its_lease_dropped_or_never_taken() {
        let req = request(Version::V2, 100_000);
        let command = ccfarm_proto::distcc::encode_command(Version::V2, &req.argv).len();
        // Stalled in a body, and between the command line and the source (where distcc
        // runs its preprocessor).
        for cut in [req.encode().len() / 2, command] {
            // A server that never answers (its backlog takes the connection).
            let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let (proxy, log) = start_proxy(
                vec![Grant::To {
                    addr: silent.local_addr().unwrap(),
                    lzo: true,
                }],
                Settings {
                    io_timeout: Duration::from_millis(300),
                    ..Settings::default()
                },
            )
            .await;
            let mut stream = TcpStream::connect(proxy).await.unwrap();
            stream.write_all(&req.encode()[..cut]).await.unwrap();
            let started = Instant::now();
            let mut answer = Vec::new();
            let read = timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
            assert!(
                read.is_ok(),
                "the proxy kept a client stalled at byte {cut}"
            );
            assert!(started.elapsed() >= Duration::from_millis(250));
            assert!(answer.is_empty());
            if cut == command {
                // Still preprocessing, as far as the proxy knows: no slot was taken.
                let seen = log.lock().unwrap().clone();
                assert!(seen.is_empty(), "a lease before the source: {seen:?}");
            } else {
                gone(&log, 1).await;
            }
            assert_eq!(releases(&log), []);
        }
    }

    #[tokio::test]
    async fn a_client_gone_while_its_job_compiles_ends_the_lease_and_the_server_connection() {
        let (hung, hung_saw) = server(Behaviour::Hang).await;
        let (proxy, log) = start_proxy(
            vec![Grant::To {
                addr: hung,
                lzo: true,
            }],
            Settings::default(),
        )
        .await;
        let req = request(Version::V2, 10_000).encode();
        let mut stream = TcpStream::connect(proxy).await.unwrap();
        stream.write_all(&req).await.unwrap();
        // The whole request reaches the server; then the client goes.
        tokio::time::sleep(Duration::from_millis(200)).await;
        drop(stream);
        let saw = timeout(Duration::from_secs(5), hung_saw).await;
        assert!(saw.expect("the server's connection stayed open").unwrap() == req);
        gone(&log, 1).await;
        assert_eq!(releases(&log), []);
    }

    #[tokio::test]
    async fn an_lzo_job_goes_only_to_a_server_that_takes_lzo() {
        // A grant without LZO is set aside for a protocol-2 job...
        let unused = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let plain = unused.local_addr().unwrap();
        let rep = reply(Version::V2, 0);
        let (good, _) = server(Behaviour::Answer(rep.encode())).await;
        let (proxy, log) = start_proxy(
            vec![
                Grant::To {
                    addr: plain,
                    lzo: false,
                },
                Grant::To {
                    addr: good,
                    lzo: true,
                },
            ],
            Settings::default(),
        )
        .await;
        let answer = client(proxy, &request(Version::V2, 1000).encode()).await;
        assert!(answer == rep.encode());
        assert!(
            timeout(Duration::from_millis(100), unused.accept())
                .await
                .is_err(),
            "the protocol-2 job was sent to a server without LZO"
        );
        gone(&log, 2).await;
        assert_eq!(releases(&log), [JobResult::Ok]);

        // ... but is fine for protocol 1.
        let rep = reply(Version::V1, 0);
        let (plain, _) = server(Behaviour::Answer(rep.encode())).await;
        let (proxy, _) = start_proxy(
            vec![Grant::To {
                addr: plain,
                lzo: false,
            }],
            Settings::default(),
        )
        .await;
        let answer = client(proxy, &request(Version::V1, 1000).encode()).await;
        assert!(answer == rep.encode());

        // With no LZO server at all, the client is told why.
        let lzo = false;
        let (proxy, _) = start_proxy(
            vec![
                Grant::To { addr: plain, lzo },
                Grant::To { addr: plain, lzo },
            ],
            Settings {
                attempts: 2,
                ..Settings::default()
            },
        )
        .await;
        let answer = client(proxy, &request(Version::V2, 1000).encode()).await;
        let refusal = decode(Version::V2, &answer);
        assert_eq!(refusal.status, DISTCC_FAILED << 8);
        let text = String::from_utf8_lossy(&refusal.stderr);
        assert!(text.contains("does not take protocol 2 (LZO)"), "{text}");
    }

    #[tokio::test]
    async fn refusals_are_explained_to_the_client() {
        // The scheduler says "compile locally".
        let (proxy, _) = start_proxy(
            vec![Grant::Local("no server offers x86_64-linux-gnu-gcc")],
            Settings::default(),
        )
        .await;
        let answer = client(proxy, &request(Version::V2, 1000).encode()).await;
        let refusal = decode(Version::V2, &answer);
        assert_eq!(refusal.status, DISTCC_FAILED << 8);
        let text = String::from_utf8_lossy(&refusal.stderr);
        assert!(
            text.contains("no server offers x86_64-linux-gnu-gcc"),
            "{text}"
        );

        // Every server fails.
        let refused = nobody().await;
        let lzo = true;
        let (proxy, _) = start_proxy(
            vec![
                Grant::To { addr: refused, lzo },
                Grant::To { addr: refused, lzo },
            ],
            Settings {
                attempts: 2,
                ..Settings::default()
            },
        )
        .await;
        let answer = client(proxy, &request(Version::V1, 1000).encode()).await;
        let text = String::from_utf8_lossy(&decode(Version::V1, &answer).stderr).into_owned();
        assert!(
            text.contains("no server took the job in 2 attempts"),
            "{text}"
        );
        assert!(text.contains("cannot connect"), "{text}");

        // A length over its cap is refused as soon as its header arrives, before any
        // lease is taken.
        let (proxy, log) = start_proxy(vec![], Settings::default()).await;
        let mut bytes = b"DIST00000001ARGC00000001".to_vec();
        bytes.extend_from_slice(b"ARGV7fffffff");
        let answer = client(proxy, &bytes).await;
        let text = String::from_utf8_lossy(&decode(Version::V1, &answer).stderr).into_owned();
        assert!(
            text.contains("ARGV of 2147483647 bytes (at most 262144 accepted)"),
            "{text}"
        );
        let (proxy, _) = start_proxy(vec![], Settings::default()).await;
        let mut bytes = b"DIST00000001ARGC00000001ARGV00000003gcc".to_vec();
        bytes.extend_from_slice(b"DOTI7fffffff");
        let answer = client(proxy, &bytes).await;
        let text = String::from_utf8_lossy(&decode(Version::V1, &answer).stderr).into_owned();
        assert!(text.contains("DOTI of 2147483647 bytes"), "{text}");
        assert!(log.lock().unwrap().is_empty());
    }
}
