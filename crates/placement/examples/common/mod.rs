//! What the `sweep` and `crowd` examples read from their command line alike.

use ccfarm_placement::sim::Sizes;

/// The first two arguments: how many seeds (default 10) and the size mode
/// (`proportional`, the default, `constant`, `headers` or `rebuild`). Panics with the
/// reason on a bad one: these are examples, run by hand.
pub fn seeds_and_sizes() -> (u64, Sizes) {
    let seeds = std::env::args()
        .nth(1)
        .map_or(10, |s| s.parse().expect("SEEDS is a number"));
    let sizes = std::env::args()
        .nth(2)
        .map_or(Ok(Sizes::Proportional), |s| s.parse())
        .unwrap_or_else(|e| panic!("the second argument: {e}"));
    (seeds, sizes)
}
