//! Leases: a granted slot, with what the scheduler expected when it granted it.

use crate::compilers::CompilerId;
use crate::ids::{HostId, LeaseId, RequestId};
use crate::queue::UserIdx;
use crate::time::Micros;

/// One granted slot.
#[derive(Debug, Clone)]
pub(crate) struct Lease {
    pub(crate) id: LeaseId,
    pub(crate) request: RequestId,
    pub(crate) host: HostId,
    pub(crate) user: UserIdx,
    pub(crate) timing: LeaseTiming,
    /// Expected work (seconds at speed 1).
    pub(crate) cost: f64,
    /// The host's load factor at grant time; divides it back out of the measured speed.
    pub(crate) load_factor: f64,
    pub(crate) size: u64,
    /// The speculative twin running the same job elsewhere, if any.
    pub(crate) twin: Option<LeaseId>,
    /// Its holder declined a speculative copy: it is not offered another.
    pub(crate) no_twin: bool,
    /// Whether its cost came from the job (size or previous run) rather than the default.
    pub(crate) known_cost: bool,
    /// Whether nothing told its cost from another job's when it was placed: a straggler
    /// among such jobs is copied on time run alone (`scheduler::stragglers`).
    pub(crate) blind: bool,
    /// The compiler the job needs (a speculative copy needs it too).
    pub(crate) compiler: Option<CompilerId>,
}

/// When a lease started and how long it was expected to take; also kept in its host's lease
/// map, so that a placement pass can estimate a host's free times without looking leases up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LeaseTiming {
    pub(crate) granted_at: Micros,
    /// Expected seconds on its host, at grant time.
    pub(crate) expected_secs: f64,
    /// `granted_at + expected_secs`, rounded once (placement reads it often).
    end: Micros,
    /// A little before the job becomes overdue (see [`LeaseTiming::estimated_end`]): until
    /// then its estimated end is its expected end.
    pub(crate) on_time_until: Micros,
}

impl LeaseTiming {
    pub(crate) fn new(granted_at: Micros, expected_secs: f64) -> LeaseTiming {
        // A few microseconds early, for the rounding of the overdue estimate near the switch.
        let overdue_at = granted_at.plus_secs_f64(0.95 * expected_secs);
        LeaseTiming {
            granted_at,
            expected_secs,
            end: granted_at.plus_secs_f64(expected_secs),
            on_time_until: Micros(overdue_at.0.saturating_sub(3)),
        }
    }

    /// When the job was expected to finish, at grant time.
    pub(crate) fn expected_end(&self) -> Micros {
        self.end
    }

    /// When the job is now expected to finish. On schedule: the expected end. Overdue: the
    /// job is assumed to need as long again as it is late, plus a tenth of its estimate
    /// (`remaining = max(E - e, e - 0.9 E)` for expected `E` and elapsed `e`). This is
    /// continuous, never zero, and grows while a straggler keeps running, so waiting for a
    /// hung job eventually loses to any free slot, and a straggler becomes a candidate for
    /// speculation.
    ///
    /// Written as the later of the expected end and the overdue estimate (the same thing),
    /// so that on schedule it is exactly the expected end whatever `now` is, rather than
    /// `now` plus a rounded remainder that can wobble by a microsecond. The host index
    /// relies on a host's expected free time not moving while no lease is overdue.
    pub(crate) fn estimated_end(&self, now: Micros) -> Micros {
        let elapsed = now.saturating_since(self.granted_at).as_secs_f64();
        let late = elapsed - 0.9 * self.expected_secs;
        if late * 1e6 < 0.5 {
            // `now.plus_secs_f64(late)` would round `late` to no time at all.
            return self.end.max(now);
        }
        self.end.max(now.plus_secs_f64(late))
    }

    /// Seconds until [`Lease::estimated_end`].
    pub(crate) fn remaining_secs(&self, now: Micros) -> f64 {
        self.estimated_end(now).saturating_since(now).as_secs_f64()
    }
}

/// The leases a granted request holds, in the order they were granted: one, or two while a
/// speculative copy runs (a request is never copied twice at once).
///
/// Why not a `Vec`: every grant made one, a heap allocation per grant for at most two ids.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Holding([Option<LeaseId>; 2]);

impl Holding {
    /// Adds a lease after those held.
    pub(crate) fn push(&mut self, id: LeaseId) {
        let free = self.0.iter_mut().find(|l| l.is_none());
        *free.expect("a request holds at most a lease and its twin") = Some(id);
    }

    /// Drops a lease, keeping the other in first place.
    pub(crate) fn remove(&mut self, id: LeaseId) {
        if self.0[0] == Some(id) {
            self.0 = [self.0[1], None];
        } else if self.0[1] == Some(id) {
            self.0[1] = None;
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0[0].is_none()
    }

    pub(crate) fn contains(&self, id: LeaseId) -> bool {
        self.0.contains(&Some(id))
    }

    /// The leases, in grant order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = LeaseId> {
        self.0.into_iter().flatten()
    }
}

/// One host's leases by id, ascending, with their timings.
///
/// Why not a `BTreeMap`: a host holds at most its slots' worth (a handful, rarely more than
/// 16), new lease ids are always the largest so far (an insertion is a push), and placement
/// passes read the timings far more often than leases come and go. A sorted vector keeps the
/// map's id order, which the straggler search's ties rely on.
#[derive(Debug, Clone, Default)]
pub(crate) struct HostLeases(Vec<(LeaseId, LeaseTiming)>);

impl HostLeases {
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn find(&self, id: LeaseId) -> Result<usize, usize> {
        self.0.binary_search_by_key(&id, |&(l, _)| l)
    }

    pub(crate) fn contains(&self, id: LeaseId) -> bool {
        self.find(id).is_ok()
    }

    /// Adds (or replaces) a lease; a new one, the largest id yet, goes to the end.
    pub(crate) fn insert(&mut self, id: LeaseId, timing: LeaseTiming) {
        match self.find(id) {
            Ok(i) => self.0[i].1 = timing,
            Err(i) => self.0.insert(i, (id, timing)),
        }
    }

    pub(crate) fn remove(&mut self, id: LeaseId) -> Option<LeaseTiming> {
        let i = self.find(id).ok()?;
        Some(self.0.remove(i).1)
    }

    /// The leases in id order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (LeaseId, &LeaseTiming)> {
        self.0.iter().map(|(id, t)| (*id, t))
    }

    pub(crate) fn ids(&self) -> impl Iterator<Item = LeaseId> {
        self.0.iter().map(|&(id, _)| id)
    }

    pub(crate) fn timings(&self) -> impl Iterator<Item = &LeaseTiming> {
        self.0.iter().map(|(_, t)| t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overdue_estimate_is_continuous_and_grows() {
        let l = LeaseTiming::new(Micros::ZERO, 10.0);
        assert_eq!(l.expected_end(), Micros::from_secs(10));
        let r = |s: f64| l.remaining_secs(Micros::ZERO.plus_secs_f64(s));
        assert!((r(0.0) - 10.0).abs() < 1e-6);
        assert!((r(9.0) - 1.0).abs() < 1e-6);
        assert!((r(9.5) - 0.5).abs() < 1e-6, "minimum at 0.95 E");
        assert!((r(10.0) - 1.0).abs() < 1e-6);
        assert!((r(20.0) - 11.0).abs() < 1e-6);
    }
}
