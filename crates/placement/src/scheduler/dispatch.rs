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
//! Biggest first: the trade only helps a long job that comes *before* the shorter ones in
//! fair order. When it comes after them, they take the fast slots as those free, pass
//! after pass, until its promise runs out and it takes whatever is free (seen on the shared
//! harness: a 1.5 s job asked at 7.8 s, waited while the requests ahead of it took each
//! fast slot, and took a slowness-4 slot at 8.4 s: 5.3 s, the build's last job). So while
//! requests may wait, a pass takes the next requests in fair order ([`Scheduler::ahead_window`]:
//! one per free slot and about one round of the farm's slots) and each user's requests
//! among them choose biggest first, in the places fair order gave that user: longest
//! processing time first, the classic rule for list schedules, without moving any user
//! ahead of another. Sizes are compared by octave of expected work, and fair order is kept
//! within one, so that estimates which differ only by drift (a learned ratio moving between
//! two requests for equal files) never reorder. In the simulator (40 draws, earliest-finish,
//! W1 / W2, Jain unchanged at 0.991–0.995): proportional sizes 1.108 / 1.054 → 1.082 /
//! 1.049; rebuild 1.110 / 1.057 → 1.082 / 1.052; headers 1.122 / 1.057 → 1.080 / 1.047;
//! constant 1.210 / 1.088 → 1.181 / 1.096; with 15 % noise on run times, rebuild 1.174 /
//! 1.102 → 1.138 / 1.092, constant 1.258 / 1.120 → 1.242 / 1.123. Tried and not kept:
//! biggest first across users (a `make -j200` starved a `make -j8`: 4.9 times its build
//! time alone), exact costs instead of octaves (equal files reordered by drift: constant
//! sizes, W2 Jain 0.970), a window of the free slots plus the whole lookahead (W2 no
//! better on average, worse on the harness's own draw).
//!
//! Two implementations of the same pass: a built-in policy ([`Scheduler::new`]) reads the
//! host index ([`super::index`]), a few ordered-set look-ups per request; a custom
//! [`crate::Placement`] is shown every host that can take work. A property test checks that
//! both make the same decisions for every built-in policy.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::action::Action;
use crate::compilers::CompilerId;
use crate::ids::{HostId, LeaseId, RequestId};
use crate::lease::{Lease, LeaseTiming};
use crate::policy::{Candidate, Decision, JobView, PlaceContext, Policy};
use crate::queue::{FairCursor, Queued, UserIdx};
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
    pub(super) compiler: Option<CompilerId>,
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
    /// The requests taken ahead in fair order to choose biggest first, the next one last.
    ahead: Vec<Queued>,
    /// Requests not yet looked at, per compiler they need.
    pending: Vec<u32>,
    /// Compilers no free host has (for the rest of the pass: grants only fill hosts).
    blocked: Vec<bool>,
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
    /// The compiler it needs: it only trades places with a request that needs the same.
    compiler: Option<CompilerId>,
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

    fn push(&mut self, w: Waiting) {
        self.0.push(w);
    }

    /// Request `request` (cost `cost`, needing `compiler`) is about to take a free slot of
    /// speed `free_speed`:
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
        compiler: Option<CompilerId>,
    ) -> Option<(RequestId, f64)> {
        let mut best: Option<(usize, f64)> = None;
        for (i, w) in self.0.iter().enumerate() {
            // Each must be able to run where the other was going.
            if w.cost * 2.0 > cost || w.compiler != compiler {
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

    /// How many requests, in fair order, a pass with `free` free slots lets choose biggest
    /// first: one per free slot, and as many again as the farm's slots (free or leased),
    /// up to the lookahead: about the requests one round of the farm's slots would serve.
    /// Looking further reorders a request past ones that would run before it even if it
    /// waited.
    fn ahead_window(&self, free: usize) -> usize {
        let round = self.leases.len().saturating_add(free);
        free.saturating_add(round.min(self.cfg.max_lookahead))
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
        let mut order = self.queue.order();
        let mut ahead = Vec::new();
        if waiting_allowed && self.placement.biggest_first() {
            let window = self.ahead_window(usize::try_from(free_total).unwrap_or(usize::MAX));
            biggest_first(&mut ahead, window, || order.next().cloned());
        }
        let requests = std::iter::from_fn(|| ahead.pop().or_else(|| order.next().cloned()));
        // A request that names a compiler is shown only the hosts that have it: `shown`,
        // whose `i`-th is `cands[farm[i]]`.
        let (mut shown, mut farm) = (Vec::new(), Vec::new());
        for q in requests {
            if free_total == 0 {
                break;
            }
            if q.compiler.is_some() {
                shown.clear();
                farm.clear();
                for (i, c) in cands.iter().enumerate() {
                    if self.hosts[&c.host].serves(q.compiler) {
                        shown.push(c.clone());
                        farm.push(i);
                    }
                }
                // Policies are only asked when a slot is free.
                if !shown.iter().any(|c| c.free > 0) {
                    continue;
                }
            }
            let to_farm = |d: Decision| match (q.compiler, d) {
                (None, d) => d,
                (Some(_), Decision::Grant(i)) => {
                    farm.get(i).map_or(Decision::Skip, |&i| Decision::Grant(i))
                }
                (Some(_), Decision::Wait(i, t)) => farm
                    .get(i)
                    .map_or(Decision::Skip, |&i| Decision::Wait(i, t)),
                (Some(_), Decision::Skip) => Decision::Skip,
            };
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
                candidates: if q.compiler.is_some() { &shown } else { &cands },
                may_wait,
            };
            let mut decision = to_farm(self.placement.place(&ctx));
            if let Decision::Wait(i, until) = decision {
                let valid = may_wait && until > now && cands.get(i).is_some_and(|c| c.free == 0);
                if !valid {
                    ctx.may_wait = false;
                    decision = to_farm(self.placement.place(&ctx));
                }
            }
            // Only a request that may still wait can trade its slot for a wait.
            let tradable = ctx.may_wait;
            match decision {
                Decision::Grant(i) if cands.get(i).is_some_and(|c| c.free > 0) => {
                    let c = &mut cands[i];
                    let (mut id, mut cost) = (q.id, q.cost);
                    if tradable
                        && let Some(other) =
                            waits.trade(now, q.id, q.cost, c.effective_speed, q.compiler)
                    {
                        (id, cost) = other;
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
                    // The free slot it declines: the fastest it could take (as earliest-finish
                    // compares against it).
                    let free_speed = cands
                        .iter()
                        .filter(|c| c.free > 0 && self.hosts[&c.host].serves(q.compiler))
                        .map(|c| c.effective_speed)
                        .fold(0.0, f64::max);
                    waits.push(Waiting {
                        request: q.id,
                        until,
                        cost: q.cost,
                        speed: cands[i].effective_speed,
                        free_speed,
                        compiler: q.compiler,
                    });
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
            ahead,
            pending,
            blocked,
        } = &mut pass;
        order.restart();
        // Requests of the pass not looked at yet whose compiler a free host may still have:
        // the pass ends when none is left, rather than walk a queue of requests for a
        // compiler no free host has.
        let mut left = self.queue.len();
        pending.clear();
        pending.extend_from_slice(self.queue.per_compiler());
        blocked.clear();
        blocked.resize(pending.len(), false);
        // Left over when the last pass ran out of free slots first.
        ahead.clear();
        if declines {
            // Free slots counted only until they cover the queue: the window then holds
            // every request whatever the exact count (a farm with most slots free would
            // otherwise visit every free host per request).
            let mut free = 0;
            for &(_, h) in self.index.fast() {
                free += self.hosts[&h].free(&self.cfg) as usize;
                if free >= self.queue.len() {
                    break;
                }
            }
            let window = self.ahead_window(free);
            biggest_first(ahead, window, || order.next(&self.queue).cloned());
        }
        while self.index.any_free() && left > 0 {
            let Some(mut q) = ahead.pop().or_else(|| order.next(&self.queue).cloned()) else {
                break;
            };
            match q.compiler {
                Some(c) if blocked[c.0 as usize] => continue,
                Some(c) => pending[c.0 as usize] -= 1,
                None => {}
            }
            left -= 1;
            let rng = &mut self.builtin.as_mut().expect("checked above").rng;
            let Some(free) = self.index.pick_free(q.compiler, rng) else {
                let Some(c) = q.compiler else { break };
                // It waits for a host with its compiler, and so do the others that need it.
                blocked[c.0 as usize] = true;
                left -= pending[c.0 as usize] as usize;
                continue;
            };
            let may_wait = declines
                && waits.len() < self.cfg.max_lookahead
                && q.wait_until.is_none_or(|t| t > now);
            if may_wait {
                // As `EarliestFinish::place`: the fastest free slot's finish, against the
                // best full host's.
                let speed = self.hosts[&free].effective_speed().max(1e-9);
                let wait = self.index.best_full(
                    q.compiler,
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
                    waits.push(Waiting {
                        request: q.id,
                        until: w.start,
                        cost: q.cost,
                        speed: self.hosts[&w.host].effective_speed(),
                        free_speed: speed,
                        compiler: q.compiler,
                    });
                    continue;
                }
                if let Some((other, _)) = waits.trade(now, q.id, q.cost, speed, q.compiler) {
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
                compiler: q.compiler,
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
            compiler: q.compiler,
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
                compiler: job.compiler,
            },
        );
        self.granted.entry(job.request).or_default().push(id);
        id
    }
}

/// Fills `ahead` with the next `window` requests from `next` (fair order), ordered for
/// popping biggest first (module docs, "Biggest first").
fn biggest_first(ahead: &mut Vec<Queued>, window: usize, mut next: impl FnMut() -> Option<Queued>) {
    ahead.clear();
    while ahead.len() < window {
        let Some(q) = next() else { break };
        ahead.push(q);
    }
    if ahead.len() < 2 {
        return;
    }
    // Each user keeps the places fair order gave it, and its own requests are dealt out
    // over them biggest first (fair order within an octave). Both lists are sorted by user
    // first, so the k-th place goes to the k-th request.
    let mut places: Vec<(UserIdx, usize)> =
        ahead.iter().enumerate().map(|(i, q)| (q.user, i)).collect();
    places.sort_unstable();
    let mut dealt: Vec<(UserIdx, Reverse<i32>, usize)> = ahead
        .iter()
        .enumerate()
        .map(|(i, q)| (q.user, Reverse(octave(q.cost)), i))
        .collect();
    dealt.sort_unstable();
    let mut place_of = vec![0; ahead.len()];
    for (&(_, to), &(_, _, i)) in places.iter().zip(&dealt) {
        place_of[i] = to;
    }
    // Moved into their places, last place first, so that `pop` takes the first.
    let mut placed: Vec<(usize, Queued)> = ahead
        .drain(..)
        .enumerate()
        .map(|(i, q)| (place_of[i], q))
        .collect();
    placed.sort_unstable_by_key(|&(to, _)| Reverse(to));
    ahead.extend(placed.into_iter().map(|(_, q)| q));
}

/// The octave of a job's expected work (costs are at least the configured floor, so the
/// logarithm is finite; a non-finite one sorts with the smallest).
fn octave(cost: f64) -> i32 {
    let o = cost.log2().floor();
    if o.is_finite() { o as i32 } else { i32::MIN }
}
