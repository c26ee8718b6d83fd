//! Typed errors.
//!
//! Operations that name something the scheduler does not know (a host that was removed, a lease
//! that was already released or cancelled) fail with [`SchedError`] and change nothing, so a
//! shell can log and carry on: such races are normal on a network (a client releasing a lease
//! that lost a speculation race, an admin removing a host twice).

use thiserror::Error;

use crate::ids::{HostId, LeaseId, RequestId};

/// An operation the scheduler refused; the state is unchanged.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SchedError {
    /// No host with this id (never existed, or removed).
    #[error("unknown host {0}")]
    UnknownHost(HostId),
    /// `add` of a name that is already known.
    #[error("a host named {0:?} already exists")]
    DuplicateHost(String),
    /// The lease was released, cancelled or revoked already, or never existed.
    #[error("unknown lease {0}")]
    UnknownLease(LeaseId),
    /// The request is neither queued nor holding a lease.
    #[error("unknown request {0}")]
    UnknownRequest(RequestId),
    /// The request id is already queued or holding a lease.
    #[error("request {0} is already active")]
    DuplicateRequest(RequestId),
    /// A host weight or user weight that is not a positive finite number.
    #[error("weight must be positive and finite, got {0}")]
    InvalidWeight(f64),
    /// A host name that is empty.
    #[error("host name must not be empty")]
    EmptyHostName,
    /// A calibration compile that took no time: not a measurement.
    #[error("a calibration compile must take some time, got {0:?}")]
    InvalidCalibration(std::time::Duration),
}

/// A [`crate::Config`] value out of range.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ConfigError {
    /// A duration that must be positive is zero.
    #[error("{0} must be greater than zero")]
    ZeroDuration(&'static str),
    /// A number outside its allowed range.
    #[error("{name} = {value} is out of range ({range})")]
    OutOfRange {
        /// The field.
        name: &'static str,
        /// The offending value.
        value: f64,
        /// The allowed range, for the message.
        range: &'static str,
    },
    /// A count that must be at least one is zero.
    #[error("{0} must be at least 1")]
    ZeroCount(&'static str),
}

/// An inconsistency [`crate::Scheduler::check_invariants`] found in the scheduler's own
/// bookkeeping, by the part of it that is out of step, with what is wrong (the first such
/// thing found, in a walk that is the same on every run).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InvariantError {
    /// A client machine's count of running jobs disagrees with its leases.
    #[error("machines: {0}")]
    Machines(String),
    /// Leases, the requests holding them and the hosts' lease lists disagree.
    #[error("{0}")]
    Leases(String),
    /// The fair queue's heads or index.
    #[error("{0}")]
    Queue(String),
    /// Hosts' deadlines, or hosts changed and not re-indexed.
    #[error("{0}")]
    Hosts(String),
    /// The farm's learned scale and the untried hosts' seeds.
    #[error("{0}")]
    Scale(String),
    /// Hosts and waiting requests per compiler.
    #[error("{0}")]
    Compilers(String),
    /// The host index placement reads.
    #[error("{0}")]
    Index(String),
}
