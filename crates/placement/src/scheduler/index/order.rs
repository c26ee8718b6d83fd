//! The orders the host index keeps its sets in: ranks of policy keys and speed classes.

use std::cmp::Ordering;

/// An `f64` ordered by [`f64::total_cmp`]; smaller is better in every set here.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rank(pub(crate) f64);

impl Rank {
    /// Larger `x` ranks first. Zero is normalised so that `-0.0` and `0.0` tie, as they do
    /// for the policies' `>` comparisons.
    pub(super) fn desc(x: f64) -> Rank {
        Rank(if x == 0.0 { 0.0 } else { -x })
    }
}

impl PartialEq for Rank {
    fn eq(&self, other: &Rank) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Rank {}

impl PartialOrd for Rank {
    fn partial_cmp(&self, other: &Rank) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Rank {
    fn cmp(&self, other: &Rank) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// A speed class of full hosts: a thirty-second of an octave (speeds within 1.6–3.1 % of
/// each other), fastest class first. [`HostIndex::best_full`](super::HostIndex::best_full) bounds a whole class by its
/// top speed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Class(i32);

impl Class {
    /// The class of `speed`. Speeds that are round powers of two sit mid-class, so a learned
    /// speed wobbling around one stays in one class.
    ///
    /// Read off the float's bits rather than with a logarithm (this is computed on every
    /// grant and release): a positive `f64`'s bits order as its value does, and the exponent
    /// with the top five bits of the mantissa cut each octave into 32 equal steps; half a
    /// step is added first to centre the powers of two.
    pub(super) fn of(speed: f64) -> Class {
        let bits = speed.clamp(MIN_SPEED, 1e9).to_bits();
        Class(-(((bits + HALF_STEP) >> 47) as i32))
    }

    /// No speed in the class is slower (the slowest class also holds every speed below
    /// [`MIN_SPEED`], so its bound is zero).
    pub(crate) fn bottom(self) -> f64 {
        if self == Class::of(MIN_SPEED) {
            return 0.0;
        }
        f64::from_bits((u64::from((-self.0).unsigned_abs()) << 47) - HALF_STEP)
    }
}

/// Speeds below this share one class.
const MIN_SPEED: f64 = 1e-9;

/// Half a class, in the bits of an `f64` ([`Class::of`]).
const HALF_STEP: u64 = 1 << 46;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speed_classes_order_fastest_first() {
        assert!(Class::of(2.0) < Class::of(1.0));
        assert!(Class::of(1e6) < Class::of(1e-9));
        assert_eq!(Class::of(1.0 - 1e-12), Class::of(1.0 + 1e-12));
        assert_eq!(Class(Class::of(1.0).0 + 1), Class::of(0.98));
        assert_eq!(
            Class::of(2.0).0,
            Class::of(1.0).0 - 32,
            "32 classes an octave"
        );
        // Never a faster speed in a slower class.
        let mut last = Class::of(1e-9);
        for i in 0..=60_000 {
            let c = Class::of(2f64.powf(-30.0 + f64::from(i) / 1_000.0));
            assert!(c <= last);
            last = c;
        }
        // A class's bottom bounds its speeds from below, and is the edge of the next.
        for i in 0..=4_000 {
            let speed = 2f64.powf(-2.0 + f64::from(i) / 1_000.0);
            let c = Class::of(speed);
            assert!(c.bottom() <= speed, "{speed} below {}", c.bottom());
            assert_eq!(Class::of(c.bottom()), c);
            assert!(Class::of(c.bottom() * (1.0 - 1e-12)) > c);
        }
        assert_eq!(Class::of(1e-12).bottom(), 0.0);
    }

    #[test]
    fn ranks_put_larger_keys_first_and_tie_signed_zeros() {
        assert!(Rank::desc(2.0) < Rank::desc(1.0));
        assert_eq!(Rank::desc(0.0), Rank::desc(-0.0));
    }
}
