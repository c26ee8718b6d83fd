//! One client connection: read a distcc request, check it, run the compile, reply.
//!
//! Every refusal is explained to the client (a non-zero status with the reason in
//! SERR, which a distcc user sees) and logged with its category. A malformed stream
//! is logged and the connection closed: distcc cannot resynchronise.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ccfarm_proto::distcc::{
    Payload, ProtoError, Reply, Request, RequestDecoder, TreeEntryKind, Version,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, timeout};
use tracing::{debug, info, warn};

use crate::daemon::Daemon;
use crate::job::{self, CompilerExit};
use crate::prepare::{PreparedJob, RequestRefusal, prepare};
use crate::stats::ConnectionOutcome;

mod early;

use early::start_early;

/// distcc's exit codes, carried in the high byte of STAT when ccfarmd itself fails.
mod exit {
    pub const GENERAL: u32 = 100;
    pub const COMPILER_MISSING: u32 = 110;
    pub const ACCESS_DENIED: u32 = 113;
    pub const BUSY: u32 = 114;
    pub const TIMEOUT: u32 = 118;
}

/// Serve one connection to completion.
/// `early` holds bytes already read from the stream (after a TLS connection's ticket);
/// `denial`, why the job must not run whatever it is (told to the client once its
/// request has been read, in the request's protocol).
pub async fn serve<S>(
    daemon: Arc<Daemon>,
    stream: S,
    peer: SocketAddr,
    early: BytesMut,
    denial: Option<RequestRefusal>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let started = Instant::now();
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut decoder = RequestDecoder::new(daemon.config.limits.clone());
    let mut buf = early;
    buf.reserve(64 * 1024);

    let request = match read_until(
        &daemon,
        &mut reader,
        &mut decoder,
        &mut buf,
        denial.is_none(),
    )
    .await
    {
        Ok(Progress::Complete(request)) => request,
        Ok(Progress::AwaitingSource) => {
            // The client is still preprocessing. With a slot free now, start the
            // compiler at once, reading its source from stdin, so its start-up is
            // hidden behind the client's preprocessor.
            // With a shared cache the whole source is needed first, to key the job.
            let early = match daemon.cache {
                None => start_early(&daemon, &decoder),
                Some(_) => None,
            };
            if let Some(early) = early {
                let ctx = Conn {
                    daemon: &daemon,
                    peer,
                    started,
                    cache_key: None,
                };
                return ctx
                    .serve_streamed(&mut reader, &mut writer, decoder, &mut buf, early)
                    .await;
            }
            match read_until(&daemon, &mut reader, &mut decoder, &mut buf, false).await {
                Ok(Progress::Complete(request)) => request,
                Ok(_) => return,
                Err(err) => return report_read_error(&daemon, peer, err),
            }
        }
        Ok(Progress::Closed) => {
            debug!(%peer, "connection closed before a request");
            return;
        }
        Err(err) => return report_read_error(&daemon, peer, err),
    };
    let mut ctx = Conn {
        daemon: &daemon,
        peer,
        started,
        cache_key: None,
    };
    let version = request.version;
    let summary = Summary::of(&request);
    if let Some(refusal) = denial {
        return refuse(&daemon, &mut writer, peer, version, &summary, refusal).await;
    }
    if let Some(cache) = &daemon.cache {
        let metrics = &daemon.stats.cache;
        match crate::cache::consult(cache, &daemon.compilers, metrics, &request).await {
            (_, Some(reply)) => return ctx.answer_from_cache(&mut writer, &summary, reply).await,
            (key, None) => ctx.cache_key = key,
        }
    }

    let inline = request_size(&request) <= INLINE_FILE_WORK;
    let prepared = {
        let daemon = daemon.clone();
        file_work(inline, move || prepare(&daemon, request)).await
    };
    let job = match prepared {
        Ok(Ok(job)) => job,
        Ok(Err(refusal)) => {
            return refuse(&daemon, &mut writer, peer, version, &summary, refusal).await;
        }
        Err(panic) => {
            let refusal =
                RequestRefusal::server_error(format!("internal error preparing the job: {panic}"));
            return refuse(&daemon, &mut writer, peer, version, &summary, refusal).await;
        }
    };

    // Wait for a compile slot, unless the queue is full: then say "busy" at once, so
    // the client can go elsewhere instead of waiting in a kernel backlog.
    let Ok(queue_place) = daemon.queue.clone().try_acquire_owned() else {
        let refusal = RequestRefusal {
            outcome: ConnectionOutcome::busy,
            status: exit::BUSY << 8,
            reason: format!(
                "server busy: {} compiles running and {} waiting; try another host",
                daemon.stats.running_now(),
                daemon.stats.queued_now()
            ),
        };
        return refuse(&daemon, &mut writer, peer, version, &summary, refusal).await;
    };
    daemon.stats.queued(1);
    let slot = tokio::select! {
        slot = daemon.slots.clone().acquire_owned() => slot.ok(),
        () = client_gone(&mut reader) => None,
    };
    daemon.stats.queued(-1);
    drop(queue_place);
    let Some(_slot) = slot else {
        info!(%peer, category = "client_disconnect", "client went away while queued: {summary}");
        daemon
            .stats
            .finished(ConnectionOutcome::client_disconnect, None, Instant::now());
        return;
    };

    daemon.stats.running(1);
    let compile_started = Instant::now();
    let end = job::run(&job.spec, client_gone(&mut reader)).await;
    ctx.conclude(
        &mut writer,
        version,
        &summary,
        job,
        end,
        compile_started,
        inline,
    )
    .await;
}

