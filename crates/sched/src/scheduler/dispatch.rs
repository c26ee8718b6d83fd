//! Placement passes: matching waiting requests with free slots.
//!
//! A pass looks at waiting requests in fair order and asks the policy about each, until no
//! usable slot is free. The pass keeps its own picture of the farm: slots granted earlier in
//! the pass are taken, and a request that chose to wait for a full host reserves that host's
//! next slot (its expected free time moves on by the job's run time there), so the requests
//! behind it see a realistic wait and take the slower free slot once it is the better deal.
//! This is list scheduling by earliest finish time, bounded by the free slots and by
//! [`crate::Config::max_lookahead`]: once that many requests have declined free slots in one
//! pass, the queue is deeper than waiting can pay for (the farm is saturated, every slot
//! should work) and the following requests take free slots as they come.
//!
//! Saturation: a pass that runs out of lookahead has shown that the queue is deeper than
//! waiting can pay for, and while it stays deeper than the lookahead every later pass would
//! show it again, at the cost of `max_lookahead` searches and reservations per freed slot
//! (14 µs on a farm of 1,000 hosts, where a plain grant costs under 1 µs). So from then on
//! passes let no request decline a free slot, until a pass finds the queue no deeper than the
//! lookahead; the tail of the builds is then placed with waiting again. What changes is which
//! request takes a freed slow slot: the first in fair order instead of the one after the
//! lookahead, an equally arbitrary choice as far as cost goes. A queue that deep needs more
//! requests outstanding than the farm has slots plus the lookahead, so small farms never get
//! there.
//!
//! In fair order, shorter jobs ahead of a long one can take every reservation on the fast
//! hosts, leaving the long job the slow free slot. So a request about to take a free slot
//! may trade places with one that chose to wait earlier in the pass ([`Waits::trade`]): the
//! shorter job runs at once on the free slot, the longer one waits for the faster host.
//!
//! Two implementations of the same pass: a built-in policy ([`Scheduler::new`]) reads the
//! host index ([`super::index`]), a few ordered-set look-ups per request; a custom
//! [`crate::Placement`] is shown every host that can take work. A property test checks that
//! both make the same decisions for every built-in policy.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::action::Action;
use crate::ids::{HostId, LeaseId, RequestId};
use crate::lease::{Lease, LeaseTiming};
use crate::policy::{Candidate, Decision, JobView, PlaceContext, Policy};
use crate::queue::{FairCursor, UserIdx};
use crate::time::Micros;

use super::Scheduler;
use super::index;

/// What a new lease is for.
pub(super) struct JobRef {
    pub(super) request: RequestId,
    pub(super) user: UserIdx,
    pub(super) cost: f64,
    pub(super) size: u64,
    pub(super) known: bool,
}

/// What a placement pass over the host index collects as it goes, kept in the scheduler
/// between passes so that a pass allocates nothing; empty outside a pass.
#[derive(Default)]
pub(super) struct Pass {
    /// Requests granted, to take from the queue at the end.
    granted: Vec<RequestId>,
    /// Requests waiting for a full host.
    waits: Waits,
    /// Hosts reserved in this pass, with their index entries from before.
    reserved: Vec<(HostId, index::Entry)>,
    /// Full hosts' availabilities found stale by a search.
    stale: Vec<(HostId, Option<Micros>)>,
    /// Where the pass is in the fair order.
    order: FairCursor,
}

/// Expected free times of a candidate's busy usable slots (a min-heap).
type Ends = BinaryHeap<Reverse<Micros>>;

/// A request that chose, in a placement pass, to wait for a full host.
struct Waiting {
    request: RequestId,
    /// When the host's slot is expected to free.
    until: Micros,
    /// The job's cost, the speed of the host it waits for, and that of the free slot it
    /// declined.
    cost: f64,
    speed: f64,
    free_speed: f64,
}

impl Waiting {
    /// The request's promise: until when it may go on waiting. The later of the host's
    /// expected free time and half the run time the faster host saves it, counted from
    /// now (past the promise it takes any slot: [`crate::queue::Queued::wait_until`]).
    /// Not the expected free time alone: jobs overrun their estimates as often as not, and
    /// a big job whose host freed a little late then took a four times slower free slot,
    /// the worst place for it (seen on the shared harness: a 2.7 s job waited for a fast
    /// host, its promise passed, and it ran 10 s on a slowness-4 host). In the simulator
    /// (40 draws, earliest-finish, W1 / W2): the expected free time alone 1.131 / 1.077;
    /// this 1.108 / 1.054 (constant sizes 1.207 / 1.093 against 1.210 / 1.088); the whole
    /// saving 1.145 / 1.061; a quarter 1.123 / 1.060; the expected free time plus half of
    /// what waiting gains over the free slot 1.141 / 1.060.
    fn promise(&self, now: Micros) -> Micros {
        let saved = self.cost / self.free_speed - self.cost / self.speed;
        self.until.max(now.plus_secs_f64(saved.max(0.0) / 2.0))
    }
}

