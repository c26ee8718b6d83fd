//! Property tests: invariants over random event sequences, checked after every event against
//! a model built only from the actions the scheduler emitted.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ccfarm_placement::*;
use common::*;
use proptest::prelude::*;

const SLOTS: [u32; 4] = [2, 1, 3, 1];
const WEIGHTS: [f64; 4] = [1.0, 0.5, 0.25, 2.0];
const USERS: [&str; 3] = ["ann", "bob", "carol"];
/// Compilers hosts may have (as a bit mask over the first three) and requests may name;
/// no host ever has the last.
const COMPILERS: [(&str, &str); 4] = [
    ("12.2.0", "x86_64-linux-gnu"),
    ("13.2.0", "x86_64-linux-gnu"),
    ("12.2.0", "aarch64-linux-gnu"),
    ("14.1.0", "x86_64-linux-gnu"),
];

fn compiler(i: usize) -> CompilerKey {
    CompilerKey {
        version: COMPILERS[i].0.into(),
        target: COMPILERS[i].1.into(),
    }
}

/// The compilers in bit mask `mask`.
fn compilers(mask: u8) -> Vec<CompilerKey> {
    (0..3)
        .filter(|i| mask & (1 << i) != 0)
        .map(compiler)
        .collect()
}

#[derive(Debug, Clone)]
enum Op {
    Request {
        user: usize,
        size: u32,
        prev_ms: Option<u32>,
        compiler: Option<usize>,
    },
    Release {
        pick: usize,
        ms: u32,
        result: usize,
    },
    ClientGone {
        pick: usize,
        by_lease: bool,
    },
    Heartbeat {
        host: usize,
        slots: u32,
        running: u32,
    },
    Join(usize),
    Leave(usize),
    Drain(usize),
    Up(usize),
    Down(usize),
    Remove(usize),
    Add(usize),
    Probe(usize, bool),
    /// A host now has the compilers of this mask.
    Compilers(usize, u8),
    Tick,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (
            0..3usize,
            0..3_000_000u32,
            proptest::option::of(1..20_000u32),
            prop_oneof![3 => Just(None), 2 => (0..4usize).prop_map(Some)],
        )
            .prop_map(|(user, size, prev_ms, compiler)| Op::Request { user, size, prev_ms, compiler }),
        6 => (any::<usize>(), 1..20_000u32, prop_oneof![6 => Just(0usize), 1 => Just(1), 2 => Just(2)])
            .prop_map(|(pick, ms, result)| Op::Release { pick, ms, result }),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(pick, by_lease)| Op::ClientGone { pick, by_lease }),
        5 => (0..4usize, 0..5u32, 0..3u32)
            .prop_map(|(host, slots, running)| Op::Heartbeat { host, slots, running }),
        1 => (0..4usize).prop_map(Op::Join),
        1 => (0..4usize).prop_map(Op::Leave),
        1 => (0..4usize).prop_map(Op::Drain),
        2 => (0..4usize).prop_map(Op::Up),
        1 => (0..4usize).prop_map(Op::Down),
        1 => (0..4usize).prop_map(Op::Remove),
        1 => (0..4usize).prop_map(Op::Add),
        2 => (0..4usize, any::<bool>()).prop_map(|(h, ok)| Op::Probe(h, ok)),
        1 => (0..4usize, 0..8u8).prop_map(|(h, mask)| Op::Compilers(h, mask)),
        3 => Just(Op::Tick),
    ]
}

fn policy() -> impl Strategy<Value = Policy> {
    prop_oneof![
        Just(Policy::ListOrder),
        any::<u64>().prop_map(|seed| Policy::Random { seed }),
        Just(Policy::LeastConnections),
        Just(Policy::FastestFree),
        Just(Policy::IcecreamLike),
        Just(Policy::EarliestFinish),
    ]
}

/// What the actions say the scheduler holds.
#[derive(Debug, Default)]
struct Model {
    /// Waiting requests, with the first wait promise seen for each.
    queued: BTreeMap<RequestId, Option<Micros>>,
    leased: BTreeMap<RequestId, BTreeSet<LeaseId>>,
    leases: BTreeMap<LeaseId, (RequestId, HostId)>,
    next_request: u64,
    /// The compiler each request named.
    compiler: BTreeMap<RequestId, CompilerKey>,
}

