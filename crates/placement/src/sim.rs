//! A deterministic discrete-event simulator of a compile farm, driving the real [`Scheduler`].
//!
//! Why: placement policies are only worth comparing on the same arrivals, the same farm and
//! the same job costs, which a real farm never repeats. The simulator replays a synthetic
//! [`Workload`] on a synthetic [`Farm`] in *virtual* time, feeding the very state machine the
//! service uses, so what it measures is the policy and not a model of it.
//!
//! It is as pure as the scheduler: no clock, no threads, no OS randomness. Workloads are
//! generated from a seeded SplitMix64, time is integral [`Micros`], and events at the same
//! instant are processed in the order they were scheduled, so the same inputs always give the
//! same [`Report`].
//!
//! # Model
//!
//! * A host of slowness `s` runs a job of cost `c` (seconds at speed 1) in `c × s` seconds,
//!   independent of its other jobs (its slots are real cores). The scheduler is told the
//!   host's weight `1 / s` and learns the rest from the reported durations.
//! * Client `k` starts at its start time and submits its jobs in order, keeping at most its
//!   `make -j` outstanding; a job is submitted the moment an earlier one completes.
//! * A job reports a preprocessed size of `cost × `[`BYTES_PER_SEC`] bytes, so size-based cost
//!   prediction has a perfect signal: the simulator shows what a policy does with good
//!   estimates, not how well the estimates are learned.
//! * [`Action::Speculate`] starts a second copy; the first copy to finish is released with
//!   [`JobResult::Ok`], and the scheduler cancels the twin ([`Action::Cancel`]), which stops
//!   at once.
//! * [`Action::CompileLocally`] runs the job on the client's own machine at slowness 1. The
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

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Duration;

use crate::action::Action;
use crate::config::Config;
use crate::host::HostSpec;
use crate::ids::{HostId, LeaseId, RequestId};
use crate::job::{JobInfo, JobResult, Outcome, PreviousRun};
use crate::policy::Policy;
use crate::rng::SplitMix64;
use crate::scheduler::Scheduler;
use crate::time::Micros;

/// Preprocessed bytes per second of work at speed 1 reported with each job. Equal to the
/// inverse of [`Config::default`]'s `initial_secs_per_byte`, so the scheduler's size model is
/// right from the first job.
pub const BYTES_PER_SEC: f64 = 1e6;

/// The seed the standard workloads are generated from (the shared benchmark's default seed).
pub const DEFAULT_SEED: u64 = 20_240_601;

/// One simulated host.
#[derive(Debug, Clone, PartialEq)]
pub struct SimHost {
    /// Name given to the scheduler.
    pub name: String,
    /// Concurrent jobs.
    pub slots: u32,
    /// How many times slower than the reference machine (> 0; 1 = reference speed).
    pub slowness: f64,
}

/// A simulated farm: hosts in the order they join (which is the order `list-order` tries).
#[derive(Debug, Clone, PartialEq)]
pub struct Farm {
    /// The hosts.
    pub hosts: Vec<SimHost>,
    /// How far run times stray from the cost: each run of a job on a host takes
    /// `cost × slowness × e^(noise·z)`, `z` standard normal and drawn afresh for every run
    /// (a speculative copy draws its own). 0, the default, runs every job exactly as its
    /// cost says, so a policy that knows the costs is never surprised; real hosts are
    /// (caches, disks, the network, other work), and only with noise does the simulator
    /// show what a policy does when its estimates are off: a fast host freeing late, a
    /// waiting request's promise passing.
    pub noise: f64,
}

impl Farm {
    /// Parses `name:slowness:slots,...` (the shared benchmark's farm syntax).
    pub fn parse(spec: &str) -> Result<Farm, String> {
        let mut hosts = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let fields: Vec<&str> = part.split(':').collect();
            let [name, slowness, slots] = fields[..] else {
                return Err(format!("{part:?}: expected name:slowness:slots"));
            };
            let slowness: f64 = slowness
                .parse()
                .map_err(|e| format!("{part:?}: slowness: {e}"))?;
            let slots: u32 = slots.parse().map_err(|e| format!("{part:?}: slots: {e}"))?;
            if !(slowness.is_finite() && slowness > 0.0) || slots == 0 || name.is_empty() {
                return Err(format!(
                    "{part:?}: needs a name, slowness > 0 and slots > 0"
                ));
            }
            hosts.push(SimHost {
                name: name.to_owned(),
                slots,
                slowness,
            });
        }
        if hosts.is_empty() {
            return Err("empty farm".into());
        }
        Ok(Farm { hosts, noise: 0.0 })
    }

    /// Work per second the whole farm can do: Σ slots / slowness.
    pub fn capacity(&self) -> f64 {
        self.hosts
            .iter()
            .map(|h| f64::from(h.slots) / h.slowness)
            .sum()
    }

    /// A large farm drawn from `seed`: `hosts` hosts of 2–16 slots, a third each at
    /// slowness 1, 2 and 4 (the state machine's criterion benchmark farm, at any size).
    pub fn large_seeded(seed: u64, hosts: u32) -> Farm {
        let mut rng = SplitMix64::new(seed);
        let hosts = (0..hosts)
            .map(|i| SimHost {
                name: format!("h{i}"),
                slots: 2 + rng.below(15) as u32,
                slowness: [1.0, 2.0, 4.0][rng.below(3) as usize],
            })
            .collect();
        Farm { hosts, noise: 0.0 }
    }

    /// The same farm with run-time noise `noise` (see [`Farm::noise`]).
    pub fn with_noise(self, noise: f64) -> Result<Farm, String> {
        if !(noise.is_finite() && noise >= 0.0) {
            return Err(format!("noise {noise} must be a finite number >= 0"));
        }
        Ok(Farm { noise, ..self })
    }

    fn min_slowness(&self) -> f64 {
        self.hosts
            .iter()
            .map(|h| h.slowness)
            .fold(f64::INFINITY, f64::min)
    }
}