/// The requests that chose to wait in one placement pass, in the order they chose.
#[derive(Default)]
pub(super) struct Waits(Vec<Waiting>);

impl Waits {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn push(&mut self, request: RequestId, until: Micros, cost: f64, speed: f64, free_speed: f64) {
        self.0.push(Waiting {
            request,
            until,
            cost,
            speed,
            free_speed,
        });
    }

    /// Request `request` (cost `cost`) is about to take a free slot of speed `free_speed`:
    /// returns the request that should take it instead, if any, and puts `request` in that
    /// one's place, waiting for its host until its time.
    ///
    /// The one traded is the waiting job whose trade finishes the pair soonest, if any
    /// trade finishes it sooner at all. Only a job at most half as long is traded, so that
    /// estimates which differ only by noise (every job the same size, say) never trade.
    /// This is the pairwise exchange that improves a list schedule, applied where list
    /// scheduling in fair order goes wrong: a long job behind shorter ones that have taken
    /// the fast hosts' reservations.
    fn trade(
        &mut self,
        now: Micros,
        request: RequestId,
        cost: f64,
        free_speed: f64,
    ) -> Option<(RequestId, f64)> {
        let mut best: Option<(usize, f64)> = None;
        for (i, w) in self.0.iter().enumerate() {
            if w.cost * 2.0 > cost {
                continue;
            }
            let wait = w.until.saturating_since(now).as_secs_f64();
            let before = (wait + w.cost / w.speed).max(cost / free_speed);
            let after = (w.cost / free_speed).max(wait + cost / w.speed);
            let gain = before - after;
            if gain > 1e-6 && best.is_none_or(|(_, g)| gain > g) {
                best = Some((i, gain));
            }
        }
        let w = &mut self.0[best?.0];
        let other = (w.request, w.cost);
        (w.request, w.cost, w.free_speed) = (request, cost, free_speed);
        Some(other)
    }

    /// Every waiting request with its promise ([`Waiting::promise`]), emptying the list.
    fn drain(&mut self, now: Micros) -> impl Iterator<Item = (RequestId, Micros)> + '_ {
        self.0.drain(..).map(move |w| (w.request, w.promise(now)))
    }
}

impl Scheduler {
    /// Places what can be placed, then considers speculation ([`super::stragglers`]).
    pub(super) fn settle(&mut self, now: Micros) {
        self.refresh_index();
        if self.builtin.is_some() {
            self.dispatch_indexed(now);
        } else {
            self.dispatch(now);
        }
        self.refresh_index();
        self.speculate(now);
        self.refresh_index();
    }

    /// Whether requests may decline free slots in this pass: not while saturated (module
    /// docs), which ends once the queue is no deeper than the lookahead.
    fn waiting_allowed(&mut self) -> bool {
        if self.queue.len() <= self.cfg.max_lookahead {
            self.saturated = false;
        }
        !self.saturated
    }

    /// Hosts that can take work, in configured order, with (optionally) the expected free
    /// times of their busy slots.
    fn candidates(&self, now: Micros, with_ends: bool) -> (Vec<Candidate>, Vec<Ends>) {
        let mut cands = Vec::with_capacity(self.hosts.len());
        let mut all_ends = Vec::new();
        for h in self.hosts.values() {
            let Some(mut c) = index::candidate(h, &self.cfg) else {
                continue;
            };
            if with_ends {
                let heap: Ends = index::usable_ends(h, c.slots, now)
                    .into_iter()
                    .map(Reverse)
                    .collect();
                if c.free == 0 {
                    c.available_at = heap.peek().map(|r| r.0);
                }
                all_ends.push(heap);
            }
            cands.push(c);
        }
        (cands, all_ends)
    }

