//! A protocol-1/2 compile started while the client still preprocesses: the compiler
//! runs as soon as the command line is in, and the source is streamed into its stdin
//! as the request grammar's walker takes it from the connection.

use std::net::SocketAddr;

use bytes::BytesMut;
use ccfarm_proto::distcc::token::HEADER_LEN;
use ccfarm_proto::distcc::{Event, Expect, Frame, ProtoError, RequestDecoder, RequestWalker};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::process::ChildStdin;
use tokio::time::{Instant, timeout};
use tracing::debug;

use super::{Conn, ReadError, Summary, client_gone, report_read_error};
use crate::daemon::Daemon;
use crate::job;
use crate::prepare::{PreparedJob, prepare_streamed};

/// A compiler started before its source arrived, with the slot it holds.
pub(super) struct Early {
    job: PreparedJob,
    running: job::Running,
    _slot: tokio::sync::OwnedSemaphorePermit,
}

/// Start the compiler for a protocol-1/2 command whose source is still to come, if a
/// slot is free and the command is acceptable. Anything else (no slot, a refusal, a
/// failed start) takes the ordinary path once the whole request is in, which reports
/// it properly.
pub(super) fn start_early(daemon: &Daemon, decoder: &RequestDecoder) -> Option<Early> {
    let version = decoder.version()?;
    let slot = daemon.slots.clone().try_acquire_owned().ok()?;
    let job = prepare_streamed(daemon, version, decoder.argv()).ok()??;
    let running = job::start(&job.spec, true).ok()?;
    Some(Early {
        job,
        running,
        _slot: slot,
    })
}

impl Conn<'_> {
    pub(super) async fn serve_streamed(
        &self,
        reader: &mut (impl AsyncRead + Unpin),
        writer: &mut (impl AsyncWrite + Unpin),
        decoder: RequestDecoder,
        buf: &mut BytesMut,
        early: Early,
    ) {
        let Early {
            job,
            mut running,
            _slot,
        } = early;
        let (daemon, peer) = (self.daemon, self.peer);
        daemon.stats.running(1);
        let compile_started = Instant::now();
        let Some(version) = decoder.version() else {
            unreachable!("a compiler starts early only once the command line is in");
        };
        let (walker, argv) = decoder.into_source(buf);
        let summary = Summary::of_argv(&argv);
        // Dropping `running` on any early return kills the waiting compiler.
        let fed = feed_source(daemon, peer, reader, walker, buf, running.stdin()).await;
        if let Err(err) = fed {
            daemon.stats.running(-1);
            return report_read_error(daemon, peer, err);
        }
        let end = running.finish(job.spec.grace, client_gone(reader)).await;
        self.conclude(writer, version, &summary, job, end, compile_started, true)
            .await;
    }
}

/// Read the rest of the request as the walker directs, feeding the source to the
/// compiler: an uncompressed source (protocol 1) as it arrives, a compressed one
/// (protocol 2) once whole, as LZO decompresses in one piece. Every read waits at
/// most the I/O timeout. stdin is closed at the end, so the compiler sees the end of
/// its input.
async fn feed_source(
    daemon: &Daemon,
    peer: SocketAddr,
    reader: &mut (impl AsyncRead + Unpin),
    mut walker: RequestWalker,
    buf: &mut BytesMut,
    mut stdin: Option<ChildStdin>,
) -> Result<(), ReadError> {
    let io_timeout = daemon.config.io_timeout;
    let mut body = walker.body_in_progress();
    // Bytes of the source's frame received: a close before any of them is the client
    // giving up while it preprocesses, not a broken request.
    let mut received = if body.is_some() { HEADER_LEN } else { 0 };
    let mut packed = BytesMut::new();
    loop {
        if walker.expect() == Expect::Complete {
            return Ok(());
        }
        if buf.is_empty() {
            let read = timeout(io_timeout, reader.read_buf(buf))
                .await
                .map_err(|_| ReadError::Timeout(io_timeout))??;
            if read == 0 {
                return Err(ProtoError::Truncated(received).into());
            }
        }
        let fed = walker.feed(buf)?;
        received += fed.used;
        let data = buf.split_to(fed.used).freeze();
        match fed.event {
            Event::Frame(Frame::Body(source)) => body = Some(source),
            Event::BodyBytes { last, .. } => match body {
                Some(source) if source.compressed => {
                    packed.extend_from_slice(&data);
                    if last {
                        let whole = std::mem::take(&mut packed).freeze();
                        let text = walker.decode_body(&source, whole)?;
                        write_stdin(&mut stdin, &text, daemon, peer).await;
                    }
                }
                _ => write_stdin(&mut stdin, &data, daemon, peer).await,
            },
            Event::Frame(_) | Event::Partial | Event::Complete => {}
        }
    }
}

/// Write to the compiler's stdin, within the I/O timeout. A compiler that exits early
/// (a bad option) closes the pipe; its status says why, so a failed write is not an
/// error of its own: writing stops and the rest of the source is read and dropped.
async fn write_stdin(
    stdin: &mut Option<ChildStdin>,
    bytes: &[u8],
    daemon: &Daemon,
    peer: SocketAddr,
) {
    let Some(pipe) = stdin else {
        return;
    };
    match timeout(daemon.config.io_timeout, pipe.write_all(bytes)).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => {
            debug!(%peer, "feeding the compiler: {err}");
            *stdin = None;
        }
        Err(_) => {
            debug!(%peer, "feeding the compiler: no progress in {:?}", daemon.config.io_timeout);
            *stdin = None;
        }
    }
}
