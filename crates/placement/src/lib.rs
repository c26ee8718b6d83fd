//! The ccfarm scheduler as a pure state machine.
//!
//! # Contract
//!
//! * **Pure.** No sockets, files, threads, clocks or OS randomness. The only randomness is the
//!   seeded generator of the `random` policy. The same calls always produce the same actions,
//!   so a simulator can replay a farm deterministically and tests need no sleeps.
//! * **Time is a parameter.** Every operation takes `now` as a [`Micros`] (microseconds since
//!   an epoch of the caller's choosing). [`Scheduler::next_deadline`] says when
//!   [`Scheduler::tick`] must be called next; the shell sleeps until then or until an event
//!   arrives.
//! * **Actions out.** Every operation returns the [`Action`]s it caused — grants, speculative
//!   starts, cancellations, revocations, "compile locally", probe requests — and the shell
//!   carries them out. Operations naming unknown things return a [`SchedError`] and change
//!   nothing.
//!
//! # Model
//!
//! *Hosts* join (registered ccfarmd, heartbeats) or are added by an operator (static distccd,
//! probed). Each has slots, a configured weight and a learned speed (work per second,
//! an EWMA of completed jobs' expected work over measured duration, seeded by the weight
//! times the farm's scale: learned speed over weight across the hosts already measured), and
//! a [`Health`]: up, probation, down or draining. Transport failures count against a host
//! (after [`Config::failures_to_down`] in a row it goes down, and is probed again with
//! exponential backoff, then recovers through probation); compile errors never do. A host that
//! goes down loses its leases (the clients are told to retry elsewhere), so no lease ever
//! lives on a down host, and a draining host keeps its leases but gets nothing new.
//!
//! *Requests* are granted at once when the policy finds a slot, or wait in per-user queues
//! served by weighted fair queueing (round-robin for equal weights, FIFO within a user). A
//! *lease* is held until the client releases it (with the job's duration and result) or goes
//! away; either returns the slot and may grant waiting requests. A request that waits
//! [`Config::max_wait`] is told to compile locally.
//!
//! *Placement* is pluggable ([`Placement`], [`Policy`]). ccfarm's own policy,
//! [`Policy::EarliestFinish`], grants the free slot with the earliest expected finish
//! (`now + cost / speed`), but keeps the request waiting when a full, faster host is expected
//! to free up in time to finish it sooner (`free_at + cost / speed`); a waiting request never
//! waits past the time it expected. When nothing waits and a fast slot is idle, a job
//! expected to run much longer on a much slower host is started again on the fast one
//! ([`Action::Speculate`]); the first result wins and the other lease is cancelled.
//!
//! ```
//! use std::time::Duration;
//! use ccfarm_placement::*;
//!
//! let mut s = Scheduler::new(Config::default()).unwrap();
//! let spec = HostSpec { name: "fast:3632".into(), slots: 1, weight: 1.0 };
//! let (fast, _) = s.join(Micros::ZERO, spec).unwrap();
//! let job = JobInfo { user: "ann".into(), size_bytes: 400_000, previous: None, compiler: None, avoid: vec![], local: None };
//! let actions = s.request(Micros::ZERO, RequestId(1), job).unwrap();
//! let [Action::Grant { lease, host, .. }] = actions[..] else { panic!("{actions:?}") };
//! assert_eq!(host, fast);
//! let done = ReleaseReport { duration: Duration::from_millis(400), result: JobEnd::Ok };
//! s.release(Micros::from_millis(400), lease, done).unwrap();
//! assert_eq!(s.snapshot().leases, 0);
//! ```

mod action;
pub mod compilers;
mod config;
mod error;
mod health;
mod host;
mod ids;
mod job;
mod lease;
mod policy;
mod queue;
mod rng;
mod scheduler;
pub mod sim;
mod size_fit;
mod snapshot;
mod time;

pub use action::{Action, FarmRefusal};
pub use compilers::CompilerKey;
pub use config::{Config, Speculation};
pub use error::{ConfigError, InvariantError, SchedError};
pub use health::{DownReason, Health};
pub use host::{Heartbeat, HostKind, HostSpec};
pub use ids::{Held, HostId, LeaseId, RequestId};
pub use job::{JobEnd, JobInfo, LocalOffer, PreviousRun, ReleaseReport};
pub use policy::{Candidate, Decision, JobView, PlaceContext, Placement, Policy, UnknownPolicy};
pub use scheduler::{LeaseInfo, QueuedRequest, Scheduler};
pub use snapshot::{Counters, HostStatus, MachineStatus, Snapshot, UserStatus};
pub use time::Micros;