impl Default for Farm {
    /// The shared benchmark's default heterogeneous farm: two fast, two half-speed and two
    /// quarter-speed hosts with two slots each (capacity 7).
    fn default() -> Farm {
        Farm::parse("h1:1:2,h2:1:2,h3:2:2,h4:2:2,h5:4:2,h6:4:2").expect("valid")
    }
}

/// One simulated developer running `make -j`.
#[derive(Debug, Clone, PartialEq)]
pub struct SimClient {
    /// User name (fair queueing is per user).
    pub user: String,
    /// When `make` starts, seconds of virtual time.
    pub start: f64,
    /// The `-j` limit: jobs outstanding at once.
    pub jobs_limit: u32,
    /// Job costs in seconds at speed 1, in submission order.
    pub costs: Vec<f64>,
}

/// A set of clients.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// Short name for reports.
    pub name: String,
    /// The clients.
    pub clients: Vec<SimClient>,
    /// What the sizes the clients report say about their jobs' costs.
    pub sizes: Sizes,
}

/// What a simulated client reports of a job's cost: its preprocessed size and, in a
/// rebuild, the file's previous compile time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sizes {
    /// `cost × `[`BYTES_PER_SEC`]: a perfect signal, so the simulator shows what a policy
    /// does with good estimates.
    #[default]
    Proportional,
    /// The same size for every job, so the scheduler knows nothing of a job's cost before
    /// it has run: the shared harness without padding (`BENCH_PAD_BYTES_PER_MS=0`), whose
    /// generated sources differ only in a comment.
    Constant,
    /// `(`[`HEADERS_SECS`]` + cost) × `[`BYTES_PER_SEC`]: every file also carries headers
    /// that cost nothing, as the shared harness's padded sources
    /// (`BENCH_PAD_BYTES_PER_MS=100`: 56 KB of headers and about 104 bytes per millisecond
    /// of work). Size tells the cost, but only through a line with a base.
    Headers,
    /// Sizes as [`Sizes::Constant`], but every job comes with its previous compile time and
    /// server, as the client remembers them in a rebuild: the workload is first run once
    /// with constant sizes (unmeasured), then again on a fresh scheduler with each job's
    /// duration and host from that first run, as the shared harness's unpadded sources
    /// built a second time with the client's memory kept.
    Rebuild,
}

impl std::str::FromStr for Sizes {
    type Err = String;

    /// `proportional`, `constant`, `headers` or `rebuild`, as `ccfarm-sim --sizes`
    /// and the examples take them.
    fn from_str(s: &str) -> Result<Sizes, String> {
        match s {
            "proportional" => Ok(Sizes::Proportional),
            "constant" => Ok(Sizes::Constant),
            "headers" => Ok(Sizes::Headers),
            "rebuild" => Ok(Sizes::Rebuild),
            other => Err(format!(
                "{other:?} is not proportional, constant, headers or rebuild"
            )),
        }
    }
}

/// The headers' share of a [`Sizes::Headers`] file, in seconds of work at
/// [`BYTES_PER_SEC`]: the harness's 56 KB at its 104 bytes per millisecond.
pub const HEADERS_SECS: f64 = 56.0 / 104.0;

/// The size reported for every job under [`Sizes::Constant`]: 300 KB, the size of a typical
/// translation unit (what it is does not matter, only that it says nothing).
const CONSTANT_SIZE: u64 = 300_000;

impl Workload {
    /// W1 "one developer": 1 client, `-j16`, 200 jobs of the benchmark's cost distribution.
    pub fn w1() -> Workload {
        Workload::w1_seeded(DEFAULT_SEED)
    }

    /// [`Workload::w1`] with another seed.
    pub fn w1_seeded(seed: u64) -> Workload {
        let mut rng = SplitMix64::new(seed ^ 0x5731);
        Workload {
            name: "W1".into(),
            clients: vec![SimClient {
                user: "c0".into(),
                start: 0.0,
                jobs_limit: 16,
                costs: bench_costs(&mut rng, 200),
            }],
            sizes: Sizes::Proportional,
        }
    }

    /// W2 "many developers": 6 clients, client k starts at 2k s, `-j8`, 80 jobs each.
    pub fn w2() -> Workload {
        Workload::w2_seeded(DEFAULT_SEED)
    }

    /// [`Workload::w2`] with another seed.
    pub fn w2_seeded(seed: u64) -> Workload {
        let clients = (0..6u32)
            .map(|k| {
                let mut rng = SplitMix64::new(seed ^ (0x5732 << 8 | u64::from(k)));
                SimClient {
                    user: format!("c{k}"),
                    start: 2.0 * f64::from(k),
                    jobs_limit: 8,
                    costs: bench_costs(&mut rng, 80),
                }
            })
            .collect();
        Workload {
            name: "W2".into(),
            clients,
            sizes: Sizes::Proportional,
        }
    }

