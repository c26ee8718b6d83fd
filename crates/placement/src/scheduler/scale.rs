//! The farm's speed scale: how learned speeds compare with configured weights.
//!
//! Why: speeds are learned in the cost model's units (work per second, work being a job's
//! estimated seconds at speed 1), and those match real durations only roughly: on the shared
//! benchmark harness measured hosts settle at 0.3–0.6 where every weight is 1. A host no job
//! has measured yet used to keep its weight as its speed, so it looked two or three times
//! faster than every measured peer and earliest-finish sent it the biggest jobs
//! (the 2026-11 runs in bench/history.md). An untried host is instead valued at
//! `weight × scale`: as fast, for its weight, as the measured hosts are for theirs. Its first job then blends with that seed,
//! not with the raw weight (`Speed::learn`).
//!
//! The scale is `Σ speed / Σ weight` over the hosts with samples, the weight-weighted mean of
//! their `speed / weight` ratios. Two running sums make it O(1) per learned job, where a
//! median would need an order-statistics structure; weighting by weight counts the hosts
//! placement favours, whose speeds are learned from the most jobs, the most, and moves the
//! scale by one host's ratio only in proportion to that host's share of the farm.
//!
//! Untried hosts hold their seed as their speed, so that placement, the host index, the cost
//! model and the views all read one number. Re-seeding them re-keys them in the index, so it
//! is done only once the scale has moved by more than [`STEP`] since the last time: a few
//! times while the first hosts are measured, then rarely; never a pass over the farm per job.

use std::collections::BTreeSet;

use crate::error::InvariantError;
use crate::host::{Host, Hosts};
use crate::ids::HostId;

use super::Scheduler;

/// How far (as a ratio) the scale may move before untried hosts are re-seeded: small
/// against the 2–3× error it corrects and against what one job moves a learned speed by.
const STEP: f64 = 1.01;

/// The running sums behind the scale, and the hosts valued by it.
#[derive(Debug, Clone)]
pub(crate) struct FarmScale {
    /// Over hosts with samples: their learned speeds and their weights.
    speed_sum: f64,
    weight_sum: f64,
    measured: usize,
    /// The scale untried hosts are seeded at now.
    applied: f64,
    /// Hosts with no samples.
    untried: BTreeSet<HostId>,
}

impl Default for FarmScale {
    fn default() -> FarmScale {
        FarmScale {
            speed_sum: 0.0,
            weight_sum: 0.0,
            measured: 0,
            applied: 1.0,
            untried: BTreeSet::new(),
        }
    }
}

impl FarmScale {
    /// Learned speed over weight across measured hosts; 1 (speeds are weights) before any.
    pub(crate) fn current(&self) -> f64 {
        if self.measured == 0 {
            1.0
        } else {
            (self.speed_sum / self.weight_sum).clamp(1e-6, 1e6)
        }
    }

    /// The scale untried hosts are valued at: within [`STEP`] of [`FarmScale::current`].
    pub(crate) fn applied(&self) -> f64 {
        self.applied
    }

    /// Counts a host that enters the farm; an untried one is seeded.
    pub(crate) fn admit(&mut self, h: &mut Host) {
        if h.speed.samples == 0 {
            self.untried.insert(h.id);
            h.seed_speed(self.applied);
        } else {
            self.measured += 1;
            self.speed_sum += h.speed.value;
            self.weight_sum += h.weight;
        }
    }

    /// Stops counting a host that leaves the farm.
    pub(crate) fn forget(&mut self, h: &Host) {
        if h.speed.samples == 0 {
            self.untried.remove(&h.id);
            return;
        }
        self.measured -= 1;
        if self.measured == 0 {
            // Exactly empty, not a rounding residue of additions and subtractions.
            self.speed_sum = 0.0;
            self.weight_sum = 0.0;
        } else {
            self.speed_sum -= h.speed.value;
            self.weight_sum -= h.weight;
        }
    }

    /// `h` learned from a job; before, its speed was `was` from `samples` jobs.
    pub(crate) fn learned(&mut self, h: &Host, was: f64, samples: u32) {
        match (samples, h.speed.samples) {
            (_, 0) => {}
            (0, _) => {
                self.untried.remove(&h.id);
                self.measured += 1;
                self.speed_sum += h.speed.value;
                self.weight_sum += h.weight;
            }
            _ => self.speed_sum += h.speed.value - was,
        }
    }

    /// `h`'s weight was `was` and is now its weight; an untried host is re-seeded.
    pub(crate) fn reweighted(&mut self, h: &mut Host, was: f64) {
        if h.speed.samples == 0 {
            h.seed_speed(self.applied);
        } else {
            self.weight_sum += h.weight - was;
        }
    }