    /// One placement pass over the queue, showing a custom policy every candidate.
    fn dispatch(&mut self, now: Micros) {
        // Cheap test first: most events in a busy farm free nothing.
        if self.queue.is_empty() || !self.index.any_free() {
            return;
        }
        let with_ends = self.placement.needs_availability();
        let (mut cands, mut ends) = self.candidates(now, with_ends);
        let mut free_total: u64 = cands.iter().map(|c| u64::from(c.free)).sum();
        if free_total == 0 {
            return;
        }
        let waiting_allowed = self.waiting_allowed();
        let mut exhausted = false;
        let mut grants: Vec<(RequestId, HostId)> = Vec::new();
        let mut waits = Waits::default();
        for q in self.queue.order() {
            if free_total == 0 {
                break;
            }
            let job = JobView {
                cost: q.cost,
                size: q.size,
            };
            let may_wait = waiting_allowed
                && waits.len() < self.cfg.max_lookahead
                && q.wait_until.is_none_or(|t| t > now);
            let mut ctx = PlaceContext {
                now,
                job,
                candidates: &cands,
                may_wait,
            };
            let mut decision = self.placement.place(&ctx);
            if let Decision::Wait(i, until) = decision {
                let valid = may_wait && until > now && cands.get(i).is_some_and(|c| c.free == 0);
                if !valid {
                    ctx.may_wait = false;
                    decision = self.placement.place(&ctx);
                }
            }
            // Only a request that may still wait can trade its slot for a wait.
            let tradable = ctx.may_wait;
            match decision {
                Decision::Grant(i) if cands.get(i).is_some_and(|c| c.free > 0) => {
                    let c = &mut cands[i];
                    let (mut id, mut cost) = (q.id, q.cost);
                    if tradable {
                        if let Some(other) = waits.trade(now, q.id, q.cost, c.effective_speed) {
                            (id, cost) = other;
                        }
                    }
                    exhausted |= waiting_allowed && waits.len() >= self.cfg.max_lookahead;
                    c.free -= 1;
                    c.running += 1;
                    free_total -= 1;
                    if with_ends {
                        let heap = &mut ends[i];
                        heap.push(Reverse(now.plus_secs_f64(cost / c.effective_speed)));
                        if c.free == 0 {
                            c.available_at = heap.peek().map(|r| r.0);
                        }
                    }
                    grants.push((id, c.host));
                }
                Decision::Wait(i, until)
                    if may_wait && until > now && cands.get(i).is_some_and(|c| c.free == 0) =>
                {
                    if with_ends {
                        let c = &mut cands[i];
                        let heap = &mut ends[i];
                        if let Some(Reverse(t)) = heap.pop() {
                            let next = t.max(now).plus_secs_f64(q.cost / c.effective_speed);
                            heap.push(Reverse(next));
                        }
                        c.available_at = heap.peek().map(|r| r.0);
                    }
                    // The free slot it declines: the fastest (as earliest-finish compares
                    // against it).
                    let free_speed = cands
                        .iter()
                        .filter(|c| c.free > 0)
                        .map(|c| c.effective_speed)
                        .fold(0.0, f64::max);
                    waits.push(q.id, until, q.cost, cands[i].effective_speed, free_speed);
                }
                _ => {}
            }
        }
        self.saturated |= exhausted;
        for (id, until) in waits.drain(now) {
            self.queue.set_wait_until(id, until);
        }
        for (id, host) in grants {
            self.grant(now, id, host);
        }
    }