    /// A crowd on a large farm: `clients` developers with `-j jobs_limit` and `jobs` jobs
    /// each of the benchmark's cost distribution, starting `stagger` seconds apart. With
    /// more jobs outstanding than the farm has slots plus [`Config::max_lookahead`], the
    /// queue gets deep enough for saturated placement passes.
    pub fn crowd_seeded(
        seed: u64,
        clients: u32,
        jobs_limit: u32,
        jobs: usize,
        stagger: f64,
    ) -> Workload {
        let clients = (0..clients)
            .map(|k| {
                let mut rng = SplitMix64::new(seed ^ (0x5733 << 8 | u64::from(k)));
                SimClient {
                    user: format!("c{k}"),
                    start: stagger * f64::from(k),
                    jobs_limit,
                    costs: bench_costs(&mut rng, jobs),
                }
            })
            .collect();
        Workload {
            name: "crowd".into(),
            clients,
            sizes: Sizes::Proportional,
        }
    }

    /// The same workload with [`Sizes::Constant`].
    pub fn with_constant_sizes(self) -> Workload {
        Workload {
            sizes: Sizes::Constant,
            ..self
        }
    }

    /// Total work, seconds at speed 1.
    pub fn total_work(&self) -> f64 {
        self.clients.iter().flat_map(|c| &c.costs).sum()
    }

    fn jobs(&self) -> usize {
        self.clients.iter().map(|c| c.costs.len()).sum()
    }
}

/// The benchmark's job-cost distribution (`benchlib._costs`): lognormal with median 300 ms
/// and σ 0.75, rounded to whole milliseconds and clipped to [20, 1800] ms, plus
/// round(4 % of n) outliers uniform in [2000, 3000] ms, shuffled. Same distribution as the
/// Python harness, not the same draws (that uses Mersenne Twister).
fn bench_costs(rng: &mut SplitMix64, n: usize) -> Vec<f64> {
    let outliers = (n as f64 * 0.04).round() as usize;
    let mut ms: Vec<u64> = (0..n - outliers)
        .map(|_| {
            (300.0 * (0.75 * rng.gauss()).exp())
                .round()
                .clamp(20.0, 1800.0) as u64
        })
        .collect();
    ms.extend((0..outliers).map(|_| 2000 + rng.below(1001)));
    for i in (1..ms.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        ms.swap(i, j);
    }
    ms.into_iter().map(|m| m as f64 / 1000.0).collect()
}

/// What one (policy, workload) run measured. Times are seconds unless named `_ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Workload name.
    pub workload: String,
    /// Policy name.
    pub policy: String,
    /// Jobs in the workload.
    pub jobs: usize,
    /// Jobs that completed (equal to `jobs` unless the simulation stalled).
    pub completed: usize,
    /// Results of speculative copies that arrived after their job had completed (a twin the
    /// scheduler failed to cancel); always 0 when the scheduler is correct.
    pub duplicate_results: usize,
    /// From the first client's start to the last job's completion.
    pub makespan: f64,
    /// Max over client start times t of t + work released at or after t / capacity.
    pub lb_capacity: f64,
    /// Max over clients of start + longest job × the fastest host's slowness.
    pub lb_critical: f64,
    /// `makespan / max(lb_capacity, lb_critical)`; 1.0 is optimal.
    pub ratio: f64,
    /// Each client's build time (its last completion minus its start).
    pub client_build: Vec<f64>,
    /// Jain's fairness index over `client_build`: (Σx)² / (n·Σx²), 1.0 = equal.
    pub jain: f64,
    /// Mean job latency, submission to completion, milliseconds.
    pub latency_mean_ms: f64,
    /// 95th percentile (nearest rank) job latency, milliseconds.
    pub latency_p95_ms: f64,
    /// Jobs compiled on the client's machine.
    pub jobs_local: usize,
    /// Speculative copies started.
    pub speculations: usize,
    /// Long jobs (≥ 2 s of work) by the slowness of the host whose copy finished them
    /// (local runs count as slowness 1).
    pub long_jobs_by_slowness: BTreeMap<String, usize>,
}

/// The scheduler configuration the simulator uses: the defaults, with `policy`, and a
/// heartbeat timeout no simulated run reaches (hosts never fail here).
pub fn sim_config(policy: Policy) -> Config {
    Config {
        policy,
        heartbeat_timeout: Duration::from_secs(365 * 24 * 3600),
        ..Config::default()
    }
}

/// Means over several draws of one policy's runs: what the sweeps report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Means {
    /// Mean makespan over the lower bound.
    pub ratio: f64,
    /// The largest of those ratios.
    pub worst_ratio: f64,
    /// Mean Jain's index over the clients' build times.
    pub jain: f64,
    /// Mean of the runs' mean job latencies.
    pub latency_mean_ms: f64,
    /// Mean number of speculative copies.
    pub speculations: f64,
}

impl Means {
    /// The means of `reports` (at least one).
    pub fn of(reports: &[Report]) -> Means {
        let n = reports.len() as f64;
        let mean = |f: &dyn Fn(&Report) -> f64| reports.iter().map(f).sum::<f64>() / n;
        Means {
            ratio: mean(&|r| r.ratio),
            worst_ratio: reports.iter().map(|r| r.ratio).fold(0.0, f64::max),
            jain: mean(&|r| r.jain),
            latency_mean_ms: mean(&|r| r.latency_mean_ms),
            speculations: mean(&|r| r.speculations as f64),
        }
    }