impl Model {
    fn drop_lease(&mut self, lease: LeaseId) -> (RequestId, HostId) {
        let (request, host) = self.leases.remove(&lease).expect("known lease");
        let held = self.leased.get_mut(&request).expect("request holds it");
        held.remove(&lease);
        if held.is_empty() {
            self.leased.remove(&request);
        }
        (request, host)
    }

    fn apply(&mut self, actions: &[Action]) {
        for a in actions {
            match *a {
                Action::RunHere { request, .. } => {
                    panic!("{request} run on a machine, but no job offered one")
                }
                Action::Grant {
                    request,
                    lease,
                    host,
                } => {
                    assert!(
                        self.queued.remove(&request).is_some(),
                        "grant of unqueued {request}"
                    );
                    self.leased.entry(request).or_default().insert(lease);
                    assert!(self.leases.insert(lease, (request, host)).is_none());
                }
                Action::Speculate {
                    request,
                    original_lease,
                    new_lease,
                    host,
                } => {
                    let held = self
                        .leased
                        .get_mut(&request)
                        .expect("speculating a held request");
                    assert!(held.contains(&original_lease));
                    held.insert(new_lease);
                    assert_ne!(self.leases[&original_lease].1, host);
                    self.leases.insert(new_lease, (request, host));
                }
                Action::Cancel {
                    request,
                    lease,
                    host,
                } => {
                    assert_eq!(self.drop_lease(lease), (request, host));
                }
                Action::RetryElsewhere {
                    request,
                    lease,
                    host,
                } => {
                    assert_eq!(self.drop_lease(lease), (request, host));
                    assert!(!self.leased.contains_key(&request), "revoked but twin left");
                }
                Action::CompileLocally { request, .. } => {
                    assert!(self.queued.remove(&request).is_some(), "sent home twice");
                }
                Action::Probe { .. } => {}
            }
        }
    }
}

fn config(policy: Policy) -> Config {
    with_lookahead(policy, Config::default().max_lookahead)
}

/// [`config`] with `max_lookahead` as given: a small one lets the short random runs reach
/// the saturated passes (a queue deeper than the lookahead) and leave them again.
fn with_lookahead(policy: Policy, max_lookahead: usize) -> Config {
    Config {
        policy,
        max_lookahead,
        heartbeat_timeout: Duration::from_secs(8),
        max_wait: Duration::from_secs(20),
        down_backoff: Duration::from_secs(1),
        down_backoff_max: Duration::from_secs(8),
        probe_interval: Duration::from_secs(10),
        probe_timeout: Duration::from_secs(3),
        ..Config::default()
    }
}

fn name(h: usize) -> String {
    format!("h{h}")
}

