//! A line through jobs' (preprocessed size, work) pairs: `work ≈ base + per_byte × size`,
//! fitted by exponentially weighted least squares.
//!
//! Why a line and not only a ratio: part of every preprocessed file costs the compiler
//! little next to its size (the system headers every file includes), so work per byte is
//! far from constant. On the benchmark harness with padded sources a file is 56 KB of headers
//! plus about 104 bytes per millisecond of work: a 169 ms job is 74 KB (2.3 µs a byte), a
//! 2.7 s job 335 KB (8 µs a byte). A ratio fitted to the typical job took the big jobs for
//! less than half of what they are and the small ones for more, so earliest-finish saw
//! big jobs as barely bigger than small ones, and the hosts that ran the big jobs (the
//! fast ones, by design) were learned slower than they are, the slow ones faster.
//!
//! The base is usually negative: the headers' bytes cost (next to) nothing, so work is
//! `per_byte × (size − headers)`. Where sizes hardly differ (every file the same size:
//! nothing to fit a slope to) there is no line, and the cost model keeps its ratio, which
//! also bounds how far the line may stray from it ([`crate::job`]).

/// Fewer jobs than this fit no line: two points always fit one exactly.
const MIN_SAMPLES: u64 = 4;

/// Sizes must spread at least this much (standard deviation over mean) to tell a slope.
const MIN_SPREAD: f64 = 0.1;

/// The running moments of the fit.
#[derive(Debug, Clone, Default)]
pub(crate) struct SizeFit {
    samples: u64,
    mean_size: f64,
    mean_work: f64,
    /// Weighted variance of the sizes.
    var: f64,
    /// Weighted covariance of sizes and works.
    cov: f64,
}

/// A fitted line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Line {
    /// Where the line meets size 0, seconds at speed 1: negative when part of every file
    /// costs nothing.
    pub(crate) base: f64,
    /// Work per byte beyond it.
    pub(crate) per_byte: f64,
}

impl SizeFit {
    /// Folds in one job of `size` bytes that did `work`: a plain average of the first jobs,
    /// then a moving one with weight `alpha`.
    pub(crate) fn learn(&mut self, size: f64, work: f64, alpha: f64) {
        let a = alpha.max(1.0 / (self.samples as f64 + 1.0));
        let dx = size - self.mean_size;
        let dy = work - self.mean_work;
        self.mean_size += a * dx;
        self.mean_work += a * dy;
        self.var = (1.0 - a) * (self.var + a * dx * dx);
        self.cov = (1.0 - a) * (self.cov + a * dx * dy);
        self.samples += 1;
    }

    /// The line, once enough jobs of different enough sizes were seen and work grows with
    /// size.
    pub(crate) fn line(&self) -> Option<Line> {
        if self.samples < MIN_SAMPLES || self.var <= (MIN_SPREAD * self.mean_size).powi(2) {
            return None;
        }
        let per_byte = self.cov / self.var;
        if !(per_byte.is_finite() && per_byte > 0.0) {
            return None;
        }
        let base = self.mean_work - per_byte * self.mean_size;
        base.is_finite().then_some(Line { base, per_byte })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fitted(points: &[(f64, f64)], alpha: f64) -> SizeFit {
        let mut f = SizeFit::default();
        for &(x, y) in points {
            f.learn(x, y, alpha);
        }
        f
    }

    #[test]
    fn finds_the_base_and_the_slope_of_a_line() {
        // The harness's padded sources: 56 KB of headers, 104 bytes per ms of work.
        let points: Vec<_> = (0..200)
            .map(|i| {
                let work = 0.02 + f64::from(i % 37) * 0.08;
                (56_000.0 + work * 104_000.0, work)
            })
            .collect();
        let line = fitted(&points, 0.05).line().expect("a line");
        assert!((line.per_byte - 1.0 / 104_000.0).abs() < 1e-12, "{line:?}");
        assert!(
            (line.base + 56_000.0 / 104_000.0).abs() < 1e-6,
            "{line:?}: the headers cost nothing"
        );
    }

    #[test]
    fn a_first_plain_average_then_a_moving_one() {
        let f = fitted(&[(1.0, 1.0), (3.0, 2.0)], 0.05);
        assert_eq!((f.mean_size, f.mean_work), (2.0, 1.5));
        assert_eq!((f.var, f.cov), (1.0, 0.5));
    }

    #[test]
    fn no_line_from_too_few_jobs_or_sizes_that_do_not_differ() {
        let few = fitted(&[(1e5, 0.1), (2e5, 0.2), (3e5, 0.3)], 0.05);
        assert_eq!(few.line(), None);
        let same: Vec<_> = (0..50)
            .map(|i| (300_000.0 + f64::from(i % 3), 0.1 + f64::from(i % 7) * 0.3))
            .collect();
        assert_eq!(fitted(&same, 0.05).line(), None);
        let shrinking: Vec<_> = (0..50)
            .map(|i| (1e5 * f64::from(1 + i % 5), 1.0 / f64::from(1 + i % 5)))
            .collect();
        assert_eq!(
            fitted(&shrinking, 0.05).line(),
            None,
            "work falls with size"
        );
    }
}
