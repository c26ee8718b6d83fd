//! Listening sockets the scheduler is started with rather than binds: systemd's socket
//! activation (`LISTEN_FDS`, `LISTEN_PID`), or the same hand-over done by any supervisor.
//!
//! Why: a socket that outlives the process keeps every port open across a restart or an
//! upgrade. Connections that arrive while the old process drains and the new one starts
//! wait in the socket's backlog instead of being refused, so neither a `ccfarm` client
//! nor a stock distcc client through the proxy notices the restart. Each inherited
//! socket is matched to the port it serves by its address, so the order of a socket
//! unit's `ListenStream=` lines does not matter.

use std::net::{SocketAddr, TcpListener};

use tracing::{info, warn};

/// The TCP listening sockets passed to this process, until each is taken for a port.
#[derive(Debug, Default)]
pub struct Inherited {
    listeners: Vec<(SocketAddr, TcpListener)>,
}

impl Inherited {
    /// The sockets in this process's environment, if it names any for this process;
    /// descriptors that are not TCP listening sockets are left alone, with a warning.
    pub fn from_env() -> Inherited {
        let mut fds = listenfd::ListenFd::from_env();
        let mut listeners = Vec::new();
        for index in 0..fds.len() {
            match fds.take_tcp_listener(index) {
                Ok(Some(listener)) => match listener.local_addr() {
                    Ok(addr) => listeners.push((addr, listener)),
                    Err(e) => warn!(index, "inherited socket without an address: {e}"),
                },
                Ok(None) => {}
                Err(e) => warn!(index, "inherited descriptor is not a TCP listener: {e}"),
            }
        }
        if !listeners.is_empty() {
            let addrs: Vec<String> = listeners.iter().map(|(a, _)| a.to_string()).collect();
            info!(sockets = %addrs.join(", "), "listening sockets inherited");
        }
        Inherited { listeners }
    }

    /// The inherited socket listening on `addr`, if there is one. An address with port
    /// 0 ("any free port") matches none.
    pub fn take(&mut self, addr: SocketAddr) -> Option<TcpListener> {
        let at = self
            .listeners
            .iter()
            .position(|(bound, _)| addr.port() != 0 && *bound == addr)?;
        Some(self.listeners.remove(at).1)
    }

    /// Addresses of the sockets no port took (a socket unit and the configuration that
    /// disagree).
    pub fn unused(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.listeners.iter().map(|(addr, _)| *addr)
    }
}

impl From<Vec<TcpListener>> for Inherited {
    fn from(listeners: Vec<TcpListener>) -> Inherited {
        Inherited {
            listeners: listeners
                .into_iter()
                .filter_map(|l| Some((l.local_addr().ok()?, l)))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_is_taken_by_its_exact_address_once() {
        let a = TcpListener::bind("127.0.0.1:0").unwrap();
        let b = TcpListener::bind("127.0.0.1:0").unwrap();
        let (addr_a, addr_b) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let mut inherited = Inherited::from(vec![a, b]);
        let any_port: SocketAddr = "127.0.0.1:0".parse().unwrap();
        assert!(inherited.take(any_port).is_none());
        let other_ip = SocketAddr::new("0.0.0.0".parse().unwrap(), addr_b.port());
        assert!(inherited.take(other_ip).is_none());
        let taken = inherited.take(addr_b).expect("b's socket");
        assert_eq!(taken.local_addr().unwrap(), addr_b);
        assert!(inherited.take(addr_b).is_none(), "taken once");
        assert_eq!(inherited.unused().collect::<Vec<_>>(), [addr_a]);
    }
}
