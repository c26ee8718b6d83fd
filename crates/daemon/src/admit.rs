//! A new connection on the distcc port: plaintext from an allowed address, or TLS from a
//! user with a certificate and (with a scheduler) a grant ticket.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use ccfarm_proto::farm::{self, CompileHello};
use ccfarm_trust::tls::{TLS_HANDSHAKE_BYTE, peer_identity};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};
use tracing::{debug, warn};

use crate::daemon::Daemon;
use crate::prepare::RequestRefusal;
use crate::session;
use crate::stats::ConnectionOutcome;

/// The largest [`CompileHello`] accepted: a ticket is under 100 bytes.
const MAX_HELLO: u32 = 4096;

/// Whether a plaintext client's address is in `--allow`; a refusal is logged and counted.
pub fn admitted_address(daemon: &Daemon, peer: SocketAddr) -> bool {
    if daemon.allow.allows(peer.ip()) {
        return true;
    }
    warn!(
        %peer,
        category = "refused_address",
        "refusing connection from {}: not in the --allow list ({})",
        peer.ip(),
        daemon.allow
    );
    daemon
        .stats
        .finished(ConnectionOutcome::refused_address, None, Instant::now());
    false
}

/// Serve one connection: sort it by its first byte, then hand it to the session.
pub async fn serve(daemon: Arc<Daemon>, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let io_timeout = daemon.config.io_timeout;
    let Some(acceptor) = daemon.trust.acceptor() else {
        daemon.stats.accepted();
        return session::serve(daemon, stream, peer, BytesMut::new(), None).await;
    };
    let mut first = [0u8; 1];
    match timeout(io_timeout, stream.peek(&mut first)).await {
        Ok(Ok(1)) => {}
        _ => return debug!(%peer, "connection closed before a request"),
    }
    if first[0] != TLS_HANDSHAKE_BYTE {
        if admitted_address(&daemon, peer) {
            daemon.stats.accepted();
            session::serve(daemon, stream, peer, BytesMut::new(), None).await;
        }
        return;
    }
    let mut tls = match timeout(io_timeout, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            warn!(%peer, category = "refused_grant", "TLS handshake failed: {e}");
            daemon
                .stats
                .finished(ConnectionOutcome::refused_grant, None, Instant::now());
            return;
        }
        Err(_) => return warn!(%peer, "TLS handshake timed out"),
    };
    daemon.stats.accepted();
    let user = match peer_identity(tls.get_ref().1.peer_certificates()) {
        Ok(Some(user)) => user,
        Ok(None) | Err(_) => return warn!(%peer, "TLS client without a usable certificate"),
    };
    // The ticket frame, then the distcc request; bytes of the request read with the
    // frame are handed on.
    let mut buf = BytesMut::with_capacity(8 * 1024);
    let hello = loop {
        match farm::decode::<CompileHello>(&mut buf, MAX_HELLO) {
            Ok(Some(hello)) => break hello,
            Ok(None) => {}
            Err(e) => return warn!(%peer, %user, "bad compile hello: {e}"),
        }
        match timeout(io_timeout, tls.read_buf(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return debug!(%peer, "TLS client left before its request"),
        }
    };
    let denial = daemon.trust.admit(&user, &hello).err().map(|reason| {
        RequestRefusal::denied(
            ConnectionOutcome::refused_grant,
            format!("refusing the job of {user}: {reason}"),
        )
    });
    session::serve(daemon, tls, peer, buf, denial).await;
}