    /// The figures as markdown table cells: ratio, worst ratio, Jain, latency mean ms,
    /// speculated.
    pub fn cells(&self) -> String {
        format!(
            "{:.3} | {:.3} | {:.4} | {:.0} | {:.1}",
            self.ratio, self.worst_ratio, self.jain, self.latency_mean_ms, self.speculations
        )
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

/// Renders reports as a markdown table.
pub fn table(reports: &[Report]) -> String {
    let mut s = String::from(
        "| workload | policy | makespan s | lower bound s | ratio | Jain | latency mean ms \
         | latency p95 ms | local | speculated | long jobs by slowness |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for r in reports {
        let long: Vec<String> = r
            .long_jobs_by_slowness
            .iter()
            .map(|(k, v)| format!("{k}:{v}"))
            .collect();
        let _ = writeln!(
            s,
            "| {} | {} | {:.2} | {:.2} | {:.3} | {:.3} | {:.0} | {:.0} | {} | {} | {} |",
            r.workload,
            r.policy,
            r.makespan,
            r.lb_capacity.max(r.lb_critical),
            r.ratio,
            r.jain,
            r.latency_mean_ms,
            r.latency_p95_ms,
            r.jobs_local,
            r.speculations,
            long.join(" "),
        );
    }
    s
}

/// Something due at a virtual time.
#[derive(Debug, Clone, Copy)]
enum Event {
    /// A client's `make` starts.
    ClientStart(usize),
    /// A remote copy of a job finishes on its lease.
    RemoteDone(LeaseId),
    /// A local compile of a job finishes.
    LocalDone(usize),
}

/// A copy of a job running on a host.
#[derive(Debug, Clone, Copy)]
struct RunningCopy {
    job: usize,
    host: HostId,
    started: Micros,
}

/// Mutable state of one run.
struct Run<'a> {
    sched: Scheduler,
    workload: &'a Workload,
    /// Slowness by scheduler host id.
    slowness: BTreeMap<HostId, f64>,
    /// [`Farm::noise`], and the draws for it.
    noise: f64,
    rng: SplitMix64,
    /// Pending events by (time, sequence): the sequence keeps same-time events in FIFO order.
    events: BTreeMap<(Micros, u64), Event>,
    seq: u64,
    /// Per job: (client, index within client).
    job_of: Vec<(usize, usize)>,
    /// First global job index of each client.
    first_job: Vec<usize>,
    /// Per client: jobs submitted so far, and outstanding.
    submitted: Vec<usize>,
    outstanding: Vec<u32>,
    submit_at: Vec<Micros>,
    /// When each job was first granted a host (speculative copies not counted).
    granted_at: Vec<Option<Micros>>,
    done_at: Vec<Option<Micros>>,
    /// Slowness of the machine that finished each job.
    done_on: Vec<f64>,
    running: BTreeMap<LeaseId, RunningCopy>,
    jobs_local: usize,
    speculations: usize,
    duplicates: usize,
    /// What the client remembers of each job from an earlier build (empty: nothing).
    remembered: Vec<Option<PreviousRun>>,
    /// Each job's duration and host where it finished, as a client would remember them.
    ran: Vec<Option<PreviousRun>>,
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
    execute(config, farm, workload).report(farm, policy)
}

/// Runs the simulation to its end and returns its state, per-job times included.
fn execute<'a>(config: Config, farm: &Farm, workload: &'a Workload) -> Run<'a> {
    let remembered = if workload.sizes == Sizes::Rebuild {
        let first = Workload {
            sizes: Sizes::Constant,
            ..workload.clone()
        };
        execute_remembering(config.clone(), farm, &first, Vec::new()).ran
    } else {
        Vec::new()
    };
    execute_remembering(config, farm, workload, remembered)
}

/// [`execute`], the client remembering `remembered` of each job.
fn execute_remembering<'a>(
    config: Config,
    farm: &Farm,
    workload: &'a Workload,
    remembered: Vec<Option<PreviousRun>>,
) -> Run<'a> {
    let mut sched = Scheduler::new(config).expect("valid simulator config");
    let mut slowness = BTreeMap::new();
    for h in &farm.hosts {
        let spec = HostSpec {
            name: h.name.clone(),
            slots: h.slots,
            weight: 1.0 / h.slowness,
        };
        let (id, _) = sched.join(Micros::ZERO, spec).expect("valid host");
        slowness.insert(id, h.slowness);
    }
    let mut job_of = Vec::new();
    let mut first_job = Vec::new();
    for (k, c) in workload.clients.iter().enumerate() {
        first_job.push(job_of.len());
        job_of.extend((0..c.costs.len()).map(|i| (k, i)));
    }
    let n = job_of.len();
    let nc = workload.clients.len();
    let mut run = Run {
        sched,
        workload,
        slowness,
        noise: farm.noise,
        rng: SplitMix64::new(DEFAULT_SEED),
        events: BTreeMap::new(),
        seq: 0,
        job_of,
        first_job,
        submitted: vec![0; nc],
        outstanding: vec![0; nc],
        submit_at: vec![Micros::ZERO; n],
        granted_at: vec![None; n],
        done_at: vec![None; n],
        done_on: vec![1.0; n],
        running: BTreeMap::new(),
        jobs_local: 0,
        speculations: 0,
        duplicates: 0,
        remembered,
        ran: vec![None; n],
    };
    for (k, c) in workload.clients.iter().enumerate() {
        run.push(Micros::ZERO.plus_secs_f64(c.start), Event::ClientStart(k));
    }
    run.run(n);
    run
}

