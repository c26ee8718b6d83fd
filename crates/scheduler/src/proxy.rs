//! The distcc proxy port (`--distcc-proxy`). Not yet implemented: connections are closed.

use tokio::net::TcpListener;

use crate::handle::Handle;

/// Serve the proxy port.
pub async fn serve(listener: TcpListener, handle: Handle) {
    let _ = handle;
    while let Ok((stream, _)) = listener.accept().await {
        drop(stream);
    }
}
