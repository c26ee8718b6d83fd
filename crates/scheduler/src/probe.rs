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
use ccfarm_proto::distcc::{Limits, ReplyDecoder, Version, encode_command, encode_source};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What the probe compiles: small, valid C that any gcc accepts.
const PROBE_SOURCE: &[u8] = b"int ccfarm_probe(void) { return 0; }\n";

/// Replies larger than this are not a probe's answer (the object is a few hundred bytes).
const MAX_REPLY: usize = 1 << 20;

/// Probe the distcc server at `addr` with `compiler`, giving up after `deadline`.
/// `Ok` means it compiled the probe, with the compiler's identity when the object tells
/// it; `Err` says why not, for the log.
pub async fn probe(
    addr: SocketAddr,
    compiler: &str,
    deadline: Duration,
) -> Result<Option<Identity>, String> {
    match tokio::time::timeout(deadline, exchange(addr, compiler)).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {deadline:?}")),
    }
}

async fn exchange(addr: SocketAddr, compiler: &str) -> Result<Option<Identity>, String> {
    let mut stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let argv: Vec<Bytes> = [compiler, "-c", "ccfarm-probe.i", "-o", "ccfarm-probe.o"]
        .iter()
        .map(|a| Bytes::copy_from_slice(a.as_bytes()))
        .collect();
    let mut request = encode_command(Version::V1, &argv);
    request.extend_from_slice(&encode_source(Version::V1, PROBE_SOURCE));
    stream
        .write_all(&request)
        .await
        .map_err(|e| format!("send: {e}"))?;
    let mut decoder = ReplyDecoder::new(Version::V1, Limits::default());
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        if let Some(reply) = decoder
            .decode(&mut buf)
            .map_err(|e| format!("reply: {e}"))?
        {
            return if reply.status == 0 && !reply.object.is_empty() {
                Ok(identify_object(&reply.object))
            } else {
                Err(format!(
                    "probe compile failed with status {}: {}",
                    reply.status,
                    String::from_utf8_lossy(&reply.stderr).trim()
                ))
            };
        }
        if buf.len() > MAX_REPLY {
            return Err("reply too large for a probe".into());
        }
        let n = stream
            .read_buf(&mut buf)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("connection closed before the reply".into());
        }
    }
}