impl Run<'_> {
    fn push(&mut self, at: Micros, e: Event) {
        self.seq += 1;
        self.events.insert((at, self.seq), e);
    }

    fn cost(&self, job: usize) -> f64 {
        let (k, i) = self.job_of[job];
        self.workload.clients[k].costs[i]
    }

    /// The preprocessed size the client reports for `job`.
    fn size(&self, job: usize) -> u64 {
        match self.workload.sizes {
            Sizes::Proportional => (self.cost(job) * BYTES_PER_SEC).round() as u64,
            Sizes::Constant | Sizes::Rebuild => CONSTANT_SIZE,
            Sizes::Headers => ((HEADERS_SECS + self.cost(job)) * BYTES_PER_SEC).round() as u64,
        }
    }

    /// The previous compile the client reports for `job`, in a rebuild.
    fn previous(&self, job: usize) -> Option<PreviousRun> {
        self.remembered.get(job).copied().flatten()
    }

    /// The event loop: the earlier of the next event and the scheduler's deadline, until
    /// every job is done or nothing more can happen.
    fn run(&mut self, jobs: usize) {
        let mut completed = 0;
        while completed < jobs {
            let next_event = self.events.first_key_value().map(|(&(t, _), _)| t);
            let deadline = self.sched.next_deadline();
            match (next_event, deadline) {
                (None, None) => break, // stalled: reported as completed < jobs
                (Some(t), Some(d)) if d <= t => self.tick(d),
                (None, Some(d)) => self.tick(d),
                (Some(_), _) => {
                    let ((now, _), e) = self.events.pop_first().expect("peeked");
                    completed += self.handle(now, e);
                }
            }
        }
    }

    fn tick(&mut self, now: Micros) {
        let actions = self.sched.tick(now);
        self.apply(now, actions);
    }

    /// Processes one event; returns how many jobs it completed.
    fn handle(&mut self, now: Micros, e: Event) -> usize {
        match e {
            Event::ClientStart(k) => {
                self.fill(now, k);
                0
            }
            Event::RemoteDone(lease) => {
                // A cancelled copy's completion is stale: it was stopped.
                let Some(copy) = self.running.remove(&lease) else {
                    return 0;
                };
                if self.done_at[copy.job].is_some() {
                    self.duplicates += 1;
                    return 0;
                }
                let outcome = Outcome {
                    duration: now - copy.started,
                    result: JobResult::Ok,
                };
                let actions = self.sched.release(now, lease, outcome).expect("live lease");
                self.done_on[copy.job] = self.slowness[&copy.host];
                self.ran[copy.job] = Some(PreviousRun {
                    duration: outcome.duration,
                    host: Some(copy.host),
                });
                self.complete(now, copy.job);
                self.apply(now, actions);
                1
            }
            Event::LocalDone(job) => {
                self.complete(now, job);
                1
            }
        }
    }

    /// Marks a job done and lets its client submit more.
    fn complete(&mut self, now: Micros, job: usize) {
        self.done_at[job] = Some(now);
        let k = self.job_of[job].0;
        self.outstanding[k] -= 1;
        self.fill(now, k);
    }

    /// Submits client `k`'s next jobs while it is below its `-j` limit.
    fn fill(&mut self, now: Micros, k: usize) {
        let client = &self.workload.clients[k];
        while self.outstanding[k] < client.jobs_limit && self.submitted[k] < client.costs.len() {
            let job = self.first_job[k] + self.submitted[k];
            self.submitted[k] += 1;
            self.outstanding[k] += 1;
            self.submit_at[job] = now;
            let info = JobInfo {
                compiler: None,
                user: client.user.clone(),
                size_bytes: self.size(job),
                previous: self.previous(job),
            };
            let actions = self
                .sched
                .request(now, RequestId(job as u64), info)
                .expect("fresh request");
            self.apply(now, actions);
        }
    }

    fn start_copy(&mut self, now: Micros, job: usize, lease: LeaseId, host: HostId) {
        let spread = if self.noise > 0.0 {
            (self.noise * self.rng.gauss()).exp()
        } else {
            1.0
        };
        let end = now.plus_secs_f64(self.cost(job) * self.slowness[&host] * spread);
        self.running.insert(
            lease,
            RunningCopy {
                job,
                host,
                started: now,
            },
        );
        self.push(end, Event::RemoteDone(lease));
    }

    /// Carries out the scheduler's actions.
    fn apply(&mut self, now: Micros, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Grant {
                    request,
                    lease,
                    host,
                } => {
                    let job = request.0 as usize;
                    self.granted_at[job].get_or_insert(now);
                    self.start_copy(now, job, lease, host);
                }
                Action::Speculate {
                    request,
                    new_lease,
                    host,
                    ..
                } => {
                    self.speculations += 1;
                    self.start_copy(now, request.0 as usize, new_lease, host);
                }
                Action::Cancel { lease, .. } => {
                    self.running.remove(&lease);
                }
                Action::RetryElsewhere { request, lease, .. } => {
                    // Cannot happen without host failures; handled as a real client would:
                    // drop the copy and ask again.
                    self.running.remove(&lease);
                    let job = request.0 as usize;
                    let has_twin = self.running.values().any(|c| c.job == job);
                    if !has_twin && self.done_at[job].is_none() {
                        let (k, _) = self.job_of[job];
                        let info = JobInfo {
                            compiler: None,
                            user: self.workload.clients[k].user.clone(),
                            size_bytes: self.size(job),
                            previous: self.previous(job),
                        };
                        let more = self.sched.request(now, request, info).expect("retry");
                        self.apply(now, more);
                    }
                }
                Action::CompileLocally { request, .. } => {
                    let job = request.0 as usize;
                    self.jobs_local += 1;
                    self.done_on[job] = 1.0;
                    let end = now.plus_secs_f64(self.cost(job));
                    self.push(end, Event::LocalDone(job));
                }
                Action::Probe { .. } => {} // no static hosts in a simulated farm
            }
        }
    }

    fn report(&self, farm: &Farm, policy: Policy) -> Report {
        let w = self.workload;
        let origin = w
            .clients
            .iter()
            .map(|c| c.start)
            .fold(f64::INFINITY, f64::min);
        let origin = if origin.is_finite() { origin } else { 0.0 };
        let done: Vec<f64> = self
            .done_at
            .iter()
            .flatten()
            .map(|t| t.as_secs_f64())
            .collect();
        let makespan = done.iter().copied().fold(origin, f64::max) - origin;

        let capacity = farm.capacity();
        let starts: BTreeSet<u64> = w.clients.iter().map(|c| c.start.to_bits()).collect();
        let lb_capacity = starts
            .iter()
            .map(|&bits| {
                let t = f64::from_bits(bits);
                let work: f64 = w
                    .clients
                    .iter()
                    .filter(|c| c.start >= t)
                    .flat_map(|c| &c.costs)
                    .sum();
                t - origin + work / capacity
            })
            .fold(0.0, f64::max);
        let min_slow = farm.min_slowness();
        let lb_critical = w
            .clients
            .iter()
            .map(|c| c.start - origin + c.costs.iter().copied().fold(0.0, f64::max) * min_slow)
            .fold(0.0, f64::max);
        let lb = lb_capacity.max(lb_critical);

        let client_build: Vec<f64> = w
            .clients
            .iter()
            .enumerate()
            .map(|(k, c)| {
                let first = self.first_job[k];
                let last = (first..first + c.costs.len())
                    .filter_map(|j| self.done_at[j])
                    .max()
                    .map_or(c.start, Micros::as_secs_f64);
                last - c.start
            })
            .collect();

        let mut latencies: Vec<f64> = self
            .done_at
            .iter()
            .zip(&self.submit_at)
            .filter_map(|(d, &s)| d.map(|d| (d - s).as_secs_f64() * 1e3))
            .collect();
        latencies.sort_by(f64::total_cmp);
        let mean = if latencies.is_empty() {
            0.0
        } else {
            latencies.iter().sum::<f64>() / latencies.len() as f64
        };
        let p95 = percentile(&latencies, 0.95);

        let mut long_jobs_by_slowness = BTreeMap::new();
        for (j, d) in self.done_at.iter().enumerate() {
            if d.is_some() && self.cost(j) >= 2.0 {
                *long_jobs_by_slowness
                    .entry(format!("{}", self.done_on[j]))
                    .or_insert(0) += 1;
            }
        }

        Report {
            workload: w.name.clone(),
            policy: policy.name().into(),
            jobs: w.jobs(),
            completed: done.len(),
            duplicate_results: self.duplicates,
            makespan,
            lb_capacity,
            lb_critical,
            ratio: if lb > 0.0 { makespan / lb } else { 1.0 },
            jain: jain(&client_build),
            latency_mean_ms: mean,
            latency_p95_ms: p95,
            client_build,
            jobs_local: self.jobs_local,
            speculations: self.speculations,
            long_jobs_by_slowness,
        }
    }
}

