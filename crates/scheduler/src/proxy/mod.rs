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
//! nothing for [`Settings::io_timeout`] in the middle of its request, or takes longer than
//! [`Settings::request_deadline`] to send it all, is cut off, as is a
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

mod cached;
mod io;
mod lease;
mod reply;
mod spool;

use std::fs::File;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ccfarm_proto::distcc::{Limits, ProtoError, Reply, Version};
use ccfarm_trust::allow::AllowList;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

pub use cached::ProxyCache;

use crate::handle::Handle;
use io::{Pipe, write_all};
use lease::Verdict;
use spool::{Progress, PumpEnd};

/// distcc's exit code for "distcc itself failed" (`EXIT_DISTCC_FAILED`): what a client
/// gets, with the reason in its stderr, when the proxy cannot run its job.
const DISTCC_FAILED: u32 = 100;
/// A server's "busy, try another host" (ccfarmd's admission control).
const BUSY: u32 = 114;

/// The proxy's tunables.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Longest a peer may make no progress in the middle of a request or reply.
    pub io_timeout: Duration,
    /// Longest a client may take to send its whole request, however it trickles it: a
    /// byte now and then keeps `io_timeout` from firing, while the job's lease is held.
    pub request_deadline: Duration,
    /// Longest a granted server may take to accept the connection.
    pub connect_timeout: Duration,
    /// Servers tried for one job before it is refused.
    pub attempts: u32,
    /// Caps on every length either side sends.
    pub limits: Limits,
    /// Who may connect: the protocol carries no credential, and a proxied job reaches
    /// servers that trust the scheduler's address.
    pub allow: AllowList,
    /// The connections under way, which a drain waits for.
    pub jobs: TaskTracker,
    /// The shared result cache, looked up before a server is.
    pub cache: Option<Arc<ProxyCache>>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            // ccfarmd's default: a distcc client sends its command line, then runs the
            // preprocessor before the source follows, so the gap can be long.
            io_timeout: Duration::from_secs(120),
            // Room for a slow preprocessor between the command line and the source, and
            // for a large source on a slow link; a client that takes longer is holding a
            // slot, not compiling.
            request_deadline: Duration::from_secs(300),
            // distcc's own (hard-coded) connect timeout.
            connect_timeout: Duration::from_secs(4),
            attempts: 4,
            limits: Limits::default(),
            allow: AllowList::new(Vec::new()),
            jobs: TaskTracker::new(),
            cache: None,
        }
    }
}

/// Serve the proxy port to the addresses in `allow`.
pub async fn serve(
    listener: TcpListener,
    handle: Handle,
    allow: AllowList,
    metrics: Arc<crate::metrics::Metrics>,
    jobs: TaskTracker,
    cache: Option<Arc<ProxyCache>>,
) {
    let settings = Settings {
        allow,
        jobs,
        cache,
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
        settings.jobs.spawn(proxy_connection(
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

/// Why a client's request was refused before any server saw it.
#[derive(Debug, thiserror::Error)]
enum Invalid {
    /// The request broke the distcc grammar or one of its caps.
    #[error(transparent)]
    Grammar(#[from] ProtoError),
    /// A command line with no compiler cannot be placed.
    #[error("0 arguments (at least the compiler is needed)")]
    NoArguments,
    /// distcc sends one request per connection and waits for its reply.
    #[error("bytes after the end of the request")]
    TrailingBytes,
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
        let drive = self.decide(handle, rx.clone());
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
            (Verdict::Cached(reply), None) => {
                if let Err(e) =
                    write_all(&self.client, &reply.encode(), self.settings.io_timeout).await
                {
                    debug!(peer = %self.peer, "distcc proxy: could not send the cached reply: {e}");
                }
            }
            (Verdict::Cached(_), Some(end)) => self.pump_ended(end, Some(version), None).await,
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

    /// The shared cache's answer if it has one, else a server's.
    async fn decide(&self, handle: &Handle, rx: watch::Receiver<Progress>) -> Verdict {
        if let Some(cache) = &self.settings.cache
            && let Some(reply) = self.cached_reply(cache, handle, rx.clone()).await
        {
            return Verdict::Cached(reply);
        }
        self.drive(handle, rx).await
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
            PumpEnd::TooSlow => info!(
                %peer,
                ?host,
                "distcc proxy: the client did not send its whole request within {:?}; connection closed",
                self.settings.request_deadline
            ),
            PumpEnd::Invalid(reason) => {
                warn!(%peer, "distcc proxy: request refused: {reason}");
                if let Some(version) = version {
                    self.refuse(version, &reason.to_string()).await;
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
}

#[cfg(test)]
mod tests;
