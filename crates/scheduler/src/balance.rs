//! The balance-daemon ports of the seed thread (003). Not yet implemented.

use tokio::net::TcpListener;

use crate::handle::Handle;

/// Serve the lease port.
pub async fn serve_lease(listener: TcpListener, handle: Handle) {
    let _ = (listener, handle);
}

/// Serve the status port.
pub async fn serve_status(listener: TcpListener, handle: Handle) {
    let _ = (listener, handle);
}

/// Serve the status-update port.
pub async fn serve_update(listener: TcpListener, handle: Handle) {
    let _ = (listener, handle);
}
