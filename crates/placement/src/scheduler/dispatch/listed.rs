//! The placement pass for a custom [`crate::Placement`]: the policy is shown every host that
//! can take work, and the pass keeps its own picture of their slots as it grants and
//! reserves.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::ids::{HostId, RequestId};
use crate::policy::{Candidate, Decision, JobView, PlaceContext};
use crate::scheduler::{Scheduler, index};
use crate::time::Micros;

use super::biggest_first;
use super::waits::{Waiting, Waits};

/// Expected free times of a candidate's busy usable slots (a min-heap).
type Ends = BinaryHeap<Reverse<Micros>>;

impl Scheduler {
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
    pub(super) fn dispatch(&mut self, now: Micros) {
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
        // A request that names a compiler, or avoids hosts, is shown only the hosts that
        // have it and it may use: `shown`, whose `i`-th is `cands[farm[i]]`.
        let (mut shown, mut farm) = (Vec::new(), Vec::new());
        for q in requests {
            if free_total == 0 {
                break;
            }
            let filtered = q.compiler.is_some() || q.avoid.is_some();
            if filtered {
                shown.clear();
                farm.clear();
                for (i, c) in cands.iter().enumerate() {
                    if self.hosts[&c.host].serves(q.compiler) && q.may_use(c.host) {
                        shown.push(c.clone());
                        farm.push(i);
                    }
                }
                // Policies are only asked when a slot is free.
                if !shown.iter().any(|c| c.free > 0) {
                    continue;
                }
            }
            let to_farm = |d: Decision| match (filtered, d) {
                (false, d) => d,
                (true, Decision::Grant(i)) => {
                    farm.get(i).map_or(Decision::Skip, |&i| Decision::Grant(i))
                }
                (true, Decision::Wait(i, t)) => farm
                    .get(i)
                    .map_or(Decision::Skip, |&i| Decision::Wait(i, t)),
                (true, Decision::Skip) => Decision::Skip,
            };
            let job = JobView {
                cost: q.cost,
                size: q.size,
            };
            let may_wait = waiting_allowed
                && !q.blind
                && q.avoid.is_none()
                && waits.len() < self.cfg.max_lookahead
                && q.wait_until.is_none_or(|t| t > now);
            let mut ctx = PlaceContext {
                now,
                job,
                candidates: if filtered { &shown } else { &cands },
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
}
