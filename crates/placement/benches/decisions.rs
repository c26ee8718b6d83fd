//! How many placement decisions the scheduler makes per second on a large farm.
//!
//! What is counted: one criterion *element* is one **cycle** of two public operations,
//! [`Scheduler::release`] of the lease that completes first followed by
//! [`Scheduler::request`] of a new job, each with the placement pass it triggers. A cycle
//! grants exactly one job in both scenarios, so elements per second are grants (placement
//! decisions that end in a lease) per second, and operations per second are twice that. The
//! harness's own bookkeeping (a completion heap, a hash map of live leases, a host's
//! slowness read from a vector, the user name's `String` cloned from one of 50 made at the
//! start) is inside the measured time. Two scenarios, each run for the built-in policies:
//!
//! * `saturated`: 1,000 hosts (2–16 slots, slowness 1, 2 or 4), every slot leased and
//!   10,000 requests queued across 50 users. The release frees one slot and its placement
//!   pass grants a queued request (earliest-finish may first consider up to
//!   [`Config::max_lookahead`] + 1 queued requests, reserving a faster full host for each
//!   that prefers to wait); the new request then queues, so the queue stays at 10,000.
//! * `slots-free`: the same farm with a quarter of its slots leased and nothing queued (the
//!   fast hosts alone have about a third of the slots, so a fast slot is always free and
//!   earliest-finish has no reason to wait). The release grants nothing (nothing waits) and
//!   the new request is granted at once.
//!
//! Jobs report exactly the duration their host's slowness implies, so learned speeds stay
//! at the configured weights and the farm is in a steady state: what is measured is the
//! scheduler, not a transient.
//!
//! `cargo bench -p ccfarm-placement --bench decisions`

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hint::black_box;
use std::time::Duration;

use ccfarm_placement::{
    Action, Config, HostId, HostSpec, JobEnd, JobInfo, LeaseId, Micros, Policy, PreviousRun,
    ReleaseReport, RequestId, Scheduler,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rustc_hash::FxHashMap;

const HOSTS: u32 = 1_000;
const USERS: u64 = 50;
const QUEUED: usize = 10_000;

/// SplitMix64, so the farm and the jobs are the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A farm driven in virtual time: leases complete when their host's slowness says.
struct Farm {
    sched: Scheduler,
    rng: Rng,
    now: Micros,
    next_request: u64,
    /// The users' names, made once so that a request costs a copy, not a `format!`.
    users: Vec<String>,
    /// By host id (ids are handed out from zero, in join order).
    slowness: Vec<f64>,
    /// Running copies by completion time.
    ends: BinaryHeap<Reverse<(Micros, LeaseId)>>,
    /// Live leases: when granted (for the reported duration).
    live: FxHashMap<LeaseId, Micros>,
}

/// A request's cost, seconds at speed 1: 50 ms to 3.2 s, log-uniform, a function of its id
/// so the harness keeps no table of them.
fn cost(id: RequestId) -> f64 {
    0.05 * 2f64.powf(6.0 * Rng(id.0).unit())
}

impl Farm {
    fn new(policy: Policy) -> Farm {
        let config = Config {
            policy,
            heartbeat_timeout: Duration::from_secs(365 * 24 * 3600),
            max_wait: Duration::from_secs(365 * 24 * 3600),
            ..Config::default()
        };
        let mut farm = Farm {
            sched: Scheduler::new(config).expect("valid config"),
            rng: Rng(7),
            now: Micros::ZERO,
            next_request: 0,
            users: (0..USERS).map(|u| format!("user{u}")).collect(),
            slowness: Vec::new(),
            ends: BinaryHeap::new(),
            live: FxHashMap::default(),
        };
        for i in 0..HOSTS {
            let slots = 2 + (farm.rng.next() % 15) as u32;
            let slowness = [1.0, 2.0, 4.0][(farm.rng.next() % 3) as usize];
            let spec = HostSpec {
                name: format!("h{i}:3632"),
                slots,
                weight: 1.0 / slowness,
            };
            let (id, _) = farm.sched.join(Micros::ZERO, spec).expect("valid host");
            assert_eq!(id.0 as usize, farm.slowness.len(), "ids in join order");
            farm.slowness.push(slowness);
        }
        farm
    }

    fn total_slots(&self) -> u32 {
        self.sched.free_slots() + self.live.len() as u32
    }

    /// Submits one job from one of 50 users.
    fn submit(&mut self) {
        let user = self.users[(self.rng.next() % USERS) as usize].clone();
        let id = RequestId(self.next_request);
        self.next_request += 1;
        let cost = cost(id);
        let job = JobInfo {
            compiler: None,
            avoid: Vec::new(),
            user,
            size_bytes: (cost * 1e6) as u64,
            previous: Some(PreviousRun {
                duration: Duration::from_secs_f64(cost),
                host: None,
            }),
            local: None,
        };
        let actions = self
            .sched
            .request(self.now, id, job)
            .expect("fresh request");
        self.apply(actions);
    }

    /// Completes the copy that finishes first.
    fn complete_one(&mut self) {
        loop {
            let Reverse((end, lease)) = self.ends.pop().expect("something runs");
            let Some(granted) = self.live.remove(&lease) else {
                continue; // a cancelled speculative copy
            };
            self.now = self.now.max(end);
            let outcome = ReleaseReport {
                duration: end - granted,
                result: JobEnd::Ok,
            };
            let actions = self
                .sched
                .release(self.now, lease, outcome)
                .expect("live lease");
            self.apply(actions);
            return;
        }
    }

    fn start(&mut self, request: RequestId, lease: LeaseId, host: HostId) {
        let secs = cost(request) * self.slowness[host.0 as usize];
        self.ends
            .push(Reverse((self.now.plus_secs_f64(secs), lease)));
        self.live.insert(lease, self.now);
    }

    fn apply(&mut self, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Grant {
                    request,
                    lease,
                    host,
                } => self.start(request, lease, host),
                Action::Speculate {
                    request,
                    new_lease,
                    host,
                    ..
                } => self.start(request, new_lease, host),
                Action::Cancel { lease, .. } => {
                    self.live.remove(&lease);
                }
                other => panic!("unexpected in a healthy farm: {other:?}"),
            }
        }
    }
}

