//! Speculative re-dispatch: when nothing waits and a fast slot is free, a job running late
//! on a much slower host is started again there, and the first result wins (the loser is
//! cancelled). This is the straggler problem a static host list cannot solve: the last job
//! of a build, placed on a slow host, holds the build while fast hosts sit idle.
//!
//! Only while nothing waits, so a copy costs nothing but an idle slot's time. A *blind* job
//! (nothing told its cost from another's, [`crate::job::CostModel::blind`]) has only the
//! mean job's estimate, so "running past its estimate" says little of it: it is copied on
//! the time it has run alone, from a host at least `blind_min_speedup` times slower,
//! longest-running first. In the simulator (40 draws, sizes that say nothing, three
//! farms) that, with blind jobs taking free slots at once, took W1 from 1.20–1.25 to
//! 1.14–1.15 of its lower bound; copies from hosts only 2× slower helped the default farm
//! a little and cost the farm with a six-times slower host more. Also tried
//! (simulator, 40 draws of W1 and W2 with every file the same size, and with 15 % noise in
//! run times): copying, before waiting requests, a job expected to outlast the farm's
//! queued work, with its remaining time taken from how far past their estimates the farm's
//! jobs had run; and copying onto slots the waiting requests had declined. The first cost
//! 0.03–0.17 of makespan ratio (a client's `-j` keeps the queue short, so "the farm runs
//! dry" came too soon and ordinary jobs were copied), the second moved nothing beyond
//! ±0.02. Neither was kept.

use std::cmp::Reverse;
use std::ops::Bound;

use crate::action::Action;
use crate::compilers;
use crate::config::Speculation;
use crate::health::Health;
use crate::ids::{HostId, LeaseId};
use crate::lease::LeaseTiming;
use crate::time::Micros;

use super::Scheduler;
use super::dispatch::JobRef;
use super::index::Rank;

impl Scheduler {
    /// When nothing waits and an up host has a free slot, a job running on a host at least
    /// `min_speedup` times slower, whose expected remaining time exceeds `margin` times its
    /// cost on the free host, is started again there. The free hosts are served fastest
    /// first, each taking the straggler it would save the most time on.
    ///
    /// The free hosts come from the index, fastest first, and stragglers are looked for only
    /// on hosts slow enough (the loaded hosts, slowest first). Once a free host finds no
    /// straggler, no slower one can (its margin is larger and fewer hosts are slow enough
    /// for it), so the search stops — or, in a farm whose hosts have compilers, skips the
    /// slower hosts that take no job the barren one could not ([`crate::compilers`]).
    pub(super) fn speculate(&mut self, now: Micros) {
        if self.cfg.speculation.is_none()
            || !self.placement.speculates()
            || !self.queue.is_empty()
            || self.leases.is_empty()
        {
            return;
        }
        let mut after: Option<(Rank, HostId)> = None;
        // The first free host that found no straggler.
        let mut barren: Option<(f64, HostId)> = None;
        loop {
            let next = match after {
                None => self.index.fast().first(),
                Some(k) => self
                    .index
                    .fast()
                    .range((Bound::Excluded(k), Bound::Unbounded))
                    .next(),
            };
            let Some(&(rank, fast)) = next else {
                break;
            };
            after = Some((rank, fast));
            let h = &self.hosts[&fast];
            if h.health.effective() != Health::Up {
                continue;
            }
            let fast_speed = h.effective_speed();
            if let Some((_, b)) = barren.filter(|&(s, _)| fast_speed < s) {
                if self.compilers.is_empty() {
                    break;
                }
                if compilers::covers(&self.hosts[&b].compilers, &h.compilers) {
                    continue;
                }
            }
            for _ in 0..h.free(&self.cfg) {
                let Some(original) = self.straggler(now, fast, fast_speed) else {
                    barren = barren.or(Some((fast_speed, fast)));
                    break;
                };
                self.start_copy(now, original, fast);
            }
        }
    }

