//! Placement passes: matching waiting requests with free slots, and speculative re-dispatch.
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

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::action::Action;
use crate::health::Health;
use crate::ids::{HostId, LeaseId, RequestId};
use crate::lease::{Lease, LeaseTiming};
use crate::policy::{Candidate, Decision, JobView, PlaceContext};
use crate::queue::UserIdx;
use crate::time::Micros;

use super::Scheduler;

/// What a new lease is for.
struct JobRef {
    request: RequestId,
    user: UserIdx,
    cost: f64,
    size: u64,
}

/// Expected free times of a candidate's busy usable slots (a min-heap).
type Ends = BinaryHeap<Reverse<Micros>>;

impl Scheduler {
    /// Places what can be placed, then considers speculation.
    pub(super) fn settle(&mut self, now: Micros) {
        self.dispatch(now);
        self.speculate(now);
    }

    /// Hosts that can take work, in configured order, with (optionally) the expected free
    /// times of their busy slots.
    fn candidates(&self, now: Micros, with_ends: bool) -> (Vec<Candidate>, Vec<Ends>) {
        let mut cands = Vec::with_capacity(self.hosts.len());
        let mut all_ends = Vec::new();
        for h in self.hosts.values() {
            let cap = h.capacity(&self.cfg);
            if cap == 0 {
                continue;
            }
            let running = h.running();
            let free = cap.saturating_sub(running);
            let mut available_at = None;
            if with_ends {
                let mut ends: Vec<Micros> =
                    h.leases.values().map(|t| t.estimated_end(now)).collect();
                ends.sort_unstable();
                // Leases beyond the usable capacity must end before a usable slot frees.
                let skip = running.saturating_sub(cap) as usize;
                let heap: Ends = ends[skip..].iter().copied().map(Reverse).collect();
                if free == 0 {
                    available_at = heap.peek().map(|r| r.0);
                }
                all_ends.push(heap);
            }
            cands.push(Candidate {
                host: h.id,
                order: h.id.0,
                weight: h.weight,
                speed: h.speed.value,
                effective_speed: h.effective_speed(),
                samples: h.speed.samples,
                slots: cap,
                running,
                free,
                load: h.load_per_slot(),
                available_at,
            });
        }
        (cands, all_ends)
    }

    /// One placement pass over the queue.
    fn dispatch(&mut self, now: Micros) {
        // Cheap test first: most events in a busy farm free nothing.
        if self.queue.is_empty() || !self.hosts.values().any(|h| h.free(&self.cfg) > 0) {
            return;
        }
        let with_ends = self.placement.needs_availability();
        let (mut cands, mut ends) = self.candidates(now, with_ends);
        let mut free_total: u64 = cands.iter().map(|c| u64::from(c.free)).sum();
        if free_total == 0 {
            return;
        }
        let mut grants: Vec<(RequestId, HostId)> = Vec::new();
        let mut waits: Vec<(RequestId, Micros)> = Vec::new();
        for q in self.queue.order() {
            if free_total == 0 {
                break;
            }
            let job = JobView {
                cost: q.cost,
                size: q.size,
            };
            let may_wait =
                waits.len() < self.cfg.max_lookahead && q.wait_until.is_none_or(|t| t > now);
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
            match decision {
                Decision::Grant(i) if cands.get(i).is_some_and(|c| c.free > 0) => {
                    let c = &mut cands[i];
                    c.free -= 1;
                    c.running += 1;
                    free_total -= 1;
                    if with_ends {
                        let heap = &mut ends[i];
                        heap.push(Reverse(now.plus_secs_f64(q.cost / c.effective_speed)));
                        if c.free == 0 {
                            c.available_at = heap.peek().map(|r| r.0);
                        }
                    }
                    grants.push((q.id, c.host));
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
                    waits.push((q.id, until));
                }
                _ => {}
            }
        }
        for (id, until) in waits {
            self.queue.set_wait_until(id, until);
        }
        for (id, host) in grants {
            self.grant(now, id, host);
        }
    }

    fn grant(&mut self, now: Micros, request: RequestId, host: HostId) {
        let q = self.queue.take(request).expect("granted from the queue");
        let job = JobRef {
            request,
            user: q.user,
            cost: q.cost,
            size: q.size,
        };
        let id = self.new_lease(now, host, job, None);
        self.counters.grants += 1;
        self.out.push(Action::Grant {
            request,
            lease: id,
            host,
        });
    }

    fn new_lease(
        &mut self,
        now: Micros,
        host: HostId,
        job: JobRef,
        twin: Option<LeaseId>,
    ) -> LeaseId {
        let id = LeaseId(self.next_lease);
        self.next_lease += 1;
        let h = self
            .hosts
            .get_mut(&host)
            .expect("candidates are known hosts");
        let timing = LeaseTiming {
            granted_at: now,
            expected_secs: job.cost / h.effective_speed(),
        };
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
            },
        );
        self.granted.entry(job.request).or_default().push(id);
        id
    }

    /// When nothing waits and an up host has a free slot, a job running on a host at least
    /// `min_speedup` times slower, whose expected remaining time exceeds `margin` times its
    /// cost on the free host, is started again there. The free hosts are served fastest
    /// first, each taking the straggler it would save the most time on.
    fn speculate(&mut self, now: Micros) {
        let Some(spec) = self.cfg.speculation else {
            return;
        };
        if !self.placement.speculates() || !self.queue.is_empty() || self.leases.is_empty() {
            return;
        }
        let mut free: Vec<(HostId, f64, u32)> = self
            .hosts
            .values()
            .filter(|h| h.health.effective() == Health::Up)
            .map(|h| (h.id, h.effective_speed(), h.free(&self.cfg)))
            .filter(|&(_, _, f)| f > 0)
            .collect();
        free.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        for (fast, fast_speed, slots) in free {
            for _ in 0..slots {
                let best = self
                    .leases
                    .values()
                    .filter(|l| l.twin.is_none() && l.host != fast)
                    .filter_map(|l| {
                        let speed = self.hosts[&l.host].effective_speed();
                        if speed * spec.min_speedup > fast_speed {
                            return None;
                        }
                        let there = l.cost / fast_speed;
                        let remaining = l.timing.remaining_secs(now);
                        (remaining > there * spec.margin).then_some((l.id, remaining - there))
                    })
                    .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
                let Some((original, _)) = best else {
                    break;
                };
                let orig = &self.leases[&original];
                let job = JobRef {
                    request: orig.request,
                    user: orig.user,
                    cost: orig.cost,
                    size: orig.size,
                };
                let request = job.request;
                let new = self.new_lease(now, fast, job, Some(original));
                self.leases.get_mut(&original).expect("just found").twin = Some(new);
                self.counters.speculations += 1;
                self.out.push(Action::Speculate {
                    request,
                    original_lease: original,
                    new_lease: new,
                    host: fast,
                });
            }
        }
    }
}