/// Every slot leased and [`QUEUED`] requests waiting.
fn saturated(policy: Policy) -> Farm {
    let mut farm = Farm::new(policy);
    let slots = farm.total_slots() as usize;
    for _ in 0..slots + QUEUED {
        farm.submit();
    }
    assert_eq!(farm.sched.free_slots(), 0);
    assert_eq!(farm.sched.snapshot().queued, QUEUED);
    farm
}

/// A quarter of the slots leased, nothing queued.
fn mostly_free(policy: Policy) -> Farm {
    let mut farm = Farm::new(policy);
    let slots = farm.total_slots() as usize;
    for _ in 0..slots / 4 {
        farm.submit();
    }
    assert_eq!(farm.sched.snapshot().queued, 0);
    farm
}

const POLICIES: [Policy; 6] = [
    Policy::EarliestFinish,
    Policy::FastestFree,
    Policy::ListOrder,
    Policy::Random { seed: 1 },
    Policy::LeastConnections,
    Policy::IcecreamLike,
];

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("saturated");
    g.throughput(Throughput::Elements(1));
    for policy in POLICIES {
        let mut farm = saturated(policy);
        g.bench_function(policy.name(), |b| {
            b.iter(|| {
                farm.complete_one();
                farm.submit();
                black_box(&farm.sched);
            });
        });
        assert_eq!(
            farm.sched.snapshot().queued,
            QUEUED,
            "{policy}: steady state"
        );
        farm.sched.check_invariants().expect("consistent");
    }
    g.finish();

    let mut g = c.benchmark_group("slots-free");
    g.throughput(Throughput::Elements(1));
    for policy in POLICIES {
        let mut farm = mostly_free(policy);
        g.bench_function(policy.name(), |b| {
            b.iter(|| {
                farm.complete_one();
                farm.submit();
                black_box(&farm.sched);
            });
        });
        assert_eq!(farm.sched.snapshot().queued, 0, "{policy}: nothing waits");
        farm.sched.check_invariants().expect("consistent");
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
