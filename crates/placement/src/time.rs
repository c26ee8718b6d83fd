//! Time as a plain value.
//!
//! The scheduler never reads a clock: every operation takes `now` as a [`Micros`], a count of
//! microseconds since an epoch the caller chooses (process start, the Unix epoch, or zero in a
//! simulation). That is what makes the state machine deterministic and lets a simulator run
//! hours of virtual time in milliseconds. Durations are ordinary [`std::time::Duration`]s.

use core::fmt;
use core::ops::{Add, Sub};
use std::time::Duration;

use serde::Serialize;

/// An instant: microseconds since an arbitrary epoch chosen by the caller.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Micros(pub u64);

impl Micros {
    /// The epoch.
    pub const ZERO: Micros = Micros(0);
    /// The far future; used as "never".
    pub const MAX: Micros = Micros(u64::MAX);

    /// `secs` whole seconds after the epoch.
    pub const fn from_secs(secs: u64) -> Micros {
        Micros(secs.saturating_mul(1_000_000))
    }

    /// `millis` milliseconds after the epoch.
    pub const fn from_millis(millis: u64) -> Micros {
        Micros(millis.saturating_mul(1_000))
    }

    /// Seconds since the epoch, as a float (for cost arithmetic).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }

    /// Time elapsed from `earlier` to `self`; zero when `earlier` is later (clocks never run
    /// backwards inside the scheduler, but callers may pass stale instants).
    pub fn saturating_since(self, earlier: Micros) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }

    /// `self` plus `secs` seconds (fractional, negative treated as zero), saturating.
    pub fn plus_secs_f64(self, secs: f64) -> Micros {
        Micros(self.0.saturating_add(secs_to_micros(secs)))
    }
}

/// Converts fractional seconds to whole microseconds, rounding, saturating, and mapping
/// negative or NaN inputs to zero (float-to-int `as` casts saturate and send NaN to 0).
pub(crate) fn secs_to_micros(secs: f64) -> u64 {
    (secs * 1e6).round().max(0.0) as u64
}

impl Add<Duration> for Micros {
    type Output = Micros;

    /// Saturating: adding a huge timeout gives "never", not a wrapped past instant.
    fn add(self, rhs: Duration) -> Micros {
        let us = u64::try_from(rhs.as_micros()).unwrap_or(u64::MAX);
        Micros(self.0.saturating_add(us))
    }
}

impl Sub<Micros> for Micros {
    type Output = Duration;

    /// Saturating, like [`Micros::saturating_since`].
    fn sub(self, rhs: Micros) -> Duration {
        self.saturating_since(rhs)
    }
}

impl fmt::Display for Micros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}s", self.0 / 1_000_000, self.0 % 1_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(Micros::MAX + Duration::from_secs(1), Micros::MAX);
        assert_eq!(Micros(5) - Micros(10), Duration::ZERO);
        assert_eq!(
            Micros::from_secs(2) - Micros::from_secs(1),
            Duration::from_secs(1)
        );
        assert_eq!(Micros::ZERO.plus_secs_f64(-3.0), Micros::ZERO);
        assert_eq!(Micros::ZERO.plus_secs_f64(f64::NAN), Micros::ZERO);
        assert_eq!(Micros::ZERO.plus_secs_f64(1.5), Micros(1_500_000));
        assert_eq!(Micros::ZERO.plus_secs_f64(f64::INFINITY), Micros::MAX);
    }

    #[test]
    fn display() {
        assert_eq!(Micros(1_500_000).to_string(), "1.500000s");
    }
}
