//! The scheduler state machine.
//!
//! Operations are grouped by what they are about: [`hosts`] (membership, heartbeats, probes,
//! admin), [`jobs`] (requests, releases, departed clients), [`dispatch`] (placement passes),
//! [`stragglers`] (speculation), [`matching`] (hosts' compilers), [`clock`] (ticks and deadlines), [`views`] (snapshots,
//! checks), [`index`] (the incremental host indexes placement reads instead of scanning the
//! farm) and [`scale`] (how fast a host no job has measured yet is taken to be).

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashMap;

use crate::action::Action;
use crate::compilers::Compilers;
use crate::config::Config;
use crate::error::ConfigError;
use crate::host::Hosts;
use crate::ids::{HostId, LeaseId, RequestId};
use crate::job::{CostModel, JobInfo};
use crate::lease::{Holding, Lease};
use crate::policy::{Placement, Policy};
use crate::queue::{FairQueue, UserIdx};
use crate::rng::SplitMix64;
use crate::snapshot::Counters;
use crate::time::Micros;

mod clock;
mod dispatch;
mod fenwick;
mod hosts;
pub(crate) mod index;
mod jobs;
mod machines;
mod matching;
mod scale;
mod stragglers;
mod views;

pub use views::{LeaseInfo, QueuedRequest};

/// How many failure reports a user's successes can vouch for at most. A client that reports
/// every lease as a transport failure (a broken or hostile one) then cannot take hosts
/// down: with no job succeeding it never earns the standing to. A user whose jobs succeed
/// elsewhere keeps enough standing to take a broken host down by itself
/// ([`Config::failures_to_down`] reports in a row), while a client that turns hostile after
/// honest work can spend no more than this.
pub const REPORT_CREDIT: u8 = 8;

/// The farm's brain: hosts, health, leases, fair queues and placement, driven entirely by the
/// calls its shell makes.
///
/// Every mutating operation takes `now`, applies the event, runs a placement pass if anything
/// could have changed, and returns the resulting [`Action`]s. Time never runs backwards inside
/// the scheduler: a `now` older than one already seen is treated as that latest time.
pub struct Scheduler {
    cfg: Config,
    placement: Box<dyn Placement>,
    /// The built-in policy when the scheduler was made with [`Scheduler::new`]: placement
    /// then reads the host index ([`index`]) instead of showing the policy every host. A
    /// custom [`Placement`] always gets the full candidate list.
    builtin: Option<Builtin>,
    index: index::HostIndex,
    /// Hosts changed since the index was last brought up to date.
    dirty: Vec<HostId>,
    /// Every host's next heartbeat or probe deadline ([`clock::host_deadline`]), so that
    /// [`Scheduler::next_deadline`] need not visit every host.
    deadlines: BTreeSet<(Micros, HostId)>,
    now: Micros,
    hosts: Hosts,
    /// Learned speed over weight across measured hosts, which values the untried ones.
    scale: scale::FarmScale,
    /// The compilers hosts have ([`crate::compilers`]).
    compilers: Compilers,
    names: BTreeMap<String, HostId>,
    next_host: u32,
    /// Live leases. A hash map (with a fixed hasher, so runs are reproducible): leases are
    /// looked up several times per operation and never walked in order, except by views that
    /// sort.
    leases: FxHashMap<LeaseId, Lease>,
    next_lease: u64,
    /// Requests holding leases (one, or two while speculating); hashed as `leases` is.
    granted: FxHashMap<RequestId, Holding>,
    queue: FairQueue,
    /// Requests no host could take, held while the start-up grace lasts
    /// ([`Config::startup_grace`]), in the order they came.
    held: Vec<(RequestId, JobInfo)>,
    /// The first time the scheduler saw: the start-up grace runs from it.
    started: Option<Micros>,
    cost: CostModel,
    /// Each user's standing to report a host's failure: one per job that succeeded,
    /// up to [`REPORT_CREDIT`], one spent per failure reported.
    credit: FxHashMap<UserIdx, u8>,
    counters: Counters,
    out: Vec<Action>,
    /// Buffers for placement passes' reservations ([`crate::host::Host::pass_ends`]), kept
    /// between passes so that a pass does not allocate one per reserved host.
    spare_ends: Vec<Vec<Micros>>,
    /// A placement pass's working lists ([`dispatch::Pass`]), kept between passes.
    pass: dispatch::Pass,
    /// A placement pass ran out of lookahead (every request it could consider declined the
    /// free slot) and the queue has stayed deeper than the lookahead since: the passes skip
    /// waiting until it is not ([`dispatch`], "Saturation").
    saturated: bool,
    /// The earliest a lease may be taken to be hung ([`stragglers`]), so that the search,
    /// which visits every lease, runs only then; `None` while no lease could be.
    hung_next: Option<Micros>,
    /// A hung job found no free host: the search runs on every change until one does.
    hung_stuck: bool,
    /// Client machines' own slots and the jobs they run ([`machines`]).
    machines: machines::Machines,
}

