//! One compile host: its slots, what it reported, its learned speed and its health.

use serde::Serialize;

use crate::compilers::{self, CompilerId};
use crate::config::Config;
use crate::health::{Health, HealthState};
use crate::ids::HostId;
use crate::lease::HostLeases;
use crate::time::Micros;

/// A host as configured or as it registers itself.
#[derive(Debug, Clone, PartialEq)]
pub struct HostSpec {
    /// Unique name (usually `host:port`).
    pub name: String,
    /// Concurrent jobs it accepts.
    pub slots: u32,
    /// Relative speed guess (1.0 a fast reference machine, 0.25 one four times slower). It
    /// seeds the learned speed (times the farm's scale, see `FarmScale`) and is what the
    /// fastest-free policy ranks by.
    pub weight: f64,
}

/// What a registered host reports periodically.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Heartbeat {
    /// Concurrent jobs it accepts now (an operator may have changed it).
    pub slots: u32,
    /// Jobs it is running, ours and others' (stock distcc clients may use it directly).
    pub running: u32,
    /// One-minute load average, if known.
    pub load_avg: Option<f64>,
    /// Free memory in bytes, if known.
    pub free_memory: Option<u64>,
    /// How long its latest calibration compile took, if it has one
    /// ([`crate::Scheduler::calibrated`]).
    pub calibration: Option<std::time::Duration>,
}

/// How the scheduler knows a host is alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum HostKind {
    /// A ccfarmd that registered and heartbeats; silence takes it down.
    Registered,
    /// Listed by an operator (e.g. a stock distccd); the scheduler asks for periodic probes.
    Static,
}

/// A host's learned speed: work per second, the ratio of exponentially weighted moving
/// averages of completed jobs' work and durations, seeded by the configured weight times the
/// farm's scale (the seed counts as one job of one second, so the first real job already
/// moves it halfway).
///
/// Why the first job is blended with the seed rather than replacing it: one job is a noisy
/// measurement (a cold cache, a short job dominated by start-up), and the seed is the best
/// guess before it: the speed the measured hosts have for this host's weight. That is only
/// true of a scaled seed; a raw weight is in other units than the learned speeds
/// (`scheduler::scale`).
///
/// A ratio of averages, not an average of ratios: job durations vary, and the mean of
/// `work / secs` overestimates a host's throughput (E[1/secs] > 1/E[secs]). Fed back
/// through the size model (work = secs × speed), that bias compounded into a drift of
/// every estimate by orders of magnitude within one build when sizes say little.
///
/// A *calibrated* speed is measured instead: `1 / seconds` of the calibration compile, the
/// same translation unit on every host (`Scheduler::calibrated`). It is not learned from jobs
/// at all. A host's jobs say how fast it is only when their costs are known; when sizes say
/// nothing about cost, "work per second" mostly measures which jobs a host happened to get
/// (a host of half the speed learned faster than a full-speed one on the benchmark harness).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Speed {
    pub(crate) value: f64,
    pub(crate) samples: u32,
    work: f64,
    secs: f64,
    /// Measured by calibration: jobs no longer move it.
    pub(crate) calibrated: bool,
}

impl Speed {
    pub(crate) fn seeded(weight: f64) -> Speed {
        Speed {
            value: weight,
            samples: 0,
            work: weight,
            secs: 1.0,
            calibrated: false,
        }
    }

    /// The speed of a host whose calibration compile took `secs` (> 0): calibration
    /// compiles per second. It counts as a sample, so the host is measured.
    pub(crate) fn calibrated(secs: f64) -> Speed {
        let value = (1.0 / secs).clamp(1e-6, 1e6);
        Speed {
            value,
            samples: 1,
            work: value,
            secs: 1.0,
            calibrated: true,
        }
    }

    /// Folds in one job that did `work` (seconds at speed 1) in `secs`. One job moves the
    /// estimate by at most a factor of 4, so a job stalled by a disk hiccup cannot wreck a
    /// well-learned host.
    pub(crate) fn learn(&mut self, work: f64, secs: f64, alpha: f64) {
        if !(work.is_finite() && work > 0.0 && secs.is_finite() && secs > 0.0) {
            return;
        }
        if self.calibrated {
            self.samples = self.samples.saturating_add(1);
            return;
        }
        let alpha = alpha.max(1.0 / (f64::from(self.samples) + 2.0));
        // Bound this job's own speed to 4x either way of the current estimate.
        let work = work.clamp(secs * self.value / 4.0, secs * self.value * 4.0);
        self.work += alpha * (work - self.work);
        self.secs += alpha * (secs - self.secs);
        self.value = (self.work / self.secs).clamp(1e-6, 1e6);
        self.samples = self.samples.saturating_add(1);
    }
}