/// What a session knows about its connection.
struct Conn<'a> {
    daemon: &'a Daemon,
    peer: SocketAddr,
    started: Instant,
    /// The job's key in the shared cache, where its result is stored after a compile.
    cache_key: Option<ccfarm_cache::Key>,
}

impl Conn<'_> {
    /// Send a reply found in the shared cache: no compiler ran.
    async fn answer_from_cache(
        &self,
        writer: &mut (impl AsyncWrite + Unpin),
        summary: &Summary,
        reply: Reply,
    ) {
        let (daemon, peer) = (self.daemon, self.peer);
        let outcome = match send(daemon, writer, &reply).await {
            Ok(()) => ConnectionOutcome::cache_hit,
            Err(err) => {
                warn!(%peer, category = "client_disconnect", "could not send the reply: {err}");
                ConnectionOutcome::client_disconnect
            }
        };
        info!(
            result = outcome.name(),
            "client: {peer} {} exit:{} time:{}ms cache hit: {summary}",
            outcome.name().to_uppercase(),
            reply.status >> 8,
            self.started.elapsed().as_millis(),
        );
        daemon.stats.finished(outcome, None, Instant::now());
    }

    /// Turn a finished job into the reply, send it, and account for it.
    #[allow(clippy::too_many_arguments)]
    async fn conclude(
        &self,
        writer: &mut (impl AsyncWrite + Unpin),
        version: Version,
        summary: &Summary,
        job: PreparedJob,
        end: CompilerExit,
        compile_started: Instant,
        inline: bool,
    ) {
        let (daemon, peer) = (self.daemon, self.peer);
        let took = compile_started.elapsed();
        daemon.stats.running(-1);
        let mut job_dir = None;
        let (outcome, reply) = match end {
            CompilerExit::Exited(status) => {
                let outcome = if status == 0 {
                    ConnectionOutcome::compile_ok
                } else {
                    ConnectionOutcome::compile_error
                };
                let limit = daemon.config.limits.max_body_len;
                let collected = file_work(inline, move || {
                    let reply = job.collect(limit, version, status);
                    (job, reply)
                })
                .await;
                match collected {
                    Ok((done, Ok(reply))) => {
                        // The job directory goes after the reply is sent, off the
                        // client's critical path.
                        job_dir = Some(done);
                        (outcome, reply)
                    }
                    Ok((_, Err(refusal))) => (refusal.outcome, refusal.reply(version)),
                    Err(panic) => {
                        let refusal = RequestRefusal::server_error(format!(
                            "internal error collecting results: {panic}"
                        ));
                        (refusal.outcome, refusal.reply(version))
                    }
                }
            }
            CompilerExit::TimedOut => {
                let lifetime = daemon.config.job_lifetime.unwrap_or_default().as_secs();
                let reason =
                    format!("compile exceeded the job lifetime of {lifetime} s and was killed");
                let refusal = RequestRefusal {
                    outcome: ConnectionOutcome::compile_timeout,
                    status: exit::TIMEOUT << 8,
                    reason,
                };
                warn!(%peer, category = "compile_timeout", "{}: {summary}", refusal.reason);
                (refusal.outcome, refusal.reply(version))
            }
            CompilerExit::Cancelled => {
                info!(%peer, category = "client_disconnect", "client went away; compiler killed: {summary}");
                daemon
                    .stats
                    .finished(ConnectionOutcome::client_disconnect, None, Instant::now());
                return;
            }
            CompilerExit::SpawnFailed(err) => {
                let refusal = RequestRefusal {
                    outcome: ConnectionOutcome::server_error,
                    status: exit::COMPILER_MISSING << 8,
                    reason: if daemon.sandbox.is_confined() {
                        format!(
                            "failed to exec {} in the sandbox ({}): {err}",
                            job.spec.program,
                            daemon.sandbox.description()
                        )
                    } else {
                        format!("failed to exec {}: {err}", job.spec.program)
                    },
                };
                warn!(%peer, category = "server_error", "{}", refusal.reason);
                (refusal.outcome, refusal.reply(version))
            }
            CompilerExit::Stopped => {
                // A stopped compiler is this server's trouble (an operator's SIGSTOP, a
                // debugger, a frozen cgroup): the job is the server's failure, so the
                // client runs it elsewhere at once.
                let refusal = RequestRefusal::server_error(format!(
                    "a process of the compile stayed stopped for {} s; the compile was killed",
                    job::STOPPED_LIMIT.as_secs()
                ));
                warn!(%peer, category = "server_error", "{}: {summary}", refusal.reason);
                (refusal.outcome, refusal.reply(version))
            }
            CompilerExit::SandboxFailed(reason) => {
                // The server's fault: reported as such (distcc then retries elsewhere
                // or locally), never as the user's compile error.
                let refusal = RequestRefusal::server_error(format!(
                    "the compile sandbox ({}) failed: {reason}",
                    daemon.sandbox.description()
                ));
                warn!(%peer, category = "server_error", "{}: {summary}", refusal.reason);
                (refusal.outcome, refusal.reply(version))
            }
        };

        let sent = send(daemon, writer, &reply).await;
        drop(job_dir);
        if outcome == ConnectionOutcome::compile_ok
            && let (Some(cache), Some(key)) = (&daemon.cache, self.cache_key)
        {
            // Stored after the reply went out, off the client's path.
            let (cache, entry) = (cache.clone(), crate::cache::entry_of(&reply));
            let metrics = daemon.stats.cache.clone();
            tokio::spawn(async move { cache.keep(key, entry, &metrics).await });
        }
        let outcome = if let Err(err) = &sent {
            warn!(%peer, category = "client_disconnect", "could not send the reply: {err}");
            ConnectionOutcome::client_disconnect
        } else {
            outcome
        };
        let status = reply.status;
        info!(
            result = outcome.name(),
            "client: {peer} {} exit:{} sig:{} time:{}ms compile:{}ms {summary}",
            outcome.name().to_uppercase(),
            status >> 8,
            status & 0x7f,
            self.started.elapsed().as_millis(),
            took.as_millis(),
        );
        daemon.stats.finished(
            outcome,
            Some((&summary.source, &summary.compiler, took)),
            Instant::now(),
        );
    }
}

