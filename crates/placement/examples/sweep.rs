//! Means over ten seeds of the simulator's figures, per policy and workload: the comparison
//! behind a policy change, less at the mercy of one draw than `ccfarm-sim`.
//!
//! `cargo run --release -p ccfarm-placement --example sweep [SEEDS] [proportional|constant|headers|rebuild] [NOISE]`
//! (`constant`: every job reports the same size, as in the benchmark harness without padding;
//! `headers`: sizes include headers that cost nothing, as the harness's padded sources;
//! `rebuild`: constant sizes, every job with its previous compile time; `NOISE`: the
//! spread of run times around the costs, [`Farm::noise`], default 0).

use ccfarm_placement::Policy;
use ccfarm_placement::sim::{Farm, Means, Workload, simulate};

mod common;

fn main() {
    let (seeds, sizes) = common::seeds_and_sizes();
    let noise: f64 = std::env::args()
        .nth(3)
        .map_or(0.0, |s| s.parse().expect("NOISE is a number"));
    let farm = Farm::default()
        .with_noise(noise)
        .unwrap_or_else(|e| panic!("the third argument: {e}"));
    println!("| workload | policy | ratio | worst ratio | Jain | latency mean ms | speculated |");
    println!("|---|---|---|---|---|---|---|");
    for (name, make) in [
        ("W1", Workload::w1_seeded as fn(u64) -> Workload),
        ("W2", Workload::w2_seeded),
    ] {
        for p in Policy::ALL {
            let reports: Vec<_> = (0..seeds)
                .map(|s| {
                    let w = Workload { sizes, ..make(s) };
                    simulate(&farm, &w, p)
                })
                .collect();
            println!("| {name} | {p} | {} |", Means::of(&reports).cells());
        }
    }
}