/// Runs one event against the scheduler and the model, then checks every invariant.
fn step(s: &mut Scheduler, m: &mut Model, now: Micros, op: &Op) {
    let before = s.snapshot();
    let id = |h: usize| s.host_id(&name(h));
    let result: Result<Vec<Action>, SchedError> = match *op {
        Op::Request {
            user,
            size,
            prev_ms,
            compiler: named,
        } => {
            let r = RequestId(m.next_request);
            m.next_request += 1;
            m.queued.insert(r, None);
            if let Some(c) = named {
                m.compiler.insert(r, compiler(c));
            }
            let job = JobInfo {
                user: USERS[user].into(),
                size_bytes: u64::from(size),
                previous: prev_ms.map(|ms| PreviousRun {
                    duration: Duration::from_millis(u64::from(ms)),
                    host: id(0),
                }),
                compiler: named.map(compiler),
                avoid: Vec::new(),
                local: None,
            };
            s.request(now, r, job)
        }
        Op::Release { pick, ms, result } => {
            let Some(&lease) = m.leases.keys().nth(pick % m.leases.len().max(1)) else {
                return;
            };
            let result = [JobEnd::Ok, JobEnd::CompileError, JobEnd::Transport][result];
            let (request, _) = m.drop_lease(lease);
            let out = outcome(f64::from(ms) / 1000.0, result);
            let actions = s.release(now, lease, out).expect("model lease is live");
            m.apply(&actions);
            if result != JobEnd::Transport {
                assert!(!m.leased.contains_key(&request), "twin survived a win");
            }
            check(s, m, &before, &actions, now, false);
            return;
        }
        Op::ClientGone { pick, by_lease } => {
            let requests: Vec<RequestId> =
                m.queued.keys().chain(m.leased.keys()).copied().collect();
            let Some(&r) = requests.get(pick % requests.len().max(1)) else {
                return;
            };
            let held = match m.leased.get(&r) {
                Some(ls) if by_lease => Held::Lease(*ls.iter().next().unwrap()),
                _ => Held::Request(r),
            };
            m.queued.remove(&r);
            for l in m.leased.remove(&r).unwrap_or_default() {
                m.leases.remove(&l);
            }
            s.client_gone(now, held)
        }
        Op::Heartbeat {
            host,
            slots,
            running,
        } => {
            // A heartbeat round: every known host reports; `host` reports odd figures.
            // Each heartbeat is its own transition (it may grant, and a later one may
            // then shrink a host below what it was granted), so each is checked alone.
            for (h, &usual) in SLOTS.iter().enumerate() {
                let Some(hid) = s.host_id(&name(h)) else {
                    continue;
                };
                let (slots, running) = if h == host {
                    (slots, running)
                } else {
                    (usual, 0)
                };
                let hb = Heartbeat {
                    slots,
                    running,
                    load_avg: Some(f64::from(running)),
                    free_memory: None,
                    calibration: None,
                };
                let before = s.snapshot();
                let actions = s.heartbeat(now, hid, hb).expect("known host");
                m.apply(&actions);
                check(s, m, &before, &actions, now, false);
            }
            return;
        }
        Op::Join(h) => s
            .join(now, spec(&name(h), SLOTS[h], WEIGHTS[h]))
            .map(|(_, a)| a),
        Op::Add(h) => match s.add(now, spec(&name(h), SLOTS[h], WEIGHTS[h])) {
            Ok((_, a)) => Ok(a),
            Err(SchedError::DuplicateHost(_)) => return,
            Err(e) => panic!("{e}"),
        },
        Op::Leave(h) | Op::Drain(h) | Op::Up(h) | Op::Down(h) | Op::Remove(h) | Op::Probe(h, _) => {
            let Some(hid) = id(h) else { return };
            match *op {
                Op::Leave(_) => s.leave(now, hid),
                Op::Drain(_) => s.drain(now, hid),
                Op::Up(_) => s.up(now, hid),
                Op::Down(_) => s.down(now, hid),
                Op::Remove(_) => s.remove(now, hid),
                Op::Probe(_, ok) => s.probe_result(now, hid, ok),
                _ => unreachable!(),
            }
        }
        Op::Compilers(h, mask) => {
            let Some(hid) = id(h) else { return };
            s.set_compilers(now, hid, &compilers(mask))
        }
        Op::Tick => Ok(s.tick(now)),
    };
    let actions = result.expect("only valid operations are generated");
    m.apply(&actions);
    check(s, m, &before, &actions, now, matches!(op, Op::Tick));
}