    /// Jobs that have run [`crate::config::Speculation::hung_factor`] times longer than
    /// expected on their host (and at least `hung_after`) are copied to any free up host
    /// that can run them, the longest-running first, whatever the speeds: a compiler that
    /// spins or blocks on a healthy server would otherwise hold its build until the
    /// client's I/O timeout. Searched only once the first lease can be hung
    /// ([`Scheduler::next_deadline`] wakes the shell then); while a hung job finds no
    /// free host, on every change and every second.
    pub(super) fn rescue_hung(&mut self, now: Micros) {
        let Some(spec) = self.cfg.speculation else {
            return;
        };
        if !self.hung_stuck && self.hung_next.is_none_or(|t| now < t) {
            return;
        }
        if !self.placement.speculates() {
            self.hung_next = None;
            self.hung_stuck = false;
            return;
        }
        let again = now.plus_secs_f64(1.0);
        if !self.queue.is_empty() {
            // Every slot is taken while requests wait: nowhere to copy to yet.
            self.hung_next = Some(self.hung_next.map_or(again, |t| t.max(again)));
            self.hung_stuck = true;
            return;
        }
        let mut next: Option<Micros> = None;
        let mut hung: Vec<(Micros, LeaseId)> = Vec::new();
        for l in self
            .leases
            .values()
            .filter(|l| l.twin.is_none() && !l.no_twin)
        {
            let at = hung_at(&spec, &l.timing);
            if at <= now {
                hung.push((l.timing.granted_at, l.id));
            } else {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        // Longest-running first; lease ids break ties, for reproducible runs.
        hung.sort_unstable();
        let mut stuck = false;
        for (_, original) in hung {
            let (from, compiler) = {
                let l = &self.leases[&original];
                (l.host, l.compiler)
            };
            let free = self.index.fast().iter().map(|&(_, id)| id).find(|&id| {
                let h = &self.hosts[&id];
                id != from
                    && h.health.effective() == Health::Up
                    && h.free(&self.cfg) > 0
                    && compilers::serves(&h.compilers, compiler)
            });
            match free {
                Some(free) => {
                    self.start_copy(now, original, free);
                    self.refresh_index();
                }
                None => stuck = true,
            }
        }
        // A hung job no host could take is looked at again on every change (a slot may
        // have freed), and each second by the clock.
        if stuck {
            next = Some(next.map_or(again, |n| n.min(again)));
        }
        self.hung_stuck = stuck;
        self.hung_next = next;
    }

    /// A lease was granted: it is hung, if it ever is, at [`hung_at`].
    pub(super) fn may_hang(&mut self, timing: &LeaseTiming) {
        if let Some(spec) = self.cfg.speculation.filter(|_| self.placement.speculates()) {
            let at = hung_at(&spec, timing);
            self.hung_next = Some(self.hung_next.map_or(at, |n| n.min(at)));
        }
    }

    /// Starts lease `original`'s job again on host `fast`.
    fn start_copy(&mut self, now: Micros, original: LeaseId, fast: HostId) {
        let orig = &self.leases[&original];
        let job = JobRef {
            request: orig.request,
            user: orig.user,
            cost: orig.cost,
            size: orig.size,
            known: orig.known_cost,
            blind: orig.blind,
            compiler: orig.compiler,
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

    /// The leases that may be copied to free host `fast_speed`: on another host at least
    /// `min_speedup` (or `blind_min_speedup`) times slower, without a twin, not declined,
    /// with their timings, expected costs, whether they are blind, and their host's speed.
    fn copyable(
        &self,
        fast: HostId,
        fast_speed: f64,
    ) -> impl Iterator<Item = (LeaseId, &LeaseTiming, f64, bool, f64)> {
        let min_speedup = self
            .cfg
            .speculation
            .map_or(f64::INFINITY, |s| s.min_speedup.min(s.blind_min_speedup));
        let serves = &self.hosts[&fast].compilers;
        self.index
            .loaded
            .iter()
            // Classes come slowest first: once none of a class's speeds is slow enough, no
            // later one is.
            .take_while(move |&&(Reverse(class), _)| class.bottom() * min_speedup <= fast_speed)
            .filter_map(move |&(_, host)| {
                let h = &self.hosts[&host];
                (host != fast && h.effective_speed() * min_speedup <= fast_speed).then_some(h)
            })
            .flat_map(|h| {
                let speed = h.effective_speed();
                h.leases.iter().map(move |(id, timing)| (id, timing, speed))
            })
            .filter_map(|(id, timing, speed)| {
                let l = &self.leases[&id];
                let copyable =
                    l.twin.is_none() && !l.no_twin && compilers::serves(serves, l.compiler);
                copyable.then_some((id, timing, l.cost, l.blind, speed))
            })
    }

    /// The lease worth starting again on free host `fast` (speed `fast_speed`): the one that
    /// would save the most time, ties to the lower lease id. A blind job's saving is not
    /// known: it counts as the time it has run, so that the longest-running goes first.
    fn straggler(&self, now: Micros, fast: HostId, fast_speed: f64) -> Option<LeaseId> {
        let spec = self.cfg.speculation?;
        let mut best: Option<(LeaseId, f64)> = None;
        for (id, timing, cost, blind, speed) in self.copyable(fast, fast_speed) {
            let speedup = fast_speed / speed.max(f64::MIN_POSITIVE);
            if blind {
                if speedup >= spec.blind_min_speedup {
                    keep_best(
                        &mut best,
                        id,
                        now.saturating_since(timing.granted_at).as_secs_f64(),
                    );
                }
                continue;
            }
            if speedup < spec.min_speedup {
                continue;
            }
            let there = cost / fast_speed;
            let remaining = timing.remaining_secs(now);
            if remaining <= there * spec.margin {
                continue;
            }
            keep_best(&mut best, id, remaining - there);
        }
        best.map(|(id, _)| id)
    }
}

/// When a job granted with `timing` is taken to be hung under `spec`.
fn hung_at(spec: &Speculation, timing: &LeaseTiming) -> Micros {
    let after = spec
        .hung_after
        .as_secs_f64()
        .max(spec.hung_factor * timing.expected_secs);
    timing.granted_at.plus_secs_f64(after)
}

/// Keeps `(id, gain)` in `best` if it gains more, ties to the lower lease id.
fn keep_best(best: &mut Option<(LeaseId, f64)>, id: LeaseId, gain: f64) {
    let better = best.is_none_or(|(bid, bg)| {
        gain.total_cmp(&bg).then(bid.cmp(&id)) == std::cmp::Ordering::Greater
    });
    if better {
        *best = Some((id, gain));
    }
}