    /// One placement pass over the queue for a built-in policy, reading the host index.
    /// Grants are made as the pass goes (the index must see them), but the queue is only
    /// changed at the end, so the fair order stays that of the pass's start.
    fn dispatch_indexed(&mut self, now: Micros) {
        if self.queue.is_empty() || !self.index.any_free() {
            return;
        }
        let Some(policy) = self.builtin.as_ref().map(|b| b.policy) else {
            return;
        };
        let declines = policy == Policy::EarliestFinish && self.waiting_allowed();
        let mut exhausted = false;
        let mut pass = std::mem::take(&mut self.pass);
        let Pass {
            granted,
            waits,
            reserved,
            stale,
            order,
        } = &mut pass;
        order.restart();
        while self.index.any_free() {
            let Some(mut q) = order.next(&self.queue).cloned() else {
                break;
            };
            let rng = &mut self.builtin.as_mut().expect("checked above").rng;
            let Some(free) = self.index.pick_free(rng) else {
                break;
            };
            let may_wait = declines
                && waits.len() < self.cfg.max_lookahead
                && q.wait_until.is_none_or(|t| t > now);
            if may_wait {
                // As `EarliestFinish::place`: the fastest free slot's finish, against the
                // best full host's.
                let speed = self.hosts[&free].effective_speed().max(1e-9);
                let wait = self.index.best_full(
                    &self.hosts,
                    &self.cfg,
                    now,
                    q.cost,
                    q.cost / speed,
                    stale,
                );
                for (id, at) in stale.drain(..) {
                    let h = self.hosts.get_mut(&id).expect("indexed hosts exist");
                    self.index.rekey_full(h, at, Micros::ZERO);
                }
                if let Some(w) = wait.filter(|w| w.start > now) {
                    if let Some(before) = self.reserve(now, w.host, q.cost) {
                        reserved.push((w.host, before));
                    }
                    let host_speed = self.hosts[&w.host].effective_speed();
                    waits.push(q.id, w.start, q.cost, host_speed, speed);
                    continue;
                }
                if let Some((other, _)) = waits.trade(now, q.id, q.cost, speed) {
                    q = self.queue.get(other).expect("waiting in the queue").clone();
                }
            }
            exhausted |= declines && waits.len() >= self.cfg.max_lookahead;
            let job = JobRef {
                request: q.id,
                user: q.user,
                cost: q.cost,
                size: q.size,
                known: q.known,
            };
            let lease = self.new_lease(now, free, job, None);
            // The rest of the pass must see the grant; this also settles the host, so the
            // refresh after the pass need not re-key it again.
            self.refresh_index();
            self.counters.grants += 1;
            self.out.push(Action::Grant {
                request: q.id,
                lease,
                host: free,
            });
            granted.push(q.id);
        }
        self.saturated |= exhausted;
        for (id, until) in waits.drain(now) {
            self.queue.set_wait_until(id, until);
        }
        for id in granted.drain(..) {
            self.queue.take(id).expect("granted from the queue");
        }
        // A reserved host is full, so nothing but reservations changed it in the pass: its
        // entry from before the first one is still right.
        for (id, before) in reserved.drain(..) {
            let h = self.hosts.get_mut(&id).expect("indexed hosts exist");
            if let Some(ends) = h.pass_ends.take() {
                self.spare_ends.push(ends);
            }
            self.index.restore(h, before);
        }
        self.pass = pass;
    }

    /// A request waits for full host `host` during a pass: it takes the slot expected to
    /// free first, which then frees again once the job would have run there. Returns the
    /// host's index entry from before, on its first reservation in the pass.
    fn reserve(&mut self, now: Micros, host: HostId, cost: f64) -> Option<index::Entry> {
        let h = self.hosts.get_mut(&host).expect("indexed hosts exist");
        let mut before = None;
        if h.pass_ends.is_none() {
            let cap = h.capacity(&self.cfg);
            let mut ends = self.spare_ends.pop().unwrap_or_default();
            index::usable_ends_into(h, cap, now, &mut ends);
            h.pass_ends = Some(ends);
            before = Some(h.indexed);
        }
        let speed = h.effective_speed();
        let ends = h.pass_ends.as_mut().expect("just set");
        if !ends.is_empty() {
            let t = ends.remove(0);
            let next = t.max(now).plus_secs_f64(cost / speed);
            let at = ends.partition_point(|&e| e <= next);
            ends.insert(at, next);
        }
        let first = ends.first().copied();
        self.index.rekey_full(h, first, now);
        before
    }

    fn grant(&mut self, now: Micros, request: RequestId, host: HostId) {
        let q = self.queue.take(request).expect("granted from the queue");
        let job = JobRef {
            request,
            user: q.user,
            cost: q.cost,
            size: q.size,
            known: q.known,
        };
        let id = self.new_lease(now, host, job, None);
        self.counters.grants += 1;
        self.out.push(Action::Grant {
            request,
            lease: id,
            host,
        });
    }

    pub(super) fn new_lease(
        &mut self,
        now: Micros,
        host: HostId,
        job: JobRef,
        twin: Option<LeaseId>,
    ) -> LeaseId {
        let id = LeaseId(self.next_lease);
        self.next_lease += 1;
        self.touch(host);
        let h = self
            .hosts
            .get_mut(&host)
            .expect("candidates are known hosts");
        let timing = LeaseTiming::new(now, job.cost / h.effective_speed());
        h.leases.insert(id, timing);
        self.leases.insert(
            id,
            Lease {
                id,
                request: job.request,
                host,
                user: job.user,
                timing,
                cost: job.cost,
                load_factor: h.load_factor(),
                size: job.size,
                twin,
                no_twin: false,
                known_cost: job.known,
            },
        );
        self.granted.entry(job.request).or_default().push(id);
        id
    }
}
