//! Means over seeds of the simulator's figures for a crowd on a large farm: 40 hosts (about
//! 360 slots) and 16 developers with `make -j48`, 200 jobs each, starting half a second
//! apart. More jobs are outstanding than the farm has slots plus the lookahead, so the
//! queue is deep for most of the run and earliest-finish's placement passes saturate
//! (see the `dispatch` module); the harness-sized workloads of `sweep` never do.
//!
//! `cargo run --release -p ccfarm-placement --example crowd [SEEDS] [constant|headers|rebuild]`

use ccfarm_placement::Policy;
use ccfarm_placement::sim::{Farm, Means, Workload, simulate};

mod common;

fn main() {
    let (seeds, sizes) = common::seeds_and_sizes();
    println!("| policy | ratio | worst ratio | Jain | latency mean ms | speculated |");
    println!("|---|---|---|---|---|---|");
    for p in Policy::ALL {
        let reports: Vec<_> = (0..seeds)
            .map(|s| {
                let farm = Farm::large_seeded(s, 40);
                let w = Workload {
                    sizes,
                    ..Workload::crowd_seeded(s, 16, 48, 200, 0.5)
                };
                simulate(&farm, &w, p)
            })
            .collect();
        println!("| {p} | {} |", Means::of(&reports).cells());
    }
}
