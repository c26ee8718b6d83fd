//! Identifiers.
//!
//! Hosts and leases are numbered by the scheduler (never reused, so a stale id from a dead
//! connection can never hit a newer host or lease); requests are numbered by the caller, who
//! needs to know the id before the answer arrives.

use core::fmt;

use serde::Serialize;

/// A host known to the scheduler. Allocated in join/add order, which is also the "configured
/// order" that the distcc list-order policy follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct HostId(pub u32);

/// One granted slot: held by a client for the duration of one compile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct LeaseId(pub u64);

/// A client's request for a slot, numbered by the caller (the shell), unique among the
/// requests that are still queued or holding leases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct RequestId(pub u64);

/// Something a client can hold, for [`crate::Scheduler::client_gone`]: the request itself, or
/// any lease granted to it (either frees everything the request holds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Held {
    /// The request (queued or granted).
    Request(RequestId),
    /// A lease granted to the request.
    Lease(LeaseId),
}

impl From<RequestId> for Held {
    fn from(id: RequestId) -> Held {
        Held::Request(id)
    }
}

impl From<LeaseId> for Held {
    fn from(id: LeaseId) -> Held {
        Held::Lease(id)
    }
}

impl fmt::Display for HostId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "host#{}", self.0)
    }
}

impl fmt::Display for LeaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "lease#{}", self.0)
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "request#{}", self.0)
    }
}
