//! A plain, serialisable picture of the scheduler for the status page and metrics.

use serde::Serialize;

use crate::compilers::CompilerKey;
use crate::health::{DownReason, Health};
use crate::host::HostKind;
use crate::ids::HostId;
use crate::time::Micros;

/// Everything the dashboard shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    /// When it was taken (the latest time the scheduler has seen).
    pub now: Micros,
    /// The placement policy's name.
    pub policy: String,
    /// Hosts in configured order.
    pub hosts: Vec<HostStatus>,
    /// Users that ever asked, in first-seen order.
    pub users: Vec<UserStatus>,
    /// Requests waiting.
    pub queued: usize,
    /// Leases held.
    pub leases: usize,
    /// Free usable slots across the farm.
    pub free_slots: u32,
    /// Learned seconds of work per preprocessed byte (the plain ratio).
    pub secs_per_byte: f64,
    /// The line fitted through recent jobs' sizes and works, once sizes differ enough to
    /// tell one: seconds of work = `[0] + [1] × bytes` (`[0]` is negative when part of
    /// every file, its headers, costs next to nothing). Used within a factor 4 of the ratio.
    pub size_line: Option<(f64, f64)>,
    /// Learned speed over configured weight across the hosts with samples (1 before any;
    /// brought up to date when it moves by more than 1 %): a host with no samples is shown,
    /// and placed, at its weight times this.
    pub speed_scale: f64,
    /// Client machines that offered their own slots, in first-offered order.
    pub machines: Vec<MachineStatus>,
    /// Totals since start.
    pub counters: Counters,
}

/// One host.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostStatus {
    /// Its id.
    pub id: HostId,
    /// Its name.
    pub name: String,
    /// Registered (heartbeats) or static (probed).
    pub kind: HostKind,
    /// Effective health.
    pub health: Health,
    /// Why it is down, when it is.
    pub down_reason: Option<DownReason>,
    /// Slots it declares.
    pub slots: u32,
    /// Leases it may hold now (see health, foreign jobs, memory).
    pub capacity: u32,
    /// Leases it holds.
    pub leases: u32,
    /// Jobs it runs that are not our leases.
    pub foreign_jobs: u32,
    /// Configured weight.
    pub weight: f64,
    /// Learned speed (work per second); with no samples, its weight times
    /// [`Snapshot::speed_scale`].
    pub speed: f64,
    /// Jobs the speed was learned from (a calibration counts as one).
    pub samples: u32,
    /// Its speed over the fastest host's (1 the fastest host of the farm, 0.25 a host four
    /// times slower): what placement believes of it, whether measured or learned.
    pub relative_speed: f64,
    /// How long its latest calibration compile took, in milliseconds; `None` when it has
    /// run none and its speed is learned from its jobs.
    pub calibration_ms: Option<f64>,
    /// Last reported load average.
    pub load_avg: Option<f64>,
    /// Last reported free memory.
    pub free_memory: Option<u64>,
    /// Transport failures in a row.
    pub consecutive_failures: u32,
    /// Last heartbeat (or registration).
    pub last_heartbeat: Micros,
    /// The compilers it has ([`crate::compilers`]); empty when unidentified.
    pub compilers: Vec<CompilerKey>,
}

/// One client machine that offered its own slots (`scheduler::machines`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MachineStatus {
    /// The machine's name.
    pub name: String,
    /// Slots it offers.
    pub slots: u32,
    /// Jobs it runs now for the farm's decision.
    pub running: u32,
    /// Its learned speed (work per second, the hosts' units).
    pub speed: f64,
    /// Jobs its speed was learned from.
    pub samples: u32,
}

/// One user.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserStatus {
    /// The user's name.
    pub name: String,
    /// Fair-share weight.
    pub weight: f64,
    /// Requests waiting.
    pub queued: usize,
    /// Leases held.
    pub running: u32,
    /// Requests granted from the queue or at once, since start.
    pub granted: u64,
}

/// Event counts since start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Requests accepted (not counting duplicates).
    pub requests: u64,
    /// Leases granted (not counting speculative ones).
    pub grants: u64,
    /// Requests answered "run it on your own machine" ([`crate::Action::RunHere`]).
    pub run_here: u64,
    /// Requests that had to wait (were not granted on arrival).
    pub waits: u64,
    /// Speculative leases started.
    pub speculations: u64,
    /// Leases cancelled (speculation losers, twins of lost leases).
    pub cancels: u64,
    /// Leases revoked because their host went away.
    pub revocations: u64,
    /// Requests told to compile locally.
    pub local: u64,
    /// Releases by result.
    pub released_ok: u64,
    /// Releases with a compile error.
    pub released_compile_error: u64,
    /// Releases with a transport failure.
    pub released_transport: u64,
    /// Transport failures not counted against their host: the reporting user had no
    /// recent success to vouch for its reports ([`crate::Scheduler::release`]).
    pub unvouched_failures: u64,
    /// Clients that went away.
    pub clients_gone: u64,
    /// Times a host went down.
    pub host_downs: u64,
}