impl Scheduler {
    /// A scheduler with no hosts, using the built-in policy named in `config`.
    pub fn new(config: Config) -> Result<Scheduler, ConfigError> {
        let placement = config.policy.build();
        let mut s = Scheduler::with_placement(config, placement)?;
        let policy = s.cfg.policy;
        s.builtin = Some(Builtin {
            policy,
            rng: SplitMix64(match policy {
                Policy::Random { seed } => seed,
                _ => 0,
            }),
        });
        s.index = index::HostIndex::new(Some(policy));
        Ok(s)
    }

    /// A scheduler with a custom placement policy (`config.policy` is then ignored).
    pub fn with_placement(
        config: Config,
        placement: Box<dyn Placement>,
    ) -> Result<Scheduler, ConfigError> {
        config.validate()?;
        let credit = config.fair_credit;
        Ok(Scheduler {
            cost: CostModel::new(&config),
            cfg: config,
            placement,
            builtin: None,
            index: index::HostIndex::new(None),
            dirty: Vec::new(),
            deadlines: BTreeSet::new(),
            now: Micros::ZERO,
            hosts: Hosts::default(),
            scale: scale::FarmScale::default(),
            compilers: Compilers::default(),
            names: BTreeMap::new(),
            next_host: 0,
            leases: FxHashMap::default(),
            next_lease: 0,
            granted: FxHashMap::default(),
            queue: FairQueue::with_credit(credit),
            held: Vec::new(),
            started: None,
            credit: FxHashMap::default(),
            counters: Counters::default(),
            out: Vec::new(),
            spare_ends: Vec::new(),
            pass: dispatch::Pass::default(),
            saturated: false,
            hung_next: None,
            hung_stuck: false,
            machines: machines::Machines::default(),
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The latest time the scheduler has seen.
    pub fn now(&self) -> Micros {
        self.now
    }

    /// The placement policy's name.
    pub fn policy_name(&self) -> &str {
        self.placement.name()
    }

    /// Moves the scheduler's clock forward (never back) and returns the effective `now`.
    fn advance(&mut self, now: Micros) -> Micros {
        self.now = self.now.max(now);
        self.started.get_or_insert(self.now);
        self.now
    }

    /// Whether requests no host can take still wait for servers to register.
    fn in_grace(&self, now: Micros) -> bool {
        self.grace_end().is_some_and(|end| now < end)
    }

    /// When the start-up grace ends (none when it is off).
    fn grace_end(&self) -> Option<Micros> {
        let started = self.started?;
        (!self.cfg.startup_grace.is_zero()).then(|| started + self.cfg.startup_grace)
    }

    /// Notes that `host` changed in a way the index may care about.
    fn touch(&mut self, host: HostId) {
        self.dirty.push(host);
    }

    /// Re-keys every host changed since the last time.
    fn refresh_index(&mut self) {
        if self.dirty.is_empty() {
            return;
        }
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.sort_unstable();
        dirty.dedup();
        for id in &dirty {
            if let Some(h) = self.hosts.get_mut(id) {
                self.index.update(h, &self.cfg, self.now);
                let due = clock::host_deadline(h, &self.cfg);
                if due != h.deadline {
                    if let Some(t) = std::mem::replace(&mut h.deadline, due) {
                        self.deadlines.remove(&(t, *id));
                    }
                    if let Some(t) = due {
                        self.deadlines.insert((t, *id));
                    }
                }
            }
        }
        dirty.clear();
        self.dirty = dirty;
    }

    /// Ends an operation: places what can be placed and hands over the actions.
    fn finish(&mut self) -> Vec<Action> {
        self.retry_held(self.now);
        self.settle(self.now);
        std::mem::take(&mut self.out)
    }
}

/// A built-in policy served from the host index.
#[derive(Debug, Clone)]
struct Builtin {
    policy: Policy,
    /// `random`'s generator, seeded as [`Policy::build`] seeds it, so both draw alike.
    rng: SplitMix64,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("policy", &self.placement.name())
            .field("now", &self.now)
            .field("hosts", &self.hosts.len())
            .field("leases", &self.leases.len())
            .field("queued", &self.queue.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn scheduler_can_move_between_threads() {
        fn send<T: Send>() {}
        send::<super::Scheduler>();
    }
}
