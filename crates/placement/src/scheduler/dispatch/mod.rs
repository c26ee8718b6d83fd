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

use crate::action::Action;
use crate::compilers::CompilerId;
use crate::ids::{HostId, LeaseId, RequestId};
use crate::lease::{Lease, LeaseTiming};
use crate::queue::{FairCursor, Queued, UserIdx};
use crate::time::Micros;

use super::Scheduler;
use super::index;

mod indexed;
mod listed;
mod waits;

use waits::Waits;

/// What a new lease is for.
pub(super) struct JobRef {
    pub(super) request: RequestId,
    pub(super) user: UserIdx,
    pub(super) cost: f64,
    pub(super) size: u64,
    pub(super) known: bool,
    pub(super) blind: bool,
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

impl Scheduler {
    /// Places what can be placed, then considers speculation ([`super::stragglers`]).
    pub(super) fn settle(&mut self, now: Micros) {
        self.refresh_index();
        self.run_on_machines();
        if self.builtin.is_some() {
            self.dispatch_indexed(now);
        } else {
            self.dispatch(now);
        }
        self.refresh_index();
        self.speculate(now);
        self.rescue_hung(now);
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

    fn grant(&mut self, now: Micros, request: RequestId, host: HostId) {
        let q = self.queue.take(request).expect("granted from the queue");
        let job = JobRef {
            request,
            user: q.user,
            cost: q.cost,
            size: q.size,
            known: q.known,
            blind: q.blind,
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
                blind: job.blind,
                compiler: job.compiler,
            },
        );
        self.granted.entry(job.request).or_default().push(id);
        self.may_hang(&timing);
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
