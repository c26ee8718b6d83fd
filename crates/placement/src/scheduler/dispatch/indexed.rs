//! The placement pass for a built-in policy: a few look-ups in the host index per request
//! instead of a scan of the farm.

use crate::action::Action;
use crate::ids::HostId;
use crate::policy::Policy;
use crate::scheduler::{Scheduler, index};
use crate::time::Micros;

use super::waits::Waiting;
use super::{JobRef, Pass, biggest_first};

impl Scheduler {
    /// One placement pass over the queue for a built-in policy, reading the host index.
    /// Grants are made as the pass goes (the index must see them), but the queue is only
    /// changed at the end, so the fair order stays that of the pass's start.
    pub(super) fn dispatch_indexed(&mut self, now: Micros) {
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
            let avoid = q.avoid.as_deref().unwrap_or_default();
            let Some(free) = self.index.pick_free(q.compiler, avoid, rng) else {
                if q.avoid.is_some() {
                    // Only hosts it avoids are free: it waits for another.
                    continue;
                }
                let Some(c) = q.compiler else { break };
                // It waits for a host with its compiler, and so do the others that need it.
                blocked[c.0 as usize] = true;
                left -= pending[c.0 as usize] as usize;
                continue;
            };
            // A job that failed somewhere takes the first other slot: it has waited once.
            let may_wait = declines
                && !q.blind
                && q.avoid.is_none()
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
                    self.index.rekey_full(&self.hosts[&id], at, Micros::ZERO);
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
                blind: q.blind,
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
            before = Some(self.index.indexed(host));
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
}
