//! Active health probes of distcc servers, as `lsdistcc` does them: connect, send a
//! trivial preprocessed compile, and expect a successful reply, all under one deadline.
//!
//! A TCP connect alone is not enough: a SIGSTOPped or wedged distccd still completes the
//! handshake (the kernel accepts into the backlog), so only an answered compile proves
//! the server works.
//!
//! The object that comes back also says which compiler made it: its `.comment` section
//! holds the compiler's version (`GCC: (Debian 12.2.0-14) 12.2.0`) and its header the
//! architecture ([`ccfarm_compiler::identity::identify_object`]). The version cannot be
//! learned from the source: the probe sends preprocessed source, whose macros (such as
//! `__VERSION__`) a client would have expanded with its own compiler.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ccfarm_compiler::identity::{Identity, identify_object};
use ccfarm_proto::distcc::{
    Limits, ProtoError, ReplyDecoder, Version, encode_command, encode_source,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What the probe compiles: small, valid C that any gcc accepts.
const PROBE_SOURCE: &[u8] = b"int ccfarm_probe(void) { return 0; }\n";

/// Replies larger than this are not a probe's answer (the object is a few hundred bytes).
const MAX_REPLY: usize = 1 << 20;

/// Why a probe did not prove its server works.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The whole exchange took longer than the probe's deadline.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The server's port did not accept the connection.
    #[error("connect: {0}")]
    Connect(#[source] std::io::Error),
    /// The request could not be written.
    #[error("send: {0}")]
    Send(#[source] std::io::Error),
    /// The reply could not be read.
    #[error("read: {0}")]
    Read(#[source] std::io::Error),
    /// The reply is not a distcc reply.
    #[error("reply: {0}")]
    Reply(#[source] ProtoError),
    /// The server answered, but the compile failed or sent no object.
    #[error("probe compile failed with status {status}: {stderr}")]
    Failed {
        /// The compiler's raw wait status.
        status: u32,
        /// What it wrote to standard error, trimmed.
        stderr: String,
    },
    /// More was sent than any probe's answer takes.
    #[error("reply too large for a probe")]
    TooLarge,
    /// The server closed the connection before a whole reply.
    #[error("connection closed before the reply")]
    Closed,
}

/// Probe the distcc server at `addr` with `compiler`, giving up after `deadline`.
/// `Ok` means it compiled the probe, with the compiler's identity when the object tells
/// it; `Err` says why not, for the log.
pub async fn probe(
    addr: SocketAddr,
    compiler: &str,
    deadline: Duration,
) -> Result<Option<Identity>, ProbeError> {
    match tokio::time::timeout(deadline, exchange(addr, compiler)).await {
        Ok(result) => result,
        Err(_) => Err(ProbeError::Timeout(deadline)),
    }
}

async fn exchange(addr: SocketAddr, compiler: &str) -> Result<Option<Identity>, ProbeError> {
    let mut stream = TcpStream::connect(addr)
        .await
        .map_err(ProbeError::Connect)?;
    let _ = stream.set_nodelay(true);
    let argv: Vec<Bytes> = [compiler, "-c", "ccfarm-probe.i", "-o", "ccfarm-probe.o"]
        .iter()
        .map(|a| Bytes::copy_from_slice(a.as_bytes()))
        .collect();
    let mut request = encode_command(Version::V1, &argv);
    request.extend_from_slice(&encode_source(Version::V1, PROBE_SOURCE));
    stream.write_all(&request).await.map_err(ProbeError::Send)?;
    let mut decoder = ReplyDecoder::new(Version::V1, Limits::default());
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        if let Some(reply) = decoder.decode(&mut buf).map_err(ProbeError::Reply)? {
            return if reply.status == 0 && !reply.object.is_empty() {
                Ok(identify_object(&reply.object))
            } else {
                Err(ProbeError::Failed {
                    status: reply.status,
                    stderr: String::from_utf8_lossy(&reply.stderr).trim().to_owned(),
                })
            };
        }
        if buf.len() > MAX_REPLY {
            return Err(ProbeError::TooLarge);
        }
        let n = stream.read_buf(&mut buf).await.map_err(ProbeError::Read)?;
        if n == 0 {
            return Err(ProbeError::Closed);
        }
    }
}