fn check(
    s: &Scheduler,
    m: &Model,
    before: &Snapshot,
    actions: &[Action],
    now: Micros,
    ticked: bool,
) {
    s.check_invariants().unwrap();
    let snap = s.snapshot();

    // The scheduler holds exactly what its actions said: every request is queued, leased,
    // or finished by an action; a released or dead client's slot has returned.
    let leases: BTreeMap<_, _> = s
        .leases()
        .into_iter()
        .map(|l| (l.id, (l.request, l.host)))
        .collect();
    assert_eq!(leases, m.leases);
    let queued: BTreeMap<_, _> = s.queued().into_iter().map(|q| (q.id, q)).collect();
    assert_eq!(
        queued.keys().collect::<Vec<_>>(),
        m.queued.keys().collect::<Vec<_>>()
    );

    // A job that names a compiler runs only where that compiler is; one naming a compiler
    // no host has is sent home at once.
    for a in actions {
        match *a {
            Action::Grant { request, host, .. } | Action::Speculate { request, host, .. } => {
                if let Some(key) = m.compiler.get(&request) {
                    let h = snap
                        .hosts
                        .iter()
                        .find(|h| h.id == host)
                        .expect("known host");
                    assert!(h.compilers.contains(key), "{request} ({key}) on {h:?}");
                }
            }
            Action::CompileLocally {
                request,
                reason: FarmRefusal::NoMatchingCompiler,
            } => {
                let key = &m.compiler[&request];
                assert!(snap.hosts.iter().all(|h| !h.compilers.contains(key)));
            }
            _ => {}
        }
    }

    let granted_to: BTreeSet<HostId> = actions
        .iter()
        .filter_map(|a| match *a {
            Action::Grant { host, .. } | Action::Speculate { host, .. } => Some(host),
            _ => None,
        })
        .collect();
    for h in &snap.hosts {
        let old = before
            .hosts
            .iter()
            .find(|o| o.id == h.id)
            .map_or(0, |o| o.leases);
        // Never more leases than slots.
        if h.leases > old || granted_to.contains(&h.id) {
            assert!(h.leases <= h.capacity && h.leases <= h.slots, "{h:?}");
        }
        // Nothing granted on a host that is down or draining; down hosts hold nothing.
        if granted_to.contains(&h.id) {
            assert!(matches!(h.health, Health::Up | Health::Probation), "{h:?}");
        }
        if h.health == Health::Down {
            assert_eq!(h.leases, 0, "{h:?}");
        }
        if h.health == Health::Draining {
            assert!(h.leases <= old, "{h:?}");
        }
    }

    // No request waits while a usable slot is free — except, under earliest-finish, one
    // waiting for a faster host, and then never past the time it expected at first.
    let earliest_finish = snap.policy == Policy::EarliestFinish.name();
    for (id, q) in &queued {
        if let (Some(first), Some(now_promise)) = (m.queued[id], q.wait_until) {
            assert!(now_promise <= first, "{id} promise moved later");
        }
        // Free slots it could take: on hosts with its compiler, if it named one.
        let free: u32 = snap
            .hosts
            .iter()
            .filter(|h| m.compiler.get(id).is_none_or(|k| h.compilers.contains(k)))
            .map(|h| h.capacity.saturating_sub(h.leases))
            .sum();
        if free > 0 {
            assert!(earliest_finish, "{id} waits with {free} free slots");
            assert!(
                q.wait_until.is_some_and(|t| t > now),
                "{id} waits past its promise: {q:?}"
            );
        }
    }

    if ticked {
        let max_wait = s.config().max_wait;
        assert!(queued.values().all(|q| q.enqueued + max_wait > now));
        assert!(s.next_deadline().is_none_or(|d| d > now));
    }
}

