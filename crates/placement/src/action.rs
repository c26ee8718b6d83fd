//! What the scheduler asks its shell to do.
//!
//! Every operation returns the actions it caused, in order. The shell performs them (answers a
//! waiting client, tells a client to abandon a lease, probes a host) and never needs to ask
//! the scheduler what changed.

use serde::Serialize;

use crate::ids::{HostId, LeaseId, RequestId};

/// One instruction for the shell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Action {
    /// Answer a waiting request: send the job to `host`, holding `lease` until done.
    Grant {
        /// The request answered.
        request: RequestId,
        /// The new lease; release it with [`crate::Scheduler::release`].
        lease: LeaseId,
        /// Where to send the job.
        host: HostId,
    },
    /// Answer a waiting request: run the job on the client's own machine, which offered
    /// its slots ([`crate::LocalOffer`]) and finishes it soonest; release `lease` when
    /// done, with the compile's duration, as after a [`Action::Grant`].
    RunHere {
        /// The request answered.
        request: RequestId,
        /// The new lease on the machine's slot.
        lease: LeaseId,
    },
    /// A straggler: the job holding `original_lease` should also be started on `host` under
    /// `new_lease`. The first of the two released with a result wins; the other is cancelled.
    Speculate {
        /// The request both leases belong to.
        request: RequestId,
        /// The lease still running on a slower host.
        original_lease: LeaseId,
        /// The new lease on the faster host.
        new_lease: LeaseId,
        /// The faster host.
        host: HostId,
    },
    /// Stop using `lease` (its slot is already free): it lost a speculation race, or its host
    /// went away while its twin is still running. The request continues on its other lease
    /// or is finished.
    Cancel {
        /// The request the lease belonged to.
        request: RequestId,
        /// The lease to abandon.
        lease: LeaseId,
        /// The host it was on.
        host: HostId,
    },
    /// The lease was revoked because its host went down, was taken down or removed; the
    /// client should retry elsewhere (a new request) or compile locally. The request is
    /// finished as far as the scheduler is concerned.
    RetryElsewhere {
        /// The request whose lease was revoked.
        request: RequestId,
        /// The revoked lease.
        lease: LeaseId,
        /// The host that went away.
        host: HostId,
    },
    /// The request will not be served by the farm; the client should compile locally. The
    /// request is finished.
    CompileLocally {
        /// The request refused.
        request: RequestId,
        /// Why.
        reason: FarmRefusal,
    },
    /// Probe `host` (TCP connect plus a trivial compile under a deadline) and report with
    /// [`crate::Scheduler::probe_result`]; no answer within the probe timeout is a failure.
    Probe {
        /// The host to probe.
        host: HostId,
    },
}

/// Why a request was sent back to compile locally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FarmRefusal {
    /// It waited [`crate::Config::max_wait`] without a grant.
    WaitedTooLong,
    /// No host is up or on probation, so waiting would be pointless.
    NoUsableHost,
    /// The queue is at [`crate::Config::max_queued`].
    QueueFull,
    /// No host, up or not, has the compiler the job names ([`crate::compilers`]);
    /// [`crate::Scheduler::compilers_offered`] says which ones they have.
    NoMatchingCompiler,
}