    /// The new scale to apply, if the current one has moved more than [`STEP`] from it.
    fn drifted(&self) -> Option<f64> {
        let scale = self.current();
        let r = scale / self.applied;
        (!(1.0 / STEP..=STEP).contains(&r)).then_some(scale)
    }

    /// Every difference between the bookkeeping and `hosts`, for
    /// [`Scheduler::check_invariants`]. The sums may differ from fresh ones by rounding.
    pub(crate) fn check(&self, hosts: &Hosts) -> Result<(), InvariantError> {
        let fresh = hosts.values().fold(FarmScale::default(), |mut f, h| {
            let mut copy = h.clone();
            f.admit(&mut copy);
            f
        });
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0);
        if fresh.untried != self.untried || fresh.measured != self.measured {
            return Err(InvariantError::Scale(format!(
                "untried hosts {:?}, not {:?}",
                self.untried, fresh.untried
            )));
        }
        if !close(fresh.speed_sum, self.speed_sum) || !close(fresh.weight_sum, self.weight_sum) {
            return Err(InvariantError::Scale(format!(
                "farm scale sums {self:?}, not {fresh:?}"
            )));
        }
        if self.drifted().is_some() {
            return Err(InvariantError::Scale(format!(
                "untried hosts seeded at {}, not {}",
                self.applied,
                self.current()
            )));
        }
        for id in &self.untried {
            let h = &hosts[id];
            if h.speed.value != h.weight * self.applied {
                return Err(InvariantError::Scale(format!(
                    "{id} untried at speed {}",
                    h.speed.value
                )));
            }
        }
        Ok(())
    }
}

impl Scheduler {
    /// Re-seeds the untried hosts (and marks them for re-indexing) once the farm's scale has
    /// drifted from the one they were seeded at. Called after every change to the scale.
    pub(super) fn rescale(&mut self) {
        let Some(scale) = self.scale.drifted() else {
            return;
        };
        self.scale.applied = scale;
        for id in &self.scale.untried {
            if let Some(h) = self.hosts.get_mut(id) {
                h.seed_speed(scale);
                self.dirty.push(*id);
            }
        }
    }

    /// Sets a host's configured weight (a re-registration may change it).
    pub(super) fn set_host_weight(&mut self, id: HostId, weight: f64) {
        let Some(h) = self.hosts.get_mut(&id) else {
            return;
        };
        let was = std::mem::replace(&mut h.weight, weight);
        self.scale.reweighted(h, was);
        self.touch(id);
        self.rescale();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::{HostKind, HostSpec};
    use crate::time::Micros;

    fn host(id: u32, weight: f64, learned: Option<f64>) -> Host {
        let spec = HostSpec {
            name: format!("h{id}"),
            slots: 1,
            weight,
        };
        let mut h = Host::new(HostId(id), spec, HostKind::Registered, Micros::ZERO);
        if let Some(speed) = learned {
            // Many jobs at `speed`: the seed is forgotten.
            for _ in 0..200 {
                h.speed.learn(speed, 1.0, 0.2);
            }
        }
        h
    }

    #[test]
    fn the_scale_is_learned_speed_over_weight_across_measured_hosts() {
        let mut f = FarmScale::default();
        let (mut a, mut b) = (host(0, 1.0, Some(0.5)), host(1, 0.5, Some(0.1)));
        let mut c = host(2, 2.0, None);
        for h in [&mut a, &mut b, &mut c] {
            f.admit(h);
        }
        // (0.5 + 0.1) / (1 + 0.5): `a`'s ratio 0.5 counts twice as much as `b`'s 0.2.
        assert!((f.current() - 0.4).abs() < 1e-6, "{}", f.current());
        assert_eq!(f.drifted(), Some(f.current()));
        assert_eq!(c.speed.value, 2.0, "seeded at the scale applied, 1 so far");
        f.applied = f.current();
        let was = std::mem::replace(&mut b.weight, 0.1);
        f.reweighted(&mut b, was);
        assert!((f.current() - 0.6 / 1.1).abs() < 1e-6, "{}", f.current());
        f.forget(&a);
        f.forget(&b);
        assert_eq!((f.current(), f.speed_sum, f.weight_sum), (1.0, 0.0, 0.0));
        let was = std::mem::replace(&mut c.weight, 1.0);
        f.reweighted(&mut c, was);
        assert_eq!(c.speed.value, f.applied, "an untried host is re-seeded");
    }
}
