//! The messages the actor takes: what connections, the HTTP endpoint, SIGHUP, the ports
//! that lease on a client's behalf, and the actor's own probes tell it. They live apart
//! from the actor and from [`crate::handle::Handle`], which both speak them, so that
//! each of those depends on this module and neither on the other's internals.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ccfarm_compiler::identity::Identity;
use ccfarm_placement::{HostId, Snapshot};
use ccfarm_proto::farm::{self, CompilerIdentity, FromScheduler, JobDescription};
use ccfarm_trust::ticket::TicketKey;
use tokio::sync::{mpsc, oneshot};

use crate::config::{FileConfig, StaticHost};
use crate::probe::ProbeError;

/// Messages to one connection.
pub type Tx = mpsc::UnboundedSender<FromScheduler>;

/// What connections (and the actor's own probes) tell the actor.
#[derive(Debug)]
pub enum Event {
    /// A client asks for a slot.
    Request {
        conn: u64,
        number: u64,
        user: String,
        /// The client machine its hello named.
        machine: String,
        job: JobDescription,
        tx: Tx,
    },
    /// A client learned its job's preprocessed size.
    Size { conn: u64, number: u64, bytes: u64 },
    /// A client is done with a lease.
    Release {
        conn: u64,
        lease: u64,
        result: farm::JobResult,
        duration_ms: u64,
    },
    /// A server registered.
    Register(Registration),
    /// A server's heartbeat.
    Heartbeat {
        conn: u64,
        slots: u32,
        running: u32,
        load: f64,
        free_memory_mb: u64,
        calibration: Option<Duration>,
    },
    /// A connection closed: its requests and leases (client) or its host (server) go.
    Gone { conn: u64 },
    /// This connection runs one copy of a job at a time: speculative copies offered to it
    /// are declined on its behalf (the service's own ports: distcc proxy, balance lease).
    OneCopy { conn: u64 },
    /// A probe finished: with the compiler identity its object revealed, if any.
    ProbeDone {
        host: HostId,
        result: Result<Option<Identity>, ProbeError>,
    },
    /// The status page wants the state.
    Snapshot(oneshot::Sender<Snapshot>),
    /// The balance-daemon status port wants each host's name and distcc address.
    Addresses(oneshot::Sender<Vec<(String, SocketAddr)>>),
    /// The distcc proxy's cache wants the identities (version, target) of the compilers
    /// registered servers run under this name.
    Identities {
        name: String,
        reply: oneshot::Sender<Vec<(String, String)>>,
    },
    /// An operator's change.
    Admin {
        op: AdminOp,
        reply: oneshot::Sender<Result<String, AdminError>>,
    },
    /// A new configuration (SIGHUP).
    Reload {
        file: Box<FileConfig>,
        reply: oneshot::Sender<Result<String, AdminError>>,
    },
}

/// A server's registration on its connection.
#[derive(Debug)]
pub struct Registration {
    pub conn: u64,
    pub name: String,
    pub ip: IpAddr,
    pub port: u16,
    pub slots: u32,
    pub lzo: bool,
    /// The key of its grant tickets, for a server that proved its name and takes TLS.
    pub tickets: Option<TicketKey>,
    /// Its connection, to refuse it on.
    pub tx: Tx,
    pub compilers: Vec<CompilerIdentity>,
}

/// An operator's change to the farm.
#[derive(Debug, Clone, PartialEq)]
pub enum AdminOp {
    /// Let running jobs finish, grant nothing new.
    Drain(String),
    /// Back in service (after drain or down).
    Up(String),
    /// Out of service at once: its leases are revoked.
    Down(String),
    /// A stock distccd host to use and probe.
    Add(StaticHost),
    /// Forget a host (its leases are revoked).
    Remove(String),
}

/// Why the actor refused an operation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AdminError {
    /// No host by that name or address.
    #[error("no host {0:?}")]
    UnknownHost(String),
    /// The state machine refused.
    #[error("{0}")]
    Refused(String),
    /// The actor is gone (shutting down).
    #[error("the scheduler is shutting down")]
    Gone,
}
