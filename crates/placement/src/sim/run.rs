//! The event loop: clients submitting jobs, the scheduler's actions carried out on the
//! simulated hosts, and completions fed back, in virtual time.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::action::Action;
use crate::config::Config;
use crate::host::HostSpec;
use crate::ids::{HostId, LeaseId, RequestId};
use crate::job::{JobEnd, JobInfo, LocalOffer, PreviousRun, ReleaseReport};
use crate::rng::SplitMix64;
use crate::scheduler::Scheduler;
use crate::time::Micros;

use super::workload::CONSTANT_SIZE;
use super::{BYTES_PER_SEC, DEFAULT_SEED, Farm, HEADERS_SECS, Knowledge, Sizes, Workload};

/// Something due at a virtual time.
#[derive(Debug, Clone, Copy)]
enum Event {
    /// A client's `make` starts.
    ClientStart(usize),
    /// A remote copy of a job finishes on its lease.
    RemoteDone(LeaseId),
    /// A local compile of a job finishes.
    LocalDone(usize),
    /// A job the scheduler ran on its client's machine finishes.
    HereDone(LeaseId),
}

/// A copy of a job running on a host.
#[derive(Debug, Clone, Copy)]
struct RunningCopy {
    job: usize,
    host: HostId,
    started: Micros,
}

/// Mutable state of one run.
pub(super) struct Run<'a> {
    sched: Scheduler,
    pub(super) workload: &'a Workload,
    /// Slowness by scheduler host id.
    slowness: BTreeMap<HostId, f64>,
    /// [`Farm::noise`], and the draws for it.
    noise: f64,
    rng: SplitMix64,
    /// Pending events by (time, sequence): the sequence keeps same-time events in FIFO order.
    events: BTreeMap<(Micros, u64), Event>,
    seq: u64,
    /// Per job: (client, index within client).
    pub(super) job_of: Vec<(usize, usize)>,
    /// First global job index of each client.
    pub(super) first_job: Vec<usize>,
    /// Per client: jobs submitted so far, and outstanding.
    submitted: Vec<usize>,
    outstanding: Vec<u32>,
    pub(super) submit_at: Vec<Micros>,
    /// When each job was first granted a host (speculative copies not counted).
    pub(super) granted_at: Vec<Option<Micros>>,
    pub(super) done_at: Vec<Option<Micros>>,
    /// Slowness of the machine that finished each job.
    pub(super) done_on: Vec<f64>,
    running: BTreeMap<LeaseId, RunningCopy>,
    /// Jobs running on their client's machine, by lease: the job and its start.
    here: BTreeMap<LeaseId, (usize, Micros)>,
    /// [`Farm::client_slots`].
    client_slots: u32,
    pub(super) jobs_local: usize,
    pub(super) speculations: usize,
    pub(super) duplicates: usize,
    /// What the client remembers of each job from an earlier build (empty: nothing).
    remembered: Vec<Option<PreviousRun>>,
    /// Each job's duration and host where it finished, as a client would remember them.
    ran: Vec<Option<PreviousRun>>,
}

/// Runs the simulation to its end and returns its state, per-job times included.
pub(super) fn execute<'a>(config: Config, farm: &Farm, workload: &'a Workload) -> Run<'a> {
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
    // Its own draws, so that calibrating changes no run time of a job.
    let mut calibration_rng = SplitMix64::new(DEFAULT_SEED ^ 0xca1b);
    for h in &farm.hosts {
        let weight = match farm.knowledge {
            Knowledge::Weights => 1.0 / h.slowness,
            Knowledge::Learned | Knowledge::Calibrated { .. } => 1.0,
        };
        let spec = HostSpec {
            name: h.name.clone(),
            slots: h.slots,
            weight,
        };
        let (id, _) = sched.join(Micros::ZERO, spec).expect("valid host");
        if let Knowledge::Calibrated { secs } = farm.knowledge {
            let spread = (farm.noise * calibration_rng.gauss()).exp();
            let took = Duration::from_secs_f64(secs * h.slowness * spread);
            sched
                .calibrated(Micros::ZERO, id, took)
                .expect("a calibration of a known host");
        }
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
        here: BTreeMap::new(),
        client_slots: farm.client_slots,
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

    pub(super) fn cost(&self, job: usize) -> f64 {
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
                let outcome = ReleaseReport {
                    duration: now - copy.started,
                    result: JobEnd::Ok,
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
            Event::HereDone(lease) => {
                let (job, started) = self.here.remove(&lease).expect("a job running here");
                let outcome = ReleaseReport {
                    duration: now - started,
                    result: JobEnd::Ok,
                };
                let actions = self.sched.release(now, lease, outcome).expect("live lease");
                self.done_on[job] = 1.0;
                self.complete(now, job);
                self.apply(now, actions);
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
                avoid: Vec::new(),
                user: client.user.clone(),
                size_bytes: self.size(job),
                previous: self.previous(job),
                local: (self.client_slots > 0).then(|| LocalOffer {
                    machine: client.user.clone(),
                    slots: self.client_slots,
                }),
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
                            avoid: Vec::new(),
                            user: self.workload.clients[k].user.clone(),
                            size_bytes: self.size(job),
                            previous: self.previous(job),
                            local: None,
                        };
                        let more = self.sched.request(now, request, info).expect("retry");
                        self.apply(now, more);
                    }
                }
                Action::RunHere { request, lease } => {
                    let job = request.0 as usize;
                    self.granted_at[job].get_or_insert(now);
                    self.jobs_local += 1;
                    self.here.insert(lease, (job, now));
                    let end = now.plus_secs_f64(self.cost(job));
                    self.push(end, Event::HereDone(lease));
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
}
