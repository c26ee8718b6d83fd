//! A deterministic discrete-event simulator of a compile farm, driving the real [`Scheduler`](crate::Scheduler).
//!
//! Why: placement policies are only worth comparing on the same arrivals, the same farm and
//! the same job costs, which a real farm never repeats. The simulator replays a synthetic
//! [`Workload`] on a synthetic [`Farm`] in *virtual* time, feeding the very state machine the
//! service uses, so what it measures is the policy and not a model of it.
//!
//! It is as pure as the scheduler: no clock, no threads, no OS randomness. Workloads are
//! generated from a seeded SplitMix64, time is integral [`Micros`](crate::Micros), and events at the same
//! instant are processed in the order they were scheduled, so the same inputs always give the
//! same [`Report`].
//!
//! # Model
//!
//! * A host of slowness `s` runs a job of cost `c` (seconds at speed 1) in `c × s` seconds,
//!   independent of its other jobs (its slots are real cores). What the scheduler knows of
//!   its speed is the farm's [`Knowledge`]: told its weight `1 / s`, nothing, or a
//!   calibration compile timed as the host joins; it learns the rest from the reported
//!   durations.
//! * Client `k` starts at its start time and submits its jobs in order, keeping at most its
//!   `make -j` outstanding; a job is submitted the moment an earlier one completes.
//! * A job reports a preprocessed size of `cost × `[`BYTES_PER_SEC`] bytes, so size-based cost
//!   prediction has a perfect signal: the simulator shows what a policy does with good
//!   estimates, not how well the estimates are learned.
//! * [`Action::Speculate`](crate::Action::Speculate) starts a second copy; the first copy to finish is released with
//!   [`JobEnd::Ok`](crate::JobEnd::Ok), and the scheduler cancels the twin ([`Action::Cancel`](crate::Action::Cancel)), which stops
//!   at once.
//! * [`Action::CompileLocally`](crate::Action::CompileLocally) runs the job on the client's own machine at slowness 1. The
//!   client machine is assumed to have at least `-j` cores, so local jobs never wait: the
//!   `-j` limit already bounds them. This flatters local fallback a little, which is fine
//!   because a good policy should rarely use it.
//! * No host fails, so heartbeats are not simulated: the configuration's heartbeat timeout is
//!   set beyond any simulated run instead.
//!
//! ```
//! use ccfarm_placement::Policy;
//! use ccfarm_placement::sim::{self, Farm, Workload};
//!
//! let r = sim::simulate(&Farm::default(), &Workload::w1(), Policy::EarliestFinish);
//! assert_eq!(r.completed, r.jobs);
//! assert!(r.ratio >= 1.0);
//! ```

use std::time::Duration;

use crate::config::Config;
use crate::policy::Policy;

mod farm;
mod report;
mod run;
mod workload;

pub use farm::{Farm, FarmError, Knowledge, SimHost};
pub use report::{Means, Report, table};
pub use workload::{HEADERS_SECS, SimClient, Sizes, UnknownSizes, Workload};

/// Preprocessed bytes per second of work at speed 1 reported with each job. Equal to the
/// inverse of [`Config::default`]'s `initial_secs_per_byte`, so the scheduler's size model is
/// right from the first job.
pub const BYTES_PER_SEC: f64 = 1e6;

/// The seed the standard workloads are generated from (the shared benchmark's default seed).
pub const DEFAULT_SEED: u64 = 20_240_601;

/// The scheduler configuration the simulator uses: the defaults, with `policy`, and a
/// heartbeat timeout no simulated run reaches (hosts never fail here).
pub fn sim_config(policy: Policy) -> Config {
    Config {
        policy,
        heartbeat_timeout: Duration::from_secs(365 * 24 * 3600),
        ..Config::default()
    }
}

/// Runs `workload` on `farm` under `policy` with [`sim_config`].
pub fn simulate(farm: &Farm, workload: &Workload, policy: Policy) -> Report {
    simulate_with(sim_config(policy), farm, workload)
}

/// Runs every workload under every policy on the default farm, workload-major.
pub fn compare(workloads: &[Workload], policies: &[Policy]) -> Vec<Report> {
    let farm = Farm::default();
    workloads
        .iter()
        .flat_map(|w| policies.iter().map(|&p| simulate(&farm, w, p)))
        .collect()
}

/// Runs `workload` on `farm` with an explicit scheduler configuration (its `policy` chooses
/// the placement).
///
/// # Panics
///
/// If the configuration is invalid or the scheduler rejects an operation the simulator
/// believes valid (a bug in one of them).
pub fn simulate_with(config: Config, farm: &Farm, workload: &Workload) -> Report {
    let policy = config.policy;
    run::execute(config, farm, workload).report(farm, policy)
}

#[cfg(test)]
mod tests;
