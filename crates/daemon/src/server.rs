//! The accept loop of the distcc port.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::admit::{self, admitted_address};
use crate::daemon::Daemon;

/// Accept and serve connections until `shutdown` completes. On shutdown every
/// session is dropped, which kills its compiler and removes its job directory.
pub async fn run(
    daemon: Arc<Daemon>,
    listener: TcpListener,
    max_connections: usize,
    shutdown: impl Future<Output = ()>,
) {
    let connections = Arc::new(Semaphore::new(max_connections));
    let mut sessions = JoinSet::new();
    let sampler = tokio::spawn({
        let daemon = daemon.clone();
        async move {
            let mut tick = tokio::time::interval(Duration::from_secs(3));
            loop {
                tick.tick().await;
                daemon.stats.sample(Instant::now());
            }
        }
    });
    tokio::pin!(shutdown);
    loop {
        // Over the connection limit, stop accepting: further clients wait in the
        // kernel's backlog, as with distccd, rather than costing memory here.
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => permit.expect("never closed"),
            () = &mut shutdown => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
            Some(_) = sessions.join_next(), if !sessions.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(conn) => conn,
            Err(err) => {
                // EMFILE and friends: back off instead of spinning.
                warn!("accept failed: {err}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Without credentials the allow-list is decided here, before a task exists;
        // with them, a TLS client may come from anywhere, which takes a byte to tell.
        if daemon.trust.acceptor().is_none() && !admitted_address(&daemon, peer) {
            continue;
        }
        let daemon = daemon.clone();
        sessions.spawn(async move {
            admit::serve(daemon, stream, peer).await;
            drop(permit);
        });
    }
    info!(
        "shutting down: stopping {} open connection(s)",
        sessions.len()
    );
    sampler.abort();
    sessions.shutdown().await;
}
