//! TCP keepalive on connections that hold leases.
//!
//! A client machine that loses power or its network never sends a FIN: without
//! keepalive its connection, and the slot it holds, would stay open forever. With these
//! settings the kernel notices within about 90 s (60 s idle, then 3 probes 10 s apart),
//! the read fails, and the lease returns like any closed connection's.

use std::time::Duration;

use socket2::{SockRef, TcpKeepalive};

/// Idle time before the first probe.
pub const IDLE: Duration = Duration::from_secs(60);
/// Between probes.
pub const INTERVAL: Duration = Duration::from_secs(10);
/// Unanswered probes before the connection is dropped.
pub const PROBES: u32 = 3;

/// Turn keepalive on for `stream` (best effort: a failure only loses the early notice).
pub fn enable<S: std::os::fd::AsFd>(stream: &S) {
    let settings = TcpKeepalive::new()
        .with_time(IDLE)
        .with_interval(INTERVAL)
        .with_retries(PROBES);
    if let Err(e) = SockRef::from(stream).set_tcp_keepalive(&settings) {
        tracing::debug!("cannot enable TCP keepalive: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalive_is_on_with_our_timings() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let sock = SockRef::from(&server);
        assert!(!sock.keepalive().unwrap());
        enable(&server);
        assert!(sock.keepalive().unwrap());
        assert_eq!(sock.tcp_keepalive_time().unwrap(), IDLE);
        assert_eq!(sock.tcp_keepalive_interval().unwrap(), INTERVAL);
        assert_eq!(sock.tcp_keepalive_retries().unwrap(), PROBES);
        drop(client);
    }
}