/// How far a request has been read.
enum Progress {
    Complete(Request),
    /// Protocol 1/2: the command line is in, the source is not.
    AwaitingSource,
    /// The peer closed cleanly before sending anything.
    Closed,
}

/// Read until the request is complete (or, with `stop_at_source`, until only its
/// source is missing), with a timeout on every read.
async fn read_until(
    daemon: &Daemon,
    reader: &mut (impl AsyncRead + Unpin),
    decoder: &mut RequestDecoder,
    buf: &mut BytesMut,
    stop_at_source: bool,
) -> Result<Progress, ReadError> {
    loop {
        if let Some(request) = decoder.decode(buf)? {
            return Ok(Progress::Complete(request));
        }
        if stop_at_source && decoder.awaiting_source() {
            return Ok(Progress::AwaitingSource);
        }
        let read = timeout(daemon.config.io_timeout, reader.read_buf(buf))
            .await
            .map_err(|_| ReadError::Timeout(daemon.config.io_timeout))??;
        if read == 0 {
            return Ok(match decoder.decode_eof(buf)? {
                Some(request) => Progress::Complete(request),
                None => Progress::Closed,
            });
        }
    }
}

fn report_read_error(daemon: &Daemon, peer: SocketAddr, err: ReadError) {
    match err {
        // A distcc client sends its command line while its preprocessor runs and
        // simply closes if that fails: a close between frames is the client giving up.
        ReadError::Protocol(ProtoError::Truncated(0)) => {
            info!(%peer, category = "client_disconnect", "client closed before sending its source");
            daemon
                .stats
                .finished(ConnectionOutcome::client_disconnect, None, Instant::now());
        }
        err => {
            warn!(%peer, category = "bad_request", "{err}; closing the connection");
            daemon
                .stats
                .finished(ConnectionOutcome::bad_request, None, Instant::now());
        }
    }
}