/// Scheduler-side record of a host.
#[derive(Debug, Clone)]
pub(crate) struct Host {
    pub(crate) id: HostId,
    pub(crate) name: String,
    pub(crate) kind: HostKind,
    pub(crate) slots: u32,
    pub(crate) weight: f64,
    pub(crate) speed: Speed,
    /// How long its latest calibration compile took, if it has run one.
    pub(crate) calibration: Option<std::time::Duration>,
    pub(crate) health: HealthState,
    pub(crate) leases: HostLeases,
    /// Jobs the host runs that are not our leases (reported running minus our leases at the
    /// time of the heartbeat). Underestimates rather than over: a lease granted but not yet
    /// started on the host counts as ours, so we never leave a slot idle for a phantom.
    pub(crate) external: u32,
    pub(crate) load_avg: Option<f64>,
    pub(crate) free_memory: Option<u64>,
    pub(crate) last_heartbeat: Micros,
    /// When to ask for the next probe (static hosts periodically; any host down for
    /// failures after its backoff).
    pub(crate) next_probe_at: Option<Micros>,
    /// A probe was asked for at this time and has not been answered.
    pub(crate) probe_sent: Option<Micros>,
    /// During a placement pass that reserved slots here: the usable slots' expected free
    /// times, reservations included, earliest first. `None` outside a pass.
    pub(crate) pass_ends: Option<Vec<Micros>>,
    /// Where the host sits in the scheduler's deadline set.
    pub(crate) deadline: Option<Micros>,
    /// The compilers it has, sorted ([`crate::compilers`]); empty when unidentified.
    pub(crate) compilers: Vec<CompilerId>,
}

/// Every known host by id, in id order (the configured order that list-order follows and
/// that breaks ties everywhere).
///
/// Why not a `BTreeMap`: ids are handed out one after another and never reused, so a host's
/// id is its position in a vector, and every look-up (several per operation) is an index
/// instead of a tree walk. A forgotten host leaves an empty place behind.
#[derive(Debug, Clone, Default)]
pub(crate) struct Hosts {
    by_id: Vec<Option<Host>>,
    len: usize,
}

impl Hosts {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn get(&self, id: &HostId) -> Option<&Host> {
        self.by_id.get(id.0 as usize)?.as_ref()
    }

    pub(crate) fn get_mut(&mut self, id: &HostId) -> Option<&mut Host> {
        self.by_id.get_mut(id.0 as usize)?.as_mut()
    }

    pub(crate) fn contains_key(&self, id: &HostId) -> bool {
        self.get(id).is_some()
    }

    /// Adds a host under a new id.
    pub(crate) fn insert(&mut self, id: HostId, host: Host) {
        let i = id.0 as usize;
        if i >= self.by_id.len() {
            self.by_id.resize_with(i + 1, || None);
        }
        if self.by_id[i].replace(host).is_none() {
            self.len += 1;
        }
    }

    pub(crate) fn remove(&mut self, id: &HostId) -> Option<Host> {
        let h = self.by_id.get_mut(id.0 as usize)?.take()?;
        self.len -= 1;
        Some(h)
    }

    /// Every host, in id order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &Host> {
        self.by_id.iter().flatten()
    }
}

impl std::ops::Index<&HostId> for Hosts {
    type Output = Host;

    fn index(&self, id: &HostId) -> &Host {
        self.get(id).expect("a known host")
    }
}

impl Host {
    pub(crate) fn new(id: HostId, spec: HostSpec, kind: HostKind, now: Micros) -> Host {
        let health = match kind {
            HostKind::Registered => HealthState::up(),
            HostKind::Static => HealthState::probation(),
        };
        Host {
            id,
            name: spec.name,
            kind,
            slots: spec.slots,
            weight: spec.weight,
            speed: Speed::seeded(spec.weight),
            calibration: None,
            health,
            leases: HostLeases::default(),
            external: 0,
            load_avg: None,
            free_memory: None,
            last_heartbeat: now,
            next_probe_at: None,
            probe_sent: None,
            pass_ends: None,
            deadline: None,
            compilers: Vec::new(),
        }
    }

    /// Seeds the speed at `weight × scale`, only while nothing was learned.
    pub(crate) fn seed_speed(&mut self, scale: f64) {
        if self.speed.samples == 0 {
            self.speed = Speed::seeded(self.weight * scale);
        }
    }

    /// Leases this host may hold right now: zero unless up or on probation; its slots minus
    /// foreign jobs; capped on probation; zero when short of memory.
    pub(crate) fn capacity(&self, cfg: &Config) -> u32 {
        if !self.health.accepts_new() {
            return 0;
        }
        if cfg.min_free_memory > 0 && self.free_memory.is_some_and(|m| m < cfg.min_free_memory) {
            return 0;
        }
        let cap = self.slots.saturating_sub(self.external);
        if self.health.effective() == Health::Probation {
            cap.min(cfg.probation_slots)
        } else {
            cap
        }
    }