fn record_promises(s: &Scheduler, m: &mut Model) {
    for q in s.queued() {
        if let Some(first) = m.queued.get_mut(&q.id)
            && first.is_none()
        {
            *first = q.wait_until;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_over_random_events(
        policy in policy(),
        lookahead in prop_oneof![Just(1usize), Just(2), Just(64)],
        masks in proptest::collection::vec(0..8u8, 3),
        steps in proptest::collection::vec((0..2_000u32, op()), 1..200),
    ) {
        let mut s = Scheduler::new(with_lookahead(policy, lookahead)).unwrap();
        let mut m = Model::default();
        let mut now = Micros::ZERO;
        for h in 0..3 {
            let (id, _) = s.join(now, spec(&name(h), SLOTS[h], WEIGHTS[h])).unwrap();
            s.set_compilers(now, id, &compilers(masks[h])).unwrap();
        }
        for (dt, op) in &steps {
            now = now + Duration::from_millis(u64::from(*dt));
            step(&mut s, &mut m, now, op);
            record_promises(&s, &mut m);
        }
        // Every request ends: after max_wait, nothing is left waiting.
        now = now + s.config().max_wait;
        let actions = s.tick(now);
        m.apply(&actions);
        prop_assert!(s.queued().is_empty());
        prop_assert!(m.queued.is_empty());
        // Every slot returns once its clients are gone.
        for r in m.leased.keys().copied().collect::<Vec<_>>() {
            s.client_gone(now, r).unwrap();
        }
        prop_assert_eq!(s.snapshot().leases, 0);
        prop_assert!(s.snapshot().hosts.iter().all(|h| h.leases == 0));
    }

    /// `Scheduler::new` serves a built-in policy from its incremental host index;
    /// `with_placement` shows the same policy every host, as a custom policy is shown. Both
    /// must make the same decisions, event after event.
    #[test]
    fn the_host_index_decides_as_the_policies_do(
        policy in policy(),
        lookahead in prop_oneof![Just(1usize), Just(2), Just(64)],
        masks in proptest::collection::vec(0..8u8, 3),
        steps in proptest::collection::vec((0..2_000u32, op()), 1..200),
    ) {
        let config = with_lookahead(policy, lookahead);
        let mut indexed = Scheduler::new(config.clone()).unwrap();
        let mut shown = Scheduler::with_placement(config, policy.build()).unwrap();
        let (mut mi, mut ms) = (Model::default(), Model::default());
        let mut now = Micros::ZERO;
        for h in 0..3 {
            for s in [&mut indexed, &mut shown] {
                let (id, _) = s.join(now, spec(&name(h), SLOTS[h], WEIGHTS[h])).unwrap();
                s.set_compilers(now, id, &compilers(masks[h])).unwrap();
            }
        }
        for (dt, op) in &steps {
            now = now + Duration::from_millis(u64::from(*dt));
            step(&mut indexed, &mut mi, now, op);
            step(&mut shown, &mut ms, now, op);
            record_promises(&indexed, &mut mi);
            record_promises(&shown, &mut ms);
            prop_assert_eq!(indexed.leases(), shown.leases(), "{:?}", op);
            prop_assert_eq!(indexed.queued(), shown.queued(), "{:?}", op);
            prop_assert_eq!(indexed.snapshot(), shown.snapshot(), "{:?}", op);
        }
    }

    #[test]
    fn fair_queueing_alternates_between_users(
        policy in policy(),
        hosts in 1..4usize,
        slots in 1..5u32,
        n_ann in 1..60u64,
        n_bob in 1..60u64,
    ) {
        let mut s = Scheduler::new(Config { max_wait: Duration::from_secs(100_000), heartbeat_timeout: Duration::from_secs(100_000), ..config(policy) }).unwrap();
        for h in 0..hosts {
            s.join(at(0.0), spec(&name(h), slots, 1.0)).unwrap();
        }
        let mut running = std::collections::VecDeque::new();
        let total = hosts as u64 * u64::from(slots);
        for i in 0..total {
            running.push_back(granted(&s.request(at(0.0), RequestId(i), job("carol", 5.0)).unwrap()).0);
        }
        for i in 0..n_ann {
            prop_assert!(s.request(at(0.1), RequestId(1_000 + i), job("ann", 5.0)).unwrap().is_empty());
        }
        for i in 0..n_bob {
            prop_assert!(s.request(at(0.2), RequestId(2_000 + i), job("bob", 5.0)).unwrap().is_empty());
        }
        let (mut ann, mut bob) = (0u64, 0u64);
        let mut t = 5.0;
        while let Some(lease) = running.pop_front() {
            t += 0.01;
            for (r, l, _) in grants(&s.release(at(t), lease, ok(5.0)).unwrap()) {
                if r.0 >= 2_000 { bob += 1 } else { ann += 1 }
                running.push_back(l);
                if ann < n_ann && bob < n_bob {
                    prop_assert!(ann.abs_diff(bob) <= 1, "ann {} bob {}", ann, bob);
                }
            }
        }
        prop_assert_eq!((ann, bob), (n_ann, n_bob));
    }
}
