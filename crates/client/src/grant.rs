//! A server the scheduler granted, and what can happen to a job under its lease while
//! it runs: plain data shared by the race ([`crate::race`]), the distribution machine and
//! the shell that performs their actions.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ccfarm_proto::farm::GrantProof;

use crate::hosts::DEFAULT_REMOTE_SLOTS;
use crate::verdict::Verdict;

/// A server the scheduler granted (or offered for a speculative copy): a candidate of its
/// own, reached over TCP, with the lease it runs under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The lease the job runs under there.
    pub lease: u64,
    /// The server's address.
    pub host: String,
    /// Its distcc port.
    pub port: u16,
    /// Whether it takes protocol 2.
    pub lzo: bool,
    /// On a secure farm: the server to expect and the ticket to show it.
    pub proof: Option<GrantProof>,
}

impl Grant {
    /// The server as the scheduler writes a server's address (`ip:port`, IPv6 in
    /// brackets), so that the scheduler recognises it in the compile-time memory.
    pub fn server_address(&self) -> String {
        match self.host.parse::<IpAddr>() {
            Ok(ip) => SocketAddr::new(ip, self.port).to_string(),
            Err(_) => format!("{}:{}", self.host, self.port),
        }
    }
}

/// Written as the host-list entry that would name the server (distcc's default slot
/// count, `,lzo` when it takes protocol 2), so the log names a server the same way
/// whether the scheduler or the host list placed the job.
impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (host, port, slots) = (&self.host, self.port, DEFAULT_REMOTE_SLOTS);
        if host.contains(':') {
            write!(f, "[{host}]:{port}/{slots}")?;
        } else {
            write!(f, "{host}:{port}/{slots}")?;
        }
        if self.lzo {
            f.write_str(",lzo")?;
        }
        Ok(())
    }
}

/// What happens to a job under a lease while it runs.
#[derive(Debug)]
pub enum RaceEvent {
    /// The scheduler revoked this lease (the first one or a speculative one).
    Cancel(u64),
    /// The job under `lease` straggles: also run it on `copy`'s server.
    Speculate {
        /// The lease of the copy already running.
        lease: u64,
        /// The new copy's server and lease.
        copy: Grant,
    },
    /// The scheduler connection closed or broke, for this reason; closing it released
    /// every lease it held.
    Lost(String),
    /// Copy number `copy` ended with `verdict`, `elapsed` after it started.
    Done {
        /// Which copy, in the order they were started (0 is the granted one).
        copy: usize,
        /// How it ended.
        verdict: Verdict,
        /// From its start to its end.
        elapsed: Duration,
    },
}