    pub(crate) fn running(&self) -> u32 {
        u32::try_from(self.leases.len()).unwrap_or(u32::MAX)
    }

    /// Whether it can take a job for `compiler`.
    pub(crate) fn serves(&self, compiler: Option<CompilerId>) -> bool {
        compilers::serves(&self.compilers, compiler)
    }

    /// Free usable slots right now.
    pub(crate) fn free(&self, cfg: &Config) -> u32 {
        self.capacity(cfg).saturating_sub(self.running())
    }

    /// How much of a CPU each job gets when the machine is oversubscribed by work that is
    /// not ours: `slots / load_avg`, capped to [0.25, 1]. With slots = cores and only our
    /// jobs running, the load average is about the number of running jobs and this is 1.
    pub(crate) fn load_factor(&self) -> f64 {
        match self.load_avg {
            Some(load) if load.is_finite() && load > f64::from(self.slots.max(1)) => {
                (f64::from(self.slots.max(1)) / load).clamp(0.25, 1.0)
            }
            _ => 1.0,
        }
    }

    /// Learned speed adjusted for current load: what a job granted now would get.
    pub(crate) fn effective_speed(&self) -> f64 {
        self.speed.value * self.load_factor()
    }

    /// Load average per slot (0 when unknown), for the icecream-like policy.
    pub(crate) fn load_per_slot(&self) -> f64 {
        match self.load_avg {
            Some(load) if load.is_finite() && load > 0.0 => load / f64::from(self.slots.max(1)),
            _ => 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> Host {
        Host::new(
            HostId(0),
            HostSpec {
                name: "a".into(),
                slots: 4,
                weight: 1.0,
            },
            HostKind::Registered,
            Micros::ZERO,
        )
    }

    #[test]
    fn speed_learning_is_bounded_per_sample() {
        let mut s = Speed::seeded(1.0);
        s.learn(100.0, 1.0, 0.2);
        assert_eq!(s.value, 2.5, "clamped to 4x, then averaged with the seed");
        s.learn(f64::NAN, 1.0, 0.2);
        s.learn(-1.0, 1.0, 0.2);
        s.learn(1.0, 0.0, 0.2);
        assert_eq!(s.samples, 1);
    }

    #[test]
    fn speed_is_a_ratio_of_averages() {
        // Jobs of the same work alternately fast and slow on one host: the host does 2 units
        // in 1 + 3 = 4 s, speed 0.5 — not the mean of 1 and 1/3 (0.67).
        let mut s = Speed::seeded(0.5);
        for _ in 0..200 {
            s.learn(1.0, 1.0, 0.1);
            s.learn(1.0, 3.0, 0.1);
        }
        assert!((s.value - 0.5).abs() < 0.05, "{}", s.value);
    }

    #[test]
    fn capacity_accounts_for_foreign_jobs_probation_and_memory() {
        let cfg = Config {
            min_free_memory: 1000,
            ..Config::default()
        };
        let mut h = host();
        assert_eq!(h.capacity(&cfg), 4);
        h.external = 3;
        assert_eq!(h.capacity(&cfg), 1);
        h.external = 0;
        h.free_memory = Some(10);
        assert_eq!(h.capacity(&cfg), 0);
        h.free_memory = Some(10_000);
        h.health.silent();
        assert_eq!(h.capacity(&cfg), 0);
        h.health.heartbeat();
        assert_eq!(h.capacity(&cfg), cfg.probation_slots);
    }

    #[test]
    fn load_factor_only_penalises_oversubscription() {
        let mut h = host();
        assert_eq!(h.load_factor(), 1.0);
        h.load_avg = Some(3.0);
        assert_eq!(h.load_factor(), 1.0);
        h.load_avg = Some(8.0);
        assert_eq!(h.load_factor(), 0.5);
        h.load_avg = Some(1000.0);
        assert_eq!(h.load_factor(), 0.25);
    }

    #[test]
    fn a_calibrated_speed_is_not_moved_by_jobs() {
        let mut s = Speed::calibrated(0.25);
        assert_eq!((s.value, s.samples), (4.0, 1));
        s.learn(1.0, 10.0, 0.5);
        assert_eq!((s.value, s.samples), (4.0, 2), "counted, not learned from");
    }

    #[test]
    fn only_an_untried_host_is_reseeded() {
        let mut h = host();
        h.weight = 0.5;
        h.seed_speed(0.4);
        assert_eq!(h.speed.value, 0.2);
        h.speed.learn(0.3, 1.0, 0.2);
        let learned = h.speed;
        h.seed_speed(2.0);
        assert_eq!(h.speed, learned);
    }
}