/// Requests up to this size have their files written and read on the session's own
/// task: a hand-off to the blocking pool costs more than that much file I/O.
const INLINE_FILE_WORK: usize = 1 << 20;

/// The bytes a request will write to disk.
fn request_size(request: &Request) -> usize {
    match &request.payload {
        Payload::Preprocessed(source) => source.len(),
        Payload::Tree { entries, .. } => entries
            .iter()
            .map(|e| match &e.kind {
                TreeEntryKind::File(data) => data.len(),
                TreeEntryKind::Link(target) => target.len(),
            })
            .sum(),
    }
}

/// Run blocking file work inline or on the blocking pool.
async fn file_work<T: Send + 'static>(
    inline: bool,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, tokio::task::JoinError> {
    if inline {
        Ok(work())
    } else {
        tokio::task::spawn_blocking(work).await
    }
}

#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtoError),
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("client sent nothing for {0:?}")]
    Timeout(Duration),
}

/// Completes when the client closes its side or sends anything more. A distcc client
/// sends nothing after its request and never half-closes while waiting, so either
/// means it is gone (or misbehaving), and the job is abandoned.
async fn client_gone(reader: &mut (impl AsyncRead + Unpin)) {
    let mut byte = [0u8; 1];
    let _ = reader.read(&mut byte).await;
}

async fn send(
    daemon: &Daemon,
    writer: &mut (impl AsyncWrite + Unpin),
    reply: &Reply,
) -> std::io::Result<()> {
    let bytes = reply.encode();
    timeout(daemon.config.io_timeout, async {
        writer.write_all(&bytes).await?;
        writer.flush().await
    })
    .await
    .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "client stopped reading"))?
}

async fn refuse(
    daemon: &Daemon,
    writer: &mut (impl AsyncWrite + Unpin),
    peer: SocketAddr,
    version: Version,
    summary: &Summary,
    refusal: RequestRefusal,
) {
    warn!(%peer, category = refusal.outcome.name(), "refused: {}: {summary}", refusal.reason);
    if let Err(err) = send(daemon, writer, &refusal.reply(version)).await {
        debug!(%peer, "could not send the refusal: {err}");
    }
    daemon.stats.finished(refusal.outcome, None, Instant::now());
}

/// What to call a job in logs and stats.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The compiler the client asked for.
    pub compiler: String,
    /// The source file named on the command line (or "?").
    pub source: String,
}

impl Summary {
    fn of(request: &Request) -> Summary {
        Summary::of_argv(&request.argv)
    }

    fn of_argv(raw: &[Bytes]) -> Summary {
        let argv: Vec<String> = raw
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let compiler = argv.first().map_or("?", String::as_str).to_owned();
        let source = ccfarm_compiler::source_name(&argv)
            .unwrap_or("?")
            .to_owned();
        Summary { compiler, source }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.compiler, self.source)
    }
}

impl RequestRefusal {
    /// The distcc reply that explains this refusal.
    pub fn reply(&self, version: Version) -> Reply {
        Reply::failure(version, self.status, format!("ccfarmd: {}\n", self.reason))
    }

    /// An internal failure of the server.
    pub fn server_error(reason: String) -> RequestRefusal {
        RequestRefusal {
            outcome: ConnectionOutcome::server_error,
            status: exit::GENERAL << 8,
            reason,
        }
    }

    /// A request the server will not run.
    pub fn denied(outcome: ConnectionOutcome, reason: String) -> RequestRefusal {
        RequestRefusal {
            outcome,
            status: exit::ACCESS_DENIED << 8,
            reason,
        }
    }
}