/// Nearest-rank percentile of sorted values (0 when empty).
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Jain's fairness index (Σx)² / (n·Σx²): 1 when all equal, 1/n when one takes everything.
fn jain(xs: &[f64]) -> f64 {
    let sum: f64 = xs.iter().sum();
    let sq: f64 = xs.iter().map(|x| x * x).sum();
    if xs.is_empty() || sq == 0.0 {
        1.0
    } else {
        sum * sum / (xs.len() as f64 * sq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workloads_match_the_benchmark_shape() {
        let w1 = Workload::w1();
        assert_eq!(w1.clients.len(), 1);
        assert_eq!(w1.clients[0].costs.len(), 200);
        let costs = &w1.clients[0].costs;
        assert_eq!(costs.iter().filter(|&&c| c >= 2.0).count(), 8);
        assert!(costs.iter().all(|&c| (0.02..=3.0).contains(&c)));
        // Benchmark's draw totals 83.7 s; ours is another draw of the same distribution.
        let total = w1.total_work();
        assert!((60.0..110.0).contains(&total), "{total}");
        let w2 = Workload::w2();
        assert_eq!(w2.clients.len(), 6);
        assert_eq!(w2.clients[5].start, 10.0);
        assert!(w2.clients.iter().all(|c| c.costs.len() == 80));
        assert_ne!(w2.clients[0].costs, w2.clients[1].costs);
        assert_eq!(Farm::default().capacity(), 7.0);
        assert!(Farm::parse("a:1").is_err());
        assert!(Farm::parse("a:0:1").is_err());
    }

    #[test]
    fn deterministic() {
        for p in [Policy::Random { seed: 3 }, Policy::EarliestFinish] {
            let a = simulate(&Farm::default(), &Workload::w2(), p);
            let b = simulate(&Farm::default(), &Workload::w2(), p);
            assert_eq!(a, b);
        }
        assert_eq!(Workload::w1(), Workload::w1());
        assert_ne!(Workload::w1_seeded(1), Workload::w1_seeded(2));
    }

    #[test]
    fn every_job_completes_once_and_bounds_hold() {
        for r in compare(&[Workload::w1(), Workload::w2()], &Policy::ALL) {
            assert_eq!(r.completed, r.jobs, "{r:?}");
            assert_eq!(r.duplicate_results, 0, "{r:?}");
            assert!(r.ratio >= 1.0, "{r:?}");
            assert!(r.jain > 0.0 && r.jain <= 1.0 + 1e-12, "{r:?}");
            if r.workload == "W1" {
                assert_eq!(r.jain, 1.0);
            }
        }
    }

    #[test]
    fn bounds_and_metrics_by_hand() {
        // One 1-slot host of slowness 2 (capacity 0.5), one client with jobs 1 s and 3 s, -j1.
        let farm = Farm::parse("a:2:1").unwrap();
        let w = Workload {
            name: "t".into(),
            clients: vec![SimClient {
                user: "u".into(),
                start: 0.0,
                jobs_limit: 1,
                costs: vec![1.0, 3.0],
            }],
            sizes: Sizes::Proportional,
        };
        let r = simulate(&farm, &w, Policy::ListOrder);
        assert_eq!(r.makespan, 8.0);
        assert_eq!(r.lb_capacity, 8.0);
        assert_eq!(r.lb_critical, 6.0);
        assert_eq!(r.ratio, 1.0);
        assert_eq!(r.latency_mean_ms, 4000.0);
        assert_eq!(r.latency_p95_ms, 6000.0);
        assert_eq!(jain(&[1.0, 1.0]), 1.0);
        assert_eq!(jain(&[1.0, 0.0]), 0.5);
    }

    /// A fast and a 4× slower host, one slot each, and one developer at `-j2` whose second
    /// job takes 4 s among ten of 0.2 s (sizes proportional to cost).
    fn big_job_among_small_ones() -> (Farm, Workload) {
        let farm = Farm::parse("fast:1:1,slow:4:1").unwrap();
        let mut costs = vec![0.2; 10];
        costs.insert(1, 4.0);
        (farm, workload(vec![client("u", 0.0, 2, costs)]))
    }

    /// [`big_job_among_small_ones`]: list order hands the big job to whichever slot is free
    /// (the slow one: 16 s), while earliest finish waits for the fast host (or speculates
    /// there).
    #[test]
    fn earliest_finish_keeps_big_job_off_the_slow_host() {
        let (farm, w) = big_job_among_small_ones();
        let list = simulate(&farm, &w, Policy::ListOrder);
        let eft = simulate(&farm, &w, Policy::EarliestFinish);
        assert_eq!(list.long_jobs_by_slowness.get("4"), Some(&1), "{list:?}");
        assert_eq!(eft.long_jobs_by_slowness.get("4"), None, "{eft:?}");
        assert!(eft.makespan < list.makespan, "{eft:?} vs {list:?}");
    }

    /// The same jobs with sizes that say nothing: the big job is placed like any other and
    /// lands on the slow host, where it overruns its estimate; a copy on the fast host
    /// finishes it, so the build still beats list order.
    #[test]
    fn without_a_size_signal_a_copy_rescues_the_big_job() {
        let (farm, w) = big_job_among_small_ones();
        let w = w.with_constant_sizes();
        let list = simulate(&farm, &w, Policy::ListOrder);
        let eft = simulate(&farm, &w, Policy::EarliestFinish);
        assert_eq!(eft.speculations, 1, "{eft:?}");
        assert_eq!(eft.long_jobs_by_slowness.get("1"), Some(&1), "{eft:?}");
        assert!(eft.makespan < list.makespan, "{eft:?} vs {list:?}");
    }

    /// The same jobs again, rebuilt: the client remembers the first build, where the big
    /// job ran on the slow host until a copy on the fast one finished it. Its duration there
    /// and the fast host's learned speed tell its cost, so it waits for the fast host from
    /// the start: no copy (the doubled work of the first build is saved), and no longer a
    /// build than the first.
    #[test]
    fn a_rebuild_places_the_big_job_knowing_its_previous_run() {
        let (farm, w) = big_job_among_small_ones();
        let first = w.with_constant_sizes();
        let again = Workload {
            sizes: Sizes::Rebuild,
            ..first.clone()
        };
        let before = simulate(&farm, &first, Policy::EarliestFinish);
        let rebuilt = simulate(&farm, &again, Policy::EarliestFinish);
        assert_eq!(before.speculations, 1, "{before:?}");
        assert_eq!(rebuilt.speculations, 0, "{rebuilt:?}");
        assert_eq!(
            rebuilt.long_jobs_by_slowness.get("1"),
            Some(&1),
            "{rebuilt:?}"
        );
        assert!(
            rebuilt.makespan <= before.makespan,
            "{rebuilt:?} vs {before:?}"
        );
    }

    /// Noisy run times: still deterministic, every job done once, and the makespan no
    /// longer what the costs alone give; a bad spread is refused.
    #[test]
    fn run_time_noise_is_deterministic_and_moves_run_times() {
        let quiet = Farm::default();
        let noisy = Farm::default().with_noise(0.2).unwrap();
        let w = Workload::w1();
        let a = simulate(&noisy, &w, Policy::EarliestFinish);
        assert_eq!(a, simulate(&noisy, &w, Policy::EarliestFinish));
        assert_eq!((a.completed, a.duplicate_results), (a.jobs, 0), "{a:?}");
        // List order's placement does not depend on estimates, so only the durations
        // differ between its quiet and noisy runs.
        let list_quiet = simulate(&quiet, &w, Policy::ListOrder);
        let list_noisy = simulate(&noisy, &w, Policy::ListOrder);
        assert_ne!(list_quiet.makespan, list_noisy.makespan);
        assert_eq!(list_quiet.lb_capacity, list_noisy.lb_capacity);
        for bad in [-0.1, f64::NAN, f64::INFINITY] {
            assert!(Farm::default().with_noise(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fairness_on_w2() {
        let farm = Farm::default();
        let w = Workload::w2();
        let eft = simulate(&farm, &w, Policy::EarliestFinish);
        let list = simulate(&farm, &w, Policy::ListOrder);
        assert!(eft.jain >= 0.9, "{eft:?}");
        assert!(eft.jain >= list.jain - 0.01, "{eft:?} vs {list:?}");
    }

    fn client(user: &str, start: f64, jobs_limit: u32, costs: Vec<f64>) -> SimClient {
        SimClient {
            user: user.into(),
            start,
            jobs_limit,
            costs,
        }
    }

    fn workload(clients: Vec<SimClient>) -> Workload {
        Workload {
            name: "t".into(),
            clients,
            sizes: Sizes::Proportional,
        }
    }

    /// A `make -j200` of 400 jobs is running when a `make -j8` of 40 jobs starts. Fair
    /// queueing gives the small build every other grant, so it should take little longer
    /// than alone (at worst about twice, with half the farm), not wait behind the big
    /// build's queue (about 20 s of work for the farm).
    #[test]
    fn a_big_build_does_not_starve_a_small_one() {
        let farm = Farm::default();
        let mut rng = SplitMix64::new(11);
        let big = bench_costs(&mut rng, 400);
        let small = bench_costs(&mut rng, 40);
        for p in Policy::ALL {
            let both = workload(vec![
                client("big", 0.0, 200, big.clone()),
                client("small", 5.0, 8, small.clone()),
            ]);
            let alone = workload(vec![client("small", 5.0, 8, small.clone())]);
            let with = simulate(&farm, &both, p);
            let without = simulate(&farm, &alone, p);
            let stretch = with.client_build[1] / without.client_build[0];
            assert!(stretch < 1.6, "{p}: stretch {stretch}: {with:?}");
            assert!(
                with.client_build[1] < with.client_build[0] / 3.0,
                "{p}: {with:?}"
            );
            assert_eq!(with.jobs_local, 0, "{p}");
        }
    }

    /// Two users with 150 equal jobs each and `-j64`, so both keep requests waiting; one has
    /// weight 2. Of 90 grants made while both wait, it gets about 60.
    #[test]
    fn a_weight_two_user_is_served_twice_as_often() {
        let farm = Farm::default();
        for p in [
            Policy::EarliestFinish,
            Policy::FastestFree,
            Policy::ListOrder,
        ] {
            let mut cfg = sim_config(p);
            cfg.user_weights.insert("heavy".into(), 2.0);
            // Weights alone: the heavy user, starting to wait second, would otherwise go
            // first for its credit (16 grants at weight 2) inside the counted window.
            cfg.fair_credit = 0.0;
            let w = workload(vec![
                client("light", 0.0, 64, vec![0.5; 150]),
                client("heavy", 0.0, 64, vec![0.5; 150]),
            ]);
            let run = execute(cfg, &farm, &w);
            let mut grants: Vec<(Micros, usize)> = (0..run.job_of.len())
                .map(|j| (run.granted_at[j].expect("granted"), run.job_of[j].0))
                .collect();
            grants.sort();
            // The light user starts first and fills the empty farm before the heavy one
            // asks; count from when both wait.
            let both_wait = grants
                .iter()
                .position(|g| g.0 > Micros::ZERO)
                .expect("a queue");
            let heavy = grants[both_wait..both_wait + 90]
                .iter()
                .filter(|g| g.1 == 1)
                .count();
            assert!((57..=63).contains(&heavy), "{p}: heavy got {heavy} of 90");
        }
    }

    /// A fast and a four times slower host, one slot each, `-j2`, jobs of 2, 2 and 4 s. The
    /// second job waits for the fast host, which frees exactly when expected; the tick at
    /// that instant comes before the release. When a promise was the host's expected free
    /// time, it passed at that tick and the job took the slow host (8 s there), to be
    /// rescued by a copy once the fast host freed. A promise now lasts until half the 6 s
    /// the fast host saves the job has passed, so it simply waits and runs there.
    #[test]
    fn a_job_waiting_for_a_fast_host_is_not_sent_away_by_a_tie() {
        let farm = Farm::parse("fast:1:1,slow:4:1").unwrap();
        let w = workload(vec![client("u", 0.0, 2, vec![2.0, 2.0, 4.0])]);
        let r = simulate(&farm, &w, Policy::EarliestFinish);
        assert_eq!(r.long_jobs_by_slowness.get("4"), None, "{r:?}");
        assert_eq!(r.speculations, 0, "{r:?}");
        assert_eq!(r.makespan, 8.0, "{r:?}");
    }

    /// Prints the comparison: `cargo test -p ccfarm-placement sim -- --nocapture`.
    #[test]
    fn print_comparison_table() {
        let reports = compare(&[Workload::w1(), Workload::w2()], &Policy::ALL);
        let t = table(&reports);
        println!("{t}");
        assert_eq!(t.lines().count(), 2 + 2 * Policy::ALL.len());
    }
}
