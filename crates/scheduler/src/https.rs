//! The HTTP endpoint's listener: plain HTTP on a scheduler without credentials, HTTPS
//! on one with them (the admin token then never crosses the network in the clear).
//!
//! Handshakes run in their own tasks, so a client that stalls in one holds up nobody;
//! a plaintext request to an HTTPS endpoint is answered in plain HTTP with what to
//! use instead.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::secure::{HANDSHAKE_TIMEOUT, Security, starts_tls};

/// A connection either way.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Connections ready for HTTP.
pub struct Listener {
    ready: mpsc::Receiver<(Box<dyn Io>, SocketAddr)>,
    local: SocketAddr,
}

/// Handshakes in progress at most; more wait in the kernel's backlog.
const PENDING: usize = 256;

impl Listener {
    /// Accept on `listener`, with TLS whenever `security` has credentials.
    pub fn new(listener: TcpListener, security: Arc<Security>) -> std::io::Result<Listener> {
        let local = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(PENDING);
        tokio::spawn(async move {
            let pending = Arc::new(tokio::sync::Semaphore::new(PENDING));
            loop {
                let Ok(permit) = pending.clone().acquire_owned().await else {
                    return;
                };
                let (stream, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        warn!("HTTP endpoint: accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let (tx, security) = (tx.clone(), security.clone());
                tokio::spawn(async move {
                    let _permit = permit;
                    let Some(acceptor) = security.http_acceptor() else {
                        let _ = tx.send((Box::new(stream) as Box<dyn Io>, peer)).await;
                        return;
                    };
                    match starts_tls(&stream).await {
                        Ok(true) => {}
                        Ok(false) => return tell_to_use_https(stream).await,
                        Err(_) => return,
                    }
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((Box::new(tls) as Box<dyn Io>, peer)).await;
                        }
                        Ok(Err(e)) => debug!(%peer, "HTTPS handshake failed: {e}"),
                        Err(_) => debug!(%peer, "HTTPS handshake timed out"),
                    }
                });
            }
        });
        Ok(Listener { ready, local })
    }
}

async fn tell_to_use_https(mut stream: tokio::net::TcpStream) {
    let body = "this endpoint speaks HTTPS only: use https:// and the farm's ca.pem\n";
    let reply = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.write_all(reply.as_bytes())).await;
}

impl axum::serve::Listener for Listener {
    type Io = Box<dyn Io>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(ready) => ready,
            // The accept task ended: the runtime is going away.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}
